import Foundation

/// A thread of its own for one connection, exposed as a `TaskExecutor`.
///
/// libpq blocks, so its calls must not run on the cooperative pool or an event loop. Each
/// connection therefore owns a lane. Work is sent to it with `withTaskExecutorPreference`, which
/// makes the task itself run on the lane: a holder that runs several statements (a transaction,
/// a request handler's unit of work) pays for moving onto the lane once, not once per statement,
/// and every libpq call runs inline on the lane's thread.
final class Lane: TaskExecutor, @unchecked Sendable {
    // `jobs` and `stopping` are guarded by `condition`.
    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []
    private var stopping = false
    private let threadID = ThreadIdentity()

    init(name: String) {
        let thread = Thread { [self] in run() }
        thread.name = name
        thread.start()
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let unowned = UnownedJob(job)
        condition.lock()
        jobs.append(unowned)
        condition.signal()
        condition.unlock()
    }

    /// True when called on this lane's thread.
    var isCurrent: Bool { threadID.isCurrent }

    /// Lets the thread end once the jobs already queued have run.
    func stop() {
        condition.lock()
        stopping = true
        condition.signal()
        condition.unlock()
    }

    private func run() {
        threadID.adoptCurrent()
        var batch: [UnownedJob] = []
        while true {
            condition.lock()
            while jobs.isEmpty && !stopping { condition.wait() }
            if jobs.isEmpty && stopping {
                condition.unlock()
                return
            }
            swap(&batch, &jobs)
            condition.unlock()
            for job in batch { job.runSynchronously(on: asUnownedTaskExecutor()) }
            batch.removeAll(keepingCapacity: true)
        }
    }
}

/// Which pthread a lane runs on, set once by the lane itself.
private final class ThreadIdentity: @unchecked Sendable {
    private var thread: pthread_t?
    private let lock = NSLock()

    func adoptCurrent() {
        lock.lock()
        thread = pthread_self()
        lock.unlock()
    }

    var isCurrent: Bool {
        lock.lock()
        defer { lock.unlock() }
        guard let thread else { return false }
        return pthread_equal(thread, pthread_self()) != 0
    }
}
