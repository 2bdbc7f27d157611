import Foundation
import Testing
@testable import LoketCore

@Suite struct EscalationPolicyTests {
    static let documented = """
    {"stages": [
       {"percent": 50,  "notify": ["assignee"]},
       {"percent": 75,  "notify": ["assignee","supervisors"]},
       {"percent": 100, "notify": ["assignee","supervisors","managers"], "breach": true,
        "escalation_levels": 1, "priority_boost": 10, "move_to_parent": false}],
     "repeat_every_percent": 50,
     "repeat": {"notify": ["supervisors","managers"], "escalation_levels": 1, "priority_boost": 10, "move_to_parent": true},
     "max_escalation_level": 3}
    """

    func decode(_ json: String) throws -> EscalationPolicy {
        try JSONDecoder().decode(EscalationPolicy.self, from: Data(json.utf8))
    }

    @Test func theEmptyObjectAndTheDocumentedJSONAreTheDefault() throws {
        #expect(try decode("{}") == .default)
        #expect(try decode(Self.documented) == .default)
        #expect(try decode(String(decoding: JSONEncoder().encode(EscalationPolicy.default), as: UTF8.self)) == .default)
        #expect(EscalationPolicy.default.schedule.map(\.percent) == [50, 75, 100, 150, 200])
    }

    @Test func missingKeysTakeDefaults() throws {
        let policy = try decode(#"{"stages": [{"percent": 80, "notify": ["supervisors"]}, {"percent": 100}], "repeat": {"move_to_parent": false}}"#)
        #expect(policy.stages[1].breach, "the 100 % stage records the breach unless told otherwise")
        #expect(policy.stages[1].notify.isEmpty)
        #expect(policy.repeat == EscalationPolicy.Repeat(notify: [.supervisors, .managers], escalationLevels: 1, priorityBoost: 10, moveToParent: false))
        #expect(policy.schedule.map(\.percent) == [80, 100, 150, 200, 250], "no listed stage escalates, so three repeats reach level 3")
        #expect(policy.schedule.map(\.number) == [1, 2, 3, 4, 5])

        let noRepeats = try decode(#"{"repeat_every_percent": 0, "max_escalation_level": 5}"#)
        #expect(noRepeats.schedule.map(\.percent) == [50, 75, 100])
        let flat = try decode(#"{"max_escalation_level": 0}"#)
        #expect(flat.schedule.count == 3)
    }

    @Test(arguments: [
        (#"{"stages": [{"percent": 0}, {"percent": 100}]}"#, EscalationPolicyError.percentNotPositive(0)),
        (#"{"stages": [{"percent": 75}, {"percent": 50}, {"percent": 100}]}"#, .percentsNotIncreasing(75, 50)),
        (#"{"stages": [{"percent": 90, "breach": true}, {"percent": 100}]}"#, .breachNotAtHundredPercent(90)),
        (#"{"stages": [{"percent": 50}, {"percent": 100, "breach": false}]}"#, .missingBreachStage),
        (#"{"stages": []}"#, .missingBreachStage),
        (#"{"stages": [{"percent": 100, "escalation_levels": -1}]}"#, .negativeEscalationLevels(100)),
        (#"{"repeat_every_percent": -50}"#, .negativeRepeatInterval(-50)),
        (#"{"repeat": {"escalation_levels": 0}}"#, .repeatWithoutEscalation),
        (#"{"max_escalation_level": 11}"#, .maxEscalationLevelOutOfRange(11)),
    ])
    func invalidPoliciesAreRefusedWithTheReason(json: String, expected: EscalationPolicyError) {
        #expect(throws: expected) { try decode(json) }
        #expect(!expected.message(.indonesian).isEmpty)
    }

    /// The advice for a repeat that raises nothing is one the import takes: the ceiling at the
    /// listed stages' level ends repeats (0 for repeat_every_percent is refused by the database).
    @Test func theAdviceForARepeatWithoutEscalationWorks() throws {
        let advice = EscalationPolicyError.repeatWithoutEscalation.message(.english)
        #expect(advice.contains("max_escalation_level") && !advice.contains("to 0"))
        let followed = try decode(#"{"repeat": {"escalation_levels": 1}, "max_escalation_level": 1}"#)
        #expect(followed.schedule.map(\.percent) == [50, 75, 100], "the default breach stage reaches level 1: no repeats")
    }

    @Test func unknownNotifyTargetsAreADecodingError() {
        #expect(throws: DecodingError.self) { try decode(#"{"stages": [{"percent": 100, "notify": ["mayor"]}]}"#) }
    }

    @Test func stagesBecomeEscalations() {
        let breach = EscalationPolicy.default.schedule[2]
        let escalation = breach.escalation(clock: .resolution, parentUnit: 2, maxLevel: 3)
        #expect(escalation.cause == .stage(StageReference(clock: .resolution, number: 3, percent: 100, isBreach: true)))
        #expect(escalation.levels == 1 && escalation.priorityBoost == 10)
        #expect(escalation.moveToUnit == nil, "the default breach stays in its unit")
        let repeatStage = EscalationPolicy.default.schedule[3]
        #expect(repeatStage.escalation(clock: .resolution, parentUnit: 2, maxLevel: 3).moveToUnit == 2)
        #expect(repeatStage.escalation(clock: .resolution, parentUnit: nil, maxLevel: 3).moveToUnit == nil, "the top of the tree stays put")
    }

    /// The worker's whole loop on one request: filed, never claimed; the response clock's
    /// stages fire in turn; the breach raises the level; the repeat moves it up the tree.
    @Test func driveARequestThroughItsResponseStages() throws {
        let serang = Fixtures.serang
        let policy = EscalationPolicy.default
        var state = RequestState.filed(unitId: 10, priority: 50)
        var clocks = try SLAClocks(filedAt: Fixtures.wib("2026-03-17 09:00"), responseTargetMinutes: 450, resolutionTargetMinutes: 2250)
        let parents: [UnitID: UnitID] = [10: 2, 2: 1]
        var applied: [String] = []
        let now = Fixtures.wib("2026-03-27 16:00")
        for due in clocks.dueStages(at: now, policy: policy, calendar: serang) {
            let escalation = due.stage.escalation(clock: due.clock, parentUnit: parents[state.unitId], maxLevel: policy.maxEscalationLevel)
            let context = TransitionContext(now: due.dueAt, unitAncestors: [])
            let transition = try Lifecycle.transition(state, .escalate(escalation), by: .system, context: context).get()
            state = transition.state
            try clocks.record(due)
            applied.append("\(due.clock.rawValue) \(due.stage.number) unit \(state.unitId) level \(state.escalationLevel) priority \(state.priority)")
        }
        #expect(applied == [
            "response 1 unit 10 level 0 priority 50",
            "response 2 unit 10 level 0 priority 50",
            "response 3 unit 10 level 1 priority 60",
            "response 4 unit 2 level 2 priority 70",
            "response 5 unit 1 level 3 priority 80",
            "resolution 1 unit 1 level 3 priority 80",
        ])
        #expect(clocks.snapshot(policy: policy, calendar: serang).nextStage?.reference
            == StageReference(clock: .resolution, number: 2, percent: 75, isBreach: false))
    }
}
