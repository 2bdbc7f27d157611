import Foundation
import HTTPTypes
import Hummingbird
import LoketCore
import LoketStore

/// Citizen tracking: the tracking code and access token are POSTed (a token in a URL would end up
/// in browser history, proxy logs and Referer headers), and the answer is never cached.
extension PagesController {
    struct ErrorBox {
        var code: String
        var message: String
    }

    struct TrackingContent {
        var result: TrackingResult?
        var error: ErrorBox?
        var action: String
        var codeValue: String
    }

    struct TrackingResult {
        struct Question {
            var text: String
            var askedAt: String
        }

        struct Event {
            var iso: String
            var at: String
            var label: String
            var message: String?
        }

        struct Document {
            var filename: String
            var size: String
            var uploadedBy: String
            var at: String
        }

        var trackingCode: String
        var statusLabel: String
        var statusClass: String
        var serviceName: String
        var unitName: String
        var applicant: String
        var createdAt: String
        var responseDue: String
        var resolutionDue: String
        var closedAt: String?
        var question: Question?
        var publicMessage: String?
        var rejectReason: String?
        var feedbackHint: String?
        var timeline: [Event]
        var documents: [Document]
        var hasDocuments: Bool
    }

    @Sendable func trackingForm(request: Request, context: AppContext) async throws -> Response {
        let page = page(request, context, path: "/lacak")
        return try trackingPage(page, TrackingContent(result: nil, error: nil, action: page.href("/lacak"), codeValue: ""), status: .ok)
    }

    @Sendable func track(request: Request, context: AppContext) async throws -> Response {
        let page = page(request, context, path: "/lacak")
        let form = try await PageForm.read(request)
        let typed = String((form.trimmed("tracking_code") ?? "").prefix(60))
        var content = TrackingContent(result: nil, error: nil, action: page.href("/lacak"), codeValue: typed)
        func refuse(_ error: APIError) throws -> Response {
            content.error = ErrorBox(code: error.code, message: error.message(page.language))
            return try trackingPage(page, content, status: error.status)
        }
        guard !typed.isEmpty else { return try refuse(.validation([.missing("tracking_code")])) }
        guard let token = form.trimmed("access_token") else { return try refuse(.validation([.missing("access_token")])) }
        let code: String
        do {
            code = try TrackingCode(parsing: typed).description
        } catch {
            return try refuse(APIError(.notFound, error))
        }
        let catalog = try await services.catalog.snapshot()
        guard let record = try await services.requests.find(trackingCode: code) else { return try refuse(.requestNotFound) }
        guard record.accepts(accessToken: token) else {
            return try refuse(APIError(.forbidden, code: "access_token_invalid", message: LocalizedText(
                id: "Token akses tidak cocok dengan permohonan ini.", en: "The access token does not match this request.")))
        }
        let detail = try await services.pool.withConnection { connection in
            let history = try await services.requests.history(of: record, includePrivate: false, staffNames: false, feedback: true, on: connection)
            return RequestDetailDTO(
                record, catalog: catalog, timeline: history.timeline, documents: history.documents, feedbackGiven: history.feedbackGiven,
                language: page.language, base: services.options.publicBaseURL)
        }
        content.result = trackingResult(detail, format: page.format)
        content.codeValue = ""
        return try trackingPage(page, content, status: .ok)
    }

    func trackingPage(_ page: PageRequest, _ content: TrackingContent, status: HTTPResponse.Status) throws -> Response {
        let title = content.result.map { "\(page.text("tracking_result_heading")) \($0.trackingCode)" } ?? page.text("tracking_heading")
        let view = page.view(title: title, section: .tracking, content: content)
        return try renderer.response("tracking", view, status: status, language: page.language, cache: .noStore)
    }

    func trackingResult(_ detail: RequestDetailDTO, format: PageFormat) -> TrackingResult {
        let english = format.english
        let statusClass: String
        switch RequestStatus(rawValue: detail.status) {
        case .queued, .inProgress: statusClass = "open"
        case .waitingCitizen: statusClass = "waiting"
        case .completed: statusClass = "done"
        case .rejected, .cancelled, .none: statusClass = "closed"
        }
        let feedbackHint: String? = detail.feedbackAllowed
            ? (english
                ? "Your rating of this service (IKM, nine questions) helps improve it: give it in the Loket app or through the citizen API."
                : "Penilaian Anda atas layanan ini (IKM, sembilan pertanyaan) membantu perbaikannya: berikan melalui aplikasi Loket atau API warga.")
            : nil
        return TrackingResult(
            trackingCode: detail.trackingCode, statusLabel: detail.statusLabel, statusClass: statusClass,
            serviceName: detail.service.name, unitName: detail.unit.name, applicant: detail.citizen.name ?? "–",
            createdAt: format.instant(detail.createdAt), responseDue: format.instant(detail.responseDueAt),
            resolutionDue: format.instant(detail.resolutionDueAt), closedAt: detail.closedAt.map(format.instant),
            question: detail.waitingFor.map {
                TrackingResult.Question(
                    text: $0.question ?? (english ? "(no message)" : "(tanpa pesan)"), askedAt: format.instant($0.askedAt))
            },
            publicMessage: detail.publicMessage, rejectReason: detail.rejectReason, feedbackHint: feedbackHint,
            timeline: detail.timeline.map {
                TrackingResult.Event(iso: RFC3339.string(from: $0.at), at: format.instant($0.at), label: $0.label, message: $0.message)
            },
            documents: detail.documents.map {
                TrackingResult.Document(
                    filename: $0.filename, size: format.bytes($0.sizeBytes),
                    uploadedBy: $0.uploadedBy == "staff" ? (english ? "Officer" : "Petugas") : (english ? "You" : "Anda"),
                    at: format.instant($0.createdAt))
            },
            hasDocuments: !detail.documents.isEmpty)
    }
}
