import ArgumentParser
import Foundation
import Hummingbird
import Logging
import LoketAPI
import NIOCore
import NIOPosix
import Postgres

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the HTTP API (citizen API, Open311, operations endpoints).",
        discussion: """
            Every option can also be set in the environment (LOKET_BIND, LOKET_PORT, LOKET_POOL_SIZE, \
            LOKET_HTTP_THREADS, LOKET_PQ_LANES, LOKET_ACQUIRE_TIMEOUT, LOKET_STATEMENT_DEADLINE, LOKET_IDLE_TIMEOUT, \
            LOKET_LOG_LEVEL, LOKET_LOG_FORMAT, LOKET_TRACKING_PREFIX, LOKET_JURISDICTION_ID, \
            LOKET_PUBLIC_URL, LOKET_TRUST_FORWARDED_FOR). Stops gracefully on SIGTERM or SIGINT: \
            requests in flight finish, then the database pool closes.

            Examples:
              loketd serve
              loketd serve --bind 0.0.0.0 --port 8080 --pool-size 20 --log-format json
            """
    )

    @OptionGroup var database: DatabaseOptions

    @Option(help: "Address to listen on.")
    var bind: String = ProcessInfo.processInfo.environment["LOKET_BIND"] ?? "127.0.0.1"

    @Option(help: "TCP port to listen on.")
    var port: Int = EnvironmentDefaults.integer("LOKET_PORT", default: 8080)

    @Option(help: "Database connections (LOKET_POOL_SIZE; they share the --pq-lanes threads).")
    var poolSize: Int = EnvironmentDefaults.integer("LOKET_POOL_SIZE", default: 16)

    @OptionGroup var lanes: LaneOptions

    @Option(help: """
        Threads that read and write the HTTP connections (LOKET_HTTP_THREADS). Handlers and the \
        database calls run on threads of their own, so the default is half the processors, at \
        least one.
        """)
    var httpThreads: Int = EnvironmentDefaults.integer("LOKET_HTTP_THREADS", default: Self.defaultHTTPThreads)

    /// Half the processors, at least one. On two cores shared with PostgreSQL one event loop
    /// cost 7 % less of loketd's CPU per filing than two, and filed 2–6 % more (docs/performance.md).
    static var defaultHTTPThreads: Int { max(1, System.coreCount / 2) }

    @Option(help: "Seconds to wait for a free database connection before answering 503 (LOKET_ACQUIRE_TIMEOUT).")
    var acquireTimeout: Int = EnvironmentDefaults.integer("LOKET_ACQUIRE_TIMEOUT", default: 5)

    @Option(help: """
        Seconds a database statement may take before it is cancelled and the request answered 503; \
        a server that answers neither it nor the cancel has its connection shut soon after. 0 for \
        no limit (LOKET_STATEMENT_DEADLINE).
        """)
    var statementDeadline: Int = EnvironmentDefaults.integer("LOKET_STATEMENT_DEADLINE", default: 30)

    @Option(help: "Seconds of silence after which a client connection is closed (LOKET_IDLE_TIMEOUT).")
    var idleTimeout: Int = EnvironmentDefaults.integer("LOKET_IDLE_TIMEOUT", default: 30)

    @OptionGroup var logging: LoggingOptions

    @Option(help: "Tracking code prefix (jurisdiction).")
    var trackingPrefix: String = ProcessInfo.processInfo.environment["LOKET_TRACKING_PREFIX"] ?? "SRG"

    @Option(help: "Open311 jurisdiction_id.")
    var jurisdictionID: String = ProcessInfo.processInfo.environment["LOKET_JURISDICTION_ID"] ?? "serangkota.go.id"

    @Option(help: "Public base URL used in links (no trailing slash).")
    var publicURL: String = ProcessInfo.processInfo.environment["LOKET_PUBLIC_URL"] ?? ""

    @Flag(
        inversion: .prefixedNo,
        help: "Take client addresses from X-Forwarded-For (only behind a trusted proxy; LOKET_TRUST_FORWARDED_FOR=1).")
    var trustForwardedFor = EnvironmentDefaults.flag("LOKET_TRUST_FORWARDED_FOR")

    @Option(help: """
        The public record gives a unit's or service's satisfaction index (IKM) only when at least \
        this many citizens rated in the period, so that no one rating can be read off it \
        (LOKET_PUBLIC_IKM_MINIMUM_RESPONDENTS).
        """)
    var publicIKMMinimumRespondents: Int = EnvironmentDefaults.integer("LOKET_PUBLIC_IKM_MINIMUM_RESPONDENTS", default: 5)

    func validate() throws {
        try EnvironmentDefaults.check()
        guard (1...65535).contains(port) else { throw ValidationError("--port must be 1…65535") }
        guard (1...500).contains(poolSize) else { throw ValidationError("--pool-size must be 1…500") }
        guard (1...256).contains(httpThreads) else { throw ValidationError("--http-threads must be 1…256") }
        guard (0...86_400).contains(statementDeadline) else { throw ValidationError("--statement-deadline must be 0…86400 seconds") }
        guard (1...1000).contains(publicIKMMinimumRespondents) else {
            throw ValidationError("--public-ikm-minimum-respondents must be 1…1000")
        }
        // Anyone who knows the key can sign a manager's session cookie.
        if let problem = EnvironmentDefaults.secretProblem("LOKET_SESSION_SECRET", minimumLength: 32) {
            throw ValidationError(problem)
        }
    }

    func run() async throws {
        logging.bootstrap()
        let logger = Logger(label: "loketd")
        let migrator: Migrator?
        do {
            migrator = try Migrator(directory: database.sqlDirectory().appendingPathComponent("migrations"))
        } catch {
            // Without the SQL folder /readyz cannot tell whether the schema is current.
            logger.warning("no migrations found; /readyz will not check the schema", metadata: ["reason": "\(error)"])
            migrator = nil
        }
        var configuration = database.configuration
        configuration.statementDeadline = statementDeadline > 0 ? .seconds(statementDeadline) : nil
        let pool = ConnectionPool(
            configuration: configuration, maxConnections: poolSize, acquireTimeout: .seconds(acquireTimeout),
            lanes: lanes.pqLanes, logger: Logger(label: "loketd.pool"))
        var options = ServerOptions()
        options.host = bind
        options.port = port
        options.idleTimeout = .seconds(idleTimeout)
        options.api.trackingPrefix = trackingPrefix
        options.api.jurisdictionID = jurisdictionID
        options.api.publicBaseURL = publicURL
        options.api.trustForwardedFor = trustForwardedFor
        options.api.publicIKMMinimumRespondents = publicIKMMinimumRespondents
        if let secret = ProcessInfo.processInfo.environment["LOKET_SESSION_SECRET"], !secret.isEmpty { options.api.sessionSecret = secret }
        if !publicURL.lowercased().hasPrefix("https://"), !trustForwardedFor, !["127.0.0.1", "::1", "localhost"].contains(bind) {
            // The dashboard's cookies are marked Secure only when the site is known to be HTTPS.
            logger.warning(
                "serving on a non-loopback address without an https:// LOKET_PUBLIC_URL (or a trusted proxy's X-Forwarded-Proto): dashboard cookies are sent without Secure; put TLS in front and set LOKET_PUBLIC_URL")
        }
        if let warning = database.configuration.transportWarning { logger.warning("\(warning)") }
        logger.info("starting", metadata: [
            "bind": "\(bind):\(port)", "database": "\(database.configuration.redacted)", "http_threads": "\(httpThreads)",
            "pq_lanes": "\(min(lanes.pqLanes, poolSize))",
        ])
        let eventLoops = MultiThreadedEventLoopGroup(numberOfThreads: httpThreads)
        let app = buildApplication(options: options, pool: pool, migrator: migrator, eventLoopGroup: eventLoops, logger: logger)
        do {
            try await app.runService()
        } catch {
            try? await eventLoops.shutdownGracefully()
            throw error
        }
        try await eventLoops.shutdownGracefully()
    }
}

/// --log-level and --log-format (text or json) for the long-running commands.
struct LoggingOptions: ParsableArguments {
    @Option(help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel: String = ProcessInfo.processInfo.environment["LOKET_LOG_LEVEL"] ?? "info"

    @Option(help: "text or json (one JSON object a line).")
    var logFormat: String = ProcessInfo.processInfo.environment["LOKET_LOG_FORMAT"] ?? "text"

    func validate() throws {
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("unknown --log-level \(logLevel)") }
        guard ["text", "json"].contains(logFormat) else { throw ValidationError("--log-format is text or json") }
    }

    func bootstrap() {
        // A long-running process whose standard error goes to a pipe (a log collector, `| tee`)
        // must outlive that pipe: with SIGPIPE ignored a log line to a closed pipe fails with
        // EPIPE and is dropped, instead of the signal killing the server mid-request. (Sockets
        // already avoid the signal: NIO and libpq send with MSG_NOSIGNAL.)
        signal(SIGPIPE, SIG_IGN)
        let level = Logger.Level(rawValue: logLevel) ?? .info
        let json = logFormat == "json"
        LoggingSystem.bootstrap { label in
            var handler = StandardErrorLogHandler(label: label, format: json ? .json : .text)
            handler.logLevel = level
            return handler
        }
    }
}

/// Log lines on standard error, one per event: as swift-log's StreamLogHandler writes them
/// (`time level label : key=value … [source] message`), or one JSON object each (time, level,
/// label, message and metadata). Metadata is formatted when a line is written, not when it is
/// set (StreamLogHandler re-renders it on every change): every request sets its request id on its
/// logger, and most requests log nothing at the default level. A line that cannot be written
/// (standard error's pipe closed) is dropped: it must not stop the server.
struct StandardErrorLogHandler: LogHandler {
    enum Format {
        case text
        case json
    }

    let label: String
    let format: Format
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let all = metadata.merging(event.metadata ?? [:], uniquingKeysWith: { $1 })
        let time = Date().ISO8601Format()
        let line: Data
        switch format {
        case .text:
            let pretty = all.sorted { $0.key < $1.key }.map { " \($0.key)=\($0.value)" }.joined()
            line = Data("\(time) \(event.level) \(label) :\(pretty) [\(event.source)] \(event.message)\n".utf8)
        case .json:
            var object: [String: String] = ["time": time, "level": event.level.rawValue, "label": label, "message": event.message.description]
            for (key, value) in all { object[key] = value.description }
            guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) else { return }
            line = data + Data("\n".utf8)
        }
        try? FileHandle.standardError.write(contentsOf: line)
    }
}
