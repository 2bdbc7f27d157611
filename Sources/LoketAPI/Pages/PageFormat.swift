import Foundation
import LoketCore

/// Numbers, money, durations and dates as people read them in each language: Indonesian writes
/// `1.234` and `87,5%`, English `1,234` and `87.5%`; rupiah is always `Rp 100.000`.
struct PageFormat: Sendable {
    let language: Language
    let timeZone: TimeZone

    init(language: Language, timeZone: String) {
        self.language = language
        self.timeZone = TimeZone(identifier: timeZone) ?? TimeZone(identifier: "Asia/Jakarta")!
    }

    var english: Bool { language == .english }

    func integer(_ value: Int) -> String {
        let digits = String(value.magnitude)
        var grouped = ""
        for (index, digit) in digits.enumerated() {
            if index > 0, (digits.count - index) % 3 == 0 { grouped.append(english ? "," : ".") }
            grouped.append(digit)
        }
        return (value < 0 ? "-" : "") + grouped
    }

    /// At most `digits` decimals, without trailing zeros (`87,5`, `100`).
    func decimal(_ value: Double, digits: Int = 1) -> String {
        let scale = pow(10, Double(digits))
        let rounded = (value * scale).rounded() / scale
        let whole = Int(rounded.rounded(.towardZero))
        var fraction = Int((abs(rounded - Double(whole)) * scale).rounded())
        var places = digits
        while places > 0, fraction % 10 == 0 {
            fraction /= 10
            places -= 1
        }
        let sign = rounded < 0 && whole == 0 ? "-" : ""
        guard places > 0 else { return sign + integer(whole) }
        let text = String(fraction)
        return sign + integer(whole) + (english ? "." : ",") + String(repeating: "0", count: places - text.count) + text
    }

    /// Two decimals always, as IKM values are published (`88,50`).
    func fixed2(_ value: Double) -> String {
        let cents = Int((value * 100).rounded())
        let fraction = String(abs(cents) % 100)
        return integer(cents / 100) + (english ? "." : ",") + String(repeating: "0", count: 2 - fraction.count) + fraction
    }

    func percent(_ value: Double?) -> String {
        guard let value else { return "–" }
        return decimal(value) + "%"
    }

    func rupiah(_ value: Int64) -> String {
        var digits = String(value.magnitude)
        var groups: [String] = []
        while digits.count > 3 {
            groups.insert(String(digits.suffix(3)), at: 0)
            digits.removeLast(3)
        }
        groups.insert(digits, at: 0)
        return "Rp " + (value < 0 ? "-" : "") + groups.joined(separator: ".")
    }

    /// Working hours (a median resolution time, say) to the hundredth, as the JSON and CSV give
    /// them: medians come in quarter hours, and 4.25 printed as "4,3" disagreed with the 4.25 of
    /// the same report's JSON.
    func workingHours(_ hours: Double?) -> String {
        guard let hours else { return "–" }
        return decimal(hours, digits: 2) + (english ? " working hours" : " jam kerja")
    }

    /// A service target in working time: whole days when it is a whole number of days, else hours.
    func workingTarget(minutes: Int, dayMinutes: Int) -> String {
        if dayMinutes > 0, minutes >= dayMinutes {
            let days = Double(minutes) / Double(dayMinutes)
            let text = decimal(days, digits: 2)
            return text + (english ? (days == 1 ? " working day" : " working days") : " hari kerja")
        }
        let hours = Double(minutes) / 60
        return decimal(hours, digits: 2) + (english ? (hours == 1 ? " working hour" : " working hours") : " jam kerja")
    }

    func bytes(_ count: Int) -> String {
        if count < 1024 { return integer(count) + " B" }
        if count < 1024 * 1024 { return decimal(Double(count) / 1024) + " KB" }
        return decimal(Double(count) / 1024 / 1024) + " MB"
    }

    static let indonesianMonths = ["Jan", "Feb", "Mar", "Apr", "Mei", "Jun", "Jul", "Agu", "Sep", "Okt", "Nov", "Des"]
    static let englishMonths = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    func monthName(_ month: Int) -> String {
        (english ? Self.englishMonths : Self.indonesianMonths)[month - 1]
    }

    /// `Nov 2026`.
    func month(_ date: LocalDate) -> String { "\(monthName(date.month)) \(date.year)" }

    /// `20 Nov 2026`.
    func day(_ date: LocalDate) -> String { "\(date.day) \(monthName(date.month)) \(date.year)" }

    /// `20 Nov 2026, 14.30 WIB` (Indonesian writes the time with a dot).
    func instant(_ date: Date) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        let parts = calendar.dateComponents([.year, .month, .day, .hour, .minute], from: date)
        let hour = String(format: "%02d", parts.hour ?? 0)
        let minute = String(format: "%02d", parts.minute ?? 0)
        return "\(parts.day ?? 1) \(monthName(parts.month ?? 1)) \(parts.year ?? 1970), \(hour)\(english ? ":" : ".")\(minute) \(zoneName(at: date))"
    }

    /// Indonesia's own names of its zones; elsewhere the offset.
    func zoneName(at date: Date) -> String {
        switch timeZone.identifier {
        case "Asia/Jakarta", "Asia/Pontianak": return "WIB"
        case "Asia/Makassar": return "WITA"
        case "Asia/Jayapura": return "WIT"
        default:
            let seconds = timeZone.secondsFromGMT(for: date)
            let sign = seconds < 0 ? "-" : "+"
            let minutes = abs(seconds) / 60
            return minutes % 60 == 0 ? "UTC\(sign)\(minutes / 60)" : String(format: "UTC%@%d:%02d", sign, minutes / 60, minutes % 60)
        }
    }

    /// An on-time share as one of five tones (colour classes of charts and the heat map).
    static func tone(_ percent: Double?) -> String {
        guard let percent else { return "tn" }
        switch percent {
        case ..<50: return "t0"
        case ..<70: return "t1"
        case ..<85: return "t2"
        case ..<95: return "t3"
        default: return "t4"
        }
    }
}
