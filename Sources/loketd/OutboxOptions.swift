import ArgumentParser
import Foundation
import LoketStore
import LoketWorker
import Postgres

/// How the worker delivers notifications: to a signed webhook when a URL is given, else to the log.
struct OutboxOptions: ParsableArguments {
    @Option(help: "Webhook that receives notifications (default: $LOKET_WEBHOOK_URL; none = write them to the log).")
    var webhookURL: String? = ProcessInfo.processInfo.environment["LOKET_WEBHOOK_URL"].flatMap { $0.isEmpty ? nil : $0 }

    @Option(help: "Seconds before a webhook delivery counts as failed (LOKET_WEBHOOK_TIMEOUT).")
    var webhookTimeout = EnvironmentDefaults.integer("LOKET_WEBHOOK_TIMEOUT", default: 10)

    @Option(help: "Hours after it was written that a failing notification is still retried; then it is dead-lettered (LOKET_WEBHOOK_GIVE_UP_HOURS).")
    var giveUpAfterHours = EnvironmentDefaults.integer("LOKET_WEBHOOK_GIVE_UP_HOURS", default: 72)

    @Option(help: "Delivery attempts before a notification is dead-lettered, whatever its age; 0 = no limit by count (LOKET_WEBHOOK_MAX_ATTEMPTS).")
    var maxAttempts = EnvironmentDefaults.integer("LOKET_WEBHOOK_MAX_ATTEMPTS", default: 0)

    /// The HMAC secret only comes from the environment, never from a flag (flags show in `ps`).
    var webhookSecret: String? { ProcessInfo.processInfo.environment["LOKET_WEBHOOK_SECRET"] }

    func validate() throws {
        try EnvironmentDefaults.check()
        guard (0...10_000).contains(maxAttempts) else { throw ValidationError("--max-attempts must be 0…10000 (0: no limit by count)") }
        guard (1...720).contains(giveUpAfterHours) else { throw ValidationError("--give-up-after-hours must be 1…720") }
        guard (1...300).contains(webhookTimeout) else { throw ValidationError("--webhook-timeout must be 1…300 seconds") }
        if webhookURL?.isEmpty == false, webhookSecret?.isEmpty != false {
            throw ValidationError("a webhook needs its signing secret in LOKET_WEBHOOK_SECRET")
        }
        // A receiver that checks signatures made with a published key checks nothing.
        if webhookURL?.isEmpty == false, let problem = EnvironmentDefaults.secretProblem("LOKET_WEBHOOK_SECRET", minimumLength: 16) {
            throw ValidationError(problem)
        }
    }

    func dispatcher(pool: ConnectionPool, wakeup: Wakeup, tick: Duration) throws -> OutboxDispatcher {
        let channel: NotificationChannel
        if let webhookURL, !webhookURL.isEmpty {
            channel = .webhook(try WebhookEndpoint(url: webhookURL, secret: webhookSecret ?? "", timeout: .seconds(webhookTimeout)))
        } else {
            channel = .log
        }
        return OutboxDispatcher(
            store: OutboxStore(pool: pool),
            configuration: OutboxDispatcherConfiguration(
                channel: channel, maxAttempts: maxAttempts == 0 ? nil : maxAttempts, giveUpAfter: .seconds(giveUpAfterHours * 3600),
                tick: tick),
            wakeup: wakeup)
    }
}
