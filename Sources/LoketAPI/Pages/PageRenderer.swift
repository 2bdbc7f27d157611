import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import LoketCore
import Mustache
import NIOCore

/// The HTML templates (Resources/templates/*.mustache) and the stylesheet every page inlines,
/// read and parsed once per process.
struct PageRenderer: Sendable {
    let library: MustacheLibrary
    /// The stylesheet, inlined in each page's `<style>` (no external assets: the pages must work on
    /// a slow phone connection and under a strict Content-Security-Policy).
    let css: String
    /// The Content-Security-Policy of every page. Styles are allowed by the stylesheet's hash, so no
    /// injected `<style>` or `style=""` could take effect, and no script may run at all.
    let contentSecurityPolicy: String

    /// Loaded on first use; `PagesController.init` touches it so that a broken template stops the
    /// server at start instead of failing a citizen's request later.
    static let shared: PageRenderer = {
        do {
            return try PageRenderer(directory: try templatesDirectory())
        } catch {
            // The templates ship inside the binary's resource bundle: a missing or unparsable one is
            // a build defect, caught by every page test, that no request can recover from.
            fatalError("Loket's HTML templates cannot be loaded: \(error)")
        }
    }()

    static func templatesDirectory() throws -> URL {
        guard let url = Bundle.module.url(forResource: "templates", withExtension: nil) else {
            throw PageRendererError("the LoketAPI resource bundle has no templates folder")
        }
        return url
    }

    init(directory: URL) throws {
        ScalarHTMLEscaping.register()
        var templates: [String: MustacheTemplate] = [:]
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        for file in files where file.hasSuffix(".mustache") {
            let text = try String(contentsOf: directory.appendingPathComponent(file), encoding: .utf8)
            do {
                // Every template and partial escapes with ScalarHTMLEscaping (a partial starts
                // over with Mustache's own escaping, so each carries the pragma).
                templates[String(file.dropLast(".mustache".count))] = try MustacheTemplate(
                    string: "{{% CONTENT_TYPE: \(ScalarHTMLEscaping.name)}}" + text)
            } catch {
                throw PageRendererError("template \(file): \(error)")
            }
        }
        library = MustacheLibrary(templates: templates)
        css = try String(contentsOf: directory.appendingPathComponent("loket.css"), encoding: .utf8)
        let hash = Data(SHA256.hash(data: Data(css.utf8))).base64EncodedString()
        contentSecurityPolicy = [
            "default-src 'none'", "style-src 'sha256-\(hash)'", "img-src 'self' data:", "form-action 'self'",
            "frame-ancestors 'none'", "base-uri 'none'",
        ].joined(separator: "; ")
    }

    /// The page `template` filled with `view` (escaped by Mustache's HTML rules).
    func html(_ template: String, _ view: Any) throws -> String {
        guard let text = library.render(view, withTemplate: template) else {
            throw PageRendererError("no template named \(template)")
        }
        return text
    }

    /// An HTML response with the headers every page carries.
    func response(
        _ template: String, _ view: Any, status: HTTPResponse.Status = .ok, language: Language, cache: PageCache
    ) throws -> Response {
        var response = Response(status: status, body: .init(byteBuffer: ByteBuffer(string: try html(template, view))))
        applyHeaders(to: &response, language: language, cache: cache)
        return response
    }

    func applyHeaders(to response: inout Response, language: Language, cache: PageCache) {
        response.headers[.contentType] = "text/html; charset=utf-8"
        response.headers[.contentLanguage] = language.rawValue
        response.headers[.vary] = "Accept-Language, Cookie"
        response.headers[.cacheControl] = cache.headerValue
        Self.addSecurityHeaders(to: &response.headers, policy: contentSecurityPolicy)
    }

    static func addSecurityHeaders(to headers: inout HTTPFields, policy: String) {
        headers[.contentSecurityPolicy] = policy
        headers[.xContentTypeOptions] = "nosniff"
        headers[.referrerPolicy] = "no-referrer"
        // For browsers that predate frame-ancestors.
        headers[.xFrameOptions] = "DENY"
    }
}

/// How long a browser or proxy may keep a page.
enum PageCache {
    /// Public pages that anyone may see: a minute keeps a busy day's load off the database.
    case publicShort
    /// Pages with personal data or a signed-in officer's view: never stored.
    case noStore

    var headerValue: String {
        switch self {
        case .publicShort: "public, max-age=60"
        case .noStore: "no-store"
        }
    }
}

struct PageRendererError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

extension HTTPField.Name {
    static let xFrameOptions = HTTPField.Name("X-Frame-Options")!
    static let referrerPolicy = HTTPField.Name("Referrer-Policy")!
}

/// HTML escaping by Unicode scalar. Mustache's own escaping compares whole Characters, and a
/// grapheme cluster that holds `<` or `"` is not equal to it: U+0600 followed by `<` (a prepended
/// concatenation mark, GB9b) or `"` followed by a combining accent (GB9) went out raw, so typed
/// text such as a tracking code echoed into the form could close the attribute and open a tag.
struct ScalarHTMLEscaping: MustacheContentType {
    static let name = "LOKET_HTML"
    private static let registration: Void = MustacheContentTypes.register(ScalarHTMLEscaping(), named: name)

    static func register() { _ = registration }

    func escapeText(_ text: String) -> String {
        var escaped = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            switch scalar {
            case "<": escaped.append(contentsOf: "&lt;".unicodeScalars)
            case ">": escaped.append(contentsOf: "&gt;".unicodeScalars)
            case "&": escaped.append(contentsOf: "&amp;".unicodeScalars)
            case "\"": escaped.append(contentsOf: "&quot;".unicodeScalars)
            case "'": escaped.append(contentsOf: "&#39;".unicodeScalars)
            default: escaped.append(scalar)
            }
        }
        return String(escaped)
    }
}
