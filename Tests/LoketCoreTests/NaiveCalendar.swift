import Foundation
import LoketCore

/// The reference the fast calendar is checked against: it steps through time one minute at a
/// time and asks Foundation's `Calendar` for the wall clock of every minute. It shares nothing
/// with `BusinessCalendar` but the definition of working time, and is far too slow for anything
/// but tests (a 90-day span is about 130,000 `dateComponents` calls).
///
/// Instants passed to it must fall on whole minutes; working intervals and zone changes do too,
/// so every minute is either entirely working or entirely not.
struct NaiveCalendar {
    private struct Day: Hashable {
        let year: Int, month: Int, day: Int
    }

    private let calendar: Calendar
    private let intervals: [WorkingInterval]
    private let holidays: Set<Day>

    init(timeZoneIdentifier: String, intervals: [WorkingInterval], holidays: [Holiday]) {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: timeZoneIdentifier)!
        self.calendar = calendar
        self.intervals = intervals
        self.holidays = Set(holidays.map { Day(year: $0.date.year, month: $0.date.month, day: $0.date.day) })
    }

    func isWorking(at instant: Date) -> Bool {
        let parts = calendar.dateComponents([.year, .month, .day, .weekday, .hour, .minute], from: instant)
        if holidays.contains(Day(year: parts.year!, month: parts.month!, day: parts.day!)) { return false }
        let isoWeekday = parts.weekday! == 1 ? 7 : parts.weekday! - 1
        let minute = parts.hour! * 60 + parts.minute!
        return intervals.contains { $0.weekday == isoWeekday && $0.startMinute <= minute && minute < $0.endMinute }
    }

    func adding(workingMinutes: Int, to start: Date) -> Date {
        var instant = start
        var counted = 0
        while counted < workingMinutes {
            if isWorking(at: instant) { counted += 1 }
            instant += 60
        }
        return instant
    }

    func workingMinutes(from start: Date, to end: Date) -> Int {
        var count = 0
        var instant = start
        while instant < end {
            if isWorking(at: instant) { count += 1 }
            instant += 60
        }
        return count
    }
}
