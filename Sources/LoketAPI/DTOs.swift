import Foundation
import Hummingbird
import LoketCore
import LoketStore

struct UnitDTO: Codable {
    var code: String
    var name: String
}

struct ServiceRefDTO: Codable {
    var code: String
    var name: String
}

struct TimelineEntryDTO: Codable {
    var at: Date
    var kind: String
    var label: String
    var status: String?
    var message: String?
}

struct DocumentDTO: ResponseEncodable {
    var id: Int64
    var filename: String
    var contentType: String
    var sizeBytes: Int
    var sha256: String
    var uploadedBy: String
    var createdAt: Date
    var url: String

    enum CodingKeys: String, CodingKey {
        case id, filename, url
        case contentType = "content_type"
        case sizeBytes = "size_bytes"
        case sha256
        case uploadedBy = "uploaded_by"
        case createdAt = "created_at"
    }

    init(_ info: DocumentInfo, trackingCode: String, base: String) {
        id = info.id
        filename = info.filename
        contentType = info.contentType
        sizeBytes = info.sizeBytes
        sha256 = info.sha256.map { String(format: "%02x", $0) }.joined()
        uploadedBy = info.uploadedBy
        createdAt = info.createdAt
        url = "\(base)/api/v1/requests/\(trackingCode)/documents/\(info.id)"
    }
}

/// Words for each kind of audit event, for people.
func eventLabel(_ kind: EventKind, _ language: Language) -> String {
    let english = language == .english
    switch kind {
    case .created: return english ? "Request received" : "Permohonan diterima"
    case .claimed: return english ? "Taken up by an officer" : "Mulai ditangani petugas"
    case .released: return english ? "Returned to the queue" : "Dikembalikan ke antrean"
    case .leaseExpired: return english ? "Returned to the queue (claim lapsed)" : "Dikembalikan ke antrean (waktu klaim habis)"
    case .askedCitizen: return english ? "The officer needs something from you" : "Petugas memerlukan kelengkapan dari Anda"
    case .citizenReplied: return english ? "You replied" : "Anda telah menanggapi"
    case .resolved: return english ? "Completed" : "Selesai"
    case .rejected: return english ? "Rejected" : "Ditolak"
    case .cancelled: return english ? "Cancelled" : "Dibatalkan"
    case .transferred: return english ? "Transferred to another unit" : "Dialihkan ke unit lain"
    case .escalated: return english ? "Escalated" : "Dieskalasi"
    case .assigned: return english ? "Assigned to an officer" : "Ditugaskan kepada petugas"
    case .note: return english ? "Note" : "Catatan"
    case .slaStage: return english ? "Service-level checkpoint" : "Pemantauan waktu layanan"
    case .deadlineRecomputed: return english ? "Deadlines recomputed" : "Tenggat dihitung ulang"
    case .documentAdded: return english ? "Document added" : "Dokumen ditambahkan"
    case .feedback: return english ? "Feedback given" : "Penilaian diberikan"
    }
}

/// Words for one timeline entry: its kind's, except an escalation that moved the request up the
/// unit tree, which says so.
func eventLabel(_ entry: TimelineEntry, _ language: Language) -> String {
    let english = language == .english
    switch entry.kind {
    case .slaStage where entry.toUnitID != nil:
        return english ? "Moved up to the unit above (time limit passed)" : "Dialihkan ke unit di atasnya (batas waktu terlampaui)"
    case .escalated where entry.toUnitID != nil:
        return english ? "Moved up to the unit above" : "Dialihkan ke unit di atasnya"
    case .citizenReplied where entry.actorKind == .staff:
        // Given at the counter, by phone or through the application that filed the request.
        return english ? "Your answer was recorded by the officer" : "Tanggapan Anda dicatat oleh petugas"
    default:
        return eventLabel(entry.kind, language)
    }
}

/// Everything the citizen who filed a request may see.
struct RequestDetailDTO: ResponseEncodable {
    struct Citizen: Codable {
        var name: String?
        var nik: String?
        var phone: String?
        var email: String?
    }

    struct Question: Codable {
        var question: String?
        var askedAt: Date

        enum CodingKeys: String, CodingKey {
            case question
            case askedAt = "asked_at"
        }
    }

    var trackingCode: String
    var status: String
    var statusLabel: String
    var service: ServiceRefDTO
    var unit: UnitDTO
    var citizen: Citizen
    var areaCode: String?
    var address: String?
    var latitude: Double?
    var longitude: Double?
    var description: String?
    var attributes: [String: AttributeAnswer]
    var createdAt: Date
    var updatedAt: Date
    var closedAt: Date?
    var responseDueAt: Date
    var resolutionDueAt: Date
    var slaPaused: Bool
    var waitingFor: Question?
    var publicMessage: String?
    var rejectReason: String?
    var feedbackAllowed: Bool
    var timeline: [TimelineEntryDTO]
    var documents: [DocumentDTO]

    enum CodingKeys: String, CodingKey {
        case status, service, unit, citizen, address, latitude, longitude, description, attributes, timeline, documents
        case trackingCode = "tracking_code"
        case statusLabel = "status_label"
        case areaCode = "area_code"
        case createdAt = "created_at"
        case updatedAt = "updated_at"
        case closedAt = "closed_at"
        case responseDueAt = "response_due_at"
        case resolutionDueAt = "resolution_due_at"
        case slaPaused = "sla_paused"
        case waitingFor = "waiting_for"
        case publicMessage = "public_message"
        case rejectReason = "reject_reason"
        case feedbackAllowed = "feedback_allowed"
    }

    init(
        _ record: RequestRecord, catalog: CatalogSnapshot, timeline: [TimelineEntry], documents: [DocumentInfo],
        feedbackGiven: Bool, language: Language, base: String
    ) {
        trackingCode = record.trackingCode
        status = record.status.rawValue
        statusLabel = record.status.label(language)
        let service = catalog.servicesByID[record.serviceTypeID]
        self.service = ServiceRefDTO(code: service?.code ?? "", name: service?.name.text(language) ?? "")
        let unit = catalog.units[record.unitID]
        self.unit = UnitDTO(code: unit?.code ?? "", name: unit?.name ?? "")
        citizen = Citizen(name: record.citizenName, nik: record.citizenNIK, phone: record.citizenPhone, email: record.citizenEmail)
        areaCode = record.areaCode
        address = record.address
        latitude = record.latitude
        longitude = record.longitude
        description = record.description
        attributes = (try? JSONDecoder().decode([String: AttributeAnswer].self, from: Data(record.attributesJSON.utf8))) ?? [:]
        createdAt = record.createdAt
        updatedAt = record.updatedAt
        closedAt = record.closedAt
        responseDueAt = record.responseDueAt
        resolutionDueAt = record.resolutionDueAt
        slaPaused = record.status == .waitingCitizen
        if record.status == .waitingCitizen, let asked = timeline.last(where: { $0.kind == .askedCitizen }) {
            waitingFor = Question(question: asked.message, askedAt: asked.at)
        }
        publicMessage = record.publicMessage
        rejectReason = record.rejectReason
        feedbackAllowed = (record.status == .completed || record.status == .rejected) && !feedbackGiven
        self.timeline = timeline.map {
            TimelineEntryDTO(at: $0.at, kind: $0.kind.rawValue, label: eventLabel($0, language), status: $0.toStatus?.rawValue, message: $0.message)
        }
        self.documents = documents.map { DocumentDTO($0, trackingCode: record.trackingCode, base: base) }
    }
}

/// What anyone may see by tracking code alone: no name, NIK, contact, address or free text.
struct PublicRequestDTO: ResponseEncodable {
    var trackingCode: String
    var status: String
    var statusLabel: String
    var service: ServiceRefDTO
    var unit: UnitDTO
    var createdAt: Date
    var updatedAt: Date
    var closedAt: Date?
    var resolutionDueAt: Date
    var timeline: [TimelineEntryDTO]

    enum CodingKeys: String, CodingKey {
        case status, service, unit, timeline
        case trackingCode = "tracking_code"
        case statusLabel = "status_label"
        case createdAt = "created_at"
        case updatedAt = "updated_at"
        case closedAt = "closed_at"
        case resolutionDueAt = "resolution_due_at"
    }

    init(_ record: RequestRecord, catalog: CatalogSnapshot, timeline: [TimelineEntry], language: Language) {
        trackingCode = record.trackingCode
        status = record.status.rawValue
        statusLabel = record.status.label(language)
        let service = catalog.servicesByID[record.serviceTypeID]
        self.service = ServiceRefDTO(code: service?.code ?? "", name: service?.name.text(language) ?? "")
        let unit = catalog.units[record.unitID]
        self.unit = UnitDTO(code: unit?.code ?? "", name: unit?.name ?? "")
        createdAt = record.createdAt
        updatedAt = record.updatedAt
        closedAt = record.closedAt
        resolutionDueAt = record.resolutionDueAt
        // The steps only: when the citizen uploaded a document or an officer wrote a public note
        // is the citizen's business, not that of whoever knows the code.
        self.timeline = timeline.filter { $0.kind != .documentAdded && $0.kind != .note }.map {
            TimelineEntryDTO(at: $0.at, kind: $0.kind.rawValue, label: eventLabel($0, language), status: $0.toStatus?.rawValue, message: nil)
        }
    }
}
