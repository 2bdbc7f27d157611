import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import LoketAPI
import LoketStore
import Postgres
import Prometheus
import Testing

/// A database of its own for each test, copied from a template that holds the migrated schema and
/// the sample catalog (built once per schema version), and a router over it.
enum APITestEnvironment {
    static var repositoryRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    static let template = TemplateDatabase()

    static func adminConnection() async throws -> PostgresConnection {
        guard ProcessInfo.processInfo.environment["PGHOST"] != nil else {
            throw SetupError("PGHOST is not set: run the tests with deploy/test.sh, which starts a private PostgreSQL cluster")
        }
        return try await PostgresConnection.connect(PostgresConfiguration(conninfo: "dbname=postgres", applicationName: "loket-tests"))
    }

    /// A fresh copy of the seeded database for `body`, dropped afterwards.
    static func withDatabase<T>(_ body: (PostgresConfiguration) async throws -> T) async throws -> T {
        let templateName = try await template.name()
        let name = "loket_api_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        let admin = try await adminConnection()
        let quotedTemplate = try await admin.escapeIdentifier(templateName)
        let quoted = try await admin.escapeIdentifier(name)
        try await admin.executeScript("CREATE DATABASE \(quoted) TEMPLATE \(quotedTemplate)")
        let configuration = PostgresConfiguration(conninfo: "dbname=\(name)", applicationName: "loket-tests")
        do {
            let value = try await body(configuration)
            try await admin.executeScript("DROP DATABASE \(quoted) WITH (FORCE)")
            await admin.close()
            return value
        } catch {
            try? await admin.executeScript("DROP DATABASE \(quoted) WITH (FORCE)")
            await admin.close()
            throw error
        }
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

/// Creates the template database once per schema and seed version.
actor TemplateDatabase {
    private var created: String?

    func name() async throws -> String {
        if let created { return created }
        let root = APITestEnvironment.repositoryRoot
        var hasher = SHA256()
        for folder in ["SQL/migrations", "SQL/seed"] {
            let directory = root.appendingPathComponent(folder)
            for file in try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted() where file.hasSuffix(".sql") {
                hasher.update(data: try Data(contentsOf: directory.appendingPathComponent(file)))
            }
        }
        let digest = hasher.finalize().map { String(format: "%02x", $0) }.joined().prefix(16)
        let name = "loket_template_\(digest)"
        let admin = try await APITestEnvironment.adminConnection()
        let exists = try await admin.query("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if exists.isEmpty {
            let building = name + "_building_\(UInt32.random(in: 0...UInt32.max))"
            let quoted = try await admin.escapeIdentifier(building)
            try await admin.executeScript("CREATE DATABASE \(quoted)")
            let connection = try await PostgresConnection.connect(PostgresConfiguration(conninfo: "dbname=\(building)"))
            try await Migrator(directory: root.appendingPathComponent("SQL/migrations")).apply(on: connection)
            let seed = root.appendingPathComponent("SQL/seed")
            for file in try FileManager.default.contentsOfDirectory(atPath: seed.path).sorted() where file.hasSuffix(".sql") {
                let sql = try String(contentsOf: seed.appendingPathComponent(file), encoding: .utf8)
                try await connection.transaction { try await $0.executeScript(sql) }
            }
            await connection.close()
            // Renaming makes the finished template appear atomically to other test processes.
            do {
                try await admin.executeScript("ALTER DATABASE \(quoted) RENAME TO \(try await admin.escapeIdentifier(name))")
            } catch let error as PostgresError where error.sqlState == SQLState("42P04") || error.sqlState == SQLState("23505") {
                try await admin.executeScript("DROP DATABASE \(quoted)")
            }
        }
        await admin.close()
        created = name
        return name
    }
}

struct SetupError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

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
