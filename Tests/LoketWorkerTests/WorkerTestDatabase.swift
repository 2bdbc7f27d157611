import Foundation
import LoketTestSupport
import Postgres

/// A database of its own for each worker test, copied from the template that holds the migrated
/// schema and the sample catalog (DatabaseTemplate.seeded), so tests run in parallel and leave
/// nothing behind.
enum WorkerTestDatabase {
    /// A pool over a fresh copy of the seeded database for `body`; the pool is closed and the
    /// database dropped afterwards, whether `body` succeeds or throws.
    static func withPool<T>(
        maxConnections: Int = 8, _ body: (ConnectionPool, PostgresConfiguration) async throws -> T
    ) async throws -> T {
        try await ScratchDatabase.withPool(
            "loket_worker", template: .seeded, applicationName: "loket-worker-tests", maxConnections: maxConnections, body)
    }
}

typealias WorkerTestSetupError = TestSetupError
