// Times the two manager reads that must stay fast on years of data, through LoketStore exactly as
// the API calls them: (a) the breach list for the whole tree (ReportStore.overdue, units nil) and
// (b) a one-year report by unit (ReportStore.report(grouping: .unit, from: today − 365 days,
// to: today + 1, units: nil)) from the summaries. As the in-run baseline it also computes the same
// report the naive way: percentile_cont and counts over every request_outcomes row of the year
// (plus the same backlog query), and checks that both give the same closed counts per unit.
// Rounds are interleaved (breaches, report, naive, breaches, …) so that a disturbance on the
// machine hits all three alike. Run by bench/report, which loads the data; exits 3 when a goal is
// missed so that the script can explain the plans.
//   report-bench [--runs N (9)] [--goal-ms MS (200)] [--time-zone ZONE (Asia/Jakarta)]
import Foundation
import LoketCore
import LoketStore
import Postgres

struct Options {
    var runs = 9
    var goalMilliseconds = 200.0
    var timeZone = "Asia/Jakarta"

    init(_ arguments: [String]) {
        var iterator = arguments.dropFirst().makeIterator()
        while let argument = iterator.next() {
            switch argument {
            case "--runs": runs = max(1, Int(iterator.next() ?? "") ?? runs)
            case "--goal-ms": goalMilliseconds = Double(iterator.next() ?? "") ?? goalMilliseconds
            case "--time-zone": timeZone = iterator.next() ?? timeZone
            default:
                FileHandle.standardError.write(Data("report-bench: unknown argument \(argument)\n".utf8))
                exit(2)
            }
        }
    }
}

let options = Options(CommandLine.arguments)
// One connection, as one request of the server uses one: its prepared statements are reused from
// the second run on, as they are in a long-running loketd.
let pool = ConnectionPool(configuration: .fromEnvironment(applicationName: "report-bench"), maxConnections: 1, acquireTimeout: .seconds(60))
let catalog = try await pool.withConnection { try await CatalogStore.load(on: $0) }
let store = ReportStore(pool: pool)
let now = Date()
let sizes = try await pool.query(
    "SELECT count(*) FILTER (WHERE status IN ('queued', 'in_progress', 'waiting_citizen')) AS open, count(*) AS total FROM service_requests"
).single()
let (openRequests, allRequests) = (try sizes.decode(Int.self, "open"), try sizes.decode(Int.self, "total"))

/// Today in the jurisdiction's zone, the day the API's period arithmetic starts from.
func today(in zone: String) throws -> LocalDate {
    var calendar = Calendar(identifier: .gregorian)
    calendar.timeZone = TimeZone(identifier: zone) ?? .gmt
    let parts = calendar.dateComponents([.year, .month, .day], from: now)
    return try LocalDate(year: parts.year!, month: parts.month!, day: parts.day!)
}

let day = try today(in: options.timeZone)
let from = day.adding(days: -365)
let to = day.adding(days: 1)

/// The naive report: every outcome of the year read and ranked per unit, on each call.
struct NaiveRow {
    var closed: Int
    var median: Double?
    var p90: Double?
    var ikm: IKMResult?
    var backlog = 0
}

func naiveReport() async throws -> [String: NaiveRow] {
    var rows: [String: NaiveRow] = [:]
    try await pool.withConnection { connection in
        for row in try await connection.query(
            """
            SELECT o.unit_id, count(*) AS closed, count(*) FILTER (WHERE o.status = 'completed') AS completed,
                   count(*) FILTER (WHERE o.status = 'rejected') AS rejected, count(*) FILTER (WHERE o.status = 'cancelled') AS cancelled,
                   count(o.response_met) AS response_measured, count(*) FILTER (WHERE o.response_met) AS response_met,
                   count(*) FILTER (WHERE o.status <> 'cancelled') AS resolution_measured,
                   count(*) FILTER (WHERE o.status <> 'cancelled' AND o.resolution_met) AS resolution_met,
                   percentile_cont(0.5) WITHIN GROUP (ORDER BY o.resolution_working_minutes) FILTER (WHERE o.status <> 'cancelled') AS median,
                   percentile_cont(0.9) WITHIN GROUP (ORDER BY o.resolution_working_minutes) FILTER (WHERE o.status <> 'cancelled') AS p90,
                   sum(o.breaches) AS breaches, sum(o.escalation_level) AS escalations, sum(o.transfers) AS transfers,
                   sum(o.paused_minutes) AS paused_minutes, count(f.request_id) AS feedback_count,
                   ARRAY[coalesce(sum(f.u1), 0), coalesce(sum(f.u2), 0), coalesce(sum(f.u3), 0), coalesce(sum(f.u4), 0),
                         coalesce(sum(f.u5), 0), coalesce(sum(f.u6), 0), coalesce(sum(f.u7), 0), coalesce(sum(f.u8), 0),
                         coalesce(sum(f.u9), 0)]::integer[] AS feedback_sums
            FROM request_outcomes o LEFT JOIN feedback f ON f.request_id = o.request_id
            WHERE o.closed_day >= $1 AND o.closed_day < $2
            GROUP BY o.unit_id
            """, PostgresLocalDate(year: from.year, month: from.month, day: from.day), PostgresLocalDate(year: to.year, month: to.month, day: to.day))
        {
            guard let unit = catalog.units[try row.decode(Int64.self, "unit_id")] else { continue }
            let tally = try IKMTally(respondents: try row.decode(Int.self, "feedback_count"), sums: try row.decode([Int].self, "feedback_sums"))
            rows[unit.code] = NaiveRow(
                closed: try row.decode(Int.self, "closed"), median: try row.decode(Double?.self, "median").map { $0 / 60 },
                p90: try row.decode(Double?.self, "p90").map { $0 / 60 }, ikm: tally.result())
        }
        // The backlog is read from the open requests in both ways; the same query keeps it fair.
        for row in try await connection.query(
            """
            SELECT unit_id, count(*) AS open FROM service_requests
            WHERE status IN ('queued', 'in_progress', 'waiting_citizen') GROUP BY unit_id
            """)
        {
            guard let unit = catalog.units[try row.decode(Int64.self, "unit_id")] else { continue }
            rows[unit.code, default: NaiveRow(closed: 0)].backlog += try row.decode(Int.self, "open")
        }
    }
    return rows
}

func milliseconds(_ body: () async throws -> Void) async throws -> Double {
    let clock = ContinuousClock()
    let started = clock.now
    try await body()
    let elapsed = clock.now - started
    return Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
}

// Warm-up: the first call of each prepares its statements and reads the pages into the cache;
// its result is also what the checks below compare.
var breachCount = 0
var report: Report?
var naive: [String: NaiveRow] = [:]
let firstBreaches = try await milliseconds { breachCount = try await store.overdue(units: nil, catalog: catalog, now: now).count }
let firstReport = try await milliseconds {
    report = try await store.report(grouping: .unit, from: from, to: to, units: nil, catalog: catalog, now: now)
}
let firstNaive = try await milliseconds { naive = try await naiveReport() }

var times: [String: [Double]] = ["breaches": [], "report": [], "naive": []]
for _ in 0..<options.runs {
    times["breaches"]!.append(try await milliseconds { _ = try await store.overdue(units: nil, catalog: catalog, now: now) })
    times["report"]!.append(try await milliseconds {
        _ = try await store.report(grouping: .unit, from: from, to: to, units: nil, catalog: catalog, now: now)
    })
    times["naive"]!.append(try await milliseconds { _ = try await naiveReport() })
}

// Where (b)'s time goes: the two summary SELECTs as ReportStore sends them (same text, same
// binds, whole months from report_monthly and the days at either end from report_daily), first
// only fetched (server, transfer, libpq), then with each histogram decoded once as ReportRow.add
// does; and, as an alternative, the histograms merged per unit in SQL. Diagnostics only: if
// ReportStore's statements change, these lines no longer describe it.
let monthsFrom = from.day == 1 ? from : ReportStore.nextMonthStart(after: from)
let monthsTo = try LocalDate(year: to.year, month: to.month, day: 1)
let summaryColumns = """
    closed, completed, rejected, cancelled, response_measured, response_met, resolution_measured, resolution_met,
    breaches, escalations, transfers, paused_minutes, resolve_histogram, feedback_count, feedback_sums
    """
let noUnits: [Int64]? = nil
func pgDate(_ date: LocalDate) -> PostgresLocalDate { PostgresLocalDate(year: date.year, month: date.month, day: date.day) }

/// `histogram` replaces the resolve_histogram column: to see what reading it costs, it can be
/// left out ("0") or only measured on the server ("cardinality(resolve_histogram)", which
/// decompresses it but sends one number).
func summaryReads(decode: Bool, histogram: String = "resolve_histogram") async throws -> Int {
    var elements = 0
    let columns = summaryColumns.replacingOccurrences(of: "resolve_histogram", with: "\(histogram) AS resolve_histogram")
    try await pool.withConnection { connection in
        let monthly = try await connection.query(
            """
            SELECT unit_id, service_type_id, 0::bigint AS officer_id, \(columns) FROM report_monthly
            WHERE month >= $1 AND month < $2 AND ($3::bigint[] IS NULL OR unit_id = ANY($3))
            """, binds: [pgDate(monthsFrom), pgDate(monthsTo), noUnits])
        let daily = try await connection.query(
            """
            SELECT unit_id, service_type_id, officer_id, \(columns) FROM report_daily
            WHERE ((day >= $1 AND day < $2) OR (day >= $3 AND day < $4)) AND ($5::bigint[] IS NULL OR unit_id = ANY($5))
            """, binds: [pgDate(from), pgDate(monthsFrom), pgDate(monthsTo), pgDate(to), noUnits])
        guard decode else { return }
        for rows in [monthly, daily] {
            for row in rows { elements += try row.decode([Int].self, "resolve_histogram").count }
        }
    }
    return elements
}

func histogramsMergedInSQL() async throws {
    _ = try await pool.query(
        """
        WITH source AS (
            SELECT unit_id, resolve_histogram FROM report_monthly WHERE month >= $1 AND month < $2
            UNION ALL
            SELECT unit_id, resolve_histogram FROM report_daily WHERE (day >= $3 AND day < $1) OR (day >= $2 AND day < $4)
        ), buckets AS (
            SELECT unit_id, h.i, sum(h.n)::integer AS n
            FROM source, unnest(resolve_histogram) WITH ORDINALITY AS h(n, i) GROUP BY unit_id, h.i
        )
        SELECT unit_id, array_agg(n ORDER BY i) AS resolve_histogram FROM buckets GROUP BY unit_id
        """, pgDate(monthsFrom), pgDate(monthsTo), pgDate(from), pgDate(to))
}

var histogramElements = 0
times["fetch"] = []
times["decode"] = []
times["sqlMerge"] = []
times["noHistogram"] = []
times["serverOnly"] = []
for _ in 0..<options.runs {
    times["noHistogram"]!.append(try await milliseconds { _ = try await summaryReads(decode: false, histogram: "'{}'::integer[]") })
    times["serverOnly"]!.append(try await milliseconds {
        _ = try await summaryReads(decode: false, histogram: "ARRAY[cardinality(resolve_histogram)]")
    })
    times["fetch"]!.append(try await milliseconds { _ = try await summaryReads(decode: false) })
    times["decode"]!.append(try await milliseconds { histogramElements = try await summaryReads(decode: true) })
    times["sqlMerge"]!.append(try await milliseconds { try await histogramsMergedInSQL() })
}
// How much of each histogram is zeros: what a sparse or coarser layout would not send.
let nonZero = try await pool.query(
    """
    SELECT (SELECT count(*) FROM report_monthly, unnest(resolve_histogram) n WHERE month >= $1 AND month < $2 AND n > 0)
         + (SELECT count(*) FROM report_daily, unnest(resolve_histogram) n
            WHERE ((day >= $3 AND day < $1) OR (day >= $2 AND day < $4)) AND n > 0) AS n
    """, pgDate(monthsFrom), pgDate(monthsTo), pgDate(from), pgDate(to)
).single().decode(Int.self, "n")
await pool.close()

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
}

guard let report else { exit(1) }

// Both ways must agree on what they count; medians differ only by the summaries' quarter-hour
// buckets (the upper edge of the bucket versus an interpolated value).
var mismatches: [String] = []
var medianGap = 0.0
for row in report.rows {
    guard let other = naive[row.key] else {
        if row.closed > 0 { mismatches.append("\(row.key): \(row.closed) closed in the summaries, none in request_outcomes") }
        continue
    }
    if other.closed != row.closed { mismatches.append("\(row.key): closed \(row.closed) (summaries) vs \(other.closed) (outcomes)") }
    if other.backlog != row.backlog { mismatches.append("\(row.key): backlog \(row.backlog) vs \(other.backlog)") }
    if other.ikm.map({ $0.publishedValue }) != row.ikm?.value { mismatches.append("\(row.key): IKM \(String(describing: row.ikm?.value)) vs \(String(describing: other.ikm?.publishedValue))") }
    if let a = row.medianResolutionHours, let b = other.median { medianGap = max(medianGap, abs(a - b)) }
}
for (key, row) in naive where row.closed > 0 && !report.rows.contains(where: { $0.key == key }) {
    mismatches.append("\(key): \(row.closed) closed in request_outcomes, missing from the summaries")
}

let goal = options.goalMilliseconds
func line(_ name: String, _ values: [Double], first: Double, goal: Double?) -> String {
    var text = String(format: "  %-50@ min %8.1f ms  median %8.1f ms  (first call %7.1f ms)", name as NSString, values.min() ?? 0, median(values), first)
    if let goal { text += String(format: "  goal < %.0f ms: %@", goal, median(values) < goal ? "met" : "MISSED") }
    return text
}
print(String(format: "bench/report: %d requests in service_requests (%d open), %d runs each after a warm-up call",
    allRequests, openRequests, options.runs))
print("  period \(from) to \(to) (exclusive), now \(now)")
print(line("(a) breach list, whole tree (\(breachCount) overdue shown)", times["breaches"]!, first: firstBreaches, goal: goal))
print(line("(b) report by unit, one year (summaries)", times["report"]!, first: firstReport, goal: goal))
print(line("    same report, naive (percentile_cont)", times["naive"]!, first: firstNaive, goal: nil))
print(String(format: "  ratio naive / summaries (median): %.1f×", median(times["naive"]!) / median(times["report"]!)))
print(String(format: "  report: %d units, %d closed in the year; naive and summaries agree on closed, backlog and IKM per unit: %@; largest median gap %.2f h",
    report.rows.count, report.total.closed, mismatches.isEmpty ? "yes" : "NO", medianGap))
for mismatch in mismatches.prefix(10) { print("    mismatch: \(mismatch)") }
print("  where (b)'s time goes (medians of the two summary SELECTs ReportStore sends, same binds):")
print(String(format: "    without resolve_histogram %.1f ms; histograms decompressed on the server only %.1f ms; fetched %.1f ms;"
    + " fetched and each decoded once %.1f ms", median(times["noHistogram"]!), median(times["serverOnly"]!), median(times["fetch"]!),
    median(times["decode"]!)))
print(String(format: "    %d histogram elements read, %d of them non-zero (%.1f %%); histograms merged per unit in SQL instead: %.1f ms",
    histogramElements, nonZero, Double(nonZero) / Double(max(1, histogramElements)) * 100, median(times["sqlMerge"]!)))
let missed = median(times["breaches"]!) >= goal || median(times["report"]!) >= goal
exit(!mismatches.isEmpty ? 1 : missed ? 3 : 0)
