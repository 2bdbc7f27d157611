import Foundation
import Postgres
import Testing

@Suite("SQLSTATE errors and transactions")
struct ErrorAndTransactionTests {
    /// A unique key checked at COMMIT, for COMMITs that fail.
    private static let pairs = """
        CREATE TABLE pairs (n int NOT NULL CONSTRAINT pairs_n_key UNIQUE DEFERRABLE INITIALLY DEFERRED);
        """

    private static let schema = """
        CREATE TABLE units (id bigint PRIMARY KEY, code text NOT NULL CONSTRAINT units_code_key UNIQUE);
        CREATE TABLE requests (
            id bigint PRIMARY KEY,
            unit_id bigint NOT NULL CONSTRAINT requests_unit_fkey REFERENCES units(id),
            status text NOT NULL CONSTRAINT requests_status_check CHECK (status IN ('queued', 'completed')));
        INSERT INTO units VALUES (1, 'DISDUKCAPIL');
        """

    @Test func sqlStatesAreMappedWithTheirDetails() async throws {
        try await TestDatabase.withPool { pool, _ in
            try await pool.withConnection { try await $0.executeScript(Self.schema) }

            let unique = await #expect(throws: PostgresError.self) {
                try await pool.query("INSERT INTO units VALUES ($1, $2)", 2, "DISDUKCAPIL")
            }
            #expect(unique?.sqlState == .uniqueViolation)
            #expect(unique?.constraint == "units_code_key")
            #expect(unique?.table == "units")
            #expect(unique?.detail?.contains("DISDUKCAPIL") == true)
            #expect(unique?.sqlState.isIntegrityViolation == true)

            let foreignKey = await #expect(throws: PostgresError.self) {
                try await pool.query("INSERT INTO requests VALUES ($1, $2, $3)", 1, 99, "queued")
            }
            #expect(foreignKey?.sqlState == .foreignKeyViolation)
            #expect(foreignKey?.constraint == "requests_unit_fkey")

            let check = await #expect(throws: PostgresError.self) {
                try await pool.query("INSERT INTO requests VALUES ($1, $2, $3)", 1, 1, "bogus")
            }
            #expect(check?.sqlState == .checkViolation)
            #expect(check?.constraint == "requests_status_check")

            let notNull = await #expect(throws: PostgresError.self) {
                try await pool.query("INSERT INTO requests VALUES ($1, $2, $3)", 1, 1, String?.none)
            }
            #expect(notNull?.sqlState == .notNullViolation)
            #expect(notNull?.column == "status")

            let division = await #expect(throws: PostgresError.self) {
                try await pool.query("SELECT $1::int / $2::int", 1, 0)
            }
            #expect(division?.sqlState == .divisionByZero)
            #expect(division?.message == "division by zero")

            let syntax = await #expect(throws: PostgresError.self) { try await pool.query("SELEC 1") }
            #expect(syntax?.sqlState == .syntaxError)
            #expect(syntax?.position == 1)

            // After all those failures the pool still serves.
            #expect(try await pool.query("SELECT count(*) AS n FROM units").single().decode(Int.self, "n") == 1)
        }
    }

    struct Abort: Error {}

    @Test func aThrowingBodyRollsBack() async throws {
        try await TestDatabase.withPool(maxConnections: 1) { pool, _ in
            try await pool.withConnection { try await $0.executeScript(Self.schema) }
            await #expect(throws: Abort.self) {
                try await pool.transaction { connection in
                    try await connection.query("INSERT INTO units VALUES ($1, $2)", 2, "DPMPTSP")
                    throw Abort()
                }
            }
            // A statement error inside the transaction also rolls back everything before it.
            await #expect(throws: PostgresError.self) {
                try await pool.transaction { connection in
                    try await connection.query("INSERT INTO units VALUES ($1, $2)", 3, "BKPSDM")
                    try await connection.query("INSERT INTO units VALUES ($1, $2)", 4, "BKPSDM")
                }
            }
            let codes = try await pool.query("SELECT code FROM units ORDER BY id").map { try $0.decode(String.self, "code") }
            #expect(codes == ["DISDUKCAPIL"])
            let committed = try await pool.transaction(isolation: .repeatableRead) { connection in
                try await connection.query("INSERT INTO units VALUES ($1, $2) RETURNING id", 5, "DINSOS").single().decode(Int.self, "id")
            }
            #expect(committed == 5)
            #expect(try await pool.query("SELECT count(*) AS n FROM units").single().decode(Int.self, "n") == 2)
            #expect(pool.metrics.replaced == 0)
        }
    }

    @Test func readOnlyTransactionsRefuseWrites() async throws {
        try await TestDatabase.withPool { pool, _ in
            try await pool.withConnection { try await $0.executeScript(Self.schema) }
            let error = await #expect(throws: PostgresError.self) {
                try await pool.transaction(readOnly: true) { try await $0.query("DELETE FROM units") }
            }
            #expect(error?.sqlState == .readOnlySQLTransaction)
        }
    }

    /// Write skew under SERIALIZABLE: the body reads the table, a concurrent transaction reads and
    /// inserts and commits, then the body inserts. PostgreSQL aborts the body with 40001; the retry
    /// helper runs it again and the second attempt commits.
    @Test func serializationFailuresAreRetried() async throws {
        try await TestDatabase.withPool(maxConnections: 2) { pool, configuration in
            try await pool.query("CREATE TABLE duty (officer text NOT NULL, on_call boolean NOT NULL)")
            let other = try await PostgresConnection.connect(configuration)
            let attempts = Counter()
            let retry = TransactionRetry(maxAttempts: 3)
            try await pool.transaction(isolation: .serializable, retry: retry) { connection in
                let attempt = attempts.increment()
                _ = try await connection.query("SELECT count(*) FROM duty WHERE on_call")
                if attempt == 1 {
                    try await other.transaction(isolation: .serializable) { other in
                        _ = try await other.query("SELECT count(*) FROM duty WHERE on_call")
                        try await other.query("INSERT INTO duty VALUES ($1, true)", "budi")
                    }
                }
                try await connection.query("INSERT INTO duty VALUES ($1, true)", "siti")
            }
            await other.close()
            #expect(attempts.value == 2)
            let officers = try await pool.query("SELECT officer FROM duty ORDER BY officer").map { try $0.decode(String.self, 0) }
            #expect(officers == ["budi", "siti"])

            // Without retry the same collision surfaces as a typed serialization failure.
            let second = try await PostgresConnection.connect(configuration)
            let error = await #expect(throws: PostgresError.self) {
                try await pool.transaction(isolation: .serializable) { connection in
                    _ = try await connection.query("SELECT count(*) FROM duty WHERE on_call")
                    try await second.transaction(isolation: .serializable) { other in
                        _ = try await other.query("SELECT count(*) FROM duty WHERE on_call")
                        try await other.query("INSERT INTO duty VALUES ($1, true)", "eko")
                    }
                    try await connection.query("INSERT INTO duty VALUES ($1, true)", "dewi")
                }
            }
            await second.close()
            #expect(error?.sqlState == .serializationFailure)
            #expect(error?.sqlState.isTransientTransactionFailure == true)
        }
    }

    /// Queued statements travel with the next statement that needs an answer, and BEGIN with the
    /// first: a transaction of three queued inserts, a read and COMMIT is two round trips, and the
    /// read sees the inserts.
    @Test func queuedStatementsShareOneRoundTripWithTheNextQuery() async throws {
        try await TestDatabase.withPool(maxConnections: 1) { pool, _ in
            try await pool.withConnection { try await $0.executeScript(Self.schema) }
            // Prepare the statements once, so the count below is about round trips alone.
            for _ in 0..<2 {
                try await pool.withConnection { connection in
                    try await connection.query("INSERT INTO units VALUES ($1, $2)", 90, "WARM")
                    try await connection.query("SELECT count(*) AS n FROM units WHERE id > $1", 1)
                    try await connection.query("DELETE FROM units WHERE id = $1", 90)
                }
            }
            let (seen, trips) = try await pool.transaction { connection in
                let before = connection.roundTrips
                try await connection.queue("INSERT INTO units VALUES ($1, $2)", 2, "DPMPTSP")
                try await connection.queue("INSERT INTO units VALUES ($1, $2)", 3, "BKPSDM")
                try await connection.queue("INSERT INTO units VALUES ($1, $2)", 4, "DINSOS")
                let seen = try await connection.query("SELECT count(*) AS n FROM units WHERE id > $1", 1).single().decode(Int.self, "n")
                return (seen, connection.roundTrips - before)
            }
            #expect(seen == 3)
            #expect(trips == 1)
            #expect(try await pool.query("SELECT count(*) AS n FROM units").single().decode(Int.self, "n") == 4)
            // COMMIT carries what is still queued.
            let commitTrips = try await pool.withConnection { connection in
                let before = connection.roundTrips
                try await connection.transaction { connection in
                    try await connection.queue("INSERT INTO units VALUES ($1, $2)", 5, "DINKES")
                }
                return connection.roundTrips - before
            }
            #expect(commitTrips == 1)
            #expect(try await pool.query("SELECT count(*) AS n FROM units WHERE id = 5").single().decode(Int.self, "n") == 1)
            // Outside a transaction a queued statement runs at once.
            try await pool.withConnection { connection in
                try await connection.queue("INSERT INTO units VALUES ($1, $2)", 6, "DISPORA")
            }
            #expect(try await pool.query("SELECT count(*) AS n FROM units WHERE id = 6").single().decode(Int.self, "n") == 1)
            #expect(pool.metrics.replaced == 0)
        }
    }

    /// A batch returns each statement's rows in order, in one round trip together with what is
    /// queued ahead of it. Outside a transaction the batch is one implicit transaction: a failing
    /// statement undoes the ones before it, its own error is thrown, and the connection is clean.
    @Test func aBatchAnswersEveryStatementInOneRoundTrip() async throws {
        try await TestDatabase.withPool(maxConnections: 1) { pool, _ in
            try await pool.withConnection { try await $0.executeScript(Self.schema) }
            let (answers, trips) = try await pool.transaction { connection in
                try await connection.queue("INSERT INTO units VALUES ($1, $2)", 2, "DPMPTSP")
                let before = connection.roundTrips
                let answers = try await connection.query(batch: [
                    PostgresStatement("SELECT code FROM units WHERE id >= $1 ORDER BY id", 1),
                    PostgresStatement("SELECT count(*) AS n FROM units WHERE code = $1", "nobody"),
                    PostgresStatement("INSERT INTO units VALUES ($1, $2) RETURNING id", 3, "BKPSDM"),
                ])
                return (answers, connection.roundTrips - before)
            }
            #expect(trips == 1)
            #expect(answers.count == 3)
            #expect(try answers[0].map { try $0.decode(String.self, "code") } == ["DISDUKCAPIL", "DPMPTSP"])
            #expect(try answers[1].single().decode(Int.self, "n") == 0)
            #expect(try answers[2].single().decode(Int64.self, "id") == 3)
            #expect(try await pool.query("SELECT count(*) AS n FROM units").single().decode(Int.self, "n") == 3)

            let failure = try await pool.withConnection { connection async throws -> PostgresError? in
                let error = await #expect(throws: PostgresError.self) {
                    try await connection.query(batch: [
                        PostgresStatement("INSERT INTO units VALUES ($1, $2)", 4, "DINSOS"),
                        PostgresStatement("INSERT INTO units VALUES ($1, $2)", 5, "DPMPTSP"),
                        PostgresStatement("SELECT count(*) AS n FROM units"),
                    ])
                }
                // An empty batch sends nothing.
                let before = connection.roundTrips
                #expect(try await connection.query(batch: []).isEmpty)
                #expect(connection.roundTrips == before)
                #expect(try await connection.query("SELECT count(*) AS n FROM units").single().decode(Int.self, "n") == 3)
                return error
            }
            #expect(failure?.sqlState == .uniqueViolation)
            #expect(try await pool.query("SELECT count(*) AS n FROM units WHERE id = 4").single().decode(Int.self, "n") == 0)
            #expect(pool.metrics.replaced == 0)
        }
    }

    /// A queued statement that fails fails its transaction where it is sent (here at COMMIT, which
    /// then commits nothing); the error is the statement's own, and the connection is clean after.
    @Test func aFailingQueuedStatementFailsItsTransactionAndNothingCommits() async throws {
        try await TestDatabase.withPool(maxConnections: 1) { pool, _ in
            try await pool.withConnection { try await $0.executeScript(Self.schema) }
            let atCommit = await #expect(throws: PostgresError.self) {
                try await pool.transaction { connection in
                    try await connection.queue("INSERT INTO units VALUES ($1, $2)", 2, "DPMPTSP")
                    try await connection.queue("INSERT INTO units VALUES ($1, $2)", 3, "DISDUKCAPIL")
                    try await connection.queue("INSERT INTO units VALUES ($1, $2)", 4, "DINSOS")
                }
            }
            #expect(atCommit?.sqlState == .uniqueViolation)
            #expect(atCommit?.constraint == "units_code_key")
            let atQuery = await #expect(throws: PostgresError.self) {
                try await pool.transaction { connection in
                    try await connection.queue("INSERT INTO requests VALUES ($1, $2, $3)", 1, 99, "queued")
                    _ = try await connection.query("SELECT count(*) AS n FROM units")
                    Issue.record("the query after a failing queued statement must throw")
                }
            }
            #expect(atQuery?.sqlState == .foreignKeyViolation)
            // A body that throws before sending anything sends nothing, not even BEGIN.
            await #expect(throws: Abort.self) {
                try await pool.transaction { connection in
                    try await connection.queue("INSERT INTO units VALUES ($1, $2)", 7, "DINKES")
                    throw Abort()
                }
            }
            #expect(try await pool.query("SELECT code FROM units ORDER BY id").map { try $0.decode(String.self, "code") } == ["DISDUKCAPIL"])
            #expect(pool.metrics.replaced == 0)
        }
    }

    /// The reads that end a transaction body carry COMMIT: queued writes, the reads and COMMIT
    /// are one round trip, the reads see the writes, and `transaction` sends no COMMIT after them.
    /// A COMMIT that fails (a deferred constraint) throws and writes nothing; a failing read
    /// rolls back; the connection is clean after each.
    @Test func readsThatEndATransactionCarryItsCommit() async throws {
        try await TestDatabase.withPool(maxConnections: 1) { pool, _ in
            try await pool.withConnection { connection in
                try await connection.executeScript(Self.schema + Self.pairs)
            }
            // Prepare the statements once, so the count below is about round trips alone.
            try await pool.transaction { connection in
                try await connection.queue("INSERT INTO units VALUES ($1, $2)", 90, "WARM")
                _ = try await connection.queryAndCommit(batch: [
                    PostgresStatement("SELECT count(*) AS n FROM units WHERE id > $1", 1),
                    PostgresStatement("SELECT code FROM units WHERE id = $1", 90),
                ])
            }
            try await pool.query("DELETE FROM units WHERE id = $1", 90)
            let (answers, trips) = try await pool.withConnection { connection in
                let before = connection.roundTrips
                let answers = try await connection.transaction { connection in
                    try await connection.queue("INSERT INTO units VALUES ($1, $2)", 2, "DPMPTSP")
                    return try await connection.queryAndCommit(batch: [
                        PostgresStatement("SELECT count(*) AS n FROM units WHERE id > $1", 1),
                        PostgresStatement("SELECT code FROM units WHERE id = $1", 2),
                    ])
                }
                return (answers, connection.roundTrips - before)
            }
            #expect(trips == 1)
            #expect(try answers[0].single().decode(Int.self, "n") == 1)
            #expect(try answers[1].single().decode(String.self, "code") == "DPMPTSP")
            #expect(try await pool.query("SELECT count(*) AS n FROM units WHERE id = 2").single().decode(Int.self, "n") == 1)

            // COMMIT fails on the deferred unique constraint: its error, and nothing written.
            let atCommit = await #expect(throws: PostgresError.self) {
                try await pool.transaction { connection in
                    try await connection.queue("INSERT INTO pairs VALUES ($1)", 1)
                    try await connection.queue("INSERT INTO pairs VALUES ($1)", 1)
                    try await connection.queue("INSERT INTO units VALUES ($1, $2)", 3, "BKPSDM")
                    _ = try await connection.queryAndCommit(batch: [PostgresStatement("SELECT count(*) AS n FROM pairs")])
                    Issue.record("a COMMIT that fails must throw")
                }
            }
            #expect(atCommit?.sqlState == .uniqueViolation)
            #expect(atCommit?.constraint == "pairs_n_key")
            // A read that fails: COMMIT is not reached, the transaction rolls back.
            let atRead = await #expect(throws: PostgresError.self) {
                try await pool.transaction { connection in
                    try await connection.queue("INSERT INTO units VALUES ($1, $2)", 4, "DINSOS")
                    _ = try await connection.queryAndCommit(batch: [PostgresStatement("SELECT 1 / $1 AS n", 0)])
                }
            }
            #expect(atRead?.sqlState == .divisionByZero)
            #expect(try await pool.query("SELECT count(*) AS n FROM pairs").single().decode(Int.self, "n") == 0)
            #expect(try await pool.query("SELECT count(*) AS n FROM units WHERE id IN (3, 4)").single().decode(Int.self, "n") == 0)
            // An error the body throws after it undoes nothing: the transaction has committed. The
            // next transaction on the connection commits as usual.
            await #expect(throws: Abort.self) {
                try await pool.transaction { connection in
                    try await connection.queue("INSERT INTO units VALUES ($1, $2)", 5, "DINKES")
                    _ = try await connection.queryAndCommit(batch: [PostgresStatement("SELECT count(*) AS n FROM units")])
                    throw Abort()
                }
            }
            #expect(try await pool.query("SELECT count(*) AS n FROM units WHERE id = 5").single().decode(Int.self, "n") == 1)
            try await pool.transaction { connection in
                try await connection.queue("DELETE FROM units WHERE id = $1", 5)
            }
            #expect(try await pool.query("SELECT count(*) AS n FROM units WHERE id = 5").single().decode(Int.self, "n") == 0)
            // Outside a transaction it is a batch: no COMMIT, no warning, the rows all the same.
            let alone = try await pool.withConnection { connection in
                try await connection.queryAndCommit(batch: [PostgresStatement("SELECT count(*) AS n FROM units")])
            }
            #expect(try alone[0].single().decode(Int.self, "n") == 2)
            #expect(pool.metrics.replaced == 0)
        }
    }

    /// A statement prepared before a schema change that alters its result ("cached plan must not
    /// change result type", in whatever language the server speaks) or forgotten by DISCARD ALL
    /// (26000) was refused before it ran. On its own, outside a transaction, it is prepared afresh
    /// and sent again: the caller sees its answer. Inside a transaction the server has aborted
    /// the transaction, so the error reaches the caller, and the statement is prepared afresh on
    /// its next use. Either way the pool replaces the connection when it comes back (the server's
    /// stale copies go with it).
    @Test func aStatementInvalidatedByASchemaChangeIsPreparedAfresh() async throws {
        try await TestDatabase.withPool(maxConnections: 1) { pool, _ in
            func pid(_ connection: PostgresConnection) async throws -> Int32 {
                try await connection.query("SELECT pg_backend_pid() AS pid").single().decode(Int32.self, "pid")
            }
            let first = try await pool.withConnection { connection in
                try await connection.executeScript("SET lc_messages = 'C'; CREATE TABLE changing (id int); INSERT INTO changing VALUES (1);")
                #expect(try await connection.query("SELECT * FROM changing").count == 1)
                try await connection.executeScript("ALTER TABLE changing ADD COLUMN name text")
                let row = try await connection.query("SELECT * FROM changing").single()
                #expect(try row.decode(Int.self, "id") == 1)
                #expect(try row.isNull("name"), "the answer has the new column")

                // In a transaction: the error, a rolled-back transaction, and a working statement after.
                try await connection.executeScript("ALTER TABLE changing ADD COLUMN note text")
                let invalidated = await #expect(throws: PostgresError.self) {
                    try await connection.transaction { connection in
                        try await connection.query("INSERT INTO changing (id) VALUES (2)")
                        return try await connection.query("SELECT * FROM changing").count
                    }
                }
                #expect(invalidated?.sqlState == .featureNotSupported)
                #expect(invalidated?.sourceFunction == "RevalidateCachedQuery")
                #expect(invalidated?.invalidatesPreparedStatement == true)
                #expect(try await connection.query("SELECT count(*)::int AS n FROM changing").single().decode(Int.self, "n") == 1,
                        "the transaction's insert was rolled back")
                let count = try await connection.transaction { connection in
                    try await connection.query("SELECT * FROM changing").count
                }
                #expect(count == 1)
                return try await pid(connection)
            }
            #expect(pool.metrics.replaced == 1, "the connection with stale statements on the server was replaced")
            let second = try await pool.withConnection { connection in
                // Outside a transaction, a statement DISCARD ALL made the server forget likewise.
                #expect(try await connection.query("SELECT * FROM changing").count == 1)
                try await connection.executeScript("DISCARD ALL")
                #expect(try await connection.query("SELECT * FROM changing").count == 1)
                return try await pid(connection)
            }
            #expect(second != first)
            #expect(pool.metrics.replaced == 2)
        }
    }

    /// A body that catches an error and returns anyway must not pass for a committed transaction:
    /// the server answers COMMIT of an aborted transaction with ROLLBACK, and a statement after
    /// queryAndCommit would run outside any transaction.
    @Test func aBodyThatSwallowsAnErrorDoesNotCommit() async throws {
        try await TestDatabase.withPool(maxConnections: 2) { pool, _ in
            try await pool.withConnection { connection in
                try await connection.executeScript(Self.schema + Self.pairs)
            }
            func count(_ table: String, _ id: Int) async throws -> Int {
                let sql = table == "units" ? "SELECT count(*) AS n FROM units WHERE id = $1" : "SELECT count(*) AS n FROM pairs WHERE n = $1"
                return try await pool.query(sql, id).single().decode(Int.self, "n")
            }
            try await pool.withConnection { connection in
                // A statement fails, the body catches it and returns: COMMIT is answered ROLLBACK.
                let swallowed = await #expect(throws: PostgresError.self) {
                    try await connection.transaction { connection in
                        try await connection.query("INSERT INTO units VALUES ($1, $2)", 10, "DINSOS")
                        _ = try? await connection.query("INSERT INTO units VALUES ($1, $2)", 11, "DINSOS")
                    }
                }
                #expect(swallowed?.sqlState == .inFailedSQLTransaction)
                #expect(try await count("units", 10) == 0)

                // After queryAndCommit nothing more runs in the body; what did commit stays.
                let after = await #expect(throws: PostgresError.self) {
                    try await connection.transaction { connection in
                        try await connection.queue("INSERT INTO units VALUES ($1, $2)", 12, "DINKES")
                        _ = try await connection.queryAndCommit(batch: [PostgresStatement("SELECT 1 AS n")])
                        try await connection.query("INSERT INTO units VALUES ($1, $2)", 13, "BAPPEDA")
                    }
                }
                #expect(after?.sqlState == .noActiveSQLTransaction)
                #expect(try await count("units", 12) == 1)
                #expect(try await count("units", 13) == 0)

                // COMMIT fails inside queryAndCommit; the body catches that, tries to go on and
                // returns: nothing at all is written, and the transaction says so.
                var refusedAfterFailure: PostgresError?
                let failedCommit = await #expect(throws: PostgresError.self) {
                    try await connection.transaction { connection in
                        try await connection.queue("INSERT INTO pairs VALUES ($1)", 7)
                        try await connection.queue("INSERT INTO pairs VALUES ($1)", 7)
                        _ = try? await connection.queryAndCommit(batch: [PostgresStatement("SELECT 1 AS n")])
                        do {
                            try await connection.queue("INSERT INTO units VALUES ($1, $2)", 14, "DISHUB")
                        } catch let error as PostgresError {
                            refusedAfterFailure = error
                        }
                    }
                }
                #expect(failedCommit?.sqlState == .inFailedSQLTransaction)
                #expect(refusedAfterFailure?.sqlState == .noActiveSQLTransaction)
                #expect(try await count("pairs", 7) == 0)
                #expect(try await count("units", 14) == 0)

                // Transactions do not nest.
                let nested = await #expect(throws: PostgresError.self) {
                    try await connection.transaction { connection in
                        try await connection.query("INSERT INTO units VALUES ($1, $2)", 15, "DPRD")
                        try await connection.transaction { try await $0.query("SELECT 1") }
                    }
                }
                #expect(nested?.sqlState == .activeSQLTransaction)
                #expect(try await count("units", 15) == 0)

                // Queued writes (BEGIN among them) travel with the next statement. When that one is
                // refused unsent (its task was cancelled) and the body catches it, nothing may be
                // committed: a lone COMMIT, with BEGIN never sent, was answered COMMIT.
                let unsent: PostgresError? = await Task {
                    do {
                        try await connection.transaction { connection in
                            try await connection.queue("INSERT INTO units VALUES ($1, $2)", 17, "DISPORA")
                            withUnsafeCurrentTask { $0?.cancel() }
                            _ = try? await connection.query("SELECT 1")
                        }
                        return nil
                    } catch {
                        return error as? PostgresError
                    }
                }.value
                #expect(unsent?.sqlState == .inFailedSQLTransaction, "\(String(describing: unsent))")
                #expect(try await count("units", 17) == 0)

                // The connection is sound afterwards.
                try await connection.transaction { connection in
                    try await connection.queue("INSERT INTO units VALUES ($1, $2)", 16, "DPUPR")
                }
                #expect(try await count("units", 16) == 1)
            }
            #expect(pool.metrics.replaced == 0)
        }
    }

}

/// A tiny thread-safe counter for tests.
final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0

    @discardableResult
    func increment() -> Int {
        lock.lock()
        defer { lock.unlock() }
        count += 1
        return count
    }

    var value: Int {
        lock.lock()
        defer { lock.unlock() }
        return count
    }

    /// The connection lost while COMMIT is under way: the caller is told the outcome is unknown
    /// (08007), never a plain connection loss that reads as "nothing was written, retry".
    @Test func aConnectionLostDuringCommitReportsAnUnknownOutcome() async throws {
        try await TestDatabase.withPool(maxConnections: 2) { pool, _ in
            try await pool.withConnection { connection in
                try await connection.executeScript(
                    """
                    CREATE TABLE slow (n int);
                    CREATE FUNCTION slow_commit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(60); RETURN NULL; END $$;
                    CREATE CONSTRAINT TRIGGER slow_commit AFTER INSERT ON slow DEFERRABLE INITIALLY DEFERRED
                        FOR EACH ROW EXECUTE FUNCTION slow_commit();
                    """)
            }
            let outcome: Result<Void, PostgresError> = await {
                do {
                    try await pool.transaction { connection in
                        try await connection.query("INSERT INTO slow VALUES (1)")
                        let pid = connection.backendPID
                        // While COMMIT runs the deferred trigger, the server process goes away.
                        Task {
                            for _ in 0..<3000 {
                                let ended = try await pool.query(
                                    "SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity WHERE pid = $1 AND wait_event = 'PgSleep'",
                                    pid
                                ).single().decode(Int.self, "n")
                                if ended > 0 { return }
                                try await Task.sleep(for: .milliseconds(20))
                            }
                        }
                    }
                    return .success(())
                } catch let error as PostgresError {
                    return .failure(error)
                } catch {
                    return .failure(PostgresError(sqlState: .raiseException, severity: "ERROR", message: "\(error)"))
                }
            }()
            guard case .failure(let error) = outcome else {
                Issue.record("the transaction committed although its server process was ended during COMMIT")
                return
            }
            #expect(error.sqlState == .transactionResolutionUnknown, "\(error)")
        }
    }
}
