import Foundation
import Postgres

/// One row of `notification_outbox`, as claimed for delivery or listed as a dead letter.
public struct OutboxMessage: Sendable, Equatable {
    public var id: Int64
    public var requestID: Int64?
    /// `citizen`, `staff` or `manager`.
    public var recipientKind: String
    public var recipientStaffID: Int64?
    /// The channel recorded on the row: what the writer asked for until delivery, then the channel
    /// that actually delivered it.
    public var channel: String
    public var topic: String
    /// The payload object as JSON text, as stored.
    public var payloadJSON: String
    /// How to reach the recipient, as JSON text (`name`, `phone`, `email` of a citizen; `name`,
    /// `nip`, `email` of an officer; absent values null), read when the row was claimed; nil for
    /// the managers of a unit and when the person is gone.
    public var recipientJSON: String? = nil
    public var createdAt: Date
    /// For a claimed message: when the claim lapses and another worker may take the row.
    public var availableAt: Date
    /// Delivery attempts so far; for a claimed message this includes the attempt being made, so the
    /// first delivery is attempt 1.
    public var attempts: Int
    public var lastError: String?
    public var deliveredAt: Date?
    public var deadAt: Date?
}

/// Why an outbox operation could not be done.
public enum OutboxStoreError: Error, Sendable, Equatable, CustomStringConvertible {
    case notFound(id: Int64)
    /// Only a dead letter can be requeued; a pending or delivered row is left alone.
    case notDead(id: Int64)

    public var description: String {
        switch self {
        case .notFound(let id): "no notification \(id) in the outbox"
        case .notDead(let id): "notification \(id) is not dead-lettered"
        }
    }
}

/// The transactional outbox's delivery side. Writers insert rows in the transaction of the change
/// that causes them; workers claim, deliver outside any transaction, and record the outcome.
///
/// A claim pushes `available_at` forward by a visibility timeout and counts the attempt, so a worker
/// that dies after claiming loses nothing: its rows become claimable again when the timeout lapses
/// (delivery is at least once). Order per request is kept by never claiming a row while an earlier
/// row of the same request is still pending or waiting for a retry.
public struct OutboxStore: Sendable {
    public let pool: ConnectionPool

    public init(pool: ConnectionPool) {
        self.pool = pool
    }

    /// The row, and how to reach its recipient as of now (read at each claim, so a corrected phone
    /// number or e-mail address is used, and never copied into the outbox): the citizen's name and
    /// contact for a request's citizen, the officer's name, NIP and e-mail for a named officer.
    static let columns = """
        o.id, o.request_id, o.recipient_kind, o.recipient_staff_id, o.channel, o.topic, o.payload::text AS payload,
        o.created_at, o.available_at, o.attempts, o.last_error, o.delivered_at, o.dead_at,
        (CASE WHEN o.recipient_staff_id IS NOT NULL THEN
                  (SELECT jsonb_build_object('name', s.name, 'nip', s.nip, 'email', s.email) FROM staff s WHERE s.id = o.recipient_staff_id)
              WHEN o.recipient_kind = 'citizen' THEN
                  (SELECT jsonb_build_object('name', r.citizen_name, 'phone', r.citizen_phone, 'email', r.citizen_email)
                   FROM service_requests r WHERE r.id = o.request_id)
         END)::text AS recipient
        """

    /// The claim: due rows with no earlier pending row of the same request for the same recipient
    /// (the same officer, whether told as holder or as manager; else the citizen, or the managers
    /// of the unit),
    /// oldest due first. A later row waits while an earlier one to the same person is pending or in
    /// a retry's backoff; a dead letter no longer holds it back. Rows of one request to different
    /// recipients (a breach to five managers) go out together, and one that keeps failing (a
    /// citizen's address the receiver refuses) does not hold the officers' up for its backoff.
    static let claimStatement = """
        WITH next AS (
            SELECT o.id FROM notification_outbox o
            WHERE o.delivered_at IS NULL AND o.dead_at IS NULL AND o.available_at <= $1
              AND NOT EXISTS (
                  SELECT 1 FROM notification_outbox e
                  WHERE e.request_id = o.request_id AND e.id < o.id
                    AND (e.recipient_staff_id = o.recipient_staff_id
                         OR (e.recipient_staff_id IS NULL AND o.recipient_staff_id IS NULL AND e.recipient_kind = o.recipient_kind))
                    AND e.delivered_at IS NULL AND e.dead_at IS NULL)
            ORDER BY o.available_at, o.id
            LIMIT $2
            FOR UPDATE OF o SKIP LOCKED)
        UPDATE notification_outbox o SET available_at = $3, attempts = o.attempts + 1
        FROM next WHERE o.id = next.id
        RETURNING \(columns)
        """

    /// Claims up to `limit` messages due by `now` and hides them from other workers until
    /// `now + visibilityTimeout`.
    ///
    /// One statement, so the lock, the visibility push and the attempt count commit together and the
    /// transaction lasts only as long as the statement. The CTE holds the LIMIT: `UPDATE … WHERE id IN
    /// (SELECT … LIMIT n FOR UPDATE)` may update more than n rows (PostgreSQL bug #15715).
    public func claim(now: Date, limit: Int, visibilityTimeout: Duration) async throws -> [OutboxMessage] {
        let rows = try await pool.query(
            Self.claimStatement, now, limit, now.addingTimeInterval(timeInterval(visibilityTimeout)))
        return try rows.map(OutboxMessage.init(row:)).sorted { $0.id < $1.id }
    }

    /// Records a delivery through `channel` (`webhook` or `log`). A claim that lapsed and was taken
    /// again still records its success: the message did arrive, and the newer attempt then finds
    /// the row delivered and records nothing. Returns false when the row was already delivered or
    /// dead-lettered.
    @discardableResult
    public func markDelivered(id: Int64, channel: String, now: Date) async throws -> Bool {
        try await pool.query(
            """
            UPDATE notification_outbox SET delivered_at = $2, channel = $3
            WHERE id = $1 AND delivered_at IS NULL AND dead_at IS NULL
            """,
            id, now, channel
        ).affectedRows == 1
    }

    /// Schedules the next attempt after a failed one. Only the newest claim (`attempt` equal to the
    /// row's count) decides, so a worker whose claim lapsed cannot overwrite a newer worker's
    /// schedule. Returns false when the claim was superseded or the row is finished.
    @discardableResult
    public func scheduleRetry(id: Int64, attempt: Int, at availableAt: Date, error: String) async throws -> Bool {
        try await pool.query(
            """
            UPDATE notification_outbox SET available_at = $3, last_error = $4
            WHERE id = $1 AND attempts = $2 AND delivered_at IS NULL AND dead_at IS NULL
            """,
            id, attempt, availableAt, error
        ).affectedRows == 1
    }

    /// Abandons delivery after the last allowed attempt; the row stays for admins to inspect and
    /// requeue. Same newest-claim rule as `scheduleRetry`.
    @discardableResult
    public func markDead(id: Int64, attempt: Int, now: Date, error: String) async throws -> Bool {
        try await pool.query(
            """
            UPDATE notification_outbox SET dead_at = $3, last_error = $4
            WHERE id = $1 AND attempts = $2 AND delivered_at IS NULL AND dead_at IS NULL
            """,
            id, attempt, now, error
        ).affectedRows == 1
    }

    /// Hands back claimed messages whose delivery never started (the worker is shutting down): due
    /// at once again, and the attempt their claim counted is given back. Only rows still under
    /// this claim (same attempt count, not finished) change; returns how many did.
    public func release(_ messages: [OutboxMessage], now: Date) async throws -> Int {
        guard !messages.isEmpty else { return 0 }
        return try await pool.query(
            """
            UPDATE notification_outbox o SET available_at = $3, attempts = o.attempts - 1
            FROM unnest($1::bigint[], $2::int[]) AS m (id, attempts)
            WHERE o.id = m.id AND o.attempts = m.attempts AND o.attempts > 0 AND o.delivered_at IS NULL AND o.dead_at IS NULL
            """,
            messages.map(\.id), messages.map { Int32($0.attempts) }, now
        ).affectedRows
    }

    /// Makes every dead letter abandoned at or after `since` (all of them when nil) deliverable
    /// again, as `requeue` does one; returns how many.
    public func requeueAll(since: Date?, now: Date = Date()) async throws -> Int {
        try await pool.transaction { connection in
            let count = try await connection.query(
                """
                UPDATE notification_outbox SET dead_at = NULL, attempts = 0, available_at = $2
                WHERE dead_at IS NOT NULL AND ($1::timestamptz IS NULL OR dead_at >= $1)
                """,
                since, now
            ).affectedRows
            if count > 0 { try await connection.query("SELECT pg_notify($1, $2)", "loket_outbox", "requeued") }
            return count
        }
    }

    /// Dead letters, most recently abandoned first, for admins.
    public func deadLetters(limit: Int = 100) async throws -> [OutboxMessage] {
        try await pool.query(
            """
            SELECT \(Self.columns) FROM notification_outbox o
            WHERE o.dead_at IS NOT NULL ORDER BY o.dead_at DESC, o.id DESC LIMIT $1
            """,
            limit
        ).map(OutboxMessage.init(row:))
    }

    /// Makes a dead letter deliverable again from `now`, with a fresh budget of attempts (otherwise
    /// the first failure would kill it again). `last_error` is kept until the next attempt replaces
    /// it. Wakes the dispatchers so the retry does not wait for their tick.
    public func requeue(id: Int64, now: Date = Date()) async throws {
        try await pool.transaction { connection in
            let updated = try await connection.query(
                """
                UPDATE notification_outbox SET dead_at = NULL, attempts = 0, available_at = $2
                WHERE id = $1 AND dead_at IS NOT NULL
                """,
                id, now)
            guard updated.affectedRows == 1 else {
                let exists = try await connection.query("SELECT 1 FROM notification_outbox WHERE id = $1", id)
                throw exists.isEmpty ? OutboxStoreError.notFound(id: id) : OutboxStoreError.notDead(id: id)
            }
            // The channel name LoketWorker's WakeupRouter listens on (WorkerChannel.outbox); the store
            // cannot import the worker, which depends on it.
            try await connection.query("SELECT pg_notify($1, $2)", "loket_outbox", "requeued")
        }
    }

    /// Messages waiting for delivery and due by `now` (the pending metric): rows in a retry's
    /// backoff or under another worker's claim are not counted until they are due again.
    public func pendingCount(now: Date) async throws -> Int {
        try await pool.query(
            """
            SELECT count(*) AS n FROM notification_outbox
            WHERE delivered_at IS NULL AND dead_at IS NULL AND available_at <= $1
            """,
            now
        ).single().decode(Int.self, "n")
    }
}

extension OutboxMessage {
    init(row: PostgresRow) throws {
        self.init(
            id: try row.decode(Int64.self, "id"),
            requestID: try row.decode(Int64?.self, "request_id"),
            recipientKind: try row.decode(String.self, "recipient_kind"),
            recipientStaffID: try row.decode(Int64?.self, "recipient_staff_id"),
            channel: try row.decode(String.self, "channel"),
            topic: try row.decode(String.self, "topic"),
            payloadJSON: try row.decode(String.self, "payload"),
            recipientJSON: try row.decode(String?.self, "recipient"),
            createdAt: try row.decode(Date.self, "created_at"),
            availableAt: try row.decode(Date.self, "available_at"),
            attempts: try row.decode(Int.self, "attempts"),
            lastError: try row.decode(String?.self, "last_error"),
            deliveredAt: try row.decode(Date?.self, "delivered_at"),
            deadAt: try row.decode(Date?.self, "dead_at"))
    }
}

/// A `Duration` as seconds, for `Date` arithmetic (a free function so that no extension on a
/// standard type leaks to the modules importing this one).
private func timeInterval(_ duration: Duration) -> TimeInterval {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}
