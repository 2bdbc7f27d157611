import Crypto
import Foundation
import LoketCore
import Postgres

/// A request as stored, with what the lifecycle and the SLA clocks need.
public struct RequestRecord: Sendable, Equatable {
    public var id: Int64
    public var trackingCode: String
    public var serviceTypeID: ServiceTypeID
    public var status: RequestStatus
    public var unitID: UnitID
    public var assigneeID: StaffID?
    public var leaseExpiresAt: Date?
    public var priority: Int
    public var escalationLevel: Int
    public var firstClaimedAt: Date?
    /// Who made the first claim or assignment, and the unit the request was in then (nil before
    /// it, and on requests first claimed before migration 0013).
    public var firstClaimedBy: StaffID?
    public var firstClaimUnitID: UnitID?
    public var pausedAt: Date?
    public var pausedMinutes: Int
    /// The request has waited for the citizen at least once (a pause may have covered no working
    /// time, leaving `pausedMinutes` at 0).
    public var wasPaused: Bool
    public var responseDueAt: Date
    public var resolutionDueAt: Date
    public var nextSLAAt: Date?
    public var citizenName: String?
    public var citizenNIK: String?
    public var citizenPhone: String?
    public var citizenEmail: String?
    public var areaCode: String?
    public var address: String?
    public var latitude: Double?
    public var longitude: Double?
    public var description: String?
    public var mediaURL: String?
    public var attributesJSON: String
    public var source: String
    public var outcome: String?
    public var publicMessage: String?
    public var rejectReason: String?
    public var routingReason: String
    public var version: Int
    public var createdAt: Date
    public var updatedAt: Date
    public var closedAt: Date?
    var accessTokenHash: Data

    /// The instant a change made at `now` is dated: never before the record's last change.
    /// Machines' clocks differ a little, and a change dated before the one it follows (a reply
    /// before its question, a question before the claim, a stage that moves `updated_at` back)
    /// makes the SLA clocks refuse the request's history, and with it every later change.
    func changeInstant(_ now: Date) -> Date { max(now, updatedAt) }

    public var state: RequestState {
        RequestState(
            status: status, unitId: unitID, holder: assigneeID, leaseExpiresAt: leaseExpiresAt, priority: priority,
            escalationLevel: escalationLevel, firstClaimedAt: firstClaimedAt, firstClaimedBy: firstClaimedBy,
            firstClaimUnit: firstClaimUnitID)
    }

    /// Compares a presented access token with the stored hash in constant time.
    public func accepts(accessToken: String) -> Bool {
        let presented = Data(SHA256.hash(data: Data(accessToken.utf8)))
        guard presented.count == accessTokenHash.count else { return false }
        var difference: UInt8 = 0
        for (a, b) in zip(presented, accessTokenHash) { difference |= a ^ b }
        return difference == 0
    }

    static let columns = """
        id, tracking_code, service_type_id, status, unit_id, assignee_id, lease_expires_at, priority, escalation_level,
        first_claimed_at, first_claimed_by, first_claim_unit_id, paused_at, paused_minutes, was_paused, response_due_at, resolution_due_at, next_sla_at, citizen_name,
        citizen_nik, citizen_phone, citizen_email, area_code, address, latitude, longitude, description, media_url,
        attributes::text AS attributes, source, outcome, public_message, reject_reason, routing_reason, version,
        created_at, updated_at, closed_at, access_token_hash
        """

    init(row: PostgresRow) throws {
        id = try row.decode(Int64.self, "id")
        trackingCode = try row.decode(String.self, "tracking_code")
        serviceTypeID = try row.decode(Int64.self, "service_type_id")
        let statusText = try row.decode(String.self, "status")
        guard let status = RequestStatus(rawValue: statusText) else {
            throw PostgresResultError("unknown request status \(statusText)")
        }
        self.status = status
        unitID = try row.decode(Int64.self, "unit_id")
        assigneeID = try row.decode(Int64?.self, "assignee_id")
        leaseExpiresAt = try row.decode(Date?.self, "lease_expires_at")
        priority = try row.decode(Int.self, "priority")
        escalationLevel = try row.decode(Int.self, "escalation_level")
        firstClaimedAt = try row.decode(Date?.self, "first_claimed_at")
        firstClaimedBy = try row.decode(Int64?.self, "first_claimed_by")
        firstClaimUnitID = try row.decode(Int64?.self, "first_claim_unit_id")
        pausedAt = try row.decode(Date?.self, "paused_at")
        pausedMinutes = try row.decode(Int.self, "paused_minutes")
        wasPaused = try row.decode(Bool.self, "was_paused")
        responseDueAt = try row.decode(Date.self, "response_due_at")
        resolutionDueAt = try row.decode(Date.self, "resolution_due_at")
        nextSLAAt = try row.decode(Date?.self, "next_sla_at")
        citizenName = try row.decode(String?.self, "citizen_name")
        citizenNIK = try row.decode(String?.self, "citizen_nik")
        citizenPhone = try row.decode(String?.self, "citizen_phone")
        citizenEmail = try row.decode(String?.self, "citizen_email")
        areaCode = try row.decode(String?.self, "area_code")
        address = try row.decode(String?.self, "address")
        latitude = try row.decode(Double?.self, "latitude")
        longitude = try row.decode(Double?.self, "longitude")
        description = try row.decode(String?.self, "description")
        mediaURL = try row.decode(String?.self, "media_url")
        attributesJSON = try row.decode(String.self, "attributes")
        source = try row.decode(String.self, "source")
        outcome = try row.decode(String?.self, "outcome")
        publicMessage = try row.decode(String?.self, "public_message")
        rejectReason = try row.decode(String?.self, "reject_reason")
        routingReason = try row.decode(String.self, "routing_reason")
        version = try row.decode(Int.self, "version")
        createdAt = try row.decode(Date.self, "created_at")
        updatedAt = try row.decode(Date.self, "updated_at")
        closedAt = try row.decode(Date?.self, "closed_at")
        accessTokenHash = try row.decode(Data.self, "access_token_hash")
    }
}

/// One line of a request's audit trail.
public struct TimelineEntry: Sendable {
    public var id: Int64
    public var at: Date
    public var kind: EventKind
    public var actorKind: ActorKind
    public var actorStaffID: StaffID?
    public var fromStatus: RequestStatus?
    public var toStatus: RequestStatus?
    public var isPublic: Bool
    public var message: String?
    public var fromUnitID: UnitID?
    public var toUnitID: UnitID?
    /// For assignments: the officer given the request.
    public var newHolderID: StaffID?
    /// When a supervisor acted over the holder: that holder.
    public var overriddenHolderID: StaffID?
}

/// A request's audit trail, documents and the officers they name (`RequestStore.history`).
public struct RequestHistory: Sendable {
    public var timeline: [TimelineEntry]
    public var documents: [DocumentInfo]
    public var staffNames: [StaffID: (nip: String, name: String)]
    /// The citizen has rated the service (read for a closed request only; false otherwise).
    public var feedbackGiven: Bool
}

/// A supporting document's metadata.
public struct DocumentInfo: Sendable {
    public var id: Int64
    public var filename: String
    public var contentType: String
    public var sizeBytes: Int
    public var sha256: Data
    public var uploadedBy: String
    public var createdAt: Date
}

public enum RequestStoreError: Error, Sendable {
    case notFound
    case refused(Refusal)
    case feedbackAlreadyGiven
    case feedbackNotAllowed(RequestStatus)
    /// The request is final: nothing more may be added to it.
    case closed(RequestStatus)
    /// The request already holds as many documents, or as many bytes, as one request may.
    case documentLimit(count: Int, bytes: Int)
}

/// Reads and changes requests. Every state change goes through `Lifecycle.transition` and writes
/// its audit event (and any notification) in the same transaction as the change.
public struct RequestStore: Sendable {
    public let pool: ConnectionPool

    public init(pool: ConnectionPool) {
        self.pool = pool
    }

    public func find(trackingCode: String, on connection: PostgresConnection, forUpdate: Bool = false) async throws -> RequestRecord? {
        try await connection.query(batch: [Self.findQuery(trackingCode, forUpdate: forUpdate)])[0].first.map(RequestRecord.init(row:))
    }

    private static func findQuery(_ trackingCode: String, forUpdate: Bool) -> PostgresStatement {
        PostgresStatement(
            "SELECT \(RequestRecord.columns) FROM service_requests WHERE tracking_code = $1" + (forUpdate ? " FOR UPDATE" : ""),
            trackingCode)
    }

    public func find(trackingCode: String) async throws -> RequestRecord? {
        try await pool.withConnection { try await find(trackingCode: trackingCode, on: $0) }
    }

    /// The audit trail, oldest first; only public entries unless `includePrivate`.
    public func timeline(requestID: Int64, includePrivate: Bool, on connection: PostgresConnection) async throws -> [TimelineEntry] {
        try Self.timeline(from: try await connection.query(batch: [Self.timelineQuery(requestID, includePrivate)])[0])
    }

    public func documents(requestID: Int64, on connection: PostgresConnection) async throws -> [DocumentInfo] {
        try await connection.query(batch: [Self.documentsQuery(requestID)])[0].map(DocumentInfo.init(row:))
    }

    /// What a request's detail shows besides the record: its audit trail (only public entries
    /// unless `includePrivate`), its documents and, with `staffNames`, the NIP and name of every
    /// officer the trail or the record names. One round trip; with `committing`, the last of a
    /// transaction, which COMMIT travels with (`PostgresConnection.queryAndCommit`).
    public func history(
        of record: RequestRecord, includePrivate: Bool, staffNames: Bool, feedback: Bool = false, committing: Bool = false,
        on connection: PostgresConnection
    ) async throws -> RequestHistory {
        var statements = [Self.timelineQuery(record.id, includePrivate), Self.documentsQuery(record.id)]
        if staffNames {
            // Everyone in the whole trail (private entries too) and the holder: a superset of the
            // people an answer shows, read in the same round trip instead of after the trail.
            statements.append(PostgresStatement(
                """
                SELECT id, nip, name FROM staff
                WHERE id = $2 OR id IN (
                    SELECT unnest(ARRAY[actor_staff_id, (data->>'new_holder')::bigint, (data->>'overridden_holder')::bigint])
                    FROM request_events WHERE request_id = $1)
                """, record.id, record.assigneeID))
        }
        // `feedback`: whether the survey is still open to the citizen. The feedback event is
        // private (the tokenless view must not date a rating), so the trail alone cannot say.
        let asksFeedback = feedback && record.status.isFinal
        if asksFeedback {
            statements.append(PostgresStatement("SELECT EXISTS (SELECT 1 FROM feedback WHERE request_id = $1) AS given", record.id))
        }
        let answers = committing
            ? try await connection.queryAndCommit(batch: statements) : try await connection.query(batch: statements)
        return RequestHistory(
            timeline: try Self.timeline(from: answers[0]), documents: try answers[1].map(DocumentInfo.init(row:)),
            staffNames: staffNames ? try StaffWorkStore.staffNames(from: answers[2]) : [:],
            feedbackGiven: asksFeedback ? try answers[answers.count - 1].single().decode(Bool.self, "given") : false)
    }

    private static func timelineQuery(_ requestID: Int64, _ includePrivate: Bool) -> PostgresStatement {
        PostgresStatement(
            """
            SELECT id, at, kind, actor_kind, actor_staff_id, from_status, to_status, is_public, message, from_unit_id, to_unit_id,
                   (data->>'new_holder')::bigint AS new_holder, (data->>'overridden_holder')::bigint AS overridden_holder
            FROM request_events WHERE request_id = $1 AND (is_public OR $2) ORDER BY id
            """, requestID, includePrivate)
    }

    private static func documentsQuery(_ requestID: Int64) -> PostgresStatement {
        PostgresStatement(
            "SELECT id, filename, content_type, size_bytes, sha256, uploaded_by, created_at FROM documents WHERE request_id = $1 ORDER BY id",
            requestID)
    }

    private static func timeline(from rows: PostgresRows) throws -> [TimelineEntry] {
        try rows.map { row in
            TimelineEntry(
                id: try row.decode(Int64.self, "id"), at: try row.decode(Date.self, "at"),
                kind: EventKind(rawValue: try row.decode(String.self, "kind")) ?? .note,
                actorKind: ActorKind(rawValue: try row.decode(String.self, "actor_kind")) ?? .system,
                actorStaffID: try row.decode(Int64?.self, "actor_staff_id"),
                fromStatus: try row.decode(String?.self, "from_status").flatMap(RequestStatus.init(rawValue:)),
                toStatus: try row.decode(String?.self, "to_status").flatMap(RequestStatus.init(rawValue:)),
                isPublic: try row.decode(Bool.self, "is_public"), message: try row.decode(String?.self, "message"),
                fromUnitID: try row.decode(Int64?.self, "from_unit_id"), toUnitID: try row.decode(Int64?.self, "to_unit_id"),
                newHolderID: try row.decode(Int64?.self, "new_holder"),
                overriddenHolderID: try row.decode(Int64?.self, "overridden_holder"))
        }
    }

    public func document(requestID: Int64, documentID: Int64) async throws -> (DocumentInfo, Data)? {
        try await pool.withConnection { connection in
            guard let row = try await connection.query(
                "SELECT id, filename, content_type, size_bytes, sha256, uploaded_by, created_at, content FROM documents WHERE request_id = $1 AND id = $2",
                requestID, documentID
            ).first else { return nil }
            return (try DocumentInfo(row: row), try row.decode(Data.self, "content"))
        }
    }

    /// At most this many documents per request, and this many bytes in all: a citizen's token
    /// would otherwise let one request fill the database, 10 MiB at a time.
    public static let maxDocuments = 20
    public static let maxDocumentBytes = 50 * 1024 * 1024

    /// Stores a document and its audit event.
    public func addDocument(
        requestID: Int64, filename: String, contentType: String, content: Data, by actor: Principal, now: Date = Date()
    ) async throws -> DocumentInfo {
        let digest = Data(SHA256.hash(data: content))
        return try await pool.transaction { connection in
            // The request's row, locked: a resolve or reject that commits meanwhile (an upload can
            // take a while) waits, or has happened and is seen here; and uploads to one request
            // take turns, so that the limits below hold.
            let answers = try await connection.query(batch: [
                PostgresStatement(
                    "SELECT status, updated_at, assignee_id FROM service_requests WHERE id = $1 FOR NO KEY UPDATE", requestID),
                PostgresStatement(
                    "SELECT count(*) AS n, coalesce(sum(size_bytes), 0)::bigint AS bytes FROM documents WHERE request_id = $1", requestID),
            ])
            guard let status = try answers[0].first.flatMap({ RequestStatus(rawValue: try $0.decode(String.self, "status")) })
            else { throw RequestStoreError.notFound }
            guard !status.isFinal else { throw RequestStoreError.closed(status) }
            // Never dated before the request's last change, made by a server whose clock may run a
            // little ahead (as in `apply`): an upload that answers a question must not look older
            // than the question (auto-close leaves a request alone once the citizen uploaded).
            let now = max(now, try answers[0].single().decode(Date.self, "updated_at"))
            let held = try answers[1].single()
            let count = try held.decode(Int.self, "n"), bytes = try held.decode(Int.self, "bytes")
            guard count < Self.maxDocuments, bytes + content.count <= Self.maxDocumentBytes else {
                throw RequestStoreError.documentLimit(count: count, bytes: bytes)
            }
            let row = try await connection.query(
                """
                WITH d AS (
                    INSERT INTO documents (request_id, uploaded_by, staff_id, filename, content_type, size_bytes, sha256, content, created_at)
                    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                    RETURNING id, filename, content_type, size_bytes, sha256, uploaded_by, created_at),
                e AS (
                    INSERT INTO request_events (request_id, at, actor_kind, actor_staff_id, kind, is_public, message, data)
                    SELECT $1, $9, $10, $3, 'document_added', true, d.filename,
                           jsonb_build_object('document_id', d.id, 'content_type', d.content_type, 'size_bytes', d.size_bytes)
                    FROM d)
                SELECT * FROM d
                """,
                requestID, actor.kind == .staff ? "staff" : "citizen", actor.kind == .staff ? actor.id : nil, filename,
                contentType, content.count, digest, content, now, actor.kind.rawValue
            ).single()
            // A citizen asked for something may send it without a reply: the SLA stays paused and
            // auto-close leaves the request alone, so the officer holding it is told, or it would
            // wait unseen.
            if actor.kind == .citizen, status == .waitingCitizen,
               let holder = try answers[0].single().decode(Int64?.self, "assignee_id") {
                try await connection.query(
                    """
                    INSERT INTO notification_outbox (request_id, recipient_kind, recipient_staff_id, channel, topic, payload, created_at, available_at)
                    SELECT id, 'staff', $2, 'webhook', 'request.document_added',
                           jsonb_build_object('tracking_code', tracking_code, 'status', status, 'filename', $3::text), $4, $4
                    FROM service_requests WHERE id = $1
                    """, requestID, holder, filename, now)
            }
            return try DocumentInfo(row: row)
        }
    }

    /// Applies a lifecycle command to the request with `trackingCode`, under a row lock:
    /// `authorize` sees the current record first and may throw. Returns the updated record.
    public func apply(
        _ command: RequestCommand, by actor: Principal, trackingCode: String, catalog: CatalogSnapshot, now: Date = Date(),
        leaseDuration: TimeInterval = TransitionContext.defaultLeaseDuration,
        authorize: @Sendable (RequestRecord) throws -> Void = { _ in }
    ) async throws -> RequestRecord {
        try await apply(
            command, by: actor, trackingCode: trackingCode, catalog: catalog, now: now, leaseDuration: leaseDuration, authorize: authorize,
            then: { record, _ in record })
    }

    /// Applies a lifecycle command as above, then runs `read` on the updated record in the same
    /// transaction (what the answer shows is exactly what commits, with no second connection), as
    /// its last work (`read` may end it with `PostgresConnection.queryAndCommit`).
    public func apply<T: Sendable>(
        _ command: RequestCommand, by actor: Principal, trackingCode: String, catalog: CatalogSnapshot, now: Date = Date(),
        leaseDuration: TimeInterval = TransitionContext.defaultLeaseDuration,
        authorize: @Sendable (RequestRecord) throws -> Void = { _ in },
        then read: (RequestRecord, PostgresConnection) async throws -> T
    ) async throws -> T {
        try await apply(
            command, by: actor, trackingCode: trackingCode, catalog: catalog, now: now, leaseDuration: leaseDuration,
            recheck: nil, authorize: { record, _ in try authorize(record) }, then: read)
    }

    /// Applies a lifecycle command as above; `recheck`, when given, is read after the row lock is
    /// held, in the locking round trip but with a snapshot of its own, so that it sees what a
    /// transaction that held the lock before committed; `authorize` sees its rows with the record.
    func apply<T: Sendable>(
        _ command: RequestCommand, by actor: Principal, trackingCode: String, catalog: CatalogSnapshot, now: Date,
        leaseDuration: TimeInterval, recheck: PostgresStatement?,
        authorize: @Sendable (RequestRecord, PostgresRows?) throws -> Void,
        then read: (RequestRecord, PostgresConnection) async throws -> T
    ) async throws -> T {
        try await pool.transaction { connection in
            // The row, locked, and the SLA stages already applied to it, in one round trip: the
            // second statement runs after the lock is held, with a snapshot of its own.
            var statements = [
                Self.findQuery(trackingCode, forUpdate: true),
                PostgresStatement(
                    "SELECT \(Self.appliedStagesColumn) FROM service_requests WHERE tracking_code = $1", trackingCode),
            ]
            if let recheck { statements.append(recheck) }
            let answers = try await connection.query(batch: statements)
            guard let row = answers[0].first else { throw RequestStoreError.notFound }
            var record = try RequestRecord(row: row)
            let now = record.changeInstant(now)
            var applied: [String: AppliedStages]? = try Self.appliedStages(of: answers[1].single())
            try authorize(record, recheck == nil ? nil : answers[2])
            // A change that stops or pauses a clock and leaves the request open (a claim or an
            // assignment stops the response clock, a question pauses both), that moves it to
            // another unit, or that lets its holder go, applies the stages already due first, as the worker would have (they
            // are read again after): a stage due in the old unit is told to the old unit's chain,
            // and a move up the tree that was due keeps the request from being transferred by
            // those it was moved away from. A change that closes the request does not: its
            // outcome counts the breach from the deadlines, and the officer who finished the work
            // is not overtaken by a move up the tree.
            if Self.appliesDueStagesFirst(command), let due = record.nextSLAAt, due <= now {
                record = try await SLAStore(pool: pool).applyDueStages(to: record, now: now, catalog: catalog, on: connection)
                applied = nil
            }
            // Whoever asked the question may not record its answer (nor may the holder).
            var asker: StaffID?
            if case .recordReply = command, record.status == .waitingCitizen {
                asker = try await connection.query(
                    "SELECT actor_staff_id FROM request_events WHERE request_id = $1 AND kind = 'asked_citizen' ORDER BY id DESC LIMIT 1",
                    record.id
                ).first?.decode(Int64?.self, "actor_staff_id")
            }
            let context = TransitionContext(
                now: now, unitAncestors: [record.unitID] + catalog.ancestors(of: record.unitID), leaseDuration: leaseDuration,
                questionAskedBy: asker)
            // A claim of a request whose lease lapsed takes it as claim-next would: the lapsed claim
            // first goes back to the queue (its `lease_expired` event, its officer told), as the
            // worker's rescuer would have sent it.
            if case .claim = command, record.status == .inProgress, let lease = record.leaseExpiresAt, lease <= now,
               case .success(let expiry) = Lifecycle.transition(record.state, .expireLease, by: .system, context: context) {
                record = try await persist(expiry, of: record, catalog: catalog, now: now, appliedStages: applied, on: connection)
            }
            let transition: Transition
            switch Lifecycle.transition(record.state, command, by: actor, context: context) {
            case .success(let value): transition = value
            case .failure(let refusal): throw RequestStoreError.refused(refusal)
            }
            return try await read(
                try await persist(transition, of: record, catalog: catalog, now: now, appliedStages: applied, on: connection), connection)
        }
    }

    /// Whether `command` applies the SLA stages already due before it: it stops or pauses a clock
    /// of a request that stays open, moves the request to another unit, or lets its holder go (a
    /// stage due while they held it is theirs to hear of; applied after, it found no holder).
    static func appliesDueStagesFirst(_ command: RequestCommand) -> Bool {
        switch command {
        case .claim, .assign, .askCitizen, .transfer, .release: true
        case .expireLease, .citizenReply, .recordReply, .resolve, .reject, .cancel, .escalate: false
        }
    }

    /// Writes a decided transition: the new state, moved SLA deadlines, the audit event and the
    /// notifications it causes.
    /// `appliedStages`, when the caller read them with the locked row, spares a round trip.
    func persist(
        _ transition: Transition, of record: RequestRecord, catalog: CatalogSnapshot, now: Date,
        appliedStages: [String: AppliedStages]? = nil, on connection: PostgresConnection
    ) async throws -> RequestRecord {
        guard let service = catalog.servicesByID[record.serviceTypeID] else {
            throw CatalogError.invalidConfiguration("request \(record.trackingCode) has an unknown service type")
        }
        let calendar = catalog.calendar(for: service).calendar
        var clocks = try await clocks(of: record, service: service, appliedStages: appliedStages, on: connection)
        try clocks.apply(transition.clockEffects, at: now)
        let snapshot = clocks.snapshot(policy: service.policy, calendar: calendar)
        let state = transition.state
        let event = transition.event
        let isFinal = state.status.isFinal
        let paused = state.status == .waitingCitizen
        var pausedMinutes = record.pausedMinutes
        if transition.clockEffects.contains(.resume), let pausedAt = record.pausedAt {
            pausedMinutes += calendar.workingMinutes(from: pausedAt, to: now)
        }
        let nextStage = (isFinal || paused) ? nil : snapshot.nextStage
        let details = event.details
        // The row as the UPDATE leaves it, built here: the caller holds its lock and `record` is its
        // current version, so nothing else can have changed it, and every value written is known.
        // The UPDATE is queued, not awaited (it goes out with the audit event, the notifications
        // and whatever the caller sends next, COMMIT at the latest): a round trip less for every
        // change. The value of each column is what the UPDATE below writes, read back (a test
        // compares the two for every command).
        var updated = record
        updated.status = state.status
        updated.unitID = state.unitId
        updated.assigneeID = state.holder
        updated.leaseExpiresAt = state.status == .inProgress ? state.leaseExpiresAt?.postgresStored : nil
        updated.priority = state.priority
        updated.escalationLevel = state.escalationLevel
        updated.firstClaimedAt = state.firstClaimedAt?.postgresStored
        updated.pausedAt = paused ? (record.pausedAt ?? now.postgresStored) : nil
        updated.pausedMinutes = pausedMinutes
        updated.wasPaused = record.wasPaused || record.status == .waitingCitizen
        // A response clock stopped by an earlier claim keeps the deadline it was measured
        // against: re-measured against today's target or calendar, a claim that was on time
        // could turn late (and count a breach) when the request closes.
        let responseDue = record.firstClaimedAt == nil ? snapshot.responseDue : nil
        updated.responseDueAt = responseDue?.postgresStored ?? record.responseDueAt
        updated.resolutionDueAt = snapshot.resolutionDue?.postgresStored ?? record.resolutionDueAt
        updated.nextSLAAt = nextStage?.dueAt.postgresStored
        updated.outcome = details.outcome ?? record.outcome
        updated.publicMessage = details.publicMessage ?? record.publicMessage
        let rejectReason = event.kind == .rejected ? details.reason : nil
        updated.rejectReason = rejectReason ?? record.rejectReason
        updated.closedAt = isFinal ? now.postgresStored : nil
        updated.updatedAt = now.postgresStored
        updated.version = record.version + 1
        updated.firstClaimedBy = state.firstClaimedBy
        updated.firstClaimUnitID = state.firstClaimUnit
        try await connection.queue(
            """
            UPDATE service_requests SET
                status = $2, unit_id = $3, assignee_id = $4, lease_expires_at = $5, priority = $6, escalation_level = $7,
                first_claimed_at = $8, paused_at = $9, paused_minutes = $10, was_paused = was_paused OR status = 'waiting_citizen',
                response_due_at = COALESCE($11, response_due_at), resolution_due_at = COALESCE($12, resolution_due_at),
                next_sla_at = $13, next_sla_clock = $14, next_sla_stage = $15,
                outcome = COALESCE($16, outcome), public_message = COALESCE($17, public_message),
                reject_reason = COALESCE($18, reject_reason), closed_at = $19, updated_at = $20, version = version + 1,
                first_claimed_by = $21, first_claim_unit_id = $22
            WHERE id = $1
            """,
            record.id, state.status.rawValue, state.unitId, state.holder, updated.leaseExpiresAt,
            state.priority, state.escalationLevel, state.firstClaimedAt, updated.pausedAt, pausedMinutes,
            responseDue, snapshot.resolutionDue, nextStage?.dueAt, nextStage?.clock.rawValue,
            nextStage.map { Int16($0.stage.number) }, details.outcome, details.publicMessage,
            rejectReason, updated.closedAt, now, state.firstClaimedBy, state.firstClaimUnit)
        try await Self.insertEvent(event, requestID: record.id, fromUnit: record.unitID, toUnit: state.unitId, on: connection)
        if isFinal && !record.status.isFinal {
            try await ReportStore.recordOutcome(
                of: updated, previous: record, service: service, calendar: calendar, closedBy: event.actor, on: connection)
        }
        try await notify(for: event, record: updated, previousHolder: record.assigneeID, on: connection, now: now)
        return updated
    }

    /// The clocks of a request rebuilt from its row, its pause history and its applied stages
    /// (`appliedStages` when the caller has them, as `appliedStages(from:)` reads them).
    func clocks(
        of record: RequestRecord, service: ServiceType, appliedStages: [String: AppliedStages]? = nil, on connection: PostgresConnection
    ) async throws -> SLAClocks {
        var pauses: [SLAPause] = []
        if record.wasPaused || record.pausedMinutes > 0 || record.pausedAt != nil {
            for row in try await connection.query(
                "SELECT kind, at FROM request_events WHERE request_id = $1 AND kind IN ('asked_citizen', 'citizen_replied') ORDER BY id",
                record.id)
            {
                let at = try row.decode(Date.self, "at")
                if try row.decode(String.self, "kind") == "asked_citizen" {
                    if pauses.last?.end != nil || pauses.isEmpty { pauses.append(SLAPause(start: at, end: nil)) }
                } else if let last = pauses.indices.last, pauses[last].end == nil {
                    pauses[last].end = at
                }
            }
        }
        if let closedAt = record.closedAt, let last = pauses.indices.last, pauses[last].end == nil {
            // Closed while waiting for the citizen (rejected or cancelled): the pause ended there.
            pauses[last].end = closedAt
        }
        let applied: [String: AppliedStages]
        if let appliedStages {
            applied = appliedStages
        } else {
            applied = try Self.appliedStages(
                of: try await connection.query("SELECT sla_stages_applied($1) AS stages_applied", record.id).single())
        }
        // The response clock stops at the first claim: a pause can only start before it when
        // clocks disagreed (a question dated before the claim by a server running behind), and
        // then ends there for that clock, or the clock would refuse the history, and with it
        // every later change of the request.
        var responsePauses = pauses
        if let claimed = record.firstClaimedAt {
            responsePauses = pauses.filter { $0.start < claimed }.map { pause in
                SLAPause(start: pause.start, end: min(pause.end ?? claimed, claimed))
            }
        }
        let response = try SLAClock(
            kind: .response, targetMinutes: service.responseTargetMinutes, startedAt: record.createdAt,
            pauses: responsePauses, stoppedAt: record.firstClaimedAt, stagesApplied: applied["response"]?.count ?? 0,
            lastPercentApplied: applied["response"]?.topPercent ?? 0)
        let resolution = try SLAClock(
            kind: .resolution, targetMinutes: service.resolutionTargetMinutes, startedAt: record.createdAt, pauses: pauses,
            stoppedAt: record.closedAt, stagesApplied: applied["resolution"]?.count ?? 0,
            lastPercentApplied: applied["resolution"]?.topPercent ?? 0)
        return SLAClocks(response: response, resolution: resolution)
    }

    /// What a clock has had applied: how many stages, and the largest share of the target.
    struct AppliedStages: Sendable {
        var count: Int
        var topPercent: Int
    }

    /// The SLA stages applied to the row's request, as a column of a statement on
    /// `service_requests` (migration 0014): read with a snapshot taken when it is called, so that a
    /// statement that has just locked the row sees every stage committed before the lock.
    static let appliedStagesColumn = "sla_stages_applied(id) AS stages_applied"

    /// Stages applied per clock, from the `stages_applied` column (`appliedStagesColumn`): response
    /// count and top percent, then resolution count and top percent.
    static func appliedStages(of row: PostgresRow) throws -> [String: AppliedStages] {
        let summary = try row.decode([Int].self, "stages_applied")
        guard summary.count == 4 else { throw PostgresResultError("sla_stages_applied returned \(summary.count) values, not 4") }
        var applied: [String: AppliedStages] = [:]
        if summary[0] > 0 { applied["response"] = AppliedStages(count: summary[0], topPercent: summary[1]) }
        if summary[2] > 0 { applied["resolution"] = AppliedStages(count: summary[2], topPercent: summary[3]) }
        return applied
    }

    static func insertEvent(
        _ event: AuditEvent, requestID: Int64, fromUnit: UnitID, toUnit: UnitID, on connection: PostgresConnection
    ) async throws {
        let details = event.details
        let message = details.publicMessage ?? details.question ?? details.reason ?? details.message
        // Queued: nobody reads its answer; it goes out with the transaction's next statement.
        try await connection.queue(
            """
            INSERT INTO request_events (request_id, at, actor_kind, actor_staff_id, kind, from_status, to_status,
                                        from_unit_id, to_unit_id, is_public, message, data)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
            """,
            requestID, event.occurredAt, event.actor.kind.rawValue, event.actor.kind == .staff ? event.actor.id : nil,
            event.kind.rawValue, event.fromStatus?.rawValue, event.toStatus.rawValue,
            fromUnit != toUnit ? fromUnit : nil, fromUnit != toUnit ? toUnit : nil, event.isPublic, message,
            PostgresJSONText(try details.storedJSON()))
    }

    /// The notifications a change causes, written with it (the outbox).
    private func notify(
        for event: AuditEvent, record: RequestRecord, previousHolder: StaffID?, on connection: PostgresConnection, now: Date
    ) async throws {
        let citizenTopic: String? = switch event.kind {
        case .askedCitizen: "request.asked"
        case .resolved: "request.resolved"
        case .rejected: "request.rejected"
        default: nil
        }
        // The outbox rows are queued: they go out with the transaction's next statement or COMMIT.
        if let citizenTopic {
            try await connection.queue(
                """
                INSERT INTO notification_outbox (request_id, recipient_kind, channel, topic, payload, created_at, available_at)
                VALUES ($1, 'citizen', 'webhook', $2, jsonb_build_object('tracking_code', $3::text, 'status', $4::text, 'message', $5::text), $6, $6)
                """,
                record.id, citizenTopic, record.trackingCode, record.status.rawValue,
                event.details.publicMessage ?? event.details.question ?? event.details.reason, now)
        }
        let staffTopic: (String, StaffID)? = switch event.kind {
        case .citizenReplied, .cancelled: previousHolder.map { ("request.\(event.kind.rawValue)", $0) }
        case .leaseExpired: previousHolder.map { ("lease.expired", $0) }
        case .assigned: record.assigneeID.map { ("staff.assigned", $0) }
        default: nil
        }
        if let (topic, staff) = staffTopic {
            try await connection.queue(
                """
                INSERT INTO notification_outbox (request_id, recipient_kind, recipient_staff_id, channel, topic, payload, created_at, available_at)
                VALUES ($1, 'staff', $2, 'webhook', $3, jsonb_build_object('tracking_code', $4::text, 'status', $5::text), $6, $6)
                """,
                record.id, staff, topic, record.trackingCode, record.status.rawValue, now)
        }
    }

    /// Records the citizen's IKM feedback on a final request, once.
    public func giveFeedback(trackingCode: String, scores: IKMScores, comment: String?, now: Date = Date()) async throws {
        try await pool.transaction { connection in
            guard let record = try await find(trackingCode: trackingCode, on: connection, forUpdate: true) else {
                throw RequestStoreError.notFound
            }
            guard record.status == .completed || record.status == .rejected else {
                throw RequestStoreError.feedbackNotAllowed(record.status)
            }
            let inserted = try await connection.query(
                """
                INSERT INTO feedback (request_id, u1, u2, u3, u4, u5, u6, u7, u8, u9, comment, created_at)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT (request_id) DO NOTHING
                """,
                binds: [record.id] + scores.values.map { Int16($0) } + [comment, now])
            guard inserted.affectedRows == 1 else { throw RequestStoreError.feedbackAlreadyGiven }
            try await ReportStore.recordFeedback(requestID: record.id, scores: scores, on: connection)
            try await connection.query(
                """
                INSERT INTO request_events (request_id, at, actor_kind, kind, from_status, to_status, is_public, data)
                VALUES ($1, $2, 'citizen', 'feedback', $3, $3, false, jsonb_build_object('scores', $4::bigint[]))
                """, record.id, now, record.status.rawValue, scores.values)
        }
    }
}

extension DocumentInfo {
    init(row: PostgresRow) throws {
        id = try row.decode(Int64.self, "id")
        filename = try row.decode(String.self, "filename")
        contentType = try row.decode(String.self, "content_type")
        sizeBytes = try row.decode(Int.self, "size_bytes")
        sha256 = try row.decode(Data.self, "sha256")
        uploadedBy = try row.decode(String.self, "uploaded_by")
        createdAt = try row.decode(Date.self, "created_at")
    }
}
