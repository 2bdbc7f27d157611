import Foundation
import Logging
import LoketStore
import Metrics
import ServiceLifecycle

/// Closes requests that have waited for the citizen for `workingDays` working days of their
/// service's calendar (a working day is the calendar's `day_minutes`): the system rejects them
/// with a reason the citizen reads, in the audit trail and the citizen's notification, so that
/// nothing waits in a drawer for ever. A request whose citizen answers in the meantime, or has
/// uploaded a document since the question (without a reply to go with it), is left alone: an
/// officer decides. Several workers may run; each close takes the request's row lock.
public struct AutoCloser: Service {
    public let store: AutoCloseStore
    public let catalog: CatalogCache
    public let workingDays: Int
    public let clock: any WorkerClock
    public let batchSize: Int
    public let interval: Duration
    public let logger: Logger

    public init(
        store: AutoCloseStore, catalog: CatalogCache, workingDays: Int, clock: any WorkerClock = SystemWorkerClock(),
        batchSize: Int = 200, interval: Duration = .seconds(300), logger: Logger = Logger(label: "loket.worker.autoclose")
    ) {
        precondition(workingDays >= 1, "auto-close needs at least one working day")
        self.store = store
        self.catalog = catalog
        self.workingDays = workingDays
        self.clock = clock
        self.batchSize = batchSize
        self.interval = interval
        self.logger = logger
    }

    /// The reason the citizen reads.
    public var reason: String {
        "Permohonan ditutup otomatis karena tidak ada tanggapan dari pemohon dalam \(workingDays) hari kerja. "
            + "Silakan ajukan permohonan baru bila masih diperlukan. "
            + "(Closed automatically: no answer from the applicant within \(workingDays) working days. "
            + "Please file a new request if it is still needed.)"
    }

    /// Closes every request due by now; returns their tracking codes.
    @discardableResult
    public func runOnce() async throws -> [String] {
        let now = clock.now()
        let snapshot = try await catalog.snapshot()
        // N working days take at least N calendar days: the index narrows to those, the calendar
        // decides.
        let cutoff = now.addingTimeInterval(-Double(workingDays) * 86_400)
        var closed: [String] = []
        var cursor: WaitingRequest?
        while true {
            let page = try await store.waiting(since: cutoff, after: cursor, limit: batchSize)
            for request in page {
                guard let service = snapshot.servicesByID[request.serviceTypeID] else { continue }
                let calendar = snapshot.calendar(for: service)
                guard calendar.calendar.workingMinutes(from: request.pausedAt, to: now) >= workingDays * calendar.dayMinutes else { continue }
                do {
                    if try await store.close(request, reason: reason, catalog: snapshot, now: now) { closed.append(request.trackingCode) }
                } catch is CancellationError {
                    throw CancellationError()
                } catch {
                    // One request that cannot be closed must not hold up the ones after it.
                    logger.error("auto-close of a request failed", metadata: ["request": "\(request.trackingCode)", "error": "\(error)"])
                }
            }
            guard page.count == batchSize, let last = page.last, !Task.isShuttingDownGracefully, !Task.isCancelled else { break }
            cursor = last
        }
        if !closed.isEmpty {
            Counter(label: "loket_worker_auto_closed_total").increment(by: closed.count)
            logger.info("closed requests that waited too long for the citizen", metadata: ["requests": "\(closed)"])
        }
        return closed
    }

    public func run() async throws {
        await runPasses(logger: logger, failure: "auto-close failed; retrying later", pause: { await sleepUntilShutdown(interval) }) {
            _ = try await runOnce()
            return false
        }
    }
}
