import Foundation
import HTTPTypes
import Hummingbird
import LoketCore
import LoketStore
import NIOCore
import Postgres

/// Authenticates `Authorization: Bearer lks_…` personal tokens for the staff routes.
struct StaffAuthMiddleware: RouterMiddleware {
    typealias Context = AppContext
    let tokens: StaffTokenStore
    let clock: @Sendable () -> Date

    func handle(_ request: Request, context: AppContext, next: @concurrent (Request, AppContext) async throws -> Response) async throws -> Response {
        guard let header = request.headers[.authorization] else {
            throw APIError.unauthenticated("token_required",
                id: "Sertakan token pribadi Anda: Authorization: Bearer <token> (buat dengan `loketd admin token issue`).",
                en: "Send your personal token: Authorization: Bearer <token> (issued with `loketd admin token issue`).")
        }
        guard header.lowercased().hasPrefix("bearer ") else {
            throw APIError.unauthenticated("token_invalid", id: "Header Authorization harus berbentuk Bearer <token>.",
                en: "The Authorization header must be Bearer <token>.")
        }
        let token = header.dropFirst(7).trimmingWhitespace(includingNewlines: false)
        // What is not even shaped like a token is refused before the body is read or a database
        // connection taken.
        guard StaffTokenStore.isWellFormed(token) else { throw Self.unknownToken }
        // Staff bodies are small JSON: read them before taking a database connection, so a slow
        // client never holds one while it sends (a well-formed token with a body over the limit
        // is therefore answered 413 before the token is looked up).
        var request = request
        if request.method != .get, request.method != .head {
            _ = try await request.collectBody(upTo: APILimits.maxJSONBody)
        }
        // The token lookup and the handler share one connection and one move onto its lane: the
        // handler's own `withConnection`/`transaction` gets this connection back (ConnectionPool).
        return try await tokens.pool.withConnection { _ in
            try await authenticated(token, request: request, context: context, next: next)
        }
    }

    static let unknownToken = APIError.unauthenticated(
        "token_invalid", id: "Token tidak dikenal. Periksa token atau minta token baru kepada admin.",
        en: "Unknown token. Check it or ask an administrator for a new one.")

    private func authenticated(
        _ token: String, request: Request, context: AppContext, next: (Request, AppContext) async throws -> Response
    ) async throws -> Response {
        switch try await tokens.authenticate(token, now: clock()) {
        case .success(let account):
            var context = context
            context.staff = account
            context.logger[metadataKey: "staff_nip"] = .string(account.nip)
            return try await next(request, context)
        case .failure(.malformed), .failure(.unknown):
            throw Self.unknownToken
        case .failure(.expired(let at)):
            throw APIError.unauthenticated("token_expired", id: "Token kedaluwarsa sejak \(RFC3339.string(from: at)). Minta token baru kepada admin.",
                en: "The token expired at \(RFC3339.string(from: at)). Ask an administrator for a new one.")
        case .failure(.revoked):
            throw APIError.unauthenticated("token_revoked", id: "Token telah dicabut. Minta token baru kepada admin.",
                en: "The token was revoked. Ask an administrator for a new one.")
        case .failure(.inactiveAccount):
            throw APIError.unauthenticated("account_inactive", id: "Akun petugas ini tidak aktif.", en: "This staff account is inactive.")
        }
    }
}

/// The staff API: queues, claims and the work on a request. A person acts only inside their unit
/// subtree; only the holder acts on a claimed request (a supervisor's override is recorded).
struct StaffController {
    let services: LoketServices
    let work: StaffWorkStore

    init(services: LoketServices) {
        self.services = services
        self.work = StaffWorkStore(pool: services.pool)
    }

    func register(on group: RouterGroup<AppContext>) {
        group.add(middleware: StaffAuthMiddleware(tokens: StaffTokenStore(pool: services.pool), clock: services.clock))
        group.get("me", use: me)
        group.get("queue", use: queue)
        group.get("mine", use: mine)
        group.get("escalated", use: escalated)
        group.post("claim", use: claimNext)
        group.get("requests/:code", use: detail)
        group.get("requests/:code/documents/:id", use: download)
        group.post("requests/:code/claim", use: claim)
        group.post("requests/:code/heartbeat", use: heartbeat)
        group.post("requests/:code/release", use: release)
        group.post("requests/:code/notes", use: note)
        group.post("requests/:code/ask", use: ask)
        group.post("requests/:code/reply", use: recordReply)
        group.post("requests/:code/resolve", use: resolve)
        group.post("requests/:code/reject", use: reject)
        group.post("requests/:code/transfer", use: transfer)
        group.post("requests/:code/assign", use: assign)
    }

    // MARK: Reading

    struct Me: ResponseEncodable {
        struct Token: Encodable {
            var prefix: String
            var expiresAt: Date?
            enum CodingKeys: String, CodingKey {
                case prefix
                case expiresAt = "expires_at"
            }
        }

        var id: Int64
        var nip: String
        var name: String
        var role: String
        var unit: UnitDTO
        var token: Token
    }

    @Sendable func me(request: Request, context: AppContext) async throws -> Me {
        let account = try context.requireStaff()
        let catalog = try await services.catalog.snapshot()
        let unit = catalog.units[account.unitID]
        return Me(
            id: account.id, nip: account.nip, name: account.name, role: account.role.rawValue,
            unit: UnitDTO(code: unit?.code ?? "", name: unit?.name ?? ""),
            token: .init(prefix: account.tokenPrefix, expiresAt: account.tokenExpiresAt))
    }

    struct QueueList: ResponseEncodable {
        var requests: [QueueItemDTO]
    }

    @Sendable func queue(request: Request, context: AppContext) async throws -> QueueList {
        let account = try context.requireStaff()
        let catalog = try await services.catalog.snapshot()
        let units = try scope(request, account: account, catalog: catalog)
        let items = try await work.queue(units: units, limit: limit(request))
        return try await list(items, catalog: catalog, language: context.language)
    }

    @Sendable func mine(request: Request, context: AppContext) async throws -> QueueList {
        let account = try context.requireStaff()
        let catalog = try await services.catalog.snapshot()
        return try await list(try await work.held(by: account.id), catalog: catalog, language: context.language)
    }

    @Sendable func escalated(request: Request, context: AppContext) async throws -> QueueList {
        let account = try context.requireStaff()
        guard account.role >= .supervisor else { throw APIError.roleRequired(.supervisor) }
        let catalog = try await services.catalog.snapshot()
        let units = try scope(request, account: account, catalog: catalog)
        return try await list(try await work.escalated(units: units, limit: limit(request)), catalog: catalog, language: context.language)
    }

    @Sendable func detail(request: Request, context: AppContext) async throws -> StaffRequestDTO {
        let account = try context.requireStaff()
        let catalog = try await services.catalog.snapshot()
        let record = try await inScope(code(context), account: account, catalog: catalog)
        return try await detailDTO(record, catalog: catalog, language: context.language)
    }

    @Sendable func download(request: Request, context: AppContext) async throws -> Response {
        let account = try context.requireStaff()
        let catalog = try await services.catalog.snapshot()
        let record = try await inScope(code(context), account: account, catalog: catalog)
        guard let id = context.parameters.get("id", as: Int64.self),
              let (info, content) = try await services.requests.document(requestID: record.id, documentID: id)
        else { throw APIError.documentNotFound }
        return DocumentUpload.downloadResponse(info, content: content)
    }

    // MARK: Claims

    @Sendable func claimNext(request: Request, context: AppContext) async throws -> Response {
        let account = try context.requireStaff()
        let catalog = try await services.catalog.snapshot()
        let units = try scope(request, account: account, catalog: catalog)
        let requests = services.requests
        guard let parts = try await refusals({
            try await work.claimNext(units: units, by: account.member, catalog: catalog, now: services.clock()) { record, connection in
                try await Self.detailParts(record, requests: requests, committing: true, on: connection)
            }
        }) else {
            return Response(status: .noContent)
        }
        return try detailDTO(parts, catalog: catalog, language: context.language).response(from: request, context: context)
    }

    @Sendable func claim(request: Request, context: AppContext) async throws -> StaffRequestDTO {
        try await command(request, context) { _, _ in .claim }
    }

    struct LeaseAnswer: ResponseEncodable {
        var leaseExpiresAt: Date
        enum CodingKeys: String, CodingKey { case leaseExpiresAt = "lease_expires_at" }
    }

    @Sendable func heartbeat(request: Request, context: AppContext) async throws -> LeaseAnswer {
        let account = try context.requireStaff()
        let catalog = try await services.catalog.snapshot()
        let code = try code(context)
        let until = try await refusals {
            try await work.heartbeat(trackingCode: code, by: account.member, catalog: catalog, now: services.clock())
        }
        return LeaseAnswer(leaseExpiresAt: until)
    }

    // MARK: Work on a request

    struct TextBody: Decodable, Equatable {
        var reason: String?
        var question: String?
        var message: String?
        var text: String?
        var publicMessage: String?
        var outcome: String?
        var unit: String?
        var nip: String?
        var isPublic: Bool?

        enum CodingKeys: String, CodingKey {
            case reason, question, message, text, outcome, unit, nip
            case publicMessage = "public_message"
            case isPublic = "public"
        }
    }

    @Sendable func release(request: Request, context: AppContext) async throws -> StaffRequestDTO {
        try await command(request, context) { body, _ in .release(reason: try Self.optional(body?.reason, "reason", max: 1000)) }
    }

    @Sendable func ask(request: Request, context: AppContext) async throws -> StaffRequestDTO {
        try await command(request, context) { body, _ in .askCitizen(question: try Self.required(body?.question, "question", max: 4000)) }
    }

    /// The citizen's answer to the question, given outside Loket, recorded by a supervisor.
    @Sendable func recordReply(request: Request, context: AppContext) async throws -> StaffRequestDTO {
        // The role first, as for assign: an officer who may not record is told so, whatever the body.
        if let refusal = Lifecycle.permission(.recordReply, by: .staff(try context.requireStaff().member)) {
            throw APIError(Self.status(of: refusal), refusal)
        }
        return try await command(request, context) { body, _ in .recordReply(message: try Self.required(body?.message, "message", max: 4000)) }
    }

    @Sendable func resolve(request: Request, context: AppContext) async throws -> StaffRequestDTO {
        try await command(request, context) { body, _ in
            .resolve(
                publicMessage: try Self.required(body?.publicMessage, "public_message", max: 4000),
                outcome: try Self.optional(body?.outcome, "outcome", max: 4000))
        }
    }

    @Sendable func reject(request: Request, context: AppContext) async throws -> StaffRequestDTO {
        try await command(request, context) { body, _ in .reject(reason: try Self.required(body?.reason, "reason", max: 4000)) }
    }

    @Sendable func transfer(request: Request, context: AppContext) async throws -> StaffRequestDTO {
        try await command(request, context) { body, catalog in
            let code = try Self.required(body?.unit, "unit", max: 64)
            guard let unit = catalog.unit(code: code) else {
                throw APIError.validation([.invalid("unit", code: "unknown_unit", id: "unit \(code) tidak ada", en: "there is no unit \(code)")])
            }
            // An inactive unit's queue is not worked: the request would wait there unseen.
            guard unit.active else {
                throw APIError.validation([.invalid(
                    "unit", code: "inactive_unit", id: "unit \(code) tidak aktif", en: "unit \(code) is not active")])
            }
            return .transfer(to: unit.id, reason: try Self.required(body?.reason, "reason", max: 1000))
        }
    }

    @Sendable func assign(request: Request, context: AppContext) async throws -> StaffRequestDTO {
        // The role first: an officer who may not assign must not learn from the answer whether a
        // NIP belongs to an active officer.
        let account = try context.requireStaff()
        if let refusal = Lifecycle.permission(.assign, by: .staff(account.member)) {
            throw APIError(Self.status(of: refusal), refusal)
        }
        let body = try await decodeBody(request)
        // Written as on the decree ("19900114 201503 2 002") or as the 18 digits, as admin takes it.
        let nip = try Self.required(body?.nip.map { $0.filter { !$0.isWhitespace } }, "nip", max: 18)
        // The request next, in the caller's subtree: a supervisor must not learn from the answer
        // whether a NIP belongs to an active officer by naming a request outside their reach.
        _ = try await inScope(try code(context), account: account, catalog: try await services.catalog.snapshot())
        guard let member = try await work.member(nip: nip) else {
            throw APIError.validation([.invalid("nip", code: "unknown_staff", id: "tidak ada petugas aktif dengan NIP \(nip)", en: "no active officer has NIP \(nip)")])
        }
        return try await command(request, context, body: body) { _, _ in .assign(to: member) }
    }

    @Sendable func note(request: Request, context: AppContext) async throws -> Response {
        let account = try context.requireStaff()
        let catalog = try await services.catalog.snapshot()
        let body = try await decodeBody(request)
        let text = try Self.required(body?.text, "text", max: 4000)
        let subtree = catalog.subtree(of: account.unitID)
        try await refusals {
            try await work.addNote(
                trackingCode: try code(context), text: text, isPublic: body?.isPublic ?? false, by: account.member, now: services.clock()
            ) { record in
                guard subtree.contains(record.unitID) else { throw APIError.outsideSubtree }
            }
        }
        return OperationsController.json(.created, #"{"status":"recorded"}"#)
    }

    /// Decides and applies one lifecycle command on the request in the path.
    private func command(
        _ request: Request, _ context: AppContext, body given: TextBody?? = nil,
        _ make: (TextBody?, CatalogSnapshot) throws -> RequestCommand
    ) async throws -> StaffRequestDTO {
        let account = try context.requireStaff()
        let catalog = try await services.catalog.snapshot()
        let body: TextBody?
        if let given { body = given } else { body = try await decodeBody(request) }
        let command = try make(body, catalog)
        let code = try code(context)
        let requests = services.requests
        let parts = try await refusals {
            try await requests.apply(command, by: .staff(account.member), trackingCode: code, catalog: catalog, now: services.clock()) {
                record, connection in try await Self.detailParts(record, requests: requests, committing: true, on: connection)
            }
        }
        services.outboxNotifier.poke()
        return detailDTO(parts, catalog: catalog, language: context.language)
    }

    // MARK: Helpers

    func code(_ context: AppContext) throws -> String {
        do { return try TrackingCode(parsing: try context.parameters.require("code")).description } catch let error as TrackingCodeError {
            throw APIError(.notFound, error)
        }
    }

    func limit(_ request: Request) throws -> Int {
        guard let text = try request.queryValue("limit"), !text.isEmpty else { return 50 }
        guard let value = Int(text), (1...500).contains(value) else {
            throw APIError(.badRequest, code: "invalid_limit", message: LocalizedText(id: "limit harus 1 sampai 500.", en: "limit must be 1 to 500."), field: "limit")
        }
        return value
    }

    /// The caller's unit subtree, or one unit of it with `?unit=CODE`.
    func scope(_ request: Request, account: StaffAccount, catalog: CatalogSnapshot) throws -> [UnitID] {
        let subtree = catalog.subtree(of: account.unitID)
        guard let code = try request.queryValue("unit"), !code.isEmpty else { return subtree }
        guard let unit = catalog.unit(code: code) else {
            throw APIError(.badRequest, code: "unknown_unit", message: LocalizedText(id: "Unit \(code) tidak ada.", en: "There is no unit \(code)."), field: "unit")
        }
        guard subtree.contains(unit.id) else { throw APIError.outsideSubtree }
        return catalog.subtree(of: unit.id)
    }

    /// The request, if it lies in the caller's unit subtree.
    func inScope(_ code: String, account: StaffAccount, catalog: CatalogSnapshot) async throws -> RequestRecord {
        guard let record = try await services.requests.find(trackingCode: code) else { throw APIError.requestNotFound }
        guard catalog.subtree(of: account.unitID).contains(record.unitID) else { throw APIError.outsideSubtree }
        return record
    }

    func refusals<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch RequestStoreError.notFound {
            throw APIError.requestNotFound
        } catch RequestStoreError.refused(let refusal) {
            throw await named(refusal)
        }
    }

    /// The refusal as the API answers it. Lifecycle's own messages name units and officers by
    /// internal id and instants as the machine writes them; people get the unit's code and name,
    /// the officer's name and NIP (so they know whom to talk to), and the instant in words.
    func named(_ refusal: Refusal) async -> APIError {
        var error = APIError(Self.status(of: refusal), refusal)
        func person(_ id: StaffID) async -> (nip: String, name: String)? { try? await work.staffNames(ids: [id])[id] }
        func unit(_ id: UnitID) async -> LoketStore.Unit? { try? await services.catalog.snapshot().units[id] }
        switch refusal {
        case .notHolder(let holder?):
            guard let person = await person(holder) else { break }
            error.message = LocalizedText(
                id: "Permohonan ini sedang ditangani \(person.name) (NIP \(person.nip)).",
                en: "This request is held by \(person.name) (NIP \(person.nip)).")
            error.extra = ["holder_nip": person.nip, "holder_name": person.name]
        case .alreadyHolder(let holder):
            guard let person = await person(holder) else { break }
            error.message = LocalizedText(
                id: "\(person.name) (NIP \(person.nip)) sudah memegang permohonan ini.",
                en: "\(person.name) (NIP \(person.nip)) already holds this request.")
            error.extra = ["holder_nip": person.nip, "holder_name": person.name]
        case .assigneeOutsideUnit(let assignee):
            // By the NIP the supervisor typed, not by name: the answer must not put names to the
            // NIPs of officers elsewhere in the city for whoever tries them.
            guard let person = await person(assignee) else { break }
            error.message = LocalizedText(
                id: "Petugas dengan NIP \(person.nip) tidak bekerja di unit permohonan ini atau di atasnya: tugaskan petugas unit itu, atau alihkan (transfer) permohonannya lebih dulu.",
                en: "The officer with NIP \(person.nip) does not work in this request's unit or above it: assign an officer of that unit, or transfer the request first.")
            error.extra = ["assignee_nip": person.nip]
        case .sameUnit(let id):
            guard let unit = await unit(id) else { break }
            error.message = LocalizedText(
                id: "Permohonan sudah berada di unit \(unit.code) (\(unit.name)).",
                en: "The request is already in unit \(unit.code) (\(unit.name)).")
            error.extra = ["unit": unit.code]
        case .notInUnit:
            // Which unit it is in is not the caller's to know, as for its detail (outside_unit_subtree).
            error.message = LocalizedText(
                id: "Permohonan ini berada di luar unit Anda.", en: "This request is outside your unit.")
        case .leaseNotExpired(let until):
            let zone = services.options.timeZone
            error.message = LocalizedText(
                id: "Klaim masih berlaku sampai \(HumanInstant.string(until, language: .indonesian, timeZone: zone)).",
                en: "The claim is valid until \(HumanInstant.string(until, language: .english, timeZone: zone)).")
            error.extra = ["lease_expires_at": RFC3339.string(from: until)]
        default:
            break
        }
        return error
    }

    static func status(of refusal: Refusal) -> HTTPResponse.Status {
        switch refusal {
        case .notPermitted, .notInUnit, .ownPause: return .forbidden
        case .missingText, .sameUnit, .assigneeOutsideUnit: return .unprocessableContent
        case .alreadyFinal, .wrongState, .notHolder, .leaseNotExpired, .noLease, .alreadyHolder: return .conflict
        }
    }

    func decodeBody(_ request: Request) async throws -> TextBody? {
        let buffer = try await request.body.collect(upTo: APILimits.maxJSONBody)
        if buffer.readableBytes == 0 { return nil }
        guard request.headers[.contentType]?.lowercased().hasPrefix("application/json") == true else {
            throw APIError.unsupportedMediaType("application/json")
        }
        if let body = TextBody(flat: buffer.readableBytesView) { return body }
        do {
            return try JSONDecoder().decode(TextBody.self, from: Data(buffer.readableBytesView))
        } catch let error as DecodingError {
            throw APIError.invalidJSON(RequestMiddleware.describe(error))
        }
    }

    static func required(_ value: String?, _ field: String, max: Int) throws -> String {
        guard let text = try optional(value, field, max: max) else { throw APIError.validation([.missing(field)]) }
        return text
    }

    /// Trimmed free text, nil when empty, at most `max` Unicode scalars (as PostgreSQL's
    /// char_length and the OpenAPI document's maxLength count), line breaks written as LF. Control
    /// characters other than newline and tab are refused: they cannot be stored (NUL) or would
    /// reach officers' terminals.
    static func optional(_ value: String?, _ field: String, max: Int) throws -> String? {
        guard let given = value?.trimmingWhitespace(), !given.isEmpty else { return nil }
        // Counted as sent (a CR LF is two characters, as openapi.yaml's patterns count them).
        guard given.unicodeScalars.count <= max else {
            throw APIError.validation([.invalid(field, code: "too_long", id: "paling banyak \(max) karakter", en: "at most \(max) characters")])
        }
        let text = given.normalizingLineBreaks()
        if text.containsControlCharacters() {
            throw APIError.validation([.invalid(field, code: "control_characters", id: "berisi karakter kendali", en: "contains control characters")])
        }
        return text
    }

    func list(_ items: [QueueItem], catalog: CatalogSnapshot, language: Language) async throws -> QueueList {
        let names = try await work.staffNames(ids: items.compactMap(\.assigneeID))
        let now = services.clock()
        return QueueList(requests: items.map { QueueItemDTO($0, catalog: catalog, names: names, now: now, language: language) })
    }

    /// What a staff answer shows: the record, its whole audit trail, its documents and the names of
    /// the people in them, read on one connection (inside the change's transaction when there is
    /// one; `committing` when these reads end it, as the last thing a claim or command does).
    struct DetailParts: Sendable {
        var record: RequestRecord
        var timeline: [TimelineEntry]
        var documents: [DocumentInfo]
        var names: [StaffID: (nip: String, name: String)]
    }

    static func detailParts(
        _ record: RequestRecord, requests: RequestStore, committing: Bool = false, on connection: PostgresConnection
    ) async throws -> DetailParts {
        let history = try await requests.history(of: record, includePrivate: true, staffNames: true, committing: committing, on: connection)
        return DetailParts(record: record, timeline: history.timeline, documents: history.documents, names: history.staffNames)
    }

    func detailDTO(_ record: RequestRecord, catalog: CatalogSnapshot, language: Language) async throws -> StaffRequestDTO {
        let requests = services.requests
        let parts = try await services.pool.withConnection { try await Self.detailParts(record, requests: requests, on: $0) }
        return detailDTO(parts, catalog: catalog, language: language)
    }

    func detailDTO(_ parts: DetailParts, catalog: CatalogSnapshot, language: Language) -> StaffRequestDTO {
        StaffRequestDTO(
            parts.record, catalog: catalog, timeline: parts.timeline, documents: parts.documents, names: parts.names,
            now: services.clock(), language: language, base: services.options.publicBaseURL)
    }
}

extension AppContext {
    func requireStaff() throws -> StaffAccount {
        guard let staff else {
            throw APIError.unauthenticated("token_required", id: "Diperlukan token petugas.", en: "A staff token is required.")
        }
        return staff
    }
}

extension APIError {
    static func unauthenticated(_ code: String, id: String, en: String) -> APIError {
        APIError(.unauthorized, code: code, message: LocalizedText(id: id, en: en))
    }

    static let outsideSubtree = APIError(.forbidden, code: "outside_unit_subtree", message: LocalizedText(
        id: "Permohonan ini berada di luar unit Anda dan unit di bawahnya.",
        en: "This request lies outside your unit and the units below it."))

    static func roleRequired(_ role: StaffRole) -> APIError {
        APIError(.forbidden, code: "role_required", message: LocalizedText(
            id: "Tindakan ini memerlukan peran \(role.rawValue) atau lebih tinggi.",
            en: "This action needs the \(role.rawValue) role or higher."))
    }
}

extension StaffController.TextBody {
    /// The body as `FlatJSON` reads it, or nil for anything it leaves to `JSONDecoder`: a
    /// member of the wrong type (decoded again there, for its error) included.
    init?(flat bytes: some Collection<UInt8>) {
        guard let members = FlatJSON.object(bytes) else { return nil }
        for (key, value) in members {
            guard let field = CodingKeys(rawValue: key) else { continue }
            if field == .isPublic {
                switch value {
                case .bool(let flag): isPublic = flag
                case .null: isPublic = nil
                case .string: return nil
                }
                continue
            }
            let text: String?
            switch value {
            case .string(let given): text = given
            case .null: text = nil
            case .bool: return nil
            }
            switch field {
            case .reason: reason = text
            case .question: question = text
            case .message: message = text
            case .text: self.text = text
            case .publicMessage: publicMessage = text
            case .outcome: outcome = text
            case .unit: unit = text
            case .nip: nip = text
            case .isPublic: break
            }
        }
    }
}
