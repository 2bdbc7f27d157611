/// Where a request stands. Raw values are the strings stored in the database.
public enum RequestStatus: String, Sendable, Hashable, Codable, CaseIterable {
    /// In a unit's queue, unclaimed.
    case queued
    /// Claimed by one officer, who holds a lease on it.
    case inProgress = "in_progress"
    /// The officer asked the citizen for something; SLA clocks are paused.
    case waitingCitizen = "waiting_citizen"
    case completed
    /// Refused, with a reason the citizen can read.
    case rejected
    /// Withdrawn by the citizen.
    case cancelled

    /// Final states never change again.
    public var isFinal: Bool {
        switch self {
        case .completed, .rejected, .cancelled: true
        case .queued, .inProgress, .waitingCitizen: false
        }
    }

    public func label(_ language: Language) -> String {
        switch (self, language) {
        case (.queued, .indonesian): "dalam antrean"
        case (.queued, .english): "queued"
        case (.inProgress, .indonesian): "sedang diproses"
        case (.inProgress, .english): "in progress"
        case (.waitingCitizen, .indonesian): "menunggu tanggapan pemohon"
        case (.waitingCitizen, .english): "waiting for the citizen"
        case (.completed, .indonesian): "selesai"
        case (.completed, .english): "completed"
        case (.rejected, .indonesian): "ditolak"
        case (.rejected, .english): "rejected"
        case (.cancelled, .indonesian): "dibatalkan"
        case (.cancelled, .english): "cancelled"
        }
    }
}

/// Kinds of rows in the append-only audit trail. Raw values are the stored strings.
public enum EventKind: String, Sendable, Hashable, Codable, CaseIterable {
    case created
    case claimed
    case released
    case leaseExpired = "lease_expired"
    case askedCitizen = "asked_citizen"
    case citizenReplied = "citizen_replied"
    case resolved
    case rejected
    case cancelled
    case transferred
    case escalated
    case assigned
    case note
    case slaStage = "sla_stage"
    case deadlineRecomputed = "deadline_recomputed"
    case documentAdded = "document_added"
    case feedback

    /// Whether the citizen's timeline shows this kind of event by default. Internal hand-offs
    /// (releases, lease expiry, assignments, SLA stages) are for staff; notes and documents are
    /// decided one by one by whoever adds them.
    public var isPublicByDefault: Bool {
        switch self {
        case .created, .claimed, .askedCitizen, .citizenReplied, .resolved, .rejected, .cancelled,
             .transferred, .feedback:
            true
        case .released, .leaseExpired, .escalated, .assigned, .note, .slaStage, .deadlineRecomputed,
             .documentAdded:
            false
        }
    }
}

/// Who acted, as stored in the audit trail's actor column.
public enum ActorKind: String, Sendable, Hashable, Codable, CaseIterable {
    case citizen
    case staff
    case system
    case partner
}

/// Staff roles, from least to most authority.
public enum StaffRole: String, Sendable, Hashable, Codable, CaseIterable, Comparable {
    /// Works requests it claims.
    case staff
    /// Also overrides holders, assigns and escalates within its unit subtree.
    case supervisor
    /// A supervisor who also reads reports for its subtree.
    case manager
    /// Full authority within its subtree; administers accounts and catalog.
    case admin

    private var rank: Int {
        switch self {
        case .staff: 0
        case .supervisor: 1
        case .manager: 2
        case .admin: 3
        }
    }

    public static func < (lhs: StaffRole, rhs: StaffRole) -> Bool { lhs.rank < rhs.rank }
}

/// A staff account acting on a request: who it is, its role and the unit it belongs to.
public struct StaffMember: Hashable, Sendable, Codable {
    public var id: StaffID
    public var role: StaffRole
    public var unitId: UnitID

    public init(id: StaffID, role: StaffRole, unitId: UnitID) {
        self.id = id
        self.role = role
        self.unitId = unitId
    }

    enum CodingKeys: String, CodingKey {
        case id
        case role
        case unitId = "unit_id"
    }
}

/// The authenticated party behind a command.
public enum Principal: Hashable, Sendable {
    /// The citizen who filed the request, proven by its tracking code and access token.
    case citizen
    case staff(StaffMember)
    /// Loket itself: the worker's SLA scanner, lease rescuer and auto-close.
    case system
    /// A partner application filing through Open311.
    case partner(PartnerID)

    public var kind: ActorKind {
        switch self {
        case .citizen: .citizen
        case .staff: .staff
        case .system: .system
        case .partner: .partner
        }
    }

    /// The identity stored beside the actor kind: the staff or partner id.
    public var id: Int64? {
        switch self {
        case .staff(let member): member.id
        case .partner(let id): id
        case .citizen, .system: nil
        }
    }
}
