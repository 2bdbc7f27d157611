import Foundation

/// Writes JSON straight into bytes, for the answers the server gives most often (the filing
/// receipt, the officer's request detail after claim and resolve).
///
/// Foundation's `JSONEncoder` builds a tree of boxed values, sorts every object's keys and then
/// serialises the tree: for the twelve fields of a filing receipt that was a tenth of the
/// server's CPU per filing. A type that conforms to `JSONWritable` writes itself instead, with
/// its keys in sorted order by hand, so that its bytes are the ones `LoketJSON.encoder` would
/// write (sorted keys, slashes unescaped, instants in RFC 3339 with Jakarta's offset, nil
/// optionals left out). Each such type has a test that compares the two.
public struct JSONWriter {
    public private(set) var bytes: [UInt8] = []
    /// Whether the next key or element needs a comma before it.
    private var needsComma = false

    /// How instants are written: in Jakarta time for answers (`RFC3339.string`), in UTC for JSON
    /// stored in the database (`RFC3339.utcString`, what JSONEncoder's `.iso8601` writes).
    public enum DateStyle: Sendable {
        case jakarta
        case utc
    }

    public var dateStyle: DateStyle

    public init(capacity: Int = 1024, dateStyle: DateStyle = .jakarta) {
        self.dateStyle = dateStyle
        bytes.reserveCapacity(capacity)
    }

    // MARK: Containers

    public mutating func object(_ body: (inout JSONWriter) throws -> Void) rethrows {
        separate()
        bytes.append(UInt8(ascii: "{"))
        needsComma = false
        try body(&self)
        bytes.append(UInt8(ascii: "}"))
        needsComma = true
    }

    public mutating func array<S: Sequence>(_ elements: S, _ body: (inout JSONWriter, S.Element) throws -> Void) rethrows {
        separate()
        bytes.append(UInt8(ascii: "["))
        needsComma = false
        for element in elements { try body(&self, element) }
        bytes.append(UInt8(ascii: "]"))
        needsComma = true
    }

    /// Starts a member of the current object: its key; the value is written next.
    public mutating func key(_ key: StaticString) {
        separate()
        bytes.append(UInt8(ascii: "\""))
        key.withUTF8Buffer { bytes.append(contentsOf: $0) }
        bytes.append(UInt8(ascii: "\""))
        bytes.append(UInt8(ascii: ":"))
        needsComma = false
    }

    /// A key that is data (an attribute's code), escaped like any string.
    public mutating func key(_ key: String) {
        string(key)
        bytes.append(UInt8(ascii: ":"))
        needsComma = false
    }

    // MARK: Values

    private static let hex = Array("0123456789abcdef".utf8)

    public mutating func string(_ value: String) {
        separate()
        bytes.append(UInt8(ascii: "\""))
        var value = value
        value.withUTF8 { utf8 in
            var start = 0
            for index in utf8.indices {
                let byte = utf8[index]
                guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else { continue }
                bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[start..<index]))
                start = index + 1
                bytes.append(UInt8(ascii: "\\"))
                switch byte {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"): bytes.append(byte)
                case 0x08: bytes.append(UInt8(ascii: "b"))
                case 0x0C: bytes.append(UInt8(ascii: "f"))
                case 0x0A: bytes.append(UInt8(ascii: "n"))
                case 0x0D: bytes.append(UInt8(ascii: "r"))
                case 0x09: bytes.append(UInt8(ascii: "t"))
                default:
                    bytes.append(contentsOf: [UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"), Self.hex[Int(byte >> 4)], Self.hex[Int(byte & 0x0F)]])
                }
            }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[start...]))
        }
        bytes.append(UInt8(ascii: "\""))
        needsComma = true
    }

    public mutating func int(_ value: some BinaryInteger) {
        separate()
        bytes.append(contentsOf: String(value).utf8)
        needsComma = true
    }

    public mutating func bool(_ value: Bool) {
        separate()
        bytes.append(contentsOf: value ? "true".utf8 : "false".utf8)
        needsComma = true
    }

    /// A finite number as JSONEncoder writes it: the shortest form that reads back the same,
    /// without a trailing ".0" on whole numbers.
    public mutating func double(_ value: Double) {
        separate()
        var text = value.description
        if text.hasSuffix(".0") { text.removeLast(2) }
        bytes.append(contentsOf: text.utf8)
        needsComma = true
    }

    /// JSON text that is already valid JSON (a jsonb column's text), as it is.
    public mutating func raw(_ json: String) {
        separate()
        bytes.append(contentsOf: json.utf8)
        needsComma = true
    }

    public mutating func date(_ value: Date) {
        string(dateStyle == .jakarta ? RFC3339.string(from: value) : RFC3339.utcString(from: value))
    }

    // MARK: Members (nil optionals are left out, as the synthesised Encodable does)

    /// Inlinable so that callers in other modules get it specialised for their member types.
    @inlinable
    public mutating func field(_ name: StaticString, _ value: (some JSONWritable)?) {
        guard let value else { return }
        key(name)
        value.write(to: &self)
    }

    private mutating func separate() {
        if needsComma { bytes.append(UInt8(ascii: ",")) }
    }
}

/// A value that writes its own JSON, byte for byte what `LoketJSON.encoder` would write for it.
/// LoketAPI's response encoder uses it when a handler returns one.
public protocol JSONWritable {
    func write(to writer: inout JSONWriter)
}

extension JSONWritable {
    /// The value's JSON on its own.
    public var jsonBytes: [UInt8] {
        var writer = JSONWriter()
        write(to: &writer)
        return writer.bytes
    }
}

// The scalars write themselves, so that one `field` serves every member type.
extension String: JSONWritable {
    public func write(to writer: inout JSONWriter) { writer.string(self) }
}

extension Int: JSONWritable {
    public func write(to writer: inout JSONWriter) { writer.int(self) }
}

extension Int64: JSONWritable {
    public func write(to writer: inout JSONWriter) { writer.int(self) }
}

extension Bool: JSONWritable {
    public func write(to writer: inout JSONWriter) { writer.bool(self) }
}

extension Double: JSONWritable {
    public func write(to writer: inout JSONWriter) { writer.double(self) }
}

/// In the writer's date style: Jakarta time for answers, UTC for stored JSON.
extension Date: JSONWritable {
    public func write(to writer: inout JSONWriter) { writer.date(self) }
}
