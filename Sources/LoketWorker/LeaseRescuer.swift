import Foundation
import Logging
import LoketStore
import Metrics
import ServiceLifecycle

/// Returns claims whose lease lapsed to their unit's queue, with a `lease_expired` event by the
/// system, and tells the officer.
public struct LeaseRescuer: Service {
    public let store: StaffWorkStore
    public let catalog: CatalogCache
    public let clock: any WorkerClock
    public let batchSize: Int
    public let tick: Duration
    public let logger: Logger

    public init(
        store: StaffWorkStore, catalog: CatalogCache, clock: any WorkerClock = SystemWorkerClock(), batchSize: Int = 100,
        tick: Duration = .seconds(15), logger: Logger = Logger(label: "loket.worker.leases")
    ) {
        self.store = store
        self.catalog = catalog
        self.clock = clock
        self.batchSize = batchSize
        self.tick = tick
        self.logger = logger
    }

    @discardableResult
    public func runOnce() async throws -> [String] {
        let rescued = try await store.expireLeases(catalog: try await catalog.snapshot(), now: clock.now(), limit: batchSize)
        if !rescued.isEmpty {
            Counter(label: "loket_worker_lease_rescues_total").increment(by: rescued.count)
            logger.info("returned expired claims to their queues", metadata: ["requests": "\(rescued)"])
        }
        return rescued
    }

    public func run() async throws {
        await runPasses(loop: "lease_rescue", logger: logger, failure: "lease rescue failed; retrying at the next tick", pause: { await sleepUntilShutdown(tick) }) {
            try await runOnce().count == batchSize
        }
    }
}
