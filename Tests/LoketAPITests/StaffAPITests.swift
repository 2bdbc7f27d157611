import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import LoketAPI
import LoketCore
import LoketStore
import Postgres
import Testing

@Suite("Staff API")
struct StaffAPITests {
    /// A staff account of a unit with a fresh token.
    struct Officer {
        var member: StaffMember
        var nip: String
        var token: String
        var auth: HTTPFields { [.authorization: "Bearer \(token)", .contentType: "application/json"] }
    }

    static func makeOfficer(_ app: TestApp, unit code: String, role: StaffRole, tokenExpires: Date? = nil) async throws -> Officer {
        // Each test has its own database: numbering by the staff already there keeps NIPs unique.
        let serial = try await app.pool.query("SELECT count(*) + 1 AS n FROM staff").single().decode(Int.self, "n")
        let nip = "19850101" + "201001" + "1" + String(format: "%03d", serial % 1000)
        let row = try await app.pool.query(
            "INSERT INTO staff (nip, name, unit_id, role) SELECT $1, $2, id, $3 FROM units WHERE code = $4 RETURNING id, unit_id",
            nip, "Petugas \(serial)", role.rawValue, code
        ).single()
        let member = StaffMember(id: try row.decode(Int64.self, "id"), role: role, unitId: try row.decode(Int64.self, "unit_id"))
        // Issued an hour ago so that an already-expired token is still a valid row.
        let issued = try await StaffTokenStore(pool: app.pool).issue(
            staffID: member.id, label: "test", expiresAt: tokenExpires ?? Date().addingTimeInterval(30 * 86_400),
            now: Date().addingTimeInterval(-3600))
        return Officer(member: member, nip: nip, token: issued.token)
    }

    /// Files a request through the citizen API and returns its tracking code (routed to DISDUKCAPIL-IDP).
    static func file(_ client: some TestClientProtocol, nik: String = "3673014501900001") async throws -> String {
        try await client.execute(uri: "/api/v1/requests", method: .post, headers: jsonHeaders, body: .json(sampleFiling(nik: nik))) { response in
            #expect(response.status == .created)
            return response.body.json["tracking_code"] as? String ?? ""
        }
    }

    static func errorCode(_ response: TestResponse) -> String? {
        (response.body.json["error"] as? [String: Any])?["code"] as? String
    }

    /// A migration that another process runs while this server is up (a rollout's `loketd
    /// migrate`) can change the row type of a statement the server has prepared. A transaction
    /// that meets it is rolled back and answered 503 with Retry-After (the statement is prepared
    /// afresh next time), never a bare 500; the same request sent again succeeds.
    @Test func aMigrationUnderARunningServerCostsARetryNotAnError() async throws {
        try await APITestEnvironment.withApp(poolSize: 1) { app in
            let officer = try await Self.makeOfficer(app, unit: "DISDUKCAPIL-IDP", role: .staff)
            try await app.test { client in
                let first = try await Self.file(client)
                let second = try await Self.file(client, nik: "3673014501900002")
                func claim() async throws -> TestResponse {
                    try await client.execute(uri: "/api/v1/staff/claim", method: .post, headers: officer.auth) { $0 }
                }
                let before = try await claim()
                #expect(before.status == .ok)
                #expect(before.body.json["tracking_code"] as? String == first)
                // smallint → integer: the claim's prepared SELECT … FROM service_requests now
                // answers another row type on the server's one connection.
                try await app.pool.query("ALTER TABLE service_requests ALTER COLUMN priority TYPE integer")
                let refused = try await claim()
                #expect(refused.status == .serviceUnavailable)
                #expect(Self.errorCode(refused) == "service_unavailable")
                #expect(refused.headers[.retryAfter] == "1")
                let again = try await claim()
                #expect(again.status == .ok)
                #expect(again.body.json["tracking_code"] as? String == second, "the refused claim took nothing")
                let events = try await app.pool.query(
                    "SELECT count(*)::int AS n FROM request_events WHERE kind = 'claimed'").single().decode(Int.self, "n")
                #expect(events == 2)
            }
        }
    }

    @Test func everyStaffEndpointRefusesBadTokensAndRequestsOutsideTheSubtree() async throws {
        try await APITestEnvironment.withApp { app in
            let officer = try await Self.makeOfficer(app, unit: "DISDUKCAPIL-IDP", role: .staff)
            let outsider = try await Self.makeOfficer(app, unit: "DPMPTSP", role: .supervisor)
            let expired = try await Self.makeOfficer(app, unit: "DISDUKCAPIL-IDP", role: .staff, tokenExpires: Date().addingTimeInterval(-60))
            let revoked = try await Self.makeOfficer(app, unit: "DISDUKCAPIL-IDP", role: .staff)
            let revokedID = try await app.pool.query("SELECT id FROM api_tokens WHERE staff_id = $1", revoked.member.id).single().decode(Int64.self, "id")
            #expect(try await StaffTokenStore(pool: app.pool).revoke(id: revokedID))
            let retired = try await Self.makeOfficer(app, unit: "DISDUKCAPIL-IDP", role: .staff)
            try await app.pool.query("UPDATE staff SET active = false WHERE id = $1", retired.member.id)
            try await app.test { client in
                let code = try await Self.file(client)
                let perRequest: [(HTTPRequest.Method, String, [String: Any]?)] = [
                    (.get, "/api/v1/staff/requests/\(code)", nil),
                    (.get, "/api/v1/staff/requests/\(code)/documents/1", nil),
                    (.post, "/api/v1/staff/requests/\(code)/claim", nil),
                    (.post, "/api/v1/staff/requests/\(code)/heartbeat", nil),
                    (.post, "/api/v1/staff/requests/\(code)/release", ["reason": "x"]),
                    (.post, "/api/v1/staff/requests/\(code)/notes", ["text": "x"]),
                    (.post, "/api/v1/staff/requests/\(code)/ask", ["question": "x"]),
                    (.post, "/api/v1/staff/requests/\(code)/reply", ["message": "x"]),
                    (.post, "/api/v1/staff/requests/\(code)/resolve", ["public_message": "x"]),
                    (.post, "/api/v1/staff/requests/\(code)/reject", ["reason": "x"]),
                    (.post, "/api/v1/staff/requests/\(code)/transfer", ["unit": "DPMPTSP", "reason": "x"]),
                    (.post, "/api/v1/staff/requests/\(code)/assign", ["nip": officer.nip]),
                ]
                let general: [(HTTPRequest.Method, String, [String: Any]?)] = [
                    (.get, "/api/v1/staff/me", nil), (.get, "/api/v1/staff/queue", nil), (.get, "/api/v1/staff/mine", nil),
                    (.get, "/api/v1/staff/escalated", nil), (.post, "/api/v1/staff/claim", nil),
                ]
                let badTokens: [(HTTPFields, String)] = [
                    ([:], "token_required"),
                    ([.authorization: "Basic dXNlcjpwYXNz"], "token_invalid"),
                    ([.authorization: "Bearer not-a-token"], "token_invalid"),
                    ([.authorization: "Bearer lks_" + String(repeating: "A", count: 43)], "token_invalid"),
                    ([.authorization: "Bearer \(expired.token)"], "token_expired"),
                    ([.authorization: "Bearer \(revoked.token)"], "token_revoked"),
                    ([.authorization: "Bearer \(retired.token)"], "account_inactive"),
                ]
                for (method, uri, body) in perRequest + general {
                    let payload = body.map { ByteBuffer.json($0) } ?? ByteBuffer()
                    for (headers, expected) in badTokens {
                        try await client.execute(uri: uri, method: method, headers: headers.merging([.contentType: "application/json"]), body: payload) { response in
                            #expect(response.status == .unauthorized, "\(method) \(uri) with \(expected)")
                            #expect(Self.errorCode(response) == expected, "\(method) \(uri): \(response.body.text)")
                        }
                    }
                }
                for (method, uri, body) in perRequest {
                    let payload = body.map { ByteBuffer.json($0) } ?? ByteBuffer()
                    try await client.execute(uri: uri, method: method, headers: outsider.auth, body: payload) { response in
                        #expect(response.status == .forbidden, "\(method) \(uri): \(response.body.text)")
                    }
                }
                // Nothing changed through any of those calls.
                try await client.execute(uri: "/api/v1/staff/requests/\(code)", method: .get, headers: officer.auth) { response in
                    #expect(response.status == .ok)
                    #expect(response.body.json["status"] as? String == "queued")
                    #expect((response.body.json["audit"] as? [Any])?.count == 1)
                }
            }
        }
    }

    @Test func onlyTheHolderActsAndASupervisorOverrideIsRecorded() async throws {
        try await APITestEnvironment.withApp { app in
            let siti = try await Self.makeOfficer(app, unit: "DISDUKCAPIL-IDP", role: .staff)
            let budi = try await Self.makeOfficer(app, unit: "DISDUKCAPIL-IDP", role: .staff)
            let head = try await Self.makeOfficer(app, unit: "DISDUKCAPIL-IDP", role: .supervisor)
            // Appears in the trail only through a private note.
            let rina = try await Self.makeOfficer(app, unit: "DISDUKCAPIL-IDP", role: .staff)
            try await app.test { client in
                let code = try await Self.file(client)
                try await client.execute(uri: "/api/v1/staff/claim", method: .post, headers: siti.auth) { response in
                    #expect(response.status == .ok)
                    #expect(response.body.json["tracking_code"] as? String == code)
                    #expect((response.body.json["assignee"] as? [String: String])?["nip"] == siti.nip)
                    #expect(response.body.json["lease_expires_at"] is String)
                }
                try await client.execute(uri: "/api/v1/staff/claim", method: .post, headers: budi.auth) { response in
                    #expect(response.status == .noContent)
                }
                try await client.execute(uri: "/api/v1/staff/requests/\(code)/claim", method: .post, headers: budi.auth) { response in
                    #expect(response.status == .conflict)
                }
                try await client.execute(uri: "/api/v1/staff/requests/\(code)/resolve", method: .post, headers: budi.auth, body: .json(["public_message": "Selesai"])) { response in
                    #expect(response.status == .conflict)
                    #expect(Self.errorCode(response) == "not_holder")
                }
                try await client.execute(uri: "/api/v1/staff/requests/\(code)/heartbeat", method: .post, headers: budi.auth) { response in
                    #expect(response.status == .conflict)
                }
                try await client.execute(uri: "/api/v1/staff/requests/\(code)/heartbeat", method: .post, headers: siti.auth) { response in
                    #expect(response.status == .ok)
                    #expect(response.body.json["lease_expires_at"] is String)
                }
                try await client.execute(uri: "/api/v1/staff/requests/\(code)/resolve", method: .post, headers: siti.auth, body: .json(["outcome": "x"])) { response in
                    #expect(response.status == .unprocessableContent)
                }
                // Staff may not assign; a supervisor may, over the holder, and it is recorded.
                try await client.execute(uri: "/api/v1/staff/requests/\(code)/assign", method: .post, headers: siti.auth, body: .json(["nip": budi.nip])) { response in
                    #expect(response.status == .forbidden)
                }
                try await client.execute(uri: "/api/v1/staff/escalated", method: .get, headers: siti.auth) { response in
                    #expect(response.status == .forbidden)
                    #expect(Self.errorCode(response) == "role_required")
                }
                try await client.execute(uri: "/api/v1/staff/escalated", method: .get, headers: head.auth) { response in
                    #expect(response.status == .ok)
                }
                try await client.execute(uri: "/api/v1/staff/requests/\(code)/assign", method: .post, headers: head.auth, body: .json(["nip": budi.nip])) { response in
                    #expect(response.status == .ok, "\(response.body.text)")
                    #expect((response.body.json["assignee"] as? [String: String])?["nip"] == budi.nip)
                }
                // Control characters (a NUL cannot be stored; escapes would reach terminals) are refused.
                for text in ["a\u{0}b", "a\u{1B}[2Jb\u{7}"] {
                    try await client.execute(uri: "/api/v1/staff/requests/\(code)/notes", method: .post, headers: budi.auth, body: .json(["text": text])) { response in
                        #expect(response.status == .unprocessableContent)
                        #expect(Self.errorCode(response) == "control_characters")
                    }
                }
                try await client.execute(uri: "/api/v1/staff/requests/\(code)/notes", method: .post, headers: budi.auth, body: .json(["text": "Berkas lengkap"])) { response in
                    #expect(response.status == .created)
                }
                try await client.execute(uri: "/api/v1/staff/requests/\(code)/notes", method: .post, headers: rina.auth, body: .json(["text": "Sudah dicek arsip"])) { response in
                    #expect(response.status == .created)
                }
                // The supervisor may also finish it over the holder; the answer names everyone in
                // the trail (read in the same round trip as the trail).
                try await client.execute(uri: "/api/v1/staff/requests/\(code)/resolve", method: .post, headers: head.auth, body: .json(["public_message": "KK dapat diambil."])) { response in
                    #expect(response.status == .ok)
                    #expect(response.body.json["status"] as? String == "completed")
                    let audit = response.body.json["audit"] as? [[String: Any]] ?? []
                    #expect(audit.map { $0["kind"] as? String } == ["created", "claimed", "assigned", "note", "note", "resolved"])
                    #expect((audit.last?["staff"] as? [String: String])?["nip"] == head.nip)
                    let notes = audit.filter { $0["kind"] as? String == "note" }
                    #expect((notes.last?["staff"] as? [String: String])?["nip"] == rina.nip)
                    #expect((notes.last?["staff"] as? [String: String])?["name"]?.isEmpty == false)
                    #expect((audit.last?["overridden_holder"] as? [String: String])?["nip"] == budi.nip)
                    #expect((audit.last?["overridden_holder"] as? [String: String])?["name"]?.isEmpty == false)
                    let assigned = audit.first { $0["kind"] as? String == "assigned" }
                    #expect((assigned?["staff"] as? [String: String])?["nip"] == head.nip)
                    #expect((assigned?["assigned_to"] as? [String: String])?["nip"] == budi.nip)
                    #expect((notes.first?["staff"] as? [String: String])?["nip"] == budi.nip)
                }
                // The public view names no officer, and shows no private note.
                try await client.execute(uri: "/api/v1/public/requests/\(code)", method: .get) { response in
                    #expect(response.status == .ok)
                    let text = response.body.text
                    for officer in [siti, budi, head, rina] { #expect(!text.contains(officer.nip)) }
                    #expect(!text.contains("Petugas"))
                    #expect(!text.contains("Sudah dicek arsip"))
                }
            }
            let override = try await app.pool.query(
                "SELECT data->>'previous_holder' AS overridden FROM request_events WHERE kind = 'assigned'").single()
            #expect(try override.decode(String?.self, "overridden") == String(siti.member.id))
            // The per-officer report credits the supervisor who closed it, not the holder, with the
            // closing, and Siti, who claimed it first, with its response.
            let credited = try await app.pool.query(
                """
                SELECT (SELECT officer_id FROM request_outcomes) AS outcome,
                       (SELECT officer_id FROM report_daily WHERE closed = 1) AS daily,
                       (SELECT officer_id FROM report_daily WHERE closed = 0 AND response_measured = 1) AS response
                """).single()
            #expect(try credited.decode(Int64?.self, "outcome") == head.member.id)
            #expect(try credited.decode(Int64?.self, "daily") == head.member.id)
            #expect(try credited.decode(Int64?.self, "response") == siti.member.id)
        }
    }

    @Test func askTransferRejectAndTheQueueOrder() async throws {
        try await APITestEnvironment.withApp { app in
            let officer = try await Self.makeOfficer(app, unit: "DISDUKCAPIL-IDP", role: .staff)
            try await app.test { client in
                let first = try await Self.file(client)
                let second = try await Self.file(client, nik: "3673015208850002")
                try await app.pool.query("UPDATE service_requests SET escalation_level = 1 WHERE tracking_code = $1", second)
                try await client.execute(uri: "/api/v1/staff/queue", method: .get, headers: officer.auth) { response in
                    let codes = (response.body.json["requests"] as? [[String: Any]] ?? []).map { $0["tracking_code"] as? String }
                    #expect(codes == [second, first])
                    let sla = (response.body.json["requests"] as? [[String: Any]])?.first?["sla"] as? [String: Any]
                    #expect(sla?["clock"] as? String == "response")
                    #expect(sla?["remaining_working_minutes"] is Int)
                }
                try await client.execute(uri: "/api/v1/staff/claim", method: .post, headers: officer.auth) { response in
                    #expect(response.body.json["tracking_code"] as? String == second)
                }
                try await client.execute(uri: "/api/v1/staff/requests/\(second)/ask", method: .post, headers: officer.auth, body: .json(["question": "Mohon unggah akta nikah."])) { response in
                    #expect(response.body.json["status"] as? String == "waiting_citizen")
                    #expect((response.body.json["sla"] as? [String: Any])?["paused"] as? Bool == true)
                }
                try await client.execute(uri: "/api/v1/staff/mine", method: .get, headers: officer.auth) { response in
                    #expect((response.body.json["requests"] as? [Any])?.count == 1)
                }
                try await client.execute(uri: "/api/v1/staff/requests/\(first)/claim", method: .post, headers: officer.auth) { response in
                    #expect(response.status == .ok)
                }
                try await client.execute(uri: "/api/v1/staff/requests/\(first)/transfer", method: .post, headers: officer.auth, body: .json(["unit": "NOPE", "reason": "x"])) { response in
                    #expect(response.status == .unprocessableContent)
                }
                try await client.execute(uri: "/api/v1/staff/requests/\(first)/transfer", method: .post, headers: officer.auth, body: .json(["unit": "DPMPTSP", "reason": "Perizinan, bukan adminduk"])) { response in
                    #expect(response.status == .ok, "\(response.body.text)")
                    #expect(response.body.json["status"] as? String == "queued")
                    #expect((response.body.json["unit"] as? [String: String])?["code"] == "DPMPTSP")
                }
                // Now outside the officer's subtree.
                try await client.execute(uri: "/api/v1/staff/requests/\(first)", method: .get, headers: officer.auth) { response in
                    #expect(response.status == .forbidden)
                }
                try await client.execute(uri: "/api/v1/staff/requests/\(second)/reject", method: .post, headers: officer.auth, body: .json(["reason": "Berkas tidak dilengkapi"])) { response in
                    #expect(response.status == .ok)
                    #expect(response.body.json["status"] as? String == "rejected")
                    #expect(response.body.json["reject_reason"] as? String == "Berkas tidak dilengkapi")
                }
            }
            let outbox = try await app.pool.query("SELECT topic FROM notification_outbox ORDER BY id").map { try $0.decode(String.self, 0) }
            #expect(outbox.contains("request.asked"))
            #expect(outbox.contains("request.rejected"))
        }
    }

    /// A citizen who answers at the counter, by phone, or through the Open311 application that
    /// filed for them has no way to reply in Loket: a supervisor records the answer, the request is
    /// in progress with its holder again and its clocks run. Never the holder: their question
    /// paused the clocks, and ending the pause on their own word would stop the clock at will.
    /// Only while the request waits, and only with what the citizen said.
    @Test func anAnswerGivenOutsideLoketIsRecordedByASupervisor() async throws {
        try await APITestEnvironment.withApp { app in
            let siti = try await Self.makeOfficer(app, unit: "DISDUKCAPIL-IDP", role: .staff)
            let budi = try await Self.makeOfficer(app, unit: "DISDUKCAPIL-IDP", role: .staff)
            let head = try await Self.makeOfficer(app, unit: "DISDUKCAPIL-IDP", role: .supervisor)
            let chief = try await Self.makeOfficer(app, unit: "DISDUKCAPIL", role: .manager)
            try await app.test { client in
                let receipt = try await client.execute(
                    uri: "/api/v1/requests", method: .post, headers: jsonHeaders, body: .json(sampleFiling(nik: "3673014501900001"))
                ) { $0.body.json }
                let code = try #require(receipt["tracking_code"] as? String)
                let token = try #require(receipt["access_token"] as? String)
                let own = try await Self.file(client, nik: "3673015208850002")
                let overAsked = try await Self.file(client, nik: "3673010101800003")
                for (request, holder) in [(code, siti), (own, head), (overAsked, siti)] {
                    try await client.execute(uri: "/api/v1/staff/requests/\(request)/claim", method: .post, headers: holder.auth) { response in
                        #expect(response.status == .ok)
                    }
                }
                func reply(_ request: String, _ officer: Officer, _ body: [String: Any], _ check: @escaping @Sendable (TestResponse) throws -> Void) async throws {
                    try await client.execute(
                        uri: "/api/v1/staff/requests/\(request)/reply", method: .post, headers: officer.auth, body: .json(body), testCallback: check)
                }
                // Nothing was asked yet.
                try await reply(code, head, ["message": "Sudah diserahkan"]) { response in
                    #expect(response.status == .conflict)
                    #expect(Self.errorCode(response) == "wrong_state")
                }
                // The third: the supervisor asks over Siti, who holds it.
                for (request, asker) in [(code, siti), (own, head), (overAsked, head)] {
                    try await client.execute(
                        uri: "/api/v1/staff/requests/\(request)/ask", method: .post, headers: asker.auth,
                        body: .json(["question": "Mohon bawa buku nikah asli."])) { response in
                        #expect(response.body.json["status"] as? String == "waiting_citizen")
                    }
                }
                // Officers may not, the holder least of all; nor a supervisor who holds it.
                for officer in [siti, budi] {
                    try await reply(code, officer, ["message": "Sudah diserahkan"]) { response in
                        #expect(response.status == .forbidden)
                        #expect(Self.errorCode(response) == "not_permitted")
                    }
                }
                for request in [own, overAsked] {
                    try await reply(request, head, ["message": "Sudah diserahkan"]) { response in
                        #expect(response.status == .forbidden)
                        #expect(Self.errorCode(response) == "own_pause")
                    }
                }
                // An officer is refused for the role whatever the body.
                try await reply(code, budi, [:]) { response in
                    #expect(response.status == .forbidden)
                    #expect(Self.errorCode(response) == "not_permitted")
                }
                for blank in [[:], ["message": "  \n "]] as [[String: Any]] {
                    try await reply(code, head, blank) { response in
                        #expect(response.status == .unprocessableContent, "\(response.body.text)")
                    }
                }
                try await reply(code, head, ["message": "Buku nikah asli diserahkan di loket 2."]) { response in
                    #expect(response.status == .ok, "\(response.body.text)")
                    #expect(response.body.json["status"] as? String == "in_progress")
                    #expect((response.body.json["assignee"] as? [String: String])?["nip"] == siti.nip)
                    #expect(response.body.json["lease_expires_at"] is String)
                    #expect((response.body.json["sla"] as? [String: Any])?["paused"] as? Bool == false)
                    let last = (response.body.json["audit"] as? [[String: Any]])?.last
                    #expect(last?["kind"] as? String == "citizen_replied")
                    #expect(last?["message"] as? String == "Buku nikah asli diserahkan di loket 2.")
                    #expect((last?["staff"] as? [String: String])?["nip"] == head.nip)
                }
                // Once is enough: it is no longer waiting.
                try await reply(code, head, ["message": "Lagi"]) { response in
                    #expect(response.status == .conflict)
                    #expect(Self.errorCode(response) == "wrong_state")
                }
                // The supervisor's own pauses: a manager above records them.
                for request in [own, overAsked] {
                    try await reply(request, chief, ["message": "Dikonfirmasi lewat telepon."]) { response in
                        #expect(response.status == .ok, "\(response.body.text)")
                    }
                }
                // The citizen reads it in their timeline as recorded by the officer.
                try await client.execute(uri: "/api/v1/requests/\(code)", method: .get, headers: [.authorization: "Bearer \(token)"]) { response in
                    let entry = (response.body.json["timeline"] as? [[String: Any]] ?? []).last { $0["kind"] as? String == "citizen_replied" }
                    #expect(entry?["label"] as? String == "Tanggapan Anda dicatat oleh petugas")
                    #expect(entry?["message"] as? String == "Buku nikah asli diserahkan di loket 2.")
                }
                // Each holder is told that the answer came.
                let told = try await app.pool.query(
                    """
                    SELECT r.tracking_code, o.recipient_staff_id FROM notification_outbox o JOIN service_requests r ON r.id = o.request_id
                    WHERE o.topic = 'request.citizen_replied' ORDER BY o.id
                    """
                ).map { [try $0.decode(String.self, "tracking_code"), String(try $0.decode(Int64.self, "recipient_staff_id"))] }
                #expect(told == [[code, String(siti.member.id)], [own, String(head.member.id)], [overAsked, String(siti.member.id)]])
            }
        }
    }

    /// The queue and the claim follow the running deadline: the response deadline of a request no
    /// one has claimed yet, the resolution deadline of one claimed before (released, transferred).
    /// They followed the resolution deadline alone, out of step with the SLA column shown.
    @Test func theQueueFollowsTheRunningDeadline() async throws {
        try await APITestEnvironment.withApp { app in
            let officer = try await Self.makeOfficer(app, unit: "DISDUKCAPIL-IDP", role: .staff)
            try await app.test { client in
                let soonResponse = try await Self.file(client)
                let soonResolution = try await Self.file(client, nik: "3673015208850002")
                let claimedBefore = try await Self.file(client, nik: "3673014501900003")
                // Claimed and given back: its response clock has stopped.
                for step in ["claim", "release"] {
                    try await client.execute(uri: "/api/v1/staff/requests/\(claimedBefore)/\(step)", method: .post, headers: officer.auth) { response in
                        #expect(response.status == .ok, "\(step): \(response.body.text)")
                    }
                }
                // soonResponse: response due first, resolution due last. soonResolution: the reverse.
                // claimedBefore: its response clock has stopped (its response deadline, the earliest, no
                // longer counts); its resolution deadline is between the two.
                try await app.pool.query(
                    """
                    UPDATE service_requests SET
                        response_due_at = now() + CASE tracking_code WHEN $1 THEN interval '1 hour' WHEN $2 THEN interval '5 hours'
                                                                     ELSE interval '30 minutes' END,
                        resolution_due_at = now() + CASE tracking_code WHEN $1 THEN interval '9 days' WHEN $2 THEN interval '2 days'
                                                                       ELSE interval '4 days' END
                    WHERE tracking_code IN ($1, $2, $3)
                    """, soonResponse, soonResolution, claimedBefore)
                let listed: [(code: String, clock: String, due: String)] = try await client.execute(
                    uri: "/api/v1/staff/queue", method: .get, headers: officer.auth
                ) { response in
                    (response.body.json["requests"] as? [[String: Any]] ?? []).map { item in
                        let sla = item["sla"] as? [String: Any]
                        return (item["tracking_code"] as? String ?? "", sla?["clock"] as? String ?? "", sla?["due_at"] as? String ?? "")
                    }
                }
                #expect(listed.map(\.code) == [soonResponse, soonResolution, claimedBefore])
                #expect(listed.map(\.clock) == ["response", "response", "resolution"])
                let due = listed.map(\.due)
                #expect(due == due.sorted(), "the SLA column is in order: \(due)")
                for expected in [soonResponse, soonResolution, claimedBefore] {
                    try await client.execute(uri: "/api/v1/staff/claim", method: .post, headers: officer.auth) { response in
                        #expect(response.body.json["tracking_code"] as? String == expected, "\(response.body.text)")
                    }
                }
            }
        }
    }

    /// The claim of one unit walks the claim-queue index in order and stops at the first row: no
    /// sort, whatever the backlog (docs/schema.md). A change to the ORDER BY that the index does
    /// not match would make every claim sort the unit's whole queue.
    @Test func theClaimPickWalksTheQueueIndex() async throws {
        try await APITestEnvironment.withApp { app in
            try await app.pool.query(
                """
                INSERT INTO service_requests (tracking_code, service_type_id, unit_id, citizen_name, citizen_phone, access_token_hash,
                                              source, routing_reason, response_due_at, resolution_due_at)
                SELECT 'SRG-PLAN-' || g, st.id, st.default_unit_id, 'Warga', '+6281234567890', sha256(g::text::bytea), 'web', 'test',
                       now() + g * interval '1 minute', now() + g * interval '1 hour'
                FROM generate_series(1, 20000) g, service_types st WHERE st.code = 'kk-baru'
                """)
            try await app.pool.query("ANALYZE service_requests")
            let unit = try await app.pool.query("SELECT default_unit_id FROM service_types WHERE code = 'kk-baru'").single()
                .decode(Int64.self, "default_unit_id")
            let plan = try await app.pool.transaction { connection in
                try await connection.query(
                    """
                    EXPLAIN SELECT id FROM service_requests WHERE status = 'queued' AND unit_id = $1
                    ORDER BY \(StaffWorkStore.urgency) LIMIT 1 FOR UPDATE SKIP LOCKED
                    """, unit
                ).map { try $0.decode(String.self, 0) }.joined(separator: "\n")
            }
            #expect(plan.contains("Index Scan using service_requests_claim_queue_running_idx"), "\(plan)")
            #expect(!plan.contains("Sort"), "\(plan)")
        }
    }

    /// A request waiting for the citizen shows the time left when it paused, in the lists as in its
    /// detail: `mine` and `escalated` counted on to now, so a paused request turned red as overdue.
    @Test func aPausedRequestKeepsItsTimeLeftInTheLists() async throws {
        let clock = TestClock(CitizenAPITests.instant("2026-12-01T09:00:00+07:00"))
        try await APITestEnvironment.withApp(clock: { clock.now }) { app in
            let officer = try await Self.makeOfficer(
                app, unit: "DISDUKCAPIL-IDP", role: .supervisor, tokenExpires: clock.now.addingTimeInterval(90 * 86_400))
            try await app.test { client in
                let code = try await Self.file(client)
                try await client.execute(uri: "/api/v1/staff/claim", method: .post, headers: officer.auth) { #expect($0.status == .ok) }
                clock.now = clock.now.addingTimeInterval(3600)
                try await client.execute(uri: "/api/v1/staff/requests/\(code)/ask", method: .post, headers: officer.auth,
                                         body: .json(["question": "Mohon unggah akta nikah."])) { #expect($0.status == .ok) }
                try await app.pool.query("UPDATE service_requests SET escalation_level = 1 WHERE tracking_code = $1", code)
                var paused: Int?
                try await client.execute(uri: "/api/v1/staff/requests/\(code)", method: .get, headers: officer.auth) { response in
                    paused = (response.body.json["sla"] as? [String: Any])?["remaining_working_minutes"] as? Int
                }
                // Thirty working days later, well past the resolution deadline had the clock run.
                clock.now = clock.now.addingTimeInterval(45 * 86400)
                for list in ["mine", "escalated"] {
                    try await client.execute(uri: "/api/v1/staff/\(list)", method: .get, headers: officer.auth) { response in
                        let sla = (response.body.json["requests"] as? [[String: Any]])?.first?["sla"] as? [String: Any]
                        #expect(sla?["paused"] as? Bool == true, "\(list)")
                        #expect(sla?["breached"] as? Bool == false, "\(list): \(response.body.text)")
                        #expect(paused != nil && sla?["remaining_working_minutes"] as? Int == paused, "\(list): \(response.body.text)")
                    }
                }
                try await client.execute(uri: "/api/v1/staff/requests/\(code)", method: .get, headers: officer.auth) { response in
                    #expect((response.body.json["sla"] as? [String: Any])?["remaining_working_minutes"] as? Int == paused)
                }
            }
        }
    }

    /// A service deactivated while it still has open requests leaves the catalog and takes no new
    /// filing, but its requests are still claimed and closed (they were answered 500 before, and
    /// one of them at the head of a queue blocked claiming for the whole unit). An inactive unit
    /// takes no transfer. An officer who may not assign learns nothing about a NIP, and taking a
    /// request from a colleague by assignment is recorded as an override.
    @Test func inactiveCatalogEntriesAndTheAssignmentRules() async throws {
        try await APITestEnvironment.withApp { app in
            let siti = try await Self.makeOfficer(app, unit: "DISDUKCAPIL-IDP", role: .staff)
            let budi = try await Self.makeOfficer(app, unit: "DISDUKCAPIL-IDP", role: .staff)
            let head = try await Self.makeOfficer(app, unit: "DISDUKCAPIL-IDP", role: .supervisor)
            try await app.test { client in
                let first = try await Self.file(client)
                let second = try await Self.file(client, nik: "3673015208850002")
                try await app.pool.query("UPDATE service_types SET active = false WHERE code = 'kk-baru'")
                try await app.pool.query("UPDATE units SET active = false WHERE code = 'DPMPTSP'")
                app.services.catalog.invalidate()

                var claimed = ""
                try await client.execute(uri: "/api/v1/staff/claim", method: .post, headers: siti.auth) { response in
                    #expect(response.status == .ok, "\(response.body.text)")
                    claimed = response.body.json["tracking_code"] as? String ?? ""
                    #expect([first, second].contains(claimed))
                    #expect((response.body.json["service"] as? [String: Any])?["code"] as? String == "kk-baru")
                }
                let other = claimed == first ? second : first
                try await client.execute(uri: "/api/v1/services", method: .get) { response in
                    #expect(response.status == .ok)
                    #expect(!response.body.text.contains("\"kk-baru\""))
                }
                try await client.execute(uri: "/api/v1/requests", method: .post, headers: jsonHeaders, body: .json(sampleFiling(nik: "3673014107950003"))) { response in
                    #expect(response.status == .unprocessableContent)
                    #expect(response.body.text.contains("unknown_service"))
                }
                try await client.execute(uri: "/api/v1/staff/requests/\(claimed)/resolve", method: .post, headers: siti.auth, body: .json(["public_message": "KK dapat diambil."])) { response in
                    #expect(response.status == .ok, "\(response.body.text)")
                    #expect(response.body.json["status"] as? String == "completed")
                }
                try await client.execute(uri: "/api/v1/staff/requests/\(other)/claim", method: .post, headers: siti.auth) { response in
                    #expect(response.status == .ok, "\(response.body.text)")
                }
                try await client.execute(uri: "/api/v1/staff/requests/\(other)/transfer", method: .post, headers: siti.auth, body: .json(["unit": "DPMPTSP", "reason": "Perizinan"])) { response in
                    #expect(response.status == .unprocessableContent)
                    #expect(response.body.text.contains("inactive_unit"))
                }
                // A plain officer is refused before the NIP is looked up: the same answer for an
                // officer's NIP and for one nobody has.
                for nip in [budi.nip, "199912312020121001"] {
                    try await client.execute(uri: "/api/v1/staff/requests/\(other)/assign", method: .post, headers: budi.auth, body: .json(["nip": nip])) { response in
                        #expect(response.status == .forbidden)
                        #expect(Self.errorCode(response) == "not_permitted")
                    }
                }
                try await client.execute(uri: "/api/v1/staff/requests/\(other)/assign", method: .post, headers: head.auth, body: .json(["nip": budi.nip])) { response in
                    #expect(response.status == .ok, "\(response.body.text)")
                    let audit = response.body.json["audit"] as? [[String: Any]] ?? []
                    let assigned = audit.last { $0["kind"] as? String == "assigned" }
                    #expect((assigned?["overridden_holder"] as? [String: String])?["nip"] == siti.nip)
                    #expect((assigned?["assigned_to"] as? [String: String])?["nip"] == budi.nip)
                }
            }
        }
    }

    /// Transfer and assignment refusals, each with its stable code and nothing changed.
    @Test func transferAndAssignmentRefusals() async throws {
        try await APITestEnvironment.withApp { app in
            let siti = try await Self.makeOfficer(app, unit: "DISDUKCAPIL-IDP", role: .staff)
            let head = try await Self.makeOfficer(app, unit: "DISDUKCAPIL-IDP", role: .supervisor)
            // An officer of another agency: neither the request's unit nor a unit above it.
            let elsewhere = try await Self.makeOfficer(app, unit: "DPMPTSP", role: .staff)
            let strangerHead = try await Self.makeOfficer(app, unit: "DPMPTSP", role: .supervisor)
            try await app.test { client in
                let code = try await Self.file(client)
                try await client.execute(uri: "/api/v1/staff/requests/\(code)/claim", method: .post, headers: siti.auth) { #expect($0.status == .ok) }
                // The message names units by code and officers by NIP, never by internal id.
                let elsewhereName = try await app.pool.query("SELECT name FROM staff WHERE nip = $1", elsewhere.nip).single().decode(String.self, "name")
                func spaced(_ nip: String) -> String {
                    let digits = Array(nip)
                    return [digits[0..<8], digits[8..<14], digits[14..<15], digits[15...]].map { String($0) }.joined(separator: " ")
                }
                let refusals: [(HTTPFields, String, [String: String], HTTPResponse.Status, String, String?)] = [
                    (siti.auth, "transfer", ["unit": "DISDUKCAPIL-IDP", "reason": "x"], .unprocessableContent, "same_unit", "DISDUKCAPIL-IDP"),
                    (siti.auth, "transfer", ["unit": "DPMPTSP"], .unprocessableContent, "missing_field", nil),
                    (head.auth, "assign", ["nip": "199912312020121001"], .unprocessableContent, "unknown_staff", nil),
                    (head.auth, "assign", ["nip": elsewhere.nip], .unprocessableContent, "assignee_outside_unit", elsewhere.nip),
                    // Nor the unit of a request outside their reach (its detail says nothing either).
                    (strangerHead.auth, "claim", [:], .forbidden, "not_in_unit", nil),
                    (head.auth, "assign", ["nip": siti.nip], .conflict, "already_holder", siti.nip),
                    // The NIP as the decree writes it, in four groups, is the same NIP.
                    (head.auth, "assign", ["nip": spaced(siti.nip)], .conflict, "already_holder", siti.nip),
                    // A supervisor elsewhere learns nothing about NIPs from a request outside reach.
                    (strangerHead.auth, "assign", ["nip": "199912312020121001"], .forbidden, "outside_unit_subtree", nil),
                    (strangerHead.auth, "assign", ["nip": siti.nip], .forbidden, "outside_unit_subtree", nil),
                ]
                for (headers, action, body, status, expected, named) in refusals {
                    try await client.execute(uri: "/api/v1/staff/requests/\(code)/\(action)", method: .post, headers: headers, body: .json(body)) { response in
                        #expect(response.status == status, "\(action) \(body): \(response.body.text)")
                        let error = response.body.json["error"] as? [String: Any]
                        let codes = [error?["code"] as? String] + ((error?["details"] as? [[String: Any]]) ?? []).map { $0["code"] as? String }
                        #expect(codes.contains(expected), "\(action) \(body): \(response.body.text)")
                        if let named { #expect((error?["message"] as? String)?.contains(named) == true, "\(response.body.text)") }
                        // Never a name to a NIP of someone elsewhere, never the unit of a request out of reach.
                        #expect(expected == "same_unit"
                                || !response.body.text.contains("\(elsewhereName) (NIP") && !response.body.text.contains("DISDUKCAPIL-IDP"),
                                "\(response.body.text)")
                    }
                }
                try await client.execute(uri: "/api/v1/staff/requests/\(code)", method: .get, headers: siti.auth) { response in
                    #expect(response.body.json["status"] as? String == "in_progress")
                    #expect((response.body.json["assignee"] as? [String: String])?["nip"] == siti.nip)
                    #expect((response.body.json["audit"] as? [Any])?.count == 2)
                }
            }
        }
    }

    @Test func anExpiredLeaseMakesTheRequestClaimableAgain() async throws {
        let clock = TestClock(CitizenAPITests.instant("2026-12-01T09:00:00+07:00"))
        try await APITestEnvironment.withApp(clock: { clock.now }) { app in
            let siti = try await Self.makeOfficer(app, unit: "DISDUKCAPIL-IDP", role: .staff)
            let budi = try await Self.makeOfficer(app, unit: "DISDUKCAPIL-IDP", role: .staff)
            try await app.test { client in
                let code = try await Self.file(client)
                try await client.execute(uri: "/api/v1/staff/claim", method: .post, headers: siti.auth) { #expect($0.status == .ok) }
                clock.now = clock.now.addingTimeInterval(29 * 60)
                try await client.execute(uri: "/api/v1/staff/claim", method: .post, headers: budi.auth) { #expect($0.status == .noContent) }
                clock.now = clock.now.addingTimeInterval(2 * 60)
                try await client.execute(uri: "/api/v1/staff/claim", method: .post, headers: budi.auth) { response in
                    #expect(response.status == .ok)
                    #expect(response.body.json["tracking_code"] as? String == code)
                    let kinds = (response.body.json["audit"] as? [[String: Any]] ?? []).map { $0["kind"] as? String }
                    #expect(kinds == ["created", "claimed", "lease_expired", "claimed"])
                }
                try await client.execute(uri: "/api/v1/staff/requests/\(code)/release", method: .post, headers: siti.auth) { response in
                    #expect(response.status == .conflict)
                }
                // Claimed by its code, a request whose lease lapsed is taken as claim-next would
                // take it (it was a 409 naming a claim already over).
                clock.now = clock.now.addingTimeInterval(31 * 60)
                try await client.execute(uri: "/api/v1/staff/requests/\(code)/claim", method: .post, headers: siti.auth) { response in
                    #expect(response.status == .ok, "\(response.body.text)")
                    #expect((response.body.json["assignee"] as? [String: String])?["nip"] == siti.nip)
                    let kinds = (response.body.json["audit"] as? [[String: Any]] ?? []).map { $0["kind"] as? String }
                    #expect(kinds == ["created", "claimed", "lease_expired", "claimed", "lease_expired", "claimed"])
                }
                // A lease still running is not taken.
                try await client.execute(uri: "/api/v1/staff/requests/\(code)/claim", method: .post, headers: budi.auth) { response in
                    #expect(response.status == .conflict)
                }
            }
            let told = try await app.pool.query(
                "SELECT count(*) AS n FROM notification_outbox WHERE topic = 'lease.expired' AND recipient_staff_id = $1", siti.member.id).single()
            #expect(try told.decode(Int.self, "n") == 1)
            let toldBudi = try await app.pool.query(
                "SELECT count(*) AS n FROM notification_outbox WHERE topic = 'lease.expired' AND recipient_staff_id = $1", budi.member.id).single()
            #expect(try toldBudi.decode(Int.self, "n") == 1)
        }
    }

    /// 32 claimers over real HTTP drain 2,000 queued requests: each is claimed exactly once.
    @Test func thirtyTwoConcurrentClaimersDrainTwoThousandRequestsExactlyOnce() async throws {
        try await APITestEnvironment.withDatabase { configuration in
            let pool = ConnectionPool(configuration: configuration, maxConnections: 16, acquireTimeout: .seconds(30))
            let services = LoketServices(pool: pool, options: APIOptions())
            let app = TestApp(
                app: Application(router: buildRouter(services: services, metrics: .init())), pool: pool, services: services)
            var officers: [Officer] = []
            for _ in 0..<32 { officers.append(try await Self.makeOfficer(app, unit: "DISDUKCAPIL-IDP", role: .staff)) }
            try await pool.query(
                """
                INSERT INTO service_requests (tracking_code, service_type_id, unit_id, citizen_name, citizen_phone, access_token_hash,
                    source, routing_reason, response_due_at, resolution_due_at, next_sla_at, next_sla_clock, next_sla_stage)
                SELECT 'SRG-T' || lpad(g::text, 6, '0'), st.id, u.id, 'Warga ' || g, '+628123456789', sha256(g::text::bytea), 'web', 'test',
                       now() + interval '1 day', now() + interval '3 days', now() + interval '12 hours', 'response', 1
                FROM generate_series(1, 2000) g, service_types st, units u WHERE st.code = 'kk-baru' AND u.code = 'DISDUKCAPIL-IDP'
                """)
            let claimers = officers
            let claimed = try await app.app.test(.live) { client in
                try await withThrowingTaskGroup(of: [String].self) { group in
                    for officer in claimers {
                        group.addTask {
                            var mine: [String] = []
                            while true {
                                let next: String?? = try await client.execute(uri: "/api/v1/staff/claim", method: .post, headers: officer.auth) { response in
                                    if response.status == .noContent { return .some(nil) }
                                    #expect(response.status == .ok, "\(response.body.text)")
                                    return .some(response.body.json["tracking_code"] as? String)
                                }
                                guard let code = next.flatMap({ $0 }) else { break }
                                mine.append(code)
                            }
                            return mine
                        }
                    }
                    var all: [String] = []
                    for try await codes in group { all += codes }
                    return all
                }
            }
            #expect(claimed.count == 2000)
            #expect(Set(claimed).count == 2000)
            let audit = try await pool.query(
                """
                SELECT count(*) FILTER (WHERE n <> 1) AS wrong, count(*) AS requests FROM (
                    SELECT r.id, count(e.id) AS n FROM service_requests r
                    LEFT JOIN request_events e ON e.request_id = r.id AND e.kind = 'claimed' GROUP BY r.id) per_request
                """
            ).single()
            #expect(try audit.decode(Int.self, "requests") == 2000)
            #expect(try audit.decode(Int.self, "wrong") == 0)
            #expect(try await pool.query("SELECT count(*) AS n FROM service_requests WHERE status = 'queued'").single().decode(Int.self, "n") == 0)
            await pool.close()
        }
    }
}
