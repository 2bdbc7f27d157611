import Foundation
import Logging
import Hummingbird
import HummingbirdTesting
import LoketAPI
import Postgres
import Prometheus
import Testing
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension APITestEnvironment {
    /// loketd's HTTP server (with the Expect handling) on a free loopback port over a fresh database.
    static func withLiveServer(
        logger: Logger = Logger(label: "loket.test"), _ body: @escaping @Sendable (Int, ConnectionPool) async throws -> Void
    ) async throws {
        try await APITestEnvironment.withDatabase { configuration in
            let pool = ConnectionPool(configuration: configuration, maxConnections: 4, acquireTimeout: .seconds(5))
            let services = LoketServices(pool: pool, options: APIOptions())
            let app = Application(
                router: buildRouter(services: services, metrics: PrometheusCollectorRegistry()),
                server: .loketHTTP1(idleTimeout: .seconds(30)),
                configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                logger: logger)
            do {
                try await app.test(.live) { client in
                    try await body(try #require(client.port), pool)
                }
                await pool.close()
            } catch {
                await pool.close()
                throw error
            }
        }
    }
}

/// A blocking HTTP/1 client on a plain socket (run on a thread of its own, off Swift's cooperative
/// pool), for what ordinary clients hide: interim responses and the exact order of bytes.
final class RawHTTP: @unchecked Sendable {
    /// A request head: the request line, Host and `fields`.
    static func head(_ line: String, _ fields: [String]) -> [UInt8] {
        Array((([line, "Host: 127.0.0.1"] + fields).joined(separator: "\r\n") + "\r\n\r\n").utf8)
    }

    struct Response: Sendable {
        var status: Int
        var head: String
        var body: Data

        var json: [String: Any] { (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] ?? [:] }
        var errorCode: String? { (json["error"] as? [String: Any])?["code"] as? String }
    }

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    private let fd: Int32
    private var buffer = [UInt8]()

    /// Connects to the port on loopback: 127.0.0.1, else ::1 (the live test server binds "localhost").
    private init(port: Int) throws {
        // A hang detector, not a timing check: the whole suite runs in parallel on two cores,
        // where a CPU-bound test (the calendar's property tests) can hold the server's threads
        // back for several seconds.
        var timeout = timeval(tv_sec: 30, tv_usec: 0)
        for family in [AF_INET, AF_INET6] {
            let fd = socket(family, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { continue }
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            let connected: Int32
            if family == AF_INET {
                var address = sockaddr_in()
                address.sin_family = sa_family_t(AF_INET)
                address.sin_port = in_port_t(UInt16(port).bigEndian)
                address.sin_addr.s_addr = inet_addr("127.0.0.1")
                connected = withUnsafePointer(to: &address) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
                }
            } else {
                var address = sockaddr_in6()
                address.sin6_family = sa_family_t(AF_INET6)
                address.sin6_port = in_port_t(UInt16(port).bigEndian)
                address.sin6_addr = in6addr_loopback
                connected = withUnsafePointer(to: &address) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) }
                }
            }
            if connected == 0 {
                self.fd = fd
                return
            }
            close(fd)
        }
        throw Failure(description: "cannot connect to port \(port) on loopback: \(errno)")
    }

    deinit { close(fd) }

    /// Runs `exchange` on one fresh connection, on a thread of its own.
    static func run<T: Sendable>(port: Int, _ exchange: @escaping @Sendable (RawHTTP) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            Thread {
                continuation.resume(with: Result { try exchange(try RawHTTP(port: port)) })
            }.start()
        }
    }

    func send(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let sent = bytes[offset...].withUnsafeBytes { Self.systemSend(fd, $0.baseAddress, $0.count) }
            guard sent > 0 else { throw Failure(description: "send: \(errno)") }
            offset += sent
        }
    }

    /// One response (an interim 1xx is a head alone), read by Content-Length; the answer to a
    /// HEAD request (`toHead`) has no body whatever its Content-Length says.
    func readResponse(toHead: Bool = false) throws -> Response {
        let separator: [UInt8] = Array("\r\n\r\n".utf8)
        var end: Int?
        while end == nil {
            if let found = Self.find(separator, in: buffer) { end = found + separator.count } else { try fill() }
        }
        let head = String(decoding: buffer[..<end!], as: UTF8.self)
        buffer.removeFirst(end!)
        let parts = head.split(separator: " ", maxSplits: 2)
        guard parts.count >= 2, let status = Int(parts[1]) else { throw Failure(description: "not a status line: \(head)") }
        if (100..<200).contains(status) || toHead { return Response(status: status, head: head, body: Data()) }
        let length = head.split(separator: "\r\n").first { $0.lowercased().hasPrefix("content-length:") }
            .flatMap { Int($0.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) } ?? 0
        while buffer.count < length { try fill() }
        let body = Data(buffer[..<length])
        buffer.removeFirst(length)
        return Response(status: status, head: head, body: body)
    }

    /// Ends the sending side (TCP FIN): the server reads the end of the stream.
    func halfClose() {
        shutdown(fd, Int32(SHUT_WR))
    }

    /// True when the server closes the connection (within the receive timeout) with nothing more.
    func closedByPeer() -> Bool {
        guard buffer.isEmpty else { return false }
        var byte: UInt8 = 0
        return recv(fd, &byte, 1, 0) == 0
    }

    private func fill() throws {
        var chunk = [UInt8](repeating: 0, count: 65536)
        let count = recv(fd, &chunk, chunk.count, 0)
        guard count > 0 else { throw Failure(description: count == 0 ? "connection closed" : "recv: \(errno) (timeout?)") }
        buffer.append(contentsOf: chunk[..<count])
    }

    private static func systemSend(_ fd: Int32, _ bytes: UnsafeRawPointer?, _ count: Int) -> Int {
        #if canImport(Glibc)
        Glibc.send(fd, bytes, count, Int32(MSG_NOSIGNAL))
        #else
        Darwin.send(fd, bytes, count, 0)
        #endif
    }

    private static func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        for index in 0...(haystack.count - needle.count) where haystack[index..<index + needle.count].elementsEqual(needle) {
            return index
        }
        return nil
    }
}
