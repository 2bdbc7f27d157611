import Foundation

/// One row of the append-only audit trail: what happened to a request, who did it, when, and
/// the facts needed to explain it later.
public struct AuditEvent: Hashable, Sendable {
    public var kind: EventKind
    public var actor: Principal
    public var occurredAt: Date
    /// The status before the event; nil for `created`.
    public var fromStatus: RequestStatus?
    public var toStatus: RequestStatus
    /// Whether the citizen's timeline shows it.
    public var isPublic: Bool
    public var details: EventDetails

    public init(
        kind: EventKind, actor: Principal, occurredAt: Date, fromStatus: RequestStatus?, toStatus: RequestStatus,
        isPublic: Bool, details: EventDetails = EventDetails()
    ) {
        self.kind = kind
        self.actor = actor
        self.occurredAt = occurredAt
        self.fromStatus = fromStatus
        self.toStatus = toStatus
        self.isPublic = isPublic
        self.details = details
    }

    /// The first event of every request: filed and queued where routing sent it.
    public static func created(by actor: Principal, at instant: Date, routing: RoutingDecision) -> AuditEvent {
        var details = EventDetails()
        details.toUnit = routing.unitId
        details.routing = routing
        return AuditEvent(kind: .created, actor: actor, occurredAt: instant, fromStatus: nil, toStatus: .queued,
                          isPublic: true, details: details)
    }

    /// Deadlines moved because the calendar, the holidays or the targets changed.
    public static func deadlineRecomputed(status: RequestStatus, at instant: Date, changes: [DueChange]) -> AuditEvent {
        var details = EventDetails()
        details.dueChanges = changes
        return AuditEvent(kind: .deadlineRecomputed, actor: .system, occurredAt: instant, fromStatus: status, toStatus: status,
                          isPublic: false, details: details)
    }

    /// A one-line account of the event for timelines and logs.
    public func summary(_ language: Language) -> String {
        let text = sentence(language)
        return text.prefix(1).uppercased() + text.dropFirst()
    }

    private func sentence(_ language: Language) -> String {
        let who = Self.name(of: actor, language)
        let d = details
        let inIndonesian = language == .indonesian
        switch kind {
        case .created:
            return inIndonesian ? "Permohonan diajukan oleh \(who) dan masuk antrean unit \(d.toUnit.map(String.init) ?? "?")."
                : "Request filed by \(who) and queued in unit \(d.toUnit.map(String.init) ?? "?")."
        case .claimed:
            return inIndonesian ? "\(who) mulai memproses permohonan." : "\(who) started working on the request."
        case .released:
            return inIndonesian ? "\(who) mengembalikan permohonan ke antrean\(Self.because(d.reason, language))."
                : "\(who) returned the request to the queue\(Self.because(d.reason, language))."
        case .leaseExpired:
            return inIndonesian ? "Klaim petugas \(d.previousHolder.map(String.init) ?? "?") habis; permohonan kembali ke antrean."
                : "Officer \(d.previousHolder.map(String.init) ?? "?")'s claim lapsed; the request is back in the queue."
        case .askedCitizen:
            return inIndonesian ? "\(who) meminta kelengkapan dari pemohon: \(d.question ?? "")"
                : "\(who) asked the citizen: \(d.question ?? "")"
        case .citizenReplied:
            return inIndonesian ? "Pemohon menanggapi; permohonan diproses kembali." : "The citizen replied; work resumed."
        case .resolved:
            return inIndonesian ? "Permohonan selesai: \(d.publicMessage ?? "")" : "Request completed: \(d.publicMessage ?? "")"
        case .rejected:
            return inIndonesian ? "Permohonan ditolak: \(d.reason ?? "")" : "Request rejected: \(d.reason ?? "")"
        case .cancelled:
            return inIndonesian ? "Permohonan dibatalkan oleh \(who)\(Self.because(d.reason, language))."
                : "Request cancelled by \(who)\(Self.because(d.reason, language))."
        case .transferred:
            return inIndonesian ? "\(who) memindahkan permohonan dari unit \(d.fromUnit.map(String.init) ?? "?") ke unit \(d.toUnit.map(String.init) ?? "?")\(Self.because(d.reason, language))."
                : "\(who) transferred the request from unit \(d.fromUnit.map(String.init) ?? "?") to unit \(d.toUnit.map(String.init) ?? "?")\(Self.because(d.reason, language))."
        case .escalated:
            return inIndonesian ? "\(who) mengeskalasi permohonan ke tingkat \(d.escalationLevel?.to ?? 0)\(Self.because(d.reason, language))."
                : "\(who) escalated the request to level \(d.escalationLevel?.to ?? 0)\(Self.because(d.reason, language))."
        case .assigned:
            return inIndonesian ? "\(who) menugaskan permohonan kepada petugas \(d.newHolder.map(String.init) ?? "?")."
                : "\(who) assigned the request to officer \(d.newHolder.map(String.init) ?? "?")."
        case .note:
            return inIndonesian ? "\(who) menambahkan catatan: \(d.message ?? "")" : "\(who) added a note: \(d.message ?? "")"
        case .slaStage:
            guard let stage = d.stage else { return inIndonesian ? "Tahap SLA tercapai." : "SLA stage reached." }
            let clock = stage.clock.label(language)
            if stage.isBreach {
                return inIndonesian ? "Batas waktu \(clock) terlampaui (tahap \(stage.number), \(stage.percent)%)."
                    : "The \(clock) deadline was breached (stage \(stage.number), \(stage.percent)%)."
            }
            return inIndonesian ? "Waktu \(clock) telah terpakai \(stage.percent)% (tahap \(stage.number))."
                : "\(stage.percent)% of the \(clock) time has been used (stage \(stage.number))."
        case .deadlineRecomputed:
            return inIndonesian ? "Tenggat waktu dihitung ulang setelah perubahan kalender atau target."
                : "Deadlines recomputed after a calendar or target change."
        case .documentAdded:
            return inIndonesian ? "\(who) menambahkan dokumen." : "\(who) added a document."
        case .feedback:
            return inIndonesian ? "Pemohon memberikan penilaian layanan." : "The citizen rated the service."
        }
    }

    private static func name(of actor: Principal, _ language: Language) -> String {
        switch (actor, language) {
        case (.citizen, .indonesian): "pemohon"
        case (.citizen, .english): "the citizen"
        case (.staff(let member), .indonesian): "petugas \(member.id)"
        case (.staff(let member), .english): "officer \(member.id)"
        case (.system, .indonesian): "sistem"
        case (.system, .english): "the system"
        case (.partner(let id), .indonesian): "aplikasi mitra \(id)"
        case (.partner(let id), .english): "partner application \(id)"
        }
    }

    private static func because(_ reason: String?, _ language: Language) -> String {
        guard let reason else { return "" }
        return language == .indonesian ? " (alasan: \(reason))" : " (reason: \(reason))"
    }
}

/// The facts of an event, stored as a JSON object with snake_case keys; absent facts are left out.
public struct EventDetails: Hashable, Sendable, Codable {
    public var reason: String?
    public var question: String?
    public var message: String?
    public var publicMessage: String?
    public var outcome: String?
    public var previousHolder: StaffID?
    public var newHolder: StaffID?
    /// The holder a supervisor acted over, for accountability.
    public var overriddenHolder: StaffID?
    public var fromUnit: UnitID?
    public var toUnit: UnitID?
    public var leaseExpiresAt: Date?
    public var escalationLevel: ValueChange<Int>?
    public var priority: ValueChange<Int>?
    public var stage: StageReference?
    public var notify: [NotifyTarget]?
    public var routing: RoutingDecision?
    public var dueChanges: [DueChange]?

    public init() {}

    enum CodingKeys: String, CodingKey {
        case reason, question, message, outcome, priority, stage, notify, routing
        case publicMessage = "public_message"
        case previousHolder = "previous_holder"
        case newHolder = "new_holder"
        case overriddenHolder = "overridden_holder"
        case fromUnit = "from_unit"
        case toUnit = "to_unit"
        case leaseExpiresAt = "lease_expires_at"
        case escalationLevel = "escalation_level"
        case dueChanges = "due_changes"
    }
}

/// A value before and after an event.
public struct ValueChange<Value: Hashable & Sendable & Codable>: Hashable, Sendable, Codable {
    public var from: Value
    public var to: Value

    public init(from: Value, to: Value) {
        self.from = from
        self.to = to
    }
}

/// A clock's due instant before and after a recompute (nil while the clock is paused).
public struct DueChange: Hashable, Sendable, Codable {
    public var clock: SLAClockKind
    public var from: Date?
    public var to: Date?

    public init(clock: SLAClockKind, from: Date?, to: Date?) {
        self.clock = clock
        self.from = from
        self.to = to
    }
}

extension EventDetails {
    /// The details as `request_events.data` keeps them: the JSON that JSONEncoder writes with
    /// sorted keys and `.iso8601` instants (UTC). Claims, notes, asks, resolutions and the like
    /// are written by JSONWriter, which costs a fraction of the encoder's tree of boxed values
    /// on every staff action; events with a stage, a notify list, a routing decision or deadline
    /// changes (the worker's and intake's, a few a day each) still go through JSONEncoder.
    public func storedJSON() throws -> [UInt8] {
        guard stage == nil, notify == nil, routing == nil, dueChanges == nil else {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            encoder.dateEncodingStrategy = .iso8601
            return Array(try encoder.encode(self))
        }
        var writer = JSONWriter(capacity: 256, dateStyle: .utc)
        writer.object { json in
            json.field("escalation_level", escalationLevel)
            json.field("from_unit", fromUnit)
            json.field("lease_expires_at", leaseExpiresAt)
            json.field("message", message)
            json.field("new_holder", newHolder)
            json.field("outcome", outcome)
            json.field("overridden_holder", overriddenHolder)
            json.field("previous_holder", previousHolder)
            json.field("priority", priority)
            json.field("public_message", publicMessage)
            json.field("question", question)
            json.field("reason", reason)
            json.field("to_unit", toUnit)
        }
        return writer.bytes
    }
}

extension ValueChange: JSONWritable where Value == Int {
    public func write(to writer: inout JSONWriter) {
        writer.object { json in
            json.field("from", from)
            json.field("to", to)
        }
    }
}
