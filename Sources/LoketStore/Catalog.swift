import Foundation
import LoketCore
import Postgres
import Synchronization

/// A unit of the organisation tree.
public struct Unit: Sendable, Hashable {
    public var id: UnitID
    public var code: String
    public var name: String
    public var parentID: UnitID?
    public var kind: String
    public var isTriage: Bool
    /// An inactive unit keeps its requests and history but takes no new work (routing, transfers).
    public var active: Bool
}

/// A requirement of a service, in both languages.
public struct Requirement: Sendable, Hashable, Codable {
    public var id: String
    public var en: String
}

/// An Open311 attribute definition of a service type (what the citizen must or may answer).
public struct ServiceAttribute: Sendable, Hashable, Codable {
    public struct Value: Sendable, Hashable, Codable {
        public var key: String
        public var name: String
    }

    public var code: String
    public var datatype: String
    public var required: Bool
    public var order: Int
    public var descriptionID: String
    public var descriptionEN: String
    public var datatypeDescription: String?
    public var values: [Value]

    enum CodingKeys: String, CodingKey {
        case code, datatype, required, order, values
        case descriptionID = "description_id"
        case descriptionEN = "description_en"
        case datatypeDescription = "datatype_description"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        code = try container.decode(String.self, forKey: .code)
        datatype = try container.decode(String.self, forKey: .datatype)
        required = try container.decodeIfPresent(Bool.self, forKey: .required) ?? false
        order = try container.decodeIfPresent(Int.self, forKey: .order) ?? 0
        descriptionID = try container.decodeIfPresent(String.self, forKey: .descriptionID) ?? ""
        descriptionEN = try container.decodeIfPresent(String.self, forKey: .descriptionEN) ?? descriptionID
        datatypeDescription = try container.decodeIfPresent(String.self, forKey: .datatypeDescription)
        values = try container.decodeIfPresent([Value].self, forKey: .values) ?? []
    }
}

/// A service of the catalog with its published standard (requirements, fee, targets).
public struct ServiceType: Sendable, Hashable {
    public var id: ServiceTypeID
    public var code: String
    public var group: String
    public var name: LocalizedPair
    public var description: LocalizedPair
    public var requirements: [Requirement]
    public var feeRupiah: Int64
    public var feeNote: LocalizedPair?
    public var responseTargetMinutes: Int
    public var resolutionTargetMinutes: Int
    public var calendarID: Int64
    public var defaultUnitID: UnitID
    public var policy: EscalationPolicy
    public var isPublic: Bool
    public var allowMultipleOpen: Bool
    public var attributes: [ServiceAttribute]
    public var keywords: [String]
    /// An inactive service takes no new requests and is not listed, but its open requests are
    /// still worked and timed under its standard.
    public var active: Bool
}

/// A text in Indonesian and English.
public struct LocalizedPair: Sendable, Hashable {
    public var id: String
    public var en: String

    public func text(_ language: Language) -> String { language == .english ? en : id }
}

/// A business calendar with the length of its standard working day (to show targets in days).
public struct StoredCalendar: Sendable {
    public var id: Int64
    public var code: String
    public var dayMinutes: Int
    public var calendar: BusinessCalendar
}

/// Everything intake and the public pages need from the configuration tables, read at once.
public struct CatalogSnapshot: Sendable {
    /// The active services: what the catalog lists and intake accepts.
    public let services: [ServiceType]
    /// The active services by code.
    public let servicesByCode: [String: ServiceType]
    /// Every service, inactive ones included: the requests filed before a service was deactivated
    /// still need its standard (targets, calendar, escalation policy) until they close.
    public let servicesByID: [ServiceTypeID: ServiceType]
    /// Every service by code, inactive ones included (reports name them; only an active one is
    /// listed, has a page or takes a filing: `servicesByCode`).
    public let everyServiceByCode: [String: ServiceType]
    public let units: [UnitID: Unit]
    public let calendars: [Int64: StoredCalendar]
    public let routing: RoutingTable
    public let triageUnitID: UnitID
    /// Area names by Kemendagri code.
    public let areaNames: [String: String]
    public let loadedAt: Date
    /// Which load of this process the snapshot is (every load gets a new number), so that what is
    /// derived from a snapshot (an encoded answer) can be kept until the next load.
    public let generation: UInt64 = CatalogSnapshot.nextGeneration()

    private static let generations = Atomic<UInt64>(0)
    private static func nextGeneration() -> UInt64 {
        generations.add(1, ordering: .relaxed).newValue
    }

    public func calendar(for service: ServiceType) -> StoredCalendar { calendars[service.calendarID]! }

    /// Why a request went where it went, in words a citizen understands (names, not ids).
    public func explain(_ decision: RoutingDecision, service: ServiceType, language: Language) -> String {
        let unit = units[decision.unitId]?.name ?? "unit \(decision.unitId)"
        let serviceName = service.name.text(language)
        let english = language == .english
        switch decision.basis {
        case .rule:
            if let area = decision.rule?.areaCode, let name = areaNames[area.description] {
                return english
                    ? "Requests for \(serviceName) from \(name) are handled by \(unit) under a routing rule."
                    : "Permohonan \(serviceName) dari wilayah \(name) ditangani oleh \(unit) sesuai aturan penerusan."
            }
            return english
                ? "Requests for \(serviceName) are handled by \(unit) under a routing rule."
                : "Permohonan \(serviceName) ditangani oleh \(unit) sesuai aturan penerusan."
        case .serviceDefault:
            return english
                ? "\(serviceName) is handled by \(unit), the unit responsible for this service."
                : "\(serviceName) ditangani oleh \(unit), unit penanggung jawab layanan ini."
        case .triage:
            return english
                ? "\(unit) received the request to sort it and pass it to the right unit."
                : "Permohonan diterima \(unit) untuk dipilah dan diteruskan ke unit yang tepat."
        }
    }

    /// Ancestors of a unit, nearest first (for subtree checks and escalation).
    public func ancestors(of unit: UnitID) -> [UnitID] {
        var chain: [UnitID] = []
        var current = units[unit]?.parentID
        while let id = current, !chain.contains(id) {
            chain.append(id)
            current = units[id]?.parentID
        }
        return chain
    }
}

public enum CatalogError: Error, CustomStringConvertible {
    case noTriageUnit
    case invalidConfiguration(String)

    public var description: String {
        switch self {
        case .noTriageUnit: return "the catalog has no active triage unit (units.is_triage)"
        case .invalidConfiguration(let reason): return "invalid catalog configuration: \(reason)"
        }
    }
}

public enum CatalogStore {
    /// Reads the catalog: units, calendars with hours and holidays, service types (the inactive
    /// ones only for the requests they still have) and active routing rules.
    ///
    /// All from one snapshot: outside a transaction the reads run in a read-only REPEATABLE READ
    /// one. Read statement by statement, an import that committed between two of them gave a
    /// catalog whose services named a unit the units read had not seen (their filings went to
    /// triage, for as long as the copy was cached) or a calendar it had not read (the load failed).
    public static func load(on connection: PostgresConnection, now: Date = Date()) async throws -> CatalogSnapshot {
        guard connection.isInTransaction else {
            return try await connection.transaction(isolation: .repeatableRead, readOnly: true) { try await load(on: $0, now: now) }
        }
        var units: [UnitID: Unit] = [:]
        var triage: UnitID?
        for row in try await connection.query("SELECT id, code, name, parent_id, kind, is_triage, active FROM units") {
            let unit = Unit(
                id: try row.decode(Int64.self, "id"), code: try row.decode(String.self, "code"),
                name: try row.decode(String.self, "name"), parentID: try row.decode(Int64?.self, "parent_id"),
                kind: try row.decode(String.self, "kind"), isTriage: try row.decode(Bool.self, "is_triage"),
                active: try row.decode(Bool.self, "active"))
            units[unit.id] = unit
            if unit.isTriage, unit.active { triage = unit.id }
        }
        guard let triage else { throw CatalogError.noTriageUnit }

        var intervals: [Int64: [WorkingInterval]] = [:]
        for row in try await connection.query("SELECT calendar_id, weekday, start_minute, end_minute FROM calendar_intervals") {
            intervals[try row.decode(Int64.self, "calendar_id"), default: []].append(WorkingInterval(
                weekday: try row.decode(Int.self, "weekday"), startMinute: try row.decode(Int.self, "start_minute"),
                endMinute: try row.decode(Int.self, "end_minute")))
        }
        var holidays: [Int64: [Holiday]] = [:]
        for row in try await connection.query("SELECT calendar_id, day, name, kind FROM holidays") {
            let day = try row.decode(PostgresLocalDate.self, "day")
            let kind = HolidayKind(rawValue: try row.decode(String.self, "kind")) ?? .national
            holidays[try row.decode(Int64.self, "calendar_id"), default: []].append(
                try Holiday(year: day.year, month: day.month, day: day.day, name: try row.decode(String.self, "name"), kind: kind))
        }
        var calendars: [Int64: StoredCalendar] = [:]
        for row in try await connection.query("SELECT id, code, time_zone, day_minutes FROM calendars") {
            let id = try row.decode(Int64.self, "id")
            let code = try row.decode(String.self, "code")
            do {
                let calendar = try BusinessCalendar(
                    timeZoneIdentifier: try row.decode(String.self, "time_zone"), intervals: intervals[id] ?? [],
                    holidays: holidays[id] ?? [])
                calendars[id] = StoredCalendar(id: id, code: code, dayMinutes: try row.decode(Int.self, "day_minutes"), calendar: calendar)
            } catch {
                throw CatalogError.invalidConfiguration("calendar \(code): \(error)")
            }
        }

        var services: [ServiceType] = []
        let serviceRows = try await connection.query(
            """
            SELECT id, code, group_code, name_id, name_en, description_id, description_en, requirements, fee_rupiah,
                   fee_note_id, fee_note_en, response_target_minutes, resolution_target_minutes, calendar_id,
                   default_unit_id, escalation_policy, is_public, allow_multiple_open, attributes, keywords, active
            FROM service_types ORDER BY group_code, code
            """)
        for row in serviceRows {
            let code = try row.decode(String.self, "code")
            let calendarID = try row.decode(Int64.self, "calendar_id")
            guard calendars[calendarID] != nil else { throw CatalogError.invalidConfiguration("service \(code) has no calendar") }
            let feeNoteID = try row.decode(String?.self, "fee_note_id")
            let feeNoteEN = try row.decode(String?.self, "fee_note_en")
            let policy: EscalationPolicy
            do {
                policy = try row.json(EscalationPolicy.self, "escalation_policy")
            } catch {
                throw CatalogError.invalidConfiguration("service \(code) escalation policy: \(error)")
            }
            services.append(ServiceType(
                id: try row.decode(Int64.self, "id"), code: code, group: try row.decode(String.self, "group_code"),
                name: LocalizedPair(id: try row.decode(String.self, "name_id"), en: try row.decode(String.self, "name_en")),
                description: LocalizedPair(
                    id: try row.decode(String.self, "description_id"), en: try row.decode(String.self, "description_en")),
                requirements: try row.json([Requirement].self, "requirements"),
                feeRupiah: try row.decode(Int64.self, "fee_rupiah"),
                feeNote: feeNoteID.map { LocalizedPair(id: $0, en: feeNoteEN ?? $0) },
                responseTargetMinutes: try row.decode(Int.self, "response_target_minutes"),
                resolutionTargetMinutes: try row.decode(Int.self, "resolution_target_minutes"),
                calendarID: calendarID, defaultUnitID: try row.decode(Int64.self, "default_unit_id"), policy: policy,
                isPublic: try row.decode(Bool.self, "is_public"),
                allowMultipleOpen: try row.decode(Bool.self, "allow_multiple_open"),
                attributes: try row.json([ServiceAttribute].self, "attributes").sorted { $0.order < $1.order },
                keywords: try row.decode([String].self, "keywords"), active: try row.decode(Bool.self, "active")))
        }
        let active = services.filter(\.active)

        var rules: [RoutingRule] = []
        for row in try await connection.query(
            "SELECT id, service_type_id, area_code, unit_id, priority, active FROM routing_rules WHERE active")
        {
            rules.append(RoutingRule(
                id: try row.decode(Int64.self, "id"), serviceTypeId: try row.decode(Int64?.self, "service_type_id"),
                areaCode: try row.decode(String?.self, "area_code").map { try AreaCode($0) },
                unitId: try row.decode(Int64.self, "unit_id"), priority: try row.decode(Int.self, "priority"),
                isActive: try row.decode(Bool.self, "active")))
        }
        var areaNames: [String: String] = [:]
        for row in try await connection.query("SELECT code, name FROM areas") {
            areaNames[try row.decode(String.self, "code")] = try row.decode(String.self, "name")
        }

        return CatalogSnapshot(
            services: active, servicesByCode: Dictionary(uniqueKeysWithValues: active.map { ($0.code, $0) }),
            servicesByID: Dictionary(uniqueKeysWithValues: services.map { ($0.id, $0) }),
            everyServiceByCode: Dictionary(uniqueKeysWithValues: services.map { ($0.code, $0) }), units: units,
            calendars: calendars, routing: RoutingTable(rules: rules), triageUnitID: triage, areaNames: areaNames, loadedAt: now)
    }
}

/// The catalog held in memory and re-read at most every `maxAge`, so intake does not read eight
/// configuration tables per request. Admin changes show within `maxAge`.
public final class CatalogCache: Sendable {
    private let pool: ConnectionPool
    private let maxAge: Duration
    private let state = Mutex<(snapshot: CatalogSnapshot?, loadedAt: ContinuousClock.Instant?)>((nil, nil))

    /// How long servers and workers keep a copy: `loketd admin recompute-sla` waits this long
    /// after the last change of deadlines' inputs before it starts (`SLAStore.catalogSettleDelay`).
    public static let defaultMaxAge: Duration = .seconds(30)

    public init(pool: ConnectionPool, maxAge: Duration = CatalogCache.defaultMaxAge) {
        self.pool = pool
        self.maxAge = maxAge
    }

    public func snapshot() async throws -> CatalogSnapshot {
        let now = ContinuousClock.now
        let cached = state.withLock { state -> CatalogSnapshot? in
            guard let snapshot = state.snapshot, let loadedAt = state.loadedAt, now - loadedAt < maxAge else { return nil }
            return snapshot
        }
        if let cached { return cached }
        let fresh = try await pool.withConnection { try await CatalogStore.load(on: $0) }
        state.withLock { $0 = (fresh, now) }
        return fresh
    }

    /// Drops the cached copy (after an admin change in this process, and in tests).
    public func invalidate() {
        state.withLock { $0 = (nil, nil) }
    }
}
