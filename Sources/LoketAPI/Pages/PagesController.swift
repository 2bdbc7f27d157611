import Foundation
import HTTPTypes
import Hummingbird
import LoketCore
import LoketStore

/// The server-rendered HTML pages: home, public transparency, the service catalog, citizen
/// tracking and the manager dashboard. Every page works without JavaScript and reads the same
/// stores as the JSON API, so the two never disagree.
struct PagesController {
    let services: LoketServices
    let renderer: PageRenderer
    let keys: PageKeys
    let reports: ReportStore
    let sessions: StaffSessionStore
    let work: StaffWorkStore

    init(services: LoketServices) {
        self.services = services
        // Touching the shared renderer here parses the templates while the server starts.
        self.renderer = PageRenderer.shared
        self.keys = PageKeys(secret: services.options.sessionSecret)
        self.reports = ReportStore(pool: services.pool)
        self.sessions = StaffSessionStore(pool: services.pool)
        self.work = StaffWorkStore(pool: services.pool)
    }

    func register(on router: some RouterMethods<AppContext>) {
        router.get("/", use: home)
        router.get("transparansi", use: transparency)
        router.get("layanan", use: catalog)
        router.get("layanan/:code", use: service)
        router.get("lacak", use: trackingForm)
        router.post("lacak", use: track)
        router.get("dasbor", use: dashboard)
        router.get("dasbor/masuk", use: signInForm)
        router.post("dasbor/masuk", use: signIn)
        router.post("dasbor/keluar", use: signOut)
    }

    var timeZone: String { services.options.timeZone }

    func page(_ request: Request, _ context: AppContext, path: String, keep: [String] = []) -> PageRequest {
        PageRequest(request: request, context: context, path: path, keep: keep, timeZone: timeZone)
    }

    // MARK: Home

    @Sendable func home(request: Request, context: AppContext) async throws -> Response {
        let page = page(request, context, path: "/")
        let view = page.view(title: page.text("nav_home"), section: .home, content: [String: String]())
        return try renderer.response("home", view, language: page.language, cache: .publicShort)
    }

    // MARK: Transparency

    struct Stat {
        var label: String
        var value: String
        var note: String?
    }

    struct ReportLine {
        var name: String
        var href: String?
        var closed: String
        var onTime: String
        var tone: String
        var median: String
        var ikm: String
        var ikmNote: String?
    }

    struct ReportTable {
        var heading: String
        var caption: String
        var rows: [ReportLine]
        var total: ReportLine?
    }

    struct Link {
        var href: String
        var label: String
    }

    struct TransparencyContent {
        var from: String
        var to: String
        var langField: String?
        var periodText: String
        var summary: [Stat]
        var unitChart: OnTimeBarChart?
        var trend: TrendChart
        var unitTable: ReportTable
        var serviceTable: ReportTable
        var openData: [Link]
    }

    /// The longest trend drawn: beyond two years the bars get too thin to read on a phone.
    static let maxTrendMonths = 24

    @Sendable func transparency(request: Request, context: AppContext) async throws -> Response {
        let page = page(request, context, path: "/transparansi", keep: ["from", "to"])
        let format = page.format
        let now = services.clock()
        let (from, to) = try ManagerController.period(request, now: now, timeZone: timeZone)
        let lastDay = to.adding(days: -1)
        let catalog = try await services.catalog.snapshot()
        // The trend covers the period's months (from the first of `from`'s month), the last two
        // years of it at most.
        let trendEnd = ReportStore.nextMonthStart(after: lastDay)
        let firstMonth = ReportStore.monthStart(ReportStore.nextMonthStart(after: from), minusMonths: 1)
        let trendStart = max(ReportStore.monthStart(trendEnd, minusMonths: Self.maxTrendMonths), firstMonth)
        async let unitReport = reports.report(grouping: .unit, from: from, to: to, units: nil, catalog: catalog, now: now)
        async let serviceReport = reports.report(grouping: .service, from: from, to: to, units: nil, catalog: catalog, now: now)
        async let trendPoints = reports.trend(from: trendStart, to: trendEnd, units: nil, byUnit: false)
        let (byUnit, byService, points) = try await (unitReport, serviceReport, trendPoints)

        let language = page.language
        // A unit that closed nothing in the period but has a response result (it took requests up
        // that others closed) has nothing for this table's columns: it is in the open data.
        let unitRows = byUnit.rows.filter { $0.closed > 0 }
            .sorted { $0.name.localizedCaseInsensitiveCompare($1.name) == .orderedAscending }
        // A deactivated service keeps its record and its name; only an active one has a page to
        // link to.
        let serviceRows = byService.rows.map { row -> (ReportRow, String) in
            (row, catalog.everyServiceByCode[row.key]?.name.text(language) ?? row.name)
        }.sorted { $0.1.localizedCaseInsensitiveCompare($1.1) == .orderedAscending }
        let measured = unitRows.filter { $0.resolutionOnTimePercent != nil }
        let chart = measured.isEmpty ? nil : OnTimeBarChart(
            id: "grafik-unit", title: page.text("chart_units_heading"),
            caption: language == .english
                ? "Share of closed requests resolved by their deadline, per unit, \(format.day(from)) – \(format.day(lastDay))."
                : "Persentase permohonan yang diselesaikan sebelum tenggat, per unit, \(format.day(from)) – \(format.day(lastDay)).",
            items: measured.map { ($0.name, $0.resolutionOnTimePercent) }, format: format)
        let months = TrendChart.fill(points, from: trendStart, to: trendEnd)
        let trend = TrendChart(
            id: "grafik-tren", title: page.text("trend_heading"),
            caption: language == .english
                ? "Requests closed per month (bars) and the share resolved on time (line), all units."
                : "Permohonan ditutup (selesai, ditolak atau dibatalkan) per bulan (batang) dan persentase yang tepat waktu (garis), seluruh unit.",
            months: months, format: format)
        let total = byUnit.total
        // The total's IKM only where it gives no held-back row away (`PublicIKM`).
        let totalIKMShown = PublicIKM.totalShown(of: [byUnit, byService], minimum: services.options.publicIKMMinimumRespondents)
        var summary = [
            Stat(label: language == .english ? "Requests closed" : "Permohonan ditutup", value: format.integer(total.closed)),
            Stat(
                label: language == .english ? "Resolved on time" : "Selesai tepat waktu", value: format.percent(total.resolutionOnTimePercent),
                note: total.resolutionMeasured > 0
                    ? (language == .english
                        ? "\(format.integer(total.resolutionMet)) of \(format.integer(total.resolutionMeasured))"
                        : "\(format.integer(total.resolutionMet)) dari \(format.integer(total.resolutionMeasured))")
                    : nil),
            Stat(label: language == .english ? "Taken up on time" : "Ditanggapi tepat waktu", value: format.percent(total.responseOnTimePercent)),
            Stat(label: language == .english ? "Median time to resolve" : "Median waktu penyelesaian", value: format.workingHours(total.medianResolutionHours)),
        ]
        if let ikm = totalIKMShown ? publicIKM(total) : nil {
            summary.append(Stat(
                label: language == .english ? "Satisfaction index (IKM)" : "Indeks Kepuasan Masyarakat (IKM)",
                value: "\(format.fixed2(ikm.value)) (\(ikm.grade.rawValue))", note: ikmNote(ikm, format)))
        } else if total.ikm != nil {
            summary.append(Stat(
                label: language == .english ? "Satisfaction index (IKM)" : "Indeks Kepuasan Masyarakat (IKM)", value: "–",
                note: withheldNote(format, row: total)))
        } else {
            summary.append(Stat(
                label: language == .english ? "Satisfaction index (IKM)" : "Indeks Kepuasan Masyarakat (IKM)", value: "–",
                note: language == .english ? "no feedback yet" : "belum ada penilaian"))
        }
        let periodQuery = [("from", from.description), ("to", lastDay.description)]
        let periodText = "\(format.day(from)) – \(format.day(lastDay))"
        let content = TransparencyContent(
            from: from.description, to: lastDay.description, langField: page.langField,
            periodText: periodText, summary: summary, unitChart: chart, trend: trend,
            unitTable: ReportTable(
                heading: page.text("col_unit"), caption: "\(page.text("per_unit_heading")), \(periodText)",
                rows: unitRows.map { line($0, name: $0.name, href: nil, format: format) },
                total: line(total, name: "Total", href: nil, format: format, ikmShown: totalIKMShown)),
            serviceTable: ReportTable(
                heading: page.text("col_service"), caption: "\(page.text("per_service_heading")), \(periodText)",
                rows: serviceRows.map { row, name in
                    let href = catalog.servicesByCode[row.key] == nil ? nil : page.href("/layanan/" + PageRequest.encode(row.key))
                    return line(row, name: name, href: href, format: format)
                },
                total: line(byService.total, name: "Total", href: nil, format: format, ikmShown: totalIKMShown)),
            openData: [
                Link(href: PageRequest.link("/api/v1/public/transparency", [("by", "unit")] + periodQuery), label: "Per unit, JSON"),
                Link(href: PageRequest.link("/api/v1/public/transparency.csv", [("by", "unit")] + periodQuery), label: "Per unit, CSV"),
                Link(href: PageRequest.link("/api/v1/public/transparency", [("by", "service")] + periodQuery),
                     label: language == .english ? "Per service, JSON" : "Per layanan, JSON"),
                Link(href: PageRequest.link("/api/v1/public/transparency.csv", [("by", "service")] + periodQuery),
                     label: language == .english ? "Per service, CSV" : "Per layanan, CSV"),
            ])
        let view = page.view(title: page.text("nav_transparency"), section: .transparency, content: content)
        return try renderer.response("transparency", view, language: language, cache: .publicShort)
    }

    func line(_ row: ReportRow, name: String, href: String?, format: PageFormat, ikmShown: Bool = true) -> ReportLine {
        let ikm = ikmShown ? publicIKM(row) : nil
        return ReportLine(
            name: name, href: href, closed: format.integer(row.closed), onTime: format.percent(row.resolutionOnTimePercent),
            tone: PageFormat.tone(row.resolutionOnTimePercent), median: format.workingHours(row.medianResolutionHours),
            ikm: ikm.map { "\(format.fixed2($0.value)) (\($0.grade.rawValue))" } ?? "–",
            ikmNote: ikm.map { ikmNote($0, format) } ?? (row.ikm == nil ? nil : withheldNote(format, row: row)))
    }

    /// The row's IKM if enough citizens rated to publish it (`PublicIKM`).
    func publicIKM(_ row: ReportRow) -> IKMSummary? {
        guard let ikm = row.ikm, PublicIKM.rowShown(ikm.respondents, minimum: services.options.publicIKMMinimumRespondents) else { return nil }
        return ikm
    }

    func withheldNote(_ format: PageFormat, row: ReportRow) -> String {
        let minimum = services.options.publicIKMMinimumRespondents
        if PublicIKM.rowShown(row.ikm?.respondents, minimum: minimum) {
            // A total with enough ratings, held back because the rows held back are too few.
            return format.english
                ? "not published: beside the rows it would give away ratings held back there, to keep each rating anonymous"
                : "tidak ditampilkan: bersama baris-baris di atas, nilai ini akan membuka penilaian yang disembunyikan, agar setiap penilaian tetap anonim"
        }
        return format.english
            ? "fewer than \(minimum) respondents: not published, to keep each rating anonymous"
            : "kurang dari \(minimum) responden: tidak ditampilkan agar setiap penilaian tetap anonim"
    }

    func ikmNote(_ ikm: IKMSummary, _ format: PageFormat) -> String {
        "\(ikm.grade.label(format.language)) · \(format.integer(ikm.respondents)) \(format.english ? (ikm.respondents == 1 ? "respondent" : "respondents") : "responden")"
    }

    // MARK: Catalog

    struct ServiceCard {
        var name: String
        var description: String
        var href: String
        var fee: String
        var resolutionTarget: String
        var requirementCount: String
    }

    struct ServiceGroup {
        var key: String
        var name: String
        var services: [ServiceCard]
    }

    struct CatalogContent {
        var groups: [ServiceGroup]
    }

    static func groupName(_ key: String, _ language: Language) -> String {
        let names: [String: LocalizedText] = [
            "adminduk": .init(id: "Administrasi kependudukan", en: "Civil registration"),
            "perizinan": .init(id: "Perizinan", en: "Permits and licences"),
            "sosial": .init(id: "Layanan sosial", en: "Social services"),
            "kepegawaian": .init(id: "Kepegawaian (ASN)", en: "Civil service (ASN) matters"),
            "pengaduan": .init(id: "Pengaduan", en: "Complaints"),
        ]
        return names[key]?(language) ?? key
    }

    @Sendable func catalog(request: Request, context: AppContext) async throws -> Response {
        let page = page(request, context, path: "/layanan")
        let format = page.format
        let catalog = try await services.catalog.snapshot()
        var groups: [ServiceGroup] = []
        for service in catalog.services {
            let calendar = catalog.calendar(for: service)
            let card = ServiceCard(
                name: service.name.text(page.language), description: service.description.text(page.language),
                href: page.href("/layanan/" + PageRequest.encode(service.code)), fee: format.rupiah(service.feeRupiah),
                resolutionTarget: format.workingTarget(minutes: service.resolutionTargetMinutes, dayMinutes: calendar.dayMinutes),
                requirementCount: format.english
                    ? "\(service.requirements.count) \(service.requirements.count == 1 ? "item" : "items")"
                    : "\(service.requirements.count) syarat")
            if let index = groups.firstIndex(where: { $0.key == service.group }) {
                groups[index].services.append(card)
            } else {
                groups.append(ServiceGroup(key: service.group, name: Self.groupName(service.group, page.language), services: [card]))
            }
        }
        let view = page.view(title: page.text("catalog_heading"), section: .catalog, content: CatalogContent(groups: groups))
        return try renderer.response("catalog", view, language: page.language, cache: .publicShort)
    }

    struct ServiceField {
        var label: String
        var required: Bool
        var choices: String?
    }

    struct ServiceContent {
        var backHref: String
        var code: String
        var name: String
        var description: String
        var fee: String
        var feeNote: String?
        var responseTarget: String
        var resolutionTarget: String
        var unitName: String
        var requirements: [String]
        var hasRequirements: Bool
        var fields: [ServiceField]
        var hasFields: Bool
        var apiHref: String
    }

    @Sendable func service(request: Request, context: AppContext) async throws -> Response {
        let code = try context.parameters.require("code")
        let catalog = try await services.catalog.snapshot()
        guard let service = catalog.servicesByCode[code] else { throw APIError.unknownService(code, field: nil) }
        let page = page(request, context, path: "/layanan/" + PageRequest.encode(service.code))
        let format = page.format
        let language = page.language
        let calendar = catalog.calendar(for: service)
        let requirements = service.requirements.map { language == .english ? $0.en : $0.id }
        let fields = service.attributes.sorted { $0.order < $1.order }.map { attribute in
            ServiceField(
                label: language == .english ? attribute.descriptionEN : attribute.descriptionID, required: attribute.required,
                choices: attribute.values.isEmpty ? nil : attribute.values.map(\.name).joined(separator: " · "))
        }
        let content = ServiceContent(
            backHref: page.links.catalog, code: service.code, name: service.name.text(language),
            description: service.description.text(language), fee: format.rupiah(service.feeRupiah),
            feeNote: service.feeNote?.text(language),
            responseTarget: format.workingTarget(minutes: service.responseTargetMinutes, dayMinutes: calendar.dayMinutes),
            resolutionTarget: format.workingTarget(minutes: service.resolutionTargetMinutes, dayMinutes: calendar.dayMinutes),
            unitName: catalog.units[service.defaultUnitID]?.name ?? "–", requirements: requirements,
            hasRequirements: !requirements.isEmpty, fields: fields, hasFields: !fields.isEmpty,
            apiHref: "/api/v1/services/" + PageRequest.encode(service.code))
        let view = page.view(title: service.name.text(language), section: .catalog, content: content)
        return try renderer.response("service", view, language: language, cache: .publicShort)
    }
}
