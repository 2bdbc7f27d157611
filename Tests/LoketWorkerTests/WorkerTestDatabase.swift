import Crypto
import Foundation
import Postgres

/// A database of its own for each worker test, copied from a template that holds the migrated
/// schema and the sample catalog. The template is built once per schema and seed version and shared
/// with other test targets (same name for the same content), so tests run in parallel and leave
/// nothing behind.
enum WorkerTestDatabase {
    static var repositoryRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    private static let template = Template()

    /// A pool over a fresh copy of the seeded database for `body`; the pool is closed and the
    /// database dropped afterwards, whether `body` succeeds or throws.
    static func withPool<T>(
        maxConnections: Int = 8, _ body: (ConnectionPool, PostgresConfiguration) async throws -> T
    ) async throws -> T {
        let templateName = try await template.name()
        let name = "loket_worker_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        let admin = try await adminConnection()
        let quoted = try await admin.escapeIdentifier(name)
        do {
            try await admin.executeScript("CREATE DATABASE \(quoted) TEMPLATE \(try await admin.escapeIdentifier(templateName))")
        } catch {
            await admin.close()
            throw error
        }
        let configuration = PostgresConfiguration(conninfo: "dbname=\(name)", applicationName: "loket-worker-tests")
        let pool = ConnectionPool(configuration: configuration, maxConnections: maxConnections)
        let result: Result<T, any Error>
        do {
            result = .success(try await body(pool, configuration))
        } catch {
            result = .failure(error)
        }
        await pool.close()
        try? await admin.executeScript("DROP DATABASE \(quoted) WITH (FORCE)")
        await admin.close()
        return try result.get()
    }

    static func adminConnection() async throws -> PostgresConnection {
        guard ProcessInfo.processInfo.environment["PGHOST"] != nil else {
            throw WorkerTestSetupError(
                "PGHOST is not set: run the tests with deploy/test.sh, which starts a private PostgreSQL cluster")
        }
        return try await PostgresConnection.connect(PostgresConfiguration(conninfo: "dbname=postgres", applicationName: "loket-worker-tests"))
    }

    /// Creates the template once per process (and once per schema and seed version across processes).
    private actor Template {
        private var created: String?

        func name() async throws -> String {
            if let created { return created }
            let root = WorkerTestDatabase.repositoryRoot
            var hasher = SHA256()
            for folder in ["SQL/migrations", "SQL/seed"] {
                let directory = root.appendingPathComponent(folder)
                for file in try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted() where file.hasSuffix(".sql") {
                    hasher.update(data: try Data(contentsOf: directory.appendingPathComponent(file)))
                }
            }
            let digest = hasher.finalize().map { String(format: "%02x", $0) }.joined().prefix(16)
            let name = "loket_template_\(digest)"
            let admin = try await WorkerTestDatabase.adminConnection()
            do {
                if try await admin.query("SELECT 1 FROM pg_database WHERE datname = $1", name).isEmpty {
                    try await build(name: name, root: root, admin: admin)
                }
            } catch {
                await admin.close()
                throw error
            }
            await admin.close()
            created = name
            return name
        }

        private func build(name: String, root: URL, admin: PostgresConnection) async throws {
            let building = name + "_building_\(UInt32.random(in: 0...UInt32.max))"
            let quoted = try await admin.escapeIdentifier(building)
            try await admin.executeScript("CREATE DATABASE \(quoted)")
            let connection = try await PostgresConnection.connect(PostgresConfiguration(conninfo: "dbname=\(building)"))
            do {
                try await Migrator(directory: root.appendingPathComponent("SQL/migrations")).apply(on: connection)
                let seed = root.appendingPathComponent("SQL/seed")
                for file in try FileManager.default.contentsOfDirectory(atPath: seed.path).sorted() where file.hasSuffix(".sql") {
                    let sql = try String(contentsOf: seed.appendingPathComponent(file), encoding: .utf8)
                    try await connection.transaction { try await $0.executeScript(sql) }
                }
            } catch {
                await connection.close()
                try? await admin.executeScript("DROP DATABASE \(quoted)")
                throw error
            }
            await connection.close()
            // Renaming makes the finished template appear atomically to other test processes; one
            // that lost the race drops its copy.
            do {
                try await admin.executeScript("ALTER DATABASE \(quoted) RENAME TO \(try await admin.escapeIdentifier(name))")
            } catch let error as PostgresError where error.sqlState == SQLState("42P04") || error.sqlState == SQLState("23505") {
                try await admin.executeScript("DROP DATABASE \(quoted)")
            }
        }
    }
}

struct WorkerTestSetupError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
