import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What `loket login` remembers: the server and the officer's personal token. Kept in a file only
/// its owner can read, because the token acts as the officer.
struct StoredLogin: Codable, Equatable {
    var serverURL: String?
    var token: String?

    enum CodingKeys: String, CodingKey {
        case serverURL = "server_url"
        case token
    }
}

/// The configuration file: `$LOKET_CONFIG`, else `$XDG_CONFIG_HOME/loket/config.json`, else
/// `~/.config/loket/config.json`.
struct ConfigFile {
    let url: URL
    /// The folder is Loket's own (`…/loket/`), not one that LOKET_CONFIG pointed into.
    let ownsFolder: Bool

    init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        ownsFolder = environment["LOKET_CONFIG"].map { $0.isEmpty } ?? true
        if let explicit = environment["LOKET_CONFIG"], !explicit.isEmpty {
            url = URL(fileURLWithPath: explicit)
        } else if let xdg = environment["XDG_CONFIG_HOME"], xdg.hasPrefix("/") {
            // The XDG spec says a relative XDG_CONFIG_HOME is invalid and must be ignored.
            url = URL(fileURLWithPath: xdg).appendingPathComponent("loket/config.json")
        } else {
            let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? FileManager.default.homeDirectoryForCurrentUser.path
            url = URL(fileURLWithPath: home).appendingPathComponent(".config/loket/config.json")
        }
    }

    var path: String { url.path }

    /// The stored login, or an empty one when there is no file yet.
    func load() throws -> StoredLogin {
        guard FileManager.default.fileExists(atPath: path) else { return StoredLogin() }
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw Failure(.usage, "Cannot read the configuration file \(path): \(error.localizedDescription)",
                hints: ["Check its permissions, or point LOKET_CONFIG at another file."])
        }
        warnIfOthersCanRead()
        do {
            return try JSONDecoder().decode(StoredLogin.self, from: data)
        } catch {
            throw Failure(.usage, "The configuration file \(path) is not valid JSON.",
                hints: ["Delete it and run `loket login` again."])
        }
    }

    /// Writes the login atomically with mode 0600: the file is created private (never briefly
    /// world-readable) under a temporary name and renamed over the old one.
    func save(_ login: StoredLogin) throws {
        let directory = url.deletingLastPathComponent()
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw Failure(.usage, "Cannot create \(directory.path): \(error.localizedDescription)",
                hints: ["Point LOKET_CONFIG at a file in a folder you can write."])
        }
        // An existing folder of Loket's own is made private too, as docs/cli.md says it is.
        if ownsFolder { _ = chmod(directory.path, 0o700) }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        var data = try encoder.encode(login)
        data.append(UInt8(ascii: "\n"))
        // A fresh, unguessable name that must not exist yet and is never a symbolic link: in a
        // shared folder (LOKET_CONFIG=/tmp/…) nobody can plant a link that login would write through.
        let temporary = path + ".tmp-\(getpid())-\(String(UInt64.random(in: 0 ... .max), radix: 36))"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw systemFailure("create \(temporary)") }
        let handle = FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
        do {
            // The umask can only narrow 0600; fchmod makes the mode exact even if the file existed.
            guard fchmod(descriptor, 0o600) == 0 else { throw systemFailure("protect \(temporary)") }
            try handle.write(contentsOf: data)
            try handle.synchronize()
            try handle.close()
        } catch {
            try? handle.close()
            unlink(temporary)
            throw error as? Failure ?? Failure(.usage, "Cannot write \(temporary): \(error.localizedDescription)")
        }
        guard rename(temporary, path) == 0 else {
            let failure = systemFailure("replace \(path)")
            unlink(temporary)
            throw failure
        }
    }

    private func systemFailure(_ action: String) -> Failure {
        Failure(.usage, "Cannot \(action): \(String(cString: strerror(errno))).",
            hints: ["Point LOKET_CONFIG at a file in a folder you can write."])
    }

    /// A token readable by others is a token others can use: say so, but keep working.
    private func warnIfOthersCanRead() {
        var info = stat()
        guard stat(path, &info) == 0, info.st_mode & 0o077 != 0 else { return }
        StandardError.write("warning: \(path) can be read by other users, and it holds your token. Run: chmod 600 \(path)")
    }
}

/// The server and token a command uses: `LOKET_URL` and `LOKET_TOKEN` override the file, so that
/// scripts and CI can run without a login (with both set, the file is not read at all).
struct Session {
    var serverURL: String
    var token: String

    static func resolve(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> Session {
        let file = ConfigFile(environment: environment)
        let givenURL = environment["LOKET_URL"].flatMap { $0.isEmpty ? nil : $0 }
        let givenToken = environment["LOKET_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
        let stored = givenURL != nil && givenToken != nil ? StoredLogin() : try file.load()
        guard let url = givenURL ?? stored.serverURL else {
            throw Failure.notLoggedIn("Not logged in: no server is configured (\(file.path) has none and LOKET_URL is unset).")
        }
        let server = try ServerURL.normalize(url)
        let token: String
        if let givenToken {
            token = try Token.checked(givenToken, from: "LOKET_TOKEN")
        } else if let storedToken = stored.token {
            // The stored token was checked with, and belongs to, the stored server: another address
            // in LOKET_URL must not receive it (a test box, a typo, a plain-http mirror).
            guard let storedURL = stored.serverURL, (try? ServerURL.normalize(storedURL)) == server else {
                throw Failure(.unauthenticated,
                    "LOKET_URL names \(server), but the stored token was issued for \(stored.serverURL ?? "another server"); it is sent to no other address.",
                    hints: ["Set LOKET_TOKEN to a token for \(server) as well, or run `loket login \(server)`."])
            }
            token = try Token.checked(storedToken, from: file.path)
        } else {
            throw Failure.notLoggedIn("Not logged in: there is no token for \(server).")
        }
        if ServerURL.isInsecure(server) {
            StandardError.write("warning: \(server) is plain http, so your token crosses the network readable. Use the https address if there is one.")
        }
        return Session(serverURL: server, token: token)
    }
}

/// Personal tokens as they reach the CLI: pasted, exported, read from a secret file.
enum Token {
    /// The token without the white space around it (a CR LF from a secret file or a paste), and
    /// refused, without being shown, when what is left cannot be a token: it would otherwise go
    /// into a header the HTTP client refuses, and that refusal prints the header whole.
    static func checked(_ text: String, from source: String) throws -> String {
        let token = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !token.isEmpty else {
            throw Failure(.usage, "The token in \(source) is empty.", hints: ["Paste the token your administrator gave you (it starts with lks_)."])
        }
        guard token.unicodeScalars.allSatisfy({ (0x21...0x7E).contains($0.value) }) else {
            throw Failure(.usage, "The token in \(source) contains a character no Loket token has (a space, a control character or a non-ASCII letter); it was not sent.",
                hints: ["Copy the token again (it starts with lks_), without quotes or line breaks, then run `loket login`."])
        }
        return token
    }
}

/// Server addresses as officers type them, reduced to the base the API paths hang from.
enum ServerURL {
    /// `https://loket.example.go.id/`, `…/api/v1` and `…/api/v1/staff` all mean the same server.
    static func normalize(_ text: String) throws -> String {
        var base = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard let components = URLComponents(string: base), let scheme = components.scheme?.lowercased(),
              scheme == "http" || scheme == "https", let host = components.host, !host.isEmpty
        else {
            // A token pasted where the address goes must not end up in the scrollback.
            if base.hasPrefix("lks_") {
                throw Failure(.usage, "That is a token, not a server address; it was not sent anywhere.",
                    hints: ["Run `loket login <address>` and paste the token when asked (or give it with --token)."])
            }
            throw Failure(.usage, "\"\(text)\" is not a server address.",
                hints: ["Give the full address with http:// or https://, e.g. `loket login https://loket.serangkota.go.id`."])
        }
        guard components.query == nil, components.fragment == nil else {
            throw Failure(.usage, "\"\(text)\" has a query or fragment; give just the server address.")
        }
        while base.hasSuffix("/") { base.removeLast() }
        for suffix in ["/api/v1/staff", "/api/v1"] where base.hasSuffix(suffix) {
            base.removeLast(suffix.count)
        }
        return base
    }

    /// Plain http is fine on the machine itself or in a test, and nowhere else: the token would
    /// cross the network readable.
    static func isInsecure(_ base: String) -> Bool {
        guard let components = URLComponents(string: base), components.scheme?.lowercased() == "http" else { return false }
        let host = components.host?.lowercased() ?? ""
        return !(host == "localhost" || host == "::1" || host == "[::1]" || isLoopbackIPv4(host))
    }

    /// An IPv4 address in 127.0.0.0/8, written as one: `127.kantor.example` is a name that may
    /// point anywhere.
    static func isLoopbackIPv4(_ host: String) -> Bool {
        var address = in_addr()
        guard inet_pton(AF_INET, host, &address) == 1 else { return false }
        return UInt32(bigEndian: address.s_addr) >> 24 == 127
    }
}
