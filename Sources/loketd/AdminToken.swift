import ArgumentParser
import Foundation
import LoketStore

struct AdminToken: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token",
        abstract: "Personal API tokens of officers (for the `loket` CLI and the staff API).",
        discussion: """
            A token is shown once, when it is issued; the database keeps only its SHA-256 and its \
            first 8 characters (the prefix shown in listings). To rotate: issue a new token, let the \
            officer `loket login` with it, then revoke the old one by its id.
            """,
        subcommands: [AdminTokenIssue.self, AdminTokenList.self, AdminTokenRevoke.self]
    )
}

struct AdminTokenIssue: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "issue",
        abstract: "Issue a token to an active officer and print it once.",
        discussion: """
            The token alone goes to standard output, so it can be captured; everything else goes to \
            standard error.

            Examples:
              loketd admin token issue --nip 199001142015032002 --label "laptop 2026"
              token=$(loketd admin token issue --nip 199001142015032002 --expires-in-days 30)
            """
    )

    @OptionGroup var database: DatabaseOptions

    @Option(help: "The officer's NIP.")
    var nip: String

    @Option(help: "A note to recognise the token by, e.g. the device.")
    var label: String?

    @Option(help: "Days until the token expires (default 90).")
    var expiresInDays: Int?

    @Flag(help: "Issue a token that never expires (it can still be revoked). Prefer an expiry.")
    var neverExpires = false

    func validate() throws {
        if neverExpires && expiresInDays != nil {
            throw ValidationError("give either --expires-in-days or --never-expires, not both")
        }
        if let expiresInDays, !(1...3650).contains(expiresInDays) {
            throw ValidationError("--expires-in-days must be 1…3650")
        }
    }

    func run() async throws {
        let now = Date()
        let expiresAt = neverExpires ? nil : now.addingTimeInterval(Double(expiresInDays ?? 90) * 86_400)
        let (issued, staff) = try await database.withAdminStore { store in
            try await store.issueToken(nip: nip, label: label, expiresAt: expiresAt, now: now)
        }
        print(issued.token)
        AdminConsole.note(
            "token id \(issued.id) for \(staff.nip) \(staff.name), "
                + (issued.expiresAt.map { "expires \(AdminStore.format($0))" } ?? "never expires"))
        AdminConsole.note("Simpan token ini sekarang: token tidak dapat ditampilkan lagi.")
        AdminConsole.note("Store this token now: it cannot be shown again. The officer runs `loket login` with it.")
    }
}

struct AdminTokenList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List tokens (prefix, label, dates, state), never the tokens themselves.",
        discussion: """
            Examples:
              loketd admin token list
              loketd admin token list --nip 199001142015032002
            """
    )

    @OptionGroup var database: DatabaseOptions

    @Option(help: "Only this officer's tokens.")
    var nip: String?

    func run() async throws {
        let tokens = try await database.withAdminStore { try await $0.tokens(nip: nip) }
        guard !tokens.isEmpty else {
            AdminConsole.note("no tokens\(nip.map { " for \($0)" } ?? ""); issue one with `loketd admin token issue`")
            return
        }
        let now = Date()
        print(AdminConsole.table(
            ["ID", "PREFIX", "STATE", "NIP", "CREATED", "EXPIRES", "REVOKED", "LAST USED", "LABEL"],
            tokens.map {
                [String($0.id), $0.prefix, $0.state(now: now), $0.nip, AdminConsole.date($0.createdAt),
                 $0.expiresAt.map(AdminStore.format) ?? "never", AdminConsole.date($0.revokedAt), AdminConsole.date($0.lastUsedAt),
                 $0.label ?? "-"]
            }))
    }
}

struct AdminTokenRevoke: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "revoke",
        abstract: "Revoke a token by id; it stops working at once.",
        discussion: """
            Example:
              loketd admin token revoke --id 17
            """
    )

    @OptionGroup var database: DatabaseOptions

    @Option(help: "The token's id (see `loketd admin token list`).")
    var id: Int64

    func run() async throws {
        // Revoking twice leaves the token revoked, as asked: a note, not a failure, so that a
        // rotation script can be run again.
        let already = try await database.withAdminStore { store -> AdminError? in
            do {
                try await store.revokeToken(id: id)
                return nil
            } catch let error as AdminError {
                guard case .tokenAlreadyRevoked = error else { throw error }
                return error
            }
        }
        if let already {
            AdminConsole.note(already.message(.indonesian))
            AdminConsole.note(already.message(.english))
        } else {
            print("revoked token \(id)")
        }
    }
}
