import Foundation
import Logging
import LoketStore
import ServiceLifecycle

/// Hourly: drops expired Idempotency-Key answers, notifications delivered more than
/// `keepDelivered` ago and dashboard sign-outs whose cookies have expired, in small batches.
public struct RetentionCleaner: Service {
    public let store: RetentionStore
    public let clock: any WorkerClock
    public let keepDelivered: TimeInterval
    public let batchSize: Int
    public let interval: Duration
    public let logger: Logger

    public init(
        store: RetentionStore, clock: any WorkerClock = SystemWorkerClock(), keepDelivered: TimeInterval = 30 * 86_400,
        batchSize: Int = 1000, interval: Duration = .seconds(3600), logger: Logger = Logger(label: "loket.worker.retention")
    ) {
        self.store = store
        self.clock = clock
        self.keepDelivered = keepDelivered
        self.batchSize = batchSize
        self.interval = interval
        self.logger = logger
    }

    /// Purges until a batch comes back short.
    @discardableResult
    public func runOnce() async throws -> RetentionStore.Purged {
        var total = RetentionStore.Purged()
        while true {
            let purged = try await store.purge(now: clock.now(), keepDelivered: keepDelivered, limit: batchSize)
            total.idempotencyKeys += purged.idempotencyKeys
            total.notifications += purged.notifications
            total.signOuts += purged.signOuts
            if max(purged.idempotencyKeys, purged.notifications, purged.signOuts) < batchSize { break }
        }
        if total != RetentionStore.Purged() {
            logger.info("purged expired rows", metadata: [
                "idempotency_keys": "\(total.idempotencyKeys)", "notifications": "\(total.notifications)", "sign_outs": "\(total.signOuts)",
            ])
        }
        return total
    }

    public func run() async throws {
        await runPasses(loop: "retention", logger: logger, failure: "retention purge failed; retrying later", pause: { await sleepUntilShutdown(interval) }) {
            _ = try await runOnce()
            return false
        }
    }
}
