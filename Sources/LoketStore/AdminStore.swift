import Foundation
import LoketCore
import Postgres

/// Why an administrative change was refused. Each case says what to do next, in Indonesian and
/// English, because the person reading it runs `loketd admin` at a terminal.
public enum AdminError: UserFacingError, Equatable {
    case invalidNIP(String, NIPError)
    case invalidEmail(String, EmailAddressError)
    case invalidUnitCode(String)
    case blankName
    /// A name or label with a control character (an escape sequence would reach the terminals of
    /// everyone who lists it, as the API refuses for free text).
    case controlCharacters(field: String)
    case unitExists(code: String, name: String)
    case unknownUnit(String)
    case triageTaken(existing: String)
    case triageNeedsFrontOffice
    case staffExists(nip: String, name: String, unit: String)
    case unknownStaff(nip: String)
    case staffInactive(nip: String)
    case unknownToken(id: Int64)
    case tokenAlreadyRevoked(id: Int64, at: Date)
    case unknownPartnerKey(id: Int64)
    case partnerKeyAlreadyRevoked(id: Int64, at: Date)
    /// Officers work only in active units (an inactive unit's queue is not worked).
    case unitInactive(String)
    /// An officer who still holds open requests would hold them outside their reach after a move.
    case staffHoldsRequests(nip: String, codes: [String])

    public var code: String {
        switch self {
        case .invalidNIP(_, let error): error.code
        case .invalidEmail(_, let error): error.code
        case .invalidUnitCode: "admin_invalid_unit_code"
        case .blankName: "admin_blank_name"
        case .controlCharacters: "admin_control_characters"
        case .unitExists: "admin_unit_exists"
        case .unknownUnit: "admin_unknown_unit"
        case .triageTaken: "admin_triage_taken"
        case .triageNeedsFrontOffice: "admin_triage_needs_front_office"
        case .staffExists: "admin_staff_exists"
        case .unknownStaff: "admin_unknown_staff"
        case .staffInactive: "admin_staff_inactive"
        case .unknownToken: "admin_unknown_token"
        case .tokenAlreadyRevoked: "admin_token_already_revoked"
        case .unknownPartnerKey: "admin_unknown_partner_key"
        case .partnerKeyAlreadyRevoked: "admin_partner_key_already_revoked"
        case .unitInactive: "admin_unit_inactive"
        case .staffHoldsRequests: "admin_staff_holds_requests"
        }
    }

    public func message(_ language: Language) -> String {
        let english = language == .english
        switch self {
        case .invalidNIP(let text, let error):
            return english ? "NIP \"\(text)\" refused: \(error.message(.english))" : "NIP \"\(text)\" ditolak: \(error.message(.indonesian))"
        case .invalidEmail(let text, let error):
            return english ? "E-mail \"\(text)\" refused: \(error.message(.english))" : "E-mail \"\(text)\" ditolak: \(error.message(.indonesian))"
        case .invalidUnitCode(let code):
            return english
                ? "Unit code \"\(code)\" is invalid: use uppercase letters and digits in parts joined by single dashes, at most 40 characters (e.g. DISDUKCAPIL-IDP)."
                : "Kode unit \"\(code)\" tidak valid: gunakan huruf kapital dan angka, bagian dipisah satu tanda hubung, paling banyak 40 karakter (mis. DISDUKCAPIL-IDP)."
        case .blankName:
            return english ? "The name cannot be blank." : "Nama tidak boleh kosong."
        case .controlCharacters(let field):
            return english
                ? "The \(field) contains a control character (an escape sequence, a NUL, …); type it again without."
                : "Isian \(field) berisi karakter kendali (escape, NUL, …); ketik ulang tanpa karakter itu."
        case .unitExists(let code, let name):
            return english
                ? "Unit \(code) already exists (\(name)). Choose another code, or change it with `loketd admin catalog import`."
                : "Unit \(code) sudah ada (\(name)). Pilih kode lain, atau ubah unit itu dengan `loketd admin catalog import`."
        case .unknownUnit(let code):
            return english
                ? "There is no unit \(code). See the codes with `loketd admin unit list`."
                : "Unit \(code) tidak ada. Lihat daftar kode dengan `loketd admin unit list`."
        case .triageTaken(let existing):
            return english
                ? "Unit \(existing) is already the triage unit and there can be only one. Move triage with `loketd admin catalog import` (set \"triage\": false on \(existing))."
                : "Unit \(existing) sudah menjadi unit triase dan hanya boleh ada satu. Pindahkan triase dengan `loketd admin catalog import` (setel \"triage\": false pada \(existing))."
        case .triageNeedsFrontOffice:
            return english
                ? "Only a front_office unit can be the triage unit: add it with --kind front_office."
                : "Hanya unit front_office yang dapat menjadi unit triase: tambahkan dengan --kind front_office."
        case .staffExists(let nip, let name, let unit):
            return english
                ? "NIP \(nip) is already registered to \(name) (unit \(unit)). To change the role use `loketd admin staff set-role`."
                : "NIP \(nip) sudah terdaftar atas nama \(name) (unit \(unit)). Untuk mengubah peran gunakan `loketd admin staff set-role`."
        case .unknownStaff(let nip):
            return english
                ? "No officer has NIP \(nip). Check it with `loketd admin staff list`."
                : "Tidak ada pegawai dengan NIP \(nip). Periksa dengan `loketd admin staff list`."
        case .staffInactive(let nip):
            return english
                ? "The officer with NIP \(nip) is deactivated; tokens are issued to active officers only."
                : "Pegawai dengan NIP \(nip) sudah dinonaktifkan; token hanya diterbitkan untuk pegawai aktif."
        case .unknownToken(let id):
            return english
                ? "There is no token with id \(id). See the ids with `loketd admin token list`."
                : "Tidak ada token dengan id \(id). Lihat id token dengan `loketd admin token list`."
        case .tokenAlreadyRevoked(let id, let at):
            return english
                ? "Token \(id) was already revoked at \(AdminStore.format(at)); nothing changed."
                : "Token \(id) sudah dicabut pada \(AdminStore.format(at)); tidak ada yang berubah."
        case .unknownPartnerKey(let id):
            return english
                ? "There is no partner key with id \(id). See the ids with `loketd admin partner list`."
                : "Tidak ada kunci mitra dengan id \(id). Lihat id dengan `loketd admin partner list`."
        case .partnerKeyAlreadyRevoked(let id, let at):
            return english
                ? "Partner key \(id) was already revoked at \(AdminStore.format(at)); nothing changed."
                : "Kunci mitra \(id) sudah dicabut pada \(AdminStore.format(at)); tidak ada yang berubah."
        case .unitInactive(let code):
            return english
                ? "Unit \(code) is inactive: no one works its queue. Choose an active unit, or reactivate it with `loketd admin catalog import`."
                : "Unit \(code) tidak aktif: antreannya tidak dikerjakan. Pilih unit yang aktif, atau aktifkan kembali dengan `loketd admin catalog import`."
        case .staffHoldsRequests(let nip, let codes):
            let list = codes.prefix(10).joined(separator: ", ") + (codes.count > 10 ? ", …" : "")
            return english
                ? "The officer with NIP \(nip) still holds \(codes.count) open request(s) (\(list)): they release them (`loket release`) or a supervisor assigns them to someone else first."
                : "Pegawai dengan NIP \(nip) masih memegang \(codes.count) permohonan terbuka (\(list)): lepaskan dulu (`loket release`) atau minta supervisor menugaskannya ke petugas lain."
        }
    }
}

/// Accounts and credentials as an administrator manages them: units, officers and their roles,
/// personal API tokens and Open311 partner keys. The catalog (calendars, services, routing) is
/// changed through ``CatalogTransfer`` instead, so that it is validated as a whole.
public struct AdminStore: Sendable {
    public let pool: ConnectionPool

    public init(pool: ConnectionPool) {
        self.pool = pool
    }

    /// The kinds of the organisation tree (units_kind_check).
    public enum UnitKind: String, Sendable, CaseIterable {
        case agency
        case division
        case section
        case frontOffice = "front_office"
    }

    public struct UnitRecord: Sendable, Hashable {
        public var id: UnitID
        public var code: String
        public var name: String
        public var parentCode: String?
        public var kind: String
        public var isTriage: Bool
        public var active: Bool
        /// Active officers placed directly in the unit.
        public var activeStaff: Int
    }

    public struct StaffRecord: Sendable, Hashable {
        public var id: StaffID
        public var nip: String
        public var name: String
        public var email: String?
        public var unitCode: String
        public var role: String
        public var active: Bool
        /// Tokens that are neither revoked nor expired.
        public var liveTokens: Int
    }

    public struct TokenRecord: Sendable, Hashable {
        public var id: Int64
        public var nip: String
        public var staffName: String
        public var prefix: String
        public var label: String?
        public var createdAt: Date
        public var expiresAt: Date?
        public var revokedAt: Date?
        public var lastUsedAt: Date?

        /// revoked, expired or active, as of `now`.
        public func state(now: Date) -> String {
            if revokedAt != nil { return "revoked" }
            if let expiresAt, expiresAt <= now { return "expired" }
            return "active"
        }
    }

    public struct PartnerKeyRecord: Sendable, Hashable {
        public var id: PartnerID
        public var name: String
        public var contactEmail: String?
        public var prefix: String
        public var createdAt: Date
        public var revokedAt: Date?
        public var lastUsedAt: Date?
    }

    /// The result of deactivating an officer.
    public struct Deactivation: Sendable, Hashable {
        public var staff: StaffRecord
        /// False when the account was already inactive (nothing changed).
        public var changed: Bool
        public var revokedTokens: Int
        /// The tracking codes of the requests the officer still holds (in progress or waiting for
        /// the citizen), oldest first: a request waiting for the citizen has no lease to lapse, and
        /// no list shows a supervisor what someone else holds, so these codes are how it is found.
        public var heldRequests: [String]
    }

    /// Civil servants' dates are judged in the government's zone, whatever the server's zone is.
    public static let timeZone = TimeZone(identifier: "Asia/Jakarta") ?? .gmt

    /// `2026-05-04 14:03+07:00`: minute precision with the offset, for listings and messages.
    public static func format(_ date: Date) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        let parts = calendar.dateComponents([.year, .month, .day, .hour, .minute], from: date)
        let offset = timeZone.secondsFromGMT(for: date) / 60
        let local = String(
            format: "%04d-%02d-%02d %02d:%02d", parts.year ?? 0, parts.month ?? 0, parts.day ?? 0, parts.hour ?? 0, parts.minute ?? 0)
        return local + (offset < 0 ? "-" : "+") + String(format: "%02d:%02d", abs(offset) / 60, abs(offset) % 60)
    }

    /// Today's date in Asia/Jakarta, for the NIP's "not in the future" checks.
    public static func today(now: Date = Date()) -> LocalDate {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        let parts = calendar.dateComponents([.year, .month, .day], from: now)
        // The components of a real instant always form a valid date.
        return (try? LocalDate(year: parts.year ?? 1970, month: parts.month ?? 1, day: parts.day ?? 1))
            ?? LocalDate(daysSinceEpoch: 0)
    }

    /// Whether `code` satisfies units_code_format: `^[A-Z][A-Z0-9]*(-[A-Z0-9]+)*$`, at most 40.
    public static func isValidUnitCode(_ code: String) -> Bool {
        guard code.count <= 40, let first = code.first, first.isASCII, first.isUppercase else { return false }
        return code.split(separator: "-", omittingEmptySubsequences: false).allSatisfy { part in
            !part.isEmpty && part.allSatisfy { $0.isASCII && ($0.isUppercase || $0.isNumber) }
        }
    }

    // MARK: Units

    /// Adds a unit under `parentCode` (nil: a top of the tree).
    public func addUnit(code: String, name: String, parentCode: String?, kind: UnitKind, isTriage: Bool) async throws -> UnitRecord {
        guard Self.isValidUnitCode(code) else { throw AdminError.invalidUnitCode(code) }
        let name = try Self.checkedName(name)
        if isTriage && kind != .frontOffice { throw AdminError.triageNeedsFrontOffice }
        return try await pool.transaction { connection in
            var parentID: UnitID?
            if let parentCode {
                guard let row = try await connection.query("SELECT id FROM units WHERE code = $1", parentCode).first else {
                    throw AdminError.unknownUnit(parentCode)
                }
                parentID = try row.decode(Int64.self, "id")
            }
            if isTriage, let row = try await connection.query("SELECT code FROM units WHERE is_triage").first {
                throw AdminError.triageTaken(existing: try row.decode(String.self, "code"))
            }
            let inserted = try await connection.query(
                """
                INSERT INTO units (code, name, parent_id, kind, is_triage) VALUES ($1, $2, $3, $4, $5)
                ON CONFLICT (code) DO NOTHING RETURNING id
                """, code, name, parentID, kind.rawValue, isTriage)
            guard let row = inserted.first else {
                let existing = try await connection.query("SELECT name FROM units WHERE code = $1", code).single()
                throw AdminError.unitExists(code: code, name: try existing.decode(String.self, "name"))
            }
            return UnitRecord(
                id: try row.decode(Int64.self, "id"), code: code, name: name, parentCode: parentCode, kind: kind.rawValue,
                isTriage: isTriage, active: true, activeStaff: 0)
        }
    }

    /// Every unit, parents before children (depth-first, siblings by code), with its depth.
    public func units() async throws -> [(unit: UnitRecord, depth: Int)] {
        let rows = try await pool.query(
            """
            SELECT u.id, u.code, u.name, p.code AS parent_code, u.kind, u.is_triage, u.active,
                   (SELECT count(*) FROM staff s WHERE s.unit_id = u.id AND s.active) AS active_staff
            FROM units u LEFT JOIN units p ON p.id = u.parent_id
            ORDER BY u.code
            """)
        let units = try rows.map { row in
            UnitRecord(
                id: try row.decode(Int64.self, "id"), code: try row.decode(String.self, "code"),
                name: try row.decode(String.self, "name"), parentCode: try row.decode(String?.self, "parent_code"),
                kind: try row.decode(String.self, "kind"), isTriage: try row.decode(Bool.self, "is_triage"),
                active: try row.decode(Bool.self, "active"), activeStaff: try row.decode(Int.self, "active_staff"))
        }
        var children: [String: [UnitRecord]] = [:]
        var roots: [UnitRecord] = []
        for unit in units {
            if let parent = unit.parentCode { children[parent, default: []].append(unit) } else { roots.append(unit) }
        }
        var ordered: [(unit: UnitRecord, depth: Int)] = []
        var stack = roots.reversed().map { ($0, 0) }
        while let (unit, depth) = stack.popLast() {
            ordered.append((unit, depth))
            stack.append(contentsOf: (children[unit.code] ?? []).reversed().map { ($0, depth + 1) })
        }
        return ordered
    }

    // MARK: Staff

    /// Registers an officer. The NIP is checked digit by digit (birth date, appointment, sex,
    /// serial) as of today in Asia/Jakarta.
    public func addStaff(
        nip: String, name: String, unitCode: String, role: StaffRole, email: String?, now: Date = Date()
    ) async throws -> StaffRecord {
        let checked: NIP
        do { checked = try NIP(nip, today: Self.today(now: now)) } catch { throw AdminError.invalidNIP(nip, error) }
        let name = try Self.checkedName(name)
        var address: String?
        if let email {
            do { address = try EmailAddress(email).description } catch { throw AdminError.invalidEmail(email, error) }
        }
        let digits = checked.digits
        return try await pool.transaction { connection in
            // Share-locked: a catalog import that would deactivate the unit waits for this, and
            // then sees the officer (it refuses to deactivate a unit with active officers).
            guard let unit = try await connection.query("SELECT id, active FROM units WHERE code = $1 FOR SHARE", unitCode).first else {
                throw AdminError.unknownUnit(unitCode)
            }
            guard try unit.decode(Bool.self, "active") else { throw AdminError.unitInactive(unitCode) }
            let inserted = try await connection.query(
                """
                INSERT INTO staff (nip, name, email, unit_id, role) VALUES ($1, $2, $3, $4, $5)
                ON CONFLICT (nip) DO NOTHING RETURNING id
                """, digits, name, address, try unit.decode(Int64.self, "id"), role.rawValue)
            guard let row = inserted.first else {
                let existing = try await connection.query(
                    "SELECT s.name, u.code FROM staff s JOIN units u ON u.id = s.unit_id WHERE s.nip = $1", digits
                ).single()
                throw AdminError.staffExists(
                    nip: digits, name: try existing.decode(String.self, "name"), unit: try existing.decode(String.self, "code"))
            }
            return StaffRecord(
                id: try row.decode(Int64.self, "id"), nip: digits, name: name, email: address, unitCode: unitCode,
                role: role.rawValue, active: true, liveTokens: 0)
        }
    }

    static let staffColumns = """
        s.id, s.nip, s.name, s.email, u.code AS unit_code, s.role, s.active,
        (SELECT count(*) FROM api_tokens t
         WHERE t.staff_id = s.id AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > $1)) AS live_tokens
        """

    /// Officers of a unit and the units below it (every officer when `unitCode` is nil), by unit,
    /// then role (highest first), then name.
    public func staff(unitCode: String?, now: Date = Date()) async throws -> [StaffRecord] {
        if let unitCode, try await pool.query("SELECT 1 FROM units WHERE code = $1", unitCode).isEmpty {
            throw AdminError.unknownUnit(unitCode)
        }
        return try await pool.query(
            """
            WITH RECURSIVE scope (id) AS (
                SELECT id FROM units WHERE $2::text IS NULL OR code = $2
                UNION
                SELECT u.id FROM units u JOIN scope ON u.parent_id = scope.id
            )
            SELECT \(Self.staffColumns)
            FROM staff s JOIN units u ON u.id = s.unit_id
            WHERE s.unit_id IN (SELECT id FROM scope)
            ORDER BY u.code, array_position(ARRAY['admin', 'manager', 'supervisor', 'staff'], s.role), s.name
            """, now, unitCode
        ).map(StaffRecord.init(row:))
    }

    /// One officer by NIP.
    public func staff(nip given: String, now: Date = Date()) async throws -> StaffRecord {
        let nip = Self.storedNIP(given)
        guard let row = try await pool.query(
            "SELECT \(Self.staffColumns) FROM staff s JOIN units u ON u.id = s.unit_id WHERE s.nip = $2", now, nip
        ).first else { throw AdminError.unknownStaff(nip: nip) }
        return try StaffRecord(row: row)
    }

    /// Changes an officer's role; returns the role before the change.
    public func setRole(nip given: String, role: StaffRole) async throws -> (before: String, after: StaffRecord) {
        let nip = Self.storedNIP(given)
        return try await pool.transaction { connection in
            guard let row = try await connection.query("SELECT role FROM staff WHERE nip = $1 FOR UPDATE", nip).first else {
                throw AdminError.unknownStaff(nip: nip)
            }
            let before = try row.decode(String.self, "role")
            try await connection.query("UPDATE staff SET role = $2 WHERE nip = $1", nip, role.rawValue)
            let after = try await connection.query(
                "SELECT \(Self.staffColumns) FROM staff s JOIN units u ON u.id = s.unit_id WHERE s.nip = $2", Date(), nip
            ).single()
            return (before, try StaffRecord(row: after))
        }
    }

    /// Moves an officer to another (active) unit: a reorganisation, a transfer between agencies.
    /// Refused while they hold open requests that would then lie outside their unit subtree, where
    /// they could no longer act on them. Their tokens stay valid; the new unit applies from
    /// their next request (every request reads the account afresh).
    public func move(nip given: String, toUnit unitCode: String) async throws -> (from: String, after: StaffRecord) {
        let nip = Self.storedNIP(given)
        return try await pool.transaction { connection in
            guard let row = try await connection.query(
                "SELECT s.id, u.code AS unit FROM staff s JOIN units u ON u.id = s.unit_id WHERE s.nip = $1 FOR UPDATE OF s", nip
            ).first else {
                throw AdminError.unknownStaff(nip: nip)
            }
            let id = try row.decode(Int64.self, "id")
            let from = try row.decode(String.self, "unit")
            guard let unit = try await connection.query("SELECT id, active FROM units WHERE code = $1 FOR SHARE", unitCode).first else {
                throw AdminError.unknownUnit(unitCode)
            }
            guard try unit.decode(Bool.self, "active") else { throw AdminError.unitInactive(unitCode) }
            let target = try unit.decode(Int64.self, "id")
            // Only what the move would leave outside their reach stops it: a request in the new
            // unit's subtree (a move up to the parent division, or to the same unit) stays theirs.
            let held = try await connection.query(
                """
                WITH RECURSIVE subtree AS (
                    SELECT id FROM units WHERE id = $2
                    UNION SELECT u.id FROM units u JOIN subtree s ON u.parent_id = s.id)
                SELECT tracking_code FROM service_requests
                WHERE assignee_id = $1 AND status IN ('in_progress', 'waiting_citizen') AND unit_id NOT IN (SELECT id FROM subtree)
                ORDER BY id
                """,
                id, target
            ).map { try $0.decode(String.self, "tracking_code") }
            guard held.isEmpty else { throw AdminError.staffHoldsRequests(nip: nip, codes: held) }
            try await connection.query("UPDATE staff SET unit_id = $2 WHERE id = $1", id, target)
            let after = try await connection.query(
                "SELECT \(Self.staffColumns) FROM staff s JOIN units u ON u.id = s.unit_id WHERE s.id = $2", Date(), id
            ).single()
            return (from, try StaffRecord(row: after))
        }
    }

    /// Deactivates an officer and revokes their tokens in the same transaction, so that a person
    /// who leaves loses access at once even if the account were reactivated by hand later.
    public func deactivate(nip given: String, now: Date = Date()) async throws -> Deactivation {
        let nip = Self.storedNIP(given)
        return try await pool.transaction { connection in
            guard let row = try await connection.query("SELECT id, active FROM staff WHERE nip = $1 FOR UPDATE", nip).first else {
                throw AdminError.unknownStaff(nip: nip)
            }
            let id = try row.decode(Int64.self, "id")
            let wasActive = try row.decode(Bool.self, "active")
            if wasActive {
                try await connection.query("UPDATE staff SET active = false WHERE id = $1", id)
            }
            let revoked = try await connection.query(
                "UPDATE api_tokens SET revoked_at = $2 WHERE staff_id = $1 AND revoked_at IS NULL", id, now
            ).affectedRows
            let held = try await connection.query(
                "SELECT tracking_code FROM service_requests WHERE assignee_id = $1 AND status IN ('in_progress', 'waiting_citizen') ORDER BY id",
                id
            ).map { try $0.decode(String.self, "tracking_code") }
            let record = try await connection.query(
                "SELECT \(Self.staffColumns) FROM staff s JOIN units u ON u.id = s.unit_id WHERE s.id = $2", now, id
            ).single()
            return Deactivation(staff: try StaffRecord(row: record), changed: wasActive, revokedTokens: revoked, heldRequests: held)
        }
    }

    /// Reactivates an officer. Their old tokens stay revoked: a returning officer gets a new one.
    public func activate(nip given: String, now: Date = Date()) async throws -> (changed: Bool, staff: StaffRecord) {
        let nip = Self.storedNIP(given)
        return try await pool.transaction { connection in
            guard let row = try await connection.query(
                """
                SELECT s.id, s.active, u.code AS unit, u.active AS unit_active FROM staff s JOIN units u ON u.id = s.unit_id
                WHERE s.nip = $1 FOR UPDATE OF s FOR SHARE OF u
                """, nip
            ).first else {
                throw AdminError.unknownStaff(nip: nip)
            }
            let id = try row.decode(Int64.self, "id")
            let wasActive = try row.decode(Bool.self, "active")
            if !wasActive {
                // Back into an inactive unit would be an active officer nobody routes work to.
                guard try row.decode(Bool.self, "unit_active") else { throw AdminError.unitInactive(try row.decode(String.self, "unit")) }
                try await connection.query("UPDATE staff SET active = true WHERE id = $1", id)
            }
            let record = try await connection.query(
                "SELECT \(Self.staffColumns) FROM staff s JOIN units u ON u.id = s.unit_id WHERE s.id = $2", now, id
            ).single()
            return (!wasActive, try StaffRecord(row: record))
        }
    }

    // MARK: Tokens

    /// A name as stored: trimmed, not blank, on one line and without control characters.
    static func checkedName(_ given: String) throws(AdminError) -> String {
        let name = given.trimmingWhitespace()
        guard !name.isEmpty else { throw .blankName }
        guard !name.normalizingLineBreaks().containsControlCharacters(), !name.contains(where: \.isNewline) else {
            throw .controlCharacters(field: "name")
        }
        return name
    }

    /// Issues a personal token to an active officer. The token is in the result only: the
    /// database keeps its SHA-256.
    public func issueToken(nip: String, label: String?, expiresAt: Date?, now: Date = Date()) async throws -> (issued: StaffTokenStore.Issued, staff: StaffRecord) {
        if let label, label.normalizingLineBreaks().containsControlCharacters() || label.contains("\n") {
            throw AdminError.controlCharacters(field: "label")
        }
        let staff = try await staff(nip: nip, now: now)
        guard staff.active else { throw AdminError.staffInactive(nip: staff.nip) }
        do {
            let issued = try await StaffTokenStore(pool: pool).issue(staffID: staff.id, label: label, expiresAt: expiresAt, now: now)
            return (issued, staff)
        } catch is StaffTokenStore.InactiveStaff {
            // Deactivated since the look-up above.
            throw AdminError.staffInactive(nip: staff.nip)
        }
    }

    /// A NIP as stored: the digits without the spaces people write between its groups
    /// (`19900114 201503 2 002`). Anything else is left as it is, to match nothing.
    static func storedNIP(_ nip: String) -> String {
        String(nip.unicodeScalars.filter { !$0.properties.isWhitespace }.map(Character.init))
    }

    /// Tokens of one officer (every token when `nip` is nil), newest first. Never the token itself:
    /// only its prefix, which is enough to recognise it.
    public func tokens(nip given: String?) async throws -> [TokenRecord] {
        let nip = given.map(Self.storedNIP)
        if let nip, try await pool.query("SELECT 1 FROM staff WHERE nip = $1", nip).isEmpty {
            throw AdminError.unknownStaff(nip: nip)
        }
        return try await pool.query(
            """
            SELECT t.id, s.nip, s.name, t.token_prefix, t.label, t.created_at, t.expires_at, t.revoked_at, t.last_used_at
            FROM api_tokens t JOIN staff s ON s.id = t.staff_id
            WHERE $1::text IS NULL OR s.nip = $1
            ORDER BY t.created_at DESC, t.id DESC
            """, nip
        ).map { row in
            TokenRecord(
                id: try row.decode(Int64.self, "id"), nip: try row.decode(String.self, "nip"),
                staffName: try row.decode(String.self, "name"), prefix: try row.decode(String.self, "token_prefix"),
                label: try row.decode(String?.self, "label"), createdAt: try row.decode(Date.self, "created_at"),
                expiresAt: try row.decode(Date?.self, "expires_at"), revokedAt: try row.decode(Date?.self, "revoked_at"),
                lastUsedAt: try row.decode(Date?.self, "last_used_at"))
        }
    }

    /// Revokes a token; it stops authenticating at once.
    public func revokeToken(id: Int64, now: Date = Date()) async throws {
        if try await StaffTokenStore(pool: pool).revoke(id: id, now: now) { return }
        guard let row = try await pool.query("SELECT revoked_at FROM api_tokens WHERE id = $1", id).first else {
            throw AdminError.unknownToken(id: id)
        }
        throw AdminError.tokenAlreadyRevoked(id: id, at: try row.decode(Date?.self, "revoked_at") ?? now)
    }

    // MARK: Partner keys

    /// Issues an Open311 api_key to a partner application; the key is in the result only.
    public func issuePartnerKey(name: String, contactEmail: String?) async throws -> PartnerKeyStore.Issued {
        let name = try Self.checkedName(name)
        var address: String?
        if let contactEmail {
            do { address = try EmailAddress(contactEmail).description } catch { throw AdminError.invalidEmail(contactEmail, error) }
        }
        return try await PartnerKeyStore(pool: pool).issue(name: name, contactEmail: address)
    }

    public func partnerKeys() async throws -> [PartnerKeyRecord] {
        try await pool.query(
            """
            SELECT id, name, contact_email, key_prefix, created_at, revoked_at, last_used_at
            FROM partner_api_keys ORDER BY created_at DESC, id DESC
            """
        ).map { row in
            PartnerKeyRecord(
                id: try row.decode(Int64.self, "id"), name: try row.decode(String.self, "name"),
                contactEmail: try row.decode(String?.self, "contact_email"), prefix: try row.decode(String.self, "key_prefix"),
                createdAt: try row.decode(Date.self, "created_at"), revokedAt: try row.decode(Date?.self, "revoked_at"),
                lastUsedAt: try row.decode(Date?.self, "last_used_at"))
        }
    }

    public func revokePartnerKey(id: PartnerID, now: Date = Date()) async throws {
        if try await PartnerKeyStore(pool: pool).revoke(id: id, now: now) { return }
        guard let row = try await pool.query("SELECT revoked_at FROM partner_api_keys WHERE id = $1", id).first else {
            throw AdminError.unknownPartnerKey(id: id)
        }
        throw AdminError.partnerKeyAlreadyRevoked(id: id, at: try row.decode(Date?.self, "revoked_at") ?? now)
    }
}

extension AdminStore.StaffRecord {
    init(row: PostgresRow) throws {
        id = try row.decode(Int64.self, "id")
        nip = try row.decode(String.self, "nip")
        name = try row.decode(String.self, "name")
        email = try row.decode(String?.self, "email")
        unitCode = try row.decode(String.self, "unit_code")
        role = try row.decode(String.self, "role")
        active = try row.decode(Bool.self, "active")
        liveTokens = try row.decode(Int.self, "live_tokens")
    }
}
