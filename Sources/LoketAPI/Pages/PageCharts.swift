import Foundation
import LoketCore
import LoketStore

/// SVG numbers: a dot as decimal separator whatever the page's language, one decimal at most.
func svgNumber(_ value: Double) -> String {
    let tenths = Int((value * 10).rounded())
    return tenths % 10 == 0 ? String(tenths / 10) : "\(tenths / 10).\(abs(tenths % 10))"
}

/// A horizontal bar chart of on-time shares (0–100 %), one bar per item, the label above its bar
/// so that long unit names fit on a phone. Geometry is computed here; the template only draws.
struct OnTimeBarChart {
    struct Bar {
        var label: String
        var fullLabel: String
        var labelY: String
        var barY: String
        var barWidth: String
        var hasValue: Bool
        var tone: String
        var value: String
        var valueX: String
        var valueY: String
    }

    struct Grid {
        var x: String
        var bottom: String
        var labelY: String
        var label: String
        /// The CSS class anchoring the label, so the 0 % label is not cut off at the left edge.
        var anchor: String
    }

    var id: String
    var title: String
    var caption: String
    var width = "400"
    var height: String
    var trackWidth: String
    var barHeight = "12"
    var bars: [Bar]
    var grid: [Grid]

    static let rowHeight = 36.0
    static let track = 340.0
    static let labelLimit = 52

    init(id: String, title: String, caption: String, items: [(label: String, percent: Double?)], format: PageFormat) {
        self.id = id
        self.title = title
        self.caption = caption
        trackWidth = svgNumber(Self.track)
        bars = items.enumerated().map { index, item in
            let top = Double(index) * Self.rowHeight
            let label = item.label.count > Self.labelLimit ? String(item.label.prefix(Self.labelLimit - 1)) + "…" : item.label
            let width = item.percent.map { max(0, min(100, $0)) / 100 * Self.track } ?? 0
            return Bar(
                label: label, fullLabel: item.label, labelY: svgNumber(top + 13), barY: svgNumber(top + 18),
                barWidth: svgNumber(width), hasValue: item.percent != nil, tone: PageFormat.tone(item.percent),
                value: format.percent(item.percent), valueX: svgNumber(Self.track + 6), valueY: svgNumber(top + 28.5))
        }
        let bottom = Double(items.count) * Self.rowHeight
        height = svgNumber(bottom + 18)
        grid = [0.0, 50, 100].map { percent in
            Grid(
                x: svgNumber(percent / 100 * Self.track), bottom: svgNumber(bottom), labelY: svgNumber(bottom + 14),
                label: format.percent(percent), anchor: percent == 0 ? "start" : "mid")
        }
    }
}

/// A month of a trend: requests closed and the share resolved on time.
struct TrendMonth {
    var month: LocalDate
    var closed: Int
    var onTimePercent: Double?
}

/// Monthly volume as bars (left scale) with the on-time share as a line (right scale, 0–100 %).
struct TrendChart {
    struct Month {
        var label: String
        var short: String
        var year: String?
        var centerX: String
        var monthY: String
        var yearY: String
        var hasClosed: Bool
        var barX: String
        var barY: String
        var barWidth: String
        var barHeight: String
        var closedText: String
        var onTimeText: String
    }

    struct GridLine {
        var left: String
        var right: String
        var y: String
        var textY: String
        var rightLabelX: String
        var leftLabelX: String
        var percentLabel: String
        var countLabel: String
    }

    struct Segment {
        var points: String
    }

    struct Dot {
        var x: String
        var y: String
        var label: String
    }

    var id: String
    var title: String
    var caption: String
    var width = "400"
    var height = "218"
    var legendX = "30"
    var legendTextX = "46"
    var legendX2 = "178"
    var legendLineEnd = "202"
    var legendDotX = "190"
    var legendTextX2 = "208"
    var legendVolume: String
    var legendOnTime: String
    var months: [Month]
    var gridLines: [GridLine]
    var segments: [Segment]
    var dots: [Dot]

    static let left = 30.0
    static let right = 366.0
    static let top = 34.0
    static let bottom = 180.0

    init(id: String, title: String, caption: String, months data: [TrendMonth], format: PageFormat) {
        self.id = id
        self.title = title
        self.caption = caption
        legendVolume = format.english ? "Requests closed" : "Permohonan ditutup"
        legendOnTime = format.english ? "Resolved on time (%)" : "Selesai tepat waktu (%)"
        let scale = Self.niceMaximum(data.map(\.closed).max() ?? 0)
        let slot = (Self.right - Self.left) / Double(max(data.count, 1))
        let plot = Self.bottom - Self.top
        var months: [Month] = []
        var segments: [Segment] = []
        var dots: [Dot] = []
        var run: [String] = []
        // Beyond a year, every other month (or fewer) is named so the labels do not collide.
        let stride = max(1, Int((Double(data.count) / 12).rounded(.up)))
        for (index, item) in data.enumerated() {
            let center = Self.left + slot * (Double(index) + 0.5)
            let barWidth = slot * 0.6
            let barHeight = Double(item.closed) / Double(scale) * plot
            let named = index % stride == 0
            // The year under each January, and under the first month unless a January follows at
            // once (two years side by side would collide on a phone).
            let showYear = named && (item.month.month <= stride || (index == 0 && item.month.month < 12 - stride))
            let label = format.month(item.month)
            months.append(Month(
                label: label, short: named ? format.monthName(item.month.month) : "", year: showYear ? String(item.month.year) : nil,
                centerX: svgNumber(center), monthY: "196", yearY: "210", hasClosed: item.closed > 0,
                barX: svgNumber(center - barWidth / 2), barY: svgNumber(Self.bottom - barHeight), barWidth: svgNumber(barWidth),
                barHeight: svgNumber(barHeight), closedText: format.integer(item.closed), onTimeText: format.percent(item.onTimePercent)))
            if let percent = item.onTimePercent {
                let y = Self.bottom - max(0, min(100, percent)) / 100 * plot
                run.append("\(svgNumber(center)),\(svgNumber(y))")
                dots.append(Dot(x: svgNumber(center), y: svgNumber(y), label: "\(label): \(format.percent(percent))"))
            } else if !run.isEmpty {
                if run.count > 1 { segments.append(Segment(points: run.joined(separator: " "))) }
                run = []
            }
        }
        if run.count > 1 { segments.append(Segment(points: run.joined(separator: " "))) }
        self.months = months
        self.segments = segments
        self.dots = dots
        gridLines = [0.0, 0.5, 1.0].map { fraction in
            let y = Self.bottom - fraction * plot
            return GridLine(
                left: svgNumber(Self.left), right: svgNumber(Self.right), y: svgNumber(y), textY: svgNumber(y + 4),
                rightLabelX: svgNumber(Self.right + 4), leftLabelX: svgNumber(Self.left - 4),
                percentLabel: format.percent(fraction * 100), countLabel: format.integer(Int(Double(scale) * fraction)))
        }
    }

    /// The smallest of 2, 4, 6, 8, 10, 20, 40, … that is at least `value`, so the half-way grid
    /// line is a whole number too.
    static func niceMaximum(_ value: Int) -> Int {
        var magnitude = 1
        while true {
            for step in [2, 4, 6, 8, 10] where step * magnitude >= value { return step * magnitude }
            magnitude *= 10
        }
    }

    /// The months [start, end) with what the store returned, empty months included.
    static func fill(_ points: [TrendPoint], from start: LocalDate, to end: LocalDate) -> [TrendMonth] {
        let byMonth = Dictionary(points.map { ($0.month, $0) }, uniquingKeysWith: { first, _ in first })
        var months: [TrendMonth] = []
        var month = start
        while month < end {
            let point = byMonth[month]
            months.append(TrendMonth(month: month, closed: point?.closed ?? 0, onTimePercent: point?.resolutionOnTimePercent))
            month = ReportStore.nextMonthStart(after: month)
        }
        return months
    }
}
