import ArgumentParser
import Foundation

extension Language: ExpressibleByArgument {}

/// Options every command that talks to the server takes.
struct ServerOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(
        "Language of the server's messages: id (Indonesian) or en (English). Default: $LOKET_LANG, else id.",
        valueName: "id|en"))
    var lang: Language?

    var language: Language? {
        lang ?? ProcessInfo.processInfo.environment["LOKET_LANG"].flatMap { Language(rawValue: $0.lowercased()) }
    }

    /// Runs `body` against the logged-in server.
    func withAPI<T>(_ body: (StaffAPI) async throws -> T) async throws -> T {
        try await StaffAPI.with(try Session.resolve(), language: language, body)
    }
}

/// `--json` on every command that shows something the server answered.
struct OutputOptions: ParsableArguments {
    @Flag(name: .long, help: "Print the server's JSON answer unchanged instead of text (for scripts and jq).")
    var json = false
}

/// Standard output: text for people, the server's bytes for `--json`.
enum Output {
    static func line(_ text: String) {
        print(text)
    }

    static func json(_ reply: Reply) {
        let text = String(decoding: reply.body, as: UTF8.self)
        print(text, terminator: text.hasSuffix("\n") ? "" : "\n")
    }
}
