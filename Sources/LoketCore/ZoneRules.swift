import Foundation

/// A time zone's offsets as a sorted table, so that converting between instants and wall-clock
/// times costs a comparison (or a short binary search) instead of a call into Foundation.
///
/// The table covers 1900-01-01 to 2200-01-01 UTC; outside it the offset at the nearer edge
/// applies. Zones without changes in that window (and every instant after a zone's last change,
/// such as Asia/Jakarta after 1964) take the single-comparison path.
struct ZoneRules: Sendable {
    /// Instants (seconds since 1970) at which the offset changes, ascending.
    let transitions: [Int]
    /// `offsets[k]` holds from `transitions[k - 1]` (inclusive) to `transitions[k]`.
    let offsets: [Int]
    /// `wallStarts[k]` is the wall-clock reading just after `transitions[k]`.
    let wallStarts: [Int]
    private let lastTransition: Int
    private let lastWallStart: Int
    private let finalOffset: Int

    static let tableStart = -2_208_988_800  // 1900-01-01T00:00:00Z
    static let tableEnd = 7_258_118_400  // 2200-01-01T00:00:00Z

    init(_ timeZone: TimeZone) {
        var transitions: [Int] = []
        var offsets = [timeZone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(Self.tableStart)))]
        var cursor = Date(timeIntervalSince1970: Double(Self.tableStart))
        let end = Date(timeIntervalSince1970: Double(Self.tableEnd))
        while let next = timeZone.nextDaylightSavingTimeTransition(after: cursor), next < end {
            let offset = timeZone.secondsFromGMT(for: next)
            if offset != offsets[offsets.count - 1] {
                transitions.append(Int(next.timeIntervalSince1970.rounded()))
                offsets.append(offset)
            }
            cursor = next
        }
        self.transitions = transitions
        self.offsets = offsets
        self.wallStarts = transitions.indices.map { transitions[$0] + offsets[$0 + 1] }
        self.lastTransition = transitions.last ?? Int.min
        self.lastWallStart = wallStarts.last ?? Int.min
        self.finalOffset = offsets[offsets.count - 1]
    }

    /// The offset from UTC in effect at `instant`.
    @inline(__always)
    func offset(at instant: Int) -> Int {
        if instant >= lastTransition { return finalOffset }
        var low = 0
        var high = transitions.count
        while low < high {
            let middle = (low + high) >> 1
            if transitions[middle] <= instant { low = middle + 1 } else { high = middle }
        }
        return offsets[low]
    }

    /// The offset for a wall-clock reading that occurs exactly once (not in a gap or a repeated
    /// hour). The business calendar only asks this for days no offset change touches.
    @inline(__always)
    func offset(forUnambiguousWall wall: Int) -> Int {
        if wall >= lastWallStart { return finalOffset }
        var low = 0
        var high = wallStarts.count
        while low < high {
            let middle = (low + high) >> 1
            if wallStarts[middle] <= wall { low = middle + 1 } else { high = middle }
        }
        return offsets[low]
    }

    /// The real time intervals during which a wall clock reads a value in `wall`: empty inside a
    /// spring-forward gap, two pieces across a repeated autumn hour.
    func instants(whileWallClockIn wall: Range<Int>) -> [Range<Int>] {
        // Offsets stay within ±26 h, so only the segments around the wall range can map into it.
        let margin = 2 * 86_400
        var first = 0
        var high = transitions.count
        while first < high {
            let middle = (first + high) >> 1
            if transitions[middle] <= wall.lowerBound - margin { first = middle + 1 } else { high = middle }
        }
        var pieces: [Range<Int>] = []
        var segment = first
        while segment <= transitions.count {
            let segmentStart = segment == 0 ? Int.min : transitions[segment - 1]
            if segmentStart > wall.upperBound + margin { break }
            let segmentEnd = segment == transitions.count ? Int.max : transitions[segment]
            let lower = max(segmentStart, wall.lowerBound - offsets[segment])
            let upper = min(segmentEnd, wall.upperBound - offsets[segment])
            if lower < upper { pieces.append(lower..<upper) }
            segment += 1
        }
        return pieces
    }

    /// Local days (days since 1970) whose wall clock crosses an offset change, plus the day
    /// before a change that begins exactly at midnight (its 24:00 is then ambiguous).
    func daysTouchedByTransitions() -> [Int] {
        var days: [Int] = []
        for index in transitions.indices {
            let before = transitions[index] + offsets[index]
            let after = transitions[index] + offsets[index + 1]
            let firstDay = floorDivide(min(before, after) - 1, 86_400)
            let lastDay = floorDivide(max(before, after), 86_400)
            for day in firstDay...lastDay where days.last.map({ $0 < day }) ?? true {
                days.append(day)
            }
        }
        return days
    }
}

/// Division rounding toward negative infinity, so instants before 1970 land on the right day.
@inline(__always)
func floorDivide(_ value: Int, _ divisor: Int) -> Int {
    let quotient = value / divisor
    return (value % divisor != 0 && (value < 0) != (divisor < 0)) ? quotient - 1 : quotient
}
