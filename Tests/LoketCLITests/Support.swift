import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Hummingbird
import Logging
import LoketAPI
import LoketStore
import LoketTestSupport
import Postgres
import Prometheus
import ServiceLifecycle
import Testing

/// A real Loket server for each test: its own copy of the seeded database, served over HTTP on a
/// free loopback port by the same router `loketd serve` uses.
enum CLITestEnvironment {
    /// Runs `body` against a server on a fresh copy of the seeded database; stops the server and
    /// drops the database afterwards.
    static func withServer<T: Sendable>(_ body: @Sendable (TestServer) async throws -> T) async throws -> T {
        try await ScratchDatabase.withPool("loket_cli", template: .seeded, applicationName: "loket-cli-tests") { pool, _ in
            try await serve(pool: pool, body)
        }
    }

    private static func serve<T: Sendable>(pool: ConnectionPool, _ body: @Sendable (TestServer) async throws -> T) async throws -> T {
        var options = APIOptions()
        // Every POST of a test comes from 127.0.0.1; the citizen-facing rate limit is not under test.
        options.rateLimitBurst = 10_000
        options.rateLimitPerSecond = 10_000
        let services = LoketServices(pool: pool, options: options)
        let router = buildRouter(services: services, metrics: PrometheusCollectorRegistry())
        let (ports, portSink) = AsyncStream.makeStream(of: Int.self)
        var logger = Logger(label: "loket-cli-tests")
        logger.logLevel = .warning
        let app = Application(
            router: router,
            configuration: .init(address: .hostname("127.0.0.1", port: 0), serverName: "loket"),
            onServerRunning: { channel in
                portSink.yield(channel.localAddress?.port ?? 0)
                portSink.finish()
            },
            logger: logger)
        // No signal handlers: the test ends the server itself, gracefully, so that in-flight
        // requests finish and nothing is logged as an error.
        let group = ServiceGroup(configuration: .init(services: [app], gracefulShutdownSignals: [], logger: logger))
        return try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            var iterator = ports.makeAsyncIterator()
            guard let port = await iterator.next(), port > 0 else {
                await group.triggerGracefulShutdown()
                throw SetupError("the test server did not start")
            }
            let server = TestServer(url: "http://127.0.0.1:\(port)", pool: pool)
            do {
                let value = try await body(server)
                await group.triggerGracefulShutdown()
                try await tasks.waitForAll()
                return value
            } catch {
                await group.triggerGracefulShutdown()
                throw error
            }
        }
    }
}

struct TestServer: Sendable {
    let url: String
    let pool: ConnectionPool

    struct Officer: Sendable {
        var id: Int64
        var nip: String
        var name: String
    }

    struct Filed: Sendable {
        var code: String
        var accessToken: String
    }

    /// Files a request as a citizen would, through the public API.
    func file(nik: String = "3673014501900001") async throws -> Filed {
        let body: [String: Any] = [
            "service_code": "kk-baru",
            "citizen": ["name": "Siti Aminah", "nik": nik, "phone": "0812-3456-7890", "email": "siti@example.id"],
            "area_code": "36.73.01.1001",
            "address": "Jl. Ki Mas Jong No. 5",
            "description": "Permohonan KK baru setelah menikah",
            "attributes": ["alasan": "keluarga_baru"],
        ]
        let (status, answer) = try await post("/api/v1/requests", body)
        guard status == 201, let code = answer["tracking_code"] as? String, let token = answer["access_token"] as? String else {
            throw SetupError("filing failed: HTTP \(status) \(answer)")
        }
        return Filed(code: code, accessToken: token)
    }

    /// The citizen answers the officer's question with the access token they got when filing.
    func reply(_ filed: Filed, message: String) async throws -> Int {
        try await post("/api/v1/requests/\(filed.code)/reply", ["message": message], bearer: filed.accessToken).status
    }

    func post(_ path: String, _ body: [String: Any], bearer: String? = nil) async throws -> (status: Int, body: [String: Any]) {
        var request = URLRequest(url: URL(string: url + path)!)
        request.httpMethod = "POST"
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        if let bearer { request.setValue("Bearer \(bearer)", forHTTPHeaderField: "Authorization") }
        request.httpBody = try JSONSerialization.data(withJSONObject: body)
        let (data, response) = try await URLSession.shared.data(for: request)
        let status = (response as? HTTPURLResponse)?.statusCode ?? 0
        return (status, (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:])
    }

    /// The active officers who may work on `code` (its unit first, then the units above it),
    /// with their role.
    func officers(for code: String) async throws -> [(officer: Officer, role: String)] {
        let rows = try await pool.query(
            """
            WITH RECURSIVE chain AS (
                SELECT u.id, u.parent_id, 0 AS depth FROM units u JOIN service_requests r ON r.unit_id = u.id WHERE r.tracking_code = $1
                UNION ALL SELECT u.id, u.parent_id, c.depth + 1 FROM units u JOIN chain c ON u.id = c.parent_id)
            SELECT s.id, s.nip, s.name, s.role FROM staff s JOIN chain c ON c.id = s.unit_id
            WHERE s.active ORDER BY c.depth, s.id
            """, code)
        return try rows.map { row in
            (Officer(id: try row.decode(Int64.self, "id"), nip: try row.decode(String.self, "nip"), name: try row.decode(String.self, "name")),
             try row.decode(String.self, "role"))
        }
    }

    /// Two different officers of the plain `staff` role (no supervisor override) who may work on `code`.
    func twoStaffOfficers(for code: String) async throws -> (Officer, Officer) {
        let staff = try await officers(for: code).filter { $0.role == "staff" }.map(\.officer)
        guard staff.count >= 2 else { throw SetupError("the sample data has fewer than two staff officers for \(code)") }
        return (staff[0], staff[1])
    }

    func token(for officer: Officer, expiresAt: Date? = Date().addingTimeInterval(86_400)) async throws -> String {
        // A token must be issued before it expires, so an already expired one is issued earlier still.
        let issuedAt = min(Date(), (expiresAt ?? .distantFuture).addingTimeInterval(-86_400))
        return try await StaffTokenStore(pool: pool).issue(staffID: officer.id, label: "loket CLI test", expiresAt: expiresAt, now: issuedAt).token
    }

    func revokedToken(for officer: Officer) async throws -> String {
        let issued = try await StaffTokenStore(pool: pool).issue(staffID: officer.id, label: "revoked", expiresAt: nil)
        _ = try await StaffTokenStore(pool: pool).revoke(id: issued.id)
        return issued.token
    }
}

/// The built `loket` binary, run as an officer would run it: its own configuration file and
/// home, the environment given, standard output and error through pipes.
struct CLI: Sendable {
    let directory: URL
    var environment: [String: String]

    struct Result: Sendable {
        var status: Int32
        var stdout: String
        var stderr: String

        var json: [String: Any] {
            (try? JSONSerialization.jsonObject(with: Data(stdout.utf8))) as? [String: Any] ?? [:]
        }
    }

    init(extra environment: [String: String] = [:]) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("loket-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        // Nothing from the developer's own login or terminal settings leaks into the test.
        self.environment = [
            "PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin",
            "HOME": directory.path,
            "LOKET_CONFIG": directory.appendingPathComponent("config.json").path,
        ].merging(environment) { $1 }
    }

    var configPath: String { environment["LOKET_CONFIG"]! }

    func remove() {
        try? FileManager.default.removeItem(at: directory)
    }

    static let binary: URL = {
        var candidates = [
            Bundle.main.bundleURL.deletingLastPathComponent(),
            URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent(),
        ]
        // On macOS the tests run inside an .xctest bundle that sits in the build folder.
        candidates += Bundle.allBundles.map(\.bundleURL).filter { $0.pathExtension == "xctest" }.map { $0.deletingLastPathComponent() }
        for folder in candidates {
            let candidate = folder.appendingPathComponent("loket")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        }
        return candidates[0].appendingPathComponent("loket")
    }()

    func run(_ arguments: [String], stdin: String? = nil, environment extra: [String: String] = [:]) async throws -> Result {
        let environment = self.environment.merging(extra) { $1 }
        guard FileManager.default.isExecutableFile(atPath: Self.binary.path) else {
            throw SetupError("no loket binary at \(Self.binary.path): build it with `swift build --build-tests`")
        }
        return try await Self.execute(Self.binary, arguments, environment: environment, stdin: stdin)
    }

    /// Runs a process to completion without holding a thread of the cooperative pool.
    static func execute(_ executable: URL, _ arguments: [String], environment: [String: String], stdin: String?) async throws -> Result {
        let output = try await ChildProcess.run(executable, arguments, environment: environment, stdin: stdin)
        return Result(status: output.status, stdout: output.stdout, stderr: output.stderr)
    }
}

/// A TCP socket bound to a free loopback port, and the port.
func boundLoopbackSocket() throws -> (descriptor: Int32, port: Int) {
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard descriptor >= 0 else { throw SetupError("socket() failed") }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let named = bound == 0 ? withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
    } : -1
    guard named == 0 else {
        close(descriptor)
        throw SetupError("cannot bind a loopback port")
    }
    return (descriptor, Int(UInt16(bigEndian: address.sin_port)))
}

/// A loopback port nothing listens on: bound and released, so a connection to it is refused.
func closedLoopbackPort() throws -> Int {
    let (descriptor, port) = try boundLoopbackSocket()
    close(descriptor)
    return port
}

typealias SetupError = TestSetupError

extension String {
    /// ANSI escape sequences start with ESC; none may reach a pipe.
    var hasANSIEscapes: Bool { contains("\u{1B}") }
}

/// A loopback listener that reads what each connection sends and closes it without an answer: a
/// server that took a request and was lost before it replied.
final class AnswerlessServer: @unchecked Sendable {
    let port: Int
    private let descriptor: Int32

    init() throws {
        let (descriptor, port) = try boundLoopbackSocket()
        guard listen(descriptor, 16) == 0 else {
            close(descriptor)
            throw SetupError("cannot listen on loopback")
        }
        self.descriptor = descriptor
        self.port = port
        let listener = descriptor
        Thread {
            while true {
                let connection = accept(listener, nil, nil)
                if connection < 0 { return }
                var buffer = [UInt8](repeating: 0, count: 16 * 1024)
                _ = recv(connection, &buffer, buffer.count, 0)
                close(connection)
            }
        }.start()
    }

    func stop() {
        shutdown(descriptor, Int32(SHUT_RDWR))
        close(descriptor)
    }
}
