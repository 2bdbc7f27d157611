import Crypto
import Foundation
import LoketCore
import LoketStore
import Postgres
import Testing

@Suite("Admin: units, staff, tokens, partner keys")
struct AccountTests {
    /// Born 15 March 1992, appointed December 2020, male, serial 003; not in the sample data.
    static let newNIP = "199203152020121003"

    // MARK: Units

    @Test func aUnitIsAddedUnderItsParentAndListedInTreeOrder() async throws {
        try await AdminTestEnvironment.withDatabase { pool in
            let store = AdminStore(pool: pool)
            let unit = try await store.addUnit(
                code: "DISDUKCAPIL-PIAK", name: "Seksi Pengelolaan Informasi", parentCode: "DISDUKCAPIL", kind: .section, isTriage: false)
            #expect(unit.parentCode == "DISDUKCAPIL")
            let units = try await store.units()
            let index = try #require(units.firstIndex { $0.unit.code == "DISDUKCAPIL-PIAK" })
            let parentIndex = try #require(units.firstIndex { $0.unit.code == "DISDUKCAPIL" })
            #expect(parentIndex < index)
            #expect(units[index].depth == units[parentIndex].depth + 1)
            #expect(units.first?.unit.code == "SETDA")
            #expect(units.contains { $0.unit.code == "MPP-FO" && $0.unit.isTriage })
        }
    }

    @Test func aUnitIsRefusedWithWhatToDo() async throws {
        try await AdminTestEnvironment.withDatabase { pool in
            let store = AdminStore(pool: pool)
            await #expect(throws: AdminError.unitExists(code: "DINSOS", name: "Dinas Sosial")) {
                try await store.addUnit(code: "DINSOS", name: "Dinas Sosial Baru", parentCode: "SETDA", kind: .agency, isTriage: false)
            }
            await #expect(throws: AdminError.unknownUnit("NOPE")) {
                try await store.addUnit(code: "DINSOS-X", name: "X", parentCode: "NOPE", kind: .section, isTriage: false)
            }
            await #expect(throws: AdminError.invalidUnitCode("dinsos-x")) {
                try await store.addUnit(code: "dinsos-x", name: "X", parentCode: "DINSOS", kind: .section, isTriage: false)
            }
            await #expect(throws: AdminError.triageTaken(existing: "MPP-FO")) {
                try await store.addUnit(code: "FO-2", name: "Front office 2", parentCode: "DPMPTSP", kind: .frontOffice, isTriage: true)
            }
            await #expect(throws: AdminError.triageNeedsFrontOffice) {
                try await store.addUnit(code: "FO-3", name: "Front office 3", parentCode: "DPMPTSP", kind: .section, isTriage: true)
            }
            await #expect(throws: AdminError.blankName) {
                try await store.addUnit(code: "FO-4", name: "  ", parentCode: "DPMPTSP", kind: .section, isTriage: false)
            }
            let message = AdminError.triageTaken(existing: "MPP-FO").message(.english)
            #expect(message.contains("catalog import"))
        }
    }

    // MARK: Staff

    @Test func anOfficerIsRegisteredListedAndGivenAnotherRole() async throws {
        try await AdminTestEnvironment.withDatabase { pool in
            let store = AdminStore(pool: pool)
            let added = try await store.addStaff(
                nip: "19920315 202012 1 003", name: "Andi Wijaya, S.Kom.", unitCode: "DISDUKCAPIL-IDP", role: .staff,
                email: "andi.wijaya@serangkota.example")
            #expect(added.nip == Self.newNIP)
            let agency = try await store.staff(unitCode: "DISDUKCAPIL")
            #expect(agency.contains { $0.nip == Self.newNIP && $0.unitCode == "DISDUKCAPIL-IDP" })
            #expect(!agency.contains { $0.unitCode == "DINSOS" })
            #expect(try await store.staff(unitCode: nil).count > agency.count)
            let (before, after) = try await store.setRole(nip: Self.newNIP, role: .supervisor)
            #expect(before == "staff")
            #expect(after.role == "supervisor")
            await #expect(throws: AdminError.unknownUnit("NOPE")) { try await store.staff(unitCode: "NOPE") }
            // An escape sequence in a name or label would reach every terminal that lists it.
            await #expect(throws: AdminError.controlCharacters(field: "name")) {
                try await store.addStaff(nip: "199203152020121004", name: "Budi\u{1B}[2J", unitCode: "DISDUKCAPIL-IDP", role: .staff, email: nil)
            }
            await #expect(throws: AdminError.controlCharacters(field: "label")) {
                try await store.issueToken(nip: Self.newNIP, label: "laptop\u{1B}]0;x\u{07}", expiresAt: nil)
            }
            await #expect(throws: AdminError.controlCharacters(field: "name")) {
                try await store.addUnit(code: "DISDUKCAPIL-X", name: "Seksi\nBaru", parentCode: "DISDUKCAPIL", kind: .section, isTriage: false)
            }
        }
    }

    @Test(arguments: [
        ("19920315202012100", NIPError.wrongLength(17)),
        ("199203152020123003", NIPError.invalidSexDigit("3")),
        ("199203152008011003", NIPError.appointmentBeforeAge18(year: 2008, month: 1)),
        ("199202302020121003", NIPError.invalidBirthDate("19920230")),
        ("19920315202012100x", NIPError.nonDigit(position: 18, character: "x")),
    ])
    func aBadNIPIsRefusedWithItsReason(nip: String, reason: NIPError) async throws {
        try await AdminTestEnvironment.withDatabase { pool in
            let store = AdminStore(pool: pool)
            await #expect(throws: AdminError.invalidNIP(nip, reason)) {
                try await store.addStaff(nip: nip, name: "Andi", unitCode: "DISDUKCAPIL-IDP", role: .staff, email: nil)
            }
            let rows = try await pool.query("SELECT 1 FROM staff WHERE name = 'Andi'")
            #expect(rows.isEmpty)
        }
    }

    @Test func aDuplicateNIPIsRefusedNamingTheRegisteredOfficer() async throws {
        try await AdminTestEnvironment.withDatabase { pool in
            let store = AdminStore(pool: pool)
            let error = AdminError.staffExists(nip: "199001142015032002", name: "Nurul Hidayah, S.E.", unit: "DISDUKCAPIL-IDP")
            await #expect(throws: error) {
                try await store.addStaff(nip: "199001142015032002", name: "Someone Else", unitCode: "DINSOS", role: .staff, email: nil)
            }
            #expect(error.message(.english).contains("already registered to Nurul Hidayah, S.E."))
            #expect(error.message(.indonesian).contains("sudah terdaftar"))
            await #expect(throws: AdminError.invalidEmail("andi@", .emptyDomain)) {
                try await store.addStaff(nip: Self.newNIP, name: "Andi", unitCode: "DINSOS", role: .staff, email: "andi@")
            }
            await #expect(throws: AdminError.unknownUnit("NOPE")) {
                try await store.addStaff(nip: Self.newNIP, name: "Andi", unitCode: "NOPE", role: .staff, email: nil)
            }
        }
    }

    // MARK: Tokens

    @Test func aTokenIsStoredAsItsHashListedByPrefixAndStopsWorkingWhenRevoked() async throws {
        try await AdminTestEnvironment.withDatabase { pool in
            let store = AdminStore(pool: pool)
            let tokens = StaffTokenStore(pool: pool)
            let now = Date()
            let (issued, staff) = try await store.issueToken(
                nip: "199001142015032002", label: "laptop", expiresAt: now.addingTimeInterval(90 * 86_400), now: now)
            #expect(staff.name == "Nurul Hidayah, S.E.")
            #expect(issued.token.hasPrefix(StaffTokenStore.tokenPrefix))

            // The hash is stored; the token is nowhere in the row.
            let row = try await pool.query("SELECT token_hash, token_prefix FROM api_tokens WHERE id = $1", issued.id).single()
            #expect(try row.decode(Data.self, "token_hash") == Data(SHA256.hash(data: Data(issued.token.utf8))))
            #expect(try row.decode(String.self, "token_prefix") == String(issued.token.prefix(8)))
            let leaks = try await pool.query("SELECT count(*) AS n FROM api_tokens t WHERE strpos(t::text, $1) > 0", issued.token)
            #expect(try leaks.single().decode(Int.self, "n") == 0)

            guard case .success(let account) = try await tokens.authenticate(issued.token, now: now) else {
                Issue.record("a fresh token must authenticate")
                return
            }
            #expect(account.nip == "199001142015032002")

            let listed = try #require(try await store.tokens(nip: "199001142015032002").first { $0.id == issued.id })
            #expect(listed.prefix == String(issued.token.prefix(8)))
            #expect(listed.label == "laptop")
            #expect(listed.state(now: now) == "active")
            #expect(listed.lastUsedAt != nil)
            #expect(try await store.tokens(nip: nil).contains { $0.id == issued.id })

            try await store.revokeToken(id: issued.id, now: now)
            #expect(try await tokens.authenticate(issued.token, now: now) == .failure(.revoked))
            #expect(try await store.tokens(nip: nil).first { $0.id == issued.id }?.state(now: now) == "revoked")
            await #expect(throws: AdminError.self) { try await store.revokeToken(id: issued.id) }
            await #expect(throws: AdminError.unknownToken(id: 999_999)) { try await store.revokeToken(id: 999_999) }
            await #expect(throws: AdminError.unknownStaff(nip: Self.newNIP)) { try await store.tokens(nip: Self.newNIP) }
        }
    }

    @Test func deactivatingAnOfficerRevokesTheirTokensAndRefusesNewOnes() async throws {
        try await AdminTestEnvironment.withDatabase { pool in
            let store = AdminStore(pool: pool)
            let tokens = StaffTokenStore(pool: pool)
            let first = try await store.issueToken(nip: "199001142015032002", label: nil, expiresAt: nil).issued
            let second = try await store.issueToken(nip: "199001142015032002", label: "phone", expiresAt: nil).issued
            let result = try await store.deactivate(nip: "199001142015032002")
            #expect(result.changed)
            #expect(result.revokedTokens == 2)
            #expect(result.heldRequests.isEmpty)
            #expect(!result.staff.active)
            #expect(try await tokens.authenticate(first.token) == .failure(.revoked))
            #expect(try await tokens.authenticate(second.token) == .failure(.revoked))
            await #expect(throws: AdminError.staffInactive(nip: "199001142015032002")) {
                try await store.issueToken(nip: "199001142015032002", label: nil, expiresAt: nil)
            }
            let again = try await store.deactivate(nip: "199001142015032002")
            #expect(!again.changed)
            #expect(again.revokedTokens == 0)
            await #expect(throws: AdminError.unknownStaff(nip: Self.newNIP)) { try await store.deactivate(nip: Self.newNIP) }

            // Reactivation does not bring the old tokens back.
            let (changed, active) = try await store.activate(nip: "199001142015032002")
            #expect(changed && active.active)
            #expect(try await tokens.authenticate(first.token) == .failure(.revoked))
            let fresh = try await store.issueToken(nip: "199001142015032002", label: nil, expiresAt: nil).issued
            guard case .success = try await tokens.authenticate(fresh.token) else {
                Issue.record("a token issued after reactivation must authenticate")
                return
            }
            #expect(try await store.activate(nip: "199001142015032002").changed == false)
        }
    }

    /// A NIP written with spaces between its groups names the officer in every command, as it
    /// does in `staff add`.
    @Test func aSpacedNIPWorksInEveryCommand() async throws {
        try await AdminTestEnvironment.withDatabase { pool in
            let store = AdminStore(pool: pool)
            let spaced = "19900114 201503 2 002"
            #expect(try await store.staff(nip: spaced).nip == "199001142015032002")
            let issued = try await store.issueToken(nip: spaced, label: nil, expiresAt: nil)
            #expect(issued.staff.nip == "199001142015032002")
            #expect(try await store.tokens(nip: spaced).count >= 1)
            #expect(try await store.setRole(nip: spaced, role: .supervisor).after.role == "supervisor")
            #expect(try await store.deactivate(nip: spaced).changed)
            #expect(try await store.activate(nip: spaced).changed)
        }
    }

    /// A token issued while the officer is being deactivated is not issued: the check and the
    /// insert are one statement that waits for the deactivation (which revokes every token) to
    /// commit, and then finds the officer inactive.
    @Test func noTokenSlipsPastADeactivationInProgress() async throws {
        try await AdminTestEnvironment.withDatabase { pool in
            let staff = try await AdminStore(pool: pool).staff(nip: "199001142015032002")
            let tokens = StaffTokenStore(pool: pool)
            try await pool.withConnection { deactivating in
                try await deactivating.executeScript("BEGIN")
                try await deactivating.query("UPDATE staff SET active = false WHERE id = $1", staff.id)
                let issuing = Task { try await tokens.issue(staffID: staff.id, label: nil, expiresAt: nil) }
                try await Task.sleep(for: .milliseconds(300))
                try await deactivating.executeScript("COMMIT")
                await #expect(throws: StaffTokenStore.InactiveStaff.self) { _ = try await issuing.value }
            }
            #expect(try await pool.query("SELECT count(*) AS n FROM api_tokens WHERE staff_id = $1", staff.id).single().decode(Int.self, "n") == 0)
        }
    }

    // MARK: Partner keys

    @Test func aPartnerKeyAuthenticatesUntilRevoked() async throws {
        try await AdminTestEnvironment.withDatabase { pool in
            let store = AdminStore(pool: pool)
            let keys = PartnerKeyStore(pool: pool)
            let issued = try await store.issuePartnerKey(name: "Aplikasi Lapor Serang", contactEmail: "tim@lapor.example")
            let hash = try await pool.query("SELECT key_hash FROM partner_api_keys WHERE id = $1", issued.id).single()
            #expect(try hash.decode(Data.self, "key_hash") == Data(SHA256.hash(data: Data(issued.key.utf8))))
            let leaks = try await pool.query("SELECT count(*) AS n FROM partner_api_keys k WHERE strpos(k::text, $1) > 0", issued.key)
            #expect(try leaks.single().decode(Int.self, "n") == 0)
            #expect(try await keys.authenticate(key: issued.key) == issued.id)

            let listed = try #require(try await store.partnerKeys().first { $0.id == issued.id })
            #expect(listed.prefix == String(issued.key.prefix(8)))
            #expect(listed.contactEmail == "tim@lapor.example")
            #expect(listed.lastUsedAt != nil)

            try await store.revokePartnerKey(id: issued.id)
            #expect(try await keys.authenticate(key: issued.key) == nil)
            await #expect(throws: AdminError.self) { try await store.revokePartnerKey(id: issued.id) }
            await #expect(throws: AdminError.unknownPartnerKey(id: 424_242)) { try await store.revokePartnerKey(id: 424_242) }
            await #expect(throws: AdminError.blankName) { try await store.issuePartnerKey(name: " ", contactEmail: nil) }
        }
    }

    /// Reorganisations move officers: to an active unit only, and not while they hold requests
    /// they could no longer act on from there. Nobody is added to, or reactivated in, a unit whose
    /// queue nobody works.
    @Test func anOfficerMovesOnlyToAnActiveUnitAndWithNothingInHand() async throws {
        try await AdminTestEnvironment.withDatabase { pool in
            let store = AdminStore(pool: pool)
            let added = try await store.addStaff(
                nip: Self.newNIP, name: "Andi Wijaya, S.Kom.", unitCode: "DISDUKCAPIL-IDP", role: .staff, email: nil)
            let (from, moved) = try await store.move(nip: Self.newNIP, toUnit: "DISDUKCAPIL-PDP")
            #expect(from == "DISDUKCAPIL-IDP")
            #expect(moved.unitCode == "DISDUKCAPIL-PDP")
            await #expect(throws: AdminError.unknownUnit("NOPE")) { try await store.move(nip: Self.newNIP, toUnit: "NOPE") }

            try await pool.query("UPDATE units SET active = false WHERE code = 'DINSOS-LINJAMSOS'")
            await #expect(throws: AdminError.unitInactive("DINSOS-LINJAMSOS")) {
                try await store.move(nip: Self.newNIP, toUnit: "DINSOS-LINJAMSOS")
            }
            await #expect(throws: AdminError.unitInactive("DINSOS-LINJAMSOS")) {
                try await store.addStaff(nip: "199203152020121004", name: "Budi", unitCode: "DINSOS-LINJAMSOS", role: .staff, email: nil)
            }

            // Holding a request in progress: refused, naming it.
            try await pool.query(
                """
                INSERT INTO service_requests (
                    tracking_code, service_type_id, unit_id, status, assignee_id, lease_expires_at, first_claimed_at,
                    citizen_name, citizen_nik, citizen_phone, area_code, description, access_token_hash, source, routing_reason,
                    response_due_at, resolution_due_at)
                SELECT 'SRG-AAAA-BBBB', st.id, u.id, 'in_progress', $1, now() + interval '1 hour', now(),
                       'Siti Aminah', '3673014501900001', '+6281234567890', '36.73.01', 'KK', sha256('t'::bytea), 'web', 'default unit',
                       now() + interval '1 day', now() + interval '3 days'
                FROM service_types st, units u WHERE st.code = 'kk-baru' AND u.code = 'DISDUKCAPIL-PDP'
                """, added.id)
            await #expect(throws: AdminError.staffHoldsRequests(nip: Self.newNIP, codes: ["SRG-AAAA-BBBB"])) {
                try await store.move(nip: Self.newNIP, toUnit: "DISDUKCAPIL-IDP")
            }
            // Where the request stays within reach, a move is no harm: to the same unit (nothing
            // changes) and up to the parent, whose subtree holds it.
            #expect(try await store.move(nip: Self.newNIP, toUnit: "DISDUKCAPIL-PDP").after.unitCode == "DISDUKCAPIL-PDP")
            let parent = try await pool.query(
                "SELECT p.code FROM units u JOIN units p ON p.id = u.parent_id WHERE u.code = 'DISDUKCAPIL-PDP'").single().decode(String.self, "code")
            #expect(try await store.move(nip: Self.newNIP, toUnit: parent).after.unitCode == parent)
            // A deactivation names what the officer still holds, for a supervisor to reassign.
            let leaving = try await store.deactivate(nip: Self.newNIP)
            #expect(leaving.heldRequests == ["SRG-AAAA-BBBB"])
            _ = try await store.activate(nip: Self.newNIP)
            // And back down to the unit the request is in.
            #expect(try await store.move(nip: Self.newNIP, toUnit: "DISDUKCAPIL-PDP").after.unitCode == "DISDUKCAPIL-PDP")

            // Reactivation into a unit that has since gone inactive is refused too.
            try await pool.query("UPDATE service_requests SET status = 'queued', assignee_id = NULL, lease_expires_at = NULL")
            _ = try await store.deactivate(nip: Self.newNIP)
            try await pool.query("UPDATE units SET active = false WHERE code = 'DISDUKCAPIL-PDP'")
            await #expect(throws: AdminError.unitInactive("DISDUKCAPIL-PDP")) { try await store.activate(nip: Self.newNIP) }
        }
    }

    /// A partner key's use is written at most once a minute, not at every call.
    @Test func aPartnerKeysUseIsRecordedAtMostOnceAMinute() async throws {
        try await AdminTestEnvironment.withDatabase { pool in
            let issued = try await AdminStore(pool: pool).issuePartnerKey(name: "Aplikasi Lapor Serang", contactEmail: nil)
            let keys = PartnerKeyStore(pool: pool)
            let start = Date(timeIntervalSince1970: 1_796_000_000)
            func lastUsed() async throws -> Date? {
                try await pool.query("SELECT last_used_at FROM partner_api_keys WHERE id = $1", issued.id).single().decode(Date?.self, "last_used_at")
            }
            #expect(try await keys.authenticate(key: issued.key, now: start) == issued.id)
            #expect(try await lastUsed() == start)
            #expect(try await keys.authenticate(key: issued.key, now: start.addingTimeInterval(30)) == issued.id)
            #expect(try await lastUsed() == start)
            #expect(try await keys.authenticate(key: issued.key, now: start.addingTimeInterval(61)) == issued.id)
            #expect(try await lastUsed() == start.addingTimeInterval(61))
        }
    }
}
