import Foundation
import LoketCore
import Postgres

/// How a report groups its rows.
public enum ReportGrouping: String, Sendable, CaseIterable {
    case unit, service, officer
}

/// IKM over a group's feedback.
public struct IKMSummary: Sendable, Equatable {
    public var respondents: Int
    /// 25–100, rounded to two decimals as published.
    public var value: Double
    public var grade: IKMGrade
}

/// One line of a report.
public struct ReportRow: Sendable, Equatable {
    public var key: String
    public var name: String
    public var closed = 0
    public var completed = 0
    public var rejected = 0
    public var cancelled = 0
    public var responseMeasured = 0
    public var responseMet = 0
    public var resolutionMeasured = 0
    public var resolutionMet = 0
    public var breaches = 0
    public var escalations = 0
    public var transfers = 0
    public var pausedMinutes = 0
    public var histogram: [Int] = []
    public var feedback = IKMTally()
    /// Open now (unit and service reports): how many, and the average age in days.
    public var backlog = 0
    public var backlogAverageAgeDays: Double?

    public var responseOnTimePercent: Double? { Self.percent(responseMet, of: responseMeasured) }
    public var resolutionOnTimePercent: Double? { Self.percent(resolutionMet, of: resolutionMeasured) }
    /// Working hours to resolve (nearest rank), rounded up to the quarter hour of the summaries' buckets.
    public var medianResolutionHours: Double? { quantileHours(0.5) }
    public var p90ResolutionHours: Double? { quantileHours(0.9) }
    public var waitingForCitizenHours: Double { (Double(pausedMinutes) / 60 * 100).rounded() / 100 }

    public var ikm: IKMSummary? {
        guard let result = feedback.result() else { return nil }
        return IKMSummary(respondents: result.respondents, value: result.publishedValue, grade: result.grade)
    }

    /// One decimal, rounded half up, except that a share short of all is never shown as 100 %
    /// (3,999 of 4,000 on time is 99.9, not a claim of a perfect record), and a share above none
    /// never as 0.
    static func percent(_ part: Int, of whole: Int) -> Double? {
        guard whole > 0 else { return nil }
        var tenths = (Double(part) / Double(whole) * 1000).rounded()
        if part < whole { tenths = min(tenths, 999) }
        if part > 0 { tenths = max(tenths, 1) }
        return tenths / 10
    }

    /// The upper edge of the bucket holding the q-th value (nearest-rank), in hours.
    func quantileHours(_ q: Double) -> Double? {
        let total = histogram.reduce(0, +)
        guard total > 0 else { return nil }
        let rank = max(1, Int((q * Double(total)).rounded(.up)))
        var seen = 0
        for (index, count) in histogram.enumerated() {
            seen += count
            if seen >= rank { return Double((index + 1) * ReportStore.bucketMinutes) / 60 }
        }
        return nil
    }

    /// Adds another line's counts (decoded once, added to its group and to the total).
    mutating func merge(_ other: ReportRow) {
        closed += other.closed
        completed += other.completed
        rejected += other.rejected
        cancelled += other.cancelled
        responseMeasured += other.responseMeasured
        responseMet += other.responseMet
        resolutionMeasured += other.resolutionMeasured
        resolutionMet += other.resolutionMet
        breaches += other.breaches
        escalations += other.escalations
        transfers += other.transfers
        pausedMinutes += other.pausedMinutes
        if histogram.count < other.histogram.count {
            histogram += Array(repeating: 0, count: other.histogram.count - histogram.count)
        }
        for (index, count) in other.histogram.enumerated() where count != 0 { histogram[index] += count }
        feedback = feedback.merging(other.feedback)
    }

    mutating func add(_ row: PostgresRow) throws {
        closed += try row.decode(Int.self, "closed")
        completed += try row.decode(Int.self, "completed")
        rejected += try row.decode(Int.self, "rejected")
        cancelled += try row.decode(Int.self, "cancelled")
        responseMeasured += try row.decode(Int.self, "response_measured")
        responseMet += try row.decode(Int.self, "response_met")
        resolutionMeasured += try row.decode(Int.self, "resolution_measured")
        resolutionMet += try row.decode(Int.self, "resolution_met")
        breaches += try row.decode(Int.self, "breaches")
        escalations += try row.decode(Int.self, "escalations")
        transfers += try row.decode(Int.self, "transfers")
        pausedMinutes += try row.decode(Int.self, "paused_minutes")
        let buckets = try row.decode([Int].self, "resolve_histogram")
        if histogram.count < buckets.count { histogram += Array(repeating: 0, count: buckets.count - histogram.count) }
        for (index, count) in buckets.enumerated() { histogram[index] += count }
        feedback = feedback.merging(try IKMTally(
            respondents: try row.decode(Int.self, "feedback_count"), sums: try row.decode([Int].self, "feedback_sums")))
    }
}

/// A report over [from, to) (closing days in the jurisdiction's zone).
public struct Report: Sendable {
    public var grouping: ReportGrouping
    public var from: LocalDate
    public var to: LocalDate
    public var rows: [ReportRow]
    public var total: ReportRow
}

/// An open request past (or near) a deadline.
public struct OverdueItem: Sendable {
    public var trackingCode: String
    public var serviceTypeID: ServiceTypeID
    public var unitID: UnitID
    public var status: RequestStatus
    public var assigneeID: StaffID?
    public var clock: SLAClockKind
    public var dueAt: Date
    /// Working minutes past the deadline (negative: still before it).
    public var overdueWorkingMinutes: Int
    public var escalationLevel: Int
    public var priority: Int
    /// The deadline has passed (while the clock ran): a breach, even before a working minute of
    /// it has gone by (a deadline at closing time is a breach all night and weekend).
    public var isBreached: Bool
}

/// Open work of one unit now.
public struct WorkloadRow: Sendable {
    public var unitID: UnitID
    public var queued: Int
    public var inProgress: Int
    public var waitingCitizen: Int
    public var oldestCreatedAt: Date?
}

/// A month of one unit (or all units) for trend charts.
public struct TrendPoint: Sendable, Equatable {
    public var month: LocalDate
    public var unitID: UnitID?
    public var closed: Int
    public var resolutionOnTimePercent: Double?
}

/// Reports for managers and the public, from the summaries that closing a request maintains.
public struct ReportStore: Sendable {
    public let pool: ConnectionPool
    /// Resolution times are counted in buckets of this many working minutes.
    public static let bucketMinutes = 15
    /// Longer resolutions share the last bucket (1,000 working hours).
    static let maxBuckets = 4000

    public init(pool: ConnectionPool) {
        self.pool = pool
    }

    // MARK: Maintenance (called inside the transaction that closes a request)

    /// The SET list that adds one closing to a summary row of `table`. Built once: the statements
    /// run on every closing, and building them per call (Foundation's string replacing) cost more
    /// CPU than anything else in a resolve. The histograms are added element by element inline:
    /// loket_add_counts, an SQL function, is parsed and planned again on every call.
    private static func sums(_ table: String) -> String {
        """
        closed = \(table).closed + EXCLUDED.closed, completed = \(table).completed + EXCLUDED.completed, rejected = \(table).rejected + EXCLUDED.rejected,
        cancelled = \(table).cancelled + EXCLUDED.cancelled, response_measured = \(table).response_measured + EXCLUDED.response_measured,
        response_met = \(table).response_met + EXCLUDED.response_met, resolution_measured = \(table).resolution_measured + EXCLUDED.resolution_measured,
        resolution_met = \(table).resolution_met + EXCLUDED.resolution_met, breaches = \(table).breaches + EXCLUDED.breaches,
        escalations = \(table).escalations + EXCLUDED.escalations, transfers = \(table).transfers + EXCLUDED.transfers,
        paused_minutes = \(table).paused_minutes + EXCLUDED.paused_minutes,
        resolve_histogram = ARRAY(
            SELECT coalesce(\(table).resolve_histogram[i], 0) + coalesce(EXCLUDED.resolve_histogram[i], 0)
            FROM generate_series(1, greatest(cardinality(\(table).resolve_histogram), cardinality(EXCLUDED.resolve_histogram))) AS i
            ORDER BY i)
        """
    }

    /// One statement records a closing: it counts the request's breaches per clock (a clock whose
    /// breach the worker recorded, or that stopped past its deadline before the worker got to it: a
    /// closing seconds after the deadline, or while the worker was down) and its transfers, inserts
    /// its outcome, adds it to the daily summary and, once its month is rolled up (a closing dated
    /// into a finished month), to the monthly one; otherwise every officer's closing would meet on
    /// that one row (see rollUpMonth).
    ///
    /// The response clock's result (measured, met, and its breach) is the first claimer's: when
    /// they or their unit are not the closing's ($25 for the daily row's key, $26 for the monthly
    /// row's unit) it goes to a row of its own, which counts no closing. The two rows of one
    /// statement never share a key, as ON CONFLICT requires, and are written in key order (unit,
    /// then officer): two closings that each touch the other's officer's row (Budi closing what
    /// his supervisor assigned, she closing what he claimed first) then lock them in the same
    /// order and never deadlock. Fixed table names only: no value reaches this SQL text.
    private static let recordClosing = """
        WITH l AS (
            SELECT coalesce(bool_or(clock = 'response'), false) AS response, coalesce(bool_or(clock = 'resolution'), false) AS resolution
            FROM sla_stage_log WHERE request_id = $1 AND breach),
        c AS (
            SELECT (l.response OR $9 IS FALSE)::int AS response_breach, (l.resolution OR $10 IS FALSE)::int AS resolution_breach,
                   (SELECT count(*) FROM request_events WHERE request_id = $1 AND kind = 'transferred') AS transfers
            FROM l),
        o AS (
            INSERT INTO request_outcomes (request_id, service_type_id, unit_id, officer_id, status, created_at, closed_at, closed_day,
                response_met, resolution_met, resolution_working_minutes, paused_minutes, escalation_level, breaches, transfers,
                response_unit_id, response_officer_id)
            SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, c.response_breach + c.resolution_breach, c.transfers, $23, $24
            FROM c
            ON CONFLICT (request_id) DO NOTHING),
        d AS (
            INSERT INTO report_daily (day, officer_id, unit_id, service_type_id, closed, completed, rejected, cancelled, response_measured,
                response_met, resolution_measured, resolution_met, breaches, escalations, transfers, paused_minutes, resolve_histogram)
            SELECT * FROM (
                SELECT $8, coalesce($4, 0), $3, $2, 1, $14, $15, $16, CASE WHEN $25 THEN 0 ELSE $17 END, CASE WHEN $25 THEN 0 ELSE $18 END,
                       $19, $20, c.resolution_breach + CASE WHEN $25 THEN 0 ELSE c.response_breach END, $13, c.transfers, $12, $21 FROM c
                UNION ALL
                SELECT $8, coalesce($24, 0), $23, $2, 0, 0, 0, 0, $17, $18, 0, 0, c.response_breach, 0, 0, 0, '{}' FROM c WHERE $25) r
            ORDER BY 3, 2
            ON CONFLICT (day, unit_id, service_type_id, officer_id) DO UPDATE SET \(sums("report_daily")))
        INSERT INTO report_monthly (month, unit_id, service_type_id, closed, completed, rejected, cancelled, response_measured,
            response_met, resolution_measured, resolution_met, breaches, escalations, transfers, paused_minutes, resolve_histogram)
        SELECT * FROM (
            SELECT $22, $3, $2, 1, $14, $15, $16, CASE WHEN $26 THEN 0 ELSE $17 END, CASE WHEN $26 THEN 0 ELSE $18 END, $19, $20,
                   c.resolution_breach + CASE WHEN $26 THEN 0 ELSE c.response_breach END, $13, c.transfers, $12, $21 FROM c
            UNION ALL
            SELECT $22, $23, $2, 0, 0, 0, 0, $17, $18, 0, 0, c.response_breach, 0, 0, 0, '{}' FROM c WHERE $26) m
        WHERE EXISTS (SELECT 1 FROM report_monthly_rollups WHERE month = $22)
        ORDER BY 2
        ON CONFLICT (month, unit_id, service_type_id) DO UPDATE SET \(sums("report_monthly"))
        """

    /// Records the facts of a request that just reached a final state and adds them to the daily
    /// summary (and to the monthly one when its month is already rolled up). The statement is
    /// queued: it goes out with the transaction's next statement or its COMMIT (its answer is not
    /// read), so a closing costs no round trip of its own.
    static func recordOutcome(
        of record: RequestRecord, previous: RequestRecord, service: ServiceType, calendar: BusinessCalendar,
        closedBy actor: Principal, on connection: PostgresConnection
    ) async throws {
        guard let closedAt = record.closedAt else { return }
        var paused = record.pausedMinutes
        if let pausedAt = previous.pausedAt { paused += calendar.workingMinutes(from: pausedAt, to: closedAt) }
        let minutes = max(0, calendar.workingMinutes(from: record.createdAt, to: closedAt) - paused)
        let day = calendar.localDate(of: closedAt)
        let measured = record.status != .cancelled
        // The response clock stops at the first claim. A request closed without one (the citizen
        // cancelled it) missed its response target if it closed after the deadline; before it,
        // the clock had nothing to measure. (Left out of both counts, a unit's unanswered requests
        // made its on-time record look better the fewer it took up.)
        let responseMet: Bool? = record.firstClaimedAt.map { $0 <= record.responseDueAt }
            ?? (closedAt > record.responseDueAt ? false : nil)
        let resolutionMet = closedAt <= record.resolutionDueAt
        // The closing counts for the officer who closed it: the holder, or a supervisor who closed
        // it over the holder. One that is no officer's doing counts for no officer: the citizen's
        // cancellation, and the worker's auto-close of a request the citizen never answered.
        let officer: StaffID? = actor.kind == .staff ? actor.id : nil
        // The response is the first claimer's, in the unit it was claimed in. A request claimed
        // before they were recorded (migration 0013), or never claimed, counts it with the closing.
        let responseUnit: UnitID? = record.firstClaimedAt == nil ? nil : record.firstClaimUnitID
        let responseOfficer: StaffID? = responseUnit == nil ? nil : record.firstClaimedBy
        let separateUnit = responseUnit.map { $0 != record.unitID } ?? false
        let separateRow = separateUnit || (responseUnit != nil && (responseOfficer ?? 0) != (officer ?? 0))
        var histogram: [Int32] = []
        if measured {
            // Bucket b holds (15b, 15(b+1)] minutes, so an exact quarter hour reads as itself.
            let bucket = min(max(0, (minutes + bucketMinutes - 1) / bucketMinutes - 1), maxBuckets - 1)
            histogram = Array(repeating: 0, count: bucket + 1)
            histogram[bucket] = 1
        }
        try await connection.queue(
            Self.recordClosing,
            record.id, record.serviceTypeID, record.unitID, officer, record.status.rawValue, record.createdAt, closedAt,
            PostgresLocalDate(year: day.year, month: day.month, day: day.day), responseMet, resolutionMet, minutes, paused,
            Int16(record.escalationLevel),
            record.status == .completed ? 1 : 0, record.status == .rejected ? 1 : 0, record.status == .cancelled ? 1 : 0,
            responseMet == nil ? 0 : 1, responseMet == true ? 1 : 0, measured ? 1 : 0, measured && resolutionMet ? 1 : 0,
            histogram, PostgresLocalDate(year: day.year, month: day.month, day: 1), responseUnit, responseOfficer, separateRow,
            separateUnit)
    }

    /// Adds a citizen's IKM answers to the summaries of the day, unit, service and officer the
    /// request closed with (the monthly row exists only once its month is rolled up).
    static func recordFeedback(requestID: Int64, scores: IKMScores, on connection: PostgresConnection) async throws {
        let sums = scores.values.map { Int32($0) }
        try await connection.query(
            """
            WITH o AS (SELECT closed_day, unit_id, service_type_id, coalesce(officer_id, 0) AS officer FROM request_outcomes WHERE request_id = $1),
            d AS (
                UPDATE report_daily r SET feedback_count = r.feedback_count + 1, feedback_sums = loket_add_counts(r.feedback_sums, $2)
                FROM o WHERE r.day = o.closed_day AND r.unit_id = o.unit_id AND r.service_type_id = o.service_type_id AND r.officer_id = o.officer)
            UPDATE report_monthly r SET feedback_count = r.feedback_count + 1, feedback_sums = loket_add_counts(r.feedback_sums, $2)
            FROM o WHERE r.month = date_trunc('month', o.closed_day)::date AND r.unit_id = o.unit_id AND r.service_type_id = o.service_type_id
            """, requestID, sums)
    }

    // MARK: Reading

    /// The report over closing days [from, to), grouped, limited to `units` when given. Whole
    /// months come from the monthly summary, the days at either end from the daily one.
    public func report(
        grouping: ReportGrouping, from: LocalDate, to: LocalDate, units: Set<UnitID>?, catalog: CatalogSnapshot, now: Date = Date()
    ) async throws -> Report {
        var rows: [String: ReportRow] = [:]
        var total = ReportRow(key: "total", name: "Total")
        var names: [StaffID: (nip: String, name: String)] = [:]
        func key(unit: UnitID, service: ServiceTypeID, officer: StaffID) -> (String, String)? {
            switch grouping {
            case .unit:
                guard let unit = catalog.units[unit] else { return nil }
                return (unit.code, unit.name)
            case .service:
                guard let service = catalog.servicesByID[service] else { return nil }
                return (service.code, service.name.id)
            case .officer:
                // The API layer names this line in the reader's language.
                guard officer != 0 else { return ("-", "") }
                return (names[officer]?.nip ?? String(officer), names[officer]?.name ?? "")
            }
        }
        let unitList = units.map { Array($0) }
        // One snapshot for the plan and every summary read, so a rollup committing in between
        // cannot make a month count twice or not at all.
        try await pool.transaction(isolation: .repeatableRead, readOnly: true) { connection in
            if grouping == .officer {
                for row in try await connection.query(
                    """
                    SELECT s.id, s.nip, s.name FROM staff s WHERE s.id IN (
                        SELECT DISTINCT officer_id FROM report_daily WHERE day >= $1 AND day < $2 AND ($3::bigint[] IS NULL OR unit_id = ANY($3)))
                    """, pg(from), pg(to), unitList)
                {
                    names[try row.decode(Int64.self, "id")] = (try row.decode(String.self, "nip"), try row.decode(String.self, "name"))
                }
            }
            let columns = """
                closed, completed, rejected, cancelled, response_measured, response_met, resolution_measured, resolution_met,
                breaches, escalations, transfers, paused_minutes, resolve_histogram, feedback_count, feedback_sums
                """
            // Rolled-up months from the monthly summary; every other day from the daily one.
            let plan = grouping == .officer
                ? SummaryPlan(monthly: [], daily: [(from, to)])
                : try await Self.summaryPlan(from: from, to: to, on: connection)
            var queries: [(String, [any PostgresEncodable])] = []
            if !plan.monthly.isEmpty {
                queries.append(("""
                    SELECT unit_id, service_type_id, 0::bigint AS officer_id, \(columns) FROM report_monthly
                    WHERE month = ANY($1::date[]) AND ($2::bigint[] IS NULL OR unit_id = ANY($2))
                    """, [plan.monthly.map(\.description), unitList]))
            }
            for (start, end) in plan.daily {
                queries.append(("""
                    SELECT unit_id, service_type_id, officer_id, \(columns) FROM report_daily
                    WHERE day >= $1 AND day < $2 AND ($3::bigint[] IS NULL OR unit_id = ANY($3))
                    """, [pg(start), pg(end), unitList]))
            }
            for (sql, binds) in queries {
                for row in try await connection.query(sql, binds: binds) {
                    guard let (code, name) = key(
                        unit: try row.decode(Int64.self, "unit_id"), service: try row.decode(Int64.self, "service_type_id"),
                        officer: try row.decode(Int64.self, "officer_id"))
                    else { continue }
                    var part = ReportRow(key: code, name: name)
                    try part.add(row)
                    rows[code, default: ReportRow(key: code, name: name)].merge(part)
                    total.merge(part)
                }
            }
            if grouping != .officer {
                var backlogAge: [String: Double] = [:]
                for row in try await connection.query(
                    """
                    SELECT unit_id, service_type_id, count(*) AS open, extract(epoch FROM sum($1::timestamptz - created_at)) AS age_seconds
                    FROM service_requests WHERE status IN ('queued', 'in_progress', 'waiting_citizen') AND ($2::bigint[] IS NULL OR unit_id = ANY($2))
                    GROUP BY unit_id, service_type_id
                    """, now, unitList)
                {
                    guard let (code, name) = key(
                        unit: try row.decode(Int64.self, "unit_id"), service: try row.decode(Int64.self, "service_type_id"), officer: 0)
                    else { continue }
                    let open = try row.decode(Int.self, "open")
                    let age = try row.decode(Double.self, "age_seconds")
                    for target in [code, "total"] {
                        var line = target == "total" ? total : rows[code, default: ReportRow(key: code, name: name)]
                        // Summed unrounded and rounded once: rounding the running average at each
                        // step made the figure depend on the order of the rows (off by 0.2 days).
                        backlogAge[target, default: 0] += age
                        line.backlog += open
                        line.backlogAverageAgeDays = (backlogAge[target, default: 0] / 86_400 / Double(line.backlog) * 10).rounded() / 10
                        if target == "total" { total = line } else { rows[code] = line }
                    }
                }
            }
        }
        return Report(grouping: grouping, from: from, to: to, rows: rows.values.sorted { $0.key < $1.key }, total: total)
    }

    /// Open requests past their running clock's deadline (breaches, paused ones included), or
    /// running within `withinMinutes` working minutes of it (at risk), most overdue first.
    public func overdue(
        units: Set<UnitID>?, catalog: CatalogSnapshot, now: Date = Date(), withinMinutes: Int = 0
    ) async throws -> [OverdueItem] {
        // Candidates by wall clock, up to the latest instant `withinMinutes` working minutes away on
        // any calendar (holidays and joint leave can make that a week or more); exact working
        // minutes below.
        let horizon = withinMinutes > 0
            ? catalog.calendars.values.map { $0.calendar.adding(workingMinutes: withinMinutes, to: now) }.max() ?? now
            : now
        let rows = try await pool.query(
            """
            SELECT tracking_code, service_type_id, unit_id, status, assignee_id, escalation_level, priority, first_claimed_at,
                   response_due_at, resolution_due_at, paused_at
            FROM service_requests
            WHERE status IN ('queued', 'in_progress', 'waiting_citizen') AND ($1::bigint[] IS NULL OR unit_id = ANY($1))
              AND CASE WHEN first_claimed_at IS NULL THEN response_due_at ELSE resolution_due_at END <= $2
            """, units.map { Array($0) }, horizon)
        var items: [OverdueItem] = []
        for row in rows {
            let serviceID = try row.decode(Int64.self, "service_type_id")
            guard let service = catalog.servicesByID[serviceID] else { continue }
            let calendar = catalog.calendar(for: service).calendar
            let claimed = try row.decode(Date?.self, "first_claimed_at") != nil
            let due = try row.decode(Date.self, claimed ? "resolution_due_at" : "response_due_at")
            let pausedAt = try row.decode(Date?.self, "paused_at")
            let at = pausedAt ?? now
            let overdue = at >= due ? calendar.workingMinutes(from: due, to: at) : -calendar.workingMinutes(from: at, to: due)
            let breached = at > due
            // A paused clock (waiting for the citizen) runs toward nothing: not at risk.
            guard breached || (pausedAt == nil && -overdue <= withinMinutes) else { continue }
            items.append(OverdueItem(
                trackingCode: try row.decode(String.self, "tracking_code"), serviceTypeID: serviceID,
                unitID: try row.decode(Int64.self, "unit_id"),
                status: RequestStatus(rawValue: try row.decode(String.self, "status")) ?? .queued,
                assigneeID: try row.decode(Int64?.self, "assignee_id"), clock: claimed ? .resolution : .response, dueAt: due,
                overdueWorkingMinutes: overdue, escalationLevel: try row.decode(Int.self, "escalation_level"),
                priority: try row.decode(Int.self, "priority"), isBreached: breached))
        }
        return items.sorted {
            ($0.isBreached ? 1 : 0, $0.overdueWorkingMinutes, $0.dueAt.timeIntervalSince1970 * -1, $0.trackingCode)
                > ($1.isBreached ? 1 : 0, $1.overdueWorkingMinutes, $1.dueAt.timeIntervalSince1970 * -1, $1.trackingCode)
        }
    }

    /// Open work per unit now.
    public func workload(units: Set<UnitID>?) async throws -> [WorkloadRow] {
        try await pool.query(
            """
            SELECT unit_id, count(*) FILTER (WHERE status = 'queued') AS queued,
                   count(*) FILTER (WHERE status = 'in_progress') AS in_progress,
                   count(*) FILTER (WHERE status = 'waiting_citizen') AS waiting, min(created_at) AS oldest
            FROM service_requests WHERE status IN ('queued', 'in_progress', 'waiting_citizen') AND ($1::bigint[] IS NULL OR unit_id = ANY($1))
            GROUP BY unit_id ORDER BY unit_id
            """, units.map { Array($0) }
        ).map { row in
            WorkloadRow(
                unitID: try row.decode(Int64.self, "unit_id"), queued: try row.decode(Int.self, "queued"),
                inProgress: try row.decode(Int.self, "in_progress"), waitingCitizen: try row.decode(Int.self, "waiting"),
                oldestCreatedAt: try row.decode(Date?.self, "oldest"))
        }
    }

    /// Closed requests and resolution on-time share per month (and per unit when `byUnit`), for
    /// the months [from, to).
    public func trend(from: LocalDate, to: LocalDate, units: Set<UnitID>?, byUnit: Bool) async throws -> [TrendPoint] {
        let unitList = units.map { Array($0) }
        struct Key: Hashable, Comparable {
            var month: LocalDate
            var unit: UnitID?
            static func < (a: Key, b: Key) -> Bool { (a.month, a.unit ?? 0) < (b.month, b.unit ?? 0) }
        }
        var sums: [Key: (closed: Int, measured: Int, met: Int)] = [:]
        try await pool.transaction(isolation: .repeatableRead, readOnly: true) { connection in
            let plan = try await Self.summaryPlan(from: Self.firstOfMonth(from), to: to, on: connection)
            var reads: [(String, [any PostgresEncodable])] = []
            if !plan.monthly.isEmpty {
                reads.append(("""
                    SELECT month, CASE WHEN $2 THEN unit_id END AS unit_id, sum(closed)::bigint AS closed,
                           sum(resolution_measured)::bigint AS measured, sum(resolution_met)::bigint AS met
                    FROM report_monthly WHERE month = ANY($1::date[]) AND ($3::bigint[] IS NULL OR unit_id = ANY($3))
                    GROUP BY 1, 2
                    """, [plan.monthly.map(\.description), byUnit, unitList]))
            }
            for (start, end) in plan.daily {
                reads.append(("""
                    SELECT date_trunc('month', day)::date AS month, CASE WHEN $3 THEN unit_id END AS unit_id, sum(closed)::bigint AS closed,
                           sum(resolution_measured)::bigint AS measured, sum(resolution_met)::bigint AS met
                    FROM report_daily WHERE day >= $1 AND day < $2 AND ($4::bigint[] IS NULL OR unit_id = ANY($4))
                    GROUP BY 1, 2
                    """, [pg(start), pg(end), byUnit, unitList]))
            }
            for (sql, binds) in reads {
                for row in try await connection.query(sql, binds: binds) {
                    let month = try row.decode(PostgresLocalDate.self, "month")
                    let key = Key(month: try LocalDate(year: month.year, month: month.month, day: 1), unit: try row.decode(Int64?.self, "unit_id"))
                    var sum = sums[key] ?? (0, 0, 0)
                    sum.closed += try row.decode(Int.self, "closed")
                    sum.measured += try row.decode(Int.self, "measured")
                    sum.met += try row.decode(Int.self, "met")
                    sums[key] = sum
                }
            }
        }
        return sums.sorted { $0.key < $1.key }.map { key, sum in
            TrendPoint(month: key.month, unitID: key.unit, closed: sum.closed, resolutionOnTimePercent: ReportRow.percent(sum.met, of: sum.measured))
        }
    }

    // MARK: Monthly rollup

    /// Which summary answers which part of [from, to): the whole months already rolled up come from
    /// report_monthly, every other day (the ends, the current month, months not yet rolled up)
    /// from report_daily, as merged day ranges.
    struct SummaryPlan {
        var monthly: [LocalDate]
        var daily: [(LocalDate, LocalDate)]
    }

    static func summaryPlan(from: LocalDate, to: LocalDate, on connection: PostgresConnection) async throws -> SummaryPlan {
        guard from < to else { return SummaryPlan(monthly: [], daily: []) }
        let (monthsFrom, monthsTo) = wholeMonths(from: from, to: to)
        var rolled: Set<LocalDate> = []
        if let monthsFrom, let monthsTo {
            for row in try await connection.query(
                "SELECT month FROM report_monthly_rollups WHERE month >= $1 AND month < $2", pg(monthsFrom), pg(monthsTo))
            {
                let month = try row.decode(PostgresLocalDate.self, "month")
                rolled.insert(try LocalDate(year: month.year, month: month.month, day: month.day))
            }
        }
        var plan = SummaryPlan(monthly: [], daily: [])
        func daily(_ start: LocalDate, _ end: LocalDate) {
            guard start < end else { return }
            if let last = plan.daily.last, last.1 == start { plan.daily[plan.daily.count - 1].1 = end } else { plan.daily.append((start, end)) }
        }
        guard let monthsFrom, let monthsTo else {
            daily(from, to)
            return plan
        }
        daily(from, monthsFrom)
        var month = monthsFrom
        while month < monthsTo {
            let next = nextMonth(month)
            if rolled.contains(month) { plan.monthly.append(month) } else { daily(month, next) }
            month = next
        }
        daily(monthsTo, to)
        return plan
    }

    /// The next month that can be rolled up: the month after the last rolled-up one (or of the
    /// earliest daily row) if it ended before `before`. Nil when there is none.
    public func nextMonthToRollUp(before: LocalDate) async throws -> LocalDate? {
        let limit = Self.firstOfMonth(before)
        let row = try await pool.query(
            """
            SELECT (SELECT min(day) FROM report_daily
                    WHERE day >= coalesce((SELECT max(month) + interval '1 month' FROM report_monthly_rollups), '-infinity')) AS first
            """
        ).single()
        guard let first = try row.decode(PostgresLocalDate?.self, "first") else { return nil }
        let month = Self.firstOfMonth(try LocalDate(year: first.year, month: first.month, day: first.day))
        return month < limit ? month : nil
    }

    /// Sums the daily summaries of `month` into report_monthly and marks the month rolled up, in one
    /// transaction. The SHARE lock on report_daily waits for the transactions writing daily rows
    /// and holds new ones back until COMMIT, so each write is either in the sums or comes after and
    /// sees the month rolled up (and adds to the monthly row itself). False when another worker
    /// rolled it up first.
    @discardableResult
    public func rollUpMonth(_ month: LocalDate, now: Date) async throws -> Bool {
        let first = Self.firstOfMonth(month)
        return try await pool.transaction { connection in
            try await connection.query("LOCK TABLE report_daily IN SHARE MODE")
            guard try await connection.query(
                "INSERT INTO report_monthly_rollups (month, rolled_at) VALUES ($1, $2) ON CONFLICT DO NOTHING", pg(first), now
            ).affectedRows == 1 else { return false }
            try await connection.query(
                """
                INSERT INTO report_monthly (month, unit_id, service_type_id, closed, completed, rejected, cancelled, response_measured,
                    response_met, resolution_measured, resolution_met, breaches, escalations, transfers, paused_minutes,
                    resolve_histogram, feedback_count, feedback_sums)
                SELECT $1, unit_id, service_type_id, sum(closed), sum(completed), sum(rejected), sum(cancelled), sum(response_measured),
                       sum(response_met), sum(resolution_measured), sum(resolution_met), sum(breaches), sum(escalations), sum(transfers),
                       sum(paused_minutes), loket_sum_counts(resolve_histogram), sum(feedback_count),
                       loket_add_counts('{0,0,0,0,0,0,0,0,0}', loket_sum_counts(feedback_sums))
                FROM report_daily WHERE day >= $1 AND day < $2
                GROUP BY unit_id, service_type_id
                ON CONFLICT (month, unit_id, service_type_id) DO UPDATE SET
                    closed = EXCLUDED.closed, completed = EXCLUDED.completed, rejected = EXCLUDED.rejected,
                    cancelled = EXCLUDED.cancelled, response_measured = EXCLUDED.response_measured,
                    response_met = EXCLUDED.response_met, resolution_measured = EXCLUDED.resolution_measured,
                    resolution_met = EXCLUDED.resolution_met, breaches = EXCLUDED.breaches, escalations = EXCLUDED.escalations,
                    transfers = EXCLUDED.transfers, paused_minutes = EXCLUDED.paused_minutes,
                    resolve_histogram = EXCLUDED.resolve_histogram, feedback_count = EXCLUDED.feedback_count,
                    feedback_sums = EXCLUDED.feedback_sums
                """, pg(first), pg(Self.nextMonth(first)))
            return true
        }
    }

    // MARK: Dates (month and day 1 are always valid, so these `try!` cannot trap)

    static func firstOfMonth(_ date: LocalDate) -> LocalDate { try! LocalDate(year: date.year, month: date.month, day: 1) }

    static func nextMonth(_ date: LocalDate) -> LocalDate {
        date.month == 12 ? try! LocalDate(year: date.year + 1, month: 1, day: 1) : try! LocalDate(year: date.year, month: date.month + 1, day: 1)
    }

    /// The whole months inside [from, to), as [first, end) of month starts; nil when there are none.
    static func wholeMonths(from: LocalDate, to: LocalDate) -> (LocalDate?, LocalDate?) {
        let start = from.day == 1 ? from : nextMonth(from)
        let end = firstOfMonth(to)
        return start < end ? (start, end) : (nil, nil)
    }
}

func pg(_ date: LocalDate) -> PostgresLocalDate { PostgresLocalDate(year: date.year, month: date.month, day: date.day) }

extension ReportStore {
    /// The first day of the month after `date`'s month.
    public static func nextMonthStart(after date: LocalDate) -> LocalDate { nextMonth(date) }

    /// The first day of the month `months` before `start`'s month.
    public static func monthStart(_ start: LocalDate, minusMonths months: Int) -> LocalDate {
        // Floored division, so months before year 0 still land on a valid month (1...12): the
        // `try!` can then never trap, whatever date a caller passes.
        let index = start.year * 12 + (start.month - 1) - months
        let year = index >= 0 ? index / 12 : (index - 11) / 12
        return try! LocalDate(year: year, month: index - year * 12 + 1, day: 1)
    }
}
