import Foundation
import Postgres
import Testing

@Suite("Migrations and schema v1")
struct MigratorTests {
    static var migrationsDirectory: URL { TestDatabase.repositoryRoot.appendingPathComponent("SQL/migrations") }
    static var seedDirectory: URL { TestDatabase.repositoryRoot.appendingPathComponent("SQL/seed") }

    @Test func freshApplyThenASecondApplyIsANoOp() async throws {
        let migrator = try Migrator(directory: Self.migrationsDirectory)
        #expect(!migrator.migrations.isEmpty)
        try await TestDatabase.withPool(maxConnections: 1) { pool, _ in
            try await pool.withConnection { connection in
                #expect(try await migrator.isCurrent(on: connection) == false)
                let first = try await migrator.apply(on: connection)
                #expect(first.map(\.version) == migrator.migrations.map(\.version))
                let second = try await migrator.apply(on: connection)
                #expect(second.isEmpty)
                #expect(try await migrator.isCurrent(on: connection))
                let statuses = try await migrator.status(on: connection)
                #expect(statuses.count == migrator.migrations.count)
                for status in statuses {
                    guard case .applied = status.state else {
                        Issue.record("\(status.name) is \(status.state)")
                        continue
                    }
                }
                let recorded = try await connection.query("SELECT checksum FROM schema_migrations ORDER BY version")
                #expect(try recorded.allSatisfy { try $0.decode(String.self, 0).count == 64 })
            }
        }
    }

    @Test func aChangedAppliedFileIsRefusedBeforeAnythingRuns() async throws {
        try await TestDatabase.withPool(maxConnections: 1) { pool, _ in
            let original = try Migrator(migrations: [
                Migration(version: 1, name: "units", sql: "CREATE TABLE units (id int PRIMARY KEY);"),
            ])
            let changed = try Migrator(migrations: [
                Migration(version: 1, name: "units", sql: "CREATE TABLE units (id bigint PRIMARY KEY);"),
                Migration(version: 2, name: "staff", sql: "CREATE TABLE staff (id int PRIMARY KEY);"),
            ])
            try await pool.withConnection { connection in
                try await original.apply(on: connection)
                let error = await #expect(throws: MigrationError.self) { try await changed.apply(on: connection) }
                guard case .changedAfterApply(let version, let name, _, _) = error else {
                    Issue.record("expected changedAfterApply, got \(String(describing: error))")
                    return
                }
                #expect(version == 1 && name == "units")
                #expect(error?.description.contains("forward-only") == true)
                // Nothing of the second migration ran.
                let staff = try await connection.query("SELECT to_regclass('staff') IS NULL AS missing").single()
                #expect(try staff.decode(Bool.self, "missing"))
                let statuses = try await changed.status(on: connection)
                guard case .changed = statuses[0].state, case .pending = statuses[1].state else {
                    Issue.record("unexpected statuses \(statuses)")
                    return
                }
            }
        }
    }

    /// Readiness: every migration of the build applied unchanged, newer ones tolerated (the old
    /// release serves on the new schema during a rollout), and never waiting for a migration that
    /// holds the lock (the probes held pool connections and failed for as long as it ran).
    @Test func readinessNeitherWaitsForTheLockNorRefusesANewerSchema() async throws {
        try await TestDatabase.withPool(maxConnections: 2) { pool, _ in
            let older = try Migrator(migrations: [Migration(version: 1, name: "a", sql: "CREATE TABLE a (id int);")])
            let newer = try Migrator(migrations: [
                Migration(version: 1, name: "a", sql: "CREATE TABLE a (id int);"),
                Migration(version: 2, name: "b", sql: "CREATE TABLE b (id int);"),
            ])
            let changed = try Migrator(migrations: [Migration(version: 1, name: "a", sql: "CREATE TABLE a (id bigint);")])
            try await pool.withConnection { connection in
                #expect(try await older.isSatisfied(on: connection) == false, "no schema_migrations yet")
                let created = try await connection.query("SELECT to_regclass('schema_migrations') IS NULL AS missing").single()
                #expect(try created.decode(Bool.self, "missing"), "readiness creates nothing")
                try await older.apply(on: connection)
                #expect(try await older.isSatisfied(on: connection))
                #expect(try await newer.isSatisfied(on: connection) == false, "version 2 pending")
                try await newer.apply(on: connection)
                #expect(try await older.isSatisfied(on: connection))
                #expect(try await older.isCurrent(on: connection) == false)
                #expect(try await changed.isSatisfied(on: connection) == false)
            }
            try await pool.withConnection { holder in
                try await holder.query("SELECT pg_advisory_lock($1)", Migrator.lockKey)
                let probe = Task {
                    try await pool.withConnection { try await older.isSatisfied(on: $0) }
                }
                let answered = try await withThrowingTaskGroup(of: Bool?.self) { group in
                    group.addTask { try await probe.value }
                    // Far longer than an answer takes even on a busy machine, far shorter than a wait
                    // for the lock (held until this test lets it go).
                    group.addTask { try await Task.sleep(for: .seconds(30)); return nil }
                    let first = try await group.next()!
                    group.cancelAll()
                    return first
                }
                try await holder.query("SELECT pg_advisory_unlock($1)", Migrator.lockKey)
                #expect(answered == true, "readiness waited for the migration lock")
            }
        }
    }

    @Test func aDatabaseAheadOfTheCodeIsRefused() async throws {
        try await TestDatabase.withPool(maxConnections: 1) { pool, _ in
            let newer = try Migrator(migrations: [
                Migration(version: 1, name: "a", sql: "CREATE TABLE a (id int);"),
                Migration(version: 2, name: "b", sql: "CREATE TABLE b (id int);"),
            ])
            let older = try Migrator(migrations: [Migration(version: 1, name: "a", sql: "CREATE TABLE a (id int);")])
            try await pool.withConnection { connection in
                try await newer.apply(on: connection)
                let error = await #expect(throws: MigrationError.self) { try await older.apply(on: connection) }
                guard case .unknownApplied(version: 2, name: "b") = error else {
                    Issue.record("expected unknownApplied, got \(String(describing: error))")
                    return
                }
            }
        }
    }

    @Test func aFailingMigrationRollsBackWholeAndIsNotRecorded() async throws {
        try await TestDatabase.withPool(maxConnections: 1) { pool, _ in
            let migrator = try Migrator(migrations: [
                Migration(version: 1, name: "ok", sql: "CREATE TABLE ok (id int);"),
                Migration(version: 2, name: "broken", sql: "CREATE TABLE half (id int); SELECT 1/0;"),
            ])
            try await pool.withConnection { connection in
                let error = await #expect(throws: MigrationError.self) { try await migrator.apply(on: connection) }
                guard case .failed(version: 2, name: "broken", let underlying) = error else {
                    Issue.record("expected failed, got \(String(describing: error))")
                    return
                }
                #expect((underlying as? PostgresError)?.sqlState == .divisionByZero)
                let state = try await connection.query(
                    "SELECT to_regclass('ok') IS NOT NULL AS ok, to_regclass('half') IS NULL AS rolled_back, (SELECT count(*) FROM schema_migrations) AS n"
                ).single()
                #expect(try state.decode(Bool.self, "ok"))
                #expect(try state.decode(Bool.self, "rolled_back"))
                #expect(try state.decode(Int.self, "n") == 1)
            }
        }
    }

    @Test func misnamedFilesAndDuplicateVersionsAreRefused() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("loket-migrations-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try "SELECT 1;".write(to: directory.appendingPathComponent("0001_first.sql"), atomically: true, encoding: .utf8)
        try "SELECT 1;".write(to: directory.appendingPathComponent("2_Second.sql"), atomically: true, encoding: .utf8)
        #expect(throws: MigrationError.self) { try Migrator(directory: directory) }
        #expect(throws: MigrationError.self) {
            try Migrator(migrations: [Migration(version: 1, name: "a", sql: ""), Migration(version: 1, name: "b", sql: "")])
        }
    }

    @Test func twoConcurrentMigratorsDoNotCollide() async throws {
        let migrator = try Migrator(directory: Self.migrationsDirectory)
        try await TestDatabase.withPool(maxConnections: 2) { pool, configuration in
            let applied = try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<2 {
                    group.addTask {
                        let connection = try await PostgresConnection.connect(configuration)
                        let applied = try await migrator.apply(on: connection)
                        await connection.close()
                        return applied.count
                    }
                }
                var counts: [Int] = []
                for try await count in group { counts.append(count) }
                return counts
            }
            // One process applied everything, the other waited on the lock and found nothing to do.
            #expect(applied.sorted() == [0, migrator.migrations.count])
            let rows = try await pool.query("SELECT count(*) AS n FROM schema_migrations").single()
            #expect(try rows.decode(Int.self, "n") == migrator.migrations.count)
        }
    }

    @Test func theSchemaGuardsStatusesAndTheAppendOnlyAuditTrail() async throws {
        let migrator = try Migrator(directory: Self.migrationsDirectory)
        try await TestDatabase.withPool(maxConnections: 1) { pool, _ in
            try await pool.withConnection { connection in
                try await migrator.apply(on: connection)
                try await loadSeed(on: connection)
                let insert = """
                    INSERT INTO service_requests (
                        tracking_code, service_type_id, unit_id, status, citizen_name, citizen_nik, citizen_phone,
                        area_code, description, access_token_hash, source, routing_reason, response_due_at, resolution_due_at)
                    SELECT $1, st.id, st.default_unit_id, $2, 'Siti Aminah', '3673014501900001', '+6281234567890',
                           '36.73.01', 'Kartu keluarga baru', sha256('token'::bytea), 'web', 'default unit',
                           now() + interval '1 day', now() + interval '3 days'
                    FROM service_types st ORDER BY st.id LIMIT 1
                    RETURNING id
                    """
                let invalid = await #expect(throws: PostgresError.self) {
                    try await connection.query(insert, "SRG-AAAA-BBBB", "lost_in_a_drawer")
                }
                #expect(invalid?.sqlState == .checkViolation)
                #expect(invalid?.constraint == "service_requests_status_check")

                let id = try await connection.query(insert, "SRG-CCCC-DDDD", "queued").single().decode(Int64.self, "id")
                try await connection.query(
                    "INSERT INTO request_events (request_id, actor_kind, kind, to_status, is_public) VALUES ($1, 'citizen', 'created', 'queued', true)",
                    id)
                let update = await #expect(throws: PostgresError.self) {
                    try await connection.query("UPDATE request_events SET message = $1 WHERE request_id = $2", "rewritten", id)
                }
                #expect(update?.sqlState == .restrictViolation)
                let delete = await #expect(throws: PostgresError.self) {
                    try await connection.query("DELETE FROM request_events WHERE request_id = $1", id)
                }
                #expect(delete?.sqlState == .restrictViolation)
                let truncate = await #expect(throws: PostgresError.self) {
                    try await connection.executeScript("TRUNCATE request_events")
                }
                #expect(truncate?.sqlState == .restrictViolation)
                let events = try await connection.query("SELECT count(*) AS n FROM request_events").single()
                #expect(try events.decode(Int.self, "n") == 1)

                // Every stage of a clock happens once: the key refuses a second row.
                try await connection.query(
                    "INSERT INTO sla_stage_log (request_id, clock, stage, percent, due_at, escalation_level_after) VALUES ($1, 'resolution', 1, 50, now(), 0)", id)
                let twice = await #expect(throws: PostgresError.self) {
                    try await connection.query(
                        "INSERT INTO sla_stage_log (request_id, clock, stage, percent, due_at, escalation_level_after) VALUES ($1, 'resolution', 1, 50, now(), 0)", id)
                }
                #expect(twice?.sqlState == .uniqueViolation)
            }
        }
    }

    /// The CHECK on escalation policies refuses what LoketCore cannot load: one such row, written
    /// by hand, made every catalog load, and so every request, fail.
    @Test func anEscalationPolicyTheCatalogCannotLoadIsRefused() async throws {
        let migrator = try Migrator(directory: Self.migrationsDirectory)
        try await TestDatabase.withPool(maxConnections: 1) { pool, _ in
            try await pool.withConnection { connection in
                try await migrator.apply(on: connection)
                try await loadSeed(on: connection)
                let update = "UPDATE service_types SET escalation_policy = $1::jsonb WHERE code = 'kk-baru'"
                for policy in [
                    #"{"stages": [{"percent": 50}], "max_escalation_level": 3}"#,
                    #"{"stages": [{"percent": 100, "breach": false}], "max_escalation_level": 3}"#,
                    #"{"stages": [{"percent": 75, "breach": true}, {"percent": 100}], "max_escalation_level": 3}"#,
                    #"{"stages": [{"percent": 100}], "max_escalation_level": 11}"#,
                    #"{"stages": [{"percent": 100}], "max_escalation_level": 3, "repeat_every_percent": 50, "repeat": {"escalation_levels": 0}}"#,
                ] {
                    let refused = await #expect(throws: PostgresError.self, "\(policy)") { try await connection.query(update, policy) }
                    #expect(refused?.constraint == "service_types_escalation_policy_shape", "\(policy)")
                }
                for policy in [
                    "{}",
                    #"{"stages": [{"percent": 50}, {"percent": 100}], "max_escalation_level": 10}"#,
                    #"{"stages": [{"percent": 100, "breach": true}], "max_escalation_level": 0, "repeat_every_percent": 50, "repeat": {}}"#,
                ] {
                    try await connection.query(update, policy)
                }
            }
        }
    }

    /// Two re-parentings at once (A under B, B under A) must not make a cycle together: each used
    /// to walk the ancestors in its own snapshot, both saw the old tree, and both passed.
    @Test func twoReparentingsAtOnceCannotMakeAUnitCycle() async throws {
        let migrator = try Migrator(directory: Self.migrationsDirectory)
        try await TestDatabase.withPool(maxConnections: 2) { pool, _ in
            _ = try await pool.withConnection { try await migrator.apply(on: $0) }
            try await pool.query(
                """
                INSERT INTO units (code, name, kind) VALUES ('TOP', 'Top', 'agency');
                """)
            try await pool.query(
                """
                INSERT INTO units (code, name, kind, parent_id)
                SELECT c, c, 'division', (SELECT id FROM units WHERE code = 'TOP') FROM unnest(ARRAY['A', 'B']) AS c
                """)
            let reparent = "UPDATE units SET parent_id = (SELECT id FROM units WHERE code = $1) WHERE code = $2"

            // READ COMMITTED: the second waits for the first, then sees its change.
            let racing = try await pool.withConnection { first in
                try await first.transaction { first in
                    try await first.query(reparent, "B", "A")
                    let racing = Task {
                        do {
                            try await pool.query(reparent, "A", "B")
                            return Result<Void, PostgresError>.success(())
                        } catch let error as PostgresError {
                            return .failure(error)
                        }
                    }
                    // Commit once the other is seen waiting for a lock (or after 5 s: without
                    // the lock it does not wait, and the check below fails).
                    for _ in 0..<500 {
                        let waiting = try await first.query(
                            """
                            SELECT count(*) AS n FROM pg_locks
                            WHERE NOT granted AND pg_backend_pid() = ANY (pg_blocking_pids(pid))
                            """).single().decode(Int.self, "n")
                        if waiting > 0 { break }
                        try await Task.sleep(for: .milliseconds(10))
                    }
                    return racing
                }
            }
            switch try await racing.value {
            case .failure(let refused): #expect(refused.constraint == "units_no_cycle")
            case .success: Issue.record("the second re-parenting passed and made a cycle")
            }

            // REPEATABLE READ: a snapshot older than the first change cannot pass either.
            try await pool.query(reparent, "TOP", "A")
            try await pool.query(reparent, "TOP", "B")
            let stale = await #expect(throws: PostgresError.self) {
                try await pool.withConnection { second in
                    try await second.transaction(isolation: .repeatableRead) { second in
                        _ = try await second.query("SELECT count(*) FROM units")
                        try await pool.query(reparent, "B", "A")
                        try await second.query(reparent, "A", "B")
                    }
                }
            }
            #expect(stale?.sqlState == .serializationFailure)

            let cycles = try await pool.query(
                """
                WITH RECURSIVE up (start, id, depth) AS (
                    SELECT id, parent_id, 1 FROM units WHERE parent_id IS NOT NULL
                    UNION ALL
                    SELECT up.start, u.parent_id, up.depth + 1 FROM up JOIN units u ON u.id = up.id
                    WHERE u.parent_id IS NOT NULL AND up.depth < 10
                )
                SELECT count(*) AS n FROM up WHERE id = start
                """).single().decode(Int.self, "n")
            #expect(cycles == 0)
        }
    }

    @Test func theSeedIsIdempotentAndComplete() async throws {
        let migrator = try Migrator(directory: Self.migrationsDirectory)
        try await TestDatabase.withPool(maxConnections: 1) { pool, _ in
            try await pool.withConnection { connection in
                try await migrator.apply(on: connection)
                try await loadSeed(on: connection)
                let counts = """
                    SELECT (SELECT count(*) FROM units) AS units, (SELECT count(*) FROM service_types) AS services,
                           (SELECT count(*) FROM areas WHERE level = 'district') AS kecamatan,
                           (SELECT count(*) FROM holidays) AS holidays, (SELECT count(*) FROM staff) AS staff,
                           (SELECT count(*) FROM units WHERE is_triage) AS triage
                    """
                let first = try await connection.query(counts).single()
                try await loadSeed(on: connection)
                let second = try await connection.query(counts).single()
                for column in ["units", "services", "kecamatan", "holidays", "staff", "triage"] {
                    #expect(try first.decode(Int.self, column) == second.decode(Int.self, column), "\(column) changed on reseed")
                }
                #expect(try first.decode(Int.self, "services") >= 12)
                #expect(try first.decode(Int.self, "kecamatan") == 6)
                #expect(try first.decode(Int.self, "triage") == 1)
                // Every 2026 national holiday and joint-leave day of the reference (17 + 8).
                let y2026 = try await connection.query(
                    "SELECT count(*) AS n FROM holidays WHERE day BETWEEN $1 AND $2",
                    PostgresLocalDate(year: 2026, month: 1, day: 1), PostgresLocalDate(year: 2026, month: 12, day: 31)
                ).single()
                #expect(try y2026.decode(Int.self, "n") == 25)
            }
        }
    }

    @Test func everyTableIsDocumented() async throws {
        let migrator = try Migrator(directory: Self.migrationsDirectory)
        try await TestDatabase.withPool(maxConnections: 1) { pool, _ in
            try await pool.withConnection { connection in
                try await migrator.apply(on: connection)
                let undocumented = try await connection.query(
                    """
                    SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                    WHERE n.nspname = current_schema() AND c.relkind = 'r' AND obj_description(c.oid, 'pg_class') IS NULL
                    """
                ).map { try $0.decode(String.self, 0) }
                #expect(undocumented.isEmpty, "tables without COMMENT: \(undocumented)")
            }
        }
    }

    private func loadSeed(on connection: PostgresConnection) async throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: Self.seedDirectory.path).filter { $0.hasSuffix(".sql") }.sorted()
        for file in files {
            let sql = try String(contentsOf: Self.seedDirectory.appendingPathComponent(file), encoding: .utf8)
            try await connection.transaction { try await $0.executeScript(sql) }
        }
    }
}
