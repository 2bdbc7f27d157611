import ArgumentParser
import Foundation
import Postgres

/// Options shared by every command that talks to the database directly.
struct DatabaseOptions: ParsableArguments {
    @Option(name: .customLong("database-url"), help: "PostgreSQL URL or key=value conninfo (never logged with its password).")
    var databaseURL: String?

    @Option(help: "Folder holding migrations/ and seed/ (default: $LOKET_SQL_DIR, ./SQL, or <prefix>/share/loket/SQL).")
    var sqlDir: String?

    /// A conninfo that cannot work is refused before anything connects, without repeating it.
    func validate() throws {
        if let problem = configuration.problem { throw ValidationError("database: \(problem)") }
    }

    var configuration: PostgresConfiguration {
        if let databaseURL { return PostgresConfiguration(conninfo: databaseURL, applicationName: "loketd") }
        return .fromEnvironment(applicationName: "loketd")
    }

    /// The SQL folder: the flag, then LOKET_SQL_DIR, then ./SQL, then the install prefix beside
    /// the binary.
    func sqlDirectory() throws -> URL {
        let environment = ProcessInfo.processInfo.environment
        var candidates: [String] = []
        if let sqlDir { candidates.append(sqlDir) }
        if let fromEnvironment = environment["LOKET_SQL_DIR"] { candidates.append(fromEnvironment) }
        candidates.append("SQL")
        // /proc/self/exe names the binary even when it was started through PATH.
        let executable = FileManager.default.fileExists(atPath: "/proc/self/exe")
            ? URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
            : URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        candidates.append(executable.deletingLastPathComponent().appendingPathComponent("../share/loket/SQL").path)
        for candidate in candidates {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: candidate + "/migrations", isDirectory: &isDirectory), isDirectory.boolValue {
                return URL(fileURLWithPath: candidate, isDirectory: true)
            }
        }
        throw ValidationError("no SQL folder with migrations/ found (looked in: \(candidates.joined(separator: ", "))); pass --sql-dir")
    }

    /// A one-connection pool for a one-shot command (the stores work on pools), closed afterwards.
    func withPool<T>(_ body: (ConnectionPool) async throws -> T) async throws -> T {
        let pool = ConnectionPool(configuration: configuration, maxConnections: 1, acquireTimeout: .seconds(30))
        do {
            let value = try await body(pool)
            await pool.close()
            return value
        } catch {
            await pool.close()
            throw error
        }
    }

    /// Opens one connection for a one-shot command.
    func withConnection<T: Sendable>(_ body: (PostgresConnection) async throws -> T) async throws -> T {
        try await withPool { try await $0.withConnection(body) }
    }
}

/// --pq-lanes, for the commands that keep a pool open (serve, worker).
struct LaneOptions: ParsableArguments {
    @Option(help: """
        Threads that make the database calls of the pool's connections (LOKET_PQ_LANES): by \
        default one per processor this process may use (its cgroup's CPU quota and cpuset \
        counted, as in a container), \
        at most one per connection.
        """)
    var pqLanes: Int = EnvironmentDefaults.integer("LOKET_PQ_LANES", default: min(ConnectionPool.usableProcessors, 64))

    func validate() throws {
        guard (1...64).contains(pqLanes) else { throw ValidationError("--pq-lanes must be 1…64") }
    }
}
