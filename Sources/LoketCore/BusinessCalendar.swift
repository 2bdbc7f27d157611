import Foundation

/// One stretch of working time in the weekly schedule, exactly as stored: an ISO weekday
/// (1 = Monday … 7 = Sunday) and minutes after local midnight, `startMinute < endMinute`, both in
/// 0…1440. Several intervals on one weekday leave breaks between them.
public struct WorkingInterval: Hashable, Sendable, Codable, CustomStringConvertible {
    public var weekday: Int
    public var startMinute: Int
    public var endMinute: Int

    public init(weekday: Int, startMinute: Int, endMinute: Int) {
        self.weekday = weekday
        self.startMinute = startMinute
        self.endMinute = endMinute
    }

    public var description: String {
        func clock(_ minute: Int) -> String {
            let hours = String(minute / 60), minutes = String(minute % 60)
            return (hours.count < 2 ? "0" : "") + hours + ":" + (minutes.count < 2 ? "0" : "") + minutes
        }
        return "weekday \(weekday) \(clock(startMinute))–\(clock(endMinute))"
    }

    enum CodingKeys: String, CodingKey {
        case weekday
        case startMinute = "start_minute"
        case endMinute = "end_minute"
    }
}

/// Why a day is off: a national holiday, a joint-leave day (cuti bersama, off for ASN), or a
/// regional holiday set by the local government.
public enum HolidayKind: String, Sendable, Hashable, Codable, CaseIterable {
    case national
    case jointLeave = "joint_leave"
    case regional
}

/// A non-working local date. Holidays on a weekend are allowed and simply change nothing.
public struct Holiday: Hashable, Sendable, Codable {
    public var date: LocalDate
    public var name: String
    public var kind: HolidayKind

    public init(date: LocalDate, name: String, kind: HolidayKind) {
        self.date = date
        self.name = name
        self.kind = kind
    }

    public init(year: Int, month: Int, day: Int, name: String, kind: HolidayKind) throws(LocalDate.InvalidDate) {
        self.init(date: try LocalDate(year: year, month: month, day: day), name: name, kind: kind)
    }
}

/// Why a calendar definition was refused.
public enum CalendarError: UserFacingError, Hashable {
    case unknownTimeZone(String)
    case invalidWeekday(WorkingInterval)
    case minuteOutOfRange(WorkingInterval)
    case emptyInterval(WorkingInterval)
    case overlappingIntervals(WorkingInterval, WorkingInterval)
    /// A week without a single working minute would make every deadline infinite.
    case noWorkingTime

    public var code: String {
        switch self {
        case .unknownTimeZone: "calendar_unknown_time_zone"
        case .invalidWeekday: "calendar_invalid_weekday"
        case .minuteOutOfRange: "calendar_minute_out_of_range"
        case .emptyInterval: "calendar_empty_interval"
        case .overlappingIntervals: "calendar_overlapping_intervals"
        case .noWorkingTime: "calendar_no_working_time"
        }
    }

    public func message(_ language: Language) -> String {
        switch (self, language) {
        case (.unknownTimeZone(let name), .indonesian): "Zona waktu \"\(name)\" tidak dikenal (gunakan nama IANA, mis. Asia/Jakarta)."
        case (.unknownTimeZone(let name), .english): "Unknown time zone \"\(name)\" (use an IANA name such as Asia/Jakarta)."
        case (.invalidWeekday(let interval), .indonesian): "Hari \(interval.weekday) tidak valid: gunakan 1 (Senin) sampai 7 (Minggu)."
        case (.invalidWeekday(let interval), .english): "Weekday \(interval.weekday) is invalid: use 1 (Monday) to 7 (Sunday)."
        case (.minuteOutOfRange(let interval), .indonesian): "Jam kerja \(interval) di luar 0–1440 menit."
        case (.minuteOutOfRange(let interval), .english): "Working interval \(interval) lies outside minutes 0–1440."
        case (.emptyInterval(let interval), .indonesian): "Jam kerja \(interval): jam mulai harus sebelum jam selesai."
        case (.emptyInterval(let interval), .english): "Working interval \(interval): the start must come before the end."
        case (.overlappingIntervals(let first, let second), .indonesian): "Jam kerja \(first) dan \(second) tumpang tindih."
        case (.overlappingIntervals(let first, let second), .english): "Working intervals \(first) and \(second) overlap."
        case (.noWorkingTime, .indonesian): "Kalender tidak memiliki jam kerja sama sekali."
        case (.noWorkingTime, .english): "The calendar has no working time at all."
        }
    }
}

/// Working time of an office: a time zone, weekly hours with breaks, holidays and joint leave.
///
/// An instant is working time when its wall clock in the calendar's zone shows a working interval
/// of its weekday on a date that is not a holiday. That definition holds in zones with daylight
/// saving time too: working intervals inside a spring-forward gap simply do not happen, and a
/// repeated autumn hour is worked twice if it lies inside an interval.
///
/// All arithmetic maps an instant to its *working position*, the number of working seconds since a
/// fixed origin, and back. Whole weeks are skipped in closed form with per-weekday totals; the
/// few days that differ from their weekday (holidays on working days and days with an offset
/// change) sit in a sorted table with prefix sums and are found by binary search. The cost of an
/// addition therefore does not grow with its span, and Foundation is only consulted once, when
/// the calendar is built.
///
/// Instants are taken to the whole second (fractions are dropped); working intervals and zone
/// changes fall on whole seconds, so results are exact.
public struct BusinessCalendar: Sendable, Equatable {
    /// The IANA time zone name, e.g. `Asia/Jakarta`.
    public let timeZoneIdentifier: String
    /// The weekly schedule, sorted by weekday and start.
    public let intervals: [WorkingInterval]
    /// Holidays and joint-leave days, sorted by date.
    public let holidays: [Holiday]
    private let tables: CalendarTables

    /// Builds a calendar from its stored form, refusing an unknown zone, malformed or overlapping
    /// intervals (touching ones such as 07:30–12:00 and 12:00–13:00 are fine) and a week without
    /// working time.
    public init(timeZoneIdentifier: String, intervals: [WorkingInterval], holidays: [Holiday]) throws(CalendarError) {
        guard let timeZone = TimeZone(identifier: timeZoneIdentifier) else {
            throw .unknownTimeZone(timeZoneIdentifier)
        }
        for interval in intervals {
            guard (1...7).contains(interval.weekday) else { throw .invalidWeekday(interval) }
            guard (0...1440).contains(interval.startMinute), (0...1440).contains(interval.endMinute) else {
                throw .minuteOutOfRange(interval)
            }
            guard interval.startMinute < interval.endMinute else { throw .emptyInterval(interval) }
        }
        let sorted = intervals.sorted { ($0.weekday, $0.startMinute, $0.endMinute) < ($1.weekday, $1.startMinute, $1.endMinute) }
        for (previous, next) in zip(sorted, sorted.dropFirst())
        where previous.weekday == next.weekday && next.startMinute < previous.endMinute {
            throw .overlappingIntervals(previous, next)
        }
        guard !sorted.isEmpty else { throw .noWorkingTime }

        self.timeZoneIdentifier = timeZoneIdentifier
        self.intervals = sorted
        self.holidays = holidays.sorted { ($0.date, $0.name) < ($1.date, $1.name) }
        self.tables = CalendarTables(zone: ZoneRules(timeZone), intervals: sorted, holidays: self.holidays)
    }

    public static func == (lhs: BusinessCalendar, rhs: BusinessCalendar) -> Bool {
        lhs.timeZoneIdentifier == rhs.timeZoneIdentifier && lhs.intervals == rhs.intervals && lhs.holidays == rhs.holidays
    }

    // MARK: Arithmetic

    /// The earliest instant at which `workingMinutes` of working time have passed since `start`.
    ///
    /// Zero minutes return `start` unchanged. Otherwise the result ends a stretch of working
    /// time: the second before it is working, so a deadline never lands later inside a break,
    /// a night or a holiday than it must. `workingMinutes` must not be negative.
    public func adding(workingMinutes: Int, to start: Date) -> Date {
        adding(workingSeconds: workingMinutes * 60, to: start)
    }

    /// Like ``adding(workingMinutes:to:)`` at second precision; SLA clocks use it so that time
    /// spent paused is carried over exactly.
    public func adding(workingSeconds: Int, to start: Date) -> Date {
        precondition(workingSeconds >= 0, "cannot add a negative amount of working time")
        if workingSeconds == 0 { return start }
        let origin = tables.position(of: start.wholeSeconds)
        return Date(wholeSeconds: tables.instant(atPosition: origin.position + workingSeconds, searchingFrom: origin.specialIndex))
    }

    /// Whole working minutes between two instants, rounded toward zero; negative when `end`
    /// precedes `start`.
    public func workingMinutes(from start: Date, to end: Date) -> Int {
        workingSeconds(from: start, to: end) / 60
    }

    /// Working seconds between two instants; negative when `end` precedes `start`.
    public func workingSeconds(from start: Date, to end: Date) -> Int {
        tables.position(of: end.wholeSeconds).position - tables.position(of: start.wholeSeconds).position
    }

    /// Whether `instant` lies in working time.
    public func isWorking(at instant: Date) -> Bool {
        tables.isWorking(at: instant.wholeSeconds)
    }

    /// The earliest instant at or after `instant` that is working time: `instant` itself during
    /// working hours, otherwise the start of the next working interval.
    public func nextWorkingInstant(after instant: Date) -> Date {
        let origin = tables.position(of: instant.wholeSeconds)
        let endOfFirstWorkingSecond = tables.instant(atPosition: origin.position + 1, searchingFrom: origin.specialIndex)
        return max(instant, Date(wholeSeconds: endOfFirstWorkingSecond - 1))
    }

    // MARK: Dates

    /// The local date of `instant` in the calendar's zone.
    public func localDate(of instant: Date) -> LocalDate {
        let seconds = instant.wholeSeconds
        return LocalDate(daysSinceEpoch: floorDivide(seconds + tables.zone.offset(at: seconds), 86_400))
    }

    /// The holidays that fall on `date` (several may share a date).
    public func holidays(on date: LocalDate) -> [Holiday] {
        holidays.filter { $0.date == date }
    }

    /// Whether `date` has working hours and is not a holiday.
    public func isWorkingDay(_ date: LocalDate) -> Bool {
        tables.weekdaySeconds[date.isoWeekday - 1] > 0 && !tables.isHoliday(day: date.daysSinceEpoch)
    }

    /// Working minutes in a regular week.
    public var workingMinutesPerWeek: Int { tables.weekTotal / 60 }

    /// The length of an average working day of a regular week, used to express targets in working
    /// days (a service with a 2,250-minute target on a 450-minute day takes 5 working days).
    public var averageWorkingDayMinutes: Int {
        let workingDays = tables.weekdaySeconds.filter { $0 > 0 }.count
        return tables.weekTotal / 60 / workingDays
    }
}

extension Date {
    /// Seconds since 1970, rounded down.
    @inline(__always)
    var wholeSeconds: Int { Int(timeIntervalSince1970.rounded(.down)) }

    @inline(__always)
    init(wholeSeconds: Int) { self.init(timeIntervalSince1970: Double(wholeSeconds)) }
}

/// The precomputed form of a calendar. A class so that passing a calendar around costs one
/// reference count, not one per table.
private final class CalendarTables: Sendable {
    let zone: ZoneRules

    // The regular week, Monday first. Weekday i's intervals (seconds after local midnight) are
    // intervalStart[dayBounds[i]..<dayBounds[i + 1]] and the matching intervalEnd.
    let dayBounds: [Int]
    let intervalStart: [Int]
    let intervalEnd: [Int]
    let weekdaySeconds: [Int]
    /// weekPrefix[i]: working seconds from Monday 00:00 to the start of weekday i; [7] is the week.
    let weekPrefix: [Int]
    let weekTotal: Int

    /// Every holiday date (days since 1970), sorted and unique.
    let holidayDays: [Int]

    // Days whose working time differs from their weekday's: holidays on working weekdays and
    // working days with an offset change. specialDeltaPrefix[k] sums (actual − regular) seconds
    // over the special days before index k. Special day k's working time is the real intervals
    // specialStart[specialBounds[k]..<specialBounds[k + 1]] (instants, ascending).
    let specialDays: [Int]
    let specialDeltaPrefix: [Int]
    let specialBounds: [Int]
    let specialStart: [Int]
    let specialEnd: [Int]

    init(zone: ZoneRules, intervals: [WorkingInterval], holidays: [Holiday]) {
        self.zone = zone

        // Touching intervals are merged so that the day walk never meets a zero-length break.
        var perWeekday = Array(repeating: [Range<Int>](), count: 7)
        for interval in intervals {
            let range = (interval.startMinute * 60)..<(interval.endMinute * 60)
            let index = interval.weekday - 1
            if let last = perWeekday[index].last, last.upperBound == range.lowerBound {
                perWeekday[index][perWeekday[index].count - 1] = last.lowerBound..<range.upperBound
            } else {
                perWeekday[index].append(range)
            }
        }
        var dayBounds = [0]
        var starts: [Int] = []
        var ends: [Int] = []
        for ranges in perWeekday {
            starts += ranges.map(\.lowerBound)
            ends += ranges.map(\.upperBound)
            dayBounds.append(starts.count)
        }
        self.dayBounds = dayBounds
        self.intervalStart = starts
        self.intervalEnd = ends
        let weekdaySeconds = perWeekday.map { $0.reduce(0) { $0 + $1.count } }
        self.weekdaySeconds = weekdaySeconds
        var prefix = [0]
        for seconds in weekdaySeconds { prefix.append(prefix[prefix.count - 1] + seconds) }
        self.weekPrefix = prefix
        self.weekTotal = prefix[7]

        let holidayDays = Array(Set(holidays.map(\.date.daysSinceEpoch))).sorted()
        self.holidayDays = holidayDays

        let candidates = Set(holidayDays).union(zone.daysTouchedByTransitions())
            .filter { weekdaySeconds[LocalDate.isoWeekday(daysSinceEpoch: $0) - 1] > 0 }
            .sorted()
        let holidaySet = Set(holidayDays)
        var specialDays: [Int] = []
        var deltaPrefix = [0]
        var specialBounds = [0]
        var specialStart: [Int] = []
        var specialEnd: [Int] = []
        for day in candidates {
            let weekday = LocalDate.isoWeekday(daysSinceEpoch: day) - 1
            var pieces: [Range<Int>] = []
            if !holidaySet.contains(day) {
                for index in dayBounds[weekday]..<dayBounds[weekday + 1] {
                    pieces += zone.instants(whileWallClockIn: (day * 86_400 + starts[index])..<(day * 86_400 + ends[index]))
                }
                pieces.sort { $0.lowerBound < $1.lowerBound }
            }
            let actual = pieces.reduce(0) { $0 + $1.count }
            specialDays.append(day)
            deltaPrefix.append(deltaPrefix[deltaPrefix.count - 1] + actual - weekdaySeconds[weekday])
            specialStart += pieces.map(\.lowerBound)
            specialEnd += pieces.map(\.upperBound)
            specialBounds.append(specialStart.count)
        }
        self.specialDays = specialDays
        self.specialDeltaPrefix = deltaPrefix
        self.specialBounds = specialBounds
        self.specialStart = specialStart
        self.specialEnd = specialEnd
    }

    /// Working seconds from the origin (Monday 1969-12-29 00:00 local) to the start of local day
    /// `day`, had it and every day before it been a regular weekday.
    @inline(__always)
    func regularPosition(ofDay day: Int) -> Int {
        let mondayBased = day + 3
        let week = floorDivide(mondayBased, 7)
        return week * weekTotal + weekPrefix[mondayBased - week * 7]
    }

    /// Working position of the end of special day `index`.
    @inline(__always)
    func endPosition(ofSpecial index: Int) -> Int {
        regularPosition(ofDay: specialDays[index] + 1) + specialDeltaPrefix[index + 1]
    }

    /// Index of the first special day on or after `day`.
    @inline(__always)
    func firstSpecial(onOrAfter day: Int) -> Int {
        var low = 0
        var high = specialDays.count
        while low < high {
            let middle = (low + high) >> 1
            if specialDays[middle] < day { low = middle + 1 } else { high = middle }
        }
        return low
    }

    func isHoliday(day: Int) -> Bool {
        var low = 0
        var high = holidayDays.count
        while low < high {
            let middle = (low + high) >> 1
            if holidayDays[middle] < day { low = middle + 1 } else { high = middle }
        }
        return low < holidayDays.count && holidayDays[low] == day
    }

    /// The working position of an instant, and the index of the first special day on or after
    /// its local day (a starting point for the search in `instant(atPosition:searchingFrom:)`).
    @inline(__always)
    func position(of instant: Int) -> (position: Int, specialIndex: Int) {
        let wall = instant + zone.offset(at: instant)
        let day = floorDivide(wall, 86_400)
        let special = firstSpecial(onOrAfter: day)
        var position = regularPosition(ofDay: day) + specialDeltaPrefix[special]
        if special < specialDays.count && specialDays[special] == day {
            for index in specialBounds[special]..<specialBounds[special + 1] where instant > specialStart[index] {
                position += min(instant, specialEnd[index]) - specialStart[index]
            }
        } else {
            let second = wall - day * 86_400
            let weekday = (day + 3) - floorDivide(day + 3, 7) * 7
            for index in dayBounds[weekday]..<dayBounds[weekday + 1] {
                if second <= intervalStart[index] { break }
                position += min(second, intervalEnd[index]) - intervalStart[index]
            }
        }
        return (position, special)
    }

    /// The earliest instant whose working position is `target`. No special day before index
    /// `startIndex` may end at or after `target`.
    @inline(__always)
    func instant(atPosition target: Int, searchingFrom startIndex: Int) -> Int {
        // Find the first special day that ends at or after the target: gallop from the hint,
        // then bisect, so that nearby targets cost a couple of comparisons.
        let count = specialDays.count
        var low = startIndex
        var high = startIndex
        var step = 1
        while high < count && endPosition(ofSpecial: high) < target {
            low = high + 1
            high += step
            step <<= 1
        }
        high = min(high, count)
        while low < high {
            let middle = (low + high) >> 1
            if endPosition(ofSpecial: middle) < target { low = middle + 1 } else { high = middle }
        }
        let special = low

        if special < count {
            let startOfSpecial = regularPosition(ofDay: specialDays[special]) + specialDeltaPrefix[special]
            if target > startOfSpecial {
                var remaining = target - startOfSpecial
                for index in specialBounds[special]..<specialBounds[special + 1] {
                    let length = specialEnd[index] - specialStart[index]
                    if remaining <= length { return specialStart[index] + remaining }
                    remaining -= length
                }
                preconditionFailure("working position beyond the end of special day \(specialDays[special])")
            }
        }

        // The target lies on a regular day between special days: invert the weekly pattern.
        let regular = target - specialDeltaPrefix[special]
        let week = floorDivide(regular - 1, weekTotal)
        var remaining = regular - week * weekTotal
        var weekday = 0
        while weekPrefix[weekday + 1] < remaining { weekday += 1 }
        remaining -= weekPrefix[weekday]
        let day = week * 7 + weekday - 3
        for index in dayBounds[weekday]..<dayBounds[weekday + 1] {
            let length = intervalEnd[index] - intervalStart[index]
            if remaining <= length {
                let wall = day * 86_400 + intervalStart[index] + remaining
                return wall - zone.offset(forUnambiguousWall: wall)
            }
            remaining -= length
        }
        preconditionFailure("working position beyond the end of weekday \(weekday + 1)")
    }

    func isWorking(at instant: Int) -> Bool {
        let wall = instant + zone.offset(at: instant)
        let day = floorDivide(wall, 86_400)
        if isHoliday(day: day) { return false }
        let second = wall - day * 86_400
        let weekday = LocalDate.isoWeekday(daysSinceEpoch: day) - 1
        for index in dayBounds[weekday]..<dayBounds[weekday + 1]
        where intervalStart[index] <= second && second < intervalEnd[index] {
            return true
        }
        return false
    }
}
