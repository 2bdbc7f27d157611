import ArgumentParser
import Foundation
import LoketStore
import Postgres

/// `loketd admin recompute-sla`: after a calendar, holiday or target change.
struct RecomputeSLA: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recompute-sla",
        abstract: "Recompute the deadlines and next SLA stage of every open request (after a calendar, holiday or target change).",
        discussion: """
            Works in batches, each in its own transaction; every request whose deadlines change gets a
            deadline_recomputed event with the old and new instants. Running it again changes nothing.
            Workers are woken once at the end.

            Example:
              loketd admin recompute-sla
            """
    )

    @OptionGroup var database: DatabaseOptions

    @Option(help: "Requests per transaction (1…10000).")
    var batchSize = 200

    func validate() throws {
        guard (1...10_000).contains(batchSize) else { throw ValidationError("--batch-size must be 1…10000") }
    }

    func run() async throws {
        let pool = ConnectionPool(configuration: database.configuration, maxConnections: 1, acquireTimeout: .seconds(30))
        do {
            let catalog = try await pool.withConnection { try await CatalogStore.load(on: $0) }
            let result = try await SLAStore(pool: pool).recompute(catalog: catalog, now: Date(), batchSize: batchSize)
            print("examined \(result.examined) open requests; deadlines changed for \(result.changed)")
            await pool.close()
        } catch {
            await pool.close()
            throw error
        }
    }
}
