import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import LoketCore

/// Text in both of Loket's languages.
public struct LocalizedText: Sendable, Hashable {
    public var indonesian: String
    public var english: String

    public init(id indonesian: String, en english: String) {
        self.indonesian = indonesian
        self.english = english
    }

    public func callAsFunction(_ language: Language) -> String {
        language == .english ? english : indonesian
    }
}

/// One problem with one field of the input.
public struct FieldProblem: Sendable, Hashable {
    public var field: String
    public var code: String
    public var message: LocalizedText
}

/// Every error a client can see: an HTTP status, a stable machine `code`, a message in the client's
/// language and, for validation, the field. Rendered as
/// `{"error": {"code", "message", "field", "details": [...], "request_id"}}`.
public struct APIError: Error, Sendable {
    public var status: HTTPResponse.Status
    public var code: String
    public var message: LocalizedText
    public var field: String?
    public var details: [FieldProblem] = []
    /// Extra machine-readable facts for the client, e.g. the tracking code of an existing request.
    public var extra: [String: String] = [:]
    public var retryAfterSeconds: Int?
    /// The methods the path has, sent as `Allow` with a 405.
    public var allowedMethods: [HTTPRequest.Method] = []

    public init(
        _ status: HTTPResponse.Status, code: String, message: LocalizedText, field: String? = nil,
        extra: [String: String] = [:], retryAfterSeconds: Int? = nil
    ) {
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.extra = extra
        self.retryAfterSeconds = retryAfterSeconds
    }

    /// A domain rule's refusal, with its own code and wording.
    public init(_ status: HTTPResponse.Status, _ error: some UserFacingError, field: String? = nil) {
        self.init(status, code: error.code, message: LocalizedText(id: error.message(.indonesian), en: error.message(.english)), field: field)
    }

    /// Several invalid fields at once: the first is the headline, all are in `details`.
    public static func validation(_ problems: [FieldProblem]) -> APIError {
        precondition(!problems.isEmpty)
        var error = APIError(.unprocessableContent, code: problems[0].code, message: problems[0].message, field: problems[0].field)
        error.details = problems
        return error
    }

    static func invalidJSON(_ reason: String) -> APIError {
        APIError(.badRequest, code: "invalid_json", message: LocalizedText(
            id: "Isi permintaan bukan JSON yang sah atau tidak sesuai bentuknya: \(reason)",
            en: "The request body is not valid JSON or does not have the expected shape: \(reason)"))
    }

    static let bodyTooLarge = APIError(.contentTooLarge, code: "body_too_large", message: LocalizedText(
        id: "Isi permintaan terlalu besar.", en: "The request body is too large."))

    static func unsupportedMediaType(_ expected: String) -> APIError {
        APIError(.unsupportedMediaType, code: "unsupported_media_type", message: LocalizedText(
            id: "Jenis isi permintaan tidak didukung; gunakan \(expected).",
            en: "Unsupported content type; send \(expected)."))
    }

    static let notFound = APIError(.notFound, code: "not_found", message: LocalizedText(
        id: "Alamat yang diminta tidak ada.", en: "No such resource."))

    static func serviceUnavailable(retryAfter: Int) -> APIError {
        APIError(.serviceUnavailable, code: "service_unavailable", message: LocalizedText(
            id: "Layanan sedang sibuk atau basis data tidak terjangkau. Coba lagi sebentar lagi.",
            en: "The service is busy or its database is unreachable. Please retry shortly."),
            retryAfterSeconds: retryAfter)
    }

    static let internalError = APIError(.internalServerError, code: "internal_error", message: LocalizedText(
        id: "Terjadi kesalahan pada server. Kesalahan ini telah dicatat.",
        en: "The server failed. The failure has been logged."))

    static func rateLimited(retryAfter: Int) -> APIError {
        APIError(.tooManyRequests, code: "rate_limited", message: LocalizedText(
            id: "Terlalu banyak permintaan dari alamat Anda. Coba lagi dalam \(retryAfter) detik.",
            en: "Too many requests from your address. Retry in \(retryAfter) seconds."),
            retryAfterSeconds: retryAfter)
    }
}

extension FieldProblem {
    static func missing(_ field: String) -> FieldProblem {
        FieldProblem(field: field, code: "missing_field", message: LocalizedText(
            id: "Kolom \(field) wajib diisi.", en: "The field \(field) is required."))
    }

    static func invalid(_ field: String, _ error: some UserFacingError) -> FieldProblem {
        FieldProblem(field: field, code: error.code, message: LocalizedText(
            id: "\(field): \(error.message(.indonesian))", en: "\(field): \(error.message(.english))"))
    }

    static func invalid(_ field: String, code: String, id: String, en: String) -> FieldProblem {
        FieldProblem(field: field, code: code, message: LocalizedText(id: "\(field): \(id)", en: "\(field): \(en)"))
    }
}

/// The JSON shape of an error.
struct ErrorBody: Encodable {
    struct Detail: Encodable {
        var field: String
        var code: String
        var message: String
    }

    struct Content: Encodable {
        var code: String
        var message: String
        var field: String?
        var details: [Detail]?
        var requestID: String
        var extra: [String: String]?

        enum CodingKeys: String, CodingKey {
            case code, message, field, details, extra
            case requestID = "request_id"
        }
    }

    var error: Content
}

extension APIError {
    func response(language: Language, requestID: String) -> Response {
        let body = ErrorBody(error: .init(
            code: code, message: message(language), field: field,
            details: details.isEmpty ? nil : details.map { .init(field: $0.field, code: $0.code, message: $0.message(language)) },
            requestID: requestID, extra: extra.isEmpty ? nil : extra))
        let data = (try? LoketJSON.encoder.encode(body)) ?? Data(#"{"error":{"code":"internal_error"}}"#.utf8)
        var headers = HTTPFields()
        headers[.contentType] = "application/json; charset=utf-8"
        headers[.contentLanguage] = language.rawValue
        if let retryAfterSeconds { headers[.retryAfter] = String(retryAfterSeconds) }
        if !allowedMethods.isEmpty { headers[.allow] = allowedMethods.map(\.rawValue).joined(separator: ", ") }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}
