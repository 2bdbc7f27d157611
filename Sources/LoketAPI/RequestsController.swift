import Foundation
import HTTPTypes
import Hummingbird
import LoketCore
import LoketStore
import NIOCore
import Prometheus

/// The citizen's side of a request: file it, follow it, add documents, reply, cancel, give feedback.
struct RequestsController {
    let services: LoketServices
    let metrics: PrometheusCollectorRegistry

    func register(on router: some RouterMethods<AppContext>) {
        router.post("requests", use: file)
        router.get("requests/:code", use: detail)
        router.get("public/requests/:code", use: publicView)
        router.post("requests/:code/documents", use: upload)
        router.get("requests/:code/documents", use: listDocuments)
        router.get("requests/:code/documents/:id", use: download)
        router.post("requests/:code/reply", use: reply)
        router.post("requests/:code/cancel", use: cancel)
        router.post("requests/:code/feedback", use: feedback)
    }

    // MARK: Filing

    struct FileBody: Decodable {
        struct Citizen: Decodable {
            var name: String?
            var nik: String?
            var phone: String?
            var email: String?
        }

        var serviceCode: String?
        var citizen: Citizen?
        var areaCode: String?
        var address: String?
        var latitude: Double?
        var longitude: Double?
        var description: String?
        var attributes: [String: AttributeAnswer]?

        enum CodingKeys: String, CodingKey {
            case citizen, address, latitude, longitude, description, attributes
            case serviceCode = "service_code"
            case areaCode = "area_code"
        }
    }

    struct Filed: Codable {
        struct UnitRef: Codable {
            var code: String
            var name: String
        }

        struct Routing: Codable {
            var basis: String
            var explanation: String
        }

        struct Links: Codable {
            var detail: String
            var publicView: String

            enum CodingKeys: String, CodingKey {
                case detail = "self"
                case publicView = "public"
            }
        }

        var trackingCode: String
        var accessToken: String
        var status: String
        var serviceCode: String
        var unit: UnitRef
        var routing: Routing
        var createdAt: Date
        var responseDueAt: Date
        var resolutionDueAt: Date
        var expectedCompletionAt: Date
        var links: Links

        enum CodingKeys: String, CodingKey {
            case status, unit, routing, links
            case trackingCode = "tracking_code"
            case accessToken = "access_token"
            case serviceCode = "service_code"
            case createdAt = "created_at"
            case responseDueAt = "response_due_at"
            case resolutionDueAt = "resolution_due_at"
            case expectedCompletionAt = "expected_completion_at"
        }
    }

    @Sendable func file(request: Request, context: AppContext) async throws -> Response {
        try requireJSON(request)
        let body = try await request.body.collect(upTo: APILimits.maxJSONBody)
        let data = Data(body.readableBytesView)
        let parsed: FileBody
        do {
            parsed = try JSONDecoder().decode(FileBody.self, from: data)
        } catch let error as DecodingError {
            throw APIError.invalidJSON(RequestMiddleware.describe(error))
        }
        let now = services.clock()
        let idempotency = try idempotencyClaim(request, scope: "citizen", body: data)
        if let idempotency, let stored = try await services.intake.replay(idempotency, now: now) {
            var response = Self.response(stored)
            response.headers[HTTPField.Name("Idempotent-Replayed")!] = "true"
            return response
        }
        let catalog = try await services.catalog.snapshot()
        let validator = IntakeValidator(catalog: catalog, today: .today(in: services.options.timeZone, now: now))
        let fields = IntakeFields(
            serviceCode: parsed.serviceCode, name: parsed.citizen?.name, nik: parsed.citizen?.nik,
            phone: parsed.citizen?.phone, email: parsed.citizen?.email, areaCode: parsed.areaCode, address: parsed.address,
            latitude: parsed.latitude, longitude: parsed.longitude, description: parsed.description,
            attributes: parsed.attributes ?? [:])
        let newRequest = try validator.validate(fields, source: .web, partnerID: nil).get()
        let language = context.language
        let base = services.options.publicBaseURL
        let outcome = try await services.intake.file(newRequest, catalog: catalog, idempotency: idempotency, now: now) { filed in
            let answer = Filed(
                trackingCode: filed.trackingCode.description, accessToken: filed.accessToken, status: RequestStatus.queued.rawValue,
                serviceCode: newRequest.service.code, unit: .init(code: filed.unit.code, name: filed.unit.name),
                routing: .init(
                    basis: filed.routing.basis.rawValue,
                    explanation: catalog.explain(filed.routing, service: newRequest.service, language: language)),
                createdAt: filed.createdAt, responseDueAt: filed.responseDueAt, resolutionDueAt: filed.resolutionDueAt,
                expectedCompletionAt: filed.resolutionDueAt,
                links: .init(
                    detail: "\(base)/api/v1/requests/\(filed.trackingCode)",
                    publicView: "\(base)/api/v1/public/requests/\(filed.trackingCode)"))
            return StoredResponse(status: 201, contentType: "application/json; charset=utf-8", body: Data(answer.jsonBytes))
        }
        switch outcome {
        case .filed(let filed, let stored):
            metrics.makeCounter(name: "loket_requests_filed_total", labels: [("service", newRequest.service.code), ("source", "web")])
                .increment()
            services.outboxNotifier.poke()
            var response = Self.response(stored)
            response.headers[.location] = "\(base)/api/v1/requests/\(filed.trackingCode)"
            return response
        case .replay(let stored):
            var response = Self.response(stored)
            response.headers[HTTPField.Name("Idempotent-Replayed")!] = "true"
            return response
        case .idempotencyKeyReused:
            throw APIError(.unprocessableContent, code: "idempotency_key_reused", message: LocalizedText(
                id: "Idempotency-Key ini sudah dipakai untuk permintaan dengan isi berbeda. Gunakan kunci baru.",
                en: "This Idempotency-Key was already used with a different body. Use a new key."))
        case .duplicateOpen(let code?):
            throw APIError(.conflict, code: "duplicate_open_request", message: LocalizedText(
                id: "Anda masih memiliki permohonan layanan ini yang belum selesai: \(code).",
                en: "You already have an open request for this service: \(code)."),
                field: "citizen.nik", extra: ["tracking_code": code])
        case .duplicateOpen(nil):
            // Another contact than the open request's: whoever typed this NIK is not told its code.
            throw APIError(.conflict, code: "duplicate_open_request", message: LocalizedText(
                id: "Sudah ada permohonan layanan ini yang belum selesai untuk NIK ini. Nomor pelacakannya dikirim ke nomor telepon atau e-mail yang diisi saat itu; bila tidak Anda terima, hubungi unit layanan.",
                en: "An open request for this service already exists for this NIK. Its tracking code went to the phone number or e-mail given when it was filed; if you did not receive it, contact the service unit."),
                field: "citizen.nik")
        }
    }

    static func response(_ stored: StoredResponse) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = stored.contentType
        return Response(
            status: HTTPResponse.Status(code: stored.status), headers: headers,
            body: .init(byteBuffer: ByteBuffer(bytes: stored.body)))
    }

    func idempotencyClaim(_ request: Request, scope: String, body: Data) throws -> IdempotencyClaim? {
        guard let key = request.headers[.idempotencyKey] else { return nil }
        guard (1...255).contains(key.count), key.allSatisfy({ $0.isASCII && !$0.isWhitespace && $0.asciiValue! >= 0x21 && $0.asciiValue! < 0x7F }) else {
            throw APIError(.badRequest, code: "invalid_idempotency_key", message: LocalizedText(
                id: "Idempotency-Key harus 1 sampai 255 karakter ASCII tanpa spasi.",
                en: "Idempotency-Key must be 1 to 255 printable ASCII characters without spaces."),
                field: "Idempotency-Key")
        }
        // Hash the canonical form (sorted keys, no insignificant space) so that a retry whose JSON
        // was re-serialised with another key order still counts as the same body.
        let canonical = (try? JSONSerialization.jsonObject(with: body, options: [.fragmentsAllowed]))
            .flatMap { try? JSONSerialization.data(withJSONObject: $0, options: [.sortedKeys, .fragmentsAllowed]) } ?? body
        return IdempotencyClaim(scope: scope, key: key, body: canonical)
    }

    // MARK: Reading

    @Sendable func detail(request: Request, context: AppContext) async throws -> RequestDetailDTO {
        let (record, catalog) = try await authorizedRecord(request, context)
        return try await services.pool.withConnection { connection in
            let history = try await services.requests.history(of: record, includePrivate: false, staffNames: false, feedback: true, on: connection)
            return RequestDetailDTO(
                record, catalog: catalog, timeline: history.timeline, documents: history.documents, feedbackGiven: history.feedbackGiven,
                language: context.language, base: services.options.publicBaseURL)
        }
    }

    @Sendable func publicView(request: Request, context: AppContext) async throws -> PublicRequestDTO {
        let code = try trackingCode(context)
        let catalog = try await services.catalog.snapshot()
        return try await services.pool.withConnection { connection in
            guard let record = try await services.requests.find(trackingCode: code, on: connection) else {
                throw APIError.requestNotFound
            }
            let timeline = try await services.requests.timeline(requestID: record.id, includePrivate: false, on: connection)
            return PublicRequestDTO(record, catalog: catalog, timeline: timeline, language: context.language)
        }
    }

    // MARK: Documents

    @Sendable func upload(request: Request, context: AppContext) async throws -> Response {
        let (record, _) = try await authorizedRecord(request, context)
        guard !record.status.isFinal else { throw APIError.requestClosed(record.status, language: context.language) }
        let upload = try await DocumentUpload.read(request, context: context)
        let info: DocumentInfo
        do {
            // Checked again under the row's lock: the request may have closed while the body came in.
            info = try await services.requests.addDocument(
                requestID: record.id, filename: upload.filename, contentType: upload.contentType, content: upload.content,
                by: .citizen, now: services.clock())
        } catch RequestStoreError.closed(let status) {
            throw APIError.requestClosed(status, language: context.language)
        } catch RequestStoreError.notFound {
            throw APIError.requestNotFound
        } catch RequestStoreError.documentLimit {
            let count = RequestStore.maxDocuments, mebibytes = RequestStore.maxDocumentBytes >> 20
            throw APIError(.unprocessableContent, code: "document_limit", message: LocalizedText(
                id: "Satu permohonan memuat paling banyak \(count) dokumen, \(mebibytes) MiB seluruhnya.",
                en: "A request holds at most \(count) documents, \(mebibytes) MiB in all."), field: "file")
        }
        if record.status == .waitingCitizen { services.outboxNotifier.poke() }
        var response = try context.responseEncoder.encode(
            DocumentDTO(info, trackingCode: record.trackingCode, base: services.options.publicBaseURL), from: request, context: context)
        response.status = .created
        return response
    }

    struct DocumentList: ResponseEncodable {
        var documents: [DocumentDTO]
    }

    @Sendable func listDocuments(request: Request, context: AppContext) async throws -> DocumentList {
        let (record, _) = try await authorizedRecord(request, context)
        let documents = try await services.pool.withConnection { try await services.requests.documents(requestID: record.id, on: $0) }
        return DocumentList(documents: documents.map { DocumentDTO($0, trackingCode: record.trackingCode, base: services.options.publicBaseURL) })
    }

    @Sendable func download(request: Request, context: AppContext) async throws -> Response {
        let (record, _) = try await authorizedRecord(request, context)
        guard let id = context.parameters.get("id", as: Int64.self),
              let (info, content) = try await services.requests.document(requestID: record.id, documentID: id)
        else { throw APIError.documentNotFound }
        return DocumentUpload.downloadResponse(info, content: content)
    }

    // MARK: Citizen actions

    struct ReplyBody: Decodable {
        var message: String?
    }

    struct CancelBody: Decodable {
        var reason: String?
    }

    struct FeedbackBody: Decodable {
        var scores: [Int]?
        var comment: String?
    }

    // The access token first, then the body: a caller without the right token learns nothing from
    // how the body would have been judged.

    @Sendable func reply(request: Request, context: AppContext) async throws -> RequestDetailDTO {
        let (record, catalog) = try await authorizedRecord(request, context)
        let body = try await decodeOptionalJSON(ReplyBody.self, request)
        let message = try StaffController.optional(body?.message, "message", max: 4000)
        return try await act(.citizenReply(message: message), on: record, catalog: catalog, context)
    }

    @Sendable func cancel(request: Request, context: AppContext) async throws -> RequestDetailDTO {
        let (record, catalog) = try await authorizedRecord(request, context)
        let body = try await decodeOptionalJSON(CancelBody.self, request)
        let reason = try StaffController.optional(body?.reason, "reason", max: 1000)
        return try await act(.cancel(reason: reason), on: record, catalog: catalog, context)
    }

    @Sendable func feedback(request: Request, context: AppContext) async throws -> Response {
        let (record, _) = try await authorizedRecord(request, context)
        let body = try await decodeOptionalJSON(FeedbackBody.self, request)
        guard let given = body?.scores else { throw APIError.validation([.missing("scores")]) }
        let scores: IKMScores
        do { scores = try IKMScores(given) } catch { throw APIError.validation([.invalid("scores", error)]) }
        let comment = try StaffController.optional(body?.comment, "comment", max: 2000)
        do {
            try await services.requests.giveFeedback(
                trackingCode: record.trackingCode, scores: scores, comment: comment,
                now: services.clock())
        } catch RequestStoreError.feedbackAlreadyGiven {
            throw APIError(.conflict, code: "feedback_already_given", message: LocalizedText(
                id: "Penilaian untuk permohonan ini sudah diberikan.", en: "Feedback for this request was already given."))
        } catch RequestStoreError.feedbackNotAllowed(let status) {
            throw APIError(.conflict, code: "feedback_not_allowed", message: LocalizedText(
                id: "Penilaian hanya dapat diberikan setelah permohonan selesai atau ditolak (status sekarang: \(status.label(.indonesian))).",
                en: "Feedback can be given once the request is completed or rejected (status now: \(status.label(.english)))."))
        }
        var headers = HTTPFields()
        headers[.contentType] = "application/json; charset=utf-8"
        return Response(status: .created, headers: headers, body: .init(byteBuffer: ByteBuffer(string: #"{"status":"recorded"}"#)))
    }

    /// Applies the citizen's command and answers with the request's detail, read in the same
    /// transaction (with its COMMIT): a change that committed is never answered with an error
    /// because a second connection was not to be had.
    private func act(
        _ command: RequestCommand, on record: RequestRecord, catalog: CatalogSnapshot, _ context: AppContext
    ) async throws -> RequestDetailDTO {
        let requests = services.requests
        let language = context.language
        let base = services.options.publicBaseURL
        let answer: RequestDetailDTO
        do {
            answer = try await requests.apply(command, by: .citizen, trackingCode: record.trackingCode, catalog: catalog, now: services.clock()) {
                updated, connection in
                let history = try await requests.history(of: updated, includePrivate: false, staffNames: false, feedback: true, committing: true, on: connection)
                return RequestDetailDTO(
                    updated, catalog: catalog, timeline: history.timeline, documents: history.documents, feedbackGiven: history.feedbackGiven,
                    language: language, base: base)
            }
        } catch RequestStoreError.refused(let refusal) {
            throw APIError(.conflict, refusal)
        }
        services.outboxNotifier.poke()
        return answer
    }

    // MARK: Helpers

    func trackingCode(_ context: AppContext) throws -> String {
        let raw = try context.parameters.require("code")
        do {
            return try TrackingCode(parsing: raw).description
        } catch {
            throw APIError(.notFound, error)
        }
    }

    /// The request named in the path, if the caller proves it is theirs with the access token
    /// (`Authorization: Bearer …` or `X-Access-Token`).
    func authorizedRecord(_ request: Request, _ context: AppContext) async throws -> (RequestRecord, CatalogSnapshot) {
        let code = try trackingCode(context)
        guard let token = Self.accessToken(request) else {
            throw APIError(.unauthorized, code: "access_token_required", message: LocalizedText(
                id: "Sertakan token akses yang Anda terima saat mengajukan permohonan (Authorization: Bearer …).",
                en: "Send the access token you received when filing (Authorization: Bearer …)."))
        }
        let catalog = try await services.catalog.snapshot()
        guard let record = try await services.requests.find(trackingCode: code) else { throw APIError.requestNotFound }
        guard record.accepts(accessToken: token) else {
            throw APIError(.forbidden, code: "access_token_invalid", message: LocalizedText(
                id: "Token akses tidak cocok dengan permohonan ini.", en: "The access token does not match this request."))
        }
        return (record, catalog)
    }

    static func accessToken(_ request: Request) -> String? {
        if let header = request.headers[.authorization], header.lowercased().hasPrefix("bearer ") {
            let token = header.dropFirst(7).trimmingWhitespace(includingNewlines: false)
            return token.isEmpty ? nil : token
        }
        if let token = request.headers[HTTPField.Name("X-Access-Token")!], !token.isEmpty { return token }
        return nil
    }

    func requireJSON(_ request: Request) throws {
        guard let type = request.headers[.contentType]?.lowercased(), type.hasPrefix("application/json") else {
            throw APIError.unsupportedMediaType("application/json")
        }
    }

    /// A JSON body that may be absent altogether.
    func decodeOptionalJSON<T: Decodable>(_ type: T.Type, _ request: Request) async throws -> T? {
        let body = try await request.body.collect(upTo: APILimits.maxJSONBody)
        if body.readableBytes == 0 { return nil }
        try requireJSON(request)
        do {
            return try JSONDecoder().decode(T.self, from: Data(body.readableBytesView))
        } catch let error as DecodingError {
            throw APIError.invalidJSON(RequestMiddleware.describe(error))
        }
    }
}

extension APIError {
    static let requestNotFound = APIError(.notFound, code: "request_not_found", message: LocalizedText(
        id: "Tidak ada permohonan dengan kode pelacakan ini.", en: "There is no request with this tracking code."))

    static let documentNotFound = APIError(.notFound, code: "document_not_found", message: LocalizedText(
        id: "Dokumen tidak ditemukan.", en: "No such document."))

    static func requestClosed(_ status: RequestStatus, language: Language) -> APIError {
        APIError(.conflict, code: "request_closed", message: LocalizedText(
            id: "Permohonan sudah berakhir (\(status.label(.indonesian))).",
            en: "The request is closed (\(status.label(.english)))."))
    }
}
