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

    /// One batch: the stages due now for up to `batchSize` requests, committed whole.
    @discardableResult
    public func runOnce() async throws -> SLABatchResult {
        let started = ContinuousClock.now
        let result = try await store.applyDueStages(now: clock.now(), limit: batchSize, catalog: try await catalog.snapshot())
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
