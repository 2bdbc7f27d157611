import Foundation
import LoketCore
import Postgres

/// A dashboard session's anchor: the personal token it was opened with (by id, never the token
/// itself) and the account behind it.
public struct StaffSession: Sendable, Hashable {
    public var tokenID: Int64
    public var account: StaffAccount
}

/// The queries behind the manager dashboard's sign-in. A browser session keeps only the token's
/// id, so every dashboard request re-reads the token by that id: revoking or expiring the token
/// (or deactivating the account) ends the session at once.
public struct StaffSessionStore: Sendable {
    public let pool: ConnectionPool

    public init(pool: ConnectionPool) {
        self.pool = pool
    }

    /// Checks a presented personal token (the rules of `StaffTokenStore.authenticate`) and returns
    /// the id of the token with its account.
    public func signIn(token: String, now: Date = Date()) async throws -> Result<StaffSession, TokenRefusal> {
        switch try await StaffTokenStore(pool: pool).authenticate(token, now: now) {
        case .failure(let refusal):
            return .failure(refusal)
        case .success(let account):
            guard let row = try await pool.query("SELECT id FROM api_tokens WHERE token_hash = $1", StaffTokenStore.hash(token)).first
            else { return .failure(.unknown) }
            return .success(StaffSession(tokenID: try row.decode(Int64.self, "id"), account: account))
        }
    }

    /// The account behind a token id if the token is still good now (not revoked, not expired,
    /// the account active). Records the use at most once a minute, as bearer use does.
    ///
    /// `session` is the browser session's nonce: a session signed out (`signOut`) is refused as
    /// `unknown`, whatever its token.
    public func account(tokenID: Int64, session: String? = nil, now: Date = Date()) async throws -> Result<StaffAccount, TokenRefusal> {
        try await pool.withConnection { connection in
            guard let row = try await connection.query(
                """
                SELECT t.token_prefix, t.expires_at, t.revoked_at, t.last_used_at,
                       s.id, s.nip, s.name, s.email, s.role, s.unit_id, s.active,
                       EXISTS (SELECT 1 FROM dashboard_sign_outs WHERE nonce = $2) AS signed_out
                FROM api_tokens t JOIN staff s ON s.id = t.staff_id WHERE t.id = $1
                """, tokenID, session
            ).first else { return .failure(.unknown) }
            if try row.decode(Bool.self, "signed_out") { return .failure(.unknown) }
            if try row.decode(Date?.self, "revoked_at") != nil { return .failure(.revoked) }
            let expiresAt = try row.decode(Date?.self, "expires_at")
            if let expiresAt, expiresAt <= now { return .failure(.expired(expiresAt)) }
            guard try row.decode(Bool.self, "active") else { return .failure(.inactiveAccount) }
            guard let role = StaffRole(rawValue: try row.decode(String.self, "role")) else { return .failure(.inactiveAccount) }
            let lastUsed = try row.decode(Date?.self, "last_used_at")
            if lastUsed.map({ now.timeIntervalSince($0) > 60 }) ?? true {
                try await connection.query("UPDATE api_tokens SET last_used_at = $2 WHERE id = $1", tokenID, now)
            }
            return .success(StaffAccount(
                id: try row.decode(Int64.self, "id"), nip: try row.decode(String.self, "nip"),
                name: try row.decode(String.self, "name"), email: try row.decode(String?.self, "email"), role: role,
                unitID: try row.decode(Int64.self, "unit_id"), tokenPrefix: try row.decode(String.self, "token_prefix"),
                tokenExpiresAt: expiresAt))
        }
    }

    /// Ends a browser session for good: its cookie, copies included, is refused from now on.
    /// `until` is when the cookie expires by itself (the row may go then).
    public func signOut(session: String, staffID: Int64, until: Date, now: Date = Date()) async throws {
        try await pool.query(
            """
            INSERT INTO dashboard_sign_outs (nonce, staff_id, signed_out_at, expires_at) VALUES ($1, $2, $3, $4)
            ON CONFLICT (nonce) DO NOTHING
            """, session, staffID, now, until)
    }
}
