import Foundation
import LoketStore
import LoketWorker
import Postgres
import Testing

@Suite("Retention")
struct RetentionCleanerTests {
    @Test func expiredKeysOldDeliveredNotificationsAndExpiredSignOutsGoTheRestStays() async throws {
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
            // Dashboard sign-outs: three whose cookies have expired, one still within its cookie's life.
            try await pool.query(
                """
                INSERT INTO dashboard_sign_outs (nonce, staff_id, signed_out_at, expires_at)
                SELECT 'n' || g, (SELECT min(id) FROM staff), $1::timestamptz - interval '9 hours',
                       $1::timestamptz + CASE WHEN g <= 3 THEN interval '-1 minute' ELSE interval '1 minute' END
                FROM generate_series(1, 4) g
                """, now)
            let cleaner = RetentionCleaner(store: RetentionStore(pool: pool), clock: ManualClock(now), batchSize: 2)
            let purged = try await cleaner.runOnce()
            #expect(purged == RetentionStore.Purged(idempotencyKeys: 3, notifications: 2, signOuts: 3))
            let left = try await pool.query(
                """
                SELECT (SELECT count(*) FROM idempotency_keys) AS keys, (SELECT count(*) FROM notification_outbox) AS outbox,
                       (SELECT string_agg(nonce, ',') FROM dashboard_sign_outs) AS sign_outs
                """).single()
            #expect(try left.decode(Int.self, "keys") == 2)
            // The recently delivered one and the undelivered one stay.
            #expect(try left.decode(Int.self, "outbox") == 2)
            #expect(try left.decode(String?.self, "sign_outs") == "n4")
        }
    }
}
