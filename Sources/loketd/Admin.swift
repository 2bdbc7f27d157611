import ArgumentParser
import Foundation
import LoketCore
import LoketStore
import Postgres

/// `loketd admin …`: accounts, credentials and the catalog, with direct database access. Staff
/// machines never run this; an administrator does, on a host that holds database credentials.
struct Admin: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage units, staff, tokens, partner keys, the catalog and dead-lettered notifications (direct database access).",
        discussion: """
            Every subcommand connects to the database like `loketd migrate` (--database-url, else \
            LOKET_DATABASE_URL, DATABASE_URL or PG* variables). Refusals are printed in Indonesian, \
            then English, and exit with status 1. See docs/admin.md.

            Examples:
              loketd admin unit list
              loketd admin staff add --nip 199001142015032002 --name "Nurul Hidayah, S.E." --unit DISDUKCAPIL-IDP --role staff
              loketd admin token issue --nip 199001142015032002 --label laptop
              loketd admin catalog export --file catalog.json
              loketd admin catalog import --file catalog.json --dry-run
            """,
        subcommands: [
            AdminUnit.self, AdminStaff.self, AdminToken.self, AdminPartner.self, AdminCatalog.self, RecomputeSLA.self, AdminOutbox.self,
        ]
    )
}

extension DatabaseOptions {
    /// A one-connection pool for an admin command (the stores work on pools), closed afterwards.
    /// An ``AdminError`` is printed for the admin and turned into exit status 1.
    func withAdminStore<T>(_ body: (AdminStore) async throws -> T) async throws -> T {
        do {
            return try await withPool { try await body(AdminStore(pool: $0)) }
        } catch let error as AdminError {
            throw AdminConsole.refuse(error)
        }
    }
}

/// Terminal output of the admin commands: results on stdout (so they can be piped), notes and
/// refusals on stderr.
enum AdminConsole {
    static func note(_ text: String) {
        FileHandle.standardError.write(Data((text + "\n").utf8))
    }

    /// Prints a refusal in both languages and gives the exit status to throw.
    static func refuse(_ error: some UserFacingError) -> ExitCode {
        note("error: " + error.message(.indonesian))
        note("       " + error.message(.english))
        return .failure
    }

    /// Left-aligned columns separated by two spaces; the last column is not padded.
    static func table(_ header: [String], _ rows: [[String]]) -> String {
        let all = [header] + rows
        let widths = header.indices.map { column in all.map { $0[column].count }.max() ?? 0 }
        return all.map { row in
            row.enumerated().map { column, cell in
                column == row.count - 1 ? cell : cell.padding(toLength: widths[column], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }.joined(separator: "\n")
    }

    static func date(_ date: Date?) -> String {
        date.map(AdminStore.format) ?? "-"
    }

    static func role(_ text: String) throws -> StaffRole {
        guard let role = StaffRole(rawValue: text) else {
            throw ValidationError("unknown role \"\(text)\": use \(StaffRole.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return role
    }

    static let roleHelp = ArgumentHelp(
        "staff, supervisor, manager or admin.",
        discussion: "staff works requests; supervisor also assigns and sees the unit's escalations; manager also reads reports; admin manages configuration.")
}
