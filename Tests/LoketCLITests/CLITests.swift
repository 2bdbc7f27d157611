import Foundation
import LoketCore
import Testing

/// The built `loket` binary against a real server and database, as an officer uses it.
@Suite("loket CLI")
struct CLITests {
    @Test func anOfficerWorksARequestFromLoginToResolve() async throws {
        try await CLITestEnvironment.withServer { server in
            let filed = try await server.file()
            let officer = try #require(try await server.officers(for: filed.code).first?.officer)
            let token = try await server.token(for: officer)
            let cli = try CLI()
            defer { cli.remove() }
            var outputs: [CLI.Result] = []

            // Login reads the token from standard input when it is not a terminal.
            let login = try await cli.run(["login", server.url + "/"], stdin: token + "\n")
            outputs.append(login)
            #expect(login.status == 0, "\(login.stderr)")
            #expect(login.stdout.contains(officer.nip))
            let attributes = try FileManager.default.attributesOfItem(atPath: cli.configPath)
            #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
            let stored = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: cli.configPath))) as? [String: String]
            #expect(stored?["server_url"] == server.url)
            #expect(stored?["token"] == token)

            let whoami = try await cli.run(["whoami"])
            outputs.append(whoami)
            #expect(whoami.status == 0, "\(whoami.stderr)")
            #expect(whoami.stdout.contains(officer.name))
            let me = try await cli.run(["whoami", "--json"])
            #expect(me.json["nip"] as? String == officer.nip)

            let queue = try await cli.run(["queue"])
            outputs.append(queue)
            #expect(queue.status == 0, "\(queue.stderr)")
            let lines = queue.stdout.split(separator: "\n")
            #expect(lines.first?.hasPrefix("CODE") == true)
            let row = try #require(lines.first { $0.hasPrefix(filed.code) })
            #expect(row.contains("kk-baru") && row.contains("queued"))
            // Columns line up: SLA LEFT is right-aligned under its header.
            let header = String(lines[0])
            let slaEnd = try #require(header.range(of: "SLA LEFT")).upperBound.utf16Offset(in: header)
            #expect(row.count >= slaEnd)
            let queueJSON = try await cli.run(["queue", "--json", "--limit", "10"])
            let requests = try #require(queueJSON.json["requests"] as? [[String: Any]], "\(queueJSON.stdout)")
            #expect(requests.contains { $0["tracking_code"] as? String == filed.code })
            #expect((requests.first?["sla"] as? [String: Any])?["remaining_working_minutes"] is Int)

            let claim = try await cli.run(["claim", filed.code])
            outputs.append(claim)
            #expect(claim.status == 0, "\(claim.stderr)")
            #expect(claim.stdout.contains("Claimed \(filed.code)"))
            let mine = try await cli.run(["mine", "--json"])
            #expect((mine.json["requests"] as? [[String: Any]])?.map { $0["tracking_code"] as? String } == [filed.code])

            let ask = try await cli.run(["ask", filed.code, "Mohon unggah foto buku nikah."])
            outputs.append(ask)
            #expect(ask.status == 0, "\(ask.stderr)")
            let waiting = try await cli.run(["show", filed.code, "--json"])
            #expect(waiting.json["status"] as? String == "waiting_citizen")
            #expect((waiting.json["sla"] as? [String: Any])?["paused"] as? Bool == true)

            #expect(try await server.reply(filed, message: "Sudah saya unggah.") == 200)

            let show = try await cli.run(["show", filed.code])
            outputs.append(show)
            #expect(show.status == 0, "\(show.stderr)")
            #expect(show.stdout.contains("in_progress"))
            #expect(show.stdout.contains("Mohon unggah foto buku nikah."))
            #expect(show.stdout.contains("Sudah saya unggah."))
            #expect(show.stdout.contains(officer.name))

            // A second question, answered at the counter: not the holder's to record, a
            // supervisor's.
            let askAgain = try await cli.run(["ask", filed.code, "Mohon bawa buku nikah asli."])
            #expect(askAgain.status == 0, "\(askAgain.stderr)")
            let own = try await cli.run(["answered", filed.code, "Buku nikah asli diserahkan di loket 2."])
            #expect(own.status != 0)
            #expect(own.stderr.contains("supervisor"), "\(own.stderr)")
            let supervisor = try #require(
                try await server.officers(for: filed.code).first { $0.role != "staff" && $0.officer.id != officer.id }?.officer)
            let head = try CLI(extra: ["LOKET_URL": server.url, "LOKET_TOKEN": try await server.token(for: supervisor)])
            defer { head.remove() }
            let answered = try await head.run(["answered", filed.code, "Buku nikah asli diserahkan di loket 2."])
            outputs.append(answered)
            #expect(answered.status == 0, "\(answered.stderr)")
            #expect(answered.stdout.contains("Recorded the citizen's answer on \(filed.code)"))
            let resumed = try await cli.run(["show", filed.code, "--json"])
            #expect(resumed.json["status"] as? String == "in_progress")
            #expect((resumed.json["audit"] as? [[String: Any]])?.last?["kind"] as? String == "citizen_replied")
            // Not waiting any more: refused, with the reason.
            let again = try await head.run(["answered", filed.code, "Lagi"])
            #expect(again.status != 0)
            #expect(!again.stderr.isEmpty)

            let note = try await cli.run(["note", filed.code, "Buku nikah asli diperiksa di loket 2."])
            #expect(note.status == 0, "\(note.stderr)")

            let resolve = try await cli.run(["resolve", filed.code, "KK dapat diambil di loket 3.", "--outcome", "KK 3673010112260001"])
            outputs.append(resolve)
            #expect(resolve.status == 0, "\(resolve.stderr)")
            #expect(resolve.stdout.contains("Resolved \(filed.code)"))
            let done = try await cli.run(["show", filed.code, "--json", "--lang", "en"])
            #expect(done.json["status"] as? String == "completed")
            #expect(done.json["status_label"] as? String == "completed")
            #expect(done.json["public_message"] as? String == "KK dapat diambil di loket 3.")
            #expect(done.json["outcome"] as? String == "KK 3673010112260001")
            let audit = done.json["audit"] as? [[String: Any]] ?? []
            #expect(audit.contains { $0["message"] as? String == "Buku nikah asli diperiksa di loket 2." && $0["public"] as? Bool == false })

            // Output through a pipe is plain text.
            for result in outputs {
                #expect(!result.stdout.hasANSIEscapes && !result.stderr.hasANSIEscapes)
            }
            let claims = try await server.pool.query(
                """
                SELECT count(*) AS n FROM request_events e JOIN service_requests r ON r.id = e.request_id
                WHERE r.tracking_code = $1 AND e.kind = 'claimed' AND e.actor_staff_id = $2
                """, filed.code, officer.id).single().decode(Int.self, "n")
            #expect(claims == 1)
        }
    }

    @Test func claimingTheNextRequestHeartbeatAndRelease() async throws {
        try await CLITestEnvironment.withServer { server in
            let filed = try await server.file()
            let officer = try #require(try await server.officers(for: filed.code).first?.officer)
            let cli = try CLI(extra: ["LOKET_URL": server.url, "LOKET_TOKEN": try await server.token(for: officer)])
            defer { cli.remove() }

            let claim = try await cli.run(["claim"])
            #expect(claim.status == 0, "\(claim.stderr)")
            #expect(claim.stdout.contains("Claimed \(filed.code)"))
            let empty = try await cli.run(["claim"])
            #expect(empty.status == 0)
            #expect(empty.stdout.contains("Nothing to claim"))
            let emptyJSON = try await cli.run(["claim", "--json"])
            #expect(emptyJSON.status == 0)
            #expect(emptyJSON.stdout.isEmpty)

            let heartbeat = try await cli.run(["heartbeat", filed.code])
            #expect(heartbeat.status == 0, "\(heartbeat.stderr)")
            #expect(heartbeat.stdout.contains("valid until"))
            let lease = try await cli.run(["heartbeat", filed.code, "--json"])
            #expect((lease.json["lease_expires_at"] as? String)?.hasSuffix("+07:00") == true)

            let release = try await cli.run(["release", filed.code, "--reason", "Cuti mulai besok."])
            #expect(release.status == 0, "\(release.stderr)")
            let queue = try await cli.run(["queue", "--json"])
            let item = (queue.json["requests"] as? [[String: Any]])?.first { $0["tracking_code"] as? String == filed.code }
            #expect(item?["status"] as? String == "queued")
            // The server leaves out empty fields rather than sending null.
            #expect(item.map { $0["assignee"] == nil || $0["assignee"] is NSNull } == true)
        }
    }

    @Test func exitCodesSayWhatWentWrongAndWhatToDo() async throws {
        try await CLITestEnvironment.withServer { server in
            let filed = try await server.file()
            let (holder, colleague) = try await server.twoStaffOfficers(for: filed.code)
            let cli = try CLI()
            defer { cli.remove() }

            // 1: usage.
            #expect(try await cli.run(["claim", filed.code, "--unit", "DISDUKCAPIL-IDP"]).status == 1)
            #expect(try await cli.run(["frobnicate"]).status == 1)
            #expect(try await cli.run(["queue", "--limit", "0"]).status == 1)

            // 3: not logged in, wrong token (nothing is stored), expired and revoked tokens.
            let anonymous = try await cli.run(["queue"])
            #expect(anonymous.status == 3)
            #expect(anonymous.stderr.contains("loket login"))
            let wrong = try await cli.run(["login", server.url, "--token", "lks_" + String(repeating: "A", count: 43)])
            #expect(wrong.status == 3, "\(wrong.stderr)")
            #expect(!FileManager.default.fileExists(atPath: cli.configPath))
            let expired = try await server.token(for: holder, expiresAt: Date().addingTimeInterval(-60))
            let expiredRun = try await cli.run(["queue"], environment: ["LOKET_URL": server.url, "LOKET_TOKEN": expired, "LOKET_LANG": "en"])
            #expect(expiredRun.status == 3)
            #expect(expiredRun.stderr.contains("expired"))
            #expect(expiredRun.stderr.contains("new token") && expiredRun.stderr.contains("loket login"))
            let revoked = try await server.revokedToken(for: holder)
            #expect(try await cli.run(["whoami"], environment: ["LOKET_URL": server.url, "LOKET_TOKEN": revoked]).status == 3)

            // The environment overrides a stored login.
            let holderToken = try await server.token(for: holder)
            let login = try await cli.run(["login", server.url, "--token", holderToken])
            #expect(login.status == 0, "\(login.stderr)")
            #expect(try await cli.run(["whoami"], environment: ["LOKET_TOKEN": expired]).status == 3)
            // A token from a secret file with CR LF works; one with a control character inside is
            // refused unsent, and never printed (the HTTP client's refusal printed the header whole).
            #expect(try await cli.run(["whoami"], environment: ["LOKET_TOKEN": holderToken + "\r\n"]).status == 0)
            let controlled = try await cli.run(["whoami"], environment: ["LOKET_TOKEN": String(holderToken.prefix(20)) + "\u{1}" + holderToken.dropFirst(20)])
            #expect(controlled.status == 1, "\(controlled.stderr)")
            #expect(!controlled.stderr.contains(String(holderToken.prefix(20))) && controlled.stderr.contains("LOKET_TOKEN"), "\(controlled.stderr)")
            // The stored token goes only to the server it was stored with: another LOKET_URL alone
            // is refused before anything is sent (exit 3, not 6 for the closed port).
            let elsewhere = try await cli.run(["whoami"], environment: ["LOKET_URL": "http://127.0.0.1:\(try closedLoopbackPort())"])
            #expect(elsewhere.status == 3, "\(elsewhere.stderr)")
            #expect(elsewhere.stderr.contains("LOKET_TOKEN") && !elsewhere.stderr.contains(holderToken))
            #expect(try await cli.run(["whoami"], environment: ["LOKET_URL": server.url + "/api/v1"]).status == 0)

            // 4: a well-formed code nobody filed, and a mistyped one.
            let unknown = try TrackingCode.generate(prefix: "SRG").description
            let missing = try await cli.run(["show", unknown])
            #expect(missing.status == 4)
            #expect(missing.stderr.contains("loket queue"))
            #expect(try await cli.run(["show", "SRG-NOT-A-CODE"]).status == 4)
            // A code typed in lower case with spaces is the code; one with characters no code has
            // (a dot segment, a non-ASCII letter) is refused before anything is sent.
            let typed = try await cli.run(["show", filed.code.lowercased().replacingOccurrences(of: "-", with: " ")])
            #expect(typed.status == 0, "\(typed.stderr)")
            #expect(typed.stdout.contains(filed.code))
            for bad in ["..", "SRG-7K3D-9QXA-M2PZ/claim", "SRG-7K3D-9QXА-M2PZ"] {
                let refused = try await cli.run(["claim", bad])
                #expect(refused.status == 1, "\(bad): \(refused.stderr)")
                #expect(refused.stderr.contains("not a tracking code"), "\(bad): \(refused.stderr)")
            }

            // 2: the server says no (a plain officer asking for the supervisors' list).
            let escalated = try await cli.run(["escalated", "--lang", "en"])
            #expect(escalated.status == 2)
            #expect(escalated.stderr.contains("supervisor"))

            // 5: resolving or claiming a request a colleague holds names the holder.
            #expect(try await cli.run(["claim", filed.code]).status == 0)
            let other = ["LOKET_URL": server.url, "LOKET_TOKEN": try await server.token(for: colleague)]
            let resolve = try await cli.run(["resolve", filed.code, "Selesai."], environment: other)
            #expect(resolve.status == 5, "\(resolve.stderr)")
            #expect(resolve.stderr.contains(holder.name))
            #expect(resolve.stderr.contains("loket queue"))
            #expect(try await cli.run(["claim", filed.code], environment: other).status == 5)
            // The holder is told it is theirs already.
            let again = try await cli.run(["claim", filed.code])
            #expect(again.status == 5)
            #expect(again.stderr.contains("You hold"))

            // 6: nothing listening at the address.
            let port = try closedLoopbackPort()
            let unreachable = try await cli.run(["queue"], environment: ["LOKET_URL": "http://127.0.0.1:\(port)", "LOKET_TOKEN": holderToken])
            #expect(unreachable.status == 6)
            #expect(unreachable.stderr.contains("Cannot reach"))
            #expect(unreachable.stderr.contains("loket login") && unreachable.stderr.contains("try again"))
        }
    }

    /// A change sent to a server that was lost before it answered may have been made: the officer
    /// is told to look before sending it again, not to try again (a second claim takes a second
    /// request). A read that failed alike is simply tried again.
    @Test func aChangeWithoutAnAnswerIsCheckedBeforeItIsSentAgain() async throws {
        let server = try AnswerlessServer()
        defer { server.stop() }
        let cli = try CLI()
        defer { cli.remove() }
        let environment = ["LOKET_URL": "http://127.0.0.1:\(server.port)", "LOKET_TOKEN": "lks_" + String(repeating: "A", count: 43)]
        let claim = try await cli.run(["claim"], environment: environment)
        #expect(claim.status == 6, "\(claim.stderr)")
        #expect(claim.stderr.contains("may have done it") && claim.stderr.contains("loket mine"), "\(claim.stderr)")
        #expect(!claim.stderr.contains("try again"), "\(claim.stderr)")
        let queue = try await cli.run(["queue"], environment: environment)
        #expect(queue.status == 6, "\(queue.stderr)")
        #expect(queue.stderr.contains("try again") && !queue.stderr.contains("may have done it"), "\(queue.stderr)")
    }

    /// A token pasted where the address goes is not printed back; a host name that merely starts
    /// with 127. is not the machine itself, and plain http to it is warned about.
    @Test func addressesAreCheckedWithoutEchoingATokenOrTrustingLookalikes() async throws {
        let cli = try CLI()
        defer { cli.remove() }
        let token = "lks_" + String(repeating: "Q", count: 43)
        let pasted = try await cli.run(["login", token, "--token", token])
        #expect(pasted.status == 1, "\(pasted.stderr)")
        #expect(pasted.stderr.contains("token, not a server address") && !pasted.stderr.contains(token), "\(pasted.stderr)")
        let lookalike = try await cli.run(["whoami"], environment: ["LOKET_URL": "http://127.invalid:\(try closedLoopbackPort())", "LOKET_TOKEN": token])
        #expect(lookalike.stderr.contains("plain http"), "\(lookalike.stderr)")
        let loopback = try await cli.run(["whoami"], environment: ["LOKET_URL": "http://127.0.0.2:\(try closedLoopbackPort())", "LOKET_TOKEN": token])
        #expect(loopback.status == 6 && !loopback.stderr.contains("plain http"), "\(loopback.stderr)")
    }

    /// With both LOKET_URL and LOKET_TOKEN set the configuration file is not read: a corrupt or
    /// unreadable one left behind does not stop a script. Columns line up by terminal width: an
    /// officer whose name has wide characters does not push the audit trail's columns out of line.
    @Test func theEnvironmentAloneSufficesAndWideNamesStayAligned() async throws {
        try await CLITestEnvironment.withServer { server in
            let filed = try await server.file()
            let officer = try #require(try await server.officers(for: filed.code).first?.officer)
            let cli = try CLI(extra: ["LOKET_URL": server.url, "LOKET_TOKEN": try await server.token(for: officer)])
            defer { cli.remove() }
            try Data("{ not json".utf8).write(to: URL(fileURLWithPath: cli.configPath))
            try await server.pool.query("UPDATE staff SET name = $2 WHERE id = $1", officer.id, "王小明 🙂 Putri")
            let claim = try await cli.run(["claim", filed.code])
            #expect(claim.status == 0, "\(claim.stderr)")
            #expect(try await cli.run(["note", filed.code, "Berkas diperiksa."]).status == 0)
            let show = try await cli.run(["show", filed.code])
            #expect(show.status == 0, "\(show.stderr)")
            // The audit table: the SEEN BY column starts at the same terminal column in every row.
            func columns(_ text: Substring) -> Int {
                text.reduce(0) { $0 + ($1 == "🙂" || ("\u{4E00}"..."\u{9FFF}").contains($1) ? 2 : 1) }
            }
            let lines = show.stdout.split(separator: "\n")
            let header = try #require(lines.firstIndex { $0.hasPrefix("WHEN") })
            let seenBy = columns(lines[header][..<(try #require(lines[header].range(of: "SEEN BY"))).lowerBound])
            let rows = lines[(header + 1)...].prefix { !$0.isEmpty }
            #expect(rows.count == 3, "\(show.stdout)")
            #expect(rows.contains { $0.contains("王小明 🙂 Putri") }, "\(show.stdout)")
            for row in rows {
                var width = 0
                var index = row.startIndex
                while index < row.endIndex, width < seenBy {
                    width += columns(row[index...index])
                    index = row.index(after: index)
                }
                #expect(width == seenBy && (row[index...].hasPrefix("citizen") || row[index...].hasPrefix("staff only")), "\(row)")
            }
        }
    }

    /// Colour needs a terminal; `script` gives the binary one (a pseudo-terminal).
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/script")))
    func slaTimeIsColouredOnlyAtATerminalWithoutNoColor() async throws {
        try await CLITestEnvironment.withServer { server in
            let filed = try await server.file()
            let officer = try #require(try await server.officers(for: filed.code).first?.officer)
            let cli = try CLI(extra: ["LOKET_URL": server.url, "LOKET_TOKEN": try await server.token(for: officer), "TERM": "xterm"])
            defer { cli.remove() }
            let command = "\(CLI.binary.path) queue"
            let coloured = try await CLI.execute(
                URL(fileURLWithPath: "/usr/bin/script"), ["-qec", command, "/dev/null"], environment: cli.environment, stdin: nil)
            #expect(coloured.status == 0, "\(coloured.stdout)")
            #expect(coloured.stdout.contains(filed.code))
            #expect(coloured.stdout.contains("\u{1B}[3"), "no colour at a terminal: \(coloured.stdout)")
            let plain = try await CLI.execute(
                URL(fileURLWithPath: "/usr/bin/script"), ["-qec", command, "/dev/null"],
                environment: cli.environment.merging(["NO_COLOR": "1"]) { $1 }, stdin: nil)
            #expect(plain.stdout.contains(filed.code))
            #expect(!plain.stdout.hasANSIEscapes)
        }
    }
}
