import Foundation
import LoketCore
import Testing

/// Instants read from clients (Open311 start_date/end_date, datetime attributes) must carry a zone:
/// without one the instant is not known.
@Suite("RFC 3339 instants")
struct RFC3339Tests {
    static let reference = Date(timeIntervalSince1970: 1_796_094_000) // 2026-12-01T03:00:00Z

    @Test(arguments: [
        ("2026-12-01T10:00:00+07:00", 0.0),
        ("2026-12-01T03:00:00Z", 0),
        ("2026-12-01T03:00:00+00:00", 0),
        ("2026-12-01T11:00:00+08:00", 0),
        ("2026-12-01T10:00:00.250+07:00", 0.25),
        ("2026-12-01T03:00:00.5Z", 0.5),
        // RFC 3339 §5.6: "T" and "Z" may be written in lower case.
        ("2026-12-01t03:00:00z", 0),
        ("2026-12-01t10:00:00+07:00", 0),
        // ISO 8601's basic offsets, as PHP, Python's %z and Java write them.
        ("2026-12-01T10:00:00+0700", 0),
        ("2026-12-01T10:00:00+07", 0),
        ("2026-12-01T00:30:00-0230", 0),
    ])
    func instantsWithAZoneAreRead(text: String, offset: Double) throws {
        let date = try #require(RFC3339.date(from: text), "\(text)")
        #expect(abs(date.timeIntervalSince(Self.reference) - offset) < 0.001, "\(text) → \(date)")
    }

    @Test(arguments: [
        "2026-12-01T10:00:00",      // no zone: which instant?
        "2026-12-01",
        "2026-12-01 10:00:00+07:00x",
        "2026-13-01T10:00:00+07:00",
        "2026-02-30T10:00:00+07:00",
        "2026-12-01T25:00:00+07:00",
        "2026-12-01T10:00:00+24:00",
        "2026-12-01T10:00:00+07:0",
        "2026-12-01T10:00:00+070",
        "2026-12-01T10:00:00+07:60",
        "2026-12-01T10:00:00.+07:00",
        "2026-12-01T10:00:60+07:00",
        "+2026-12-01T10:00:00Z",
        "",
        "yesterday",
    ])
    func anythingElseIsRefused(text: String) {
        #expect(RFC3339.date(from: text) == nil, "\(text)")
    }

    @Test func writtenInstantsReadBack() throws {
        for seconds in stride(from: 0.0, to: 4_000_000_000, by: 97_654_321.0) {
            let instant = Date(timeIntervalSince1970: seconds)
            #expect(RFC3339.date(from: RFC3339.string(from: instant)) == instant)
            #expect(RFC3339.date(from: RFC3339.utcString(from: instant)) == instant)
        }
    }
}
