/// Who is told when an SLA stage falls due.
public enum NotifyTarget: String, Sendable, Hashable, Codable, CaseIterable {
    /// The officer holding the request (skipped when nobody holds it).
    case assignee
    /// Supervisors of the request's unit (after any move the stage makes).
    case supervisors
    /// Managers up the unit tree from the request's unit, as far as its agency.
    case managers
}

/// What a service type does as its SLA clocks run: for each stage (a percentage of the target),
/// who is told and what happens to the request. Stored as JSON on the service type; `{}` is the
/// default policy and missing keys take their defaults:
///
/// ```json
/// {"stages": [
///    {"percent": 50,  "notify": ["assignee"]},
///    {"percent": 75,  "notify": ["assignee", "supervisors"]},
///    {"percent": 100, "notify": ["assignee", "supervisors", "managers"], "breach": true,
///     "escalation_levels": 1, "priority_boost": 10, "move_to_parent": false}],
///  "repeat_every_percent": 50,
///  "repeat": {"notify": ["supervisors", "managers"], "escalation_levels": 1, "priority_boost": 10,
///             "move_to_parent": true},
///  "max_escalation_level": 3}
/// ```
///
/// After the listed stages, a repeat stage falls due every `repeat_every_percent` further
/// (150 %, 200 %, …) while the escalation level the policy has reached is below
/// `max_escalation_level`. Here `repeat_every_percent: 0` turns repeats off, but the database
/// refuses 0 (`escalation_policy_is_valid`): a stored policy stops repeats by its ceiling.
public struct EscalationPolicy: Hashable, Sendable, Codable {
    /// A listed stage. In JSON every key but `percent` may be left out: `notify` defaults to
    /// nobody, `breach` to whether the stage is at 100 %, and the effects to none.
    public struct Stage: Hashable, Sendable, Codable {
        public var percent: Int
        public var notify: [NotifyTarget]
        /// Marks the stage that records the breach; exactly the stage at 100 %.
        public var breach: Bool
        public var escalationLevels: Int
        public var priorityBoost: Int
        public var moveToParent: Bool

        public init(
            percent: Int, notify: [NotifyTarget], breach: Bool? = nil, escalationLevels: Int = 0, priorityBoost: Int = 0,
            moveToParent: Bool = false
        ) {
            self.percent = percent
            self.notify = notify
            self.breach = breach ?? (percent == 100)
            self.escalationLevels = escalationLevels
            self.priorityBoost = priorityBoost
            self.moveToParent = moveToParent
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            self.init(
                percent: try container.decode(Int.self, forKey: .percent),
                notify: try container.decodeIfPresent([NotifyTarget].self, forKey: .notify) ?? [],
                breach: try container.decodeIfPresent(Bool.self, forKey: .breach),
                escalationLevels: try container.decodeIfPresent(Int.self, forKey: .escalationLevels) ?? 0,
                priorityBoost: try container.decodeIfPresent(Int.self, forKey: .priorityBoost) ?? 0,
                moveToParent: try container.decodeIfPresent(Bool.self, forKey: .moveToParent) ?? false
            )
        }

        enum CodingKeys: String, CodingKey {
            case percent, notify, breach
            case escalationLevels = "escalation_levels"
            case priorityBoost = "priority_boost"
            case moveToParent = "move_to_parent"
        }
    }

    /// The stage that repeats after the listed ones; missing keys take the default repeat's values.
    public struct Repeat: Hashable, Sendable, Codable {
        public var notify: [NotifyTarget]
        public var escalationLevels: Int
        public var priorityBoost: Int
        public var moveToParent: Bool

        public static let `default` = Repeat(notify: [.supervisors, .managers], escalationLevels: 1, priorityBoost: 10, moveToParent: true)

        public init(notify: [NotifyTarget], escalationLevels: Int, priorityBoost: Int, moveToParent: Bool) {
            self.notify = notify
            self.escalationLevels = escalationLevels
            self.priorityBoost = priorityBoost
            self.moveToParent = moveToParent
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            let fallback = Repeat.default
            self.init(
                notify: try container.decodeIfPresent([NotifyTarget].self, forKey: .notify) ?? fallback.notify,
                escalationLevels: try container.decodeIfPresent(Int.self, forKey: .escalationLevels) ?? fallback.escalationLevels,
                priorityBoost: try container.decodeIfPresent(Int.self, forKey: .priorityBoost) ?? fallback.priorityBoost,
                moveToParent: try container.decodeIfPresent(Bool.self, forKey: .moveToParent) ?? fallback.moveToParent
            )
        }

        enum CodingKeys: String, CodingKey {
            case notify
            case escalationLevels = "escalation_levels"
            case priorityBoost = "priority_boost"
            case moveToParent = "move_to_parent"
        }
    }

    public let stages: [Stage]
    public let repeatEveryPercent: Int
    public let `repeat`: Repeat
    public let maxEscalationLevel: Int
    /// Every stage in order, listed ones then repeats, numbered from 1.
    public let schedule: [SLAStage]

    public static let defaultStages = [
        Stage(percent: 50, notify: [.assignee]),
        Stage(percent: 75, notify: [.assignee, .supervisors]),
        Stage(percent: 100, notify: [.assignee, .supervisors, .managers], breach: true, escalationLevels: 1, priorityBoost: 10),
    ]

    /// The largest `max_escalation_level` accepted; unit trees are far shallower.
    public static let escalationLevelLimit = 10

    /// 50 % tell the assignee, 75 % also the supervisors, 100 % breach (level +1, priority +10,
    /// managers told), then every further 50 % one level up the unit tree, up to level 3.
    public static let `default` = EscalationPolicy(
        validStages: defaultStages, repeatEveryPercent: 50, repeat: .default, maxEscalationLevel: 3
    )

    public init(
        stages: [Stage] = EscalationPolicy.defaultStages, repeatEveryPercent: Int = 50, repeat: Repeat = .default,
        maxEscalationLevel: Int = 3
    ) throws(EscalationPolicyError) {
        var previous: Int?
        for stage in stages {
            guard stage.percent > 0 else { throw .percentNotPositive(stage.percent) }
            if let previous, stage.percent <= previous { throw .percentsNotIncreasing(previous, stage.percent) }
            if stage.breach && stage.percent != 100 { throw .breachNotAtHundredPercent(stage.percent) }
            guard stage.escalationLevels >= 0 else { throw .negativeEscalationLevels(stage.percent) }
            previous = stage.percent
        }
        guard stages.contains(where: { $0.breach }) else { throw .missingBreachStage }
        guard repeatEveryPercent >= 0 else { throw .negativeRepeatInterval(repeatEveryPercent) }
        guard repeatEveryPercent == 0 || `repeat`.escalationLevels >= 1 else { throw .repeatWithoutEscalation }
        guard (0...Self.escalationLevelLimit).contains(maxEscalationLevel) else {
            throw .maxEscalationLevelOutOfRange(maxEscalationLevel)
        }
        self.init(validStages: stages, repeatEveryPercent: repeatEveryPercent, repeat: `repeat`, maxEscalationLevel: maxEscalationLevel)
    }

    private init(validStages stages: [Stage], repeatEveryPercent: Int, repeat: Repeat, maxEscalationLevel: Int) {
        self.stages = stages
        self.repeatEveryPercent = repeatEveryPercent
        self.repeat = `repeat`
        self.maxEscalationLevel = maxEscalationLevel

        var schedule = stages.enumerated().map { index, stage in
            SLAStage(number: index + 1, percent: stage.percent, notify: Self.unique(stage.notify), isBreach: stage.breach,
                     escalationLevels: stage.escalationLevels, priorityBoost: stage.priorityBoost, moveToParent: stage.moveToParent)
        }
        if repeatEveryPercent > 0 {
            var level = min(stages.reduce(0) { $0 + $1.escalationLevels }, maxEscalationLevel)
            var percent = stages[stages.count - 1].percent
            while level < maxEscalationLevel {
                percent += repeatEveryPercent
                level = min(level + `repeat`.escalationLevels, maxEscalationLevel)
                schedule.append(SLAStage(
                    number: schedule.count + 1, percent: percent, notify: Self.unique(`repeat`.notify), isBreach: false,
                    escalationLevels: `repeat`.escalationLevels, priorityBoost: `repeat`.priorityBoost, moveToParent: `repeat`.moveToParent
                ))
            }
        }
        self.schedule = schedule
    }

    /// Decodes the stored JSON, filling in defaults, and validates it; a policy that breaks a
    /// rule throws its ``EscalationPolicyError`` rather than a decoding error.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        try self.init(
            stages: try container.decodeIfPresent([Stage].self, forKey: .stages) ?? Self.defaultStages,
            repeatEveryPercent: try container.decodeIfPresent(Int.self, forKey: .repeatEveryPercent) ?? 50,
            repeat: try container.decodeIfPresent(Repeat.self, forKey: .repeat) ?? .default,
            maxEscalationLevel: try container.decodeIfPresent(Int.self, forKey: .maxEscalationLevel) ?? 3
        )
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(stages, forKey: .stages)
        try container.encode(repeatEveryPercent, forKey: .repeatEveryPercent)
        try container.encode(`repeat`, forKey: .repeat)
        try container.encode(maxEscalationLevel, forKey: .maxEscalationLevel)
    }

    enum CodingKeys: String, CodingKey {
        case stages
        case repeatEveryPercent = "repeat_every_percent"
        case `repeat`
        case maxEscalationLevel = "max_escalation_level"
    }

    private static func unique(_ targets: [NotifyTarget]) -> [NotifyTarget] {
        var seen = Set<NotifyTarget>()
        return targets.filter { seen.insert($0).inserted }
    }
}

/// One numbered stage of a policy's schedule, the same for both clocks.
public struct SLAStage: Hashable, Sendable {
    /// 1, 2, 3, … in order of `percent` (in a request's schedule: after the stages it had applied).
    public let number: Int
    public let percent: Int
    public let notify: [NotifyTarget]
    public let isBreach: Bool
    public let escalationLevels: Int
    public let priorityBoost: Int
    public let moveToParent: Bool

    /// The same stage under another number (the stages a request has had applied come first).
    func numbered(_ number: Int) -> SLAStage {
        SLAStage(
            number: number, percent: percent, notify: notify, isBreach: isBreach, escalationLevels: escalationLevels,
            priorityBoost: priorityBoost, moveToParent: moveToParent)
    }

    /// The escalation command the system applies when this stage of `clock` falls due.
    /// `parentUnit` is the parent of the request's unit (nil at the top of the tree).
    public func escalation(clock: SLAClockKind, parentUnit: UnitID?, maxLevel: Int) -> Escalation {
        Escalation(
            cause: .stage(StageReference(clock: clock, number: number, percent: percent, isBreach: isBreach)),
            levels: escalationLevels, priorityBoost: priorityBoost, moveToUnit: moveToParent ? parentUnit : nil,
            maxLevel: maxLevel, notify: notify
        )
    }
}

/// Why an escalation policy was refused.
public enum EscalationPolicyError: UserFacingError, Hashable {
    case percentNotPositive(Int)
    case percentsNotIncreasing(Int, Int)
    case breachNotAtHundredPercent(Int)
    /// No stage at 100 % records the breach.
    case missingBreachStage
    case negativeEscalationLevels(Int)
    case negativeRepeatInterval(Int)
    /// Repeats that never raise the level would never stop.
    case repeatWithoutEscalation
    case maxEscalationLevelOutOfRange(Int)

    public var code: String {
        switch self {
        case .percentNotPositive: "policy_percent_not_positive"
        case .percentsNotIncreasing: "policy_percents_not_increasing"
        case .breachNotAtHundredPercent: "policy_breach_not_at_100"
        case .missingBreachStage: "policy_missing_breach_stage"
        case .negativeEscalationLevels: "policy_negative_escalation_levels"
        case .negativeRepeatInterval: "policy_negative_repeat_interval"
        case .repeatWithoutEscalation: "policy_repeat_without_escalation"
        case .maxEscalationLevelOutOfRange: "policy_max_escalation_level_out_of_range"
        }
    }

    public func message(_ language: Language) -> String {
        switch (self, language) {
        case (.percentNotPositive(let percent), .indonesian): "Persentase tahap harus lebih dari 0 (tertulis \(percent))."
        case (.percentNotPositive(let percent), .english): "A stage percentage must be above 0 (got \(percent))."
        case (.percentsNotIncreasing(let first, let second), .indonesian): "Tahap harus berurutan naik: \(second)% setelah \(first)%."
        case (.percentsNotIncreasing(let first, let second), .english): "Stages must increase: \(second)% follows \(first)%."
        case (.breachNotAtHundredPercent(let percent), .indonesian): "Hanya tahap 100% yang mencatat pelanggaran (bukan \(percent)%)."
        case (.breachNotAtHundredPercent(let percent), .english): "Only the 100% stage records the breach (not \(percent)%)."
        case (.missingBreachStage, .indonesian): "Kebijakan harus memiliki tahap 100% yang mencatat pelanggaran."
        case (.missingBreachStage, .english): "The policy needs a 100% stage that records the breach."
        case (.negativeEscalationLevels(let percent), .indonesian): "Tingkat eskalasi pada tahap \(percent)% tidak boleh negatif."
        case (.negativeEscalationLevels(let percent), .english): "Escalation levels at the \(percent)% stage cannot be negative."
        case (.negativeRepeatInterval(let percent), .indonesian): "repeat_every_percent tidak boleh negatif (tertulis \(percent))."
        case (.negativeRepeatInterval(let percent), .english): "repeat_every_percent cannot be negative (got \(percent))."
        // Not "set repeat_every_percent to 0": the import and the database refuse 0 there, and
        // leaving it out brings the default repeats. A ceiling at the listed stages' level does.
        case (.repeatWithoutEscalation, .indonesian):
            "Tahap ulang harus menaikkan tingkat eskalasi minimal 1; tanpa pengulangan, setel max_escalation_level ke tingkat yang dicapai tahap-tahap yang terdaftar."
        case (.repeatWithoutEscalation, .english):
            "Repeat stages must raise the escalation level by at least 1; for no repeats, set max_escalation_level to the level the listed stages reach."
        case (.maxEscalationLevelOutOfRange(let level), .indonesian): "max_escalation_level harus 0 sampai \(EscalationPolicy.escalationLevelLimit) (tertulis \(level))."
        case (.maxEscalationLevelOutOfRange(let level), .english): "max_escalation_level must be 0 to \(EscalationPolicy.escalationLevelLimit) (got \(level))."
        }
    }
}
