import Foundation

/// The fields of a request that the lifecycle reads and writes; the store keeps them in the
/// request's row and passes them in whole.
public struct RequestState: Hashable, Sendable {
    public var status: RequestStatus
    /// The unit whose queue holds the request.
    public var unitId: UnitID
    /// The officer holding the request: set while in progress or waiting for the citizen, and
    /// kept on a completed or rejected request as the officer who closed it.
    public var holder: StaffID?
    /// When the holder's claim lapses unless renewed; only while in progress, since a request
    /// waiting for the citizen cannot be abandoned by its officer.
    public var leaseExpiresAt: Date?
    /// Queue order, 0…100, higher first.
    public var priority: Int
    /// How many levels the request has been escalated (0 = never).
    public var escalationLevel: Int
    /// The first claim or assignment, which stops the response clock.
    public var firstClaimedAt: Date?
    /// Who made that first claim (or assignment), and the unit the request was in then: the
    /// response clock's result is theirs, wherever the request goes and whoever closes it. Nil on
    /// a request claimed before this was recorded (its response counts with its closing).
    public var firstClaimedBy: StaffID?
    public var firstClaimUnit: UnitID?

    public init(
        status: RequestStatus, unitId: UnitID, holder: StaffID? = nil, leaseExpiresAt: Date? = nil,
        priority: Int, escalationLevel: Int = 0, firstClaimedAt: Date? = nil, firstClaimedBy: StaffID? = nil,
        firstClaimUnit: UnitID? = nil
    ) {
        self.status = status
        self.unitId = unitId
        self.holder = holder
        self.leaseExpiresAt = leaseExpiresAt
        self.priority = priority
        self.escalationLevel = escalationLevel
        self.firstClaimedAt = firstClaimedAt
        self.firstClaimedBy = firstClaimedBy
        self.firstClaimUnit = firstClaimUnit
    }

    /// A freshly filed request: queued in the unit routing chose.
    public static func filed(unitId: UnitID, priority: Int) -> RequestState {
        RequestState(status: .queued, unitId: unitId, priority: min(max(priority, 0), 100))
    }
}

/// What someone asks to do with a request.
public enum RequestCommand: Hashable, Sendable {
    /// An officer takes a queued request from its unit's queue.
    case claim
    /// The holder puts the request back in the queue.
    case release(reason: String?)
    /// The lease lapsed without a heartbeat; the request returns to the queue.
    case expireLease
    /// The holder needs something from the citizen; the SLA clocks pause.
    case askCitizen(question: String)
    /// The citizen answers (text, documents or both); work resumes with the same officer.
    case citizenReply(message: String?)
    /// A supervisor records the citizen's answer given outside Loket (at the counter, by phone,
    /// or through the partner application that filed the request, which has no way to send it):
    /// work resumes with the holder as after the citizen's own reply. `message` says what the
    /// citizen answered or brought. Neither the holder nor whoever asked the question: the pause is
    /// theirs, and ending it on their own word would let an officer stop the clock at will (ask
    /// anything, work on, record an answer: every day in between added to the deadline).
    case recordReply(message: String)
    /// The holder completes the request with a message the citizen reads.
    case resolve(publicMessage: String, outcome: String?)
    /// The holder refuses the request with a reason the citizen reads. The system rejects a
    /// request that waited too long for the citizen (auto-close).
    case reject(reason: String)
    /// The citizen withdraws the request.
    case cancel(reason: String?)
    /// The request belongs elsewhere: it goes to the other unit's queue.
    case transfer(to: UnitID, reason: String)
    /// Raise the escalation level and priority, optionally moving the request up the unit tree:
    /// applied by the system for an SLA stage, or by a supervisor by hand.
    case escalate(Escalation)
    /// A supervisor gives the request to a named officer.
    case assign(to: StaffMember)

    public var kind: CommandKind {
        switch self {
        case .claim: .claim
        case .release: .release
        case .expireLease: .expireLease
        case .askCitizen: .askCitizen
        case .citizenReply: .citizenReply
        case .recordReply: .recordReply
        case .resolve: .resolve
        case .reject: .reject
        case .cancel: .cancel
        case .transfer: .transfer
        case .escalate: .escalate
        case .assign: .assign
        }
    }
}

/// The commands without their arguments, for permission tables and refusals.
public enum CommandKind: String, Sendable, Hashable, Codable, CaseIterable {
    case claim
    case release
    case expireLease = "expire_lease"
    case askCitizen = "ask_citizen"
    case citizenReply = "citizen_reply"
    case recordReply = "record_reply"
    case resolve
    case reject
    case cancel
    case transfer
    case escalate
    case assign
}

/// An escalation to apply: how many levels up, how much more urgent, and whether the request
/// moves to another unit.
public struct Escalation: Hashable, Sendable {
    public enum Cause: Hashable, Sendable {
        /// An SLA stage fell due; recorded as an `sla_stage` event.
        case stage(StageReference)
        /// A supervisor escalated by hand; recorded as an `escalated` event.
        case manual(reason: String)
    }

    public var cause: Cause
    public var levels: Int
    public var priorityBoost: Int
    /// The unit the request moves to (its unit's parent, for a policy that moves requests up);
    /// nil, or the current unit, to leave it where it is.
    public var moveToUnit: UnitID?
    /// The level escalation stops at (the policy's `max_escalation_level`).
    public var maxLevel: Int
    /// Who is told.
    public var notify: [NotifyTarget]

    public init(cause: Cause, levels: Int, priorityBoost: Int, moveToUnit: UnitID?, maxLevel: Int, notify: [NotifyTarget]) {
        self.cause = cause
        self.levels = levels
        self.priorityBoost = priorityBoost
        self.moveToUnit = moveToUnit
        self.maxLevel = maxLevel
        self.notify = notify
    }
}

/// What the lifecycle needs to know beyond the request's own fields.
public struct TransitionContext: Hashable, Sendable {
    /// The instant of the command; it stamps the audit event and leases.
    public var now: Date
    /// The ancestors of the request's unit, nearest first. Staff act only on requests in their
    /// own unit or below it, and an assignee must work in the request's unit or above it.
    public var unitAncestors: [UnitID]
    /// How long a claim lasts without a heartbeat.
    public var leaseDuration: TimeInterval
    /// Who asked the question a request waiting for the citizen waits on (for `recordReply`,
    /// which neither they nor the holder may record).
    public var questionAskedBy: StaffID?

    public static let defaultLeaseDuration: TimeInterval = 30 * 60

    public init(
        now: Date, unitAncestors: [UnitID], leaseDuration: TimeInterval = TransitionContext.defaultLeaseDuration,
        questionAskedBy: StaffID? = nil
    ) {
        self.now = now
        self.unitAncestors = unitAncestors
        self.leaseDuration = leaseDuration
        self.questionAskedBy = questionAskedBy
    }
}

/// An accepted command: the request's new fields, the audit event to append in the same
/// transaction, and what happens to the SLA clocks.
public struct Transition: Hashable, Sendable {
    public let state: RequestState
    public let event: AuditEvent
    public let clockEffects: [ClockEffect]
}

/// Why a command was refused. Checks run in a fixed order — who may issue the command at all,
/// whether the request lies in the actor's unit subtree, whether it is final, whether its state
/// allows the command, whether the actor holds it, then the arguments — so the first failing
/// rule is the one reported.
public enum Refusal: UserFacingError, Hashable {
    /// This kind of actor (or this staff role) may never issue this command.
    case notPermitted(CommandKind, actor: ActorKind, role: StaffRole?)
    /// The request's unit is outside the acting staff member's unit subtree.
    case notInUnit(UnitID)
    case alreadyFinal(RequestStatus)
    case wrongState(RequestStatus, CommandKind)
    /// Someone else holds the request (nil: nobody does, so it must be claimed first).
    case notHolder(holder: StaffID?)
    /// The lease runs until the given instant.
    case leaseNotExpired(until: Date)
    /// Only a request in progress has a lease to renew.
    case noLease(RequestStatus)
    case sameUnit(UnitID)
    case alreadyHolder(StaffID)
    /// The proposed assignee works outside the request's unit and its ancestors.
    case assigneeOutsideUnit(StaffID)
    /// A required text (reason, question, message) is empty.
    case missingText(field: String)
    /// The citizen's answer is recorded by neither the officer who asked the question nor the one
    /// who holds the request: the pause is theirs to gain from.
    case ownPause

    public var code: String {
        switch self {
        case .notPermitted: "not_permitted"
        case .notInUnit: "not_in_unit"
        case .alreadyFinal: "already_final"
        case .wrongState: "wrong_state"
        case .notHolder: "not_holder"
        case .leaseNotExpired: "lease_not_expired"
        case .noLease: "no_lease"
        case .sameUnit: "same_unit"
        case .alreadyHolder: "already_holder"
        case .assigneeOutsideUnit: "assignee_outside_unit"
        case .missingText: "missing_text"
        case .ownPause: "own_pause"
        }
    }

    public func message(_ language: Language) -> String {
        switch (self, language) {
        case (.notPermitted(let command, let actor, let role), .indonesian):
            "\(role.map { "Peran \($0.rawValue)" } ?? "Pihak \(actor.rawValue)") tidak berwenang melakukan \(command.rawValue)."
        case (.notPermitted(let command, let actor, let role), .english):
            "\(role.map { "The \($0.rawValue) role" } ?? "A \(actor.rawValue)") may not \(command.rawValue.replacingOccurrences(of: "_", with: " "))."
        case (.notInUnit(let unit), .indonesian): "Permohonan ini berada di unit \(unit), di luar unit Anda."
        case (.notInUnit(let unit), .english): "This request is in unit \(unit), outside your unit."
        case (.alreadyFinal(let status), .indonesian): "Permohonan sudah \(status.label(.indonesian)) dan tidak dapat diubah lagi."
        case (.alreadyFinal(let status), .english): "The request is already \(status.label(.english)) and can no longer change."
        case (.wrongState(let status, let command), .indonesian): "Tidak dapat \(command.rawValue) saat permohonan \(status.label(.indonesian))."
        case (.wrongState(let status, let command), .english): "Cannot \(command.rawValue.replacingOccurrences(of: "_", with: " ")) while the request is \(status.label(.english))."
        case (.notHolder(.some(let holder)), .indonesian): "Permohonan sedang ditangani petugas \(holder)."
        case (.notHolder(.some(let holder)), .english): "The request is held by officer \(holder)."
        case (.notHolder(.none), .indonesian): "Ambil (klaim) permohonan terlebih dahulu."
        case (.notHolder(.none), .english): "Claim the request first."
        case (.leaseNotExpired(let until), .indonesian): "Klaim masih berlaku sampai \(until)."
        case (.leaseNotExpired(let until), .english): "The claim is valid until \(until)."
        case (.noLease(let status), .indonesian): "Tidak ada klaim yang dapat diperpanjang saat permohonan \(status.label(.indonesian))."
        case (.noLease(let status), .english): "There is no claim to renew while the request is \(status.label(.english))."
        case (.sameUnit(let unit), .indonesian): "Permohonan sudah berada di unit \(unit)."
        case (.sameUnit(let unit), .english): "The request is already in unit \(unit)."
        case (.alreadyHolder(let staff), .indonesian): "Petugas \(staff) sudah memegang permohonan ini."
        case (.alreadyHolder(let staff), .english): "Officer \(staff) already holds this request."
        case (.assigneeOutsideUnit(let staff), .indonesian): "Petugas \(staff) tidak bekerja di unit permohonan ini atau di atasnya."
        case (.assigneeOutsideUnit(let staff), .english): "Officer \(staff) does not work in this request's unit or above it."
        case (.ownPause, .indonesian):
            "Jawaban pemohon atas pertanyaan Anda, atau pada permohonan yang Anda pegang, dicatat oleh supervisor atau manajer lain."
        case (.ownPause, .english):
            "The citizen's answer to your question, or on a request you hold, is recorded by another supervisor or a manager."
        case (.missingText(let field), .indonesian): "Isian \(field) wajib diisi."
        case (.missingText(let field), .english): "The \(field) is required."
        }
    }
}

/// The request lifecycle: one total function decides every state change.
public enum Lifecycle: Sendable {
    /// Decides `command` by `actor` on a request in `state`: either the new state with its audit
    /// event and clock effects, or the reason it is refused. Pure: the caller persists the result
    /// (state, event and clocks in one transaction) or reports the refusal.
    ///
    /// Who may do what:
    /// - citizen: `citizenReply` (while waiting for them) and `cancel` (while not final);
    /// - staff (any role), inside their unit subtree: `claim`; and, on a request they hold,
    ///   `release`, `askCitizen`, `resolve`, `reject`, `transfer`;
    /// - supervisor, manager, admin: as staff, on requests others hold too (the overridden holder
    ///   is recorded in the event), `transfer` of a queued request, `assign`, manual `escalate`,
    ///   and `recordReply` on a request they neither hold nor asked the question of;
    /// - system: `expireLease`, `escalate` (SLA stages), and `reject` of a request waiting for the
    ///   citizen (auto-close);
    /// - partner applications: nothing after filing.
    /// Why `actor` may not issue a command of `kind` on any request, or nil when their kind and
    /// role allow it (where and when are `transition`'s to decide). The API asks first where the
    /// answer must not depend on the request or the body (`assign` before its NIP is looked up).
    public static func permission(_ kind: CommandKind, by actor: Principal) -> Refusal? {
        switch actor {
        case .citizen:
            return kind == .citizenReply || kind == .cancel ? nil : .notPermitted(kind, actor: .citizen, role: nil)
        case .partner:
            return .notPermitted(kind, actor: .partner, role: nil)
        case .system:
            return kind == .expireLease || kind == .escalate || kind == .reject ? nil : .notPermitted(kind, actor: .system, role: nil)
        case .staff(let member):
            switch kind {
            case .citizenReply, .cancel, .expireLease:
                return .notPermitted(kind, actor: .staff, role: member.role)
            case .assign, .escalate, .recordReply:
                return member.role >= .supervisor ? nil : .notPermitted(kind, actor: .staff, role: member.role)
            case .claim, .release, .askCitizen, .resolve, .reject, .transfer:
                return nil
            }
        }
    }

    public static func transition(
        _ state: RequestState, _ command: RequestCommand, by actor: Principal, context: TransitionContext
    ) -> Result<Transition, Refusal> {
        let kind = command.kind

        // Who may issue the command at all, and where.
        if let refusal = permission(kind, by: actor) { return .failure(refusal) }
        if case .staff(let member) = actor,
           member.unitId != state.unitId && !context.unitAncestors.contains(member.unitId) {
            return .failure(.notInUnit(state.unitId))
        }

        // When.
        if state.status.isFinal { return .failure(.alreadyFinal(state.status)) }
        guard allowedStates(kind, actor: actor.kind).contains(state.status) else {
            return .failure(.wrongState(state.status, kind))
        }

        // Whether the actor holds the request, or may act over its holder.
        var overriddenHolder: StaffID?
        if case .staff(let member) = actor, requiresHolder(kind), state.holder != member.id {
            guard member.role >= .supervisor else { return .failure(.notHolder(holder: state.holder)) }
            overriddenHolder = state.holder
        }

        // What happens.
        var next = state
        var details = EventDetails()
        details.overriddenHolder = overriddenHolder
        let eventKind: EventKind
        var effects: [ClockEffect] = []
        let now = context.now
        let lease = now.addingTimeInterval(context.leaseDuration)

        switch command {
        case .claim:
            guard case .staff(let member) = actor else { preconditionFailure("claim is for staff") }
            next.status = .inProgress
            next.holder = member.id
            next.leaseExpiresAt = lease
            effects = firstClaim(&next, at: now, by: member.id)
            details.newHolder = member.id
            details.leaseExpiresAt = lease
            eventKind = .claimed

        case .release(let reason):
            details.previousHolder = state.holder
            details.reason = trimmed(reason)
            next.status = .queued
            next.holder = nil
            next.leaseExpiresAt = nil
            eventKind = .released

        case .expireLease:
            if let expiry = state.leaseExpiresAt, expiry > now { return .failure(.leaseNotExpired(until: expiry)) }
            details.previousHolder = state.holder
            next.status = .queued
            next.holder = nil
            next.leaseExpiresAt = nil
            eventKind = .leaseExpired

        case .askCitizen(let question):
            guard let question = trimmed(question) else { return .failure(.missingText(field: "question")) }
            details.question = question
            next.status = .waitingCitizen
            next.leaseExpiresAt = nil
            effects = [.pause]
            eventKind = .askedCitizen

        case .citizenReply(let message):
            details.message = trimmed(message)
            next.status = .inProgress
            next.leaseExpiresAt = lease
            details.leaseExpiresAt = lease
            effects = [.resume]
            eventKind = .citizenReplied

        case .recordReply(let message):
            // The same event as the citizen's own reply, by the supervisor who took it down: the
            // clocks, the timeline and the reports treat both alike, and the trail says who.
            if case .staff(let member) = actor, member.id == state.holder || member.id == context.questionAskedBy {
                return .failure(.ownPause)
            }
            guard let message = trimmed(message) else { return .failure(.missingText(field: "message")) }
            details.message = message
            next.status = .inProgress
            next.leaseExpiresAt = lease
            details.leaseExpiresAt = lease
            effects = [.resume]
            eventKind = .citizenReplied

        case .resolve(let publicMessage, let outcome):
            guard let publicMessage = trimmed(publicMessage) else { return .failure(.missingText(field: "public_message")) }
            details.publicMessage = publicMessage
            details.outcome = trimmed(outcome)
            next.status = .completed
            next.leaseExpiresAt = nil
            effects = finalEffects(state)
            eventKind = .resolved

        case .reject(let reason):
            guard let reason = trimmed(reason) else { return .failure(.missingText(field: "reason")) }
            details.reason = reason
            next.status = .rejected
            next.leaseExpiresAt = nil
            effects = finalEffects(state)
            eventKind = .rejected

        case .cancel(let reason):
            details.reason = trimmed(reason)
            next.status = .cancelled
            next.leaseExpiresAt = nil
            effects = finalEffects(state)
            eventKind = .cancelled

        case .transfer(let unit, let reason):
            guard unit != state.unitId else { return .failure(.sameUnit(unit)) }
            guard let reason = trimmed(reason) else { return .failure(.missingText(field: "reason")) }
            details.reason = reason
            details.fromUnit = state.unitId
            details.toUnit = unit
            details.previousHolder = state.holder
            next.status = .queued
            next.unitId = unit
            next.holder = nil
            next.leaseExpiresAt = nil
            eventKind = .transferred

        case .escalate(let escalation):
            switch escalation.cause {
            case .stage(let stage):
                details.stage = stage
                eventKind = .slaStage
            case .manual(let reason):
                guard let reason = trimmed(reason) else { return .failure(.missingText(field: "reason")) }
                details.reason = reason
                eventKind = .escalated
            }
            // A level already above the maximum (the policy changed since) is kept, not lowered.
            next.escalationLevel = min(max(state.escalationLevel + escalation.levels, 0), max(escalation.maxLevel, state.escalationLevel))
            next.priority = min(max(state.priority + escalation.priorityBoost, 0), 100)
            details.escalationLevel = ValueChange(from: state.escalationLevel, to: next.escalationLevel)
            details.priority = ValueChange(from: state.priority, to: next.priority)
            details.notify = escalation.notify.filter { $0 != .assignee || state.holder != nil }
            if let unit = escalation.moveToUnit, unit != state.unitId {
                details.fromUnit = state.unitId
                details.toUnit = unit
                details.previousHolder = state.holder
                next.status = .queued
                next.unitId = unit
                next.holder = nil
                next.leaseExpiresAt = nil
            }

        case .assign(let assignee):
            guard assignee.id != state.holder else { return .failure(.alreadyHolder(assignee.id)) }
            guard assignee.unitId == state.unitId || context.unitAncestors.contains(assignee.unitId) else {
                return .failure(.assigneeOutsideUnit(assignee.id))
            }
            details.previousHolder = state.holder
            // Taking the request from a colleague who holds it is an override, recorded as one.
            if let holder = state.holder, case .staff(let member) = actor, member.id != holder {
                details.overriddenHolder = holder
            }
            details.newHolder = assignee.id
            next.holder = assignee.id
            if state.status == .queued || state.status == .inProgress {
                next.status = .inProgress
                next.leaseExpiresAt = lease
                details.leaseExpiresAt = lease
            }
            // The response is the assigning supervisor's: their assignment ended the wait, and an
            // officer handed a request late cannot have answered it sooner.
            effects = firstClaim(&next, at: now, by: actor.kind == .staff ? actor.id : nil)
            eventKind = .assigned
        }

        // Where the request is, is the citizen's to see: an SLA stage that moves it up the tree is
        // on their timeline, as a transfer is; one that stays in the unit is internal. (A manual
        // escalation's move is not: its message is an officer's reason, written for colleagues.)
        let event = AuditEvent(
            kind: eventKind, actor: actor, occurredAt: now, fromStatus: state.status, toStatus: next.status,
            isPublic: eventKind.isPublicByDefault || (eventKind == .slaStage && next.unitId != state.unitId), details: details
        )
        return .success(Transition(state: next, event: event, clockEffects: effects))
    }

    /// Extends the holder's lease (the CLI's heartbeat). Not a state change and not audited, but
    /// bound by the same rules: only the holder, only while in progress.
    public static func renewedLease(of state: RequestState, by member: StaffMember, context: TransitionContext) -> Result<Date, Refusal> {
        guard member.unitId == state.unitId || context.unitAncestors.contains(member.unitId) else {
            return .failure(.notInUnit(state.unitId))
        }
        if state.status.isFinal { return .failure(.alreadyFinal(state.status)) }
        guard state.status == .inProgress else { return .failure(.noLease(state.status)) }
        guard state.holder == member.id else { return .failure(.notHolder(holder: state.holder)) }
        return .success(context.now.addingTimeInterval(context.leaseDuration))
    }

    /// The non-final states in which `command` is accepted from this kind of actor.
    static func allowedStates(_ command: CommandKind, actor: ActorKind) -> Set<RequestStatus> {
        switch command {
        case .claim: [.queued]
        case .release, .expireLease, .askCitizen, .resolve: [.inProgress]
        case .citizenReply, .recordReply: [.waitingCitizen]
        case .reject: actor == .system ? [.waitingCitizen] : [.inProgress, .waitingCitizen]
        case .cancel, .assign: [.queued, .inProgress, .waitingCitizen]
        case .transfer, .escalate: [.queued, .inProgress]
        }
    }

    /// Commands that act on the work itself and so belong to whoever holds the request.
    static func requiresHolder(_ command: CommandKind) -> Bool {
        switch command {
        case .release, .askCitizen, .resolve, .reject, .transfer: true
        case .claim, .expireLease, .citizenReply, .recordReply, .cancel, .escalate, .assign: false
        }
    }

    private static func firstClaim(_ state: inout RequestState, at now: Date, by staff: StaffID?) -> [ClockEffect] {
        guard state.firstClaimedAt == nil else { return [] }
        state.firstClaimedAt = now
        state.firstClaimedBy = staff
        state.firstClaimUnit = state.unitId
        return [.stop(.response)]
    }

    private static func finalEffects(_ state: RequestState) -> [ClockEffect] {
        state.firstClaimedAt == nil ? [.stop(.response), .stop(.resolution)] : [.stop(.resolution)]
    }

    private static func trimmed(_ text: String?) -> String? {
        guard let text = text?.trimmingWhitespace(), !text.isEmpty else { return nil }
        return text
    }
}
