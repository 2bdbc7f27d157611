import Foundation
import LoketCore
import Postgres

/// A request that has been waiting for the citizen since `pausedAt`.
public struct WaitingRequest: Sendable, Equatable {
    public var id: Int64
    public var trackingCode: String
    public var serviceTypeID: ServiceTypeID
    public var pausedAt: Date
}

/// The worker's auto-close: a request that waited for the citizen longer than allowed is rejected
/// by the system with a reason the citizen reads (Lifecycle lets the system reject only a request
/// in `waiting_citizen`). The candidates come from a partial index on `paused_at`.
public struct AutoCloseStore: Sendable {
    public let pool: ConnectionPool
    let requests: RequestStore

    public init(pool: ConnectionPool) {
        self.pool = pool
        self.requests = RequestStore(pool: pool)
    }

    /// SQL: the citizen uploaded a document to `request` since `since` (column names or
    /// placeholders, never values). The listing and the locked re-check share it.
    static func uploaded(request: String, since: String) -> String {
        "EXISTS (SELECT 1 FROM documents d WHERE d.request_id = \(request) AND d.uploaded_by = 'citizen' AND d.created_at >= \(since))"
    }

    /// SQL: `request` was reminded of its auto-close since `since` (the reminder is the system's
    /// only public note; its private one is `flagged`).
    static func reminded(request: String, since: String) -> String {
        "EXISTS (SELECT 1 FROM request_events e WHERE e.request_id = \(request) AND e.kind = 'note' AND e.actor_kind = 'system' AND e.is_public AND e.at >= \(since))"
    }

    /// SQL: the holder and supervisors of `request` were told since `since` that its citizen
    /// uploaded without a reply (a private note by the system; the reminder's is public).
    static func flagged(request: String, since: String) -> String {
        "EXISTS (SELECT 1 FROM request_events e WHERE e.request_id = \(request) AND e.kind = 'note' AND e.actor_kind = 'system' AND NOT e.is_public AND e.at >= \(since))"
    }

    /// Requests waiting for the citizen since `cutoff` or before whose citizen uploaded a document
    /// since the question but sent no reply, and whose holder and supervisors have not been told of
    /// it in this pause; oldest first, after `cursor`, as `waiting` pages.
    public func waitingWithUploads(since cutoff: Date, after cursor: WaitingRequest?, limit: Int) async throws -> [WaitingRequest] {
        try await waitingPage(
            "\(Self.uploaded(request: "r.id", since: "r.paused_at")) AND NOT \(Self.flagged(request: "r.id", since: "r.paused_at"))",
            since: cutoff, after: cursor, limit: limit)
    }

    /// One page of requests waiting for the citizen since `cutoff` or before, oldest first, after
    /// `cursor` (the row comparison bounds the index scan), that also meet `filter` (fixed SQL
    /// over `r`; `extra` binds from $5).
    private func waitingPage(
        _ filter: String, since cutoff: Date, after cursor: WaitingRequest?, limit: Int, extra: [any PostgresEncodable] = []
    ) async throws -> [WaitingRequest] {
        try await pool.query(
            """
            SELECT r.id, r.tracking_code, r.service_type_id, r.paused_at FROM service_requests r
            WHERE r.status = 'waiting_citizen' AND r.paused_at <= $1
              AND (r.paused_at, r.id) > ($2::timestamptz, $3::bigint)
              AND \(filter)
            ORDER BY r.paused_at, r.id LIMIT $4
            """, binds: [cutoff, cursor?.pausedAt ?? Date(timeIntervalSince1970: -62_135_596_800), cursor?.id ?? 0, limit] + extra
        ).map { row in
            WaitingRequest(
                id: try row.decode(Int64.self, "id"), trackingCode: try row.decode(String.self, "tracking_code"),
                serviceTypeID: try row.decode(Int64.self, "service_type_id"), pausedAt: try row.decode(Date.self, "paused_at"))
        }
    }

    /// Tells the holder and the unit's supervisors (those of the nearest unit up the tree that has
    /// any) that `request`, which the close would have ended, still waits although its citizen
    /// uploaded a document since the question: an officer reads it and records the answer
    /// (`loket answered`), asks again, or decides. A private note by the system on the timeline
    /// and a `request.upload_unanswered` notification to each, once per pause. False when it no
    /// longer waits in the same pause, was flagged already (another worker), or has no upload.
    public func flagUnanswered(_ request: WaitingRequest, message: String, catalog: CatalogSnapshot, now: Date) async throws -> Bool {
        try await pool.transaction { connection in
            guard let locked = try await lockInSamePause(request, noted: Self.flagged, on: connection),
                  !locked.noted, locked.uploaded
            else { return false }
            let recipients = try await SLAStore.recipients(
                targets: [.supervisors], unit: locked.unit, holder: locked.holder, catalog: catalog, on: connection)
            try await queueSystemNote(request, message: message, isPublic: false, now: now, on: connection)
            for recipient in recipients {
                try await connection.queue(
                    """
                    INSERT INTO notification_outbox (request_id, recipient_kind, recipient_staff_id, channel, topic, payload, created_at, available_at)
                    VALUES ($1, $2, $3, 'webhook', 'request.upload_unanswered',
                            jsonb_build_object('tracking_code', $4::text, 'status', 'waiting_citizen'::text, 'message', $5::text,
                                               'waiting_since', $6::timestamptz), $7, $7)
                    """, request.id, recipient.kind, recipient.staff, request.trackingCode, message, request.pausedAt, now)
            }
            return true
        }
    }

    /// Requests waiting for the citizen since `cutoff` or before, oldest first, after `cursor` (the
    /// last one of the previous page; the row comparison bounds the index scan), leaving out those
    /// whose citizen uploaded a document since the question, and with `unremindedOnly` those
    /// already reminded in this pause.
    public func waiting(
        since cutoff: Date, after cursor: WaitingRequest?, limit: Int, unremindedOnly: Bool = false
    ) async throws -> [WaitingRequest] {
        try await waitingPage(
            "NOT \(Self.uploaded(request: "r.id", since: "r.paused_at")) AND NOT ($5 AND \(Self.reminded(request: "r.id", since: "r.paused_at")))",
            since: cutoff, after: cursor, limit: limit, extra: [unremindedOnly])
    }

    /// Rejects `request` as the system if it still waits in the same pause with no upload from the
    /// citizen; false when the citizen answered or uploaded (or anything else changed it) since it
    /// was listed.
    public func close(_ request: WaitingRequest, reason: String, catalog: CatalogSnapshot, now: Date) async throws -> Bool {
        struct Changed: Error {}
        do {
            // The upload is looked for after the lock is held: an upload that committed after the
            // listing, or held the row while this waited (citizens upload just before the close
            // the reminder announced), is seen, where the listing's snapshot missed it.
            let uploaded = PostgresStatement(
                "SELECT \(Self.uploaded(request: "$1", since: "$2")) AS uploaded", request.id, request.pausedAt)
            _ = try await requests.apply(
                .reject(reason: reason), by: .system, trackingCode: request.trackingCode, catalog: catalog, now: now,
                leaseDuration: TransitionContext.defaultLeaseDuration, recheck: uploaded,
                authorize: { record, recheck in
                    guard record.status == .waitingCitizen, record.pausedAt == request.pausedAt,
                          let recheck, try !recheck.single().decode(Bool.self, "uploaded")
                    else { throw Changed() }
                },
                then: { record, _ in record })
            return true
        } catch is Changed {
            return false
        } catch RequestStoreError.refused(_) {
            return false
        }
    }

    /// Reminds the citizen that `request` will be closed at `closesAt` without an answer: a public
    /// note by the system on the timeline (the tracking page shows it) and a notification, once per
    /// pause. False when it no longer waits in the same pause, was reminded already (another
    /// worker), or the citizen has uploaded a document since the question.
    public func remind(_ request: WaitingRequest, message: String, closesAt: Date, now: Date) async throws -> Bool {
        try await pool.transaction { connection in
            guard let locked = try await lockInSamePause(request, noted: Self.reminded, on: connection),
                  !locked.noted, !locked.uploaded
            else { return false }
            try await queueSystemNote(request, message: message, isPublic: true, now: now, on: connection)
            try await connection.query(
                """
                INSERT INTO notification_outbox (request_id, recipient_kind, channel, topic, payload, created_at, available_at)
                VALUES ($1, 'citizen', 'webhook', 'request.auto_close_reminder',
                        jsonb_build_object('tracking_code', $2::text, 'status', 'waiting_citizen'::text, 'message', $3::text,
                                           'closes_at', $4::timestamptz), $5, $5)
                """, request.id, request.trackingCode, message, closesAt, now)
            return true
        }
    }

    /// Locks `request` and, if it still waits in the same pause, returns its unit and holder and
    /// whether the system already wrote `noted` (a reminder, a flag) or the citizen uploaded since
    /// the question. Those two are read after the lock is held, in a statement of their own: its
    /// snapshot then sees what a worker that held the lock before committed. Read in the locking
    /// statement, with that statement's older snapshot, two workers both sent one.
    private func lockInSamePause(
        _ request: WaitingRequest, noted: (_ request: String, _ since: String) -> String, on connection: PostgresConnection
    ) async throws -> (unit: UnitID, holder: StaffID?, noted: Bool, uploaded: Bool)? {
        guard let row = try await connection.query(
            "SELECT status, paused_at, unit_id, assignee_id FROM service_requests WHERE id = $1 FOR NO KEY UPDATE", request.id
        ).first,
            try row.decode(String.self, "status") == RequestStatus.waitingCitizen.rawValue,
            try row.decode(Date?.self, "paused_at") == request.pausedAt
        else { return nil }
        let since = try await connection.query(
            """
            SELECT \(noted("$1", "$2")) AS noted, \(Self.uploaded(request: "$1", since: "$2")) AS uploaded
            """, request.id, request.pausedAt
        ).single()
        return (try row.decode(Int64.self, "unit_id"), try row.decode(Int64?.self, "assignee_id"),
                try since.decode(Bool.self, "noted"), try since.decode(Bool.self, "uploaded"))
    }

    /// A note by the system on `request`'s timeline, still waiting for the citizen: public (the
    /// tracking page shows it) or for the officers only.
    private func queueSystemNote(
        _ request: WaitingRequest, message: String, isPublic: Bool, now: Date, on connection: PostgresConnection
    ) async throws {
        try await connection.queue(
            """
            INSERT INTO request_events (request_id, at, actor_kind, kind, from_status, to_status, is_public, message)
            VALUES ($1, $2, 'system', 'note', 'waiting_citizen', 'waiting_citizen', $3, $4)
            """, request.id, now, isPublic, message)
    }
}
