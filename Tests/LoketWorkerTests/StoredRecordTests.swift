import Foundation
import LoketCore
import LoketStore
import Postgres
import Testing

/// A change writes the request's row without reading it back (the UPDATE is queued with the rest
/// of the change), and answers with the row as it knows the UPDATE leaves it. What it answers must
/// be what is stored, to the microsecond, whatever the command; and the SLA stages a claim reads
/// with its pick must be those committed before its lock.
@Suite("Changes answer the row they store")
struct StoredRecordTests {
    /// Instants with a fraction finer than a microsecond, as `Date()` gives them.
    static func at(_ text: String, _ fraction: Double = 0.123_456_789) -> Date {
        jakarta(text).addingTimeInterval(fraction)
    }

    static func stored(_ pool: ConnectionPool, _ code: String) async throws -> RequestRecord {
        try #require(try await RequestStore(pool: pool).find(trackingCode: code))
    }

    @Test func everyCommandAnswersTheRowItStored() async throws {
        try await WorkerTestDatabase.withPool { pool, _ in
            let filedAt = Self.at("2026-12-07T08:00:00+07:00")
            let code = try await SLAScannerTests.file(pool, service: "kk-baru", nik: "3673014501900001", now: filedAt)
            let other = try await SLAScannerTests.file(pool, service: "kk-baru", nik: "3673014501900002", now: filedAt)
            let requests = RequestStore(pool: pool)
            let work = StaffWorkStore(pool: pool)
            // Seksi Identitas Penduduk: an officer, a colleague and their supervisor; and an officer
            // of Seksi Pindah Datang Penduduk, where a transfer sends the request.
            let officer = try #require(try await work.member(nip: "199001142015032002"))
            let colleague = try #require(try await work.member(nip: "199411282019081001"))
            let supervisor = try #require(try await work.member(nip: "198203012006041007"))
            let pdpOfficer = try #require(try await work.member(nip: "199503222020011003"))
            let catalog = try await pool.withConnection { try await CatalogStore.load(on: $0, now: filedAt) }
            var seen: [String] = []
            func check(_ answered: RequestRecord?, _ step: String, sourceLocation: SourceLocation = #_sourceLocation) async throws {
                let answered = try #require(answered, "\(step)", sourceLocation: sourceLocation)
                #expect(answered == (try await Self.stored(pool, answered.trackingCode)), "\(step)", sourceLocation: sourceLocation)
                seen.append(step)
            }
            func apply(_ command: RequestCommand, by member: StaffMember?, on target: String = code, _ time: String) async throws
                -> RequestRecord
            {
                try await requests.apply(
                    command, by: member.map { .staff($0) } ?? .citizen, trackingCode: target, catalog: catalog, now: Self.at(time))
            }

            // Claim-next takes the older filing, with the stages it read with its pick: kk-baru's
            // response warning (half of its 240 minutes) fell due at 10:00 and is applied first.
            let claimed = try await work.claimNext(
                units: [officer.unitId], by: officer, catalog: catalog, now: Self.at("2026-12-07T10:30:00+07:00"))
            #expect(claimed?.trackingCode == code)
            try await check(claimed, "claim next")
            try await check(try await apply(.askCitizen(question: "Mohon unggah akta nikah."), by: officer, "2026-12-07T11:00:00+07:00"), "ask")
            try await check(try await apply(.claim, by: colleague, on: other, "2026-12-07T11:10:00+07:00"), "claim")
            try await check(
                try await apply(.resolve(publicMessage: "KK dapat diambil.", outcome: "KK terbit."), by: colleague, on: other,
                                "2026-12-07T11:30:00+07:00"),
                "resolve")
            try await check(try await apply(.citizenReply(message: "Sudah."), by: nil, "2026-12-08T09:00:00+07:00"), "reply")
            try await check(try await apply(.release(reason: "Cuti."), by: officer, "2026-12-08T09:30:00+07:00"), "release")
            try await check(try await apply(.assign(to: colleague), by: supervisor, "2026-12-08T10:00:00+07:00"), "assign")
            try await check(
                try await apply(.transfer(to: pdpOfficer.unitId, reason: "Pindah datang."), by: colleague, "2026-12-08T10:30:00+07:00"),
                "transfer")
            // A lapsed lease, returned to the queue by the rescuer's query, then a rejection.
            try await check(try await apply(.claim, by: pdpOfficer, "2026-12-09T08:00:00+07:00"), "claim in the new unit")
            let expired = try await work.expireLeases(catalog: catalog, now: Self.at("2026-12-10T08:00:00+07:00"))
            #expect(expired == [code])
            let afterExpiry = try await Self.stored(pool, code)
            #expect(afterExpiry.status == .queued && afterExpiry.assigneeID == nil)
            try await check(try await apply(.claim, by: pdpOfficer, "2026-12-10T08:30:00+07:00"), "claim after the lease lapsed")
            try await check(try await apply(.reject(reason: "Berkas tidak lengkap."), by: pdpOfficer, "2026-12-10T09:00:00+07:00"), "reject")
            #expect(seen.count == 11, "\(seen)")
        }
    }

    /// A claim-next over several units (the `= ANY` pick) of a request with three stages due: the
    /// warnings at 50 and 75 % and the breach at 100 % of the response target are applied one
    /// after the other, each writing from the record the one before built, and then the claim.
    @Test func aClaimAfterSeveralDueStagesAnswersTheRowItStored() async throws {
        try await WorkerTestDatabase.withPool { pool, _ in
            let filedAt = Self.at("2026-12-07T08:00:00+07:00")
            let code = try await SLAScannerTests.file(pool, service: "kk-baru", nik: "3673014501900001", now: filedAt)
            let work = StaffWorkStore(pool: pool)
            let officer = try #require(try await work.member(nip: "199001142015032002"))
            let pdp = try #require(try await work.member(nip: "199503222020011003"))
            let catalog = try await pool.withConnection { try await CatalogStore.load(on: $0, now: filedAt) }
            // 240 working minutes from 08:00: 100 % at 12:00, the repeat at 150 % (a move up the
            // tree) not before 15:00.
            let claimed = try #require(try await work.claimNext(
                units: [officer.unitId, pdp.unitId], by: officer, catalog: catalog, now: Self.at("2026-12-07T14:00:00+07:00")))
            #expect(claimed.trackingCode == code)
            #expect(claimed.escalationLevel == 1)
            #expect(claimed == (try await Self.stored(pool, code)))
            let stages = try await pool.query(
                "SELECT count(*) AS n FROM sla_stage_log WHERE request_id = $1", claimed.id
            ).single().decode(Int.self, "n")
            #expect(stages == 3)
            #expect(claimed.version == 1 + 3 + 1)  // filed, three stages, the claim
        }
    }

    /// A stage applied by a worker that committed after the claim's statement began (while the
    /// claim waited for the row, or just before it reached it) is counted: `sla_stages_applied`
    /// reads with a snapshot of its own, taken once the pick's subquery holds the lock. A subquery
    /// of the same statement reads with the statement's snapshot and misses it, which is why the
    /// function exists.
    @Test func appliedStagesAreReadAfterTheLockIsHeld() async throws {
        try await WorkerTestDatabase.withPool { pool, _ in
            let filedAt = jakarta("2026-12-07T08:00:00+07:00")
            let code = try await SLAScannerTests.file(pool, service: "kk-baru", nik: "3673014501900001", now: filedAt)
            let id = try await pool.query("SELECT id FROM service_requests WHERE tracking_code = $1", code).single().decode(Int64.self, "id")
            var reader: Task<PostgresRow, any Error>?
            // The worker: holds the row, applies a stage, and commits only once the claim waits.
            try await pool.transaction { worker in
                try await worker.query("SELECT id FROM service_requests WHERE id = $1 FOR UPDATE", id)
                try await worker.query(
                    """
                    INSERT INTO sla_stage_log (request_id, clock, stage, percent, due_at, applied_at, breach, escalation_level_after)
                    VALUES ($1, 'response', 1, 50, $2, $2, false, 0)
                    """, id, filedAt.addingTimeInterval(7200))
                reader = Task {
                    try await pool.query(
                        """
                        SELECT sla_stages_applied(id) AS fresh, (SELECT count(*) FROM sla_stage_log l WHERE l.request_id = r.id) AS stale
                        FROM service_requests r WHERE id = (SELECT id FROM service_requests WHERE id = $1 FOR UPDATE)
                        """, id
                    ).single()
                }
                var waiting = false
                for _ in 0..<3000 where !waiting {
                    waiting = try await pool.query(
                        "SELECT count(*) AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
                    ).single().decode(Int.self, "n") == 1
                    if !waiting { try await Task.sleep(for: .milliseconds(10)) }
                }
                #expect(waiting)
            }
            let row = try await #require(reader).value
            #expect(try row.decode([Int].self, "fresh") == [1, 50, 0, 0])
            #expect(try row.decode(Int.self, "stale") == 0)
        }
    }

    /// Claim-next reaches its answer's reads in two round trips (BEGIN with the lease probe, then
    /// the pick with its stages); the UPDATE and the audit event travel with those reads and COMMIT.
    /// A command on a named request in one (BEGIN, the locked row and its stages). Counted on a
    /// connection that has prepared the statements already (the second claim and resolve).
    @Test func claimAndResolveReachTheirReadsInFewRoundTrips() async throws {
        try await WorkerTestDatabase.withPool(maxConnections: 1) { pool, _ in
            let filedAt = jakarta("2026-12-07T08:00:00+07:00")
            for nik in ["3673014501900001", "3673014501900002"] {
                _ = try await SLAScannerTests.file(pool, service: "kk-baru", nik: nik, now: filedAt)
            }
            let officer = try await SLAScannerTests.officer(pool, unit: "DISDUKCAPIL-IDP")
            let catalog = try await pool.withConnection { try await CatalogStore.load(on: $0, now: filedAt) }
            let start = jakarta("2026-12-07T09:00:00+07:00")
            var counted: [(claim: Int, resolve: Int)] = []
            for _ in 0..<2 {
                let before = try await pool.withConnection { $0.roundTrips }
                let claim = try #require(try await StaffWorkStore(pool: pool).claimNext(
                    units: [officer.unitId], by: officer, catalog: catalog, now: start,
                    then: { record, connection in (record, connection.roundTrips) }))
                let beforeResolve = try await pool.withConnection { $0.roundTrips }
                let resolved = try await RequestStore(pool: pool).apply(
                    .resolve(publicMessage: "Selesai.", outcome: nil), by: .staff(officer), trackingCode: claim.0.trackingCode,
                    catalog: catalog, now: start.addingTimeInterval(600),
                    then: { record, connection in (record, connection.roundTrips) })
                #expect(resolved.0 == (try await Self.stored(pool, claim.0.trackingCode)))
                counted.append((claim.1 - before, resolved.1 - beforeResolve))
            }
            #expect(counted[1].claim == 2)
            #expect(counted[1].resolve == 1)
        }
    }
}
