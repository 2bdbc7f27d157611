import Foundation

/// An instant as a citizen reads it, in a calendar's zone: "3 Desember 2026 pukul 15.30 WIB" /
/// "3 December 2026 at 15:30 WIB". Used where words go to people (Open311 notices, the worker's
/// reminders), never where a program reads the value (that is RFC 3339).
public enum HumanInstant {
    public static func string(_ date: Date, language: Language, timeZone identifier: String) -> String {
        let zone = TimeZone(identifier: identifier) ?? TimeZone(identifier: "Asia/Jakarta")!
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = zone
        let parts = calendar.dateComponents([.year, .month, .day, .hour, .minute], from: date)
        let month = (language == .english ? englishMonths : indonesianMonths)[(parts.month ?? 1) - 1]
        let hour = twoDigits(parts.hour ?? 0)
        let minute = twoDigits(parts.minute ?? 0)
        let day = "\(parts.day ?? 1) \(month) \(parts.year ?? 1970)"
        let label = zoneLabel(zone, at: date)
        return language == .english ? "\(day) at \(hour):\(minute) \(label)" : "\(day) pukul \(hour).\(minute) \(label)"
    }

    static let indonesianMonths = [
        "Januari", "Februari", "Maret", "April", "Mei", "Juni", "Juli", "Agustus", "September", "Oktober", "November", "Desember",
    ]
    static let englishMonths = [
        "January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December",
    ]

    /// Indonesia's own zone names where they apply, else the UTC offset.
    public static func zoneLabel(_ zone: TimeZone, at date: Date) -> String {
        switch zone.identifier {
        case "Asia/Jakarta", "Asia/Pontianak": return "WIB"
        case "Asia/Makassar": return "WITA"
        case "Asia/Jayapura": return "WIT"
        default:
            let seconds = zone.secondsFromGMT(for: date)
            return "UTC\(seconds < 0 ? "-" : "+")\(twoDigits(abs(seconds) / 3600)):\(twoDigits(abs(seconds) % 3600 / 60))"
        }
    }

    private static func twoDigits(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }
}
