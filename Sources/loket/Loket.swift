import ArgumentParser
import Foundation

/// `loket`: the officers' command line for their unit's queue on a Loket server.
@main
struct Loket: AsyncParsableCommand {
    static let version = "1.0.0"

    static let configuration = CommandConfiguration(
        commandName: "loket",
        abstract: "Work your unit's queue of public-service requests on a Loket server.",
        discussion: """
            Log in once with your personal token (from your administrator), then see what is \
            most urgent, claim it, ask the citizen for what is missing, and resolve, reject, \
            release or transfer it. Every action is recorded under your name.

            Examples:
              loket login https://loket.serangkota.go.id
              loket queue
              loket claim
              loket ask SRG-7K3D-9QXA-M2PZ "Mohon unggah foto buku nikah."
              loket resolve SRG-7K3D-9QXA-M2PZ "KK dapat diambil di loket 3."

            Configuration: `loket login` stores the server address and token in \
            $LOKET_CONFIG, else $XDG_CONFIG_HOME/loket/config.json, else \
            ~/.config/loket/config.json (mode 0600). LOKET_URL and LOKET_TOKEN override the \
            file; LOKET_LANG (id or en) sets the default --lang; NO_COLOR turns colour off.

            Exit codes:
            \(ExitStatus.table)

            Shell completion: loket --generate-completion-script bash|zsh|fish
            Reference: docs/cli.md
            """,
        version: version,
        groupedSubcommands: [
            CommandGroup(name: "Account", subcommands: [Login.self, Logout.self, Whoami.self]),
            CommandGroup(name: "Lists", subcommands: [Queue.self, Mine.self, Escalated.self]),
            CommandGroup(name: "Work on a request", subcommands: [
                Claim.self, Show.self, Heartbeat.self, Note.self, Ask.self, Resolve.self, Reject.self, Release.self,
                Transfer.self,
            ]),
            CommandGroup(name: "Supervisors", subcommands: [Assign.self, Answered.self]),
            CommandGroup(name: "Managers", subcommands: [SLA.self, Workload.self]),
        ]
    )

    /// ArgumentParser's own entry point, with Loket's exit codes: usage errors exit 1 (not
    /// ArgumentParser's 64) and a `Failure` exits with its status after saying what to do.
    static func main() async {
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
            terminate(.ok)
        } catch let failure as Failure {
            StandardError.write(failure.rendered)
            terminate(failure.status)
        } catch {
            if exitCode(for: error) == .validationFailure {
                StandardError.write(fullMessage(for: error))
                terminate(.usage)
            }
            exit(withError: error)
        }
    }
}

/// Ends the process; stdio buffers are flushed by exit(3).
func terminate(_ status: ExitStatus) -> Never {
    exit(status.rawValue)
}
