import CLibPQ
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// One libpq connection.
///
/// A PGconn must never be used by two threads at once, so every libpq call runs on the
/// connection's lane (a thread shared with other connections, never an event loop or the
/// cooperative pool), and a connection has one holder at a time (the pool hands it out
/// exclusively). libpq is driven non-blocking: while a statement waits for the server its task
/// is suspended and the lane serves other connections. Each async method awaits its libpq work
/// before returning, so calls from one holder are strictly sequential.
public final class PostgresConnection: @unchecked Sendable {
    /// Statements are prepared once per connection and then executed by name. Keyed by text and
    /// parameter types, since the types are fixed at prepare time.
    private struct StatementKey: Hashable {
        let sql: String
        let types: [UInt32]
    }

    /// Above this many distinct statements a connection stops preparing new ones and sends the
    /// rest unnamed, so that ad-hoc SQL cannot grow server memory without bound.
    static let statementCacheLimit = 512

    /// libpq's cancel object: thread-safe to use while the connection runs a statement. A class,
    /// so that a cancel in flight keeps it alive while a reconnect installs a new one.
    private final class CancelHandle: @unchecked Sendable {
        let pointer: OpaquePointer
        init(_ pointer: OpaquePointer) { self.pointer = pointer }
        deinit { PQfreeCancel(pointer) }
    }

    private struct CancelState {
        var lastOperation: UInt64 = 0
        var runningOperation: UInt64 = 0
        var cancelledOperation: UInt64 = 0
        var cancelHandle: CancelHandle?
        /// When the running operation began, for the statement deadline.
        var startedAt: ContinuousClock.Instant?
        /// What the deadline watchdog did to the running operation: 1 cancelled it, 2 shut the socket.
        var deadlineStage = 0
        /// The connection's socket, so the watchdog can shut it without a libpq call.
        var socket: Int32 = -1
        /// A PQcancel is being sent (on a thread of its own, without this lock held: against a
        /// frozen host it can block for minutes). The next statement waits for it to be delivered,
        /// so that it cannot cancel that statement instead.
        var cancelInFlight = false
    }

    public let configuration: PostgresConfiguration
    /// The thread that makes every libpq call of this connection (shared with other connections).
    let lane: Lane
    // The fields below are touched only on the lane (and, while the holder awaits a connect or
    // reset, on that thread), by the connection's single holder.
    private var handle: OpaquePointer?
    private var statements: [StatementKey: String] = [:]
    /// The server refused one of our prepared statements (a schema change, DISCARD ALL): every
    /// name was forgotten here, and the pool replaces the connection when it comes back, which
    /// frees the server's stale copies. (Not `DEALLOCATE ALL`: a pooler such as PgBouncer in
    /// transaction mode would run it on a server connection other clients' statements live on.)
    private(set) var retireRequested = false
    private var statementCounter = 0
    /// Set by the pool when it hands out an idle connection: the first statement first checks
    /// whether the server closed the socket meanwhile, and reconnects if so.
    var needsLivenessCheck = false
    /// The connection can no longer be trusted (lost, or left inside a transaction): the pool
    /// replaces it instead of reusing it.
    public private(set) var isBroken = false
    /// libpq's transaction status after the last statement, recorded on the lane so the pool can
    /// read it without a libpq call.
    private(set) var transactionStatus: PGTransactionStatusType = PQTRANS_IDLE
    /// The server process serving this connection (changes after a transparent reconnect).
    public private(set) var backendPID: Int32 = 0
    /// Statements waiting to travel with the next one that needs an answer (`queue`, and the
    /// BEGIN of a `transaction`), sent together in one round trip through libpq's pipeline mode.
    private var queued: [(sql: String, binds: [PostgresBind])] = []
    /// Where the running `transaction` body stands with `queryAndCommit`, which ends the
    /// transaction before the body returns; nil outside a `transaction` body.
    var bodyEnd: TransactionBodyEnd?
    /// True when statements wait in `queued`; the pool never takes such a connection back as clean.
    var hasQueuedStatements: Bool { !queued.isEmpty }
    /// Usable as it stands for a new unit of work: not broken, not inside a transaction (begun or
    /// queued to begin), nothing waiting to be sent.
    var isIdleOutsideTransaction: Bool { !isBroken && transactionStatus == PQTRANS_IDLE && queued.isEmpty }
    /// How many times this connection waited for the server: one per statement sent alone, one
    /// per pipeline (for tests and diagnosis of round trips).
    public private(set) var roundTrips = 0

    private let cancelState = Mutex(CancelState())

    private init(configuration: PostgresConfiguration, lane: Lane) {
        self.configuration = configuration
        self.lane = lane
        lane.checkIn()
    }

    deinit {
        if let handle { PQfinish(handle) }
        lane.checkOut()
    }

    /// Opens a connection with a lane of its own (a pool's connections share the pool's lanes).
    public static func connect(_ configuration: PostgresConfiguration) async throws -> PostgresConnection {
        let group = LaneGroup(lanes: 1, maxConnections: 1)
        // The connection checks in before the group goes, so the lane lasts as long as it does.
        defer { withExtendedLifetime(group) {} }
        return try await connect(configuration, on: group.next())
    }

    /// Opens a connection on `lane`. libpq's connect blocks (up to connect_timeout against a host
    /// that does not answer), so it runs on a thread of its own, never on a lane others share.
    static func connect(_ configuration: PostgresConfiguration, on lane: Lane) async throws -> PostgresConnection {
        let connection = PostgresConnection(configuration: configuration, lane: lane)
        let opened = await Self.blocking { UncheckedHandle(configuration.connectBlocking()) }
        try await connection.onLane { try connection.open(opened.pointer) }
        if let deadline = configuration.statementDeadline { StatementWatchdog.shared.watch(connection, deadline: deadline) }
        return connection
    }

    /// Called by the watchdog four times a second: cancels a statement past its deadline, and
    /// shuts the socket of one whose cancel went unanswered as long again (at most 5 s more).
    func enforceDeadline(_ deadline: Duration, now: ContinuousClock.Instant) {
        let grace = min(deadline, .seconds(5))
        let cancel: UInt64? = cancelState.withLock { state in
            guard state.runningOperation != 0, let started = state.startedAt else { return nil }
            let late = now - started
            if state.deadlineStage == 0, late >= deadline {
                state.deadlineStage = 1
                return state.runningOperation
            }
            if state.deadlineStage == 1, late >= deadline + grace, state.socket >= 0 {
                state.deadlineStage = 2
                // The statement's task waits for this socket: shutting it ends that wait with a
                // lost connection, which the pool then replaces.
                shutdown(state.socket, Int32(SHUT_RDWR))
            }
            return nil
        }
        if let cancel { requestCancel(of: cancel, marking: false) }
    }

    /// Runs `work` on this connection's lane; no hop when the task already runs there.
    ///
    /// `@concurrent`, so that it always leaves its caller's actor: Loket's modules run async
    /// functions on their caller's executor (SE-0461), and on an actor's the lane preference would
    /// not take (the main actor ignores it; a default actor runs on it, but also runs other tasks'
    /// jobs there). Every use of an open connection's libpq handle goes through here, so a pool
    /// used from an actor stays correct: a `withConnection` body runs on the actor, and each of
    /// its statements moves to the lane.
    @concurrent
    func onLane<T>(_ work: () async throws -> T) async throws -> T {
        try await withTaskExecutorPreference(lane) {
            precondition(lane.isCurrent, "libpq must be called on the connection's lane")
            return try await work()
        }
    }

    /// A libpq handle handed from the thread that connected to the lane.
    private struct UncheckedHandle: @unchecked Sendable {
        let pointer: OpaquePointer?
        init(_ pointer: OpaquePointer?) { self.pointer = pointer }
    }

    /// Runs blocking libpq work (connect, reset) on a thread of its own and waits for it without
    /// holding up the lane.
    private static func blocking<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            Thread.detachNewThread { continuation.resume(returning: work()) }
        }
    }

    private func open(_ connection: OpaquePointer?) throws {
        guard let connection else {
            throw PostgresConnectionError(target: configuration.redacted, reason: "out of memory")
        }
        guard PQstatus(connection) == CONNECTION_OK else {
            // A conninfo libpq could not read is described in words of our own: its complaint (and
            // a database name made of the whole string) would repeat the password.
            let error = configuration.problem.map { PostgresConnectionError(target: configuration.redacted, reason: $0) }
                ?? PostgresConnectionError(target: Self.target(of: connection), reason: Self.lastError(connection))
            PQfinish(connection)
            throw error
        }
        install(connection)
    }

    private func install(_ connection: OpaquePointer) {
        // Server NOTICEs ("relation already exists, skipping") would go to stderr by default;
        // Loket has no use for them.
        PQsetNoticeProcessor(connection, { _, _ in }, nil)
        // Sends never block the lane: what the socket cannot take yet waits in libpq's buffer
        // and `flush` finishes it when the socket is writable.
        PQsetnonblocking(connection, 1)
        handle = connection
        backendPID = PQbackendPID(connection)
        statements.removeAll()
        retireRequested = false
        transactionStatus = PQtransactionStatus(connection)
        let cancel = PQgetCancel(connection).map(CancelHandle.init)
        let socket = PQsocket(connection)
        cancelState.withLock { state in
            state.cancelHandle = cancel
            state.socket = socket
        }
    }

    /// "host:port/database" as libpq resolved it (PQhost and friends work on failed connections).
    private static func target(of connection: OpaquePointer) -> String {
        func field(_ pointer: UnsafeMutablePointer<CChar>?) -> String {
            pointer.map { String(cString: $0) } ?? ""
        }
        var host = field(PQhost(connection))
        if host.isEmpty { host = "local socket" }
        let port = field(PQport(connection))
        let database = field(PQdb(connection))
        let user = field(PQuser(connection))
        return "\(host):\(port) database \"\(database)\" user \"\(user)\""
    }

    private static func lastError(_ connection: OpaquePointer?) -> String {
        guard let connection, let message = PQerrorMessage(connection) else { return "unknown error" }
        return String(cString: message).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    // MARK: Statements

    /// Runs one parameterised statement (`$1`, `$2`, … placeholders) and returns all its rows.
    /// Values always travel separately from the SQL text.
    @discardableResult
    public func query(_ sql: String, binds: [any PostgresEncodable]) async throws -> PostgresRows {
        try await run(sql, binds.map(\.postgresBind), honourCancellation: true)
    }

    @discardableResult
    public func query(_ sql: String, _ binds: any PostgresEncodable...) async throws -> PostgresRows {
        try await query(sql, binds: binds)
    }

    /// Runs `statements` in one round trip (libpq pipeline mode, behind anything queued) and
    /// returns each one's rows, in order: independent reads that would otherwise cost a round trip
    /// each. They run in the current transaction, or outside one in a single implicit transaction
    /// around the batch; the first error fails the statements after it and is thrown.
    public func query(batch statements: [PostgresStatement]) async throws -> [PostgresRows] {
        try requireOpenTransactionBody()
        guard !statements.isEmpty else { return [] }
        if statements.count == 1 {
            return [try await run(statements[0].sql, statements[0].binds, honourCancellation: true)]
        }
        return try await pipelineAfterQueued(statements.map { ($0.sql, $0.binds) }, honourCancellation: true)
    }

    /// The last statements of a `transaction` body: sends what is queued, `statements` and COMMIT
    /// in one round trip, and returns the rows of `statements`: the reads of an answer (what was
    /// just written) need no round trip of their own before COMMIT. The transaction has ended when
    /// this returns, so `transaction` sends no COMMIT of its own; nothing may run in the body after
    /// it. If a statement or COMMIT fails, the first error is thrown and nothing was written; an
    /// error the body throws after this returns (decoding the rows, say) undoes nothing. Once sent
    /// it is not cancelled with its task (the statement deadline still applies), as COMMIT in
    /// `transaction` is not. Outside a transaction the statements run as `query(batch:)` would.
    public func queryAndCommit(batch statements: [PostgresStatement]) async throws -> [PostgresRows] {
        try requireOpenTransactionBody()
        guard transactionStatus != PQTRANS_IDLE || !queued.isEmpty else { return try await query(batch: statements) }
        let rows: [PostgresRows]
        do {
            // The outcome of COMMIT must be known: no cancel once sent.
            rows = try await pipelineAfterQueued(statements.map { ($0.sql, $0.binds) } + [("COMMIT", [])], honourCancellation: false)
            try Self.requireCommitted(rows[rows.count - 1])
        } catch let error as PostgresError {
            if bodyEnd != nil { bodyEnd = .failed }
            throw PostgresError.commitOutcomeUnknown(error)
        } catch {
            if bodyEnd != nil { bodyEnd = .failed }
            throw error
        }
        if bodyEnd != nil { bodyEnd = .committed }
        return Array(rows.dropLast())
    }

    /// Refuses a statement in a `transaction` body after `queryAndCommit` ended the transaction:
    /// it would run outside any transaction, and after a failed COMMIT it would be written though
    /// the body's earlier statements were not.
    func requireOpenTransactionBody() throws {
        guard let bodyEnd, bodyEnd != .open else { return }
        switch bodyEnd {
        case .writesLost:
            throw PostgresError(
                sqlState: .inFailedSQLTransaction, severity: "ERROR",
                message: "a statement after the transaction's queued writes failed: nothing of the transaction will be written")
        case .committed:
            throw PostgresError(
                sqlState: .noActiveSQLTransaction, severity: "ERROR",
                message: "a statement after queryAndCommit in a transaction body: the transaction has already committed")
        default:
            throw PostgresError(
                sqlState: .noActiveSQLTransaction, severity: "ERROR",
                message: "a statement after a failed queryAndCommit in a transaction body: the transaction is over and nothing was written")
        }
    }

    /// COMMIT of a transaction in which a statement failed (its error caught and not rethrown)
    /// succeeds with the tag ROLLBACK: nothing was written, and that must not pass for success.
    static func requireCommitted(_ commit: PostgresRows) throws {
        guard commit.commandTag != "COMMIT" else { return }
        throw PostgresError(
            sqlState: .inFailedSQLTransaction, severity: "ERROR",
            message: "the transaction was rolled back at COMMIT (server answered \(commit.commandTag)): a statement in it failed and its error was not rethrown")
    }

    /// Queues a statement whose answer nobody reads (an audit row, a summary upsert, an outbox
    /// message) to go out with the next statement that needs an answer, or with COMMIT: one round
    /// trip instead of one each, in the order queued. Only inside a transaction, where an error
    /// fails the whole transaction anyway; it is thrown by the call that sends the statement (at
    /// the latest COMMIT, which then does not commit). Outside a transaction the statement runs at
    /// once. Not for a statement whose own error the caller handles (a unique violation that
    /// means "retry", say): that one must run with `query`.
    public func queue(_ sql: String, _ binds: any PostgresEncodable...) async throws {
        try await queue(sql, binds: binds)
    }

    public func queue(_ sql: String, binds: [any PostgresEncodable]) async throws {
        try requireOpenTransactionBody()
        if queued.isEmpty && transactionStatus == PQTRANS_IDLE {
            try await query(sql, binds: binds)
        } else {
            queued.append((sql, binds.map(\.postgresBind)))
        }
    }

    /// Sends what is queued, if anything (before a statement that must not travel in a pipeline).
    func flushQueued(honourCancellation: Bool) async throws {
        guard !queued.isEmpty else { return }
        _ = try await pipelineAfterQueued([], honourCancellation: honourCancellation)
    }

    /// Sends what is queued, then `statements`, in one pipeline, and returns the rows of
    /// `statements` (nobody reads the queued statements' answers).
    private func pipelineAfterQueued(
        _ statements: [(sql: String, binds: [PostgresBind])], honourCancellation: Bool
    ) async throws -> [PostgresRows] {
        let batch = queued + statements
        let carriedWrites = !queued.isEmpty
        queued = []
        let rows: [PostgresRows]
        do {
            rows = try await withCancellableOperation(honourCancellation: honourCancellation) { operation in
                try await self.executePipelineOnLane(batch, operation: operation)
            }
        } catch {
            // The queued writes went down with it (unsent if it was refused before sending): a
            // transaction body that catches this must not go on to commit the rest.
            if carriedWrites, bodyEnd == .open { bodyEnd = .writesLost }
            throw error
        }
        return Array(rows.suffix(statements.count))
    }

    /// Puts `sql` (fixed transaction control, no parameters) first in the queue: BEGIN travels
    /// with the transaction's first statement instead of costing a round trip of its own.
    func queueFirst(_ sql: String) {
        queued.insert((sql, []), at: 0)
    }

    /// Forgets what is queued (a transaction that failed before sending it).
    func discardQueued() {
        queued.removeAll()
    }

    /// Runs trusted SQL text that may hold several statements (migrations, fixed transaction
    /// control) through the simple query protocol. It takes no parameters: never build it from
    /// values.
    public func executeScript(_ sql: String) async throws {
        try await runScript(sql, honourCancellation: true)
    }

    /// Quotes an identifier (a database or channel name) with libpq's rules. For identifiers only:
    /// values are always bound as parameters.
    public func escapeIdentifier(_ identifier: String) async throws -> String {
        try await onLane {
            guard let handle = self.handle, let escaped = PQescapeIdentifier(handle, identifier, identifier.utf8.count) else {
                throw PostgresResultError("cannot quote identifier: \(Self.lastError(self.handle))")
            }
            defer { PQfreemem(escaped) }
            return String(cString: escaped)
        }
    }

    /// The value libpq uses for a connection option (`PQconninfo`): what the conninfo, the
    /// environment and Loket's defaults came to. Nil for an option not set.
    func option(_ keyword: String) async throws -> String? {
        try await onLane {
            guard let handle = self.handle, let options = PQconninfo(handle) else { return nil }
            defer { PQconninfoFree(options) }
            var option = options
            while let name = option.pointee.keyword {
                if String(cString: name) == keyword { return option.pointee.val.map { String(cString: $0) } }
                option += 1
            }
            return nil
        }
    }

    /// Closes the connection. Safe to call twice.
    public func close() async {
        _ = try? await onLane { self.closeOnLane() }
    }

    private func closeOnLane() {
        if let handle {
            // The watchdog must never shut a descriptor number the system may hand out again.
            cancelState.withLock { $0.socket = -1 }
            PQfinish(handle)
            self.handle = nil
        }
        isBroken = true
    }

    func run(_ sql: String, _ binds: [PostgresBind], honourCancellation: Bool) async throws -> PostgresRows {
        try requireOpenTransactionBody()
        if !queued.isEmpty {
            return try await pipelineAfterQueued([(sql, binds)], honourCancellation: honourCancellation)[0]
        }
        let alone = transactionStatus == PQTRANS_IDLE
        do {
            return try await withCancellableOperation(honourCancellation: honourCancellation) { operation in
                try await self.executeOnLane(sql, binds, operation: operation)
            }
        } catch let error as PostgresError where alone && error.invalidatesPreparedStatement && transactionStatus == PQTRANS_IDLE {
            // A statement on its own, outside a transaction, that the server refused as prepared
            // (forgotten, or its result changed by a migration another process just ran): it was
            // refused before it ran, and has been forgotten here. Prepared afresh and sent again
            // once, so that a schema change does not cost every pooled connection a failed request.
            // Inside a transaction the server has aborted it: that error reaches the caller.
            return try await withCancellableOperation(honourCancellation: honourCancellation) { operation in
                try await self.executeOnLane(sql, binds, operation: operation)
            }
        }
    }

    func runScript(_ sql: String, honourCancellation: Bool) async throws {
        try requireOpenTransactionBody()
        try await flushQueued(honourCancellation: honourCancellation)
        _ = try await withCancellableOperation(honourCancellation: honourCancellation) { operation in
            try await self.executeScriptOnLane(sql, operation: operation)
        }
    }

    /// Runs `work` on a lane. If the awaiting task is cancelled while the statement runs, the server
    /// is asked to cancel it (PQcancel) and the call throws `CancellationError`.
    private func withCancellableOperation<T>(
        honourCancellation: Bool, _ work: (UInt64) async throws -> T
    ) async throws -> T {
        if honourCancellation { try Task.checkCancellation() }
        let operation = cancelState.withLock { state -> UInt64 in
            state.lastOperation &+= 1
            return state.lastOperation
        }
        do {
            return try await withTaskCancellationHandler {
                try await onLane { try await work(operation) }
            } onCancel: {
                if honourCancellation { self.requestCancel(of: operation) }
            }
        } catch let error as PostgresError where error.sqlState == .queryCanceled && honourCancellation && Task.isCancelled {
            throw CancellationError()
        } catch var error as PostgresError where (error.sqlState == .queryCanceled || error.sqlState.isConnectionLoss) && deadlineFired {
            let limit = configuration.statementDeadline.map { "\($0)" } ?? "?"
            error.message = error.sqlState == .queryCanceled
                ? "statement cancelled: it ran past the client's deadline of \(limit)"
                : "connection shut: the server answered neither the statement nor its cancel within the deadline of \(limit) (\(error.message))"
            throw error
        }
    }

    private func requestCancel(of operation: UInt64, marking: Bool = true) {
        let running: Bool = cancelState.withLock { state in
            if marking { state.cancelledOperation = operation }
            return state.runningOperation == operation
        }
        guard running else { return }
        // PQcancel opens a new connection to the server and blocks; do it off every pool thread
        // so that a full pool can still cancel its own statements, and without holding the lock,
        // so that the deadline watchdog and the lane are never stuck behind it.
        Thread.detachNewThread { [self] in
            let cancel: CancelHandle? = cancelState.withLock { state in
                guard state.runningOperation == operation, !state.cancelInFlight, let cancel = state.cancelHandle else { return nil }
                state.cancelInFlight = true
                return cancel
            }
            guard let cancel else { return }
            var buffer = [CChar](repeating: 0, count: 256)
            _ = PQcancel(cancel.pointer, &buffer, Int32(buffer.count))
            cancelState.withLock { $0.cancelInFlight = false }
        }
    }

    /// How long a statement waits for the cancel of the one before it to reach the server.
    static let cancelDeliveryLimit: Duration = .seconds(10)

    /// Marks `operation` as running unless it was cancelled before reaching the lane.
    private func beginOperation(_ operation: UInt64) async throws {
        enum Start { case waitForCancel, cancelled, started }
        let now = configuration.statementDeadline == nil ? nil : ContinuousClock.now
        let waitStarted = ContinuousClock.now
        while true {
            let start = cancelState.withLock { state -> Start in
                // A cancel of the previous statement still on its way must reach the server before
                // this statement does (milliseconds against a live server). A connection whose
                // cancel cannot be delivered is broken by then and fails without sending anything.
                if state.cancelInFlight && !isBroken { return .waitForCancel }
                if state.cancelledOperation == operation { return .cancelled }
                state.runningOperation = operation
                state.startedAt = now
                state.deadlineStage = 0
                return .started
            }
            switch start {
            case .waitForCancel:
                // Not Task.sleep in this task: a cancelled task (a ROLLBACK or COMMIT after its
                // statement was cancelled) would return at once and spin the lane. PQcancel ignores
                // connect_timeout; past the limit the connection is given up rather than waited on.
                if ContinuousClock.now - waitStarted >= Self.cancelDeliveryLimit {
                    closeOnLane()
                    throw PostgresError(
                        sqlState: .connectionFailure, severity: "FATAL",
                        message: "connection given up: the cancel of its previous statement was not delivered within \(Self.cancelDeliveryLimit)")
                }
                await Task.detached { try? await Task.sleep(for: .milliseconds(1)) }.value
            case .cancelled: throw CancellationError()
            case .started: return
            }
        }
    }

    /// Throws when the operation was cancelled while it had not yet sent its statement (a
    /// reconnect, a prepare): the server was idle then and dropped the cancel.
    private func throwIfCancelled(_ operation: UInt64) throws {
        if cancelState.withLock({ $0.cancelledOperation == operation }) { throw CancellationError() }
    }

    /// Ends the running operation. A statement the deadline cancelled fails with a message that
    /// says so (its SQLSTATE stays 57014, query_canceled).
    private func endOperation() {
        cancelState.withLock { state in
            state.runningOperation = 0
            state.startedAt = nil
        }
    }

    /// Whether the deadline watchdog acted on the operation that just ended on this lane.
    private var deadlineFired: Bool { cancelState.withLock { $0.deadlineStage > 0 } }

    private func liveHandle() async throws -> OpaquePointer {
        guard let handle, !isBroken else {
            throw PostgresError(sqlState: .connectionFailure, severity: "FATAL", message: "connection is closed")
        }
        if needsLivenessCheck {
            needsLivenessCheck = false
            if !Self.isAlive(handle) {
                // The server went away while the connection sat idle (restart, pg_terminate_backend,
                // idle timeout). Nothing was sent yet, so reconnecting in place is safe. The old
                // socket number is forgotten first: the watchdog must not shut it once reused.
                cancelState.withLock { $0.socket = -1 }
                let stale = UncheckedHandle(handle)
                await Self.blocking { PQreset(stale.pointer) }
                guard PQstatus(handle) == CONNECTION_OK else {
                    isBroken = true
                    throw PostgresConnectionError(target: Self.target(of: handle), reason: Self.lastError(handle))
                }
                install(handle)
            }
        }
        return handle
    }

    /// The server forgot or invalidated a statement of ours (DISCARD ALL; a migration that changed
    /// what it answers). A schema change seldom touches one statement alone, and each stale one
    /// would fail a request of its own: every statement is prepared afresh on its next use, and the
    /// connection is replaced when its holder is done with it (the server's stale copies would
    /// otherwise hold its memory for the connection's life).
    private func forgetStatements() {
        statements.removeAll()
        retireRequested = true
    }

    /// A non-blocking look at an idle socket. An idle connection is never sent anything unasked
    /// in Loket's use (pooled connections do not LISTEN), so readable means the server is closing
    /// it (a FATAL message, then EOF): reconnecting then costs little and is always safe.
    private static func isAlive(_ handle: OpaquePointer) -> Bool {
        guard PQstatus(handle) == CONNECTION_OK else { return false }
        let socket = PQsocket(handle)
        guard socket >= 0 else { return false }
        var descriptor = pollfd(fd: socket, events: Int16(POLLIN), revents: 0)
        return poll(&descriptor, 1, 0) == 0
    }

    private func executeOnLane(_ sql: String, _ binds: [PostgresBind], operation: UInt64) async throws -> PostgresRows {
        try await beginOperation(operation)
        defer { endOperation() }
        let handle = try await liveHandle()
        try throwIfCancelled(operation)
        let key = StatementKey(sql: sql, types: binds.map(\.type.rawValue))
        var name = statements[key]
        roundTrips += 1
        if name == nil, statements.count < Self.statementCacheLimit {
            roundTrips += 1
            statementCounter += 1
            let newName = "loket_\(statementCounter)"
            let sent = key.types.withUnsafeBufferPointer { types in
                PQsendPrepare(handle, newName, sql, Int32(binds.count), types.baseAddress)
            }
            guard sent == 1 else { throw connectionLost(handle) }
            _ = try await finishCommand(handle, sql: sql)
            statements[key] = newName
            name = newName
            // A cancel that came while the statement was being prepared found the server idle
            // between the two messages and was lost there: it is honoured here instead.
            try throwIfCancelled(operation)
        }
        let sent = withParameters(binds) { count, values, lengths, formats -> Int32 in
            if let name {
                return PQsendQueryPrepared(handle, name, count, values, lengths, formats, 1)
            }
            return key.types.withUnsafeBufferPointer { types in
                PQsendQueryParams(handle, sql, count, types.baseAddress, values, lengths, formats, 1)
            }
        }
        guard sent == 1 else { throw connectionLost(handle) }
        do {
            return try await finishCommand(handle, sql: sql)
        } catch let error as PostgresError where error.invalidatesPreparedStatement {
            forgetStatements()
            throw error
        }
    }

    /// Sends what libpq holds for the command just queued and reads its results to the end (as
    /// PQexec would: a failed statement's error wins over later results), so that the
    /// connection's transaction status is current when this returns.
    private func finishCommand(_ handle: OpaquePointer, sql: String) async throws -> PostgresRows {
        try await flush(handle)
        var kept: OpaquePointer?
        do {
            while let result = try await nextResult(handle) {
                if let previous = kept, PQresultStatus(previous) == PGRES_FATAL_ERROR {
                    PQclear(result)
                } else {
                    if let previous = kept { PQclear(previous) }
                    kept = result
                }
            }
        } catch {
            if let kept { PQclear(kept) }
            throw error
        }
        return try check(kept, handle: handle, sql: sql)
    }

    /// Hands libpq's output buffer to the socket, waiting (suspended) while the socket is full.
    private func flush(_ handle: OpaquePointer) async throws {
        while true {
            switch PQflush(handle) {
            case 0:
                return
            case 1:
                let ready = try await waitForSocket(handle, LOKET_READABLE | LOKET_WRITABLE)
                // The server may be sending while we do (a notice, an error): libpq must read it
                // for the server to go on reading ours.
                if ready & LOKET_READABLE != 0, PQconsumeInput(handle) == 0 { throw connectionLost(handle) }
            default:
                throw connectionLost(handle)
            }
        }
    }

    /// libpq's next result for the command in progress, or nil when its results are done; the
    /// task is suspended (its lane free for other connections) until the server's answer is in.
    private func nextResult(_ handle: OpaquePointer) async throws -> OpaquePointer? {
        while true {
            // Often the answer is already in: the server process ran as soon as the statement
            // reached it, before the lane got here. Reading it costs one recv; waiting for it
            // would cost an epoll registration and a suspension.
            if PQisBusy(handle) == 1, PQconsumeInput(handle) == 0 { throw connectionLost(handle) }
            while PQisBusy(handle) == 1 {
                // Over TLS, bytes OpenSSL has already decrypted (the rest of a record larger than
                // libpq read at once) do not make the socket readable: read them first, as
                // libpq's own blocking wait does.
                if !Self.tlsBytesPending(handle) {
                    _ = try await waitForSocket(handle, LOKET_READABLE)
                }
                guard PQconsumeInput(handle) == 1 else { throw connectionLost(handle) }
            }
            guard let result = PQgetResult(handle) else { return nil }
            switch PQresultStatus(result) {
            case PGRES_COPY_IN:
                // Loket never sends COPY data. Ending the COPY with a failure makes the server
                // answer with an error, and the connection goes on; otherwise libpq would hand
                // out this result again and again.
                PQclear(result)
                while true {
                    let ended = PQputCopyEnd(handle, "COPY FROM STDIN is not supported by this client")
                    if ended == 1 { break }
                    guard ended == 0 else { throw connectionLost(handle) }
                    try await flush(handle)
                }
                try await flush(handle)
            case PGRES_COPY_OUT, PGRES_COPY_BOTH:
                // The server now streams data nobody reads: the connection is given up.
                PQclear(result)
                giveUp(handle)
                throw PostgresError(
                    sqlState: SQLState("0A000"), severity: "ERROR",
                    message: "COPY TO STDOUT and replication are not supported by this client")
            default:
                return result
            }
        }
    }

    /// OpenSSL's SSL_pending, looked up in the process (libpq brings libssl); nil without it.
    private static let sslPending: (@convention(c) (UnsafeMutableRawPointer?) -> Int32)? = {
        guard let symbol = dlsym(nil, "SSL_pending") else { return nil }
        return unsafeBitCast(symbol, to: (@convention(c) (UnsafeMutableRawPointer?) -> Int32).self)
    }()

    /// Whether OpenSSL holds decrypted bytes of this connection that libpq has not read yet.
    private static func tlsBytesPending(_ handle: OpaquePointer) -> Bool {
        guard PQsslInUse(handle) == 1, let pending = sslPending, let ssl = PQsslStruct(handle, "OpenSSL") else {
            return false
        }
        return pending(ssl) > 0
    }

    private func waitForSocket(_ handle: OpaquePointer, _ events: UInt32) async throws -> UInt32 {
        let socket = PQsocket(handle)
        guard socket >= 0 else { throw connectionLost(handle) }
        do {
            return try await lane.wait(for: socket, events)
        } catch {
            // epoll refused the socket (out of watches or memory): waiting again would spin.
            giveUp(handle)
            throw PostgresError(
                sqlState: .connectionFailure, severity: "FATAL", message: "cannot wait for the server's answer: \(error.reason)")
        }
    }

    /// Sends `batch` in one round trip (libpq pipeline mode: every statement, then one Sync) and
    /// reads every answer in order. The first error is thrown after the rest of the pipeline is
    /// read (the server skips what follows an error until the Sync); every statement's rows are
    /// returned, in order.
    private func executePipelineOnLane(_ batch: [(sql: String, binds: [PostgresBind])], operation: UInt64) async throws -> [PostgresRows] {
        try await beginOperation(operation)
        defer { endOperation() }
        let handle = try await liveHandle()
        try throwIfCancelled(operation)
        guard PQenterPipelineMode(handle) == 1 else { throw connectionLost(handle) }
        enum Step {
            case prepare(StatementKey, String, sql: String)
            case execute(StatementKey?, sql: String)
        }
        var steps: [Step] = []
        var preparing: [StatementKey: String] = [:]
        for (sql, binds) in batch {
            let key = StatementKey(sql: sql, types: binds.map(\.type.rawValue))
            var name = statements[key] ?? preparing[key]
            // Prepared once per connection, transaction control (BEGIN, COMMIT) too: parsing them
            // for every transaction showed in the server's profile.
            if name == nil, statements.count + preparing.count < Self.statementCacheLimit {
                statementCounter += 1
                let newName = "loket_\(statementCounter)"
                let sent = key.types.withUnsafeBufferPointer { types in
                    PQsendPrepare(handle, newName, sql, Int32(binds.count), types.baseAddress)
                }
                guard sent == 1 else { throw connectionLost(handle) }
                steps.append(.prepare(key, newName, sql: sql))
                preparing[key] = newName
                name = newName
            }
            let sent = withParameters(binds) { count, values, lengths, formats -> Int32 in
                if let name { return PQsendQueryPrepared(handle, name, count, values, lengths, formats, 1) }
                return key.types.withUnsafeBufferPointer { types in
                    PQsendQueryParams(handle, sql, count, types.baseAddress, values, lengths, formats, 1)
                }
            }
            guard sent == 1 else { throw connectionLost(handle) }
            steps.append(.execute(name == nil ? nil : key, sql: sql))
        }
        guard PQpipelineSync(handle) == 1 else { throw connectionLost(handle) }
        try await flush(handle)
        roundTrips += 1

        var firstError: Error?
        var answers: [PostgresRows] = []
        answers.reserveCapacity(batch.count)
        for step in steps {
            guard let result = try await nextResult(handle) else { throw connectionLost(handle) }
            let sql: String
            switch step {
            case .prepare(_, _, let text), .execute(_, let text): sql = text
            }
            if PQresultStatus(result) == PGRES_PIPELINE_ABORTED {
                // Skipped by the server after an earlier error in this pipeline.
                PQclear(result)
            } else {
                do {
                    let rows = try check(result, handle: handle, sql: sql)
                    switch step {
                    case .prepare(let key, let name, _): statements[key] = name
                    case .execute: answers.append(rows)
                    }
                } catch let error as PostgresError {
                    if case .execute(_?, _) = step, error.invalidatesPreparedStatement {
                        forgetStatements()
                    }
                    if firstError == nil { firstError = error }
                }
            }
            // Each statement's results end with a null result.
            while let extra = try await nextResult(handle) { PQclear(extra) }
        }
        guard let sync = try await nextResult(handle) else { throw connectionLost(handle) }
        let synced = PQresultStatus(sync) == PGRES_PIPELINE_SYNC
        PQclear(sync)
        guard synced, PQexitPipelineMode(handle) == 1 else { throw connectionLost(handle) }
        transactionStatus = PQtransactionStatus(handle)
        if let firstError { throw firstError }
        guard answers.count == batch.count else { throw connectionLost(handle) }
        return answers
    }

    /// A command that could not be sent or read whole leaves the connection in an unknown state.
    private func connectionLost(_ handle: OpaquePointer) -> PostgresError {
        giveUp(handle)
        return PostgresError(sqlState: .connectionFailure, severity: "FATAL", message: Self.lastError(handle))
    }

    /// Marks the connection for replacement and records the state libpq left it in.
    private func giveUp(_ handle: OpaquePointer) {
        isBroken = true
        forgetClosedSocket(handle)
        transactionStatus = PQtransactionStatus(handle)
    }

    /// libpq closes the socket of a connection it found lost: the deadline watchdog must not shut
    /// that number once the system hands it out again.
    private func forgetClosedSocket(_ handle: OpaquePointer) {
        if PQstatus(handle) == CONNECTION_BAD || PQsocket(handle) < 0 {
            cancelState.withLock { $0.socket = -1 }
        }
    }

    private func executeScriptOnLane(_ sql: String, operation: UInt64) async throws -> Bool {
        try await beginOperation(operation)
        defer { endOperation() }
        let handle = try await liveHandle()
        try throwIfCancelled(operation)
        roundTrips += 1
        guard PQsendQuery(handle, sql) == 1 else { throw connectionLost(handle) }
        _ = try await finishCommand(handle, sql: sql)
        return true
    }

    /// Lays the parameters out for libpq: pointers into one buffer, lengths and formats.
    private func withParameters<R>(
        _ binds: [PostgresBind],
        _ body: (Int32, UnsafePointer<UnsafePointer<CChar>?>?, UnsafePointer<Int32>?, UnsafePointer<Int32>?) -> R
    ) -> R {
        if binds.isEmpty { return body(0, nil, nil, nil) }
        // libpq reads text-format parameters as C strings (it ignores their length), so each one
        // gets a NUL terminator; binary ones are read by length.
        let total = binds.reduce(0) { $0 + ($1.bytes?.count ?? 0) + 1 }
        // Scratch space for one call, on the stack where it fits: three arrays and a heap block
        // per statement showed in the allocator's share of a request.
        return withUnsafeTemporaryAllocation(byteCount: max(total, 1), alignment: 8) { storage in
            withUnsafeTemporaryAllocation(of: UnsafePointer<CChar>?.self, capacity: binds.count) { values in
                withUnsafeTemporaryAllocation(of: Int32.self, capacity: binds.count * 2) { numbers in
                    let lengths = numbers.baseAddress!
                    let formats = lengths + binds.count
                    var offset = 0
                    for (index, bind) in binds.enumerated() {
                        formats[index] = bind.format.rawValue
                        lengths[index] = 0
                        values[index] = nil
                        guard let bytes = bind.bytes else { continue }
                        let target = storage.baseAddress! + offset
                        bytes.withUnsafeBytes { source in
                            if let base = source.baseAddress { target.copyMemory(from: base, byteCount: source.count) }
                        }
                        values[index] = UnsafePointer(target.assumingMemoryBound(to: CChar.self))
                        lengths[index] = Int32(bytes.count)
                        (target + bytes.count).storeBytes(of: 0, as: UInt8.self)
                        offset += bytes.count + 1
                    }
                    return body(Int32(binds.count), UnsafePointer(values.baseAddress), UnsafePointer(lengths), UnsafePointer(formats))
                }
            }
        }
    }

    /// Turns a PGresult into rows or a typed error; records the connection's state either way.
    private func check(_ result: OpaquePointer?, handle: OpaquePointer, sql: String) throws -> PostgresRows {
        transactionStatus = PQtransactionStatus(handle)
        if PQstatus(handle) != CONNECTION_OK {
            isBroken = true
            forgetClosedSocket(handle)
        }
        guard let result else {
            isBroken = true
            throw PostgresError(sqlState: .connectionFailure, severity: "FATAL", message: Self.lastError(handle))
        }
        switch PQresultStatus(result) {
        case PGRES_COMMAND_OK, PGRES_TUPLES_OK, PGRES_EMPTY_QUERY:
            return PostgresRows(result: result)
        default:
            let error = Self.error(from: result, handle: handle)
            PQclear(result)
            throw error
        }
    }

    private static func error(from result: OpaquePointer, handle: OpaquePointer) -> PostgresError {
        func field(_ code: Character) -> String? {
            guard let value = PQresultErrorField(result, Int32(code.asciiValue!)) else { return nil }
            return String(cString: value)
        }
        guard let code = field("C") else {
            // No SQLSTATE: libpq lost the connection rather than the server refusing the statement.
            return PostgresError(sqlState: .connectionFailure, severity: "FATAL", message: lastError(handle))
        }
        return PostgresError(
            sqlState: SQLState(code),
            severity: field("V") ?? field("S") ?? "ERROR",
            message: field("M") ?? lastError(handle),
            detail: field("D"),
            hint: field("H"),
            constraint: field("n"),
            schema: field("s"),
            table: field("t"),
            column: field("c"),
            dataType: field("d"),
            position: field("P").flatMap { Int($0) },
            sourceFunction: field("R"))
    }
}
