import Foundation
import Testing
@testable import LoketCore

@Suite struct BusinessCalendarTests {
    let serang = Fixtures.serang
    let wib = Fixtures.wib

    @Test func fiveWorkingDaysAcrossTheIdulFitriClusterEndOnTuesdayThe31st() {
        // 18–24 March 2026 holds no working day at all (Nyepi, Idul Fitri and joint leave).
        let filed = wib("2026-03-17 09:00")
        let deadline = serang.adding(workingMinutes: 5 * 450, to: filed)
        #expect(deadline == wib("2026-03-31 09:00"))
        #expect(serang.workingMinutes(from: filed, to: deadline) == 2250)
        #expect(serang.workingMinutes(from: deadline, to: filed) == -2250)
    }

    @Test func workingHoursBreaksAndHolidays() {
        #expect(serang.isWorking(at: wib("2026-03-17 09:00")))
        #expect(serang.isWorking(at: wib("2026-03-17 07:30")))
        #expect(!serang.isWorking(at: wib("2026-03-17 07:29")))
        #expect(!serang.isWorking(at: wib("2026-03-17 12:30")), "lunch break")
        #expect(!serang.isWorking(at: wib("2026-03-17 16:00")), "intervals end exclusively")
        #expect(!serang.isWorking(at: wib("2026-03-20 09:00")), "joint leave for Idul Fitri")
        #expect(!serang.isWorking(at: wib("2026-03-21 09:00")), "Saturday (and Idul Fitri)")
        #expect(!serang.isWorking(at: wib("2026-03-27 11:45")), "Friday prayer break")
        #expect(serang.isWorking(at: wib("2026-03-27 16:15")), "Friday afternoons run to 16:30")
        #expect(!serang.isWorking(at: wib("2026-03-26 16:15")))
    }

    @Test func nextWorkingInstant() {
        #expect(serang.nextWorkingInstant(after: wib("2026-03-17 16:30")) == wib("2026-03-25 07:30"))
        #expect(serang.nextWorkingInstant(after: wib("2026-03-17 12:15")) == wib("2026-03-17 13:00"))
        #expect(serang.nextWorkingInstant(after: wib("2026-03-17 16:00")) == wib("2026-03-25 07:30"))
        let inside = wib("2026-03-17 09:00").addingTimeInterval(12.75)
        #expect(serang.nextWorkingInstant(after: inside) == inside)
    }

    @Test func addingEndsAtTheEndOfWorkRatherThanAfterTheBreak() {
        // 270 minutes from 07:30 end at 12:00 sharp, not at 13:00 when work resumes.
        #expect(serang.adding(workingMinutes: 270, to: wib("2026-03-17 07:30")) == wib("2026-03-17 12:00"))
        #expect(serang.adding(workingMinutes: 271, to: wib("2026-03-17 07:30")) == wib("2026-03-17 13:01"))
        // Starting in a break or a night counts from the next working instant.
        #expect(serang.adding(workingMinutes: 30, to: wib("2026-03-17 12:10")) == wib("2026-03-17 13:30"))
        #expect(serang.adding(workingMinutes: 30, to: wib("2026-03-17 22:00")) == wib("2026-03-25 08:00"))
        // Zero minutes leave the instant alone, even outside working time.
        #expect(serang.adding(workingMinutes: 0, to: wib("2026-03-21 22:00")) == wib("2026-03-21 22:00"))
    }

    @Test func acrossYearEnds() throws {
        // 2025 → 2026: New Year's Day 2026 is a Thursday holiday.
        #expect(serang.adding(workingMinutes: 450, to: wib("2025-12-31 15:00")) == wib("2026-01-02 15:30"))
        // 2026 → 2027 with New Year's Day 2027 (a Friday) added to the list.
        let withNextYear = try BusinessCalendar(
            timeZoneIdentifier: "Asia/Jakarta", intervals: Fixtures.officeHours,
            holidays: Fixtures.holidays2026 + [Holiday(year: 2027, month: 1, day: 1, name: "Tahun Baru 2027 Masehi", kind: .national)]
        )
        #expect(withNextYear.adding(workingMinutes: 900, to: wib("2026-12-30 14:00")) == wib("2027-01-04 14:00"))
        #expect(withNextYear.workingMinutes(from: wib("2026-12-30 14:00"), to: wib("2027-01-04 14:00")) == 900)
        // Christmas Eve (joint leave) and Christmas Day take out Thursday and Friday.
        #expect(serang.adding(workingMinutes: 450, to: wib("2026-12-23 16:00")) == wib("2026-12-28 16:00"))
    }

    @Test func holidaysOnWeekendsChangeNothing() throws {
        let weekendHolidays: Set<LocalDate> = [Fixtures.date("2026-03-21"), Fixtures.date("2026-03-22"),
                                               Fixtures.date("2026-04-05"), Fixtures.date("2026-05-31")]
        let withoutThem = try BusinessCalendar(
            timeZoneIdentifier: "Asia/Jakarta", intervals: Fixtures.officeHours,
            holidays: Fixtures.holidays2026.filter { !weekendHolidays.contains($0.date) }
        )
        // Friday 29 May, then Waisak on Sunday and Pancasila Day on Monday.
        #expect(serang.adding(workingMinutes: 450, to: wib("2026-05-29 15:00")) == wib("2026-06-02 14:30"))
        for day in 0..<200 {
            let start = wib("2026-03-01 10:17").addingTimeInterval(Double(day) * 86_400 * 0.77)
            #expect(serang.adding(workingMinutes: 1000, to: start) == withoutThem.adding(workingMinutes: 1000, to: start))
        }
    }

    @Test func newYorkSpringForwardAndFallBack() throws {
        let sundayNights = try BusinessCalendar(
            timeZoneIdentifier: "America/New_York",
            intervals: [WorkingInterval(weekday: 7, startMinute: 60, endMinute: 240)], holidays: []
        )
        // 8 March 2026: 02:00 EST jumps to 03:00 EDT, so 01:00–04:00 holds two hours.
        let spring = Fixtures.instant("2026-03-08T00:00:00-05:00")
        #expect(sundayNights.workingMinutes(from: spring, to: spring + 6 * 3600) == 120)
        #expect(sundayNights.adding(workingMinutes: 90, to: spring) == Fixtures.instant("2026-03-08T03:30:00-04:00"))
        #expect(!sundayNights.isWorking(at: Fixtures.instant("2026-03-08T04:00:00-04:00")))
        // 1 November 2026: 02:00 EDT falls back to 01:00 EST, so 01:00–04:00 holds four hours.
        let autumn = Fixtures.instant("2026-11-01T00:00:00-04:00")
        #expect(sundayNights.workingMinutes(from: autumn, to: autumn + 8 * 3600) == 240)
        #expect(sundayNights.isWorking(at: Fixtures.instant("2026-11-01T01:30:00-05:00")), "the repeated hour is worked again")
        #expect(sundayNights.adding(workingMinutes: 90, to: autumn) == Fixtures.instant("2026-11-01T01:30:00-05:00"))

        let office = try BusinessCalendar(
            timeZoneIdentifier: "America/New_York",
            intervals: (1...5).map { WorkingInterval(weekday: $0, startMinute: 9 * 60, endMinute: 17 * 60) }, holidays: []
        )
        #expect(office.adding(workingMinutes: 16 * 60, to: Fixtures.instant("2026-03-06T13:00:00-05:00"))
            == Fixtures.instant("2026-03-10T13:00:00-04:00"))
    }

    @Test func berlinSummerTime() throws {
        let office = try BusinessCalendar(
            timeZoneIdentifier: "Europe/Berlin",
            intervals: (1...5).map { WorkingInterval(weekday: $0, startMinute: 8 * 60, endMinute: 16 * 60) }
                + [WorkingInterval(weekday: 7, startMinute: 0, endMinute: 6 * 60)],
            holidays: [Holiday(year: 2026, month: 4, day: 3, name: "Karfreitag", kind: .regional)]
        )
        // 29 March 2026: 02:00 CET becomes 03:00 CEST; Sunday 00:00–06:00 holds five hours.
        let sunday = Fixtures.instant("2026-03-29T00:00:00+01:00")
        #expect(office.workingMinutes(from: sunday, to: sunday + 86_400) == 300)
        #expect(office.adding(workingMinutes: 8 * 60, to: Fixtures.instant("2026-03-27T12:00:00+01:00"))
            == Fixtures.instant("2026-03-29T05:00:00+02:00"))
        #expect(office.adding(workingMinutes: 9 * 60, to: Fixtures.instant("2026-03-27T12:00:00+01:00"))
            == Fixtures.instant("2026-03-29T06:00:00+02:00"))
        #expect(office.adding(workingMinutes: 10 * 60, to: Fixtures.instant("2026-03-27T12:00:00+01:00"))
            == Fixtures.instant("2026-03-30T09:00:00+02:00"))
        // Good Friday off; 25 October 2026 falls back and its 00:00–06:00 holds seven hours.
        #expect(office.adding(workingMinutes: 60, to: Fixtures.instant("2026-04-02T15:30:00+02:00"))
            == Fixtures.instant("2026-04-05T00:30:00+02:00"))
        let autumn = Fixtures.instant("2026-10-25T00:00:00+02:00")
        #expect(office.workingMinutes(from: autumn, to: autumn + 86_400) == 420)
    }

    @Test func datesAndWeeklyFigures() {
        #expect(serang.localDate(of: Fixtures.instant("2026-03-16T18:00:00Z")) == Fixtures.date("2026-03-17"))
        #expect(serang.holidays(on: Fixtures.date("2026-03-20")).map(\.kind) == [.jointLeave])
        #expect(serang.holidays(on: Fixtures.date("2026-03-17")).isEmpty)
        #expect(serang.isWorkingDay(Fixtures.date("2026-03-17")))
        #expect(!serang.isWorkingDay(Fixtures.date("2026-03-20")))
        #expect(!serang.isWorkingDay(Fixtures.date("2026-03-28")))
        #expect(serang.workingMinutesPerWeek == 2250)
        #expect(serang.averageWorkingDayMinutes == 450)
    }

    @Test func touchingIntervalsAreOneStretch() throws {
        let calendar = try BusinessCalendar(
            timeZoneIdentifier: "Asia/Jakarta",
            intervals: [WorkingInterval(weekday: 1, startMinute: 720, endMinute: 780),
                        WorkingInterval(weekday: 1, startMinute: 480, endMinute: 720)],
            holidays: []
        )
        #expect(calendar.intervals.first == WorkingInterval(weekday: 1, startMinute: 480, endMinute: 720), "stored sorted")
        #expect(calendar.adding(workingMinutes: 300, to: wib("2026-03-16 08:00")) == wib("2026-03-16 13:00"))
        #expect(calendar.isWorking(at: wib("2026-03-16 12:00")))
    }

    @Test(arguments: [
        ("Mars/Olympus_Mons", [WorkingInterval(weekday: 1, startMinute: 0, endMinute: 60)], CalendarError.unknownTimeZone("Mars/Olympus_Mons")),
        ("Asia/Jakarta", [WorkingInterval(weekday: 8, startMinute: 0, endMinute: 60)], .invalidWeekday(WorkingInterval(weekday: 8, startMinute: 0, endMinute: 60))),
        ("Asia/Jakarta", [WorkingInterval(weekday: 0, startMinute: 0, endMinute: 60)], .invalidWeekday(WorkingInterval(weekday: 0, startMinute: 0, endMinute: 60))),
        ("Asia/Jakarta", [WorkingInterval(weekday: 1, startMinute: 1380, endMinute: 1441)], .minuteOutOfRange(WorkingInterval(weekday: 1, startMinute: 1380, endMinute: 1441))),
        ("Asia/Jakarta", [WorkingInterval(weekday: 1, startMinute: -30, endMinute: 60)], .minuteOutOfRange(WorkingInterval(weekday: 1, startMinute: -30, endMinute: 60))),
        ("Asia/Jakarta", [WorkingInterval(weekday: 2, startMinute: 600, endMinute: 600)], .emptyInterval(WorkingInterval(weekday: 2, startMinute: 600, endMinute: 600))),
        ("Asia/Jakarta", [WorkingInterval(weekday: 3, startMinute: 700, endMinute: 600)], .emptyInterval(WorkingInterval(weekday: 3, startMinute: 700, endMinute: 600))),
        ("Asia/Jakarta", [WorkingInterval(weekday: 4, startMinute: 780, endMinute: 960), WorkingInterval(weekday: 4, startMinute: 450, endMinute: 781)],
         .overlappingIntervals(WorkingInterval(weekday: 4, startMinute: 450, endMinute: 781), WorkingInterval(weekday: 4, startMinute: 780, endMinute: 960))),
        ("Asia/Jakarta", [], .noWorkingTime),
    ])
    func invalidDefinitionsAreRefusedWithTheReason(zone: String, intervals: [WorkingInterval], expected: CalendarError) {
        #expect(throws: expected) { try BusinessCalendar(timeZoneIdentifier: zone, intervals: intervals, holidays: []) }
        #expect(!expected.message(.indonesian).isEmpty && !expected.message(.english).isEmpty)
    }

    @Test func localDates() throws {
        #expect(throws: LocalDate.InvalidDate.self) { try LocalDate(year: 2026, month: 2, day: 29) }
        #expect(throws: LocalDate.InvalidDate.self) { try LocalDate(year: 2026, month: 13, day: 1) }
        #expect(throws: LocalDate.InvalidDate.self) { try LocalDate(iso: "2026-3-17") }
        for signed in ["2026-+3-17", "+202-01-01", "2026-03-+7", "2026-03-١٧"] {
            #expect(throws: LocalDate.InvalidDate.self, "\(signed)") { try LocalDate(iso: signed) }
        }
        #expect(try LocalDate(year: 2028, month: 2, day: 29).adding(days: 1) == Fixtures.date("2028-03-01"))
        #expect(Fixtures.date("2026-03-17").isoWeekday == 2)
        #expect(Fixtures.date("2026-03-22").isoWeekday == 7)
        #expect(Fixtures.date("1970-01-01").daysSinceEpoch == 0)
        #expect(Fixtures.date("1969-12-31").daysSinceEpoch == -1)
        #expect(Fixtures.date("2026-03-17").description == "2026-03-17")
        for days in stride(from: -800_000, through: 800_000, by: 997) {
            #expect(LocalDate(daysSinceEpoch: days).daysSinceEpoch == days)
        }
        let decoded = try JSONDecoder().decode([LocalDate].self, from: Data(#"["2026-08-17"]"#.utf8))
        #expect(decoded == [Fixtures.date("2026-08-17")])
    }
}
