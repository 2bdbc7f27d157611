// Times the SLA scanner on the same 1,000 due requests with a small and a large open backlog in
// the table (requests whose next stage is far in the future). Run by bench/scan, which gives it a
// private PostgreSQL with the schema and sample catalog loaded.
import Foundation
import LoketStore
import Postgres

let arguments = CommandLine.arguments
func option(_ name: String, _ fallback: Int) -> Int {
    guard let index = arguments.firstIndex(of: name), index + 1 < arguments.count, let value = Int(arguments[index + 1]) else { return fallback }
    return value
}
let due = option("--due", 1_000)
let small = option("--small", 10_000)
let large = option("--large", 1_000_000)

let pool = ConnectionPool(configuration: .fromEnvironment(applicationName: "scan-bench"), maxConnections: 2, acquireTimeout: .seconds(60))
let now = Date()

/// Empties the request tables and loads `backlog` open requests not yet due (numbered after the
/// due ones, so reloading the due set leaves the backlog in place).
func loadBacklog(_ backlog: Int) async throws {
    try await pool.withConnection { connection in
        try await connection.executeScript(
            """
            SET session_replication_role = replica; -- the audit trail's append-only trigger would refuse the cleanup
            DELETE FROM notification_outbox; DELETE FROM sla_stage_log; DELETE FROM request_events; DELETE FROM service_requests;
            SET session_replication_role = origin;
            """)
        try await insert(count: backlog, offset: due, createdMinutesAgo: 1, nextInMinutes: 60 * 24 * 30, on: connection)
    }
}

/// Replaces the due set: `due` requests whose response 50 % stage is due now, on a round-the-clock
/// calendar, with none of the previous round's stages, events or notifications. Then vacuums and
/// checkpoints, so the timed scan does not share the machine with the flush of the load.
func reloadDue() async throws {
    try await pool.withConnection { connection in
        try await connection.executeScript("SET session_replication_role = replica")
        try await connection.query("DELETE FROM notification_outbox WHERE request_id IN (SELECT id FROM service_requests WHERE tracking_code <= $1)", code(due))
        try await connection.query("DELETE FROM sla_stage_log WHERE request_id IN (SELECT id FROM service_requests WHERE tracking_code <= $1)", code(due))
        try await connection.query("DELETE FROM request_events WHERE request_id IN (SELECT id FROM service_requests WHERE tracking_code <= $1)", code(due))
        try await connection.query("DELETE FROM service_requests WHERE tracking_code <= $1", code(due))
        try await connection.executeScript("SET session_replication_role = origin")
        try await insert(count: due, offset: 0, createdMinutesAgo: 130, nextInMinutes: -10, on: connection)
        for statement in ["VACUUM ANALYZE service_requests", "VACUUM ANALYZE request_events", "VACUUM ANALYZE sla_stage_log", "CHECKPOINT"] {
            try await connection.executeScript(statement)
        }
    }
}

func code(_ number: Int) -> String { "SRG-B" + String(repeating: "0", count: max(0, 8 - String(number).count)) + String(number) }

func insert(count: Int, offset: Int, createdMinutesAgo: Int, nextInMinutes: Int, on connection: PostgresConnection) async throws {
    try await connection.query(
        """
        INSERT INTO service_requests (tracking_code, service_type_id, unit_id, citizen_name, citizen_phone, access_token_hash,
            source, routing_reason, response_due_at, resolution_due_at, next_sla_at, next_sla_clock, next_sla_stage,
            created_at, updated_at)
        SELECT 'SRG-B' || lpad((g + $2)::text, 8, '0'), st.id, st.default_unit_id, 'Warga', '+628123456789',
               sha256((g + $2)::text::bytea), 'web', 'bench', $3::timestamptz + interval '1 day', $3::timestamptz + interval '3 days',
               $3::timestamptz + make_interval(mins => $5::int), 'response', 1,
               $3::timestamptz - make_interval(mins => $4::int), $3::timestamptz - make_interval(mins => $4::int)
        FROM generate_series(1, $1::int) g, service_types st WHERE st.code = 'sktm'
        """, count, offset, now, createdMinutesAgo, nextInMinutes)
}

func timeScan() async throws -> (seconds: Double, stages: Int) {
    let store = SLAStore(pool: pool)
    let catalog = try await pool.withConnection { try await CatalogStore.load(on: $0) }
    let clock = ContinuousClock()
    let started = clock.now
    var stages = 0
    while true {
        let result = try await store.applyDueStages(now: now, limit: 250, catalog: catalog)
        stages += result.stagesApplied
        if result.requests == 0 { break }
    }
    let elapsed = clock.now - started
    return (Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18, stages)
}

try await pool.withConnection { connection in
    try await connection.executeScript(
        """
        INSERT INTO calendars (code, name, time_zone, day_minutes) VALUES ('bench-nonstop', 'Round the clock', 'Asia/Makassar', 1440)
        ON CONFLICT DO NOTHING;
        INSERT INTO calendar_intervals (calendar_id, weekday, start_minute, end_minute)
        SELECT c.id, d, 0, 1440 FROM calendars c, generate_series(1, 7) d WHERE c.code = 'bench-nonstop' ON CONFLICT DO NOTHING;
        UPDATE service_types SET calendar_id = (SELECT id FROM calendars WHERE code = 'bench-nonstop') WHERE code = 'sktm';
        """)
}
// Each backlog size: the same due set scanned `rounds` times (reloaded between rounds); the
// median is reported, so one round that meets autovacuum or another process does not decide.
let rounds = option("--rounds", 3)
var medians: [Double] = []
for backlog in [small, large] {
    try await loadBacklog(backlog)
    var times: [Double] = []
    for _ in 0..<rounds {
        try await reloadDue()
        let (seconds, stages) = try await timeScan()
        guard stages == due else {
            FileHandle.standardError.write(Data("expected \(due) stages, applied \(stages)\n".utf8))
            exit(1)
        }
        times.append(seconds)
    }
    let median = times.sorted()[times.count / 2]
    medians.append(median)
    print(String(format: "backlog=%d due=%d seconds=%.3f rounds=%@", backlog, due, median, times.map { String(format: "%.3f", $0) }.joined(separator: ",")))
}
print(String(format: "ratio=%.2f", medians[1] / medians[0]))
await pool.close()
