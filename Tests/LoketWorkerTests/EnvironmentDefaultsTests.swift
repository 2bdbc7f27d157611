import Foundation
import LoketTestSupport
import Testing

/// A LOKET_* setting that does not parse stops `loketd` before it starts, naming the variable,
/// instead of running it with the default (a typo in a unit file or a ConfigMap).
@Suite("Environment settings")
struct EnvironmentDefaultsTests {
    /// Runs `loketd` with `arguments` and `environment` added; returns its status and standard error.
    static func run(_ arguments: [String], _ environment: [String: String]) async throws -> (status: Int32, stderr: String) {
        let output = try await ChildProcess.run(
            WorkerCrashTests.loketd, arguments, environment: ProcessInfo.processInfo.environment.merging(environment) { $1 })
        return (output.status, output.stderr)
    }

    @Test(arguments: [
        (["serve"], "LOKET_HTTP_THREADS", "abc", "LOKET_HTTP_THREADS must be a whole number, not \"abc\""),
        (["serve"], "LOKET_PORT", "80 80", "LOKET_PORT must be a whole number, not \"80 80\""),
        (["serve"], "LOKET_TRUST_FORWARDED_FOR", "yes", "LOKET_TRUST_FORWARDED_FOR must be 1, 0, true or false, not \"yes\""),
        (["worker"], "LOKET_WORKER_TICK_SECONDS", "5s", "LOKET_WORKER_TICK_SECONDS must be a whole number, not \"5s\""),
        (["worker"], "LOKET_WEBHOOK_MAX_ATTEMPTS", "eight", "LOKET_WEBHOOK_MAX_ATTEMPTS must be a whole number, not \"eight\""),
        (["serve"], "LOKET_PQ_LANES", "two", "LOKET_PQ_LANES must be a whole number, not \"two\""),
        (["worker"], "LOKET_PQ_LANES", "0", "--pq-lanes must be 1…64"),
        // Secrets: never the examples' placeholder, and a session key long enough to be one.
        (["serve"], "LOKET_SESSION_SECRET", "CHANGE-ME-example-only", "LOKET_SESSION_SECRET still holds the examples' placeholder"),
        (["serve"], "LOKET_SESSION_SECRET", "rahasia", "LOKET_SESSION_SECRET must be at least 32 characters"),
        (["worker", "--webhook-url", "https://notify.example.id/hook"], "LOKET_WEBHOOK_SECRET", "CHANGE-ME-example-only",
         "LOKET_WEBHOOK_SECRET still holds the examples' placeholder"),
    ])
    func aSettingThatDoesNotParseIsRefused(arguments: [String], name: String, value: String, message: String) async throws {
        // No database is reachable here: the refusal must come before any connection is tried.
        let (status, stderr) = try await Self.run(arguments, [name: value, "LOKET_DATABASE_URL": "host=/nonexistent dbname=none"])
        #expect(status == 64, "\(stderr)")
        #expect(stderr.contains(message), "\(stderr)")
    }

    /// Empty means unset, and a valid value is taken: `serve` gets past validation to the
    /// database (here unreachable, so it fails there, not on its settings).
    @Test func emptyOrValidSettingsPassValidation() async throws {
        let (status, stderr) = try await Self.run(
            ["serve", "--port", "0"],
            ["LOKET_HTTP_THREADS": "", "LOKET_POOL_SIZE": " 4 ", "LOKET_TRUST_FORWARDED_FOR": "true",
             "LOKET_DATABASE_URL": "host=/nonexistent dbname=none"])
        #expect(status != 0)
        #expect(stderr.contains("--port must be 1…65535"), "\(stderr)")
        #expect(!stderr.contains("must be a whole number") && !stderr.contains("must be 1, 0, true or false"), "\(stderr)")
        // A command refuses only the variables its own options read: serve's port is not the worker's.
        let worker = try await Self.run(
            ["worker", "--tick-seconds", "0"], ["LOKET_PORT": "abc", "LOKET_DATABASE_URL": "host=/nonexistent dbname=none"])
        #expect(worker.status == 64)
        #expect(worker.stderr.contains("--tick-seconds must be 1…3600"), "\(worker.stderr)")
        #expect(!worker.stderr.contains("LOKET_PORT"), "\(worker.stderr)")
    }
}
