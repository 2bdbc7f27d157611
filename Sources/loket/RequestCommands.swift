import ArgumentParser
import Foundation

/// Sends one lifecycle command about `code` and prints the server's JSON or a one-paragraph
/// summary of the request as it now stands.
func act(
    _ code: String, _ action: String, fields: [String: String?] = [:], options: ServerOptions, output: OutputOptions,
    summary: (RequestDetail) -> [String]
) async throws {
    try await options.withAPI { api in
        let body = try LoketJSON.encode(fields.compactMapValues { $0 })
        let reply = try await api.send(.post, "requests/\(StaffAPI.segment(code))/\(action)", body: body, about: code)
        if output.json { return Output.json(reply) }
        for line in summary(try reply.decode(RequestDetail.self, from: api.base)) { Output.line(line) }
    }
}

/// The lines shared by `claim` answers: what it is, how long the claim lasts, how much time is left.
func claimSummary(_ request: RequestDetail) -> [String] {
    var lines = ["Claimed \(request.trackingCode): \(request.service.name) (\(request.service.code)), \(request.unit.code)."]
    if let lease = request.leaseExpiresAt {
        lines.append("Your claim is valid until \(Instant.display(lease)); `loket heartbeat \(request.trackingCode)` extends it.")
    }
    lines.append(slaLine(request))
    if let name = request.citizen.name { lines.append("Citizen: \(name)") }
    if let description = request.description { lines.append("Description: \(description)") }
    lines.append("Next: `loket show \(request.trackingCode)` for documents and history.")
    return lines
}

func slaLine(_ request: RequestDetail) -> String {
    let sla = request.sla
    let style = Style.standardOutput()
    let left = sla.remainingWorkingMinutes < 0
        ? "overdue by \(WorkingTime.format(-sla.remainingWorkingMinutes)) of working time"
        : "\(WorkingTime.format(sla.remainingWorkingMinutes)) of working time left"
    return "SLA: " + style.paint(left, Style.slaColour(sla)) + " on the \(sla.clock) clock (due \(Instant.display(sla.dueAt)))"
        + (sla.paused ? ", paused." : ".")
}

struct Claim: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Claim the most urgent request of your queue, or a named one.",
        discussion: """
            Without a code, the server hands you the most urgent unclaimed request of your unit \
            subtree (or of --unit); no two officers ever get the same one. A claim lasts 30 \
            minutes; `loket heartbeat` extends it, and a citizen's reply starts a new one. When the \
            queue is empty, loket says so and exits 0 (with --json it prints nothing).

            Examples:
              loket claim
              loket claim --unit DISDUKCAPIL-IDP
              loket claim SRG-7K3D-9QXA-M2PZ
            """)

    @Argument(help: ArgumentHelp("The tracking code to claim. Default: the most urgent request of the queue.", valueName: "code"))
    var code: String?

    @Option(help: ArgumentHelp("Claim the next request of this unit (in your subtree) only.", valueName: "code"))
    var unit: String?

    @OptionGroup var options: ServerOptions
    @OptionGroup var output: OutputOptions

    func validate() throws {
        if code != nil, unit != nil {
            throw ValidationError("--unit chooses where the next request comes from; leave it out when you name a code.")
        }
    }

    func run() async throws {
        try await options.withAPI { api in
            let reply: Reply
            if let code {
                reply = try await api.send(.post, "requests/\(StaffAPI.segment(code))/claim", about: code)
            } else {
                reply = try await api.send(.post, "claim", query: [("unit", unit)])
            }
            if reply.status == 204 {
                let message = "Nothing to claim: the queue\(unit.map { " of \($0)" } ?? "") is empty."
                return output.json ? StandardError.write(message) : Output.line(message)
            }
            if output.json { return Output.json(reply) }
            for line in claimSummary(try reply.decode(RequestDetail.self, from: api.base)) { Output.line(line) }
        }
    }
}

struct Show: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show a request in full: citizen, form answers, SLA, documents and audit trail.",
        discussion: """
            Examples:
              loket show SRG-7K3D-9QXA-M2PZ
              loket show SRG-7K3D-9QXA-M2PZ --json | jq '.audit[] | select(.public | not)'
            """)

    @Argument(help: ArgumentHelp("The tracking code.", valueName: "code"))
    var code: String

    @OptionGroup var options: ServerOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        try await options.withAPI { api in
            let reply = try await api.send(.get, "requests/\(StaffAPI.segment(code))", about: code)
            if output.json { return Output.json(reply) }
            Output.line(RequestSheet.render(try reply.decode(RequestDetail.self, from: api.base), style: .standardOutput()))
        }
    }
}

struct Heartbeat: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Extend your claim on a request you are still working on.",
        discussion: """
            A claim lapses 30 minutes after you claimed or last extended it, and then a colleague \
            can claim the request. Each heartbeat gives you another 30 minutes from now; run it \
            while you are still busy with the request, e.g. checking documents at the counter.

            Examples:
              loket heartbeat SRG-7K3D-9QXA-M2PZ
              while sleep 600; do loket heartbeat SRG-7K3D-9QXA-M2PZ || break; done
            """)

    @Argument(help: ArgumentHelp("The tracking code.", valueName: "code"))
    var code: String

    @OptionGroup var options: ServerOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        try await options.withAPI { api in
            let reply = try await api.send(.post, "requests/\(StaffAPI.segment(code))/heartbeat", about: code)
            if output.json { return Output.json(reply) }
            let lease = try reply.decode(LeaseAnswer.self, from: api.base)
            Output.line("Your claim on \(code) is valid until \(Instant.display(lease.leaseExpiresAt)).")
        }
    }
}

struct Note: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Add a note to a request: internal (staff only) unless --public.",
        discussion: """
            Any officer of the request's unit subtree may add notes; you need not hold it.

            Examples:
              loket note SRG-7K3D-9QXA-M2PZ "Berkas asli diperiksa di loket 2."
              loket note SRG-7K3D-9QXA-M2PZ --public "Dokumen sedang diverifikasi."
            """)

    @Argument(help: ArgumentHelp("The tracking code.", valueName: "code"))
    var code: String

    @Argument(help: ArgumentHelp("The note (up to 4000 characters).", valueName: "text"))
    var text: String

    @Flag(help: "Let the citizen read the note on their request's page.")
    var `public` = false

    @OptionGroup var options: ServerOptions
    @OptionGroup var output: OutputOptions

    struct Body: Encodable {
        var text: String
        var `public`: Bool
    }

    func run() async throws {
        try await options.withAPI { api in
            let body = try LoketJSON.encode(Body(text: text, public: `public`))
            let reply = try await api.send(.post, "requests/\(StaffAPI.segment(code))/notes", body: body, about: code)
            if output.json { return Output.json(reply) }
            Output.line(`public`
                ? "Added a public note to \(code) (the citizen can read it)."
                : "Added an internal note to \(code) (staff only).")
        }
    }
}

struct Ask: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Ask the citizen for something missing; the SLA clock pauses until they reply.",
        discussion: """
            You must hold the request. The citizen is notified; their reply puts the request back \
            in progress with you, and the paused time is added to the deadline.

            Examples:
              loket ask SRG-7K3D-9QXA-M2PZ "Mohon unggah foto buku nikah."
              loket ask --lang en SRG-7K3D-9QXA-M2PZ "Please upload your marriage certificate."
            """)

    @Argument(help: ArgumentHelp("The tracking code.", valueName: "code"))
    var code: String

    @Argument(help: ArgumentHelp("What the citizen must answer or provide (up to 4000 characters).", valueName: "question"))
    var question: String

    @OptionGroup var options: ServerOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        try await act(code, "ask", fields: ["question": question], options: options, output: output) { request in
            ["Asked the citizen about \(request.trackingCode); it is now \(request.statusLabel).", slaLine(request)]
        }
    }
}

struct Answered: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Supervisors: record the citizen's answer given outside Loket; work resumes.",
        discussion: """
            For a request waiting for the citizen, when they answered at the counter, by phone, \
            or through the application they filed with (which cannot send a reply to Loket). A \
            supervisor or manager of the unit records it, never the officer who holds the \
            request: their question paused the SLA clock, and only the citizen, or someone else \
            on the citizen's word, ends that pause. Write what the citizen answered or brought: \
            they read it in their timeline as recorded by the officer, the trail names you, and \
            the holder is told. The clock runs again from now, as after the citizen's own reply.

            Examples:
              loket answered SRG-7K3D-9QXA-M2PZ "Buku nikah asli diserahkan di loket 2."
              loket answered SRG-7K3D-9QXA-M2PZ "Dikonfirmasi lewat telepon: alamat RT 03/RW 05."
            """)

    @Argument(help: ArgumentHelp("The tracking code.", valueName: "code"))
    var code: String

    @Argument(help: ArgumentHelp("What the citizen answered or brought (up to 4000 characters).", valueName: "message"))
    var message: String

    @OptionGroup var options: ServerOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        try await act(code, "reply", fields: ["message": message], options: options, output: output) { request in
            ["Recorded the citizen's answer on \(request.trackingCode); it is now \(request.statusLabel), with its holder.", slaLine(request)]
        }
    }
}

struct Resolve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Complete a request you hold, with the message the citizen reads.",
        discussion: """
            For a service marked public (reports about roads, street lights and other public \
            places), the message is also published as the request's status note in the Open311 \
            listings: write nothing personal in it.

            Examples:
              loket resolve SRG-7K3D-9QXA-M2PZ "KK baru dapat diambil di loket 3 mulai 3 Desember."
              loket resolve SRG-7K3D-9QXA-M2PZ "Izin terbit." --outcome "SK 503/117/DPMPTSP/2026"
            """)

    @Argument(help: ArgumentHelp("The tracking code.", valueName: "code"))
    var code: String

    @Argument(help: ArgumentHelp("The message for the citizen (up to 4000 characters).", valueName: "message"))
    var message: String

    @Option(help: ArgumentHelp("The formal outcome, e.g. a decree or document number (internal record).", valueName: "text"))
    var outcome: String?

    @OptionGroup var options: ServerOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        try await act(code, "resolve", fields: ["public_message": message, "outcome": outcome], options: options, output: output) { request in
            ["Resolved \(request.trackingCode): \(request.statusLabel).", "The citizen reads: \(request.publicMessage ?? message)"]
        }
    }
}

struct Reject: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Reject a request you hold, with the reason the citizen reads.",
        discussion: """
            For a service marked public, the reason is also published as the request's status \
            note in the Open311 listings: write nothing personal in it.

            Examples:
              loket reject SRG-7K3D-9QXA-M2PZ "NIK pemohon tidak terdaftar di Kota Serang."
            """)

    @Argument(help: ArgumentHelp("The tracking code.", valueName: "code"))
    var code: String

    @Argument(help: ArgumentHelp("Why, in words the citizen understands (up to 4000 characters).", valueName: "reason"))
    var reason: String

    @OptionGroup var options: ServerOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        try await act(code, "reject", fields: ["reason": reason], options: options, output: output) { request in
            ["Rejected \(request.trackingCode): \(request.statusLabel).", "The citizen reads: \(request.rejectReason ?? reason)"]
        }
    }
}

struct Release: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Give a request you hold back to its unit's queue.",
        discussion: """
            Examples:
              loket release SRG-7K3D-9QXA-M2PZ
              loket release SRG-7K3D-9QXA-M2PZ --reason "Cuti mulai besok."
            """)

    @Argument(help: ArgumentHelp("The tracking code.", valueName: "code"))
    var code: String

    @Option(help: ArgumentHelp("Why, for the audit trail (up to 1000 characters).", valueName: "text"))
    var reason: String?

    @OptionGroup var options: ServerOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        try await act(code, "release", fields: ["reason": reason], options: options, output: output) { request in
            ["Released \(request.trackingCode) to the queue of \(request.unit.code); it is now \(request.statusLabel)."]
        }
    }
}

struct Transfer: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Hand a request over to another unit, with a reason.",
        discussion: """
            You must hold the request (supervisors may also transfer a queued one). It lands, \
            unclaimed, in the other unit's queue.

            Examples:
              loket transfer SRG-7K3D-9QXA-M2PZ DISDUKCAPIL-PDP --reason "Perubahan data, bukan KK baru."
            """)

    @Argument(help: ArgumentHelp("The tracking code.", valueName: "code"))
    var code: String

    @Argument(help: ArgumentHelp("The code of the unit that should handle it.", valueName: "unit"))
    var unit: String

    @Option(help: ArgumentHelp("Why it belongs there (up to 1000 characters); the citizen reads it.", valueName: "text"))
    var reason: String

    @OptionGroup var options: ServerOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        try await act(code, "transfer", fields: ["unit": unit, "reason": reason], options: options, output: output) { request in
            ["Transferred \(request.trackingCode) to \(request.unit.code) — \(request.unit.name); it is now \(request.statusLabel)."]
        }
    }
}

struct Assign: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Give a request to a named officer (supervisors and above).",
        discussion: """
            The officer must work in the request's unit or a unit above it; the change, and whom \
            it was taken from, is recorded.

            Examples:
              loket assign SRG-7K3D-9QXA-M2PZ 199411282019081001
            """)

    @Argument(help: ArgumentHelp("The tracking code.", valueName: "code"))
    var code: String

    @Argument(help: ArgumentHelp("The officer's 18-digit NIP.", valueName: "nip"))
    var nip: String

    @OptionGroup var options: ServerOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        try await act(code, "assign", fields: ["nip": nip], options: options, output: output) { request in
            let holder = request.assignee.map { "\($0.name) (NIP \($0.nip))" } ?? "NIP \(nip)"
            return ["Assigned \(request.trackingCode) to \(holder)."]
        }
    }
}
