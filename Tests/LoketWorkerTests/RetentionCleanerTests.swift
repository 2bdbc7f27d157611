import Foundation
import LoketStore
import LoketWorker
import Postgres
import Testing

@Suite("Retention")
struct RetentionCleanerTests {
    @Test func expiredKeysAndOldDeliveredNotificationsGoTheRestStays() async throws {
        try await WorkerTestDatabase.withPool { pool, _ in
            let now = jakarta("2026-12-19T12:00:00+07:00")
            try await pool.query(
                """
                INSERT INTO idempotency_keys (scope, key, request_hash, created_at, expires_at)
                SELECT 'citizen', 'k' || g, sha256(g::text::bytea), $1::timestamptz - interval '3 days',
                       $1::timestamptz + CASE WHEN g <= 3 THEN interval '-1 day' ELSE interval '1 day' END
                FROM generate_series(1, 5) g
                """, now)
            try await pool.query(
                """
                INSERT INTO notification_outbox (recipient_kind, recipient_staff_id, channel, topic, created_at, available_at, delivered_at)
                SELECT 'staff', (SELECT min(id) FROM staff), 'log', 'sla.warning', $1::timestamptz - interval '60 days',
                       $1::timestamptz - interval '60 days', CASE WHEN g <= 2 THEN $1::timestamptz - interval '40 days'
                                                                  WHEN g = 3 THEN $1::timestamptz - interval '1 day' END
                FROM generate_series(1, 4) g
                """, now)
            let cleaner = RetentionCleaner(store: RetentionStore(pool: pool), clock: ManualClock(now), batchSize: 2)
            let purged = try await cleaner.runOnce()
            #expect(purged == RetentionStore.Purged(idempotencyKeys: 3, notifications: 2))
            let left = try await pool.query(
                "SELECT (SELECT count(*) FROM idempotency_keys) AS keys, (SELECT count(*) FROM notification_outbox) AS outbox").single()
            #expect(try left.decode(Int.self, "keys") == 2)
            // The recently delivered one and the undelivered one stay.
            #expect(try left.decode(Int.self, "outbox") == 2)
        }
    }
}
