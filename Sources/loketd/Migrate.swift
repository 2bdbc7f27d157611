import ArgumentParser
import Foundation
import Logging
import Postgres

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Apply pending schema migrations (safe to run twice, or from several processes at once).",
        discussion: """
            Migrations are SQL/migrations/NNNN_name.sql, applied in order, each in its own transaction
            under an advisory lock, and recorded with a checksum. A file changed after it was applied is
            refused.

            Examples:
              loketd migrate
              loketd migrate --status
              loketd migrate --database-url postgres://loket@db.internal/loket
            """
    )

    @OptionGroup var database: DatabaseOptions

    @Flag(help: "List every migration and whether it is applied, pending or changed; change nothing.")
    var status = false

    func run() async throws {
        let migrator = try Migrator(directory: database.sqlDirectory().appendingPathComponent("migrations"))
        let logger = Logger(label: "loketd.migrate")
        if status {
            let statuses = try await database.withConnection { try await migrator.status(on: $0) }
            let formatter = ISO8601DateFormatter()
            var problems = 0
            for entry in statuses {
                let label = String(format: "%04d_%@", entry.version, entry.name)
                switch entry.state {
                case .applied(let at):
                    print("applied  \(label)  \(formatter.string(from: at))")
                case .pending:
                    print("pending  \(label)")
                case .changed:
                    problems += 1
                    print("CHANGED  \(label)  (file differs from what was applied)")
                case .unknown:
                    problems += 1
                    print("UNKNOWN  \(label)  (in the database, not in this build)")
                }
            }
            if problems > 0 { throw ExitCode(2) }
            return
        }
        let applied = try await database.withConnection { try await migrator.apply(on: $0, logger: logger) }
        if applied.isEmpty {
            print("database is up to date (\(migrator.migrations.count) migrations)")
        } else {
            for migration in applied { print(String(format: "applied %04d_%@", migration.version, migration.name)) }
        }
    }
}

struct Seed: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Load the sample catalog (SQL/seed/*.sql, in name order, each in one transaction).",
        discussion: """
            The seed files are idempotent: running them again changes nothing. They are sample
            configuration for Kota Serang, not an official catalogue. Run `loketd migrate` first.

            Example:
              loketd seed
            """
    )

    @OptionGroup var database: DatabaseOptions

    func run() async throws {
        let directory = try database.sqlDirectory().appendingPathComponent("seed")
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path)
            .filter { $0.hasSuffix(".sql") }.sorted()
        let scripts = try files.map { ($0, try String(contentsOf: directory.appendingPathComponent($0), encoding: .utf8)) }
        try await database.withConnection { connection in
            for (file, sql) in scripts {
                try await connection.transaction { try await $0.executeScript(sql) }
                print("loaded \(file)")
            }
        }
    }
}
