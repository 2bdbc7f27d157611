import Logging
import Synchronization

/// Sends `NOTIFY channel` at most once per `interval`, however often it is poked.
///
/// NOTIFY takes a global lock at commit, so one per row (or per request) on a hot path serialises
/// committing transactions. Writers poke this after their commit instead; a burst of pokes becomes
/// one notification on its own short transaction.
public final class CoalescingNotifier: Sendable {
    public let channel: String
    private let pool: ConnectionPool
    private let interval: Duration
    private let logger: Logger
    private let pending = Atomic<Bool>(false)

    public init(pool: ConnectionPool, channel: String, interval: Duration = .milliseconds(100), logger: Logger = Logger(label: "loket.notify")) {
        self.pool = pool
        self.channel = channel
        self.interval = interval
        self.logger = logger
    }

    /// Asks for a notification soon. Cheap: an atomic store.
    public func poke() {
        pending.store(true, ordering: .releasing)
    }

    /// Sends the pending notification, if any, every `interval` until the task is cancelled.
    public func run() async {
        while !Task.isCancelled {
            // Cancelled (shutdown) in the sleep, as it nearly always is: no flush here, where the
            // query would be refused unsent; the one below sends what is pending.
            do { try await Task.sleep(for: interval) } catch { break }
            await flush()
        }
        // The last poke, sent from a task that is not cancelled: in this one the query would be
        // refused unsent, and the notification of the last commits before shutdown lost.
        await Task { await self.flush() }.value
    }

    /// Sends now if poked since the last send.
    public func flush() async {
        guard pending.exchange(false, ordering: .acquiringAndReleasing) else { return }
        do {
            try await pool.query("SELECT pg_notify($1, '')", channel)
        } catch is CancellationError {
            // Not sent at all: still pending, for the last flush at shutdown.
            pending.store(true, ordering: .releasing)
        } catch {
            // Listeners also wake on their tick; a lost notification only delays delivery.
            logger.debug("notify failed", metadata: ["channel": "\(channel)", "error": "\(error)"])
        }
    }
}
