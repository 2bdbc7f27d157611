import Foundation
import LoketCore
import LoketStore
import LoketWorker
import Postgres
import Testing

@Suite("Auto-close")
struct AutoCloserTests {
    static let filedAt = jakarta("2026-12-07T08:00:00+07:00")
    static let asked = jakarta("2026-12-07T10:00:00+07:00")

    /// Requests of kk-baru, one per NIK, filed on Monday 7 December at 08:00, claimed then, and
    /// waiting for the citizen since the officer's question at 10:00.
    static func waitingForTheCitizen(
        _ pool: ConnectionPool, niks: [String]
    ) async throws -> (codes: [String], officer: StaffMember, requests: RequestStore, catalog: CatalogSnapshot) {
        let officer = try await SLAScannerTests.officer(pool, unit: "DISDUKCAPIL-IDP")
        let requests = RequestStore(pool: pool)
        let catalog = try await pool.withConnection { try await CatalogStore.load(on: $0, now: filedAt) }
        var codes: [String] = []
        for nik in niks {
            let code = try await SLAScannerTests.file(pool, service: "kk-baru", nik: nik, now: filedAt)
            _ = try await requests.apply(.claim, by: .staff(officer), trackingCode: code, catalog: catalog, now: filedAt)
            _ = try await requests.apply(
                .askCitizen(question: "Mohon unggah akta nikah."), by: .staff(officer), trackingCode: code, catalog: catalog, now: asked)
            codes.append(code)
        }
        return (codes, officer, requests, catalog)
    }

    /// Asked on Monday 7 December at 10:00, a request waits three working days of serang-asn
    /// (1,350 minutes: Monday 300, Tuesday and Wednesday 450 each, Thursday 150) until Thursday
    /// 10:00: then the system rejects it, tells the citizen, and leaves alone the one whose citizen
    /// answered.
    @Test func aRequestWaitingTooLongForTheCitizenIsClosedBySystem() async throws {
        try await WorkerTestDatabase.withPool { pool, _ in
            let asked = Self.asked
            let (codes, _, requests, catalog) = try await Self.waitingForTheCitizen(
                pool, niks: ["3673014501900001", "3673015208850002", "3673014501900003"])
            let (silent, answered, uploaded) = (codes[0], codes[1], codes[2])
            _ = try await requests.apply(
                .citizenReply(message: "Sudah saya unggah."), by: .citizen, trackingCode: answered, catalog: catalog,
                now: jakarta("2026-12-08T09:00:00+07:00"))
            // This citizen uploaded the document asked for but sent no reply: an officer decides.
            // The upload went through a server whose clock is a minute behind the one that asked:
            // it is dated no earlier than the question all the same.
            let record = try #require(try await requests.find(trackingCode: uploaded))
            let document = try await requests.addDocument(
                requestID: record.id, filename: "akta.pdf", contentType: "application/pdf", content: Data("%PDF-1.4\n%%EOF\n".utf8),
                by: .citizen, now: asked.addingTimeInterval(-60))
            #expect(document.createdAt == asked)

            // One working day before the close (Wednesday 10:00, after 900 working minutes), the
            // citizen who has not answered is reminded, once.
            let clock = ManualClock(jakarta("2026-12-09T09:59:00+07:00"))
            let closer = AutoCloser(
                store: AutoCloseStore(pool: pool), catalog: CatalogCache(pool: pool), workingDays: 3, reminderDays: 1, clock: clock,
                batchSize: 1)
            #expect(try await closer.runOnce() == ([], []), "one working minute before the reminder")
            clock.set(jakarta("2026-12-09T10:00:00+07:00"))
            #expect(try await closer.runOnce() == ([], [silent]))
            #expect(try await closer.runOnce() == ([], []), "reminded once")
            let note = try await pool.query(
                """
                SELECT e.kind, e.actor_kind, e.is_public, e.message, e.at FROM request_events e JOIN service_requests r ON r.id = e.request_id
                WHERE r.tracking_code = $1 ORDER BY e.id DESC LIMIT 1
                """, silent
            ).single()
            #expect(try note.decode(String.self, "kind") == "note")
            #expect(try note.decode(String.self, "actor_kind") == "system")
            #expect(try note.decode(Bool.self, "is_public"), "the tracking page shows it")
            let message = try note.decode(String.self, "message")
            #expect(message.contains("10 Desember 2026 pukul 10.00 WIB"), "\(message)")
            #expect(message.contains("10 December 2026 at 10:00 WIB"), "\(message)")
            let reminder = try await pool.query(
                """
                SELECT o.recipient_kind, o.payload->>'tracking_code' AS code, (o.payload->>'closes_at')::timestamptz AS closes_at,
                       o.payload->>'message' AS message
                FROM notification_outbox o JOIN service_requests r ON r.id = o.request_id
                WHERE r.tracking_code = ANY($1) AND o.topic = 'request.auto_close_reminder'
                """, [silent, answered, uploaded]
            ).single()
            #expect(try reminder.decode(String.self, "recipient_kind") == "citizen")
            #expect(try reminder.decode(String.self, "code") == silent)
            #expect(try reminder.decode(Date.self, "closes_at") == jakarta("2026-12-10T10:00:00+07:00"))
            #expect(try reminder.decode(String.self, "message") == message)

            clock.set(jakarta("2026-12-10T09:59:00+07:00"))
            #expect(try await closer.runOnce() == ([], []), "one working minute early")
            clock.set(jakarta("2026-12-10T10:00:00+07:00"))
            #expect(try await closer.runOnce() == ([silent], []))
            #expect(try await closer.runOnce() == ([], []), "closed once")
            #expect(try await pool.query("SELECT count(*) AS n FROM notification_outbox WHERE topic = 'request.upload_unanswered'")
                        .single().decode(Int.self, "n") == 2, "told once")

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
            // Its clock is paused, so nothing else would bring it back: when the close would have
            // come, the holder and the section's supervisor are told, once (the run after adds
            // nothing), with a private note on the timeline.
            let notices = try await pool.query(
                """
                SELECT o.recipient_kind, s.role, u.code AS unit, o.payload->>'tracking_code' AS code,
                       (o.payload->>'waiting_since')::timestamptz AS since
                FROM notification_outbox o JOIN service_requests r ON r.id = o.request_id
                JOIN staff s ON s.id = o.recipient_staff_id JOIN units u ON u.id = s.unit_id
                WHERE o.topic = 'request.upload_unanswered' ORDER BY o.id
                """)
            #expect(try notices.map { "\(try $0.decode(String.self, "role"))@\(try $0.decode(String.self, "unit"))" }
                    == ["staff@DISDUKCAPIL-IDP", "supervisor@DISDUKCAPIL-IDP"])
            #expect(try notices.allSatisfy { try $0.decode(String.self, "code") == uploaded && $0.decode(Date.self, "since") == asked })
            let flag = try await pool.query(
                """
                SELECT e.kind, e.actor_kind, e.is_public, e.message FROM request_events e JOIN service_requests r ON r.id = e.request_id
                WHERE r.tracking_code = $1 ORDER BY e.id DESC LIMIT 1
                """, uploaded
            ).single()
            #expect(try flag.decode(String.self, "kind") == "note")
            #expect(try flag.decode(String.self, "actor_kind") == "system")
            #expect(try !flag.decode(Bool.self, "is_public"), "for the officers, not the tracking page")
            #expect(try flag.decode(String?.self, "message")?.contains("loket answered") == true)
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

    /// A new question is a new wait, with a reminder of its own; a worker that first looks after
    /// the close has passed closes without announcing what has already happened.
    @Test func eachWaitGetsItsOwnReminderAndNoneComesAfterTheClose() async throws {
        try await WorkerTestDatabase.withPool { pool, _ in
            let (codes, officer, requests, catalog) = try await Self.waitingForTheCitizen(pool, niks: ["3673014501900001", "3673015208850002"])
            let (twice, late) = (codes[0], codes[1])
            let clock = ManualClock(jakarta("2026-12-09T10:00:00+07:00"))
            let closer = AutoCloser(
                store: AutoCloseStore(pool: pool), catalog: CatalogCache(pool: pool), workingDays: 3, reminderDays: 1, clock: clock)
            // Workers started together find the same requests: each is reminded by one of them only.
            let sent = try await withThrowingTaskGroup(of: [String].self) { group in
                for _ in 0..<4 { group.addTask { try await closer.runOnce().reminded } }
                return try await group.reduce(into: []) { $0 += $1 }
            }
            #expect(sent.sorted() == [twice, late].sorted())
            let notes = try await pool.query(
                "SELECT count(*) AS n FROM request_events WHERE kind = 'note' AND actor_kind = 'system'").single().decode(Int.self, "n")
            #expect(notes == 2)
            // The citizen answers; the officer asks again on Wednesday at 13:00: 900 working minutes
            // later is Friday 13:30 (Friday's hours are 07:30–11:30 and 13:00–16:30).
            _ = try await requests.apply(
                .citizenReply(message: "Akta nikah hilang, ini surat keterangan."), by: .citizen, trackingCode: twice, catalog: catalog,
                now: jakarta("2026-12-09T11:00:00+07:00"))
            _ = try await requests.apply(
                .askCitizen(question: "Mohon surat keterangan dari kelurahan."), by: .staff(officer), trackingCode: twice, catalog: catalog,
                now: jakarta("2026-12-09T13:00:00+07:00"))
            clock.set(jakarta("2026-12-11T13:29:00+07:00"))
            #expect(try await closer.runOnce() == ([late], []), "the first wait's close; the second wait not yet due")
            clock.set(jakarta("2026-12-11T13:30:00+07:00"))
            #expect(try await closer.runOnce() == ([], [twice]))
            let reminders = try await pool.query(
                """
                SELECT (o.payload->>'closes_at')::timestamptz AS closes_at FROM notification_outbox o
                JOIN service_requests r ON r.id = o.request_id
                WHERE r.tracking_code = $1 AND o.topic = 'request.auto_close_reminder' ORDER BY o.id
                """, twice)
            // 1,350 working minutes from Wednesday 13:00: Wednesday 180, Thursday 450, Friday 450,
            // then Monday's 270 minutes before the lunch break: Monday 14 December 12:00.
            let closes = try reminders.map { try $0.decode(Date.self, "closes_at") }
            #expect(closes == [jakarta("2026-12-10T10:00:00+07:00"), jakarta("2026-12-14T12:00:00+07:00")], "\(closes)")

            // A worker down through the reminder and the close: it closes, and reminds of nothing.
            let missed = try await Self.waitingForTheCitizen(pool, niks: ["3673014501900003"]).codes[0]
            let result = try await closer.runOnce()
            #expect(result.closed == [missed])
            #expect(result.reminded.isEmpty)
        }
    }

    /// A worker whose reminder waited for another worker's lock sees that worker's reminder once it
    /// gets the row: the check runs after the lock, not in the snapshot of the statement that
    /// waited (which was taken before the other committed, and sent the citizen a second one).
    /// The citizen uploads after the worker listed the request as silent (just before the close
    /// the reminder announced): the close sees the upload and leaves the request to an officer.
    @Test func anUploadAfterTheListingStopsTheClose() async throws {
        try await WorkerTestDatabase.withPool { pool, _ in
            let (codes, _, requests, catalog) = try await Self.waitingForTheCitizen(pool, niks: ["3673014501900001"])
            let now = jakarta("2026-12-10T10:00:00+07:00")
            let store = AutoCloseStore(pool: pool)
            let waiting = try #require(try await store.waiting(since: now, after: nil, limit: 10).first)
            _ = try await requests.addDocument(
                requestID: waiting.id, filename: "akta.pdf", contentType: "application/pdf", content: Data("%PDF-1.4\n%%EOF\n".utf8),
                by: .citizen, now: now.addingTimeInterval(-30))
            let closed = try await store.close(waiting, reason: "Tidak ada jawaban.", catalog: catalog, now: now)
            #expect(!closed, "closed although the citizen had uploaded")
            let record = try #require(try await requests.find(trackingCode: codes[0]))
            #expect(record.status == .waitingCitizen)
        }
    }

    @Test func aReminderSentWhileThisWorkerWaitedForTheRowIsSeen() async throws {
        try await WorkerTestDatabase.withPool { pool, _ in
            _ = try await Self.waitingForTheCitizen(pool, niks: ["3673014501900001"])
            let now = jakarta("2026-12-09T10:00:00+07:00")
            let store = AutoCloseStore(pool: pool)
            let waiting = try #require(try await store.waiting(since: now, after: nil, limit: 10, unremindedOnly: true).first)
            // The other worker: holds the row, reminds, and commits while this one waits.
            let competitor = try await pool.transaction { connection in
                try await connection.query("SELECT id FROM service_requests WHERE id = $1 FOR NO KEY UPDATE", waiting.id)
                try await connection.query(
                    """
                    INSERT INTO request_events (request_id, at, actor_kind, kind, from_status, to_status, is_public, message)
                    VALUES ($1, $2, 'system', 'note', 'waiting_citizen', 'waiting_citizen', true, 'Pengingat')
                    """, waiting.id, now)
                let competitor = Task { try await store.remind(waiting, message: "Pengingat", closesAt: now, now: now) }
                var blocked = 0
                for _ in 0..<1500 where blocked == 0 {  // up to 30 s: the suite runs in parallel on two cores
                    try await Task.sleep(for: .milliseconds(20))
                    blocked = try await pool.query(
                        "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
                    ).single().decode(Int.self, "n")
                }
                try #require(blocked > 0, "the other worker never waited for the lock: the test would prove nothing")
                return competitor
            }
            #expect(try await competitor.value == false, "reminded twice")
            let notes = try await pool.query(
                "SELECT count(*) AS n FROM request_events WHERE request_id = $1 AND kind = 'note'", waiting.id
            ).single().decode(Int.self, "n")
            #expect(notes == 1)
        }
    }
}
