import Foundation
import Testing

@testable import Postgres

/// Connections share a few lane threads and libpq is driven non-blocking: a statement waiting for
/// the server suspends its task and leaves the lane to the other connections.
@Suite("Lanes", .timeLimit(.minutes(2)))
struct LaneTests {
    /// Two connections on one lane.
    static func twoOnOneLane(_ configuration: PostgresConfiguration) async throws
        -> (PostgresConnection, PostgresConnection, [PostgresConnection])
    {
        let group = LaneGroup(lanes: 2, maxConnections: 2)
        defer { withExtendedLifetime(group) {} }
        let first = try await PostgresConnection.connect(configuration, on: group.lanes[0])
        let second = try await PostgresConnection.connect(configuration, on: group.lanes[0])
        #expect(first.lane === second.lane)
        return (first, second, [first, second])
    }

    /// Each lane's thread carries its name where the system shows it (top -H, perf).
    @Test func laneThreadsAreNamedForTheSystem() async throws {
        // A name no other test's lane has: pools of tests running alongside name theirs loket-pq-N.
        let lane = Lane(name: "lane-name-test")
        defer { lane.retire() }
        func names() -> [String] {
            let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
            return tasks.compactMap { try? String(contentsOfFile: "/proc/self/task/\($0)/comm", encoding: .utf8) }
                .map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
        }
        for _ in 0..<500 where !names().contains("lane-name-test") {
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(names().contains("lane-name-test"), "\(names())")
    }

    /// The slow statement waits for a lock the test holds, so it cannot end before the quick
    /// ones unless the test lets it: with a thread blocked in it, they would never run (the test
    /// then fails after a minute instead of hanging).
    @Test func aStatementWaitingForTheServerLeavesItsLaneToTheOthers() async throws {
        try await TestDatabase.with { configuration in
            let (slow, quick, all) = try await Self.twoOnOneLane(configuration)
            let holder = try await PostgresConnection.connect(configuration)
            try await holder.query("SELECT pg_advisory_lock(42)")
            let waiting = Task { try await slow.query("SELECT pg_advisory_lock(42)") }
            try await TestDatabase.waitUntilActive(backend: slow.backendPID)
            let quickWork = Task {
                for index in 0..<50 {
                    let value = try await quick.query("SELECT $1::int + 1 AS n", index).single().decode(Int.self, "n")
                    #expect(value == index + 1)
                }
            }
            let watchdog = Task {
                try await Task.sleep(for: .seconds(60))
                try await holder.query("SELECT pg_advisory_unlock(42)")
            }
            try await quickWork.value
            watchdog.cancel()
            _ = await watchdog.result
            // The quick statements all ran while the slow one still waited for the lock.
            let stillWaiting = try await holder.query(
                "SELECT 1 FROM pg_locks WHERE pid = $1 AND NOT granted", slow.backendPID)
            #expect(stillWaiting.count == 1)
            try await holder.query("SELECT pg_advisory_unlock(42)")
            _ = try await waiting.value
            await holder.close()
            for connection in all { await connection.close() }
        }
    }

    /// Parameters and results far larger than the socket buffers travel whole, on two connections
    /// of one lane at once: sends that cannot finish wait for the socket to take more, reads
    /// gather the answer as it arrives.
    @Test func parametersAndResultsLargerThanTheSocketBuffersTravelWhole() async throws {
        try await TestDatabase.with { configuration in
            let (first, second, all) = try await Self.twoOnOneLane(configuration)
            async let a: Void = Self.echo(12_000_000, bytesOn: first, seed: 1, filler: 9_000_000)
            async let b: Void = Self.echo(12_000_000, bytesOn: second, seed: 2, filler: 9_000_000)
            _ = try await (a, b)
            for connection in all { await connection.close() }
        }
    }

    /// Sends `count` bytes (made from `seed`) and expects them back whole, with `filler`
    /// characters of a result column besides.
    static func echo(_ count: Int, bytesOn connection: PostgresConnection, seed: UInt8, filler: Int) async throws {
        let payload = Data((0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ Int(seed)) })
        let row = try await connection.query(
            "SELECT length($1::bytea) AS n, $1::bytea AS echoed, repeat('x', $2) AS filler", payload, Int32(filler)
        ).single()
        #expect(try row.decode(Int.self, "n") == payload.count)
        #expect(try row.decode(Data.self, "echoed") == payload)
        #expect(try row.decode(String.self, "filler").utf8.count == filler)
    }

    /// A pipeline whose first statements the server answers while the client still sends the
    /// later ones (large parameters, large results): the send reads as it goes.
    @Test func aPipelineOfLargeStatementsTravelsWhole() async throws {
        try await TestDatabase.with { configuration in
            let connection = try await PostgresConnection.connect(configuration)
            try await connection.executeScript("CREATE TABLE blobs (n int PRIMARY KEY, body bytea)")
            let payload = Data((0..<6_000_000).map { UInt8(truncatingIfNeeded: $0 &* 7) })
            let total = try await connection.transaction { tx in
                for n in 1...4 {
                    try await tx.queue("INSERT INTO blobs VALUES ($1, $2) RETURNING repeat('y', 3000000)", n, payload)
                }
                return try await tx.query("SELECT sum(length(body))::bigint AS total FROM blobs").single().decode(Int.self, "total")
            }
            #expect(total == 4 * payload.count)
            #expect(connection.roundTrips > 0)
            #expect(!connection.isBroken)
            await connection.close()
        }
    }

    /// A multi-statement script fails with its first error, and the connection goes on.
    @Test func aScriptStopsAtItsFirstErrorAndTheConnectionGoesOn() async throws {
        try await TestDatabase.with { configuration in
            let connection = try await PostgresConnection.connect(configuration)
            try await connection.executeScript("CREATE TABLE t (n int PRIMARY KEY); INSERT INTO t VALUES (1)")
            let error = await #expect(throws: PostgresError.self) {
                try await connection.executeScript("INSERT INTO t VALUES (2); INSERT INTO t VALUES (1); INSERT INTO t VALUES (3)")
            }
            #expect(error?.sqlState == .uniqueViolation)
            // A simple-query script runs as one transaction: nothing of it stayed.
            let count = try await connection.query("SELECT count(*)::int AS n FROM t").single().decode(Int.self, "n")
            #expect(count == 1)
            #expect(!connection.isBroken)
            await connection.close()
        }
    }

    /// A lane's thread ends once its group is gone and its last connection released, not before.
    @Test func aLaneEndsWithItsLastConnection() async throws {
        try await TestDatabase.with { configuration in
            var group: LaneGroup? = LaneGroup(lanes: 1, maxConnections: 1)
            let lane = group!.lanes[0]
            var connection: PostgresConnection? = try await PostgresConnection.connect(configuration, on: lane)
            group = nil
            #expect(try await connection!.query("SELECT 1 AS one").single().decode(Int.self, "one") == 1)
            #expect(!lane.hasEnded)
            await connection!.close()
            connection = nil
            for _ in 0..<3000 where !lane.hasEnded { try await Task.sleep(for: .milliseconds(10)) }
            #expect(lane.hasEnded)
            _ = group
        }
    }

    /// A socket epoll will not watch fails the wait at once (waiting again would spin the lane).
    @Test func aSocketThatCannotBeWatchedFailsTheWaitAtOnce() async throws {
        let group = LaneGroup(lanes: 1, maxConnections: 1)
        let lane = group.lanes[0]
        let error = await withTaskExecutorPreference(lane) { () async -> LaneWaitError? in
            do {
                _ = try await lane.wait(for: 1_000_000, 1)  // no such descriptor; 1 is EPOLLIN
                return nil
            } catch let error as LaneWaitError {
                return error
            } catch {
                return nil
            }
        }
        #expect(error?.errno == EBADF)
    }

    /// COPY would leave libpq handing out its result forever (the lane spinning): COPY FROM STDIN
    /// fails with the server's error and the connection goes on; COPY TO STDOUT fails and gives
    /// the connection up, and a pool replaces it.
    @Test func copyFailsCleanlyInsteadOfSpinningTheLane() async throws {
        try await TestDatabase.withPool(maxConnections: 1) { pool, _ in
            try await pool.withConnection { connection in
                try await connection.executeScript("CREATE TABLE t (n int)")
                let copyIn = await #expect(throws: PostgresError.self) {
                    try await connection.executeScript("COPY t FROM STDIN")
                }
                #expect(copyIn?.message.contains("not supported") == true)
                #expect(!connection.isBroken)
                #expect(try await connection.query("SELECT count(*)::int AS n FROM t").single().decode(Int.self, "n") == 0)
                let copyOut = await #expect(throws: PostgresError.self) {
                    try await connection.query("COPY (SELECT 1) TO STDOUT")
                }
                #expect(copyOut?.sqlState == SQLState("0A000"))
                #expect(connection.isBroken)
            }
            #expect(try await pool.query("SELECT 2 AS two").single().decode(Int.self, "two") == 2)
            #expect(pool.metrics.replaced == 1)
        }
    }

    /// Loket's modules run async functions on their caller's executor (SE-0461), so a pool used
    /// from an actor runs its `withConnection` bodies there; every libpq call still moves onto the
    /// connection's lane (a call anywhere else stops the process: Lane.wait and onLane check).
    /// The main actor ignores task-executor preferences; a default actor runs one task's jobs on
    /// another's lane.
    ///
    /// Twenty-four tasks queue for four connections, and the first connections can take seconds
    /// to open while the whole suite runs: waiting is part of the test, hence the long timeout.
    @Test func statementsFromAnActorRunOnTheConnectionsLane() async throws {
        try await TestDatabase.withPool(maxConnections: 4, acquireTimeout: .seconds(90)) { pool, _ in
            let user = PoolUser(pool: pool)
            let results = try await withThrowingTaskGroup(of: Bool.self) { group in
                for index in 0..<24 { group.addTask { try await user.work(index) } }
                return try await group.reduce(into: [Bool]()) { $0.append($1) }
            }
            #expect(results.count == 24)
            #expect(results.allSatisfy { $0 })
            #expect(await user.calls == 24)
            #expect(try await Self.workOnTheMainActor(pool))
        }
    }

    @MainActor
    static func workOnTheMainActor(_ pool: ConnectionPool) async throws -> Bool {
        let value = try await pool.query("SELECT 7 AS n").single().decode(Int.self, "n")
        let borrowed = try await pool.withConnection { connection in
            let first = try await connection.query("SELECT $1::int AS n", 8).single().decode(Int.self, "n")
            let second = try await connection.query(batch: [PostgresStatement("SELECT 9 AS n"), PostgresStatement("SELECT 10 AS n")])
            return first == 8 && second.count == 2
        }
        let committed = try await pool.transaction { connection in
            try await connection.query("SELECT 1")
            return true
        }
        return value == 7 && borrowed && committed
    }
}

/// An actor that borrows connections from inside its own isolation.
private actor PoolUser {
    let pool: ConnectionPool
    private(set) var calls = 0

    init(pool: ConnectionPool) { self.pool = pool }

    func work(_ index: Int) async throws -> Bool {
        calls += 1
        return try await pool.withConnection { connection in
            let value = try await connection.query("SELECT $1::int AS n, pg_sleep(0.002)", index).single()
                .decode(Int.self, "n")
            return value == index
        }
    }
}
