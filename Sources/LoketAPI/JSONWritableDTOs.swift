import Foundation
import LoketCore

// The hot answers write their own JSON (see JSONWriter): keys in sorted order, nil optionals
// left out, so that the bytes equal `LoketJSON.encoder`'s. JSONWritableTests compares them for
// every type here with every optional both set and nil; a field added to one of these types
// needs its line here too, or that test fails.

extension PersonDTO: JSONWritable {
    func write(to writer: inout JSONWriter) {
        writer.object { json in
            json.field("name", name)
            json.field("nip", nip)
        }
    }
}

extension SLAStatusDTO: JSONWritable {
    func write(to writer: inout JSONWriter) {
        writer.object { json in
            json.field("breached", breached)
            json.field("clock", clock)
            json.field("due_at", dueAt)
            json.field("paused", paused)
            json.field("remaining_working_minutes", remainingWorkingMinutes)
        }
    }
}

extension RequestDetailDTO.Citizen: JSONWritable {
    func write(to writer: inout JSONWriter) {
        writer.object { json in
            json.field("email", email)
            json.field("name", name)
            json.field("nik", nik)
            json.field("phone", phone)
        }
    }
}

extension DocumentDTO: JSONWritable {
    func write(to writer: inout JSONWriter) {
        writer.object { json in
            json.field("content_type", contentType)
            json.field("created_at", createdAt)
            json.field("filename", filename)
            json.field("id", id)
            json.field("sha256", sha256)
            json.field("size_bytes", sizeBytes)
            json.field("uploaded_by", uploadedBy)
            json.field("url", url)
        }
    }
}

extension AttributeAnswer: JSONWritable {
    func write(to writer: inout JSONWriter) {
        switch self {
        case .single(let value): writer.string(value)
        case .multiple(let values): writer.array(values) { json, value in json.string(value) }
        }
    }
}

/// A request's attribute answers as PostgreSQL wrote them (`attributes::text` of a jsonb object).
/// The JSON writer passes the text through, parsed by no one; JSONEncoder (which the staff
/// detail no longer meets on the server's path) gets the answers decoded.
struct AttributesJSON: Encodable, JSONWritable {
    var text: String

    var answers: [String: AttributeAnswer] {
        (try? JSONDecoder().decode([String: AttributeAnswer].self, from: Data(text.utf8))) ?? [:]
    }

    func encode(to encoder: any Encoder) throws {
        try answers.encode(to: encoder)
    }

    func write(to writer: inout JSONWriter) {
        writer.raw(text)
    }
}

extension AttributeAnswer {
    /// Answers by attribute code as one JSON object, keys sorted (as JSONEncoder's `.sortedKeys`).
    static func json(_ answers: [String: AttributeAnswer]) -> [UInt8] {
        var writer = JSONWriter(capacity: 128)
        writer.object { json in
            for code in answers.keys.sorted() {
                json.key(code)
                answers[code]!.write(to: &json)
            }
        }
        return writer.bytes
    }
}

extension StaffRequestDTO.AuditEntry: JSONWritable {
    func write(to writer: inout JSONWriter) {
        writer.object { json in
            json.field("actor", actor)
            json.field("assigned_to", assignedTo)
            json.field("at", at)
            json.field("from_status", fromStatus)
            json.field("from_unit", fromUnit)
            json.field("id", id)
            json.field("kind", kind)
            json.field("label", label)
            json.field("message", message)
            json.field("overridden_holder", overriddenHolder)
            json.field("public", isPublic)
            json.field("staff", staff)
            json.field("to_status", toStatus)
            json.field("to_unit", toUnit)
        }
    }
}

extension StaffRequestDTO: JSONWritable {
    func write(to writer: inout JSONWriter) {
        writer.object { json in
            json.field("address", address)
            json.field("area_code", areaCode)
            json.field("assignee", assignee)
            json.field("attributes", attributes)
            json.key("audit")
            json.array(audit) { json, entry in entry.write(to: &json) }
            json.field("citizen", citizen)
            json.field("closed_at", closedAt)
            json.field("created_at", createdAt)
            json.field("description", description)
            json.key("documents")
            json.array(documents) { json, document in document.write(to: &json) }
            json.field("escalation_level", escalationLevel)
            json.field("latitude", latitude)
            json.field("lease_expires_at", leaseExpiresAt)
            json.field("longitude", longitude)
            json.field("outcome", outcome)
            json.field("priority", priority)
            json.field("public_message", publicMessage)
            json.field("reject_reason", rejectReason)
            json.field("resolution_due_at", resolutionDueAt)
            json.field("response_due_at", responseDueAt)
            json.field("routing_reason", routingReason)
            json.field("service", service)
            json.field("sla", sla)
            json.field("source", source)
            json.field("status", status)
            json.field("status_label", statusLabel)
            json.field("tracking_code", trackingCode)
            json.field("unit", unit)
            json.field("updated_at", updatedAt)
            json.field("version", version)
        }
    }
}

extension RequestsController.Filed: JSONWritable {
    func write(to writer: inout JSONWriter) {
        writer.object { json in
            json.field("access_token", accessToken)
            json.field("created_at", createdAt)
            json.field("expected_completion_at", expectedCompletionAt)
            json.key("links")
            json.object { json in
                json.field("public", links.publicView)
                json.field("self", links.detail)
            }
            json.field("resolution_due_at", resolutionDueAt)
            json.field("response_due_at", responseDueAt)
            json.key("routing")
            json.object { json in
                json.field("basis", routing.basis)
                json.field("explanation", routing.explanation)
            }
            json.field("service_code", serviceCode)
            json.field("status", status)
            json.field("tracking_code", trackingCode)
            json.field("unit", unit)
        }
    }
}

/// The `{code, name}` references (a unit, a service) write alike.
protocol CodeAndName: JSONWritable {
    var code: String { get }
    var name: String { get }
}

extension CodeAndName {
    func write(to writer: inout JSONWriter) {
        writer.object { json in
            json.field("code", code)
            json.field("name", name)
        }
    }
}

extension UnitDTO: CodeAndName {}
extension ServiceRefDTO: CodeAndName {}
extension RequestsController.Filed.UnitRef: CodeAndName {}
