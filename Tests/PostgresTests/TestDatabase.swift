import Foundation
import LoketTestSupport
import Postgres
import Testing

/// Gives each test a database of its own on the cluster that deploy/test.sh started (found through
/// libpq's PG* variables), so tests run in parallel and leave nothing behind.
enum TestDatabase {
    static var repositoryRoot: URL { ScratchDatabase.repositoryRoot }

    static func adminConnection() async throws -> PostgresConnection {
        try await ScratchDatabase.adminConnection()
    }

    /// Creates an empty database, runs `body` with its configuration, then drops it.
    static func with<T>(_ body: (PostgresConfiguration) async throws -> T) async throws -> T {
        try await ScratchDatabase.with("loket_test", body)
    }

    /// A database of its own with a pool over it.
    static func withPool<T>(
        maxConnections: Int = 4, acquireTimeout: Duration = .seconds(5),
        _ body: (ConnectionPool, PostgresConfiguration) async throws -> T
    ) async throws -> T {
        try await ScratchDatabase.withPool("loket_test", maxConnections: maxConnections, acquireTimeout: acquireTimeout, body)
    }

    /// Waits (at most 30 s) until `condition` holds.
    static func waitUntil(_ condition: () -> Bool) async throws {
        for _ in 0..<3000 {
            if condition() { return }
            try await Task.sleep(for: .milliseconds(10))
        }
        throw TestSetupError("condition not met within 30 s")
    }

    /// Waits (at most 30 s) until a backend runs a statement.
    static func waitUntilActive(backend pid: Int32) async throws {
        let admin = try await adminConnection()
        for _ in 0..<3000 {
            let rows = try await admin.query("SELECT 1 FROM pg_stat_activity WHERE pid = $1 AND state = 'active'", pid)
            if !rows.isEmpty {
                await admin.close()
                return
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        await admin.close()
        throw TestSetupError("backend \(pid) did not start its statement within 30 s")
    }

    /// Terminates a backend from the admin database and waits until it is gone.
    static func terminate(backend pid: Int32) async throws {
        let admin = try await adminConnection()
        try await admin.query("SELECT pg_terminate_backend($1)", pid)
        for _ in 0..<200 {
            let rows = try await admin.query("SELECT 1 FROM pg_stat_activity WHERE pid = $1", pid)
            if rows.isEmpty { break }
            try await Task.sleep(for: .milliseconds(10))
        }
        await admin.close()
    }
}
