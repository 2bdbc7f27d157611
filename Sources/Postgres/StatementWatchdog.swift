import Foundation
import Synchronization

/// One thread per process that holds connections with a statement deadline to it
/// (`PostgresConfiguration.statementDeadline`), every quarter second. Statements pay only for a
/// clock reading when they begin; nothing runs per statement on any other thread.
final class StatementWatchdog: Sendable {
    static let shared = StatementWatchdog()

    private struct Watched {
        weak var connection: PostgresConnection?
        let deadline: Duration
    }

    private let watched = Mutex<[Watched]>([])
    private let started = Atomic<Bool>(false)

    func watch(_ connection: PostgresConnection, deadline: Duration) {
        watched.withLock { list in
            list.removeAll { $0.connection == nil }
            list.append(Watched(connection: connection, deadline: deadline))
        }
        if started.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged {
            let thread = Thread { [self] in run() }
            thread.name = "loket-pq-deadline"
            thread.start()
        }
    }

    private func run() {
        while true {
            Thread.sleep(forTimeInterval: 0.25)
            let now = ContinuousClock.now
            let list = watched.withLock { list -> [Watched] in
                list.removeAll { $0.connection == nil }
                return list
            }
            for entry in list {
                entry.connection?.enforceDeadline(entry.deadline, now: now)
            }
        }
    }
}
