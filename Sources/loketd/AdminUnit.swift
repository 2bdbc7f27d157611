import ArgumentParser
import LoketStore

struct AdminUnit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "unit",
        abstract: "Units of the organisation tree (agency → division → section, plus front offices).",
        subcommands: [AdminUnitAdd.self, AdminUnitList.self]
    )
}

struct AdminUnitAdd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add",
        abstract: "Add a unit.",
        discussion: """
            To rename, move or deactivate units, or to move the triage role, edit the catalog file \
            and import it (`loketd admin catalog export`, then `import`): those changes are checked \
            against the whole tree.

            Examples:
              loketd admin unit add --code DISDUKCAPIL-IDP --name "Seksi Identitas Penduduk" --parent DISDUKCAPIL-DAFDUK --kind section
              loketd admin unit add --code MPP-FO --name "Front Office MPP" --parent DPMPTSP --kind front_office --triage
            """
    )

    @OptionGroup var database: DatabaseOptions

    @Option(help: "Unique code: uppercase letters and digits, parts joined by dashes (e.g. DISDUKCAPIL-IDP).")
    var code: String

    @Option(help: "Full name, e.g. \"Seksi Identitas Penduduk\".")
    var name: String

    @Option(help: "Code of the parent unit; leave out for the top of the tree.")
    var parent: String?

    @Option(help: "agency, division, section or front_office.", completion: .list(AdminStore.UnitKind.allCases.map(\.rawValue)),
            transform: { text in
                guard let kind = AdminStore.UnitKind(rawValue: text) else {
                    throw ValidationError("unknown kind \"\(text)\": use agency, division, section or front_office")
                }
                return kind
            })
    var kind: AdminStore.UnitKind

    @Flag(help: "Make this front_office unit the triage unit (requests no rule can place go there; only one unit may be).")
    var triage = false

    func run() async throws {
        let unit = try await database.withAdminStore { store in
            try await store.addUnit(code: code, name: name, parentCode: parent, kind: kind, isTriage: triage)
        }
        let placement = unit.parentCode.map { "under \($0)" } ?? "at the top of the tree"
        print("added unit \(unit.code) (\(unit.name)), \(unit.kind) \(placement)\(unit.isTriage ? ", triage unit" : "")")
    }
}

struct AdminUnitList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List every unit as a tree, with its kind and number of active officers.",
        discussion: """
            Example:
              loketd admin unit list
            """
    )

    @OptionGroup var database: DatabaseOptions

    func run() async throws {
        let units = try await database.withAdminStore { try await $0.units() }
        guard !units.isEmpty else {
            AdminConsole.note("no units yet: add one with `loketd admin unit add` or import a catalog")
            return
        }
        let rows = units.map { entry in
            let unit = entry.unit
            var flags: [String] = []
            if unit.isTriage { flags.append("triage") }
            if !unit.active { flags.append("inactive") }
            return [
                String(repeating: "  ", count: entry.depth) + unit.code, unit.kind, String(unit.activeStaff),
                flags.joined(separator: ","), unit.name,
            ]
        }
        print(AdminConsole.table(["CODE", "KIND", "STAFF", "FLAGS", "NAME"], rows))
    }
}
