import Foundation

/// A Nomor Induk Pegawai, the 18-digit number of a civil servant (ASN):
/// `YYYYMMDD YYYYMM G NNN` — birth date, appointment year and month (TMT CPNS), sex
/// (1 male, 2 female) and a serial number.
public struct NIP: Hashable, Sendable, CustomStringConvertible {
    /// The eighteen digits.
    public let digits: String
    public let birthDate: LocalDate
    public let appointmentYear: Int
    public let appointmentMonth: Int
    public let sex: Sex
    public let serial: Int

    /// The youngest age at which someone can be appointed a civil servant.
    public static let minimumAppointmentAge = 18

    /// Validates `text` (spaces between digit groups are allowed) as of `today`.
    ///
    /// The appointment may not be in the future, and may not precede the month of the 18th
    /// birthday (the number records the month only, so the month is what is compared).
    public init(_ text: String, today: LocalDate) throws(NIPError) {
        let compact = text.filter { !$0.isWhitespace }
        guard !compact.isEmpty else { throw .empty }
        if let (position, character) = compact.enumerated().first(where: { !($1.isASCII && $1.isNumber) }) {
            throw .nonDigit(position: position + 1, character: character)
        }
        guard compact.count == 18 else { throw .wrongLength(compact.count) }
        let digits = Array(compact)
        func number(_ range: Range<Int>) -> Int { Int(String(digits[range]))! }

        let birthDigits = String(digits[0..<8])
        guard let birthDate = try? LocalDate(year: number(0..<4), month: number(4..<6), day: number(6..<8)),
              birthDate.year >= 1900
        else { throw .invalidBirthDate(birthDigits) }
        guard birthDate <= today else { throw .birthDateInFuture(birthDigits) }

        let year = number(8..<12)
        let month = number(12..<14)
        guard (1...12).contains(month), year >= 1900 else { throw .invalidAppointmentDate(String(digits[8..<14])) }
        guard (year, month) <= (today.year, today.month) else { throw .appointmentInFuture(year: year, month: month) }
        guard (year, month) >= (birthDate.year + Self.minimumAppointmentAge, birthDate.month) else {
            throw .appointmentBeforeAge18(year: year, month: month)
        }

        let sex: Sex
        switch digits[14] {
        case "1": sex = .male
        case "2": sex = .female
        default: throw .invalidSexDigit(digits[14])
        }
        let serial = number(15..<18)
        guard serial != 0 else { throw .zeroSerial }

        self.digits = compact
        self.birthDate = birthDate
        self.appointmentYear = year
        self.appointmentMonth = month
        self.sex = sex
        self.serial = serial
    }

    public var description: String { digits }
}

/// Why a NIP was refused.
public enum NIPError: UserFacingError, Hashable {
    case empty
    case nonDigit(position: Int, character: Character)
    case wrongLength(Int)
    /// The first eight digits are no real date from 1900 on.
    case invalidBirthDate(String)
    case birthDateInFuture(String)
    /// Digits 9–14 are no year and month (from 1900).
    case invalidAppointmentDate(String)
    case appointmentInFuture(year: Int, month: Int)
    case appointmentBeforeAge18(year: Int, month: Int)
    /// Digit 15 must be 1 (male) or 2 (female).
    case invalidSexDigit(Character)
    case zeroSerial

    public var code: String {
        switch self {
        case .empty: "nip_empty"
        case .nonDigit: "nip_non_digit"
        case .wrongLength: "nip_wrong_length"
        case .invalidBirthDate: "nip_invalid_birth_date"
        case .birthDateInFuture: "nip_birth_date_in_future"
        case .invalidAppointmentDate: "nip_invalid_appointment_date"
        case .appointmentInFuture: "nip_appointment_in_future"
        case .appointmentBeforeAge18: "nip_appointment_before_age_18"
        case .invalidSexDigit: "nip_invalid_sex_digit"
        case .zeroSerial: "nip_zero_serial"
        }
    }

    public func message(_ language: Language) -> String {
        switch (self, language) {
        case (.empty, .indonesian): "NIP wajib diisi."
        case (.empty, .english): "The NIP is required."
        case (.nonDigit(let position, let character), .indonesian): "NIP hanya berisi angka; karakter ke-\(position) adalah \"\(character)\"."
        case (.nonDigit(let position, let character), .english): "A NIP holds only digits; character \(position) is \"\(character)\"."
        case (.wrongLength(let count), .indonesian): "NIP harus 18 digit (tertulis \(count))."
        case (.wrongLength(let count), .english): "A NIP has 18 digits (got \(count))."
        case (.invalidBirthDate(let digits), .indonesian): "Tanggal lahir pada NIP (\(digits)) bukan tanggal yang valid."
        case (.invalidBirthDate(let digits), .english): "The NIP's birth date (\(digits)) is not a valid date."
        case (.birthDateInFuture(let digits), .indonesian): "Tanggal lahir pada NIP (\(digits)) ada di masa depan."
        case (.birthDateInFuture(let digits), .english): "The NIP's birth date (\(digits)) lies in the future."
        case (.invalidAppointmentDate(let digits), .indonesian): "TMT pengangkatan pada NIP (\(digits)) bukan tahun dan bulan yang valid."
        case (.invalidAppointmentDate(let digits), .english): "The NIP's appointment date (\(digits)) is not a valid year and month."
        case (.appointmentInFuture(let year, let month), .indonesian): "TMT pengangkatan pada NIP (\(month)/\(year)) ada di masa depan."
        case (.appointmentInFuture(let year, let month), .english): "The NIP's appointment (\(month)/\(year)) lies in the future."
        case (.appointmentBeforeAge18(let year, let month), .indonesian): "TMT pengangkatan pada NIP (\(month)/\(year)) sebelum pegawai berusia 18 tahun."
        case (.appointmentBeforeAge18(let year, let month), .english): "The NIP's appointment (\(month)/\(year)) precedes the officer's 18th birthday."
        case (.invalidSexDigit(let digit), .indonesian): "Digit jenis kelamin pada NIP harus 1 atau 2 (tertulis \(digit))."
        case (.invalidSexDigit(let digit), .english): "The NIP's sex digit must be 1 or 2 (got \(digit))."
        case (.zeroSerial, .indonesian): "Nomor urut NIP tidak boleh 000."
        case (.zeroSerial, .english): "The NIP's serial number cannot be 000."
        }
    }
}
