import Foundation
import HTTPTypes
import Hummingbird
import LoketCore
import LoketStore
import NIOCore

/// Open311 GeoReport v2 under /open311/v2, so that the city's 311-style apps and aggregators can
/// read the catalog, file requests with a partner key and follow requests, in XML (required by the
/// specification and the only format some clients speak) or JSON.
///
/// Every answer, errors included, is in the format the path asks for; a path with an unknown
/// format is answered in XML. Public listings never carry a citizen's name, NIK, phone or e-mail,
/// and carry free text and location only for services marked public (see `Open311Store`).
struct Open311Controller {
    let services: LoketServices
    let store: Open311Store

    init(services: LoketServices) {
        self.services = services
        self.store = Open311Store(pool: services.pool)
    }

    func register(on router: some RouterMethods<AppContext>) {
        router.get("discovery.{format}", use: handler(discovery))
        router.get("services.{format}", use: handler(serviceList))
        router.get("requests.{format}", use: handler(requestList))
        router.post("requests.{format}", use: handler(create))
        for format in Open311Format.allCases {
            router.get("services/{service_code}.\(format.rawValue)", use: handler(serviceDefinition, format: format))
            router.get("requests/{service_request_id}.\(format.rawValue)", use: handler(requestDetail, format: format))
            router.get("tokens/{token}.\(format.rawValue)", use: handler(token, format: format))
        }
        // The router prefers the suffixed routes above; these catch `services/kk-baru.html` and the
        // like, so that an unknown format is an Open311 404 rather than Loket's JSON error.
        for collection in ["services", "requests", "tokens"] {
            router.get("\(collection)/{file}") { _, context in
                let file = context.parameters.get("file") ?? ""
                let format = file.lastIndex(of: ".").map { String(file[file.index(after: $0)...]) } ?? ""
                return Self.errorResponse(Open311Errors.unknownFormat(format), format: .xml, context: context)
            }
        }
    }

    typealias Handler = @Sendable (Request, AppContext, Open311Format) async throws -> Response

    /// Resolves the format (from the route, or the `{format}` capture), runs `body`, and turns any
    /// failure into Open311's error list in that format.
    func handler(_ body: @escaping Handler, format fixed: Open311Format? = nil) -> @Sendable (Request, AppContext) async throws -> Response {
        { request, context in
            let raw = fixed?.rawValue ?? context.parameters.get("format") ?? ""
            guard let format = Open311Format(rawValue: raw) else {
                return Self.errorResponse(Open311Errors.unknownFormat(raw), format: .xml, context: context)
            }
            do {
                return try await body(request, context, format)
            } catch {
                return Self.errorResponse(error, format: format, context: context)
            }
        }
    }

    // MARK: Discovery and catalog

    /// When the Open311 surface of Loket last changed; clients cache discovery by it.
    static let changeset = "2026-11-29T00:00:00+07:00"

    @Sendable func discovery(request: Request, context: AppContext, format: Open311Format) async throws -> Response {
        let query = try FormData(query: request)
        try checkJurisdiction(query.values("jurisdiction_id"))
        let jurisdiction = services.options.jurisdictionID
        let document = Open311Value.object([
            ("changeset", .text(Self.changeset)),
            ("contact", .text(context.language == .english
                ? "Loket, the public-service counter of \(jurisdiction): contact the Loket administrators of the city government."
                : "Loket, loket layanan publik \(jurisdiction): hubungi pengelola Loket Pemerintah Kota.")),
            ("key_service", .text(context.language == .english
                ? "Partner applications receive an api_key from the Loket administrators of \(jurisdiction); one key per application."
                : "Aplikasi mitra menerima api_key dari pengelola Loket \(jurisdiction); satu kunci untuk setiap aplikasi.")),
            ("endpoints", .list(item: "endpoint", [.object([
                ("specification", .text("http://wiki.open311.org/GeoReport_v2")),
                ("url", .text(baseURL(request) + "/open311/v2")),
                ("changeset", .text(Self.changeset)),
                ("type", .text("production")),
                ("formats", .list(item: "format", Open311Format.allCases.map { .text($0.mediaType) })),
            ])])),
        ])
        return Self.render(document, root: "discovery", format: format, context: context)
    }

    /// Open311 says `realtime` when the POST answer carries the service_request_id itself, which
    /// Loket's does (`batch` would promise a token to exchange later).
    static let serviceType = "realtime"

    @Sendable func serviceList(request: Request, context: AppContext, format: Open311Format) async throws -> Response {
        let query = try FormData(query: request)
        try checkJurisdiction(query.values("jurisdiction_id"))
        let catalog = try await services.catalog.snapshot()
        let language = context.language
        let list = catalog.services.map { service in
            Open311Value.object([
                ("service_code", .text(service.code)),
                ("service_name", .text(service.name.text(language))),
                ("description", .text(service.description.text(language))),
                ("metadata", .bool(!service.attributes.isEmpty)),
                ("type", .text(Self.serviceType)),
                ("keywords", .text(service.keywords.joined(separator: ", "))),
                ("group", .text(service.group)),
            ])
        }
        return Self.render(.list(item: "service", list), root: "services", format: format, context: context)
    }

    @Sendable func serviceDefinition(request: Request, context: AppContext, format: Open311Format) async throws -> Response {
        let query = try FormData(query: request)
        try checkJurisdiction(query.values("jurisdiction_id"))
        let code = context.parameters.get("service_code") ?? ""
        let catalog = try await services.catalog.snapshot()
        guard let service = catalog.servicesByCode[code] else { throw Open311Errors.unknownService(code) }
        let language = context.language
        let attributes = service.attributes.map { attribute in
            Open311Value.object([
                ("variable", .bool(true)),
                ("code", .text(attribute.code)),
                ("datatype", .text(attribute.datatype)),
                ("required", .bool(attribute.required)),
                ("datatype_description", .text(Self.datatypeDescription(attribute, language: language))),
                ("order", .integer(attribute.order)),
                ("description", .text(language == .english ? attribute.descriptionEN : attribute.descriptionID)),
                ("values", .list(item: "value", attribute.values.map { .object([("key", .text($0.key)), ("name", .text($0.name))]) })),
            ])
        }
        let document = Open311Value.object([
            ("service_code", .text(service.code)),
            ("attributes", .list(item: "attribute", attributes)),
        ])
        return Self.render(document, root: "service_definition", format: format, context: context)
    }

    /// How to answer an attribute, for the partner's form: the catalog's own words when it has them.
    static func datatypeDescription(_ attribute: ServiceAttribute, language: Language) -> String {
        if let given = attribute.datatypeDescription?.trimmingWhitespace(), !given.isEmpty {
            return given
        }
        let english = language == .english
        switch attribute.datatype {
        case "number":
            return english ? "A number, e.g. 120 or 7.5." : "Angka, misalnya 120 atau 7.5."
        case "datetime":
            return english
                ? "An ISO 8601 date and time with its zone, e.g. 2026-12-01T09:00:00+07:00."
                : "Tanggal dan waktu ISO 8601 beserta zonanya, misalnya 2026-12-01T09:00:00+07:00."
        case "singlevaluelist":
            return english
                ? "One key from the values, sent as attribute[\(attribute.code)]=key."
                : "Satu kunci (key) dari daftar values, dikirim sebagai attribute[\(attribute.code)]=kunci."
        case "multivaluelist":
            return english
                ? "One or more keys from the values, each sent as attribute[\(attribute.code)][]=key."
                : "Satu atau beberapa kunci (key) dari daftar values, masing-masing dikirim sebagai attribute[\(attribute.code)][]=kunci."
        case "text":
            return english ? "Text; line breaks are allowed (at most 1,000 characters)." : "Teks, boleh beberapa baris (paling banyak 1.000 karakter)."
        default:
            return english ? "One line of text (at most 1,000 characters)." : "Satu baris teks (paling banyak 1.000 karakter)."
        }
    }

    // MARK: Filing

    @Sendable func create(request: Request, context: AppContext, format: Open311Format) async throws -> Response {
        try Self.requireForm(request)
        let body = try await request.body.collect(upTo: APILimits.maxFormBody)
        let bodyData = Data(body.readableBytesView)
        let form = try FormData(decoding: bodyData)
        let query = try FormData(query: request)

        // The key may come in the body (as the specification shows) or in the query string.
        var keyProblems: [FieldProblem] = []
        let apiKey = FormData(pairs: form.pairs + query.pairs).value("api_key", problems: &keyProblems)
        if !keyProblems.isEmpty { throw Open311Errors.problems(keyProblems) }
        guard let apiKey else { throw Open311Errors.apiKeyMissing }
        guard let partnerID = try await services.partners.authenticate(key: apiKey, now: services.clock()) else {
            throw Open311Errors.apiKeyInvalid
        }
        try checkJurisdiction(form.values("jurisdiction_id") + query.values("jurisdiction_id"))

        // The format is part of what is replayed, so it is part of what the key is bound to. A
        // retry is answered before it is validated again (see `IntakeStore.replay`).
        let idempotency = try Self.idempotencyClaim(
            request, scope: "partner:\(partnerID)", body: Data("POST requests.\(format.rawValue)\n".utf8) + bodyData)
        if let idempotency, let stored = try await services.intake.replay(idempotency, now: services.clock()) {
            var response = Self.response(stored, language: nil)
            response.headers[HTTPField.Name("Idempotent-Replayed")!] = "true"
            return response
        }

        var problems: [FieldProblem] = []
        let fields = Self.intakeFields(form, problems: &problems)
        // Loket keeps no partner account or device ids (device_id is ignored); account_id is only
        // echoed in the answer, where the specification puts it, so the partner can match it up.
        let accountID = form.value("account_id", problems: &problems)
        if let accountID, accountID.count > 200 {
            problems.append(.invalid("account_id", code: "too_long", id: "paling banyak 200 karakter", en: "at most 200 characters"))
        }
        let now = services.clock()
        let catalog = try await services.catalog.snapshot()
        let validator = IntakeValidator(
            catalog: catalog, today: .today(in: services.options.timeZone, now: now), names: Self.fieldNames,
            requireIdentity: false, requireContact: false)
        let newRequest: NewRequest?
        switch validator.validate(fields, source: .open311, partnerID: partnerID) {
        case .success(let valid):
            newRequest = valid
        case .failure(let error):
            newRequest = nil
            // A malformed coordinate was already reported; "give a location" would only confuse.
            let reportedCoordinates = problems.contains { $0.code == "not_a_number" }
            problems += error.details.filter { !(reportedCoordinates && $0.code == "location_required") }
        }
        guard problems.isEmpty, let newRequest else { throw Open311Errors.problems(problems) }

        let language = context.language
        let timeZone = services.options.timeZone
        let outcome = try await services.intake.file(newRequest, catalog: catalog, idempotency: idempotency, now: now) { filed in
            let answer = Open311Value.list(item: "request", [.object([
                ("service_request_id", .text(filed.trackingCode.description)),
                ("service_notice", .text(Open311Notice.expected(
                    unit: filed.unit.name, due: filed.resolutionDueAt, language: language, timeZone: timeZone))),
                ("account_id", .text(accountID)),
            ])])
            // 200 rather than 201: deployed GeoReport clients were written against servers that
            // answer 200, and the specification names no other status.
            return StoredResponse(
                status: 200, contentType: format.contentType, body: Data(Self.serialize(answer, root: "service_requests", format: format).utf8))
        }
        switch outcome {
        case .filed(_, let stored):
            return Self.response(stored, language: language)
        case .replay(let stored):
            // The stored body is in the first request's language, which may not be this one's.
            var response = Self.response(stored, language: nil)
            response.headers[HTTPField.Name("Idempotent-Replayed")!] = "true"
            return response
        case .idempotencyKeyReused:
            throw Open311Errors.idempotencyKeyReused
        case .duplicateOpen:
            // Only a NIK makes two requests duplicates, and Open311 carries none; kept for safety.
            throw Open311Errors.duplicateOpen
        }
    }

    /// Open311 names for the fields the intake validator reports on.
    static let fieldNames: IntakeValidator.FieldNames = {
        var names = IntakeValidator.FieldNames()
        names.serviceCode = "service_code"
        names.name = "first_name/last_name"
        names.nik = "nik"
        names.phone = "phone"
        names.email = "email"
        names.contact = "email/phone"
        names.areaCode = "address_id"
        names.address = "address_string"
        names.latitude = "lat"
        names.longitude = "long"
        names.location = "lat/long"
        names.description = "description"
        names.mediaURL = "media_url"
        names.attributes = "attribute"
        names.attributesInBrackets = true
        return names
    }()

    /// The form's fields in the validator's terms, with what only the form can get wrong (repeated
    /// fields, numbers that are not numbers, HTML, malformed attribute keys) added to `problems`.
    static func intakeFields(_ form: FormData, problems: inout [FieldProblem]) -> IntakeFields {
        var fields = IntakeFields()
        fields.serviceCode = form.value("service_code", problems: &problems)
        let first = form.value("first_name", problems: &problems)?.trimmingWhitespace()
        let last = form.value("last_name", problems: &problems)?.trimmingWhitespace()
        // Each part within its own limit (openapi.yaml), so that the name they make fits its 200.
        for (field, part, limit) in [("first_name", first, 99), ("last_name", last, 100)] where (part?.unicodeScalars.count ?? 0) > limit {
            problems.append(.invalid(field, code: "too_long", id: "paling banyak \(limit) karakter", en: "at most \(limit) characters"))
        }
        let names = [first, last].compactMap { $0 }.filter { !$0.isEmpty }
        fields.name = names.isEmpty ? nil : names.joined(separator: " ")
        fields.phone = form.value("phone", problems: &problems)
        fields.email = form.value("email", problems: &problems)
        fields.areaCode = form.value("address_id", problems: &problems)
        fields.address = form.value("address_string", problems: &problems)
        // A coordinate that is not a number is reported here and neither is passed on, so that the
        // pair is not also called incomplete.
        var malformedCoordinate = false
        func coordinate(_ field: String) -> Double? {
            guard let text = form.value(field, problems: &problems) else { return nil }
            guard let value = Double(text.trimmingWhitespace(includingNewlines: false)) else {
                problems.append(.invalid(field, code: "not_a_number", id: "harus berupa angka desimal", en: "must be a decimal number"))
                malformedCoordinate = true
                return nil
            }
            return value
        }
        let latitude = coordinate("lat")
        let longitude = coordinate("long")
        if !malformedCoordinate {
            fields.latitude = latitude
            fields.longitude = longitude
        }
        fields.description = form.value("description", problems: &problems)
        if let description = fields.description, containsHTMLTag(description) {
            problems.append(.invalid("description", code: "html_not_allowed",
                id: "tidak boleh berisi tag HTML atau kode", en: "must not contain HTML tags or code"))
        }
        fields.mediaURL = form.value("media_url", problems: &problems)
        fields.attributes = attributes(form, problems: &problems)
        return fields
    }

    /// `attribute[CODE]=v` answers CODE with one value; `attribute[CODE][]=v`, repeated, with a
    /// list (a multivaluelist), as does `attribute[CODE][0]=v`, `[1]`, … Empty values count as not
    /// given.
    static func attributes(_ form: FormData, problems: inout [FieldProblem]) -> [String: AttributeAnswer] {
        var values: [String: [String]] = [:]
        var listForm: Set<String> = []
        var order: [String] = []
        for (name, value) in form.pairs where name.hasPrefix("attribute[") {
            let rest = name.dropFirst("attribute[".count)
            guard let close = rest.firstIndex(of: "]"), close != rest.startIndex else {
                problems.append(.invalid(name, code: "malformed_attribute", id: "tulis sebagai attribute[KODE]", en: "write it as attribute[CODE]"))
                continue
            }
            let code = String(rest[..<close])
            var suffix = rest[rest.index(after: close)...]
            // `attribute[CODE][0]=a&attribute[CODE][1]=b` is how PHP's http_build_query (and so
            // Guzzle's form_params) writes a list: the same list as `[]` repeated, in form order.
            if suffix.count >= 3, suffix.count <= 6, suffix.first == "[", suffix.last == "]",
               suffix.dropFirst().dropLast().allSatisfy({ ("0"..."9").contains($0) }) {
                suffix = "[]"
            }
            guard suffix.isEmpty || suffix == "[]" else {
                problems.append(.invalid(name, code: "malformed_attribute",
                    id: "tulis sebagai attribute[KODE] atau attribute[KODE][]", en: "write it as attribute[CODE] or attribute[CODE][]"))
                continue
            }
            if values[code] == nil {
                values[code] = []
                order.append(code)
            }
            if suffix == "[]" { listForm.insert(code) }
            guard !value.trimmingWhitespace().isEmpty else { continue }
            // The answers are stored as jsonb, which cannot hold NUL; other controls have no place in an answer either.
            if value.normalizingLineBreaks().containsControlCharacters() {
                problems.append(.invalid("attribute[\(code)]", code: "control_characters", id: "berisi karakter kendali", en: "contains control characters"))
                continue
            }
            values[code]?.append(value)
        }
        var answers: [String: AttributeAnswer] = [:]
        for code in order {
            guard let given = values[code], !given.isEmpty else { continue }
            answers[code] = listForm.contains(code) || given.count > 1 ? .multiple(given) : .single(given[0])
        }
        return answers
    }

    /// The specification forbids HTML and code in descriptions: a `<` that opens a tag, a closing
    /// tag, a comment or a processing instruction. A lone `<` ("5 < 7") is ordinary text.
    static func containsHTMLTag(_ text: String) -> Bool {
        let scalars = Array(text.unicodeScalars)
        var index = 0
        while index < scalars.count {
            defer { index += 1 }
            guard scalars[index] == "<", index + 1 < scalars.count else { continue }
            var next = index + 1
            if scalars[next] == "/" { next += 1 }
            guard next < scalars.count else { continue }
            let first = scalars[next]
            let opensTag = (first.isASCII && first.properties.isAlphabetic) || first == "!" || first == "?"
            // With no `>` after this opener there is none after any later one either.
            if opensTag { return scalars[(next + 1)...].contains(">") }
        }
        return false
    }

    static func requireForm(_ request: Request) throws {
        guard let header = request.headers[.contentType] else { throw Open311Errors.formRequired }
        let parts = header.split(separator: ";").map { $0.trimmingWhitespace(includingNewlines: false).lowercased() }
        guard parts.first == "application/x-www-form-urlencoded" else { throw Open311Errors.formRequired }
        for parameter in parts.dropFirst() where parameter.hasPrefix("charset=") {
            let charset = parameter.dropFirst("charset=".count).trimmingCharacters(in: CharacterSet(charactersIn: "\""))
            guard charset == "utf-8" || charset == "utf8" else { throw Open311Errors.formRequired }
        }
    }

    /// The same rules as the JSON API's Idempotency-Key.
    static func idempotencyClaim(_ request: Request, scope: String, body: Data) throws -> IdempotencyClaim? {
        guard let key = request.headers[.idempotencyKey] else { return nil }
        guard (1...255).contains(key.unicodeScalars.count), key.unicodeScalars.allSatisfy({ (0x21..<0x7F).contains($0.value) }) else {
            throw APIError(.badRequest, code: "invalid_idempotency_key", message: LocalizedText(
                id: "Idempotency-Key harus 1 sampai 255 karakter ASCII tanpa spasi.",
                en: "Idempotency-Key must be 1 to 255 printable ASCII characters without spaces."),
                field: "Idempotency-Key")
        }
        return IdempotencyClaim(scope: scope, key: key, body: body)
    }

    static func response(_ stored: StoredResponse, language: Language?) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = stored.contentType
        if let language { headers[.contentLanguage] = language.rawValue }
        return Response(
            status: HTTPResponse.Status(code: stored.status), headers: headers,
            body: .init(byteBuffer: ByteBuffer(bytes: stored.body)))
    }

    // MARK: Reading requests

    /// Open311's longest listing window, and the default one.
    static let maxSpan: TimeInterval = 90 * 24 * 3600

    @Sendable func requestList(request: Request, context: AppContext, format: Open311Format) async throws -> Response {
        let query = try FormData(query: request)
        try checkJurisdiction(query.values("jurisdiction_id"))
        var problems: [FieldProblem] = []
        // The filters are read, and a malformed one refused, even when named requests override them.
        var statuses: [RequestStatus] = []
        for word in query.list("status") {
            switch word.lowercased() {
            case "open": statuses += Open311Store.openStatuses
            case "closed": statuses += Open311Store.closedStatuses
            default:
                problems.append(.invalid("status", code: "invalid_status",
                    id: "\"\(word)\" bukan status yang sah (open, closed)", en: "\"\(word)\" is not a valid status (open, closed)"))
            }
        }
        let start = Self.instant(query.value("start_date", problems: &problems), field: "start_date", problems: &problems)
        let end = Self.instant(query.value("end_date", problems: &problems), field: "end_date", problems: &problems)
        let rows: [Open311Request]
        let ids = query.list("service_request_id")
        if !ids.isEmpty {
            if !problems.isEmpty { throw Open311Errors.problems(problems) }
            // Named requests override every other filter, as the specification says.
            guard ids.count <= Open311Store.maxResults else {
                throw Open311Errors.problems([.invalid("service_request_id", code: "too_many",
                    id: "paling banyak \(Open311Store.maxResults) kode", en: "at most \(Open311Store.maxResults) ids")])
            }
            var codes: [String] = []
            for id in ids {
                // A malformed id cannot name a request; it simply matches nothing.
                if let code = try? TrackingCode(parsing: id).description, !codes.contains(code) { codes.append(code) }
            }
            rows = try await store.requests(trackingCodes: codes)
        } else {
            let window = Self.window(start: start, end: end, now: services.clock(), problems: &problems)
            if !problems.isEmpty { throw Open311Errors.problems(problems) }
            rows = try await store.requests(
                from: window.lowerBound, through: window.upperBound, serviceCodes: query.list("service_code"),
                statuses: Array(Set(statuses)))
        }
        return Self.render(requests(rows, context: context), root: "service_requests", format: format, context: context)
    }

    /// The created_at range to list: both ends as given (at most 90 days apart), one end and 90 days
    /// from it, or the last 90 days.
    static func window(start: Date?, end: Date?, now: Date, problems: inout [FieldProblem]) -> ClosedRange<Date> {
        switch (start, end) {
        case (nil, nil):
            return now.addingTimeInterval(-maxSpan)...now
        case (let start?, nil):
            return start...start.addingTimeInterval(maxSpan)
        case (nil, let end?):
            return end.addingTimeInterval(-maxSpan)...end
        case (let start?, let end?):
            if end < start {
                problems.append(.invalid("end_date", code: "end_before_start",
                    id: "tidak boleh sebelum start_date", en: "must not be before start_date"))
                return start...start
            }
            if end.timeIntervalSince(start) > maxSpan {
                problems.append(.invalid("end_date", code: "range_too_long",
                    id: "rentang start_date sampai end_date paling panjang 90 hari", en: "start_date to end_date may span at most 90 days"))
            }
            return start...end
        }
    }

    /// An ISO 8601 instant with its zone. A `+` left unencoded in a query string arrives as a
    /// space (`…T00:00:00 07:00`), a common client slip that is read as the offset it meant.
    static func instant(_ text: String?, field: String, problems: inout [FieldProblem]) -> Date? {
        guard let text = text?.trimmingWhitespace(includingNewlines: false) else { return nil }
        if let date = RFC3339.date(from: text) ?? RFC3339.date(from: text.replacingOccurrences(of: " ", with: "+")) {
            return date
        }
        problems.append(.invalid(field, code: "invalid_datetime",
            id: "harus berupa waktu ISO 8601 dengan zona, misalnya 2026-01-01T00:00:00+07:00",
            en: "must be an ISO 8601 instant with a zone, e.g. 2026-01-01T00:00:00Z"))
        return nil
    }

    @Sendable func requestDetail(request: Request, context: AppContext, format: Open311Format) async throws -> Response {
        let query = try FormData(query: request)
        try checkJurisdiction(query.values("jurisdiction_id"))
        let raw = context.parameters.get("service_request_id") ?? ""
        guard let code = try? TrackingCode(parsing: raw).description, let row = try await store.request(trackingCode: code) else {
            throw Open311Errors.requestNotFound(raw)
        }
        return Self.render(requests([row], context: context), root: "service_requests", format: format, context: context)
    }

    /// Loket answers POST requests with the service_request_id itself, so it never hands out
    /// tokens. A client that asks anyway (some always do) may use the tracking code as its token:
    /// it gets the same id back. Anything else is an unknown token, 404.
    @Sendable func token(request: Request, context: AppContext, format: Open311Format) async throws -> Response {
        let query = try FormData(query: request)
        try checkJurisdiction(query.values("jurisdiction_id"))
        let raw = context.parameters.get("token") ?? ""
        guard let code = try? TrackingCode(parsing: raw).description, try await store.exists(trackingCode: code) else {
            throw Open311Errors.tokenNotFound(raw)
        }
        let document = Open311Value.list(item: "request", [.object([
            ("service_request_id", .text(code)),
            ("token", .text(code)),
        ])])
        return Self.render(document, root: "service_requests", format: format, context: context)
    }

    /// The listing fields of the specification. Personal data is not even read (see
    /// `Open311Store`); the text and location of private services, already withheld by the query,
    /// are withheld again here so that neither layer alone can expose them.
    func requests(_ rows: [Open311Request], context: AppContext) -> Open311Value {
        let language = context.language
        let timeZone = services.options.timeZone
        return .list(item: "request", rows.map { row in
            let notice = row.status.isFinal
                ? Open311Notice.closed(status: row.status, at: row.closedAt ?? row.updatedAt, language: language, timeZone: timeZone)
                : Open311Notice.expected(unit: row.unitName, due: row.resolutionDueAt, language: language, timeZone: timeZone)
            return .object([
                ("service_request_id", .text(row.trackingCode)),
                ("status", .text(row.status.isFinal ? "closed" : "open")),
                ("status_notes", .text(row.serviceIsPublic ? row.statusNotes : nil)),
                ("service_name", .text(row.serviceName.text(language))),
                ("service_code", .text(row.serviceCode)),
                ("description", .text(row.serviceIsPublic ? row.description : nil)),
                ("agency_responsible", .text(row.unitName)),
                ("service_notice", .text(notice)),
                ("requested_datetime", .text(RFC3339.string(from: row.createdAt))),
                // For a closed request the specification wants the closing instant here.
                ("updated_datetime", .text(RFC3339.string(from: row.closedAt ?? row.updatedAt))),
                ("expected_datetime", .text(RFC3339.string(from: row.resolutionDueAt))),
                ("address", .text(row.serviceIsPublic ? row.address : nil)),
                ("address_id", .text(row.areaCode)),
                // Loket records areas by Kemendagri code, not postal codes.
                ("zipcode", .text(nil)),
                ("lat", .number(row.serviceIsPublic ? row.latitude : nil)),
                ("long", .number(row.serviceIsPublic ? row.longitude : nil)),
                ("media_url", .text(row.serviceIsPublic ? row.mediaURL : nil)),
            ])
        })
    }

    // MARK: Shared pieces

    /// Loket serves one jurisdiction: `jurisdiction_id` may be left out, but if given it must be ours.
    func checkJurisdiction(_ given: [String]) throws {
        let ours = services.options.jurisdictionID
        if let other = given.first(where: { $0.trimmingWhitespace(includingNewlines: false).lowercased() != ours.lowercased() }) {
            throw Open311Errors.unknownJurisdiction(other)
        }
    }

    /// The configured public address, or else the one the client used (a host name only).
    func baseURL(_ request: Request) -> String {
        let configured = services.options.publicBaseURL
        if !configured.isEmpty { return configured }
        guard let authority = request.head.authority, !authority.isEmpty,
              authority.unicodeScalars.allSatisfy({ $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || ".-:[]".unicodeScalars.contains($0)) })
        else { return "" }
        // Behind a proxy that ends TLS the request arrives as http: the proxy's X-Forwarded-Proto
        // (when it is trusted) says what the client used.
        let scheme = PageCookies.secure(request, options: services.options) ? "https" : request.head.scheme ?? "http"
        return "\(scheme)://\(authority)"
    }

    static func serialize(_ value: Open311Value, root: String, format: Open311Format) -> String {
        switch format {
        case .json: value.json
        case .xml: value.xml(root: root)
        }
    }

    static func render(
        _ value: Open311Value, root: String, format: Open311Format, context: AppContext, status: HTTPResponse.Status = .ok
    ) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = format.contentType
        headers[.contentLanguage] = context.language.rawValue
        return Response(
            status: status, headers: headers,
            body: .init(byteBuffer: ByteBuffer(string: serialize(value, root: root, format: format))))
    }

    /// Open311's error list: 403 for the api_key, 404 for what does not exist, 400 for any other
    /// refusal; each problem is one entry whose code is the HTTP status, as in the specification's
    /// examples. A database outage stays 503 with Retry-After (retrying helps), and an unexpected
    /// failure 500 (logged by the shared mapping).
    static func errorResponse(_ error: any Error, format: Open311Format, context: AppContext) -> Response {
        let apiError = RequestMiddleware.apiError(for: error, logger: context.logger)
        let status: HTTPResponse.Status = switch apiError.status.code {
        case 403, 404, 429, 500...599: apiError.status
        default: .badRequest
        }
        let language = context.language
        let messages = apiError.details.isEmpty ? [apiError.message(language)] : apiError.details.map { $0.message(language) }
        let document = Open311Value.list(item: "error", messages.map {
            .object([("code", .integer(status.code)), ("description", .text($0))])
        })
        var response = render(document, root: "errors", format: format, context: context, status: status)
        if let retry = apiError.retryAfterSeconds { response.headers[.retryAfter] = String(retry) }
        return response
    }
}

/// The formats Loket speaks Open311 in, by path suffix.
enum Open311Format: String, CaseIterable, Sendable {
    case xml, json

    var mediaType: String {
        switch self {
        case .xml: "text/xml"
        case .json: "application/json"
        }
    }

    var contentType: String { mediaType + "; charset=utf-8" }
}

/// An Open311 document before it is written as JSON or XML. Objects keep their field order (the
/// specification's), and a list knows the element name of its items for XML.
indirect enum Open311Value: Sendable {
    /// A string; nil is JSON null and an empty XML element.
    case text(String?)
    case integer(Int)
    /// A decimal (coordinates); nil as for `text`.
    case number(Double?)
    case bool(Bool)
    case object([(String, Open311Value)])
    case list(item: String, [Open311Value])

    /// Shortest round-trip decimal (Swift's own), valid as a JSON number and as XML text.
    static func numberText(_ value: Double) -> String {
        "\(value)"
    }

    var json: String {
        var output = ""
        writeJSON(to: &output)
        return output
    }

    private func writeJSON(to output: inout String) {
        switch self {
        case .text(nil), .number(nil):
            output += "null"
        case .text(let text?):
            Self.writeJSONString(text, to: &output)
        case .integer(let value):
            output += String(value)
        case .number(let value?):
            output += value.isFinite ? Self.numberText(value) : "null"
        case .bool(let value):
            output += value ? "true" : "false"
        case .object(let fields):
            output += "{"
            for (index, (key, value)) in fields.enumerated() {
                if index > 0 { output += "," }
                Self.writeJSONString(key, to: &output)
                output += ":"
                value.writeJSON(to: &output)
            }
            output += "}"
        case .list(_, let values):
            output += "["
            for (index, value) in values.enumerated() {
                if index > 0 { output += "," }
                value.writeJSON(to: &output)
            }
            output += "]"
        }
    }

    private static func writeJSONString(_ text: String, to output: inout String) {
        output += "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": output += "\\\""
            case "\\": output += "\\\\"
            case "\n": output += "\\n"
            case "\r": output += "\\r"
            case "\t": output += "\\t"
            default:
                if scalar.value < 0x20 {
                    output += String(format: "\\u%04x", scalar.value)
                } else {
                    output.unicodeScalars.append(scalar)
                }
            }
        }
        output += "\""
    }
}

/// `service_notice`: what the citizen (through the partner app) can expect, in words.
enum Open311Notice {
    static func expected(unit: String, due: Date, language: Language, timeZone: String) -> String {
        let when = HumanInstant.string(due, language: language, timeZone: timeZone)
        return language == .english
            ? "The request is handled by \(unit) and is expected to be completed by \(when)."
            : "Permohonan ditangani oleh \(unit) dan diperkirakan selesai pada \(when)."
    }

    static func closed(status: RequestStatus, at: Date, language: Language, timeZone: String) -> String {
        let when = HumanInstant.string(at, language: language, timeZone: timeZone)
        return language == .english
            ? "The request was \(status.label(.english)) on \(when)."
            : "Permohonan \(status.label(.indonesian)) pada \(when)."
    }
}

/// `application/x-www-form-urlencoded` data, from a POST body or a query string, decoded as the
/// WHATWG URL standard says: `+` is a space, `%XX` a byte, a `%` without two hex digits stays as
/// it is. The decoded bytes must be UTF-8 (Open311 requires it) and free of NUL, which PostgreSQL
/// text cannot hold.
struct FormData {
    private(set) var pairs: [(name: String, value: String)]

    init(pairs: [(name: String, value: String)]) {
        self.pairs = pairs
    }

    init(decoding bytes: some Collection<UInt8>) throws {
        pairs = []
        for segment in bytes.split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: true) {
            let equals = segment.firstIndex(of: UInt8(ascii: "="))
            let rawName = segment[segment.startIndex..<(equals ?? segment.endIndex)]
            let rawValue = equals.map { segment[segment.index(after: $0)...] } ?? segment[segment.endIndex...]
            guard let name = Self.decode(rawName), let value = Self.decode(rawValue) else { throw Open311Errors.malformedForm }
            if name.isEmpty { continue }
            pairs.append((name, value))
        }
    }

    /// The request's query string (none is an empty form).
    init(query request: Request) throws {
        try self.init(decoding: Array((request.uri.query ?? "").utf8))
    }

    static func decode(_ bytes: some Collection<UInt8>) -> String? {
        let input = Array(bytes)
        var output: [UInt8] = []
        output.reserveCapacity(input.count)
        var index = 0
        while index < input.count {
            let byte = input[index]
            if byte == UInt8(ascii: "+") {
                output.append(UInt8(ascii: " "))
            } else if byte == UInt8(ascii: "%"), index + 2 < input.count,
                      let high = hexValue(input[index + 1]), let low = hexValue(input[index + 2]) {
                output.append(high << 4 | low)
                index += 2
            } else {
                output.append(byte)
            }
            index += 1
        }
        guard !output.contains(0), let text = String(validating: output, as: UTF8.self) else { return nil }
        return text
    }

    static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    /// Every non-blank value given for `name`. Blank values are dropped: Open311 treats an empty
    /// parameter exactly like an absent one.
    func values(_ name: String) -> [String] {
        pairs.filter { $0.name == name && !$0.value.trimmingWhitespace().isEmpty }.map(\.value)
    }

    /// The one value of `name`, nil when absent or blank. The same value repeated is harmless;
    /// different values are a problem, since either could be the one meant. A blank beside a value
    /// is that value: Open311 reads an empty parameter as an absent one, and partners send
    /// `api_key=` in the query beside the key in the body (the JSON API, whose parameters are
    /// single-valued by its document, refuses any differing repeat: `Request.queryValue`).
    func value(_ name: String, problems: inout [FieldProblem]) -> String? {
        let given = values(name)
        guard let first = given.first else { return nil }
        if given.contains(where: { $0 != first }) {
            problems.append(.invalid(name, code: "conflicting_values",
                id: "diberikan lebih dari sekali dengan nilai berbeda", en: "given more than once with different values"))
            return nil
        }
        return first
    }

    /// A comma-separated list, which may also be spread over repeated parameters; blank items are dropped.
    func list(_ name: String) -> [String] {
        values(name).flatMap { $0.split(separator: ",") }
            .map { $0.trimmingWhitespace(includingNewlines: false) }
            .filter { !$0.isEmpty }
    }
}

/// The refusals particular to Open311, in both languages.
enum Open311Errors {
    static let apiKeyMissing = APIError(.forbidden, code: "api_key_missing", message: LocalizedText(
        id: "api_key wajib disertakan untuk mengajukan permohonan melalui Open311.",
        en: "An api_key is required to file requests through Open311."))

    static let apiKeyInvalid = APIError(.forbidden, code: "api_key_invalid", message: LocalizedText(
        id: "api_key tidak dikenal atau sudah dicabut.", en: "The api_key is unknown or has been revoked."))

    static func unknownJurisdiction(_ given: String) -> APIError {
        APIError(.notFound, code: "unknown_jurisdiction", message: LocalizedText(
            id: "jurisdiction_id \"\(given)\" tidak dilayani di sini.", en: "jurisdiction_id \"\(given)\" is not served here."))
    }

    static func unknownFormat(_ given: String) -> APIError {
        APIError(.notFound, code: "unknown_format", message: LocalizedText(
            id: "Format \"\(given)\" tidak tersedia; gunakan .xml atau .json.",
            en: "The format \"\(given)\" is not available; use .xml or .json."))
    }

    static func unknownService(_ code: String) -> APIError {
        APIError(.notFound, code: "unknown_service", message: LocalizedText(
            id: "Layanan \"\(code)\" tidak ada atau tidak aktif.", en: "There is no active service \"\(code)\"."))
    }

    static func requestNotFound(_ id: String) -> APIError {
        APIError(.notFound, code: "request_not_found", message: LocalizedText(
            id: "Tidak ada permohonan dengan service_request_id \"\(id)\".", en: "There is no request with service_request_id \"\(id)\"."))
    }

    static func tokenNotFound(_ token: String) -> APIError {
        APIError(.notFound, code: "token_not_found", message: LocalizedText(
            id: "Token \"\(token)\" tidak dikenal.", en: "The token \"\(token)\" is unknown."))
    }

    static let formRequired = APIError(.badRequest, code: "unsupported_media_type", message: LocalizedText(
        id: "Kirim isi permintaan sebagai application/x-www-form-urlencoded; charset=utf-8.",
        en: "Send the body as application/x-www-form-urlencoded; charset=utf-8."))

    static let malformedForm = APIError(.badRequest, code: "malformed_form", message: LocalizedText(
        id: "Parameter tidak dapat dibaca: pengodean persen harus menghasilkan teks UTF-8 tanpa karakter NUL.",
        en: "The parameters cannot be read: percent-encoding must yield UTF-8 text without NUL characters."))

    static let idempotencyKeyReused = APIError(.badRequest, code: "idempotency_key_reused", message: LocalizedText(
        id: "Idempotency-Key ini sudah dipakai untuk permintaan dengan isi berbeda. Gunakan kunci baru.",
        en: "This Idempotency-Key was already used with a different body. Use a new key."))

    static let duplicateOpen = APIError(.badRequest, code: "duplicate_open_request", message: LocalizedText(
        id: "Sudah ada permohonan layanan ini yang belum selesai untuk pemohon yang sama.",
        en: "The same applicant already has an open request for this service."))

    /// Validation problems, all at once. An unknown service_code is a missing resource (404), as
    /// the specification's POST errors say; any other problem makes it a 400.
    static func problems(_ problems: [FieldProblem]) -> APIError {
        var error = APIError.validation(problems)
        error.status = problems.contains { $0.code == "unknown_service" } ? .notFound : .badRequest
        return error
    }
}
