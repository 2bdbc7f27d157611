import Foundation
import Hummingbird
import LoketCore
import LoketStore

/// The public service catalog: each active service's published standard.
struct CatalogController {
    let services: LoketServices

    func register(on router: some RouterMethods<AppContext>) {
        router.get("services", use: list)
        router.get("services/:code", use: show)
    }

    struct ServiceList: ResponseEncodable {
        var services: [ServiceDTO]
    }

    @Sendable func list(request: Request, context: AppContext) async throws -> ServiceList {
        let catalog = try await services.catalog.snapshot()
        return ServiceList(services: catalog.services.map { ServiceDTO($0, catalog: catalog) })
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
