import AsyncHTTPClient
import Crypto
import Foundation
import Logging
import LoketCore
import LoketStore
import Metrics
import NIOCore
import NIOHTTP1
import ServiceLifecycle

/// Why a webhook endpoint was refused at configuration time.
public enum WebhookConfigurationError: Error, Sendable, Equatable, CustomStringConvertible {
    case invalidURL(String)
    case emptySecret
    case nonPositiveTimeout

    public var description: String {
        switch self {
        case .invalidURL(let url): "webhook URL \"\(url)\" is not an absolute http or https URL"
        case .emptySecret: "a webhook needs a non-empty signing secret"
        case .nonPositiveTimeout: "the webhook timeout must be positive"
        }
    }
}

/// A webhook that did not answer in full within its timeout (named as AsyncHTTPClient names its
/// own deadline, which covers the answer's head only).
struct WebhookDeadlineExceeded: Error, CustomStringConvertible {
    let limit: Duration
    var description: String { "deadlineExceeded: no complete answer within \(limit)" }
}

/// Where and how notifications are POSTed.
public struct WebhookEndpoint: Sendable {
    public let url: String
    /// Bounds the request up to the answer's head (connect, send, status and headers), and one and
    /// a half times it (`exchangeLimit`) the whole exchange with the answer's body; either is a
    /// failed attempt.
    public let timeout: Duration
    /// The longest one delivery takes, its answer's body included.
    public var exchangeLimit: Duration { timeout + timeout / 2 }
    private let secret: [UInt8]

    public init(url: String, secret: String, timeout: Duration = .seconds(10)) throws(WebhookConfigurationError) {
        guard let parsed = URL(string: url), let scheme = parsed.scheme?.lowercased(), scheme == "http" || scheme == "https",
              let host = parsed.host, !host.isEmpty
        else { throw .invalidURL(url) }
        guard !secret.isEmpty else { throw .emptySecret }
        guard timeout > .zero else { throw .nonPositiveTimeout }
        self.url = url
        self.secret = Array(secret.utf8)
        self.timeout = timeout
        self.isPlainTextToAnotherHost = scheme == "http" && !Self.isLoopback(host)
        let port = parsed.port.map { ":\($0)" } ?? ""
        let bracketed = host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host
        self.loggableURL = "\(scheme)://\(bracketed)\(port)/…"
    }

    /// The URL as the logs show it: scheme, host and port only. A receiver's token often rides in
    /// the path, the query or the user part, and logs travel further than the configuration.
    public let loggableURL: String

    /// `localhost` (and names under it), 127.0.0.0/8, ::1 and ::ffff:127.x: this machine. A name
    /// that merely starts with "127." is not.
    static func isLoopback(_ host: String) -> Bool {
        var name = host.lowercased()
        if name.hasPrefix("["), name.hasSuffix("]") { name = String(name.dropFirst().dropLast()) }
        if name.hasSuffix(".") { name = String(name.dropLast()) }
        if name == "localhost" || name.hasSuffix(".localhost") { return true }
        var v4 = in_addr()
        if inet_pton(AF_INET, name, &v4) == 1 { return UInt32(bigEndian: v4.s_addr) >> 24 == 127 }
        var v6 = in6_addr()
        guard inet_pton(AF_INET6, name, &v6) == 1 else { return false }
        let bytes = withUnsafeBytes(of: v6) { Array($0) }
        if bytes[0..<15].allSatisfy({ $0 == 0 }) && bytes[15] == 1 { return true }
        return bytes[0..<10].allSatisfy({ $0 == 0 }) && bytes[10] == 0xFF && bytes[11] == 0xFF && bytes[12] == 127
    }

    /// Plain `http://` to a host other than this one: the notifications, which carry citizens'
    /// names, phone numbers and e-mail addresses, cross the network unencrypted (the worker warns).
    public let isPlainTextToAnotherHost: Bool

    /// `sha256=<hex>` of HMAC-SHA256 over `"<timestamp>.<body>"`. The timestamp is inside the MAC so a
    /// receiver can refuse replays of an old, validly signed request.
    public func signature(timestamp: Int64, body: [UInt8]) -> String {
        var mac = HMAC<SHA256>(key: SymmetricKey(data: secret))
        mac.update(data: Array("\(timestamp).".utf8))
        mac.update(data: body)
        return "sha256=" + mac.finalize().map { String(format: "%02x", $0) }.joined()
    }
}

/// How a worker delivers notifications. It is the worker's configuration, not the row's
/// `channel` column: a deployment without a receiver still drains its outbox into the log.
public enum NotificationChannel: Sendable {
    case webhook(WebhookEndpoint)
    case log

    /// The value recorded in `notification_outbox.channel` for a delivery through this channel.
    public var name: String {
        switch self {
        case .webhook: "webhook"
        case .log: "log"
        }
    }
}

/// Exponential backoff with full jitter: the wait after attempt n is uniformly random in
/// 0 … min(cap, base · 2ⁿ⁻¹), so that many messages failing together (a receiver outage) do not
/// come back together.
public struct RetryBackoff: Sendable, Equatable {
    public var base: Duration
    public var cap: Duration

    public init(base: Duration = .seconds(5), cap: Duration = .seconds(3600)) {
        self.base = base
        self.cap = cap
    }

    /// The upper bound of the wait after failed attempt number `attempt` (1-based).
    public func ceiling(afterAttempt attempt: Int) -> Duration {
        // 2^30 times any sensible base is far past any cap; the bound keeps the shift defined.
        let exponent = min(max(attempt - 1, 0), 30)
        return min(cap, base * (1 << exponent))
    }

    /// The wait after failed attempt `attempt`, for a jitter fraction in 0 … 1.
    public func delay(afterAttempt attempt: Int, jitter fraction: Double) -> Duration {
        ceiling(afterAttempt: attempt) * min(max(fraction, 0), 1)
    }
}

/// Where the randomness of the backoff comes from; tests pin it to make retry instants exact.
public protocol RetryJitter: Sendable {
    /// A fraction in 0 … 1.
    func fraction() -> Double
}

public struct RandomRetryJitter: RetryJitter {
    public init() {}
    public func fraction() -> Double { Double.random(in: 0...1) }
}

/// The dispatcher's knobs.
public struct OutboxDispatcherConfiguration: Sendable {
    public var channel: NotificationChannel
    /// Attempts before a message is dead-lettered; nil: no limit by count (the age limit decides).
    public var maxAttempts: Int?
    /// How long after it was written a message is still retried: a failure past this age
    /// dead-letters it. Long enough to outlast a receiver's outage over a weekend, where a limit by
    /// count alone (8 attempts of 5 s doubling) gave up within minutes.
    public var giveUpAfter: Duration
    public var backoff: RetryBackoff
    /// Messages claimed per batch.
    public var batchSize: Int
    /// Deliveries in flight at once within a batch.
    public var concurrency: Int
    /// How long a claim hides a message from other workers. Raised if needed to cover the longest a
    /// batch can take (see `claimTimeout`), so a slow but live worker is never overtaken.
    public var visibilityTimeout: Duration
    /// Time between polls when no NOTIFY wakes the dispatcher earlier.
    public var tick: Duration

    public static let defaultGiveUpAfter: Duration = .seconds(72 * 3600)

    public init(
        channel: NotificationChannel, maxAttempts: Int? = nil, giveUpAfter: Duration = Self.defaultGiveUpAfter,
        backoff: RetryBackoff = RetryBackoff(), batchSize: Int = 50,
        concurrency: Int = 8, visibilityTimeout: Duration = .seconds(120), tick: Duration = .seconds(5)
    ) {
        precondition(maxAttempts.map { $0 >= 1 } ?? true, "at least one delivery attempt")
        precondition(giveUpAfter > .zero, "a positive age limit")
        precondition(batchSize >= 1 && concurrency >= 1, "batch size and concurrency must be positive")
        self.channel = channel
        self.maxAttempts = maxAttempts
        self.giveUpAfter = giveUpAfter
        self.backoff = backoff
        self.batchSize = batchSize
        self.concurrency = concurrency
        self.visibilityTimeout = visibilityTimeout
        self.tick = tick
    }

    /// The visibility timeout actually used: at least every round of a batch running into the
    /// webhook's limit for a whole delivery, plus a margin for recording the outcomes.
    public var claimTimeout: Duration {
        guard case .webhook(let endpoint) = channel else { return visibilityTimeout }
        let rounds = (batchSize + concurrency - 1) / concurrency
        return max(visibilityTimeout, endpoint.exchangeLimit * rounds + .seconds(30))
    }
}

/// What one batch did, for metrics and tests.
public struct OutboxBatchResult: Sendable, Equatable {
    public var claimed = 0
    public var delivered = 0
    /// Failed attempts that will be retried.
    public var retried = 0
    /// Failed attempts that were the last allowed.
    public var dead = 0
    /// Claimed but not started because shutdown began: handed back, deliverable at once.
    public var released = 0

    public init(claimed: Int = 0, delivered: Int = 0, retried: Int = 0, dead: Int = 0, released: Int = 0) {
        self.claimed = claimed
        self.delivered = delivered
        self.retried = retried
        self.dead = dead
        self.released = released
    }
}

/// Delivers the notification outbox, at least once and in order per request and recipient: claims a batch,
/// delivers each message through the configured channel outside any transaction, then records
/// delivery, a retry with backoff, or a dead letter after `maxAttempts`.
public struct OutboxDispatcher: Service {
    public let store: OutboxStore
    public let configuration: OutboxDispatcherConfiguration
    public let clock: any WorkerClock
    public let jitter: any RetryJitter
    public let wakeup: Wakeup
    public let httpClient: HTTPClient
    public let logger: Logger

    public init(
        store: OutboxStore, configuration: OutboxDispatcherConfiguration, clock: any WorkerClock = SystemWorkerClock(),
        jitter: any RetryJitter = RandomRetryJitter(), wakeup: Wakeup = Wakeup(), httpClient: HTTPClient = OutboxDispatcher.sharedHTTPClient,
        logger: Logger = Logger(label: "loket.worker.outbox")
    ) {
        self.store = store
        self.configuration = configuration
        self.clock = clock
        self.jitter = jitter
        self.wakeup = wakeup
        self.httpClient = httpClient
        self.logger = logger
    }

    /// One batch: claim, deliver (up to `concurrency` at once), record each outcome. Outcomes that
    /// could not be recorded (database trouble) do not stop the others; the first such error is
    /// thrown at the end and those messages come back when their claim lapses.
    @discardableResult
    public func runOnce() async throws -> OutboxBatchResult {
        let messages = try await store.claim(
            now: clock.now(), limit: configuration.batchSize, visibilityTimeout: configuration.claimTimeout)
        var result = OutboxBatchResult()
        result.claimed = messages.count
        guard !messages.isEmpty else { return result }
        var firstError: (any Error)?
        let unstarted = await withTaskGroup(of: Outcome.self) { group -> [OutboxMessage] in
            var waiting = messages.makeIterator()
            for _ in 0..<configuration.concurrency {
                guard let message = waiting.next() else { break }
                group.addTask { await process(message) }
            }
            while let outcome = await group.next() {
                switch outcome {
                case .delivered: result.delivered += 1
                case .retried: result.retried += 1
                case .dead: result.dead += 1
                case .superseded, .interrupted: break
                case .unrecorded(let error): if firstError == nil { firstError = error }
                }
                // Once shutdown has begun no new delivery starts: the process may have little time
                // left (systemd and Kubernetes wait 60 s), and a delivery cut off midway would
                // leave its row hidden for the whole claim and its attempt used.
                if !Task.isShuttingDownGracefully, let message = waiting.next() {
                    group.addTask { await process(message) }
                }
            }
            return Array(IteratorSequence(waiting))
        }
        if !unstarted.isEmpty {
            // Handed back as they were before this claim: deliverable at once by the next worker.
            result.released = try await store.release(unstarted, now: clock.now())
        }
        if let firstError { throw firstError }
        return result
    }

    public func run() async throws {
        if case .webhook(let endpoint) = configuration.channel {
            logger.info("delivering notifications by webhook", metadata: ["url": "\(endpoint.loggableURL)"])
            if endpoint.isPlainTextToAnotherHost {
                logger.warning(
                    "the webhook is plain http to another host: citizens' contact details in the notifications cross the network unencrypted; use https",
                    metadata: ["url": "\(endpoint.loggableURL)"])
            }
        } else {
            logger.info("no webhook configured: notifications go to the log")
        }
        // Exported at 0 from the start: a counter that first appears at 1 has no increase for an
        // alert to see, so the first dead letter after a start would go unnoticed.
        _ = Counter(label: "loket_worker_outbox_failures_total")
        _ = Counter(label: "loket_worker_outbox_dead_total")
        await runPasses(
            loop: "outbox", logger: logger, failure: "outbox dispatch failed; retrying at the next tick",
            pause: { await cancelWhenGracefulShutdown { await wakeup.wait(timeout: configuration.tick) } }
        ) {
            // The batch in hand runs to its recorded outcomes before shutdown is looked at.
            let result = try await runOnce()
            Gauge(label: "loket_worker_outbox_pending").record(try await store.pendingCount(now: clock.now()))
            // A full batch means more is waiting: go again without waiting.
            return result.claimed == configuration.batchSize
        }
    }

    // MARK: One message

    private enum Outcome: Sendable {
        case delivered, retried, dead
        /// A newer claim (after this one lapsed) or another worker already finished the row.
        case superseded
        /// Cancelled mid-delivery: nothing recorded, the claim lapses and the message comes back.
        case interrupted
        case unrecorded(any Error)
    }

    private enum Delivery: Sendable {
        case delivered
        case failed(String)
    }

    private func process(_ message: OutboxMessage) async -> Outcome {
        let delivery = await deliver(message)
        if Task.isCancelled { return .interrupted }
        let now = clock.now()
        do {
            switch delivery {
            case .delivered:
                guard try await store.markDelivered(id: message.id, channel: configuration.channel.name, now: now) else {
                    return superseded(message)
                }
                Counter(label: "loket_worker_outbox_delivered_total", dimensions: [("topic", message.topic)]).increment()
                return .delivered
            case .failed(let reason):
                Counter(label: "loket_worker_outbox_failures_total").increment()
                let age = now.timeIntervalSince(message.createdAt)
                let tooOld = age >= Double(configuration.giveUpAfter.components.seconds)
                if tooOld || configuration.maxAttempts.map({ message.attempts >= $0 }) == true {
                    guard try await store.markDead(id: message.id, attempt: message.attempts, now: now, error: reason) else {
                        return superseded(message)
                    }
                    Counter(label: "loket_worker_outbox_dead_total").increment()
                    logger.error("notification dead-lettered", metadata: metadata(message, ["error": "\(reason)"]))
                    return .dead
                }
                let wait = configuration.backoff.delay(afterAttempt: message.attempts, jitter: jitter.fraction())
                let retryAt = now.addingTimeInterval(Double(wait.components.seconds) + Double(wait.components.attoseconds) * 1e-18)
                guard try await store.scheduleRetry(id: message.id, attempt: message.attempts, at: retryAt, error: reason) else {
                    return superseded(message)
                }
                logger.warning(
                    "notification delivery failed; will retry",
                    metadata: metadata(message, ["error": "\(reason)", "retry_at": "\(retryAt)"]))
                return .retried
            }
        } catch {
            logger.error("could not record a delivery outcome", metadata: metadata(message, ["error": "\(error)"]))
            return .unrecorded(error)
        }
    }

    private func superseded(_ message: OutboxMessage) -> Outcome {
        logger.notice("delivery outcome not recorded: the claim was superseded", metadata: metadata(message, [:]))
        return .superseded
    }

    private func deliver(_ message: OutboxMessage) async -> Delivery {
        switch configuration.channel {
        case .log:
            logger.info("notification", metadata: metadata(message, ["payload": "\(message.payloadJSON)"]))
            return .delivered
        case .webhook(let endpoint):
            do {
                return try await post(message, to: endpoint)
            } catch {
                return .failed(Self.truncated("\(error)"))
            }
        }
    }

    private func post(_ message: OutboxMessage, to endpoint: WebhookEndpoint) async throws -> Delivery {
        let body = try Self.body(of: message)
        let timestamp = Int64(clock.now().timeIntervalSince1970.rounded(.down))
        var request = HTTPClientRequest(url: endpoint.url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        // Stable across attempts, so a receiver can drop the duplicates at-least-once delivery brings.
        request.headers.add(name: "Idempotency-Key", value: "loket-outbox-\(message.id)")
        request.headers.add(name: "X-Loket-Topic", value: message.topic)
        request.headers.add(name: "X-Loket-Delivery-Attempt", value: "\(message.attempts)")
        request.headers.add(name: "X-Loket-Timestamp", value: "\(timestamp)")
        request.headers.add(name: "X-Loket-Signature", value: endpoint.signature(timestamp: timestamp, body: body))
        request.body = .bytes(body)
        // AsyncHTTPClient's deadline (the timeout) ends once the answer's head has arrived: a
        // receiver that then trickled its body, or never ended it, held this dispatcher (and its
        // batch) for ever. The body is read against a second deadline, the whole exchange's limit.
        let deadline = ContinuousClock.now + endpoint.exchangeLimit
        let parts = endpoint.timeout.components
        let response = try await httpClient.execute(
            request, timeout: .nanoseconds(parts.seconds * 1_000_000_000 + parts.attoseconds / 1_000_000_000), logger: logger)
        let answer = response.body
        let start = try await withThrowingTaskGroup(of: [UInt8]?.self) { group in
            group.addTask {
                // Read the whole body so the connection can be reused, keeping only the start for
                // last_error.
                var start: [UInt8] = []
                for try await chunk in answer where start.count < 200 {
                    start += chunk.readableBytesView.prefix(200 - start.count)
                }
                return start
            }
            group.addTask {
                try await Task.sleep(until: deadline, clock: .continuous)
                return nil
            }
            defer { group.cancelAll() }
            guard case let start?? = try await group.next() else { throw WebhookDeadlineExceeded(limit: endpoint.exchangeLimit) }
            return start
        }
        if (200..<300).contains(response.status.code) { return .delivered }
        let text = String(decoding: start, as: UTF8.self).trimmingWhitespace()
        return .failed(Self.truncated("HTTP \(response.status.code)" + (text.isEmpty ? "" : ": \(text)")))
    }

    /// The JSON body: the row's identity and recipient with the payload object as stored.
    static func body(of message: OutboxMessage) throws -> [UInt8] {
        let payload = try JSONSerialization.jsonObject(with: Data(message.payloadJSON.utf8))
        let envelope: [String: Any] = [
            "id": message.id,
            "topic": message.topic,
            "created_at": message.createdAt.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true)),
            "request_id": message.requestID.map { $0 as Any } ?? NSNull(),
            "recipient_kind": message.recipientKind,
            "recipient_staff_id": message.recipientStaffID.map { $0 as Any } ?? NSNull(),
            // The receiver is the city's SMS and e-mail gateway: it needs the address, and has no
            // database to look it up in.
            "recipient": try message.recipientJSON.map { try JSONSerialization.jsonObject(with: Data($0.utf8)) } ?? NSNull(),
            "payload": payload,
        ]
        return Array(try JSONSerialization.data(withJSONObject: envelope, options: [.sortedKeys, .withoutEscapingSlashes]))
    }

    /// last_error is for people reading the dead-letter list, not a place for a receiver's whole page.
    private static func truncated(_ text: String) -> String {
        text.count <= 500 ? text : String(text.prefix(500)) + "…"
    }

    private func metadata(_ message: OutboxMessage, _ extra: Logger.Metadata) -> Logger.Metadata {
        var metadata: Logger.Metadata = [
            "outbox_id": "\(message.id)", "topic": "\(message.topic)", "recipient_kind": "\(message.recipientKind)",
            "attempt": "\(message.attempts)",
        ]
        if let request = message.requestID { metadata["request_id"] = "\(request)" }
        if let staff = message.recipientStaffID { metadata["recipient_staff_id"] = "\(staff)" }
        return metadata.merging(extra) { $1 }
    }
}

extension OutboxDispatcher {
    /// The process-wide client for webhooks. Redirects are refused: a receiver that moved answers
    /// 3xx, which is a failed attempt an operator sees in last_error, rather than a POST silently
    /// turned into a GET somewhere else. Like `HTTPClient.shared` it lives as long as the process, so
    /// nobody has to shut it down.
    public static let sharedHTTPClient = HTTPClient(
        eventLoopGroup: HTTPClient.defaultEventLoopGroup,
        configuration: HTTPClient.Configuration(redirectConfiguration: .disallow, timeout: .init(connect: .seconds(10))))
}
