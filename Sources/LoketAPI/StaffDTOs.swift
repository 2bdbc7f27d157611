import Foundation
import Hummingbird
import LoketCore
import LoketStore

struct PersonDTO: Codable {
    var nip: String
    var name: String
}

/// Where a request stands against its running clock, in working minutes of its calendar.
struct SLAStatusDTO: Codable {
    var clock: String
    var dueAt: Date
    /// Negative once the deadline has passed.
    var remainingWorkingMinutes: Int
    var breached: Bool
    var paused: Bool

    enum CodingKeys: String, CodingKey {
        case clock, breached, paused
        case dueAt = "due_at"
        case remainingWorkingMinutes = "remaining_working_minutes"
    }

    init(status: RequestStatus, firstClaimedAt: Date?, responseDue: Date, resolutionDue: Date, pausedAt: Date?,
         service: ServiceType?, catalog: CatalogSnapshot, now: Date) {
        let isResponse = firstClaimedAt == nil
        clock = isResponse ? "response" : "resolution"
        dueAt = isResponse ? responseDue : resolutionDue
        paused = status == .waitingCitizen
        // A paused clock stands still at the moment it paused.
        let at = paused ? (pausedAt ?? now) : now
        if let service {
            let calendar = catalog.calendar(for: service).calendar
            remainingWorkingMinutes = at <= dueAt
                ? calendar.workingMinutes(from: at, to: dueAt) : -calendar.workingMinutes(from: dueAt, to: at)
        } else {
            remainingWorkingMinutes = Int(dueAt.timeIntervalSince(at) / 60)
        }
        breached = at > dueAt
    }
}

struct QueueItemDTO: Encodable {
    var trackingCode: String
    var service: ServiceRefDTO
    var unit: UnitDTO
    var status: String
    var assignee: PersonDTO?
    var priority: Int
    var escalationLevel: Int
    var createdAt: Date
    var responseDueAt: Date
    var resolutionDueAt: Date
    var leaseExpiresAt: Date?
    var sla: SLAStatusDTO

    enum CodingKeys: String, CodingKey {
        case service, unit, status, assignee, priority, sla
        case trackingCode = "tracking_code"
        case escalationLevel = "escalation_level"
        case createdAt = "created_at"
        case responseDueAt = "response_due_at"
        case resolutionDueAt = "resolution_due_at"
        case leaseExpiresAt = "lease_expires_at"
    }

    init(_ item: QueueItem, catalog: CatalogSnapshot, names: [StaffID: (nip: String, name: String)], now: Date, language: Language) {
        trackingCode = item.trackingCode
        let service = catalog.servicesByID[item.serviceTypeID]
        self.service = ServiceRefDTO(code: service?.code ?? "", name: service?.name.text(language) ?? "")
        let unit = catalog.units[item.unitID]
        self.unit = UnitDTO(code: unit?.code ?? "", name: unit?.name ?? "")
        status = item.status.rawValue
        assignee = item.assigneeID.flatMap { id in names[id].map { PersonDTO(nip: $0.nip, name: $0.name) } }
        priority = item.priority
        escalationLevel = item.escalationLevel
        createdAt = item.createdAt
        responseDueAt = item.responseDueAt
        resolutionDueAt = item.resolutionDueAt
        leaseExpiresAt = item.leaseExpiresAt
        sla = SLAStatusDTO(
            status: item.status, firstClaimedAt: item.firstClaimedAt, responseDue: item.responseDueAt,
            resolutionDue: item.resolutionDueAt, pausedAt: item.pausedAt, service: service, catalog: catalog, now: now)
    }
}

/// Everything an officer sees of a request in their subtree, with the full audit trail.
struct StaffRequestDTO: ResponseEncodable {
    struct AuditEntry: Encodable {
        var id: Int64
        var at: Date
        var kind: String
        var label: String
        var actor: String
        var staff: PersonDTO?
        var fromStatus: String?
        var toStatus: String?
        var isPublic: Bool
        var message: String?
        var fromUnit: String?
        var toUnit: String?
        var assignedTo: PersonDTO?
        var overriddenHolder: PersonDTO?

        enum CodingKeys: String, CodingKey {
            case id, at, kind, label, actor, staff, message
            case fromStatus = "from_status"
            case toStatus = "to_status"
            case isPublic = "public"
            case fromUnit = "from_unit"
            case toUnit = "to_unit"
            case assignedTo = "assigned_to"
            case overriddenHolder = "overridden_holder"
        }
    }

    var trackingCode: String
    var status: String
    var statusLabel: String
    var service: ServiceRefDTO
    var unit: UnitDTO
    var assignee: PersonDTO?
    var leaseExpiresAt: Date?
    var priority: Int
    var escalationLevel: Int
    var citizen: RequestDetailDTO.Citizen
    var areaCode: String?
    var address: String?
    var latitude: Double?
    var longitude: Double?
    var description: String?
    var attributes: AttributesJSON
    var source: String
    var routingReason: String
    var createdAt: Date
    var updatedAt: Date
    var closedAt: Date?
    var responseDueAt: Date
    var resolutionDueAt: Date
    var sla: SLAStatusDTO
    var publicMessage: String?
    var outcome: String?
    var rejectReason: String?
    var version: Int
    var audit: [AuditEntry]
    var documents: [DocumentDTO]

    enum CodingKeys: String, CodingKey {
        case status, service, unit, assignee, priority, citizen, address, latitude, longitude, description, attributes
        case source, sla, outcome, version, audit, documents
        case trackingCode = "tracking_code"
        case statusLabel = "status_label"
        case leaseExpiresAt = "lease_expires_at"
        case escalationLevel = "escalation_level"
        case areaCode = "area_code"
        case routingReason = "routing_reason"
        case createdAt = "created_at"
        case updatedAt = "updated_at"
        case closedAt = "closed_at"
        case responseDueAt = "response_due_at"
        case resolutionDueAt = "resolution_due_at"
        case publicMessage = "public_message"
        case rejectReason = "reject_reason"
    }

    init(
        _ record: RequestRecord, catalog: CatalogSnapshot, timeline: [TimelineEntry], documents: [DocumentInfo],
        names: [StaffID: (nip: String, name: String)], now: Date, language: Language, base: String
    ) {
        trackingCode = record.trackingCode
        status = record.status.rawValue
        statusLabel = record.status.label(language)
        let service = catalog.servicesByID[record.serviceTypeID]
        self.service = ServiceRefDTO(code: service?.code ?? "", name: service?.name.text(language) ?? "")
        let unit = catalog.units[record.unitID]
        self.unit = UnitDTO(code: unit?.code ?? "", name: unit?.name ?? "")
        assignee = record.assigneeID.flatMap { id in names[id].map { PersonDTO(nip: $0.nip, name: $0.name) } }
        leaseExpiresAt = record.leaseExpiresAt
        priority = record.priority
        escalationLevel = record.escalationLevel
        citizen = .init(name: record.citizenName, nik: record.citizenNIK, phone: record.citizenPhone, email: record.citizenEmail)
        areaCode = record.areaCode
        address = record.address
        latitude = record.latitude
        longitude = record.longitude
        description = record.description
        attributes = AttributesJSON(text: record.attributesJSON)
        source = record.source
        routingReason = record.routingReason
        createdAt = record.createdAt
        updatedAt = record.updatedAt
        closedAt = record.closedAt
        responseDueAt = record.responseDueAt
        resolutionDueAt = record.resolutionDueAt
        sla = SLAStatusDTO(
            status: record.status, firstClaimedAt: record.firstClaimedAt, responseDue: record.responseDueAt,
            resolutionDue: record.resolutionDueAt, pausedAt: record.pausedAt, service: service, catalog: catalog, now: now)
        publicMessage = record.publicMessage
        outcome = record.outcome
        rejectReason = record.rejectReason
        version = record.version
        func person(_ id: StaffID?) -> PersonDTO? { id.flatMap { names[$0].map { PersonDTO(nip: $0.nip, name: $0.name) } } }
        audit = timeline.map { entry in
            AuditEntry(
                id: entry.id, at: entry.at, kind: entry.kind.rawValue, label: eventLabel(entry, language),
                actor: entry.actorKind.rawValue, staff: person(entry.actorStaffID),
                fromStatus: entry.fromStatus?.rawValue, toStatus: entry.toStatus?.rawValue, isPublic: entry.isPublic,
                message: entry.message, fromUnit: entry.fromUnitID.flatMap { catalog.units[$0]?.code },
                toUnit: entry.toUnitID.flatMap { catalog.units[$0]?.code }, assignedTo: person(entry.newHolderID),
                overriddenHolder: person(entry.overriddenHolderID))
        }
        self.documents = documents.map { DocumentDTO($0, trackingCode: record.trackingCode, base: base) }
    }
}
