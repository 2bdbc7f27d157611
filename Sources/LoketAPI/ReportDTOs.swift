import Foundation
import Hummingbird
import LoketCore
import LoketStore

struct IKMDTO: Codable {
    var respondents: Int
    var value: Double
    var grade: String
    var gradeLabel: String

    enum CodingKeys: String, CodingKey {
        case respondents, value, grade
        case gradeLabel = "grade_label"
    }
}

struct ReportRowDTO: Codable {
    var key: String
    var name: String
    var closed: Int
    var completed: Int
    var rejected: Int
    var cancelled: Int
    var responseOnTimePercent: Double?
    var resolutionOnTimePercent: Double?
    var medianResolutionHours: Double?
    var p90ResolutionHours: Double?
    var breaches: Int
    var escalations: Int
    var transfers: Int
    var waitingForCitizenHours: Double
    var backlog: Int
    var backlogAverageAgeDays: Double?
    var ikm: IKMDTO?

    enum CodingKeys: String, CodingKey {
        case key, name, closed, completed, rejected, cancelled, breaches, escalations, transfers, backlog, ikm
        case responseOnTimePercent = "response_on_time_percent"
        case resolutionOnTimePercent = "resolution_on_time_percent"
        case medianResolutionHours = "median_resolution_hours"
        case p90ResolutionHours = "p90_resolution_hours"
        case waitingForCitizenHours = "waiting_for_citizen_hours"
        case backlogAverageAgeDays = "backlog_average_age_days"
    }

    init(_ row: ReportRow, language: Language) {
        key = row.key
        name = row.key == "-" && row.name.isEmpty ? (language == .english ? "(no officer)" : "(tanpa petugas)") : row.name
        closed = row.closed
        completed = row.completed
        rejected = row.rejected
        cancelled = row.cancelled
        responseOnTimePercent = row.responseOnTimePercent
        resolutionOnTimePercent = row.resolutionOnTimePercent
        medianResolutionHours = row.medianResolutionHours
        p90ResolutionHours = row.p90ResolutionHours
        breaches = row.breaches
        escalations = row.escalations
        transfers = row.transfers
        waitingForCitizenHours = row.waitingForCitizenHours
        backlog = row.backlog
        backlogAverageAgeDays = row.backlogAverageAgeDays
        ikm = row.ikm.map { IKMDTO(respondents: $0.respondents, value: $0.value, grade: $0.grade.rawValue, gradeLabel: $0.grade.label(language)) }
    }
}

struct ReportDTO: ResponseEncodable {
    var by: String
    var from: String
    var to: String
    var rows: [ReportRowDTO]
    var total: ReportRowDTO

    init(_ report: Report, catalog: CatalogSnapshot, language: Language) {
        by = report.grouping.rawValue
        from = report.from.description
        // Reported as the last day included, as people read periods.
        to = report.to.adding(days: -1).description
        rows = report.rows.map { ReportRowDTO($0, language: language) }
        total = ReportRowDTO(report.total, language: language)
        if report.grouping == .service {
            // A service's name in the reader's language (the store names it in Indonesian).
            for index in rows.indices {
                rows[index].name = catalog.everyServiceByCode[rows[index].key]?.name.text(language) ?? rows[index].name
            }
        }
    }

    /// CSV with a header row (open data): one line per group, then the total.
    func csv(publicColumns: Bool) -> String {
        var header = ["key", "name", "closed", "completed", "rejected", "cancelled", "response_on_time_percent",
                      "resolution_on_time_percent", "median_resolution_hours", "p90_resolution_hours"]
        if !publicColumns { header += ["breaches", "escalations", "transfers", "waiting_for_citizen_hours", "backlog", "backlog_average_age_days"] }
        header += ["ikm_respondents", "ikm_value", "ikm_grade"]
        func field(_ value: Any?) -> String {
            guard let value else { return "" }
            var text = "\(value)"
            // A name that starts like a formula (=, +, -, @) would run as one in a spreadsheet;
            // so would one after a semicolon, where Excel set to Indonesian (whose list separator
            // it is) starts a new cell when it opens the file.
            if value is String {
                let formula = "=+-@\t\r".unicodeScalars
                var guarded = String.UnicodeScalarView()
                var cellStart = true
                for scalar in text.unicodeScalars {
                    if cellStart, formula.contains(scalar) { guarded.append("'") }
                    guarded.append(scalar)
                    cellStart = scalar == ";"
                }
                if guarded.count != text.unicodeScalars.count, text.unicodeScalars.count > 1 || text.contains(";") {
                    text = String(guarded)
                }
            }
            guard text.unicodeScalars.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return text }
            // Quotes doubled scalar by scalar: a quote that starts a grapheme cluster (one followed
            // by a combining accent) is still a quote to a CSV reader.
            var quoted = String.UnicodeScalarView()
            quoted.append("\"")
            for scalar in text.unicodeScalars {
                quoted.append(scalar)
                if scalar == "\"" { quoted.append("\"") }
            }
            quoted.append("\"")
            return String(quoted)
        }
        var lines = [header.joined(separator: ",")]
        for row in rows + [total] {
            var values: [Any?] = [row.key, row.name, row.closed, row.completed, row.rejected, row.cancelled, row.responseOnTimePercent,
                                  row.resolutionOnTimePercent, row.medianResolutionHours, row.p90ResolutionHours]
            if !publicColumns {
                values += [row.breaches, row.escalations, row.transfers, row.waitingForCitizenHours, row.backlog, row.backlogAverageAgeDays]
            }
            values += [row.ikm?.respondents, row.ikm?.value, row.ikm?.grade]
            lines.append(values.map(field).joined(separator: ","))
        }
        return lines.joined(separator: "\r\n") + "\r\n"
    }
}

struct OverdueDTO: Codable {
    var trackingCode: String
    var service: ServiceRefDTO
    var unit: UnitDTO
    var status: String
    var assignee: PersonDTO?
    var clock: String
    var dueAt: Date
    var overdueWorkingMinutes: Int
    var escalationLevel: Int
    var priority: Int

    enum CodingKeys: String, CodingKey {
        case service, unit, status, assignee, clock, priority
        case trackingCode = "tracking_code"
        case dueAt = "due_at"
        case overdueWorkingMinutes = "overdue_working_minutes"
        case escalationLevel = "escalation_level"
    }

    init(_ item: OverdueItem, catalog: CatalogSnapshot, names: [StaffID: (nip: String, name: String)], language: Language) {
        trackingCode = item.trackingCode
        let service = catalog.servicesByID[item.serviceTypeID]
        self.service = ServiceRefDTO(code: service?.code ?? "", name: service?.name.text(language) ?? "")
        let unit = catalog.units[item.unitID]
        self.unit = UnitDTO(code: unit?.code ?? "", name: unit?.name ?? "")
        status = item.status.rawValue
        assignee = item.assigneeID.flatMap { id in names[id].map { PersonDTO(nip: $0.nip, name: $0.name) } }
        clock = item.clock.rawValue
        dueAt = item.dueAt
        overdueWorkingMinutes = item.overdueWorkingMinutes
        escalationLevel = item.escalationLevel
        priority = item.priority
    }
}
