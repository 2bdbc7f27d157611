import Foundation
import Testing

@testable import Postgres

/// The test cluster's TLS port, when deploy/test.sh started it with one.
private let tlsPort = ProcessInfo.processInfo.environment["LOKET_TEST_TLS_PORT"]

/// The same non-blocking driving over TLS (sslmode=require to the test cluster's loopback
/// listener, which deploy/test.sh starts with a self-signed certificate): partial TLS writes of
/// large parameters, results spread over many records, interleaving on shared lanes, cancels.
/// A hang (a wait for a socket whose answer OpenSSL already holds, say) fails by the suite's time
/// limit. The answer held whole inside OpenSSL is not forced here: PostgreSQL ends a result with
/// a record of at most 8 KB and libpq reads with at least 8 KB free, so it takes a peer that
/// writes larger final records; the SSL_pending check before each wait covers that case, as in
/// libpq's own blocking wait.
@Suite(
    "TLS", .timeLimit(.minutes(2)),
    .enabled(if: tlsPort != nil, "needs the TLS listener deploy/test.sh starts (LOKET_TEST_TLS_PORT)"))
struct TLSTests {

    /// The test's database, reached over TCP with TLS required.
    private static func overTLS(_ configuration: PostgresConfiguration) -> PostgresConfiguration {
        var tls = configuration
        tls.conninfo += " host=127.0.0.1 port=\(tlsPort ?? "") sslmode=require"
        return tls
    }

    @Test func largeAnswersAndManyRowsTravelWholeOverTLSOnOneLane() async throws {
        try await TestDatabase.with { plain in
            let (first, second, all) = try await LaneTests.twoOnOneLane(Self.overTLS(plain))
            for connection in all {
                let ssl = try await connection.query("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").single()
                #expect(try ssl.decode(Bool.self, "ssl"))
            }
            // Many small messages: TLS records hold several rows each, and one read may decrypt
            // more than libpq takes at once.
            func manyRows(_ connection: PostgresConnection) async throws {
                for round in 0..<3 {
                    let rows = try await connection.query(
                        "SELECT g, repeat('r', g % 97) AS pad FROM generate_series(1, $1::int) g", 50_000 + round)
                    #expect(rows.count == 50_000 + round)
                    #expect(try rows[rows.count - 1].decode(Int.self, "g") == 50_000 + round)
                }
            }
            async let a: Void = LaneTests.echo(8_000_000, bytesOn: first, seed: 1, filler: 5_000_000)
            async let b: Void = manyRows(second)
            _ = try await (a, b)
            async let c: Void = manyRows(first)
            async let d: Void = LaneTests.echo(8_000_000, bytesOn: second, seed: 2, filler: 5_000_000)
            _ = try await (c, d)
            #expect(!first.isBroken && !second.isBroken)
            for connection in all { await connection.close() }
        }
    }

    /// A pool over TLS under concurrent load: short statements, transactions with queued writes
    /// and batches interleave on shared lanes; every answer is right and nothing is replaced.
    @Test func aPoolOverTLSServesConcurrentWork() async throws {
        try await TestDatabase.with { plain in
            // Eight tasks share four connections: waits for one are part of the test, not a
            // failure, however slow the machine (the whole suite runs at once on two cores).
            let pool = ConnectionPool(configuration: Self.overTLS(plain), maxConnections: 4, acquireTimeout: .seconds(90))
            try await pool.withConnection { try await $0.executeScript("CREATE TABLE marks (worker int, n int)") }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for worker in 0..<8 {
                    group.addTask {
                        for n in 0..<30 {
                            let echoed = try await pool.query("SELECT $1::int * 2 AS twice", worker * 1000 + n).single()
                            #expect(try echoed.decode(Int.self, "twice") == (worker * 1000 + n) * 2)
                            let answers = try await pool.transaction { connection in
                                try await connection.queue("INSERT INTO marks VALUES ($1, $2)", worker, n)
                                return try await connection.query(batch: [
                                    PostgresStatement("SELECT count(*)::int AS n FROM marks WHERE worker = $1", worker),
                                    PostgresStatement("SELECT repeat('t', 20000) AS text"),
                                ])
                            }
                            #expect(try answers[0].single().decode(Int.self, "n") == n + 1)
                            #expect(try answers[1].single().decode(String.self, "text").utf8.count == 20_000)
                        }
                    }
                }
                try await group.waitForAll()
            }
            #expect(try await pool.query("SELECT count(*)::int AS n FROM marks").single().decode(Int.self, "n") == 8 * 30)
            #expect(pool.metrics.replaced == 0)
            await pool.close()
        }
    }

    /// A connection whose server process went away is found out over TLS too: an idle one is
    /// reconnected (PQreset, TLS handshake again) before its next statement, and a statement that
    /// was running fails as a lost connection and its connection is replaced.
    @Test func lostServerProcessesAreFoundAndReplacedOverTLS() async throws {
        try await TestDatabase.with { plain in
            let pool = ConnectionPool(configuration: Self.overTLS(plain), maxConnections: 1, acquireTimeout: .seconds(60))
            let first = try await pool.query("SELECT pg_backend_pid() AS pid").single().decode(Int32.self, "pid")
            try await TestDatabase.terminate(backend: first)
            let second = try await pool.query(
                "SELECT pid, ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").single()
            #expect(try second.decode(Int32.self, "pid") != first)
            #expect(try second.decode(Bool.self, "ssl"))
            #expect(try await pool.query("SELECT $1::int AS n", 7).single().decode(Int.self, "n") == 7)

            let running = try second.decode(Int32.self, "pid")
            let sleeping = Task { try await pool.query("SELECT pg_sleep(60)") }
            try await TestDatabase.waitUntilActive(backend: running)
            try await TestDatabase.terminate(backend: running)
            let error = await #expect(throws: PostgresError.self) { try await sleeping.value }
            #expect(error?.sqlState.isConnectionLoss == true)
            let third = try await pool.query("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").single()
            #expect(try third.decode(Bool.self, "ssl"))
            #expect(pool.metrics.replaced == 1)
            await pool.close()
        }
    }

    /// A statement cancelled over TLS stops on the server (the cancel request travels on a
    /// connection of its own) and the connection serves the next statement.
    @Test func aCancelledStatementStopsOverTLS() async throws {
        try await TestDatabase.with { plain in
            let connection = try await PostgresConnection.connect(Self.overTLS(plain))
            let sleeper = Task { try await connection.query("SELECT pg_sleep(60)") }
            try await TestDatabase.waitUntilActive(backend: connection.backendPID)
            sleeper.cancel()
            await #expect(throws: CancellationError.self) { try await sleeper.value }
            #expect(try await connection.query("SELECT 41 + 1 AS n").single().decode(Int.self, "n") == 42)
            await connection.close()
        }
    }
}
