import Foundation
import HTTPTypes
import Hummingbird
import LoketCore
import LoketStore
import NIOCore

/// The manager API: breaches, reports and workload, scoped to the caller's unit subtree
/// (manager or admin tokens).
struct ManagerController {
    let services: LoketServices
    let reports: ReportStore
    let work: StaffWorkStore

    init(services: LoketServices) {
        self.services = services
        self.reports = ReportStore(pool: services.pool)
        self.work = StaffWorkStore(pool: services.pool)
    }

    func register(on group: RouterGroup<AppContext>) {
        group.add(middleware: StaffAuthMiddleware(tokens: StaffTokenStore(pool: services.pool), clock: services.clock))
        group.get("breaches", use: breaches)
        group.get("at-risk", use: atRisk)
        group.get("reports", use: report)
        group.get("workload", use: workload)
        group.get("trend", use: trend)
    }

    struct OverdueList: ResponseEncodable {
        var requests: [OverdueDTO]
    }

    @Sendable func breaches(request: Request, context: AppContext) async throws -> OverdueList {
        let (units, catalog) = try await scope(request, context)
        let items = try await reports.overdue(units: units, catalog: catalog, now: services.clock())
        return try await list(items.filter(\.isBreached), request: request, catalog: catalog, language: context.language)
    }

    @Sendable func atRisk(request: Request, context: AppContext) async throws -> OverdueList {
        let (units, catalog) = try await scope(request, context)
        let within = try integer(request, "within", default: 120, range: 1...10_000)
        let items = try await reports.overdue(units: units, catalog: catalog, now: services.clock(), withinMinutes: within)
        return try await list(items.filter { !$0.isBreached }, request: request, catalog: catalog, language: context.language)
    }

    @Sendable func report(request: Request, context: AppContext) async throws -> Response {
        let (units, catalog) = try await scope(request, context)
        let grouping = try Self.grouping(request, allowed: ReportGrouping.allCases)
        let (from, to) = try Self.period(request, now: services.clock(), timeZone: services.options.timeZone)
        let result = try await reports.report(grouping: grouping, from: from, to: to, units: units, catalog: catalog, now: services.clock())
        let dto = ReportDTO(result, catalog: catalog, language: context.language)
        if try request.queryValue("format") == "csv" { return Self.csv(dto.csv(publicColumns: false), name: "laporan-\(grouping.rawValue)") }
        return try dto.response(from: request, context: context)
    }

    struct WorkloadDTO: ResponseEncodable {
        struct Line: Encodable {
            var unit: UnitDTO
            var queued: Int
            var inProgress: Int
            var waitingCitizen: Int
            var oldestAgeDays: Double?

            enum CodingKeys: String, CodingKey {
                case unit, queued
                case inProgress = "in_progress"
                case waitingCitizen = "waiting_citizen"
                case oldestAgeDays = "oldest_age_days"
            }
        }

        var units: [Line]
    }

    @Sendable func workload(request: Request, context: AppContext) async throws -> WorkloadDTO {
        let (units, catalog) = try await scope(request, context)
        let now = services.clock()
        return WorkloadDTO(units: try await reports.workload(units: units).map { row in
            let unit = catalog.units[row.unitID]
            return WorkloadDTO.Line(
                unit: UnitDTO(code: unit?.code ?? "", name: unit?.name ?? ""), queued: row.queued, inProgress: row.inProgress,
                waitingCitizen: row.waitingCitizen,
                oldestAgeDays: row.oldestCreatedAt.map { (now.timeIntervalSince($0) / 86_400 * 10).rounded() / 10 })
        })
    }

    struct TrendDTO: ResponseEncodable {
        struct Point: Encodable {
            var month: String
            var unit: String?
            var closed: Int
            var resolutionOnTimePercent: Double?

            enum CodingKeys: String, CodingKey {
                case month, unit, closed
                case resolutionOnTimePercent = "resolution_on_time_percent"
            }
        }

        var points: [Point]
    }

    @Sendable func trend(request: Request, context: AppContext) async throws -> TrendDTO {
        let (units, catalog) = try await scope(request, context)
        let months = try integer(request, "months", default: 12, range: 1...60)
        let today = LocalDate.today(in: services.options.timeZone, now: services.clock())
        let end = ReportStore.nextMonthStart(after: today)
        let start = ReportStore.monthStart(end, minusMonths: months)
        let points = try await reports.trend(from: start, to: end, units: units, byUnit: try request.queryValue("by") == "unit")
        return TrendDTO(points: points.map {
            TrendDTO.Point(
                month: String($0.month.description.prefix(7)), unit: $0.unitID.flatMap { catalog.units[$0]?.code }, closed: $0.closed,
                resolutionOnTimePercent: $0.resolutionOnTimePercent)
        })
    }

    // MARK: Helpers

    /// The caller's subtree (managers and admins only), or one unit of it with ?unit=CODE.
    func scope(_ request: Request, _ context: AppContext) async throws -> (Set<UnitID>, CatalogSnapshot) {
        let account = try context.requireStaff()
        guard account.role >= .manager else { throw APIError.roleRequired(.manager) }
        let catalog = try await services.catalog.snapshot()
        let subtree = catalog.subtree(of: account.unitID)
        guard let code = try request.queryValue("unit"), !code.isEmpty else { return (Set(subtree), catalog) }
        guard let unit = catalog.unit(code: code) else {
            throw APIError(.badRequest, code: "unknown_unit", message: LocalizedText(id: "Unit \(code) tidak ada.", en: "There is no unit \(code)."), field: "unit")
        }
        guard subtree.contains(unit.id) else { throw APIError.outsideSubtree }
        return (Set(catalog.subtree(of: unit.id)), catalog)
    }

    /// Sorts the whole filtered list, then applies `limit`.
    func list(_ items: [OverdueItem], request: Request, catalog: CatalogSnapshot, language: Language) async throws -> OverdueList {
        var sorted = items
        if try request.queryValue("sort") == "due" { sorted.sort { ($0.dueAt, $0.trackingCode) < ($1.dueAt, $1.trackingCode) } }
        let shown = Array(sorted.prefix(try limit(request)))
        let names = try await work.staffNames(ids: shown.compactMap(\.assigneeID))
        return OverdueList(requests: shown.map { OverdueDTO($0, catalog: catalog, names: names, language: language) })
    }

    func limit(_ request: Request) throws -> Int { try integer(request, "limit", default: 200, range: 1...1000) }

    func integer(_ request: Request, _ name: String, default value: Int, range: ClosedRange<Int>) throws -> Int {
        guard let text = try request.queryValue(name), !text.isEmpty else { return value }
        guard let number = Int(text), range.contains(number) else {
            throw APIError(.badRequest, code: "invalid_\(name)", message: LocalizedText(
                id: "\(name) harus bilangan \(range.lowerBound) sampai \(range.upperBound).",
                en: "\(name) must be a number from \(range.lowerBound) to \(range.upperBound)."), field: name)
        }
        return number
    }

    static func grouping(_ request: Request, allowed: [ReportGrouping]) throws -> ReportGrouping {
        let text = try request.queryValue("by") ?? "unit"
        guard let grouping = ReportGrouping(rawValue: text), allowed.contains(grouping) else {
            let names = allowed.map(\.rawValue).joined(separator: ", ")
            throw APIError(.badRequest, code: "invalid_grouping", message: LocalizedText(
                id: "by harus salah satu dari: \(names).", en: "by must be one of: \(names)."), field: "by")
        }
        return grouping
    }

    /// `from` and `to` as YYYY-MM-DD, both included; the default is the last twelve months.
    static func period(_ request: Request, now: Date, timeZone: String) throws -> (LocalDate, LocalDate) {
        func date(_ name: String) throws -> LocalDate? {
            guard let text = try request.queryValue(name), !text.isEmpty else { return nil }
            // Years outside 1900–9999 name no period Loket can have data for, and the month
            // arithmetic of the reports (ReportStore.monthStart) is only defined for positive years.
            guard let date = try? LocalDate(iso: text), (1900...9999).contains(date.year) else {
                throw APIError(.badRequest, code: "invalid_date", message: LocalizedText(
                    id: "\(name) harus tanggal YYYY-MM-DD antara tahun 1900 dan 9999.",
                    en: "\(name) must be a date YYYY-MM-DD in the years 1900 to 9999."), field: name)
            }
            return date
        }
        // Without `from`, the twelve months ending with the month of `to` (today's by default):
        // `?to=2024-12-31` alone is the year 2024, not a period starting after it.
        let last = try date("to") ?? LocalDate.today(in: timeZone, now: now)
        let to = last.adding(days: 1)
        let from = try date("from") ?? ReportStore.monthStart(ReportStore.nextMonthStart(after: last), minusMonths: 12)
        guard from < to else {
            throw APIError(.badRequest, code: "invalid_period", message: LocalizedText(
                id: "from harus sebelum atau sama dengan to.", en: "from must not be after to."), field: "from")
        }
        guard to.daysSinceEpoch - from.daysSinceEpoch <= 3700 else {
            throw APIError(.badRequest, code: "invalid_period", message: LocalizedText(
                id: "Periode paling panjang 10 tahun.", en: "The period can be at most 10 years."), field: "from")
        }
        return (from, to)
    }

    static func csv(_ text: String, name: String) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "text/csv; charset=utf-8"
        headers[HTTPField.Name("Content-Disposition")!] = "attachment; filename=\"\(name).csv\""
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}

/// The public record: per unit or service type, volume, on-time share, median time and IKM, as JSON
/// or CSV open data. No breaches lists, no officers, no personal data.
struct TransparencyController {
    let services: LoketServices

    func register(on router: some RouterMethods<AppContext>) {
        router.get("public/transparency", use: json)
        router.get("public/transparency.csv", use: csv)
    }

    func report(_ request: Request, _ context: AppContext) async throws -> ReportDTO {
        let grouping = try ManagerController.grouping(request, allowed: [.unit, .service])
        let (from, to) = try ManagerController.period(request, now: services.clock(), timeZone: services.options.timeZone)
        let catalog = try await services.catalog.snapshot()
        let store = ReportStore(pool: services.pool)
        // The other grouping too: its rows could be taken from the total as well (the page shows both).
        async let unitReport = store.report(grouping: .unit, from: from, to: to, units: nil, catalog: catalog, now: services.clock())
        async let serviceReport = store.report(grouping: .service, from: from, to: to, units: nil, catalog: catalog, now: services.clock())
        let (byUnit, byService) = try await (unitReport, serviceReport)
        var dto = ReportDTO(grouping == .unit ? byUnit : byService, catalog: catalog, language: context.language)
        let minimum = services.options.publicIKMMinimumRespondents
        for index in dto.rows.indices where !PublicIKM.rowShown(dto.rows[index].ikm?.respondents, minimum: minimum) {
            dto.rows[index].ikm = nil
        }
        if !PublicIKM.totalShown(of: [byUnit, byService], minimum: minimum) { dto.total.ikm = nil }
        return dto
    }

    struct PublicReport: ResponseEncodable {
        struct Row: Encodable {
            var key: String
            var name: String
            var closed: Int
            var responseOnTimePercent: Double?
            var resolutionOnTimePercent: Double?
            var medianResolutionHours: Double?
            var ikm: IKMDTO?

            enum CodingKeys: String, CodingKey {
                case key, name, closed, ikm
                case responseOnTimePercent = "response_on_time_percent"
                case resolutionOnTimePercent = "resolution_on_time_percent"
                case medianResolutionHours = "median_resolution_hours"
            }

            init(_ row: ReportRowDTO) {
                key = row.key
                name = row.name
                closed = row.closed
                responseOnTimePercent = row.responseOnTimePercent
                resolutionOnTimePercent = row.resolutionOnTimePercent
                medianResolutionHours = row.medianResolutionHours
                ikm = row.ikm
            }
        }

        var by: String
        var from: String
        var to: String
        var rows: [Row]
        var total: Row
    }

    @Sendable func json(request: Request, context: AppContext) async throws -> PublicReport {
        let dto = try await report(request, context)
        return PublicReport(by: dto.by, from: dto.from, to: dto.to, rows: dto.rows.map(PublicReport.Row.init), total: .init(dto.total))
    }

    @Sendable func csv(request: Request, context: AppContext) async throws -> Response {
        let dto = try await report(request, context)
        return ManagerController.csv(dto.csv(publicColumns: true), name: "transparansi-\(dto.by)")
    }
}

/// Which IKM values the public may see. A row needs `minimum` ratings (one citizen's rating must
/// not be read off it: `APIOptions.publicIKMMinimumRespondents`). The total needs as many, and the
/// rows held back must be none or as many together: otherwise the total and the rows shown give the
/// held-back ones away (a total of 6 beside a shown row of 5 is the sixth citizen's rating).
enum PublicIKM {
    static func rowShown(_ respondents: Int?, minimum: Int) -> Bool {
        (respondents ?? 0) >= minimum
    }

    /// Whether the total may be shown beside the rows of each of `reports` (one period, one total).
    static func totalShown(of reports: [Report], minimum: Int) -> Bool {
        reports.allSatisfy { report in
            let total = report.total.ikm?.respondents ?? 0
            guard total >= minimum else { return false }
            let shown = report.rows.reduce(0) { sum, row in
                let respondents = row.ikm?.respondents ?? 0
                return sum + (rowShown(respondents, minimum: minimum) ? respondents : 0)
            }
            let withheld = total - shown
            return withheld == 0 || withheld >= minimum
        }
    }
}
