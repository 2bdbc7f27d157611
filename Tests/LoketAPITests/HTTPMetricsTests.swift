import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Metrics
import MetricsTestKit
import Testing

/// The process's metrics backend for these tests: swift-metrics takes one per process, and the
/// server's HTTP counters (Hummingbird's MetricsMiddleware) go to it.
enum ProcessMetrics {
    static let shared: TestMetrics = {
        let metrics = TestMetrics()
        MetricsSystem.bootstrap(metrics)
        return metrics
    }()
}

@Suite("HTTP metrics")
struct HTTPMetricsTests {
    /// Each answer is counted with the status the client got. Inside the middleware that turns
    /// errors into answers, the counters saw a refused request as a thrown error and counted it as
    /// a 500: every 401, 404 and 422 raised the server-error rate an alert watches.
    @Test func answersAreCountedWithTheStatusTheClientGot() async throws {
        let metrics = ProcessMetrics.shared
        try await APITestEnvironment.withApp { app in
            try await app.test { client in
                try await client.execute(uri: "/api/v1/requests/SRG-0000-0000-0000", method: .get) { response in
                    #expect(response.status == .unauthorized || response.status == .notFound, "\(response.body.text)")
                }
                try await client.execute(uri: "/api/v1/staff/me", method: .get) { response in
                    #expect(response.status == .unauthorized)
                }
                try await client.execute(uri: "/api/v1/requests", method: .post, headers: jsonHeaders, body: .json(["service_code": "kk-baru"])) { response in
                    #expect(response.status == .unprocessableContent)
                }
            }
        }
        func statuses(_ route: String, _ method: String) -> Set<String> {
            Set(metrics.counters(label: "hb.requests").filter { counter in
                counter.dimensions.contains { $0 == ("http.route", route) } && counter.dimensions.contains { $0 == ("http.request.method", method) }
            }.compactMap { counter in counter.dimensions.first { $0.0 == "http.response.status_code" }?.1 })
        }
        #expect(statuses("/api/v1/staff/me", "GET").contains("401"), "\(statuses("/api/v1/staff/me", "GET"))")
        #expect(statuses("/api/v1/requests", "POST").contains("422"), "\(statuses("/api/v1/requests", "POST"))")
    }
}
