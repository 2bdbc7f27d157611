import Crypto
import Foundation
import LoketCore
import Postgres

/// Open311 partner API keys: issued once, stored as SHA-256 hashes, revocable.
public struct PartnerKeyStore: Sendable {
    public let pool: ConnectionPool

    public init(pool: ConnectionPool) {
        self.pool = pool
    }

    public struct Issued: Sendable {
        public var id: PartnerID
        /// The key itself: shown once, never stored.
        public var key: String
    }

    /// Creates a key for a partner application.
    public func issue(name: String, contactEmail: String?) async throws -> Issued {
        let key = "lk_" + IntakeStore.newAccessToken()
        let hash = Data(SHA256.hash(data: Data(key.utf8)))
        let row = try await pool.query(
            "INSERT INTO partner_api_keys (name, contact_email, key_hash, key_prefix) VALUES ($1, $2, $3, $4) RETURNING id",
            name, contactEmail, hash, String(key.prefix(8))
        ).single()
        return Issued(id: try row.decode(Int64.self, "id"), key: key)
    }

    /// The partner owning an active key, recording its use; nil for an unknown or revoked key.
    /// The use is written at most once a minute (as for staff tokens): an update per filing was a
    /// commit per call on one row per partner, which a busy partner app turned into a queue.
    public func authenticate(key: String, now: Date = Date()) async throws -> PartnerID? {
        let hash = Data(SHA256.hash(data: Data(key.utf8)))
        let rows = try await pool.query(
            """
            WITH k AS (SELECT id, last_used_at FROM partner_api_keys WHERE key_hash = $1 AND revoked_at IS NULL),
            used AS (
                UPDATE partner_api_keys p SET last_used_at = $2 FROM k
                WHERE p.id = k.id AND (k.last_used_at IS NULL OR k.last_used_at < $2 - interval '1 minute'))
            SELECT id FROM k
            """,
            hash, now)
        return try rows.first?.decode(Int64.self, "id")
    }

    public func revoke(id: PartnerID, now: Date = Date()) async throws -> Bool {
        try await pool.query(
            "UPDATE partner_api_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL", id, now
        ).affectedRows == 1
    }
}
