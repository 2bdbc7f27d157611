import Foundation
import Postgres

/// Databases of their own for integration tests, on the cluster that deploy/test.sh started
/// (found through libpq's PG* variables): each test creates one, empty or copied from a template,
/// and drops it afterwards, so tests run in parallel and leave nothing behind.
public enum ScratchDatabase {
    /// The checkout's root (this file is Tests/LoketTestSupport/ScratchDatabase.swift).
    public static var repositoryRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    /// A connection to the cluster's maintenance database.
    public static func adminConnection(applicationName: String = "loket-tests") async throws -> PostgresConnection {
        guard ProcessInfo.processInfo.environment["PGHOST"] != nil else {
            throw TestSetupError("PGHOST is not set: run the tests with deploy/test.sh, which starts a private PostgreSQL cluster")
        }
        return try await PostgresConnection.connect(PostgresConfiguration(conninfo: "dbname=postgres", applicationName: applicationName))
    }

    /// Creates a database named `prefix` and a random suffix (empty, or a copy of `template`),
    /// runs `body` with its configuration, then drops it, whether `body` returns or throws. What
    /// `body` opens on it (a pool) it must close before returning; the drop forces out the rest.
    public static func with<T>(
        _ prefix: String, template: DatabaseTemplate? = nil, applicationName: String = "loket-tests",
        _ body: (PostgresConfiguration) async throws -> T
    ) async throws -> T {
        let templateName = try await template?.name()
        let name = prefix + "_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        let admin = try await adminConnection(applicationName: applicationName)
        let quoted: String
        do {
            quoted = try await admin.escapeIdentifier(name)
            if let templateName {
                try await admin.executeScript("CREATE DATABASE \(quoted) TEMPLATE \(try await admin.escapeIdentifier(templateName))")
            } else {
                try await admin.executeScript("CREATE DATABASE \(quoted)")
            }
        } catch {
            await admin.close()
            throw error
        }
        let result = await Result(catching: {
            try await body(PostgresConfiguration(conninfo: "dbname=\(name)", applicationName: applicationName))
        })
        let dropped = await Result(catching: { try await admin.executeScript("DROP DATABASE \(quoted) WITH (FORCE)") })
        await admin.close()
        let value = try result.get()
        try dropped.get()
        return value
    }

    /// `with`, and a pool over the database for `body`, closed before the database is dropped.
    public static func withPool<T>(
        _ prefix: String, template: DatabaseTemplate? = nil, applicationName: String = "loket-tests",
        maxConnections: Int = 4, acquireTimeout: Duration = .seconds(5),
        _ body: (ConnectionPool, PostgresConfiguration) async throws -> T
    ) async throws -> T {
        try await with(prefix, template: template, applicationName: applicationName) { configuration in
            let pool = ConnectionPool(configuration: configuration, maxConnections: maxConnections, acquireTimeout: acquireTimeout)
            let result = await Result(catching: { try await body(pool, configuration) })
            await pool.close()
            return try result.get()
        }
    }
}

/// A template database: the migrated schema, with the sample catalog or without it. It is built
/// once per content (a fingerprint of the SQL files is in its name), shared by every test target
/// and process; a process that loses the race to build it drops its own copy.
public actor DatabaseTemplate {
    /// The migrated schema and the sample catalog (SQL/seed).
    public static let seeded = DatabaseTemplate(prefix: "loket_template", seed: true)
    /// The migrated schema alone (the "fresh database" a catalog is imported into).
    public static let migrated = DatabaseTemplate(prefix: "loket_template_bare", seed: false)

    private let prefix: String
    private let seed: Bool
    /// One build shared by every caller: the actor is reentrant at each await, so without it
    /// tests that start together would each build a template of their own.
    private var building: Task<String, any Error>?

    private init(prefix: String, seed: Bool) {
        self.prefix = prefix
        self.seed = seed
    }

    public func name() async throws -> String {
        if let building { return try await building.value }
        let task = Task { [prefix, seed] in try await Self.build(prefix: prefix, seed: seed) }
        building = task
        return try await task.value
    }

    private static func sqlFiles(in folder: String) throws -> [URL] {
        let directory = ScratchDatabase.repositoryRoot.appendingPathComponent(folder)
        return try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()
            .filter { $0.hasSuffix(".sql") }
            .map { directory.appendingPathComponent($0) }
    }

    private static func build(prefix: String, seed: Bool) async throws -> String {
        let migrations = try sqlFiles(in: "SQL/migrations")
        let seeds = seed ? try sqlFiles(in: "SQL/seed") : []
        // FNV-1a over the files' names and contents: enough to tell schema versions apart.
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for file in migrations + seeds {
            for byte in Array(file.lastPathComponent.utf8) + Array(try Data(contentsOf: file)) {
                hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3
            }
        }
        let name = "\(prefix)_\(String(hash, radix: 16))"
        let admin = try await ScratchDatabase.adminConnection()
        do {
            if try await admin.query("SELECT 1 FROM pg_database WHERE datname = $1", name).isEmpty {
                try await create(name, migrations: migrations, seeds: seeds, admin: admin)
            }
        } catch {
            await admin.close()
            throw error
        }
        await admin.close()
        return name
    }

    private static func create(_ name: String, migrations: [URL], seeds: [URL], admin: PostgresConnection) async throws {
        let building = name + "_building_\(UInt32.random(in: 0...UInt32.max))"
        let quoted = try await admin.escapeIdentifier(building)
        try await admin.executeScript("CREATE DATABASE \(quoted)")
        let connection = try await PostgresConnection.connect(PostgresConfiguration(conninfo: "dbname=\(building)"))
        do {
            try await Migrator(directory: ScratchDatabase.repositoryRoot.appendingPathComponent("SQL/migrations")).apply(on: connection)
            for file in seeds {
                let sql = try String(contentsOf: file, encoding: .utf8)
                try await connection.transaction { try await $0.executeScript(sql) }
            }
        } catch {
            await connection.close()
            try? await admin.executeScript("DROP DATABASE \(quoted)")
            throw error
        }
        await connection.close()
        // Renaming makes the finished template appear atomically to other test processes.
        do {
            try await admin.executeScript("ALTER DATABASE \(quoted) RENAME TO \(try await admin.escapeIdentifier(name))")
        } catch let error as PostgresError where error.sqlState == SQLState("42P04") || error.sqlState == .uniqueViolation {
            try await admin.executeScript("DROP DATABASE \(quoted)")
        }
    }
}

/// The test environment is not what the tests need (no cluster, a server that did not start).
public struct TestSetupError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

extension Result where Failure == any Error {
    /// The outcome of an async throwing call, kept to act on after cleaning up.
    init(catching body: () async throws -> Success) async {
        do { self = .success(try await body()) } catch { self = .failure(error) }
    }
}
