import Foundation
import Postgres

/// Removes rows whose purpose has passed, so the hot tables do not grow forever: Idempotency-Key
/// answers past their expiry, notifications delivered long ago and dashboard sign-outs whose
/// cookies have expired. The audit trail is never touched (it is append-only by design).
public struct RetentionStore: Sendable {
    public let pool: ConnectionPool

    public init(pool: ConnectionPool) {
        self.pool = pool
    }

    public struct Purged: Sendable, Equatable {
        public var idempotencyKeys = 0
        public var notifications = 0
        /// Records of dashboard sign-outs whose cookies have expired by themselves.
        public var signOuts = 0

        public init(idempotencyKeys: Int = 0, notifications: Int = 0, signOuts: Int = 0) {
            self.idempotencyKeys = idempotencyKeys
            self.notifications = notifications
            self.signOuts = signOuts
        }
    }

    /// Deletes up to `limit` of each kind; call again while it returns full batches.
    public func purge(now: Date, keepDelivered: TimeInterval, limit: Int) async throws -> Purged {
        var purged = Purged()
        purged.idempotencyKeys = try await pool.query(
            """
            DELETE FROM idempotency_keys WHERE (scope, key) IN (
                SELECT scope, key FROM idempotency_keys WHERE expires_at < $1 LIMIT $2 FOR UPDATE SKIP LOCKED)
            """, now, limit
        ).affectedRows
        purged.notifications = try await pool.query(
            """
            DELETE FROM notification_outbox WHERE id IN (
                SELECT id FROM notification_outbox WHERE delivered_at < $1 LIMIT $2 FOR UPDATE SKIP LOCKED)
            """, now.addingTimeInterval(-keepDelivered), limit
        ).affectedRows
        purged.signOuts = try await pool.query(
            """
            DELETE FROM dashboard_sign_outs WHERE nonce IN (
                SELECT nonce FROM dashboard_sign_outs WHERE expires_at < $1 LIMIT $2 FOR UPDATE SKIP LOCKED)
            """, now, limit
        ).affectedRows
        return purged
    }
}
