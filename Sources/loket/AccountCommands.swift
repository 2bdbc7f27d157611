import ArgumentParser
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

struct Login: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Log in to a Loket server with your personal token.",
        discussion: """
            Checks the token with the server, then stores the address and token in the \
            configuration file (mode 0600). Without --token, loket asks for the token without \
            showing it, or reads one line from standard input when that is not a terminal. \
            Passing --token leaves the token in your shell history; prefer the prompt.

            Examples:
              loket login https://loket.serangkota.go.id
              loket login                       # same server as before, new token
              pass show loket | loket login https://loket.serangkota.go.id
            """)

    @Argument(help: ArgumentHelp("The server's address. Default: LOKET_URL, else the server you logged in to before.", valueName: "url"))
    var server: String?

    @Option(help: ArgumentHelp("Your personal token (lks_…).", valueName: "token"))
    var token: String?

    @OptionGroup var options: ServerOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        let file = ConfigFile(environment: environment)
        let stored = try file.load()
        guard let given = server ?? environment["LOKET_URL"].flatMap({ $0.isEmpty ? nil : $0 }) ?? stored.serverURL else {
            throw Failure(.usage, "Which server? Give its address.", hints: ["loket login https://loket.serangkota.go.id"])
        }
        let base = try ServerURL.normalize(given)
        let token = try Token.checked(try self.token ?? TokenPrompt.read(), from: self.token == nil ? "the input" : "--token")
        if ServerURL.isInsecure(base) {
            StandardError.write("warning: \(base) is plain http, so your token crosses the network readable. Use the https address if there is one.")
        }
        let reply = try await StaffAPI.with(Session(serverURL: base, token: token), language: options.language) { api in
            try await api.send(.get, "me")
        }
        let me = try reply.decode(Me.self, from: base)
        try file.save(StoredLogin(serverURL: base, token: token))
        if output.json {
            Output.json(reply)
        } else {
            Output.line("Logged in to \(base) as \(me.name) (NIP \(me.nip)), \(me.role) in \(me.unit.code) — \(me.unit.name).")
            let expiry = me.token.expiresAt.map { "expires \(Instant.display($0))" } ?? "does not expire"
            Output.line("Token \(me.token.prefix)… \(expiry); saved in \(file.path).")
        }
        for name in ["LOKET_URL", "LOKET_TOKEN"] where environment[name].map({ !$0.isEmpty }) == true {
            StandardError.write("note: \(name) is set in your environment and overrides what was just saved.")
        }
    }
}

struct Logout: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Forget the stored token.",
        discussion: """
            Removes the token from the configuration file and keeps the server address, so that \
            the next `loket login` needs only a token. The token itself stays valid on the server \
            until it expires; if it may have leaked, ask your administrator to revoke it.

            Example:
              loket logout
            """)

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        let file = ConfigFile(environment: environment)
        var stored = try file.load()
        if stored.token == nil {
            Output.line("Not logged in: \(file.path) holds no token.")
        } else {
            stored.token = nil
            try file.save(stored)
            Output.line("Logged out: the token is removed from \(file.path).")
        }
        if environment["LOKET_TOKEN"].map({ !$0.isEmpty }) == true {
            StandardError.write("note: LOKET_TOKEN is still set in your environment, and loket keeps using it.")
        }
    }
}

struct Whoami: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show who you are logged in as, your role and unit, and the server.",
        discussion: """
            Examples:
              loket whoami
              loket whoami --json | jq -r .unit.code
            """)

    @OptionGroup var options: ServerOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        try await options.withAPI { api in
            let reply = try await api.send(.get, "me")
            if output.json { return Output.json(reply) }
            let me = try reply.decode(Me.self, from: api.base)
            Output.line("\(me.name) (NIP \(me.nip))")
            Output.line("Role    \(me.role)")
            Output.line("Unit    \(me.unit.code) — \(me.unit.name)")
            Output.line("Server  \(api.base)")
            Output.line("Token   \(me.token.prefix)…, " + (me.token.expiresAt.map { "expires \(Instant.display($0))" } ?? "does not expire"))
        }
    }
}

/// Reads the token without echoing it when a person types it, or one line from a pipe.
enum TokenPrompt {
    static func read() throws -> String {
        guard isatty(STDIN_FILENO) == 1 else {
            guard let line = readLine(strippingNewline: true) else {
                throw Failure(.usage, "No token given on standard input.", hints: ["Pipe the token in, or pass --token."])
            }
            return line
        }
        StandardError.write("Token (input hidden): ", newline: false)
        var original = termios()
        let hidden = tcgetattr(STDIN_FILENO, &original) == 0
        if hidden {
            EchoGuard.save(original)
            var silent = original
            silent.c_lflag &= ~tcflag_t(ECHO)
            tcsetattr(STDIN_FILENO, TCSANOW, &silent)
        }
        let line = readLine(strippingNewline: true)
        if hidden {
            tcsetattr(STDIN_FILENO, TCSANOW, &original)
            EchoGuard.clear()
        }
        StandardError.write("")
        guard let line else { throw Failure(.usage, "No token given.") }
        return line
    }
}

/// Puts terminal echo back if the officer presses Ctrl-C at the hidden prompt, which would
/// otherwise leave their shell typing blind.
enum EchoGuard {
    nonisolated(unsafe) private static var saved = termios()

    static func save(_ settings: termios) {
        saved = settings
        signal(SIGINT) { _ in
            tcsetattr(STDIN_FILENO, TCSANOW, &EchoGuard.saved)
            _exit(130)
        }
    }

    static func clear() {
        signal(SIGINT, SIG_DFL)
    }
}
