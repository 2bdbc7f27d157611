import Foundation
import Hummingbird
import LoketStore
import NIOCore
import Postgres
import Prometheus
import Synchronization

/// /healthz (the process answers), /readyz (the database answers, the schema is current and the
/// catalog loads),
/// /metrics (Prometheus text), /openapi.yaml.
struct OperationsController {
    let services: LoketServices
    let metrics: PrometheusCollectorRegistry
    let migrator: Migrator?
    /// Readiness is cached briefly so a probe storm does not become a database storm.
    private let readiness = ReadinessCache()

    init(services: LoketServices, metrics: PrometheusCollectorRegistry, migrator: Migrator?) {
        self.services = services
        self.metrics = metrics
        self.migrator = migrator
    }

    func register(on router: some RouterMethods<AppContext>) {
        router.get("healthz") { _, _ in Self.json(.ok, #"{"status":"ok"}"#) }
        router.get("readyz", use: ready)
        router.get("metrics", use: prometheus)
        router.get("openapi.yaml", use: openAPI)
    }

    static func json(_ status: HTTPResponse.Status, _ text: String) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json; charset=utf-8"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    @Sendable func ready(request: Request, context: AppContext) async throws -> Response {
        let now = ContinuousClock.now
        if let cached = readiness.state.withLock({ $0 }), now - cached.at < .seconds(1) {
            return answer(cached.ready, cached.reason)
        }
        var ready = true
        var reason = "ok"
        do {
            try await services.pool.withConnection { connection in
                try await connection.query("SELECT 1")
                if let migrator, try await !migrator.isSatisfied(on: connection) {
                    ready = false
                    reason = "migrations pending"
                }
            }
        } catch {
            ready = false
            reason = "database unavailable"
        }
        // Every request of every service needs the catalog: one it cannot load (a row written by
        // hand past the checks) fails them all, so this server is not ready either.
        if ready {
            do {
                _ = try await services.catalog.snapshot()
            } catch let error as CatalogError {
                ready = false
                reason = "catalog cannot load"
                context.logger.error("the catalog cannot load", metadata: ["error": "\(error)"])
            } catch {
                ready = false
                reason = "database unavailable"
            }
        }
        readiness.state.withLock { $0 = (ready, reason, now) }
        return answer(ready, reason)
    }

    private func answer(_ ready: Bool, _ reason: String) -> Response {
        var response = Self.json(ready ? .ok : .serviceUnavailable, #"{"status":"\#(ready ? "ready" : "unready")","reason":"\#(reason)"}"#)
        if !ready { response.headers[.retryAfter] = "2" }
        return response
    }

    @Sendable func prometheus(request: Request, context: AppContext) async throws -> Response {
        // Pool counters are read at scrape time, straight into this registry.
        let pool = services.pool.metrics
        let gauges: [(String, Int)] = [
            ("loket_db_pool_connections_open", pool.open),
            ("loket_db_pool_connections_in_use", pool.inUse),
            ("loket_db_pool_waiting", pool.waiting),
            ("loket_db_pool_connections_created", pool.created),
            ("loket_db_pool_connect_failures", pool.failedConnects),
            ("loket_db_pool_connections_replaced", pool.replaced),
            ("loket_db_pool_acquire_timeouts", pool.acquireTimeouts),
        ]
        for (name, value) in gauges {
            metrics.makeGauge(name: name).set(Double(value))
        }
        var buffer: [UInt8] = []
        metrics.emit(into: &buffer)
        var headers = HTTPFields()
        headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: buffer)))
    }

    @Sendable func openAPI(request: Request, context: AppContext) async throws -> Response {
        guard let url = Bundle.module.url(forResource: "openapi", withExtension: "yaml"),
              let data = try? Data(contentsOf: url)
        else { throw APIError.notFound }
        var headers = HTTPFields()
        headers[.contentType] = "application/yaml; charset=utf-8"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

final class ReadinessCache: Sendable {
    let state = Mutex<(ready: Bool, reason: String, at: ContinuousClock.Instant)?>(nil)
}
