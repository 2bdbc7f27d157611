/// A calendar date without a time or a zone, as printed on a holiday decree or an identity card.
///
/// Date arithmetic is done on ``daysSinceEpoch`` (days since 1970-01-01 in the proleptic
/// Gregorian calendar) with Howard Hinnant's civil-date algorithms, so the hot paths of the
/// business calendar never ask Foundation's `Calendar`, which is slow.
public struct LocalDate: Hashable, Comparable, Sendable, Codable, CustomStringConvertible {
    public let year: Int
    public let month: Int
    public let day: Int

    /// Creates a date, refusing days that do not exist (30 February, month 13, …).
    public init(year: Int, month: Int, day: Int) throws(InvalidDate) {
        guard (1...12).contains(month), day >= 1, day <= LocalDate.daysIn(month: month, year: year) else {
            throw InvalidDate(year: year, month: month, day: day)
        }
        self.year = year
        self.month = month
        self.day = day
    }

    /// The date that lies `daysSinceEpoch` days after 1970-01-01.
    public init(daysSinceEpoch days: Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let marchMonth = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * marchMonth + 2) / 5 + 1
        let month = marchMonth < 10 ? marchMonth + 3 : marchMonth - 9
        self.year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        self.month = month
        self.day = day
    }

    /// Parses `YYYY-MM-DD`, the form dates take in JSON, SQL and the holiday lists.
    public init(iso text: String) throws(InvalidDate) {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        // Digits only: Int("+3") is 3, which would read "2026-+3-17" as 17 March.
        guard parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
              parts.allSatisfy({ $0.utf8.allSatisfy { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") } }),
              let year = Int(parts[0]), let month = Int(parts[1]), let day = Int(parts[2])
        else { throw InvalidDate(text: text) }
        try self.init(year: year, month: month, day: day)
    }

    /// Days since 1970-01-01; negative before it.
    public var daysSinceEpoch: Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * ((month + 9) % 12) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    /// ISO weekday: 1 = Monday … 7 = Sunday.
    public var isoWeekday: Int { LocalDate.isoWeekday(daysSinceEpoch: daysSinceEpoch) }

    /// The date `days` days later (earlier when negative).
    public func adding(days: Int) -> LocalDate { LocalDate(daysSinceEpoch: daysSinceEpoch + days) }

    public var description: String {
        let y = String(year), m = String(month), d = String(day)
        return String(repeating: "0", count: max(0, 4 - y.count)) + y + "-"
            + (m.count < 2 ? "0" : "") + m + "-" + (d.count < 2 ? "0" : "") + d
    }

    public static func < (lhs: LocalDate, rhs: LocalDate) -> Bool {
        (lhs.year, lhs.month, lhs.day) < (rhs.year, rhs.month, rhs.day)
    }

    public static func isLeap(year: Int) -> Bool {
        (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
    }

    public static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: isLeap(year: year) ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// 1970-01-01 was a Thursday (ISO weekday 4).
    static func isoWeekday(daysSinceEpoch days: Int) -> Int {
        let monday0 = (days + 3) % 7
        return (monday0 < 0 ? monday0 + 7 : monday0) + 1
    }

    // Codable as the ISO string, the way JSON APIs and the database write dates.
    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        try self.init(iso: text)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }

    /// A date that does not exist in the Gregorian calendar, or text that is not `YYYY-MM-DD`.
    public struct InvalidDate: UserFacingError, Hashable {
        public let text: String

        init(year: Int, month: Int, day: Int) {
            self.text = "\(year)-\(month)-\(day)"
        }

        init(text: String) { self.text = text }

        public var code: String { "invalid_date" }

        public func message(_ language: Language) -> String {
            switch language {
            case .indonesian: "Tanggal \(text) tidak ada (format YYYY-MM-DD)."
            case .english: "The date \(text) does not exist (expected YYYY-MM-DD)."
            }
        }
    }
}
