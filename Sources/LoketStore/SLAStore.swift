import Foundation
import LoketCore
import Postgres

/// What one scan batch did, for metrics and tests.
public struct SLABatchResult: Sendable, Equatable {
    /// Requests locked and examined.
    public var requests = 0
    /// Stages applied, by kind: "warning" (before 100 %), "breach" (100 %), "escalation" (after).
    public var stages: [String: Int] = [:]
    /// Requests moved to another unit by a stage.
    public var moved = 0

    public init() {}

    public var stagesApplied: Int { stages.values.reduce(0, +) }
}

/// Applies due SLA stages. The scan is an indexed range on `next_sla_at` in batches with
/// FOR UPDATE SKIP LOCKED, so any number of workers share the work; the key of `sla_stage_log`
/// (request, clock, stage) is the exactly-once gate; each request's stages, state change, audit
/// events and notifications commit together.
public struct SLAStore: Sendable {
    public let pool: ConnectionPool
    let requests: RequestStore

    public init(pool: ConnectionPool) {
        self.pool = pool
        self.requests = RequestStore(pool: pool)
    }

    /// The scan's batch: an ordered range read of `service_requests_next_sla_idx`, so its cost
    /// follows what is due, not the open backlog (a test checks the plan).
    public static let dueBatch = """
        SELECT \(RequestRecord.columns) FROM service_requests
        WHERE next_sla_at <= $1 ORDER BY next_sla_at LIMIT $2 FOR UPDATE SKIP LOCKED
        """

    /// Applies every stage due by `now` to at most `limit` requests, in one transaction.
    public func applyDueStages(now: Date, limit: Int, catalog: CatalogSnapshot) async throws -> SLABatchResult {
        try await pool.transaction { connection in
            let rows = try await connection.query(Self.dueBatch, now, limit)
            var result = SLABatchResult()
            for row in rows {
                result.requests += 1
                try await apply(to: try RequestRecord(row: row), now: now, catalog: catalog, on: connection, result: &result)
            }
            return result
        }
    }

    /// Applies every stage due by `now` to at most `limit` requests, each in a transaction of its
    /// own; a request whose stages fail for a reason of its own (`isRequestFault`: its data, not
    /// the database's state) is held back: its next SLA instant moves `holdFor` later, so that the
    /// rest go on and it is tried again then. For the scan to fall back on when a whole batch
    /// fails: one request that always fails must not stop every stage in the city.
    public func applyDueStagesOneByOne(
        now: Date, limit: Int, catalog: CatalogSnapshot, holdFor: TimeInterval = 300
    ) async throws -> (result: SLABatchResult, held: [(trackingCode: String, error: any Error)]) {
        var result = SLABatchResult()
        var held: [(trackingCode: String, error: any Error)] = []
        for _ in 0..<limit {
            // The request being worked on: a write queued for COMMIT fails there, after the body.
            var current: (id: Int64, trackingCode: String)?
            do {
                let one = try await pool.transaction { connection -> SLABatchResult? in
                    guard let row = try await connection.query(Self.dueBatch, now, 1).first else { return nil }
                    current = (try row.decode(Int64.self, "id"), try row.decode(String.self, "tracking_code"))
                    var one = SLABatchResult()
                    one.requests = 1
                    try await apply(to: try RequestRecord(row: row), now: now, catalog: catalog, on: connection, result: &one)
                    return one
                }
                guard let one else { break }
                result.requests += one.requests
                result.moved += one.moved
                result.stages.merge(one.stages, uniquingKeysWith: +)
            } catch where Self.isRequestFault(error) {
                guard let failed = current else { throw error }
                // Its transaction rolled back; only the instant moves, and only if nothing else
                // changed it meanwhile.
                try await pool.query(
                    "UPDATE service_requests SET next_sla_at = $1 WHERE id = $2 AND next_sla_at <= $3",
                    now.addingTimeInterval(holdFor), failed.id, now)
                held.append((failed.trackingCode, error))
                result.requests += 1  // examined: a full batch still means more may be due
            }
        }
        return (result, held)
    }

    /// Whether `error` comes from a request's own data: a value the code cannot handle (an error of
    /// Loket's own), or from the database a data exception (class 22), a constraint it breaks (23)
    /// or an exception raised for it (P0). Not the database being away, busy, slow, full or broken
    /// (classes 08, 40, 53, 57, 58, XX, …), which would fail any other request as well: holding
    /// every request back for that would only hide the cause.
    public static func isRequestFault(_ error: any Error) -> Bool {
        switch error {
        case is CancellationError, is ConnectionPoolError, is PostgresConnectionError: false
        case let error as PostgresError:
            error.sqlState.errorClass == "22" || error.sqlState.errorClass == "23" || error.sqlState.errorClass == "P0"
        default: true
        }
    }

    /// How many requests have a stage due by `now` (the backlog metric).
    public func dueCount(now: Date) async throws -> Int {
        try await pool.query("SELECT count(*) AS n FROM service_requests WHERE next_sla_at <= $1", now).single().decode(Int.self, "n")
    }

    /// How long a request of a service type the catalog copy does not know yet waits before it is
    /// scanned again: longer than a copy lives (`CatalogCache.maxAge`, 30 s).
    static let unknownServiceRetry: TimeInterval = 60

    /// Applies the stages of `record`, which the caller has locked, that fell due by `now` and
    /// that no worker has applied yet; returns the record as they left it. A change that stops or
    /// pauses a clock calls this first: the worker applies only a running clock's stages, so a
    /// breach that fell due seconds before a claim (or while the worker was down) was otherwise
    /// never recorded, escalated or told, and a warning due before a question waited for the reply.
    func applyDueStages(
        to record: RequestRecord, now: Date, catalog: CatalogSnapshot, on connection: PostgresConnection
    ) async throws -> RequestRecord {
        guard let due = record.nextSLAAt, due <= now, catalog.servicesByID[record.serviceTypeID] != nil else { return record }
        var ignored = SLABatchResult()
        return try await apply(to: record, now: now, catalog: catalog, on: connection, result: &ignored)
    }

    @discardableResult
    private func apply(
        to initial: RequestRecord, now: Date, catalog: CatalogSnapshot, on connection: PostgresConnection,
        result: inout SLABatchResult
    ) async throws -> RequestRecord {
        guard let service = catalog.servicesByID[initial.serviceTypeID] else {
            // Service types are never deleted (inactive ones stay in the catalog): one the copy
            // does not know was imported after the copy was loaded. Looked at again once every
            // process has reloaded (`CatalogCache`), not dropped from the schedule for good.
            try await connection.query(
                "UPDATE service_requests SET next_sla_at = $2 WHERE id = $1", initial.id, now.addingTimeInterval(Self.unknownServiceRetry))
            return initial
        }
        let calendar = catalog.calendar(for: service).calendar
        // Worker clocks too: a stage dated before the last change would move `updated_at` back.
        let now = initial.changeInstant(now)
        var record = initial
        let clocks = try await requests.clocks(of: record, service: service, on: connection)
        let due = clocks.dueStages(at: now, policy: service.policy, calendar: calendar)
        var appliedAny = false
        for stage in due {
            // Up to the nearest active unit above (an inactive unit's queue is not worked), and no
            // higher than the agency: escalation climbs "up the unit tree to the agency head"
            // (DESIGN.md). It went on into the secretariat above every agency, out of the sight of
            // the agency's own managers.
            var parent: UnitID?
            if let unit = catalog.units[record.unitID], unit.kind != "agency" {
                parent = unit.parentID
                while let id = parent, let above = catalog.units[id], !above.active { parent = above.parentID }
            }
            let escalation = stage.stage.escalation(clock: stage.clock, parentUnit: parent, maxLevel: service.policy.maxEscalationLevel)
            let context = TransitionContext(now: now, unitAncestors: [record.unitID] + catalog.ancestors(of: record.unitID))
            guard case .success(let transition) = Lifecycle.transition(record.state, .escalate(escalation), by: .system, context: context) else {
                break
            }
            let logged = try await connection.query(
                """
                INSERT INTO sla_stage_log (request_id, clock, stage, percent, due_at, applied_at, breach, escalation_level_after)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING
                """,
                record.id, stage.clock.rawValue, Int16(stage.stage.number), stage.stage.percent, stage.dueAt, now,
                stage.stage.isBreach, Int16(transition.state.escalationLevel))
            guard logged.affectedRows == 1 else { continue }
            appliedAny = true
            let before = record
            record = try await requests.persist(transition, of: record, catalog: catalog, now: now, on: connection)
            let kind = stage.stage.isBreach ? "breach" : stage.stage.percent < 100 ? "warning" : "escalation"
            result.stages[kind, default: 0] += 1
            if record.unitID != before.unitID { result.moved += 1 }
            try await notify(
                stage: stage, kind: kind, targets: escalation.notify, record: record, holder: before.assigneeID,
                catalog: catalog, now: now, on: connection)
        }
        if !appliedAny {
            // Nothing was due after all (a pause or recompute moved it), or the lifecycle refused:
            // store the true next stage so the row leaves the due range.
            let snapshot = clocks.snapshot(policy: service.policy, calendar: calendar)
            let next = record.status.isFinal || record.status == .waitingCitizen ? nil : snapshot.nextStage
            try await connection.query(
                "UPDATE service_requests SET next_sla_at = $2, next_sla_clock = $3, next_sla_stage = $4 WHERE id = $1",
                record.id, next?.dueAt, next?.clock.rawValue, next.map { Int16($0.stage.number) })
            record.nextSLAAt = next?.dueAt.postgresStored
        }
        return record
    }

    /// One outbox row per person told: the holder, the supervisors of the request's unit (or of the
    /// nearest unit above that has any), and the managers of every unit up the tree as far as the
    /// agency, as escalation goes "up the unit tree to the agency head" (DESIGN.md). Above it (the
    /// secretariat over every agency) managers were told of every stage of every agency, which
    /// buries the ones that matter; they watch the dashboard and the breach list instead. `holder` is
    /// who held the request when the stage fell due: a stage that moves the request up the tree
    /// clears the holder, who is told all the same (and told of the move even when the stage does
    /// not name the assignee).
    private func notify(
        stage: ScheduledStage, kind: String, targets: [NotifyTarget], record: RequestRecord, holder: StaffID?,
        catalog: CatalogSnapshot, now: Date, on connection: PostgresConnection
    ) async throws {
        let told = holder.flatMap { targets.contains(.assignee) || record.assigneeID != $0 ? $0 : nil }
        let recipients = try await Self.recipients(
            targets: targets, unit: record.unitID, holder: told, catalog: catalog, on: connection)
        let topic = "sla.\(kind)"
        for recipient in recipients {
            try await connection.query(
                """
                INSERT INTO notification_outbox (request_id, recipient_kind, recipient_staff_id, channel, topic, payload, created_at, available_at)
                VALUES ($1, $2, $3, 'webhook', $4, jsonb_build_object(
                    'tracking_code', $5::text, 'clock', $6::text, 'stage', $7::int, 'percent', $8::int, 'due_at', $9::timestamptz,
                    'escalation_level', $10::int, 'unit_id', $11::bigint), $12, $12)
                """,
                record.id, recipient.kind, recipient.staff, topic, record.trackingCode, stage.clock.rawValue, stage.stage.number,
                stage.stage.percent, stage.dueAt, record.escalationLevel, record.unitID, now)
        }
    }
}

extension SLAStore {
    /// Who is told of something about a request in `unit`: `holder` (when given), the supervisors
    /// of the unit (or of the nearest unit above that has any) for `.supervisors`, and the
    /// managers of every unit up the tree as far as the agency for `.managers`. In that order, each
    /// person once; managers are of kind `manager`, everyone else `staff`.
    static func recipients(
        targets: [NotifyTarget], unit: UnitID, holder: StaffID?, catalog: CatalogSnapshot, on connection: PostgresConnection
    ) async throws -> [(kind: String, staff: StaffID)] {
        var chain: [UnitID] = []
        for unit in [unit] + catalog.ancestors(of: unit) {
            chain.append(unit)
            if catalog.units[unit]?.kind == "agency" { break }
        }
        var recipients: [(kind: String, staff: StaffID)] = []
        if let holder { recipients.append(("staff", holder)) }
        if targets.contains(.supervisors) || targets.contains(.managers) {
            var supervisors: [UnitID: [StaffID]] = [:]
            var managers: [StaffID] = []
            for row in try await connection.query(
                "SELECT id, role, unit_id FROM staff WHERE active AND unit_id = ANY($1) AND role IN ('supervisor', 'manager') ORDER BY id",
                chain)
            {
                let id = try row.decode(Int64.self, "id")
                if try row.decode(String.self, "role") == "manager" {
                    managers.append(id)
                } else {
                    supervisors[try row.decode(Int64.self, "unit_id"), default: []].append(id)
                }
            }
            if targets.contains(.supervisors), let nearest = chain.first(where: { supervisors[$0] != nil }) {
                recipients += supervisors[nearest]!.map { ("staff", $0) }
            }
            if targets.contains(.managers) { recipients += managers.map { ("manager", $0) } }
        }
        var seen: Set<StaffID> = []
        return recipients.filter { seen.insert($0.staff).inserted }
    }

    /// What a recompute pass changed.
    public struct RecomputeResult: Sendable, Equatable {
        public var examined = 0
        public var changed = 0

        public init(examined: Int = 0, changed: Int = 0) {
            self.examined = examined
            self.changed = changed
        }
    }

    /// Recomputes deadlines and next stages of open requests after a calendar, holiday or target
    /// change, in batches by id (each batch one transaction); every change is audited with the old
    /// and new instants. Deterministic: the same catalog and `now` give the same result, and a second
    /// pass changes nothing.
    public func recompute(catalog: CatalogSnapshot, now: Date, batchSize: Int = 200) async throws -> RecomputeResult {
        var total = RecomputeResult()
        var afterID: Int64 = 0
        while true {
            let (batch, lastID) = try await pool.transaction { connection -> (RecomputeResult, Int64?) in
                let rows = try await connection.query(
                    """
                    SELECT \(RequestRecord.columns) FROM service_requests
                    WHERE id > $1 AND status IN ('queued', 'in_progress', 'waiting_citizen') ORDER BY id LIMIT $2 FOR UPDATE
                    """, afterID, batchSize)
                var result = RecomputeResult()
                var last: Int64?
                for row in rows {
                    let record = try RequestRecord(row: row)
                    last = record.id
                    result.examined += 1
                    if try await recompute(record, catalog: catalog, now: now, on: connection) { result.changed += 1 }
                }
                return (result, last)
            }
            total.examined += batch.examined
            total.changed += batch.changed
            guard let lastID else { break }
            afterID = lastID
        }
        if total.changed > 0 {
            // One notification for the whole pass wakes the scanners to the new schedule.
            try await pool.query("SELECT pg_notify($1, $2)", "loket_sla", "recomputed")
        }
        return total
    }

    /// How long a recompute should wait before it starts, by the database's clock: until every
    /// server's and worker's copy of the catalog (kept up to `maxAge`) was read after the last
    /// change of a calendar or a service type (`updated_at`, which the stores set), plus `margin`
    /// for the change's transaction to have committed. Started earlier, the recompute would give
    /// open requests the new deadlines while processes with the old copy still wrote the old
    /// ones: every change of a request writes its deadlines, and the scanners the recompute wakes
    /// would apply the old stages.
    public func catalogSettleDelay(maxAge: Duration = CatalogCache.defaultMaxAge, margin: Duration = .seconds(10)) async throws -> Duration {
        let seconds = try await pool.query(
            """
            SELECT extract(epoch FROM greatest((SELECT max(updated_at) FROM calendars), (SELECT max(updated_at) FROM service_types))
                   + make_interval(secs => $1) - now())::float8 AS seconds
            """, Double((maxAge + margin).components.seconds)
        ).single().decode(Double?.self, "seconds") ?? 0
        return seconds > 0 ? .milliseconds(Int64((seconds * 1000).rounded(.up))) : .zero
    }

    private func recompute(_ record: RequestRecord, catalog: CatalogSnapshot, now: Date, on connection: PostgresConnection) async throws -> Bool {
        guard let service = catalog.servicesByID[record.serviceTypeID] else { return false }
        let calendar = catalog.calendar(for: service).calendar
        let now = record.changeInstant(now)
        let clocks = try await requests.clocks(of: record, service: service, on: connection)
        let snapshot = clocks.snapshot(policy: service.policy, calendar: calendar)
        // A response clock stopped by the first claim keeps its deadline (see `RequestStore.persist`).
        let responseDue = record.firstClaimedAt == nil ? snapshot.responseDue ?? record.responseDueAt : record.responseDueAt
        let resolutionDue = snapshot.resolutionDue ?? record.resolutionDueAt
        let next = record.status == .waitingCitizen ? nil : snapshot.nextStage
        var changes: [DueChange] = []
        if responseDue != record.responseDueAt { changes.append(DueChange(clock: .response, from: record.responseDueAt, to: responseDue)) }
        if resolutionDue != record.resolutionDueAt {
            changes.append(DueChange(clock: .resolution, from: record.resolutionDueAt, to: resolutionDue))
        }
        let nextChanged = next?.dueAt != record.nextSLAAt
        guard !changes.isEmpty || nextChanged else { return false }
        try await connection.query(
            """
            UPDATE service_requests SET response_due_at = $2, resolution_due_at = $3, next_sla_at = $4, next_sla_clock = $5,
                   next_sla_stage = $6, updated_at = $7, version = version + 1
            WHERE id = $1
            """,
            record.id, responseDue, resolutionDue, next?.dueAt, next?.clock.rawValue, next.map { Int16($0.stage.number) }, now)
        if !changes.isEmpty {
            try await RequestStore.insertEvent(
                .deadlineRecomputed(status: record.status, at: now, changes: changes), requestID: record.id,
                fromUnit: record.unitID, toUnit: record.unitID, on: connection)
        }
        return !changes.isEmpty
    }
}
