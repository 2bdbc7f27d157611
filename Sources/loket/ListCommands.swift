import ArgumentParser
import Foundation

/// The options of the unit-scoped lists.
struct ScopeOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Only this unit (and the units below it); it must be in your own subtree.", valueName: "code"))
    var unit: String?

    @Option(help: ArgumentHelp("At most this many requests, 1 to 500 (server default 50).", valueName: "n"))
    var limit: Int?

    func validate() throws {
        if let limit, !(1...500).contains(limit) { throw ValidationError("--limit must be 1 to 500.") }
    }

    var query: [(String, String?)] {
        [("unit", unit), ("limit", limit.map(String.init))]
    }
}

/// Fetches a list and prints it as a table, or as the server's JSON.
func showList(_ path: String, query: [(String, String?)] = [], empty: String, options: ServerOptions, output: OutputOptions) async throws {
    try await options.withAPI { api in
        let reply = try await api.send(.get, path, query: query)
        if output.json { return Output.json(reply) }
        let list = try reply.decode(QueueList.self, from: api.base)
        Output.line(list.requests.isEmpty ? empty : RequestTable.render(list.requests, style: .standardOutput()))
    }
}

struct Queue: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the unclaimed requests of your unit and the units below it, most urgent first.",
        discussion: """
            Most urgent first: escalation level, then priority, then deadline. SLA LEFT is working \
            time until the running deadline (d = a 7.5-hour working day); it is red when overdue, \
            yellow within 2 working hours and green otherwise (colour only at a terminal).

            Examples:
              loket queue
              loket queue --unit DISDUKCAPIL-IDP --limit 10
              loket queue --json | jq -r '.requests[].tracking_code'
            """)

    @OptionGroup var scope: ScopeOptions
    @OptionGroup var options: ServerOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        try await showList("queue", query: scope.query, empty: "The queue is empty.", options: options, output: output)
    }
}

struct Mine: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the requests you hold.",
        discussion: """
            Examples:
              loket mine
              loket mine --json | jq '.requests | length'
            """)

    @OptionGroup var options: ServerOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        try await showList("mine", empty: "You hold no requests.", options: options, output: output)
    }
}

struct Escalated: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the escalated requests of your subtree (supervisors and above).",
        discussion: """
            Examples:
              loket escalated
              loket escalated --unit DISDUKCAPIL --json
            """)

    @OptionGroup var scope: ScopeOptions
    @OptionGroup var options: ServerOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        try await showList("escalated", query: scope.query, empty: "No escalated requests.", options: options, output: output)
    }
}
