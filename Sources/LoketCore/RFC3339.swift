import Foundation

/// RFC 3339 instants with the jurisdiction's offset, e.g. `2026-12-01T09:30:00+07:00`.
public enum RFC3339 {
    nonisolated(unsafe) private static let formatter: ISO8601DateFormatter = {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        formatter.timeZone = TimeZone(identifier: "Asia/Jakarta")
        return formatter
    }()
    private static let lock = NSLock()

    /// Jakarta has kept UTC+7 since 1964: from 1970 on the instant is written by arithmetic, with no
    /// lock and no formatter (every JSON answer writes several; the formatter was a few per cent
    /// of the server's CPU). Earlier instants, which Loket never stores, go to the formatter and
    /// its history of Jakarta's offsets.
    public static func string(from date: Date) -> String {
        let seconds = date.timeIntervalSince1970
        guard seconds >= 0, seconds < 253_402_300_799 - 25_200 else {
            lock.lock()
            defer { lock.unlock() }
            return formatter.string(from: date)
        }
        return arithmetic(seconds, offset: 25_200, suffix: "+07:00")
    }

    /// The instant in UTC with a `Z`, e.g. `2026-12-01T02:30:00Z`: what JSONEncoder's `.iso8601`
    /// strategy writes (for JSON stored in the database), by the same arithmetic. That strategy
    /// cuts the fraction off (…:59.9996 stays at :59), where ISO8601DateFormatter rounds to the
    /// millisecond first.
    public static func utcString(from date: Date) -> String {
        let seconds = date.timeIntervalSince1970
        guard seconds >= 0, seconds < 253_402_300_799 else {
            return date.ISO8601Format()
        }
        return arithmetic(Int(seconds.rounded(.down)), offset: 0, suffix: "Z")
    }

    /// To the millisecond first, then the second cut off: what ISO8601DateFormatter does.
    private static func arithmetic(_ seconds: Double, offset: Int, suffix: String) -> String {
        arithmetic(Int((seconds * 1000).rounded() / 1000), offset: offset, suffix: suffix)
    }

    private static func arithmetic(_ wholeSeconds: Int, offset: Int, suffix: String) -> String {
        let local = wholeSeconds + offset
        let day = LocalDate(daysSinceEpoch: local / 86_400)
        let second = local % 86_400
        var text = ""
        text.reserveCapacity(25)
        func append(_ value: Int, width: Int) {
            let digits = String(value)
            if digits.count < width { text += String(repeating: "0", count: width - digits.count) }
            text += digits
        }
        append(day.year, width: 4); text += "-"; append(day.month, width: 2); text += "-"; append(day.day, width: 2)
        text += "T"
        append(second / 3600, width: 2); text += ":"; append(second / 60 % 60, width: 2); text += ":"; append(second % 60, width: 2)
        text += suffix
        return text
    }

    /// Parses an RFC 3339 date-time: `YYYY-MM-DDTHH:MM:SS`, optional fractional seconds, and a
    /// zone (`Z` or `±hh:mm`, also `±hhmm` and `±hh`; `T` and `Z` in either case, §5.6). Strict, where Foundation's
    /// formatter was lenient: 30 February is refused, not read as 2 March.
    public static func date(from text: String) -> Date? {
        let bytes = Array(text.utf8)
        var index = 0
        func number(_ width: Int) -> Int? {
            guard index + width <= bytes.count else { return nil }
            var value = 0
            for byte in bytes[index..<(index + width)] {
                guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
                value = value * 10 + Int(byte - UInt8(ascii: "0"))
            }
            index += width
            return value
        }
        func expect(_ characters: String) -> Bool {
            guard index < bytes.count, characters.utf8.contains(bytes[index]) else { return false }
            index += 1
            return true
        }
        guard let year = number(4), expect("-"), let month = number(2), expect("-"), let day = number(2),
              expect("Tt"), let hour = number(2), expect(":"), let minute = number(2), expect(":"), let second = number(2),
              let date = try? LocalDate(year: year, month: month, day: day),
              hour < 24, minute < 60, second < 60
        else { return nil }
        var fraction = 0.0
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            var scale = 0.1
            let start = index
            while index < bytes.count, bytes[index] >= UInt8(ascii: "0"), bytes[index] <= UInt8(ascii: "9") {
                fraction += Double(bytes[index] - UInt8(ascii: "0")) * scale
                scale /= 10
                index += 1
            }
            guard index > start else { return nil }
        }
        var offset = 0
        if expect("Zz") {
            offset = 0
        } else {
            guard index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") else { return nil }
            let sign = bytes[index] == UInt8(ascii: "-") ? -1 : 1
            index += 1
            // ±hh:mm as RFC 3339 writes it; ±hhmm and ±hh (ISO 8601's basic forms, which PHP's
            // DATE_ISO8601, Python's %z and Java's Z write) are read too.
            guard let hours = number(2), hours < 24 else { return nil }
            var minutes = 0
            if index < bytes.count {
                if bytes[index] == UInt8(ascii: ":") { index += 1 }
                guard let value = number(2), value < 60 else { return nil }
                minutes = value
            }
            offset = sign * (hours * 3600 + minutes * 60)
        }
        guard index == bytes.count else { return nil }
        let seconds = date.daysSinceEpoch * 86_400 + hour * 3600 + minute * 60 + second - offset
        return Date(timeIntervalSince1970: Double(seconds) + fraction)
    }
}
