import Foundation

/// The raw bytes of one non-NULL result field in PostgreSQL's binary format, with its type.
public struct PostgresValue {
    public let type: PostgresDataType
    public let bytes: UnsafeRawBufferPointer
}

/// A Swift type that can be read from a result field.
public protocol PostgresDecodable {
    /// Decodes a non-NULL field. Throw `PostgresValueMismatch` to report an unsupported type or bad
    /// bytes; the row turns it into a `PostgresDecodingError` naming the column.
    static func decode(from value: PostgresValue) throws(PostgresValueMismatch) -> Self
    /// The value for SQL NULL; non-optional types refuse it.
    static func decodeNull() throws(PostgresValueMismatch) -> Self
}

extension PostgresDecodable {
    public static func decodeNull() throws(PostgresValueMismatch) -> Self {
        throw PostgresValueMismatch("unexpected NULL (decode as an Optional to accept NULL)")
    }
}

/// Why a field could not be decoded; the row adds column name, index and types.
public struct PostgresValueMismatch: Error, Sendable {
    public var reason: String
    public init(_ reason: String) { self.reason = reason }

    static func unsupported(_ type: PostgresDataType) -> PostgresValueMismatch {
        PostgresValueMismatch("type \(type) is not supported for this Swift type")
    }

    static func size(_ type: PostgresDataType, _ count: Int) -> PostgresValueMismatch {
        PostgresValueMismatch("malformed \(type) value of \(count) bytes")
    }
}

extension Optional: PostgresDecodable where Wrapped: PostgresDecodable {
    public static func decode(from value: PostgresValue) throws(PostgresValueMismatch) -> Self {
        try Wrapped.decode(from: value)
    }
    public static func decodeNull() throws(PostgresValueMismatch) -> Self { nil }
}

extension Bool: PostgresDecodable {
    public static func decode(from value: PostgresValue) throws(PostgresValueMismatch) -> Bool {
        guard value.type == .bool else { throw .unsupported(value.type) }
        guard value.bytes.count == 1 else { throw .size(value.type, value.bytes.count) }
        return value.bytes[0] != 0
    }
}

/// Reads any of smallint, integer and bigint, so that a column's width can grow without breaking
/// readers; a value that does not fit the requested width is an error, never a truncation.
private func decodeInteger<T: FixedWidthInteger>(_: T.Type, _ value: PostgresValue) throws(PostgresValueMismatch) -> T {
    let wide: Int64
    switch (value.type, value.bytes.count) {
    case (.int2, 2): wide = Int64(BigEndian.read(Int16.self, from: value.bytes, at: 0))
    case (.int4, 4), (.oid, 4): wide = Int64(BigEndian.read(Int32.self, from: value.bytes, at: 0))
    case (.int8, 8): wide = BigEndian.read(Int64.self, from: value.bytes, at: 0)
    case (.int2, _), (.int4, _), (.int8, _), (.oid, _): throw .size(value.type, value.bytes.count)
    default: throw .unsupported(value.type)
    }
    guard let narrow = T(exactly: wide) else {
        throw PostgresValueMismatch("value \(wide) does not fit in \(T.self)")
    }
    return narrow
}

extension Int16: PostgresDecodable {
    public static func decode(from value: PostgresValue) throws(PostgresValueMismatch) -> Int16 {
        try decodeInteger(Int16.self, value)
    }
}

extension Int32: PostgresDecodable {
    public static func decode(from value: PostgresValue) throws(PostgresValueMismatch) -> Int32 {
        try decodeInteger(Int32.self, value)
    }
}

extension Int64: PostgresDecodable {
    public static func decode(from value: PostgresValue) throws(PostgresValueMismatch) -> Int64 {
        try decodeInteger(Int64.self, value)
    }
}

extension Int: PostgresDecodable {
    public static func decode(from value: PostgresValue) throws(PostgresValueMismatch) -> Int {
        try decodeInteger(Int.self, value)
    }
}

extension Double: PostgresDecodable {
    public static func decode(from value: PostgresValue) throws(PostgresValueMismatch) -> Double {
        switch (value.type, value.bytes.count) {
        case (.float8, 8): return Double(bitPattern: BigEndian.read(UInt64.self, from: value.bytes, at: 0))
        case (.float4, 4): return Double(Float(bitPattern: BigEndian.read(UInt32.self, from: value.bytes, at: 0)))
        case (.numeric, _):
            let text = try NumericCodec.decimalString(value.bytes)
            guard let double = Double(text) else { throw PostgresValueMismatch("numeric \(text) is not a number") }
            return double
        case (.int2, _), (.int4, _), (.int8, _): return Double(try decodeInteger(Int64.self, value))
        case (.float8, _), (.float4, _): throw .size(value.type, value.bytes.count)
        default: throw .unsupported(value.type)
        }
    }
}

extension Decimal: PostgresDecodable {
    public static func decode(from value: PostgresValue) throws(PostgresValueMismatch) -> Decimal {
        switch value.type {
        case .numeric:
            let text = try NumericCodec.decimalString(value.bytes)
            guard let decimal = Decimal(string: text, locale: Locale(identifier: "en_US_POSIX")) else {
                throw PostgresValueMismatch("numeric \(text) cannot be represented as Decimal")
            }
            return decimal
        case .int2, .int4, .int8: return Decimal(try decodeInteger(Int64.self, value))
        default: throw .unsupported(value.type)
        }
    }
}

extension String: PostgresDecodable {
    public static func decode(from value: PostgresValue) throws(PostgresValueMismatch) -> String {
        guard value.type.isTextual || value.type == .json else { throw .unsupported(value.type) }
        return String(decoding: value.bytes, as: UTF8.self)
    }
}

extension UUID: PostgresDecodable {
    public static func decode(from value: PostgresValue) throws(PostgresValueMismatch) -> UUID {
        guard value.type == .uuid else { throw .unsupported(value.type) }
        guard value.bytes.count == 16 else { throw .size(value.type, value.bytes.count) }
        let b = value.bytes
        return UUID(uuid: (b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]))
    }
}

extension Data: PostgresDecodable {
    public static func decode(from value: PostgresValue) throws(PostgresValueMismatch) -> Data {
        guard value.type == .bytea else { throw .unsupported(value.type) }
        return Data(value.bytes)
    }
}

extension Date: PostgresDecodable {
    /// timestamptz and timestamp (read as UTC) to the microsecond; date as midnight UTC of that day.
    /// PostgreSQL's ±infinity become `distantFuture`/`distantPast`.
    public static func decode(from value: PostgresValue) throws(PostgresValueMismatch) -> Date {
        switch (value.type, value.bytes.count) {
        case (.timestamptz, 8), (.timestamp, 8):
            let micros = BigEndian.read(Int64.self, from: value.bytes, at: 0)
            if micros == .max { return .distantFuture }
            if micros == .min { return .distantPast }
            // One division of the exact microsecond count: the nearest Double, as a literal would be.
            let (unixMicros, overflow) = micros.addingReportingOverflow(postgresEpochUnixSeconds * 1_000_000)
            if overflow { throw PostgresValueMismatch("timestamp out of range") }
            return Date(timeIntervalSince1970: Double(unixMicros) / 1_000_000)
        case (.date, 4):
            let days = BigEndian.read(Int32.self, from: value.bytes, at: 0)
            if days == .max { return .distantFuture }
            if days == .min { return .distantPast }
            return Date(timeIntervalSince1970: Double(postgresEpochUnixSeconds + Int64(days) * 86_400))
        case (.timestamptz, _), (.timestamp, _), (.date, _): throw .size(value.type, value.bytes.count)
        default: throw .unsupported(value.type)
        }
    }
}

extension PostgresLocalDate: PostgresDecodable {
    public static func decode(from value: PostgresValue) throws(PostgresValueMismatch) -> PostgresLocalDate {
        guard value.type == .date else { throw .unsupported(value.type) }
        guard value.bytes.count == 4 else { throw .size(value.type, value.bytes.count) }
        let days = BigEndian.read(Int32.self, from: value.bytes, at: 0)
        guard days != .max, days != .min else { throw PostgresValueMismatch("infinite date") }
        return PostgresLocalDate(daysSince2000: Int(days))
    }
}

extension Array: PostgresDecodable where Element: PostgresDecodable {
    /// One-dimensional arrays (text[], varchar[], bigint[], integer[], smallint[], …); an empty
    /// array decodes to `[]`. NULL elements are accepted only when `Element` is Optional.
    public static func decode(from value: PostgresValue) throws(PostgresValueMismatch) -> [Element] {
        let b = value.bytes
        guard b.count >= 12 else { throw .size(value.type, b.count) }
        let dimensions = BigEndian.read(Int32.self, from: b, at: 0)
        let elementType = PostgresDataType(BigEndian.read(UInt32.self, from: b, at: 8))
        if dimensions == 0 { return [] }
        guard dimensions == 1 else {
            throw PostgresValueMismatch("\(dimensions)-dimensional arrays are not supported")
        }
        guard b.count >= 20 else { throw .size(value.type, b.count) }
        let count = Int(BigEndian.read(Int32.self, from: b, at: 12))
        var offset = 20
        var result: [Element] = []
        result.reserveCapacity(count)
        for _ in 0..<count {
            guard offset + 4 <= b.count else { throw .size(value.type, b.count) }
            let length = Int(BigEndian.read(Int32.self, from: b, at: offset))
            offset += 4
            if length < 0 {
                result.append(try Element.decodeNull())
                continue
            }
            guard offset + length <= b.count else { throw .size(value.type, b.count) }
            let element = PostgresValue(type: elementType, bytes: UnsafeRawBufferPointer(rebasing: b[offset..<offset + length]))
            result.append(try Element.decode(from: element))
            offset += length
        }
        return result
    }
}

/// PostgreSQL's binary numeric: digit count, weight, sign, display scale, then base-10000 digits.
enum NumericCodec {
    static func decimalString(_ b: UnsafeRawBufferPointer) throws(PostgresValueMismatch) -> String {
        guard b.count >= 8 else { throw .size(.numeric, b.count) }
        let digitCount = Int(BigEndian.read(Int16.self, from: b, at: 0))
        let weight = Int(BigEndian.read(Int16.self, from: b, at: 2))
        let sign = BigEndian.read(UInt16.self, from: b, at: 4)
        let scale = Int(BigEndian.read(Int16.self, from: b, at: 6))
        guard b.count == 8 + digitCount * 2 else { throw .size(.numeric, b.count) }
        switch sign {
        case 0xC000: throw PostgresValueMismatch("numeric NaN has no Decimal value")
        case 0xD000, 0xF000: throw PostgresValueMismatch("numeric infinity has no Decimal value")
        case 0x0000, 0x4000: break
        default: throw PostgresValueMismatch("unknown numeric sign \(sign)")
        }
        let digits = (0..<digitCount).map { Int(BigEndian.read(Int16.self, from: b, at: 8 + $0 * 2)) }
        // Integer part: groups 0...weight; fractional part: groups weight+1..., each 4 decimal digits.
        var integerPart = ""
        if weight < 0 {
            integerPart = "0"
        } else {
            for group in 0...weight {
                let digit = group < digits.count ? digits[group] : 0
                integerPart += group == 0 ? String(digit) : String(format: "%04d", digit)
            }
        }
        var fraction = ""
        if scale > 0 {
            var group = weight + 1
            while fraction.count < scale {
                let digit = (group >= 0 && group < digits.count) ? digits[group] : 0
                fraction += String(format: "%04d", digit)
                group += 1
            }
            fraction = String(fraction.prefix(scale))
        }
        let body = fraction.isEmpty ? integerPart : integerPart + "." + fraction
        return sign == 0x4000 ? "-" + body : body
    }
}
