import Foundation

/// The code a citizen receives when filing, e.g. `SRG-7K3D-9QXA-M2PZ`: a jurisdiction prefix and
/// twelve Crockford base32 symbols in groups of four, the last one a check symbol.
///
/// Eleven random symbols carry 55 bits from a cryptographic generator, so codes cannot be
/// enumerated or guessed from their neighbours. Crockford's alphabet leaves out I, L, O and U, so
/// a code read aloud or copied by hand survives the usual confusions, and the check symbol (the
/// Luhn mod N algorithm over the 32 symbols) catches any single wrong symbol and most swaps of
/// neighbours before a lookup is made.
public struct TrackingCode: Hashable, Sendable, Codable, CustomStringConvertible {
    /// The jurisdiction, 2–5 letters, e.g. `SRG` for Kota Serang.
    public let prefix: String
    /// The twelve symbols without separators, check symbol last.
    public let symbols: String

    static let alphabet = Array("0123456789ABCDEFGHJKMNPQRSTVWXYZ")
    static let randomSymbolCount = 11
    static let groupSize = 4

    /// A new random code from the system's cryptographically secure generator.
    public static func generate(prefix: String) throws(TrackingCodeError) -> TrackingCode {
        var generator = SecureRandom.Generator()
        return try generate(prefix: prefix, using: &generator)
    }

    /// A new random code from `generator`; tests pass a seeded one.
    public static func generate(prefix: String, using generator: inout some RandomNumberGenerator) throws(TrackingCodeError) -> TrackingCode {
        try validate(prefix: prefix)
        let values = (0..<randomSymbolCount).map { _ in Int.random(in: 0..<alphabet.count, using: &generator) }
        return TrackingCode(prefix: prefix, values: values + [checkValue(for: values)])
    }

    /// The alphabet as ASCII bytes, and each ASCII byte's value in it (O, I and L read as 0, 1
    /// and 1; -1 for anything else), for the parser's fast path.
    private static let alphabetBytes = alphabet.map { $0.asciiValue! }
    private static let symbolValues: [Int8] = {
        var table = [Int8](repeating: -1, count: 128)
        for (value, byte) in alphabetBytes.enumerated() { table[Int(byte)] = Int8(value) }
        table[Int(UInt8(ascii: "O"))] = 0
        table[Int(UInt8(ascii: "I"))] = 1
        table[Int(UInt8(ascii: "L"))] = 1
        return table
    }()

    private init(prefix: String, values: [Int]) {
        self.prefix = prefix
        self.symbols = String(decoding: values.map { Self.alphabetBytes[$0] }, as: UTF8.self)
    }

    /// Reads a code as a person typed it: any case, hyphens and spaces anywhere or nowhere,
    /// O for 0 and I or L for 1 after the prefix. A wrong check symbol is refused.
    public init(parsing text: String) throws(TrackingCodeError) {
        // Every code a server reads from a path goes through here: plain ASCII input that makes a
        // valid code is read on its bytes; anything else (and every refusal, with its reason)
        // takes the general path below, which defines the rules.
        if let (prefix, values) = Self.parseASCII(text) {
            self.init(prefix: prefix, values: values)
            return
        }
        try self.init(parsingGenerally: text)
    }

    /// The fast path of `init(parsing:)`: the same reading for ASCII text, or nil when the text is
    /// not ASCII or not a valid code (the general path then says why).
    static func parseASCII(_ text: String) -> (prefix: String, values: [Int])? {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(24)
        for byte in text.utf8 {
            guard byte < 0x80 else { return nil }
            bytes.append(byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z") ? byte - 0x20 : byte)
        }
        // Unicode white space among ASCII: tab, line feed, vertical tab, form feed, return, space.
        func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || (0x09...0x0D).contains(byte) }
        var start = 0
        var end = bytes.count
        while start < end, isSpace(bytes[start]) { start += 1 }
        while end > start, isSpace(bytes[end - 1]) { end -= 1 }
        let upper = bytes[start..<end]
        func isSeparator(_ byte: UInt8) -> Bool { byte == UInt8(ascii: "-") || byte == UInt8(ascii: " ") }
        func isLetter(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") }
        func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }
        guard !upper.isEmpty, upper.allSatisfy({ isSeparator($0) || isLetter($0) || isDigit($0) }) else { return nil }
        let symbolCount = randomSymbolCount + 1
        let firstPart = upper.prefix { !isSeparator($0) }
        let prefix: ArraySlice<UInt8>
        let body: [UInt8]
        if firstPart.count < upper.count, (2...5).contains(firstPart.count), firstPart.allSatisfy(isLetter) {
            prefix = firstPart
            body = upper.dropFirst(firstPart.count).filter { !isSeparator($0) }
        } else {
            let compact = upper.filter { !isSeparator($0) }
            guard compact.count > symbolCount + 1 else { return nil }
            prefix = compact.dropLast(symbolCount)
            body = Array(compact.suffix(symbolCount))
        }
        guard (2...5).contains(prefix.count), prefix.allSatisfy(isLetter), body.count == symbolCount else { return nil }
        var values: [Int] = []
        values.reserveCapacity(symbolCount)
        for byte in body {
            let value = symbolValues[Int(byte)]
            guard value >= 0 else { return nil }
            values.append(Int(value))
        }
        guard checkValue(for: Array(values.dropLast())) == values[values.count - 1] else { return nil }
        return (String(decoding: prefix, as: UTF8.self), values)
    }

    /// The rules of `init(parsing:)` on characters, for any text.
    init(parsingGenerally text: String) throws(TrackingCodeError) {
        let upper = text.uppercased().trimmingWhitespace()
        guard !upper.isEmpty else { throw .empty }
        let separators: Set<Character> = ["-", " "]
        if let bad = upper.first(where: { !separators.contains($0) && !($0.isASCII && ($0.isLetter || $0.isNumber)) }) {
            throw .invalidCharacter(bad)
        }
        let symbolCount = Self.randomSymbolCount + 1
        // With separators, the prefix is what precedes the first one, when that is all letters;
        // otherwise it is whatever precedes the last twelve symbols.
        let firstPart = upper.prefix { !separators.contains($0) }
        let prefix: String
        let body: [Character]
        if firstPart.count < upper.count, (2...5).contains(firstPart.count), firstPart.allSatisfy({ $0.isLetter }) {
            prefix = String(firstPart)
            body = upper.dropFirst(firstPart.count).filter { !separators.contains($0) }
        } else {
            let compact = upper.filter { !separators.contains($0) }
            guard compact.count > symbolCount + 1 else { throw .tooShort }
            prefix = String(compact.dropLast(symbolCount))
            body = Array(compact.suffix(symbolCount))
        }
        try Self.validate(prefix: prefix)
        guard body.count == symbolCount else { throw .wrongLength(found: body.count, expected: symbolCount) }
        var values: [Int] = []
        for character in body {
            let normalised: Character = switch character {
            case "O": "0"
            case "I", "L": "1"
            default: character
            }
            guard let value = Self.alphabet.firstIndex(of: normalised) else { throw .invalidSymbol(character) }
            values.append(value)
        }
        guard Self.checkValue(for: Array(values.dropLast())) == values[values.count - 1] else { throw .checkSymbolMismatch }
        self.init(prefix: prefix, values: values)
    }

    /// `SRG-7K3D-9QXA-M2PZ`.
    public var description: String {
        var text: [UInt8] = Array(prefix.utf8)
        text.reserveCapacity(prefix.utf8.count + 15)
        for (index, byte) in symbols.utf8.enumerated() {
            if index % Self.groupSize == 0 { text.append(UInt8(ascii: "-")) }
            text.append(byte)
        }
        return String(decoding: text, as: UTF8.self)
    }

    private static func validate(prefix: String) throws(TrackingCodeError) {
        guard (2...5).contains(prefix.count), prefix.allSatisfy({ $0.isASCII && $0.isUppercase }) else {
            throw .invalidPrefix(prefix)
        }
    }

    /// Luhn mod 32: double every second value from the right, fold, and complete to a multiple.
    private static func checkValue(for values: [Int]) -> Int {
        let base = alphabet.count
        var sum = 0
        var factor = 2
        for value in values.reversed() {
            let product = value * factor
            sum += product / base + product % base
            factor = 3 - factor
        }
        return (base - sum % base) % base
    }

    public init(from decoder: any Decoder) throws {
        try self.init(parsing: try decoder.singleValueContainer().decode(String.self))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

/// Why a tracking code was refused.
public enum TrackingCodeError: UserFacingError, Hashable {
    case empty
    case invalidCharacter(Character)
    /// The jurisdiction prefix is not 2–5 letters.
    case invalidPrefix(String)
    case wrongLength(found: Int, expected: Int)
    /// Too few characters for a prefix and twelve symbols.
    case tooShort
    /// A character outside Crockford's base32 alphabet, such as U.
    case invalidSymbol(Character)
    /// A typing error: the check symbol does not match the others.
    case checkSymbolMismatch

    public var code: String {
        switch self {
        case .empty: "tracking_code_empty"
        case .invalidCharacter: "tracking_code_invalid_character"
        case .invalidPrefix: "tracking_code_invalid_prefix"
        case .wrongLength: "tracking_code_wrong_length"
        case .tooShort: "tracking_code_too_short"
        case .invalidSymbol: "tracking_code_invalid_symbol"
        case .checkSymbolMismatch: "tracking_code_check_mismatch"
        }
    }

    public func message(_ language: Language) -> String {
        switch (self, language) {
        case (.empty, .indonesian): "Kode pelacakan wajib diisi."
        case (.empty, .english): "The tracking code is required."
        case (.invalidCharacter(let character), .indonesian): "Kode pelacakan memuat karakter \"\(character)\" yang tidak dikenal."
        case (.invalidCharacter(let character), .english): "The tracking code contains an unexpected character \"\(character)\"."
        case (.invalidPrefix(let prefix), .indonesian): "Awalan \"\(prefix)\" tidak valid: harus 2–5 huruf, mis. SRG."
        case (.invalidPrefix(let prefix), .english): "The prefix \"\(prefix)\" is invalid: it must be 2–5 letters, e.g. SRG."
        case (.wrongLength(let found, let expected), .indonesian): "Kode pelacakan harus \(expected) karakter setelah awalan (tertulis \(found))."
        case (.wrongLength(let found, let expected), .english): "A tracking code has \(expected) characters after the prefix (got \(found))."
        case (.tooShort, .indonesian): "Kode pelacakan terlalu pendek: awalan dan 12 karakter, mis. SRG-7K3D-9QXA-M2PZ."
        case (.tooShort, .english): "The tracking code is too short: a prefix and 12 characters, e.g. SRG-7K3D-9QXA-M2PZ."
        case (.invalidSymbol(let character), .indonesian): "Karakter \"\(character)\" tidak dipakai dalam kode pelacakan."
        case (.invalidSymbol(let character), .english): "The character \"\(character)\" is not used in tracking codes."
        case (.checkSymbolMismatch, .indonesian): "Kode pelacakan salah ketik: periksa kembali setiap karakter."
        case (.checkSymbolMismatch, .english): "The tracking code has a typing error: check each character again."
        }
    }
}
