import Crypto
import Foundation
import LoketCore
import Postgres

/// A validated request as a citizen (or a partner app) files it.
public struct NewRequest: Sendable {
    public var service: ServiceType
    public var citizenName: String?
    public var nik: NIK?
    public var phone: PhoneNumber?
    public var email: EmailAddress?
    public var area: AreaCode?
    public var address: String?
    public var latitude: Double?
    public var longitude: Double?
    public var description: String?
    public var mediaURL: String?
    /// Answers to the service's attributes, as JSON text (an object).
    public var attributesJSON: String
    public var source: Source
    public var partnerID: PartnerID?

    public enum Source: String, Sendable {
        case web, open311, counter
    }

    public init(
        service: ServiceType, citizenName: String?, nik: NIK?, phone: PhoneNumber?, email: EmailAddress?, area: AreaCode?,
        address: String?, latitude: Double?, longitude: Double?, description: String?, mediaURL: String? = nil,
        attributesJSON: String = "{}", source: Source = .web, partnerID: PartnerID? = nil
    ) {
        self.service = service
        self.citizenName = citizenName
        self.nik = nik
        self.phone = phone
        self.email = email
        self.area = area
        self.address = address
        self.latitude = latitude
        self.longitude = longitude
        self.description = description
        self.mediaURL = mediaURL
        self.attributesJSON = attributesJSON
        self.source = source
        self.partnerID = partnerID
    }
}

/// What intake decided and stored.
public struct FiledRequest: Sendable {
    public var id: Int64
    public var trackingCode: TrackingCode
    /// The secret the citizen uses to read the full detail. Shown once; only its hash is stored.
    public var accessToken: String
    public var unit: Unit
    public var routing: RoutingDecision
    public var responseDueAt: Date
    public var resolutionDueAt: Date
    public var createdAt: Date
}

/// An Idempotency-Key with the hash of the body it came with.
public struct IdempotencyClaim: Sendable {
    public var scope: String
    public var key: String
    public var requestHash: Data

    public init(scope: String, key: String, body: some DataProtocol) {
        self.scope = scope
        self.key = key
        self.requestHash = Data(SHA256.hash(data: body))
    }
}

/// A stored response to replay.
public struct StoredResponse: Sendable {
    public var status: Int
    public var contentType: String
    public var body: Data

    public init(status: Int, contentType: String, body: Data) {
        self.status = status
        self.contentType = contentType
        self.body = body
    }
}

public enum IntakeOutcome: Sendable {
    case filed(FiledRequest, response: StoredResponse)
    /// The same Idempotency-Key and body were seen before: here is the answer given then.
    case replay(StoredResponse)
    /// The same Idempotency-Key came with a different body.
    case idempotencyKeyReused
    /// The NIK already has an open request of this service type, which allows one at a time.
    /// `trackingCode` names it only when this filing gives the open request's phone number or
    /// e-mail address: a NIK is no secret, so a stranger who types it learns only that a request
    /// is open, not the code that shows its progress.
    case duplicateOpen(trackingCode: String?)
}

/// Intake failures that are not the citizen's.
public enum IntakeError: Error, Sendable {
    /// Three tracking codes in a row were taken (a broken random source, not chance).
    case trackingCodesExhausted
}

/// Files requests: routing and SLA deadlines computed at intake, the request, its first audit event
/// and the citizen's "received" notification written in one transaction.
public struct IntakeStore: Sendable {
    public let pool: ConnectionPool
    public let jurisdictionPrefix: String
    /// How long a stored Idempotency-Key answer is kept.
    public let idempotencyRetention: TimeInterval

    /// Draws a new tracking code (random; tests pass one that collides on purpose).
    let newCode: @Sendable (String) throws -> TrackingCode

    public init(
        pool: ConnectionPool, jurisdictionPrefix: String, idempotencyRetention: TimeInterval = 24 * 3600,
        newCode: @escaping @Sendable (String) throws -> TrackingCode = { try TrackingCode.generate(prefix: $0) }
    ) {
        self.pool = pool
        self.jurisdictionPrefix = jurisdictionPrefix
        self.idempotencyRetention = idempotencyRetention
        self.newCode = newCode
    }

    /// The answer given before to this Idempotency-Key with the same body, while the key lives.
    /// Looked up before a retry is validated: a catalog changed since the lost answer (a service
    /// deactivated, an attribute now required) must not turn the retry into a refusal, which would
    /// lose the access token the answer carried (only its hash is kept with the request).
    public func replay(_ claim: IdempotencyClaim, now: Date = Date()) async throws -> StoredResponse? {
        guard let row = try await pool.query(
            """
            SELECT response_status, response_content_type, response_body FROM idempotency_keys
            WHERE scope = $1 AND key = $2 AND request_hash = $3 AND expires_at > $4 AND response_status IS NOT NULL
            """,
            claim.scope, claim.key, claim.requestHash, now
        ).first, let status = try row.decode(Int?.self, "response_status") else { return nil }
        return StoredResponse(
            status: status, contentType: try row.decode(String?.self, "response_content_type") ?? "application/json",
            body: try row.decode(Data?.self, "response_body") ?? Data())
    }

    /// Files `request`. `render` turns the stored request into the HTTP answer, which is kept with
    /// the Idempotency-Key in the same transaction so that a retry gets exactly the same answer.
    public func file(
        _ request: NewRequest, catalog: CatalogSnapshot, idempotency: IdempotencyClaim?, now: Date = Date(),
        render: @Sendable (FiledRequest) throws -> StoredResponse
    ) async throws -> IntakeOutcome {
        let service = request.service
        let calendar = catalog.calendar(for: service).calendar
        let routing = catalog.routing.route(
            serviceTypeId: service.id, area: request.area, defaultUnitId: service.defaultUnitID,
            triageUnitId: catalog.triageUnitID, takesWork: { catalog.units[$0]?.active ?? false })
        guard let unit = catalog.units[routing.unitId] else {
            throw CatalogError.invalidConfiguration("routing chose unknown unit \(routing.unitId)")
        }
        let clocks = try SLAClocks(
            filedAt: now, responseTargetMinutes: service.responseTargetMinutes,
            resolutionTargetMinutes: service.resolutionTargetMinutes)
        let snapshot = clocks.snapshot(policy: service.policy, calendar: calendar)
        guard let responseDue = snapshot.responseDue, let resolutionDue = snapshot.resolutionDue else {
            throw CatalogError.invalidConfiguration("service \(service.code) has no deadline on its calendar")
        }
        let accessToken = Self.newAccessToken()
        let tokenHash = Data(SHA256.hash(data: Data(accessToken.utf8)))

        // What this filing would answer, kept in case the connection is lost after COMMIT was
        // sent: the filing is then looked up, and answered if it was written.
        var attempted: IntakeOutcome?
        do {
            return try await fileInTransaction(
                request, catalog: catalog, idempotency: idempotency, now: now, unit: unit, routing: routing,
                responseDue: responseDue, resolutionDue: resolutionDue, snapshot: snapshot, accessToken: accessToken,
                tokenHash: tokenHash, attempted: &attempted, render: render)
        } catch let error as PostgresError where error.sqlState == .transactionResolutionUnknown {
            guard case .filed(let filed, _)? = attempted else { throw error }
            return try await resolve(attempted: attempted!, filed: filed, unknown: error)
        }
    }

    /// After a COMMIT whose outcome was lost with the connection: the filing's answer if the
    /// request was written; a plain connection failure (safe to retry: nothing was written) if it
    /// was not; the unknown outcome itself if even that cannot be read within `patience`, which
    /// the API answers as any lost connection (503 with Retry-After: a client that sent an
    /// Idempotency-Key is safe to retry; one without one is at the mercy of the database, as
    /// before). The lookup is tried again meanwhile: a connection is usually lost to a restart or a
    /// failover, and the database (the new primary, which decides: what the old one committed
    /// alone does not survive the switch) answers within seconds. Short enough for a client's
    /// timeout (8–10 s) to see the answer.
    func resolve(
        attempted: IntakeOutcome, filed: FiledRequest, unknown: PostgresError, patience: Duration = .seconds(3)
    ) async throws -> IntakeOutcome {
        let deadline = ContinuousClock.now + patience
        var found: Bool?
        while found == nil {
            do {
                found = try await !pool.query(
                    "SELECT 1 FROM service_requests WHERE id = $1 AND tracking_code = $2", filed.id, filed.trackingCode.description
                ).isEmpty
            } catch {
                guard ContinuousClock.now < deadline, !Task.isCancelled else { throw unknown }
                try? await Task.sleep(for: .milliseconds(250))
            }
        }
        guard let found else { throw unknown }
        guard found else {
            throw PostgresError(
                sqlState: .connectionFailure, severity: "FATAL",
                message: "the connection was lost during COMMIT and the request was not written: \(unknown.message)")
        }
        return attempted
    }

    private func fileInTransaction(
        _ request: NewRequest, catalog: CatalogSnapshot, idempotency: IdempotencyClaim?, now: Date, unit: Unit,
        routing: RoutingDecision, responseDue: Date, resolutionDue: Date, snapshot: SLASnapshot, accessToken: String,
        tokenHash: Data, attempted: inout IntakeOutcome?, render: @Sendable (FiledRequest) throws -> StoredResponse
    ) async throws -> IntakeOutcome {
        let service = request.service
        return try await pool.transaction { connection in
            if let idempotency {
                // The insert waits for a concurrent holder of the same key to finish, so exactly one
                // of two racing retries files the request. A key past its expiry is free again, as
                // if the worker had purged it already; a live one is locked (ON CONFLICT locks the
                // row even when it leaves it as it is), so the purge cannot take it before it is
                // read below.
                let claimed = try await connection.query(
                    """
                    INSERT INTO idempotency_keys (scope, key, request_hash, created_at, expires_at)
                    VALUES ($1, $2, $3, $4, $5)
                    ON CONFLICT (scope, key) DO UPDATE SET
                        request_hash = EXCLUDED.request_hash, created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at,
                        response_status = NULL, response_content_type = NULL, response_body = NULL, request_id = NULL
                    WHERE idempotency_keys.expires_at <= EXCLUDED.created_at
                    """,
                    idempotency.scope, idempotency.key, idempotency.requestHash, now,
                    now.addingTimeInterval(idempotencyRetention))
                if claimed.affectedRows == 0 {
                    let row = try await connection.query(
                        "SELECT request_hash, response_status, response_content_type, response_body FROM idempotency_keys WHERE scope = $1 AND key = $2",
                        idempotency.scope, idempotency.key
                    ).single()
                    guard try row.decode(Data.self, "request_hash") == idempotency.requestHash else {
                        return .idempotencyKeyReused
                    }
                    guard let status = try row.decode(Int?.self, "response_status") else { return .idempotencyKeyReused }
                    return .replay(StoredResponse(
                        status: status, contentType: try row.decode(String?.self, "response_content_type") ?? "application/json",
                        body: try row.decode(Data?.self, "response_body") ?? Data()))
                }
            }
            if let nik = request.nik, !service.allowMultipleOpen {
                // Serialise intake per (NIK, service) so two simultaneous filings cannot both pass.
                // Queued: it travels with the check below (and BEGIN) in one round trip, and runs
                // before it, as the pipeline keeps order.
                try await connection.queue(
                    "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", "intake:\(nik.digits):\(service.id)")
                // Usually none or one; several when the service allowed more than one open request
                // before. The code told is that of one whose contact this filing gives.
                let open = try await connection.query(
                    """
                    SELECT tracking_code, citizen_phone, citizen_email FROM service_requests
                    WHERE citizen_nik = $1 AND service_type_id = $2 AND status IN ('queued', 'in_progress', 'waiting_citizen')
                    ORDER BY id
                    """, nik.digits, service.id)
                if !open.isEmpty {
                    var known: String?
                    for existing in open where known == nil {
                        let phone = try existing.decode(String?.self, "citizen_phone")
                        let email = try existing.decode(String?.self, "citizen_email")
                        if (phone != nil && phone == request.phone?.e164)
                            || (email != nil && email?.lowercased() == request.email?.description.lowercased()) {
                            known = try existing.decode(String.self, "tracking_code")
                        }
                    }
                    if let idempotency {
                        try await connection.query("DELETE FROM idempotency_keys WHERE scope = $1 AND key = $2", idempotency.scope, idempotency.key)
                    }
                    return .duplicateOpen(trackingCode: known)
                }
            }
            let (id, code) = try await insert(
                request, connection: connection, unit: unit, routing: routing,
                reason: catalog.explain(routing, service: service, language: .indonesian), responseDue: responseDue,
                resolutionDue: resolutionDue, nextStage: snapshot.nextStage, tokenHash: tokenHash, now: now)
            let filed = FiledRequest(
                id: id, trackingCode: code, accessToken: accessToken, unit: unit, routing: routing,
                responseDueAt: responseDue, resolutionDueAt: resolutionDue, createdAt: now)
            let response = try render(filed)
            if let idempotency {
                try await connection.query(
                    """
                    UPDATE idempotency_keys SET response_status = $3, response_content_type = $4, response_body = $5, request_id = $6
                    WHERE scope = $1 AND key = $2
                    """,
                    idempotency.scope, idempotency.key, response.status, response.contentType, response.body, id)
            }
            attempted = .filed(filed, response: response)
            return .filed(filed, response: response)
        }
    }

    /// Inserts the request, its `created` event and the citizen's notification in one statement.
    /// A tracking code collision (one in 2^40 per pair) inserts nothing (ON CONFLICT DO NOTHING,
    /// so the transaction stays usable) and is retried with a fresh code.
    private func insert(
        _ request: NewRequest, connection: PostgresConnection, unit: Unit, routing: RoutingDecision, reason: String,
        responseDue: Date,
        resolutionDue: Date, nextStage: ScheduledStage?, tokenHash: Data, now: Date
    ) async throws -> (Int64, TrackingCode) {
        let routingJSON = PostgresJSONText(RoutingEventData(routing).jsonBytes)
        for _ in 1...3 {
            let code = try newCode(jurisdictionPrefix)
            let inserted = try await connection.query(
                    """
                    WITH r AS (
                        INSERT INTO service_requests (
                            tracking_code, service_type_id, unit_id, status, citizen_name, citizen_nik, citizen_phone,
                            citizen_email, area_code, address, latitude, longitude, description, media_url, attributes,
                            access_token_hash, source, partner_key_id, routing_rule_id, routing_reason,
                            response_due_at, resolution_due_at, next_sla_at, next_sla_clock, next_sla_stage,
                            created_at, updated_at)
                        VALUES ($1, $2, $3, 'queued', $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14::jsonb, $15, $16, $17,
                                $18, $19, $20, $21, $22, $23, $24, $25, $25)
                        ON CONFLICT (tracking_code) DO NOTHING
                        RETURNING id),
                    e AS (
                        INSERT INTO request_events (request_id, at, actor_kind, kind, to_status, to_unit_id, is_public, message, data)
                        SELECT r.id, $25, $26, 'created', 'queued', $3, true, $19, $27 FROM r),
                    o AS (
                        INSERT INTO notification_outbox (request_id, recipient_kind, channel, topic, payload, created_at, available_at)
                        SELECT r.id, 'citizen', 'webhook', 'request.received',
                               jsonb_build_object('tracking_code', $1::text, 'unit', $28::text, 'resolution_due_at', $21::timestamptz),
                               $25, $25
                        FROM r)
                    SELECT id FROM r
                    """,
                    code.description, request.service.id, unit.id, request.citizenName, request.nik?.digits,
                    request.phone?.e164, request.email?.description, request.area?.description, request.address,
                    request.latitude, request.longitude, request.description, request.mediaURL, request.attributesJSON,
                    tokenHash, request.source.rawValue, request.partnerID, routing.rule?.id,
                    reason, responseDue, resolutionDue, nextStage?.dueAt,
                    nextStage?.clock.rawValue, nextStage.map { Int16($0.stage.number) }, now,
                    request.source == .open311 ? "partner" : "citizen", routingJSON, unit.name
                )
            if let row = inserted.first { return (try row.decode(Int64.self, "id"), code) }
        }
        throw IntakeError.trackingCodesExhausted
    }

    /// 256 random bits, base64url without padding (43 characters).
    static func newAccessToken() -> String {
        Base64URL.encode(Base64URL.randomBytes(32))
    }
}

/// The routing decision as kept in the `created` event's data, for later explanation. Written by
/// JSONWriter on every filing (keys sorted, as JSONEncoder's `.sortedKeys` would write them).
struct RoutingEventData: Codable, Sendable, JSONWritable {
    var basis: String
    var ruleID: Int64?
    var unitID: Int64
    var explanationID: String
    var explanationEN: String

    enum CodingKeys: String, CodingKey {
        case basis
        case ruleID = "rule_id"
        case unitID = "unit_id"
        case explanationID = "explanation_id"
        case explanationEN = "explanation_en"
    }

    func write(to writer: inout JSONWriter) {
        writer.object { json in
            json.field("basis", basis)
            json.field("explanation_en", explanationEN)
            json.field("explanation_id", explanationID)
            json.field("rule_id", ruleID)
            json.field("unit_id", unitID)
        }
    }

    init(_ decision: RoutingDecision) {
        basis = decision.basis.rawValue
        ruleID = decision.rule?.id
        unitID = decision.unitId
        explanationID = decision.explanation(.indonesian)
        explanationEN = decision.explanation(.english)
    }
}
