import Foundation
import Logging
import MetricsTestKit
import Testing

@testable import LoketWorker

@Suite("Worker loop")
struct WorkerLoopTests {
    struct Outage: Error {}

    /// A loop whose passes fail (the database is down) leaves its gauges at their last value; what
    /// tells a monitor is the time of the last pass that succeeded, which stops moving, and the
    /// failure count, which grows.
    @Test func eachPassRecordsItsSuccessOrItsFailure() async throws {
        let metrics = TestMetrics()
        let before = Date().timeIntervalSince1970
        var outcomes: [Result<Bool, any Error>] = [.success(true), .success(false), .failure(Outage()), .failure(Outage())]
        var pauses = 0
        var successTimes: [Double] = []
        func lastSuccess() -> Double? {
            (try? metrics.expectGauge("loket_worker_last_success_timestamp_seconds", [("loop", "test")]))?.lastValue
        }
        func failures() -> Int64 {
            (try? metrics.expectCounter("loket_worker_pass_failures_total", [("loop", "test")]))?.totalValue ?? 0
        }
        await runPasses(loop: "test", logger: Logger(label: "test"), failure: "pass failed", metrics: metrics, pause: { pauses += 1 }) {
            if let time = lastSuccess() { successTimes.append(time) }
            guard !outcomes.isEmpty else { throw CancellationError() }
            return try outcomes.removeFirst().get()
        }
        // Two passes succeeded (the first found more work and went again without a pause), then
        // two failed; the time of the last success stayed where the second success put it.
        #expect(pauses == 3)
        #expect(failures() == 2)
        let last = try #require(lastSuccess())
        #expect(last >= before && last <= Date().timeIntervalSince1970)
        #expect(successTimes.count == 4)
        #expect(successTimes.suffix(3).allSatisfy { $0 == last })
    }
}
