import Foundation
import HTTPTypes
import Hummingbird
import LoketCore

/// Everything the HTML pages share at the HTTP level: `?lang=id|en` over Accept-Language, the
/// security headers, and errors as a friendly HTML page with the same stable code and status as
/// the JSON API would give. Installed on the router ahead of the rate limiter so that its refusals
/// of a page's form are HTML too; requests outside the pages pass straight through.
struct PageMiddleware: RouterMiddleware {
    typealias Context = AppContext
    let timeZone: String
    /// The site is served over HTTPS (its public URL says so): pages tell browsers to use nothing
    /// else for a year, so that no one on the way can take a dashboard session over plain HTTP.
    var strictTransport = false

    static let pagePrefixes = ["/transparansi", "/layanan", "/lacak", "/dasbor"]

    static func isPage(_ given: String) -> Bool {
        let path = Request.routed(given)
        return path == "/" || pagePrefixes.contains { prefix in
            // The prefix itself or a path below it, compared on the bytes (no string built per prefix).
            path.utf8.starts(with: prefix.utf8)
                && path.utf8.dropFirst(prefix.utf8.count).first.map { $0 == UInt8(ascii: "/") } ?? true
        }
    }

    /// The language named by `?lang=`, if it is one Loket speaks. A `lang` given twice with
    /// different values names none: the page falls back to Accept-Language (a presentation
    /// preference is not worth refusing a page for, though the JSON API refuses a repeated parameter).
    static func requestedLanguage(_ request: Request) -> Language? {
        (try? request.queryValue("lang")).flatMap { $0 }.flatMap { Language(rawValue: $0.lowercased()) }
    }

    func handle(_ request: Request, context: AppContext, next: @concurrent (Request, AppContext) async throws -> Response) async throws -> Response {
        guard Self.isPage(request.uri.path) else { return try await next(request, context) }
        var context = context
        if let language = Self.requestedLanguage(request) { context.language = language }
        let renderer = PageRenderer.shared
        do {
            var response = try await next(request, context)
            PageRenderer.addSecurityHeaders(to: &response.headers, policy: renderer.contentSecurityPolicy)
            if strictTransport { response.headers[.strictTransportSecurity] = "max-age=31536000" }
            return response
        } catch {
            let apiError = RequestMiddleware.apiError(for: error, logger: context.logger)
            var response = errorPage(apiError, request: request, context: context)
            if strictTransport { response.headers[.strictTransportSecurity] = "max-age=31536000" }
            return response
        }
    }

    func errorPage(_ failure: APIError, request: Request, context: AppContext) -> Response {
        let page = PageRequest(request: request, context: context, path: request.uri.path, timeZone: timeZone)
        let language = context.language
        let content = ErrorContent(
            heading: Self.heading(failure.status, language), message: failure.message(language), code: failure.code,
            status: failure.status.code, requestID: context.requestID,
            details: failure.details.count > 1 ? .init(items: failure.details.map { $0.message(language) }) : nil)
        let view = page.view(title: content.heading, section: .none, content: content)
        var response: Response
        do {
            response = try PageRenderer.shared.response("error", view, status: failure.status, language: language, cache: .noStore)
        } catch {
            // A template failure must not hide the original error: the same facts as plain text.
            context.logger.error("error page failed to render", metadata: ["error": "\(error)"])
            response = Response(
                status: failure.status,
                body: .init(byteBuffer: .init(string: "\(content.heading)\n\(content.message)\n\(content.code)\n")))
            response.headers[.contentType] = "text/plain; charset=utf-8"
            PageRenderer.addSecurityHeaders(to: &response.headers, policy: PageRenderer.shared.contentSecurityPolicy)
        }
        if let retry = failure.retryAfterSeconds { response.headers[.retryAfter] = String(retry) }
        if !failure.allowedMethods.isEmpty { response.headers[.allow] = failure.allowedMethods.map(\.rawValue).joined(separator: ", ") }
        return response
    }

    struct ErrorContent {
        struct Details {
            var items: [String]
        }

        var heading: String
        var message: String
        var code: String
        var status: Int
        var requestID: String
        var details: Details?
    }

    static func heading(_ status: HTTPResponse.Status, _ language: Language) -> String {
        let english = language == .english
        switch status.code {
        case 404: return english ? "Not found" : "Tidak ditemukan"
        case 401, 403: return english ? "Access refused" : "Akses ditolak"
        case 429: return english ? "Too many requests" : "Terlalu banyak permintaan"
        case 503: return english ? "The service is busy" : "Layanan sedang sibuk"
        case 400..<500: return english ? "The request cannot be processed" : "Permintaan tidak dapat diproses"
        default: return english ? "Something went wrong" : "Terjadi kesalahan"
        }
    }
}
