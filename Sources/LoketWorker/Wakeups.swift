import Foundation
import Postgres
import Synchronization

/// Wakes a loop early: on a NOTIFY for its channel, or when the loop itself found a full batch.
/// Many signals between two waits collapse into one wake-up, so a burst of NOTIFYs costs one scan.
public final class Wakeup: Sendable {
    private let state = Mutex<(pending: Bool, waiter: CheckedContinuation<Void, Never>?)>((false, nil))

    public init() {}

    public func signal() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            if let waiter = state.waiter {
                state.waiter = nil
                return waiter
            }
            state.pending = true
            return nil
        }
        waiter?.resume()
    }

    /// Returns after a signal or after `timeout`, whichever comes first (the periodic tick, so that
    /// nothing depends on a notification arriving).
    public func wait(timeout: Duration) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                    let resumeNow = self.state.withLock { state -> Bool in
                        if state.pending {
                            state.pending = false
                            return true
                        }
                        state.waiter = continuation
                        return false
                    }
                    if resumeNow { continuation.resume() }
                }
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                self.signal()
            }
            await group.next()
            group.cancelAll()
        }
        state.withLock { $0.pending = false }
    }
}

/// Channels the worker listens on. Writers NOTIFY at most once per transaction, never per row.
public enum WorkerChannel {
    /// Deadlines changed (recompute, calendar edits): scanners look again.
    public static let sla = "loket_sla"
    /// New notifications are waiting in the outbox.
    public static let outbox = "loket_outbox"
}

/// Routes LISTEN notifications to the loops' wake-ups; after a reconnect every loop is woken,
/// since notifications sent meanwhile are lost.
public struct WakeupRouter: Sendable {
    public let listener: PostgresListener
    public let wakeups: [String: Wakeup]

    public init(configuration: PostgresConfiguration, wakeups: [String: Wakeup]) {
        self.wakeups = wakeups
        self.listener = PostgresListener(configuration: configuration, channels: Array(wakeups.keys).sorted())
    }

    public func run() async {
        for await notification in listener {
            wakeups[notification.channel]?.signal()
        }
    }

    public func stop() { listener.stop() }
}
