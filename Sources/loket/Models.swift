import Foundation

// The staff API's answers, as far as the tables and summaries need them. Instants stay the
// server's RFC 3339 text (already in the jurisdiction's offset) and are only reformatted for
// display; `--json` prints the server's bytes untouched, so nothing here limits scripts.

struct UnitRef: Decodable {
    var code: String
    var name: String
}

struct Person: Decodable {
    var nip: String
    var name: String
}

struct Me: Decodable {
    struct Token: Decodable {
        var prefix: String
        var expiresAt: String?
    }

    var nip: String
    var name: String
    var role: String
    var unit: UnitRef
    var token: Token
}

/// Where a request stands against its running clock. `remainingWorkingMinutes` is negative once
/// the deadline has passed.
struct SLAState: Decodable {
    var clock: String
    var dueAt: String
    var remainingWorkingMinutes: Int
    var breached: Bool
    var paused: Bool
}

struct QueueItem: Decodable {
    var trackingCode: String
    var service: UnitRef
    var unit: UnitRef
    var status: String
    var assignee: Person?
    var priority: Int
    var escalationLevel: Int
    var sla: SLAState
}

struct QueueList: Decodable {
    var requests: [QueueItem]
}

struct RequestDetail: Decodable {
    struct Citizen: Decodable {
        var name: String?
        var nik: String?
        var phone: String?
        var email: String?
    }

    struct AuditEntry: Decodable {
        var at: String
        var label: String
        var actor: String
        var staff: Person?
        var `public`: Bool
        var message: String?
    }

    struct Document: Decodable {
        var id: Int64
        var filename: String
        var contentType: String
        var sizeBytes: Int
        var uploadedBy: String
        var createdAt: String
    }

    var trackingCode: String
    var status: String
    var statusLabel: String
    var service: UnitRef
    var unit: UnitRef
    var assignee: Person?
    var leaseExpiresAt: String?
    var priority: Int
    var escalationLevel: Int
    var citizen: Citizen
    var areaCode: String?
    var address: String?
    var latitude: Double?
    var longitude: Double?
    var description: String?
    var attributes: [String: AttributeValue]
    var source: String
    var routingReason: String
    var createdAt: String
    var closedAt: String?
    var sla: SLAState
    var publicMessage: String?
    var outcome: String?
    var rejectReason: String?
    var audit: [AuditEntry]
    var documents: [Document]
}

/// A citizen's answer to a service's form question: one value or a list.
enum AttributeValue: Decodable {
    case single(String)
    case multiple([String])

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let text = try? container.decode(String.self) {
            self = .single(text)
        } else if let number = try? container.decode(Double.self) {
            self = .single(number == number.rounded() && abs(number) < 1e15 ? String(Int64(number)) : String(number))
        } else {
            self = .multiple(try container.decode([String].self))
        }
    }

    var text: String {
        switch self {
        case .single(let value): value
        case .multiple(let values): values.joined(separator: ", ")
        }
    }
}

struct LeaseAnswer: Decodable {
    var leaseExpiresAt: String
}

/// The body of every error, `{"error": {"code", "message", "field", "details", "request_id", "extra"}}`,
/// as far as `loket` reports it.
struct ErrorEnvelope: Decodable {
    struct Content: Decodable {
        struct Detail: Decodable {
            var field: String
            var code: String
            var message: String
        }

        var code: String
        var message: String
        var details: [Detail]?
        var requestId: String?
    }

    var error: Content
}

enum LoketJSON {
    static func decode<T: Decodable>(_ type: T.Type, from body: [UInt8]) throws -> T {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return try decoder.decode(T.self, from: Data(body))
    }

    static func encode(_ value: some Encodable) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return [UInt8](try encoder.encode(value))
    }
}
