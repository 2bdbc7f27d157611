import Foundation
import Postgres
import Testing

@Suite("LISTEN/NOTIFY")
struct ListenerTests {
    @Test func notificationsArriveAlsoAfterTheListenerConnectionWasTerminated() async throws {
        try await TestDatabase.withPool { pool, configuration in
            let listener = PostgresListener(configuration: configuration, channels: ["loket_wakeup", "Mixed Case"])
            var iterator = listener.makeAsyncIterator()

            var first = try #require(await iterator.next())
            #expect(first.kind == .resynchronize)
            first = try #require(await iterator.next())
            #expect(first.kind == .resynchronize)
            let pid = listener.backendPID
            #expect(pid != 0)

            try await pool.query("SELECT pg_notify($1, $2)", "loket_wakeup", "sla")
            try await pool.query("SELECT pg_notify($1, $2)", "Mixed Case", "quoted ✓")
            let one = try #require(await iterator.next())
            #expect(one == PostgresNotification(kind: .notification, channel: "loket_wakeup", payload: "sla", backendPID: one.backendPID))
            let two = try #require(await iterator.next())
            #expect(two.channel == "Mixed Case")
            #expect(two.payload == "quoted ✓")

            try await TestDatabase.terminate(backend: pid)
            // The listener reconnects, listens again and says so once per channel.
            var resynchronized: Set<String> = []
            while resynchronized.count < 2 {
                let event = try #require(await iterator.next())
                if event.kind == .resynchronize { resynchronized.insert(event.channel) }
            }
            #expect(listener.backendPID != pid)
            try await pool.query("SELECT pg_notify($1, $2)", "loket_wakeup", "after")
            let after = try #require(await iterator.next())
            #expect(after.kind == .notification)
            #expect(after.payload == "after")
            listener.stop()
            #expect(await iterator.next() == nil)
        }
    }
}
