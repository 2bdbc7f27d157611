import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import LoketAPI
import LoketCore
import LoketStore
import Postgres
import Testing

@Suite("Reports")
struct ReportTests {
    @Test func monthArithmeticNeverTrapsAtTheEdgesOfTheCalendar() throws {
        #expect(ReportStore.monthStart(try LocalDate(year: 2026, month: 3, day: 15), minusMonths: 14).description == "2025-01-01")
        #expect(ReportStore.monthStart(try LocalDate(year: 1, month: 1, day: 1), minusMonths: 1).description == "0000-12-01")
        let early = ReportStore.monthStart(try LocalDate(year: 1, month: 2, day: 1), minusMonths: 25)
        #expect(early.year == -1 && early.month == 1 && early.day == 1)
        #expect(ReportStore.nextMonthStart(after: try LocalDate(year: 2026, month: 12, day: 31)).description == "2027-01-01")
    }

    /// Four kk-baru requests filed on Monday 7 December 2026 at 08:00 in Jakarta, worked on the ASN
    /// calendar (07:30–12:00, 13:00–16:00), with every number below worked out by hand:
    /// A claimed 09:00, resolved 14:00: 300 working minutes, response met.
    /// B breaches its response clock at 12:00 (escalation level 1), claimed 13:00, asks the citizen at
    ///   14:00, reply Tuesday 10:00 (270 minutes paused), resolved Tuesday 15:00: 810 − 270 = 540.
    /// C claimed 08:30, rejected 10:00: 120 minutes, response met.
    /// D cancelled by the citizen at 11:00, never claimed.
    @Test func reportNumbersMatchTheHandComputedFixture() async throws {
        let clock = TestClock(CitizenAPITests.instant("2026-12-07T08:00:00+07:00"))
        try await APITestEnvironment.withApp(clock: { clock.now }) { app in
            let manager = try await StaffAPITests.makeOfficer(app, unit: "DISDUKCAPIL", role: .manager)
            let officer = try await StaffAPITests.makeOfficer(app, unit: "DISDUKCAPIL-IDP", role: .staff)
            let store = app.services.requests
            let catalog = try await app.services.catalog.snapshot()
            func at(_ text: String) { clock.now = CitizenAPITests.instant(text) }
            let (a, b, c, d) = try await app.test { client in
                let niks = ["3673014501900001", "3673015208850002", "3673010101800003", "3673014107950004"]
                var codes: [String] = []
                var tokens: [String] = []
                for nik in niks {
                    try await client.execute(uri: "/api/v1/requests", method: .post, headers: jsonHeaders, body: .json(sampleFiling(nik: nik))) { response in
                        codes.append(response.body.json["tracking_code"] as? String ?? "")
                        tokens.append(response.body.json["access_token"] as? String ?? "")
                    }
                }
                return ((codes[0], tokens[0]), (codes[1], tokens[1]), (codes[2], tokens[2]), (codes[3], tokens[3]))
            }
            let staff = Principal.staff(officer.member)
            at("2026-12-07T08:30:00+07:00")
            _ = try await store.apply(.claim, by: staff, trackingCode: c.0, catalog: catalog, now: clock.now)
            at("2026-12-07T09:00:00+07:00")
            _ = try await store.apply(.claim, by: staff, trackingCode: a.0, catalog: catalog, now: clock.now)
            at("2026-12-07T10:00:00+07:00")
            _ = try await store.apply(.reject(reason: "Bukan kewenangan"), by: staff, trackingCode: c.0, catalog: catalog, now: clock.now)
            at("2026-12-07T11:00:00+07:00")
            _ = try await store.apply(.cancel(reason: nil), by: .citizen, trackingCode: d.0, catalog: catalog, now: clock.now)
            at("2026-12-07T12:00:00+07:00")
            let stages = try await SLAStore(pool: app.pool).applyDueStages(now: clock.now, limit: 100, catalog: catalog)
            #expect(stages.stages == ["warning": 2, "breach": 1])
            at("2026-12-07T13:00:00+07:00")
            _ = try await store.apply(.claim, by: staff, trackingCode: b.0, catalog: catalog, now: clock.now)
            at("2026-12-07T14:00:00+07:00")
            _ = try await store.apply(.resolve(publicMessage: "Selesai", outcome: nil), by: staff, trackingCode: a.0, catalog: catalog, now: clock.now)
            _ = try await store.apply(.askCitizen(question: "Lengkapi akta"), by: staff, trackingCode: b.0, catalog: catalog, now: clock.now)
            at("2026-12-08T10:00:00+07:00")
            _ = try await store.apply(.citizenReply(message: nil), by: .citizen, trackingCode: b.0, catalog: catalog, now: clock.now)
            at("2026-12-08T15:00:00+07:00")
            _ = try await store.apply(.resolve(publicMessage: "Selesai", outcome: nil), by: staff, trackingCode: b.0, catalog: catalog, now: clock.now)
            try await store.giveFeedback(trackingCode: a.0, scores: try IKMScores(Array(repeating: 4, count: 9)), comment: nil, now: clock.now)
            try await store.giveFeedback(trackingCode: b.0, scores: try IKMScores(Array(repeating: 3, count: 9)), comment: nil, now: clock.now)

            let outcomes = try await app.pool.query(
                "SELECT r.tracking_code, o.resolution_working_minutes, o.paused_minutes, o.breaches, o.escalation_level, o.response_met FROM request_outcomes o JOIN service_requests r ON r.id = o.request_id")
            var minutes: [String: Int] = [:]
            for row in outcomes { minutes[try row.decode(String.self, "tracking_code")] = try row.decode(Int.self, "resolution_working_minutes") }
            #expect(minutes == [a.0: 300, b.0: 540, c.0: 120, d.0: 180])

            try await app.test { client in
                try await client.execute(
                    uri: "/api/v1/manager/reports?by=unit&from=2026-12-01&to=2026-12-31", method: .get,
                    headers: [.authorization: "Bearer \(manager.token)"]
                ) { response in
                    #expect(response.status == .ok, "\(response.body.text)")
                    let rows = response.body.json["rows"] as? [[String: Any]] ?? []
                    let idp = try #require(rows.first { $0["key"] as? String == "DISDUKCAPIL-IDP" })
                    #expect(idp["closed"] as? Int == 4)
                    #expect(idp["completed"] as? Int == 2)
                    #expect(idp["rejected"] as? Int == 1)
                    #expect(idp["cancelled"] as? Int == 1)
                    #expect(idp["response_on_time_percent"] as? Double == 66.7)
                    #expect(idp["resolution_on_time_percent"] as? Double == 100)
                    #expect(idp["median_resolution_hours"] as? Double == 5)
                    #expect(idp["p90_resolution_hours"] as? Double == 9)
                    #expect(idp["breaches"] as? Int == 1)
                    #expect(idp["escalations"] as? Int == 1)
                    #expect(idp["transfers"] as? Int == 0)
                    #expect(idp["waiting_for_citizen_hours"] as? Double == 4.5)
                    let ikm = idp["ikm"] as? [String: Any]
                    #expect(ikm?["respondents"] as? Int == 2)
                    // NRR 3.5 on each element × 1/9 × 9 = 3.5; × 25 = 87.5: grade B (76.61–88.30).
                    #expect(ikm?["value"] as? Double == 87.5)
                    #expect(ikm?["grade"] as? String == "B")
                }
                // The same numbers by officer: the closer of A, B and C; D had no officer.
                try await client.execute(
                    uri: "/api/v1/manager/reports?by=officer&from=2026-12-07&to=2026-12-08", method: .get,
                    headers: [.authorization: "Bearer \(manager.token)"]
                ) { response in
                    let rows = response.body.json["rows"] as? [[String: Any]] ?? []
                    #expect(rows.first { $0["key"] as? String == officer.nip }?["closed"] as? Int == 3)
                    #expect(rows.first { $0["key"] as? String == "-" }?["closed"] as? Int == 1)
                }
                // A period of whole months and one of days give the same totals.
                try await client.execute(
                    uri: "/api/v1/manager/reports?by=service&from=2026-11-15&to=2027-01-10&format=csv", method: .get,
                    headers: [.authorization: "Bearer \(manager.token)"]
                ) { response in
                    #expect(response.headers[.contentType] == "text/csv; charset=utf-8")
                    let lines = response.body.text.split(separator: "\r\n")
                    #expect(lines.first?.hasPrefix("key,name,closed") == true)
                    #expect(lines.contains { $0.hasPrefix("kk-baru,") && $0.contains(",4,2,1,1,66.7,100.0,5.0,9.0,") })
                }
                // A name that starts like a spreadsheet formula is written as text.
                try await app.pool.query("UPDATE staff SET name = $2 WHERE id = $1", officer.member.id, #"=HYPERLINK("http://x.example","Nurul")"#)
                try await client.execute(
                    uri: "/api/v1/manager/reports?by=officer&from=2026-11-15&to=2027-01-10&format=csv", method: .get,
                    headers: [.authorization: "Bearer \(manager.token)"]
                ) { response in
                    #expect(response.headers[.cacheControl] == "no-store")
                    let line = response.body.text.split(separator: "\r\n").first { $0.hasPrefix(officer.nip + ",") }
                    #expect(line?.hasPrefix(#"\#(officer.nip),"'=HYPERLINK(""http://x.example"",""Nurul"")","#) == true, "\(line ?? "")")
                }
                // After a semicolon too: Excel in Indonesian starts a new cell there.
                try await app.pool.query("UPDATE staff SET name = $2 WHERE id = $1", officer.member.id, "Budi;=cmd|' /C calc'!A0;@x")
                try await client.execute(
                    uri: "/api/v1/manager/reports?by=officer&from=2026-11-15&to=2027-01-10&format=csv", method: .get,
                    headers: [.authorization: "Bearer \(manager.token)"]
                ) { response in
                    let line = response.body.text.split(separator: "\r\n").first { $0.hasPrefix(officer.nip + ",") }
                    #expect(line?.hasPrefix("\(officer.nip),Budi;'=cmd|' /C calc'!A0;'@x,") == true, "\(line ?? "")")
                }
                // A quote that starts a grapheme cluster (followed by a combining accent) is doubled too.
                try await app.pool.query("UPDATE staff SET name = $2 WHERE id = $1", officer.member.id, "Nurul \"\u{301},x")
                try await client.execute(
                    uri: "/api/v1/manager/reports?by=officer&from=2026-11-15&to=2027-01-10&format=csv", method: .get,
                    headers: [.authorization: "Bearer \(manager.token)"]
                ) { response in
                    let bytes = Array(response.body.text.utf8)
                    #expect(bytes.firstRange(of: Array("\(officer.nip),\"Nurul \"\"\u{301},x\",".utf8)) != nil, "\(response.body.text)")
                }
                // Services are named in the reader's language.
                try await client.execute(
                    uri: "/api/v1/manager/reports?by=service&from=2026-11-15&to=2027-01-10", method: .get,
                    headers: [.authorization: "Bearer \(manager.token)", .acceptLanguage: "en"]
                ) { response in
                    let rows = response.body.json["rows"] as? [[String: Any]] ?? []
                    let catalog = try await app.services.catalog.snapshot()
                    #expect(rows.first { $0["key"] as? String == "kk-baru" }?["name"] as? String == catalog.servicesByCode["kk-baru"]?.name.en)
                }
                try await client.execute(uri: "/api/v1/public/transparency?by=unit&from=2026-12-01&to=2026-12-31", method: .get) { response in
                    let rows = response.body.json["rows"] as? [[String: Any]] ?? []
                    let idp = rows.first { $0["key"] as? String == "DISDUKCAPIL-IDP" }
                    #expect(idp?["closed"] as? Int == 4)
                    #expect(idp?["breaches"] == nil, "the public record has no breach counts")
                }
                // `to` alone: the twelve months ending with its month (it was a period starting today,
                // after `to`, refused as invalid).
                for (to, from, closed) in [("2026-12-31", "2026-01-01", 4), ("2025-12-31", "2025-01-01", 0)] {
                    try await client.execute(uri: "/api/v1/public/transparency?by=unit&to=\(to)", method: .get) { response in
                        #expect(response.status == .ok, "\(response.body.text)")
                        #expect(response.body.json["from"] as? String == from)
                        #expect(response.body.json["to"] as? String == to)
                        #expect((response.body.json["total"] as? [String: Any])?["closed"] as? Int == closed)
                    }
                }
                try await client.execute(uri: "/api/v1/manager/reports", method: .get, headers: [.authorization: "Bearer \(officer.token)"]) { response in
                    #expect(response.status == .forbidden)
                }
            }

            // Closing touched only the closers' daily rows: December is not rolled up yet, so every
            // read above came from report_daily. Rolling it up changes no number.
            #expect(try await app.pool.query("SELECT count(*) AS n FROM report_monthly").single().decode(Int.self, "n") == 0)
            let reads = [
                "/api/v1/manager/reports?by=unit&from=2026-12-01&to=2027-01-01",
                "/api/v1/manager/reports?by=service&from=2026-11-15&to=2027-01-10",
                "/api/v1/manager/trend?months=3&by=unit",
                "/api/v1/manager/trend?months=3",
            ]
            func answers() async throws -> [String] {
                try await app.test { client in
                    var bodies: [String] = []
                    for uri in reads {
                        try await client.execute(uri: uri, method: .get, headers: [.authorization: "Bearer \(manager.token)"]) { response in
                            #expect(response.status == .ok, "\(uri): \(response.body.text)")
                            bodies.append(response.body.text)
                        }
                    }
                    return bodies
                }
            }
            let fromDaily = try await answers()
            let reports = ReportStore(pool: app.pool)
            let december = try LocalDate(year: 2026, month: 12, day: 1)
            #expect(try await reports.rollUpMonth(december, now: clock.now))
            #expect(try await !reports.rollUpMonth(december, now: clock.now), "a month is rolled up once")
            #expect(try await app.pool.query("SELECT count(*) AS n FROM report_monthly").single().decode(Int.self, "n") == 1)
            let fromMonthly = try await answers()
            #expect(fromMonthly == fromDaily)
            #expect(fromDaily.first?.contains(#""closed":4"#) == true, "\(fromDaily.first ?? "")")

            // Feedback after the rollup reaches the monthly row too: the month read from
            // report_monthly and one day read from report_daily both count three respondents.
            try await store.giveFeedback(trackingCode: c.0, scores: try IKMScores(Array(repeating: 2, count: 9)), comment: nil, now: clock.now)
            try await app.test { client in
                for uri in ["/api/v1/manager/reports?by=unit&from=2026-12-01&to=2027-01-01", "/api/v1/manager/reports?by=unit&from=2026-12-07&to=2026-12-08"] {
                    try await client.execute(uri: uri, method: .get, headers: [.authorization: "Bearer \(manager.token)"]) { response in
                        let rows = response.body.json["rows"] as? [[String: Any]] ?? []
                        let ikm = rows.first { $0["key"] as? String == "DISDUKCAPIL-IDP" }?["ikm"] as? [String: Any]
                        #expect(ikm?["respondents"] as? Int == 3, "\(uri)")
                    }
                }
            }

            // Closings dated into the rolled-up December reach its monthly rows as well: E is
            // transferred to DPMPTSP and resolved there (a new monthly row, one transfer); F is
            // resolved in IDP (added to IDP's monthly row, histograms element by element).
            let permits = try await StaffAPITests.makeOfficer(app, unit: "DPMPTSP", role: .staff)
            let dpmptsp = try await app.pool.query("SELECT id FROM units WHERE code = 'DPMPTSP'").single().decode(Int64.self, "id")
            let (e, f) = try await app.test { client in
                var codes: [String] = []
                for nik in ["3673014501900005", "3673015208850006"] {
                    try await client.execute(uri: "/api/v1/requests", method: .post, headers: jsonHeaders, body: .json(sampleFiling(nik: nik))) { response in
                        codes.append(response.body.json["tracking_code"] as? String ?? "")
                    }
                }
                return (codes[0], codes[1])
            }
            at("2026-12-09T08:00:00+07:00")
            _ = try await store.apply(.claim, by: staff, trackingCode: e, catalog: catalog, now: clock.now)
            _ = try await store.apply(.claim, by: staff, trackingCode: f, catalog: catalog, now: clock.now)
            _ = try await store.apply(.transfer(to: dpmptsp, reason: "Perizinan"), by: staff, trackingCode: e, catalog: catalog, now: clock.now)
            at("2026-12-09T09:00:00+07:00")
            _ = try await store.apply(.claim, by: .staff(permits.member), trackingCode: e, catalog: catalog, now: clock.now)
            _ = try await store.apply(.resolve(publicMessage: "Selesai", outcome: nil), by: .staff(permits.member), trackingCode: e, catalog: catalog, now: clock.now)
            _ = try await store.apply(.resolve(publicMessage: "Selesai", outcome: nil), by: staff, trackingCode: f, catalog: catalog, now: clock.now)
            let transfers = try await app.pool.query(
                "SELECT o.transfers, o.breaches FROM request_outcomes o JOIN service_requests r ON r.id = o.request_id WHERE r.tracking_code = $1", e
            ).single()
            #expect(try transfers.decode(Int.self, "transfers") == 1)
            #expect(try transfers.decode(Int.self, "breaches") == 0)
            let monthly = try await app.pool.query(
                """
                SELECT u.code, m.closed, m.transfers, m.breaches, m.resolve_histogram::text AS histogram,
                       (SELECT loket_sum_counts(d.resolve_histogram)::text FROM report_daily d
                        WHERE d.unit_id = m.unit_id AND d.day >= m.month AND d.day < m.month + 31) AS daily_histogram,
                       (SELECT sum(d.transfers) FROM report_daily d WHERE d.unit_id = m.unit_id AND d.day >= m.month AND d.day < m.month + 31) AS daily_transfers
                FROM report_monthly m JOIN units u ON u.id = m.unit_id ORDER BY u.code
                """)
            let byUnit = Dictionary(uniqueKeysWithValues: try monthly.map { (try $0.decode(String.self, "code"), $0) })
            let idp = try #require(byUnit["DISDUKCAPIL-IDP"])
            let permitsRow = try #require(byUnit["DPMPTSP"])
            #expect(try idp.decode(Int.self, "closed") == 5)
            #expect(try idp.decode(Int.self, "breaches") == 1)
            #expect(try idp.decode(String.self, "histogram") == idp.decode(String.self, "daily_histogram"))
            #expect(try permitsRow.decode(Int.self, "closed") == 1)
            #expect(try permitsRow.decode(Int.self, "transfers") == 1)
            #expect(try permitsRow.decode(Int.self, "daily_transfers") == 1)
            #expect(try permitsRow.decode(String.self, "histogram") == permitsRow.decode(String.self, "daily_histogram"))
        }
    }

    @Test func breachesAndWorkloadListOpenRequestsMostOverdueFirst() async throws {
        let clock = TestClock(CitizenAPITests.instant("2026-12-07T08:00:00+07:00"))
        try await APITestEnvironment.withApp(clock: { clock.now }) { app in
            let manager = try await StaffAPITests.makeOfficer(app, unit: "DISDUKCAPIL", role: .manager)
            let outsider = try await StaffAPITests.makeOfficer(app, unit: "DPMPTSP", role: .manager)
            let first = try await app.test { try await StaffAPITests.file($0) }
            clock.now = CitizenAPITests.instant("2026-12-07T09:00:00+07:00")
            let second = try await app.test { try await StaffAPITests.file($0, nik: "3673015208850002") }
            // Response deadlines: 12:00 and 13:00+60 = 14:00 (the 12:00–13:00 break). At 12:30 the
            // first is breached, though no working minute has passed since (it used to be missing
            // from the list until 13:01, as one due at closing time was all night); the second is
            // at risk, 60 working minutes away.
            clock.now = CitizenAPITests.instant("2026-12-07T12:30:00+07:00")
            try await app.test { client in
                try await client.execute(uri: "/api/v1/manager/breaches", method: .get, headers: [.authorization: "Bearer \(manager.token)"]) { response in
                    let items = response.body.json["requests"] as? [[String: Any]] ?? []
                    #expect(items.map { $0["tracking_code"] as? String } == [first])
                    #expect(items.map { $0["overdue_working_minutes"] as? Int } == [0])
                }
                try await client.execute(uri: "/api/v1/manager/at-risk", method: .get, headers: [.authorization: "Bearer \(manager.token)"]) { response in
                    let items = response.body.json["requests"] as? [[String: Any]] ?? []
                    #expect(items.map { $0["tracking_code"] as? String } == [second])
                }
            }
            // At 15:00 the first is 120 working minutes over, the second 60.
            clock.now = CitizenAPITests.instant("2026-12-07T15:00:00+07:00")
            try await app.test { client in
                try await client.execute(uri: "/api/v1/manager/breaches", method: .get, headers: [.authorization: "Bearer \(manager.token)"]) { response in
                    let items = response.body.json["requests"] as? [[String: Any]] ?? []
                    #expect(items.map { $0["tracking_code"] as? String } == [first, second])
                    #expect(items.map { $0["overdue_working_minutes"] as? Int } == [120, 60])
                }
                try await client.execute(uri: "/api/v1/manager/breaches", method: .get, headers: [.authorization: "Bearer \(outsider.token)"]) { response in
                    #expect((response.body.json["requests"] as? [Any])?.isEmpty == true)
                }
                try await client.execute(uri: "/api/v1/manager/workload", method: .get, headers: [.authorization: "Bearer \(manager.token)"]) { response in
                    let units = response.body.json["units"] as? [[String: Any]] ?? []
                    #expect(units.first { ($0["unit"] as? [String: String])?["code"] == "DISDUKCAPIL-IDP" }?["queued"] as? Int == 2)
                }
            }
        }
    }

    /// The backlog's average age is the total age over the count, rounded once. It was rounded at
    /// every (unit, service) row it summed, so three requests aged 0.01, 0.03 and 0.44 days
    /// (0.16 on average) were reported as 0.1 in every order of the rows.
    @Test func theBacklogsAverageAgeIsRoundedOnce() async throws {
        let clock = TestClock(CitizenAPITests.instant("2026-12-07T15:00:00+07:00"))
        try await APITestEnvironment.withApp(clock: { clock.now }) { app in
            let manager = try await StaffAPITests.makeOfficer(app, unit: "DISDUKCAPIL", role: .manager)
            var codes: [String] = []
            for nik in ["3673014501900001", "3673015208850002", "3673014501900003"] {
                codes.append(try await app.test { try await StaffAPITests.file($0, nik: nik) })
            }
            let services = try await app.pool.query("SELECT id FROM service_types ORDER BY id LIMIT 3").map { try $0.decode(Int64.self, "id") }
            for (code, (service, days)) in zip(codes, zip(services, [0.01, 0.03, 0.44])) {
                try await app.pool.query(
                    "UPDATE service_requests SET service_type_id = $2, created_at = $3 WHERE tracking_code = $1",
                    code, service, clock.now.addingTimeInterval(-days * 86_400))
            }
            try await app.test { client in
                try await client.execute(uri: "/api/v1/manager/reports?by=unit&from=2026-12-01&to=2026-12-08", method: .get,
                                         headers: [.authorization: "Bearer \(manager.token)"]) { response in
                    let rows = response.body.json["rows"] as? [[String: Any]] ?? []
                    let idp = rows.first { $0["key"] as? String == "DISDUKCAPIL-IDP" }
                    #expect(idp?["backlog"] as? Int == 3, "\(response.body.text)")
                    #expect(idp?["backlog_average_age_days"] as? Double == 0.2, "\(response.body.text)")
                    #expect((response.body.json["total"] as? [String: Any])?["backlog_average_age_days"] as? Double == 0.2)
                }
            }
        }
    }

    /// A request closed past its deadline counts its breach even when the worker never got to
    /// record it (closed seconds after the deadline, or while the worker was down).
    @Test func aRequestClosedLateCountsItsBreachBeforeTheWorkerRecordsIt() async throws {
        let clock = TestClock(CitizenAPITests.instant("2026-12-07T08:00:00+07:00"))
        try await APITestEnvironment.withApp(clock: { clock.now }) { app in
            let officer = try await StaffAPITests.makeOfficer(
                app, unit: "DISDUKCAPIL-IDP", role: .staff, tokenExpires: CitizenAPITests.instant("2030-01-01T00:00:00+07:00"))
            let (late, onTime) = try await app.test { client in
                let late = try await StaffAPITests.file(client)
                let onTime = try await StaffAPITests.file(client, nik: "3673015208850002")
                func post(_ code: String, _ action: String, _ body: [String: Any] = [:]) async throws {
                    try await client.execute(
                        uri: "/api/v1/staff/requests/\(code)/\(action)", method: .post, headers: officer.auth, body: .json(body)
                    ) { response in
                        #expect(response.status == .ok, "\(action): \(response.body.text)")
                    }
                }
                for code in [late, onTime] { try await post(code, "claim") }
                try await post(onTime, "resolve", ["public_message": "Selesai."])
                // Weeks later, past any deadline of kk-baru, with no SLA scan in between.
                clock.now = CitizenAPITests.instant("2027-01-29T10:00:00+07:00")
                try await post(late, "resolve", ["public_message": "Selesai, terlambat."])
                return (late, onTime)
            }
            let rows = try await app.pool.query(
                """
                SELECT r.tracking_code, o.breaches, o.resolution_met FROM request_outcomes o JOIN service_requests r ON r.id = o.request_id
                """)
            let breaches = Dictionary(uniqueKeysWithValues: try rows.map { (try $0.decode(String.self, "tracking_code"), try $0.decode(Int.self, "breaches")) })
            #expect(breaches == [late: 1, onTime: 0])
            #expect(try await app.pool.query("SELECT count(*) AS n FROM sla_stage_log").single().decode(Int.self, "n") == 0)
            let summed = try await app.pool.query("SELECT sum(breaches)::int AS n FROM report_daily").single().decode(Int.self, "n")
            #expect(summed == 1)
        }
    }

    /// The response clock's result is whoever first took the request up, in the unit it was in:
    /// never the colleague or the unit it went to next. Filed Monday 7 December 2026 at 08:00 on
    /// the ASN calendar, response due 12:00:
    /// G: Ani claims late (13:00) and releases; Budi claims and resolves.
    /// H: Ani claims late and transfers it to DPMPTSP; Citra claims and resolves it there.
    /// J: Ani claims on time (09:00) and asks the citizen, who cancels.
    /// K: the supervisor assigns it late to Budi, who resolves it.
    /// L: Budi claims it late and resolves it, but as a request claimed before migration 0013
    ///    (who claimed it unknown), so the response counts with the closing, as it did then.
    @Test func theResponseCountsForWhoeverFirstTookTheRequestUp() async throws {
        let clock = TestClock(CitizenAPITests.instant("2026-12-07T08:00:00+07:00"))
        try await APITestEnvironment.withApp(clock: { clock.now }) { app in
            let manager = try await StaffAPITests.makeOfficer(app, unit: "SETDA", role: .manager)
            let ani = try await StaffAPITests.makeOfficer(app, unit: "DISDUKCAPIL-IDP", role: .staff)
            let budi = try await StaffAPITests.makeOfficer(app, unit: "DISDUKCAPIL-IDP", role: .staff)
            let supervisor = try await StaffAPITests.makeOfficer(app, unit: "DISDUKCAPIL-IDP", role: .supervisor)
            let citra = try await StaffAPITests.makeOfficer(app, unit: "DPMPTSP", role: .staff)
            let dpmptsp = try await app.pool.query("SELECT id FROM units WHERE code = 'DPMPTSP'").single().decode(Int64.self, "id")
            let idp = try await app.pool.query("SELECT id FROM units WHERE code = 'DISDUKCAPIL-IDP'").single().decode(Int64.self, "id")
            let store = app.services.requests
            let catalog = try await app.services.catalog.snapshot()
            func at(_ text: String) { clock.now = CitizenAPITests.instant(text) }
            func act(_ command: RequestCommand, _ who: Principal, _ code: String) async throws {
                _ = try await store.apply(command, by: who, trackingCode: code, catalog: catalog, now: clock.now)
            }
            let codes = try await app.test { client in
                var codes: [String] = []
                for nik in ["3673014501900001", "3673015208850002", "3673010101800003", "3673014107950004", "3673014501900005"] {
                    try await client.execute(uri: "/api/v1/requests", method: .post, headers: jsonHeaders, body: .json(sampleFiling(nik: nik))) { response in
                        codes.append(response.body.json["tracking_code"] as? String ?? "")
                    }
                }
                return codes
            }
            let (g, h, j, k, l) = (codes[0], codes[1], codes[2], codes[3], codes[4])
            at("2026-12-07T09:00:00+07:00")
            try await act(.claim, .staff(ani.member), j)
            try await act(.askCitizen(question: "Lengkapi akta"), .staff(ani.member), j)
            try await act(.cancel(reason: nil), .citizen, j)
            at("2026-12-07T13:00:00+07:00")
            try await act(.claim, .staff(ani.member), g)
            try await act(.claim, .staff(ani.member), h)
            try await act(.assign(to: budi.member), .staff(supervisor.member), k)
            try await act(.claim, .staff(budi.member), l)
            try await app.pool.query(
                "UPDATE service_requests SET first_claimed_by = NULL, first_claim_unit_id = NULL WHERE tracking_code = $1", l)
            try await act(.release(reason: nil), .staff(ani.member), g)
            try await act(.transfer(to: dpmptsp, reason: "Perizinan"), .staff(ani.member), h)
            at("2026-12-07T14:00:00+07:00")
            try await act(.claim, .staff(budi.member), g)
            try await act(.claim, .staff(citra.member), h)
            // Rolled up early, as the worker does for a month that closings are still dated into.
            try await ReportStore(pool: app.pool).rollUpMonth(try LocalDate(year: 2026, month: 12, day: 1), now: clock.now)
            at("2026-12-07T15:00:00+07:00")
            for (code, officer) in [(g, budi), (h, citra), (k, budi), (l, budi)] {
                try await act(.resolve(publicMessage: "Selesai", outcome: nil), .staff(officer.member), code)
            }

            let outcomes = try await app.pool.query(
                """
                SELECT r.tracking_code, o.response_met, o.response_unit_id, o.response_officer_id, o.officer_id, o.breaches
                FROM request_outcomes o JOIN service_requests r ON r.id = o.request_id
                """)
            var credit: [String: (Bool?, Int64?, Int64?, Int64?, Int)] = [:]
            for row in outcomes {
                credit[try row.decode(String.self, "tracking_code")] = (
                    try row.decode(Bool?.self, "response_met"), try row.decode(Int64?.self, "response_unit_id"),
                    try row.decode(Int64?.self, "response_officer_id"), try row.decode(Int64?.self, "officer_id"),
                    try row.decode(Int.self, "breaches"))
            }
            #expect(credit[g].map { [$0.0 == false, $0.1 == idp, $0.2 == ani.member.id, $0.3 == budi.member.id, $0.4 == 1] } == [true, true, true, true, true])
            #expect(credit[h].map { [$0.0 == false, $0.1 == idp, $0.2 == ani.member.id, $0.3 == citra.member.id, $0.4 == 1] } == [true, true, true, true, true])
            #expect(credit[j].map { [$0.0 == true, $0.1 == idp, $0.2 == ani.member.id, $0.3 == nil, $0.4 == 0] } == [true, true, true, true, true])
            #expect(credit[k].map { [$0.0 == false, $0.1 == idp, $0.2 == supervisor.member.id, $0.3 == budi.member.id] } == [true, true, true, true])
            #expect(credit[l].map { [$0.0 == false, $0.1 == nil, $0.2 == nil, $0.3 == budi.member.id] } == [true, true, true, true])

            try await app.test { client in
                func rows(_ query: String) async throws -> [String: [String: Any]] {
                    try await client.execute(
                        uri: "/api/v1/manager/reports?\(query)", method: .get, headers: [.authorization: "Bearer \(manager.token)"]
                    ) { response in
                        #expect(response.status == .ok, "\(response.body.text)")
                        let rows = response.body.json["rows"] as? [[String: Any]] ?? []
                        return Dictionary(uniqueKeysWithValues: rows.map { ($0["key"] as? String ?? "", $0) })
                    }
                }
                // By officer: Ani answered three (two late, J on time) and closed none; Budi closed
                // G, K and L and answered only L (the legacy one); the supervisor answered K.
                let officers = try await rows("by=officer&from=2026-12-07&to=2026-12-08")
                #expect(officers[ani.nip]?["closed"] as? Int == 0)
                #expect(officers[ani.nip]?["response_on_time_percent"] as? Double == 33.3)
                #expect(officers[ani.nip]?["breaches"] as? Int == 2)
                #expect(officers[budi.nip]?["closed"] as? Int == 3)
                #expect(officers[budi.nip]?["response_on_time_percent"] as? Double == 0)
                #expect(officers[budi.nip]?["breaches"] as? Int == 1)
                #expect(officers[supervisor.nip]?["closed"] as? Int == 0)
                #expect(officers[supervisor.nip]?["response_on_time_percent"] as? Double == 0)
                #expect(officers[citra.nip]?["closed"] as? Int == 1)
                #expect(officers[citra.nip]?["response_on_time_percent"] == nil)
                #expect(officers[citra.nip]?["breaches"] as? Int == 0)
                #expect(officers["-"]?["closed"] as? Int == 1)
                // By unit: IDP keeps H's late response; DPMPTSP, which got H late, is not charged.
                let units = try await rows("by=unit&from=2026-12-07&to=2026-12-08")
                #expect(units["DISDUKCAPIL-IDP"]?["closed"] as? Int == 4)
                #expect(units["DISDUKCAPIL-IDP"]?["response_on_time_percent"] as? Double == 20)
                #expect(units["DISDUKCAPIL-IDP"]?["breaches"] as? Int == 4)
                #expect(units["DPMPTSP"]?["closed"] as? Int == 1)
                #expect(units["DPMPTSP"]?["response_on_time_percent"] == nil)
                #expect(units["DPMPTSP"]?["breaches"] as? Int == 0)
                // December was rolled up before the resolutions, so they also went to its monthly
                // rows, which a report of whole months reads: the same figures.
                let months = try await rows("by=unit&from=2026-12-01&to=2027-01-01")
                #expect(months["DISDUKCAPIL-IDP"]?["response_on_time_percent"] as? Double == 20)
                #expect(months["DISDUKCAPIL-IDP"]?["breaches"] as? Int == 4)
                #expect(months["DPMPTSP"]?["closed"] as? Int == 1)
                #expect(months["DPMPTSP"]?["response_on_time_percent"] == nil)
            }
        }
    }

    /// Ani closes what Budi took up first while Budi closes what Ani took up first: each closing
    /// writes its closer's daily row and the first claimer's, the same two rows in opposite roles.
    /// Written in key order they wait for each other and never deadlock. Forced here: a third
    /// transaction holds Ani's row while Ani's closing queues for it and Budi's comes second. In
    /// each closing's own order (closer first), Budi's took his row, queued for Ani's, and when
    /// the third let go the two deadlocked and PostgreSQL aborted one.
    @Test func crossedClosingsNeverDeadlock() async throws {
        try await APITestEnvironment.withApp { app in
            let ani = try await StaffAPITests.makeOfficer(app, unit: "DISDUKCAPIL-IDP", role: .staff)
            let budi = try await StaffAPITests.makeOfficer(app, unit: "DISDUKCAPIL-IDP", role: .staff)
            let store = app.services.requests
            let catalog = try await app.services.catalog.snapshot()
            let codes = try await app.test { client in
                var codes: [String] = []
                for nik in ["3673014501900001", "3673015208850002", "3673010101800003", "3673014107950004"] {
                    try await client.execute(uri: "/api/v1/requests", method: .post, headers: jsonHeaders, body: .json(sampleFiling(nik: nik))) { response in
                        codes.append(response.body.json["tracking_code"] as? String ?? "")
                    }
                }
                return codes
            }
            func act(_ command: RequestCommand, _ officer: StaffAPITests.Officer, _ code: String) async throws {
                _ = try await store.apply(command, by: .staff(officer.member), trackingCode: code, catalog: catalog)
            }
            // Each officer's daily row exists: one closing each.
            for (officer, code) in [(ani, codes[0]), (budi, codes[1])] {
                try await act(.claim, officer, code)
                try await act(.resolve(publicMessage: "Selesai", outcome: nil), officer, code)
            }
            // X: Budi takes it up and gives it back, Ani holds it. Y: the other way round.
            let (x, y) = (codes[2], codes[3])
            for (first, holder, code) in [(budi, ani, x), (ani, budi, y)] {
                try await act(.claim, first, code)
                try await act(.release(reason: nil), first, code)
                try await act(.claim, holder, code)
            }
            func lockWaits() async throws -> Int {
                try await app.pool.query(
                    "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
                ).single().decode(Int.self, "n")
            }
            func untilWaiting(_ count: Int) async throws {
                for _ in 0..<500 where try await lockWaits() < count { try await Task.sleep(for: .milliseconds(10)) }
                #expect(try await lockWaits() == count)
            }
            let (held, hold) = AsyncStream<Void>.makeStream()
            let (released, release) = AsyncStream<Void>.makeStream()
            let blocker = Task {
                try await app.pool.transaction { connection in
                    try await connection.query("SELECT 1 FROM report_daily WHERE officer_id = $1 FOR UPDATE", ani.member.id)
                    hold.yield()
                    for await _ in released { break }
                }
            }
            for await _ in held { break }
            let aniCloses = Task { try await act(.resolve(publicMessage: "Selesai", outcome: nil), ani, x) }
            try await untilWaiting(1)
            let budiCloses = Task { try await act(.resolve(publicMessage: "Selesai", outcome: nil), budi, y) }
            try await untilWaiting(2)
            release.yield()
            try await blocker.value
            await #expect(throws: Never.self) { try await aniCloses.value }
            await #expect(throws: Never.self) { try await budiCloses.value }
            let rows = try await app.pool.query("SELECT officer_id, closed, response_measured FROM report_daily")
            var sums: [Int64: [Int]] = [:]
            for row in rows {
                sums[try row.decode(Int64.self, "officer_id")] = [try row.decode(Int.self, "closed"), try row.decode(Int.self, "response_measured")]
            }
            #expect(sums == [ani.member.id: [2, 2], budi.member.id: [2, 2]])
        }
    }

    /// A request the citizen cancels without anyone having claimed it counts as a missed response
    /// if its response deadline had passed, and is not measured if it had not.
    @Test func anUnclaimedRequestCancelledAfterItsResponseDeadlineIsAMiss() async throws {
        let clock = TestClock(CitizenAPITests.instant("2026-12-07T08:00:00+07:00"))
        try await APITestEnvironment.withApp(clock: { clock.now }) { app in
            try await app.test { client in
                func file(_ nik: String) async throws -> (String, HTTPFields) {
                    let receipt = try await client.execute(
                        uri: "/api/v1/requests", method: .post, headers: jsonHeaders, body: .json(sampleFiling(nik: nik))) { $0.body.json }
                    let token = try #require(receipt["access_token"] as? String)
                    return (try #require(receipt["tracking_code"] as? String), [.authorization: "Bearer \(token)"])
                }
                let (late, lateAuth) = try await file("3673014501900001")
                // Its response deadline is 12:00; cancelled unanswered at 13:30.
                clock.now = CitizenAPITests.instant("2026-12-07T13:30:00+07:00")
                let (early, earlyAuth) = try await file("3673015208850002")
                for (code, auth) in [(late, lateAuth), (early, earlyAuth)] {
                    try await client.execute(uri: "/api/v1/requests/\(code)/cancel", method: .post, headers: auth) { response in
                        #expect(response.status == .ok, "\(response.body.text)")
                    }
                }
                let rows = try await app.pool.query(
                    "SELECT r.tracking_code, o.response_met FROM request_outcomes o JOIN service_requests r ON r.id = o.request_id")
                let met = Dictionary(uniqueKeysWithValues: try rows.map { (try $0.decode(String.self, "tracking_code"), try $0.decode(Bool?.self, "response_met")) })
                #expect(met[late] == .some(false))
                #expect(met[early] == .some(nil))
            }
        }
    }

    @Test func aQueryParameterGivenTwiceWithDifferentValuesIsRefusedNotGuessed() async throws {
        try await APITestEnvironment.withApp { app in
            let manager = try await StaffAPITests.makeOfficer(app, unit: "DISDUKCAPIL", role: .manager)
            let auth: HTTPFields = [.authorization: "Bearer \(manager.token)"]
            try await app.test { client in
                // Schemathesis found `limit=&limit=!M` answered 200 as if no limit were given.
                for uri in ["/api/v1/manager/at-risk?limit=&limit=%21M", "/api/v1/manager/breaches?limit=5&limit=6",
                            "/api/v1/staff/queue?limit=&limit=3", "/api/v1/manager/reports?from=2026-01-01&from=2026-02-01"] {
                    try await client.execute(uri: uri, method: .get, headers: auth) { response in
                        #expect(response.status == .badRequest, "\(uri)")
                        let error = response.body.json["error"] as? [String: Any]
                        #expect(error?["code"] as? String == "conflicting_values", "\(uri)")
                        #expect(error?["field"] as? String != nil, "\(uri)")
                    }
                }
                // The same value twice names one value.
                try await client.execute(uri: "/api/v1/manager/at-risk?limit=5&limit=5", method: .get, headers: auth) { response in
                    #expect(response.status == .ok)
                }
            }
        }
    }
}
