import Foundation
import LoketCore
import LoketStore
import Postgres
import Testing

/// Servers' and workers' clocks differ a little, and an admin may change targets while requests
/// are open: neither may leave a request that no change can touch any more, nor turn a past
/// on-time claim late.
@Suite("Clocks of several machines, and stopped clocks")
struct ClockSkewTests {
    static let filedAt = jakarta("2026-12-07T08:00:00+07:00")

    /// A worker whose clock runs behind the server that last changed the request dates its stage
    /// no earlier than that change, so `updated_at` never goes back (the guard every later change
    /// relies on).
    @Test func aStageByAWorkerRunningBehindIsNotDatedBeforeTheLastChange() async throws {
        try await WorkerTestDatabase.withPool { pool, _ in
            let code = try await SLAScannerTests.file(pool, service: "kk-baru", nik: "3673014501900001", now: Self.filedAt)
            // The last change was made by a server an hour ahead of this worker.
            let ahead = jakarta("2026-12-07T11:00:00+07:00")
            try await pool.query("UPDATE service_requests SET updated_at = $2 WHERE tracking_code = $1", code, ahead)
            let catalog = try await pool.withConnection { try await CatalogStore.load(on: $0, now: Self.filedAt) }
            // Half of kk-baru's 240-minute response target has passed by 10:00.
            let result = try await SLAStore(pool: pool).applyDueStages(
                now: jakarta("2026-12-07T10:01:00+07:00"), limit: 10, catalog: catalog)
            #expect(result.requests == 1)
            let row = try await pool.query(
                """
                SELECT r.updated_at, (SELECT min(e.at) FROM request_events e WHERE e.request_id = r.id AND e.kind = 'sla_stage') AS stage_at
                FROM service_requests r WHERE r.tracking_code = $1
                """, code
            ).single()
            #expect(try row.decode(Date.self, "updated_at") >= ahead)
            let stageAt = try row.decode(Date?.self, "stage_at")
            #expect(stageAt != nil && stageAt! >= ahead, "\(String(describing: stageAt))")
        }
    }

    /// A question dated before the claim (clocks that disagreed) no longer makes the clocks refuse
    /// the request's history: the citizen's reply, and every change after it, still go through.
    @Test func aQuestionDatedBeforeTheClaimDoesNotLockTheRequest() async throws {
        try await WorkerTestDatabase.withPool { pool, _ in
            let code = try await SLAScannerTests.file(pool, service: "kk-baru", nik: "3673014501900001", now: Self.filedAt)
            let codes = [code]
            let officer = try await SLAScannerTests.officer(pool, unit: "DISDUKCAPIL-IDP")
            let requests = RequestStore(pool: pool)
            let catalog = try await pool.withConnection { try await CatalogStore.load(on: $0, now: Self.filedAt) }
            _ = try await requests.apply(
                .claim, by: .staff(officer), trackingCode: code, catalog: catalog, now: jakarta("2026-12-07T09:00:00+07:00"))
            _ = try await requests.apply(
                .askCitizen(question: "Mohon unggah akta nikah."), by: .staff(officer), trackingCode: code, catalog: catalog,
                now: jakarta("2026-12-07T10:00:00+07:00"))
            // The question, as a server running behind dated it: before the claim at 09:00. (The
            // trail is append-only; the test steps past its trigger to write that history.)
            try await pool.withConnection { connection in
                try await connection.query("SET session_replication_role = replica")
                try await connection.query(
                    """
                    UPDATE request_events SET at = $2
                    WHERE kind = 'asked_citizen' AND request_id = (SELECT id FROM service_requests WHERE tracking_code = $1)
                    """, codes[0], jakarta("2026-12-07T08:59:58+07:00"))
                try await connection.query("RESET session_replication_role")
            }
            let replied = try await requests.apply(
                .citizenReply(message: "Sudah saya unggah."), by: .citizen, trackingCode: codes[0], catalog: catalog,
                now: jakarta("2026-12-08T09:00:00+07:00"))
            #expect(replied.status == .inProgress)
            let resolved = try await requests.apply(
                .resolve(publicMessage: "KK dapat diambil.", outcome: "KK terbit."), by: .staff(officer), trackingCode: codes[0],
                catalog: catalog, now: jakarta("2026-12-08T10:00:00+07:00"))
            #expect(resolved.status == .completed)
        }
    }

    /// A claim on time stays on time when the response target is shortened before the request
    /// closes: the stopped clock keeps the deadline it was measured against.
    @Test func aStoppedResponseClockKeepsItsDeadlineThroughATargetChange() async throws {
        try await WorkerTestDatabase.withPool { pool, _ in
            let code = try await SLAScannerTests.file(pool, service: "kk-baru", nik: "3673014501900001", now: Self.filedAt)
            let officer = try await SLAScannerTests.officer(pool, unit: "DISDUKCAPIL-IDP")
            let requests = RequestStore(pool: pool)
            let before = try await pool.withConnection { try await CatalogStore.load(on: $0, now: Self.filedAt) }
            // Claimed at 11:00, an hour before the response deadline (240 working minutes from 08:00).
            let claimed = try await requests.apply(
                .claim, by: .staff(officer), trackingCode: code, catalog: before, now: jakarta("2026-12-07T11:00:00+07:00"))
            #expect(claimed.responseDueAt == jakarta("2026-12-07T12:00:00+07:00"))

            try await pool.query("UPDATE service_types SET response_target_minutes = 120 WHERE code = 'kk-baru'")
            let after = try await pool.withConnection { try await CatalogStore.load(on: $0, now: Self.filedAt) }
            let recomputed = try await SLAStore(pool: pool).recompute(catalog: after, now: jakarta("2026-12-07T11:30:00+07:00"))
            #expect(recomputed.changed == 0)
            let resolved = try await requests.apply(
                .resolve(publicMessage: "KK dapat diambil.", outcome: "KK terbit."), by: .staff(officer), trackingCode: code,
                catalog: after, now: jakarta("2026-12-07T13:30:00+07:00"))
            #expect(resolved.responseDueAt == jakarta("2026-12-07T12:00:00+07:00"))
            let outcome = try await pool.query(
                "SELECT response_met, breaches FROM request_outcomes WHERE request_id = $1", resolved.id
            ).single()
            #expect(try outcome.decode(Bool?.self, "response_met") == true)
            #expect(try outcome.decode(Int.self, "breaches") == 0)
        }
    }
}
