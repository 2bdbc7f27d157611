import Postgres
import ServiceLifecycle

/// Closes the connection pool when the service group shuts down, after the server stopped taking
/// requests.
struct PoolService: Service {
    let pool: ConnectionPool

    func run() async throws {
        try? await gracefulShutdown()
        await pool.close()
    }
}

/// Sends the coalesced outbox NOTIFY until shutdown.
struct NotifierService: Service {
    let notifier: CoalescingNotifier

    func run() async throws {
        await cancelWhenGracefulShutdown { await notifier.run() }
    }
}
