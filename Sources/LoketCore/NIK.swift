import Foundation

/// Sex as encoded in NIK and NIP.
public enum Sex: String, Sendable, Hashable, Codable, CaseIterable {
    case male
    case female
}

/// A Nomor Induk Kependudukan, the 16-digit national identity number on the KTP and KK:
/// `PPKKCC DDMMYY SSSS` — the district (kecamatan) of registration, the birth date with 40
/// added to the day for women, and a serial number.
///
/// The check is structural: it catches typing errors and invented numbers, not whether the
/// number was ever issued (only Dukcapil can say that).
public struct NIK: Hashable, Sendable, CustomStringConvertible {
    /// The sixteen digits.
    public let digits: String
    /// The district of registration, e.g. `36.73.01`.
    public let region: AreaCode
    public let birthDate: LocalDate
    public let sex: Sex
    public let serial: Int

    /// Province codes in use (Kemendagri), including the Papuan provinces created in 2022.
    static let provinceCodes: Set<String> = [
        "11", "12", "13", "14", "15", "16", "17", "18", "19", "21",
        "31", "32", "33", "34", "35", "36",
        "51", "52", "53",
        "61", "62", "63", "64", "65",
        "71", "72", "73", "74", "75", "76",
        "81", "82",
        "91", "92", "93", "94", "95", "96",
    ]

    /// Validates `text` (spaces between digit groups are allowed). `today` settles the century
    /// of the two-digit birth year: the most recent one that does not put the birth in the future.
    public init(_ text: String, today: LocalDate) throws(NIKError) {
        // Sixteen plain digits, the usual input, need no filtering.
        let isDigit = { (byte: UInt8) in byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }
        let compact = text.utf8.count == 16 && text.utf8.allSatisfy(isDigit) ? text : text.filter { !$0.isWhitespace }
        guard !compact.isEmpty else { throw .empty }
        if let (position, character) = compact.enumerated().first(where: { !($1.isASCII && $1.isNumber) }) {
            throw .nonDigit(position: position + 1, character: character)
        }
        guard compact.count == 16 else { throw .wrongLength(compact.count) }
        // ASCII digits only by now: read on the bytes.
        let digits = Array(compact.utf8)
        func number(_ range: Range<Int>) -> Int { digits[range].reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) } }
        func part(_ range: Range<Int>) -> String { String(decoding: digits[range], as: UTF8.self) }

        guard Self.provinceCodes.contains(part(0..<2)) else { throw .invalidProvinceCode(part(0..<2)) }
        guard number(2..<4) != 0 else { throw .invalidRegencyCode(part(2..<4)) }
        guard number(4..<6) != 0 else { throw .invalidDistrictCode(part(4..<6)) }

        let encodedDay = number(6..<8)
        let month = number(8..<10)
        let shortYear = number(10..<12)
        let sex: Sex
        let day: Int
        switch encodedDay {
        case 1...31: (sex, day) = (.male, encodedDay)
        case 41...71: (sex, day) = (.female, encodedDay - 40)
        default: throw .invalidBirthDay(encodedDay)
        }
        guard (1...12).contains(month) else { throw .invalidBirthMonth(month) }
        let recentYear = (today.year / 100) * 100 + shortYear
        guard let birthDate = [recentYear, recentYear - 100].lazy
            .compactMap({ try? LocalDate(year: $0, month: month, day: day) })
            .first(where: { $0 <= today })
        else { throw .invalidBirthDate(part(6..<12)) }
        let serial = number(12..<16)
        guard serial != 0 else { throw .zeroSerial }

        self.digits = compact
        self.region = AreaCode(validSegments: [part(0..<2), part(2..<4), part(4..<6)])
        self.birthDate = birthDate
        self.sex = sex
        self.serial = serial
    }

    public var description: String { digits }
}

/// Why a NIK was refused.
public enum NIKError: UserFacingError, Hashable {
    case empty
    case nonDigit(position: Int, character: Character)
    case wrongLength(Int)
    case invalidProvinceCode(String)
    case invalidRegencyCode(String)
    case invalidDistrictCode(String)
    /// The day digits are neither 01–31 (men) nor 41–71 (women).
    case invalidBirthDay(Int)
    case invalidBirthMonth(Int)
    /// The DDMMYY digits name no real past date, e.g. 31 April.
    case invalidBirthDate(String)
    case zeroSerial

    public var code: String {
        switch self {
        case .empty: "nik_empty"
        case .nonDigit: "nik_non_digit"
        case .wrongLength: "nik_wrong_length"
        case .invalidProvinceCode: "nik_invalid_province"
        case .invalidRegencyCode: "nik_invalid_regency"
        case .invalidDistrictCode: "nik_invalid_district"
        case .invalidBirthDay: "nik_invalid_birth_day"
        case .invalidBirthMonth: "nik_invalid_birth_month"
        case .invalidBirthDate: "nik_invalid_birth_date"
        case .zeroSerial: "nik_zero_serial"
        }
    }

    public func message(_ language: Language) -> String {
        switch (self, language) {
        case (.empty, .indonesian): "NIK wajib diisi."
        case (.empty, .english): "The NIK is required."
        case (.nonDigit(let position, let character), .indonesian): "NIK hanya berisi angka; karakter ke-\(position) adalah \"\(character)\"."
        case (.nonDigit(let position, let character), .english): "A NIK holds only digits; character \(position) is \"\(character)\"."
        case (.wrongLength(let count), .indonesian): "NIK harus 16 digit (tertulis \(count))."
        case (.wrongLength(let count), .english): "A NIK has 16 digits (got \(count))."
        case (.invalidProvinceCode(let code), .indonesian): "Kode provinsi \(code) pada NIK tidak dikenal."
        case (.invalidProvinceCode(let code), .english): "The NIK's province code \(code) does not exist."
        case (.invalidRegencyCode(let code), .indonesian): "Kode kabupaten/kota \(code) pada NIK tidak valid."
        case (.invalidRegencyCode(let code), .english): "The NIK's regency code \(code) is invalid."
        case (.invalidDistrictCode(let code), .indonesian): "Kode kecamatan \(code) pada NIK tidak valid."
        case (.invalidDistrictCode(let code), .english): "The NIK's district code \(code) is invalid."
        case (.invalidBirthDay(let day), .indonesian): "Tanggal lahir pada NIK (\(day)) harus 01–31, atau 41–71 untuk perempuan."
        case (.invalidBirthDay(let day), .english): "The NIK's birth day (\(day)) must be 01–31, or 41–71 for women."
        case (.invalidBirthMonth(let month), .indonesian): "Bulan lahir pada NIK (\(month)) harus 01–12."
        case (.invalidBirthMonth(let month), .english): "The NIK's birth month (\(month)) must be 01–12."
        case (.invalidBirthDate(let digits), .indonesian): "Tanggal lahir pada NIK (\(digits)) bukan tanggal yang ada."
        case (.invalidBirthDate(let digits), .english): "The NIK's birth date (\(digits)) is not a real date."
        case (.zeroSerial, .indonesian): "Nomor urut NIK tidak boleh 0000."
        case (.zeroSerial, .english): "The NIK's serial number cannot be 0000."
        }
    }
}
