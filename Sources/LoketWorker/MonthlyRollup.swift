import Foundation
import Logging
import LoketCore
import LoketStore
import Metrics
import ServiceLifecycle

/// Hourly (and at start): rolls up every finished month's daily report summaries into
/// report_monthly, oldest first, so long reports read twelve rows a year per unit and service
/// while closings only ever touch their own officer's daily row. Months are safe to roll up at any
/// time and by several workers at once (see `ReportStore.rollUpMonth`).
public struct MonthlyRollup: Service {
    public let store: ReportStore
    public let clock: any WorkerClock
    public let interval: Duration
    public let logger: Logger

    public init(
        store: ReportStore, clock: any WorkerClock = SystemWorkerClock(), interval: Duration = .seconds(3600),
        logger: Logger = Logger(label: "loket.worker.rollup")
    ) {
        self.store = store
        self.clock = clock
        self.interval = interval
        self.logger = logger
    }

    /// The months rolled up by this pass. A month counts as finished once it has ended everywhere
    /// (the date west of the last time zone, UTC−12), so no service's calendar still closes into it;
    /// a closing that is dated into a rolled-up month anyway is added to the monthly row as well.
    @discardableResult
    public func runOnce() async throws -> [LocalDate] {
        let today = Self.earliestDate(at: clock.now())
        var rolled: [LocalDate] = []
        while let month = try await store.nextMonthToRollUp(before: today) {
            let started = ContinuousClock.now
            if try await store.rollUpMonth(month, now: clock.now()) {
                rolled.append(month)
                Counter(label: "loket_worker_report_months_rolled_up_total").increment()
                logger.info("rolled up the month's report summaries", metadata: [
                    "month": "\(month)", "duration": "\(ContinuousClock.now - started)",
                ])
            }
        }
        return rolled
    }

    static func earliestDate(at instant: Date) -> LocalDate {
        LocalDate(daysSinceEpoch: Int(((instant.timeIntervalSince1970 - 12 * 3600) / 86_400).rounded(.down)))
    }

    public func run() async throws {
        await runPasses(loop: "monthly_rollup", logger: logger, failure: "monthly report rollup failed; retrying later", pause: { await sleepUntilShutdown(interval) }) {
            _ = try await runOnce()
            return false
        }
    }
}
