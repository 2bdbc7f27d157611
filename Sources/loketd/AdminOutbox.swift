import ArgumentParser
import Foundation
import LoketStore
import Postgres

/// `loketd admin outbox …`: the notifications the worker gave up on, and sending them again.
struct AdminOutbox: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "outbox",
        abstract: "Dead-lettered notifications: list them, and send them again once the receiver is back.",
        subcommands: [AdminOutboxDead.self, AdminOutboxRequeue.self]
    )
}

extension DatabaseOptions {
    func withOutboxStore<T>(_ body: (OutboxStore) async throws -> T) async throws -> T {
        try await withPool { try await body(OutboxStore(pool: $0)) }
    }
}

struct AdminOutboxDead: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dead",
        abstract: "List dead-lettered notifications, most recently abandoned first.",
        discussion: """
            A notification is dead-lettered when its delivery still fails --give-up-after-hours after
            it was written (the worker's option, 72 by default). It stays in the outbox for this list
            until it is requeued.

            Example:
              loketd admin outbox dead --limit 20
            """
    )

    @OptionGroup var database: DatabaseOptions

    @Option(help: "At most this many (1…10000).")
    var limit = 100

    func validate() throws {
        guard (1...10_000).contains(limit) else { throw ValidationError("--limit must be 1…10000") }
    }

    func run() async throws {
        let dead = try await database.withOutboxStore { try await $0.deadLetters(limit: limit) }
        guard !dead.isEmpty else {
            AdminConsole.note("no dead-lettered notifications")
            return
        }
        print(AdminConsole.table(
            ["ID", "TOPIC", "RECIPIENT", "WRITTEN", "DEAD", "ATTEMPTS", "LAST ERROR"],
            dead.map {
                [String($0.id), $0.topic, $0.recipientKind, AdminConsole.date($0.createdAt), AdminConsole.date($0.deadAt),
                 String($0.attempts), String(($0.lastError ?? "-").prefix(80))]
            }))
        AdminConsole.note("send them again with `loketd admin outbox requeue --id ID` or `--all`")
    }
}

struct AdminOutboxRequeue: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "requeue",
        abstract: "Make dead-lettered notifications deliverable again, with a fresh retry window.",
        discussion: """
            The workers are woken at once. A requeued notification is retried from now, for
            --give-up-after-hours more. Receivers ignore repeats by the Idempotency-Key header.

            Examples:
              loketd admin outbox requeue --id 812 --id 813
              loketd admin outbox requeue --all --since 2026-12-05T00:00:00+07:00
            """
    )

    @OptionGroup var database: DatabaseOptions

    @Option(name: .customLong("id"), help: "A dead letter's id (repeat for several).")
    var ids: [Int64] = []

    @Flag(help: "Every dead letter (with --since: those abandoned since then).")
    var all = false

    @Option(help: "With --all: only those dead-lettered at or after this instant (RFC 3339).")
    var since: String?

    func validate() throws {
        guard all != !ids.isEmpty else { throw ValidationError("give --id (one or more) or --all") }
        if since != nil, !all { throw ValidationError("--since goes with --all") }
        if let since, ISO8601DateFormatter().date(from: since) == nil {
            throw ValidationError("--since must be an RFC 3339 instant, e.g. 2026-12-05T00:00:00+07:00")
        }
    }

    func run() async throws {
        let since = self.since.flatMap { ISO8601DateFormatter().date(from: $0) }
        let ids = self.ids
        let all = self.all
        try await database.withOutboxStore { store in
            if all {
                let count = try await store.requeueAll(since: since)
                print("requeued \(count) notification(s)")
                return
            }
            var failed = false
            for id in ids {
                do {
                    try await store.requeue(id: id)
                    print("requeued \(id)")
                } catch let error as OutboxStoreError {
                    AdminConsole.note("error: \(error)")
                    failed = true
                }
            }
            if failed { throw ExitCode.failure }
        }
    }
}
