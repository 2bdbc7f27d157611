import Foundation
import Synchronization
import Logging

/// One forward-only schema change: `SQL/migrations/NNNN_name.sql`.
public struct Migration: Sendable, Equatable {
    public var version: Int
    public var name: String
    public var sql: String

    public init(version: Int, name: String, sql: String) {
        self.version = version
        self.name = name
        self.sql = sql
    }
}

/// Where one migration stands in a database.
public struct MigrationStatus: Sendable, Equatable {
    public enum State: Sendable, Equatable {
        case applied(at: Date)
        case pending
        /// Applied, but the file no longer matches what was applied.
        case changed(recorded: String, current: String)
        /// Recorded in the database, but no file has this version (the database is ahead of the code).
        case unknown
    }

    public var version: Int
    public var name: String
    public var state: State
}

public enum MigrationError: Error, Sendable, CustomStringConvertible {
    case unreadableDirectory(path: String, reason: String)
    case invalidFileName(String)
    case duplicateVersion(Int, [String])
    case changedAfterApply(version: Int, name: String, recorded: String, current: String)
    case unknownApplied(version: Int, name: String)
    case failed(version: Int, name: String, underlying: any Error)

    public var description: String {
        switch self {
        case .unreadableDirectory(let path, let reason):
            return "cannot read migrations from \(path): \(reason)"
        case .invalidFileName(let file):
            return "migration file \(file) is not named NNNN_name.sql (four digits, lowercase name)"
        case .duplicateVersion(let version, let files):
            return "migration version \(version) is used by more than one file: \(files.joined(separator: ", "))"
        case .changedAfterApply(let version, let name, let recorded, let current):
            return "migration \(String(format: "%04d", version))_\(name) was changed after it was applied "
                + "(recorded checksum \(recorded.prefix(12))…, file now \(current.prefix(12))…); migrations are "
                + "forward-only: restore the file and add a new migration instead"
        case .unknownApplied(let version, let name):
            return "the database has migration \(String(format: "%04d", version))_\(name) which this build does "
                + "not know: it is newer than the code; deploy the matching build"
        case .failed(let version, let name, let underlying):
            return "migration \(String(format: "%04d", version))_\(name) failed and was rolled back: \(underlying)"
        }
    }
}

/// The server's checksums of a migrator's files, once computed (a migrator is a value; the memo is
/// shared by its copies).
private final class ChecksumMemo: Sendable {
    let value = Mutex<[Int: String]?>(nil)
}

/// Applies numbered SQL files in order, each in its own transaction, under a session advisory lock
/// so that any number of processes may run it at once: one applies, the others wait and then find
/// nothing to do. Each applied file is recorded with a SHA-256 checksum, and an applied file that
/// changed is refused before anything runs.
public struct Migrator: Sendable {
    /// The advisory lock key ("loket" in ASCII), shared by every Loket process.
    public static let lockKey: Int64 = 0x6C_6F6B_6574
    public let migrations: [Migration]
    /// The server's checksums of `migrations`, computed once (readiness asks every second).
    private let knownChecksums = ChecksumMemo()

    public init(migrations: [Migration]) throws {
        var seen: [Int: [String]] = [:]
        for migration in migrations { seen[migration.version, default: []].append(migration.name) }
        if let (version, names) = seen.first(where: { $0.value.count > 1 }) {
            throw MigrationError.duplicateVersion(version, names)
        }
        self.migrations = migrations.sorted { $0.version < $1.version }
    }

    /// Reads every `NNNN_name.sql` in `directory`. Other `.sql` names are an error, so a misnamed
    /// file cannot be silently skipped.
    public init(directory: URL) throws {
        let files: [String]
        do {
            files = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        } catch {
            throw MigrationError.unreadableDirectory(path: directory.path, reason: "\(error.localizedDescription)")
        }
        var migrations: [Migration] = []
        for file in files.sorted() where file.hasSuffix(".sql") {
            guard let (version, name) = Self.parse(fileName: file) else { throw MigrationError.invalidFileName(file) }
            let sql: String
            do {
                sql = try String(contentsOf: directory.appendingPathComponent(file), encoding: .utf8)
            } catch {
                throw MigrationError.unreadableDirectory(path: file, reason: "\(error.localizedDescription)")
            }
            migrations.append(Migration(version: version, name: name, sql: sql))
        }
        try self.init(migrations: migrations)
    }

    static func parse(fileName: String) -> (Int, String)? {
        let stem = fileName.dropLast(4)  // ".sql"
        let parts = stem.split(separator: "_", maxSplits: 1)
        guard parts.count == 2, parts[0].count == 4, let version = Int(parts[0]), version > 0,
              !parts[1].isEmpty,
              parts[1].allSatisfy({ ($0.isLowercase && $0.isASCII) || $0.isNumber || $0 == "_" })
        else { return nil }
        return (version, String(parts[1]))
    }

    /// Applies what is pending and returns the migrations applied by this call (empty when the
    /// database was current).
    @discardableResult
    public func apply(on connection: PostgresConnection, logger: Logger = Logger(label: "loket.migrate")) async throws -> [Migration] {
        try await withLock(on: connection) {
            let recorded = try await recordedMigrations(on: connection)
            let checksums = try await self.checksums(on: connection)
            try verify(recorded: recorded, checksums: checksums)
            var applied: [Migration] = []
            for migration in migrations where recorded[migration.version] == nil {
                let started = ContinuousClock.now
                do {
                    try await connection.transaction { connection in
                        try await connection.executeScript(migration.sql)
                        try await connection.query(
                            """
                            INSERT INTO schema_migrations (version, name, checksum, execution_ms)
                            VALUES ($1, $2, $3, $4)
                            """,
                            migration.version, migration.name, checksums[migration.version]!,
                            Int((ContinuousClock.now - started) / .milliseconds(1)))
                    }
                } catch {
                    throw MigrationError.failed(version: migration.version, name: migration.name, underlying: error)
                }
                logger.info("applied migration", metadata: [
                    "version": "\(migration.version)", "name": "\(migration.name)",
                    "duration": "\(ContinuousClock.now - started)",
                ])
                applied.append(migration)
            }
            return applied
        }
    }

    /// Every known and recorded migration with its state, in version order.
    public func status(on connection: PostgresConnection) async throws -> [MigrationStatus] {
        try await withLock(on: connection) {
            let recorded = try await recordedMigrations(on: connection)
            let checksums = try await self.checksums(on: connection)
            var result: [MigrationStatus] = migrations.map { migration in
                let state: MigrationStatus.State
                if let record = recorded[migration.version] {
                    let current = checksums[migration.version]!
                    state = record.checksum == current
                        ? .applied(at: record.appliedAt) : .changed(recorded: record.checksum, current: current)
                } else {
                    state = .pending
                }
                return MigrationStatus(version: migration.version, name: migration.name, state: state)
            }
            let known = Set(migrations.map(\.version))
            for (version, record) in recorded where !known.contains(version) {
                result.append(MigrationStatus(version: version, name: record.name, state: .unknown))
            }
            return result.sorted { $0.version < $1.version }
        }
    }

    /// For readiness: every migration this build knows is applied, unchanged. A newer migration
    /// the build does not know is fine: during a rollout the previous release serves on the new
    /// schema, and a rollback runs it there (releases only add; deployment.md). Unlike `status`
    /// it takes no lock and writes nothing: a migration holds the lock for as long as it runs,
    /// and probes waiting on it would hold pool connections and fail meanwhile.
    public func isSatisfied(on connection: PostgresConnection) async throws -> Bool {
        guard !migrations.isEmpty else { return true }
        let present = try await connection.query("SELECT to_regclass('schema_migrations') IS NOT NULL AS present").single()
        guard try present.decode(Bool.self, "present") else { return false }
        let checksums: [Int: String]
        if let known = knownChecksums.value.withLock({ $0 }) {
            checksums = known
        } else {
            checksums = try await self.checksums(on: connection)
            knownChecksums.value.withLock { $0 = checksums }
        }
        var recorded: [Int: String] = [:]
        for row in try await connection.query("SELECT version, checksum FROM schema_migrations") {
            recorded[try row.decode(Int.self, "version")] = try row.decode(String.self, "checksum")
        }
        return migrations.allSatisfy { recorded[$0.version] != nil && recorded[$0.version] == checksums[$0.version] }
    }

    /// True when every migration is applied unchanged and the database knows no newer one.
    public func isCurrent(on connection: PostgresConnection) async throws -> Bool {
        try await status(on: connection).allSatisfy {
            if case .applied = $0.state { return true }
            return false
        }
    }

    private struct Record {
        var name: String
        var checksum: String
        var appliedAt: Date
    }

    private func withLock<T>(on connection: PostgresConnection, _ body: () async throws -> T) async throws -> T {
        try await connection.query("SELECT pg_advisory_lock($1)", Self.lockKey)
        let value: T
        do {
            value = try await body()
        } catch {
            await unlock(connection)
            throw error
        }
        await unlock(connection)
        return value
    }

    /// Releases the session lock, also in a cancelled task; a connection that cannot confirm the
    /// release is closed (which releases it), never returned to a pool still holding it, where
    /// every later `migrate` and `status` would wait on it for ever.
    private func unlock(_ connection: PostgresConnection) async {
        do {
            _ = try await connection.run("SELECT pg_advisory_unlock($1)", [Self.lockKey.postgresBind], honourCancellation: false)
        } catch {
            await connection.close()
        }
    }

    private func recordedMigrations(on connection: PostgresConnection) async throws -> [Int: Record] {
        try await connection.executeScript(
            """
            CREATE TABLE IF NOT EXISTS schema_migrations (
                version integer PRIMARY KEY CHECK (version > 0),
                name text NOT NULL,
                checksum text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now(),
                execution_ms integer NOT NULL DEFAULT 0
            );
            COMMENT ON TABLE schema_migrations IS
                'Applied schema migrations (SQL/migrations/NNNN_name.sql) with the SHA-256 of each file as applied.';
            """)
        let rows = try await connection.query("SELECT version, name, checksum, applied_at FROM schema_migrations")
        var records: [Int: Record] = [:]
        for row in rows {
            records[try row.decode(Int.self, "version")] = Record(
                name: try row.decode(String.self, "name"),
                checksum: try row.decode(String.self, "checksum"),
                appliedAt: try row.decode(Date.self, "applied_at"))
        }
        return records
    }

    /// SHA-256 of each file, computed by the server's sha256() so the checksum is the same
    /// whichever machine applied it.
    private func checksums(on connection: PostgresConnection) async throws -> [Int: String] {
        guard !migrations.isEmpty else { return [:] }
        let rows = try await connection.query(
            "SELECT ord::bigint AS ord, encode(sha256(convert_to(body, 'UTF8')), 'hex') AS checksum FROM unnest($1::text[]) WITH ORDINALITY AS f(body, ord)",
            migrations.map(\.sql))
        var result: [Int: String] = [:]
        for row in rows {
            result[migrations[try row.decode(Int.self, "ord") - 1].version] = try row.decode(String.self, "checksum")
        }
        return result
    }

    private func verify(recorded: [Int: Record], checksums: [Int: String]) throws {
        let known = Dictionary(uniqueKeysWithValues: migrations.map { ($0.version, $0) })
        for (version, record) in recorded.sorted(by: { $0.key < $1.key }) {
            guard let migration = known[version] else {
                throw MigrationError.unknownApplied(version: version, name: record.name)
            }
            let current = checksums[version]!
            if record.checksum != current {
                throw MigrationError.changedAfterApply(
                    version: version, name: migration.name, recorded: record.checksum, current: current)
            }
        }
    }
}
