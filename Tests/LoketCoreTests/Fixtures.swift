import Foundation
@testable import LoketCore

/// Test data shared by the suites: the sample office calendar and readable instants.
enum Fixtures {
    /// Monday–Thursday 07:30–12:00 and 13:00–16:00, Friday 07:30–11:30 and 13:00–16:30
    /// (the Friday prayer break): 450 working minutes every weekday.
    static let officeHours: [WorkingInterval] = (1...4).flatMap { day in
        [WorkingInterval(weekday: day, startMinute: 7 * 60 + 30, endMinute: 12 * 60),
         WorkingInterval(weekday: day, startMinute: 13 * 60, endMinute: 16 * 60)]
    } + [WorkingInterval(weekday: 5, startMinute: 7 * 60 + 30, endMinute: 11 * 60 + 30),
         WorkingInterval(weekday: 5, startMinute: 13 * 60, endMinute: 16 * 60 + 30)]

    /// Indonesia's 2026 national holidays and joint leave (SKB 3 Menteri 1497/2025, 2/2025, 5/2025).
    static let holidays2026: [Holiday] = {
        let national = [
            ("2026-01-01", "Tahun Baru 2026 Masehi"), ("2026-01-16", "Isra Mikraj Nabi Muhammad SAW"),
            ("2026-02-17", "Tahun Baru Imlek 2577 Kongzili"), ("2026-03-19", "Hari Suci Nyepi (Tahun Baru Saka 1948)"),
            ("2026-03-21", "Idul Fitri 1447 H"), ("2026-03-22", "Idul Fitri 1447 H"),
            ("2026-04-03", "Wafat Yesus Kristus"), ("2026-04-05", "Kebangkitan Yesus Kristus (Paskah)"),
            ("2026-05-01", "Hari Buruh Internasional"), ("2026-05-14", "Kenaikan Yesus Kristus"),
            ("2026-05-27", "Idul Adha 1447 H"), ("2026-05-31", "Hari Raya Waisak 2570 BE"),
            ("2026-06-01", "Hari Lahir Pancasila"), ("2026-06-16", "1 Muharam, Tahun Baru Islam 1448 H"),
            ("2026-08-17", "Proklamasi Kemerdekaan"), ("2026-08-25", "Maulid Nabi Muhammad SAW"),
            ("2026-12-25", "Kelahiran Yesus Kristus"),
        ]
        let jointLeave = [
            ("2026-02-16", "Tahun Baru Imlek"), ("2026-03-18", "Nyepi"), ("2026-03-20", "Idul Fitri"),
            ("2026-03-23", "Idul Fitri"), ("2026-03-24", "Idul Fitri"), ("2026-05-15", "Kenaikan Yesus Kristus"),
            ("2026-05-28", "Idul Adha"), ("2026-12-24", "Natal"),
        ]
        return national.map { Holiday(date: date($0.0), name: $0.1, kind: .national) }
            + jointLeave.map { Holiday(date: date($0.0), name: "Cuti bersama \($0.1)", kind: .jointLeave) }
    }()

    /// The sample calendar of a Kota Serang office.
    static let serang = try! BusinessCalendar(timeZoneIdentifier: "Asia/Jakarta", intervals: officeHours, holidays: holidays2026)

    static func date(_ iso: String) -> LocalDate { try! LocalDate(iso: iso) }

    /// An instant written with its offset, e.g. `"2026-03-17T09:00:00+07:00"`.
    static func instant(_ text: String) -> Date {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        guard let date = formatter.date(from: text) else { fatalError("bad instant \(text)") }
        return date
    }

    /// A wall-clock time in Jakarta (WIB, +07:00), e.g. `wib("2026-03-17 09:00")`.
    static func wib(_ text: String) -> Date {
        instant(text.replacingOccurrences(of: " ", with: "T") + ":00+07:00")
    }
}
