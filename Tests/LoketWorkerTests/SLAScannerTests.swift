import Synchronization
import Foundation
import LoketCore
@testable import LoketStore
import LoketWorker
import Postgres
import Testing

/// A clock the test moves by hand.
final class ManualClock: WorkerClock, @unchecked Sendable {
    private let lock = NSLock()
    private var current: Date

    init(_ start: Date) { current = start }

    func now() -> Date {
        lock.lock()
        defer { lock.unlock() }
        return current
    }

    func set(_ date: Date) {
        lock.lock()
        current = date
        lock.unlock()
    }
}

func jakarta(_ text: String) -> Date {
    ISO8601DateFormatter().date(from: text)!
}

@Suite("SLA scanner")
struct SLAScannerTests {
    /// Files a request for `service` at `now` through the real intake.
    static func file(
        _ pool: ConnectionPool, service code: String, nik: String, area: String = "36.73.01.1001", now: Date,
        intake: IntakeStore? = nil
    ) async throws -> String {
        let catalog = try await pool.withConnection { try await CatalogStore.load(on: $0, now: now) }
        let service = try #require(catalog.servicesByCode[code])
        let attributes = service.attributes.filter(\.required).map { "\"\($0.code)\": \"\($0.values.first?.key ?? "x")\"" }
        let request = NewRequest(
            service: service, citizenName: "Warga Uji", nik: try NIK(nik, today: try LocalDate(year: 2026, month: 12, day: 1)),
            phone: try PhoneNumber("081234567890"), email: nil, area: try AreaCode(area), address: nil, latitude: nil,
            longitude: nil, description: "Uji", attributesJSON: "{\(attributes.joined(separator: ","))}")
        let outcome = try await (intake ?? IntakeStore(pool: pool, jurisdictionPrefix: "SRG")).file(
            request, catalog: catalog, idempotency: nil, now: now
        ) { _ in StoredResponse(status: 201, contentType: "application/json", body: Data()) }
        guard case .filed(let filed, _) = outcome else {
            Issue.record("not filed: \(outcome)")
            return ""
        }
        return filed.trackingCode.description
    }

    static func nextSLA(_ pool: ConnectionPool, _ code: String) async throws -> (at: Date?, clock: String?, stage: Int?) {
        let row = try await pool.query(
            "SELECT next_sla_at, next_sla_clock, next_sla_stage FROM service_requests WHERE tracking_code = $1", code
        ).single()
        return (try row.decode(Date?.self, "next_sla_at"), try row.decode(String?.self, "next_sla_clock"),
                try row.decode(Int?.self, "next_sla_stage"))
    }

    static func stages(_ pool: ConnectionPool, _ code: String) async throws -> [String] {
        try await pool.query(
            """
            SELECT l.clock || ':' || l.stage || ':' || l.percent || (CASE WHEN l.breach THEN ':breach' ELSE '' END) AS s
            FROM sla_stage_log l JOIN service_requests r ON r.id = l.request_id WHERE r.tracking_code = $1
            ORDER BY l.due_at, l.clock, l.stage
            """, code
        ).map { try $0.decode(String.self, "s") }
    }

    static func outbox(_ pool: ConnectionPool, _ code: String) async throws -> [String] {
        try await pool.query(
            """
            SELECT o.topic || '>' || o.recipient_kind || ':' || u.code || ':' || s.role AS line
            FROM notification_outbox o JOIN service_requests r ON r.id = o.request_id
            JOIN staff s ON s.id = o.recipient_staff_id JOIN units u ON u.id = s.unit_id
            WHERE r.tracking_code = $1 AND o.topic LIKE 'sla.%' ORDER BY o.id
            """, code
        ).map { try $0.decode(String.self, "line") }
    }

    /// kk-baru (response 240, resolution 1,350 working minutes, default policy) filed on Tuesday
    /// 22 December 2026 at 08:00 in Jakarta, across Christmas joint leave (Thu 24), Christmas
    /// (Fri 25), a weekend and a waiting_citizen pause. Every instant was worked out by hand on the
    /// ASN calendar (Mon–Thu 07:30–12:00 and 13:00–16:00, Fri 07:30–11:30 and 13:00–16:30).
    @Test func stagesHappenAtTheExactInstantsAcrossHolidaysWeekendsAndAPause() async throws {
        try await WorkerTestDatabase.withPool { pool, _ in
            let clock = ManualClock(jakarta("2026-12-22T08:00:00+07:00"))
            let catalog = CatalogCache(pool: pool, maxAge: .seconds(3600))
            let scanner = SLAScanner(store: SLAStore(pool: pool), catalog: catalog, clock: clock)
            let code = try await Self.file(pool, service: "kk-baru", nik: "3673014501900001", now: clock.now())

            #expect(try await Self.nextSLA(pool, code).at == jakarta("2026-12-22T10:00:00+07:00"))
            clock.set(jakarta("2026-12-22T09:59:59+07:00"))
            #expect(try await scanner.runOnce().stagesApplied == 0)
            clock.set(jakarta("2026-12-22T10:00:00+07:00"))
            #expect(try await scanner.runOnce().stages == ["warning": 1])
            // Nobody holds it yet, so the 50 % notice to the assignee tells no one.
            #expect(try await Self.outbox(pool, code).isEmpty)
            #expect(try await Self.nextSLA(pool, code).at == jakarta("2026-12-22T11:00:00+07:00"))

            clock.set(jakarta("2026-12-22T11:00:00+07:00"))
            #expect(try await scanner.runOnce().stages == ["warning": 1])
            #expect(try await Self.outbox(pool, code) == ["sla.warning>staff:DISDUKCAPIL-IDP:supervisor"])
            #expect(try await Self.nextSLA(pool, code).at == jakarta("2026-12-22T12:00:00+07:00"))

            clock.set(jakarta("2026-12-22T12:00:00+07:00"))
            #expect(try await scanner.runOnce().stages == ["breach": 1])
            let breached = try await pool.query(
                "SELECT escalation_level, priority FROM service_requests WHERE tracking_code = $1", code).single()
            #expect(try breached.decode(Int.self, "escalation_level") == 1)
            #expect(try breached.decode(Int.self, "priority") == 10)
            let breachMail = try await Self.outbox(pool, code).dropFirst()
            #expect(breachMail.first == "sla.breach>staff:DISDUKCAPIL-IDP:supervisor")
            // Managers up the tree as far as the agency (DISDUKCAPIL), not SETDA's above every agency.
            #expect(Set(breachMail.dropFirst()) == [
                "sla.breach>manager:DISDUKCAPIL-DAFDUK:manager", "sla.breach>manager:DISDUKCAPIL:manager",
            ])
            // Next: the response clock's first further level at 150 %, 15:00 the same day.
            #expect(try await Self.nextSLA(pool, code).at == jakarta("2026-12-22T15:00:00+07:00"))

            // An officer claims at 13:30: the response clock stops; the resolution clock's 50 % is
            // Wednesday 11:45 (420 working minutes on Tuesday, 255 more on Wednesday).
            let officer = try await Self.officer(pool, unit: "DISDUKCAPIL-IDP")
            let snapshot = try await catalog.snapshot()
            clock.set(jakarta("2026-12-22T13:30:00+07:00"))
            _ = try await RequestStore(pool: pool).apply(.claim, by: .staff(officer), trackingCode: code, catalog: snapshot, now: clock.now())
            #expect(try await Self.nextSLA(pool, code) == (jakarta("2026-12-23T11:45:00+07:00"), "resolution", 1))

            // Asked on Wednesday 10:00, answered on Monday 28 December 10:00: 450 working minutes
            // paused (Wed 10:00–16:00 is 300, Thu 24 and Fri 25 are holidays, Mon 07:30–10:00 is 150).
            clock.set(jakarta("2026-12-23T10:00:00+07:00"))
            _ = try await RequestStore(pool: pool).apply(
                .askCitizen(question: "Mohon lengkapi."), by: .staff(officer), trackingCode: code, catalog: snapshot, now: clock.now())
            #expect(try await Self.nextSLA(pool, code).at == nil)
            clock.set(jakarta("2026-12-28T09:00:00+07:00"))
            #expect(try await scanner.runOnce().stagesApplied == 0)
            clock.set(jakarta("2026-12-28T10:00:00+07:00"))
            _ = try await RequestStore(pool: pool).apply(.citizenReply(message: "Sudah"), by: .citizen, trackingCode: code, catalog: snapshot, now: clock.now())
            // 570 of the 675 minutes to 50 % had run before the pause; 105 more from Monday 10:00.
            #expect(try await Self.nextSLA(pool, code) == (jakarta("2026-12-28T11:45:00+07:00"), "resolution", 1))
            let due = try await pool.query("SELECT resolution_due_at FROM service_requests WHERE tracking_code = $1", code).single()
            // Without the pause the 1,350 minutes end Tuesday 29 December 08:00; the pause adds 450.
            #expect(try due.decode(Date.self, "resolution_due_at") == jakarta("2026-12-30T08:00:00+07:00"))

            clock.set(jakarta("2026-12-28T11:44:59+07:00"))
            #expect(try await scanner.runOnce().stagesApplied == 0)
            clock.set(jakarta("2026-12-28T11:45:00+07:00"))
            #expect(try await scanner.runOnce().stages == ["warning": 1])
            #expect(try await Self.outbox(pool, code).last == "sla.warning>staff:DISDUKCAPIL-IDP:staff")
            #expect(try await Self.stages(pool, code) == [
                "response:1:50", "response:2:75", "response:3:100:breach", "resolution:1:50",
            ])

            // A change after that stage (the officer releases it at 13:00) counts the stages
            // already applied (read in the round trip that locks the row): the next is the
            // resolution clock's 75 %, not its 50 % again.
            clock.set(jakarta("2026-12-28T13:00:00+07:00"))
            _ = try await RequestStore(pool: pool).apply(.release(reason: nil), by: .staff(officer), trackingCode: code, catalog: snapshot, now: clock.now())
            let next = try await Self.nextSLA(pool, code)
            #expect(next.clock == "resolution")
            #expect(next.stage == 2)
        }
    }

    /// The worker applies only a running clock's stages. A claim that comes after the response
    /// breach fell due but before the scan (the worker was down, or 5 s behind) applies the due
    /// stages first: the breach is logged, raises the level and is told, once. A question asked
    /// after a warning fell due sends it before the clock pauses, not when the citizen replies.
    @Test func aChangeThatStopsOrPausesAClockAppliesTheStagesAlreadyDue() async throws {
        try await WorkerTestDatabase.withPool { pool, _ in
            let clock = ManualClock(jakarta("2026-12-22T08:00:00+07:00"))
            let catalog = CatalogCache(pool: pool, maxAge: .seconds(3600))
            let scanner = SLAScanner(store: SLAStore(pool: pool), catalog: catalog, clock: clock)
            let snapshot = try await catalog.snapshot()
            let officer = try await Self.officer(pool, unit: "DISDUKCAPIL-IDP")
            let units = try await pool.query("SELECT id FROM units WHERE code = 'DISDUKCAPIL-IDP'").single().decode(Int64.self, "id")
            let code = try await Self.file(pool, service: "kk-baru", nik: "3673014501900001", now: clock.now())

            // No scan at all; claimed by claim-next at 12:00:03, three seconds after the breach.
            clock.set(jakarta("2026-12-22T12:00:03+07:00"))
            let claimed = try await StaffWorkStore(pool: pool).claimNext(units: [units], by: officer, catalog: snapshot, now: clock.now())
            #expect(claimed?.trackingCode == code)
            #expect(claimed?.escalationLevel == 1, "the breach raised the level before the claim")
            #expect(try await Self.stages(pool, code) == ["response:1:50", "response:2:75", "response:3:100:breach"])
            #expect(try await Self.outbox(pool, code).contains("sla.breach>manager:DISDUKCAPIL:manager"))
            #expect(try await scanner.runOnce().stagesApplied == 0, "nothing left for the worker")
            #expect(try await Self.nextSLA(pool, code).clock == "resolution")

            // The resolution clock's 50 % falls due Wednesday 11:45 (as in the test above, where
            // the claim came at 13:30; here at 12:00:03, 30 working minutes sooner: 11:15). The
            // officer asks the citizen at 11:15:02, before any scan: the warning goes out first.
            let due = try #require(try await Self.nextSLA(pool, code).at)
            clock.set(due.addingTimeInterval(2))
            _ = try await RequestStore(pool: pool).apply(
                .askCitizen(question: "Mohon lengkapi."), by: .staff(officer), trackingCode: code, catalog: snapshot, now: clock.now())
            #expect(try await Self.stages(pool, code).last == "resolution:1:50")
            #expect(try await Self.outbox(pool, code).last == "sla.warning>staff:DISDUKCAPIL-IDP:staff")
            let paused = try await pool.query("SELECT status FROM service_requests WHERE tracking_code = $1", code).single()
            #expect(try paused.decode(String.self, "status") == "waiting_citizen")
            #expect(try await Self.nextSLA(pool, code).at == nil)

            // A release two seconds after a warning fell due: the officer who held the request
            // then is told before letting it go (applied after, the warning found no holder).
            let other = try await Self.file(pool, service: "kk-baru", nik: "3673014501900002", now: clock.now())
            _ = try await RequestStore(pool: pool).apply(.claim, by: .staff(officer), trackingCode: other, catalog: snapshot, now: clock.now())
            let warning = try #require(try await Self.nextSLA(pool, other).at)
            clock.set(warning.addingTimeInterval(2))
            _ = try await RequestStore(pool: pool).apply(
                .release(reason: "Berkas di loket lain."), by: .staff(officer), trackingCode: other, catalog: snapshot, now: clock.now())
            #expect(try await Self.stages(pool, other).last == "resolution:1:50")
            #expect(try await Self.outbox(pool, other).last == "sla.warning>staff:DISDUKCAPIL-IDP:staff")
            let released = try await pool.query("SELECT status, assignee_id FROM service_requests WHERE tracking_code = $1", other).single()
            #expect(try released.decode(String.self, "status") == "queued")
            #expect(try released.decode(Int64?.self, "assignee_id") == nil)

            // A lease that lapses after a warning fell due, returned by the rescuer: the warning
            // goes to the officer who held the request, then the request goes back to the queue.
            let third = try await Self.file(pool, service: "kk-baru", nik: "3673014501900003", now: clock.now())
            _ = try await RequestStore(pool: pool).apply(.claim, by: .staff(officer), trackingCode: third, catalog: snapshot, now: clock.now())
            let thirdWarning = try #require(try await Self.nextSLA(pool, third).at)
            let lease = try await pool.query("SELECT lease_expires_at FROM service_requests WHERE tracking_code = $1", third)
                .single().decode(Date.self, "lease_expires_at")
            clock.set(max(thirdWarning, lease).addingTimeInterval(2))
            let expired = try await StaffWorkStore(pool: pool).expireLeases(catalog: snapshot, now: clock.now())
            #expect(expired == [third])
            #expect(try await Self.stages(pool, third).last == "resolution:1:50")
            let told = try await pool.query(
                """
                SELECT o.topic FROM notification_outbox o JOIN service_requests r ON r.id = o.request_id
                WHERE r.tracking_code = $1 AND o.recipient_staff_id = $2 ORDER BY o.id
                """, third, officer.id
            ).map { try $0.decode(String.self, "topic") }
            #expect(told.suffix(2) == ["sla.warning", "lease.expired"], "\(told)")
        }
    }

    /// A transfer applies the stages already due first, as the worker would have: a warning due
    /// in the old unit is told to the old unit's supervisors, not the new unit's; and a due breach
    /// that moves the request up the tree leaves it out of reach of the unit it left, so the
    /// transfer is refused and the worker moves it. (Before, the stage waited for the next scan
    /// and was applied from the new unit: its chain was told, and a move undid the transfer.)
    /// pengaduan-pelayanan, filed Friday 18 December 14:00 in INSPEKTORAT-IRBANSUS: response 240
    /// working minutes, 50 % Friday 16:00, 75 % Monday 08:00, breach (moved up) Monday 09:00.
    @Test func aTransferAppliesTheStagesAlreadyDueInTheUnitItLeaves() async throws {
        try await WorkerTestDatabase.withPool { pool, _ in
            let clock = ManualClock(jakarta("2026-12-18T14:00:00+07:00"))
            let catalog = CatalogCache(pool: pool, maxAge: .seconds(3600))
            let scanner = SLAScanner(store: SLAStore(pool: pool), catalog: catalog, clock: clock)
            let snapshot = try await catalog.snapshot()
            let row = try await pool.query(
                "SELECT s.id, s.unit_id FROM staff s JOIN units u ON u.id = s.unit_id WHERE u.code = 'INSPEKTORAT-IRBANSUS' AND s.role = 'supervisor'"
            ).single()
            let supervisor = StaffMember(id: try row.decode(Int64.self, "id"), role: .supervisor, unitId: try row.decode(Int64.self, "unit_id"))
            let elsewhere = try await pool.query("SELECT id FROM units WHERE code = 'DPMPTSP'").single().decode(Int64.self, "id")
            let moved = try await Self.file(pool, service: "pengaduan-pelayanan", nik: "3673014501900001", now: clock.now())
            let kept = try await Self.file(pool, service: "pengaduan-pelayanan", nik: "3673014501900002", now: clock.now())
            func unit(_ code: String) async throws -> String {
                try await pool.query(
                    "SELECT u.code FROM service_requests r JOIN units u ON u.id = r.unit_id WHERE r.tracking_code = $1", code
                ).single().decode(String.self, "code")
            }

            // Monday 08:00:02, no scan since Friday: both warnings are due when the supervisor transfers.
            clock.set(jakarta("2026-12-21T08:00:02+07:00"))
            _ = try await RequestStore(pool: pool).apply(
                .transfer(to: elsewhere, reason: "Bukan kewenangan Inspektorat."), by: .staff(supervisor), trackingCode: moved,
                catalog: snapshot, now: clock.now())
            #expect(try await unit(moved) == "DPMPTSP")
            #expect(try await Self.stages(pool, moved) == ["response:1:50", "response:2:75"])
            let told = try await Self.outbox(pool, moved)
            #expect(told.contains("sla.warning>staff:INSPEKTORAT-IRBANSUS:supervisor"), "\(told)")
            #expect(!told.contains { $0.contains(":DPMPTSP") }, "the new unit is not told of the old unit's stage: \(told)")
            _ = try await scanner.runOnce()
            #expect(try await Self.stages(pool, moved) == ["response:1:50", "response:2:75"], "nothing left for the worker")

            // Monday 09:00:02: the breach, which moves the request up to INSPEKTORAT, was due; the
            // section's supervisor can no longer transfer it, and nothing of the attempt is kept.
            clock.set(jakarta("2026-12-21T09:00:02+07:00"))
            let refusal = await #expect(throws: RequestStoreError.self) {
                try await RequestStore(pool: pool).apply(
                    .transfer(to: elsewhere, reason: "Bukan kewenangan Inspektorat."), by: .staff(supervisor), trackingCode: kept,
                    catalog: snapshot, now: clock.now())
            }
            guard case .refused(.notInUnit)? = refusal else {
                Issue.record("expected notInUnit, got \(String(describing: refusal))")
                return
            }
            #expect(try await unit(kept) == "INSPEKTORAT-IRBANSUS")
            #expect(try await Self.stages(pool, kept) == ["response:1:50", "response:2:75"])
            _ = try await scanner.runOnce()
            #expect(try await unit(kept) == "INSPEKTORAT")
            #expect(try await Self.stages(pool, kept).last == "response:3:100:breach")
        }
    }

    /// One request whose stages fail every time (here a trigger refuses its stage log rows; in
    /// life, data the code cannot handle) used to fail the whole batch on every pass: no stage of
    /// any request in the city was applied. The batch now goes one by one; the failing request is
    /// held back five minutes, the others' stages are applied, and it is tried again after.
    /// kk-baru filed Tuesday 22 December at 08:00 and 08:01: the response clock's 50 % falls due at
    /// 10:00 and 10:01.
    @Test func aRequestWhoseStagesAlwaysFailHoldsUpNoOther() async throws {
        try await WorkerTestDatabase.withPool { pool, _ in
            let clock = ManualClock(jakarta("2026-12-22T08:00:00+07:00"))
            let scanner = SLAScanner(store: SLAStore(pool: pool), catalog: CatalogCache(pool: pool), clock: clock)
            let failing = try await Self.file(pool, service: "kk-baru", nik: "3673014501900001", now: clock.now())
            let healthy = try await Self.file(
                pool, service: "kk-baru", nik: "3673014501900002", now: jakarta("2026-12-22T08:01:00+07:00"))
            try await pool.withConnection { connection in
                try await connection.executeScript(
                    """
                    CREATE TABLE test_poisoned (request_id bigint PRIMARY KEY);
                    CREATE FUNCTION test_poison() RETURNS trigger LANGUAGE plpgsql AS $$
                    BEGIN
                        IF EXISTS (SELECT 1 FROM test_poisoned WHERE request_id = NEW.request_id) THEN
                            RAISE EXCEPTION 'stage refused for the test';
                        END IF;
                        RETURN NEW;
                    END $$;
                    CREATE TRIGGER test_poison BEFORE INSERT ON sla_stage_log FOR EACH ROW EXECUTE FUNCTION test_poison();
                    """)
            }
            try await pool.query(
                "INSERT INTO test_poisoned SELECT id FROM service_requests WHERE tracking_code = $1", failing)

            clock.set(jakarta("2026-12-22T10:05:00+07:00"))
            let result = try await scanner.runOnce()
            #expect(result.stages == ["warning": 1])
            #expect(try await Self.stages(pool, healthy) == ["response:1:50"])
            #expect(try await Self.stages(pool, failing) == [])
            #expect(try await Self.nextSLA(pool, failing).at == jakarta("2026-12-22T10:10:00+07:00"), "held back five minutes")
            #expect(try await scanner.runOnce().requests == 0, "not retried at once")

            // Mended (in life: the data corrected), it is taken up again once its time comes.
            try await pool.query("DELETE FROM test_poisoned")
            clock.set(jakarta("2026-12-22T10:10:00+07:00"))
            #expect(try await scanner.runOnce().stages == ["warning": 1])
            #expect(try await Self.stages(pool, failing) == ["response:1:50"])
        }
        // Only a request's own faults hold it back; the database being away, busy, full or broken
        // would hold back every request and hide the cause: the pass fails instead, and the
        // loop's alert tells.
        func fault(_ state: String) -> Bool { SLAStore.isRequestFault(PostgresError(sqlState: SQLState(state), message: "x")) }
        #expect(fault("22P02") && fault("23505") && fault("23514") && fault("P0001"))
        #expect(!fault("53100") && !fault("53200") && !fault("40001") && !fault("40P01") && !fault("57014") && !fault("08006")
                && !fault("XX000") && !fault("25006") && !fault("55P03") && !fault("0A000"))
        #expect(!SLAStore.isRequestFault(CancellationError()))
        #expect(!SLAStore.isRequestFault(ConnectionPoolError.acquireTimeout(.seconds(5))))
        #expect(SLAStore.isRequestFault(SLAClockError.inconsistentPauses(.resolution)))
    }

    /// A worker whose catalog copy predates a new service type looks at that service's requests
    /// again later instead of taking them off the schedule for good.
    @Test func aServiceNewerThanTheWorkersCatalogIsScannedAgainLater() async throws {
        try await WorkerTestDatabase.withPool { pool, _ in
            let now = jakarta("2026-12-22T10:00:00+07:00")
            let old = try await pool.withConnection { try await CatalogStore.load(on: $0, now: now) }
            let code = try await Self.file(pool, service: "kk-baru", nik: "3673014501900001", now: jakarta("2026-12-22T08:00:00+07:00"))
            // The copy as it would be had kk-baru been imported after it was loaded.
            let kk = try #require(old.servicesByCode["kk-baru"]?.id)
            let stale = CatalogSnapshot(
                services: old.services.filter { $0.id != kk }, servicesByCode: old.servicesByCode.filter { $0.value.id != kk },
                servicesByID: old.servicesByID.filter { $0.key != kk }, everyServiceByCode: old.everyServiceByCode.filter { $0.value.id != kk },
                units: old.units, calendars: old.calendars, routing: old.routing, triageUnitID: old.triageUnitID,
                areaNames: old.areaNames, loadedAt: old.loadedAt)
            let store = SLAStore(pool: pool)
            #expect(try await store.applyDueStages(now: now, limit: 10, catalog: stale).stagesApplied == 0)
            let later = try await Self.nextSLA(pool, code)
            #expect(later.at == now.addingTimeInterval(60), "scanned again after every copy has reloaded")
            #expect(later.clock == "response")
            #expect(try await store.applyDueStages(now: now.addingTimeInterval(60), limit: 10, catalog: old).stages == ["warning": 1])
        }
    }

    /// pengaduan-pelayanan's policy moves a breached request to the parent unit. Filed Friday
    /// 18 December 14:00: response 240 minutes = Friday 14:00–16:30 (150) + Monday 07:30–09:00.
    /// A tracking code that is already taken (one in 2^40) inserts nothing and leaves the
    /// transaction usable: the intake draws another code and files the request with it.
    @Test func aTrackingCodeCollisionIsRetriedWithAFreshCode() async throws {
        try await WorkerTestDatabase.withPool { pool, _ in
            let now = jakarta("2026-12-22T08:00:00+07:00")
            let taken = try await Self.file(pool, service: "kk-baru", nik: "3673014501900001", now: now)
            let draws = Mutex(0)
            let colliding = IntakeStore(pool: pool, jurisdictionPrefix: "SRG") { prefix in
                let draw = draws.withLock { count -> Int in
                    count += 1
                    return count
                }
                return draw == 1 ? try TrackingCode(parsing: taken) : try TrackingCode.generate(prefix: prefix)
            }
            let fresh = try await Self.file(pool, service: "kk-baru", nik: "3673014501900002", now: now, intake: colliding)
            #expect(draws.withLock { $0 } == 2)
            #expect(fresh != taken)
            #expect(!fresh.isEmpty)
            let rows = try await pool.query(
                """
                SELECT r.tracking_code, r.citizen_nik, count(e.id) AS events
                FROM service_requests r LEFT JOIN request_events e ON e.request_id = r.id GROUP BY r.id ORDER BY r.id
                """)
            #expect(try rows.map { try $0.decode(String.self, "tracking_code") } == [taken, fresh])
            #expect(try rows.map { try $0.decode(String.self, "citizen_nik") } == ["3673014501900001", "3673014501900002"])
            #expect(try rows.map { try $0.decode(Int.self, "events") } == [1, 1])
        }
    }

    /// The scan reads only what is due: an ordered range scan of the next-SLA index that stops at
    /// the batch size, never a sort or a scan of the open backlog (docs/schema.md, bench/scan).
    @Test func theScanReadsTheDueRangeOfItsIndex() async throws {
        try await WorkerTestDatabase.withPool { pool, _ in
            try await pool.query(
                """
                INSERT INTO service_requests (tracking_code, service_type_id, unit_id, citizen_name, citizen_phone, access_token_hash,
                                              source, routing_reason, response_due_at, resolution_due_at, next_sla_at, next_sla_clock,
                                              next_sla_stage)
                SELECT 'SRG-PLAN-' || g, st.id, st.default_unit_id, 'Warga', '+6281234567890', sha256(g::text::bytea), 'web', 'test',
                       now() + interval '1 day', now() + interval '3 days', now() + g * interval '1 minute', 'response', 1
                FROM generate_series(1, 20000) g, service_types st WHERE st.code = 'kk-baru'
                """)
            try await pool.query("ANALYZE service_requests")
            let plan = try await pool.transaction { connection in
                try await connection.query("EXPLAIN " + SLAStore.dueBatch, Date().addingTimeInterval(3600), 500)
                    .map { try $0.decode(String.self, 0) }.joined(separator: "\n")
            }
            #expect(plan.contains("Index Scan using service_requests_next_sla_idx"), "\(plan)")
            #expect(!plan.contains("Sort") && !plan.contains("Seq Scan"), "\(plan)")
        }
    }

    @Test func aBreachMovesTheRequestUpTheTreeWhenThePolicySaysSo() async throws {
        try await WorkerTestDatabase.withPool { pool, _ in
            let clock = ManualClock(jakarta("2026-12-18T14:00:00+07:00"))
            let scanner = SLAScanner(store: SLAStore(pool: pool), catalog: CatalogCache(pool: pool), clock: clock)
            let code = try await Self.file(pool, service: "pengaduan-pelayanan", nik: "3673014501900001", now: clock.now())
            let unitBefore = try await pool.query(
                "SELECT u.code, p.code AS parent FROM service_requests r JOIN units u ON u.id = r.unit_id LEFT JOIN units p ON p.id = u.parent_id WHERE r.tracking_code = $1",
                code
            ).single()
            #expect(try await Self.nextSLA(pool, code).at == jakarta("2026-12-18T16:00:00+07:00"))
            clock.set(jakarta("2026-12-21T08:59:59+07:00"))
            #expect(try await scanner.runOnce().stages == ["warning": 2])
            clock.set(jakarta("2026-12-21T09:00:00+07:00"))
            let breach = try await scanner.runOnce()
            #expect(breach.stages == ["breach": 1])
            #expect(breach.moved == 1)
            let after = try await pool.query(
                "SELECT u.code, r.escalation_level, r.priority FROM service_requests r JOIN units u ON u.id = r.unit_id WHERE r.tracking_code = $1",
                code
            ).single()
            #expect(try after.decode(String.self, "code") == unitBefore.decode(String?.self, "parent"))
            #expect(try after.decode(Int.self, "escalation_level") == 1)
            #expect(try after.decode(Int.self, "priority") == 20)
            let event = try await pool.query(
                """
                SELECT e.kind, fu.code AS from_unit, tu.code AS to_unit FROM request_events e
                JOIN service_requests r ON r.id = e.request_id LEFT JOIN units fu ON fu.id = e.from_unit_id LEFT JOIN units tu ON tu.id = e.to_unit_id
                WHERE r.tracking_code = $1 AND e.actor_kind = 'system' ORDER BY e.id DESC LIMIT 1
                """, code
            ).single()
            #expect(try event.decode(String.self, "kind") == "sla_stage")
            #expect(try event.decode(String?.self, "from_unit") == unitBefore.decode(String.self, "code"))
            // The citizen's timeline shows the move, and only the move: the warnings stay internal.
            let visible = try await pool.query(
                """
                SELECT e.kind, e.to_unit_id FROM request_events e JOIN service_requests r ON r.id = e.request_id
                WHERE r.tracking_code = $1 AND e.is_public ORDER BY e.id
                """, code)
            #expect(try visible.map { try $0.decode(String.self, "kind") } == ["created", "sla_stage"])
            #expect(try visible.last?.decode(Int64?.self, "to_unit_id") != nil)
        }
    }

    /// The officer holding a request that a stage moves up the tree is told, though the move clears
    /// the holder (the notice was built from the request after the move, and went to nobody); and
    /// moves end at the agency (they went on into the secretariat above every agency).
    @Test func theHolderIsToldWhenAStageMovesTheRequestAway() async throws {
        try await WorkerTestDatabase.withPool { pool, _ in
            let clock = ManualClock(jakarta("2026-12-18T14:00:00+07:00"))
            let scanner = SLAScanner(store: SLAStore(pool: pool), catalog: CatalogCache(pool: pool), clock: clock)
            let code = try await Self.file(pool, service: "pengaduan-pelayanan", nik: "3673014501900001", now: clock.now())
            let member = try await pool.query(
                """
                INSERT INTO staff (nip, name, unit_id, role)
                SELECT '198501012010011999', 'Petugas Uji', unit_id, 'staff' FROM service_requests WHERE tracking_code = $1
                RETURNING id, unit_id
                """, code
            ).single()
            let officer = StaffMember(id: try member.decode(Int64.self, "id"), role: .staff, unitId: try member.decode(Int64.self, "unit_id"))
            let catalog = try await pool.withConnection { try await CatalogStore.load(on: $0, now: clock.now()) }
            _ = try await RequestStore(pool: pool).apply(.claim, by: .staff(officer), trackingCode: code, catalog: catalog, now: clock.now())
            var moved = 0
            for _ in 0..<10 where moved == 0 {
                guard let due = try await Self.nextSLA(pool, code).at else { break }
                clock.set(due)
                moved = try await scanner.runOnce().moved
            }
            #expect(moved == 1, "a resolution stage of pengaduan-pelayanan moves the request up")
            let told = try await pool.query(
                """
                SELECT count(*) AS n FROM notification_outbox o JOIN service_requests r ON r.id = o.request_id
                WHERE r.tracking_code = $1 AND o.recipient_staff_id = $2 AND o.topic = 'sla.breach'
                """, code, officer.id
            ).single()
            #expect(try told.decode(Int.self, "n") == 1)
            let holder = try await pool.query("SELECT assignee_id FROM service_requests WHERE tracking_code = $1", code).single()
            #expect(try holder.decode(Int64?.self, "assignee_id") == nil)
            // The later stages (repeats that move up too) leave it at the agency, never above it.
            for _ in 0..<6 {
                guard let due = try await Self.nextSLA(pool, code).at else { break }
                clock.set(due)
                _ = try await scanner.runOnce()
            }
            let unit = try await pool.query(
                "SELECT u.code, u.kind FROM service_requests r JOIN units u ON u.id = r.unit_id WHERE r.tracking_code = $1", code
            ).single()
            #expect(try unit.decode(String.self, "kind") == "agency")
            #expect(try unit.decode(String.self, "code") == "INSPEKTORAT")
        }
    }

    /// A policy changed while a request is open goes on from the last share of the target applied:
    /// it neither records a second breach nor skips one. (The count of applied stages was taken
    /// as a position in the new schedule: here it pointed at the new policy's 75 % warning, and
    /// its 100 % stage then recorded the breach again.)
    @Test func aPolicyChangedWhileARequestIsOpenNeitherRepeatsNorSkipsAShare() async throws {
        try await WorkerTestDatabase.withPool { pool, _ in
            // The breach alone: no warnings before it, no repeats after it.
            try await pool.query(
                "UPDATE service_types SET escalation_policy = $1::jsonb WHERE code = 'pengaduan-pelayanan'",
                #"{"stages": [{"percent": 100, "breach": true, "escalation_levels": 1}], "max_escalation_level": 3}"#)
            let clock = ManualClock(jakarta("2026-12-18T14:00:00+07:00"))
            let code = try await Self.file(pool, service: "pengaduan-pelayanan", nik: "3673014501900001", now: clock.now())
            clock.set(jakarta("2026-12-21T09:00:00+07:00"))
            let first = try await SLAScanner(store: SLAStore(pool: pool), catalog: CatalogCache(pool: pool), clock: clock).runOnce()
            #expect(first.stages == ["breach": 1])
            // Back to the default policy: warnings at 50 % and 75 %, the breach at 100 %, repeats.
            try await pool.query("UPDATE service_types SET escalation_policy = '{}' WHERE code = 'pengaduan-pelayanan'")
            let scanner = SLAScanner(store: SLAStore(pool: pool), catalog: CatalogCache(pool: pool), clock: clock)
            let second = try await scanner.runOnce()
            #expect(second.stages.isEmpty, "\(second.stages)")
            // The next stage is the first repeat, past the 100 % already applied.
            let next = try await Self.nextSLA(pool, code)
            #expect(next.clock == "response")
            #expect(next.stage == 2)
            clock.set(jakarta("2026-12-22T12:00:00+07:00"))
            let third = try await scanner.runOnce()
            #expect(third.stages["breach"] == nil, "\(third.stages)")
            let breaches = try await pool.query(
                """
                SELECT count(*) FILTER (WHERE breach) AS breaches, array_agg(percent ORDER BY stage) AS percents FROM sla_stage_log
                WHERE clock = 'response' AND request_id = (SELECT id FROM service_requests WHERE tracking_code = $1)
                """, code
            ).single()
            #expect(try breaches.decode(Int.self, "breaches") == 1)
            let percents = try breaches.decode([Int].self, "percents")
            #expect(percents.first == 100)
            #expect(percents.dropFirst().allSatisfy { $0 > 100 }, "\(percents)")
        }
    }

    /// A breach that moves the request up the tree passes over an inactive parent to the nearest
    /// active unit above it (or leaves the request where it is when there is none): an inactive
    /// unit's queue is not worked.
    @Test func aBreachPassesOverAnInactiveParentUnit() async throws {
        try await WorkerTestDatabase.withPool { pool, _ in
            let clock = ManualClock(jakarta("2026-12-18T14:00:00+07:00"))
            let code = try await Self.file(pool, service: "pengaduan-pelayanan", nik: "3673014501900001", now: clock.now())
            let tree = try await pool.query(
                """
                SELECT u.code, p.code AS parent, g.code AS grandparent FROM service_requests r JOIN units u ON u.id = r.unit_id
                JOIN units p ON p.id = u.parent_id LEFT JOIN units g ON g.id = p.parent_id WHERE r.tracking_code = $1
                """, code
            ).single()
            let parent = try tree.decode(String.self, "parent")
            try await pool.query("UPDATE units SET active = false WHERE code = $1", parent)
            let scanner = SLAScanner(store: SLAStore(pool: pool), catalog: CatalogCache(pool: pool), clock: clock)
            clock.set(jakarta("2026-12-21T09:00:00+07:00"))
            _ = try await scanner.runOnce()
            let after = try await pool.query(
                "SELECT u.code FROM service_requests r JOIN units u ON u.id = r.unit_id WHERE r.tracking_code = $1", code
            ).single().decode(String.self, "code")
            #expect(after != parent)
            #expect(after == (try tree.decode(String?.self, "grandparent") ?? tree.decode(String.self, "code")))
        }
    }

    /// A second calendar (round the clock, Asia/Makassar, UTC+8) on another service: stages
    /// follow wall-clock minutes there, on a Saturday.
    @Test func eachServiceFollowsItsOwnCalendar() async throws {
        try await WorkerTestDatabase.withPool { pool, _ in
            try await Self.useNonstopCalendar(forSKTM: pool)
            let clock = ManualClock(jakarta("2026-12-19T10:00:00+08:00"))
            let scanner = SLAScanner(store: SLAStore(pool: pool), catalog: CatalogCache(pool: pool), clock: clock)
            let sktm = try await Self.file(pool, service: "sktm", nik: "3673014501900001", now: clock.now())
            let kk = try await Self.file(pool, service: "kk-baru", nik: "3673015208850002", now: clock.now())
            #expect(try await Self.nextSLA(pool, sktm).at == jakarta("2026-12-19T12:00:00+08:00"))
            // The ASN calendar does not work on Saturday: kk-baru's first stage is Monday 09:30 WIB.
            #expect(try await Self.nextSLA(pool, kk).at == jakarta("2026-12-21T09:30:00+07:00"))
            // Four hours on: response 50 % (12:00), 75 % (13:00) and the breach (14:00), and the
            // resolution clock's 50 % of 450 minutes (13:45).
            clock.set(jakarta("2026-12-19T14:00:00+08:00"))
            #expect(try await scanner.runOnce().stages == ["warning": 3, "breach": 1])
            #expect(try await Self.stages(pool, sktm) == ["response:1:50", "response:2:75", "resolution:1:50", "response:3:100:breach"])
            #expect(try await Self.stages(pool, kk).isEmpty)
        }
    }

    /// Two workers on 10,000 due requests: every stage once, checked in the events table.
    @Test func twoWorkersApplyEveryStageExactlyOnce() async throws {
        try await WorkerTestDatabase.withPool(maxConnections: 2) { pool, configuration in
            let now = jakarta("2026-12-19T14:00:00+08:00")
            try await Self.insertDue(10_000, on: pool, now: now)
            let second = ConnectionPool(configuration: configuration, maxConnections: 2)
            let clock = ManualClock(now)
            let results = try await withThrowingTaskGroup(of: Int.self) { group in
                for workerPool in [pool, second] {
                    group.addTask {
                        let scanner = SLAScanner(store: SLAStore(pool: workerPool), catalog: CatalogCache(pool: workerPool), clock: clock, batchSize: 200)
                        var applied = 0
                        while true {
                            let result = try await scanner.runOnce()
                            applied += result.stagesApplied
                            if result.requests == 0 { return applied }
                        }
                    }
                }
                var counts: [Int] = []
                for try await count in group { counts.append(count) }
                return counts
            }
            await second.close()
            #expect(results.reduce(0, +) == 10_000)
            #expect(results.allSatisfy { $0 > 0 }, "both workers took part: \(results)")
            let audit = try await pool.query(
                """
                SELECT (SELECT count(*) FROM sla_stage_log) AS logged,
                       (SELECT count(*) FROM request_events WHERE kind = 'sla_stage') AS events,
                       (SELECT count(*) FROM (SELECT request_id, data->'stage'->>'clock', data->'stage'->>'number'
                                              FROM request_events WHERE kind = 'sla_stage' GROUP BY 1, 2, 3 HAVING count(*) > 1) d) AS doubled,
                       (SELECT count(*) FROM service_requests r WHERE NOT EXISTS (
                            SELECT 1 FROM request_events e WHERE e.request_id = r.id AND e.kind = 'sla_stage')) AS missed
                """
            ).single()
            #expect(try audit.decode(Int.self, "logged") == 10_000)
            #expect(try audit.decode(Int.self, "events") == 10_000)
            #expect(try audit.decode(Int.self, "doubled") == 0)
            #expect(try audit.decode(Int.self, "missed") == 0)
        }
    }

    /// `count` queued sktm requests on a round-the-clock calendar, each with exactly its response
    /// 50 % stage due at `now` (filed 130 minutes earlier; 75 % comes at 180).
    static func insertDue(_ count: Int, on pool: ConnectionPool, now: Date) async throws {
        try await useNonstopCalendar(forSKTM: pool)
        try await pool.withConnection { connection in
            try await connection.query(
                """
                INSERT INTO service_requests (tracking_code, service_type_id, unit_id, citizen_name, citizen_phone, access_token_hash,
                    source, routing_reason, response_due_at, resolution_due_at, next_sla_at, next_sla_clock, next_sla_stage, created_at, updated_at)
                SELECT 'SRG-D' || lpad(g::text, 6, '0'), st.id, st.default_unit_id, 'Warga ' || g, '+628123456789', sha256(g::text::bytea),
                       'web', 'test', $1::timestamptz + interval '110 minutes', $1::timestamptz + interval '320 minutes',
                       $1::timestamptz - interval '10 minutes', 'response', 1, $1::timestamptz - interval '130 minutes',
                       $1::timestamptz - interval '130 minutes'
                FROM generate_series(1, $2::int) g, service_types st WHERE st.code = 'sktm'
                """, now, count)
        }
    }

    /// A round-the-clock calendar in Asia/Makassar (UTC+8) for the sktm service.
    static func useNonstopCalendar(forSKTM pool: ConnectionPool) async throws {
        try await pool.withConnection { connection in
            try await connection.executeScript(
                """
                INSERT INTO calendars (code, name, time_zone, day_minutes) VALUES ('nonstop-wita', 'Layanan 24 jam (WITA)', 'Asia/Makassar', 1440);
                INSERT INTO calendar_intervals (calendar_id, weekday, start_minute, end_minute)
                SELECT c.id, d, 0, 1440 FROM calendars c, generate_series(1, 7) d WHERE c.code = 'nonstop-wita';
                UPDATE service_types SET calendar_id = (SELECT id FROM calendars WHERE code = 'nonstop-wita') WHERE code = 'sktm';
                """)
        }
    }

    static func officer(_ pool: ConnectionPool, unit: String) async throws -> StaffMember {
        let row = try await pool.query(
            "SELECT s.id, s.role, s.unit_id FROM staff s JOIN units u ON u.id = s.unit_id WHERE u.code = $1 AND s.role = 'staff' ORDER BY s.id LIMIT 1",
            unit
        ).single()
        return StaffMember(id: try row.decode(Int64.self, "id"), role: .staff, unitId: try row.decode(Int64.self, "unit_id"))
    }
}
