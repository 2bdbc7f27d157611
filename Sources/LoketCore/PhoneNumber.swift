import Foundation

/// An Indonesian telephone number normalised to E.164, e.g. `+6281234567890`.
///
/// Accepts the ways people write numbers — `0812-3456-7890`, `62 812 3456 7890`,
/// `+62 (0)812.3456.7890`, `(0254) 123456` — and refuses shapes no Indonesian number can have:
/// mobile numbers are 8 followed by an operator digit and 9–12 digits in all after the country
/// code; fixed lines start with an area code (2–7 or 9) and have 8–11 digits.
public struct PhoneNumber: Hashable, Sendable, Codable, CustomStringConvertible {
    public enum Kind: String, Sendable, Hashable, Codable {
        /// Reachable by SMS and chat apps.
        case mobile
        case landline
    }

    /// `+62…`.
    public let e164: String
    public let kind: Kind

    static let mobileDigits = 9...12
    static let landlineDigits = 8...11
    /// 80x are toll-free and premium services; 84x and 86x are not allocated.
    static let mobileOperatorDigits: Set<Character> = ["1", "2", "3", "5", "7", "8", "9"]

    private static let ignored: Set<Character> = [" ", "-", ".", "(", ")", "\u{00A0}"]
    private static let ignoredBytes = Array(" -.()".utf8)

    public init(_ text: String) throws(PhoneNumberError) {
        // Separators people type are dropped; text without any (ASCII, none of them) stays as is.
        let plain = text.utf8.allSatisfy { $0 < 0x80 && !Self.ignoredBytes.contains($0) }
        let compact = plain ? text : text.filter { !Self.ignored.contains($0) }
        guard !compact.isEmpty else { throw .empty }
        if let bad = compact.enumerated().first(where: { index, character in
            !(character.isASCII && character.isNumber) && !(index == 0 && character == "+")
        }) {
            throw .invalidCharacter(bad.element)
        }

        var national: Substring
        if compact.hasPrefix("+") {
            guard compact.hasPrefix("+62") else { throw .notIndonesian }
            national = compact.dropFirst(3)
        } else if compact.hasPrefix("62") {
            national = compact.dropFirst(2)
        } else if compact.hasPrefix("0") {
            national = compact.dropFirst()
            guard !national.hasPrefix("0") else { throw .internationalPrefix }
        } else {
            throw .missingPrefix
        }
        // "+62 (0)812…" keeps the domestic trunk zero after the country code.
        if national.hasPrefix("0") { national = national.dropFirst() }

        guard let first = national.first else { throw .tooShort(found: 0, minimum: Self.landlineDigits.lowerBound) }
        let kind: Kind
        let allowed: ClosedRange<Int>
        switch first {
        case "8":
            guard national.count >= 2 else { throw .tooShort(found: national.count, minimum: Self.mobileDigits.lowerBound) }
            let operatorDigit = national[national.index(after: national.startIndex)]
            guard Self.mobileOperatorDigits.contains(operatorDigit) else { throw .unknownMobilePrefix("08\(operatorDigit)") }
            (kind, allowed) = (.mobile, Self.mobileDigits)
        case "2", "3", "4", "5", "6", "7", "9":
            (kind, allowed) = (.landline, Self.landlineDigits)
        default:
            throw .invalidAreaCode(String(national.prefix(3)))
        }
        guard national.count >= allowed.lowerBound else { throw .tooShort(found: national.count, minimum: allowed.lowerBound) }
        guard national.count <= allowed.upperBound else { throw .tooLong(found: national.count, maximum: allowed.upperBound) }

        self.e164 = "+62" + national
        self.kind = kind
    }

    public var description: String { e164 }

    public init(from decoder: any Decoder) throws {
        try self.init(try decoder.singleValueContainer().decode(String.self))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(e164)
    }
}

/// Why a phone number was refused. Digit counts are of the national number (after +62 or 0).
public enum PhoneNumberError: UserFacingError, Hashable {
    case empty
    case invalidCharacter(Character)
    /// A "+" number with another country code.
    case notIndonesian
    /// Neither 0, 62 nor +62 at the start.
    case missingPrefix
    /// "00…": an international call prefix; write +62 instead.
    case internationalPrefix
    case unknownMobilePrefix(String)
    case invalidAreaCode(String)
    case tooShort(found: Int, minimum: Int)
    case tooLong(found: Int, maximum: Int)

    public var code: String {
        switch self {
        case .empty: "phone_empty"
        case .invalidCharacter: "phone_invalid_character"
        case .notIndonesian: "phone_not_indonesian"
        case .missingPrefix: "phone_missing_prefix"
        case .internationalPrefix: "phone_international_prefix"
        case .unknownMobilePrefix: "phone_unknown_mobile_prefix"
        case .invalidAreaCode: "phone_invalid_area_code"
        case .tooShort: "phone_too_short"
        case .tooLong: "phone_too_long"
        }
    }

    public func message(_ language: Language) -> String {
        switch (self, language) {
        case (.empty, .indonesian): "Nomor telepon wajib diisi."
        case (.empty, .english): "The phone number is required."
        case (.invalidCharacter(let character), .indonesian): "Nomor telepon memuat karakter \"\(character)\" yang tidak valid."
        case (.invalidCharacter(let character), .english): "The phone number contains an invalid character \"\(character)\"."
        case (.notIndonesian, .indonesian): "Hanya nomor Indonesia (+62) yang diterima."
        case (.notIndonesian, .english): "Only Indonesian numbers (+62) are accepted."
        case (.missingPrefix, .indonesian): "Nomor telepon harus diawali 0, 62 atau +62."
        case (.missingPrefix, .english): "The phone number must start with 0, 62 or +62."
        case (.internationalPrefix, .indonesian): "Tulis +62 sebagai pengganti awalan internasional 00."
        case (.internationalPrefix, .english): "Write +62 instead of the international prefix 00."
        case (.unknownMobilePrefix(let prefix), .indonesian): "Awalan \(prefix) bukan nomor seluler yang dapat dihubungi."
        case (.unknownMobilePrefix(let prefix), .english): "\(prefix) is not a reachable mobile prefix."
        case (.invalidAreaCode(let code), .indonesian): "Kode wilayah telepon \(code) tidak valid."
        case (.invalidAreaCode(let code), .english): "The dialling code \(code) is invalid."
        case (.tooShort(let found, let minimum), .indonesian): "Nomor telepon terlalu pendek: \(found) digit setelah 0/+62, minimal \(minimum)."
        case (.tooShort(let found, let minimum), .english): "The phone number is too short: \(found) digits after 0/+62, at least \(minimum)."
        case (.tooLong(let found, let maximum), .indonesian): "Nomor telepon terlalu panjang: \(found) digit setelah 0/+62, maksimal \(maximum)."
        case (.tooLong(let found, let maximum), .english): "The phone number is too long: \(found) digits after 0/+62, at most \(maximum)."
        }
    }
}
