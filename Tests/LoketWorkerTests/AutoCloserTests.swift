import Foundation
import LoketCore
import LoketStore
import LoketWorker
import Postgres
import Testing

@Suite("Auto-close")
struct AutoCloserTests {
    /// Asked on Monday 7 December at 10:00, a request waits three working days of serang-asn
    /// (1,350 minutes: Monday 300, Tuesday and Wednesday 450 each, Thursday 150) until Thursday
    /// 10:00: then the system rejects it, tells the citizen, and leaves alone the one whose citizen
    /// answered.
    @Test func aRequestWaitingTooLongForTheCitizenIsClosedBySystem() async throws {
        try await WorkerTestDatabase.withPool { pool, _ in
            let filedAt = jakarta("2026-12-07T08:00:00+07:00")
            let asked = jakarta("2026-12-07T10:00:00+07:00")
            let silent = try await SLAScannerTests.file(pool, service: "kk-baru", nik: "3673014501900001", now: filedAt)
            let answered = try await SLAScannerTests.file(pool, service: "kk-baru", nik: "3673015208850002", now: filedAt)
            let uploaded = try await SLAScannerTests.file(pool, service: "kk-baru", nik: "3673014501900003", now: filedAt)
            let officer = try await SLAScannerTests.officer(pool, unit: "DISDUKCAPIL-IDP")
            let requests = RequestStore(pool: pool)
            let catalog = try await pool.withConnection { try await CatalogStore.load(on: $0, now: filedAt) }
            for code in [silent, answered, uploaded] {
                _ = try await requests.apply(.claim, by: .staff(officer), trackingCode: code, catalog: catalog, now: filedAt)
                _ = try await requests.apply(
                    .askCitizen(question: "Mohon unggah akta nikah."), by: .staff(officer), trackingCode: code, catalog: catalog, now: asked)
            }
            _ = try await requests.apply(
                .citizenReply(message: "Sudah saya unggah."), by: .citizen, trackingCode: answered, catalog: catalog,
                now: jakarta("2026-12-08T09:00:00+07:00"))
            // This citizen uploaded the document asked for but sent no reply: an officer decides.
            let record = try #require(try await requests.find(trackingCode: uploaded))
            _ = try await requests.addDocument(
                requestID: record.id, filename: "akta.pdf", contentType: "application/pdf", content: Data("%PDF-1.4\n%%EOF\n".utf8),
                by: .citizen, now: jakarta("2026-12-08T09:30:00+07:00"))

            let clock = ManualClock(jakarta("2026-12-10T09:59:00+07:00"))
            let closer = AutoCloser(store: AutoCloseStore(pool: pool), catalog: CatalogCache(pool: pool), workingDays: 3, clock: clock, batchSize: 1)
            #expect(try await closer.runOnce().isEmpty, "one working minute early")
            clock.set(jakarta("2026-12-10T10:00:00+07:00"))
            #expect(try await closer.runOnce() == [silent])
            #expect(try await closer.runOnce().isEmpty, "closed once")

            let rows = try await pool.query(
                "SELECT tracking_code, status, reject_reason, closed_at FROM service_requests WHERE tracking_code = ANY($1)", [silent, answered])
            let byCode = Dictionary(uniqueKeysWithValues: try rows.map { (try $0.decode(String.self, "tracking_code"), $0) })
            let closed = try #require(byCode[silent])
            #expect(try closed.decode(String.self, "status") == "rejected")
            #expect(try closed.decode(String?.self, "reject_reason")?.contains("3 hari kerja") == true)
            #expect(try closed.decode(Date?.self, "closed_at") == clock.now())
            #expect(try byCode[answered]?.decode(String.self, "status") == "in_progress")
            let waiting = try await pool.query("SELECT status FROM service_requests WHERE tracking_code = $1", uploaded).single()
            #expect(try waiting.decode(String.self, "status") == "waiting_citizen")
            // No officer's doing: the closing counts for no officer in the reports.
            let outcome = try await pool.query(
                "SELECT o.officer_id FROM request_outcomes o JOIN service_requests r ON r.id = o.request_id WHERE r.tracking_code = $1", silent
            ).single()
            #expect(try outcome.decode(Int64?.self, "officer_id") == nil)
            let event = try await pool.query(
                """
                SELECT e.actor_kind, e.is_public FROM request_events e JOIN service_requests r ON r.id = e.request_id
                WHERE r.tracking_code = $1 ORDER BY e.id DESC LIMIT 1
                """, silent
            ).single()
            #expect(try event.decode(String.self, "actor_kind") == "system")
            #expect(try event.decode(Bool.self, "is_public"))
            let told = try await pool.query(
                """
                SELECT count(*) AS n FROM notification_outbox o JOIN service_requests r ON r.id = o.request_id
                WHERE r.tracking_code = $1 AND o.topic = 'request.rejected' AND o.recipient_kind = 'citizen'
                """, silent
            ).single()
            #expect(try told.decode(Int.self, "n") == 1)
        }
    }
}
