import Foundation
import PropertyBased
import Testing
@testable import LoketCore

/// A random calendar: a zone with or without daylight saving time (Lord Howe shifts by half an
/// hour, Santiago changes at midnight), zero to three intervals on each weekday at any minute
/// (so some fall into daylight-saving gaps and repeated hours), and holidays on any weekday.
struct CalendarSpec: Sendable, CustomStringConvertible {
    static let zones = ["Asia/Jakarta", "Asia/Jayapura", "America/New_York", "Europe/Berlin",
                        "Australia/Lord_Howe", "America/Santiago"]

    let zone: String
    let intervals: [WorkingInterval]
    let holidays: [Holiday]

    init(zoneIndex: Int, cutsPerWeekday: [[Int]], holidayDays: [Int]) {
        zone = Self.zones[zoneIndex]
        var intervals: [WorkingInterval] = []
        for (index, cuts) in cutsPerWeekday.enumerated() {
            let bounds = Array(Set(cuts)).sorted()
            for pair in stride(from: 0, to: bounds.count - 1, by: 2) {
                intervals.append(WorkingInterval(weekday: index + 1, startMinute: bounds[pair], endMinute: bounds[pair + 1]))
            }
        }
        if intervals.isEmpty { intervals = [WorkingInterval(weekday: 3, startMinute: 540, endMinute: 1020)] }
        self.intervals = intervals
        holidays = holidayDays.map { Holiday(date: LocalDate(daysSinceEpoch: $0), name: "random", kind: .regional) }
    }

    var calendar: BusinessCalendar {
        try! BusinessCalendar(timeZoneIdentifier: zone, intervals: intervals, holidays: holidays)
    }

    var naive: NaiveCalendar { NaiveCalendar(timeZoneIdentifier: zone, intervals: intervals, holidays: holidays) }

    /// Working minutes in about thirteen weeks: spans stay within roughly 90 calendar days.
    var quarterMinutes: Int { intervals.reduce(0) { $0 + $1.endMinute - $1.startMinute } * 13 }

    var description: String {
        "\(zone) \(intervals.map { "\($0.weekday):\($0.startMinute)-\($0.endMinute)" }) holidays \(holidays.map(\.date.description))"
    }
}

enum CalendarGen {
    /// 2025-07-01 … 2027-06-30 as days since 1970.
    static let days = 20_270...20_999

    static let spec = zip(
        Gen.int(in: 0..<CalendarSpec.zones.count),
        Gen.int(in: 0...1440).array(of: 0...6).array(of: 7),
        Gen.int(in: days).array(of: 0...14)
    ).map { CalendarSpec(zoneIndex: $0.0, cutsPerWeekday: $0.1, holidayDays: $0.2) }

    /// A whole minute between 2025-10-01 and 2026-12-31 (UTC).
    static let minute = Gen.int(in: 29_321_280...29_977_920).map { Date(timeIntervalSince1970: Double($0) * 60) }

    /// Any second in the same range, for properties that do not need the naive reference.
    static let second = Gen.int(in: 1_759_276_800...1_798_675_200).map { Date(timeIntervalSince1970: Double($0)) }

    /// A fraction of the span limit, in parts per 10,000, biased toward short spans.
    static let share = Gen.int(in: 0...10_000)

    static func minutes(_ spec: CalendarSpec, share: Int) -> Int {
        Int(Double(spec.quarterMinutes) * pow(Double(share) / 10_000, 2))
    }
}

@Suite struct CalendarPropertyTests {
    @Test func agreesWithTheNaiveMinuteByMinuteReference() async {
        await propertyCheck(count: 60, input: CalendarGen.spec, CalendarGen.minute, CalendarGen.share, CalendarGen.share) { spec, start, share, other in
            let calendar = spec.calendar
            let naive = spec.naive
            let minutes = CalendarGen.minutes(spec, share: share)
            #expect(calendar.adding(workingMinutes: minutes, to: start) == naive.adding(workingMinutes: minutes, to: start),
                    "adding \(minutes) to \(start) on \(spec)")
            let end = start + Double(other) / 10_000 * 90 * 86_400
            let end0 = Date(timeIntervalSince1970: (end.timeIntervalSince1970 / 60).rounded(.down) * 60)
            #expect(calendar.workingMinutes(from: start, to: end0) == naive.workingMinutes(from: start, to: end0),
                    "measuring \(start) to \(end0) on \(spec)")
            #expect(calendar.isWorking(at: end0) == naive.isWorking(at: end0), "isWorking(\(end0)) on \(spec)")
        }
    }

    @Test func addingThenMeasuringGivesTheMinutesBack() async {
        await propertyCheck(count: 300, input: CalendarGen.spec, CalendarGen.second, CalendarGen.share) { spec, start, share in
            let calendar = spec.calendar
            let minutes = CalendarGen.minutes(spec, share: share)
            let end = calendar.adding(workingMinutes: minutes, to: start)
            #expect(calendar.workingMinutes(from: start, to: end) == minutes, "\(minutes) from \(start) on \(spec)")
            #expect(calendar.workingSeconds(from: start, to: end) == minutes * 60)
        }
    }

    @Test func resultsEndWorkingTimeUnlessNothingWasAdded() async {
        await propertyCheck(count: 300, input: CalendarGen.spec, CalendarGen.second, CalendarGen.share) { spec, start, share in
            let calendar = spec.calendar
            let minutes = CalendarGen.minutes(spec, share: share)
            let end = calendar.adding(workingMinutes: minutes, to: start)
            if minutes == 0 {
                #expect(end == start)
            } else {
                #expect(calendar.isWorking(at: end - 1), "the second before \(end) must be working on \(spec)")
            }
        }
    }

    @Test func monotonicInTheMinutes() async {
        await propertyCheck(count: 300, input: CalendarGen.spec, CalendarGen.second, CalendarGen.share, CalendarGen.share) { spec, start, first, second in
            let calendar = spec.calendar
            let (fewer, more) = (min(CalendarGen.minutes(spec, share: first), CalendarGen.minutes(spec, share: second)),
                                 max(CalendarGen.minutes(spec, share: first), CalendarGen.minutes(spec, share: second)))
            let early = calendar.adding(workingMinutes: fewer, to: start)
            let late = calendar.adding(workingMinutes: more, to: start)
            #expect(fewer == more ? early == late : early < late, "\(fewer) vs \(more) from \(start) on \(spec)")
            #expect(calendar.adding(workingMinutes: more - fewer, to: early) == late, "adding in two steps")
        }
    }

    @Test func nextWorkingInstantIsWorkingWithNothingWorkedBeforeIt() async {
        await propertyCheck(count: 300, input: CalendarGen.spec, CalendarGen.second) { spec, start in
            let calendar = spec.calendar
            let next = calendar.nextWorkingInstant(after: start)
            #expect(next >= start)
            #expect(calendar.isWorking(at: next), "\(next) after \(start) on \(spec)")
            #expect(calendar.workingSeconds(from: start, to: next) == 0)
        }
    }
}
