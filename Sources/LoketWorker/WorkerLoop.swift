import Foundation
import Logging
import Metrics
import ServiceLifecycle

/// The loop every worker service runs: a pass, then a pause, until a graceful shutdown, or until
/// the task is cancelled (another service of the group failed: that is no graceful shutdown, and
/// with the pool closed every pass would fail at once, for ever). A pass that returns true found
/// more work waiting and goes again at once; a pass that fails is logged as `failure` and tried
/// again after the pause. The pass in hand always runs to its end: shutdown is checked between
/// passes.
///
/// Each pass that completes sets `loket_worker_last_success_timestamp_seconds{loop}` to the Unix
/// time it ended, and each failure adds to `loket_worker_pass_failures_total{loop}`. A loop's other
/// gauges (the SLA backlog, the pending outbox) keep their last value while its passes fail (a
/// database outage, say), so an alert on them alone stays quiet; the age of the last success is
/// what says that a loop has stopped doing its work.
func runPasses(
    loop: String, logger: Logger, failure: Logger.Message, metrics: any MetricsFactory = MetricsSystem.factory,
    pause: () async -> Void, _ pass: () async throws -> Bool
) async {
    let succeeded = Gauge(label: "loket_worker_last_success_timestamp_seconds", dimensions: [("loop", loop)], factory: metrics)
    let failed = Counter(label: "loket_worker_pass_failures_total", dimensions: [("loop", loop)], factory: metrics)
    while !Task.isShuttingDownGracefully && !Task.isCancelled {
        do {
            let more = try await pass()
            succeeded.record(Date().timeIntervalSince1970)
            if more { continue }
        } catch is CancellationError {
            break
        } catch {
            failed.increment()
            logger.error(failure, metadata: ["error": "\(error)", "loop": "\(loop)"])
        }
        await pause()
    }
}

/// A pause of `duration` that a graceful shutdown cuts short.
func sleepUntilShutdown(_ duration: Duration) async {
    try? await cancelWhenGracefulShutdown { try await Task.sleep(for: duration) }
}
