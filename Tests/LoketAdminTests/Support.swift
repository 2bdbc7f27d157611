import Crypto
import Foundation
import LoketStore
import Postgres
import Testing

/// A database of its own for each test, copied from one of two templates built once per schema
/// and seed version: the migrated schema with the sample catalog, or the migrated schema alone
/// (the "fresh database" a catalog is imported into).
enum AdminTestEnvironment {
    static var repositoryRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    static let seeded = AdminTemplate(prefix: "loket_admin_seeded", seed: true)
    static let empty = AdminTemplate(prefix: "loket_admin_empty", seed: false)

    static func adminConnection() async throws -> PostgresConnection {
        guard ProcessInfo.processInfo.environment["PGHOST"] != nil else {
            throw AdminTestSetupError("PGHOST is not set: run the tests with deploy/test.sh, which starts a private PostgreSQL cluster")
        }
        return try await PostgresConnection.connect(PostgresConfiguration(conninfo: "dbname=postgres", applicationName: "loket-admin-tests"))
    }

    /// A fresh copy of a template for `body` (a pool over it), dropped afterwards.
    static func withDatabase<T>(seeded: Bool = true, _ body: (ConnectionPool) async throws -> T) async throws -> T {
        let templateName = try await (seeded ? Self.seeded : Self.empty).name()
        let name = "loket_admin_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        let admin = try await adminConnection()
        let quoted = try await admin.escapeIdentifier(name)
        try await admin.executeScript("CREATE DATABASE \(quoted) TEMPLATE \(try await admin.escapeIdentifier(templateName))")
        let pool = ConnectionPool(
            configuration: PostgresConfiguration(conninfo: "dbname=\(name)", applicationName: "loket-admin-tests"),
            maxConnections: 2, acquireTimeout: .seconds(10))
        do {
            let value = try await body(pool)
            await pool.close()
            try await admin.executeScript("DROP DATABASE \(quoted) WITH (FORCE)")
            await admin.close()
            return value
        } catch {
            await pool.close()
            try? await admin.executeScript("DROP DATABASE \(quoted) WITH (FORCE)")
            await admin.close()
            throw error
        }
    }
}

/// Builds a template database once per content (the SQL files' hash) and test process; other
/// processes that race to build the same one lose the rename and drop their copy.
actor AdminTemplate {
    let prefix: String
    let seed: Bool
    /// Shared by every caller: the actor is reentrant at each await, so without it concurrent
    /// tests would each build a template of their own.
    private var building: Task<String, any Error>?

    init(prefix: String, seed: Bool) {
        self.prefix = prefix
        self.seed = seed
    }

    func name() async throws -> String {
        if let building { return try await building.value }
        let task = Task { [prefix, seed] in try await Self.build(prefix: prefix, seed: seed) }
        building = task
        return try await task.value
    }

    private static func build(prefix: String, seed: Bool) async throws -> String {
        let root = AdminTestEnvironment.repositoryRoot
        var hasher = SHA256()
        for folder in seed ? ["SQL/migrations", "SQL/seed"] : ["SQL/migrations"] {
            let directory = root.appendingPathComponent(folder)
            for file in try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted() where file.hasSuffix(".sql") {
                hasher.update(data: try Data(contentsOf: directory.appendingPathComponent(file)))
            }
        }
        let digest = hasher.finalize().map { String(format: "%02x", $0) }.joined().prefix(16)
        let name = "\(prefix)_\(digest)"
        let admin = try await AdminTestEnvironment.adminConnection()
        if try await admin.query("SELECT 1 FROM pg_database WHERE datname = $1", name).isEmpty {
            let building = name + "_building_\(UInt32.random(in: 0...UInt32.max))"
            let quoted = try await admin.escapeIdentifier(building)
            try await admin.executeScript("CREATE DATABASE \(quoted)")
            let connection = try await PostgresConnection.connect(PostgresConfiguration(conninfo: "dbname=\(building)"))
            try await Migrator(directory: root.appendingPathComponent("SQL/migrations")).apply(on: connection)
            if seed {
                let folder = root.appendingPathComponent("SQL/seed")
                for file in try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted() where file.hasSuffix(".sql") {
                    let sql = try String(contentsOf: folder.appendingPathComponent(file), encoding: .utf8)
                    try await connection.transaction { try await $0.executeScript(sql) }
                }
            }
            await connection.close()
            do {
                try await admin.executeScript("ALTER DATABASE \(quoted) RENAME TO \(try await admin.escapeIdentifier(name))")
            } catch let error as PostgresError where error.sqlState == SQLState("42P04") || error.sqlState == SQLState("23505") {
                try await admin.executeScript("DROP DATABASE \(quoted)")
            }
        }
        await admin.close()
        return name
    }
}

struct AdminTestSetupError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
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
