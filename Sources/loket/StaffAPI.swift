import AsyncHTTPClient
import Foundation

/// The language the server writes its messages in (`Accept-Language`).
enum Language: String, CaseIterable {
    case id
    case en
}

/// One answer of the server: the status, the raw body (printed as is by `--json`) and the header
/// that says when to retry.
struct Reply {
    var status: Int
    var body: [UInt8]
    var retryAfter: String?
    /// Where a redirect points (redirects are not followed).
    var location: String?

    func decode<T: Decodable>(_ type: T.Type, from server: String) throws -> T {
        do {
            return try LoketJSON.decode(type, from: body)
        } catch {
            throw Failure(.unavailable, "The server at \(server) answered, but not like a Loket server (\(error)).",
                hints: ["Check the address with `loket login \(server)`; it is the base address, without /api/v1."])
        }
    }
}

/// The staff API under `/api/v1/staff`, with every non-2xx answer turned into a `Failure` that
/// says what to do.
struct StaffAPI {
    enum Method {
        case get
        case post
    }

    let base: String
    let token: String
    let language: Language?
    let client: HTTPClient

    /// How long an answer may be silent, and how long a whole exchange may take.
    static let readTimeoutSeconds: Int64 = 75
    static let deadlineSeconds: Int64 = 90

    /// Runs `body` with a client that is shut down afterwards, whatever happens.
    static func with<T>(_ session: Session, language: Language?, _ body: (StaffAPI) async throws -> T) async throws -> T {
        // Redirects are refused rather than followed: a redirect to another host would carry the
        // token there, and a moved server is better fixed once with `loket login`.
        // The read timeout outlasts what the server allows itself (a pool wait of 5 s and a
        // statement deadline of 30 s, docs/deployment.md): given up on sooner, a claim the server
        // then commits would be claimed again by an officer who tries once more.
        var configuration = HTTPClient.Configuration(
            redirectConfiguration: .disallow,
            timeout: .init(connect: .seconds(5), read: .seconds(Self.readTimeoutSeconds)))
        // One command makes one or two requests: a refused connection should be reported at
        // once, not retried with backoff until the connect timeout as a long-lived service would.
        configuration.connectionPool.retryConnectionEstablishment = false
        let client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
        let api = StaffAPI(base: session.serverURL, token: session.token, language: language, client: client)
        // A failed shutdown only means idle connections were dropped at exit; the answer stands.
        do {
            let value = try await body(api)
            try? await client.shutdown()
            return value
        } catch {
            try? await client.shutdown()
            throw error
        }
    }

    /// Sends one request to `/api/v1/staff/<path>`. `code` names the request the call is about,
    /// so that a refusal can say who holds it.
    func send(
        _ method: Method, _ path: String, query: [(String, String?)] = [], body: [UInt8]? = nil, about code: String? = nil
    ) async throws -> Reply {
        let reply = try await exchange(method, path, query: query, body: body)
        guard (200..<300).contains(reply.status) else { throw await failure(for: reply, about: code) }
        return reply
    }

    /// One request to `/api/v1/<area>/<path>` and its answer, whatever the status; only transport
    /// trouble throws.
    func exchange(
        _ method: Method, _ path: String, query: [(String, String?)] = [], body: [UInt8]? = nil,
        under area: String = "staff", accept: String = "application/json"
    ) async throws -> Reply {
        var components = URLComponents()
        let present = query.compactMap { name, value in value.map { URLQueryItem(name: name, value: $0) } }
        if !present.isEmpty { components.queryItems = present }
        var request = HTTPClientRequest(url: "\(base)/api/v1/\(area)/\(path)\(components.percentEncodedQuery.map { "?" + $0 } ?? "")")
        switch method {
        case .get: request.method = .GET
        case .post: request.method = .POST
        }
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        request.headers.add(name: "Accept", value: accept)
        request.headers.add(name: "User-Agent", value: "loket-cli/\(Loket.version)")
        if let language { request.headers.add(name: "Accept-Language", value: language.rawValue) }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(body)
        }
        do {
            let response = try await client.execute(request, timeout: .seconds(Self.deadlineSeconds))
            let buffer = try await response.body.collect(upTo: 64 * 1024 * 1024)
            return Reply(status: Int(response.status.code), body: Array(buffer.readableBytesView),
                retryAfter: response.headers.first(name: "Retry-After"), location: response.headers.first(name: "Location"))
        } catch let error as Failure {
            throw error
        } catch let error as HTTPClientError where Self.isLocal(error) {
            // Refused before anything was sent: retrying cannot help, and the client's own
            // description would print the offending header (the token) whole.
            throw Failure(.usage, "The request to \(base) could not be built: \(error.shortDescription.lowercased()).", hints: [
                "Check the server address (`loket login <address>`; LOKET_URL overrides it) and the token (LOKET_TOKEN or `loket login`).",
            ])
        } catch {
            if method == .post, Self.mayHaveArrived(error) {
                // The change was sent and its answer lost: the server may have made it. Sent again
                // blindly, a claim takes a second request and a note is written twice.
                throw Failure(.unavailable, "No answer from the Loket server at \(base): \(Self.describe(error)).", hints: [
                    "The server may have done it all the same: check with `loket mine` or `loket show CODE` before you send it again.",
                ])
            }
            throw Failure(.unavailable, "Cannot reach the Loket server at \(base): \(Self.describe(error)).", hints: [
                "Check the address (`loket login <address>` changes it; LOKET_URL overrides it) and that the server is running, then try again.",
            ])
        }
    }

    /// Transport errors after which the request may have reached the server.
    static func mayHaveArrived(_ error: any Error) -> Bool {
        guard let error = error as? HTTPClientError else { return false }
        return [HTTPClientError.readTimeout, .deadlineExceeded, .remoteConnectionClosed].contains(error)
    }

    /// Errors of the request itself, found before it was sent.
    static func isLocal(_ error: HTTPClientError) -> Bool {
        let local: [HTTPClientError] = [
            .invalidURL, .emptyHost, .emptyScheme, .unsupportedScheme(""), .invalidHeaderFieldNames([]), .invalidHeaderFieldValues([]),
        ]
        return local.contains { $0.shortDescription == error.shortDescription }
    }

    /// A tracking code as typed (`srg 7k3d 9qxa m2pz`, with spaces or dashes) made into a path
    /// segment: white space becomes a dash, and anything but ASCII letters, digits and dashes is
    /// refused here, so that no typo can reach another route (`..`) or arrive percent-encoded.
    static func segment(_ text: String) throws -> String {
        let words = text.split(whereSeparator: { $0.isWhitespace })
        let code = words.joined(separator: "-")
        guard !code.isEmpty else {
            throw Failure(.usage, "No tracking code given.", hints: ["Tracking codes look like SRG-7K3D-9QXA-M2PZ; `loket queue` and `loket mine` list them."])
        }
        if let bad = code.first(where: { !($0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-")) }) {
            throw Failure(.usage, "\"\(text)\" is not a tracking code: it contains \"\(bad)\".",
                hints: ["Tracking codes look like SRG-7K3D-9QXA-M2PZ; `loket queue` and `loket mine` list them."])
        }
        return code
    }

    /// Transport errors in words an officer can act on. NIO's socket, DNS and TLS errors are
    /// recognised by their text, which keeps this target free of direct NIO dependencies.
    static func describe(_ error: any Error) -> String {
        if let error = error as? HTTPClientError {
            switch error {
            case .connectTimeout: return "no answer within 5 seconds (a firewall may be dropping the connection)"
            case .readTimeout, .deadlineExceeded: return "the server stopped answering"
            case .remoteConnectionClosed: return "the server closed the connection"
            // Never `description`: it carries the error's values, header values among them.
            default: return error.shortDescription.lowercased()
            }
        }
        let text = String(describing: error)
        let lowered = text.lowercased()
        if lowered.contains("connection refused") { return "connection refused (nothing is listening there)" }
        if lowered.contains("dns error") || lowered.contains("unknownhost") { return "the host name does not resolve" }
        if lowered.contains("niossl") || lowered.contains("handshake") || lowered.contains("certificate") {
            return "the TLS handshake failed (is it really https, and is the certificate valid?): \(text)"
        }
        return text
    }

    // MARK: Refusals

    /// What a non-2xx answer means for the officer, with the next step.
    func failure(for reply: Reply, about code: String?) async -> Failure {
        guard let envelope = try? LoketJSON.decode(ErrorEnvelope.self, from: reply.body) else {
            let snippet = String(decoding: reply.body.prefix(200), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            return Failure(Self.exitStatus(httpStatus: reply.status), "The server at \(base) answered HTTP \(reply.status)\(snippet.isEmpty ? "" : ": \(snippet)").", hints: [
                reply.status >= 300 && reply.status < 400
                    ? "The address redirects to \(reply.location ?? "another address"); log in with the server's current address: `loket login <address>`."
                    : "Is \(base) the Loket server? Check the address with `loket whoami`, or change it with `loket login <address>`.",
            ])
        }
        let error = envelope.error
        var failure = Failure(Self.exitStatus(httpStatus: reply.status), error.message)
        if let details = error.details, details.count > 1 || details.first?.message != error.message {
            failure.details = details.map(\.message)
        }
        switch reply.status {
        case 401:
            failure.hints = Self.loginHints(error.code)
        case 404 where error.code == "not_found":
            failure.hints = ["Is \(base) a Loket server with the staff API? Check the address with `loket whoami` or `loket login <address>`."]
        case 404:
            failure.hints = ["Check the tracking code (e.g. SRG-…); `loket queue` and `loket mine` list what you can work on."]
        case 409:
            if let code { await explainConflict(&failure, code: code, refusal: error.code) }
        case 429:
            failure.hints = ["Too many requests in a short time; try again in \(reply.retryAfter ?? "a few") seconds."]
        case 500...:
            failure.hints = [
                reply.retryAfter.map { "The server is busy or its database is unreachable; try again in \($0) seconds." }
                    ?? "The server failed; try again in a moment.",
            ]
            if let id = error.requestId { failure.hints.append("If it keeps failing, give your administrator this request id: \(id).") }
        default:
            failure.hints = Self.refusalHints(error.code)
        }
        return failure
    }

    static func exitStatus(httpStatus: Int) -> ExitStatus {
        switch httpStatus {
        case 401: .unauthenticated
        case 404: .notFound
        case 409: .conflict
        case 429, 500...: .unavailable
        case 400..<500: .refused
        // A redirect is not followed (the token would travel with it): the address is what to fix.
        case 300..<400: .usage
        default: .unavailable
        }
    }

    static func loginHints(_ code: String) -> [String] {
        switch code {
        case "token_expired", "token_revoked":
            ["Ask your administrator for a new token, then run `loket login` and paste it."]
        case "account_inactive":
            ["Your account is switched off; ask your administrator to reactivate it."]
        case "token_required":
            ["Run `loket login` with your personal token."]
        default:
            ["Check the token (it starts with lks_), or ask your administrator for a new one; then run `loket login`."]
        }
    }

    static func refusalHints(_ code: String) -> [String] {
        switch code {
        case "outside_unit_subtree", "not_in_unit":
            ["It belongs to a unit outside yours; `loket queue` lists what you can work on, and a supervisor of that unit can take it."]
        case "role_required", "not_permitted":
            ["Your role does not allow this; ask a supervisor (`loket whoami` shows your role)."]
        case "own_pause":
            ["You asked the question or hold the request: ask another supervisor or a manager of the unit to run `loket answered`."]
        case "unknown_unit":
            ["Unit codes are like DISDUKCAPIL-IDP; `loket whoami` shows yours."]
        case "unknown_staff":
            ["Give the officer's 18-digit NIP."]
        case "same_unit":
            ["Nothing to transfer: `loket show` with the code shows the request's unit."]
        case "assignee_outside_unit":
            ["Assign an officer of the request's unit or a unit above it, or transfer the request to the officer's unit first."]
        default:
            []
        }
    }

    /// On a 409 about one request, looks the request up to say who holds it (and whether it is the
    /// caller), until when, or how it ended: what the officer needs to decide what to do next.
    func explainConflict(_ failure: inout Failure, code: String, refusal: String) async {
        guard let segment = try? Self.segment(code), let reply = try? await exchange(.get, "requests/\(segment)"), reply.status == 200,
              let detail = try? LoketJSON.decode(RequestDetail.self, from: reply.body)
        else {
            failure.hints = ["`loket show \(code)` shows its status and holder; `loket queue` lists what is free."]
            return
        }
        if detail.closedAt != nil {
            failure.details.append("\(code) is closed: \(detail.statusLabel).")
            failure.hints = ["Nothing more can be done with it; `loket show \(code)` shows how it ended."]
        } else if let holder = detail.assignee {
            let lease = detail.leaseExpiresAt.map { ", claim valid until \(Instant.display($0))" } ?? ""
            let me = try? await exchange(.get, "me")
            let isMine = me.flatMap { try? LoketJSON.decode(Me.self, from: $0.body) }?.nip == holder.nip
            if isMine {
                failure.details.append("You hold \(code) yourself (\(detail.statusLabel)\(lease)).")
                failure.hints = ["`loket show \(code)` shows where it stands."]
            } else {
                failure.details.append("\(code) is held by \(holder.name) (NIP \(holder.nip))\(lease).")
                failure.hints = ["Someone else is working on it: run `loket queue` to pick another request."]
            }
        } else {
            failure.details.append("\(code) is \(detail.statusLabel) and held by nobody.")
            failure.hints = refusal == "not_holder"
                ? ["Claim it first: `loket claim \(code)`."]
                : ["`loket show \(code)` shows where it stands."]
        }
    }
}
