import Foundation
import Logging
import LoketStore
import Metrics
import ServiceLifecycle

/// Applies due SLA stages: notices before the deadline, the breach at 100 %, then further
/// escalation levels up the unit tree, each exactly once per request even with several workers.
public struct SLAScanner: Service {
    public let store: SLAStore
    public let catalog: CatalogCache
    public let clock: any WorkerClock
    public let wakeup: Wakeup
    /// Woken when stages queued notifications, so the dispatcher in this process sends them at once.
    public let outboxWakeup: Wakeup?
    public let batchSize: Int
    public let tick: Duration
    public let logger: Logger

    public init(
        store: SLAStore, catalog: CatalogCache, clock: any WorkerClock = SystemWorkerClock(), wakeup: Wakeup = Wakeup(),
        outboxWakeup: Wakeup? = nil, batchSize: Int = 500, tick: Duration = .seconds(5), logger: Logger = Logger(label: "loket.worker.sla")
    ) {
        self.store = store
        self.catalog = catalog
        self.clock = clock
        self.wakeup = wakeup
        self.outboxWakeup = outboxWakeup
        self.batchSize = batchSize
        self.tick = tick
        self.logger = logger
    }

    /// One batch: the stages due now for up to `batchSize` requests, committed whole. If the batch
    /// fails for a request's own reason, the same requests go one by one, and one that fails is
    /// held back for a while (logged with its tracking code) so that the others' stages go on.
    @discardableResult
    public func runOnce() async throws -> SLABatchResult {
        let started = ContinuousClock.now
        let now = clock.now()
        let snapshot = try await catalog.snapshot()
        let result: SLABatchResult
        do {
            result = try await store.applyDueStages(now: now, limit: batchSize, catalog: snapshot)
        } catch where SLAStore.isRequestFault(error) {
            logger.warning("SLA batch failed; applying its requests one by one", metadata: ["error": "\(error)"])
            let (applied, held) = try await store.applyDueStagesOneByOne(now: now, limit: batchSize, catalog: snapshot)
            for (trackingCode, error) in held {
                logger.error("SLA stages of a request failed; held back for 5 minutes", metadata: [
                    "request": "\(trackingCode)", "error": "\(error)",
                ])
            }
            if !held.isEmpty { Counter(label: "loket_worker_sla_held_total").increment(by: held.count) }
            result = applied
        }
        Timer(label: "loket_worker_sla_scan_duration_seconds").recordNanoseconds((ContinuousClock.now - started).nanoseconds)
        for (kind, count) in result.stages {
            Counter(label: "loket_worker_sla_stages_total", dimensions: [("kind", kind)]).increment(by: count)
        }
        if let breaches = result.stages["breach"] { Counter(label: "loket_worker_sla_breaches_total").increment(by: breaches) }
        if result.moved > 0 { Counter(label: "loket_worker_sla_moves_total").increment(by: result.moved) }
        if result.stagesApplied > 0 {
            outboxWakeup?.signal()
            logger.info("applied SLA stages", metadata: ["requests": "\(result.requests)", "stages": "\(result.stages)"])
        }
        return result
    }

    public func run() async throws {
        // Exported at 0 from the start, so that the first request held back is an increase.
        _ = Counter(label: "loket_worker_sla_held_total")
        await runPasses(
            loop: "sla_scan", logger: logger, failure: "SLA scan failed; retrying at the next tick",
            pause: { await cancelWhenGracefulShutdown { await wakeup.wait(timeout: tick) } }
        ) {
            let result = try await runOnce()
            Gauge(label: "loket_worker_sla_due_backlog").record(try await store.dueCount(now: clock.now()))
            // A full batch means more is due: go again without waiting.
            return result.requests == batchSize
        }
    }
}

extension Duration {
    var nanoseconds: Int64 {
        components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000
    }
}
