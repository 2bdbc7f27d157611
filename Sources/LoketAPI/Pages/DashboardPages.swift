import Foundation
import HTTPTypes
import Hummingbird
import LoketCore
import LoketStore

/// The manager dashboard: sign-in with a personal token, a signed session cookie that names the
/// token by id, CSRF tokens on both state-changing forms, and the dashboard itself (open breaches,
/// the per-unit on-time heat map, the trend and the workload of the manager's unit subtree).
extension PagesController {
    // MARK: Sign-in

    struct SignInContent {
        var action: String
        var csrf: String
        var notice: String?
        var error: ErrorBox?
    }

    /// Why a visitor was sent back to the sign-in form (`?reason=`), in words.
    static func signInNotice(_ reason: String?, _ language: Language) -> String? {
        let english = language == .english
        switch reason {
        case "signed_out": return english ? "You are signed out." : "Anda telah keluar."
        case "session_expired": return english ? "Your session has ended. Please sign in again." : "Sesi Anda telah berakhir. Silakan masuk kembali."
        case "token_revoked": return english ? "Your token was revoked, so your session has ended." : "Token Anda telah dicabut sehingga sesi berakhir."
        case "token_expired": return english ? "Your token has expired, so your session has ended." : "Token Anda telah kedaluwarsa sehingga sesi berakhir."
        case "account_inactive": return english ? "This staff account is inactive." : "Akun petugas ini tidak aktif."
        case "role_required": return english ? "The dashboard is for managers and administrators." : "Dasbor ini untuk manajer dan admin."
        default: return nil
        }
    }

    @Sendable func signInForm(request: Request, context: AppContext) async throws -> Response {
        let page = page(request, context, path: "/dasbor/masuk")
        let notice = Self.signInNotice((try? request.queryValue("reason")) ?? nil, page.language)
        return try signInPage(page, request: request, notice: notice, error: nil, status: .ok)
    }

    /// The form with a fresh pre-session cookie and the anti-CSRF token bound to it.
    func signInPage(_ page: PageRequest, request: Request, notice: String?, error: APIError?, status: HTTPResponse.Status) throws -> Response {
        let nonce = PageKeys.nonce()
        let content = SignInContent(
            action: page.href("/dasbor/masuk"), csrf: SignInGuard.formToken(nonce: nonce, keys: keys), notice: notice,
            error: error.map { ErrorBox(code: $0.code, message: $0.message(page.language)) })
        let view = page.view(title: page.text("signin_heading"), section: .dashboard, content: content)
        var response = try renderer.response("signin", view, status: status, language: page.language, cache: .noStore)
        response.setCookie(PageCookies.signIn(nonce, secure: PageCookies.secure(request, options: services.options)))
        return response
    }

    @Sendable func signIn(request: Request, context: AppContext) async throws -> Response {
        let page = page(request, context, path: "/dasbor/masuk")
        let form = try await PageForm.read(request)
        func refuse(_ error: APIError) throws -> Response {
            try signInPage(page, request: request, notice: nil, error: error, status: error.status)
        }
        guard SignInGuard.accepts(form["csrf"], nonce: PageCookies.value(SignInGuard.cookieName, in: request), keys: keys) else {
            return try refuse(.csrfInvalid)
        }
        guard let token = form.trimmed("token") else { return try refuse(.validation([.missing("token")])) }
        let now = services.clock()
        let session: StaffSession
        switch try await sessions.signIn(token: token, now: now) {
        case .success(let found): session = found
        case .failure(let refusal): return try refuse(.tokenRefused(refusal))
        }
        guard session.account.role >= .manager else { return try refuse(.roleRequired(.manager)) }
        var expiry = now.addingTimeInterval(DashboardSession.lifetime)
        if let tokenExpiry = session.account.tokenExpiresAt, tokenExpiry < expiry { expiry = tokenExpiry }
        let dashboardSession = DashboardSession(
            tokenID: session.tokenID, staffID: session.account.id, expiresAt: Int64(expiry.timeIntervalSince1970.rounded(.down)),
            nonce: PageKeys.nonce())
        let secure = PageCookies.secure(request, options: services.options)
        var response = redirect(to: page.href("/dasbor"))
        response.setCookie(PageCookies.session(
            dashboardSession.cookieValue(keys), maxAge: max(1, Int(expiry.timeIntervalSince(now).rounded(.down))), secure: secure))
        response.setCookie(PageCookies.expired(SignInGuard.cookieName, path: "/dasbor/masuk", secure: secure))
        context.logger.info("dashboard sign-in", metadata: ["staff_nip": .string(session.account.nip), "token_id": .stringConvertible(session.tokenID)])
        return response
    }

    @Sendable func signOut(request: Request, context: AppContext) async throws -> Response {
        let page = page(request, context, path: "/dasbor")
        let form = try await PageForm.read(request)
        let secure = PageCookies.secure(request, options: services.options)
        let value = PageCookies.value(DashboardSession.cookieName, in: request)
        guard let value, let session = DashboardSession.open(value, keys: keys, now: services.clock()) else {
            // Nothing to end. A cookie sent that no longer opens is forgotten; without one, nothing
            // is touched: a form posted from another site never carries the Strict cookie, and
            // an expiring Set-Cookie in its answer would still sign the manager out.
            var response = redirect(to: page.href("/dasbor/masuk", [("reason", "session_expired")]))
            if value != nil {
                response.setCookie(PageCookies.expired(DashboardSession.cookieName, path: "/dasbor", secure: secure))
            }
            return response
        }
        guard session.acceptsCSRF(form["csrf"], keys: keys) else { throw APIError.csrfInvalid }
        // The cookie is signed, not stored: expiring it in this browser leaves any copy of it
        // valid until it expires. The session's nonce is recorded as ended so that no copy opens
        // the dashboard again.
        try await sessions.signOut(
            session: session.nonce, staffID: session.staffID, until: Date(timeIntervalSince1970: Double(session.expiresAt)),
            now: services.clock())
        context.logger.info("dashboard sign-out", metadata: ["token_id": .stringConvertible(session.tokenID)])
        var response = redirect(to: page.href("/dasbor/masuk", [("reason", "signed_out")]))
        response.setCookie(PageCookies.expired(DashboardSession.cookieName, path: "/dasbor", secure: secure))
        return response
    }

    func redirect(to location: String) -> Response {
        var response = Response(status: .seeOther)
        response.headers[.location] = location
        response.headers[.cacheControl] = "no-store"
        return response
    }

    /// The signed-in manager, or the response that sends the browser to the sign-in form. The
    /// token behind the session is checked again on every request.
    enum DashboardAccess {
        case granted(DashboardSession, StaffAccount)
        case signIn(Response)
    }

    func authenticate(_ request: Request, _ page: PageRequest) async throws -> DashboardAccess {
        let secure = PageCookies.secure(request, options: services.options)
        func back(_ reason: String?) -> Response {
            var response = redirect(to: page.href("/dasbor/masuk", reason.map { [("reason", $0)] } ?? []))
            if reason != nil { response.setCookie(PageCookies.expired(DashboardSession.cookieName, path: "/dasbor", secure: secure)) }
            return response
        }
        guard let value = PageCookies.value(DashboardSession.cookieName, in: request) else { return .signIn(back(nil)) }
        let now = services.clock()
        guard let session = DashboardSession.open(value, keys: keys, now: now) else { return .signIn(back("session_expired")) }
        switch try await sessions.account(tokenID: session.tokenID, session: session.nonce, now: now) {
        case .failure(.revoked): return .signIn(back("token_revoked"))
        case .failure(.expired): return .signIn(back("token_expired"))
        case .failure(.inactiveAccount): return .signIn(back("account_inactive"))
        case .failure(.malformed), .failure(.unknown): return .signIn(back("session_expired"))
        case .success(let account):
            guard account.id == session.staffID else { return .signIn(back("session_expired")) }
            // A manager demoted since signing in loses the dashboard at once.
            guard account.role >= .manager else { return .signIn(back("role_required")) }
            return .granted(session, account)
        }
    }

    // MARK: Dashboard

    struct BreachLine {
        var code: String
        var service: String
        var unit: String
        var status: String
        var assignee: String
        var clock: String
        var due: String
        var overdue: String
        var level: String
    }

    struct HeatCell {
        var tone: String
        var text: String
        var tip: String
    }

    struct HeatRow {
        var unit: String
        var cells: [HeatCell]
    }

    struct LegendItem {
        var tone: String
        var label: String
    }

    struct WorkloadLine {
        var unit: String
        var queued: String
        var inProgress: String
        var waiting: String
        var oldest: String
    }

    struct DashboardContent {
        var staffName: String
        var staffRole: String
        var staffUnit: String
        var signOutAction: String
        var csrf: String
        var scopeName: String
        var generatedAt: String
        var summary: [Stat]
        var breaches: [BreachLine]
        var hasBreaches: Bool
        var breachesTruncated: String?
        var heatmapMonths: [String]
        var heatmap: [HeatRow]
        var hasHeatmap: Bool
        var legend: [LegendItem]
        var trend: TrendChart
        var workload: [WorkloadLine]
        var hasWorkload: Bool
    }

    /// Breaches shown on the page; the rest are counted (the CLI and API list them all).
    static let breachRows = 100

    @Sendable func dashboard(request: Request, context: AppContext) async throws -> Response {
        let page = page(request, context, path: "/dasbor")
        let (session, account): (DashboardSession, StaffAccount)
        switch try await authenticate(request, page) {
        case .signIn(let response): return response
        case .granted(let found, let holder): (session, account) = (found, holder)
        }
        let format = page.format
        let english = format.english
        let now = services.clock()
        let catalog = try await services.catalog.snapshot()
        let units = Set(catalog.subtree(of: account.unitID))
        let today = LocalDate.today(in: timeZone, now: now)
        let end = ReportStore.nextMonthStart(after: today)
        let start = ReportStore.monthStart(end, minusMonths: 12)
        // Within two working hours of a deadline counts as at risk, as the manager API's default.
        async let overdueItems = reports.overdue(units: units, catalog: catalog, now: now, withinMinutes: 120)
        async let unitPoints = reports.trend(from: start, to: end, units: units, byUnit: true)
        async let totalPoints = reports.trend(from: start, to: end, units: units, byUnit: false)
        async let workloadRows = reports.workload(units: units)
        let (items, perUnit, total, workload) = try await (overdueItems, unitPoints, totalPoints, workloadRows)

        let breaches = items.filter(\.isBreached)
        let atRisk = items.count - breaches.count
        let shown = Array(breaches.prefix(Self.breachRows))
        let names = try await work.staffNames(ids: shown.compactMap(\.assigneeID))
        let breachLines = shown.map { item in
            BreachLine(
                code: item.trackingCode, service: catalog.servicesByID[item.serviceTypeID]?.name.text(page.language) ?? "–",
                unit: catalog.units[item.unitID]?.name ?? "–", status: item.status.label(page.language),
                assignee: item.assigneeID.flatMap { names[$0]?.name } ?? (english ? "(unassigned)" : "(belum ada)"),
                clock: item.clock == .response ? (english ? "Response" : "Tanggapan") : (english ? "Resolution" : "Penyelesaian"),
                due: format.instant(item.dueAt), overdue: format.workingHours(Double(item.overdueWorkingMinutes) / 60),
                level: format.integer(item.escalationLevel))
        }

        let months = TrendChart.fill(total, from: start, to: end)
        let monthKeys = months.map(\.month)
        var byUnit: [UnitID: [LocalDate: TrendPoint]] = [:]
        // A month in which a unit closed nothing, but took up requests others closed, is a month
        // with nothing closed here.
        for point in perUnit where point.closed > 0 {
            guard let unit = point.unitID else { continue }
            byUnit[unit, default: [:]][point.month] = point
        }
        let heatmap = byUnit.map { unitID, points -> HeatRow in
            let name = catalog.units[unitID]?.name ?? String(unitID)
            return HeatRow(unit: name, cells: monthKeys.map { month in
                guard let point = points[month] else {
                    return HeatCell(tone: "tn", text: "–", tip: "\(format.month(month)): \(english ? "nothing closed" : "tidak ada yang selesai")")
                }
                let closed = english ? "\(format.integer(point.closed)) closed" : "\(format.integer(point.closed)) selesai"
                return HeatCell(
                    tone: PageFormat.tone(point.resolutionOnTimePercent), text: format.percent(point.resolutionOnTimePercent),
                    tip: "\(format.month(month)): \(closed), \(format.percent(point.resolutionOnTimePercent)) \(english ? "on time" : "tepat waktu")")
            })
        }.sorted { $0.unit.localizedCaseInsensitiveCompare($1.unit) == .orderedAscending }

        let closed12 = months.reduce(0) { $0 + $1.closed }
        let openTotal = workload.reduce(0) { $0 + $1.queued + $1.inProgress + $1.waitingCitizen }
        let currentMonth = months.last
        let summary = [
            Stat(label: english ? "Open breaches" : "Pelanggaran terbuka", value: format.integer(breaches.count)),
            Stat(label: english ? "At risk (within 2 working hours)" : "Berisiko (≤ 2 jam kerja lagi)", value: format.integer(atRisk)),
            Stat(label: english ? "Open requests" : "Permohonan terbuka", value: format.integer(openTotal)),
            Stat(
                label: english ? "Resolved on time this month" : "Tepat waktu bulan ini", value: format.percent(currentMonth?.onTimePercent),
                note: currentMonth.map { english ? "\(format.integer($0.closed)) closed" : "\(format.integer($0.closed)) selesai" }),
            Stat(label: english ? "Closed in 12 months" : "Ditutup dalam 12 bulan", value: format.integer(closed12)),
        ]
        let content = DashboardContent(
            staffName: account.name, staffRole: Self.roleLabel(account.role, page.language),
            staffUnit: catalog.units[account.unitID]?.name ?? "–", signOutAction: page.href("/dasbor/keluar"), csrf: session.csrfToken(keys),
            scopeName: (catalog.units[account.unitID]?.name ?? "–") + (english ? " and the units below it" : " dan unit di bawahnya"),
            generatedAt: format.instant(now), summary: summary, breaches: breachLines, hasBreaches: !breachLines.isEmpty,
            breachesTruncated: breaches.count > shown.count
                ? (english
                    ? "Showing the \(shown.count) most overdue of \(format.integer(breaches.count)) breaches."
                    : "Menampilkan \(shown.count) yang paling terlambat dari \(format.integer(breaches.count)) pelanggaran.")
                : nil,
            heatmapMonths: monthKeys.map { "\(format.monthName($0.month)) \(String(format: "%02d", $0.year % 100))" },
            heatmap: heatmap, hasHeatmap: !heatmap.isEmpty,
            legend: [
                LegendItem(tone: "t0", label: "< 50%"), LegendItem(tone: "t1", label: "50–69%"), LegendItem(tone: "t2", label: "70–84%"),
                LegendItem(tone: "t3", label: "85–94%"), LegendItem(tone: "t4", label: "≥ 95%"),
                LegendItem(tone: "tn", label: english ? "nothing closed" : "tidak ada yang selesai"),
            ],
            trend: TrendChart(
                id: "grafik-tren", title: page.text("trend_heading"),
                caption: english
                    ? "Requests closed per month (bars) and the share resolved on time (line) in your units."
                    : "Permohonan ditutup (selesai, ditolak atau dibatalkan) per bulan (batang) dan persentase yang tepat waktu (garis) di unit Anda.",
                months: months, format: format),
            workload: workload.map { row in
                WorkloadLine(
                    unit: catalog.units[row.unitID]?.name ?? String(row.unitID), queued: format.integer(row.queued),
                    inProgress: format.integer(row.inProgress), waiting: format.integer(row.waitingCitizen),
                    oldest: row.oldestCreatedAt.map { format.decimal(now.timeIntervalSince($0) / 86_400) } ?? "–")
            }.sorted { $0.unit.localizedCaseInsensitiveCompare($1.unit) == .orderedAscending },
            hasWorkload: !workload.isEmpty)
        let view = page.view(title: page.text("dashboard_heading"), section: .dashboard, content: content)
        return try renderer.response("dashboard", view, language: page.language, cache: .noStore)
    }

    static func roleLabel(_ role: StaffRole, _ language: Language) -> String {
        let english = language == .english
        switch role {
        case .staff: return english ? "Officer" : "Petugas"
        case .supervisor: return english ? "Supervisor" : "Penyelia"
        case .manager: return english ? "Manager" : "Manajer"
        case .admin: return english ? "Administrator" : "Admin"
        }
    }
}

extension APIError {
    static let csrfInvalid = APIError(.forbidden, code: "csrf_invalid", message: LocalizedText(
        id: "Formulir ini sudah kedaluwarsa atau tidak berasal dari halaman ini. Muat ulang halaman lalu coba lagi.",
        en: "This form has expired or did not come from this page. Reload the page and try again."))

    /// The same codes and words as the staff API's bearer-token refusals.
    static func tokenRefused(_ refusal: TokenRefusal) -> APIError {
        switch refusal {
        case .malformed, .unknown:
            return .unauthenticated("token_invalid", id: "Token tidak dikenal. Periksa token atau minta token baru kepada admin.",
                en: "Unknown token. Check it or ask an administrator for a new one.")
        case .expired(let at):
            return .unauthenticated("token_expired", id: "Token kedaluwarsa sejak \(RFC3339.string(from: at)). Minta token baru kepada admin.",
                en: "The token expired at \(RFC3339.string(from: at)). Ask an administrator for a new one.")
        case .revoked:
            return .unauthenticated("token_revoked", id: "Token telah dicabut. Minta token baru kepada admin.",
                en: "The token was revoked. Ask an administrator for a new one.")
        case .inactiveAccount:
            return .unauthenticated("account_inactive", id: "Akun petugas ini tidak aktif.", en: "This staff account is inactive.")
        }
    }
}
