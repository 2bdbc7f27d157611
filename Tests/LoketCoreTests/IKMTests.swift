import Foundation
import Testing
@testable import LoketCore

@Suite struct IKMTests {
    /// Four citizens' answers to the nine elements (U1 … U9).
    static let answers = [
        [4, 4, 3, 4, 3, 3, 4, 3, 3],
        [3, 3, 3, 4, 3, 3, 3, 3, 3],
        [4, 3, 4, 4, 4, 4, 4, 3, 4],
        [3, 3, 2, 4, 3, 3, 3, 2, 3],
    ]
    let feedback = answers.map { try! IKMScores($0) }

    @Test func followsTheRegulationsFormula() throws {
        let result = try #require(IKMResult(feedback))
        #expect(result.respondents == 4)
        // NRR = sum ÷ respondents per element.
        #expect(result.elementAverages == [3.5, 3.25, 3.0, 4.0, 3.25, 3.25, 3.5, 2.75, 3.25])
        #expect(result.average(.facilities) == 2.75)
        // IKM = Σ NRR × 1/9 = 29.75 / 9; converted × 25.
        #expect(abs(result.index - 29.75 / 9) < 1e-12)
        #expect(abs(result.convertedValue - 82.638_888_9) < 1e-6)
        #expect(result.publishedValue == 82.64)
        #expect(result.grade == .b)
        #expect(result.grade.label(.indonesian) == "Baik")
    }

    @Test func extremesAndEmptiness() throws {
        let best = try #require(IKMResult([try IKMScores(Array(repeating: 4, count: 9))]))
        #expect(best.publishedValue == 100 && best.grade == .a && best.grade.label(.indonesian) == "Sangat Baik")
        let worst = try #require(IKMResult([try IKMScores(Array(repeating: 1, count: 9))]))
        #expect(worst.publishedValue == 25 && worst.grade == .d && worst.grade.label(.indonesian) == "Tidak Baik")
        #expect(IKMResult([IKMScores]()) == nil)
        #expect(IKMTally().result() == nil)
    }

    @Test(arguments: [
        (25.0, IKMGrade.d), (64.99, .d), (65.0, .c), (76.6, .c), (76.61, .b), (88.3, .b), (88.31, .a), (100.0, .a),
    ])
    func gradeBands(value: Double, grade: IKMGrade) {
        #expect(IKMGrade(convertedValue: value) == grade)
    }

    /// A converted value exactly on x.xx5 (5,000 respondents) is rounded half up, in published
    /// value and grade alike: binary rounding published 76.605 as 76.60 (C) and 88.305 as 88.30 (B)
    /// but 64.995 as 65.00 (C).
    @Test(arguments: [(137_889, 7661, IKMGrade.b), (158_949, 8831, .a), (116_991, 6500, .c)])
    func valuesOnAHalfHundredthRoundUp(total: Int, hundredths: Int, grade: IKMGrade) throws {
        let respondents = 5000
        // Spread the total over the nine elements, each within 1–4 points per respondent.
        var sums = Array(repeating: total / 9, count: 9)
        sums[0] += total % 9
        let result = try #require(try IKMTally(respondents: respondents, sums: sums).result())
        #expect(result.hundredths == hundredths)
        #expect(result.publishedValue == Double(hundredths) / 100)
        #expect(result.grade == grade)
    }

    @Test func worksOnAnyCollection() throws {
        let all = try #require(IKMResult(feedback))
        #expect(IKMResult(Set(feedback)) == all)
        #expect(IKMResult(feedback[...]) == all)
        #expect(IKMResult(Self.answers.lazy.map { try! IKMScores($0) }) == all)
    }

    @Test func talliesOfDisjointSetsAddUp() {
        let morning = IKMTally(feedback.prefix(1))
        let afternoon = IKMTally(feedback.dropFirst())
        #expect(morning.merging(afternoon) == IKMTally(feedback))
        #expect(morning.merging(afternoon).result() == IKMResult(feedback))
    }

    @Test func customWeightsMustSumToOne() throws {
        let weights = try IKMWeights([0.1, 0.1, 0.2, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1])
        let result = try #require(IKMResult(feedback, weights: weights))
        #expect(abs(result.index - (29.75 - 3.0) * 0.1 - 3.0 * 0.2) < 1e-12)
        #expect(throws: IKMError.weightsDoNotSumToOne(0.999)) { try IKMWeights(Array(repeating: 0.111, count: 9)) }
        #expect(throws: IKMError.negativeWeight) { try IKMWeights([0.5, 0.5, 0.5, -0.5, 0, 0, 0, 0, 0]) }
        #expect(throws: IKMError.wrongElementCount(3)) { try IKMWeights([0.5, 0.25, 0.25]) }
    }

    @Test(arguments: [
        ([4, 4, 3, 4, 3, 3, 4, 3], IKMError.wrongElementCount(8)),
        ([4, 4, 3, 5, 3, 3, 4, 3, 3], .scoreOutOfRange(.fee, 5)),
        ([0, 4, 3, 4, 3, 3, 4, 3, 3], .scoreOutOfRange(.requirements, 0)),
    ])
    func invalidFeedbackGivesThePreciseReason(values: [Int], expected: IKMError) {
        #expect(throws: expected) { try IKMScores(values) }
        #expect(expected.message(.english).contains(expected == .wrongElementCount(8) ? "9 elements" : "1–4"))
    }

    @Test func scoresTravelAsArrays() throws {
        let json = try JSONEncoder().encode(feedback[0])
        #expect(String(decoding: json, as: UTF8.self) == "[4,4,3,4,3,3,4,3,3]")
        #expect(throws: IKMError.scoreOutOfRange(.procedure, 7)) {
            try JSONDecoder().decode(IKMScores.self, from: Data("[4,7,3,4,3,3,4,3,3]".utf8))
        }
        #expect(IKMElement.allCases.map(\.code) == ["U1", "U2", "U3", "U4", "U5", "U6", "U7", "U8", "U9"])
    }
}
