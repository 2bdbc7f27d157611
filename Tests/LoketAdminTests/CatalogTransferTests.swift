import Foundation
import LoketCore
import LoketStore
import Postgres
import Testing

@Suite("Admin: catalog export and import")
struct CatalogTransferTests {
    @Test func exportThenImportIntoAFreshDatabaseGivesTheSameExport() async throws {
        let exported = try await AdminTestEnvironment.withDatabase(seeded: true) { try await CatalogFixture.export($0) }
        let file = try CatalogFixture.tree(exported)
        #expect(file["format"] as? String == "loket-catalog/1")
        // References are codes, never database ids.
        let text = String(decoding: exported, as: UTF8.self)
        for key in ["\"id\"", "\"calendar_id\"", "\"parent_id\"", "\"default_unit_id\"", "\"unit_id\"", "\"service_type_id\""] {
            #expect(!text.contains(key + " : 1") && !text.contains(key + " : 2"), "the export refers by database id (\(key))")
        }

        try await AdminTestEnvironment.withDatabase(seeded: false) { pool in
            let summary = try await CatalogFixture.importing(exported, into: pool)
            #expect(!summary.dryRun)
            #expect(summary.calendars == .init(created: 1, updated: 0, unchanged: 0))
            #expect(summary.units.created == (file["units"] as? [Any])?.count)
            #expect(summary.areas.created == (file["areas"] as? [Any])?.count)
            #expect(summary.serviceTypes.created == (file["service_types"] as? [Any])?.count)
            #expect(summary.routingRules.created == (file["routing_rules"] as? [Any])?.count)
            #expect(summary.holidays.created == 30)
            #expect(summary.recomputeCalendars.isEmpty && summary.recomputeServices.isEmpty)

            let again = try await CatalogFixture.export(pool)
            #expect(String(decoding: again, as: UTF8.self) == text)

            // The imported catalog is one the server can load.
            let snapshot = try await pool.withConnection { try await CatalogStore.load(on: $0) }
            #expect(snapshot.unit(code: "MPP-FO")?.id == snapshot.triageUnitID)
            #expect(snapshot.servicesByCode["pengaduan-asn"]?.policy.maxEscalationLevel == 3)

            // A second import of the same file changes nothing.
            let second = try await CatalogFixture.importing(exported, into: pool)
            #expect(second.totalChanged == 0)
            #expect(second.units.unchanged == summary.units.created)
            #expect(second.holidays.unchanged == 30)
        }
    }

    @Test func anInvalidFileReportsEveryProblemAndChangesNothing() async throws {
        try await AdminTestEnvironment.withDatabase { pool in
            let before = try await CatalogFixture.export(pool)
            var file = try CatalogFixture.tree(before)

            var calendars = try #require(file["calendars"] as? [[String: Any]])
            var intervals = try #require(calendars[0]["intervals"] as? [[String: Any]])
            intervals[0]["end"] = "07:00"                                   // before its start
            calendars[0]["intervals"] = intervals
            var holidays = try #require(calendars[0]["holidays"] as? [[String: Any]])
            holidays.append(["date": "2027-02-30", "name": "Tidak ada", "kind": "national"])
            holidays.append(["date": "2027-03-01", "name": "Libur", "kind": "holiday"])
            holidays.append(["date": "2206-12-25", "name": "Hari Raya Natal", "kind": "national"])  // 2026 mistyped
            calendars[0]["holidays"] = holidays
            file["calendars"] = calendars

            var units = try #require(file["units"] as? [[String: Any]])
            let dinsos = try #require(units.firstIndex { $0["code"] as? String == "DINSOS" })
            units[dinsos]["parent"] = "DINSOS-DATA"                        // a cycle through its own section
            units.append(["code": "DINSOS-BARU", "name": "Seksi Baru", "parent": "DINSOS-LAMA", "kind": "section"])
            units.append(["code": "FO-KASEMEN", "name": "Front office Kasemen", "parent": "DPMPTSP", "kind": "front_office", "triage": true])
            file["units"] = units

            var areas = try #require(file["areas"] as? [[String: Any]])
            areas.append(["code": "3673071001", "name": "Undotted"])
            areas.append(["code": "36.74.01", "name": "No parent"])
            file["areas"] = areas

            var services = try #require(file["service_types"] as? [[String: Any]])
            let kk = try #require(services.firstIndex { $0["code"] as? String == "kk-baru" })
            services[kk]["response_target_minutes"] = 2000              // above the resolution target (1350)
            services[kk]["default_unit"] = "DISDUKCAPIL-NOPE"
            services[kk]["escalation_policy"] = [
                "stages": [["percent": 75, "notify": ["assignee"]], ["percent": 50, "notify": ["everyone"]]],
                "max_escalation_level": 3,
            ]
            services[kk]["resolution_target_minute"] = 10                  // a typo
            let ktp = try #require(services.firstIndex { $0["code"] as? String == "ktp-el" })
            services[ktp]["escalation_policy"] = ["stages": [["percent": 100]], "max_escalation_level": 2, "repeat_every_percent": 0, "repeat": [:]]
            var attributes = try #require(services[ktp]["attributes"] as? [[String: Any]])
            attributes[0]["values"] = []
            services[ktp]["attributes"] = attributes
            file["service_types"] = services

            var rules = try #require(file["routing_rules"] as? [[String: Any]])
            rules.append(rules[0])                                          // same service, area and priority
            rules.append(["service": NSNull(), "area": NSNull(), "unit": "MPP-FO"])
            file["routing_rules"] = rules

            let problems = try await CatalogFixture.problems(try CatalogFixture.data(file), in: pool)
            let paths = Set(problems.map(\.path))
            let expected = [
                "calendars[0].intervals[0].end",
                "calendars[0].holidays[\(holidays.count - 3)].date",
                "calendars[0].holidays[\(holidays.count - 2)].kind",
                "calendars[0].holidays[\(holidays.count - 1)].date",
                "units[\(dinsos)].parent",
                "units[\(units.count - 2)].parent",
                "units",
                "areas[\(areas.count - 2)].code",
                "areas[\(areas.count - 1)].code",
                "service_types[\(kk)].response_target_minutes",
                "service_types[\(kk)].default_unit",
                "service_types[\(kk)].escalation_policy.stages[1].percent",
                "service_types[\(kk)].escalation_policy.stages[1].notify[0]",
                "service_types[\(kk)].resolution_target_minute",
                "service_types[\(ktp)].escalation_policy.repeat_every_percent",
                "service_types[\(ktp)].attributes[0].values",
                "routing_rules[\(rules.count - 2)]",
                "routing_rules[\(rules.count - 1)]",
            ]
            for path in expected {
                #expect(paths.contains(path), "no problem reported at \(path); got:\n\(problems.map(\.description).joined(separator: "\n"))")
            }
            #expect(problems.count >= expected.count)
            let cycle = try #require(problems.first { $0.path == "units[\(dinsos)].parent" })
            #expect(cycle.message.contains("cycle"))
            let undotted = try #require(problems.first { $0.path == "areas[\(areas.count - 2)].code" })
            #expect(undotted.message.contains("36.73.07.1001"))
            #expect(problems.contains { $0.entry == "kk-baru" && $0.message.contains("cannot exceed the resolution target") })

            #expect(try await CatalogFixture.export(pool) == before)
        }
    }

    @Test func aDryRunReportsTheChangesAndChangesNothing() async throws {
        try await AdminTestEnvironment.withDatabase { pool in
            let before = try await CatalogFixture.export(pool)
            var file = try CatalogFixture.tree(before)
            var calendars = try #require(file["calendars"] as? [[String: Any]])
            var holidays = try #require(calendars[0]["holidays"] as? [[String: Any]])
            holidays.append(["date": "2027-03-10", "name": "Idul Fitri 1448 H", "kind": "national"])
            calendars[0]["holidays"] = holidays
            file["calendars"] = calendars
            var services = try #require(file["service_types"] as? [[String: Any]])
            let kk = try #require(services.firstIndex { $0["code"] as? String == "kk-baru" })
            services[kk]["resolution_target_minutes"] = 1800
            file["service_types"] = services
            let changed = try CatalogFixture.data(file)

            let dryRun = try await CatalogFixture.importing(changed, dryRun: true, into: pool)
            #expect(dryRun.dryRun)
            #expect(dryRun.holidays.created == 1)
            #expect(dryRun.calendars.updated == 1)
            #expect(dryRun.serviceTypes.updated == 1)
            #expect(dryRun.recomputeCalendars == ["serang-asn"])
            #expect(dryRun.recomputeServices == ["kk-baru"])
            #expect(try await CatalogFixture.export(pool) == before)

            let applied = try await CatalogFixture.importing(changed, into: pool)
            #expect(!applied.dryRun)
            #expect(applied.holidays == dryRun.holidays && applied.serviceTypes == dryRun.serviceTypes)
            let after = try CatalogFixture.tree(try await CatalogFixture.export(pool))
            let service = try #require((after["service_types"] as? [[String: Any]])?.first { $0["code"] as? String == "kk-baru" })
            #expect(service["resolution_target_minutes"] as? Int == 1800)

            // A dry run of an invalid file reports the problems like a real import.
            var broken = file
            broken["format"] = "loket-catalog/0"
            let problems = try await CatalogFixture.problems(try CatalogFixture.data(broken), dryRun: true, in: pool)
            #expect(problems.map(\.path) == ["format"])
        }
    }

    @Test func importUpsertsByNaturalKeyMovesTriageAndReparentsUnits() async throws {
        try await AdminTestEnvironment.withDatabase { pool in
            let patch: [String: Any] = [
                "format": "loket-catalog/1",
                "units": [
                    // A new parent listed after its child, and triage moved off MPP-FO.
                    ["code": "DINSOS-DATA", "name": "Seksi Data", "parent": "DINSOS-PUSDATIN", "kind": "section"],
                    ["code": "DINSOS-PUSDATIN", "name": "Pusat Data", "parent": "DINSOS", "kind": "division"],
                    ["code": "MPP-FO", "name": "Front Office Mal Pelayanan Publik Kota Serang", "parent": "DPMPTSP", "kind": "front_office"],
                    ["code": "FO-SETDA", "name": "Front office Setda", "parent": "SETDA", "kind": "front_office", "triage": true],
                ],
                "routing_rules": [
                    // Identified by (service, area, priority): the Kasemen rule now goes to the main office.
                    ["service": "ktp-el", "area": "36.73.02", "priority": 0, "unit": "DISDUKCAPIL-IDP", "note": "Pos Kasemen tutup"],
                    ["service": NSNull(), "area": "36.73.06", "unit": "MPP-FO"],
                ],
                "calendars": [
                    // Hours left out: kept. Holidays only added.
                    ["code": "serang-asn", "name": "Jam kerja ASN Pemerintah Kota Serang", "time_zone": "Asia/Jakarta", "day_minutes": 450,
                     "holidays": [["date": "2027-01-02", "name": "Cuti bersama", "kind": "joint_leave"]]],
                ],
            ]
            let summary = try await CatalogFixture.importing(try CatalogFixture.data(patch), into: pool)
            #expect(summary.units == .init(created: 2, updated: 2, unchanged: 0))
            #expect(summary.routingRules == .init(created: 1, updated: 1, unchanged: 0))
            #expect(summary.holidays == .init(created: 1, updated: 0, unchanged: 0))
            #expect(summary.calendars == .init(created: 0, updated: 1, unchanged: 0))

            let units = try await AdminStore(pool: pool).units().map(\.unit)
            #expect(units.first { $0.code == "DINSOS-DATA" }?.parentCode == "DINSOS-PUSDATIN")
            #expect(units.filter(\.isTriage).map(\.code) == ["FO-SETDA"])
            let rules = try await pool.query(
                """
                SELECT u.code FROM routing_rules r JOIN units u ON u.id = r.unit_id JOIN service_types s ON s.id = r.service_type_id
                WHERE s.code = 'ktp-el' AND r.area_code = '36.73.02'
                """)
            #expect(try rules.map { try $0.decode(String.self, "code") } == ["DISDUKCAPIL-IDP"])
            let intervals = try await pool.query("SELECT count(*) AS n FROM calendar_intervals").single().decode(Int.self, "n")
            #expect(intervals == 10)
        }
    }

    /// A service says it is public; one that says nothing is private: its requests' descriptions,
    /// addresses and closing messages stay out of the Open311 listings.
    @Test func aServiceIsPrivateUnlessItSaysItIsPublic() async throws {
        try await AdminTestEnvironment.withDatabase { pool in
            func service(_ code: String, _ extra: [String: Any] = [:]) -> [String: Any] {
                [
                    "code": code, "group": "umum", "name_id": "Layanan \(code)", "name_en": "Service \(code)",
                    "requirements": [["id": "KTP", "en": "Identity card"]], "response_target_minutes": 240,
                    "resolution_target_minutes": 450, "calendar": "serang-asn", "default_unit": "DISDUKCAPIL-IDP",
                ].merging(extra) { $1 }
            }
            let patch: [String: Any] = [
                "format": "loket-catalog/1",
                "service_types": [service("aduan-tanpa-kata"), service("aduan-jalan", ["is_public": true])],
            ]
            _ = try await CatalogFixture.importing(try CatalogFixture.data(patch), into: pool)
            let rows = try await pool.query(
                "SELECT code, is_public FROM service_types WHERE code IN ('aduan-tanpa-kata', 'aduan-jalan') ORDER BY code")
            #expect(try rows.map { "\(try $0.decode(String.self, "code")) \(try $0.decode(Bool.self, "is_public"))" }
                == ["aduan-jalan true", "aduan-tanpa-kata false"])
            // The column says the same to SQL that leaves it out.
            let sqlDefault = try await pool.query(
                "SELECT column_default FROM information_schema.columns WHERE table_name = 'service_types' AND column_name = 'is_public'"
            ).single().decode(String.self, "column_default")
            #expect(sqlDefault == "false")
        }
    }

    /// A unit with open requests or active officers is not deactivated by an import: they would
    /// be stranded in a queue nobody works. An empty one is.
    @Test func aUnitWithWorkLeftIsNotDeactivated() async throws {
        try await AdminTestEnvironment.withDatabase { pool in
            // A new section: nobody works in it yet and nothing waits in it.
            let idle = try await AdminStore(pool: pool).addUnit(
                code: "DINSOS-ARSIP", name: "Seksi Arsip", parentCode: "DINSOS", kind: .section, isTriage: false).code
            var file = try CatalogFixture.tree(try await CatalogFixture.export(pool))
            var units = try #require(file["units"] as? [[String: Any]])
            let busy = try #require(units.firstIndex { $0["code"] as? String == "DISDUKCAPIL-IDP" })
            units[busy]["active"] = false
            file["units"] = units
            let problems = try await CatalogFixture.problems(try CatalogFixture.data(file), in: pool)
            #expect(problems.map(\.path) == ["units[\(busy)].active"])
            #expect(problems.first?.message.contains("active officer") == true, "\(problems)")
            #expect(try await pool.query("SELECT active FROM units WHERE code = 'DISDUKCAPIL-IDP'").single().decode(Bool.self, "active"))

            // A unit nobody works in and nothing waits in may go.
            units = try #require(file["units"] as? [[String: Any]])
            units[busy]["active"] = true
            let index = try #require(units.firstIndex { $0["code"] as? String == idle })
            units[index]["active"] = false
            file["units"] = units
            _ = try await CatalogFixture.importing(try CatalogFixture.data(file), into: pool)
            #expect(try await pool.query("SELECT active FROM units WHERE code = $1", idle).single().decode(Bool.self, "active") == false)
        }
    }

    /// A value only PostgreSQL refuses (a NUL in a text, a date before its range) is reported as
    /// the import's refusal, nothing changed, not as a raw database error.
    @Test func aValueOnlyTheDatabaseRefusesIsAnImportRefusal() async throws {
        try await AdminTestEnvironment.withDatabase { pool in
            let exported = try CatalogFixture.tree(try await CatalogFixture.export(pool))
            var nul = exported
            var units = try #require(nul["units"] as? [[String: Any]])
            units[0]["name"] = "Sekretariat\u{0}Daerah"
            nul["units"] = units
            var ancient = exported
            var calendars = try #require(ancient["calendars"] as? [[String: Any]])
            var holidays = calendars[0]["holidays"] as? [[String: Any]] ?? []
            holidays.append(["date": "0000-01-01", "name": "Tahun nol", "kind": "national"])
            calendars[0]["holidays"] = holidays
            ancient["calendars"] = calendars
            for file in [nul, ancient] {
                await #expect(throws: CatalogImportError.self) {
                    _ = try await CatalogFixture.importing(try CatalogFixture.data(file), into: pool)
                }
            }
            #expect(try await pool.query("SELECT count(*) AS n FROM holidays WHERE day < '1900-01-01'").single().decode(Int.self, "n") == 0)
        }
    }

    @Test func aNewCalendarNeedsHoursAndAFileMustBeJSON() async throws {
        try await AdminTestEnvironment.withDatabase(seeded: false) { pool in
            let noHours: [String: Any] = [
                "format": "loket-catalog/1",
                "calendars": [["code": "wita", "name": "WITA", "time_zone": "Asia/Makassar", "day_minutes": 450]],
            ]
            let problems = try await CatalogFixture.problems(try CatalogFixture.data(noHours), in: pool)
            #expect(problems.map(\.path) == ["calendars[0].intervals"])

            let badZone: [String: Any] = [
                "format": "loket-catalog/1",
                "calendars": [["code": "wib", "name": "WIB", "time_zone": "WIB", "day_minutes": 450,
                               "intervals": [["weekday": 1, "start": "08:00", "end": "12:00"], ["weekday": 1, "start": "11:00", "end": "16:00"]]]],
            ]
            let zoneProblems = try await CatalogFixture.problems(try CatalogFixture.data(badZone), in: pool)
            #expect(zoneProblems.map(\.path) == ["calendars[0].time_zone"])

            let overlapping: [String: Any] = [
                "format": "loket-catalog/1",
                "calendars": [["code": "wib", "name": "WIB", "time_zone": "Asia/Jakarta", "day_minutes": 450,
                               "intervals": [["weekday": 1, "start": "08:00", "end": "12:00"], ["weekday": 1, "start": "11:00", "end": "16:00"]]]],
            ]
            let overlap = try await CatalogFixture.problems(try CatalogFixture.data(overlapping), in: pool)
            #expect(overlap.map(\.path) == ["calendars[0].intervals"])
            #expect(overlap.first?.message.contains("overlap") == true)

            let syntax = try await CatalogFixture.problems(Data("{\n  \"format\": \"loket-catalog/1\",\n  \"units\": [,]\n}".utf8), in: pool)
            #expect(syntax.count == 1)
            #expect(syntax.first?.message.contains("line 3") == true)
            #expect(try await pool.query("SELECT 1 FROM calendars").isEmpty)
        }
    }

    /// The catalog is read from one snapshot: a unit and a service moved to it, committed while
    /// the load was between its reads of units and of services, are both in the copy or neither.
    @Test func theCatalogIsLoadedFromOneSnapshot() async throws {
        try await AdminTestEnvironment.withDatabase { pool in
            // The load's second read (working hours) takes half a second on its connection: a
            // view ahead of the table in that connection's search_path.
            try await pool.query("CREATE SCHEMA slow")
            try await pool.query(
                "CREATE VIEW slow.calendar_intervals AS SELECT c.* FROM public.calendar_intervals c, pg_sleep(0.5)")
            let loading = Task {
                try await pool.withConnection { connection in
                    try await connection.query("SET search_path = slow, public")
                    let snapshot = try await CatalogStore.load(on: connection)
                    try await connection.query("RESET search_path")
                    return snapshot
                }
            }
            try await Task.sleep(for: .milliseconds(200))
            try await pool.transaction { connection in
                try await connection.query(
                    "INSERT INTO units (code, name, kind, parent_id) SELECT 'DISDUKCAPIL-NEW', 'Seksi baru', 'section', id FROM units WHERE code = 'DISDUKCAPIL'")
                try await connection.query(
                    "UPDATE service_types SET default_unit_id = (SELECT id FROM units WHERE code = 'DISDUKCAPIL-NEW') WHERE code = 'kk-baru'")
            }
            let snapshot = try await loading.value
            let service = try #require(snapshot.servicesByCode["kk-baru"])
            #expect(snapshot.units[service.defaultUnitID] != nil, "the services were read after a unit the units read had not seen")
            #expect(snapshot.unit(code: "DISDUKCAPIL-NEW") == nil, "the load did not start before the change")
        }
    }

    /// The changes an import makes are dated when it is about to commit, not when it began: an
    /// import that waited for another one holds the lock after its own start, and recompute-sla
    /// measures its wait from these dates.
    @Test func anImportDatesItsChangesAtTheEndNotTheStart() async throws {
        try await AdminTestEnvironment.withDatabase { pool in
            var file = try CatalogFixture.tree(try await CatalogFixture.export(pool))
            var services = try #require(file["service_types"] as? [[String: Any]])
            let kk = try #require(services.firstIndex { $0["code"] as? String == "kk-baru" })
            services[kk]["resolution_target_minutes"] = 1800
            file["service_types"] = services
            let changed = try CatalogFixture.data(file)
            // Another import holds the lock (the key CatalogTransfer takes, "loketcat") until this one
            // has waited for it a second.
            let started = try await pool.query("SELECT clock_timestamp() AS t").single().decode(Date.self, "t")
            let importing = try await pool.withConnection { holder in
                try await holder.transaction { holder in
                    try await holder.query("SELECT pg_advisory_xact_lock($1)", Int64(0x6C6F_6B65_7463_6174))
                    let importing = Task { try await CatalogFixture.importing(changed, into: pool) }
                    for _ in 0..<1500 {
                        let waiting = try await holder.query(
                            "SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
                        ).single().decode(Int.self, "n")
                        if waiting > 0 { break }
                        try await Task.sleep(for: .milliseconds(20))
                    }
                    try await Task.sleep(for: .seconds(1))
                    return importing
                }
            }
            _ = try await importing.value
            let dated = try await pool.query("SELECT updated_at FROM service_types WHERE code = 'kk-baru'").single().decode(Date.self, "updated_at")
            #expect(dated.timeIntervalSince(started) >= 0.9, "dated \(dated), the import started at \(started)")
        }
    }
}
