import Foundation
import LoketCore
import LoketStore
import Postgres

/// What the HTTP layer needs, built once at start.
public struct LoketServices: Sendable {
    public let pool: ConnectionPool
    public let catalog: CatalogCache
    public let intake: IntakeStore
    public let requests: RequestStore
    public let partners: PartnerKeyStore
    /// Wakes the workers' outbox dispatchers after changes that queued notifications.
    public let outboxNotifier: CoalescingNotifier
    public let options: APIOptions
    /// The current instant; tests move it.
    public let clock: @Sendable () -> Date

    public init(pool: ConnectionPool, options: APIOptions, clock: @escaping @Sendable () -> Date = { Date() }) {
        self.pool = pool
        self.catalog = CatalogCache(pool: pool, maxAge: options.catalogMaxAge)
        self.intake = IntakeStore(pool: pool, jurisdictionPrefix: options.trackingPrefix)
        self.requests = RequestStore(pool: pool)
        self.partners = PartnerKeyStore(pool: pool)
        self.outboxNotifier = CoalescingNotifier(pool: pool, channel: "loket_outbox")
        self.options = options
        self.clock = clock
    }
}

/// Settings of the HTTP API.
public struct APIOptions: Sendable {
    /// Prefix of tracking codes, e.g. "SRG" for Kota Serang.
    public var trackingPrefix: String = "SRG"
    /// Open311 `jurisdiction_id` this server answers for.
    public var jurisdictionID: String = "serangkota.go.id"
    /// The time zone in which "today" is judged (NIK birth dates) and instants are shown.
    public var timeZone: String = "Asia/Jakarta"
    public var catalogMaxAge: Duration = CatalogCache.defaultMaxAge
    /// The public record (transparency page, open data) gives a group's IKM only when at least
    /// this many citizens rated in the period: with one or two, the officer who served that day
    /// could read a known citizen's rating off the page. Managers' reports always give it.
    public var publicIKMMinimumRespondents: Int = 5
    /// Requests per client address a burst may make to creating routes, and the refill per second.
    public var rateLimitBurst: Int = 30
    public var rateLimitPerSecond: Double = 1
    /// Take the client address from X-Forwarded-For (only behind a trusted proxy).
    public var trustForwardedFor: Bool = false
    /// Base URL for links in answers (no trailing slash), e.g. https://loket.serangkota.go.id.
    public var publicBaseURL: String = ""
    /// Key material for the HTML pages' signed session cookies and anti-CSRF tokens. Every server
    /// behind one address needs the same value (LOKET_SESSION_SECRET); the default is random per
    /// process, which signs everybody out at each restart.
    public var sessionSecret: String = (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()

    public init() {}
}
