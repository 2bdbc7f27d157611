import Foundation
import Logging
import LoketCore
import LoketStore
import Metrics
import ServiceLifecycle

/// Closes requests that have waited for the citizen for `workingDays` working days of their
/// service's calendar (a working day is the calendar's `day_minutes`): the system rejects them
/// with a reason the citizen reads, in the audit trail and the citizen's notification, so that
/// nothing waits in a drawer for ever. A request whose citizen answers in the meantime is left
/// alone; so is one whose citizen has uploaded a document since the question (without a reply to
/// go with it): an officer decides. Its clock is paused, so no SLA stage would ever bring it back:
/// when the close would have come, its holder and its unit's supervisors are told instead, once
/// per pause (a private note on the timeline and a `request.upload_unanswered` notification).
/// Several workers may run; each close takes the request's row lock.
///
/// `reminderDays` working days before the close (0: never), the citizen is reminded once per
/// pause: a public note on the timeline, which the tracking page shows, and a
/// `request.auto_close_reminder` notification, both naming the instant of the close.
public struct AutoCloser: Service {
    public let store: AutoCloseStore
    public let catalog: CatalogCache
    public let workingDays: Int
    public let reminderDays: Int
    public let clock: any WorkerClock
    public let batchSize: Int
    public let interval: Duration
    public let logger: Logger

    public init(
        store: AutoCloseStore, catalog: CatalogCache, workingDays: Int, reminderDays: Int = 0, clock: any WorkerClock = SystemWorkerClock(),
        batchSize: Int = 200, interval: Duration = .seconds(300), logger: Logger = Logger(label: "loket.worker.autoclose")
    ) {
        precondition(workingDays >= 1, "auto-close needs at least one working day")
        precondition((0..<workingDays).contains(reminderDays), "a reminder comes before the close")
        self.store = store
        self.catalog = catalog
        self.workingDays = workingDays
        self.reminderDays = reminderDays
        self.clock = clock
        self.batchSize = batchSize
        self.interval = interval
        self.logger = logger
    }

    /// The reason the citizen reads.
    public var reason: String {
        "Permohonan ditutup otomatis karena tidak ada tanggapan dari pemohon dalam \(workingDays) hari kerja. "
            + "Silakan ajukan permohonan baru bila masih diperlukan. "
            + "(Closed automatically: no answer from the applicant within \(workingDays) working days. "
            + "Please file a new request if it is still needed.)"
    }

    /// The reminder the citizen reads: in both languages, as the reason of the close is.
    public func reminder(closesAt: Date, timeZone: String) -> String {
        "Pengingat: permohonan ini menunggu tanggapan Anda atas permintaan petugas. Bila tidak ada tanggapan sampai "
            + "\(HumanInstant.string(closesAt, language: .indonesian, timeZone: timeZone)), permohonan akan ditutup otomatis. "
            + "(Reminder: this request is waiting for your answer to the officer's request. Without an answer by "
            + "\(HumanInstant.string(closesAt, language: .english, timeZone: timeZone)), it will be closed automatically.)"
    }

    /// What the officers read of a request the close passed over for its upload.
    public var uploadUnanswered: String {
        "Pemohon sudah mengunggah dokumen tetapi belum membalas, dan permohonan menunggu \(workingDays) hari kerja. "
            + "Periksa dokumennya, lalu catat jawabannya (loket answered), tanyakan lagi, atau putuskan. "
            + "(The applicant uploaded a document but sent no reply, and the request has waited \(workingDays) working days. "
            + "Review the document, then record the answer (loket answered), ask again, or decide.)"
    }

    /// Closes every request due by now, tells the officers of those the close passed over for an
    /// upload, then reminds those whose close is `reminderDays` away; returns the tracking codes
    /// of those closed and reminded.
    @discardableResult
    public func runOnce() async throws -> (closed: [String], reminded: [String]) {
        let closed = try await closeDue()
        try await flagUploadsDue()
        let reminded = reminderDays > 0 ? try await remindDue() : []
        return (closed, reminded)
    }

    private func flagUploadsDue() async throws {
        let flagged = try await eachWaiting(days: workingDays, list: store.waitingWithUploads, failure: "auto-close notice of an upload failed") {
            request, waited, calendar, snapshot, now in
            guard waited >= workingDays * calendar.dayMinutes else { return false }
            return try await store.flagUnanswered(request, message: uploadUnanswered, catalog: snapshot, now: now)
        }
        if !flagged.isEmpty {
            Counter(label: "loket_worker_auto_close_uploads_flagged_total").increment(by: flagged.count)
            logger.info("told officers of requests whose citizen uploaded without a reply", metadata: ["requests": "\(flagged)"])
        }
    }

    private func closeDue() async throws -> [String] {
        let silent = { (cutoff: Date, cursor: WaitingRequest?, limit: Int) in
            try await store.waiting(since: cutoff, after: cursor, limit: limit)
        }
        let closed = try await eachWaiting(days: workingDays, list: silent, failure: "auto-close of a request failed") {
            request, waited, calendar, snapshot, now in
            guard waited >= workingDays * calendar.dayMinutes else { return false }
            return try await store.close(request, reason: reason, catalog: snapshot, now: now)
        }
        if !closed.isEmpty {
            Counter(label: "loket_worker_auto_closed_total").increment(by: closed.count)
            logger.info("closed requests that waited too long for the citizen", metadata: ["requests": "\(closed)"])
        }
        return closed
    }

    private func remindDue() async throws -> [String] {
        let remindAfter = workingDays - reminderDays
        let unreminded = { (cutoff: Date, cursor: WaitingRequest?, limit: Int) in
            try await store.waiting(since: cutoff, after: cursor, limit: limit, unremindedOnly: true)
        }
        let reminded = try await eachWaiting(days: remindAfter, list: unreminded, failure: "auto-close reminder failed") {
            request, waited, calendar, _, now in
            // Not yet due, or already past the close (the close pass ends it; a worker that was
            // down does not announce a close that has already passed).
            guard waited >= remindAfter * calendar.dayMinutes, waited < workingDays * calendar.dayMinutes else { return false }
            let closesAt = calendar.calendar.adding(workingMinutes: workingDays * calendar.dayMinutes, to: request.pausedAt)
            let message = reminder(closesAt: closesAt, timeZone: calendar.calendar.timeZoneIdentifier)
            return try await store.remind(request, message: message, closesAt: closesAt, now: now)
        }
        if !reminded.isEmpty {
            Counter(label: "loket_worker_auto_close_reminders_total").increment(by: reminded.count)
            logger.info("reminded citizens of the coming auto-close", metadata: ["requests": "\(reminded)"])
        }
        return reminded
    }

    /// Runs `act` on every request `list` gives that has waited for the citizen for at least `days`
    /// calendar days (N working days take at least N calendar days: the index narrows to those,
    /// `act` decides with the working minutes waited on the service's calendar), page by page;
    /// returns the codes of those `act` acted on. One request that fails holds up none after it.
    private func eachWaiting(
        days: Int, list: (_ cutoff: Date, _ after: WaitingRequest?, _ limit: Int) async throws -> [WaitingRequest],
        failure: Logger.Message,
        _ act: (WaitingRequest, _ waited: Int, StoredCalendar, CatalogSnapshot, _ now: Date) async throws -> Bool
    ) async throws -> [String] {
        let now = clock.now()
        let snapshot = try await catalog.snapshot()
        let cutoff = now.addingTimeInterval(-Double(days) * 86_400)
        var done: [String] = []
        var cursor: WaitingRequest?
        while true {
            let page = try await list(cutoff, cursor, batchSize)
            for request in page {
                guard let service = snapshot.servicesByID[request.serviceTypeID] else { continue }
                let calendar = snapshot.calendar(for: service)
                do {
                    let waited = calendar.calendar.workingMinutes(from: request.pausedAt, to: now)
                    if try await act(request, waited, calendar, snapshot, now) { done.append(request.trackingCode) }
                } catch is CancellationError {
                    throw CancellationError()
                } catch {
                    logger.error(failure, metadata: ["request": "\(request.trackingCode)", "error": "\(error)"])
                }
            }
            guard page.count == batchSize, let last = page.last, !Task.isShuttingDownGracefully, !Task.isCancelled else { break }
            cursor = last
        }
        return done
    }

    public func run() async throws {
        await runPasses(loop: "auto_close", logger: logger, failure: "auto-close failed; retrying later", pause: { await sleepUntilShutdown(interval) }) {
            _ = try await runOnce()
            return false
        }
    }
}
