import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Logging
import LoketCore
import Postgres
import Synchronization

extension Request {
    /// The path as the router matches it. The router skips empty segments, so `//lacak` is the
    /// tracking page and `//api/v1/…` the API: a middleware that decides by path reads it the same
    /// way, or such a request reaches its handler without the headers and errors of its kind.
    var routedPath: String { Self.routed(uri.path) }

    static func routed(_ path: String) -> String {
        // Read on the bytes: `String.contains(_: String)` is Foundation's, an NSString search that
        // three middlewares paid on every request.
        var previous: UInt8 = 0
        guard path.utf8.contains(where: { byte in
            defer { previous = byte }
            return byte == UInt8(ascii: "/") && previous == UInt8(ascii: "/")
        }) else { return path }
        var collapsed = ""
        for character in path where !(character == "/" && collapsed.hasSuffix("/")) { collapsed.append(character) }
        return collapsed
    }
}

extension HTTPField.Name {
    static let requestID = HTTPField.Name("X-Request-ID")!
    static let idempotencyKey = HTTPField.Name("Idempotency-Key")!
    static let forwardedFor = HTTPField.Name("X-Forwarded-For")!
}

/// Gives every request an id (the client's `X-Request-ID` if it is sane, else a new one), puts it on
/// the response and on every log line, and picks the response language from `Accept-Language`.
/// Also the last line of defence: any error becomes Loket's JSON error shape, never a stack trace.
struct RequestMiddleware: RouterMiddleware {
    typealias Context = AppContext

    func handle(_ request: Request, context: AppContext, next: @concurrent (Request, AppContext) async throws -> Response) async throws -> Response {
        var context = context
        context.requestID = Self.requestID(from: request)
        context.language = Self.language(from: request)
        context.logger[metadataKey: "request_id"] = .string(context.requestID)
        var response: Response
        do {
            response = try await next(request, context)
        } catch {
            response = Self.apiError(for: error, logger: context.logger).response(language: context.language, requestID: context.requestID)
        }
        response.headers[.requestID] = context.requestID
        // API answers carry personal data (a citizen's detail and documents behind an access token
        // in X-Access-Token, which shared caches are not told to respect): none is stored unless
        // its route says otherwise (the catalog is public for 30 s).
        if response.headers[.cacheControl] == nil, request.routedPath.hasPrefix("/api/") {
            response.headers[.cacheControl] = "no-store"
        }
        return response
    }

    static func requestID(from request: Request) -> String {
        if let given = request.headers[.requestID], (1...128).contains(given.count),
           given.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == ".") }) {
            return given
        }
        return SecureRandom.uuidString()
    }

    /// Indonesian by default; English when the client prefers it.
    static func language(from request: Request) -> Language {
        guard let header = request.headers[.acceptLanguage] else { return .indonesian }
        var best: (Language, Double)?
        for part in header.split(separator: ",") {
            let pieces = part.split(separator: ";").map { $0.trimmingWhitespace(includingNewlines: false).lowercased() }
            guard let tag = pieces.first else { continue }
            let quality = pieces.dropFirst().first { $0.hasPrefix("q=") }.flatMap { Double($0.dropFirst(2)) } ?? 1
            let language: Language? = tag.hasPrefix("en") ? .english : tag.hasPrefix("id") || tag.hasPrefix("in") ? .indonesian : nil
            if let language, quality > 0, quality > (best?.1 ?? -1) { best = (language, quality) }
        }
        return best?.0 ?? .indonesian
    }

    /// Maps anything thrown by a handler to what the client may see. Database trouble is 503 with
    /// Retry-After (the request may simply be retried); an unexpected error is logged in full and
    /// reported as a bare 500.
    static func apiError(for error: any Error, logger: Logger) -> APIError {
        switch error {
        case let error as APIError:
            return error
        case let error as HTTPError:
            switch error.status {
            case .contentTooLarge: return .bodyTooLarge
            case .notFound: return .notFound
            case .methodNotAllowed:
                return APIError(.methodNotAllowed, code: "method_not_allowed", message: LocalizedText(
                    id: "Metode HTTP ini tidak didukung untuk alamat ini.", en: "This HTTP method is not supported here."))
            default:
                return APIError(error.status, code: "bad_request", message: LocalizedText(
                    id: "Permintaan tidak dapat diproses.", en: error.body ?? "The request cannot be processed."))
            }
        case let error as DecodingError:
            return .invalidJSON(Self.describe(error))
        case is NIOTooManyBytesError:
            return .bodyTooLarge
        case is ConnectionPoolError, is PostgresConnectionError:
            logger.warning("database unavailable", metadata: ["error": "\(error)"])
            return .serviceUnavailable(retryAfter: 2)
        case let error as PostgresError where error.sqlState.isConnectionLoss || error.sqlState == .tooManyConnections:
            logger.warning("database unavailable", metadata: ["error": "\(error)"])
            return .serviceUnavailable(retryAfter: 2)
        case let error as PostgresError where error.sqlState.isTransientTransactionFailure:
            return .serviceUnavailable(retryAfter: 1)
        case let error as PostgresError where error.invalidatesPreparedStatement:
            // A transaction's statement prepared before a migration that changed its result (or
            // one forgotten by DISCARD ALL): nothing was written, and the connection is replaced,
            // so the request may simply be sent again. A statement sent alone outside a
            // transaction is re-sent by the driver and never gets here. A warning, not info: a
            // pooler that does not keep prepared statements would show here on every request.
            logger.warning("prepared statement invalidated (a schema change, or a pooler that drops prepared statements)",
                           metadata: ["error": "\(error)"])
            return .serviceUnavailable(retryAfter: 1)
        case let error as PostgresError where error.sqlState == .queryCanceled:
            // A statement past its deadline (loketd serve --statement-deadline, or the server's
            // statement_timeout): the database is overloaded or stuck; its transaction rolled back.
            logger.warning("statement past its deadline", metadata: ["error": "\(error)"])
            return .serviceUnavailable(retryAfter: 2)
        case let error as PostgresError where error.sqlState.errorClass == "22":
            // A data exception comes from a value the client sent that PostgreSQL cannot hold (a NUL
            // in text, a number out of range); its transaction rolled back, so nothing was stored.
            logger.info("value refused by the database", metadata: ["error": "\(error)"])
            return APIError(.badRequest, code: "invalid_value", message: LocalizedText(
                id: "Isian berisi nilai yang tidak dapat disimpan (misalnya karakter NUL atau angka di luar batas).",
                en: "The input holds a value that cannot be stored (for example a NUL character or a number out of range)."))
        default:
            // A body cut short or malformed on the wire (HTTP parser, channel or body-stream errors of
            // NIO and HummingbirdCore) is the client's doing: 400, not a server failure.
            let origin = String(reflecting: type(of: error))
            if ["NIOHTTP1.", "NIOCore.", "HummingbirdCore."].contains(where: origin.hasPrefix) {
                logger.info("malformed request", metadata: ["error": "\(String(reflecting: error))"])
                return APIError(.badRequest, code: "malformed_request", message: LocalizedText(
                    id: "Permintaan HTTP tidak lengkap atau rusak.", en: "The HTTP request is incomplete or malformed."))
            }
            logger.error("unhandled error", metadata: ["error": "\(String(reflecting: error))"])
            return .internalError
        }
    }

    static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            let keys = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }
            return keys.isEmpty ? "(body)" : keys.joined(separator: ".").replacingOccurrences(of: ".[", with: "[")
        }
        switch error {
        case .typeMismatch(_, let context): return "wrong type at \(path(context))"
        case .valueNotFound(_, let context): return "missing value at \(path(context))"
        case .keyNotFound(let key, let context):
            let parent = path(context)
            return "missing key \(parent == "(body)" ? key.stringValue : parent + "." + key.stringValue)"
        case .dataCorrupted(let context): return "malformed JSON at \(path(context))"
        @unknown default: return "malformed JSON"
        }
    }
}

/// Per-client token buckets for the routes that create things. In memory: each server process
/// limits on its own, which is what a citizen-facing abuse guard needs.
final class RateLimiter: Sendable {
    struct Bucket {
        var tokens: Double
        var updated: ContinuousClock.Instant
    }

    let capacity: Double
    let refillPerSecond: Double
    private let buckets = Mutex<[String: Bucket]>([:])

    init(capacity: Int, refillPerSecond: Double) {
        self.capacity = Double(capacity)
        self.refillPerSecond = refillPerSecond
    }

    /// At most this many clients are remembered at once.
    static let maxClients = 100_000

    /// Takes `cost` tokens for `key` (at most the bucket's capacity, so that any cost can be paid
    /// once the bucket is full); when there are not enough, returns how many seconds until there are.
    func take(_ key: String, cost: Int = 1, now: ContinuousClock.Instant = .now) -> Int? {
        let cost = Double(min(max(cost, 1), max(Int(capacity), 1)))
        return buckets.withLock { buckets in
            if buckets.count >= Self.maxClients {
                // Bounded memory under a flood of addresses. Buckets that have refilled are as good
                // as absent and go first; only if the flood is of live clients is everyone
                // forgotten (emptying every bucket at once also freed the flooder's own).
                buckets = buckets.filter { _, bucket in
                    let idle = now - bucket.updated
                    let seconds = Double(idle.components.seconds) + Double(idle.components.attoseconds) / 1e18
                    return bucket.tokens + seconds * refillPerSecond < capacity
                }
                if buckets.count >= Self.maxClients * 9 / 10 { buckets.removeAll() }
            }
            var bucket = buckets[key] ?? Bucket(tokens: capacity, updated: now)
            let elapsed = now - bucket.updated
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            bucket.tokens = min(capacity, bucket.tokens + seconds * refillPerSecond)
            bucket.updated = now
            defer { buckets[key] = bucket }
            if bucket.tokens >= cost {
                bucket.tokens -= cost
                return nil
            }
            return max(1, Int(((cost - bucket.tokens) / refillPerSecond).rounded(.up)))
        }
    }
}

struct RateLimitMiddleware: RouterMiddleware {
    typealias Context = AppContext
    let limiter: RateLimiter
    /// Trust X-Forwarded-For only behind a known proxy (configuration), else use the peer address.
    let trustForwardedFor: Bool
    /// Set once this server has warned that a proxy's X-Forwarded-For goes unread.
    let ignoredProxyWarned = Flag()

    final class Flag: Sendable {
        private let value = Atomic<Bool>(false)
        var isSet: Bool { value.load(ordering: .relaxed) }
        /// Sets the flag; true for the one caller that set it.
        func set() -> Bool { value.compareExchange(expected: false, desired: true, ordering: .relaxed).exchanged }
    }

    init(limiter: RateLimiter, trustForwardedFor: Bool) {
        self.limiter = limiter
        self.trustForwardedFor = trustForwardedFor
    }

    func handle(_ request: Request, context: AppContext, next: @concurrent (Request, AppContext) async throws -> Response) async throws -> Response {
        if !trustForwardedFor, !ignoredProxyWarned.isSet { warnIfBehindIgnoredProxy(request, context) }
        // Citizens and partner apps create things; staff are authenticated and accountable.
        let path = request.routedPath
        guard request.method == .post, !path.hasPrefix("/api/v1/staff/") else { return try await next(request, context) }
        if let retry = limiter.take(clientAddress(request, context), cost: Self.cost(of: request, path: path)) {
            let refusal = APIError.rateLimited(retryAfter: retry)
            // A partner app reads Open311's error list, in the format it asked for, and no other.
            if path.hasPrefix("/open311/") {
                let format: Open311Format = path.hasSuffix(".json") ? .json : .xml
                return Open311Controller.errorResponse(refusal, format: format, context: context)
            }
            throw refusal
        }
        return try await next(request, context)
    }

    /// Tokens a request takes: one, and for a citizen's document one more per MiB its
    /// Content-Length declares (a body without one counts as the largest allowed). A filing with
    /// documents costs a citizen a few tokens; without it one address could store 10 MiB with each
    /// token, 8 MiB a second for as long as it liked, filling the database's disk.
    static func cost(of request: Request, path: String) -> Int {
        guard path.hasPrefix("/api/v1/requests/"), path.hasSuffix("/documents") else { return 1 }
        let declared = request.headers[.contentLength].flatMap { Int($0) } ?? APILimits.maxDocumentBytes
        return 1 + min(max(declared, 0), APILimits.maxDocumentBytes) / (1 << 20)
    }

    func clientAddress(_ request: Request, _ context: AppContext) -> String {
        // The last entry is the one our own proxy appended; earlier ones come from the client.
        if trustForwardedFor, let forwarded = request.headers[.forwardedFor]?.split(separator: ",").last {
            return Self.clientKey(forwarded.trimmingWhitespace(includingNewlines: false))
        }
        return Self.clientKey(context.remoteAddress?.ipAddress ?? "unknown")
    }

    /// A request with X-Forwarded-For from an internal address (loopback, a private network: an
    /// ingress, a reverse proxy) while the header is not trusted: every client behind that proxy
    /// then counts as the proxy's one address, so the whole city shares one rate-limit bucket
    /// (30 filings, then one a second). Said once, at the first such request.
    private func warnIfBehindIgnoredProxy(_ request: Request, _ context: AppContext) {
        guard request.headers[.forwardedFor] != nil, let peer = context.remoteAddress?.ipAddress,
              Self.isInternal(peer),
              ignoredProxyWarned.set()
        else { return }
        context.logger.warning(
            "requests come through a proxy (X-Forwarded-For from \(peer)) but LOKET_TRUST_FORWARDED_FOR is off: every client behind it shares one rate-limit bucket; set LOKET_TRUST_FORWARDED_FOR=1 (docs/deployment.md)")
    }

    /// Loopback, private (RFC 1918, IPv6 unique-local) and link-local addresses, IPv4-mapped ones
    /// as their IPv4 address: where a proxy of one's own sits, never a citizen on the internet.
    static func isInternal(_ address: String) -> Bool {
        var v4 = in_addr()
        if inet_pton(AF_INET, address, &v4) == 1 {
            return isInternalV4(withUnsafeBytes(of: v4) { Array($0) })
        }
        var v6 = in6_addr()
        guard inet_pton(AF_INET6, address, &v6) == 1 else { return false }
        let bytes = withUnsafeBytes(of: v6) { Array($0) }
        if bytes[0..<10].allSatisfy({ $0 == 0 }) && bytes[10] == 0xFF && bytes[11] == 0xFF {
            return isInternalV4(Array(bytes[12...]))
        }
        let loopback = bytes[0..<15].allSatisfy { $0 == 0 } && bytes[15] == 1
        return loopback || bytes[0] & 0xFE == 0xFC || (bytes[0] == 0xFE && bytes[1] & 0xC0 == 0x80)
    }

    private static func isInternalV4(_ bytes: [UInt8]) -> Bool {
        bytes[0] == 127 || bytes[0] == 10 || (bytes[0] == 172 && bytes[1] & 0xF0 == 16)
            || (bytes[0] == 192 && bytes[1] == 168) || (bytes[0] == 169 && bytes[1] == 254)
    }

    /// The limiter's key for an address: an IPv6 client by its /64, the block one subscriber gets
    /// (counted address by address, a client rotating through its own block was never limited); an
    /// IPv4-mapped address as the IPv4 address; anything else as written.
    static func clientKey(_ address: String) -> String {
        var v6 = in6_addr()
        guard inet_pton(AF_INET6, address, &v6) == 1 else { return address }
        let bytes = withUnsafeBytes(of: v6) { Array($0) }
        if bytes[0..<10].allSatisfy({ $0 == 0 }) && bytes[10] == 0xFF && bytes[11] == 0xFF {
            return bytes[12...].map(String.init).joined(separator: ".")
        }
        let hex: [Character] = Array("0123456789abcdef")
        var key = "v6:"
        for byte in bytes[0..<8] {
            key.append(hex[Int(byte >> 4)])
            key.append(hex[Int(byte & 0x0F)])
        }
        return key + "::/64"
    }
}
