import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Colour on standard output: only for a person at a terminal, never in a pipe or a file, and
/// never when NO_COLOR is set (https://no-color.org) or the terminal says it cannot.
struct Style {
    let colour: Bool

    static func standardOutput(environment: [String: String] = ProcessInfo.processInfo.environment) -> Style {
        Style(colour: isatty(STDOUT_FILENO) == 1 && environment["NO_COLOR"] == nil && environment["TERM"] != "dumb")
    }

    enum Colour: String {
        case red = "31"
        case yellow = "33"
        case green = "32"
    }

    func paint(_ text: String, _ colour: Colour?) -> String {
        guard self.colour, let colour else { return text }
        return "\u{1B}[\(colour.rawValue)m\(text)\u{1B}[0m"
    }

    func bold(_ text: String) -> String {
        colour ? "\u{1B}[1m\(text)\u{1B}[0m" : text
    }

    /// Red once overdue, yellow within two working hours of the deadline, green otherwise.
    static func slaColour(_ sla: SLAState) -> Colour {
        if sla.breached || sla.remainingWorkingMinutes < 0 { return .red }
        return sla.remainingWorkingMinutes <= 120 ? .yellow : .green
    }
}

/// Working time as officers count it. The API gives working minutes; a working day is the ASN
/// day of the sample calendar (Mon–Thu 07:30–16:00 with an hour's break, 450 minutes). The staff
/// API does not say which calendar a request runs on, so a region with another day length sees
/// days of 7.5 working hours here.
enum WorkingTime {
    static let dayMinutes = 450

    /// "2h 15m", "45m", "3d 2h", "-1d 3h". Days drop the minutes, which matter less at that scale.
    static func format(_ minutes: Int) -> String {
        let sign = minutes < 0 ? "-" : ""
        let total = abs(minutes)
        let days = total / dayMinutes
        let hours = (total % dayMinutes) / 60
        let rest = total % 60
        if days > 0 { return hours > 0 ? "\(sign)\(days)d \(hours)h" : "\(sign)\(days)d" }
        if hours > 0 { return rest > 0 ? "\(sign)\(hours)h \(rest)m" : "\(sign)\(hours)h" }
        return "\(sign)\(rest)m"
    }

    static func slaLeft(_ sla: SLAState) -> String {
        format(sla.remainingWorkingMinutes) + (sla.paused ? " paused" : "")
    }
}

/// Instants as the server sends them (`2026-12-01T10:00:00+07:00`), shown as local wall time
/// with the Indonesian zone name: `2026-12-01 10:00 WIB`.
enum Instant {
    static func display(_ text: String) -> String {
        let characters = Array(text)
        guard characters.count >= 20, characters[10] == "T" else { return text }
        let date = String(characters[0..<10])
        let time = String(characters[11..<16])
        var offset = String(characters[19...])
        if offset.hasPrefix(".") { offset = String(offset.drop { $0 != "+" && $0 != "-" && $0 != "Z" }) }
        let zone = switch offset {
        case "+07:00": "WIB"
        case "+08:00": "WITA"
        case "+09:00": "WIT"
        case "Z", "+00:00": "UTC"
        default: offset
        }
        return "\(date) \(time) \(zone)"
    }
}

/// A plain-text table with columns padded to their widest cell. Colour is applied after padding,
/// so escape codes never disturb the alignment.
struct Table {
    struct Cell {
        var text: String
        var colour: Style.Colour?

        init(_ text: String, _ colour: Style.Colour? = nil) {
            self.text = text
            self.colour = colour
        }
    }

    enum Alignment {
        case left
        case right
    }

    var columns: [(title: String, alignment: Alignment)]
    var rows: [[Cell]] = []

    func render(_ style: Style) -> String {
        var widths = columns.map { $0.title.terminalWidth }
        for row in rows {
            for (index, cell) in row.enumerated() { widths[index] = max(widths[index], cell.text.terminalWidth) }
        }
        func line(_ cells: [Cell], header: Bool) -> String {
            var parts: [String] = []
            for (index, cell) in cells.enumerated() {
                let padding = String(repeating: " ", count: widths[index] - cell.text.terminalWidth)
                let last = index == cells.count - 1
                let painted = header ? style.bold(cell.text) : style.paint(cell.text, cell.colour)
                switch columns[index].alignment {
                case .left: parts.append(last ? painted : painted + padding)
                case .right: parts.append(padding + painted)
                }
            }
            // An empty last cell would leave the padding of the one before it dangling.
            var text = parts.joined(separator: "  ")
            while text.last == " " { text.removeLast() }
            return text
        }
        return ([line(columns.map { Cell($0.title) }, header: true)] + rows.map { line($0, header: false) }).joined(separator: "\n")
    }
}

extension String {
    /// The columns a terminal gives the text: a wide (East Asian) character or an emoji takes two,
    /// a combining mark or an invisible format character none, everything else one. Tables pad by
    /// this, not by `count`, so a file name with an emoji or a name with a zero-width space does
    /// not push the columns after it out of line.
    var terminalWidth: Int { reduce(0) { $0 + $1.terminalWidth } }
}

extension Character {
    var terminalWidth: Int {
        let scalars = unicodeScalars
        guard let first = scalars.first else { return 0 }
        if first.properties.isEmojiPresentation || Self.isWide(first.value)
            || (first.properties.isEmoji && scalars.contains("\u{FE0F}")) {
            return 2
        }
        switch first.properties.generalCategory {
        case .nonspacingMark, .enclosingMark, .format, .control: return 0
        default: return 1
        }
    }

    /// East Asian Wide and Fullwidth blocks (Hangul, CJK, kana, fullwidth forms).
    private static func isWide(_ value: UInt32) -> Bool {
        switch value {
        case 0x1100...0x115F, 0x2E80...0x303E, 0x3041...0x33FF, 0x3400...0x4DBF, 0x4E00...0x9FFF, 0xA000...0xA4CF,
             0xAC00...0xD7A3, 0xF900...0xFAFF, 0xFE30...0xFE4F, 0xFF00...0xFF60, 0xFFE0...0xFFE6,
             0x20000...0x2FFFD, 0x30000...0x3FFFD:
            return true
        default:
            return false
        }
    }
}

/// The lists (`queue`, `mine`, `escalated`) as a table, most urgent first as the server sorts them.
enum RequestTable {
    static func render(_ items: [QueueItem], style: Style) -> String {
        var table = Table(columns: [
            ("CODE", .left), ("SERVICE", .left), ("UNIT", .left), ("STATUS", .left),
            ("PRI", .right), ("ESC", .right), ("SLA LEFT", .right), ("HOLDER", .left),
        ])
        table.rows = items.map { item in
            [
                Table.Cell(item.trackingCode), Table.Cell(item.service.code), Table.Cell(item.unit.code), Table.Cell(item.status),
                Table.Cell(String(item.priority)), Table.Cell(String(item.escalationLevel)),
                Table.Cell(WorkingTime.slaLeft(item.sla), Style.slaColour(item.sla)),
                Table.Cell(item.assignee?.name ?? "-"),
            ]
        }
        return table.render(style)
    }
}

/// `loket show`: the whole request, then its documents and audit trail.
enum RequestSheet {
    static func render(_ request: RequestDetail, style: Style) -> String {
        var lines: [String] = []
        lines.append(style.bold(request.trackingCode) + "  \(request.statusLabel) (\(request.status))")
        var fields: [(String, String)] = [
            ("Service", "\(request.service.code) — \(request.service.name)"),
            ("Unit", "\(request.unit.code) — \(request.unit.name)"),
        ]
        let closed = request.closedAt != nil
        if let holder = request.assignee {
            let lease = closed ? "" : request.leaseExpiresAt.map { ", claim valid until \(Instant.display($0))" } ?? ""
            fields.append((closed ? "Handled by" : "Holder", "\(holder.name) (NIP \(holder.nip))\(lease)"))
        } else if !closed {
            fields.append(("Holder", "nobody"))
        }
        fields.append(("Priority", "\(request.priority), escalation level \(request.escalationLevel)"))
        // A closed request has no running clock; the server still measures against the last deadline.
        if !closed {
            let sla = request.sla
            let standing = sla.remainingWorkingMinutes < 0
                ? "overdue by \(WorkingTime.format(-sla.remainingWorkingMinutes)) of working time"
                : "\(WorkingTime.format(sla.remainingWorkingMinutes)) of working time left"
            fields.append(("SLA", style.paint(standing, Style.slaColour(sla))
                + " on the \(sla.clock) clock, due \(Instant.display(sla.dueAt))" + (sla.paused ? " (paused: waiting for the citizen)" : "")))
        }
        fields.append(("Filed", "\(Instant.display(request.createdAt)) via \(request.source)"))
        if let closed = request.closedAt { fields.append(("Closed", Instant.display(closed))) }
        let citizen = [request.citizen.name, request.citizen.nik.map { "NIK \($0)" }, request.citizen.phone, request.citizen.email]
            .compactMap { $0 }
        fields.append(("Citizen", citizen.joined(separator: ", ")))
        var place = [request.address, request.areaCode.map { "area \($0)" }].compactMap { $0 }
        if let latitude = request.latitude, let longitude = request.longitude { place.append("\(latitude), \(longitude)") }
        if !place.isEmpty { fields.append(("Address", place.joined(separator: "; "))) }
        fields.append(("Routing", request.routingReason))
        if let description = request.description { fields.append(("Description", description)) }
        for (name, value) in request.attributes.sorted(by: { $0.key < $1.key }) {
            fields.append(("  \(name)", value.text))
        }
        if let message = request.publicMessage { fields.append(("Public message", message)) }
        if let outcome = request.outcome { fields.append(("Outcome", outcome)) }
        if let reason = request.rejectReason { fields.append(("Reject reason", reason)) }
        let width = fields.map(\.0.count).max() ?? 0
        for (name, value) in fields {
            lines.append(name.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + value)
        }

        lines.append("")
        if request.documents.isEmpty {
            lines.append(style.bold("Documents") + ": none")
        } else {
            lines.append(style.bold("Documents"))
            var table = Table(columns: [("ID", .right), ("FILE", .left), ("TYPE", .left), ("SIZE", .right), ("FROM", .left), ("ADDED", .left)])
            table.rows = request.documents.map { document in
                [
                    Table.Cell(String(document.id)), Table.Cell(document.filename), Table.Cell(document.contentType),
                    Table.Cell(byteCount(document.sizeBytes)), Table.Cell(document.uploadedBy), Table.Cell(Instant.display(document.createdAt)),
                ]
            }
            lines.append(table.render(style))
        }

        lines.append("")
        lines.append(style.bold("Audit trail"))
        var audit = Table(columns: [("WHEN", .left), ("EVENT", .left), ("BY", .left), ("SEEN BY", .left), ("MESSAGE", .left)])
        audit.rows = request.audit.map { entry in
            [
                Table.Cell(Instant.display(entry.at)), Table.Cell(entry.label), Table.Cell(entry.staff?.name ?? entry.actor),
                Table.Cell(entry.public ? "citizen" : "staff only"),
                Table.Cell((entry.message ?? "").replacingOccurrences(of: "\n", with: " ")),
            ]
        }
        lines.append(audit.render(style))
        return lines.joined(separator: "\n")
    }

    static func byteCount(_ bytes: Int) -> String {
        if bytes < 1024 { return "\(bytes) B" }
        if bytes < 1024 * 1024 { return String(format: "%.0f KiB", Double(bytes) / 1024) }
        return String(format: "%.1f MiB", Double(bytes) / (1024 * 1024))
    }
}
