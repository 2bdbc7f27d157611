import ArgumentParser
import Foundation
import Hummingbird
import Logging
import LoketStore
import LoketWorker
import Metrics
import Postgres
import Prometheus
import ServiceLifecycle

struct Worker: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the background worker: SLA stages and escalations, lease rescue, notification delivery, auto-close.",
        discussion: """
            Any number of workers may run at once, on any number of machines: batches are claimed with
            FOR UPDATE SKIP LOCKED and every SLA stage is recorded exactly once. Loops wake on
            LISTEN/NOTIFY and on a periodic tick, so nothing depends on a notification arriving.
            Stops gracefully on SIGTERM or SIGINT: the batch in hand commits, then the worker exits.

            Examples:
              loketd worker
              loketd worker --metrics-port 9091 --webhook-url https://notify.example.go.id/loket
            """
    )

    @OptionGroup var database: DatabaseOptions
    @OptionGroup var logging: LoggingOptions
    @OptionGroup var outbox: OutboxOptions
    @OptionGroup var lanes: LaneOptions

    @Option(help: "Requests per SLA scan batch (LOKET_WORKER_BATCH_SIZE).")
    var batchSize = EnvironmentDefaults.integer("LOKET_WORKER_BATCH_SIZE", default: 500)

    @Option(help: "Seconds between scans when nothing wakes the worker earlier (LOKET_WORKER_TICK_SECONDS).")
    var tickSeconds = EnvironmentDefaults.integer("LOKET_WORKER_TICK_SECONDS", default: 5)

    @Option(help: "Port for /metrics and /healthz of the worker (0 disables).")
    var metricsPort = EnvironmentDefaults.integer("LOKET_WORKER_METRICS_PORT", default: 9091)

    @Option(help: "Address for the metrics port (LOKET_WORKER_METRICS_BIND; 0.0.0.0 in containers).")
    var metricsBind = ProcessInfo.processInfo.environment["LOKET_WORKER_METRICS_BIND"] ?? "127.0.0.1"

    @Option(help: """
        Working days a request may wait for the citizen before the system closes it (rejected, with \
        the reason told to the citizen; one whose citizen uploaded without a reply is told to its \
        holder and supervisors instead); 0 never closes (LOKET_AUTO_CLOSE_DAYS).
        """)
    var autoCloseDays = EnvironmentDefaults.integer("LOKET_AUTO_CLOSE_DAYS", default: 14)

    @Option(help: """
        Working days before the auto-close that the citizen is reminded of it, once per wait (a \
        public note on the timeline and a request.auto_close_reminder notification); 0 sends none; \
        at most one less than --auto-close-days (LOKET_AUTO_CLOSE_REMINDER_DAYS).
        """)
    var autoCloseReminderDays = EnvironmentDefaults.integer("LOKET_AUTO_CLOSE_REMINDER_DAYS", default: 3)

    func validate() throws {
        try EnvironmentDefaults.check()
        guard (1...10_000).contains(batchSize) else { throw ValidationError("--batch-size must be 1…10000") }
        guard (0...65535).contains(metricsPort) else { throw ValidationError("--metrics-port must be 0…65535") }
        guard (1...3600).contains(tickSeconds) else { throw ValidationError("--tick-seconds must be 1…3600") }
        guard (0...365).contains(autoCloseDays) else { throw ValidationError("--auto-close-days must be 0…365") }
        guard autoCloseReminderDays >= 0 else { throw ValidationError("--auto-close-reminder-days must be 0 or more") }
    }

    func run() async throws {
        logging.bootstrap()
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        let logger = Logger(label: "loketd.worker")
        if let warning = database.configuration.transportWarning { logger.warning("\(warning)") }
        let configuration = database.configuration
        let pool = ConnectionPool(configuration: configuration, maxConnections: 4, acquireTimeout: .seconds(30),
                                  lanes: lanes.pqLanes, logger: Logger(label: "loketd.worker.pool"))
        let catalog = CatalogCache(pool: pool)
        let slaWakeup = Wakeup()
        let outboxWakeup = Wakeup()
        let router = WakeupRouter(configuration: configuration, wakeups: [WorkerChannel.sla: slaWakeup, WorkerChannel.outbox: outboxWakeup])
        let tick = Duration.seconds(tickSeconds)
        // ServiceGroup stops services in reverse order, each after the one behind it has finished:
        // the pool closes last, once every loop has recorded the batch in hand (it was last in the
        // list, so it closed first and the loops' final writes failed).
        var services: [any Service] = [
            PoolCloser(pool: pool),
            ListenerService(router: router),
            SLAScanner(
                store: SLAStore(pool: pool), catalog: catalog, wakeup: slaWakeup, outboxWakeup: outboxWakeup, batchSize: batchSize,
                tick: tick),
            LeaseRescuer(store: StaffWorkStore(pool: pool), catalog: catalog, tick: tick),
            try outbox.dispatcher(pool: pool, wakeup: outboxWakeup, tick: tick),
            RetentionCleaner(store: RetentionStore(pool: pool)),
            MonthlyRollup(store: ReportStore(pool: pool)),
        ]
        if autoCloseDays > 0 {
            // A reminder as early as the close itself, or earlier, comes one working day after the
            // question (the default of 3 with a close after 2 or 3 days, say), and with a close after
            // one working day there is none: said, not refused.
            let reminderDays = min(autoCloseReminderDays, autoCloseDays - 1)
            if reminderDays != autoCloseReminderDays {
                let metadata: Logger.Metadata = ["auto_close_days": "\(autoCloseDays)", "auto_close_reminder_days": "\(autoCloseReminderDays)"]
                if reminderDays == 0 {
                    logger.notice("auto-close reminders are off: a close after one working day leaves no day to remind in", metadata: metadata)
                } else {
                    logger.notice(
                        "auto-close reminders come \(reminderDays) working days before the close: --auto-close-reminder-days must be less than --auto-close-days",
                        metadata: metadata)
                }
            }
            services.append(AutoCloser(
                store: AutoCloseStore(pool: pool), catalog: catalog, workingDays: autoCloseDays, reminderDays: reminderDays))
        }
        if metricsPort > 0 {
            let metricsRouter = Router()
            metricsRouter.get("healthz") { _, _ in "ok" }
            metricsRouter.get("metrics") { _, _ -> String in
                Gauge(label: "loket_worker_db_pool_connections_open").record(pool.metrics.open)
                var buffer: [UInt8] = []
                registry.emit(into: &buffer)
                return String(decoding: buffer, as: UTF8.self)
            }
            services.append(Application(
                router: metricsRouter, configuration: .init(address: .hostname(metricsBind, port: metricsPort), serverName: "loket-worker"),
                logger: Logger(label: "loketd.worker.metrics")))
        }
        logger.info("worker starting", metadata: ["database": "\(configuration.redacted)", "batch_size": "\(batchSize)"])
        let group = ServiceGroup(
            configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        do {
            try await group.run()
        } catch {
            // A service that fails (the metrics port taken, say) stops the group: say which and why.
            logger.critical("worker stopped: a service failed", metadata: ["error": "\(error)"])
            throw error
        }
    }
}

/// Delivers LISTEN notifications to the loops until shutdown.
struct ListenerService: Service {
    let router: WakeupRouter

    func run() async throws {
        await withGracefulShutdownHandler {
            await router.run()
        } onGracefulShutdown: {
            router.stop()
        }
    }
}

/// Closes the pool after the loops stopped.
struct PoolCloser: Service {
    let pool: ConnectionPool

    func run() async throws {
        try? await gracefulShutdown()
        await pool.close()
    }
}
