import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import LoketAPI
import LoketStore
import LoketTestSupport
import Postgres
import Prometheus
import Testing

/// A database of its own for each test, copied from the template that holds the migrated schema
/// and the sample catalog (DatabaseTemplate.seeded), and a router over it.
enum APITestEnvironment {
    static var repositoryRoot: URL { ScratchDatabase.repositoryRoot }

    /// A fresh copy of the seeded database for `body`, dropped afterwards.
    static func withDatabase<T>(_ body: (PostgresConfiguration) async throws -> T) async throws -> T {
        try await ScratchDatabase.with("loket_api", template: .seeded, body)
    }

    /// The router over a fresh database, with a pool, for `app.test(.router)`.
    static func withApp<T>(
        options: APIOptions = APIOptions(), poolSize: Int = 4, acquireTimeout: Duration = .seconds(5),
        clock: @escaping @Sendable () -> Date = { Date() },
        _ body: (TestApp) async throws -> T
    ) async throws -> T {
        try await withDatabase { configuration in
            let pool = ConnectionPool(configuration: configuration, maxConnections: poolSize, acquireTimeout: acquireTimeout)
            let services = LoketServices(pool: pool, options: options, clock: clock)
            let migrator = try Migrator(directory: repositoryRoot.appendingPathComponent("SQL/migrations"))
            let router = buildRouter(services: services, metrics: PrometheusCollectorRegistry(), migrator: migrator)
            let app = Application(router: router)
            do {
                let value = try await body(TestApp(app: app, pool: pool, services: services))
                await pool.close()
                return value
            } catch {
                await pool.close()
                throw error
            }
        }
    }
}

struct TestApp {
    let app: Application<RouterResponder<AppContext>>
    let pool: ConnectionPool
    let services: LoketServices

    func test<T>(_ body: @escaping @Sendable (any TestClientProtocol) async throws -> T) async throws -> T {
        try await app.test(.router, body)
    }
}

typealias SetupError = TestSetupError

/// JSON helpers for tests.
extension ByteBuffer {
    var json: [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(readableBytesView))) as? [String: Any] ?? [:]
    }

    var jsonArray: [[String: Any]] {
        (try? JSONSerialization.jsonObject(with: Data(readableBytesView))) as? [[String: Any]] ?? []
    }

    var text: String { String(buffer: self) }
}

extension ByteBuffer {
    static func json(_ object: Any) -> ByteBuffer {
        ByteBuffer(bytes: try! JSONSerialization.data(withJSONObject: object))
    }
}

/// A valid filing body for the sample catalog (kk-baru needs the `alasan` attribute).
func sampleFiling(nik: String = "3673014501900001", service: String = "kk-baru", extra: [String: Any] = [:]) -> [String: Any] {
    var body: [String: Any] = [
        "service_code": service,
        "citizen": ["name": "Siti Aminah", "nik": nik, "phone": "0812-3456-7890", "email": "siti@example.id"],
        "area_code": "36.73.01.1001",
        "address": "Jl. Ki Mas Jong No. 5",
        "description": "Permohonan KK baru setelah menikah",
        "attributes": ["alasan": "keluarga_baru"],
    ]
    for (key, value) in extra { body[key] = value }
    return body
}

let jsonHeaders: HTTPFields = [.contentType: "application/json"]
