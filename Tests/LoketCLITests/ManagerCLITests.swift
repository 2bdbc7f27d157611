import Foundation
import Testing

/// The managers' commands (`loket sla …`, `loket workload`) of the built binary against a real
/// server and database.
@Suite("loket CLI: manager commands")
struct ManagerCLITests {
    @Test func breachesListAnOverdueRequestAndAtRiskOneAboutToBe() async throws {
        try await CLITestEnvironment.withServer { server in
            let late = try await server.file()
            let fresh = try await server.file(nik: "3673015208850002")
            try await Self.makeOverdue(server, late.code)
            let manager = try await Self.manager(server, for: late.code)
            let cli = try CLI(extra: ["LOKET_URL": server.url, "LOKET_TOKEN": try await server.token(for: manager)])
            defer { cli.remove() }

            let breaches = try await cli.run(["sla", "breaches"])
            #expect(breaches.status == 0, "\(breaches.stderr)")
            let lines = breaches.stdout.split(separator: "\n")
            #expect(lines.first?.hasPrefix("CODE") == true)
            let row = try #require(lines.first { $0.hasPrefix(late.code) }, "\(breaches.stdout)")
            #expect(row.contains("kk-baru") && row.contains("response") && row.contains("queued"))
            // Thirty calendar days late is many working days: OVERDUE shows days.
            #expect(row.contains("d"))
            #expect(!lines.contains { $0.hasPrefix(fresh.code) }, "a request before its deadline is no breach")
            #expect(!breaches.stdout.hasANSIEscapes)

            let json = try await cli.run(["sla", "breaches", "--json", "--sort", "due", "--limit", "10"])
            #expect(json.status == 0, "\(json.stderr)")
            let items = try #require(json.json["requests"] as? [[String: Any]], "\(json.stdout)")
            #expect(items.map { $0["tracking_code"] as? String } == [late.code])
            #expect((items.first?["overdue_working_minutes"] as? Int ?? 0) > 450)

            let atRisk = try await cli.run(["sla", "at-risk", "--within", "10000"])
            #expect(atRisk.status == 0, "\(atRisk.stderr)")
            #expect(atRisk.stdout.split(separator: "\n").first?.contains("LEFT") == true)
            #expect(atRisk.stdout.contains(fresh.code), "\(atRisk.stdout)")
            #expect(!atRisk.stdout.contains(late.code))

            let workload = try await cli.run(["workload"])
            #expect(workload.status == 0, "\(workload.stderr)")
            let unit = try await Self.unitCode(server, of: late.code)
            let unitRow = try #require(workload.stdout.split(separator: "\n").first { $0.hasPrefix(unit + " ") }, "\(workload.stdout)")
            #expect(unitRow.split(separator: " ").dropFirst().first == "2", "two queued: \(unitRow)")
            #expect(workload.stdout.contains("Total"))
            let workloadJSON = try await cli.run(["workload", "--json", "--unit", unit])
            let units = try #require(workloadJSON.json["units"] as? [[String: Any]], "\(workloadJSON.stdout)")
            #expect(units.first { ($0["unit"] as? [String: Any])?["code"] as? String == unit }?["queued"] as? Int == 2)
        }
    }

    @Test func reportAsTableJSONAndCSVCountsTheClosedRequests() async throws {
        try await CLITestEnvironment.withServer { server in
            // Fixture: one request resolved, one rejected (both by the same officer), one still open.
            let resolved = try await server.file()
            let rejected = try await server.file(nik: "3673015208850002")
            _ = try await server.file(nik: "3673010101800003")
            let officer = try #require(try await server.officers(for: resolved.code).first { $0.role == "staff" }?.officer)
            let manager = try await Self.manager(server, for: resolved.code)
            let unit = try await Self.unitCode(server, of: resolved.code)
            let work = try CLI(extra: ["LOKET_URL": server.url, "LOKET_TOKEN": try await server.token(for: officer)])
            defer { work.remove() }
            for arguments in [
                ["claim", resolved.code], ["resolve", resolved.code, "KK dapat diambil di loket 3."],
                ["claim", rejected.code], ["reject", rejected.code, "Surat pindah belum diterbitkan daerah asal."],
            ] {
                let result = try await work.run(arguments)
                #expect(result.status == 0, "\(arguments): \(result.stderr)")
            }

            let cli = try CLI(extra: ["LOKET_URL": server.url, "LOKET_TOKEN": try await server.token(for: manager)])
            defer { cli.remove() }
            // The closing day is Jakarta's; a day either side keeps the test clear of midnight.
            let (from, to) = Self.period()
            let period = ["--from", from, "--to", to]

            let json = try await cli.run(["sla", "report", "--by", "unit", "--json", "--lang", "en"] + period)
            #expect(json.status == 0, "\(json.stderr)")
            let rows = try #require(json.json["rows"] as? [[String: Any]], "\(json.stdout)")
            let row = try #require(rows.first { $0["key"] as? String == unit }, "\(json.stdout)")
            #expect(row["closed"] as? Int == 2)
            #expect(row["completed"] as? Int == 1)
            #expect(row["rejected"] as? Int == 1)
            #expect(row["backlog"] as? Int == 1)
            #expect(row["response_on_time_percent"] as? Double == 100)
            #expect((json.json["total"] as? [String: Any])?["closed"] as? Int == 2)
            #expect(json.json["from"] as? String == from && json.json["to"] as? String == to)

            let table = try await cli.run(["sla", "report", "--by", "unit"] + period)
            #expect(table.status == 0, "\(table.stderr)")
            let lines = table.stdout.split(separator: "\n")
            let header = try #require(lines.first { $0.hasPrefix("UNIT") }, "\(table.stdout)")
            #expect(header.contains("CLOSED") && header.contains("MEDIAN H") && header.contains("BACKLOG") && header.contains("GRADE"))
            let unitLine = try #require(lines.first { $0.hasPrefix(unit + " ") }, "\(table.stdout)")
            #expect(unitLine.split(separator: " ").dropFirst().first == "2", "\(unitLine)")
            #expect(unitLine.contains("100.0%"))
            #expect(lines.contains { $0.hasPrefix("Total ") })
            // Numbers are right-aligned under their headers.
            let closedEnd = try #require(header.range(of: "CLOSED")).upperBound.utf16Offset(in: header)
            #expect(unitLine.prefix(closedEnd).hasSuffix("2"))

            let byOfficer = try await cli.run(["sla", "report", "--by", "officer"] + period)
            #expect(byOfficer.status == 0, "\(byOfficer.stderr)")
            let officerLine = try #require(byOfficer.stdout.split(separator: "\n").first { $0.hasPrefix(officer.name) }, "\(byOfficer.stdout)")
            #expect(officerLine.dropFirst(officer.name.count).split(separator: " ").first == "2")

            let csv = try await cli.run(["sla", "report", "--by", "service", "--csv"] + period)
            #expect(csv.status == 0, "\(csv.stderr)")
            let records = csv.stdout.split(separator: "\r\n")
            #expect(records.first?.hasPrefix("key,name,closed,completed,rejected,cancelled,response_on_time_percent") == true, "\(csv.stdout)")
            #expect(records.contains { $0.hasPrefix("kk-baru,") && $0.contains(",2,1,1,0,") }, "\(csv.stdout)")
            #expect(records.last?.hasPrefix("total,") == true)
            #expect(!csv.stdout.hasANSIEscapes)

            // --csv and --json exclude each other; a period that ends before it starts is a usage error.
            #expect(try await cli.run(["sla", "report", "--by", "unit", "--csv", "--json"] + period).status == 1)
            #expect(try await cli.run(["sla", "report", "--by", "unit", "--from", to, "--to", from]).status == 1)
            #expect(try await cli.run(["sla", "report", "--by", "unit", "--from", "2026-02-30", "--to", to]).status == 1)
        }
    }

    @Test func onlyManagersAndAdminsGetTheNumbers() async throws {
        try await CLITestEnvironment.withServer { server in
            let filed = try await server.file()
            let staff = try #require(try await server.officers(for: filed.code).first { $0.role == "staff" }?.officer)
            let cli = try CLI(extra: ["LOKET_URL": server.url, "LOKET_TOKEN": try await server.token(for: staff), "LOKET_LANG": "en"])
            defer { cli.remove() }
            for arguments in [["sla", "breaches"], ["sla", "at-risk"], ["workload"], ["sla", "report", "--by", "unit", "--from", "2026-01-01", "--to", "2026-12-31"]] {
                let refused = try await cli.run(arguments)
                #expect(refused.status == 2, "\(arguments): \(refused.stderr)")
                // The server's role_required message, and what to do about it.
                #expect(refused.stderr.contains("needs the manager role"), "\(refused.stderr)")
                #expect(refused.stderr.contains("managers and admins") && refused.stderr.contains("loket whoami"))
                #expect(refused.stdout.isEmpty)
            }

            // A manager asking about a unit outside their subtree is refused too.
            let manager = try await Self.manager(server, for: filed.code)
            let outside = try await cli.run(["sla", "breaches", "--unit", "DPMPTSP"], environment: ["LOKET_TOKEN": try await server.token(for: manager)])
            #expect(outside.status == 2, "\(outside.stderr)")
            #expect(outside.stderr.contains("--unit"))
        }
    }

    @Test func watchingThroughAPipePrintsOneSnapshotPerIntervalUntilInterrupted() async throws {
        try await CLITestEnvironment.withServer { server in
            let late = try await server.file()
            try await Self.makeOverdue(server, late.code)
            let manager = try await Self.manager(server, for: late.code)
            let cli = try CLI(extra: ["LOKET_URL": server.url, "LOKET_TOKEN": try await server.token(for: manager)])
            defer { cli.remove() }

            let watch = try RunningProcess(CLI.binary, ["sla", "breaches", "--watch", "--interval", "1"], environment: cli.environment)
            let snapshots = await watch.waitForOutput(timeout: .seconds(30)) { $0.components(separatedBy: "SLA breaches of").count - 1 >= 2 }
            #expect(snapshots, "no two snapshots: \(watch.stdout) \(watch.stderr)")
            watch.interrupt()
            let exited = await watch.waitForExit(timeout: .seconds(15))
            if !exited { watch.kill() }
            #expect(exited, "still running after SIGINT")
            #expect(watch.exitedNormally && watch.status == 0, "status \(watch.status): \(watch.stderr)")
            let output = watch.stdout
            // Each snapshot: the title with the time, the counts, a blank line, the table.
            #expect(output.contains("\n\nSLA breaches of your units at "), "\(output)")
            #expect(output.contains("\n1 overdue: 1 response, 0 resolution; 0 escalated; most overdue "), "\(output)")
            #expect(output.components(separatedBy: "\n" + late.code).count - 1 >= 2)
            #expect(!output.hasANSIEscapes)
        }
    }

    /// At a terminal (`script` gives one), the view redraws in place with cursor movement and
    /// still ends with exit 0 on SIGINT.
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/script")
        && FileManager.default.isExecutableFile(atPath: "/usr/bin/timeout")))
    func watchingAtATerminalRedrawsInPlace() async throws {
        try await CLITestEnvironment.withServer { server in
            let late = try await server.file()
            try await Self.makeOverdue(server, late.code)
            let manager = try await Self.manager(server, for: late.code)
            let cli = try CLI(extra: ["LOKET_URL": server.url, "LOKET_TOKEN": try await server.token(for: manager), "TERM": "xterm"])
            defer { cli.remove() }
            // Long enough that the CLI has installed its SIGINT handler even on a loaded machine.
            let command = "/usr/bin/timeout --preserve-status -s INT 8 \(CLI.binary.path) sla breaches --watch --interval 1"
            let result = try await CLI.execute(
                URL(fileURLWithPath: "/usr/bin/script"), ["-qec", command, "/dev/null"], environment: cli.environment, stdin: nil)
            // Exit 0 on SIGINT is proven by the piped test; through `script` on a loaded machine the
            // interrupt can land before the handler is installed, so only the drawing is checked here.
            #expect(result.status == 0 || result.status == 130, "\(result.stdout)")
            #expect(result.stdout.contains("\u{1B}[H\u{1B}[2J"), "the first frame clears the screen")
            #expect(result.stdout.components(separatedBy: "\u{1B}[H").count - 1 >= 2, "redrawn at least once: \(result.stdout)")
            #expect(result.stdout.contains(late.code))
            #expect(result.stdout.contains("Ctrl-C quits"))
        }
    }

    // MARK: Fixtures

    /// A manager above the request's unit (the sample data has one for every agency).
    static func manager(_ server: TestServer, for code: String) async throws -> TestServer.Officer {
        try #require(try await server.officers(for: code).first { $0.role == "manager" }?.officer)
    }

    /// Moves a queued request thirty days back: past its response deadline by many working days,
    /// whatever the weekday the test runs on.
    static func makeOverdue(_ server: TestServer, _ code: String) async throws {
        _ = try await server.pool.query(
            """
            UPDATE service_requests SET created_at = now() - interval '31 days', updated_at = now() - interval '31 days',
                response_due_at = now() - interval '30 days', resolution_due_at = now() - interval '27 days'
            WHERE tracking_code = $1
            """, code)
    }

    static func unitCode(_ server: TestServer, of code: String) async throws -> String {
        try await server.pool.query(
            "SELECT u.code FROM units u JOIN service_requests r ON r.unit_id = u.id WHERE r.tracking_code = $1", code
        ).single().decode(String.self, "code")
    }

    /// Yesterday to tomorrow in Jakarta, as YYYY-MM-DD.
    static func period() -> (String, String) {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "Asia/Jakarta")
        formatter.dateFormat = "yyyy-MM-dd"
        return (formatter.string(from: Date().addingTimeInterval(-86_400)), formatter.string(from: Date().addingTimeInterval(86_400)))
    }
}

/// A `loket` process that keeps running (a watch): its output is collected as it comes, so the
/// test can wait for something to appear, then signal it and wait for the exit.
final class RunningProcess: @unchecked Sendable {
    private let process = Process()
    private let lock = NSLock()
    private var output = Data()
    private var errors = Data()

    init(_ executable: URL, _ arguments: [String], environment: [String: String]) throws {
        guard FileManager.default.isExecutableFile(atPath: executable.path) else {
            throw SetupError("no loket binary at \(executable.path): build it with `swift build --build-tests`")
        }
        process.executableURL = executable
        process.arguments = arguments
        process.environment = environment
        let stdout = Pipe(), stderr = Pipe()
        process.standardOutput = stdout
        process.standardError = stderr
        process.standardInput = FileHandle.nullDevice
        // Handlers run on Foundation's own threads, never on Swift's cooperative pool.
        stdout.fileHandleForReading.readabilityHandler = { [weak self] handle in
            let data = handle.availableData
            if data.isEmpty { handle.readabilityHandler = nil } else { self?.append(data, error: false) }
        }
        stderr.fileHandleForReading.readabilityHandler = { [weak self] handle in
            let data = handle.availableData
            if data.isEmpty { handle.readabilityHandler = nil } else { self?.append(data, error: true) }
        }
        try process.run()
    }

    private func append(_ data: Data, error: Bool) {
        lock.lock()
        defer { lock.unlock() }
        if error { errors.append(data) } else { output.append(data) }
    }

    var stdout: String {
        lock.lock()
        defer { lock.unlock() }
        return String(decoding: output, as: UTF8.self)
    }

    var stderr: String {
        lock.lock()
        defer { lock.unlock() }
        return String(decoding: errors, as: UTF8.self)
    }

    var status: Int32 { process.terminationStatus }
    var exitedNormally: Bool { process.terminationReason == .exit }

    func interrupt() { process.interrupt() }
    func kill() { process.terminate() }

    /// Polls until `condition` holds for the output so far, or the time is up.
    func waitForOutput(timeout: Duration, _ condition: (String) -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if condition(stdout) { return true }
            if !process.isRunning { return condition(stdout) }
            try? await Task.sleep(for: .milliseconds(100))
        }
        return condition(stdout)
    }

    func waitForExit(timeout: Duration) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while process.isRunning, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(50))
        }
        if process.isRunning { return false }
        // The pipes may still hold the last bytes the process wrote before exiting.
        try? await Task.sleep(for: .milliseconds(200))
        return true
    }
}
