import Foundation
import LoketCore
@testable import LoketStore
import Postgres
import Testing

/// A filing whose connection is lost during COMMIT is looked up before anyone is told to retry:
/// answered if it was written, a plain (retryable) failure if it was not. A blind retry of a
/// filing that had in fact been written would file it twice.
@Suite("Filing when COMMIT's outcome is lost")
struct CommitOutcomeTests {
    static let filedAt = jakarta("2026-12-07T08:00:00+07:00")

    @Test func aFilingLostDuringCommitAndNotWrittenIsARetryableFailure() async throws {
        try await WorkerTestDatabase.withPool { pool, _ in
            try await pool.withConnection { connection in
                try await connection.executeScript(
                    """
                    CREATE FUNCTION slow_commit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(60); RETURN NULL; END $$;
                    CREATE CONSTRAINT TRIGGER slow_commit AFTER INSERT ON service_requests DEFERRABLE INITIALLY DEFERRED
                        FOR EACH ROW EXECUTE FUNCTION slow_commit();
                    """)
            }
            // The server process filing it goes away while COMMIT runs the deferred trigger (which
            // waits long enough for even a busy machine to get there).
            let terminator = Task {
                for _ in 0..<1500 {
                    let ended = try await pool.query(
                        """
                        SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity
                        WHERE datname = current_database() AND wait_event = 'PgSleep'
                        """
                    ).single().decode(Int.self, "n")
                    if ended > 0 { return true }
                    try await Task.sleep(for: .milliseconds(20))
                }
                return false
            }
            let failure = await #expect(throws: PostgresError.self) {
                _ = try await SLAScannerTests.file(pool, service: "kk-baru", nik: "3673014501900001", now: Self.filedAt)
            }
            #expect(try await terminator.value, "the filing's COMMIT was never seen running")
            // Looked up: not written, so the client may simply retry.
            #expect(failure?.sqlState == .connectionFailure, "\(String(describing: failure))")
            #expect(try await pool.query("SELECT count(*) AS n FROM service_requests").single().decode(Int.self, "n") == 0)
        }
    }

    @Test func aFilingLostDuringCommitButWrittenIsAnswered() async throws {
        try await WorkerTestDatabase.withPool { pool, _ in
            let code = try await SLAScannerTests.file(pool, service: "kk-baru", nik: "3673014501900001", now: Self.filedAt)
            let row = try await pool.query("SELECT id FROM service_requests WHERE tracking_code = $1", code).single()
            let catalog = try await pool.withConnection { try await CatalogStore.load(on: $0, now: Self.filedAt) }
            let service = try #require(catalog.servicesByCode["kk-baru"])
            let routing = catalog.routing.route(
                serviceTypeId: service.id, area: nil, defaultUnitId: service.defaultUnitID, triageUnitId: catalog.triageUnitID,
                takesWork: { catalog.units[$0]?.active ?? false })
            let unit = try #require(catalog.units[routing.unitId])
            let filed = FiledRequest(
                id: try row.decode(Int64.self, "id"), trackingCode: try TrackingCode(parsing: code), accessToken: "t", unit: unit,
                routing: routing, responseDueAt: Self.filedAt, resolutionDueAt: Self.filedAt, createdAt: Self.filedAt)
            let answer = StoredResponse(status: 201, contentType: "application/json", body: Data("{}".utf8))
            let unknown = PostgresError(sqlState: .transactionResolutionUnknown, severity: "FATAL", message: "lost")
            let intake = IntakeStore(pool: pool, jurisdictionPrefix: "SRG")
            let resolved = try await intake.resolve(attempted: .filed(filed, response: answer), filed: filed, unknown: unknown)
            guard case .filed(let again, let response) = resolved else {
                Issue.record("not answered as filed: \(resolved)")
                return
            }
            #expect(again.trackingCode.description == code)
            #expect(response.status == 201)

            // A filing that was not written (another id) is the retryable failure.
            var missing = filed
            missing.id += 1000
            let refused = await #expect(throws: PostgresError.self) {
                _ = try await intake.resolve(attempted: .filed(missing, response: answer), filed: missing, unknown: unknown)
            }
            #expect(refused?.sqlState == .connectionFailure)
        }
    }
}
