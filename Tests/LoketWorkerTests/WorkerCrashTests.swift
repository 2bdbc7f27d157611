import Foundation
import LoketTestSupport
import Postgres
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

#if canImport(Glibc)
import Glibc
#endif

/// The real `loketd worker` process, killed with SIGKILL in the middle of its work and started
/// again: no stage is lost and none is doubled, because each batch commits whole or not at all.
@Suite("Worker process")
struct WorkerCrashTests {
    static var loketd: URL {
        URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent().appendingPathComponent("loketd")
    }

    static func startWorker(database: String, metricsPort: Int = 0) throws -> Process {
        let process = Process()
        process.executableURL = loketd
        process.arguments = [
            "worker", "--batch-size", "200", "--tick-seconds", "1", "--metrics-port", String(metricsPort), "--log-level", "warning",
        ]
        var environment = ProcessInfo.processInfo.environment
        environment["LOKET_DATABASE_URL"] = "dbname=\(database)"
        process.environment = environment
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        return process
    }

    static func counts(_ pool: ConnectionPool) async throws -> (logged: Int, events: Int) {
        let row = try await pool.query(
            "SELECT (SELECT count(*) FROM sla_stage_log) AS logged, (SELECT count(*) FROM request_events WHERE kind = 'sla_stage') AS events"
        ).single()
        return (try row.decode(Int.self, "logged"), try row.decode(Int.self, "events"))
    }

    @Test func aWorkerKilledMidBatchLosesAndDoublesNothing() async throws {
        guard FileManager.default.isExecutableFile(atPath: Self.loketd.path) else {
            Issue.record("loketd not built at \(Self.loketd.path): run swift build --build-tests")
            return
        }
        try await WorkerTestDatabase.withPool { pool, _ in
            try await SLAScannerTests.insertDue(10_000, on: pool, now: Date())
            let database = try await pool.query("SELECT current_database() AS d").single().decode(String.self, "d")

            let first = try Self.startWorker(database: database)
            let deadline = ContinuousClock.now + .seconds(60)
            var seen = (logged: 0, events: 0)
            while ContinuousClock.now < deadline {
                seen = try await Self.counts(pool)
                if seen.logged >= 400 { break }
                try await Task.sleep(for: .milliseconds(10))
            }
            kill(first.processIdentifier, SIGKILL)
            await first.exited()
            #expect(first.terminationReason == .uncaughtSignal)
            let afterKill = try await Self.counts(pool)
            #expect(afterKill.logged < 10_000, "the worker finished before it could be killed; the test proves nothing")
            // Every committed stage has its event: nothing half-written.
            #expect(afterKill.logged == afterKill.events)

            let metricsPort = Int.random(in: 20_000...40_000)
            let second = try Self.startWorker(database: database, metricsPort: metricsPort)
            var done = try await Self.counts(pool)
            let finish = ContinuousClock.now + .seconds(120)
            while done.logged < 10_000, ContinuousClock.now < finish {
                try await Task.sleep(for: .milliseconds(100))
                done = try await Self.counts(pool)
            }
            // The worker's own metrics port shows what it did.
            let (body, _) = try await URLSession.shared.data(from: URL(string: "http://127.0.0.1:\(metricsPort)/metrics")!)
            let metrics = String(decoding: body, as: UTF8.self)
            #expect(metrics.contains("loket_worker_sla_stages_total"))
            #expect(metrics.contains("loket_worker_sla_due_backlog"))
            kill(second.processIdentifier, SIGTERM)
            await second.exited()
            #expect(second.terminationStatus == 0, "graceful shutdown on SIGTERM")
            #expect(done.logged == 10_000)
            #expect(done.events == 10_000)
            let doubled = try await pool.query(
                """
                SELECT count(*) AS n FROM (SELECT request_id FROM request_events WHERE kind = 'sla_stage'
                                           GROUP BY request_id HAVING count(*) <> 1) d
                """
            ).single()
            #expect(try doubled.decode(Int.self, "n") == 0)
        }
    }

    /// SIGTERM while a webhook delivery is in flight: the worker lets it finish and records it
    /// before it exits. (The pool used to close first, so the outcome was lost and the message
    /// sent again after its claim lapsed.)
    @Test func aGracefulShutdownRecordsTheDeliveryInHand() async throws {
        guard FileManager.default.isExecutableFile(atPath: Self.loketd.path) else {
            Issue.record("loketd not built at \(Self.loketd.path): run swift build --build-tests")
            return
        }
        try await OutboxReceiver.run(delay: .seconds(2)) { receiver in
            try await WorkerTestDatabase.withPool { pool, _ in
                let database = try await pool.query("SELECT current_database() AS d").single().decode(String.self, "d")
                let request = try await OutboxFixtures.insertRequest(pool)
                let id = try await OutboxFixtures.insertMessage(pool, requestID: request, topic: "request.resolved", at: Date())
                let process = Process()
                process.executableURL = Self.loketd
                process.arguments = [
                    // A timeout no loaded machine reaches: the delivery must succeed, only late.
                    "worker", "--metrics-port", "0", "--tick-seconds", "1", "--webhook-url", receiver.url, "--webhook-timeout", "120",
                    "--log-level", "warning",
                ]
                var environment = ProcessInfo.processInfo.environment
                environment["LOKET_DATABASE_URL"] = "dbname=\(database)"
                environment["LOKET_WEBHOOK_SECRET"] = "rahasia-uji-penghentian"
                process.environment = environment
                process.standardOutput = FileHandle.nullDevice
                try process.run()
                let deadline = ContinuousClock.now + .seconds(60)
                while receiver.deliveries.isEmpty, ContinuousClock.now < deadline, process.isRunning {
                    try await Task.sleep(for: .milliseconds(20))
                }
                #expect(receiver.deliveries.count == 1, "the delivery reached the receiver")
                kill(process.processIdentifier, SIGTERM)
                await process.exited()
                #expect(process.terminationStatus == 0, "graceful shutdown on SIGTERM")
                let row = try await pool.query(
                    "SELECT delivered_at IS NOT NULL AS delivered, attempts FROM notification_outbox WHERE id = $1", id).single()
                #expect(try row.decode(Bool.self, "delivered"), "the delivery in hand was recorded before the exit")
                #expect(receiver.deliveries.count == 1)
            }
        }
    }

    /// A log collector that goes away (the read end of standard error closed) must not take the
    /// server or the worker with it: their next log line fails with EPIPE and is dropped.
    /// A service of the worker that fails (here the metrics port, already taken) stops the whole
    /// worker with an error that says so. The loops had kept going on the closed pool, failing as
    /// fast as they could (gigabytes of log a minute), deaf to SIGTERM.
    @Test func aFailingServiceStopsTheWorker() async throws {
        guard FileManager.default.isExecutableFile(atPath: Self.loketd.path) else {
            Issue.record("loketd not built at \(Self.loketd.path): run swift build --build-tests")
            return
        }
        let taken = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(taken) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(taken, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        try #require(bound == 0 && listen(taken, 1) == 0)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(taken, $0, &length) }
        }
        let port = Int(UInt16(bigEndian: address.sin_port))
        try await WorkerTestDatabase.withPool { pool, _ in
            let database = try await pool.query("SELECT current_database() AS d").single().decode(String.self, "d")
            let process = Process()
            process.executableURL = Self.loketd
            process.arguments = ["worker", "--metrics-port", String(port), "--tick-seconds", "1"]
            var environment = ProcessInfo.processInfo.environment
            environment["LOKET_DATABASE_URL"] = "dbname=\(database)"
            process.environment = environment
            let errors = Pipe()
            process.standardOutput = errors
            process.standardError = errors
            try process.run()
            let deadline = ContinuousClock.now + .seconds(30)
            while process.isRunning, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(100)) }
            let stillRunning = process.isRunning
            if stillRunning {
                kill(process.processIdentifier, SIGKILL)
                await process.exited()
            }
            let log = String(decoding: errors.fileHandleForReading.readDataToEndOfFile().prefix(1 << 20), as: UTF8.self)
            #expect(!stillRunning, "the worker went on after its metrics server failed")
            #expect(process.terminationStatus != 0)
            #expect(log.contains("a service failed"), "\(log.prefix(2000))")
        }
    }

    @Test func serverAndWorkerOutliveAClosedStandardError() async throws {
        guard FileManager.default.isExecutableFile(atPath: Self.loketd.path) else {
            Issue.record("loketd not built at \(Self.loketd.path): run swift build --build-tests")
            return
        }
        let sqlDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("SQL").path
        try await WorkerTestDatabase.withPool { pool, _ in
            let database = try await pool.query("SELECT current_database() AS d").single().decode(String.self, "d")
            for role in ["serve", "worker"] {
                let port = Int.random(in: 20_000...40_000)
                let process = Process()
                process.executableURL = Self.loketd
                process.arguments = role == "serve"
                    ? ["serve", "--port", String(port), "--sql-dir", sqlDirectory, "--log-level", "trace"]
                    : ["worker", "--metrics-port", String(port), "--tick-seconds", "1", "--log-level", "debug"]
                var environment = ProcessInfo.processInfo.environment
                environment["LOKET_DATABASE_URL"] = "dbname=\(database)"
                process.environment = environment
                process.standardOutput = FileHandle.nullDevice
                let pipe = Pipe()
                process.standardError = pipe
                try process.run()
                try pipe.fileHandleForReading.close()
                // Work that logs, after nobody reads the log any more.
                if role == "worker" { try await SLAScannerTests.insertDue(50, on: pool, now: Date()) }
                let url = URL(string: "http://127.0.0.1:\(port)/\(role == "serve" ? "healthz" : "metrics")")!
                var answered = false
                let deadline = ContinuousClock.now + .seconds(20)
                while ContinuousClock.now < deadline, process.isRunning {
                    if let (_, response) = try? await URLSession.shared.data(from: url), (response as? HTTPURLResponse)?.statusCode == 200 {
                        answered = true
                        break
                    }
                    try await Task.sleep(for: .milliseconds(100))
                }
                try await Task.sleep(for: .seconds(2))
                #expect(answered, "loketd \(role) answered")
                #expect(process.isRunning, "loketd \(role) still runs (exit reason \(process.isRunning ? "-" : "\(process.terminationReason.rawValue)/\(process.terminationStatus)"))")
                if process.isRunning {
                    kill(process.processIdentifier, SIGTERM)
                    await process.exited()
                }
            }
        }
    }
}
