import Foundation
import Postgres
import Testing

@Suite("Parameters and row decoding")
struct TypeRoundTripTests {
    struct Profile: Codable, Equatable, Sendable {
        var name: String
        var tags: [String]
        var score: Double
        var nested: [String: Int]
    }

    private func roundTrip<T: PostgresEncodable & PostgresDecodable & Equatable>(
        _ value: T, as sqlType: String, on pool: ConnectionPool, sourceLocation: SourceLocation = #_sourceLocation
    ) async throws {
        // The cast names a type, never a value: the value travels as $1.
        let row = try await pool.query("SELECT $1::\(sqlType) AS v", value).single()
        #expect(try row.decode(T.self, "v") == value, sourceLocation: sourceLocation)
        let null = try await pool.query("SELECT $1::\(sqlType) AS v", T?.none).single()
        #expect(try null.decode(T?.self, "v") == nil, sourceLocation: sourceLocation)
        #expect(try null.isNull("v"), sourceLocation: sourceLocation)
    }

    @Test func everySupportedTypeRoundTripsWithNull() async throws {
        try await TestDatabase.withPool { pool, _ in
            try await roundTrip(true, as: "boolean", on: pool)
            try await roundTrip(false, as: "boolean", on: pool)
            try await roundTrip(Int16.min, as: "smallint", on: pool)
            try await roundTrip(Int32.max, as: "integer", on: pool)
            try await roundTrip(Int64.min, as: "bigint", on: pool)
            try await roundTrip(42, as: "bigint", on: pool)
            try await roundTrip(3.141592653589793, as: "double precision", on: pool)
            try await roundTrip(-0.0, as: "double precision", on: pool)
            try await roundTrip("Kantor Kecamatan Cipocok Jaya — «layanan» 🇮🇩 日本", as: "text", on: pool)
            try await roundTrip("", as: "text", on: pool)
            try await roundTrip(UUID(), as: "uuid", on: pool)
            try await roundTrip(PostgresLocalDate(year: 2026, month: 8, day: 17), as: "date", on: pool)
            try await roundTrip(PostgresLocalDate(year: 1999, month: 12, day: 31), as: "date", on: pool)
            try await roundTrip(PostgresLocalDate(year: 2400, month: 2, day: 29), as: "date", on: pool)
            try await roundTrip(["kk", "ktp-el", "akta kelahiran", "ñ", ""], as: "text[]", on: pool)
            try await roundTrip([String](), as: "text[]", on: pool)
            try await roundTrip([Int64.min, 0, 7, Int64.max], as: "bigint[]", on: pool)
            try await roundTrip([1, 2, 3], as: "bigint[]", on: pool)
            for text in ["0", "12345.6789", "-0.0001", "1000000000000000000000", "99999999.99", "-42"] {
                try await roundTrip(Decimal(string: text)!, as: "numeric", on: pool)
            }
        }
    }

    /// Loket's bytes are UTF-8 whatever encoding the connection string, PGCLIENTENCODING or a role
    /// setting asks for: with LATIN1 the server read each byte of "✓" as a letter of its own.
    @Test func textIsUTF8WhateverClientEncodingIsAskedFor() async throws {
        try await TestDatabase.with { configuration in
            var latin = configuration
            let info = configuration.conninfo
            latin.conninfo = info.contains("://")
                ? info + (info.contains("?") ? "&" : "?") + "client_encoding=LATIN1"
                : info + " client_encoding=LATIN1"
            let connection = try await PostgresConnection.connect(latin)
            let text = "Rp 50.000 — «Sukabumi» ✓ 日本"
            let row = try await connection.query("SELECT current_setting('client_encoding') AS e, length($1::text) AS n, $1::text AS v", text).single()
            await connection.close()
            #expect(try row.decode(String.self, "e") == "UTF8")
            #expect(try row.decode(Int.self, "n") == text.unicodeScalars.count)
            #expect(try row.decode(String.self, "v") == text)
        }
    }

    @Test func timestampsKeepMicrosecondsWhateverTheSessionTimeZone() async throws {
        try await TestDatabase.withPool(maxConnections: 1) { pool, _ in
            try await pool.withConnection { connection in
                try await connection.executeScript("SET TIME ZONE 'Asia/Jakarta'")
                let instant = Date(timeIntervalSince1970: 1_798_761_600.123456)  // 2027-01-01T00:00:00.123456Z
                let back = try await connection.query("SELECT $1::timestamptz AS v", instant).single()
                #expect(try back.decode(Date.self, "v").timeIntervalSince1970 == 1_798_761_600.123456)
                // A literal with an explicit offset means the same instant in any session zone.
                let literal = try await connection.query("SELECT '2026-03-19 08:00:00+07'::timestamptz AS v").single()
                #expect(try literal.decode(Date.self, "v") == Date(timeIntervalSince1970: 1_773_882_000))
                try await connection.executeScript("SET TIME ZONE 'America/New_York'")
                let again = try await connection.query("SELECT '2026-03-19 08:00:00+07'::timestamptz AS v").single()
                #expect(try again.decode(Date.self, "v") == Date(timeIntervalSince1970: 1_773_882_000))
                // `date` reads as midnight UTC; `timestamp` (no zone) as UTC.
                let day = try await connection.query("SELECT DATE '2026-08-17' AS d, TIMESTAMP '2026-08-17 10:30:00' AS t").single()
                #expect(try day.decode(Date.self, "d") == Date(timeIntervalSince1970: 1_786_924_800))
                #expect(try day.decode(Date.self, "t") == Date(timeIntervalSince1970: 1_786_962_600))
                let infinite = try await connection.query("SELECT 'infinity'::timestamptz AS v").single()
                #expect(try infinite.decode(Date.self, "v") == .distantFuture)
            }
        }
    }

    @Test func oneMebibyteOfBytesRoundTrips() async throws {
        try await TestDatabase.withPool { pool, _ in
            var bytes = Data(count: 1 << 20)
            for index in bytes.indices { bytes[index] = UInt8(truncatingIfNeeded: index &* 2_654_435_761 >> 7) }
            let row = try await pool.query("SELECT $1::bytea AS v, length($1::bytea) AS n, md5($1::bytea) AS h", bytes).single()
            #expect(try row.decode(Data.self, "v") == bytes)
            #expect(try row.decode(Int.self, "n") == 1 << 20)
            #expect(try row.decode(String.self, "h").count == 32)
            try await roundTrip(Data(), as: "bytea", on: pool)
        }
    }

    @Test func jsonAndJsonbDecodeThroughCodable() async throws {
        try await TestDatabase.withPool { pool, _ in
            let profile = Profile(name: "Siti Rahmawati", tags: ["ktp", "kk"], score: 3.5, nested: ["a": 1])
            let row = try await pool.query(
                "SELECT $1::jsonb AS b, $1::jsonb::json AS j, $1::jsonb ->> 'name' AS name", try PostgresJSON(profile)
            ).single()
            #expect(try row.json(Profile.self, "b") == profile)
            #expect(try row.json(Profile.self, "j") == profile)
            #expect(try row.decode(String.self, "name") == "Siti Rahmawati")
            #expect(throws: (any Error).self) { try PostgresJSON(Double.nan) }
        }
    }

    @Test func integersWidenAndRefuseToTruncate() async throws {
        try await TestDatabase.withPool { pool, _ in
            let row = try await pool.query("SELECT 7::smallint AS s, 70000::integer AS i, 5000000000::bigint AS b").single()
            #expect(try row.decode(Int64.self, "s") == 7)
            #expect(try row.decode(Int.self, "i") == 70_000)
            #expect(try row.decode(Double.self, "b") == 5_000_000_000)
            let error = #expect(throws: PostgresDecodingError.self) { try row.decode(Int16.self, "i") }
            #expect(error?.reason.contains("does not fit") == true)
        }
    }

    @Test func decodingMismatchNamesColumnAndTypes() async throws {
        try await TestDatabase.withPool { pool, _ in
            let row = try await pool.query("SELECT 'abc'::text AS label, NULL::integer AS missing").single()
            let mismatch = #expect(throws: PostgresDecodingError.self) { try row.decode(Int.self, "label") }
            #expect(mismatch?.column == "label")
            #expect(mismatch?.postgresType == .text)
            #expect(mismatch?.description.contains("label") == true)
            #expect(mismatch?.description.contains("Int") == true)
            let null = #expect(throws: PostgresDecodingError.self) { try row.decode(Int.self, "missing") }
            #expect(null?.reason.contains("NULL") == true)
            #expect(try row.decode(Int?.self, 1) == nil)
            let unknown = #expect(throws: PostgresResultError.self) { try row.decode(String.self, "nope") }
            #expect(unknown?.description.contains("label") == true)
        }
    }

    @Test func columnsAreFoundByTheirExactName() async throws {
        try await TestDatabase.withPool { pool, _ in
            // Names alike but for case, length, a prefix or non-ASCII letters; a repeated name
            // answers with its first column, as before.
            let row = try await pool.query(
                #"SELECT 1 AS a, 2 AS "A", 3 AS ab, 4 AS "b", 5 AS a_b, 6 AS "tanggal_é", 7 AS "?column?x", 8 AS a, 9 AS "kolom panjang sekali untuk nama""#
            ).single()
            #expect(try row.decode(Int.self, "a") == 1)
            #expect(try row.decode(Int.self, "A") == 2)
            #expect(try row.decode(Int.self, "ab") == 3)
            #expect(try row.decode(Int.self, "b") == 4)
            #expect(try row.decode(Int.self, "a_b") == 5)
            #expect(try row.decode(Int.self, "tanggal_é") == 6)
            #expect(try row.decode(Int.self, "kolom panjang sekali untuk nama") == 9)
            #expect(throws: PostgresResultError.self) { try row.decode(Int.self, "aB") }
            #expect(throws: PostgresResultError.self) { try row.decode(Int.self, "tanggal_e") }
            let rows = try await pool.query("SELECT 1 AS x")
            #expect(rows.columns == ["x"])
            let wide = try await pool.query("SELECT " + (0..<60).map { "\($0) AS c\($0)" }.joined(separator: ", ")).single()
            for column in 0..<60 { #expect(try wide.decode(Int.self, "c\(column)") == column) }
        }
    }

    @Test func commandTagsReportAffectedRows() async throws {
        try await TestDatabase.withPool { pool, _ in
            try await pool.query("CREATE TABLE t (id bigint PRIMARY KEY, label text NOT NULL)")
            let insert = try await pool.query("INSERT INTO t SELECT g, 'x' || g FROM generate_series(1, $1::int) g", 5)
            #expect(insert.affectedRows == 5)
            let update = try await pool.query("UPDATE t SET label = $1 WHERE id > $2", "y", 2)
            #expect(update.affectedRows == 3)
            let rows = try await pool.query("SELECT id, label FROM t WHERE id = ANY($1) ORDER BY id", [1, 4])
            #expect(try rows.map { try $0.decode(Int.self, "id") } == [1, 4])
            #expect(try rows.map { try $0.decode(String.self, "label") } == ["x1", "y"])
        }
    }
}
