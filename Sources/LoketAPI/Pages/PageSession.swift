import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import LoketCore

/// HMAC-SHA256 over the dashboard's cookies and anti-CSRF tokens, keyed from
/// `APIOptions.sessionSecret`. Every server process that shares the secret accepts the others'
/// cookies; a new secret signs everybody out.
struct PageKeys: Sendable {
    /// The key's bytes (swift-crypto's SymmetricKey is not Sendable; a key is made per use).
    private let keyBytes: Data

    init(secret: String) {
        // Derived, so that the configured secret is never itself the MAC key of anything else.
        keyBytes = Data(SHA256.hash(data: Data("loket-pages-v1\u{0}\(secret)".utf8)))
    }

    private var key: SymmetricKey { SymmetricKey(data: keyBytes) }

    func mac(_ text: String) -> String {
        Base64URL.encode(Data(HMAC<SHA256>.authenticationCode(for: Data(text.utf8), using: key)))
    }

    /// Constant-time check of a MAC that came from a client.
    func verify(_ mac: String, for text: String) -> Bool {
        guard let data = Base64URL.decode(mac), data.count == SHA256.byteCount else { return false }
        return HMAC<SHA256>.isValidAuthenticationCode(data, authenticating: Data(text.utf8), using: key)
    }

    /// A random value for cookies: 24 bytes, base64url.
    static func nonce() -> String {
        Base64URL.encode(Base64URL.randomBytes(24))
    }
}

/// A signed-in manager's browser session, carried entirely in one cookie:
/// `s1.<token id>.<staff id>.<expiry, unix seconds>.<nonce>.<mac>`. It names the personal token
/// by id (the token itself never leaves the sign-in request), so each dashboard request can check
/// that token again and a revoked or expired token ends the session.
struct DashboardSession: Sendable, Equatable {
    static let cookieName = "loket_session"
    /// The longest a session lasts, whatever the token's own expiry: a forgotten browser on a
    /// shared office computer is signed out by the end of the working day.
    static let lifetime: TimeInterval = 8 * 3600

    var tokenID: Int64
    var staffID: Int64
    var expiresAt: Int64
    var nonce: String

    var payload: String { "s1.\(tokenID).\(staffID).\(expiresAt).\(nonce)" }

    func cookieValue(_ keys: PageKeys) -> String { payload + "." + keys.mac(payload) }

    /// The anti-CSRF token of this session's forms.
    func csrfToken(_ keys: PageKeys) -> String { keys.mac("csrf|" + payload) }

    func acceptsCSRF(_ token: String?, keys: PageKeys) -> Bool {
        guard let token else { return false }
        return keys.verify(token, for: "csrf|" + payload)
    }

    /// The session in a cookie value, if its MAC is ours and it has not expired.
    static func open(_ value: String, keys: PageKeys, now: Date) -> DashboardSession? {
        let parts = value.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 6, parts[0] == "s1", let tokenID = Int64(parts[1]), let staffID = Int64(parts[2]),
              let expiresAt = Int64(parts[3]), !parts[4].isEmpty
        else { return nil }
        let session = DashboardSession(tokenID: tokenID, staffID: staffID, expiresAt: expiresAt, nonce: parts[4])
        guard keys.verify(parts[5], for: session.payload), Double(expiresAt) > now.timeIntervalSince1970 else { return nil }
        return session
    }
}

/// The pre-session of the sign-in form: a random cookie, and a form token that is the MAC of it.
/// A cross-site form cannot read the cookie, so it cannot produce the token (login CSRF).
enum SignInGuard {
    static let cookieName = "loket_signin"
    static let lifetime = 3600

    static func formToken(nonce: String, keys: PageKeys) -> String { keys.mac("signin|" + nonce) }

    static func accepts(_ token: String?, nonce: String?, keys: PageKeys) -> Bool {
        guard let token, let nonce, !nonce.isEmpty else { return false }
        return keys.verify(token, for: "signin|" + nonce)
    }
}

/// The cookies of the dashboard: HttpOnly (no script reads them), SameSite=Strict (no other site's
/// link or form carries them), scoped to /dasbor, and Secure when the site is served over HTTPS.
enum PageCookies {
    static func session(_ value: String, maxAge: Int, secure: Bool) -> Cookie {
        Cookie(name: DashboardSession.cookieName, value: value, maxAge: maxAge, path: "/dasbor", secure: secure, httpOnly: true, sameSite: .strict)
    }

    static func signIn(_ value: String, secure: Bool) -> Cookie {
        Cookie(
            name: SignInGuard.cookieName, value: value, maxAge: SignInGuard.lifetime, path: "/dasbor/masuk", secure: secure, httpOnly: true,
            sameSite: .strict)
    }

    /// Cookies that tell the browser to forget `name`.
    static func expired(_ name: String, path: String, secure: Bool) -> Cookie {
        Cookie(name: name, value: "", maxAge: 0, path: path, secure: secure, httpOnly: true, sameSite: .strict)
    }

    /// HTTPS as the public sees it: the configured public URL, or the proxy's X-Forwarded-Proto
    /// when Loket is told to trust its proxy: its last entry, the one that proxy wrote (as for
    /// X-Forwarded-For); earlier ones come from the client.
    static func secure(_ request: Request, options: APIOptions) -> Bool {
        if options.publicBaseURL.lowercased().hasPrefix("https://") { return true }
        guard options.trustForwardedFor, let proto = request.headers[.forwardedProto] else { return false }
        return proto.split(separator: ",").last?.trimmingWhitespace(includingNewlines: false).lowercased() == "https"
    }

    /// The value of a cookie the browser sent (the first, if it sent several of that name).
    static func value(_ name: String, in request: Request) -> String? {
        for field in request.headers[values: .cookie] {
            for pair in field.split(separator: ";") {
                let trimmed = pair.drop { $0 == " " }
                guard let equals = trimmed.firstIndex(of: "="), trimmed[..<equals] == name else { continue }
                return String(trimmed[trimmed.index(after: equals)...])
            }
        }
        return nil
    }
}

extension HTTPField.Name {
    static let forwardedProto = HTTPField.Name("X-Forwarded-Proto")!
}
