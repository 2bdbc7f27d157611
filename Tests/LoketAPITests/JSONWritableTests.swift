import Foundation
@testable import LoketAPI
import LoketCore
@testable import LoketStore
import Postgres
import Testing

/// The answers that write their own JSON (JSONWriter) write exactly the bytes JSONEncoder would,
/// with every optional set and with every optional nil, and with text that needs escaping.
@Suite("JSON writer")
struct JSONWritableTests {
    static func encoderBytes(_ value: some Encodable) throws -> [UInt8] {
        [UInt8](try LoketJSON.encoder.encode(value))
    }

    static func same(_ value: some Encodable & JSONWritable, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let written = value.jsonBytes
        let encoded = try Self.encoderBytes(value)
        #expect(String(decoding: written, as: UTF8.self) == String(decoding: encoded, as: UTF8.self), sourceLocation: sourceLocation)
    }

    /// The same JSON value, read back: for the staff detail, whose attribute answers are passed
    /// through as PostgreSQL wrote them (`{"a": "b"}`, keys in jsonb's order).
    static func equivalent(_ value: some Encodable & JSONWritable, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let written = try JSONSerialization.jsonObject(with: Data(value.jsonBytes)) as? NSDictionary
        let encoded = try JSONSerialization.jsonObject(with: try LoketJSON.encoder.encode(value)) as? NSDictionary
        #expect(written != nil && written == encoded, sourceLocation: sourceLocation)
    }

    /// Text with every kind of character JSON escapes or passes through.
    static let awkward = "Jl. \"Ki Mas\" Jong\\5/7\nRT 01\tRW 02 é 🙂 \u{7F} \u{2028}"

    @Test func stringsAreEscapedAsJSONEncoderDoes() throws {
        for text in [Self.awkward, "", "plain", "\u{1}\u{1F}\u{8}\u{C}\r", "ends with \\"] {
            var writer = JSONWriter()
            writer.string(text)
            let encoded = try Self.encoderBytes([text])
            let written = [UInt8(ascii: "[")] + writer.bytes + [UInt8(ascii: "]")]
            // Control characters other than \b \f \n \r \t may differ in the case of their hex
            // digits only; what a reader gets back must be the same text.
            let read = try JSONSerialization.jsonObject(with: Data(written)) as? [String]
            #expect(read == [text])
            if !text.unicodeScalars.contains(where: { $0.value < 0x20 && !"\u{8}\u{C}\n\r\t".unicodeScalars.contains($0) }) {
                #expect(written == encoded, "\(text)")
            }
        }
    }

    @Test func numbersAreWrittenAsJSONEncoderDoes() throws {
        for number in [0.0, -6.1201, 106.15, 1e-7, 123456789.125, -90, 180, 0.1 + 0.2] {
            var writer = JSONWriter()
            writer.array([number]) { json, value in json.double(value) }
            #expect(writer.bytes == (try Self.encoderBytes([number])), "\(number)")
        }
        var writer = JSONWriter()
        writer.array([Int64.min, -1, 0, Int64.max]) { json, value in json.int(value) }
        #expect(writer.bytes == (try Self.encoderBytes([Int64.min, -1, 0, Int64.max])))
    }

    @Test func filingReceipt() throws {
        let now = Date(timeIntervalSince1970: 1_795_000_000.5)
        let receipt = RequestsController.Filed(
            trackingCode: "SRG-260101-ABCD-EFGH", accessToken: "tok_-abc", status: "queued", serviceCode: "kk-baru",
            unit: .init(code: "DISDUKCAPIL", name: Self.awkward),
            routing: .init(basis: "area_rule", explanation: Self.awkward),
            createdAt: now, responseDueAt: now.addingTimeInterval(3600), resolutionDueAt: now.addingTimeInterval(86_400 * 3),
            expectedCompletionAt: now.addingTimeInterval(86_400 * 3),
            links: .init(detail: "https://loket.example/api/v1/requests/X", publicView: "https://loket.example/api/v1/public/requests/X"))
        try Self.same(receipt)
    }

    @Test func routingEventDataOfEveryServiceAndArea() async throws {
        try await APITestEnvironment.withDatabase { configuration in
            let connection = try await PostgresConnection.connect(configuration)
            let catalog = try await CatalogStore.load(on: connection)
            await connection.close()
            let areas = [nil] + catalog.areaNames.keys.sorted().compactMap { try? AreaCode($0) }
            var withRule = 0
            for service in catalog.services {
                for area in areas {
                    let decision = catalog.routing.route(
                        serviceTypeId: service.id, area: area, defaultUnitId: service.defaultUnitID, triageUnitId: catalog.triageUnitID)
                    let data = RoutingEventData(decision)
                    if data.ruleID != nil { withRule += 1 }
                    let encoder = JSONEncoder()
                    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
                    #expect(String(decoding: data.jsonBytes, as: UTF8.self) == String(decoding: try encoder.encode(data), as: UTF8.self))
                }
            }
            #expect(withRule > 0, "the seed routes some service by a rule")
        }
    }

    @Test func staffDetailWithEveryOptionalSetAndNil() async throws {
        try await APITestEnvironment.withDatabase { configuration in
            let connection = try await PostgresConnection.connect(configuration)
            let now = Date(timeIntervalSince1970: 1_795_000_000)
            let catalog = try await CatalogStore.load(on: connection, now: now)
            let service = try #require(catalog.services.first)
            let unit = try #require(catalog.units.values.first)
            // A request as intake stores it, read back as the staff API reads it, then with every
            // field that can be absent given a value.
            let pool = ConnectionPool(configuration: configuration, maxConnections: 1)
            let intake = IntakeStore(pool: pool, jurisdictionPrefix: "SRG")
            let outcome = try await intake.file(
                NewRequest(
                    service: service, citizenName: "Siti", nik: nil, phone: try PhoneNumber("0812-3456-7890"), email: nil, area: nil, address: "Jl. Ki Mas Jong",
                    latitude: nil, longitude: nil, description: nil, mediaURL: nil, attributesJSON: "{}", source: .web,
                    partnerID: nil),
                catalog: catalog, idempotency: nil, now: now
            ) { _ in StoredResponse(status: 201, contentType: "application/json", body: Data()) }
            await pool.close()
            guard case .filed(let filed, _) = outcome else {
                Issue.record("not filed: \(outcome)")
                return
            }
            var record = try RequestRecord(row: try await connection.query(
                "SELECT \(RequestRecord.columns) FROM service_requests WHERE id = $1", filed.id).single())
            // Attributes as the staff API reads them back from the database.
            let attributesText = try await connection.query(
                "SELECT $1::jsonb::text AS t", #"{"zeta":"x","alasan":"keluarga_baru","pilihan":["a","b\"c/d"]}"#
            ).single().decode(String.self, "t")
            await connection.close()
            record.status = .inProgress
            record.unitID = unit.id
            (record.assigneeID, record.leaseExpiresAt, record.priority, record.escalationLevel) = (3, now.addingTimeInterval(900), 2, 1)
            (record.firstClaimedAt, record.responseDueAt, record.resolutionDueAt) = (now, now.addingTimeInterval(-60), now.addingTimeInterval(86_400))
            (record.citizenName, record.citizenNIK, record.citizenPhone, record.citizenEmail) =
                (Self.awkward, "3673012505850001", "+6281234567890", "siti@example.id")
            (record.areaCode, record.address, record.latitude, record.longitude, record.description) =
                ("36.73.01.1001", Self.awkward, -6.1201, 106.15, Self.awkward)
            record.attributesJSON = attributesText
            (record.outcome, record.publicMessage, record.rejectReason, record.routingReason) = ("completed", Self.awkward, "no", Self.awkward)
            (record.version, record.createdAt, record.updatedAt, record.closedAt) = (4, now, now, now)
            let timeline = [
                TimelineEntry(
                    id: 1, at: now, kind: .created, actorKind: .citizen, actorStaffID: nil, fromStatus: nil, toStatus: .queued,
                    isPublic: true, message: nil, fromUnitID: nil, toUnitID: unit.id, newHolderID: nil, overriddenHolderID: nil),
                TimelineEntry(
                    id: 2, at: now, kind: .claimed, actorKind: .staff, actorStaffID: 3, fromStatus: .queued, toStatus: .inProgress,
                    isPublic: false, message: Self.awkward, fromUnitID: unit.id, toUnitID: unit.id, newHolderID: 3,
                    overriddenHolderID: 4),
            ]
            let documents = [DocumentInfo(
                id: 9, filename: "ktp \"scan\".pdf", contentType: "application/pdf", sizeBytes: 1234,
                sha256: Data(repeating: 0xAB, count: 32), uploadedBy: "citizen", createdAt: now)]
            let names: [StaffID: (nip: String, name: String)] = [3: ("198001012010011001", "Budi"), 4: ("198001012010011002", "Ani \"A\"")]
            var full = StaffRequestDTO(
                record, catalog: catalog, timeline: timeline, documents: documents, names: names, now: now, language: .english,
                base: "https://loket.example")
            #expect(full.attributes.text.contains(": "), "jsonb's own spelling, not JSONEncoder's")
            #expect(full.assignee != nil && full.closedAt != nil && full.audit.count == 2 && full.attributes.answers.count == 3)
            try Self.equivalent(full)
            // With the answers spelled as JSONEncoder spells them, the whole answer is the same
            // bytes: key order and spelling of every other field included.
            var spelled = full
            spelled.attributes = AttributesJSON(text: #"{"alasan":"keluarga_baru","pilihan":["a","b\"c/d"],"zeta":"x"}"#)
            try Self.same(spelled)
            try Self.same(full.documents[0])
            try Self.same(full.audit[1])
            try Self.same(full.sla)

            full.assignee = nil
            full.leaseExpiresAt = nil
            full.citizen = .init()
            full.areaCode = nil
            full.address = nil
            full.latitude = nil
            full.longitude = nil
            full.description = nil
            full.attributes = AttributesJSON(text: "{}")
            full.closedAt = nil
            full.publicMessage = nil
            full.outcome = nil
            full.rejectReason = nil
            full.documents = []
            full.audit = full.audit.map { entry in
                var entry = entry
                (entry.staff, entry.fromStatus, entry.toStatus, entry.message) = (nil, nil, nil, nil)
                (entry.fromUnit, entry.toUnit, entry.assignedTo, entry.overriddenHolder) = (nil, nil, nil, nil)
                return entry
            }
            try Self.equivalent(full)
            full.audit = []
            try Self.equivalent(full)
        }
    }
}
