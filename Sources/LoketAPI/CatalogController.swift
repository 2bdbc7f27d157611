import Crypto
import Foundation
import Hummingbird
import NIOCore
import Synchronization
import LoketCore
import LoketStore

/// The public service catalog: each active service's published standard.
struct CatalogController {
    let services: LoketServices
    /// The list's JSON, encoded once per catalog load: it is the API's most read answer (every
    /// app starts with it) and encoding 20 KB of it cost 0.7 ms of CPU per request.
    let encodedList = EncodedAnswerCache()

    func register(on router: some RouterMethods<AppContext>) {
        router.get("services", use: list)
        router.get("services/:code", use: show)
    }

    struct ServiceList: Encodable {
        var services: [ServiceDTO]
    }

    /// The list with a strong ETag; `If-None-Match` with it is answered 304 without a body.
    @Sendable func list(request: Request, context: AppContext) async throws -> Response {
        let catalog = try await services.catalog.snapshot()
        let answer = try encodedList.answer(for: catalog.generation) {
            try LoketJSON.encoder.encode(ServiceList(services: catalog.services.map { ServiceDTO($0, catalog: catalog) }))
        }
        var headers = HTTPFields()
        headers[.eTag] = answer.etag
        headers[.cacheControl] = "public, max-age=30"
        if let match = request.headers[.ifNoneMatch], EncodedAnswerCache.matches(match, etag: answer.etag) {
            return Response(status: .notModified, headers: headers)
        }
        headers[.contentType] = "application/json; charset=utf-8"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: answer.body))
    }

    @Sendable func show(request: Request, context: AppContext) async throws -> ServiceDTO {
        let code = try context.parameters.require("code")
        let catalog = try await services.catalog.snapshot()
        guard let service = catalog.servicesByCode[code] else { throw APIError.unknownService(code, field: nil) }
        return ServiceDTO(service, catalog: catalog)
    }
}

struct TextDTO: Codable, Equatable {
    var id: String
    var en: String

    init(_ pair: LocalizedPair) {
        id = pair.id
        en = pair.en
    }

    init(id: String, en: String) {
        self.id = id
        self.en = en
    }
}

struct ServiceDTO: ResponseEncodable {
    struct Attribute: Encodable {
        var code: String
        var datatype: String
        var required: Bool
        var order: Int
        var description: TextDTO
        var values: [ServiceAttribute.Value]
    }

    var code: String
    var group: String
    var name: TextDTO
    var description: TextDTO
    var requirements: [Requirement]
    var feeRupiah: Int64
    var feeNote: TextDTO?
    var responseTargetMinutes: Int
    var resolutionTargetMinutes: Int
    var responseTargetWorkingDays: Double
    var resolutionTargetWorkingDays: Double
    var calendar: String
    var allowMultipleOpen: Bool
    var attributes: [Attribute]

    enum CodingKeys: String, CodingKey {
        case code, group, name, description, requirements, calendar, attributes
        case feeRupiah = "fee_rupiah"
        case feeNote = "fee_note"
        case responseTargetMinutes = "response_target_minutes"
        case resolutionTargetMinutes = "resolution_target_minutes"
        case responseTargetWorkingDays = "response_target_working_days"
        case resolutionTargetWorkingDays = "resolution_target_working_days"
        case allowMultipleOpen = "allow_multiple_open"
    }

    init(_ service: ServiceType, catalog: CatalogSnapshot) {
        let calendar = catalog.calendar(for: service)
        func days(_ minutes: Int) -> Double { (Double(minutes) / Double(calendar.dayMinutes) * 100).rounded() / 100 }
        code = service.code
        group = service.group
        name = TextDTO(service.name)
        description = TextDTO(service.description)
        requirements = service.requirements
        feeRupiah = service.feeRupiah
        feeNote = service.feeNote.map(TextDTO.init)
        responseTargetMinutes = service.responseTargetMinutes
        resolutionTargetMinutes = service.resolutionTargetMinutes
        responseTargetWorkingDays = days(service.responseTargetMinutes)
        resolutionTargetWorkingDays = days(service.resolutionTargetMinutes)
        self.calendar = calendar.code
        allowMultipleOpen = service.allowMultipleOpen
        attributes = service.attributes.map {
            Attribute(
                code: $0.code, datatype: $0.datatype, required: $0.required, order: $0.order,
                description: TextDTO(id: $0.descriptionID, en: $0.descriptionEN), values: $0.values)
        }
    }
}

extension APIError {
    static func unknownService(_ code: String, field: String?) -> APIError {
        APIError(field == nil ? .notFound : .unprocessableContent, code: "unknown_service", message: LocalizedText(
            id: "Layanan \"\(code)\" tidak ada atau tidak aktif.", en: "There is no active service \"\(code)\"."),
            field: field)
    }
}

/// One encoded answer kept per catalog generation, with its ETag (a digest of the bytes, so equal
/// answers from different servers carry the same tag).
final class EncodedAnswerCache: Sendable {
    struct Answer: Sendable {
        var generation: UInt64
        var body: ByteBuffer
        var etag: String
    }

    private let state = Mutex<Answer?>(nil)

    func answer(for generation: UInt64, encode: () throws -> Data) throws -> Answer {
        if let cached = state.withLock({ $0 }), cached.generation == generation { return cached }
        let data = try encode()
        let digest = SHA256.hash(data: data).prefix(16).map { String(format: "%02x", $0) }.joined()
        let answer = Answer(generation: generation, body: ByteBuffer(bytes: data), etag: "\"\(digest)\"")
        state.withLock { current in
            if (current?.generation ?? 0) <= generation { current = answer }
        }
        return answer
    }

    /// Whether an If-None-Match value names `etag` (a list of tags, weak or strong, or `*`).
    static func matches(_ header: String, etag: String) -> Bool {
        header.split(separator: ",").contains { candidate in
            let tag = candidate.trimmingWhitespace(includingNewlines: false)
            return tag == "*" || tag == etag || tag == "W/" + etag
        }
    }
}
