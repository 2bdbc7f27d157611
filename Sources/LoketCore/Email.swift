import Foundation

/// An e-mail address that passes a sanity check: the shape of RFC 5321 mailboxes (dot-atom
/// local part, DNS host name, length limits) without quoted local parts or address literals,
/// which no citizen types. Whether mail arrives is only known by sending some.
public struct EmailAddress: Hashable, Sendable, Codable, CustomStringConvertible {
    /// As typed (mailbox names may be case-sensitive).
    public let localPart: String
    /// Lower-cased (host names are not case-sensitive).
    public let domain: String

    static let localSymbols = Set("!#$%&'*+/=?^_`{|}~-")

    public init(_ text: String) throws(EmailAddressError) {
        let address = text.trimmingWhitespace()
        guard !address.isEmpty else { throw .empty }
        guard address.count <= 254 else { throw .tooLong(address.count) }
        let parts = address.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2 else { throw parts.count < 2 ? .missingAt : .multipleAt }
        let local = parts[0]
        let domain = parts[1].lowercased()

        guard !local.isEmpty else { throw .emptyLocalPart }
        guard local.count <= 64 else { throw .localPartTooLong(local.count) }
        if let bad = local.first(where: { !($0.isASCII && ($0.isLetter || $0.isNumber || $0 == "." || Self.localSymbols.contains($0))) }) {
            throw .invalidLocalCharacter(bad)
        }
        // On the bytes (the local part is ASCII by now): `contains("..")` would go through NSString.
        let dot = UInt8(ascii: ".")
        guard local.utf8.first != dot, local.utf8.last != dot,
              !zip(local.utf8, local.utf8.dropFirst()).contains(where: { $0 == dot && $1 == dot })
        else { throw .misplacedDot }

        guard !domain.isEmpty else { throw .emptyDomain }
        let labels = domain.split(separator: ".", omittingEmptySubsequences: false)
        guard labels.count >= 2 else { throw .domainWithoutDot(domain) }
        for label in labels {
            guard !label.isEmpty, label.count <= 63,
                  label.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }),
                  !label.hasPrefix("-"), !label.hasSuffix("-")
            else { throw .invalidDomainLabel(String(label)) }
        }
        let topLevel = labels[labels.count - 1]
        guard topLevel.count >= 2, topLevel.hasPrefix("xn--") || topLevel.allSatisfy({ $0.isLetter }) else {
            throw .invalidTopLevelDomain(String(topLevel))
        }

        self.localPart = String(local)
        self.domain = domain
    }

    public var description: String { "\(localPart)@\(domain)" }

    public init(from decoder: any Decoder) throws {
        try self.init(try decoder.singleValueContainer().decode(String.self))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

/// Why an e-mail address was refused.
public enum EmailAddressError: UserFacingError, Hashable {
    case empty
    case tooLong(Int)
    case missingAt
    case multipleAt
    case emptyLocalPart
    case localPartTooLong(Int)
    case invalidLocalCharacter(Character)
    /// A dot at the start or end of the name, or two in a row.
    case misplacedDot
    case emptyDomain
    case domainWithoutDot(String)
    case invalidDomainLabel(String)
    case invalidTopLevelDomain(String)

    public var code: String {
        switch self {
        case .empty: "email_empty"
        case .tooLong: "email_too_long"
        case .missingAt: "email_missing_at"
        case .multipleAt: "email_multiple_at"
        case .emptyLocalPart: "email_empty_local_part"
        case .localPartTooLong: "email_local_part_too_long"
        case .invalidLocalCharacter: "email_invalid_character"
        case .misplacedDot: "email_misplaced_dot"
        case .emptyDomain: "email_empty_domain"
        case .domainWithoutDot: "email_domain_without_dot"
        case .invalidDomainLabel: "email_invalid_domain"
        case .invalidTopLevelDomain: "email_invalid_top_level_domain"
        }
    }

    public func message(_ language: Language) -> String {
        switch (self, language) {
        case (.empty, .indonesian): "Alamat e-mail wajib diisi."
        case (.empty, .english): "The e-mail address is required."
        case (.tooLong(let count), .indonesian): "Alamat e-mail terlalu panjang (\(count) karakter, maksimal 254)."
        case (.tooLong(let count), .english): "The e-mail address is too long (\(count) characters, at most 254)."
        case (.missingAt, .indonesian): "Alamat e-mail harus memuat tanda @."
        case (.missingAt, .english): "An e-mail address needs an @."
        case (.multipleAt, .indonesian): "Alamat e-mail hanya boleh memuat satu tanda @."
        case (.multipleAt, .english): "An e-mail address has only one @."
        case (.emptyLocalPart, .indonesian): "Nama sebelum tanda @ wajib diisi."
        case (.emptyLocalPart, .english): "The name before the @ is missing."
        case (.localPartTooLong(let count), .indonesian): "Nama sebelum tanda @ terlalu panjang (\(count) karakter, maksimal 64)."
        case (.localPartTooLong(let count), .english): "The name before the @ is too long (\(count) characters, at most 64)."
        case (.invalidLocalCharacter(let character), .indonesian): "Karakter \"\(character)\" tidak boleh dipakai dalam alamat e-mail."
        case (.invalidLocalCharacter(let character), .english): "The character \"\(character)\" cannot be used in an e-mail address."
        case (.misplacedDot, .indonesian): "Titik tidak boleh di awal, di akhir, atau berurutan sebelum tanda @."
        case (.misplacedDot, .english): "A dot cannot start or end the name before the @, or follow another dot."
        case (.emptyDomain, .indonesian): "Domain setelah tanda @ wajib diisi."
        case (.emptyDomain, .english): "The domain after the @ is missing."
        case (.domainWithoutDot(let domain), .indonesian): "Domain \"\(domain)\" tidak lengkap (mis. gmail.com)."
        case (.domainWithoutDot(let domain), .english): "The domain \"\(domain)\" is incomplete (e.g. gmail.com)."
        case (.invalidDomainLabel(let label), .indonesian): "Bagian domain \"\(label)\" tidak valid."
        case (.invalidDomainLabel(let label), .english): "The domain part \"\(label)\" is invalid."
        case (.invalidTopLevelDomain(let label), .indonesian): "Akhiran domain \"\(label)\" tidak valid."
        case (.invalidTopLevelDomain(let label), .english): "The top-level domain \"\(label)\" is invalid."
        }
    }
}
