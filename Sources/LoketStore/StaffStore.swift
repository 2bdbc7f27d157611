import Crypto
import Foundation
import LoketCore
import Postgres

/// An authenticated officer.
public struct StaffAccount: Sendable, Hashable {
    public var id: StaffID
    public var nip: String
    public var name: String
    public var email: String?
    public var role: StaffRole
    public var unitID: UnitID
    public var tokenPrefix: String
    public var tokenExpiresAt: Date?

    public var member: StaffMember { StaffMember(id: id, role: role, unitId: unitID) }
}

/// Why a bearer token was refused.
public enum TokenRefusal: Error, Sendable, Equatable {
    case malformed
    case unknown
    case expired(Date)
    case revoked
    case inactiveAccount
}

/// Personal API tokens: random, shown once, stored as SHA-256, with expiry, revocation and
/// last use.
public struct StaffTokenStore: Sendable {
    public let pool: ConnectionPool
    /// "lks_" + 43 base64url characters.
    public static let tokenPrefix = "lks_"

    public init(pool: ConnectionPool) {
        self.pool = pool
    }

    public struct Issued: Sendable {
        public var id: Int64
        public var token: String
        public var expiresAt: Date?
    }

    /// Issues a token to an active officer; throws `StaffTokenStore.InactiveStaff` when the
    /// officer is inactive. The check and the insert are one statement that share-locks the
    /// officer's row, so a deactivation (which revokes every token) cannot slip between them.
    public func issue(staffID: StaffID, label: String?, expiresAt: Date?, now: Date = Date()) async throws -> Issued {
        let token = Self.tokenPrefix + IntakeStore.newAccessToken()
        guard let row = try await pool.query(
            """
            INSERT INTO api_tokens (staff_id, token_hash, token_prefix, label, created_at, expires_at)
            SELECT id, $2, $3, $4, $5, $6 FROM staff WHERE id = $1 AND active FOR SHARE
            RETURNING id
            """, staffID, Self.hash(token), String(token.prefix(8)), label, now, expiresAt
        ).first else { throw InactiveStaff(staffID: staffID) }
        return Issued(id: try row.decode(Int64.self, "id"), token: token, expiresAt: expiresAt)
    }

    /// No token for an officer who is inactive (or unknown).
    public struct InactiveStaff: Error, Sendable {
        public let staffID: StaffID
    }

    /// The account behind a token, or why not. Records the use at most once a minute.
    /// Whether `token` has the shape of a personal token (prefix and 43 base64url characters):
    /// checked before anything touches the database.
    public static func isWellFormed(_ token: String) -> Bool {
        token.hasPrefix(tokenPrefix) && token.utf8.count == tokenPrefix.utf8.count + 43
            && token.utf8.allSatisfy { byte in
                switch byte {
                case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                     UInt8(ascii: "-"), UInt8(ascii: "_"): true
                default: false
                }
            }
    }

    public func authenticate(_ token: String, now: Date = Date()) async throws -> Result<StaffAccount, TokenRefusal> {
        guard Self.isWellFormed(token) else { return .failure(.malformed) }
        return try await pool.withConnection { connection in
            guard let row = try await connection.query(
                """
                SELECT t.id AS token_id, t.token_prefix, t.expires_at, t.revoked_at, t.last_used_at,
                       s.id, s.nip, s.name, s.email, s.role, s.unit_id, s.active
                FROM api_tokens t JOIN staff s ON s.id = t.staff_id WHERE t.token_hash = $1
                """, Self.hash(token)
            ).first else { return .failure(.unknown) }
            if try row.decode(Date?.self, "revoked_at") != nil { return .failure(.revoked) }
            let expiresAt = try row.decode(Date?.self, "expires_at")
            if let expiresAt, expiresAt <= now { return .failure(.expired(expiresAt)) }
            guard try row.decode(Bool.self, "active") else { return .failure(.inactiveAccount) }
            let lastUsed = try row.decode(Date?.self, "last_used_at")
            if lastUsed.map({ now.timeIntervalSince($0) > 60 }) ?? true {
                try await connection.query("UPDATE api_tokens SET last_used_at = $2 WHERE id = $1", try row.decode(Int64.self, "token_id"), now)
            }
            guard let role = StaffRole(rawValue: try row.decode(String.self, "role")) else { return .failure(.inactiveAccount) }
            return .success(StaffAccount(
                id: try row.decode(Int64.self, "id"), nip: try row.decode(String.self, "nip"),
                name: try row.decode(String.self, "name"), email: try row.decode(String?.self, "email"), role: role,
                unitID: try row.decode(Int64.self, "unit_id"), tokenPrefix: try row.decode(String.self, "token_prefix"),
                tokenExpiresAt: expiresAt))
        }
    }

    public func revoke(id: Int64, now: Date = Date()) async throws -> Bool {
        try await pool.query("UPDATE api_tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL", id, now).affectedRows == 1
    }

    static func hash(_ token: String) -> Data { Data(SHA256.hash(data: Data(token.utf8))) }
}

/// A request as it appears in a queue or list.
public struct QueueItem: Sendable {
    public var trackingCode: String
    public var serviceTypeID: ServiceTypeID
    public var unitID: UnitID
    public var status: RequestStatus
    public var assigneeID: StaffID?
    public var priority: Int
    public var escalationLevel: Int
    public var responseDueAt: Date
    public var resolutionDueAt: Date
    public var leaseExpiresAt: Date?
    public var createdAt: Date
    public var firstClaimedAt: Date?
    /// When the request began waiting for the citizen (its SLA clock stands still from then).
    public var pausedAt: Date?
}

/// The staff side of requests: queues, claims and the work on a claimed request.
public struct StaffWorkStore: Sendable {
    public let pool: ConnectionPool
    public let requests: RequestStore

    public init(pool: ConnectionPool) {
        self.pool = pool
        self.requests = RequestStore(pool: pool)
    }

    static let queueColumns = """
        tracking_code, service_type_id, unit_id, status, assignee_id, priority, escalation_level, response_due_at,
        resolution_due_at, lease_expires_at, created_at, first_claimed_at, paused_at
        """

    /// Most urgent first: escalation level, priority, then the deadline of the clock that runs (the
    /// response deadline until the first claim, the resolution deadline after it: the deadline the
    /// lists' SLA column counts down to). The claim-queue index (migration 0009) has the same order.
    /// A paused request keeps its stored deadline here, though its SLA column stands still.
    public static let urgency = """
        escalation_level DESC, priority DESC, (CASE WHEN first_claimed_at IS NULL THEN response_due_at ELSE resolution_due_at END), id
        """

    /// Queued requests of the given units, most urgent first (`urgency`).
    public func queue(units: [UnitID], limit: Int) async throws -> [QueueItem] {
        try await pool.query(
            """
            SELECT \(Self.queueColumns) FROM service_requests
            WHERE status = 'queued' AND unit_id = ANY($1)
            ORDER BY \(Self.urgency) LIMIT $2
            """, units, limit
        ).map(QueueItem.init(row:))
    }

    /// Open requests held by one officer.
    public func held(by staff: StaffID) async throws -> [QueueItem] {
        try await pool.query(
            """
            SELECT \(Self.queueColumns) FROM service_requests
            WHERE assignee_id = $1 AND status IN ('in_progress', 'waiting_citizen')
            ORDER BY \(Self.urgency)
            """, staff
        ).map(QueueItem.init(row:))
    }

    /// Open requests of the units that were escalated at least once, most escalated first.
    public func escalated(units: [UnitID], limit: Int) async throws -> [QueueItem] {
        try await pool.query(
            """
            SELECT \(Self.queueColumns) FROM service_requests
            WHERE unit_id = ANY($1) AND escalation_level > 0 AND status IN ('queued', 'in_progress', 'waiting_citizen')
            ORDER BY \(Self.urgency) LIMIT $2
            """, units, limit
        ).map(QueueItem.init(row:))
    }

    /// Claims the most urgent queued request of `units` for `member`: the pick is one statement
    /// with FOR UPDATE SKIP LOCKED, so concurrent claimers never take the same request and never
    /// wait for each other. Claims in these units whose lease lapsed are first returned to the
    /// queue (with their `lease_expired` event), so an abandoned request is claimable again at
    /// once, with or without the worker's rescuer. Returns nil when the queue is empty.
    public func claimNext(
        units: [UnitID], by member: StaffMember, catalog: CatalogSnapshot, now: Date = Date(),
        leaseDuration: TimeInterval = TransitionContext.defaultLeaseDuration
    ) async throws -> RequestRecord? {
        try await claimNext(units: units, by: member, catalog: catalog, now: now, leaseDuration: leaseDuration, then: { record, _ in record })
    }

    /// Claims as above, then runs `read` on the claimed record in the same transaction, as its last
    /// work (`read` may end it with `PostgresConnection.queryAndCommit`).
    public func claimNext<T: Sendable>(
        units: [UnitID], by member: StaffMember, catalog: CatalogSnapshot, now: Date = Date(),
        leaseDuration: TimeInterval = TransitionContext.defaultLeaseDuration,
        then read: (RequestRecord, PostgresConnection) async throws -> T
    ) async throws -> T? {
        try await pool.transaction { connection in
            _ = try await expireLeases(units: units, catalog: catalog, now: now, limit: 10, on: connection)
            // With one unit the pick walks the claim-queue index in order and stops at the first
            // unlocked row; `= ANY` over several units makes PostgreSQL 15 sort their whole queue.
            // The outer FOR UPDATE (on a row this transaction has just locked: it waits for nothing)
            // makes it read the row's newest version. Without it the outer scan would read the
            // version of the statement's snapshot: a change the worker committed in between (an SLA
            // stage raising the escalation level) would be read stale and written back undone.
            let order = "ORDER BY \(Self.urgency) LIMIT 1 FOR UPDATE SKIP LOCKED"
            // The stages already applied come with the pick: `sla_stages_applied` reads them with a
            // snapshot taken after the pick's subquery has locked the row (migration 0014; under
            // READ COMMITTED, `transaction`'s default), as a statement of its own would, without
            // its round trip.
            let columns = "\(RequestRecord.columns), \(RequestStore.appliedStagesColumn)"
            // A pick whose due stages move it out of the caller's units (a repeat stage that sends
            // it up the tree) keeps those stages and is passed over for the next.
            for _ in 0..<Self.claimAttempts {
                let rows = units.count == 1
                    ? try await connection.query(
                        """
                        SELECT \(columns) FROM service_requests
                        WHERE id = (SELECT id FROM service_requests WHERE status = 'queued' AND unit_id = $1 \(order))
                        FOR UPDATE
                        """, units[0])
                    : try await connection.query(
                        """
                        SELECT \(columns) FROM service_requests
                        WHERE id = (SELECT id FROM service_requests WHERE status = 'queued' AND unit_id = ANY($1) \(order))
                        FOR UPDATE
                        """, units)
                guard let row = rows.first else { return nil }
                let picked = try RequestRecord(row: row)
                let now = picked.changeInstant(now)
                var applied: [String: RequestStore.AppliedStages]? = try RequestStore.appliedStages(of: row)
                // The response clock stops with the claim: its stages already due go first (they
                // are read again after).
                var record = picked
                if let due = picked.nextSLAAt, due <= now {
                    record = try await SLAStore(pool: pool).applyDueStages(to: picked, now: now, catalog: catalog, on: connection)
                    applied = nil
                }
                guard record.unitID == picked.unitID || units.contains(record.unitID) else { continue }
                let context = TransitionContext(
                    now: now, unitAncestors: [record.unitID] + catalog.ancestors(of: record.unitID), leaseDuration: leaseDuration)
                switch Lifecycle.transition(record.state, .claim, by: .staff(member), context: context) {
                case .success(let transition):
                    return try await read(
                        try await requests.persist(
                            transition, of: record, catalog: catalog, now: now, appliedStages: applied, on: connection), connection)
                case .failure(let refusal):
                    throw RequestStoreError.refused(refusal)
                }
            }
            return nil
        }
    }

    /// Picks passed over in one claim-next before it answers that there is nothing to claim.
    static let claimAttempts = 5

    /// Returns claims whose lease lapsed to their queue (event by `system`; the officer is told).
    /// The worker's lease rescuer runs this over all units; `limit` bounds one batch.
    public func expireLeases(catalog: CatalogSnapshot, now: Date = Date(), limit: Int = 100) async throws -> [String] {
        try await pool.transaction { connection in
            try await expireLeases(units: nil, catalog: catalog, now: now, limit: limit, on: connection)
        }
    }

    func expireLeases(
        units: [UnitID]?, catalog: CatalogSnapshot, now: Date, limit: Int, on connection: PostgresConnection
    ) async throws -> [String] {
        let rows = try await connection.query(
            """
            SELECT \(RequestRecord.columns) FROM service_requests
            WHERE status = 'in_progress' AND lease_expires_at <= $1 AND ($3::bigint[] IS NULL OR unit_id = ANY($3))
            ORDER BY lease_expires_at LIMIT $2 FOR UPDATE SKIP LOCKED
            """, now, limit, units)
        var codes: [String] = []
        for row in rows {
            var record = try RequestRecord(row: row)
            let stamp = record.changeInstant(now)
            // The stages already due go first, as before a release: a warning that fell due while
            // the officer held the request is theirs to hear of (applied after, it found no
            // holder). A stage that moves the request up the tree lets the holder go itself.
            if let due = record.nextSLAAt, due <= stamp {
                record = try await SLAStore(pool: pool).applyDueStages(to: record, now: stamp, catalog: catalog, on: connection)
            }
            let context = TransitionContext(now: stamp, unitAncestors: [record.unitID] + catalog.ancestors(of: record.unitID))
            guard case .success(let transition) = Lifecycle.transition(record.state, .expireLease, by: .system, context: context)
            else { continue }
            _ = try await requests.persist(transition, of: record, catalog: catalog, now: stamp, on: connection)
            codes.append(record.trackingCode)
        }
        return codes
    }

    /// Extends the holder's lease.
    public func heartbeat(trackingCode: String, by member: StaffMember, catalog: CatalogSnapshot, now: Date = Date(),
                          leaseDuration: TimeInterval = TransitionContext.defaultLeaseDuration) async throws -> Date {
        try await pool.transaction { connection in
            guard let record = try await requests.find(trackingCode: trackingCode, on: connection, forUpdate: true) else {
                throw RequestStoreError.notFound
            }
            let context = TransitionContext(
                now: now, unitAncestors: [record.unitID] + catalog.ancestors(of: record.unitID), leaseDuration: leaseDuration)
            switch Lifecycle.renewedLease(of: record.state, by: member, context: context) {
            case .success(let until):
                try await connection.query(
                    "UPDATE service_requests SET lease_expires_at = $2, updated_at = $3 WHERE id = $1", record.id, until,
                    record.changeInstant(now))
                return until
            case .failure(let refusal):
                throw RequestStoreError.refused(refusal)
            }
        }
    }

    /// An internal (or public) note by an officer of the request's unit subtree.
    /// `authorize` runs on the locked row (the caller's scope check), so that a note never lands on
    /// a request a concurrent transfer has just taken out of the writer's reach.
    public func addNote(
        trackingCode: String, text: String, isPublic: Bool, by member: StaffMember, now: Date = Date(),
        authorize: @Sendable (RequestRecord) throws -> Void = { _ in }
    ) async throws {
        try await pool.transaction { connection in
            guard let record = try await requests.find(trackingCode: trackingCode, on: connection, forUpdate: true) else {
                throw RequestStoreError.notFound
            }
            try authorize(record)
            try await connection.query(
                """
                INSERT INTO request_events (request_id, at, actor_kind, actor_staff_id, kind, from_status, to_status, is_public, message)
                VALUES ($1, $2, 'staff', $3, 'note', $4, $4, $5, $6)
                """, record.id, now, member.id, record.status.rawValue, isPublic, text)
        }
    }

    /// The staff account with this NIP, for assignment.
    public func member(nip: String) async throws -> StaffMember? {
        guard let row = try await pool.query("SELECT id, role, unit_id FROM staff WHERE nip = $1 AND active", nip).first else { return nil }
        guard let role = StaffRole(rawValue: try row.decode(String.self, "role")) else { return nil }
        return StaffMember(id: try row.decode(Int64.self, "id"), role: role, unitId: try row.decode(Int64.self, "unit_id"))
    }

    /// Names and NIPs of staff, for showing who did what.
    public func staffNames(ids: [StaffID]) async throws -> [StaffID: (nip: String, name: String)] {
        guard !ids.isEmpty else { return [:] }
        return try Self.staffNames(from: try await pool.query("SELECT id, nip, name FROM staff WHERE id = ANY($1)", ids))
    }

    /// Rows of `id, nip, name` from `staff`, by id.
    static func staffNames(from rows: PostgresRows) throws -> [StaffID: (nip: String, name: String)] {
        var names: [StaffID: (nip: String, name: String)] = [:]
        for row in rows {
            names[try row.decode(Int64.self, "id")] = (try row.decode(String.self, "nip"), try row.decode(String.self, "name"))
        }
        return names
    }
}

extension QueueItem {
    init(row: PostgresRow) throws {
        trackingCode = try row.decode(String.self, "tracking_code")
        serviceTypeID = try row.decode(Int64.self, "service_type_id")
        unitID = try row.decode(Int64.self, "unit_id")
        status = RequestStatus(rawValue: try row.decode(String.self, "status")) ?? .queued
        assigneeID = try row.decode(Int64?.self, "assignee_id")
        priority = try row.decode(Int.self, "priority")
        escalationLevel = try row.decode(Int.self, "escalation_level")
        responseDueAt = try row.decode(Date.self, "response_due_at")
        resolutionDueAt = try row.decode(Date.self, "resolution_due_at")
        leaseExpiresAt = try row.decode(Date?.self, "lease_expires_at")
        createdAt = try row.decode(Date.self, "created_at")
        firstClaimedAt = try row.decode(Date?.self, "first_claimed_at")
        pausedAt = try row.decode(Date?.self, "paused_at")
    }
}

extension CatalogSnapshot {
    /// A unit and every unit below it.
    public func subtree(of unit: UnitID) -> [UnitID] {
        var children: [UnitID: [UnitID]] = [:]
        for candidate in units.values {
            if let parent = candidate.parentID { children[parent, default: []].append(candidate.id) }
        }
        var result: [UnitID] = []
        var stack = [unit]
        while let next = stack.popLast() {
            guard !result.contains(next) else { continue }
            result.append(next)
            stack.append(contentsOf: children[next] ?? [])
        }
        return result
    }

    public func unit(code: String) -> Unit? {
        units.values.first { $0.code == code }
    }
}
