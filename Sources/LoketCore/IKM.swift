import Foundation

/// The nine elements (unsur) of the community satisfaction survey, PermenPAN-RB 14/2017.
public enum IKMElement: Int, Sendable, Hashable, Codable, CaseIterable {
    case requirements = 1
    case procedure
    case completionTime
    case fee
    case product
    case competence
    case conduct
    case facilities
    case complaintHandling

    /// `U1` … `U9`, as the regulation numbers them.
    public var code: String { "U\(rawValue)" }

    public func name(_ language: Language) -> String {
        switch (self, language) {
        case (.requirements, .indonesian): "Persyaratan"
        case (.requirements, .english): "Requirements"
        case (.procedure, .indonesian): "Sistem, mekanisme, dan prosedur"
        case (.procedure, .english): "System, mechanism and procedure"
        case (.completionTime, .indonesian): "Waktu penyelesaian"
        case (.completionTime, .english): "Completion time"
        case (.fee, .indonesian): "Biaya/tarif"
        case (.fee, .english): "Fee"
        case (.product, .indonesian): "Produk spesifikasi jenis pelayanan"
        case (.product, .english): "Service product"
        case (.competence, .indonesian): "Kompetensi pelaksana"
        case (.competence, .english): "Staff competence"
        case (.conduct, .indonesian): "Perilaku pelaksana"
        case (.conduct, .english): "Staff conduct"
        case (.facilities, .indonesian): "Sarana dan prasarana"
        case (.facilities, .english): "Facilities"
        case (.complaintHandling, .indonesian): "Penanganan pengaduan, saran dan masukan"
        case (.complaintHandling, .english): "Handling of complaints and suggestions"
        }
    }
}

/// One citizen's answers: a score of 1 (poor) to 4 (very good) for each of the nine elements.
public struct IKMScores: Hashable, Sendable, Codable {
    /// Scores in element order, U1 first.
    public let values: [Int]

    public static let scale = 1...4

    public init(_ values: [Int]) throws(IKMError) {
        guard values.count == IKMElement.allCases.count else { throw .wrongElementCount(values.count) }
        for (index, score) in values.enumerated() where !Self.scale.contains(score) {
            throw .scoreOutOfRange(IKMElement(rawValue: index + 1)!, score)
        }
        self.values = values
    }

    public subscript(element: IKMElement) -> Int { values[element.rawValue - 1] }

    public init(from decoder: any Decoder) throws {
        try self.init(try decoder.singleValueContainer().decode([Int].self))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(values)
    }
}

/// The weight of each element in the index. The regulation weighs all nine equally (1/9, which
/// it prints as 0.111); other weights are allowed if they sum to 1.
public struct IKMWeights: Hashable, Sendable {
    public let values: [Double]

    public static let regulation = IKMWeights(validValues: Array(repeating: 1.0 / 9.0, count: 9))

    public init(_ values: [Double]) throws(IKMError) {
        guard values.count == IKMElement.allCases.count else { throw .wrongElementCount(values.count) }
        guard values.allSatisfy({ $0 >= 0 }) else { throw .negativeWeight }
        let sum = values.reduce(0, +)
        guard abs(sum - 1) < 1e-9 else { throw .weightsDoNotSumToOne(sum) }
        self.values = values
    }

    private init(validValues: [Double]) { self.values = validValues }
}

/// The grade (mutu pelayanan) of a converted IKM value; A is the best, so `.a > .b`.
public enum IKMGrade: String, Sendable, Hashable, Codable, CaseIterable, Comparable {
    case a = "A"
    case b = "B"
    case c = "C"
    case d = "D"

    /// The band of a converted value, read at two decimals as the regulation prints it:
    /// 88.31–100 A, 76.61–88.30 B, 65.00–76.60 C, 25.00–64.99 D.
    public init(convertedValue: Double) {
        self.init(hundredths: Int((convertedValue * 100).rounded()))
    }

    /// The band of a converted value given in hundredths (7661 is 76.61).
    public init(hundredths: Int) {
        self = hundredths >= 8831 ? .a : hundredths >= 7661 ? .b : hundredths >= 6500 ? .c : .d
    }

    public func label(_ language: Language) -> String {
        switch (self, language) {
        case (.a, .indonesian): "Sangat Baik"
        case (.a, .english): "Very good"
        case (.b, .indonesian): "Baik"
        case (.b, .english): "Good"
        case (.c, .indonesian): "Kurang Baik"
        case (.c, .english): "Fair"
        case (.d, .indonesian): "Tidak Baik"
        case (.d, .english): "Poor"
        }
    }

    public static func < (lhs: IKMGrade, rhs: IKMGrade) -> Bool { lhs.rawValue > rhs.rawValue }
}

/// Running sums of feedback: what a unit or service keeps to publish its IKM over any period
/// without re-reading every answer. Tallies of disjoint sets add up.
public struct IKMTally: Hashable, Sendable, Codable {
    public private(set) var respondents: Int
    /// Sum of scores per element, U1 first.
    public private(set) var sums: [Int]

    public init() {
        self.respondents = 0
        self.sums = Array(repeating: 0, count: IKMElement.allCases.count)
    }

    public init(_ feedback: some Sequence<IKMScores>) {
        self.init()
        for scores in feedback { add(scores) }
    }

    /// A tally kept elsewhere as totals (the reporting summaries store respondents and per-element
    /// sums). Sums must fit the scale: between 1 and 4 points per respondent for each element.
    public init(respondents: Int, sums: [Int]) throws(IKMError) {
        guard sums.count == IKMElement.allCases.count else { throw .wrongElementCount(sums.count) }
        guard respondents >= 0 else { throw .wrongElementCount(respondents) }
        let fits = (respondents * IKMScores.scale.lowerBound)...(respondents * IKMScores.scale.upperBound)
        if let index = sums.firstIndex(where: { !fits.contains($0) }) {
            throw .scoreOutOfRange(IKMElement(rawValue: index + 1)!, sums[index])
        }
        self.respondents = respondents
        self.sums = sums
    }

    public mutating func add(_ scores: IKMScores) {
        respondents += 1
        for index in sums.indices { sums[index] += scores.values[index] }
    }

    public func merging(_ other: IKMTally) -> IKMTally {
        var merged = self
        merged.respondents += other.respondents
        for index in merged.sums.indices { merged.sums[index] += other.sums[index] }
        return merged
    }

    /// The index per the regulation; nil without any feedback.
    public func result(weights: IKMWeights = .regulation) -> IKMResult? {
        guard respondents > 0 else { return nil }
        let averages = sums.map { Double($0) / Double(respondents) }
        let index = zip(averages, weights.values).reduce(0) { $0 + $1.0 * $1.1 }
        // With the regulation's equal weights the converted value is 25·S / 9n exactly (S the sum
        // of every score): its hundredths are rounded half up in integers, so that a value on
        // x.xx5 (n a multiple of 5,000) is published and graded alike, not by binary rounding
        // error (76.605 came out 76.60, grade C, where the regulation reads 76.61, grade B).
        let total = sums.reduce(0, +)
        let hundredths = weights == .regulation ? (5000 * total + 9 * respondents) / (18 * respondents) : nil
        return IKMResult(respondents: respondents, elementAverages: averages, index: index, hundredths: hundredths)
    }
}

/// An IKM: per-element averages (NRR), the weighted index on the 1–4 scale, its conversion to
/// 25–100 and the grade.
public struct IKMResult: Hashable, Sendable {
    public let respondents: Int
    /// NRR per element, U1 first: sum of scores ÷ respondents.
    public let elementAverages: [Double]
    /// Σ NRR × weight, 1–4.
    public let index: Double

    /// Feedback from any collection; nil when it is empty.
    public init?(_ feedback: some Sequence<IKMScores>, weights: IKMWeights = .regulation) {
        guard let result = IKMTally(feedback).result(weights: weights) else { return nil }
        self = result
    }

    /// The converted value in hundredths, rounded half up from the exact sums, where the weights
    /// allow it (the regulation's); otherwise rounded from `convertedValue`.
    private let exactHundredths: Int?

    init(respondents: Int, elementAverages: [Double], index: Double, hundredths: Int? = nil) {
        self.respondents = respondents
        self.elementAverages = elementAverages
        self.index = index
        self.exactHundredths = hundredths
    }

    public func average(_ element: IKMElement) -> Double { elementAverages[element.rawValue - 1] }

    /// IKM × 25, 25–100.
    public var convertedValue: Double { index * 25 }

    /// The converted value in hundredths, as published (8312 is 83.12).
    public var hundredths: Int { exactHundredths ?? Int((convertedValue * 100).rounded()) }

    /// The converted value rounded to two decimals, as published.
    public var publishedValue: Double { Double(hundredths) / 100 }

    /// The grade of the published value.
    public var grade: IKMGrade { IKMGrade(hundredths: hundredths) }
}

/// Why feedback or weights were refused.
public enum IKMError: UserFacingError, Hashable {
    case wrongElementCount(Int)
    case scoreOutOfRange(IKMElement, Int)
    case negativeWeight
    case weightsDoNotSumToOne(Double)

    public var code: String {
        switch self {
        case .wrongElementCount: "ikm_wrong_element_count"
        case .scoreOutOfRange: "ikm_score_out_of_range"
        case .negativeWeight: "ikm_negative_weight"
        case .weightsDoNotSumToOne: "ikm_weights_sum"
        }
    }

    public func message(_ language: Language) -> String {
        switch (self, language) {
        case (.wrongElementCount(let count), .indonesian): "Penilaian harus memuat 9 unsur (tertulis \(count))."
        case (.wrongElementCount(let count), .english): "Feedback must cover the 9 elements (got \(count))."
        case (.scoreOutOfRange(let element, let score), .indonesian): "Nilai \(element.code) (\(element.name(.indonesian))) harus 1–4 (tertulis \(score))."
        case (.scoreOutOfRange(let element, let score), .english): "The score for \(element.code) (\(element.name(.english))) must be 1–4 (got \(score))."
        case (.negativeWeight, .indonesian): "Bobot unsur tidak boleh negatif."
        case (.negativeWeight, .english): "Element weights cannot be negative."
        case (.weightsDoNotSumToOne(let sum), .indonesian): "Jumlah bobot unsur harus 1 (tertulis \(sum))."
        case (.weightsDoNotSumToOne(let sum), .english): "Element weights must sum to 1 (got \(sum))."
        }
    }
}
