import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import LoketAPI
import Postgres
import Prometheus
import Testing

/// The OpenAPI document (Sources/LoketAPI/Resources/openapi.yaml, linked from docs/openapi.yaml)
/// names exactly the routes the router has: none missing, none invented. No database is needed:
/// the router is built over a pool that never connects.
@Suite struct OpenAPITests {
    static var documentURL: URL {
        APITestEnvironment.repositoryRoot.appendingPathComponent("Sources/LoketAPI/Resources/openapi.yaml")
    }

    /// The router's routes as "METHOD /path" with Hummingbird's own path rendering ({param}).
    static func withRouter<T>(_ body: (Router<AppContext>) async throws -> T) async throws -> T {
        let pool = ConnectionPool(
            configuration: PostgresConfiguration(conninfo: "host=/nonexistent dbname=unused"), maxConnections: 1,
            acquireTimeout: .milliseconds(100))
        let services = LoketServices(pool: pool, options: APIOptions())
        let router = buildRouter(services: services, metrics: PrometheusCollectorRegistry())
        do {
            let value = try await body(router)
            await pool.close()
            return value
        } catch {
            await pool.close()
            throw error
        }
    }

    @Test func everyRouteIsDocumentedAndEveryDocumentedRouteExists() async throws {
        let text = try String(contentsOf: Self.documentURL, encoding: .utf8)
        let documented = try OpenAPIPaths.operations(inYAML: text)
        #expect(!documented.isEmpty)
        let routes = try await Self.withRouter { router in
            router.routes.map { RouteOperation(method: $0.method.rawValue, path: $0.path.description) }
        }
        #expect(!routes.isEmpty)

        let undocumented = routes.filter { route in !documented.contains { $0.isServed(by: route) } }
        let unserved = documented.filter { operation in !routes.contains { operation.isServed(by: $0) } }
        #expect(
            undocumented.isEmpty,
            "routes missing from openapi.yaml: \(undocumented.map(\.description).sorted().joined(separator: ", "))")
        #expect(
            unserved.isEmpty,
            "openapi.yaml names routes the router does not have: \(unserved.map(\.description).sorted().joined(separator: ", "))")
    }

    /// A YAML mapping keeps one of two equal keys and drops the other without a word, so a path
    /// written twice would hide half of its description from every tool.
    @Test func noOperationIsWrittenTwice() throws {
        let text = try String(contentsOf: Self.documentURL, encoding: .utf8)
        let documented = try OpenAPIPaths.operations(inYAML: text)
        let repeated = Dictionary(grouping: documented, by: \.self).filter { $0.value.count > 1 }.keys
        #expect(repeated.isEmpty, "written twice in openapi.yaml: \(repeated.map(\.description).sorted().joined(separator: ", "))")
    }

    /// A method a documented path does not have is 405 with `Allow` naming exactly the methods the
    /// document gives that path (JSON error shape, an HTML page under the pages); a path that
    /// does not exist stays 404.
    @Test func aMethodThePathDoesNotHaveIs405WithAllow() async throws {
        let text = try String(contentsOf: Self.documentURL, encoding: .utf8)
        let documented = Dictionary(grouping: try OpenAPIPaths.operations(inYAML: text), by: \.path)
            .mapValues { Set($0.map { $0.method.uppercased() }) }
        // One concrete path per documented path: a tracking code for {code}, json for {format}.
        @Sendable func concrete(_ path: String) -> String {
            path.replacingOccurrences(of: "{format}", with: "json")
                .replacingOccurrences(of: "{code}", with: "SRG-7K3D-9QXA-M2PZ")
                .replacingOccurrences(of: #"\{[a-z_]+\}"#, with: "x1", options: .regularExpression)
        }
        try await Self.withRouter { router in
            let app = Application(router: router)
            try await app.test(.router) { client in
                for (path, methods) in documented.sorted(by: { $0.key < $1.key }) {
                    let uri = concrete(path)
                    for method in [HTTPRequest.Method.put, .delete, .patch, .post, .get] where !methods.contains(method.rawValue) {
                        try await client.execute(uri: uri, method: method) { response in
                            #expect(response.status == .methodNotAllowed, "\(method) \(uri)")
                            let allowed = Set((response.headers[.allow] ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
                            // HEAD is implied wherever GET is (the router answers it).
                            #expect(allowed == methods.union(methods.contains("GET") ? ["HEAD"] : []), "Allow of \(method) \(uri)")
                            if path == "/" || path.hasPrefix("/lacak") || path.hasPrefix("/dasbor") || path.hasPrefix("/layanan") || path.hasPrefix("/transparansi") {
                                #expect(response.headers[.contentType]?.hasPrefix("text/html") == true, "\(method) \(uri)")
                            } else {
                                #expect((response.body.json["error"] as? [String: Any])?["code"] as? String == "method_not_allowed", "\(method) \(uri)")
                            }
                        }
                    }
                }
                // HEAD is GET without the body: same status and headers.
                for uri in ["/healthz", "/openapi.yaml"] {
                    let get = try await client.execute(uri: uri, method: .get) { $0 }
                    try await client.execute(uri: uri, method: .head) { response in
                        #expect(response.status == get.status, "HEAD \(uri)")
                        #expect(response.headers[.contentType] == get.headers[.contentType], "HEAD \(uri)")
                        #expect(response.body.readableBytes == 0, "HEAD \(uri)")
                        #expect(get.body.readableBytes > 0, "GET \(uri)")
                    }
                }
                try await client.execute(uri: "/api/v1/requests", method: .head) { response in
                    #expect(response.status == .methodNotAllowed)
                    #expect(response.headers[.allow] == "POST")
                }
                try await client.execute(uri: "/no/such/route", method: .put) { response in
                    #expect(response.status == .notFound)
                    #expect(response.headers[.allow] == nil)
                }
                try await client.execute(uri: "/api/v1/requests/SRG-7K3D-9QXA-M2PZ/nothing", method: .delete) { response in
                    #expect(response.status == .notFound)
                }
            }
        }
    }

    /// The matcher itself: parameter spellings, Open311 format suffixes, literals against captures.
    @Test func pathMatchingRules() {
        func served(_ document: String, by route: String, method: String = "GET") -> Bool {
            RouteOperation(method: method, path: document).isServed(by: RouteOperation(method: method, path: route))
        }
        #expect(served("/api/v1/requests/{code}", by: "/api/v1/requests/:code"))
        #expect(served("/api/v1/requests/{code}", by: "/api/v1/requests/{tracking}"))
        #expect(served("/open311/v2/discovery.{format}", by: "/open311/v2/discovery.{format}"))
        #expect(served("/open311/v2/discovery.{format}", by: "/open311/v2/discovery.json"))
        #expect(served("/open311/v2/services/{service_code}.{format}", by: "/open311/v2/services/{file}"))
        #expect(served("/open311/v2/services/{service_code}.{format}", by: "/open311/v2/services/{service_code}.{format}"))
        #expect(served("/open311/v2/services/{service_code}.{format}", by: "/open311/v2/services/{service_code}.xml"))
        #expect(!served("/open311/v2/services/{service_code}.{format}", by: "/open311/v2/services/{service_code}.xml/extra"))
        #expect(!served("/open311/v2/discovery.{format}", by: "/open311/v2/discovery"))
        #expect(!RouteOperation(method: "GET", path: "/api/v1/requests/{code}").isServed(by: RouteOperation(method: "POST", path: "/api/v1/requests/{code}")))
        #expect(!served("/api/v1/requests/{code}", by: "/api/v1/requests"))
        #expect(!served("/api/v1/requests/public", by: "/api/v1/requests/{code}"))
        #expect(!served("/open311/v2/discovery.{format}", by: "/open311/v2/services.json"))
        #expect(!served("/healthz", by: "/readyz"))
    }

    @Test func yamlReaderFindsPathsAndMethods() throws {
        let yaml = """
            openapi: 3.1.0
            paths:
              # a comment
              /a/{x}:
                parameters: []
                get:
                  responses: {}
                post:
                  summary: "paths: inside"
              '/b.{format}':
                get: {}
            components:
              schemas:
                /not/a/path:
                  get: {}
            """
        let operations = try OpenAPIPaths.operations(inYAML: yaml)
        #expect(operations.map(\.description) == ["GET /a/{x}", "POST /a/{x}", "GET /b.{format}"])
    }

    @Test func docsCopyIsTheServedDocument() throws {
        let docs = APITestEnvironment.repositoryRoot.appendingPathComponent("docs/openapi.yaml")
        #expect(docs.resolvingSymlinksInPath().path == Self.documentURL.resolvingSymlinksInPath().path)
    }

    @Test func serverServesTheDocument() async throws {
        let expected = try Data(contentsOf: Self.documentURL)
        try await Self.withRouter { router in
            let app = Application(router: router)
            try await app.test(.router) { client in
                try await client.execute(uri: "/openapi.yaml", method: .get) { response in
                    #expect(response.status == .ok)
                    #expect(response.headers[.contentType]?.hasPrefix("application/yaml") == true)
                    #expect(Data(response.body.readableBytesView) == expected)
                }
            }
        }
    }
}

/// One method on one path, in the document or in the router.
struct RouteOperation: Hashable, CustomStringConvertible {
    var method: String
    var path: String

    var description: String { "\(method) \(path)" }

    /// Whether `route` (from the router) serves this documented operation.
    func isServed(by route: RouteOperation) -> Bool {
        guard method.uppercased() == route.method.uppercased() else { return false }
        let document = RoutePathPattern(path)
        let served = RoutePathPattern(route.path)
        if served.segments.last?.isRecursiveWildcard == true {
            guard document.segments.count >= served.segments.count - 1 else { return false }
            return zip(document.segments, served.segments.dropLast()).allSatisfy { $0.isServed(by: $1) }
        }
        guard document.segments.count == served.segments.count else { return false }
        return zip(document.segments, served.segments).allSatisfy { $0.isServed(by: $1) }
    }
}

/// A path split into segments; each segment is literal text and captures (`{name}` or a whole
/// `:name` segment), so that `{code}`, `{id}` and `:code` all read the same.
struct RoutePathPattern {
    enum Piece: Equatable {
        case literal(String)
        case capture
    }

    struct Segment {
        var pieces: [Piece]
        var raw: String

        init(_ raw: String) {
            self.raw = raw
            if raw.hasPrefix(":") {
                pieces = [.capture]
                return
            }
            var pieces: [Piece] = []
            var literal = ""
            var rest = Substring(raw)
            while let open = rest.firstIndex(of: "{"), let close = rest[open...].firstIndex(of: "}") {
                literal += rest[..<open]
                if !literal.isEmpty { pieces.append(.literal(literal)) }
                literal = ""
                pieces.append(.capture)
                rest = rest[rest.index(after: close)...]
            }
            literal += rest
            if !literal.isEmpty { pieces.append(.literal(literal)) }
            self.pieces = pieces
        }

        var hasCapture: Bool { pieces.contains(.capture) }
        var isRecursiveWildcard: Bool { raw == "**" }
        var normalised: String {
            pieces.map { if case .literal(let text) = $0 { text } else { "{}" } }.joined()
        }

        /// Whether a router segment serves this documented segment. A documented literal needs the
        /// same literal; a documented segment with parameters is served by any router segment that
        /// matches some of the same texts: `{format}` or `:format` alike, a literal that is one
        /// value of it (`discovery.json` for `discovery.{format}`), a capture of the whole segment
        /// that the handler splits (`{file}` for `{service_code}.{format}`), or one per format
        /// (`{service_code}.xml`).
        func isServed(by route: Segment) -> Bool {
            if normalised == route.normalised { return true }
            guard hasCapture else { return false }
            if route.raw == "*" { return true }
            return Self.overlap(Self.tokens(pieces)[...], Self.tokens(route.pieces)[...])
        }

        /// A pattern as single characters, `any` (exactly one character) and `rest` (zero or more):
        /// a capture is at least one character, so it is `any` then `rest`.
        enum Token: Equatable {
            case character(Character)
            case any
            case rest
        }

        static func tokens(_ pieces: [Piece]) -> [Token] {
            pieces.flatMap { piece -> [Token] in
                switch piece {
                case .literal(let text): text.map { .character($0) }
                case .capture: [.any, .rest]
                }
            }
        }

        /// Whether some text matches both patterns.
        static func overlap(_ a: ArraySlice<Token>, _ b: ArraySlice<Token>) -> Bool {
            switch (a.first, b.first) {
            case (nil, nil):
                return true
            case (.rest?, _):
                return overlap(a.dropFirst(), b) || (!b.isEmpty && overlap(a, b.dropFirst()))
            case (_, .rest?):
                return overlap(a, b.dropFirst()) || (!a.isEmpty && overlap(a.dropFirst(), b))
            case (nil, _), (_, nil):
                return false
            case (.character(let x)?, .character(let y)?):
                return x == y && overlap(a.dropFirst(), b.dropFirst())
            default:
                // `any` against a character or another `any`.
                return overlap(a.dropFirst(), b.dropFirst())
            }
        }
    }

    var segments: [Segment]

    init(_ path: String) {
        segments = path.split(separator: "/", omittingEmptySubsequences: true).map { Segment(String($0)) }
    }
}

/// A small reader of an OpenAPI document's `paths:` block, enough for a document written as block
/// YAML: path keys one indentation level under `paths:`, operations one level under each path.
enum OpenAPIPaths {
    static let methods: Set<String> = ["get", "put", "post", "delete", "options", "head", "patch", "trace"]

    struct ReadError: Error, CustomStringConvertible {
        var description: String
    }

    static func operations(inYAML text: String) throws -> [RouteOperation] {
        var operations: [RouteOperation] = []
        var inPaths = false
        var pathIndent: Int?
        var methodIndent: Int?
        var currentPath: String?
        for rawLine in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let line = rawLine.hasSuffix("\r") ? rawLine.dropLast() : rawLine
            let content = line.drop { $0 == " " }
            if content.isEmpty || content.hasPrefix("#") { continue }
            let indent = line.count - content.count
            if indent == 0 {
                inPaths = content.hasPrefix("paths:")
                if inPaths, content.trimmingCharacters(in: .whitespaces) != "paths:" {
                    throw ReadError(description: "write `paths:` as a block mapping")
                }
                continue
            }
            guard inPaths, let key = mappingKey(content) else { continue }
            if pathIndent == nil { pathIndent = indent }
            if indent == pathIndent {
                guard key.hasPrefix("/") else { throw ReadError(description: "not a path under paths: \(key)") }
                currentPath = key
                methodIndent = nil
            } else if let path = currentPath, indent > pathIndent! {
                if methodIndent == nil { methodIndent = indent }
                if indent == methodIndent, methods.contains(key) {
                    operations.append(RouteOperation(method: key.uppercased(), path: path))
                }
            } else if indent < pathIndent! {
                throw ReadError(description: "unexpected indentation under paths: \(content)")
            }
        }
        return operations
    }

    /// The key of a `key:` or `key: value` line (quotes removed), if the line is one.
    static func mappingKey(_ content: Substring) -> String? {
        var key: Substring
        if let quote = content.first, quote == "'" || quote == "\"" {
            guard let end = content.dropFirst().firstIndex(of: quote) else { return nil }
            key = content[content.index(after: content.startIndex)..<end]
            let after = content[content.index(after: end)...]
            guard after.hasPrefix(":") else { return nil }
        } else {
            guard let colon = content.range(of: ": ")?.lowerBound ?? (content.hasSuffix(":") ? content.index(before: content.endIndex) : nil)
            else { return nil }
            key = content[..<colon]
            if key.hasPrefix("- ") { return nil }
        }
        key = key.drop { $0 == " " }
        return String(key)
    }
}
