import Foundation
import LoketCore
import LoketStore
import LoketWorker
import Postgres
import Testing

@Suite("Deadline recompute")
struct DeadlineRecomputeTests {
    /// A regional holiday added on Wednesday 23 December moves a kk-baru request filed on Tuesday
    /// 22 December 08:00 by one working day; the change is audited; a second pass changes nothing.
    /// Right after a change of a calendar or a service's targets, a recompute waits until every
    /// process's copy of the catalog (kept 30 s) is newer than the change; long after, at once.
    @Test func aRecomputeWaitsOutTheCatalogCopiesOfAFreshChange() async throws {
        try await WorkerTestDatabase.withPool { pool, _ in
            let store = SLAStore(pool: pool)
            try await pool.query("UPDATE calendars SET updated_at = now() - interval '1 hour'")
            try await pool.query("UPDATE service_types SET updated_at = now() - interval '1 hour'")
            #expect(try await store.catalogSettleDelay() == .zero)
            try await pool.query("UPDATE service_types SET updated_at = now() - interval '5 seconds' WHERE code = 'kk-baru'")
            let afterTargets = try await store.catalogSettleDelay()
            // About 35 s (40 s after a change 5 s ago); the statements between take a moment, more
            // on a machine busy with the rest of the suite.
            #expect(afterTargets > .seconds(20) && afterTargets <= .seconds(35), "\(afterTargets)")
            try await pool.query("UPDATE calendars SET updated_at = now()")
            let afterHours = try await store.catalogSettleDelay(maxAge: .seconds(30), margin: .seconds(5))
            #expect(afterHours > .seconds(20) && afterHours <= .seconds(35), "\(afterHours)")
        }
    }

    @Test func aNewHolidayMovesOpenDeadlinesOnceAndAudited() async throws {
        try await WorkerTestDatabase.withPool { pool, _ in
            let filedAt = jakarta("2026-12-22T08:00:00+07:00")
            let code = try await SLAScannerTests.file(pool, service: "kk-baru", nik: "3673014501900001", now: filedAt)
            let before = try await pool.query(
                "SELECT response_due_at, resolution_due_at FROM service_requests WHERE tracking_code = $1", code).single()
            #expect(try before.decode(Date.self, "resolution_due_at") == jakarta("2026-12-29T08:00:00+07:00"))
            try await pool.query(
                """
                INSERT INTO holidays (calendar_id, day, name, kind)
                SELECT id, DATE '2026-12-23', 'Hari Jadi (contoh)', 'regional' FROM calendars WHERE code = 'serang-asn'
                """)
            let store = SLAStore(pool: pool)
            let now = jakarta("2026-12-22T09:00:00+07:00")
            let catalog = try await pool.withConnection { try await CatalogStore.load(on: $0, now: now) }
            let first = try await store.recompute(catalog: catalog, now: now)
            #expect(first == SLAStore.RecomputeResult(examined: 1, changed: 1))
            let after = try await pool.query(
                "SELECT response_due_at, resolution_due_at, next_sla_at FROM service_requests WHERE tracking_code = $1", code).single()
            // Tuesday 22 gives 420 minutes, Monday 28 and Tuesday 29 450 each (1,320); the last 30
            // fall on Wednesday 30 from 07:30.
            #expect(try after.decode(Date.self, "resolution_due_at") == jakarta("2026-12-30T08:00:00+07:00"))
            // The response clock (240 minutes from Tuesday 08:00) ends Tuesday 12:00 either way.
            #expect(try after.decode(Date.self, "response_due_at") == before.decode(Date.self, "response_due_at"))
            let event = try await pool.query(
                """
                SELECT e.actor_kind, e.data FROM request_events e JOIN service_requests r ON r.id = e.request_id
                WHERE r.tracking_code = $1 AND e.kind = 'deadline_recomputed'
                """, code
            ).single()
            #expect(try event.decode(String.self, "actor_kind") == "system")
            let second = try await store.recompute(catalog: catalog, now: now)
            #expect(second == SLAStore.RecomputeResult(examined: 1, changed: 0))
        }
    }

    /// A pause that covered no working time (asked at Wednesday's closing, answered on the joint
    /// leave of Thursday 24 December) is measured again when that day becomes a working day: it was
    /// dropped for good, since the request showed no pause, and the deadline fell inside the pause.
    @Test func aPauseOfNoWorkingTimeIsMeasuredAgainOnANewCalendar() async throws {
        try await WorkerTestDatabase.withPool { pool, _ in
            let filedAt = jakarta("2026-12-21T09:00:00+07:00")
            let asked = jakarta("2026-12-23T16:00:00+07:00")
            let replied = jakarta("2026-12-24T15:00:00+07:00")
            let code = try await SLAScannerTests.file(pool, service: "kk-baru", nik: "3673014501900001", now: filedAt)
            let officer = try await SLAScannerTests.officer(pool, unit: "DISDUKCAPIL-IDP")
            let requests = RequestStore(pool: pool)
            var catalog = try await pool.withConnection { try await CatalogStore.load(on: $0, now: filedAt) }
            _ = try await requests.apply(.claim, by: .staff(officer), trackingCode: code, catalog: catalog, now: filedAt)
            _ = try await requests.apply(
                .askCitizen(question: "Mohon lengkapi."), by: .staff(officer), trackingCode: code, catalog: catalog, now: asked)
            _ = try await requests.apply(.citizenReply(message: "Sudah"), by: .citizen, trackingCode: code, catalog: catalog, now: replied)
            let before = try await pool.query(
                "SELECT paused_minutes, was_paused, resolution_due_at FROM service_requests WHERE tracking_code = $1", code).single()
            #expect(try before.decode(Int.self, "paused_minutes") == 0)
            #expect(try before.decode(Bool.self, "was_paused"))

            try await pool.query(
                "DELETE FROM holidays WHERE day = DATE '2026-12-24' AND calendar_id = (SELECT id FROM calendars WHERE code = 'serang-asn')")
            let now = jakarta("2026-12-24T15:30:00+07:00")
            catalog = try await pool.withConnection { try await CatalogStore.load(on: $0, now: now) }
            #expect(try await SLAStore(pool: pool).recompute(catalog: catalog, now: now) == SLAStore.RecomputeResult(examined: 1, changed: 1))
            let service = try #require(catalog.servicesByCode["kk-baru"])
            let calendar = catalog.calendar(for: service).calendar
            #expect(calendar.workingMinutes(from: asked, to: replied) == 390)
            let expected = try SLAClock(
                kind: .resolution, targetMinutes: service.resolutionTargetMinutes, startedAt: filedAt,
                pauses: [SLAPause(start: asked, end: replied)]
            ).deadline(on: calendar)
            let after = try await pool.query("SELECT resolution_due_at FROM service_requests WHERE tracking_code = $1", code).single()
            #expect(try after.decode(Date.self, "resolution_due_at") == expected)
            // 1,260 of the 1,350 minutes had run by Wednesday 16:00; 60 more on Thursday after the
            // answer, 30 on Monday 28 (Friday is Christmas). Without the pause the remaining 90 ran
            // out on Thursday at 09:00, before the citizen had even answered.
            #expect(try after.decode(Date.self, "resolution_due_at") == jakarta("2026-12-28T08:00:00+07:00"))
        }
    }
}
