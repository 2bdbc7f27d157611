import HTTPTypes
import Hummingbird
import LoketCore

/// 405 Method Not Allowed, with `Allow`, for a path that exists under other methods (RFC 9110
/// §15.5.6); a path no route has stays a 404.
///
/// `buildRouter` adds it after every route: Hummingbird puts a middleware on the routes added after
/// it and on the router's not-found responder (built with every middleware the router has), so it
/// runs only for requests no route answered. The error goes through the usual middlewares, so it
/// has Loket's JSON error shape, or is an HTML page under the pages' paths.
struct MethodNotAllowedMiddleware: RouterMiddleware {
    typealias Context = AppContext

    struct Route {
        var path: RouterPath
        var methods: Set<HTTPRequest.Method>
    }

    let routes: [Route]

    init(routes described: [Router<AppContext>.RouteDescription]) {
        var routes: [Route] = []
        for route in described {
            if let index = routes.firstIndex(where: { $0.path == route.path }) {
                routes[index].methods.insert(route.method)
            } else {
                routes.append(Route(path: route.path, methods: [route.method]))
            }
        }
        // The router answers HEAD wherever it answers GET (`.autoGenerateHeadEndpoints`).
        for index in routes.indices where routes[index].methods.contains(.get) {
            routes[index].methods.insert(.head)
        }
        self.routes = routes
    }

    func handle(_ request: Request, context: AppContext, next: @concurrent (Request, AppContext) async throws -> Response) async throws -> Response {
        let allowed = allowedMethods(path: request.uri.path)
        guard !allowed.isEmpty, !allowed.contains(request.method) else { return try await next(request, context) }
        throw APIError.methodNotAllowed(allowed.sorted { $0.rawValue < $1.rawValue })
    }

    /// Every method of every route whose pattern matches `path` (empty when none does).
    func allowedMethods(path: String) -> Set<HTTPRequest.Method> {
        let segments = path.split(separator: "/", omittingEmptySubsequences: true)
        var allowed: Set<HTTPRequest.Method> = []
        for route in routes where route.path.count == segments.count {
            if zip(route.path, segments).allSatisfy({ element, segment in element ~= segment }) {
                allowed.formUnion(route.methods)
            }
        }
        return allowed
    }
}

extension APIError {
    static func methodNotAllowed(_ allowed: [HTTPRequest.Method]) -> APIError {
        let names = allowed.map(\.rawValue).joined(separator: ", ")
        var error = APIError(.methodNotAllowed, code: "method_not_allowed", message: LocalizedText(
            id: "Metode HTTP ini tidak didukung untuk alamat ini; gunakan \(names).",
            en: "This HTTP method is not supported here; use \(names)."))
        error.allowedMethods = allowed
        return error
    }
}
