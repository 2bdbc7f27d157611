import ArgumentParser
import LoketCore
import LoketStore

struct AdminStaff: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "staff",
        abstract: "Officers (ASN): register, list, change roles and units, deactivate and reactivate.",
        subcommands: [
            AdminStaffAdd.self, AdminStaffList.self, AdminStaffSetRole.self, AdminStaffMove.self, AdminStaffDeactivate.self,
            AdminStaffActivate.self,
        ]
    )
}

struct AdminStaffAdd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add",
        abstract: "Register an officer by NIP.",
        discussion: """
            The NIP is checked digit by digit: birth date (YYYYMMDD), appointment (YYYYMM, not before \
            the 18th birthday, not in the future), sex digit (1 or 2) and a serial other than 000. \
            Spaces between the groups are allowed.

            Example:
              loketd admin staff add --nip "19900114 201503 2 002" --name "Nurul Hidayah, S.E." \\
                --unit DISDUKCAPIL-IDP --role staff --email nurul.hidayah@serangkota.go.id
            """
    )

    @OptionGroup var database: DatabaseOptions

    @Option(help: "Nomor Induk Pegawai, 18 digits.")
    var nip: String

    @Option(help: "Full name with titles, as on the SK.")
    var name: String

    @Option(help: "Code of the officer's unit (see `loketd admin unit list`).")
    var unit: String

    @Option(help: AdminConsole.roleHelp, completion: .list(StaffRole.allCases.map(\.rawValue)), transform: AdminConsole.role)
    var role: StaffRole

    @Option(help: "Work e-mail address for notifications.")
    var email: String?

    func run() async throws {
        let staff = try await database.withAdminStore { store in
            try await store.addStaff(nip: nip, name: name, unitCode: unit, role: role, email: email)
        }
        print("registered \(staff.nip) \(staff.name) as \(staff.role) in \(staff.unitCode)")
        AdminConsole.note("next: give them a token with `loketd admin token issue --nip \(staff.nip)`")
    }
}

struct AdminStaffList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List officers, by unit, highest role first.",
        discussion: """
            TOKENS counts tokens that are neither revoked nor expired.

            Examples:
              loketd admin staff list
              loketd admin staff list --unit DISDUKCAPIL
            """
    )

    @OptionGroup var database: DatabaseOptions

    @Option(help: "Only this unit and the units below it.")
    var unit: String?

    func run() async throws {
        let staff = try await database.withAdminStore { try await $0.staff(unitCode: unit) }
        guard !staff.isEmpty else {
            AdminConsole.note("no officers\(unit.map { " in \($0) or below it" } ?? ""); add one with `loketd admin staff add`")
            return
        }
        print(AdminConsole.table(
            ["NIP", "UNIT", "ROLE", "ACTIVE", "TOKENS", "NAME", "EMAIL"],
            staff.map {
                [$0.nip, $0.unitCode, $0.role, $0.active ? "yes" : "no", String($0.liveTokens), $0.name, $0.email ?? "-"]
            }))
    }
}

struct AdminStaffSetRole: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "set-role",
        abstract: "Change an officer's role (takes effect on their next request).",
        discussion: """
            Example:
              loketd admin staff set-role --nip 199001142015032002 --role supervisor
            """
    )

    @OptionGroup var database: DatabaseOptions

    @Option(help: "The officer's NIP.")
    var nip: String

    @Option(help: AdminConsole.roleHelp, completion: .list(StaffRole.allCases.map(\.rawValue)), transform: AdminConsole.role)
    var role: StaffRole

    func run() async throws {
        let (before, staff) = try await database.withAdminStore { try await $0.setRole(nip: nip, role: role) }
        if before == staff.role {
            print("\(staff.nip) \(staff.name) is already \(staff.role); nothing changed")
        } else {
            print("\(staff.nip) \(staff.name): \(before) → \(staff.role)")
        }
    }
}

struct AdminStaffMove: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "move",
        abstract: "Move an officer to another unit (takes effect on their next request).",
        discussion: """
            The unit must be active, and the officer must hold no open request (they release theirs \
            with `loket release`, or a supervisor assigns them to someone else): in the new unit \
            they could no longer act on them. Tokens stay valid.

            Example:
              loketd admin staff move --nip 199001142015032002 --unit DISDUKCAPIL-PDP
            """
    )

    @OptionGroup var database: DatabaseOptions

    @Option(help: "The officer's NIP.")
    var nip: String

    @Option(help: "The code of the unit they now work in.")
    var unit: String

    func run() async throws {
        let (from, staff) = try await database.withAdminStore { try await $0.move(nip: nip, toUnit: unit) }
        if from == staff.unitCode {
            print("\(staff.nip) \(staff.name) already works in \(staff.unitCode); nothing changed")
        } else {
            print("\(staff.nip) \(staff.name): \(from) → \(staff.unitCode)")
        }
    }
}

struct AdminStaffDeactivate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "deactivate",
        abstract: "Deactivate an officer and revoke all their tokens.",
        discussion: """
            The account and its audit trail stay (every past action keeps its name). Requests the \
            officer still holds are listed so a supervisor can reassign them; unattended claims also \
            return to the queue when their lease expires.

            Example:
              loketd admin staff deactivate --nip 199001142015032002
            """
    )

    @OptionGroup var database: DatabaseOptions

    @Option(help: "The officer's NIP.")
    var nip: String

    func run() async throws {
        let result = try await database.withAdminStore { try await $0.deactivate(nip: nip) }
        let staff = result.staff
        print(result.changed
            ? "deactivated \(staff.nip) \(staff.name) (\(staff.unitCode)); revoked \(result.revokedTokens) token(s)"
            : "\(staff.nip) \(staff.name) was already inactive; revoked \(result.revokedTokens) remaining token(s)")
        if !result.heldRequests.isEmpty {
            AdminConsole.note(
                "\(staff.name) still holds \(result.heldRequests.count) open request(s): a supervisor of \(staff.unitCode) should reassign them (`loket assign CODE NIP`): \(result.heldRequests.joined(separator: ", "))")
        }
    }
}

struct AdminStaffActivate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "activate",
        abstract: "Reactivate a deactivated officer (their old tokens stay revoked).",
        discussion: """
            Example:
              loketd admin staff activate --nip 199001142015032002
              loketd admin token issue --nip 199001142015032002
            """
    )

    @OptionGroup var database: DatabaseOptions

    @Option(help: "The officer's NIP.")
    var nip: String

    func run() async throws {
        let (changed, staff) = try await database.withAdminStore { try await $0.activate(nip: nip) }
        print(changed
            ? "reactivated \(staff.nip) \(staff.name) (\(staff.unitCode), \(staff.role))"
            : "\(staff.nip) \(staff.name) is already active; nothing changed")
        if changed { AdminConsole.note("their old tokens stay revoked: issue a new one with `loketd admin token issue --nip \(staff.nip)`") }
    }
}
