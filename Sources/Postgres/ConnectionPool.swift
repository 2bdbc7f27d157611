import CLibPQ
import Logging
import NIOCore
import Synchronization

/// Why the pool could not hand out a connection.
public enum ConnectionPoolError: Error, Sendable, CustomStringConvertible {
    /// Every connection stayed busy for the whole acquire timeout.
    case acquireTimeout(Duration)
    /// The pool is shutting down or shut down.
    case closed

    public var description: String {
        switch self {
        case .acquireTimeout(let timeout): return "no database connection became free within \(timeout)"
        case .closed: return "the connection pool is closed"
        }
    }
}

/// A point-in-time view of the pool, for metrics and readiness.
public struct ConnectionPoolMetrics: Sendable, Equatable {
    public var open: Int
    public var idle: Int
    public var inUse: Int
    public var waiting: Int
    /// Connections established since start.
    public var created: Int
    /// Connection attempts that failed.
    public var failedConnects: Int
    /// Connections discarded because they broke (lost, or left inside a transaction).
    public var replaced: Int
    /// Acquires that gave up after the timeout.
    public var acquireTimeouts: Int
}

/// A bounded pool of libpq connections.
///
/// - Acquire is async with a timeout; waiters are served first come, first served.
/// - All libpq work runs on the connection's lane (a thread a few connections share, see `Lane`),
///   never on an event loop or the cooperative pool; a statement waiting for the server suspends
///   its task and leaves the lane to the others. `withConnection` runs its whole body on the
///   lane, so a unit of work of many statements moves between threads only twice.
/// - A connection that broke is dropped on release and a waiter gets the right to open a new one;
///   an idle connection whose server went away is reconnected before its first statement.
public final class ConnectionPool: Sendable {
    public let configuration: PostgresConfiguration
    public let maxConnections: Int
    public let acquireTimeout: Duration
    private let logger: Logger
    private let state: Mutex<State>
    /// The threads this pool's connections make their libpq calls on.
    private let lanes: LaneGroup

    private enum Grant {
        case connection(PostgresConnection)
        /// The waiter may open a connection of its own (the slot was already counted as open).
        case slot
    }

    private struct Waiter {
        let id: Int
        let continuation: CheckedContinuation<Grant, any Error>
    }

    private struct State {
        var idle: [PostgresConnection] = []
        var open = 0
        var inUse = 0
        var waiters: [Waiter] = []
        var nextWaiterID = 0
        var closed = false
        var created = 0
        var failedConnects = 0
        var replaced = 0
        var acquireTimeouts = 0

        mutating func removeWaiter(_ id: Int) -> Waiter? {
            guard let index = waiters.firstIndex(where: { $0.id == id }) else { return nil }
            return waiters.remove(at: index)
        }
    }

    /// `lanes`: the threads that make the libpq calls of the pool's connections (at most one per
    /// connection, at most 64); by default one per processor this process may use.
    public init(
        configuration: PostgresConfiguration,
        maxConnections: Int = 10,
        acquireTimeout: Duration = .seconds(5),
        lanes: Int = ConnectionPool.usableProcessors,
        logger: Logger = Logger(label: "loket.postgres.pool")
    ) {
        precondition(maxConnections >= 1, "a pool needs at least one connection")
        self.configuration = configuration
        self.maxConnections = maxConnections
        self.acquireTimeout = acquireTimeout
        self.logger = logger
        self.state = Mutex(State())
        self.lanes = LaneGroup(lanes: lanes, maxConnections: maxConnections)
    }

    /// The processors this process may use, as SwiftNIO counts them: its cgroup's CPU quota and
    /// cpuset (a container limited to 2 CPUs on a 32-processor node gets 2), else every processor
    /// online. Foundation's `activeProcessorCount` ignores the cgroup.
    public static var usableProcessors: Int { System.coreCount }

    public var metrics: ConnectionPoolMetrics {
        state.withLock { s in
            ConnectionPoolMetrics(
                open: s.open, idle: s.idle.count, inUse: s.inUse, waiting: s.waiters.count, created: s.created,
                failedConnects: s.failedConnects, replaced: s.replaced, acquireTimeouts: s.acquireTimeouts)
        }
    }

    /// Lends a connection to `body` and takes it back afterwards, whatever happens.
    ///
    /// A task that already holds a connection of this pool (an outer `withConnection`) and calls
    /// again gets that same connection when it stands idle outside a transaction: a request whose
    /// middleware authenticates and whose handler then opens a transaction takes one connection
    /// and moves onto one lane, not two. Only the holding task itself, and only while its
    /// `withConnection` lasts, is given it: child and detached tasks (which inherit the
    /// task-local) take connections of their own, so two tasks never share one. Inside the
    /// holder's transaction a nested call takes a second connection, as without a holder.
    public func withConnection<T>(_ body: (PostgresConnection) async throws -> T) async throws -> T {
        // The task is compared first: only the holder may look at its connection's state.
        if let held = Self.held, held.pool == ObjectIdentifier(self), held.isCurrent(),
           held.connection.isIdleOutsideTransaction {
            return try await body(held.connection)
        }
        let connection = try await acquire()
        let holder = Held(pool: ObjectIdentifier(self), connection: connection, task: withUnsafeCurrentTask { $0 })
        defer {
            holder.end()
            release(connection)
        }
        return try await withTaskExecutorPreference(connection.lane) {
            try await Self.$held.withValue(holder) { try await body(connection) }
        }
    }

    /// The connection the current task borrowed from a pool, for nested `withConnection`s.
    private final class Held: @unchecked Sendable {
        let pool: ObjectIdentifier
        let connection: PostgresConnection
        /// The borrowing task, compared by identity only, and only while `active`: a task that
        /// inherited this value and outlived the borrow could otherwise meet a new task at the
        /// same address.
        private let task: UnsafeCurrentTask?
        private let active = Atomic<Bool>(true)

        init(pool: ObjectIdentifier, connection: PostgresConnection, task: UnsafeCurrentTask?) {
            self.pool = pool
            self.connection = connection
            self.task = task
        }

        /// Whether the current task is the borrower and the borrow still lasts.
        func isCurrent() -> Bool {
            guard active.load(ordering: .acquiring), let task else { return false }
            return withUnsafeCurrentTask { $0 == task }
        }

        func end() {
            active.store(false, ordering: .releasing)
        }
    }

    @TaskLocal private static var held: Held?

    /// One statement on any free connection.
    @discardableResult
    public func query(_ sql: String, _ binds: any PostgresEncodable...) async throws -> PostgresRows {
        try await withConnection { try await $0.query(sql, binds: binds) }
    }

    @discardableResult
    public func query(_ sql: String, binds: [any PostgresEncodable]) async throws -> PostgresRows {
        try await withConnection { try await $0.query(sql, binds: binds) }
    }

    /// A transaction on a pooled connection; with `retry`, the whole transaction is run again after a
    /// serialization failure or deadlock.
    public func transaction<T>(
        isolation: IsolationLevel = .readCommitted,
        readOnly: Bool = false,
        retry: TransactionRetry? = nil,
        _ body: (PostgresConnection) async throws -> T
    ) async throws -> T {
        if let retry {
            return try await retry.run {
                try await withConnection { try await $0.transaction(isolation: isolation, readOnly: readOnly, body) }
            }
        }
        return try await withConnection { try await $0.transaction(isolation: isolation, readOnly: readOnly, body) }
    }

    // MARK: Acquire and release

    private enum Decision {
        case use(PostgresConnection)
        case open
        case wait
        case fail(any Error)
    }

    func acquire() async throws -> PostgresConnection {
        let decision = state.withLock { s -> Decision in
            if s.closed { return .fail(ConnectionPoolError.closed) }
            if let connection = s.idle.popLast() {
                s.inUse += 1
                return .use(connection)
            }
            if s.open < maxConnections {
                s.open += 1
                s.inUse += 1
                return .open
            }
            return .wait
        }
        switch decision {
        case .use(let connection):
            connection.needsLivenessCheck = true
            return connection
        case .open:
            return try await openConnection()
        case .wait:
            return try await waitForConnection()
        case .fail(let error):
            throw error
        }
    }

    /// Opens a connection for a slot already counted in `open` and `inUse`.
    private func openConnection() async throws -> PostgresConnection {
        do {
            let connection = try await PostgresConnection.connect(configuration, on: lanes.next())
            state.withLock { $0.created += 1 }
            return connection
        } catch {
            logger.warning("database connection failed", metadata: ["error": "\(error)"])
            // Pass the slot on: a waiter then tries (and fails fast too) instead of waiting for a
            // release that may never come while the database is down.
            let next = state.withLock { s -> Waiter? in
                s.failedConnects += 1
                if !s.closed, !s.waiters.isEmpty {
                    return s.waiters.removeFirst()
                }
                s.open -= 1
                s.inUse -= 1
                return nil
            }
            next?.continuation.resume(returning: .slot)
            throw error
        }
    }

    private func waitForConnection() async throws -> PostgresConnection {
        let id = state.withLock { s -> Int in
            s.nextWaiterID += 1
            return s.nextWaiterID
        }
        let timeout = acquireTimeout
        let timer = Task { [weak self] in
            try await Task.sleep(for: timeout)
            self?.expireWaiter(id)
        }
        defer { timer.cancel() }
        let grant = try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Grant, any Error>) in
                let immediate = state.withLock { s -> Result<Grant, any Error>? in
                    if s.closed { return .failure(ConnectionPoolError.closed) }
                    if Task.isCancelled { return .failure(CancellationError()) }
                    // A release may have happened between the first look and now.
                    if let connection = s.idle.popLast() {
                        s.inUse += 1
                        return .success(.connection(connection))
                    }
                    if s.open < maxConnections {
                        s.open += 1
                        s.inUse += 1
                        return .success(.slot)
                    }
                    s.waiters.append(Waiter(id: id, continuation: continuation))
                    return nil
                }
                if let immediate { continuation.resume(with: immediate) }
            }
        } onCancel: {
            state.withLock { $0.removeWaiter(id) }?.continuation.resume(throwing: CancellationError())
        }
        switch grant {
        case .connection(let connection):
            connection.needsLivenessCheck = true
            return connection
        case .slot:
            return try await openConnection()
        }
    }

    private func expireWaiter(_ id: Int) {
        let waiter = state.withLock { s -> Waiter? in
            let waiter = s.removeWaiter(id)
            if waiter != nil { s.acquireTimeouts += 1 }
            return waiter
        }
        waiter?.continuation.resume(throwing: ConnectionPoolError.acquireTimeout(acquireTimeout))
    }

    func release(_ connection: PostgresConnection) {
        // A connection left inside a transaction (a caller bypassed `transaction`, or rollback was
        // impossible) must not reach the next borrower.
        let unusable = connection.isBroken || connection.transactionStatus != PQTRANS_IDLE || connection.hasQueuedStatements
            || connection.retireRequested
        let (grant, discard): ((Waiter, Grant)?, Bool) = state.withLock { s in
            s.inUse -= 1
            if unusable || s.closed {
                s.open -= 1
                if unusable { s.replaced += 1 }
                guard !s.closed, !s.waiters.isEmpty else { return (nil, true) }
                s.open += 1
                s.inUse += 1
                return ((s.waiters.removeFirst(), .slot), true)
            }
            if !s.waiters.isEmpty {
                s.inUse += 1
                return ((s.waiters.removeFirst(), .connection(connection)), false)
            }
            s.idle.append(connection)
            return (nil, false)
        }
        if let (waiter, value) = grant { waiter.continuation.resume(returning: value) }
        if discard {
            if unusable {
                logger.info(connection.retireRequested && !connection.isBroken
                    ? "replacing a database connection whose prepared statements a schema change made stale"
                    : "replacing a broken database connection")
            }
            Task { await connection.close() }
        }
    }

    // MARK: Shutdown

    /// Stops handing out connections, fails waiters, waits (up to `gracePeriod`) for borrowed
    /// connections to come back and closes everything (which ends their threads).
    public func close(gracePeriod: Duration = .seconds(10)) async {
        let (waiters, idle) = state.withLock { s -> ([Waiter], [PostgresConnection]) in
            s.closed = true
            let waiters = s.waiters
            let idle = s.idle
            s.waiters = []
            s.idle = []
            s.open -= idle.count
            return (waiters, idle)
        }
        for waiter in waiters { waiter.continuation.resume(throwing: ConnectionPoolError.closed) }
        for connection in idle { await connection.close() }
        let clock = ContinuousClock()
        let deadline = clock.now + gracePeriod
        while state.withLock({ $0.open }) > 0, clock.now < deadline {
            try? await Task.sleep(for: .milliseconds(10))
        }
    }
}
