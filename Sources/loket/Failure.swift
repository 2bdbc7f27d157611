import Foundation

/// The exit codes of `loket`, stable so that scripts can branch on them.
enum ExitStatus: Int32, CaseIterable {
    case ok = 0
    /// The command line is wrong (unknown command, missing argument, bad option), or the
    /// configuration file cannot be read or written.
    case usage = 1
    /// The server understood and said no: not allowed, invalid input (4xx other than the ones below).
    case refused = 2
    /// Not logged in, or the token is invalid, expired or revoked (HTTP 401).
    case unauthenticated = 3
    /// No such request, document or route (HTTP 404).
    case notFound = 4
    /// The request is in the wrong state for this: claimed by someone else, already closed (HTTP 409).
    case conflict = 5
    /// The server cannot be reached, is overloaded or failed (connection errors, 429, 5xx).
    case unavailable = 6

    var meaning: String {
        switch self {
        case .ok: "success"
        case .usage: "usage: bad command line; or the config file is unusable"
        case .refused: "refused by the server: not permitted, invalid input (other 4xx)"
        case .unauthenticated: "not logged in; token invalid, expired or revoked (401)"
        case .notFound: "not found: no such request or document (404)"
        case .conflict: "conflict: held by someone else, wrong state, closed (409)"
        case .unavailable: "server unreachable, busy or failing (429, 5xx): try again"
        }
    }

    /// The table printed in `loket --help` and kept in step with docs/cli.md.
    static var table: String {
        allCases.map { "  \($0.rawValue)  \($0.meaning)" }.joined(separator: "\n")
    }
}

/// Why a command did not succeed: what happened, in the server's words where it gave any, and
/// what the officer can do about it. Printed to stderr; the process exits with `status`.
struct Failure: Error {
    var status: ExitStatus
    var message: String
    /// Extra facts (the fields of a validation error, who holds a request).
    var details: [String] = []
    /// What to do next, each a sentence naming a command where one helps.
    var hints: [String] = []

    init(_ status: ExitStatus, _ message: String, details: [String] = [], hints: [String] = []) {
        self.status = status
        self.message = message
        self.details = details
        self.hints = hints
    }

    var rendered: String {
        var lines = ["error: \(message)"]
        lines += details.map { "  \($0)" }
        lines += hints.map { "hint: \($0)" }
        return lines.joined(separator: "\n")
    }

    static func notLoggedIn(_ why: String) -> Failure {
        Failure(.unauthenticated, why, hints: [
            "Log in with `loket login https://loket.example.go.id` and paste your personal token (lks_…) when asked.",
        ])
    }
}

/// Standard error, unbuffered, so that messages appear even if the process exits right after.
enum StandardError {
    static func write(_ text: String, newline: Bool = true) {
        FileHandle.standardError.write(Data((newline && !text.hasSuffix("\n") ? text + "\n" : text).utf8))
    }
}
