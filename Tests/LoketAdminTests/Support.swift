import Foundation
import LoketStore
import LoketTestSupport
import Postgres
import Testing

/// A database of its own for each test, copied from one of two templates: the migrated schema
/// with the sample catalog, or the migrated schema alone (the "fresh database" a catalog is
/// imported into).
enum AdminTestEnvironment {
    /// A fresh copy of a template for `body` (a pool over it), dropped afterwards.
    static func withDatabase<T>(seeded: Bool = true, _ body: (ConnectionPool) async throws -> T) async throws -> T {
        try await ScratchDatabase.withPool(
            "loket_admin", template: seeded ? .seeded : .migrated, applicationName: "loket-admin-tests",
            maxConnections: 2, acquireTimeout: .seconds(10)
        ) { pool, _ in try await body(pool) }
    }
}

/// Catalog helpers shared by the tests.
enum CatalogFixture {
    static func export(_ pool: ConnectionPool) async throws -> Data {
        try await pool.withConnection { try CatalogTransfer.encode(try await CatalogTransfer.export(on: $0).file) }
    }

    static func importing(_ data: Data, dryRun: Bool = false, into pool: ConnectionPool) async throws -> CatalogImportSummary {
        try await pool.withConnection { try await CatalogTransfer.importCatalog(data, dryRun: dryRun, on: $0) }
    }

    /// The problems an import reports; fails the test when it does not refuse.
    static func problems(_ data: Data, dryRun: Bool = false, in pool: ConnectionPool) async throws -> [CatalogProblem] {
        do {
            let summary = try await importing(data, dryRun: dryRun, into: pool)
            Issue.record("the import was expected to be refused, but it applied: \(summary)")
            return []
        } catch CatalogImportError.invalid(let problems) {
            return problems
        }
    }

    /// The exported catalog as a mutable JSON tree, for editing in tests.
    static func tree(_ data: Data) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    static func data(_ tree: [String: Any]) throws -> Data {
        try JSONSerialization.data(withJSONObject: tree, options: [.sortedKeys])
    }
}
