import CLibPQ
import Foundation
import Synchronization

/// A thread that makes the libpq calls of several connections, exposed as a `TaskExecutor`.
///
/// libpq calls must not run on the cooperative pool or an event loop, and a PGconn must never be
/// used by two threads at once. A connection's holder therefore runs on the connection's lane
/// (`withTaskExecutorPreference`): a unit of work of many statements moves onto it once, and
/// every libpq call runs inline on the lane's thread. Connections are driven non-blocking: a task
/// that waits for the server suspends, and the lane, instead of sleeping in one socket's `poll`,
/// runs other connections' work and waits on all their sockets at once (epoll). Under load one
/// wake-up of the thread serves several answers, as pgbench serves its clients from one thread,
/// where a thread per connection was woken once per round trip.
///
/// Each pool has lanes of its own (`LaneGroup`); a lane's thread ends once its group is gone
/// and the last connection on it is released.
final class Lane: TaskExecutor, @unchecked Sendable {
    private struct Queue {
        var jobs: [UnownedJob] = []
        /// The thread is (about to be) waiting in epoll with nothing to run: an enqueue from
        /// another thread must wake it.
        var sleeping = false
        var stopping = false
        /// The thread has ended and closed its descriptors.
        var ended = false
    }

    private let queue = Mutex(Queue())
    /// Connections on this lane, and whether its group may still hand it out.
    private let tenants = Atomic<Int>(0)
    private let retired = Atomic<Bool>(false)
    private let epoll: Int32
    /// An eventfd in the epoll set: written to wake a sleeping lane for new jobs.
    private let wakeup: Int32
    /// Tasks suspended until their socket is ready, by descriptor. Touched only on the lane's
    /// thread (by `wait`, which runs there, and by the loop).
    private var waiters: [Int32: UnsafeContinuation<UInt32?, Never>] = [:]
    /// epoll_ctl's errno for the wait it just refused (lane thread only).
    private var refused: Int32 = 0
    private let threadID = ThreadIdentity()

    /// The thread's name (at most 15 bytes reach the system).
    private let name: String

    init(name: String) {
        self.name = name
        epoll = epoll_create1(Int32(EPOLL_CLOEXEC))
        wakeup = eventfd(0, Int32(EFD_CLOEXEC | EFD_NONBLOCK))
        precondition(epoll >= 0 && wakeup >= 0, "cannot create a lane's epoll set: \(String(cString: strerror(errno)))")
        precondition(loket_epoll_arm(epoll, wakeup, LOKET_READABLE) == 0, "cannot watch a lane's eventfd")
        let thread = Thread { [self] in run() }
        thread.name = name
        thread.start()
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let unowned = UnownedJob(job)
        enum Next { case queued, wake, ended }
        let next = queue.withLock { queue -> Next in
            if queue.ended { return .ended }
            queue.jobs.append(unowned)
            defer { queue.sleeping = false }
            return queue.sleeping ? .wake : .queued
        }
        switch next {
        case .queued:
            break
        case .wake:
            var one: UInt64 = 1
            _ = write(wakeup, &one, 8)
        case .ended:
            // A lane ends only when no connection uses it, so no task can prefer it any more.
            // Running the job elsewhere would touch the lane's state off its thread.
            preconditionFailure("work sent to a lane that has ended")
        }
    }

    /// A connection starts using this lane.
    func checkIn() {
        tenants.add(1, ordering: .sequentiallyConsistent)
    }

    /// A connection stopped using this lane (it was released): the last one ends a retired lane.
    func checkOut() {
        if tenants.subtract(1, ordering: .sequentiallyConsistent).newValue == 0,
           retired.load(ordering: .sequentiallyConsistent) {
            stop()
        }
    }

    /// The lane's group is gone: no connection will be given this lane again.
    func retire() {
        retired.store(true, ordering: .sequentiallyConsistent)
        if tenants.load(ordering: .sequentiallyConsistent) == 0 { stop() }
    }

    /// Lets the thread end once the jobs already queued have run.
    private func stop() {
        let asleep = queue.withLock { queue -> Bool in
            guard !queue.ended else { return false }
            queue.stopping = true
            defer { queue.sleeping = false }
            return queue.sleeping
        }
        if asleep {
            var one: UInt64 = 1
            _ = write(wakeup, &one, 8)
        }
    }

    /// The thread has ended (its group is gone and no connection uses it).
    var hasEnded: Bool { queue.withLock { $0.ended } }

    /// True when called on this lane's thread.
    var isCurrent: Bool { threadID.isCurrent }

    /// Suspends the calling task, which must be running on this lane, until `socket` is ready for
    /// `events` (LOKET_READABLE, LOKET_WRITABLE) or has failed or hung up; returns epoll's flags,
    /// or throws at once when epoll refuses the socket (out of watches or memory).
    func wait(for socket: Int32, _ events: UInt32) async throws(LaneWaitError) -> UInt32 {
        precondition(isCurrent, "a lane waits only for its own tasks")
        let ready: UInt32? = await withUnsafeContinuation { continuation in
            guard loket_epoll_arm(epoll, socket, events) == 0 else {
                refused = errno
                continuation.resume(returning: nil)
                return
            }
            assert(waiters[socket] == nil, "two waits on one socket")
            waiters[socket] = continuation
        }
        guard let ready else { throw LaneWaitError(errno: refused) }
        return ready
    }

    private func run() {
        threadID.adoptCurrent()
        // Foundation keeps `Thread.name` to itself on Linux: name the system thread too, so that
        // top -H, perf and /proc show which threads make the database calls.
        _ = loket_name_this_thread(name)
        var batch: [UnownedJob] = []
        var sockets = [Int32](repeating: 0, count: 64)
        var flags = [UInt32](repeating: 0, count: 64)
        while true {
            let done = queue.withLock { queue -> Bool in
                swap(&batch, &queue.jobs)
                if batch.isEmpty && queue.stopping && waiters.isEmpty {
                    queue.ended = true
                    return true
                }
                if batch.isEmpty { queue.sleeping = true }
                return false
            }
            if done {
                close(epoll)
                close(wakeup)
                return
            }
            let idle = batch.isEmpty
            for job in batch { job.runSynchronously(on: asUnownedTaskExecutor()) }
            batch.removeAll(keepingCapacity: true)
            // The sockets are looked at after every batch, without waiting while work is queued,
            // so that a busy lane never leaves an answer unread.
            let count = loket_epoll_wait(epoll, &sockets, &flags, Int32(sockets.count), idle ? -1 : 0)
            if idle { queue.withLock { $0.sleeping = false } }
            for index in 0..<Int(max(count, 0)) {
                let socket = sockets[index]
                if socket == wakeup {
                    var value: UInt64 = 0
                    _ = read(wakeup, &value, 8)
                    _ = loket_epoll_arm(epoll, wakeup, LOKET_READABLE)
                } else if let waiter = waiters.removeValue(forKey: socket) {
                    waiter.resume(returning: flags[index])
                }
            }
        }
    }
}

/// epoll would not watch a connection's socket.
struct LaneWaitError: Error {
    let errno: Int32
    var reason: String { String(cString: strerror(errno)) }
}

/// The lanes of one pool (`ConnectionPool`'s `lanes`, one per usable processor by default), at
/// most one per connection and at most 64, handed out in turn. When the group goes (with its
/// pool), each lane's thread ends once the last connection on it is released.
final class LaneGroup: Sendable {
    let lanes: [Lane]
    private let turn = Atomic<Int>(0)

    init(lanes wanted: Int, maxConnections: Int) {
        let count = max(1, min(wanted, maxConnections, 64))
        lanes = (0..<count).map { Lane(name: "loket-pq-\($0)") }
    }

    deinit {
        for lane in lanes { lane.retire() }
    }

    func next() -> Lane {
        lanes[turn.wrappingAdd(1, ordering: .relaxed).oldValue % lanes.count]
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
