import ArgumentParser
import Foundation
import LoketStore

struct AdminPartner: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "partner",
        abstract: "API keys of Open311 partner applications (the api_key parameter).",
        subcommands: [AdminPartnerIssue.self, AdminPartnerList.self, AdminPartnerRevoke.self]
    )
}

struct AdminPartnerIssue: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "issue",
        abstract: "Issue an api_key to a partner application and print it once.",
        discussion: """
            The key alone goes to standard output; the database keeps only its SHA-256.

            Example:
              loketd admin partner issue --name "Aplikasi Lapor Serang" --email tim@lapor.example
            """
    )

    @OptionGroup var database: DatabaseOptions

    @Option(help: "The application (and organisation) the key is for.")
    var name: String

    @Option(help: "Who to contact about the key.")
    var email: String?

    func run() async throws {
        let issued = try await database.withAdminStore { try await $0.issuePartnerKey(name: name, contactEmail: email) }
        print(issued.key)
        AdminConsole.note("partner key id \(issued.id) for \(name)")
        AdminConsole.note("Simpan kunci ini sekarang: kunci tidak dapat ditampilkan lagi.")
        AdminConsole.note("Store this key now: it cannot be shown again.")
    }
}

struct AdminPartnerList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List partner keys (prefix, dates), never the keys themselves.",
        discussion: """
            Example:
              loketd admin partner list
            """
    )

    @OptionGroup var database: DatabaseOptions

    func run() async throws {
        let keys = try await database.withAdminStore { try await $0.partnerKeys() }
        guard !keys.isEmpty else {
            AdminConsole.note("no partner keys; issue one with `loketd admin partner issue`")
            return
        }
        print(AdminConsole.table(
            ["ID", "PREFIX", "STATE", "CREATED", "REVOKED", "LAST USED", "EMAIL", "NAME"],
            keys.map {
                [String($0.id), $0.prefix, $0.revokedAt == nil ? "active" : "revoked", AdminConsole.date($0.createdAt),
                 AdminConsole.date($0.revokedAt), AdminConsole.date($0.lastUsedAt), $0.contactEmail ?? "-", $0.name]
            }))
    }
}

struct AdminPartnerRevoke: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "revoke",
        abstract: "Revoke a partner key by id; Open311 calls with it are refused at once.",
        discussion: """
            Requests the partner filed keep their history.

            Example:
              loketd admin partner revoke --id 3
            """
    )

    @OptionGroup var database: DatabaseOptions

    @Option(help: "The key's id (see `loketd admin partner list`).")
    var id: Int64

    func run() async throws {
        // As for tokens: a key that is already revoked stays so; say it and succeed.
        let already = try await database.withAdminStore { store -> AdminError? in
            do {
                try await store.revokePartnerKey(id: id)
                return nil
            } catch let error as AdminError {
                guard case .partnerKeyAlreadyRevoked = error else { throw error }
                return error
            }
        }
        if let already {
            AdminConsole.note(already.message(.indonesian))
            AdminConsole.note(already.message(.english))
        } else {
            print("revoked partner key \(id)")
        }
    }
}
