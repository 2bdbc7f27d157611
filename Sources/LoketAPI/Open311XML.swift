/// Writes the schemaless, namespace-free XML of Open311 GeoReport v2: a UTF-8 declaration, then
/// elements whose text is escaped so that any stored string (a citizen's description, an officer's
/// note) yields a document every XML parser accepts.
struct Open311XMLWriter {
    private(set) var output = #"<?xml version="1.0" encoding="utf-8"?>"# + "\n"

    mutating func open(_ name: String) {
        assert(Self.isName(name), "not an XML element name: \(name)")
        output += "<\(name)>"
    }

    mutating func close(_ name: String) {
        output += "</\(name)>"
    }

    /// `<name/>`: Open311's way of saying "no value" (JSON null).
    mutating func empty(_ name: String) {
        assert(Self.isName(name), "not an XML element name: \(name)")
        output += "<\(name)/>"
    }

    /// `<name>text</name>`, or `<name/>` when there is no text.
    mutating func element(_ name: String, text: String?) {
        guard let text else { return empty(name) }
        open(name)
        output += Self.escape(text)
        close(name)
    }

    /// Escapes the five markup characters and drops what XML 1.0 cannot carry (C0 controls other
    /// than tab, line feed and carriage return, DEL and the C1 controls, U+FFFE and U+FFFF).
    /// A carriage return is written as a reference because parsers would otherwise fold it into
    /// a line feed.
    static func escape(_ text: String) -> String {
        var escaped = ""
        escaped.unicodeScalars.reserveCapacity(text.unicodeScalars.count)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": escaped += "&amp;"
            case "<": escaped += "&lt;"
            case ">": escaped += "&gt;"
            case "\"": escaped += "&quot;"
            case "'": escaped += "&apos;"
            case "\r": escaped += "&#13;"
            case "\t", "\n": escaped.unicodeScalars.append(scalar)
            default:
                if isAllowed(scalar) { escaped.unicodeScalars.append(scalar) }
            }
        }
        return escaped
    }

    static func isAllowed(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x20..<0x7F, 0xA0...0xD7FF, 0xE000...0xFFFD, 0x10000...0x10FFFF: true
        default: false
        }
    }

    /// Element names come from code, never from data; this guards against a typo.
    static func isName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, first.properties.isAlphabetic || first == "_" else { return false }
        return name.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "_" || $0 == "-") }
    }
}

extension Open311Value {
    /// The document as XML under `root`. A list becomes a wrapper element holding one element per
    /// item (`<services><service>…</service></services>`), as Open311's Spark convention maps JSON
    /// arrays to XML.
    func xml(root: String) -> String {
        var writer = Open311XMLWriter()
        write(root, to: &writer)
        return writer.output + "\n"
    }

    private func write(_ name: String, to writer: inout Open311XMLWriter) {
        switch self {
        case .text(let text):
            writer.element(name, text: text)
        case .integer(let value):
            writer.element(name, text: String(value))
        case .number(let value):
            writer.element(name, text: value.map(Open311Value.numberText))
        case .bool(let value):
            writer.element(name, text: value ? "true" : "false")
        case .object(let fields):
            writer.open(name)
            for (key, value) in fields { value.write(key, to: &writer) }
            writer.close(name)
        case .list(let item, let values):
            guard !values.isEmpty else { return writer.empty(name) }
            writer.open(name)
            for value in values { value.write(item, to: &writer) }
            writer.close(name)
        }
    }
}
