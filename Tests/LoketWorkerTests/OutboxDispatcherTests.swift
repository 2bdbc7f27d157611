import Crypto
import Foundation
import Hummingbird
import Logging
import LoketWorker
import NIOCore
import Postgres
import ServiceLifecycle
import Synchronization
import ServiceLifecycleTestKit
import Testing

@testable import LoketStore

/// The outbox against real PostgreSQL and a real HTTP receiver on 127.0.0.1. Time is the injected
/// clock: retries become due by moving it, never by sleeping.
@Suite("OutboxDispatcher")
struct OutboxDispatcherTests {
    static let secret = "rahasia-bersama-untuk-uji"
    static let start = Date(timeIntervalSince1970: 1_741_000_000)  // 2025-03-03, a Monday

    @Test("a webhook delivery carries the envelope, the idempotency key and a signature that verifies")
    func signedDelivery() async throws {
        try await WorkerTestDatabase.withPool { pool, _ in
            try await OutboxReceiver.run { receiver in
                let clock = OutboxTestClock(Self.start)
                let request = try await OutboxFixtures.insertRequest(pool)
                let id = try await OutboxFixtures.insertMessage(
                    pool, requestID: request, topic: "request.received",
                    payload: #"{"tracking_code": "SRG-ABC123", "unit": "Dukcapil", "n": 3}"#, at: clock.now())
                let dispatcher = try Self.webhookDispatcher(pool: pool, receiver: receiver, clock: clock)

                let result = try await dispatcher.runOnce()

                #expect(result == OutboxBatchResult(claimed: 1, delivered: 1))
                let deliveries = receiver.deliveries
                try #require(deliveries.count == 1)
                let delivery = deliveries[0]
                let timestamp = Int64(Self.start.timeIntervalSince1970)
                #expect(delivery.headers["content-type"] == "application/json")
                #expect(delivery.headers["idempotency-key"] == "loket-outbox-\(id)")
                #expect(delivery.headers["x-loket-topic"] == "request.received")
                #expect(delivery.headers["x-loket-delivery-attempt"] == "1")
                #expect(delivery.headers["x-loket-timestamp"] == "\(timestamp)")

                // The receiver's side of the contract, computed here independently of the dispatcher.
                var mac = HMAC<SHA256>(key: SymmetricKey(data: Array(Self.secret.utf8)))
                mac.update(data: Array("\(timestamp).".utf8))
                mac.update(data: delivery.body)
                let expected = "sha256=" + mac.finalize().map { String(format: "%02x", $0) }.joined()
                #expect(delivery.headers["x-loket-signature"] == expected)
                // And a receiver holding another secret refuses it.
                let forged = HMAC<SHA256>.authenticationCode(
                    for: Array("\(timestamp).".utf8) + delivery.body, using: SymmetricKey(data: Array("rahasia-lain".utf8)))
                #expect(delivery.headers["x-loket-signature"] != "sha256=" + forged.map { String(format: "%02x", $0) }.joined())

                let body = try #require(try JSONSerialization.jsonObject(with: Data(delivery.body)) as? [String: Any])
                #expect(body["id"] as? Int == Int(id))
                #expect(body["topic"] as? String == "request.received")
                #expect(body["request_id"] as? Int == Int(request))
                #expect(body["recipient_kind"] as? String == "citizen")
                #expect(body["recipient_staff_id"] is NSNull)
                // The citizen's contact, read from the request when the message was claimed.
                let recipient = try #require(body["recipient"] as? [String: Any])
                #expect(recipient["name"] as? String == "Siti Aminah")
                #expect(recipient["email"] as? String == "siti@example.id")
                #expect(recipient["phone"] is NSNull)
                let createdAt = try #require(body["created_at"] as? String)
                #expect(try Date(createdAt, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true)) == Self.start)
                let payload = try #require(body["payload"] as? [String: Any])
                #expect(payload["tracking_code"] as? String == "SRG-ABC123")
                #expect(payload["n"] as? Int == 3)

                let row = try await OutboxFixtures.row(pool, id)
                #expect(row.deliveredAt == Self.start)
                #expect(row.channel == "webhook")
                #expect(row.attempts == 1)
                #expect(row.deadAt == nil)
            }
        }
    }

    @Test("a receiver that fails three times gets the message once more after each failure, then no more")
    func retriesUntilDelivered() async throws {
        try await WorkerTestDatabase.withPool { pool, _ in
            try await OutboxReceiver.run(failures: 3) { receiver in
                let clock = OutboxTestClock(Self.start)
                let id = try await OutboxFixtures.insertMessage(
                    pool, requestID: try await OutboxFixtures.insertRequest(pool), topic: "request.resolved", at: clock.now())
                // Jitter pinned to the top of the range makes every retry instant exact: 5 s, 10 s, 20 s.
                let backoff = RetryBackoff(base: .seconds(5), cap: .seconds(3600))
                let dispatcher = try Self.webhookDispatcher(
                    pool: pool, receiver: receiver, clock: clock, jitter: OutboxFixedJitter(1), backoff: backoff)

                for failure in 1...3 {
                    #expect(try await dispatcher.runOnce() == OutboxBatchResult(claimed: 1, retried: 1))
                    #expect(receiver.deliveries.count == failure)
                    let wait = backoff.ceiling(afterAttempt: failure)
                    let row = try await OutboxFixtures.row(pool, id)
                    #expect(row.availableAt == clock.now().addingTimeInterval(Double(wait.components.seconds)))
                    #expect(row.lastError?.hasPrefix("HTTP 503") == true)
                    // Not due yet: nothing is sent before the backoff has passed.
                    clock.advance(by: Double(wait.components.seconds) - 1)
                    #expect(try await dispatcher.runOnce().claimed == 0)
                    clock.advance(by: 1)
                }
                #expect(try await dispatcher.runOnce() == OutboxBatchResult(claimed: 1, delivered: 1))
                let deliveredAt = clock.now()
                clock.advance(by: 7200)
                #expect(try await dispatcher.runOnce().claimed == 0)

                let deliveries = receiver.deliveries
                #expect(deliveries.count == 4)
                #expect(deliveries.map { $0.headers["x-loket-delivery-attempt"] } == ["1", "2", "3", "4"])
                #expect(Set(deliveries.map { $0.headers["idempotency-key"] }) == ["loket-outbox-\(id)"])
                #expect(deliveries.map(\.status) == [503, 503, 503, 200])
                let row = try await OutboxFixtures.row(pool, id)
                #expect(row.deliveredAt == deliveredAt)
                #expect(row.attempts == 4)
                #expect(row.deadAt == nil)
                #expect(try await OutboxStore(pool: pool).pendingCount(now: clock.now()) == 0)
            }
        }
    }

    @Test("after maxAttempts failures the message is dead-lettered and listed; requeue makes it deliverable again")
    func deadLetterAndRequeue() async throws {
        try await WorkerTestDatabase.withPool { pool, _ in
            try await OutboxReceiver.run(failures: .max) { receiver in
                let clock = OutboxTestClock(Self.start)
                let store = OutboxStore(pool: pool)
                let id = try await OutboxFixtures.insertMessage(
                    pool, requestID: try await OutboxFixtures.insertRequest(pool), topic: "sla.breach", at: clock.now())
                // Jitter 0: each retry is due at once, so three batches in a row are three attempts.
                let dispatcher = try Self.webhookDispatcher(
                    pool: pool, receiver: receiver, clock: clock, jitter: OutboxFixedJitter(0), maxAttempts: 3)

                #expect(try await dispatcher.runOnce() == OutboxBatchResult(claimed: 1, retried: 1))
                #expect(try await dispatcher.runOnce() == OutboxBatchResult(claimed: 1, retried: 1))
                #expect(try await dispatcher.runOnce() == OutboxBatchResult(claimed: 1, dead: 1))
                clock.advance(by: 86_400)
                #expect(try await dispatcher.runOnce().claimed == 0)
                #expect(receiver.deliveries.count == 3)
                #expect(try await store.pendingCount(now: clock.now()) == 0)

                let dead = try await store.deadLetters(limit: 10)
                try #require(dead.count == 1)
                #expect(dead[0].id == id)
                #expect(dead[0].attempts == 3)
                #expect(dead[0].deadAt == Self.start)
                #expect(dead[0].deliveredAt == nil)
                #expect(dead[0].lastError?.hasPrefix("HTTP 500") == true)
                #expect(dead[0].topic == "sla.breach")

                receiver.setFailures(0)
                try await store.requeue(id: id, now: clock.now())
                #expect(try await store.deadLetters(limit: 10).isEmpty)
                #expect(try await store.pendingCount(now: clock.now()) == 1)
                #expect(try await dispatcher.runOnce() == OutboxBatchResult(claimed: 1, delivered: 1))
                let row = try await OutboxFixtures.row(pool, id)
                #expect(row.deliveredAt == clock.now())
                #expect(row.attempts == 1)
                #expect(receiver.deliveries.last?.headers["x-loket-delivery-attempt"] == "1")

                await #expect(throws: OutboxStoreError.notDead(id: id)) { try await store.requeue(id: id, now: clock.now()) }
                await #expect(throws: OutboxStoreError.notFound(id: id + 1000)) {
                    try await store.requeue(id: id + 1000, now: clock.now())
                }
            }
        }
    }

    @Test("a failing message is retried until it is older than the age limit, however many attempts that takes")
    func deadLetteredByAgeNotByCount() async throws {
        try await WorkerTestDatabase.withPool { pool, _ in
            try await OutboxReceiver.run(failures: .max) { receiver in
                let clock = OutboxTestClock(Self.start)
                let store = OutboxStore(pool: pool)
                let id = try await OutboxFixtures.insertMessage(
                    pool, requestID: try await OutboxFixtures.insertRequest(pool), topic: "request.asked", at: clock.now())
                let dispatcher = try Self.webhookDispatcher(
                    pool: pool, receiver: receiver, clock: clock, jitter: OutboxFixedJitter(0), maxAttempts: nil,
                    giveUpAfter: .seconds(3600))
                // A receiver down for longer than any count of quick retries: still retried.
                for _ in 0..<20 {
                    #expect(try await dispatcher.runOnce() == OutboxBatchResult(claimed: 1, retried: 1))
                    clock.advance(by: 60)
                }
                clock.advance(by: 3600 - 20 * 60)
                #expect(try await dispatcher.runOnce() == OutboxBatchResult(claimed: 1, dead: 1))
                #expect(try await store.deadLetters(limit: 10).map(\.id) == [id])

                // Requeued all at once when the receiver is back, and then delivered.
                receiver.setFailures(0)
                #expect(try await store.requeueAll(since: Self.start, now: clock.now()) == 1)
                #expect(try await store.requeueAll(since: nil, now: clock.now()) == 0)
                #expect(try await dispatcher.runOnce() == OutboxBatchResult(claimed: 1, delivered: 1))
            }
        }
    }

    @Test("on shutdown a batch starts no new delivery and hands the unstarted messages back")
    func shutdownReleasesTheUnstarted() async throws {
        try await WorkerTestDatabase.withPool { pool, _ in
            try await OutboxReceiver.run(delay: .milliseconds(600)) { receiver in
                let clock = OutboxTestClock(Self.start)
                var ids: [Int64] = []
                for _ in 0..<20 {
                    ids.append(try await OutboxFixtures.insertMessage(
                        pool, requestID: try await OutboxFixtures.insertRequest(pool), topic: "request.asked", at: clock.now()))
                }
                let dispatcher = try Self.webhookDispatcher(pool: pool, receiver: receiver, clock: clock)
                let result = try await testGracefulShutdown { trigger in
                    async let batch = dispatcher.runOnce()
                    try await Task.sleep(for: .milliseconds(200))
                    trigger.triggerGracefulShutdown()
                    return try await batch
                }
                // Eight deliveries were in flight (the dispatcher's concurrency) and finished.
                #expect(result == OutboxBatchResult(claimed: 20, delivered: 8, released: 12))
                var rows: [OutboxMessage] = []
                for id in ids { rows.append(try await OutboxFixtures.row(pool, id)) }
                #expect(rows.filter { $0.deliveredAt != nil }.count == 8)
                let released = rows.filter { $0.deliveredAt == nil }
                #expect(released.allSatisfy { $0.attempts == 0 && $0.availableAt <= clock.now() })
                #expect(try await OutboxStore(pool: pool).pendingCount(now: clock.now()) == 12)
            }
        }
    }

    @Test("a later message of a request waits while an earlier one is retrying; other requests do not wait")
    func orderPerRequest() async throws {
        try await WorkerTestDatabase.withPool { pool, _ in
            let clock = OutboxTestClock(Self.start)
            let request = try await OutboxFixtures.insertRequest(pool)
            let other = try await OutboxFixtures.insertRequest(pool)
            let first = try await OutboxFixtures.insertMessage(pool, requestID: request, topic: "staff.assigned", at: clock.now())
            let second = try await OutboxFixtures.insertMessage(pool, requestID: request, topic: "request.resolved", at: clock.now())
            let unrelated = try await OutboxFixtures.insertMessage(pool, requestID: other, topic: "request.received", at: clock.now())
            try await OutboxReceiver.run(failures: 1, only: ["loket-outbox-\(first)"]) { receiver in
                let dispatcher = try Self.webhookDispatcher(pool: pool, receiver: receiver, clock: clock, jitter: OutboxFixedJitter(1))

                #expect(try await dispatcher.runOnce() == OutboxBatchResult(claimed: 2, delivered: 1, retried: 1))
                // The first is in its 5 s backoff, so the second must not go ahead of it.
                #expect(try await dispatcher.runOnce().claimed == 0)
                clock.advance(by: 5)
                // At claim time the first is still pending, so this batch is the first alone.
                #expect(try await dispatcher.runOnce() == OutboxBatchResult(claimed: 1, delivered: 1))
                #expect(try await dispatcher.runOnce() == OutboxBatchResult(claimed: 1, delivered: 1))

                let keys = receiver.deliveries.map { $0.headers["idempotency-key"] ?? "" }
                let ofRequest = keys.filter { $0 == "loket-outbox-\(first)" || $0 == "loket-outbox-\(second)" }
                #expect(ofRequest == ["loket-outbox-\(first)", "loket-outbox-\(first)", "loket-outbox-\(second)"])
                #expect(keys.filter { $0 == "loket-outbox-\(unrelated)" }.count == 1)
                let firstRow = try await OutboxFixtures.row(pool, first)
                let secondRow = try await OutboxFixtures.row(pool, second)
                let firstDelivered = try #require(firstRow.deliveredAt)
                let secondDelivered = try #require(secondRow.deliveredAt)
                #expect(firstDelivered <= secondDelivered)
                #expect(secondRow.attempts == 1)
            }
        }
    }

    @Test("messages of one request to other recipients neither wait for each other nor for a failing one")
    func orderPerRecipient() async throws {
        try await WorkerTestDatabase.withPool { pool, _ in
            let clock = OutboxTestClock(Self.start)
            let request = try await OutboxFixtures.insertRequest(pool)
            let citizen = try await OutboxFixtures.insertMessage(pool, requestID: request, topic: "request.resolved", at: clock.now())
            var managers: [Int64] = []
            for _ in 0..<3 {
                managers.append(try await OutboxFixtures.insertMessage(
                    pool, requestID: request, topic: "sla.breach", at: clock.now(), recipient: "manager"))
            }
            try await OutboxReceiver.run(failures: .max, only: ["loket-outbox-\(citizen)"]) { receiver in
                let dispatcher = try Self.webhookDispatcher(pool: pool, receiver: receiver, clock: clock, jitter: OutboxFixedJitter(1))
                // The citizen's row fails; the first manager row goes in the same batch (the other
                // two wait for it: same recipient, the unit's managers).
                #expect(try await dispatcher.runOnce() == OutboxBatchResult(claimed: 2, delivered: 1, retried: 1))
                #expect(try await dispatcher.runOnce() == OutboxBatchResult(claimed: 1, delivered: 1))
                #expect(try await dispatcher.runOnce() == OutboxBatchResult(claimed: 1, delivered: 1))
                for id in managers { #expect(try await OutboxFixtures.row(pool, id).deliveredAt != nil) }
                #expect(try await OutboxFixtures.row(pool, citizen).deliveredAt == nil)
            }
        }
    }

    @Test("one officer's messages of a request stay in order, whether sent to them as holder or as manager")
    func orderPerPerson() async throws {
        try await WorkerTestDatabase.withPool { pool, _ in
            let clock = OutboxTestClock(Self.start)
            let request = try await OutboxFixtures.insertRequest(pool)
            let staff = try await pool.query("SELECT id FROM staff ORDER BY id LIMIT 1").single().decode(Int64.self, "id")
            var ids: [Int64] = []
            for (kind, topic) in [("manager", "sla.escalated"), ("staff", "sla.breach")] {
                ids.append(try await OutboxFixtures.insertMessage(
                    pool, requestID: request, topic: topic, at: clock.now(), recipient: kind, staff: staff))
            }
            try await OutboxReceiver.run(failures: 1, only: ["loket-outbox-\(ids[0])"]) { receiver in
                let dispatcher = try Self.webhookDispatcher(pool: pool, receiver: receiver, clock: clock, jitter: OutboxFixedJitter(1))
                #expect(try await dispatcher.runOnce() == OutboxBatchResult(claimed: 1, retried: 1))
                #expect(try await dispatcher.runOnce().claimed == 0, "the breach overtook the escalation in its backoff")
                clock.advance(by: 5)
                #expect(try await dispatcher.runOnce() == OutboxBatchResult(claimed: 1, delivered: 1))
                #expect(try await dispatcher.runOnce() == OutboxBatchResult(claimed: 1, delivered: 1))
                // Each names the officer: the gateway needs no database to reach them.
                let person = try await pool.query("SELECT nip, name, email FROM staff WHERE id = $1", staff).single()
                for delivery in receiver.deliveries {
                    let body = try #require(try JSONSerialization.jsonObject(with: Data(delivery.body)) as? [String: Any])
                    let recipient = try #require(body["recipient"] as? [String: Any])
                    #expect(recipient["nip"] as? String == (try person.decode(String.self, "nip")))
                    #expect(recipient["name"] as? String == (try person.decode(String.self, "name")))
                    #expect((recipient["email"] as? String) == (try person.decode(String?.self, "email")))
                    #expect(recipient["phone"] == nil)
                }
            }
        }
    }

    @Test("a dead letter no longer holds back the later messages of its request")
    func deadLetterReleasesItsRequest() async throws {
        try await WorkerTestDatabase.withPool { pool, _ in
            let clock = OutboxTestClock(Self.start)
            let request = try await OutboxFixtures.insertRequest(pool)
            let first = try await OutboxFixtures.insertMessage(pool, requestID: request, topic: "staff.assigned", at: clock.now())
            let second = try await OutboxFixtures.insertMessage(pool, requestID: request, topic: "request.resolved", at: clock.now())
            try await OutboxReceiver.run(failures: .max, only: ["loket-outbox-\(first)"]) { receiver in
                let dispatcher = try Self.webhookDispatcher(
                    pool: pool, receiver: receiver, clock: clock, jitter: OutboxFixedJitter(0), maxAttempts: 2)
                #expect(try await dispatcher.runOnce() == OutboxBatchResult(claimed: 1, retried: 1))
                #expect(try await dispatcher.runOnce() == OutboxBatchResult(claimed: 1, dead: 1))
                #expect(try await dispatcher.runOnce() == OutboxBatchResult(claimed: 1, delivered: 1))
                #expect(try await OutboxFixtures.row(pool, second).deliveredAt != nil)
            }
        }
    }

    @Test("without a webhook the log channel delivers, records the channel used, and logs the notification")
    func logChannel() async throws {
        try await WorkerTestDatabase.withPool { pool, _ in
            let clock = OutboxTestClock(Self.start)
            let request = try await OutboxFixtures.insertRequest(pool)
            let id = try await OutboxFixtures.insertMessage(
                pool, requestID: request, topic: "request.asked", payload: #"{"tracking_code": "SRG-XYZ789"}"#, at: clock.now())
            let records = OutboxLogRecords()
            let dispatcher = OutboxDispatcher(
                store: OutboxStore(pool: pool), configuration: OutboxDispatcherConfiguration(channel: .log), clock: clock,
                logger: Logger(label: "test.outbox") { _ in OutboxCapturingLogHandler(records: records) })

            #expect(try await dispatcher.runOnce() == OutboxBatchResult(claimed: 1, delivered: 1))

            let row = try await OutboxFixtures.row(pool, id)
            #expect(row.channel == "log")
            #expect(row.deliveredAt == Self.start)
            #expect(row.attempts == 1)
            let logged = records.all.filter { $0.message == "notification" }
            try #require(logged.count == 1)
            #expect(logged[0].level == .info)
            #expect(logged[0].metadata["outbox_id"] == "\(id)")
            #expect(logged[0].metadata["topic"] == "request.asked")
            #expect(logged[0].metadata["payload"]?.contains("SRG-XYZ789") == true)
        }
    }

    @Test("a timeout and a refused connection are failed attempts, scheduled for retry")
    func timeoutAndConnectionErrors() async throws {
        try await WorkerTestDatabase.withPool { pool, _ in
            let clock = OutboxTestClock(Self.start)
            let store = OutboxStore(pool: pool)
            let slow = try await OutboxFixtures.insertMessage(pool, requestID: nil, topic: "sla.warning", at: clock.now())
            try await OutboxReceiver.run(delay: .milliseconds(400)) { receiver in
                let endpoint = try WebhookEndpoint(url: receiver.url, secret: Self.secret, timeout: .milliseconds(100))
                let dispatcher = OutboxDispatcher(
                    store: store, configuration: OutboxDispatcherConfiguration(channel: .webhook(endpoint)), clock: clock,
                    jitter: OutboxFixedJitter(1))
                #expect(try await dispatcher.runOnce() == OutboxBatchResult(claimed: 1, retried: 1))
            }
            let slowRow = try await OutboxFixtures.row(pool, slow)
            #expect(slowRow.deliveredAt == nil)
            #expect(slowRow.availableAt == Self.start.addingTimeInterval(5))
            #expect(slowRow.lastError?.contains("deadlineExceeded") == true)

            // Port 1 on the loopback: nothing listens there, so the connection is refused at once.
            let refused = try await OutboxFixtures.insertMessage(pool, requestID: nil, topic: "sla.warning", at: clock.now())
            let endpoint = try WebhookEndpoint(url: "http://127.0.0.1:1/hook", secret: Self.secret, timeout: .milliseconds(300))
            let dispatcher = OutboxDispatcher(
                store: store, configuration: OutboxDispatcherConfiguration(channel: .webhook(endpoint)), clock: clock,
                jitter: OutboxFixedJitter(1))
            #expect(try await dispatcher.runOnce() == OutboxBatchResult(claimed: 1, retried: 1))
            let refusedRow = try await OutboxFixtures.row(pool, refused)
            #expect(refusedRow.deliveredAt == nil)
            #expect(refusedRow.attempts == 1)
            #expect(refusedRow.lastError?.contains("refused") == true, "\(refusedRow.lastError ?? "-")")
        }
    }

    @Test("an answer whose body trickles past the timeout is a failed attempt, not a stuck dispatcher")
    func aTricklingAnswerTimesOut() async throws {
        try await WorkerTestDatabase.withPool { pool, _ in
            let clock = OutboxTestClock(Self.start)
            let id = try await OutboxFixtures.insertMessage(pool, requestID: nil, topic: "sla.warning", at: clock.now())
            try await OutboxReceiver.run(trickle: .seconds(60)) { receiver in
                let endpoint = try WebhookEndpoint(url: receiver.url, secret: Self.secret, timeout: .milliseconds(500))
                let dispatcher = OutboxDispatcher(
                    store: OutboxStore(pool: pool), configuration: OutboxDispatcherConfiguration(channel: .webhook(endpoint)), clock: clock,
                    jitter: OutboxFixedJitter(1))
                let began = ContinuousClock.now
                #expect(try await dispatcher.runOnce() == OutboxBatchResult(claimed: 1, retried: 1))
                // Bounded by the limit (0.75 s), not by the receiver's minute; the margin is wide
                // because the whole suite runs in parallel on two cores (6.5 s was seen).
                #expect(ContinuousClock.now - began < .seconds(30))
                #expect(receiver.deliveries.count == 1)
            }
            let row = try await OutboxFixtures.row(pool, id)
            #expect(row.deliveredAt == nil)
            #expect(row.lastError?.contains("deadlineExceeded") == true, "\(row.lastError ?? "-")")
        }
    }

    @Test("a claim whose worker died comes back after the visibility timeout and is delivered")
    func lapsedClaimComesBack() async throws {
        try await WorkerTestDatabase.withPool { pool, _ in
            try await OutboxReceiver.run { receiver in
                let clock = OutboxTestClock(Self.start)
                let store = OutboxStore(pool: pool)
                let id = try await OutboxFixtures.insertMessage(pool, requestID: nil, topic: "lease.expired", at: clock.now())
                // A worker claims and dies before recording anything.
                let claimed = try await store.claim(now: clock.now(), limit: 10, visibilityTimeout: .seconds(120))
                #expect(claimed.map(\.id) == [id])
                #expect(claimed.first?.attempts == 1)
                #expect(claimed.first?.availableAt == Self.start.addingTimeInterval(120))

                let dispatcher = try Self.webhookDispatcher(pool: pool, receiver: receiver, clock: clock)
                #expect(try await dispatcher.runOnce().claimed == 0)
                clock.advance(by: 119)
                #expect(try await dispatcher.runOnce().claimed == 0)
                clock.advance(by: 1)
                #expect(try await dispatcher.runOnce() == OutboxBatchResult(claimed: 1, delivered: 1))
                #expect(receiver.deliveries.first?.headers["x-loket-delivery-attempt"] == "2")
                #expect(try await OutboxFixtures.row(pool, id).attempts == 2)

                // The dead worker's late report must not undo the delivery.
                #expect(try await store.scheduleRetry(id: id, attempt: 1, at: clock.now(), error: "late") == false)
                #expect(try await store.markDead(id: id, attempt: 1, now: clock.now(), error: "late") == false)
                #expect(try await OutboxFixtures.row(pool, id).deliveredAt == clock.now())
            }
        }
    }

    @Test("two dispatchers draining one outbox deliver every message exactly once")
    func twoDispatchers() async throws {
        try await WorkerTestDatabase.withPool { pool, _ in
            try await OutboxReceiver.run { receiver in
                let clock = OutboxTestClock(Self.start)
                var ids: [Int64] = []
                for _ in 0..<40 {
                    ids.append(try await OutboxFixtures.insertMessage(pool, requestID: nil, topic: "sla.warning", at: clock.now()))
                }
                let a = try Self.webhookDispatcher(pool: pool, receiver: receiver, clock: clock, batchSize: 7)
                let b = try Self.webhookDispatcher(pool: pool, receiver: receiver, clock: clock, batchSize: 7)
                async let fromA = Self.drain(a)
                async let fromB = Self.drain(b)
                let (deliveredByA, deliveredByB) = try await (fromA, fromB)

                #expect(deliveredByA + deliveredByB == 40)
                let keys = receiver.deliveries.compactMap { $0.headers["idempotency-key"] }
                #expect(keys.count == 40)
                #expect(Set(keys) == Set(ids.map { "loket-outbox-\($0)" }))
                #expect(try await OutboxStore(pool: pool).pendingCount(now: clock.now()) == 0)
            }
        }
    }

    @Test("the claim reads the pending index, not the whole table")
    func claimPlan() async throws {
        try await WorkerTestDatabase.withPool { pool, _ in
            let requests = try await OutboxFixtures.insertRequests(pool, count: 50)
            // A long delivered history and a small pending set, as in production.
            try await pool.query(
                """
                INSERT INTO notification_outbox (request_id, recipient_kind, channel, topic, created_at, available_at, attempts, delivered_at)
                SELECT ($1::bigint[])[1 + g % 50], 'citizen', 'webhook', 'request.received', $2, $2, 1, $2
                FROM generate_series(1, 20000) g
                """, requests, Self.start)
            try await pool.query(
                """
                INSERT INTO notification_outbox (request_id, recipient_kind, channel, topic, created_at, available_at)
                SELECT ($1::bigint[])[1 + g % 50], 'citizen', 'webhook', 'request.received', $2, $2
                FROM generate_series(1, 100) g
                """, requests, Self.start)
            try await pool.query("ANALYZE notification_outbox")
            let plan = try await pool.query(
                "EXPLAIN " + OutboxStore.claimStatement, Self.start, 50, Self.start.addingTimeInterval(120)
            ).map { try $0.decode(String.self, 0) }.joined(separator: "\n")
            #expect(plan.contains("notification_outbox_pending_idx"), "\(plan)")
            #expect(!plan.contains("Seq Scan on notification_outbox"), "\(plan)")
        }
    }

    @Test("backoff doubles from the base up to the cap, and the jitter picks a point below it")
    func backoff() {
        let backoff = RetryBackoff(base: .seconds(5), cap: .seconds(3600))
        #expect((1...4).map { backoff.ceiling(afterAttempt: $0) } == [.seconds(5), .seconds(10), .seconds(20), .seconds(40)])
        #expect(backoff.ceiling(afterAttempt: 10) == .seconds(2560))
        #expect(backoff.ceiling(afterAttempt: 11) == .seconds(3600))
        #expect(backoff.ceiling(afterAttempt: 1_000) == .seconds(3600))
        #expect(backoff.delay(afterAttempt: 3, jitter: 0) == .zero)
        #expect(backoff.delay(afterAttempt: 3, jitter: 0.5) == .seconds(10))
        #expect(backoff.delay(afterAttempt: 3, jitter: 1) == .seconds(20))
        for _ in 0..<100 {
            let delay = backoff.delay(afterAttempt: 2, jitter: RandomRetryJitter().fraction())
            #expect(delay >= .zero && delay <= .seconds(10))
        }
    }

    @Test("webhook configuration is checked, and the visibility timeout covers a whole batch")
    func configuration() throws {
        #expect(throws: WebhookConfigurationError.invalidURL("notify.example.go.id")) {
            try WebhookEndpoint(url: "notify.example.go.id", secret: "s")
        }
        #expect(throws: WebhookConfigurationError.invalidURL("ftp://example.go.id/x")) {
            try WebhookEndpoint(url: "ftp://example.go.id/x", secret: "s")
        }
        #expect(throws: WebhookConfigurationError.emptySecret) { try WebhookEndpoint(url: "https://example.go.id/hook", secret: "") }
        // Contact details unencrypted over the network are warned about; to this host they are not.
        for (url, warned) in [("http://notify.example.go.id/hook", true), ("HTTP://10.0.0.5:8080/x", true), ("https://notify.example.go.id/hook", false),
                              ("http://127.hooks.example.com/x", true), ("http://127.0.0.1.example.net/x", true),
                              ("http://127.0.0.1:9000/hook", false), ("http://127.8.9.10/hook", false), ("http://localhost/hook", false),
                              ("http://LOCALHOST./hook", false), ("http://[::1]:9000/hook", false), ("http://[0:0:0:0:0:0:0:1]/hook", false),
                              ("http://[::ffff:127.0.0.1]/hook", false), ("http://[2001:db8::1]/hook", true)] {
            #expect(try WebhookEndpoint(url: url, secret: "s").isPlainTextToAnotherHost == warned, "\(url)")
        }
        let endpoint = try WebhookEndpoint(url: "https://example.go.id/hook", secret: "s", timeout: .seconds(10))
        // A delivery takes at most 15 s (the 10 s timeout to the answer's head, its body included).
        #expect(endpoint.exchangeLimit == .seconds(15))
        // 50 messages 8 at a time is 7 rounds: 7 × 15 s + 30 s, over the 120 s asked for.
        #expect(OutboxDispatcherConfiguration(channel: .webhook(endpoint)).claimTimeout == .seconds(135))
        #expect(OutboxDispatcherConfiguration(channel: .webhook(endpoint), visibilityTimeout: .seconds(300)).claimTimeout == .seconds(300))
        // 50 messages 2 at a time is 25 rounds of up to 15 s each.
        #expect(OutboxDispatcherConfiguration(channel: .webhook(endpoint), concurrency: 2).claimTimeout == .seconds(405))
        #expect(OutboxDispatcherConfiguration(channel: .log, visibilityTimeout: .seconds(30)).claimTimeout == .seconds(30))
    }

    // MARK: Helpers

    static func webhookDispatcher(
        pool: ConnectionPool, receiver: OutboxReceiver, clock: OutboxTestClock, jitter: any RetryJitter = OutboxFixedJitter(0),
        backoff: RetryBackoff = RetryBackoff(), maxAttempts: Int? = 8,
        giveUpAfter: Duration = OutboxDispatcherConfiguration.defaultGiveUpAfter, batchSize: Int = 50
    ) throws -> OutboxDispatcher {
        let endpoint = try WebhookEndpoint(url: receiver.url, secret: secret, timeout: .seconds(5))
        return OutboxDispatcher(
            store: OutboxStore(pool: pool),
            configuration: OutboxDispatcherConfiguration(
                channel: .webhook(endpoint), maxAttempts: maxAttempts, giveUpAfter: giveUpAfter, backoff: backoff,
                batchSize: batchSize),
            clock: clock, jitter: jitter)
    }

    /// Runs batches until one finds nothing; returns how many messages this dispatcher delivered.
    static func drain(_ dispatcher: OutboxDispatcher) async throws -> Int {
        var delivered = 0
        while true {
            let result = try await dispatcher.runOnce()
            delivered += result.delivered
            if result.claimed == 0 { return delivered }
        }
    }
}

/// A clock the test moves by hand.
final class OutboxTestClock: WorkerClock {
    private let current: Mutex<Date>

    init(_ start: Date) { current = Mutex(start) }

    func now() -> Date { current.withLock { $0 } }

    func advance(by seconds: TimeInterval) { current.withLock { $0 = $0.addingTimeInterval(seconds) } }
}

struct OutboxFixedJitter: RetryJitter {
    let value: Double
    init(_ value: Double) { self.value = value }
    func fraction() -> Double { value }
}

/// Rows for the outbox tests, written with SQL the way the stores write them.
enum OutboxFixtures {
    /// A minimal open request on the sample catalog's first service and unit.
    static func insertRequest(_ pool: ConnectionPool) async throws -> Int64 {
        try await insertRequests(pool, count: 1)[0]
    }

    static func insertRequests(_ pool: ConnectionPool, count: Int) async throws -> [Int64] {
        try await pool.query(
            """
            INSERT INTO service_requests (tracking_code, service_type_id, unit_id, citizen_name, citizen_email,
                                          access_token_hash, source, routing_reason, response_due_at, resolution_due_at)
            SELECT 'TST-' || upper(substr(md5(random()::text), 1, 10)),
                   (SELECT id FROM service_types ORDER BY id LIMIT 1), (SELECT id FROM units ORDER BY id LIMIT 1),
                   'Siti Aminah', 'siti@example.id', sha256(g::text::bytea), 'web', 'test',
                   now() + interval '1 day', now() + interval '7 days'
            FROM generate_series(1, $1) g
            RETURNING id
            """, count
        ).map { try $0.decode(Int64.self, "id") }.sorted()
    }

    /// A message for a citizen of `requestID`, or for the managers when there is no request.
    /// A message for `recipient` (`citizen` for a request's, the managers without one, unless
    /// given), with `staff` as recipient_staff_id.
    static func insertMessage(
        _ pool: ConnectionPool, requestID: Int64?, topic: String, payload: String = "{}", at: Date,
        recipient: String? = nil, staff: Int64? = nil
    ) async throws -> Int64 {
        try await pool.query(
            """
            INSERT INTO notification_outbox (request_id, recipient_kind, recipient_staff_id, channel, topic, payload, created_at, available_at)
            VALUES ($1, COALESCE($5, CASE WHEN $1::bigint IS NULL THEN 'manager' ELSE 'citizen' END), $6, 'webhook', $2, $3::jsonb, $4, $4)
            RETURNING id
            """, requestID, topic, payload, at, recipient, staff
        ).single().decode(Int64.self, "id")
    }

    static func row(_ pool: ConnectionPool, _ id: Int64) async throws -> OutboxMessage {
        try OutboxMessage(row: try await pool.query("SELECT \(OutboxStore.columns) FROM notification_outbox o WHERE o.id = $1", id).single())
    }
}

/// A webhook receiver on 127.0.0.1 with a port of its own: records every request and answers 503
/// (or 500 when failing for good) to the first `failures` deliveries of each message, 200 after.
final class OutboxReceiver: Sendable {
    struct Delivery: Sendable {
        /// Header names in lower case.
        var headers: [String: String]
        var body: [UInt8]
        var status: Int
    }

    private struct State {
        var port = 0
        var failures: Int
        var seen: [String: Int] = [:]
        var deliveries: [Delivery] = []
    }

    private let state: Mutex<State>
    /// Only these idempotency keys fail; nil means every message.
    private let only: Set<String>?
    private let delay: Duration?
    /// Answers 200 at once, then sends its body a byte every 100 ms for this long.
    private let trickle: Duration?

    private init(failures: Int, only: Set<String>?, delay: Duration?, trickle: Duration?) {
        state = Mutex(State(failures: failures))
        self.only = only
        self.delay = delay
        self.trickle = trickle
    }

    var url: String { "http://127.0.0.1:\(state.withLock { $0.port })/hook" }
    var deliveries: [Delivery] { state.withLock { $0.deliveries } }
    func setFailures(_ failures: Int) { state.withLock { $0.failures = failures } }

    private func record(headers: [String: String], body: [UInt8]) -> Int {
        state.withLock { state in
            let key = headers["idempotency-key"] ?? ""
            let seen = state.seen[key, default: 0]
            state.seen[key] = seen + 1
            let fails = (only?.contains(key) ?? true) && seen < state.failures
            let status = fails ? (state.failures == .max ? 500 : 503) : 200
            state.deliveries.append(Delivery(headers: headers, body: body, status: status))
            return status
        }
    }

    /// Serves for the duration of `body`.
    static func run<T>(
        failures: Int = 0, only: Set<String>? = nil, delay: Duration? = nil, trickle: Duration? = nil,
        _ body: (OutboxReceiver) async throws -> T
    ) async throws -> T {
        let receiver = OutboxReceiver(failures: failures, only: only, delay: delay, trickle: trickle)
        let router = Router()
        router.post("hook") { request, _ -> Response in
            let buffer = try await request.body.collect(upTo: 1 << 20)
            var headers: [String: String] = [:]
            for field in request.headers { headers[field.name.canonicalName] = field.value }
            let status = receiver.record(headers: headers, body: Array(buffer.readableBytesView))
            if let delay = receiver.delay { try await Task.sleep(for: delay) }
            if let trickle = receiver.trickle {
                return Response(status: .init(code: status), body: ResponseBody { writer in
                    let end = ContinuousClock.now + trickle
                    while ContinuousClock.now < end {
                        try await writer.write(ByteBuffer(string: "."))
                        try await Task.sleep(for: .milliseconds(100))
                    }
                    try await writer.finish(nil)
                })
            }
            return Response(status: .init(code: status), body: .init(byteBuffer: ByteBuffer(string: status == 200 ? "" : "coba lagi")))
        }
        let (ports, portContinuation) = AsyncStream.makeStream(of: Int.self)
        var logger = Logger(label: "test.receiver")
        logger.logLevel = .warning
        let app = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in
                portContinuation.yield(channel.localAddress?.port ?? 0)
                portContinuation.finish()
            },
            logger: logger)
        let services = ServiceGroup(configuration: .init(services: [app], gracefulShutdownSignals: [], logger: logger))
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await services.run() }
            // Stopped gracefully whatever `body` does, so the server closes without complaint.
            let result: Result<T, any Error>
            var iterator = ports.makeAsyncIterator()
            if let port = await iterator.next(), port > 0 {
                receiver.state.withLock { $0.port = port }
                do {
                    result = .success(try await body(receiver))
                } catch {
                    result = .failure(error)
                }
            } else {
                result = .failure(WorkerTestSetupError("the test receiver did not start"))
            }
            await services.triggerGracefulShutdown()
            try await group.waitForAll()
            return try result.get()
        }
    }
}

final class OutboxLogRecords: Sendable {
    struct Record: Sendable {
        var level: Logger.Level
        var message: String
        var metadata: [String: String]
    }

    private let records = Mutex<[Record]>([])
    var all: [Record] { records.withLock { $0 } }
    func append(_ record: Record) { records.withLock { $0.append(record) } }
}

struct OutboxCapturingLogHandler: LogHandler {
    let records: OutboxLogRecords
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        records.append(.init(level: event.level, message: "\(event.message)", metadata: merged.mapValues { "\($0)" }))
    }
}
