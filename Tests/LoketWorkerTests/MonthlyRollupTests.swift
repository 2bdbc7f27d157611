import Foundation
import LoketCore
import LoketStore
@testable import LoketWorker
import Postgres
import Testing

@Suite("Monthly rollup")
struct MonthlyRollupTests {
    /// Daily rows over three months by two officers; the rollup takes each finished month once,
    /// oldest first, and its monthly rows are the sums of the daily ones (histograms and IKM sums
    /// element by element). The month still running is left to the daily rows.
    @Test func finishedMonthsAreRolledUpOnceWithTheDailySums() async throws {
        try await WorkerTestDatabase.withPool { pool, _ in
            try await pool.query(
                """
                INSERT INTO report_daily (day, unit_id, service_type_id, officer_id, closed, completed, rejected, resolution_measured,
                    resolution_met, breaches, paused_minutes, resolve_histogram, feedback_count, feedback_sums)
                SELECT d::date, (SELECT min(id) FROM units), (SELECT min(id) FROM service_types), o, 2, 1, 1, 2, 1, o, 30,
                       CASE WHEN o = 1 THEN '{1,0,1}'::int[] ELSE '{0,2}'::int[] END, 1, '{4,4,4,4,4,4,4,4,3}'
                FROM generate_series(timestamp '2026-10-20', timestamp '2026-12-05', interval '1 day') d, generate_series(1, 2) o
                """)
            let clock = ManualClock(jakarta("2026-12-01T08:00:00+07:00"))
            let rollup = MonthlyRollup(store: ReportStore(pool: pool), clock: clock)
            // 1 December 08:00 in Jakarta is still 30 November west of the last time zone: only October is over.
            #expect(try await rollup.runOnce().map(\.description) == ["2026-10-01"])
            clock.set(jakarta("2026-12-02T08:00:00+07:00"))
            #expect(try await rollup.runOnce().map(\.description) == ["2026-11-01"])
            #expect(try await rollup.runOnce().isEmpty)

            let rows = try await pool.query(
                """
                SELECT month::text AS month, closed, breaches, paused_minutes, resolve_histogram::text AS histogram,
                       feedback_count, feedback_sums::text AS sums
                FROM report_monthly ORDER BY month
                """)
            #expect(rows.count == 2)
            let october = try #require(rows.first)
            #expect(try october.decode(String.self, "month") == "2026-10-01")
            // 12 days (20–31 October) × 2 officers.
            #expect(try october.decode(Int.self, "closed") == 48)
            #expect(try october.decode(Int.self, "breaches") == 12 * (1 + 2))
            #expect(try october.decode(Int.self, "paused_minutes") == 720)
            #expect(try october.decode(String.self, "histogram") == "{12,24,12}")
            #expect(try october.decode(Int.self, "feedback_count") == 24)
            #expect(try october.decode(String.self, "sums") == "{96,96,96,96,96,96,96,96,72}")
            #expect(try rows[1].decode(Int.self, "closed") == 30 * 2 * 2)
            let rolled = try await pool.query("SELECT month::text AS month FROM report_monthly_rollups ORDER BY month").map { try $0.decode(String.self, "month") }
            #expect(rolled == ["2026-10-01", "2026-11-01"])
        }
    }
}
