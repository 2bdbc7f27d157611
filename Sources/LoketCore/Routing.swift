import Foundation

/// The levels of the Kemendagri region code tree.
public enum AreaLevel: Int, Sendable, Hashable, Codable, CaseIterable, Comparable {
    case province = 1
    /// Kabupaten or kota.
    case regency = 2
    /// Kecamatan.
    case district = 3
    /// Kelurahan or desa.
    case village = 4

    public static func < (lhs: AreaLevel, rhs: AreaLevel) -> Bool { lhs.rawValue < rhs.rawValue }

    public func label(_ language: Language) -> String {
        switch (self, language) {
        case (.province, .indonesian): "provinsi"
        case (.province, .english): "province"
        case (.regency, .indonesian): "kabupaten/kota"
        case (.regency, .english): "regency/city"
        case (.district, .indonesian): "kecamatan"
        case (.district, .english): "district (kecamatan)"
        case (.village, .indonesian): "kelurahan/desa"
        case (.village, .english): "village (kelurahan/desa)"
        }
    }
}

/// A Kemendagri region code such as `36.73.01.1001` (Banten · Kota Serang · Serang · a
/// kelurahan). Segments are 2, 2, 2 and 4 digits; each code's ancestors are its prefixes.
public struct AreaCode: Hashable, Sendable, Codable, Comparable, CustomStringConvertible {
    /// The segments, e.g. `["36", "73", "01", "1001"]`.
    public let segments: [String]

    private static let segmentLengths = [2, 2, 2, 4]

    /// Parses a code written with dots (`36.73.01.1001`) or without (`3673011001`).
    public init(_ text: String) throws(AreaCodeError) {
        let text = text.trimmingWhitespace(includingNewlines: false)
        guard !text.isEmpty else { throw .empty }
        if let bad = text.first(where: { !($0.isASCII && ($0.isNumber || $0 == ".")) }) { throw .invalidCharacter(bad) }
        var segments: [String]
        if text.utf8.contains(UInt8(ascii: ".")) {  // not `contains(".")`, which goes through NSString
            segments = text.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
            guard segments.count <= 4 else { throw .tooManySegments(segments.count) }
            for (index, segment) in segments.enumerated() where segment.count != Self.segmentLengths[index] {
                throw .wrongSegmentLength(segment: index + 1, expected: Self.segmentLengths[index], found: segment.count)
            }
        } else {
            guard let level = [2: 1, 4: 2, 6: 3, 10: 4][text.count] else { throw .wrongLength(text.count) }
            segments = []
            var rest = Substring(text)
            for length in Self.segmentLengths.prefix(level) {
                segments.append(String(rest.prefix(length)))
                rest = rest.dropFirst(length)
            }
        }
        for (index, segment) in segments.enumerated() where segment.allSatisfy({ $0 == "0" }) {
            throw .zeroSegment(segment: index + 1)
        }
        self.segments = segments
    }

    /// For segments already known to be valid (from a checked NIK, or a parent of a parsed code).
    init(validSegments: [String]) { self.segments = validSegments }

    public var level: AreaLevel { AreaLevel(rawValue: segments.count)! }

    /// The code one level up; nil for a province.
    public var parent: AreaCode? {
        segments.count > 1 ? AreaCode(validSegments: Array(segments.dropLast())) : nil
    }

    /// This code and its ancestors, most specific first: kelurahan, kecamatan, regency, province.
    public var lineage: [AreaCode] {
        (1...segments.count).reversed().map { AreaCode(validSegments: Array(segments.prefix($0))) }
    }

    /// Whether `other` lies within this area (or is it).
    public func contains(_ other: AreaCode) -> Bool {
        other.segments.count >= segments.count && Array(other.segments.prefix(segments.count)) == segments
    }

    public var description: String { segments.joined(separator: ".") }

    public static func < (lhs: AreaCode, rhs: AreaCode) -> Bool { lhs.description < rhs.description }

    public init(from decoder: any Decoder) throws {
        try self.init(try decoder.singleValueContainer().decode(String.self))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

/// Why a region code was refused.
public enum AreaCodeError: UserFacingError, Hashable {
    case empty
    case invalidCharacter(Character)
    case tooManySegments(Int)
    case wrongSegmentLength(segment: Int, expected: Int, found: Int)
    /// An undotted code must have 2, 4, 6 or 10 digits.
    case wrongLength(Int)
    case zeroSegment(segment: Int)

    public var code: String {
        switch self {
        case .empty: "area_code_empty"
        case .invalidCharacter: "area_code_invalid_character"
        case .tooManySegments: "area_code_too_many_segments"
        case .wrongSegmentLength: "area_code_wrong_segment_length"
        case .wrongLength: "area_code_wrong_length"
        case .zeroSegment: "area_code_zero_segment"
        }
    }

    public func message(_ language: Language) -> String {
        switch (self, language) {
        case (.empty, .indonesian): "Kode wilayah wajib diisi."
        case (.empty, .english): "The area code is required."
        case (.invalidCharacter(let character), .indonesian): "Kode wilayah hanya berisi angka dan titik, bukan \"\(character)\"."
        case (.invalidCharacter(let character), .english): "An area code holds only digits and dots, not \"\(character)\"."
        case (.tooManySegments(let count), .indonesian): "Kode wilayah paling banyak 4 bagian (tertulis \(count))."
        case (.tooManySegments(let count), .english): "An area code has at most 4 parts (got \(count))."
        case (.wrongSegmentLength(let segment, let expected, let found), .indonesian): "Bagian ke-\(segment) kode wilayah harus \(expected) digit (tertulis \(found))."
        case (.wrongSegmentLength(let segment, let expected, let found), .english): "Part \(segment) of the area code must have \(expected) digits (got \(found))."
        case (.wrongLength(let count), .indonesian): "Kode wilayah tanpa titik harus 2, 4, 6 atau 10 digit (tertulis \(count))."
        case (.wrongLength(let count), .english): "An area code without dots has 2, 4, 6 or 10 digits (got \(count))."
        case (.zeroSegment(let segment), .indonesian): "Bagian ke-\(segment) kode wilayah tidak boleh nol."
        case (.zeroSegment(let segment), .english): "Part \(segment) of the area code cannot be zero."
        }
    }
}

/// A routing rule as stored: requests of a service type (nil: any service) from an area and
/// everything below it (nil: any area) go to a unit.
public struct RoutingRule: Hashable, Sendable, Codable {
    public var id: RoutingRuleID
    public var serviceTypeId: ServiceTypeID?
    public var areaCode: AreaCode?
    public var unitId: UnitID
    /// Breaks ties between equally specific rules; higher wins.
    public var priority: Int
    public var isActive: Bool

    public init(id: RoutingRuleID, serviceTypeId: ServiceTypeID?, areaCode: AreaCode?, unitId: UnitID, priority: Int, isActive: Bool) {
        self.id = id
        self.serviceTypeId = serviceTypeId
        self.areaCode = areaCode
        self.unitId = unitId
        self.priority = priority
        self.isActive = isActive
    }

    enum CodingKeys: String, CodingKey {
        case id, priority
        case serviceTypeId = "service_type_id"
        case areaCode = "area_code"
        case unitId = "unit_id"
        case isActive = "active"
    }
}

/// Where a request goes and why, kept in the `created` event so anyone can see later why a
/// request landed in a unit.
public struct RoutingDecision: Hashable, Sendable, Codable {
    public enum Basis: String, Hashable, Sendable, Codable {
        /// An active rule matched.
        case rule
        /// No rule matched; the service type's default unit.
        case serviceDefault = "service_default"
        /// No rule matched and the service type has no default unit: the front office sorts it out.
        case triage
    }

    public let unitId: UnitID
    public let basis: Basis
    public let serviceTypeId: ServiceTypeID
    /// The citizen's area, if given.
    public let area: AreaCode?
    /// The winning rule (basis `rule` only).
    public let rule: RoutingRule?
    /// Other active rules that matched but were less specific or of lower priority.
    public let outranked: [RoutingRuleID]

    /// The decision as a sentence, e.g. “Rule #7 chosen: specific to service 12, for district
    /// (kecamatan) 36.73.01, priority 10; it outranks rules #3.”
    public func explanation(_ language: Language) -> String {
        let inIndonesian = language == .indonesian
        switch basis {
        case .rule:
            guard let rule else { return "" }
            let service = rule.serviceTypeId.map { inIndonesian ? "khusus layanan \($0)" : "specific to service \($0)" }
                ?? (inIndonesian ? "untuk semua layanan" : "for any service")
            let area = rule.areaCode.map { "\(inIndonesian ? "untuk" : "for") \($0.level.label(language)) \($0)" }
                ?? (inIndonesian ? "untuk semua wilayah" : "for any area")
            let others = outranked.isEmpty ? ""
                : (inIndonesian ? "; mengalahkan aturan " : "; it outranks rules ") + outranked.map { "#\($0)" }.joined(separator: ", ")
            return inIndonesian ? "Aturan #\(rule.id) dipilih: \(service), \(area), prioritas \(rule.priority)\(others). Unit tujuan: \(unitId)."
                : "Rule #\(rule.id) chosen: \(service), \(area), priority \(rule.priority)\(others). Destination unit: \(unitId)."
        case .serviceDefault:
            return inIndonesian ? "Tidak ada aturan yang cocok; dipakai unit bawaan layanan \(serviceTypeId), yaitu unit \(unitId)."
                : "No rule matched; service \(serviceTypeId)'s default unit \(unitId) is used."
        case .triage:
            return inIndonesian ? "Tidak ada aturan yang cocok dan layanan \(serviceTypeId) tidak punya unit bawaan; permohonan masuk ke unit front office \(unitId)."
                : "No rule matched and service \(serviceTypeId) has no default unit; the request goes to the triage unit \(unitId)."
        }
    }

    enum CodingKeys: String, CodingKey {
        case basis, area, rule, outranked
        case unitId = "unit_id"
        case serviceTypeId = "service_type_id"
    }
}

/// The routing rules of a jurisdiction.
public struct RoutingTable: Hashable, Sendable {
    public let rules: [RoutingRule]

    public init(rules: [RoutingRule]) { self.rules = rules }

    /// Picks the unit for a request of `serviceTypeId` from `area`.
    ///
    /// Among the active rules whose service is this one or any, and whose area contains the
    /// citizen's or is any, the most specific wins: a rule for this service beats one for any
    /// service; then the deepest area (kelurahan, kecamatan, regency, province, any); then the
    /// higher priority; then the lower id, so the outcome never depends on the rules' order.
    /// Without a match the service type's default unit is used, and without one the triage unit.
    /// A unit that `takesWork` says no to (an inactive one: nobody works its queue) is passed
    /// over, as a rule's target and as the default.
    public func route(
        serviceTypeId: ServiceTypeID, area: AreaCode?, defaultUnitId: UnitID?, triageUnitId: UnitID,
        takesWork: (UnitID) -> Bool = { _ in true }
    ) -> RoutingDecision {
        let matching = rules.filter { rule in
            rule.isActive
                && takesWork(rule.unitId)
                && (rule.serviceTypeId == nil || rule.serviceTypeId == serviceTypeId)
                && (rule.areaCode.map { ruleArea in area.map { ruleArea.contains($0) } ?? false } ?? true)
        }
        let ranked = matching.sorted { lhs, rhs in
            Self.rank(lhs) > Self.rank(rhs)
        }
        if let winner = ranked.first {
            return RoutingDecision(unitId: winner.unitId, basis: .rule, serviceTypeId: serviceTypeId, area: area, rule: winner,
                                   outranked: ranked.dropFirst().map(\.id))
        }
        if let defaultUnitId, takesWork(defaultUnitId) {
            return RoutingDecision(unitId: defaultUnitId, basis: .serviceDefault, serviceTypeId: serviceTypeId, area: area, rule: nil, outranked: [])
        }
        return RoutingDecision(unitId: triageUnitId, basis: .triage, serviceTypeId: serviceTypeId, area: area, rule: nil, outranked: [])
    }

    private static func rank(_ rule: RoutingRule) -> (Int, Int, Int, Int64) {
        (rule.serviceTypeId == nil ? 0 : 1, rule.areaCode?.segments.count ?? 0, rule.priority, -rule.id)
    }
}
