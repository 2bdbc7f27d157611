import ArgumentParser
import AsyncHTTPClient
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// The managers' commands: open breaches (optionally as a live view), requests about to breach,
// performance reports and the open workload, from the manager API (`/api/v1/manager`). The
// server scopes every answer to the caller's unit subtree and refuses other roles than manager
// and admin (403 role_required, exit 2).

// MARK: The manager API

extension StaffAPI {
    /// One GET of `/api/v1/manager/<path>`, with the same headers, timeouts and refusals as the
    /// staff API. `accept` is what the body should be (the CSV report asks for text/csv).
    func manager(_ path: String, query: [(String, String?)] = [], accept: String = "application/json") async throws -> Reply {
        let reply = try await exchange(.get, path, query: query, under: "manager", accept: accept)
        guard (200..<300).contains(reply.status) else { throw await managerFailure(for: reply) }
        return reply
    }

    /// The staff API's explanation of a refusal, with hints that fit the manager commands: the
    /// staff hints talk about requests and supervisors, which would mislead here.
    func managerFailure(for reply: Reply) async -> Failure {
        var failure = await failure(for: reply, about: nil)
        let code = (try? LoketJSON.decode(ErrorEnvelope.self, from: reply.body))?.error.code
        switch (reply.status, code) {
        case (403, "role_required"?):
            failure.hints = [
                "Breach lists, reports and workload are for managers and admins; `loket whoami` shows your role. Ask your unit's manager for the numbers.",
            ]
        case (403, "outside_unit_subtree"?):
            failure.hints = ["--unit must be your own unit or one below it; `loket whoami` shows yours."]
        case (404, "not_found"?):
            failure.hints = [
                "The server at \(base) has no manager API: check the address with `loket whoami`, or ask your administrator whether the server is up to date.",
            ]
        default:
            break
        }
        return failure
    }
}

// MARK: Answers

/// A request past (or near) the deadline of its running clock, as the manager API lists it.
struct BreachItem: Decodable {
    var trackingCode: String
    var service: UnitRef
    var unit: UnitRef
    var status: String
    var assignee: Person?
    var clock: String
    var dueAt: String
    /// Working minutes past the deadline; negative while the deadline is still ahead (at-risk).
    var overdueWorkingMinutes: Int
    var escalationLevel: Int
    var priority: Int
}

struct BreachList: Decodable {
    var requests: [BreachItem]
}

struct ReportLine: Decodable {
    struct IKM: Decodable {
        var respondents: Int
        var value: Double
        var grade: String
        var gradeLabel: String
    }

    var key: String
    var name: String
    var closed: Int
    var completed: Int
    var rejected: Int
    var cancelled: Int
    var responseOnTimePercent: Double?
    var resolutionOnTimePercent: Double?
    var medianResolutionHours: Double?
    var p90ResolutionHours: Double?
    var breaches: Int
    var escalations: Int
    var transfers: Int
    var waitingForCitizenHours: Double
    var backlog: Int
    var backlogAverageAgeDays: Double?
    var ikm: IKM?
}

struct ReportAnswer: Decodable {
    var by: String
    var from: String
    var to: String
    var rows: [ReportLine]
    var total: ReportLine
}

struct WorkloadAnswer: Decodable {
    struct Line: Decodable {
        var unit: UnitRef
        var queued: Int
        var inProgress: Int
        var waitingCitizen: Int
        var oldestAgeDays: Double?
    }

    var units: [Line]
}

// MARK: Options

enum BreachOrder: String, CaseIterable, ExpressibleByArgument {
    case overdue
    case due
}

enum ReportGrouping: String, CaseIterable, ExpressibleByArgument {
    case unit
    case service
    case officer
}

/// `--unit` and `--limit` of the manager lists; the server allows up to 1,000 rows here.
struct ManagerScope: ParsableArguments {
    @Option(help: ArgumentHelp("Only this unit and the units below it; it must be in your own subtree.", valueName: "code"))
    var unit: String?

    @Option(help: ArgumentHelp("At most this many requests, 1 to 1000 (server default 200).", valueName: "n"))
    var limit: Int?

    func validate() throws {
        if let limit, !(1...1000).contains(limit) { throw ValidationError("--limit must be 1 to 1000.") }
    }

    var query: [(String, String?)] {
        [("unit", unit), ("limit", limit.map(String.init))]
    }
}

/// A calendar date as the API takes it (YYYY-MM-DD), checked before anything is sent so that a
/// typo is a usage error (exit 1), not a server refusal.
struct CalendarDay: ExpressibleByArgument, Comparable, CustomStringConvertible {
    var year: Int
    var month: Int
    var day: Int

    init?(argument: String) {
        let parts = argument.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
              parts.allSatisfy({ $0.allSatisfy(\.isASCII) && $0.allSatisfy(\.isNumber) }),
              let year = Int(parts[0]), let month = Int(parts[1]), let day = Int(parts[2]),
              (1...12).contains(month), (1...Self.days(inMonth: month, of: year)).contains(day)
        else { return nil }
        self.year = year
        self.month = month
        self.day = day
    }

    static func days(inMonth month: Int, of year: Int) -> Int {
        switch month {
        case 2: year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    var description: String { String(format: "%04d-%02d-%02d", year, month, day) }

    static func < (lhs: CalendarDay, rhs: CalendarDay) -> Bool {
        (lhs.year, lhs.month, lhs.day) < (rhs.year, rhs.month, rhs.day)
    }
}

// MARK: Commands

struct SLA: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sla",
        abstract: "SLA breaches, requests about to breach, and performance reports (managers and admins).",
        discussion: """
            Everything is limited to your unit and the units below it (--unit narrows it further). \
            Times are working time of the service's calendar (d = a 7.5-hour working day).

            Examples:
              loket sla breaches --watch
              loket sla at-risk --within 60
              loket sla report --by unit --from 2026-01-01 --to 2026-12-31
            """,
        subcommands: [SLABreaches.self, SLAAtRisk.self, SLAReport.self])
}

struct SLABreaches: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "breaches",
        abstract: "List the open requests past the deadline of their running clock, most overdue first.",
        discussion: """
            OVERDUE is working time past the deadline of the running clock: the response clock \
            until someone claims the request, the resolution clock after that. A waiting request \
            counts up to the moment it started waiting.

            --watch keeps the list on screen and redraws it every --interval seconds, like `top`, \
            with the time and the counts on top; Ctrl-C ends it (exit 0). When standard output \
            is not a terminal, --watch prints one snapshot per interval, separated by a blank \
            line (with --json: one JSON document per line).

            Examples:
              loket sla breaches
              loket sla breaches --unit DISDUKCAPIL-IDP --sort due
              loket sla breaches --watch --interval 10
              loket sla breaches --json | jq -r '.requests[].tracking_code'
            """)

    @OptionGroup var scope: ManagerScope

    @Option(help: ArgumentHelp("overdue (most overdue first, the default) or due (earliest deadline first).", valueName: "overdue|due"))
    var sort: BreachOrder?

    @Flag(help: "Keep the list on screen and refresh it in place until Ctrl-C.")
    var watch = false

    @Option(help: ArgumentHelp("With --watch: seconds between refreshes, 1 to 3600 (default 5).", valueName: "seconds"))
    var interval: Int?

    @OptionGroup var options: ServerOptions
    @OptionGroup var output: OutputOptions

    func validate() throws {
        if let interval {
            guard watch else { throw ValidationError("--interval sets how often --watch refreshes; add --watch.") }
            guard (1...3600).contains(interval) else { throw ValidationError("--interval must be 1 to 3600 seconds.") }
        }
    }

    var query: [(String, String?)] { scope.query + [("sort", sort?.rawValue)] }

    func run() async throws {
        try await options.withAPI { api in
            guard watch else {
                let reply = try await api.manager("breaches", query: query)
                if output.json { return Output.json(reply) }
                let list = try reply.decode(BreachList.self, from: api.base)
                Output.line(list.requests.isEmpty
                    ? "No open request is past its deadline."
                    : BreachTable.render(list.requests, kind: .overdue, style: .standardOutput()))
                return
            }
            let title = "SLA breaches of \(scope.unit.map { "\($0) and below" } ?? "your units")"
            let limit = scope.limit ?? 200
            // The snapshot runs in a task of its own: it takes plain values, not the command.
            let (query, json) = (query, output.json)
            try await LiveView(interval: interval ?? 5, json: json).run {
                let reply = try await api.manager("breaches", query: query)
                if json { return .json(reply) }
                let items = try reply.decode(BreachList.self, from: api.base).requests
                return .text(
                    header: [title, BreachTable.counts(items, limit: limit)],
                    body: items.isEmpty ? "No open request is past its deadline." : BreachTable.render(items, kind: .overdue, style: .standardOutput()))
            }
        }
    }
}

struct SLAAtRisk: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "at-risk",
        abstract: "List the open requests that will breach within the next working minutes, closest first.",
        discussion: """
            LEFT is working time until the deadline of the running clock; requests already past \
            it are listed by `loket sla breaches`.

            Examples:
              loket sla at-risk
              loket sla at-risk --within 60 --unit DISDUKCAPIL-IDP
              loket sla at-risk --json | jq '.requests | length'
            """)

    @OptionGroup var scope: ManagerScope

    @Option(help: ArgumentHelp("How close to the deadline, in working minutes, 1 to 10000 (default 120).", valueName: "minutes"))
    var within: Int?

    @OptionGroup var options: ServerOptions
    @OptionGroup var output: OutputOptions

    func validate() throws {
        if let within, !(1...10_000).contains(within) { throw ValidationError("--within must be 1 to 10000 working minutes.") }
    }

    func run() async throws {
        try await options.withAPI { api in
            let reply = try await api.manager("at-risk", query: scope.query + [("within", within.map(String.init))])
            if output.json { return Output.json(reply) }
            // The server sorts by overdue minutes, which for these (all negative) puts the
            // closest deadline first.
            let items = try reply.decode(BreachList.self, from: api.base).requests
            Output.line(items.isEmpty
                ? "No open request is within \(WorkingTime.format(within ?? 120)) of working time of its deadline."
                : BreachTable.render(items, kind: .atRisk, style: .standardOutput()))
        }
    }
}

struct SLAReport: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Performance over a period, per unit, service type or officer.",
        discussion: """
            Counts the requests that closed between --from and --to (both days included, in the \
            jurisdiction's time zone). ON TIME is the share that met the response clock (first \
            claim) and the resolution clock (closed); MEDIAN H and P90 H are working hours to \
            resolve, to the quarter hour, without time spent waiting for the citizen (WAIT H); \
            BACKLOG is what is open now. IKM is the satisfaction index (PermenPAN-RB 14/2017, \
            25–100) over the period's surveys, with its grade. A request counts for the unit it \
            closed in and the officer who closed it, but its response result for whoever first \
            claimed or assigned it and the unit it was in then (a row can show that with CLOSED 0).

            --csv prints the server's CSV (one line per group, then the total) for a \
            spreadsheet; --json the server's JSON.

            Examples:
              loket sla report --by unit --from 2026-01-01 --to 2026-12-31
              loket sla report --by officer --from 2026-11-01 --to 2026-11-30 --unit DISDUKCAPIL-IDP
              loket sla report --by service --from 2026-01-01 --to 2026-06-30 --csv > semester1.csv
            """)

    @Option(help: ArgumentHelp("Group the rows by unit, service (type) or officer.", valueName: "unit|service|officer"))
    var by: ReportGrouping

    @Option(help: ArgumentHelp("First closing day of the period.", valueName: "YYYY-MM-DD"))
    var from: CalendarDay

    @Option(help: ArgumentHelp("Last closing day of the period (included).", valueName: "YYYY-MM-DD"))
    var to: CalendarDay

    @Option(help: ArgumentHelp("Only this unit and the units below it; it must be in your own subtree.", valueName: "code"))
    var unit: String?

    @Flag(help: "Print the server's CSV (with a header line) instead of a table.")
    var csv = false

    @OptionGroup var options: ServerOptions
    @OptionGroup var output: OutputOptions

    func validate() throws {
        if to < from { throw ValidationError("--from \(from) is after --to \(to).") }
        if csv, output.json { throw ValidationError("Choose one of --csv and --json.") }
    }

    func run() async throws {
        try await options.withAPI { api in
            var query: [(String, String?)] = [("by", by.rawValue), ("from", from.description), ("to", to.description), ("unit", unit)]
            if csv {
                query.append(("format", "csv"))
                let reply = try await api.manager("reports", query: query, accept: "text/csv")
                // The server's bytes unchanged (CRLF line ends, as CSV has them).
                return print(String(decoding: reply.body, as: UTF8.self), terminator: "")
            }
            let reply = try await api.manager("reports", query: query)
            if output.json { return Output.json(reply) }
            let report = try reply.decode(ReportAnswer.self, from: api.base)
            Output.line("Closed \(report.from) to \(report.to), by \(report.by)\(unit.map { ", \($0) and below" } ?? "")."
                + " Hours are working hours.")
            Output.line("")
            Output.line(ReportTable.render(report, style: .standardOutput()))
        }
    }
}

struct Workload: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Open requests per unit now: queued, in progress, waiting for the citizen (managers and admins).",
        discussion: """
            OLDEST is the age of the unit's oldest open request, in calendar days.

            Examples:
              loket workload
              loket workload --unit DISDUKCAPIL
              loket workload --json | jq '.units[] | select(.queued > 20) | .unit.code'
            """)

    @Option(help: ArgumentHelp("Only this unit and the units below it; it must be in your own subtree.", valueName: "code"))
    var unit: String?

    @OptionGroup var options: ServerOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        try await options.withAPI { api in
            let reply = try await api.manager("workload", query: [("unit", unit)])
            if output.json { return Output.json(reply) }
            let lines = try reply.decode(WorkloadAnswer.self, from: api.base).units
            Output.line(lines.isEmpty ? "No open requests." : WorkloadTable.render(lines, style: .standardOutput()))
        }
    }
}

// MARK: Tables

enum BreachTable {
    enum Kind {
        /// Past the deadline: OVERDUE, red.
        case overdue
        /// Before it: LEFT, yellow within two working hours as in the officers' lists.
        case atRisk
    }

    static func render(_ items: [BreachItem], kind: Kind, style: Style) -> String {
        // The time and the clock come right after the code: they are what a manager scans for,
        // and what stays visible when a live view is cut to a narrow window.
        var table = Table(columns: [
            ("CODE", .left), (kind == .overdue ? "OVERDUE" : "LEFT", .right), ("CLOCK", .left), ("DUE", .left),
            ("SERVICE", .left), ("UNIT", .left), ("STATUS", .left), ("ESC", .right), ("PRI", .right), ("HOLDER", .left),
        ])
        table.rows = items.map { item in
            let time: Table.Cell = switch kind {
            case .overdue: Table.Cell(WorkingTime.format(item.overdueWorkingMinutes), .red)
            case .atRisk:
                Table.Cell(WorkingTime.format(-item.overdueWorkingMinutes), -item.overdueWorkingMinutes <= 120 ? .yellow : .green)
            }
            return [
                Table.Cell(item.trackingCode), time, Table.Cell(item.clock), Table.Cell(Instant.display(item.dueAt)),
                Table.Cell(item.service.code), Table.Cell(item.unit.code), Table.Cell(item.status),
                Table.Cell(String(item.escalationLevel)), Table.Cell(String(item.priority)), Table.Cell(item.assignee?.name ?? "-"),
            ]
        }
        return table.render(style)
    }

    /// The live view's second line: how many, on which clock, how bad. Short, so that it fits a
    /// narrow window.
    static func counts(_ items: [BreachItem], limit: Int) -> String {
        guard let worst = items.map(\.overdueWorkingMinutes).max() else { return "0 overdue." }
        let response = items.filter { $0.clock == "response" }.count
        let escalated = items.filter { $0.escalationLevel > 0 }.count
        // The server stops at the limit, so a full list may not be all of it.
        let count = items.count >= limit ? "First \(items.count) overdue (--limit \(limit))" : "\(items.count) overdue"
        return "\(count): \(response) response, \(items.count - response) resolution; \(escalated) escalated; most overdue \(WorkingTime.format(worst))."
    }
}

enum ReportTable {
    static func render(_ report: ReportAnswer, style: Style) -> String {
        // Backlog is what is open now per unit or service; officers have none in the report.
        let backlog = report.by != "officer"
        var columns: [(title: String, alignment: Table.Alignment)] = [
            (report.by.uppercased(), .left), ("CLOSED", .right), ("RESP ON TIME", .right), ("RESOL ON TIME", .right),
            ("MEDIAN H", .right), ("P90 H", .right), ("BREACHES", .right), ("ESCALATIONS", .right), ("TRANSFERS", .right),
            ("WAIT H", .right),
        ]
        if backlog { columns.append(("BACKLOG", .right)) }
        columns += [("IKM", .right), ("GRADE", .left)]
        var table = Table(columns: columns)
        for (line, isTotal) in report.rows.map({ ($0, false) }) + [(report.total, true)] {
            // Units and services are known by their codes; officers by name (NIP in --json and --csv).
            let label = isTotal ? "Total" : report.by == "officer" && !line.name.isEmpty ? line.name : line.key
            var cells = [
                Table.Cell(label), Table.Cell(String(line.closed)),
                Table.Cell(percent(line.responseOnTimePercent)), Table.Cell(percent(line.resolutionOnTimePercent)),
                Table.Cell(hours(line.medianResolutionHours, digits: 2)), Table.Cell(hours(line.p90ResolutionHours, digits: 2)),
                Table.Cell(String(line.breaches)), Table.Cell(String(line.escalations)), Table.Cell(String(line.transfers)),
                Table.Cell(hours(line.waitingForCitizenHours, digits: 1)),
            ]
            if backlog { cells.append(Table.Cell(String(line.backlog))) }
            cells += [
                Table.Cell(line.ikm.map { String(format: "%.2f", $0.value) } ?? "-"),
                Table.Cell(line.ikm.map { "\($0.grade) (\($0.gradeLabel))" } ?? "-"),
            ]
            table.rows.append(cells)
        }
        return table.render(style)
    }

    static func percent(_ value: Double?) -> String {
        value.map { String(format: "%.1f%%", $0) } ?? "-"
    }

    static func hours(_ value: Double?, digits: Int) -> String {
        value.map { String(format: "%.\(digits)f", $0) } ?? "-"
    }
}

enum WorkloadTable {
    static func render(_ lines: [WorkloadAnswer.Line], style: Style) -> String {
        var table = Table(columns: [
            ("UNIT", .left), ("QUEUED", .right), ("IN PROGRESS", .right), ("WAITING", .right), ("OPEN", .right),
            ("OLDEST", .right), ("NAME", .left),
        ])
        func days(_ value: Double?) -> String { value.map { String(format: "%.1fd", $0) } ?? "-" }
        for line in lines {
            table.rows.append([
                Table.Cell(line.unit.code), Table.Cell(String(line.queued)), Table.Cell(String(line.inProgress)),
                Table.Cell(String(line.waitingCitizen)), Table.Cell(String(line.queued + line.inProgress + line.waitingCitizen)),
                Table.Cell(days(line.oldestAgeDays)), Table.Cell(line.unit.name),
            ])
        }
        let queued = lines.map(\.queued).reduce(0, +)
        let inProgress = lines.map(\.inProgress).reduce(0, +)
        let waiting = lines.map(\.waitingCitizen).reduce(0, +)
        table.rows.append([
            Table.Cell("Total"), Table.Cell(String(queued)), Table.Cell(String(inProgress)), Table.Cell(String(waiting)),
            Table.Cell(String(queued + inProgress + waiting)), Table.Cell(days(lines.compactMap(\.oldestAgeDays).max())), Table.Cell(""),
        ])
        return table.render(style)
    }
}

// MARK: The live view

/// Shows a snapshot every `interval` seconds until Ctrl-C. At a terminal it redraws in place
/// (cursor home, each line cleared to its end, the rest of the screen cleared), cut to the
/// window so that nothing scrolls; anywhere else it appends snapshots separated by a blank line,
/// flushed one by one so that a reader of the pipe sees each as it comes.
struct LiveView {
    enum Frame {
        case text(header: [String], body: String)
        case json(Reply)
    }

    let interval: Int
    let json: Bool

    /// Redrawing needs a terminal that understands cursor movement; colour is Style's business.
    var inPlace: Bool {
        !json && isatty(STDOUT_FILENO) == 1 && ProcessInfo.processInfo.environment["TERM"] != "dumb"
    }

    func run(_ snapshot: @escaping @Sendable () async throws -> Frame) async throws {
        // Ctrl-C is turned into an event instead of killing the process, so that the view ends
        // between two writes and the command exits 0, as stopping a watch is how it is used.
        signal(SIGINT, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: SIGINT, queue: DispatchQueue.global())
        let (interrupts, sink) = AsyncStream.makeStream(of: Void.self)
        source.setEventHandler { sink.yield() }
        source.resume()
        defer {
            source.cancel()
            signal(SIGINT, SIG_DFL)
        }
        let inPlace = inPlace
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await loop(snapshot, inPlace: inPlace) }
            group.addTask {
                for await _ in interrupts { return }
            }
            // Whichever ends first ends both: an interrupt, or a refusal the loop cannot survive.
            try await group.next()
            group.cancelAll()
        }
        sink.finish()
        // Leave the prompt below the last frame rather than on its last line.
        if inPlace { print("") }
    }

    private func loop(_ snapshot: @Sendable () async throws -> Frame, inPlace: Bool) async throws {
        let clock = ContinuousClock()
        var first = true
        var last: Frame?
        while !Task.isCancelled {
            let started = clock.now
            var problem: String?
            do {
                last = try await snapshot()
            } catch where Task.isCancelled {
                return
            } catch let failure as Failure where failure.status == .unavailable && !first {
                // A server that is briefly away (restart, 503) should not end a watch that has
                // been running; refusals (401, 403, 404) do, since waiting will not change them.
                problem = "\(failure.message) Retrying every \(interval)s."
            }
            if Task.isCancelled { return }
            if let last { show(last, problem: problem, first: first, inPlace: inPlace) }
            first = false
            try? await Task.sleep(until: started.advanced(by: .seconds(interval)), clock: clock)
        }
    }

    private func show(_ frame: Frame, problem: String?, first: Bool, inPlace: Bool) {
        switch frame {
        case .json(let reply):
            if let problem { StandardError.write("error: \(problem)") } else { Output.json(reply) }
        case .text(let header, let body):
            let time = WallClock.now()
            if let problem, !inPlace {
                // Errors go to standard error, as everywhere in loket; the pipe gets no stale
                // snapshot that would read as a new one.
                return StandardError.write("error: \(problem) (\(time))")
            }
            var lines = ["\(header[0]) at \(time)" + (inPlace ? ", every \(interval)s (Ctrl-C quits)" : "")]
            lines += header.dropFirst()
            if let problem {
                lines.append(Style.standardOutput().paint("error: \(problem)", .red) + " The list below is from the last answer.")
            }
            lines.append("")
            lines += body.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            if inPlace {
                print(Self.screen(lines, clear: first), terminator: "")
            } else {
                print((first ? "" : "\n") + lines.joined(separator: "\n"))
            }
        }
        // A pipe is block-buffered: without this a reader would see nothing for many intervals.
        fflush(nil)
    }

    /// One frame for the terminal: what fits the window, each line cleared to its end so that a
    /// shorter line leaves no rest of the previous frame, then the rest of the screen cleared.
    static func screen(_ lines: [String], clear: Bool) -> String {
        let (rows, columns) = terminalSize()
        var visible = lines
        if visible.count > rows {
            let hidden = visible.count - (rows - 1)
            visible = Array(visible.prefix(rows - 1)) + ["… and \(hidden) more (enlarge the window, or narrow the list with --unit)."]
        }
        // No newline after the last line: at the bottom of the window it would scroll the frame.
        return (clear ? "\u{1B}[H\u{1B}[2J" : "\u{1B}[H")
            + visible.map { clip($0, to: columns) + "\u{1B}[K" }.joined(separator: "\n") + "\u{1B}[J"
    }

    /// The first `width` terminal columns of `line`; colour escapes are kept but not counted,
    /// and a cut line resets the colour so that it does not run on.
    static func clip(_ line: String, to width: Int) -> String {
        var result = ""
        var count = 0
        var inEscape = false
        var painted = false
        for character in line {
            if inEscape {
                result.append(character)
                if character.isLetter { inEscape = false }
                continue
            }
            if character == "\u{1B}" {
                inEscape = true
                painted = true
                result.append(character)
                continue
            }
            let columns = character.terminalWidth
            if count + columns > width { return result + (painted ? "\u{1B}[0m" : "") }
            result.append(character)
            count += columns
        }
        return result
    }

    static func terminalSize() -> (rows: Int, columns: Int) {
        var size = winsize()
        #if canImport(Glibc)
        let status = ioctl(STDOUT_FILENO, UInt(TIOCGWINSZ), &size)
        #else
        let status = ioctl(STDOUT_FILENO, TIOCGWINSZ, &size)
        #endif
        guard status == 0, size.ws_row > 1, size.ws_col > 0 else { return (24, 80) }
        return (Int(size.ws_row), Int(size.ws_col))
    }
}

/// The time now, with seconds (a live view changes within the minute), in the zone of the
/// server's instants (WIB, UTC+7) so that it reads against the DUE column below it, whatever zone
/// the officer's machine or container is set to.
enum WallClock {
    static let serverZone = TimeZone(secondsFromGMT: 7 * 3600)!

    static func now(_ date: Date = Date(), zone: TimeZone = serverZone) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = zone
        formatter.dateFormat = "yyyy-MM-dd HH:mm:ss"
        let seconds = zone.secondsFromGMT(for: date)
        let name = switch seconds {
        case 7 * 3600: "WIB"
        case 8 * 3600: "WITA"
        case 9 * 3600: "WIT"
        case 0: "UTC"
        default: String(format: "%@%02d:%02d", seconds < 0 ? "-" : "+", abs(seconds) / 3600, abs(seconds) % 3600 / 60)
        }
        return "\(formatter.string(from: date)) \(name)"
    }
}
