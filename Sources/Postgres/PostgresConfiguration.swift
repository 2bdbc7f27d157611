import CLibPQ
import Foundation

/// Where and how to connect. The conninfo is handed to libpq unchanged, so everything libpq
/// understands works: a `postgres://` URL, a `key=value` string, multi-host lists with
/// `target_session_attrs`, and the PG* environment variables for anything left unset (an empty
/// conninfo means "entirely from the environment").
public struct PostgresConfiguration: Sendable {
    public var conninfo: String
    /// Shown in pg_stat_activity unless the conninfo sets application_name itself.
    public var applicationName: String
    /// Applied unless the conninfo or PGCONNECT_TIMEOUT sets one: a dead host must not hang intake.
    public var connectTimeoutSeconds: Int
    /// The longest a statement may keep its caller waiting, or nil for no limit. Past it the
    /// statement is cancelled (PQcancel); if the server does not answer the cancel either (a frozen
    /// or unreachable host keeps the TCP connection open), the socket is shut down after as long
    /// again (at most 5 s more) and the statement fails as a lost connection. A server-side
    /// statement_timeout cannot do this: it needs the server to be running.
    public var statementDeadline: Duration?

    public init(
        conninfo: String = "", applicationName: String = "loket", connectTimeoutSeconds: Int = 10,
        statementDeadline: Duration? = nil
    ) {
        self.conninfo = conninfo
        self.applicationName = applicationName
        self.connectTimeoutSeconds = connectTimeoutSeconds
        self.statementDeadline = statementDeadline
    }

    /// `LOKET_DATABASE_URL`, then `DATABASE_URL`, else libpq's PG* variables alone.
    public static func fromEnvironment(
        _ environment: [String: String] = ProcessInfo.processInfo.environment,
        applicationName: String = "loket"
    ) -> PostgresConfiguration {
        let conninfo = environment["LOKET_DATABASE_URL"] ?? environment["DATABASE_URL"] ?? ""
        return PostgresConfiguration(conninfo: conninfo, applicationName: applicationName)
    }

    /// The keyword/value pairs for PQconnectdbParams. The conninfo goes in as an expanded `dbname`
    /// so that its settings override the defaults placed before it.
    var connectParameters: [(String, String)] {
        var parameters: [(String, String)] = []
        if ProcessInfo.processInfo.environment["PGCONNECT_TIMEOUT"] == nil {
            parameters.append(("connect_timeout", String(connectTimeoutSeconds)))
        }
        // TCP keepalive probes after a minute of silence, so that a connection whose peer vanished
        // without a word (a host powered off, a NAT or firewall that dropped the flow) fails within
        // about two minutes instead of the system's two hours: the worker's LISTEN connection,
        // which only reads, would otherwise never learn and never reconnect. Probes stop while
        // sent data waits for its acknowledgement; tcp_user_timeout bounds that wait (else the
        // kernel's retransmissions take about 15 minutes). Before the conninfo, which may set its
        // own (they also override a pg_service.conf entry's); Unix sockets ignore them.
        parameters += [
            ("keepalives", "1"), ("keepalives_idle", "60"), ("keepalives_interval", "10"), ("keepalives_count", "6"),
            ("tcp_user_timeout", "120000"),
        ]
        if !conninfo.isEmpty {
            parameters.append(("dbname", conninfo))
        }
        parameters.append(("fallback_application_name", applicationName))
        // Swift strings are UTF-8 and so is every byte Loket sends and reads: a PGCLIENTENCODING,
        // conninfo, role or database setting of another encoding would have the server convert
        // them, silently. Last, so that it overrides them all.
        parameters.append(("client_encoding", "UTF8"))
        return parameters
    }

    /// Why libpq cannot use the conninfo as written, in words that never repeat it; nil when it can.
    /// libpq's own complaint quotes the offending fragment (`invalid percent-encoded token:
    /// "Hunter%zz…"`), and a URL of another scheme (`jdbc:postgresql://user:pass@host/db`) would be
    /// taken whole as a database name and echoed by every failed connect: either would put the
    /// password in the logs.
    public var problem: String? {
        if conninfo.isEmpty { return nil }
        let lowered = conninfo.lowercased()
        let isURL = lowered.hasPrefix("postgres://") || lowered.hasPrefix("postgresql://")
        if isURL || conninfo.contains("=") {
            var errorMessage: UnsafeMutablePointer<CChar>?
            guard let options = PQconninfoParse(conninfo, &errorMessage) else {
                if let errorMessage { PQfreemem(errorMessage) }
                return isURL
                    ? "the database URL cannot be parsed: check it (a %, space, @ or / in the password is written %25, %20, %40, %2F)"
                    : "the key=value conninfo cannot be parsed: check it (a value with spaces is quoted with single quotes)"
            }
            PQconninfoFree(options)
            return nil
        }
        // A bare word is a database name; one that looks like a URL of another kind is not.
        if conninfo.contains("://") || conninfo.contains("@") {
            return "not a PostgreSQL URL (postgres://user@host/database) or key=value conninfo"
        }
        return nil
    }

    /// A warning when connections may cross the network unencrypted or unauthenticated: a TCP host
    /// other than this machine with an sslmode (or PGSSLMODE) below `verify-full`, libpq's
    /// default `prefer` among them (it falls back to plain text, and never checks the server).
    /// Requests carry citizens' names, NIKs and contacts. Nil for Unix sockets and loopback.
    public var transportWarning: String? {
        let environment = ProcessInfo.processInfo.environment
        var hosts = environment["PGHOST"] ?? ""
        var sslmode = environment["PGSSLMODE"] ?? "prefer"
        if !conninfo.isEmpty, problem == nil {
            var errorMessage: UnsafeMutablePointer<CChar>?
            if let options = PQconninfoParse(conninfo, &errorMessage) {
                var option = options
                while let keyword = option.pointee.keyword {
                    if let value = option.pointee.val {
                        switch String(cString: keyword) {
                        case "host", "hostaddr": hosts = String(cString: value)
                        case "sslmode": sslmode = String(cString: value)
                        default: break
                        }
                    }
                    option += 1
                }
                PQconninfoFree(options)
            } else if let errorMessage {
                PQfreemem(errorMessage)
            }
        }
        let remote = hosts.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { host in
            !host.isEmpty && !host.hasPrefix("/") && !host.hasPrefix("@") && host != "localhost" && !host.hasPrefix("127.") && host != "::1"
        }
        guard !remote.isEmpty, sslmode != "verify-full" else { return nil }
        return "the database at \(remote.joined(separator: ",")) is reached with sslmode=\(sslmode): connections may be unencrypted or go to an impostor; use sslmode=verify-full (with sslrootcert) across a network"
    }

    /// The conninfo with any password removed, for logs and error messages. An unparsable conninfo
    /// is described only by libpq's complaint, never echoed.
    public var redacted: String {
        if conninfo.isEmpty { return "(from PG* environment)" }
        var errorMessage: UnsafeMutablePointer<CChar>?
        guard let options = PQconninfoParse(conninfo, &errorMessage) else {
            if let errorMessage { PQfreemem(errorMessage) }
            return "(unparsable conninfo)"
        }
        defer { PQconninfoFree(options) }
        var parts: [String] = []
        var option = options
        while let keyword = option.pointee.keyword {
            let key = String(cString: keyword)
            if let value = option.pointee.val, !key.contains("password") {
                parts.append("\(key)=\(String(cString: value))")
            }
            option += 1
        }
        return parts.joined(separator: " ")
    }
}

extension PostgresConfiguration {
    /// PQconnectdbParams with these settings. Blocking: call only from a thread libpq may own.
    func connectBlocking() -> OpaquePointer? {
        let parameters = connectParameters
        let keywords = parameters.map { strdup($0.0) } + [nil]
        let values = parameters.map { strdup($0.1) } + [nil]
        defer {
            keywords.forEach { free($0) }
            values.forEach { free($0) }
        }
        return keywords.withUnsafeBufferPointer { k in
            values.withUnsafeBufferPointer { v in
                k.withMemoryRebound(to: UnsafePointer<CChar>?.self) { kk in
                    v.withMemoryRebound(to: UnsafePointer<CChar>?.self) { vv in
                        PQconnectdbParams(kk.baseAddress, vv.baseAddress, 1)
                    }
                }
            }
        }
    }
}
