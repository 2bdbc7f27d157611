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

            Servers and workers keep a copy of the catalog for up to 30 s, and every change of a
            request writes its deadlines from that copy. Right after a catalog import (or another
            change of a calendar or a service's targets) the command therefore first waits until
            every copy is newer than the change (at most 40 s; it says so), so that no process still
            writes the old deadlines over the new ones.

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
        let batchSize = self.batchSize
        try await database.withPool { pool in
            let store = SLAStore(pool: pool)
            let settle = try await store.catalogSettleDelay()
            if settle > .zero {
                let seconds = Int((Double(settle.components.seconds) + Double(settle.components.attoseconds) / 1e18).rounded(.up))
                print("the catalog changed moments ago: waiting \(seconds) s until every server and worker reads it anew")
                try await Task.sleep(for: settle)
            }
            let catalog = try await pool.withConnection { try await CatalogStore.load(on: $0) }
            let result = try await store.recompute(catalog: catalog, now: Date(), batchSize: batchSize)
            print("examined \(result.examined) open requests; deadlines changed for \(result.changed)")
        }
    }
}
