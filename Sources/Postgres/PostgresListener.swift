import CLibPQ
import Foundation
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A notification from `NOTIFY channel, 'payload'` (or `pg_notify`).
public struct PostgresNotification: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        /// A real notification sent by a backend.
        case notification
        /// The listener (re)connected and is listening again. Notifications sent while it was away
        /// are lost, so a consumer should look at the database afresh, as if notified.
        case resynchronize
    }

    public var kind: Kind
    public var channel: String
    public var payload: String
    public var backendPID: Int32

    public init(kind: Kind, channel: String, payload: String, backendPID: Int32) {
        self.kind = kind
        self.channel = channel
        self.payload = payload
        self.backendPID = backendPID
    }
}

/// LISTENs on a dedicated connection, owned by its own thread, and delivers notifications as an
/// AsyncSequence. A lost connection is re-established with backoff and the channels listened
/// again; each (re)connect yields one `.resynchronize` element per channel.
public final class PostgresListener: AsyncSequence, Sendable {
    public typealias Element = PostgresNotification

    public let channels: [String]
    private let configuration: PostgresConfiguration
    private let logger: Logger
    private let stream: AsyncStream<PostgresNotification>
    private let continuation: AsyncStream<PostgresNotification>.Continuation
    private let stopRequested = Atomic<Bool>(false)
    private let connectedPID = Atomic<Int32>(0)
    private let started = Atomic<Bool>(false)
    /// How long the thread sleeps in poll() before checking for stop.
    private let pollInterval: Int32 = 200

    public init(
        configuration: PostgresConfiguration, channels: [String],
        logger: Logger = Logger(label: "loket.postgres.listener")
    ) {
        precondition(!channels.isEmpty, "listen to at least one channel")
        self.configuration = configuration
        self.channels = channels
        self.logger = logger
        (stream, continuation) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(10_000))
    }

    deinit {
        stop()
    }

    /// Starts the listener thread. Idempotent.
    public func start() {
        guard !started.exchange(true, ordering: .acquiringAndReleasing) else { return }
        continuation.onTermination = { [weak self] _ in self?.stop() }
        let thread = Thread { [self] in run() }
        thread.name = "loket-listener"
        thread.start()
    }

    /// Stops listening; the sequence ends within one poll interval.
    public func stop() {
        stopRequested.store(true, ordering: .releasing)
    }

    /// The backend PID of the current listening connection, 0 while disconnected (for tests and
    /// diagnostics).
    public var backendPID: Int32 { connectedPID.load(ordering: .acquiring) }

    public func makeAsyncIterator() -> AsyncStream<PostgresNotification>.Iterator {
        start()
        return stream.makeAsyncIterator()
    }

    private var shouldStop: Bool { stopRequested.load(ordering: .acquiring) }

    private func run() {
        var backoff = 0.1
        while !shouldStop {
            if let connection = connect() {
                backoff = 0.1
                listen(on: connection)
                connectedPID.store(0, ordering: .releasing)
                PQfinish(connection)
            } else {
                Thread.sleep(forTimeInterval: backoff)
                backoff = Swift.min(backoff * 2, 5)
            }
        }
        continuation.finish()
    }

    private func connect() -> OpaquePointer? {
        let connection = configuration.connectBlocking()
        guard let connection, PQstatus(connection) == CONNECTION_OK else {
            let reason = connection.flatMap { PQerrorMessage($0) }.map { String(cString: $0) } ?? "out of memory"
            logger.warning("listener cannot connect", metadata: ["reason": "\(reason.trimmingCharacters(in: .whitespacesAndNewlines))"])
            if let connection { PQfinish(connection) }
            return nil
        }
        for channel in channels {
            guard let quoted = PQescapeIdentifier(connection, channel, channel.utf8.count) else {
                PQfinish(connection)
                return nil
            }
            let result = PQexec(connection, "LISTEN " + String(cString: quoted))
            PQfreemem(quoted)
            let ok = PQresultStatus(result) == PGRES_COMMAND_OK
            PQclear(result)
            guard ok else {
                logger.warning("LISTEN failed", metadata: ["channel": "\(channel)"])
                PQfinish(connection)
                return nil
            }
        }
        let pid = PQbackendPID(connection)
        connectedPID.store(pid, ordering: .releasing)
        for channel in channels {
            continuation.yield(PostgresNotification(kind: .resynchronize, channel: channel, payload: "", backendPID: pid))
        }
        return connection
    }

    /// Waits for input and drains notifications until the connection fails or stop is requested.
    private func listen(on connection: OpaquePointer) {
        let socket = PQsocket(connection)
        while !shouldStop {
            var descriptor = pollfd(fd: socket, events: Int16(POLLIN), revents: 0)
            let ready = poll(&descriptor, 1, pollInterval)
            if ready < 0 {
                if errno == EINTR { continue }
                return
            }
            if ready == 0 { continue }
            guard PQconsumeInput(connection) == 1, PQstatus(connection) == CONNECTION_OK else {
                logger.warning("listener lost its connection; reconnecting")
                return
            }
            while let notify = PQnotifies(connection) {
                let element = PostgresNotification(
                    kind: .notification,
                    channel: String(cString: notify.pointee.relname),
                    payload: String(cString: notify.pointee.extra),
                    backendPID: notify.pointee.be_pid)
                PQfreemem(notify)
                continuation.yield(element)
            }
        }
    }
}
