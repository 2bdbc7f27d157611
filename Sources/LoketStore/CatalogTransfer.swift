import Foundation
import LoketCore
import Postgres

/// A JSON value exactly as a catalog file or a jsonb column holds it. Escalation policies,
/// requirements and attributes travel through import and export in this form rather than as
/// decoded Swift types, so that `{}` (the default policy) stays `{}` and a round trip returns
/// what was written.
public enum CatalogJSON: Sendable, Hashable, Codable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([CatalogJSON])
    case object([String: CatalogJSON])

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([CatalogJSON].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: CatalogJSON].self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .number(let value):
            // Whole numbers are written without a fraction, as jsonb and people write them.
            if value == value.rounded(), abs(value) < 9_007_199_254_740_992 {
                try container.encode(Int64(value))
            } else {
                try container.encode(value)
            }
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }

    /// How a problem message names the kind of value it found.
    var kindDescription: String {
        switch self {
        case .null: "null"
        case .bool(let value): "\(value)"
        case .number(let value): "the number \(CatalogJSON.number(value).compactText)"
        case .string(let value): "the string \"\(value.count > 40 ? String(value.prefix(40)) + "…" : value)\""
        case .array: "an array"
        case .object: "an object"
        }
    }

    var compactText: String {
        guard let data = try? JSONEncoder().encode(self) else { return "?" }
        return String(decoding: data, as: UTF8.self)
    }

    var isEmptyObject: Bool {
        if case .object(let fields) = self { return fields.isEmpty }
        return false
    }
}

/// The catalog as a file: calendars with hours and holidays, units, areas, service types and
/// routing rules, which refer to one another by code and never by database id. See
/// docs/admin.md for the format.
public struct CatalogFile: Sendable, Equatable, Encodable {
    /// The value of the file's "format" key; a later incompatible layout gets a new one.
    public static let formatName = "loket-catalog/1"

    public var calendars: [CalendarEntry] = []
    public var units: [UnitEntry] = []
    public var areas: [AreaEntry] = []
    public var serviceTypes: [ServiceTypeEntry] = []
    public var routingRules: [RoutingRuleEntry] = []

    public init() {}

    public struct CalendarEntry: Sendable, Equatable, Encodable {
        public var code: String
        public var name: String
        public var timeZone: String
        public var dayMinutes: Int
        /// The weekly hours; nil when an import leaves the stored hours as they are.
        public var intervals: [WorkingInterval]?
        /// Added or updated by (calendar, date); an import never deletes a holiday.
        public var holidays: [Holiday]

        enum CodingKeys: String, CodingKey {
            case code, name, intervals, holidays
            case timeZone = "time_zone"
            case dayMinutes = "day_minutes"
        }

        private struct IntervalText: Encodable {
            var weekday: Int
            var start: String
            var end: String
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(code, forKey: .code)
            try container.encode(name, forKey: .name)
            try container.encode(timeZone, forKey: .timeZone)
            try container.encode(dayMinutes, forKey: .dayMinutes)
            if let intervals {
                try container.encode(
                    intervals.map {
                        IntervalText(weekday: $0.weekday, start: CatalogClock.text($0.startMinute), end: CatalogClock.text($0.endMinute))
                    }, forKey: .intervals)
            }
            try container.encode(holidays, forKey: .holidays)
        }
    }

    public struct UnitEntry: Sendable, Equatable, Encodable {
        public var code: String
        public var name: String
        public var parent: String?
        public var kind: String
        public var triage: Bool
        public var active: Bool

        enum CodingKeys: String, CodingKey { case code, name, parent, kind, triage, active }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(code, forKey: .code)
            try container.encode(name, forKey: .name)
            try container.encode(parent, forKey: .parent)
            try container.encode(kind, forKey: .kind)
            try container.encode(triage, forKey: .triage)
            try container.encode(active, forKey: .active)
        }
    }

    /// A Kemendagri region; its level and parent follow from the code.
    public struct AreaEntry: Sendable, Equatable, Encodable {
        public var code: String
        public var name: String
    }

    public struct ServiceTypeEntry: Sendable, Equatable, Encodable {
        public var code: String
        public var group: String
        public var nameID: String
        public var nameEN: String
        public var descriptionID: String
        public var descriptionEN: String
        public var requirements: CatalogJSON
        public var feeRupiah: Int64
        public var feeNoteID: String?
        public var feeNoteEN: String?
        public var responseTargetMinutes: Int
        public var resolutionTargetMinutes: Int
        public var calendar: String
        public var defaultUnit: String
        public var escalationPolicy: CatalogJSON
        public var isPublic: Bool
        public var allowMultipleOpen: Bool
        public var attributes: CatalogJSON
        public var keywords: [String]
        public var active: Bool

        enum CodingKeys: String, CodingKey {
            case code, group, requirements, calendar, attributes, keywords, active
            case nameID = "name_id"
            case nameEN = "name_en"
            case descriptionID = "description_id"
            case descriptionEN = "description_en"
            case feeRupiah = "fee_rupiah"
            case feeNoteID = "fee_note_id"
            case feeNoteEN = "fee_note_en"
            case responseTargetMinutes = "response_target_minutes"
            case resolutionTargetMinutes = "resolution_target_minutes"
            case defaultUnit = "default_unit"
            case escalationPolicy = "escalation_policy"
            case isPublic = "is_public"
            case allowMultipleOpen = "allow_multiple_open"
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(code, forKey: .code)
            try container.encode(group, forKey: .group)
            try container.encode(nameID, forKey: .nameID)
            try container.encode(nameEN, forKey: .nameEN)
            try container.encode(descriptionID, forKey: .descriptionID)
            try container.encode(descriptionEN, forKey: .descriptionEN)
            try container.encode(requirements, forKey: .requirements)
            try container.encode(feeRupiah, forKey: .feeRupiah)
            try container.encode(feeNoteID, forKey: .feeNoteID)
            try container.encode(feeNoteEN, forKey: .feeNoteEN)
            try container.encode(responseTargetMinutes, forKey: .responseTargetMinutes)
            try container.encode(resolutionTargetMinutes, forKey: .resolutionTargetMinutes)
            try container.encode(calendar, forKey: .calendar)
            try container.encode(defaultUnit, forKey: .defaultUnit)
            try container.encode(escalationPolicy, forKey: .escalationPolicy)
            try container.encode(isPublic, forKey: .isPublic)
            try container.encode(allowMultipleOpen, forKey: .allowMultipleOpen)
            try container.encode(attributes, forKey: .attributes)
            try container.encode(keywords, forKey: .keywords)
            try container.encode(active, forKey: .active)
        }
    }

    /// A routing rule, identified by (service, area, priority).
    public struct RoutingRuleEntry: Sendable, Equatable, Encodable {
        /// nil: any service.
        public var service: String?
        /// nil: any area.
        public var area: String?
        public var unit: String
        public var priority: Int
        public var active: Bool
        public var note: String?

        enum CodingKeys: String, CodingKey { case service, area, unit, priority, active, note }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(service, forKey: .service)
            try container.encode(area, forKey: .area)
            try container.encode(unit, forKey: .unit)
            try container.encode(priority, forKey: .priority)
            try container.encode(active, forKey: .active)
            try container.encode(note, forKey: .note)
        }
    }

    enum CodingKeys: String, CodingKey {
        case format, calendars, units, areas
        case serviceTypes = "service_types"
        case routingRules = "routing_rules"
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(Self.formatName, forKey: .format)
        try container.encode(calendars, forKey: .calendars)
        try container.encode(units, forKey: .units)
        try container.encode(areas, forKey: .areas)
        try container.encode(serviceTypes, forKey: .serviceTypes)
        try container.encode(routingRules, forKey: .routingRules)
    }
}

/// Working hours are written as wall-clock times ("07:30", "24:00") in the file and stored as
/// minutes after midnight.
enum CatalogClock {
    static func text(_ minute: Int) -> String {
        String(format: "%02d:%02d", minute / 60, minute % 60)
    }

    /// Minutes after midnight for "HH:MM" from 00:00 to 24:00; nil for anything else.
    static func minutes(_ text: String) -> Int? {
        guard let match = text.wholeMatch(of: /([0-9]{2}):([0-9]{2})/),
              let hours = Int(match.1), let minutes = Int(match.2), minutes < 60
        else { return nil }
        let total = hours * 60 + minutes
        return total <= 1440 ? total : nil
    }
}

/// One thing wrong with an import file: where (a JSON path such as
/// `service_types[2].escalation_policy.stages[1].percent`), which entry, and what to do.
public struct CatalogProblem: Sendable, Hashable, CustomStringConvertible {
    public var path: String
    /// The code of the entry the path lies in, when it has one.
    public var entry: String?
    public var message: String

    public init(path: String, entry: String? = nil, message: String) {
        self.path = path
        self.entry = entry
        self.message = message
    }

    public var description: String {
        let location = path.isEmpty ? "file" : path
        if let entry { return "\(location) (\(entry)): \(message)" }
        return "\(location): \(message)"
    }
}

public enum CatalogImportError: Error, CustomStringConvertible {
    /// The file has problems; nothing was changed.
    case invalid([CatalogProblem])
    /// The database refused a change the validation let through; the transaction was rolled back.
    case refusedByDatabase(PostgresError)

    public var description: String {
        switch self {
        case .invalid(let problems):
            return "\(problems.count) problem\(problems.count == 1 ? "" : "s") in the catalog file; nothing was changed:\n"
                + problems.map { "  " + $0.description }.joined(separator: "\n")
        case .refusedByDatabase(let error):
            var text = "the database refused the import, so nothing was changed: \(error.message)"
            if let detail = error.detail { text += " (\(detail))" }
            if let constraint = error.constraint { text += " [constraint \(constraint)]" }
            return text
        }
    }
}

/// What an import did (or, for a dry run, would do), per kind of entry.
public struct CatalogImportSummary: Sendable, Equatable {
    public struct Counts: Sendable, Equatable {
        public var created: Int
        public var updated: Int
        public var unchanged: Int

        public init(created: Int = 0, updated: Int = 0, unchanged: Int = 0) {
            self.created = created
            self.updated = updated
            self.unchanged = unchanged
        }

        public var changed: Int { created + updated }
    }

    public var dryRun: Bool
    public var calendars = Counts()
    public var holidays = Counts()
    public var units = Counts()
    public var areas = Counts()
    public var serviceTypes = Counts()
    public var routingRules = Counts()
    /// Existing calendars whose zone, hours or holidays changed: deadlines of open requests on
    /// them were computed with the old ones.
    public var recomputeCalendars: [String] = []
    /// Existing service types whose targets, calendar or escalation policy changed.
    public var recomputeServices: [String] = []

    public var totalChanged: Int {
        [calendars, holidays, units, areas, serviceTypes, routingRules].reduce(0) { $0 + $1.changed }
    }

    /// Rows of (kind, counts) in file order, for printing.
    public var rows: [(kind: String, counts: Counts)] {
        [("calendars", calendars), ("holidays", holidays), ("units", units), ("areas", areas),
         ("service_types", serviceTypes), ("routing_rules", routingRules)]
    }
}

/// An export and what the admin should know about it.
public struct CatalogExport: Sendable {
    public var file: CatalogFile
    /// Things the file does not carry, e.g. superseded routing rules kept as history.
    public var notes: [String]
}

/// Export and import of the catalog as one JSON document.
public enum CatalogTransfer {
    /// Serialises catalog imports: two at once would validate against each other's half-written
    /// state. pg_advisory_xact_lock key, "loketcat" in ASCII.
    static let importLockKey: Int64 = 0x6C6F_6B65_7463_6174

    // MARK: Export

    /// The whole catalog from one consistent snapshot, every list sorted by code so that two
    /// exports of equal catalogs are equal byte for byte.
    public static func export(on connection: PostgresConnection) async throws -> CatalogExport {
        try await connection.transaction(isolation: .repeatableRead, readOnly: true) { connection in
            var file = CatalogFile()
            var notes: [String] = []

            var intervals: [Int64: [WorkingInterval]] = [:]
            for row in try await connection.query("SELECT calendar_id, weekday, start_minute, end_minute FROM calendar_intervals") {
                intervals[try row.decode(Int64.self, "calendar_id"), default: []].append(WorkingInterval(
                    weekday: try row.decode(Int.self, "weekday"), startMinute: try row.decode(Int.self, "start_minute"),
                    endMinute: try row.decode(Int.self, "end_minute")))
            }
            var holidays: [Int64: [Holiday]] = [:]
            for row in try await connection.query("SELECT calendar_id, day, name, kind FROM holidays") {
                let day = try row.decode(PostgresLocalDate.self, "day")
                let kindText = try row.decode(String.self, "kind")
                guard let kind = HolidayKind(rawValue: kindText) else {
                    throw PostgresResultError("holiday \(day) has kind \(kindText), which this build does not know")
                }
                holidays[try row.decode(Int64.self, "calendar_id"), default: []].append(
                    try Holiday(year: day.year, month: day.month, day: day.day, name: try row.decode(String.self, "name"), kind: kind))
            }
            for row in try await connection.query("SELECT id, code, name, time_zone, day_minutes FROM calendars") {
                let id = try row.decode(Int64.self, "id")
                file.calendars.append(CatalogFile.CalendarEntry(
                    code: try row.decode(String.self, "code"), name: try row.decode(String.self, "name"),
                    timeZone: try row.decode(String.self, "time_zone"), dayMinutes: try row.decode(Int.self, "day_minutes"),
                    intervals: (intervals[id] ?? []).sorted { ($0.weekday, $0.startMinute) < ($1.weekday, $1.startMinute) },
                    holidays: (holidays[id] ?? []).sorted { $0.date < $1.date }))
            }
            file.calendars.sort { $0.code < $1.code }

            for row in try await connection.query(
                """
                SELECT u.code, u.name, p.code AS parent, u.kind, u.is_triage, u.active
                FROM units u LEFT JOIN units p ON p.id = u.parent_id
                """)
            {
                file.units.append(CatalogFile.UnitEntry(
                    code: try row.decode(String.self, "code"), name: try row.decode(String.self, "name"),
                    parent: try row.decode(String?.self, "parent"), kind: try row.decode(String.self, "kind"),
                    triage: try row.decode(Bool.self, "is_triage"), active: try row.decode(Bool.self, "active")))
            }
            file.units.sort { $0.code < $1.code }

            for row in try await connection.query("SELECT code, name FROM areas") {
                file.areas.append(CatalogFile.AreaEntry(code: try row.decode(String.self, "code"), name: try row.decode(String.self, "name")))
            }
            file.areas.sort { $0.code < $1.code }

            for row in try await connection.query(
                """
                SELECT s.code, s.group_code, s.name_id, s.name_en, s.description_id, s.description_en, s.requirements,
                       s.fee_rupiah, s.fee_note_id, s.fee_note_en, s.response_target_minutes, s.resolution_target_minutes,
                       c.code AS calendar_code, u.code AS unit_code, s.escalation_policy, s.is_public, s.allow_multiple_open,
                       s.attributes, s.keywords, s.active
                FROM service_types s JOIN calendars c ON c.id = s.calendar_id JOIN units u ON u.id = s.default_unit_id
                """)
            {
                file.serviceTypes.append(CatalogFile.ServiceTypeEntry(
                    code: try row.decode(String.self, "code"), group: try row.decode(String.self, "group_code"),
                    nameID: try row.decode(String.self, "name_id"), nameEN: try row.decode(String.self, "name_en"),
                    descriptionID: try row.decode(String.self, "description_id"),
                    descriptionEN: try row.decode(String.self, "description_en"),
                    requirements: try row.json(CatalogJSON.self, "requirements"),
                    feeRupiah: try row.decode(Int64.self, "fee_rupiah"), feeNoteID: try row.decode(String?.self, "fee_note_id"),
                    feeNoteEN: try row.decode(String?.self, "fee_note_en"),
                    responseTargetMinutes: try row.decode(Int.self, "response_target_minutes"),
                    resolutionTargetMinutes: try row.decode(Int.self, "resolution_target_minutes"),
                    calendar: try row.decode(String.self, "calendar_code"), defaultUnit: try row.decode(String.self, "unit_code"),
                    escalationPolicy: try row.json(CatalogJSON.self, "escalation_policy"),
                    isPublic: try row.decode(Bool.self, "is_public"), allowMultipleOpen: try row.decode(Bool.self, "allow_multiple_open"),
                    attributes: try row.json(CatalogJSON.self, "attributes"), keywords: try row.decode([String].self, "keywords"),
                    active: try row.decode(Bool.self, "active")))
            }
            file.serviceTypes.sort { $0.code < $1.code }

            // Rules that share (service, area, priority) can only be inactive leftovers next to the
            // rule that replaced them (routing_rules_unambiguous covers active rules). A file names
            // a rule by that triple, so it carries the one an import would match: the active one,
            // else the newest.
            let rules = try await connection.query(
                """
                SELECT DISTINCT ON (r.service_type_id, r.area_code, r.priority)
                       s.code AS service_code, r.area_code, u.code AS unit_code, r.priority, r.active, r.note
                FROM routing_rules r LEFT JOIN service_types s ON s.id = r.service_type_id JOIN units u ON u.id = r.unit_id
                ORDER BY r.service_type_id, r.area_code, r.priority, r.active DESC, r.id DESC
                """)
            for row in rules {
                file.routingRules.append(CatalogFile.RoutingRuleEntry(
                    service: try row.decode(String?.self, "service_code"), area: try row.decode(String?.self, "area_code"),
                    unit: try row.decode(String.self, "unit_code"), priority: try row.decode(Int.self, "priority"),
                    active: try row.decode(Bool.self, "active"), note: try row.decode(String?.self, "note")))
            }
            file.routingRules.sort(by: ruleOrder)
            let total = try await connection.query("SELECT count(*) AS total FROM routing_rules").single().decode(Int.self, "total")
            if total > rules.count {
                notes.append(
                    "\(total - rules.count) inactive routing rule(s) share service, area and priority with another rule and are not in the file; they stay in the database as history.")
            }
            return CatalogExport(file: file, notes: notes)
        }
    }

    static func ruleOrder(_ a: CatalogFile.RoutingRuleEntry, _ b: CatalogFile.RoutingRuleEntry) -> Bool {
        (a.service == nil ? 0 : 1, a.service ?? "", a.area == nil ? 0 : 1, a.area ?? "", a.priority)
            < (b.service == nil ? 0 : 1, b.service ?? "", b.area == nil ? 0 : 1, b.area ?? "", b.priority)
    }

    /// Pretty-printed JSON with sorted keys: stable, diffable, and equal for equal catalogs.
    public static func encode(_ file: CatalogFile) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(file) + Data("\n".utf8)
    }

    // MARK: Import

    /// Validates the whole file against itself and the database, then applies it in one
    /// transaction as an upsert by natural key. With any problem nothing changes and
    /// ``CatalogImportError/invalid(_:)`` lists them all. A dry run does the same work and rolls
    /// it back, so its summary is exactly what a real import would do.
    public static func importCatalog(_ data: Data, dryRun: Bool, on connection: PostgresConnection) async throws -> CatalogImportSummary {
        let root = try parse(data)
        struct RolledBack: Error { let summary: CatalogImportSummary }
        do {
            return try await connection.transaction { connection in
                try await connection.query("SELECT pg_advisory_xact_lock($1)", importLockKey)
                let state = try await StoredCatalog.load(on: connection)
                var validator = CatalogValidator(state: state)
                let file = validator.validate(root)
                var problems = validator.problems
                if let file { problems += try await databaseChecks(file, on: connection) }
                guard let file, problems.isEmpty else { throw CatalogImportError.invalid(problems) }
                var applier = CatalogApplier(connection: connection, state: state, summary: CatalogImportSummary(dryRun: dryRun))
                try await applier.apply(file)
                if dryRun { throw RolledBack(summary: applier.summary) }
                // What changed is dated now() (this transaction's start); moved to the moment just
                // before COMMIT, so that recompute-sla, which waits until every server's catalog copy
                // is newer than the last change (SLAStore.catalogSettleDelay), does not stop waiting
                // early after an import that waited on the lock or took a while.
                try await connection.query(
                    "UPDATE calendars SET updated_at = clock_timestamp() WHERE updated_at = now()")
                try await connection.query(
                    "UPDATE service_types SET updated_at = clock_timestamp() WHERE updated_at = now()")
                return applier.summary
            }
        } catch let rolledBack as RolledBack {
            return rolledBack.summary
        } catch let error as PostgresError
            where error.sqlState.isIntegrityViolation || error.sqlState == .raiseException || error.sqlState.errorClass == "22" {
            // Class 22 is a value PostgreSQL cannot hold (a NUL in a text, a date out of its range)
            // that the file's own checks let through: refused like a broken constraint.
            throw CatalogImportError.refusedByDatabase(error)
        }
    }

    /// The file as a JSON tree, or ``CatalogImportError/invalid(_:)`` with where its syntax
    /// breaks (line and column).
    static func parse(_ data: Data) throws(CatalogImportError) -> CatalogJSON {
        do {
            // JSONSerialization reports where the syntax breaks; JSONDecoder does not.
            _ = try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
        } catch {
            let debug = (error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String ?? "\(error)"
            var location = ""
            if let match = debug.firstMatch(of: /character ([0-9]+)/), let offset = Int(match.1) {
                let prefix = data.prefix(offset)
                let line = prefix.reduce(1) { $0 + ($1 == UInt8(ascii: "\n") ? 1 : 0) }
                let column = offset - (prefix.lastIndex(of: UInt8(ascii: "\n")).map { $0 - prefix.startIndex + 1 } ?? 0) + 1
                location = " at line \(line), column \(column)"
            }
            throw .invalid([CatalogProblem(path: "", message: "not valid JSON\(location): \(debug)")])
        }
        do {
            return try JSONDecoder().decode(CatalogJSON.self, from: data)
        } catch {
            throw .invalid([CatalogProblem(path: "", message: "not valid JSON: \(error)")])
        }
    }

    /// The schema's own shape checks, run on values that already passed the Swift checks: a
    /// backstop should the two ever drift apart, so that the import still changes nothing.
    static func databaseChecks(_ file: CatalogFile, on connection: PostgresConnection) async throws -> [CatalogProblem] {
        var problems: [CatalogProblem] = []
        for (index, calendar) in file.calendars.enumerated() {
            let known = try await connection.query("SELECT is_iana_time_zone($1) AS known", calendar.timeZone).single()
            if try !known.decode(Bool.self, "known") {
                problems.append(CatalogProblem(
                    path: "calendars[\(index)].time_zone", entry: calendar.code,
                    message: "the database server does not know the time zone \"\(calendar.timeZone)\" (pg_timezone_names); use an IANA name such as Asia/Jakarta"))
            }
        }
        for (index, service) in file.serviceTypes.enumerated() {
            let row = try await connection.query(
                """
                SELECT escalation_policy_is_valid($1) AS policy, open311_attributes_are_valid($2) AS attributes,
                       service_requirements_are_valid($3) AS requirements
                """, try PostgresJSON(service.escalationPolicy), try PostgresJSON(service.attributes),
                try PostgresJSON(service.requirements)
            ).single()
            for (column, key) in [("policy", "escalation_policy"), ("attributes", "attributes"), ("requirements", "requirements")] {
                if try !row.decode(Bool.self, column) {
                    problems.append(CatalogProblem(
                        path: "service_types[\(index)].\(key)", entry: service.code,
                        message: "the database's shape check refuses this value (see docs/admin.md for the accepted form)"))
                }
            }
        }
        // A unit the file deactivates must have no work left in it: an inactive unit's queue is not
        // worked (routing, transfers and escalation pass it over), so its open requests and its
        // officers would be stranded there.
        let deactivated = file.units.enumerated().filter { !$0.element.active }
        if !deactivated.isEmpty {
            let rows = try await connection.query(
                """
                SELECT u.code,
                       (SELECT count(*) FROM service_requests r
                        WHERE r.unit_id = u.id AND r.status IN ('queued', 'in_progress', 'waiting_citizen')) AS open,
                       (SELECT count(*) FROM staff s WHERE s.unit_id = u.id AND s.active) AS officers
                FROM units u WHERE u.active AND u.code = ANY($1)
                """, deactivated.map(\.element.code))
            for row in rows {
                let code = try row.decode(String.self, "code")
                let open = try row.decode(Int.self, "open")
                let officers = try row.decode(Int.self, "officers")
                guard open > 0 || officers > 0, let index = deactivated.first(where: { $0.element.code == code })?.offset else { continue }
                problems.append(CatalogProblem(
                    path: "units[\(index)].active", entry: code,
                    message: "unit \(code) still has \(open) open request(s) and \(officers) active officer(s): transfer the requests and move or deactivate the officers (loketd admin staff …) before deactivating it"))
            }
        }
        return problems
    }
}

// MARK: - What the database holds already

/// The parts of the stored catalog that validation and the upsert need: codes, ids and the values
/// whose change calls for a recomputation of deadlines.
struct StoredCatalog: Sendable {
    struct CalendarState: Sendable {
        var id: Int64
        var timeZone: String
        var intervals: [WorkingInterval]
    }

    struct UnitState: Sendable {
        var id: UnitID
        var parent: String?
        var kind: String
        var isTriage: Bool
        var active: Bool
    }

    struct ServiceState: Sendable {
        var id: ServiceTypeID
        var responseTargetMinutes: Int
        var resolutionTargetMinutes: Int
        var calendarID: Int64
        var escalationPolicy: CatalogJSON
    }

    var calendars: [String: CalendarState] = [:]
    var units: [String: UnitState] = [:]
    var areas: Set<String> = []
    var services: [String: ServiceState] = [:]

    static func load(on connection: PostgresConnection) async throws -> StoredCatalog {
        var state = StoredCatalog()
        var intervals: [Int64: [WorkingInterval]] = [:]
        for row in try await connection.query("SELECT calendar_id, weekday, start_minute, end_minute FROM calendar_intervals") {
            intervals[try row.decode(Int64.self, "calendar_id"), default: []].append(WorkingInterval(
                weekday: try row.decode(Int.self, "weekday"), startMinute: try row.decode(Int.self, "start_minute"),
                endMinute: try row.decode(Int.self, "end_minute")))
        }
        for row in try await connection.query("SELECT id, code, time_zone FROM calendars") {
            let id = try row.decode(Int64.self, "id")
            state.calendars[try row.decode(String.self, "code")] = CalendarState(
                id: id, timeZone: try row.decode(String.self, "time_zone"), intervals: sortedIntervals(intervals[id] ?? []))
        }
        for row in try await connection.query(
            "SELECT u.id, u.code, p.code AS parent, u.kind, u.is_triage, u.active FROM units u LEFT JOIN units p ON p.id = u.parent_id")
        {
            state.units[try row.decode(String.self, "code")] = UnitState(
                id: try row.decode(Int64.self, "id"), parent: try row.decode(String?.self, "parent"),
                kind: try row.decode(String.self, "kind"), isTriage: try row.decode(Bool.self, "is_triage"),
                active: try row.decode(Bool.self, "active"))
        }
        for row in try await connection.query("SELECT code FROM areas") {
            state.areas.insert(try row.decode(String.self, "code"))
        }
        for row in try await connection.query(
            "SELECT id, code, response_target_minutes, resolution_target_minutes, calendar_id, escalation_policy FROM service_types")
        {
            state.services[try row.decode(String.self, "code")] = ServiceState(
                id: try row.decode(Int64.self, "id"), responseTargetMinutes: try row.decode(Int.self, "response_target_minutes"),
                resolutionTargetMinutes: try row.decode(Int.self, "resolution_target_minutes"),
                calendarID: try row.decode(Int64.self, "calendar_id"),
                escalationPolicy: try row.json(CatalogJSON.self, "escalation_policy"))
        }
        return state
    }

    static func sortedIntervals(_ intervals: [WorkingInterval]) -> [WorkingInterval] {
        intervals.sorted { ($0.weekday, $0.startMinute, $0.endMinute) < ($1.weekday, $1.startMinute, $1.endMinute) }
    }
}

// MARK: - Validation

/// The keys of one JSON object, with where it sits and which entry it belongs to.
struct CatalogFields {
    var path: String
    var entry: String?
    var values: [String: CatalogJSON]

    subscript(key: String) -> CatalogJSON? { values[key] }
    func path(_ key: String) -> String { path + "." + key }
}

/// Walks a parsed file and collects every problem with its path; builds the typed file only when
/// there are none. Pure: the database's state comes in as ``StoredCatalog``.
struct CatalogValidator {
    let state: StoredCatalog
    private(set) var problems: [CatalogProblem] = []

    init(state: StoredCatalog) {
        self.state = state
    }

    /// `^[a-z0-9]+(-[a-z0-9]+)*$`, at most 40 characters: calendar, service and group codes.
    static func isSlug(_ code: String) -> Bool {
        code.count <= 40 && code.split(separator: "-", omittingEmptySubsequences: false).allSatisfy { part in
            !part.isEmpty && part.allSatisfy { $0.isASCII && ($0.isLowercase || $0.isNumber) }
        }
    }

    /// `^[A-Za-z0-9_-]{1,64}$`: Open311 attribute codes.
    static func isAttributeCode(_ code: String) -> Bool {
        (1...64).contains(code.count) && code.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-") }
    }
    static let unitKinds = AdminStore.UnitKind.allCases.map(\.rawValue)
    static let attributeDatatypes = ["string", "number", "datetime", "text", "singlevaluelist", "multivaluelist"]
    /// int4 columns (targets, priority, minutes).
    static let int4Range = 0...Int(Int32.max)

    // Codes found anywhere in the file, so that references resolve even to entries that have
    // problems of their own (one mistake is then reported once, not again at every reference).
    private var fileCalendars: Set<String> = []
    private var fileUnits: Set<String> = []
    private var fileAreas: Set<String> = []
    private var fileServices: Set<String> = []

    mutating func report(_ path: String, _ entry: String?, _ message: String) {
        problems.append(CatalogProblem(path: path, entry: entry, message: message))
    }

    mutating func report(_ fields: CatalogFields, _ key: String, _ message: String) {
        report(fields.path(key), fields.entry, message)
    }

    // MARK: Readers

    mutating func object(_ value: CatalogJSON, at path: String, entry: String? = nil, keys: [String]) -> CatalogFields? {
        guard case .object(let values) = value else {
            report(path, entry, "expected an object, found \(value.kindDescription)")
            return nil
        }
        // Name the entry in every problem, even those found before its code is read.
        var label = entry
        if label == nil, case .string(let code)? = values["code"] { label = code }
        for key in values.keys.sorted() where !keys.contains(key) {
            report(path + "." + key, label, "unknown key; the keys here are: \(keys.joined(separator: ", "))")
        }
        return CatalogFields(path: path, entry: label, values: values)
    }

    mutating func string(_ fields: CatalogFields, _ key: String) -> String? {
        guard let value = fields[key] else {
            report(fields, key, "required")
            return nil
        }
        guard case .string(let text) = value else {
            report(fields, key, "expected a string, found \(value.kindDescription)")
            return nil
        }
        return text
    }

    /// A required string that is not blank.
    mutating func text(_ fields: CatalogFields, _ key: String) -> String? {
        guard let text = string(fields, key) else { return nil }
        guard !text.trimmingWhitespace().isEmpty else {
            report(fields, key, "cannot be blank")
            return nil
        }
        return text
    }

    /// An optional string: missing means `fallback`.
    mutating func string(_ fields: CatalogFields, _ key: String, default fallback: String) -> String? {
        guard fields[key] != nil else { return fallback }
        return string(fields, key)
    }

    /// A string or null. Missing means null unless `required` says what to write instead: where
    /// null widens a scope (a unit at the top of the tree, a rule for any area), it must be said.
    /// The outer nil marks a problem.
    mutating func nullableString(_ fields: CatalogFields, _ key: String, required: String? = nil) -> String?? {
        switch fields[key] {
        case nil:
            if let required {
                report(fields, key, "required: \(required)")
                return nil
            }
            return .some(nil)
        case .null?: return .some(nil)
        case .string(let text)?: return .some(text)
        case let value?:
            report(fields, key, "expected a string or null, found \(value.kindDescription)")
            return nil
        }
    }

    /// A whole number in `range`; missing means `fallback`, or a problem when there is none.
    mutating func integer(_ fields: CatalogFields, _ key: String, in range: ClosedRange<Int>, default fallback: Int? = nil) -> Int? {
        guard let value = fields[key] else {
            if let fallback { return fallback }
            report(fields, key, "required")
            return nil
        }
        return integer(value, at: fields.path(key), entry: fields.entry, in: range)
    }

    mutating func integer(_ value: CatalogJSON, at path: String, entry: String?, in range: ClosedRange<Int>) -> Int? {
        guard case .number(let number) = value else {
            report(path, entry, "expected a whole number, found \(value.kindDescription)")
            return nil
        }
        guard number == number.rounded(), abs(number) < 9_007_199_254_740_992 else {
            report(path, entry, "expected a whole number, found \(value.kindDescription)")
            return nil
        }
        let whole = Int(number)
        guard range.contains(whole) else {
            report(path, entry, "must be from \(range.lowerBound) to \(range.upperBound) (found \(whole))")
            return nil
        }
        return whole
    }

    mutating func boolean(_ fields: CatalogFields, _ key: String, default fallback: Bool) -> Bool? {
        switch fields[key] {
        case nil: return fallback
        case .bool(let flag)?: return flag
        case let value?:
            report(fields, key, "expected true or false, found \(value.kindDescription)")
            return nil
        }
    }

    /// An array; missing is nil without a problem unless `required`.
    mutating func array(_ fields: CatalogFields, _ key: String, required: Bool = false) -> [CatalogJSON]? {
        switch fields[key] {
        case nil:
            if required { report(fields, key, "required") }
            return nil
        case .array(let items)?: return items
        case let value?:
            report(fields, key, "expected an array, found \(value.kindDescription)")
            return nil
        }
    }

    /// Entries of a top-level section, each an object.
    private func codes(in items: [CatalogJSON]) -> Set<String> {
        Set(items.compactMap { item -> String? in
            guard case .object(let fields) = item, case .string(let code)? = fields["code"] else { return nil }
            return code
        })
    }

    // MARK: The file

    mutating func validate(_ root: CatalogJSON) -> CatalogFile? {
        let sections = ["format", "calendars", "units", "areas", "service_types", "routing_rules"]
        guard let fields = object(root, at: "", keys: sections) else { return nil }
        switch fields["format"] {
        case .string(CatalogFile.formatName)?: break
        case nil: report("format", nil, "required: \"\(CatalogFile.formatName)\"")
        case let value?: report("format", nil, "this build reads \"\(CatalogFile.formatName)\", found \(value.kindDescription)")
        }
        var section: [String: [CatalogJSON]] = [:]
        for key in sections.dropFirst() {
            switch fields[key] {
            case nil: section[key] = []
            case .array(let items)?: section[key] = items
            case let value?:
                report(key, nil, "expected an array, found \(value.kindDescription)")
                section[key] = []
            }
        }
        fileCalendars = codes(in: section["calendars"]!)
        fileUnits = codes(in: section["units"]!)
        fileAreas = codes(in: section["areas"]!)
        fileServices = codes(in: section["service_types"]!)

        var file = CatalogFile()
        file.calendars = calendars(section["calendars"]!)
        file.units = units(section["units"]!)
        file.areas = areas(section["areas"]!)
        file.serviceTypes = serviceTypes(section["service_types"]!)
        file.routingRules = routingRules(section["routing_rules"]!)
        return problems.isEmpty ? file : nil
    }

    /// Reads the entry's code first so that later problems can name it, and refuses duplicates.
    private mutating func entryCode(
        _ fields: inout CatalogFields, seen: inout [String: Int], index: Int, section: String, isValid: (String) -> Bool, format: String
    ) -> String? {
        guard let code = string(fields, "code") else { return nil }
        fields.entry = code
        guard isValid(code) else {
            report(fields, "code", format)
            return nil
        }
        if let first = seen[code] {
            report(fields, "code", "listed twice (also \(section)[\(first)]); each code appears once")
            return nil
        }
        seen[code] = index
        return code
    }

    // MARK: Calendars

    private mutating func calendars(_ items: [CatalogJSON]) -> [CatalogFile.CalendarEntry] {
        var entries: [CatalogFile.CalendarEntry] = []
        var seen: [String: Int] = [:]
        for (index, item) in items.enumerated() {
            let before = problems.count
            guard var fields = object(
                item, at: "calendars[\(index)]", keys: ["code", "name", "time_zone", "day_minutes", "intervals", "holidays"])
            else { continue }
            let code = entryCode(
                &fields, seen: &seen, index: index, section: "calendars", isValid: Self.isSlug,
                format: "use lowercase letters and digits in parts joined by single dashes, at most 40 characters (e.g. serang-asn)")
            let name = text(fields, "name")
            let timeZone = text(fields, "time_zone")
            let dayMinutes = integer(fields, "day_minutes", in: 1...1440)

            var intervals: [WorkingInterval]?
            var intervalsRead = true
            if let items = array(fields, "intervals") {
                var read: [WorkingInterval] = []
                for (position, item) in items.enumerated() {
                    if let interval = interval(item, at: fields.path("intervals") + "[\(position)]", entry: fields.entry) {
                        read.append(interval)
                    } else {
                        intervalsRead = false
                    }
                }
                intervals = read
            } else if fields["intervals"] != nil {
                intervalsRead = false
            }

            var holidays: [Holiday] = []
            var days: [LocalDate: Int] = [:]
            for (position, item) in (array(fields, "holidays") ?? []).enumerated() {
                let path = fields.path("holidays") + "[\(position)]"
                guard let holiday = holiday(item, at: path, entry: fields.entry) else { continue }
                if let first = days[holiday.date] {
                    report(path + ".date", fields.entry, "\(holiday.date) is listed twice (also holidays[\(first)]); a calendar has one entry per day")
                    continue
                }
                days[holiday.date] = position
                holidays.append(holiday)
            }

            // The calendar as a whole, as the SLA clock will build it: with the file's hours, or
            // the stored ones when the file leaves them out.
            if let code, let timeZone, intervalsRead {
                if let effective = intervals ?? state.calendars[code]?.intervals {
                    do {
                        _ = try BusinessCalendar(timeZoneIdentifier: timeZone, intervals: effective, holidays: holidays)
                    } catch {
                        if case .unknownTimeZone = error {
                            report(fields, "time_zone", error.message(.english))
                        } else {
                            report(fields, "intervals", error.message(.english))
                        }
                    }
                } else {
                    report(fields, "intervals", "a new calendar needs its weekly working hours, e.g. [{\"weekday\": 1, \"start\": \"07:30\", \"end\": \"12:00\"}]")
                }
            }
            guard problems.count == before, let code, let name, let timeZone, let dayMinutes else { continue }
            entries.append(CatalogFile.CalendarEntry(
                code: code, name: name, timeZone: timeZone, dayMinutes: dayMinutes,
                intervals: intervals.map(StoredCatalog.sortedIntervals), holidays: holidays.sorted { $0.date < $1.date }))
        }
        return entries
    }

    private mutating func interval(_ item: CatalogJSON, at path: String, entry: String?) -> WorkingInterval? {
        guard let fields = object(item, at: path, entry: entry, keys: ["weekday", "start", "end"]) else { return nil }
        let weekday = integer(fields, "weekday", in: 1...7)
        var minutes: [Int?] = []
        for key in ["start", "end"] {
            guard let text = string(fields, key) else {
                minutes.append(nil)
                continue
            }
            guard let value = CatalogClock.minutes(text) else {
                report(fields, key, "expected a time \"HH:MM\" from 00:00 to 24:00, found \"\(text)\"")
                minutes.append(nil)
                continue
            }
            minutes.append(value)
        }
        guard let weekday, let start = minutes[0], let end = minutes[1] else { return nil }
        guard start < end else {
            report(fields.path("end"), entry, "the end (\(CatalogClock.text(end))) must come after the start (\(CatalogClock.text(start)))")
            return nil
        }
        return WorkingInterval(weekday: weekday, startMinute: start, endMinute: end)
    }

    /// The years a holiday may fall in.
    static let holidayYears = 2000...2100

    private mutating func holiday(_ item: CatalogJSON, at path: String, entry: String?) -> Holiday? {
        guard let fields = object(item, at: path, entry: entry, keys: ["date", "name", "kind"]) else { return nil }
        var date: LocalDate?
        if let text = string(fields, "date") {
            do { date = try LocalDate(iso: text) } catch { report(fields, "date", error.message(.english)) }
        }
        // A mistyped year ("2206-12-25") is a valid date that would leave the real day a working
        // day without a word.
        if let year = date?.year, !Self.holidayYears.contains(year) {
            report(fields, "date", "a holiday in \(year)? Holidays are taken from \(Self.holidayYears.lowerBound) to \(Self.holidayYears.upperBound): check the year")
            date = nil
        }
        let name = text(fields, "name")
        var kind: HolidayKind?
        if let text = string(fields, "kind") {
            kind = HolidayKind(rawValue: text)
            if kind == nil {
                report(fields, "kind", "expected one of \(HolidayKind.allCases.map(\.rawValue).joined(separator: ", ")), found \"\(text)\"")
            }
        }
        guard let date, let name, let kind else { return nil }
        return Holiday(date: date, name: name, kind: kind)
    }

    // MARK: Units

    /// What the tree checks need of a unit entry, read even when other fields of it are wrong, so
    /// that a cycle or a second triage unit is reported alongside every other problem.
    private struct UnitShape {
        var code: String
        var path: String
        /// nil when the parent could not be read (the stored parent is assumed).
        var parent: String??
        /// nil when the flag could not be read.
        var triage: Bool?
    }

    private mutating func units(_ items: [CatalogJSON]) -> [CatalogFile.UnitEntry] {
        var entries: [CatalogFile.UnitEntry] = []
        var shapes: [UnitShape] = []
        var seen: [String: Int] = [:]
        for (index, item) in items.enumerated() {
            let before = problems.count
            guard var fields = object(item, at: "units[\(index)]", keys: ["code", "name", "parent", "kind", "triage", "active"]) else {
                continue
            }
            let code = entryCode(
                &fields, seen: &seen, index: index, section: "units", isValid: AdminStore.isValidUnitCode,
                format: "use uppercase letters and digits in parts joined by single dashes, at most 40 characters (e.g. DISDUKCAPIL-IDP)")
            let name = text(fields, "name")
            let parent = nullableString(fields, "parent", required: "a unit code, or null for the top of the tree")
            if let code, case let parentCode?? = parent {
                if parentCode == code {
                    report(fields, "parent", "a unit cannot be its own parent")
                } else if !fileUnits.contains(parentCode) && state.units[parentCode] == nil {
                    report(fields, "parent", "unit \"\(parentCode)\" is neither in this file nor in the database")
                }
            }
            var kind: String?
            if let text = string(fields, "kind") {
                if Self.unitKinds.contains(text) {
                    kind = text
                } else {
                    report(fields, "kind", "expected one of \(Self.unitKinds.joined(separator: ", ")), found \"\(text)\"")
                }
            }
            let triage = boolean(fields, "triage", default: false)
            let active = boolean(fields, "active", default: true)
            if triage == true, let kind, kind != AdminStore.UnitKind.frontOffice.rawValue {
                report(fields, "triage", "only a front_office unit can be the triage unit (this one is \(kind))")
            }
            if triage == true, active == false {
                report(fields, "active", "the triage unit must stay active; move triage to another unit first")
            }
            if let code { shapes.append(UnitShape(code: code, path: fields.path, parent: parent, triage: triage)) }
            guard problems.count == before, let code, let name, let parent, let kind, let triage, let active else { continue }
            entries.append(CatalogFile.UnitEntry(code: code, name: name, parent: parent, kind: kind, triage: triage, active: active))
        }
        if !shapes.isEmpty { checkUnitTree(shapes) }
        return entries
    }

    /// The tree and the triage unit are judged on the result: the stored units with the file's
    /// entries laid over them.
    private mutating func checkUnitTree(_ shapes: [UnitShape]) {
        var parents = state.units.mapValues(\.parent)
        var triage = Set(state.units.filter { $0.value.isTriage }.map(\.key))
        var triageKnown = true
        for shape in shapes {
            if let parent = shape.parent { parents[shape.code] = parent }
            switch shape.triage {
            case true?: triage.insert(shape.code)
            case false?: triage.remove(shape.code)
            case nil: triageKnown = false
            }
        }
        var reported: Set<Set<String>> = []
        for shape in shapes {
            var chain = [shape.code]
            var current = parents[shape.code] ?? nil
            while let next = current, chain.count <= parents.count {
                if next == shape.code {
                    if reported.insert(Set(chain)).inserted {
                        report(
                            shape.path + ".parent", shape.code,
                            "the parents form a cycle (\((chain + [shape.code]).joined(separator: " → "))); a unit cannot sit below itself")
                    }
                    break
                }
                chain.append(next)
                current = parents[next] ?? nil
            }
        }
        guard triageKnown else { return }
        if triage.count > 1 {
            report(
                "units", nil,
                "more than one triage unit would result (\(triage.sorted().joined(separator: ", "))); keep \"triage\": true on exactly one and list the others with \"triage\": false")
        } else if triage.isEmpty {
            report("units", nil, "no triage unit would result; mark exactly one active front_office unit with \"triage\": true")
        }
    }

    // MARK: Areas

    private mutating func areas(_ items: [CatalogJSON]) -> [CatalogFile.AreaEntry] {
        var entries: [CatalogFile.AreaEntry] = []
        var seen: [String: Int] = [:]
        for (index, item) in items.enumerated() {
            let before = problems.count
            guard var fields = object(item, at: "areas[\(index)]", keys: ["code", "name"]) else { continue }
            var parsed: AreaCode?
            let format = areaFormatMessage(fields["code"])
            let code = entryCode(
                &fields, seen: &seen, index: index, section: "areas",
                isValid: { text in
                    parsed = try? AreaCode(text)
                    return parsed?.description == text
                },
                format: format)
            let name = text(fields, "name")
            if code != nil, let parent = parsed?.parent?.description, !fileAreas.contains(parent), !state.areas.contains(parent) {
                report(fields, "code", "its parent area \(parent) is neither in this file nor in the database; list the parent too")
            }
            guard problems.count == before, let code, let name else { continue }
            entries.append(CatalogFile.AreaEntry(code: code, name: name))
        }
        return entries
    }

    /// Why an area code is refused: AreaCode's reason, or the dotted form to write instead.
    private func areaFormatMessage(_ value: CatalogJSON?) -> String {
        guard case .string(let text)? = value else { return "expected a Kemendagri code such as 36.73.01.1001" }
        do {
            let code = try AreaCode(text)
            return "write the code in its dotted form: \(code.description)"
        } catch {
            return error.message(.english) + " (e.g. 36.73.01.1001)"
        }
    }

    /// An area reference (routing rules): canonical and known.
    private mutating func areaReference(_ text: String, fields: CatalogFields, key: String) -> Bool {
        guard let code = try? AreaCode(text), code.description == text else {
            report(fields, key, areaFormatMessage(.string(text)))
            return false
        }
        guard fileAreas.contains(text) || state.areas.contains(text) else {
            report(fields, key, "area \(text) is neither in this file nor in the database")
            return false
        }
        return true
    }

    // MARK: Service types

    private mutating func serviceTypes(_ items: [CatalogJSON]) -> [CatalogFile.ServiceTypeEntry] {
        var entries: [CatalogFile.ServiceTypeEntry] = []
        var seen: [String: Int] = [:]
        let keys = [
            "code", "group", "name_id", "name_en", "description_id", "description_en", "requirements", "fee_rupiah",
            "fee_note_id", "fee_note_en", "response_target_minutes", "resolution_target_minutes", "calendar", "default_unit",
            "escalation_policy", "is_public", "allow_multiple_open", "attributes", "keywords", "active",
        ]
        let slug = "use lowercase letters and digits in parts joined by single dashes, at most 40 characters"
        for (index, item) in items.enumerated() {
            let before = problems.count
            guard var fields = object(item, at: "service_types[\(index)]", keys: keys) else { continue }
            let code = entryCode(
                &fields, seen: &seen, index: index, section: "service_types",
                isValid: Self.isSlug, format: slug + " (e.g. kk-baru)")
            var group = string(fields, "group")
            if let text = group, !Self.isSlug(text) {
                report(fields, "group", slug + " (e.g. adminduk)")
                group = nil
            }
            let nameID = text(fields, "name_id")
            let nameEN = text(fields, "name_en")
            let descriptionID = string(fields, "description_id", default: "")
            let descriptionEN = string(fields, "description_en", default: "")
            let requirements = fields["requirements"] ?? .array([])
            checkRequirements(requirements, at: fields.path("requirements"), entry: fields.entry)
            let fee = integer(fields, "fee_rupiah", in: 0...9_007_199_254_740_991, default: 0)
            let feeNoteID = nullableString(fields, "fee_note_id")
            let feeNoteEN = nullableString(fields, "fee_note_en")
            let response = integer(fields, "response_target_minutes", in: 1...Self.int4Range.upperBound)
            let resolution = integer(fields, "resolution_target_minutes", in: 1...Self.int4Range.upperBound)
            if let response, let resolution, response > resolution {
                report(
                    fields, "response_target_minutes",
                    "the response target (\(response) working minutes) cannot exceed the resolution target (\(resolution))")
            }
            var calendar = string(fields, "calendar")
            if let text = calendar, !fileCalendars.contains(text), state.calendars[text] == nil {
                report(fields, "calendar", "calendar \"\(text)\" is neither in this file nor in the database")
                calendar = nil
            }
            var unit = string(fields, "default_unit")
            if let text = unit, !fileUnits.contains(text), state.units[text] == nil {
                report(fields, "default_unit", "unit \"\(text)\" is neither in this file nor in the database")
                unit = nil
            }
            let policy = fields["escalation_policy"] ?? .object([:])
            checkPolicy(policy, at: fields.path("escalation_policy"), entry: fields.entry)
            let isPublic = boolean(fields, "is_public", default: false)
            let allowMultipleOpen = boolean(fields, "allow_multiple_open", default: false)
            let attributes = fields["attributes"] ?? .array([])
            checkAttributes(attributes, at: fields.path("attributes"), entry: fields.entry)
            var keywords: [String] = []
            for (position, item) in (array(fields, "keywords") ?? []).enumerated() {
                if case .string(let keyword) = item {
                    keywords.append(keyword)
                } else {
                    report(fields.path("keywords") + "[\(position)]", fields.entry, "expected a string, found \(item.kindDescription)")
                }
            }
            let active = boolean(fields, "active", default: true)
            guard problems.count == before, let code, let group, let nameID, let nameEN, let descriptionID, let descriptionEN,
                  let fee, let feeNoteID, let feeNoteEN, let response, let resolution, let calendar, let unit, let isPublic,
                  let allowMultipleOpen, let active
            else { continue }
            entries.append(CatalogFile.ServiceTypeEntry(
                code: code, group: group, nameID: nameID, nameEN: nameEN, descriptionID: descriptionID, descriptionEN: descriptionEN,
                requirements: requirements, feeRupiah: Int64(fee), feeNoteID: feeNoteID, feeNoteEN: feeNoteEN,
                responseTargetMinutes: response, resolutionTargetMinutes: resolution, calendar: calendar, defaultUnit: unit,
                escalationPolicy: policy, isPublic: isPublic, allowMultipleOpen: allowMultipleOpen, attributes: attributes,
                keywords: keywords, active: active))
        }
        return entries
    }

    /// service_requirements_are_valid, with a reason per element.
    private mutating func checkRequirements(_ value: CatalogJSON, at path: String, entry: String?) {
        guard case .array(let items) = value else {
            report(path, entry, "expected an array of {\"id\": Indonesian text, \"en\": English text}, found \(value.kindDescription)")
            return
        }
        for (index, item) in items.enumerated() {
            guard let fields = object(item, at: path + "[\(index)]", entry: entry, keys: ["id", "en"]) else { continue }
            _ = text(fields, "id")
            _ = text(fields, "en")
        }
    }

    /// The escalation policy as the schema's escalation_policy_is_valid sees it (with a reason
    /// per key), then as LoketCore's EscalationPolicy decodes it (the rules SLA clocks rely on).
    private mutating func checkPolicy(_ value: CatalogJSON, at path: String, entry: String?) {
        let before = problems.count
        guard let fields = object(value, at: path, entry: entry, keys: ["stages", "repeat_every_percent", "repeat", "max_escalation_level"])
        else { return }
        guard !fields.values.isEmpty else { return }  // {} is the default policy
        if fields["stages"] == nil || fields["max_escalation_level"] == nil {
            report(path, entry, "a custom policy states both \"stages\" and \"max_escalation_level\"; write {} for the default policy")
        }
        if let stages = array(fields, "stages") {
            if stages.isEmpty { report(fields, "stages", "needs at least one stage") }
            var previous = 0
            for (index, stage) in stages.enumerated() {
                let stagePath = fields.path("stages") + "[\(index)]"
                guard let stageFields = object(
                    stage, at: stagePath, entry: entry,
                    keys: ["percent", "notify", "breach", "escalation_levels", "priority_boost", "move_to_parent"])
                else { continue }
                if let percent = integer(stageFields, "percent", in: 1...10_000) {
                    if percent <= previous {
                        report(stageFields, "percent", "stages go in increasing percent: \(percent) follows \(previous)")
                    }
                    previous = percent
                }
                checkAction(stageFields, allowsBreach: true)
            }
        }
        switch (fields["repeat_every_percent"], fields["repeat"]) {
        case (nil, nil): break
        case (let every?, let repeatAction?):
            if case .number(0) = every {
                report(
                    fields.path("repeat_every_percent"), entry,
                    "the database refuses 0 here; to stop repeats, set max_escalation_level to the level the listed stages reach")
            } else {
                _ = integer(every, at: fields.path("repeat_every_percent"), entry: entry, in: 1...10_000)
            }
            if let repeatFields = object(
                repeatAction, at: fields.path("repeat"), entry: entry, keys: ["notify", "escalation_levels", "priority_boost", "move_to_parent"])
            {
                checkAction(repeatFields, allowsBreach: false)
            }
        default:
            report(path, entry, "\"repeat_every_percent\" and \"repeat\" come together: give both or neither")
        }
        if let level = fields["max_escalation_level"] {
            _ = integer(level, at: fields.path("max_escalation_level"), entry: entry, in: 0...EscalationPolicy.escalationLevelLimit)
        }
        guard problems.count == before else { return }
        do {
            _ = try JSONDecoder().decode(EscalationPolicy.self, from: JSONEncoder().encode(value))
        } catch let error as EscalationPolicyError {
            report(path, entry, error.message(.english))
        } catch {
            report(path, entry, "LoketCore cannot read this policy: \(error)")
        }
    }

    private mutating func checkAction(_ fields: CatalogFields, allowsBreach: Bool) {
        if let notify = array(fields, "notify") {
            let targets = NotifyTarget.allCases.map(\.rawValue)
            for (index, target) in notify.enumerated() {
                guard case .string(let name) = target, targets.contains(name) else {
                    report(fields.path("notify") + "[\(index)]", fields.entry, "expected one of \(targets.joined(separator: ", ")), found \(target.kindDescription)")
                    continue
                }
            }
        }
        for key in (allowsBreach ? ["breach", "move_to_parent"] : ["move_to_parent"]) {
            _ = boolean(fields, key, default: false)
        }
        for key in ["escalation_levels", "priority_boost"] {
            _ = integer(fields, key, in: 0...100, default: 0)
        }
    }

    /// open311_attributes_are_valid, with a reason per attribute; also what CatalogStore decodes
    /// (a whole-number order).
    private mutating func checkAttributes(_ value: CatalogJSON, at path: String, entry: String?) {
        guard case .array(let items) = value else {
            report(path, entry, "expected an array of Open311 attribute definitions, found \(value.kindDescription)")
            return
        }
        var codes: [String: Int] = [:]
        for (index, item) in items.enumerated() {
            guard let fields = object(
                item, at: path + "[\(index)]", entry: entry,
                keys: ["code", "datatype", "required", "order", "description_id", "description_en", "values", "datatype_description"])
            else { continue }
            if let code = string(fields, "code") {
                if !Self.isAttributeCode(code) {
                    report(fields, "code", "use 1 to 64 letters, digits, _ or - (it becomes attribute[CODE] in Open311)")
                } else if let first = codes[code] {
                    report(fields, "code", "attribute \(code) is listed twice (also [\(first)])")
                } else {
                    codes[code] = index
                }
            }
            var isList = false
            if let datatype = string(fields, "datatype") {
                if Self.attributeDatatypes.contains(datatype) {
                    isList = datatype.hasSuffix("valuelist")
                } else {
                    report(fields, "datatype", "expected one of \(Self.attributeDatatypes.joined(separator: ", ")), found \"\(datatype)\"")
                }
            }
            switch fields["required"] {
            case .bool?: break
            case nil: report(fields, "required", "required (true or false)")
            case let other?: report(fields, "required", "expected true or false, found \(other.kindDescription)")
            }
            _ = integer(fields, "order", in: Int(Int32.min)...Int(Int32.max))
            _ = string(fields, "description_id")
            _ = string(fields, "description_en")
            switch fields["datatype_description"] {
            case nil, .null?, .string?: break
            case let other?: report(fields, "datatype_description", "expected a string or null, found \(other.kindDescription)")
            }
            let values = array(fields, "values")
            if isList {
                guard let values, !values.isEmpty else {
                    if fields["values"] == nil || values != nil { report(fields, "values", "a list attribute needs at least one {\"key\", \"name\"}") }
                    continue
                }
                var keys: Set<String> = []
                for (position, value) in values.enumerated() {
                    guard let valueFields = object(value, at: fields.path("values") + "[\(position)]", entry: entry, keys: ["key", "name"])
                    else { continue }
                    if let key = string(valueFields, "key"), !keys.insert(key).inserted {
                        report(valueFields, "key", "the key \(key) is listed twice")
                    }
                    _ = string(valueFields, "name")
                }
            } else if let values, !values.isEmpty {
                report(fields, "values", "only singlevaluelist and multivaluelist attributes have values")
            }
        }
    }

    // MARK: Routing rules

    private mutating func routingRules(_ items: [CatalogJSON]) -> [CatalogFile.RoutingRuleEntry] {
        var entries: [CatalogFile.RoutingRuleEntry] = []
        struct Key: Hashable {
            var service: String?
            var area: String?
            var priority: Int
        }
        var seen: [Key: Int] = [:]
        for (index, item) in items.enumerated() {
            let before = problems.count
            guard var fields = object(item, at: "routing_rules[\(index)]", keys: ["service", "area", "unit", "priority", "active", "note"])
            else { continue }
            // A rule has no code: it is named by its service and area in every problem.
            func label(_ key: String, _ fallback: String) -> String {
                if case .string(let text)? = fields[key] { return text }
                return fallback
            }
            fields.entry = "\(label("service", "any service")) / \(label("area", "any area"))"
            let service = nullableString(fields, "service", required: "a service code, or null for any service")
            let area = nullableString(fields, "area", required: "an area code, or null for any area")
            if case let code?? = service, !fileServices.contains(code), state.services[code] == nil {
                report(fields, "service", "service type \"\(code)\" is neither in this file nor in the database")
            }
            if case let code?? = area { _ = areaReference(code, fields: fields, key: "area") }
            if case .some(.none) = service, case .some(.none) = area {
                report(fields.path, fields.entry, "a rule for any service in any area would override every default unit; give a service, an area or both")
            }
            var unit = string(fields, "unit")
            if let code = unit, !fileUnits.contains(code), state.units[code] == nil {
                report(fields, "unit", "unit \"\(code)\" is neither in this file nor in the database")
                unit = nil
            }
            let priority = integer(fields, "priority", in: Int(Int32.min)...Int(Int32.max), default: 0)
            let active = boolean(fields, "active", default: true)
            let note = nullableString(fields, "note")
            guard problems.count == before, let service, let area, let unit, let priority, let active, let note else { continue }
            let key = Key(service: service, area: area, priority: priority)
            if let first = seen[key] {
                report(
                    fields.path, fields.entry,
                    "same service, area and priority as routing_rules[\(first)]; a rule is identified by these three, so give one of them another priority")
                continue
            }
            seen[key] = index
            entries.append(CatalogFile.RoutingRuleEntry(service: service, area: area, unit: unit, priority: priority, active: active, note: note))
        }
        return entries
    }
}

// MARK: - Applying a valid file

/// Writes a validated file inside the caller's transaction, counting what it creates, updates
/// and leaves alone. Every upsert compares before writing, so an unchanged row is not rewritten
/// (no new row version, no updated_at bump).
struct CatalogApplier {
    let connection: PostgresConnection
    let state: StoredCatalog
    var summary: CatalogImportSummary

    private var calendarIDs: [String: Int64] = [:]
    private var unitIDs: [String: UnitID] = [:]
    private var serviceIDs: [String: ServiceTypeID] = [:]

    init(connection: PostgresConnection, state: StoredCatalog, summary: CatalogImportSummary) {
        self.connection = connection
        self.state = state
        self.summary = summary
        calendarIDs = state.calendars.mapValues(\.id)
        unitIDs = state.units.mapValues(\.id)
        serviceIDs = state.services.mapValues(\.id)
    }

    mutating func apply(_ file: CatalogFile) async throws {
        for calendar in file.calendars { try await apply(calendar) }
        try await apply(units: file.units)
        try await apply(areas: file.areas)
        for service in file.serviceTypes { try await apply(service) }
        for rule in file.routingRules { try await apply(rule) }
    }

    /// Whether an upsert's RETURNING row (if any) was an insert or an update.
    private static func count(_ rows: PostgresRows, into counts: inout CatalogImportSummary.Counts) throws -> Bool? {
        guard let row = rows.first else {
            counts.unchanged += 1
            return nil
        }
        let inserted = try row.decode(Bool.self, "inserted")
        if inserted { counts.created += 1 } else { counts.updated += 1 }
        return inserted
    }

    private func lookup(_ ids: [String: Int64], _ code: String, _ kind: String) throws -> Int64 {
        guard let id = ids[code] else { throw PostgresResultError("internal: \(kind) \(code) was validated but not written") }
        return id
    }

    private mutating func apply(_ calendar: CatalogFile.CalendarEntry) async throws {
        let rows = try await connection.query(
            """
            INSERT INTO calendars (code, name, time_zone, day_minutes) VALUES ($1, $2, $3, $4)
            ON CONFLICT (code) DO UPDATE
                SET name = EXCLUDED.name, time_zone = EXCLUDED.time_zone, day_minutes = EXCLUDED.day_minutes, updated_at = now()
                WHERE (calendars.name, calendars.time_zone, calendars.day_minutes)
                      IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.time_zone, EXCLUDED.day_minutes)
            RETURNING id, (xmax = 0) AS inserted
            """, calendar.code, calendar.name, calendar.timeZone, calendar.dayMinutes)
        var counts = summary.calendars
        let inserted = try Self.count(rows, into: &counts)
        if let row = rows.first { calendarIDs[calendar.code] = try row.decode(Int64.self, "id") }
        let id = try lookup(calendarIDs, calendar.code, "calendar")
        let stored = state.calendars[calendar.code]
        var timeChanged = stored.map { $0.timeZone != calendar.timeZone } ?? false

        if let intervals = calendar.intervals, intervals != stored?.intervals {
            try await connection.query("DELETE FROM calendar_intervals WHERE calendar_id = $1", id)
            try await connection.query(
                """
                INSERT INTO calendar_intervals (calendar_id, weekday, start_minute, end_minute)
                SELECT $1, t.weekday, t.start_minute, t.end_minute
                FROM unnest($2::int4[], $3::int4[], $4::int4[]) AS t (weekday, start_minute, end_minute)
                """, id, intervals.map { Int32($0.weekday) }, intervals.map { Int32($0.startMinute) },
                intervals.map { Int32($0.endMinute) })
            if stored != nil { timeChanged = true }
        }

        if !calendar.holidays.isEmpty {
            let holidayRows = try await connection.query(
                """
                INSERT INTO holidays (calendar_id, day, name, kind)
                SELECT $1, t.day::date, t.name, t.kind FROM unnest($2::text[], $3::text[], $4::text[]) AS t (day, name, kind)
                ON CONFLICT (calendar_id, day) DO UPDATE SET name = EXCLUDED.name, kind = EXCLUDED.kind
                    WHERE (holidays.name, holidays.kind) IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.kind)
                RETURNING (xmax = 0) AS inserted
                """, id, calendar.holidays.map(\.date.description), calendar.holidays.map(\.name),
                calendar.holidays.map(\.kind.rawValue))
            for row in holidayRows {
                if try row.decode(Bool.self, "inserted") { summary.holidays.created += 1 } else { summary.holidays.updated += 1 }
            }
            summary.holidays.unchanged += calendar.holidays.count - holidayRows.count
            if stored != nil && !holidayRows.isEmpty { timeChanged = true }
        }

        if stored != nil && timeChanged {
            summary.recomputeCalendars.append(calendar.code)
            // The zone, hours or holidays changed: this is what a calendar's updated_at records.
            try await connection.query("UPDATE calendars SET updated_at = now() WHERE id = $1", id)
            if inserted == nil {
                counts.unchanged -= 1
                counts.updated += 1
            }
        }
        summary.calendars = counts
    }

    private mutating func apply(units: [CatalogFile.UnitEntry]) async throws {
        guard !units.isEmpty else { return }
        // The single-triage index cannot be deferred: first take triage from the units the file
        // says are no longer it, then write the units.
        let clearing = units.filter { !$0.triage }.map(\.code)
        let cleared = Set(try await connection.query(
            "UPDATE units SET is_triage = false WHERE is_triage AND code = ANY($1) RETURNING code", clearing
        ).map { try $0.decode(String.self, "code") })

        for unit in Self.parentsFirst(units, stored: state.units) {
            let parentID = try unit.parent.map { try lookup(unitIDs, $0, "unit") }
            let rows = try await connection.query(
                """
                INSERT INTO units (code, name, parent_id, kind, is_triage, active) VALUES ($1, $2, $3, $4, $5, $6)
                ON CONFLICT (code) DO UPDATE
                    SET name = EXCLUDED.name, parent_id = EXCLUDED.parent_id, kind = EXCLUDED.kind,
                        is_triage = EXCLUDED.is_triage, active = EXCLUDED.active
                    WHERE (units.name, units.parent_id, units.kind, units.is_triage, units.active)
                          IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.parent_id, EXCLUDED.kind, EXCLUDED.is_triage, EXCLUDED.active)
                RETURNING id, (xmax = 0) AS inserted
                """, unit.code, unit.name, parentID, unit.kind, unit.triage, unit.active)
            if let row = rows.first {
                unitIDs[unit.code] = try row.decode(Int64.self, "id")
                _ = try Self.count(rows, into: &summary.units)
            } else if cleared.contains(unit.code) {
                summary.units.updated += 1
            } else {
                summary.units.unchanged += 1
            }
        }
    }

    /// The file's units ordered so that every unit comes after its parent, walking the tree as it
    /// will be (stored units included): the units_no_cycle trigger then never sees a passing
    /// cycle while units are re-parented one by one.
    static func parentsFirst(_ units: [CatalogFile.UnitEntry], stored: [String: StoredCatalog.UnitState]) -> [CatalogFile.UnitEntry] {
        var parents = stored.mapValues(\.parent)
        var byCode: [String: CatalogFile.UnitEntry] = [:]
        for unit in units {
            parents[unit.code] = unit.parent
            byCode[unit.code] = unit
        }
        var ordered: [CatalogFile.UnitEntry] = []
        var visited: Set<String> = []
        func visit(_ code: String) {
            guard visited.insert(code).inserted else { return }
            if let parent = parents[code] ?? nil { visit(parent) }
            if let unit = byCode[code] { ordered.append(unit) }
        }
        for unit in units { visit(unit.code) }
        return ordered
    }

    private mutating func apply(areas: [CatalogFile.AreaEntry]) async throws {
        guard !areas.isEmpty else { return }
        // One statement: foreign keys are checked at its end, so parents and children may come in
        // any order.
        var levels: [String] = []
        var parents: [String] = []
        for area in areas {
            let code = try AreaCode(area.code)
            levels.append(["province", "regency", "district", "village"][code.segments.count - 1])
            parents.append(code.parent?.description ?? "")
        }
        let rows = try await connection.query(
            """
            INSERT INTO areas (code, name, level, parent_code)
            SELECT t.code, t.name, t.level, NULLIF(t.parent_code, '')
            FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS t (code, name, level, parent_code)
            ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name WHERE areas.name IS DISTINCT FROM EXCLUDED.name
            RETURNING (xmax = 0) AS inserted
            """, areas.map(\.code), areas.map(\.name), levels, parents)
        for row in rows {
            if try row.decode(Bool.self, "inserted") { summary.areas.created += 1 } else { summary.areas.updated += 1 }
        }
        summary.areas.unchanged += areas.count - rows.count
    }

    private mutating func apply(_ service: CatalogFile.ServiceTypeEntry) async throws {
        let calendarID = try lookup(calendarIDs, service.calendar, "calendar")
        let unitID = try lookup(unitIDs, service.defaultUnit, "unit")
        let binds: [any PostgresEncodable] = [
            service.code, service.group, service.nameID, service.nameEN, service.descriptionID, service.descriptionEN,
            try PostgresJSON(service.requirements), service.feeRupiah, service.feeNoteID, service.feeNoteEN,
            service.responseTargetMinutes, service.resolutionTargetMinutes, calendarID, unitID,
            try PostgresJSON(service.escalationPolicy), service.isPublic, service.allowMultipleOpen,
            try PostgresJSON(service.attributes), service.keywords, service.active,
        ]
        let rows = try await connection.query(
            """
            INSERT INTO service_types (
                code, group_code, name_id, name_en, description_id, description_en, requirements, fee_rupiah, fee_note_id,
                fee_note_en, response_target_minutes, resolution_target_minutes, calendar_id, default_unit_id,
                escalation_policy, is_public, allow_multiple_open, attributes, keywords, active)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)
            ON CONFLICT (code) DO UPDATE SET
                group_code = EXCLUDED.group_code, name_id = EXCLUDED.name_id, name_en = EXCLUDED.name_en,
                description_id = EXCLUDED.description_id, description_en = EXCLUDED.description_en,
                requirements = EXCLUDED.requirements, fee_rupiah = EXCLUDED.fee_rupiah, fee_note_id = EXCLUDED.fee_note_id,
                fee_note_en = EXCLUDED.fee_note_en, response_target_minutes = EXCLUDED.response_target_minutes,
                resolution_target_minutes = EXCLUDED.resolution_target_minutes, calendar_id = EXCLUDED.calendar_id,
                default_unit_id = EXCLUDED.default_unit_id, escalation_policy = EXCLUDED.escalation_policy,
                is_public = EXCLUDED.is_public, allow_multiple_open = EXCLUDED.allow_multiple_open,
                attributes = EXCLUDED.attributes, keywords = EXCLUDED.keywords, active = EXCLUDED.active, updated_at = now()
            WHERE (service_types.group_code, service_types.name_id, service_types.name_en, service_types.description_id,
                   service_types.description_en, service_types.requirements, service_types.fee_rupiah,
                   service_types.fee_note_id, service_types.fee_note_en, service_types.response_target_minutes,
                   service_types.resolution_target_minutes, service_types.calendar_id, service_types.default_unit_id,
                   service_types.escalation_policy, service_types.is_public, service_types.allow_multiple_open,
                   service_types.attributes, service_types.keywords, service_types.active)
                  IS DISTINCT FROM
                  (EXCLUDED.group_code, EXCLUDED.name_id, EXCLUDED.name_en, EXCLUDED.description_id,
                   EXCLUDED.description_en, EXCLUDED.requirements, EXCLUDED.fee_rupiah, EXCLUDED.fee_note_id,
                   EXCLUDED.fee_note_en, EXCLUDED.response_target_minutes, EXCLUDED.resolution_target_minutes,
                   EXCLUDED.calendar_id, EXCLUDED.default_unit_id, EXCLUDED.escalation_policy, EXCLUDED.is_public,
                   EXCLUDED.allow_multiple_open, EXCLUDED.attributes, EXCLUDED.keywords, EXCLUDED.active)
            RETURNING id, (xmax = 0) AS inserted
            """, binds: binds)
        if let row = rows.first { serviceIDs[service.code] = try row.decode(Int64.self, "id") }
        _ = try Self.count(rows, into: &summary.serviceTypes)
        if let stored = state.services[service.code],
           stored.responseTargetMinutes != service.responseTargetMinutes
            || stored.resolutionTargetMinutes != service.resolutionTargetMinutes || stored.calendarID != calendarID
            || stored.escalationPolicy != service.escalationPolicy
        {
            summary.recomputeServices.append(service.code)
        }
    }

    private mutating func apply(_ rule: CatalogFile.RoutingRuleEntry) async throws {
        let serviceID = try rule.service.map { try lookup(serviceIDs, $0, "service type") }
        let unitID = try lookup(unitIDs, rule.unit, "unit")
        // The same rule the export writes for this triple: the active one, else the newest.
        let existing = try await connection.query(
            """
            SELECT id, unit_id, active, note FROM routing_rules
            WHERE service_type_id IS NOT DISTINCT FROM $1 AND area_code IS NOT DISTINCT FROM $2 AND priority = $3
            ORDER BY active DESC, id DESC LIMIT 1
            """, serviceID, rule.area, rule.priority
        ).first
        guard let existing else {
            try await connection.query(
                "INSERT INTO routing_rules (service_type_id, area_code, unit_id, priority, active, note) VALUES ($1, $2, $3, $4, $5, $6)",
                serviceID, rule.area, unitID, rule.priority, rule.active, rule.note)
            summary.routingRules.created += 1
            return
        }
        let unchanged = try existing.decode(Int64.self, "unit_id") == unitID && existing.decode(Bool.self, "active") == rule.active
            && existing.decode(String?.self, "note") == rule.note
        if unchanged {
            summary.routingRules.unchanged += 1
            return
        }
        try await connection.query(
            "UPDATE routing_rules SET unit_id = $2, active = $3, note = $4 WHERE id = $1",
            try existing.decode(Int64.self, "id"), unitID, rule.active, rule.note)
        summary.routingRules.updated += 1
    }
}
