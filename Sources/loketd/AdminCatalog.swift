import ArgumentParser
import Foundation
import LoketStore

struct AdminCatalog: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "catalog",
        abstract: "Export or import calendars, holidays, units, areas, service types and routing rules as one JSON file.",
        discussion: "The file format is described in docs/admin.md.",
        subcommands: [AdminCatalogExport.self, AdminCatalogImport.self]
    )
}

struct AdminCatalogExport: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write the catalog as JSON (entries refer to each other by code, never by database id).",
        discussion: """
            Examples:
              loketd admin catalog export > catalog.json
              loketd admin catalog export --file catalog-2026-05-04.json
            """
    )

    @OptionGroup var database: DatabaseOptions

    @Option(help: "Write to this file instead of standard output.")
    var file: String?

    func run() async throws {
        let export = try await database.withConnection { try await CatalogTransfer.export(on: $0) }
        let data = try CatalogTransfer.encode(export.file)
        if let file {
            try data.write(to: URL(fileURLWithPath: file), options: .atomic)
            let catalog = export.file
            AdminConsole.note(
                "wrote \(file): \(catalog.calendars.count) calendars, \(catalog.calendars.reduce(0) { $0 + $1.holidays.count }) holidays, "
                    + "\(catalog.units.count) units, \(catalog.areas.count) areas, \(catalog.serviceTypes.count) service types, "
                    + "\(catalog.routingRules.count) routing rules")
        } else {
            FileHandle.standardOutput.write(data)
        }
        for note in export.notes { AdminConsole.note("note: " + note) }
    }
}

struct AdminCatalogImport: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Validate a catalog file completely, then apply it in one transaction (or change nothing).",
        discussion: """
            Every entry is upserted by its natural key: code (calendars, units, areas, service types), \
            date within a calendar (holidays), and (service, area, priority) for routing rules. A \
            calendar's "intervals" replace its weekly hours; holidays are added or updated, never \
            deleted. Nothing is deleted: set "active": false instead. With any problem, all of them \
            are listed and nothing changes.

            Examples:
              loketd admin catalog import --file catalog.json --dry-run
              loketd admin catalog import --file catalog.json
              loketd admin catalog export | jq '…' | loketd admin catalog import --file -
            """
    )

    @OptionGroup var database: DatabaseOptions

    @Option(help: "The catalog file; - reads standard input.")
    var file: String

    @Flag(help: "Validate and report what would change, then roll back.")
    var dryRun = false

    func run() async throws {
        let data: Data
        do {
            data = file == "-"
                ? FileHandle.standardInput.readDataToEndOfFile()
                : try Data(contentsOf: URL(fileURLWithPath: file))
        } catch {
            AdminConsole.note("error: berkas \(file) tidak dapat dibaca / cannot read \(file): \(error.localizedDescription)")
            throw ExitCode.failure
        }
        let summary: CatalogImportSummary
        do {
            summary = try await database.withConnection { try await CatalogTransfer.importCatalog(data, dryRun: dryRun, on: $0) }
        } catch let error as CatalogImportError {
            switch error {
            case .invalid(let problems):
                for problem in problems { AdminConsole.note("  " + problem.description) }
                AdminConsole.note(
                    "\(problems.count) problem\(problems.count == 1 ? "" : "s") in \(file); nothing was changed. Fix them and run the import again (--dry-run checks without changing anything).")
            case .refusedByDatabase:
                AdminConsole.note("error: basis data menolak impor ini, tidak ada yang diubah / \(error)")
            }
            throw ExitCode.failure
        }
        print(summary.dryRun ? "dry run, nothing was changed; the import would make these changes:" : "imported \(file):")
        print(AdminConsole.table(
            ["KIND", "CREATED", "UPDATED", "UNCHANGED"],
            summary.rows.map { [$0.kind, String($0.counts.created), String($0.counts.updated), String($0.counts.unchanged)] }))
        if !summary.recomputeCalendars.isEmpty || !summary.recomputeServices.isEmpty {
            let changed = summary.recomputeCalendars.map { "calendar \($0)" } + summary.recomputeServices.map { "service \($0)" }
            AdminConsole.note(
                "\(summary.dryRun ? "would change" : "changed") working time, targets or escalation of \(changed.joined(separator: ", ")): "
                    + "open requests keep the deadlines they were given until they are recomputed (`loketd admin recompute-sla`)")
        }
    }
}
