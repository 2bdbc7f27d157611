// calendar-bench: how fast BusinessCalendar.adding(workingMinutes:to:) is, next to a naive
// minute-by-minute reference over the same inputs, in one run on one core.
//
// The calendar is the sample office calendar: Asia/Jakarta, Monday–Thursday 07:30–12:00 and
// 13:00–16:00, Friday 07:30–11:30 and 13:00–16:30, with Indonesia's 2026 national holidays and
// joint leave. Inputs are start instants spread over 2026 (whole minutes, so the naive reference
// is exact) and spans of 1 to 60 working days. Every naive result is compared with the fast one.
//
// Usage: calendar-bench [seconds per measurement, default 2]

import Foundation
import LoketCore

let secondsPerMeasurement = CommandLine.arguments.dropFirst().first.flatMap(Double.init) ?? 2

/// SplitMix64: a fixed, seedable generator so every run measures the same inputs.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Minute-by-minute reference: asks Foundation for the wall clock of every minute.
struct NaiveCalendar {
    struct Day: Hashable {
        let year: Int, month: Int, day: Int
    }

    let calendar: Calendar
    let intervals: [WorkingInterval]
    let holidays: Set<Day>

    init(_ definition: BusinessCalendar) {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: definition.timeZoneIdentifier)!
        self.calendar = calendar
        self.intervals = definition.intervals
        self.holidays = Set(definition.holidays.map { Day(year: $0.date.year, month: $0.date.month, day: $0.date.day) })
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
}

func sampleCalendar(timeZone: String = "Asia/Jakarta") throws -> BusinessCalendar {
    let weekdays = (1...4).flatMap { day in
        [WorkingInterval(weekday: day, startMinute: 7 * 60 + 30, endMinute: 12 * 60),
         WorkingInterval(weekday: day, startMinute: 13 * 60, endMinute: 16 * 60)]
    }
    let friday = [WorkingInterval(weekday: 5, startMinute: 7 * 60 + 30, endMinute: 11 * 60 + 30),
                  WorkingInterval(weekday: 5, startMinute: 13 * 60, endMinute: 16 * 60 + 30)]
    let national = [
        ("2026-01-01", "Tahun Baru 2026 Masehi"), ("2026-01-16", "Isra Mikraj Nabi Muhammad SAW"),
        ("2026-02-17", "Tahun Baru Imlek 2577 Kongzili"), ("2026-03-19", "Hari Suci Nyepi"),
        ("2026-03-21", "Idul Fitri 1447 H"), ("2026-03-22", "Idul Fitri 1447 H"),
        ("2026-04-03", "Wafat Yesus Kristus"), ("2026-04-05", "Kebangkitan Yesus Kristus (Paskah)"),
        ("2026-05-01", "Hari Buruh Internasional"), ("2026-05-14", "Kenaikan Yesus Kristus"),
        ("2026-05-27", "Idul Adha 1447 H"), ("2026-05-31", "Hari Raya Waisak 2570 BE"),
        ("2026-06-01", "Hari Lahir Pancasila"), ("2026-06-16", "1 Muharam, Tahun Baru Islam 1448 H"),
        ("2026-08-17", "Proklamasi Kemerdekaan"), ("2026-08-25", "Maulid Nabi Muhammad SAW"),
        ("2026-12-25", "Kelahiran Yesus Kristus"),
    ]
    let jointLeave = [
        ("2026-02-16", "Cuti bersama Tahun Baru Imlek"), ("2026-03-18", "Cuti bersama Nyepi"),
        ("2026-03-20", "Cuti bersama Idul Fitri"), ("2026-03-23", "Cuti bersama Idul Fitri"),
        ("2026-03-24", "Cuti bersama Idul Fitri"), ("2026-05-15", "Cuti bersama Kenaikan Yesus Kristus"),
        ("2026-05-28", "Cuti bersama Idul Adha"), ("2026-12-24", "Cuti bersama Natal"),
    ]
    let holidays = try national.map { Holiday(date: try LocalDate(iso: $0.0), name: $0.1, kind: .national) }
        + jointLeave.map { Holiday(date: try LocalDate(iso: $0.0), name: $0.1, kind: .jointLeave) }
    return try BusinessCalendar(timeZoneIdentifier: timeZone, intervals: weekdays + friday, holidays: holidays)
}

/// Calls `body` over the inputs, round after round, until `seconds` have passed; returns ops/s.
func measure(seconds: Double, inputCount: Int, _ body: (Int) -> Void) -> (rate: Double, operations: Int) {
    var operations = 0
    let clock = ContinuousClock()
    let start = clock.now
    var elapsed = Duration.zero
    repeat {
        for index in 0..<inputCount { body(index) }
        operations += inputCount
        elapsed = clock.now - start
    } while elapsed < .seconds(seconds)
    let total = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    return (Double(operations) / total, operations)
}

let calendar = try sampleCalendar()
let naive = NaiveCalendar(calendar)

var generator = SplitMix64(state: 2026)
let yearStart = 1_767_200_400  // 2026-01-01 00:00 WIB
let yearSeconds = 365 * 86_400
let inputs: [(start: Date, minutes: Int)] = (0..<4096).map { _ in
    let minute = Int.random(in: 0..<(yearSeconds / 60), using: &generator)
    let span = Int.random(in: (1 * 450)...(60 * 450), using: &generator)
    return (Date(timeIntervalSince1970: Double(yearStart + minute * 60)), span)
}

var checksum = 0.0
let fast = measure(seconds: secondsPerMeasurement, inputCount: inputs.count) { index in
    checksum += calendar.adding(workingMinutes: inputs[index].minutes, to: inputs[index].start).timeIntervalSince1970
}
// The same schedule in a zone with daylight saving time, to show that path is no slower.
let berlin = try sampleCalendar(timeZone: "Europe/Berlin")
let summerTime = measure(seconds: secondsPerMeasurement, inputCount: inputs.count) { index in
    checksum += berlin.adding(workingMinutes: inputs[index].minutes, to: inputs[index].start).timeIntervalSince1970
}
let measuring = measure(seconds: secondsPerMeasurement, inputCount: inputs.count) { index in
    checksum += Double(calendar.workingMinutes(from: inputs[index].start, to: inputs[index].start + Double(inputs[index].minutes * 90)))
}

// The naive reference takes milliseconds per call: run it over a prefix of the same inputs for
// the same wall time, and check each of its answers against the fast implementation.
var naiveCount = 0
var mismatches = 0
let clock = ContinuousClock()
let naiveStart = clock.now
while naiveCount < inputs.count && (clock.now - naiveStart) < .seconds(secondsPerMeasurement) {
    let input = inputs[naiveCount]
    let expected = naive.adding(workingMinutes: input.minutes, to: input.start)
    if expected != calendar.adding(workingMinutes: input.minutes, to: input.start) {
        mismatches += 1
        print("MISMATCH start=\(input.start) minutes=\(input.minutes) naive=\(expected)")
    }
    naiveCount += 1
}
let naiveElapsed = clock.now - naiveStart
let naiveRate = Double(naiveCount) / (Double(naiveElapsed.components.seconds) + Double(naiveElapsed.components.attoseconds) / 1e18)

func format(_ rate: Double) -> String { String(format: "%.0f", rate) }
print("calendar: Asia/Jakarta, Mon–Thu 07:30–12:00 13:00–16:00, Fri 07:30–11:30 13:00–16:30, 25 holidays/joint leave 2026")
print("inputs: \(inputs.count) start instants in 2026, spans of 1–60 working days (450–27000 minutes)")
print("adding(workingMinutes:to:) fast:  \(format(fast.rate)) ops/s (\(fast.operations) ops)")
print("adding(workingMinutes:to:) naive: \(String(format: "%.1f", naiveRate)) ops/s (\(naiveCount) ops, each checked: \(mismatches) mismatches)")
print("ratio fast/naive: \(format(fast.rate / naiveRate))x")
print("workingMinutes(from:to:) fast:    \(format(measuring.rate)) ops/s (\(measuring.operations) ops)")
print("adding, same schedule in Europe/Berlin (DST): \(format(summerTime.rate)) ops/s (\(summerTime.operations) ops)")
print("goal >= 1000000 adding ops/s: \(fast.rate >= 1_000_000 ? "met" : "NOT met")")
if checksum.isNaN { print("unreachable checksum \(checksum)") }
if mismatches > 0 { exit(1) }
