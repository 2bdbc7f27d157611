import Foundation
import Hummingbird
import LoketCore

/// What every template can read besides its own `content`: the language, the page title, the
/// strings (`t`), the navigation and the links, which keep an explicitly chosen language.
struct PageView {
    var lang: String
    var title: String
    var t: [String: String]
    var nav: [NavItem]
    var links: PageLinks
    var switchLink: LanguageLink
    /// The constant stylesheet, written with `{{{css}}}` (never user data).
    var css: String
    var content: Any
}

struct NavItem {
    var href: String
    var label: String
    var current: Bool
}

struct LanguageLink {
    var href: String
    var lang: String
    var label: String
}

struct PageLinks {
    var home: String
    var transparency: String
    var catalog: String
    var tracking: String
    var dashboard: String
    var signIn: String
    var signOut: String
}

/// The sections of the site, for the navigation's `aria-current`.
enum PageSection {
    case home, transparency, catalog, tracking, dashboard, none
}

/// One page request's language choice and the links that follow from it. A language picked with
/// `?lang=` is carried in every link and form, so a citizen who switched stays in that language;
/// otherwise links carry none and Accept-Language keeps deciding.
struct PageRequest {
    let language: Language
    let explicitLanguage: Bool
    /// The canonical path of this page (for the language switch), never a client-supplied one
    /// that could start with `//` and point elsewhere.
    let path: String
    /// Query parameters that select what the page shows (kept by the language switch).
    let query: [(String, String)]
    let format: PageFormat

    init(request: Request, context: AppContext, path: String, keep: [String] = [], timeZone: String) {
        language = context.language
        explicitLanguage = PageMiddleware.requestedLanguage(request) != nil
        self.path = path.hasPrefix("/") && !path.hasPrefix("//") ? path : "/"
        query = keep.compactMap { name in
            request.uri.queryParameters.get(name).flatMap { $0.isEmpty ? nil : (name, $0) }
        }
        format = PageFormat(language: context.language, timeZone: timeZone)
    }

    var t: [String: String] { PageStrings.table(language) }

    func text(_ key: String) -> String { PageStrings.text(key, language) }

    /// `path` with `query`, plus `lang` when the language was chosen explicitly.
    func href(_ path: String, _ query: [(String, String)] = []) -> String {
        var items = query
        if explicitLanguage { items.append(("lang", language.rawValue)) }
        return Self.link(path, items)
    }

    static func link(_ path: String, _ items: [(String, String)]) -> String {
        guard !items.isEmpty else { return path }
        return path + "?" + items.map { "\(encode($0.0))=\(encode($0.1))" }.joined(separator: "&")
    }

    static func encode(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? ""
    }

    /// The value of a hidden `lang` field for GET forms, when the language was chosen explicitly.
    var langField: String? { explicitLanguage ? language.rawValue : nil }

    var links: PageLinks {
        PageLinks(
            home: href("/"), transparency: href("/transparansi"), catalog: href("/layanan"), tracking: href("/lacak"),
            dashboard: href("/dasbor"), signIn: href("/dasbor/masuk"), signOut: href("/dasbor/keluar"))
    }

    func view(title: String, section: PageSection, content: Any) -> PageView {
        let links = links
        let nav = [
            NavItem(href: links.home, label: text("nav_home"), current: section == .home),
            NavItem(href: links.transparency, label: text("nav_transparency"), current: section == .transparency),
            NavItem(href: links.catalog, label: text("nav_catalog"), current: section == .catalog),
            NavItem(href: links.tracking, label: text("nav_tracking"), current: section == .tracking),
            NavItem(href: links.dashboard, label: text("nav_dashboard"), current: section == .dashboard),
        ]
        let other: Language = language == .english ? .indonesian : .english
        let switchLink = LanguageLink(
            href: Self.link(path, query + [("lang", other.rawValue)]), lang: other.rawValue,
            label: other == .english ? "English" : "Bahasa Indonesia")
        return PageView(
            lang: language.rawValue, title: title, t: t, nav: nav, links: links, switchLink: switchLink,
            css: PageRenderer.shared.css, content: content)
    }
}
