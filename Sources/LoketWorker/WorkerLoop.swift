import Logging
import ServiceLifecycle

/// The loop every worker service runs: a pass, then a pause, until a graceful shutdown, or until
/// the task is cancelled (another service of the group failed: that is no graceful shutdown, and
/// with the pool closed every pass would fail at once, for ever). A pass that returns true found
/// more work waiting and goes again at once; a pass that fails is logged as `failure` and tried
/// again after the pause. The pass in hand always runs to its end: shutdown is checked between
/// passes.
func runPasses(
    logger: Logger, failure: Logger.Message, pause: () async -> Void, _ pass: () async throws -> Bool
) async {
    while !Task.isShuttingDownGracefully && !Task.isCancelled {
        do {
            if try await pass() { continue }
        } catch is CancellationError {
            break
        } catch {
            logger.error(failure, metadata: ["error": "\(error)"])
        }
        await pause()
    }
}

/// A pause of `duration` that a graceful shutdown cuts short.
func sleepUntilShutdown(_ duration: Duration) async {
    try? await cancelWhenGracefulShutdown { try await Task.sleep(for: duration) }
}
