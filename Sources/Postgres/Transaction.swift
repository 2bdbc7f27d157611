import CLibPQ

/// How far a `transaction` body has gone with `queryAndCommit`.
enum TransactionBodyEnd {
    /// The transaction is open: statements may run.
    case open
    /// queryAndCommit committed it: nothing more may run in the body.
    case committed
    /// queryAndCommit threw: the transaction is over (or aborted), nothing was written.
    case failed
    /// A statement that carried queued writes (BEGIN among them, perhaps) failed or was refused
    /// before it was sent, and the body caught the error: those writes are lost, so nothing of the
    /// transaction may be committed (a COMMIT with BEGIN never sent would even answer COMMIT).
    case writesLost
}

/// Transaction isolation levels (PostgreSQL has no real READ UNCOMMITTED).
public enum IsolationLevel: String, Sendable {
    case readCommitted = "READ COMMITTED"
    case repeatableRead = "REPEATABLE READ"
    case serializable = "SERIALIZABLE"
}

extension PostgresConnection {
    /// True inside a `transaction` body.
    public var isInTransaction: Bool { bodyEnd != nil }

    /// Runs `body` inside BEGIN … COMMIT. If `body` throws (or is cancelled) the transaction is
    /// rolled back and the error rethrown; if COMMIT fails, its error is thrown and nothing was
    /// written. A body that catches a statement's error and returns anyway has had its
    /// transaction aborted by the server: that throws too (25P02), as nothing was written.
    public func transaction<T>(
        isolation: IsolationLevel = .readCommitted,
        readOnly: Bool = false,
        _ body: (PostgresConnection) async throws -> T
    ) async throws -> T {
        // Fixed text chosen from enums: no value ever reaches this SQL. BEGIN is queued: it goes
        // out with the body's first statement (or with COMMIT), in one round trip.
        if Task.isCancelled { throw CancellationError() }
        guard bodyEnd == nil else {
            throw PostgresError(
                sqlState: .activeSQLTransaction, severity: "ERROR",
                message: "transaction() inside a transaction body: PostgreSQL does not nest transactions")
        }
        bodyEnd = .open
        queueFirst("BEGIN ISOLATION LEVEL \(isolation.rawValue) \(readOnly ? "READ ONLY" : "READ WRITE")")
        let value: T
        do {
            value = try await body(self)
        } catch {
            bodyEnd = nil
            await rollbackAfterFailure()
            throw error
        }
        let end = bodyEnd
        bodyEnd = nil
        switch end {
        case .committed?:
            // The body's last reads carried COMMIT (queryAndCommit): the transaction is over.
            return value
        case .failed?:
            // queryAndCommit threw and the body went on to return: nothing was committed.
            await rollbackAfterFailure()
            throw PostgresError(
                sqlState: .inFailedSQLTransaction, severity: "ERROR",
                message: "queryAndCommit failed and the transaction body returned anyway: nothing was written")
        case .writesLost?:
            await rollbackAfterFailure()
            throw PostgresError(
                sqlState: .inFailedSQLTransaction, severity: "ERROR",
                message: "a statement carrying the transaction's queued writes failed and the body returned anyway: nothing was written")
        case .open?, nil:
            break
        }
        do {
            // With statements still queued, COMMIT travels with them; else on its own. Prepared
            // once per connection like BEGIN, so the server does not parse it for every transaction.
            try Self.requireCommitted(try await run("COMMIT", [], honourCancellation: false))
        } catch let error as PostgresError {
            await rollbackAfterFailure()
            throw PostgresError.commitOutcomeUnknown(error)
        } catch {
            await rollbackAfterFailure()
            throw error
        }
        return value
    }

    /// Rolls back even when the task is cancelled; if that fails too the connection is marked
    /// broken so the pool replaces it instead of handing out a connection inside a transaction.
    /// Statements still queued (BEGIN among them, if nothing was sent) are dropped unsent.
    private func rollbackAfterFailure() async {
        discardQueued()
        guard transactionStatus != PQTRANS_IDLE else { return }
        do {
            try await runScript("ROLLBACK", honourCancellation: false)
        } catch {
            await close()
        }
    }
}

/// Retry policy for transactions that lost a serialization or deadlock race.
public struct TransactionRetry: Sendable {
    public var maxAttempts: Int
    public var baseDelay: Duration
    public var maxDelay: Duration

    public init(maxAttempts: Int = 5, baseDelay: Duration = .milliseconds(5), maxDelay: Duration = .milliseconds(200)) {
        precondition(maxAttempts >= 1, "at least one attempt")
        self.maxAttempts = maxAttempts
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
    }

    /// Full jitter: a random wait up to an exponentially growing cap, so that colliding
    /// transactions do not collide again in lockstep.
    func delay(afterAttempt attempt: Int) -> Duration {
        let cap = min(maxDelay, baseDelay * (1 << min(attempt - 1, 16)))
        let nanos = cap.components.seconds * 1_000_000_000 + cap.components.attoseconds / 1_000_000_000
        return .nanoseconds(Int64.random(in: 0...max(nanos, 1)))
    }

    /// Runs `attempt` until it succeeds, fails with a non-transient error, or runs out of attempts.
    /// Only serialization failures and deadlocks are retried: they roll back everything, so running
    /// the whole transaction again is safe.
    public func run<T>(_ attempt: () async throws -> T) async throws -> T {
        var number = 1
        while true {
            do {
                return try await attempt()
            } catch let error as PostgresError where error.sqlState.isTransientTransactionFailure && number < maxAttempts {
                try await Task.sleep(for: delay(afterAttempt: number))
                number += 1
            }
        }
    }
}
