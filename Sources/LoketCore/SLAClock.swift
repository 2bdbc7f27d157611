import Foundation

/// The two clocks every request runs.
public enum SLAClockKind: String, Sendable, Hashable, Codable, CaseIterable {
    /// From filing until the first claim or assignment.
    case response
    /// From filing until a final state.
    case resolution

    public func label(_ language: Language) -> String {
        switch (self, language) {
        case (.response, .indonesian): "respons"
        case (.response, .english): "response"
        case (.resolution, .indonesian): "penyelesaian"
        case (.resolution, .english): "resolution"
        }
    }
}

/// Which stage of which clock an `sla_stage` event applied; (request, clock, number) is unique.
public struct StageReference: Hashable, Sendable, Codable {
    public var clock: SLAClockKind
    public var number: Int
    public var percent: Int
    public var isBreach: Bool

    public init(clock: SLAClockKind, number: Int, percent: Int, isBreach: Bool) {
        self.clock = clock
        self.number = number
        self.percent = percent
        self.isBreach = isBreach
    }

    enum CodingKeys: String, CodingKey {
        case clock, number, percent
        case isBreach = "breach"
    }
}

/// What a transition does to the clocks.
public enum ClockEffect: Hashable, Sendable {
    case stop(SLAClockKind)
    /// Waiting for the citizen: every running clock pauses.
    case pause
    /// The citizen replied: paused clocks run again.
    case resume
}

/// A stretch during which a clock did not run; `end` is nil while it lasts.
public struct SLAPause: Hashable, Sendable, Codable {
    public var start: Date
    public var end: Date?

    public init(start: Date, end: Date?) {
        self.start = start
        self.end = end
    }
}

/// A stage with the instant it falls due.
public struct ScheduledStage: Hashable, Sendable {
    public let clock: SLAClockKind
    public let stage: SLAStage
    public let dueAt: Date

    public var reference: StageReference {
        StageReference(clock: clock, number: stage.number, percent: stage.percent, isBreach: stage.isBreach)
    }
}

/// Why a clock refused a change; each means the caller's idea of the request is out of date.
public enum SLAClockError: UserFacingError, Hashable {
    case targetNotPositive(Int)
    case alreadyStopped(SLAClockKind)
    case alreadyPaused(SLAClockKind)
    case notPaused(SLAClockKind)
    /// Clock events must not go back in time (before the start or the last pause or resume).
    case outOfOrder(SLAClockKind, Date)
    /// The stored pauses overlap, are unordered, or an open pause is not the last one.
    case inconsistentPauses(SLAClockKind)
    /// Stages are applied one at a time, in order.
    case stageOutOfOrder(SLAClockKind, expected: Int, got: Int)

    public var code: String {
        switch self {
        case .targetNotPositive: "sla_target_not_positive"
        case .alreadyStopped: "sla_clock_already_stopped"
        case .alreadyPaused: "sla_clock_already_paused"
        case .notPaused: "sla_clock_not_paused"
        case .outOfOrder: "sla_clock_out_of_order"
        case .inconsistentPauses: "sla_clock_inconsistent_pauses"
        case .stageOutOfOrder: "sla_stage_out_of_order"
        }
    }

    public func message(_ language: Language) -> String {
        switch (self, language) {
        case (.targetNotPositive(let minutes), .indonesian): "Target SLA harus lebih dari 0 menit kerja (tertulis \(minutes))."
        case (.targetNotPositive(let minutes), .english): "An SLA target must be above 0 working minutes (got \(minutes))."
        case (.alreadyStopped(let clock), .indonesian): "Jam \(clock.label(.indonesian)) sudah berhenti."
        case (.alreadyStopped(let clock), .english): "The \(clock.label(.english)) clock has already stopped."
        case (.alreadyPaused(let clock), .indonesian): "Jam \(clock.label(.indonesian)) sudah dijeda."
        case (.alreadyPaused(let clock), .english): "The \(clock.label(.english)) clock is already paused."
        case (.notPaused(let clock), .indonesian): "Jam \(clock.label(.indonesian)) tidak sedang dijeda."
        case (.notPaused(let clock), .english): "The \(clock.label(.english)) clock is not paused."
        case (.outOfOrder(let clock, let instant), .indonesian): "Waktu \(instant) mendahului kejadian terakhir jam \(clock.label(.indonesian))."
        case (.outOfOrder(let clock, let instant), .english): "\(instant) precedes the \(clock.label(.english)) clock's last event."
        case (.inconsistentPauses(let clock), .indonesian): "Data jeda jam \(clock.label(.indonesian)) tidak konsisten."
        case (.inconsistentPauses(let clock), .english): "The \(clock.label(.english)) clock's pauses are inconsistent."
        case (.stageOutOfOrder(let clock, let expected, let got), .indonesian): "Tahap \(got) jam \(clock.label(.indonesian)) diterapkan, padahal berikutnya tahap \(expected)."
        case (.stageOutOfOrder(let clock, let expected, let got), .english): "Stage \(got) of the \(clock.label(.english)) clock applied where stage \(expected) was next."
        }
    }
}

/// One SLA clock of a request: a target in working minutes counted on a business calendar from
/// the filing instant, minus the working time spent paused, until the clock stops.
///
/// The clock stores only facts (start, target, pauses, stop, stages applied); every instant it
/// reports is derived from them and a calendar. That is what makes a recompute after a calendar
/// or target change deterministic: the same facts on the same calendar give the same deadlines,
/// and pauses are re-measured on the new calendar rather than carried over as stale totals.
public struct SLAClock: Hashable, Sendable, Codable {
    public let kind: SLAClockKind
    public private(set) var targetMinutes: Int
    public let startedAt: Date
    public private(set) var pauses: [SLAPause]
    public private(set) var stoppedAt: Date?
    /// How many stages have been applied (they are applied in order, numbered 1, 2, 3, …).
    public private(set) var stagesApplied: Int
    /// The largest share of the target (percent) among the stages applied; 0 before any. The next
    /// stage is the policy's first beyond it, whatever the policy was when those were applied: a
    /// policy changed while the request is open neither repeats a share (a second breach) nor
    /// skips one (taking the count of applied stages as a position in the new schedule did both).
    public private(set) var lastPercentApplied: Int

    public init(
        kind: SLAClockKind, targetMinutes: Int, startedAt: Date, pauses: [SLAPause] = [], stoppedAt: Date? = nil,
        stagesApplied: Int = 0, lastPercentApplied: Int = 0
    ) throws(SLAClockError) {
        guard targetMinutes > 0 else { throw .targetNotPositive(targetMinutes) }
        var cursor = startedAt
        for (index, pause) in pauses.enumerated() {
            guard pause.start >= cursor else { throw .inconsistentPauses(kind) }
            if let end = pause.end {
                guard end >= pause.start else { throw .inconsistentPauses(kind) }
                cursor = end
            } else {
                guard index == pauses.count - 1, stoppedAt == nil else { throw .inconsistentPauses(kind) }
            }
        }
        if let stoppedAt { guard stoppedAt >= cursor else { throw .outOfOrder(kind, stoppedAt) } }
        guard stagesApplied >= 0 else { throw .stageOutOfOrder(kind, expected: 0, got: stagesApplied) }
        self.kind = kind
        self.targetMinutes = targetMinutes
        self.startedAt = startedAt
        self.pauses = pauses
        self.stoppedAt = stoppedAt
        self.stagesApplied = stagesApplied
        self.lastPercentApplied = max(0, lastPercentApplied)
    }

    public var isPaused: Bool { pauses.last.map { $0.end == nil } ?? false }
    public var isStopped: Bool { stoppedAt != nil }
    public var isRunning: Bool { !isPaused && !isStopped }

    /// The target in working seconds.
    public var targetSeconds: Int { targetMinutes * 60 }

    private var lastEvent: Date { stoppedAt ?? pauses.last.map { $0.end ?? $0.start } ?? startedAt }

    // MARK: Changes

    public mutating func pause(at instant: Date) throws(SLAClockError) {
        guard !isStopped else { throw .alreadyStopped(kind) }
        guard !isPaused else { throw .alreadyPaused(kind) }
        guard instant >= lastEvent else { throw .outOfOrder(kind, instant) }
        pauses.append(SLAPause(start: instant, end: nil))
    }

    public mutating func resume(at instant: Date) throws(SLAClockError) {
        guard isPaused else { throw .notPaused(kind) }
        guard instant >= lastEvent else { throw .outOfOrder(kind, instant) }
        pauses[pauses.count - 1].end = instant
    }

    /// Stops the clock for good; a pause still open ends at the same instant.
    public mutating func stop(at instant: Date) throws(SLAClockError) {
        guard !isStopped else { throw .alreadyStopped(kind) }
        guard instant >= lastEvent else { throw .outOfOrder(kind, instant) }
        if isPaused { pauses[pauses.count - 1].end = instant }
        stoppedAt = instant
    }

    /// The service type's target changed; deadlines follow on the next recompute.
    public mutating func changeTarget(to minutes: Int) throws(SLAClockError) {
        guard minutes > 0 else { throw .targetNotPositive(minutes) }
        targetMinutes = minutes
    }

    /// Records that stage `number`, due at `percent` of the target, was applied; stages are
    /// applied one by one, in order.
    public mutating func recordStage(_ number: Int, percent: Int) throws(SLAClockError) {
        guard number == stagesApplied + 1 else { throw .stageOutOfOrder(kind, expected: stagesApplied + 1, got: number) }
        stagesApplied = number
        lastPercentApplied = max(lastPercentApplied, percent)
    }

    // MARK: Measures

    /// Working seconds the clock has run by `instant`: from the start, less paused time, up to
    /// its stop.
    public func elapsedWorkingSeconds(at instant: Date, on calendar: BusinessCalendar) -> Int {
        let end = min(instant, stoppedAt ?? instant)
        guard end > startedAt else { return 0 }
        var total = 0
        var cursor = startedAt
        for pause in pauses {
            if pause.start >= end { break }
            total += calendar.workingSeconds(from: cursor, to: pause.start)
            guard let resumed = pause.end, resumed < end else { return total }
            cursor = resumed
        }
        return total + calendar.workingSeconds(from: cursor, to: end)
    }

    /// Elapsed working time as a percentage of the target (above 100 once breached).
    public func percentElapsed(at instant: Date, on calendar: BusinessCalendar) -> Double {
        Double(elapsedWorkingSeconds(at: instant, on: calendar)) * 100 / Double(targetSeconds)
    }

    /// Working seconds left before the deadline at `instant`; negative once breached.
    public func remainingWorkingSeconds(at instant: Date, on calendar: BusinessCalendar) -> Int {
        targetSeconds - elapsedWorkingSeconds(at: instant, on: calendar)
    }

    /// The instant at which the clock will have run `workingSeconds`, given its pauses so far;
    /// nil when an open pause comes first (the instant is unknown until the citizen replies).
    /// A stop is ignored: the answer is when it would have happened.
    public func instant(whenElapsed workingSeconds: Int, on calendar: BusinessCalendar) -> Date? {
        var remaining = workingSeconds
        var cursor = startedAt
        for pause in pauses {
            let worked = calendar.workingSeconds(from: cursor, to: pause.start)
            if worked >= remaining { return calendar.adding(workingSeconds: remaining, to: cursor) }
            remaining -= worked
            guard let resumed = pause.end else { return nil }
            cursor = resumed
        }
        return calendar.adding(workingSeconds: remaining, to: cursor)
    }

    /// When the target is reached; nil while paused, since the deadline moves on by the working
    /// time the pause lasts.
    public func deadline(on calendar: BusinessCalendar) -> Date? {
        instant(whenElapsed: targetSeconds, on: calendar)
    }

    /// Whether the clock stopped (or, if running, stands) past its deadline: as the breach stage
    /// and the reports count it (`closed_at > deadline`). A clock stopped in the lunch break or
    /// after hours following a deadline at the window's end has used exactly its target in working
    /// time, yet the deadline has passed: that is a breach.
    public func isBreached(at instant: Date, on calendar: BusinessCalendar) -> Bool {
        if remainingWorkingSeconds(at: instant, on: calendar) < 0 { return true }
        guard let deadline = deadline(on: calendar) else { return false }
        return min(instant, stoppedAt ?? instant) > deadline
    }

    // MARK: Stages

    /// Working seconds at which a stage falls due: its percentage of the target, rounded up so a
    /// stage never fires before its share has been used.
    public func workingSeconds(for stage: SLAStage) -> Int {
        (targetSeconds * stage.percent + 99) / 100
    }

    /// Every stage of the policy with its due instant, as far as it is known (stages beyond an
    /// open pause are left out).
    public func schedule(policy: EscalationPolicy, calendar: BusinessCalendar) -> [ScheduledStage] {
        policy.schedule.compactMap { stage in
            instant(whenElapsed: workingSeconds(for: stage), on: calendar).map { ScheduledStage(clock: kind, stage: stage, dueAt: $0) }
        }
    }

    /// The next stage to apply and when; nil when the clock is stopped or paused, or when every
    /// stage has been applied. The store indexes this instant for the worker's scan.
    public func nextStage(policy: EscalationPolicy, calendar: BusinessCalendar) -> ScheduledStage? {
        guard isRunning, let stage = pendingStages(policy).first else { return nil }
        return instant(whenElapsed: workingSeconds(for: stage), on: calendar).map { ScheduledStage(clock: kind, stage: stage, dueAt: $0) }
    }

    /// The policy's stages beyond the last share applied, numbered on from the stages applied.
    private func pendingStages(_ policy: EscalationPolicy) -> [SLAStage] {
        policy.schedule.lazy.filter { $0.percent > lastPercentApplied }.enumerated().map { offset, stage in
            stage.numbered(stagesApplied + 1 + offset)
        }
    }

    /// The stages not yet applied whose instant has come by `now`, in order; empty when the clock
    /// is stopped or paused. A worker that fell behind applies each of them, one by one.
    public func dueStages(at now: Date, policy: EscalationPolicy, calendar: BusinessCalendar) -> [ScheduledStage] {
        guard isRunning else { return [] }
        var due: [ScheduledStage] = []
        for stage in pendingStages(policy) {
            guard let dueAt = instant(whenElapsed: workingSeconds(for: stage), on: calendar), dueAt <= now else { break }
            due.append(ScheduledStage(clock: kind, stage: stage, dueAt: dueAt))
        }
        return due
    }

    enum CodingKeys: String, CodingKey {
        case kind, pauses
        case targetMinutes = "target_minutes"
        case startedAt = "started_at"
        case stoppedAt = "stopped_at"
        case stagesApplied = "stages_applied"
        case lastPercentApplied = "last_percent_applied"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        try self.init(
            kind: try container.decode(SLAClockKind.self, forKey: .kind),
            targetMinutes: try container.decode(Int.self, forKey: .targetMinutes),
            startedAt: try container.decode(Date.self, forKey: .startedAt),
            pauses: try container.decodeIfPresent([SLAPause].self, forKey: .pauses) ?? [],
            stoppedAt: try container.decodeIfPresent(Date.self, forKey: .stoppedAt),
            stagesApplied: try container.decodeIfPresent(Int.self, forKey: .stagesApplied) ?? 0,
            lastPercentApplied: try container.decodeIfPresent(Int.self, forKey: .lastPercentApplied) ?? 0
        )
    }
}

/// The due instants a request row stores, derived from its clocks: compare two snapshots to
/// see what a recompute changed.
public struct SLASnapshot: Hashable, Sendable {
    public let responseDue: Date?
    public let resolutionDue: Date?
    /// The earliest stage to apply next, over both clocks.
    public let nextStage: ScheduledStage?

    public var nextStageAt: Date? { nextStage?.dueAt }

    /// The deadlines that differ from `previous`, for the `deadline_recomputed` event.
    public func dueChanges(from previous: SLASnapshot) -> [DueChange] {
        var changes: [DueChange] = []
        if previous.responseDue != responseDue {
            changes.append(DueChange(clock: .response, from: previous.responseDue, to: responseDue))
        }
        if previous.resolutionDue != resolutionDue {
            changes.append(DueChange(clock: .resolution, from: previous.resolutionDue, to: resolutionDue))
        }
        return changes
    }
}

/// Both clocks of a request, moved together by lifecycle transitions.
public struct SLAClocks: Hashable, Sendable, Codable {
    public private(set) var response: SLAClock
    public private(set) var resolution: SLAClock

    public init(response: SLAClock, resolution: SLAClock) {
        precondition(response.kind == .response && resolution.kind == .resolution, "clocks passed in the wrong order")
        self.response = response
        self.resolution = resolution
    }

    /// Both clocks of a request filed at `filedAt`.
    public init(filedAt: Date, responseTargetMinutes: Int, resolutionTargetMinutes: Int) throws(SLAClockError) {
        self.init(
            response: try SLAClock(kind: .response, targetMinutes: responseTargetMinutes, startedAt: filedAt),
            resolution: try SLAClock(kind: .resolution, targetMinutes: resolutionTargetMinutes, startedAt: filedAt)
        )
    }

    public subscript(kind: SLAClockKind) -> SLAClock {
        switch kind {
        case .response: response
        case .resolution: resolution
        }
    }

    private mutating func update(_ kind: SLAClockKind, _ change: (inout SLAClock) throws(SLAClockError) -> Void) throws(SLAClockError) {
        switch kind {
        case .response: try change(&response)
        case .resolution: try change(&resolution)
        }
    }

    /// Applies a transition's clock effects at its instant. Pausing and resuming concern the
    /// clocks still running (the response clock has usually stopped by then).
    public mutating func apply(_ effects: [ClockEffect], at instant: Date) throws(SLAClockError) {
        for effect in effects {
            switch effect {
            case .stop(let kind):
                try update(kind) { (clock) throws(SLAClockError) in try clock.stop(at: instant) }
            case .pause:
                for kind in SLAClockKind.allCases where !self[kind].isStopped {
                    try update(kind) { (clock) throws(SLAClockError) in try clock.pause(at: instant) }
                }
            case .resume:
                let paused = SLAClockKind.allCases.filter { self[$0].isPaused }
                guard !paused.isEmpty else { throw .notPaused(.resolution) }
                for kind in paused {
                    try update(kind) { (clock) throws(SLAClockError) in try clock.resume(at: instant) }
                }
            }
        }
    }

    /// Records that a stage was applied.
    public mutating func record(_ stage: ScheduledStage) throws(SLAClockError) {
        try update(stage.clock) { (clock) throws(SLAClockError) in try clock.recordStage(stage.stage.number, percent: stage.stage.percent) }
    }

    /// The service type's targets changed.
    public mutating func changeTargets(responseMinutes: Int, resolutionMinutes: Int) throws(SLAClockError) {
        try update(.response) { (clock) throws(SLAClockError) in try clock.changeTarget(to: responseMinutes) }
        try update(.resolution) { (clock) throws(SLAClockError) in try clock.changeTarget(to: resolutionMinutes) }
    }

    /// Stages of both clocks due by `now`, earliest first (response first on a tie).
    public func dueStages(at now: Date, policy: EscalationPolicy, calendar: BusinessCalendar) -> [ScheduledStage] {
        (response.dueStages(at: now, policy: policy, calendar: calendar) + resolution.dueStages(at: now, policy: policy, calendar: calendar))
            .enumerated()
            .sorted { ($0.element.dueAt, $0.offset) < ($1.element.dueAt, $1.offset) }
            .map(\.element)
    }

    /// The due instants to store, computed from the facts on `calendar`.
    public func snapshot(policy: EscalationPolicy, calendar: BusinessCalendar) -> SLASnapshot {
        let candidates = [response.nextStage(policy: policy, calendar: calendar), resolution.nextStage(policy: policy, calendar: calendar)]
            .compactMap { $0 }
        return SLASnapshot(
            responseDue: response.deadline(on: calendar),
            resolutionDue: resolution.deadline(on: calendar),
            nextStage: candidates.min { $0.dueAt < $1.dueAt }
        )
    }
}
