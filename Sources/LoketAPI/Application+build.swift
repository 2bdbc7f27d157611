import Foundation
import Hummingbird
import Logging
import LoketStore
import Metrics
import NIOCore
import NIOPosix
import Postgres
import Prometheus

/// Builds Loket's router: citizen API under /api/v1, Open311 under /open311/v2, operations at the
/// root. Tests call this directly with `app.test(.router)`.
public func buildRouter(
    services: LoketServices, metrics: PrometheusCollectorRegistry, migrator: Migrator? = nil
) -> Router<AppContext> {
    // HEAD answers every GET route with the GET's status and headers and no body (RFC 9110 §9.3.2:
    // a general-purpose server must support it; monitors and link checkers use it).
    let router = Router(context: AppContext.self, options: .autoGenerateHeadEndpoints)
    // Metrics outermost: they count each answer with the status the client got. Inside
    // RequestMiddleware they saw the errors it turns into answers (404, 409, 422, 429, 503) as
    // thrown, and counted every one as a 500.
    router.add(middleware: MetricsMiddleware())
    router.add(middleware: RequestMiddleware())
    router.add(middleware: PageMiddleware(
        timeZone: services.options.timeZone, strictTransport: services.options.publicBaseURL.lowercased().hasPrefix("https://")))
    router.add(middleware: ExpectationMiddleware())
    router.add(middleware: RateLimitMiddleware(
        limiter: RateLimiter(capacity: services.options.rateLimitBurst, refillPerSecond: services.options.rateLimitPerSecond),
        trustForwardedFor: services.options.trustForwardedFor))
    OperationsController(services: services, metrics: metrics, migrator: migrator).register(on: router)
    let api = router.group("api/v1")
    CatalogController(services: services).register(on: api)
    RequestsController(services: services, metrics: metrics).register(on: api)
    StaffController(services: services).register(on: api.group("staff"))
    ManagerController(services: services).register(on: api.group("manager"))
    TransparencyController(services: services).register(on: api)
    Open311Controller(services: services).register(on: router.group("open311/v2"))
    PagesController(services: services).register(on: router)
    // Last: it then runs only for requests no route answered (see MethodNotAllowedMiddleware).
    router.add(middleware: MethodNotAllowedMiddleware(routes: router.routes))
    return router
}

/// Settings of `loketd serve`.
public struct ServerOptions: Sendable {
    public var host = "127.0.0.1"
    public var port = 8080
    /// Close a connection that sends nothing for this long (slow or stuck clients).
    public var idleTimeout: Duration = .seconds(30)
    public var api = APIOptions()

    public init() {}
}

/// The HTTP server with its dependencies, ready for `runService()` (graceful shutdown on SIGTERM
/// and SIGINT: in-flight requests finish, then the pool closes).
public func buildApplication(
    options: ServerOptions, pool: ConnectionPool, migrator: Migrator?,
    eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, logger: Logger
) -> some ApplicationProtocol {
    let registry = PrometheusCollectorRegistry()
    MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
    let services = LoketServices(pool: pool, options: options.api)
    let router = buildRouter(services: services, metrics: registry, migrator: migrator)
    return Application(
        router: router,
        server: .loketHTTP1(idleTimeout: options.idleTimeout),
        configuration: .init(address: .hostname(options.host, port: options.port), serverName: "loket"),
        // Stopped in reverse order, each after the one behind it finished: the HTTP server first
        // (Hummingbird puts it behind these), then the notifier, then the pool it sends through.
        services: [PoolService(pool: pool), NotifierService(notifier: services.outboxNotifier)],
        eventLoopGroupProvider: .shared(eventLoopGroup),
        logger: logger)
}
