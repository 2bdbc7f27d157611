import Foundation

/// One statement parameter as it travels to the server: its type, wire format and bytes
/// (`nil` bytes is SQL NULL). Values are never spliced into SQL text.
public struct PostgresBind: Sendable {
    public enum Format: Int32, Sendable {
        case text = 0
        case binary = 1
    }

    public var type: PostgresDataType
    public var format: Format
    public var bytes: [UInt8]?

    public init(type: PostgresDataType, format: Format, bytes: [UInt8]?) {
        self.type = type
        self.format = format
        self.bytes = bytes
    }

    public static func null(_ type: PostgresDataType) -> PostgresBind {
        PostgresBind(type: type, format: .binary, bytes: nil)
    }
}

/// A Swift value that can be sent as a statement parameter.
public protocol PostgresEncodable: Sendable {
    /// The parameter type announced to the server, also for NULLs of this type.
    static var postgresType: PostgresDataType { get }
    var postgresBind: PostgresBind { get }
}

extension Optional: PostgresEncodable where Wrapped: PostgresEncodable {
    public static var postgresType: PostgresDataType { Wrapped.postgresType }
    public var postgresBind: PostgresBind {
        switch self {
        case .some(let value): return value.postgresBind
        case .none: return .null(Wrapped.postgresType)
        }
    }
}

extension Bool: PostgresEncodable {
    public static var postgresType: PostgresDataType { .bool }
    public var postgresBind: PostgresBind { PostgresBind(type: .bool, format: .binary, bytes: [self ? 1 : 0]) }
}

extension Int16: PostgresEncodable {
    public static var postgresType: PostgresDataType { .int2 }
    public var postgresBind: PostgresBind { PostgresBind(type: .int2, format: .binary, bytes: BigEndian.bytes(of: self)) }
}

extension Int32: PostgresEncodable {
    public static var postgresType: PostgresDataType { .int4 }
    public var postgresBind: PostgresBind { PostgresBind(type: .int4, format: .binary, bytes: BigEndian.bytes(of: self)) }
}

extension Int64: PostgresEncodable {
    public static var postgresType: PostgresDataType { .int8 }
    public var postgresBind: PostgresBind { PostgresBind(type: .int8, format: .binary, bytes: BigEndian.bytes(of: self)) }
}

extension Int: PostgresEncodable {
    public static var postgresType: PostgresDataType { .int8 }
    public var postgresBind: PostgresBind { Int64(self).postgresBind }
}

extension Double: PostgresEncodable {
    public static var postgresType: PostgresDataType { .float8 }
    public var postgresBind: PostgresBind {
        PostgresBind(type: .float8, format: .binary, bytes: BigEndian.bytes(of: bitPattern))
    }
}

extension String: PostgresEncodable {
    public static var postgresType: PostgresDataType { .text }
    public var postgresBind: PostgresBind { PostgresBind(type: .text, format: .binary, bytes: Array(utf8)) }
}

extension Decimal: PostgresEncodable {
    public static var postgresType: PostgresDataType { .numeric }
    /// Sent as text: numeric's text input is exact and locale-free.
    public var postgresBind: PostgresBind {
        PostgresBind(type: .numeric, format: .text, bytes: Array(description.utf8))
    }
}

extension UUID: PostgresEncodable {
    public static var postgresType: PostgresDataType { .uuid }
    public var postgresBind: PostgresBind {
        let u = uuid
        return PostgresBind(type: .uuid, format: .binary, bytes: [
            u.0, u.1, u.2, u.3, u.4, u.5, u.6, u.7, u.8, u.9, u.10, u.11, u.12, u.13, u.14, u.15,
        ])
    }
}

extension Data: PostgresEncodable {
    public static var postgresType: PostgresDataType { .bytea }
    public var postgresBind: PostgresBind { PostgresBind(type: .bytea, format: .binary, bytes: Array(self)) }
}

/// PostgreSQL's timestamp epoch, 2000-01-01 00:00:00 UTC, in Unix seconds.
let postgresEpochUnixSeconds: Int64 = 946_684_800

extension Date: PostgresEncodable {
    public static var postgresType: PostgresDataType { .timestamptz }
    /// Microseconds since 2000-01-01 UTC, rounded to the nearest microsecond.
    public var postgresBind: PostgresBind {
        let micros = unixMicroseconds - postgresEpochUnixSeconds * 1_000_000
        return PostgresBind(type: .timestamptz, format: .binary, bytes: BigEndian.bytes(of: micros))
    }

    /// The instant as a timestamptz column stores it and reads back: rounded to the nearest
    /// microsecond, the same Double a read of the column decodes. For a row written without
    /// RETURNING, whose new values the writer knows.
    public var postgresStored: Date { Date(timeIntervalSince1970: Double(unixMicroseconds) / 1_000_000) }

    private var unixMicroseconds: Int64 { Int64((timeIntervalSince1970 * 1_000_000).rounded()) }
}

/// A calendar date without time or zone: PostgreSQL's `date`.
public struct PostgresLocalDate: Hashable, Sendable, Comparable, CustomStringConvertible, PostgresEncodable {
    public var year: Int
    public var month: Int
    public var day: Int

    public init(year: Int, month: Int, day: Int) {
        self.year = year
        self.month = month
        self.day = day
    }

    /// Days since 2000-01-01 (proleptic Gregorian), as PostgreSQL stores dates.
    public init(daysSince2000 days: Int) {
        // Civil-from-days (Howard Hinnant), shifted from the Unix epoch.
        let z = days + 10_957 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        self.init(year: yoe + era * 400 + (m <= 2 ? 1 : 0), month: m, day: d)
    }

    public var daysSince2000: Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = month > 2 ? month - 3 : month + 9
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468 - 10_957
    }

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.daysSince2000 < rhs.daysSince2000 }

    public var description: String {
        String(format: "%04d-%02d-%02d", year, month, day)
    }

    public static var postgresType: PostgresDataType { .date }
    public var postgresBind: PostgresBind {
        PostgresBind(type: .date, format: .binary, bytes: BigEndian.bytes(of: Int32(daysSince2000)))
    }
}

/// A Codable value sent as a `jsonb` parameter. (Read JSON columns with `PostgresRow.json(_:_:)`.)
///
/// Encoding happens when the wrapper is made, so a value that JSON cannot represent (a non-finite
/// Double) is a thrown error at the call site rather than a bad parameter.
public struct PostgresJSON<Value: Codable & Sendable>: Sendable {
    public let value: Value
    private let encoded: [UInt8]

    public init(_ value: Value) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        self.value = value
        self.encoded = Array(try encoder.encode(value))
    }
}

extension PostgresJSON: PostgresEncodable {
    public static var postgresType: PostgresDataType { .jsonb }
    /// jsonb's binary format is a version byte (1) followed by the JSON text.
    public var postgresBind: PostgresBind {
        PostgresBind(type: .jsonb, format: .binary, bytes: [1] + encoded)
    }
}

/// JSON text already written (by a hand-written writer) for a jsonb parameter.
public struct PostgresJSONText: PostgresEncodable, Sendable {
    private let encoded: [UInt8]

    /// `encoded` must be valid JSON; PostgreSQL refuses the statement otherwise.
    public init(_ encoded: [UInt8]) {
        self.encoded = encoded
    }

    public static var postgresType: PostgresDataType { .jsonb }
    public var postgresBind: PostgresBind {
        PostgresBind(type: .jsonb, format: .binary, bytes: [1] + encoded)
    }
}

/// Element types that can travel in a one-dimensional PostgreSQL array parameter.
public protocol PostgresArrayElement: PostgresEncodable {
    static var postgresArrayType: PostgresDataType { get }
}

extension String: PostgresArrayElement {
    public static var postgresArrayType: PostgresDataType { .textArray }
}

extension Int64: PostgresArrayElement {
    public static var postgresArrayType: PostgresDataType { .int8Array }
}

extension Int: PostgresArrayElement {
    public static var postgresArrayType: PostgresDataType { .int8Array }
}

extension Int32: PostgresArrayElement {
    public static var postgresArrayType: PostgresDataType { .int4Array }
}

extension Array: PostgresEncodable where Element: PostgresArrayElement {
    public static var postgresType: PostgresDataType { Element.postgresArrayType }

    /// The binary array format: dimensions, null flag, element type, then length-prefixed elements.
    public var postgresBind: PostgresBind {
        var out: [UInt8] = []
        out.reserveCapacity(20 + count * 12)
        out += BigEndian.bytes(of: Int32(isEmpty ? 0 : 1))
        out += BigEndian.bytes(of: Int32(0))
        out += BigEndian.bytes(of: Element.postgresType.rawValue)
        if !isEmpty {
            out += BigEndian.bytes(of: Int32(count))
            out += BigEndian.bytes(of: Int32(1))
            for element in self {
                let bytes = element.postgresBind.bytes ?? []
                out += BigEndian.bytes(of: Int32(bytes.count))
                out += bytes
            }
        }
        return PostgresBind(type: Element.postgresArrayType, format: .binary, bytes: out)
    }
}

enum BigEndian {
    static func bytes<T: FixedWidthInteger>(of value: T) -> [UInt8] {
        withUnsafeBytes(of: value.bigEndian) { Array($0) }
    }

    static func read<T: FixedWidthInteger>(_: T.Type, from buffer: UnsafeRawBufferPointer, at offset: Int) -> T {
        var value: T = 0
        withUnsafeMutableBytes(of: &value) { target in
            target.copyMemory(from: UnsafeRawBufferPointer(rebasing: buffer[offset..<offset + MemoryLayout<T>.size]))
        }
        return T(bigEndian: value)
    }
}

/// One parameterised statement and its values, for `PostgresConnection.query(batch:)`.
public struct PostgresStatement: Sendable {
    public var sql: String
    public var binds: [PostgresBind]

    public init(_ sql: String, _ binds: any PostgresEncodable...) {
        self.sql = sql
        self.binds = binds.map(\.postgresBind)
    }
}
