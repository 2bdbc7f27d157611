import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
@testable import LoketAPI
import LoketCore
@testable import LoketStore
import Postgres
import Testing

/// The server-rendered pages: each renders, shows the numbers of a fixture filed through the API,
/// escapes hostile text, and the dashboard's sign-in, session and CSRF rules hold.
@Suite("HTML pages")
struct PagesTests {
    static let managerNIP = "197506202000031002"  // manager of DISDUKCAPIL, above the kk-baru unit
    static let staffNIP = "199001142015032002"  // an officer (role staff) of that unit

    // MARK: Rendering

    /// RFC3339.string's arithmetic agrees with the formatter (Jakarta, UTC+7) from 1970 to 9999:
    /// rounded to the millisecond, then the fraction cut off, as the formatter does.
    @Test func instantsAreWrittenAsTheFormatterWritesThem() {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        formatter.timeZone = TimeZone(identifier: "Asia/Jakarta")
        var generator = SystemRandomNumberGenerator()
        var instants: [Double] = [0, 0.999, 0.9995, 0.9999, 25_199, 25_200, 86_399.5, 951_782_400, 1_798_736_399.75, 253_402_300_799 - 25_200]
        for _ in 0..<2_000 { instants.append(Double.random(in: 0..<253_402_274_000, using: &generator)) }
        for seconds in instants {
            let date = Date(timeIntervalSince1970: seconds)
            #expect(RFC3339.string(from: date) == formatter.string(from: date), "\(seconds)")
        }
        #expect(RFC3339.string(from: Date(timeIntervalSince1970: 1_796_092_200)) == "2026-12-01T09:30:00+07:00")
        // Before 1970 the formatter (and Jakarta's older offsets) answer.
        let old = Date(timeIntervalSince1970: -500_000_000)
        #expect(RFC3339.string(from: old) == formatter.string(from: old))
    }

    /// A statement cancelled at its deadline (or by the server's statement_timeout) is database
    /// trouble: 503 with Retry-After, not a 500.
    @Test func aStatementPastItsDeadlineIsA503() {
        let error = PostgresError(sqlState: .queryCanceled, message: "statement cancelled: it ran past the client's deadline of 30 seconds")
        let mapped = RequestMiddleware.apiError(for: error, logger: Logger(label: "test"))
        #expect(mapped.status == .serviceUnavailable)
        #expect(mapped.retryAfterSeconds == 2)
    }

    @Test func onlyTheCanonicalBase64URLSpellingDecodes() throws {
        let bytes = Data((0..<32).map { UInt8(truncatingIfNeeded: $0 * 37 + 11) })
        let text = Base64URL.encode(bytes)
        #expect(text.count == 43)
        #expect(Base64URL.decode(text) == bytes)
        // The last character holds 4 bits of data and 2 unused ones; every other letter sharing
        // those 4 bits is another spelling of the same bytes, and must not verify as it.
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
        let last = try #require(alphabet.firstIndex(of: text.last!))
        for other in (last & ~3)...(last | 3) where other != last {
            #expect(Base64URL.decode(String(text.dropLast()) + String(alphabet[other])) == nil)
        }
        #expect(Base64URL.decode(text + "=") == nil)
        #expect(Base64URL.decode("a+b/") == nil)
    }

    @Test func everyPageRendersAsHTMLWithTheSecurityHeaders() async throws {
        try await APITestEnvironment.withApp { app in
            try await app.test { client in
                for path in ["/", "/transparansi", "/layanan", "/layanan/kk-baru", "/lacak", "/dasbor/masuk"] {
                    try await client.execute(uri: path, method: .get) { response in
                        #expect(response.status == .ok, "\(path): \(response.body.text)")
                        #expect(response.headers[.contentType] == "text/html; charset=utf-8", "\(path)")
                        Self.expectSecurityHeaders(response, path)
                        let html = response.body.text
                        #expect(html.hasPrefix("<!DOCTYPE html>"), "\(path)")
                        #expect(html.contains("<html lang=\"id\">"), "\(path)")
                        #expect(!html.contains("<script"), "\(path) has a script")
                        #expect(!html.contains("style=\""), "\(path) has an inline style attribute the CSP would block")
                        // The one inline stylesheet is the one the policy names by hash.
                        let css = try #require(Self.between(html, "<style>", "</style>"))
                        let hash = Data(SHA256.hash(data: Data(css.utf8))).base64EncodedString()
                        #expect(response.headers[.contentSecurityPolicy]?.contains("style-src 'sha256-\(hash)'") == true, "\(path)")
                    }
                }
                // The dashboard sends a visitor without a session to the sign-in form.
                try await client.execute(uri: "/dasbor", method: .get) { response in
                    #expect(response.status == .seeOther)
                    #expect(response.headers[.location] == "/dasbor/masuk")
                }
            }
        }
    }

    @Test func theLanguageComesFromTheQueryThenAcceptLanguage() async throws {
        try await APITestEnvironment.withApp { app in
            try await app.test { client in
                try await client.execute(uri: "/layanan", method: .get) { response in
                    #expect(response.body.text.contains("Daftar layanan"))
                    #expect(response.headers[.contentLanguage] == "id")
                    // The switch offers English and keeps the page.
                    #expect(response.body.text.contains("href=\"/layanan?lang=en\""))
                }
                try await client.execute(uri: "/layanan", method: .get, headers: [.acceptLanguage: "en-US,en;q=0.9"]) { response in
                    #expect(response.body.text.contains("Service catalog"))
                    #expect(response.headers[.contentLanguage] == "en")
                    // Chosen by the browser: links carry no language.
                    #expect(response.body.text.contains("href=\"/transparansi\""))
                }
                try await client.execute(uri: "/layanan?lang=en", method: .get, headers: [.acceptLanguage: "id"]) { response in
                    let html = response.body.text
                    #expect(html.contains("<html lang=\"en\">"))
                    #expect(html.contains("Service catalog"))
                    // Chosen explicitly: every link keeps it, and the switch goes back.
                    #expect(html.contains("href=\"/transparansi?lang=en\""))
                    #expect(html.contains("href=\"/layanan/kk-baru?lang=en\""))
                    #expect(html.contains("href=\"/layanan?lang=id\""))
                }
                try await client.execute(uri: "/transparansi?lang=en&from=2026-01-01&to=2026-03-31", method: .get) { response in
                    // The switch keeps the chosen period.
                    #expect(response.body.text.contains("href=\"/transparansi?from=2026-01-01&amp;to=2026-03-31&amp;lang=id\""))
                    #expect(response.body.text.contains("<input type=\"hidden\" name=\"lang\" value=\"en\">"))
                }
                // A period given twice with different values: refused as the JSON API refuses it, as a page.
                try await client.execute(uri: "/transparansi?from=2026-01-01&from=&lang=en", method: .get) { response in
                    #expect(response.status == .badRequest)
                    #expect(response.headers[.contentType] == "text/html; charset=utf-8")
                    #expect(response.body.text.contains("<code>conflicting_values</code>"))
                    #expect(response.body.text.contains("from is given more than once"))
                }
                // Two languages name none: the browser's choice holds (a page is not refused for it).
                try await client.execute(uri: "/layanan?lang=en&lang=id", method: .get, headers: [.acceptLanguage: "en"]) { response in
                    #expect(response.status == .ok)
                    #expect(response.body.text.contains("Service catalog"))
                }
                // A parameter no page reads is ignored, repeated or not (schemathesis adds such).
                try await client.execute(uri: "/?x=1&x=2&x=", method: .get) { response in
                    #expect(response.status == .ok)
                }
                try await client.execute(uri: "/layanan?lang=en&lang=en", method: .get) { response in
                    #expect(response.status == .ok)
                    #expect(response.body.text.contains("Service catalog"))
                }
            }
        }
    }

    @Test func transparencyShowsTheFixtureNumbersAndCharts() async throws {
        // The fixture's two ratings are published here; at the default of five they are withheld
        // (`aFewRatingsAreNotPublished`).
        var options = APIOptions()
        options.publicIKMMinimumRespondents = 2
        try await APITestEnvironment.withApp(options: options) { app in
            let fixture = try await Self.closedFixture(app)
            try await app.test { client in
                try await client.execute(uri: "/transparansi", method: .get) { response in
                    #expect(response.status == .ok)
                    let html = response.body.text
                    #expect(html.contains(fixture.unitName))
                    #expect(html.contains("Penerbitan Kartu Keluarga (KK)"))
                    // Three closed (two completed, one rejected), all by their deadline.
                    #expect(html.contains("<dd>3</dd>"))
                    #expect(html.contains("3 dari 3"))
                    #expect(html.contains("<span class=\"chip t4\">100%</span>"))
                    // IKM of all 4s and all 3s: (100 + 75) / 2 = 87.50, grade B (Baik).
                    #expect(html.contains("87,50 (B)"))
                    #expect(html.contains("Baik · 2 responden"))
                    // The unit chart has a full bar, the trend a bar for this month.
                    #expect(html.contains("<svg viewBox=\"0 0 400"))
                    #expect(html.contains("class=\"bar t4\""))
                    #expect(html.contains("class=\"vol\""))
                    #expect(html.contains("href=\"/api/v1/public/transparency.csv?by=unit&amp;from="))
                }
                try await client.execute(uri: "/transparansi?lang=en", method: .get) { response in
                    #expect(response.body.text.contains("87.50 (B)"))
                    #expect(response.body.text.contains("3 of 3"))
                }
                // A period without the fixture has nothing closed.
                try await client.execute(uri: "/transparansi?from=2020-01-01&to=2020-12-31", method: .get) { response in
                    #expect(response.status == .ok)
                    #expect(response.body.text.contains("1 Jan 2020 – 31 Des 2020"))
                    #expect(response.body.text.contains("<dd>0</dd>"))
                }
                // A bad period is a friendly page with the API's code.
                try await client.execute(uri: "/transparansi?from=kemarin", method: .get) { response in
                    #expect(response.status == .badRequest)
                    #expect(response.headers[.contentType] == "text/html; charset=utf-8")
                    #expect(response.body.text.contains("<code>invalid_date</code>"))
                    Self.expectSecurityHeaders(response, "error page")
                }
                // Years outside 1900–9999 are refused: the trend's month arithmetic once trapped on
                // year 1 and ended the process.
                for period in ["from=0001-01-01&to=0001-01-01", "from=0000-01-01", "from=1899-12-31&to=1900-01-31"] {
                    try await client.execute(uri: "/transparansi?\(period)", method: .get) { response in
                        #expect(response.status == .badRequest, "\(period)")
                        #expect(response.body.text.contains("<code>invalid_date</code>"), "\(period)")
                    }
                    try await client.execute(uri: "/api/v1/public/transparency?\(period)", method: .get) { response in
                        #expect(response.status == .badRequest, "\(period)")
                    }
                }
                try await client.execute(uri: "/transparansi?from=9999-12-01&to=9999-12-31", method: .get) { response in
                    #expect(response.status == .ok)
                }
            }
        }
    }

    /// Two ratings in a period are too few to publish: the officer who served that day could read
    /// a known citizen's rating off the page. The page says why; the open data leaves IKM out.
    @Test func aFewRatingsAreNotPublished() async throws {
        try await APITestEnvironment.withApp { app in
            _ = try await Self.closedFixture(app)
            try await app.test { client in
                try await client.execute(uri: "/transparansi", method: .get) { response in
                    let html = response.body.text
                    #expect(!html.contains("87,50"))
                    #expect(html.contains("kurang dari 5 responden: tidak ditampilkan agar setiap penilaian tetap anonim"))
                }
                try await client.execute(uri: "/api/v1/public/transparency?by=unit", method: .get) { response in
                    let rows = response.body.json["rows"] as? [[String: Any]] ?? []
                    #expect(!rows.isEmpty)
                    #expect(rows.allSatisfy { $0["ikm"] == nil })
                    #expect((response.body.json["total"] as? [String: Any])?["ikm"] == nil)
                }
                try await client.execute(uri: "/api/v1/public/transparency.csv?by=unit", method: .get) { response in
                    #expect(!response.body.text.contains("87.5"))
                }
            }
        }
    }

    /// The total is not published when the rows held back are too few together: beside the rows
    /// shown it would give their ratings away (a total of three beside a shown row of two is the
    /// third citizen's rating).
    @Test func theTotalDoesNotGiveAwayARowHeldBack() async throws {
        var options = APIOptions()
        options.publicIKMMinimumRespondents = 2
        try await APITestEnvironment.withApp(options: options) { app in
            let fixture = try await Self.closedFixture(app)
            // One more rating, of another service in another unit.
            let other = try await app.pool.query(
                """
                SELECT st.code FROM service_types st JOIN units u ON u.id = st.default_unit_id
                WHERE st.active AND st.attributes = '[]'::jsonb AND u.name <> $1 ORDER BY st.code LIMIT 1
                """, fixture.unitName).single().decode(String.self, "code")
            let code = try await app.test { client in
                let body = ByteBuffer.json(sampleFiling(nik: "3673014501900004", service: other, extra: ["attributes": [String: String]()]))
                return try await client.execute(uri: "/api/v1/requests", method: .post, headers: jsonHeaders, body: body) { response in
                    #expect(response.status == .created, "\(response.body.text)")
                    return try #require(response.body.json["tracking_code"] as? String)
                }
            }
            let officer = try await CitizenAPITests.officer(for: code, app: app)
            let catalog = try await app.services.catalog.snapshot()
            _ = try await app.services.requests.apply(.claim, by: .staff(officer), trackingCode: code, catalog: catalog)
            _ = try await app.services.requests.apply(
                .resolve(publicMessage: "Selesai.", outcome: nil), by: .staff(officer), trackingCode: code, catalog: catalog)
            try await app.services.requests.giveFeedback(trackingCode: code, scores: try IKMScores(Array(repeating: 1, count: 9)), comment: nil)
            try await app.test { client in
                try await client.execute(uri: "/transparansi", method: .get) { response in
                    let html = response.body.text
                    #expect(html.contains("87,50 (B)"), "the fixture's unit, two ratings, is shown")
                    #expect(html.contains("bersama baris-baris di atas, nilai ini akan membuka penilaian yang disembunyikan"))
                    // (100 + 75 + 25) / 3 = 66.67: the total with the third rating in it.
                    #expect(!html.contains("66,67"))
                }
                for by in ["unit", "service"] {
                    try await client.execute(uri: "/api/v1/public/transparency?by=\(by)", method: .get) { response in
                        let rows = response.body.json["rows"] as? [[String: Any]] ?? []
                        #expect(rows.contains { $0["ikm"] != nil }, "\(by)")
                        #expect((response.body.json["total"] as? [String: Any])?["ikm"] == nil, "\(by): \(response.body.text)")
                    }
                }
            }
        }
    }

    @Test func theCatalogShowsRequirementsFeesInRupiahAndTargetsInWorkingDays() async throws {
        try await APITestEnvironment.withApp { app in
            try await app.pool.query("UPDATE service_types SET fee_rupiah = 100000 WHERE code = 'pbg'")
            app.services.catalog.invalidate()
            try await app.test { client in
                try await client.execute(uri: "/layanan", method: .get) { response in
                    let html = response.body.text
                    #expect(html.contains("Administrasi kependudukan"))
                    #expect(html.contains("<dd>Rp 0</dd>"))
                    #expect(html.contains("<dd>Rp 100.000</dd>"))
                    #expect(html.contains("hari kerja"))
                }
                try await client.execute(uri: "/layanan/kk-baru", method: .get) { response in
                    let html = response.body.text
                    #expect(html.contains("Formulir Biodata Keluarga (F-1.01) yang telah diisi"))
                    #expect(html.contains("Seksi Identitas Penduduk"))
                    // 1,350 working minutes on a 450-minute day.
                    #expect(html.contains("<dd>3 hari kerja</dd>"))
                }
                try await client.execute(uri: "/layanan/kk-baru?lang=en", method: .get) { response in
                    #expect(response.body.text.contains("Completed family biodata form (F-1.01)"))
                    #expect(response.body.text.contains("<dd>3 working days</dd>"))
                }
                try await client.execute(uri: "/layanan/tidak-ada", method: .get) { response in
                    #expect(response.status == .notFound)
                    #expect(response.headers[.contentType] == "text/html; charset=utf-8")
                    #expect(response.body.text.contains("<code>unknown_service</code>"))
                }
            }
        }
    }

    @Test func hostileServiceNamesAndTimelineMessagesAreEscaped() async throws {
        try await APITestEnvironment.withApp { app in
            let hostile = "<script>alert('x')</script>"
            try await app.pool.query("UPDATE service_types SET name_id = $1, name_en = $1 WHERE code = 'kk-baru'", "KK \(hostile)")
            app.services.catalog.invalidate()
            let receipt = try await Self.file(app)
            let officer = try await CitizenAPITests.officer(for: receipt.code, app: app)
            let catalog = try await app.services.catalog.snapshot()
            _ = try await app.services.requests.apply(.claim, by: .staff(officer), trackingCode: receipt.code, catalog: catalog)
            _ = try await app.services.requests.apply(
                .askCitizen(question: "Unggah \(hostile) \"KK\" & <img src=x onerror=alert(1)>"), by: .staff(officer), trackingCode: receipt.code,
                catalog: catalog)
            try await app.test { client in
                for path in ["/layanan", "/layanan/kk-baru"] {
                    try await client.execute(uri: path, method: .get) { response in
                        #expect(!response.body.text.contains("<script>"), "\(path)")
                        #expect(response.body.text.contains("KK &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"), "\(path)")
                    }
                }
                try await client.execute(
                    uri: "/lacak", method: .post, headers: Self.formHeaders,
                    body: Self.form(["tracking_code": receipt.code, "access_token": receipt.token])
                ) { response in
                    let html = response.body.text
                    #expect(response.status == .ok, "\(html)")
                    #expect(!html.contains("<script>"))
                    #expect(!html.contains("<img"))
                    #expect(html.contains("Unggah &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &quot;KK&quot; &amp; &lt;img src=x onerror=alert(1)&gt;"))
                }
            }
        }
    }

    @Test func theTemplatesWriteOnlyTheConstantStylesheetUnescaped() throws {
        let directory = APITestEnvironment.repositoryRoot.appendingPathComponent("Sources/LoketAPI/Resources/templates")
        for file in try FileManager.default.contentsOfDirectory(atPath: directory.path) where file.hasSuffix(".mustache") {
            let text = try String(contentsOf: directory.appendingPathComponent(file), encoding: .utf8)
            let unescaped = text.components(separatedBy: "{{{").count - 1 + text.components(separatedBy: "{{&").count - 1
            #expect(unescaped == (file == "layout.mustache" ? 1 : 0), "\(file) writes unescaped values")
            if file == "layout.mustache" { #expect(text.contains("<style>{{{css}}}</style>")) }
        }
    }

    // MARK: Tracking

    @Test func trackingTakesTheCodeAndTokenByPostAndShowsThePublicTimeline() async throws {
        try await APITestEnvironment.withApp { app in
            let receipt = try await Self.file(app)
            let officer = try await CitizenAPITests.officer(for: receipt.code, app: app)
            let catalog = try await app.services.catalog.snapshot()
            _ = try await app.services.requests.apply(.claim, by: .staff(officer), trackingCode: receipt.code, catalog: catalog)
            _ = try await app.services.requests.apply(
                .askCitizen(question: "Mohon unggah buku nikah."), by: .staff(officer), trackingCode: receipt.code, catalog: catalog)
            try await app.test { client in
                try await client.execute(uri: "/lacak", method: .get) { response in
                    let html = response.body.text
                    #expect(html.contains("<form method=\"post\" action=\"/lacak\""))
                    #expect(html.contains("name=\"access_token\" type=\"password\""))
                }
                try await client.execute(
                    uri: "/lacak", method: .post, headers: Self.formHeaders,
                    body: Self.form(["tracking_code": receipt.code.lowercased(), "access_token": receipt.token])
                ) { response in
                    let html = response.body.text
                    #expect(response.status == .ok, "\(html)")
                    #expect(response.headers[.cacheControl] == "no-store")
                    #expect(html.contains(receipt.code))
                    #expect(html.contains("menunggu tanggapan pemohon"))
                    #expect(html.contains("Mohon unggah buku nikah."))
                    #expect(html.contains("Seksi Identitas Penduduk"))
                    #expect(html.contains("Permohonan diterima"))
                    #expect(html.contains("Mulai ditangani petugas"))
                    #expect(html.contains("Belum ada dokumen."))
                    #expect(html.contains(" WIB"))
                    // The token is never written back into the page.
                    #expect(!html.contains(receipt.token))
                }
                try await client.execute(
                    uri: "/lacak", method: .post, headers: Self.formHeaders,
                    body: Self.form(["tracking_code": receipt.code, "access_token": "salah"])
                ) { response in
                    #expect(response.status == .forbidden)
                    #expect(response.body.text.contains("<code>access_token_invalid</code>"))
                    #expect(!response.body.text.contains("Mohon unggah buku nikah."))
                    // The code is kept in the form, escaped.
                    #expect(response.body.text.contains("value=\"\(receipt.code)\""))
                }
                // A quote or bracket inside a grapheme cluster (after U+0600, GB9b; before a
                // combining accent, GB9) is escaped too: Mustache's escaping compared whole
                // Characters and let it through, closing the attribute.
                let hostile = "\"\u{301}\u{600}\"\u{600}>\u{600}<meta http-equiv=refresh content=0;url=//x.example>"
                try await client.execute(
                    uri: "/lacak", method: .post, headers: Self.formHeaders,
                    body: Self.form(["tracking_code": hostile, "access_token": receipt.token])
                ) { response in
                    // Compared as bytes: as Characters, "\u{600}<" is not "<".
                    let html = Array(response.body.text.utf8)
                    func has(_ text: String) -> Bool { html.firstRange(of: Array(text.utf8)) != nil }
                    #expect(!has("<meta http-equiv"), "\(response.body.text)")
                    #expect(!has("\"\u{301}") && !has("\u{600}\""))
                    #expect(has("&lt;meta http-equiv") && has("&quot;\u{301}"))
                }
                try await client.execute(
                    uri: "/lacak", method: .post, headers: Self.formHeaders,
                    body: Self.form(["tracking_code": "SRG-0000-0000-0000", "access_token": receipt.token])
                ) { response in
                    #expect(response.status == .notFound)
                    #expect(response.body.text.contains("<code>request_not_found</code>"))
                }
                try await client.execute(
                    uri: "/lacak", method: .post, headers: Self.formHeaders, body: Self.form(["tracking_code": receipt.code])
                ) { response in
                    #expect(response.status == .unprocessableContent)
                    #expect(response.body.text.contains("<code>missing_field</code>"))
                }
                try await client.execute(
                    uri: "/lacak", method: .post, headers: jsonHeaders, body: .json(["tracking_code": receipt.code])
                ) { response in
                    #expect(response.status == .unsupportedMediaType)
                    #expect(response.headers[.contentType] == "text/html; charset=utf-8")
                }
            }
        }
    }

    // MARK: Sign-in, session, CSRF

    @Test func signInRefusesStaffRevokedAndForgedAttemptsAndSetsAStrictCookie() async throws {
        try await APITestEnvironment.withApp { app in
            let staffToken = try await Self.issueToken(app, nip: Self.staffNIP)
            let revoked = try await Self.issueToken(app, nip: Self.managerNIP)
            _ = try await StaffTokenStore(pool: app.pool).revoke(id: revoked.id)
            let manager = try await Self.issueToken(app, nip: Self.managerNIP)
            try await app.test { client in
                // Without the pre-session cookie and its form token: refused.
                try await client.execute(
                    uri: "/dasbor/masuk", method: .post, headers: Self.formHeaders, body: Self.form(["token": manager.token])
                ) { response in
                    #expect(response.status == .forbidden)
                    #expect(response.body.text.contains("<code>csrf_invalid</code>"))
                    #expect(response.headers[values: .setCookie].allSatisfy { !$0.hasPrefix("loket_session=") })
                }
                let (cookie, csrf) = try await Self.signInForm(client)
                // A form token from another pre-session does not fit this cookie.
                let (_, otherCSRF) = try await Self.signInForm(client)
                try await client.execute(
                    uri: "/dasbor/masuk", method: .post, headers: Self.formHeaders.merging([.cookie: cookie]),
                    body: Self.form(["token": manager.token, "csrf": otherCSRF])
                ) { response in
                    #expect(response.status == .forbidden)
                }
                try await client.execute(
                    uri: "/dasbor/masuk", method: .post, headers: Self.formHeaders.merging([.cookie: cookie]),
                    body: Self.form(["token": staffToken.token, "csrf": csrf])
                ) { response in
                    #expect(response.status == .forbidden)
                    #expect(response.body.text.contains("<code>role_required</code>"))
                }
                try await client.execute(
                    uri: "/dasbor/masuk", method: .post, headers: Self.formHeaders.merging([.cookie: cookie]),
                    body: Self.form(["token": revoked.token, "csrf": csrf])
                ) { response in
                    #expect(response.status == .unauthorized)
                    #expect(response.body.text.contains("<code>token_revoked</code>"))
                }
                try await client.execute(
                    uri: "/dasbor/masuk", method: .post, headers: Self.formHeaders.merging([.cookie: cookie]),
                    body: Self.form(["token": "lks_tidak-ada", "csrf": csrf])
                ) { response in
                    #expect(response.status == .unauthorized)
                    #expect(response.body.text.contains("<code>token_invalid</code>"))
                }
                try await client.execute(
                    uri: "/dasbor/masuk", method: .post, headers: Self.formHeaders.merging([.cookie: cookie]),
                    body: Self.form(["token": manager.token, "csrf": csrf])
                ) { response in
                    #expect(response.status == .seeOther)
                    #expect(response.headers[.location] == "/dasbor")
                    let set = try #require(response.headers[values: .setCookie].first { $0.hasPrefix("loket_session=") })
                    let attributes = Set(set.split(separator: ";").dropFirst().map { $0.trimmingCharacters(in: .whitespaces) })
                    #expect(attributes.contains("HttpOnly"))
                    #expect(attributes.contains("SameSite=Strict"))
                    #expect(attributes.contains("Path=/dasbor"))
                    #expect(!attributes.contains("Secure"), "plain HTTP without a public https URL")
                    let maxAge = try #require(attributes.first { $0.hasPrefix("Max-Age=") }.flatMap { Int($0.dropFirst(8)) })
                    #expect(maxAge > 0 && maxAge <= 8 * 3600)
                    // The value names the token by id and is signed; the token itself is not in it.
                    let value = String(set.split(separator: ";")[0].dropFirst("loket_session=".count))
                    #expect(value.hasPrefix("s1.\(manager.id)."))
                    #expect(!set.contains(manager.token))
                    #expect(!set.contains(String(manager.token.dropFirst(4).prefix(20))))
                    // The pre-session cookie is dropped.
                    #expect(response.headers[values: .setCookie].contains { $0.hasPrefix("loket_signin=;") && $0.contains("Max-Age=0") })
                }
            }
        }
    }

    @Test func theCookieIsSecureWhenTheSiteIsServedOverHTTPS() async throws {
        var options = APIOptions()
        options.publicBaseURL = "https://loket.serangkota.go.id"
        try await APITestEnvironment.withApp(options: options) { app in
            let manager = try await Self.issueToken(app, nip: Self.managerNIP)
            try await app.test { client in
                let cookie = try await Self.signIn(client, token: manager.token)
                #expect(cookie.hasPrefix("loket_session="))
                try await client.execute(uri: "/dasbor/masuk", method: .get) { response in
                    let set = try #require(response.headers[values: .setCookie].first)
                    #expect(set.contains("; Secure"))
                    // Browsers are told to come back over HTTPS only, on every page and error page.
                    #expect(response.headers[.strictTransportSecurity] == "max-age=31536000")
                }
                try await client.execute(uri: "/transparansi?from=kemarin", method: .get) { response in
                    #expect(response.status == .badRequest)
                    #expect(response.headers[.strictTransportSecurity] == "max-age=31536000")
                }
            }
        }
    }

    /// Behind a trusted proxy, HTTPS is what that proxy wrote last in X-Forwarded-Proto: a client
    /// that sends "https" itself over plain HTTP does not make the cookie Secure (it would then
    /// not come back), and a site without an https public URL sends no HSTS.
    @Test func forwardedProtoIsReadFromTheProxysEntry() async throws {
        var options = APIOptions()
        options.trustForwardedFor = true
        try await APITestEnvironment.withApp(options: options) { app in
            try await app.test { client in
                for (proto, secure) in [("https", true), ("https, http", false), ("http, https", true)] {
                    try await client.execute(
                        uri: "/dasbor/masuk", method: .get, headers: [HTTPField.Name("X-Forwarded-Proto")!: proto]
                    ) { response in
                        let set = try #require(response.headers[values: .setCookie].first)
                        #expect(set.contains("; Secure") == secure, "\(proto): \(set)")
                        #expect(response.headers[.strictTransportSecurity] == nil)
                    }
                }
            }
        }
    }

    @Test func theDashboardShowsBreachesTheHeatMapAndTheTrend() async throws {
        let clock = TestClock(Date())
        try await APITestEnvironment.withApp(clock: { clock.now }) { app in
            let fixture = try await Self.closedFixture(app)
            let late = try await Self.file(app, nik: "3673014501900009")
            // A week later the untouched request is far past its response deadline.
            clock.now = clock.now.addingTimeInterval(7 * 86_400)
            let manager = try await Self.issueToken(app, nip: Self.managerNIP)
            try await app.test { client in
                let cookie = try await Self.signIn(client, token: manager.token)
                try await client.execute(uri: "/dasbor", method: .get, headers: [.cookie: cookie]) { response in
                    let html = response.body.text
                    #expect(response.status == .ok, "\(html)")
                    #expect(response.headers[.cacheControl] == "no-store")
                    Self.expectSecurityHeaders(response, "/dasbor")
                    #expect(html.contains("Drs. Bambang Hermawan, M.M."))
                    #expect(html.contains("<code>\(late.code)</code>"))
                    #expect(html.contains("Tanggapan"))
                    #expect(html.contains("<table class=\"heatmap\">"))
                    #expect(html.contains("<td class=\"t4\" title="))
                    #expect(html.contains(">100%</td>"))
                    #expect(html.contains(fixture.unitName))
                    #expect(html.contains("class=\"vol\""))
                    #expect(html.contains("name=\"csrf\" value=\""))
                }
                // A tampered cookie is no session.
                let tampered = cookie.replacingOccurrences(of: "s1.\(manager.id).", with: "s1.\(manager.id + 1).")
                try await client.execute(uri: "/dasbor", method: .get, headers: [.cookie: tampered]) { response in
                    #expect(response.status == .seeOther)
                    #expect(response.headers[.location] == "/dasbor/masuk?reason=session_expired")
                }
            }
        }
    }

    @Test func aRevokedTokenEndsItsSession() async throws {
        try await APITestEnvironment.withApp { app in
            let manager = try await Self.issueToken(app, nip: Self.managerNIP)
            try await app.test { client in
                let cookie = try await Self.signIn(client, token: manager.token)
                try await client.execute(uri: "/dasbor", method: .get, headers: [.cookie: cookie]) { response in
                    #expect(response.status == .ok)
                }
                _ = try await StaffTokenStore(pool: app.pool).revoke(id: manager.id)
                try await client.execute(uri: "/dasbor?lang=en", method: .get, headers: [.cookie: cookie]) { response in
                    #expect(response.status == .seeOther)
                    #expect(response.headers[.location] == "/dasbor/masuk?reason=token_revoked&lang=en")
                    #expect(response.headers[values: .setCookie].contains { $0.hasPrefix("loket_session=;") && $0.contains("Max-Age=0") })
                }
                try await client.execute(uri: "/dasbor/masuk?reason=token_revoked&lang=en", method: .get) { response in
                    #expect(response.body.text.contains("Your token was revoked"))
                }
            }
        }
    }

    @Test func signOutNeedsTheSessionsCSRFToken() async throws {
        try await APITestEnvironment.withApp { app in
            let manager = try await Self.issueToken(app, nip: Self.managerNIP)
            try await app.test { client in
                let cookie = try await Self.signIn(client, token: manager.token)
                let csrf = try await client.execute(uri: "/dasbor", method: .get, headers: [.cookie: cookie]) { response in
                    try #require(Self.field("csrf", in: response.body.text))
                }
                for body in [[:], ["csrf": "bukan-token"], ["csrf": String(csrf.dropLast()) + (csrf.hasSuffix("A") ? "B" : "A")]] {
                    try await client.execute(
                        uri: "/dasbor/keluar", method: .post, headers: Self.formHeaders.merging([.cookie: cookie]), body: Self.form(body)
                    ) { response in
                        #expect(response.status == .forbidden)
                        #expect(response.headers[.contentType] == "text/html; charset=utf-8")
                        #expect(response.body.text.contains("<code>csrf_invalid</code>"))
                        #expect(response.headers[values: .setCookie].isEmpty)
                    }
                }
                // A form posted from another site carries no Strict cookie: its answer must not
                // expire the session cookie either (a browser may apply it).
                try await client.execute(
                    uri: "/dasbor/keluar", method: .post, headers: Self.formHeaders, body: Self.form(["csrf": "x"])
                ) { response in
                    #expect(response.status == .seeOther)
                    #expect(response.headers[values: .setCookie].isEmpty, "\(response.headers[values: .setCookie])")
                }
                // Still signed in after the refused attempts.
                try await client.execute(uri: "/dasbor", method: .get, headers: [.cookie: cookie]) { response in
                    #expect(response.status == .ok)
                }
                try await client.execute(
                    uri: "/dasbor/keluar", method: .post, headers: Self.formHeaders.merging([.cookie: cookie]), body: Self.form(["csrf": csrf])
                ) { response in
                    #expect(response.status == .seeOther)
                    #expect(response.headers[.location] == "/dasbor/masuk?reason=signed_out")
                    #expect(response.headers[values: .setCookie].contains { $0.hasPrefix("loket_session=;") && $0.contains("Max-Age=0") })
                }
            }
        }
    }

    /// The router skips empty path segments, so `//lacak` is the tracking page: it gets the pages'
    /// language, headers and HTML errors, and `//api/…` the API's `no-store`, as without the slash.
    @Test func aDoubledSlashIsTheSamePathEverywhere() async throws {
        try await APITestEnvironment.withApp { app in
            let receipt = try await Self.file(app)
            try await app.test { client in
                try await client.execute(uri: "//lacak?lang=en", method: .get) { response in
                    #expect(response.status == .ok)
                    #expect(response.body.text.contains("<html lang=\"en\">"), "?lang=en was read")
                    Self.expectSecurityHeaders(response, "//lacak")
                }
                try await client.execute(uri: "//transparansi?from=kemarin", method: .get) { response in
                    #expect(response.status == .badRequest)
                    #expect(response.headers[.contentType] == "text/html; charset=utf-8")
                }
                try await client.execute(
                    uri: "//api/v1/requests/\(receipt.code)", method: .get, headers: [.authorization: "Bearer \(receipt.token)"]
                ) { response in
                    #expect(response.status == .ok)
                    #expect(response.headers[.cacheControl] == "no-store")
                }
            }
        }
        // The path as the middlewares read it, and which of them are pages.
        #expect(Request.routed("/lacak") == "/lacak")
        #expect(Request.routed("//lacak") == "/lacak")
        #expect(Request.routed("/api///v1//staff/") == "/api/v1/staff/")
        #expect(Request.routed("/a/b/") == "/a/b/")
        #expect(Request.routed("") == "")
        for page in ["/", "//", "/lacak", "/lacak/", "//dasbor/masuk", "/transparansi/unit/X", "/layanan"] {
            #expect(PageMiddleware.isPage(page), "\(page) is a page")
        }
        for other in ["/lacakx", "/dasbord", "/api/v1/requests", "/healthz", "/layanan.json", ""] {
            #expect(!PageMiddleware.isPage(other), "\(other) is not a page")
        }
    }

    @Test func aSignedOutSessionsCookieOpensNothingAgainButOtherSessionsStay() async throws {
        try await APITestEnvironment.withApp { app in
            let manager = try await Self.issueToken(app, nip: Self.managerNIP)
            try await app.test { client in
                // Two sessions of one token: an office computer and a phone.
                let office = try await Self.signIn(client, token: manager.token)
                let phone = try await Self.signIn(client, token: manager.token)
                #expect(office != phone)
                let csrf = try await client.execute(uri: "/dasbor", method: .get, headers: [.cookie: office]) { response in
                    try #require(Self.field("csrf", in: response.body.text))
                }
                try await client.execute(
                    uri: "/dasbor/keluar", method: .post, headers: Self.formHeaders.merging([.cookie: office]), body: Self.form(["csrf": csrf])
                ) { response in
                    #expect(response.status == .seeOther)
                    #expect(response.headers[.location] == "/dasbor/masuk?reason=signed_out")
                }
                // A copy of the signed-out cookie (still within its Max-Age, its signature good) is refused.
                for uri in ["/dasbor", "/dasbor?lang=en"] {
                    try await client.execute(uri: uri, method: .get, headers: [.cookie: office]) { response in
                        #expect(response.status == .seeOther)
                        #expect(response.headers[.location]?.hasPrefix("/dasbor/masuk?reason=session_expired") == true)
                        #expect(response.headers[values: .setCookie].contains { $0.hasPrefix("loket_session=;") && $0.contains("Max-Age=0") })
                        #expect(!response.body.text.contains("csrf"))
                    }
                }
                // Signing out twice is harmless.
                try await client.execute(
                    uri: "/dasbor/keluar", method: .post, headers: Self.formHeaders.merging([.cookie: office]), body: Self.form(["csrf": csrf])
                ) { response in
                    #expect(response.status == .seeOther)
                }
                // The other session, and the token itself, go on.
                try await client.execute(uri: "/dasbor", method: .get, headers: [.cookie: phone]) { response in
                    #expect(response.status == .ok)
                }
                try await client.execute(uri: "/api/v1/staff/me", method: .get, headers: [.authorization: "Bearer \(manager.token)"]) { response in
                    #expect(response.status == .ok)
                }
                let recorded = try await app.pool.query(
                    "SELECT count(*) AS n, bool_and(expires_at > signed_out_at) AS later FROM dashboard_sign_outs").single()
                #expect(try recorded.decode(Int.self, "n") == 1)
                #expect(try recorded.decode(Bool.self, "later"))
            }
        }
    }

    // MARK: Without a database

    @Test func aMoveUpTheTreeIsLabelledAsAMove() {
        func entry(_ kind: EventKind, to unit: UnitID?) -> TimelineEntry {
            TimelineEntry(
                id: 1, at: Date(timeIntervalSince1970: 0), kind: kind, actorKind: .system, actorStaffID: nil, fromStatus: .inProgress,
                toStatus: .queued, isPublic: unit != nil, message: nil, fromUnitID: unit.map { _ in 1 }, toUnitID: unit, newHolderID: nil,
                overriddenHolderID: nil)
        }
        #expect(eventLabel(entry(.slaStage, to: 2), .english) == "Moved up to the unit above (time limit passed)")
        #expect(eventLabel(entry(.slaStage, to: 2), .indonesian) == "Dialihkan ke unit di atasnya (batas waktu terlampaui)")
        #expect(eventLabel(entry(.escalated, to: 2), .english) == "Moved up to the unit above")
        #expect(eventLabel(entry(.slaStage, to: nil), .english) == "Service-level checkpoint")
        #expect(eventLabel(entry(.transferred, to: 2), .english) == "Transferred to another unit")
    }

    @Test func numbersMoneyAndDatesReadAsEachLanguageWritesThem() throws {
        let id = PageFormat(language: .indonesian, timeZone: "Asia/Jakarta")
        let en = PageFormat(language: .english, timeZone: "Asia/Jakarta")
        #expect(id.rupiah(0) == "Rp 0")
        #expect(id.rupiah(100_000) == "Rp 100.000")
        #expect(en.rupiah(1_250_000) == "Rp 1.250.000")
        #expect(id.integer(1_234_567) == "1.234.567")
        #expect(en.integer(1_234_567) == "1,234,567")
        #expect(id.percent(87.5) == "87,5%")
        #expect(en.percent(87.5) == "87.5%")
        #expect(id.percent(100) == "100%")
        #expect(id.percent(nil) == "–")
        // A share short of all is never published as 100 %, nor one above none as 0 %.
        #expect(ReportRow.percent(3999, of: 4000) == 99.9)
        #expect(ReportRow.percent(4000, of: 4000) == 100)
        #expect(ReportRow.percent(1, of: 4000) == 0.1)
        #expect(ReportRow.percent(0, of: 4000) == 0)
        #expect(ReportRow.percent(2, of: 3) == 66.7)
        #expect(ReportRow.percent(0, of: 0) == nil)
        #expect(id.fixed2(87.5) == "87,50")
        #expect(id.workingTarget(minutes: 1350, dayMinutes: 450) == "3 hari kerja")
        #expect(en.workingTarget(minutes: 450, dayMinutes: 450) == "1 working day")
        #expect(id.workingTarget(minutes: 240, dayMinutes: 450) == "4 jam kerja")
        // Medians in quarter hours read as the JSON gives them.
        #expect(id.workingHours(4.25) == "4,25 jam kerja")
        #expect(en.workingHours(4.5) == "4.5 working hours")
        #expect(id.workingHours(12) == "12 jam kerja")
        let instant = try #require(RFC3339.date(from: "2026-12-01T02:30:00Z"))
        #expect(id.instant(instant) == "1 Des 2026, 09.30 WIB")
        #expect(en.instant(instant) == "1 Dec 2026, 09:30 WIB")
        #expect(PageFormat.tone(94.9) == "t3")
        #expect(PageFormat.tone(95) == "t4")
        #expect(PageFormat.tone(nil) == "tn")
    }

    @Test func sessionCookiesAndFormTokensAreBoundToTheSecret() {
        let keys = PageKeys(secret: "rahasia")
        let now = Date()
        let session = DashboardSession(tokenID: 7, staffID: 3, expiresAt: Int64(now.timeIntervalSince1970) + 600, nonce: PageKeys.nonce())
        let value = session.cookieValue(keys)
        #expect(DashboardSession.open(value, keys: keys, now: now) == session)
        #expect(DashboardSession.open(value, keys: PageKeys(secret: "lain"), now: now) == nil)
        #expect(DashboardSession.open(value, keys: keys, now: now.addingTimeInterval(601)) == nil)
        #expect(DashboardSession.open(value.replacingOccurrences(of: "s1.7.", with: "s1.8."), keys: keys, now: now) == nil)
        #expect(session.acceptsCSRF(session.csrfToken(keys), keys: keys))
        #expect(!session.acceptsCSRF(session.csrfToken(PageKeys(secret: "lain")), keys: keys))
        let other = DashboardSession(tokenID: 7, staffID: 3, expiresAt: session.expiresAt, nonce: PageKeys.nonce())
        #expect(!other.acceptsCSRF(session.csrfToken(keys), keys: keys))
        let nonce = PageKeys.nonce()
        #expect(SignInGuard.accepts(SignInGuard.formToken(nonce: nonce, keys: keys), nonce: nonce, keys: keys))
        #expect(!SignInGuard.accepts(SignInGuard.formToken(nonce: nonce, keys: keys), nonce: PageKeys.nonce(), keys: keys))
        #expect(!SignInGuard.accepts(nil, nonce: nonce, keys: keys))
    }

    // MARK: Helpers

    static let formHeaders: HTTPFields = [.contentType: "application/x-www-form-urlencoded"]

    static func form(_ fields: [String: String]) -> ByteBuffer {
        ByteBuffer(string: fields.map { "\(PageRequest.encode($0.key))=\(PageRequest.encode($0.value))" }.joined(separator: "&"))
    }

    static func expectSecurityHeaders(_ response: TestResponse, _ path: String) {
        let policy = response.headers[.contentSecurityPolicy] ?? ""
        #expect(policy.contains("default-src 'none'"), "\(path)")
        #expect(policy.contains("frame-ancestors 'none'"), "\(path)")
        #expect(!policy.contains("unsafe-inline"), "\(path)")
        #expect(response.headers[.xContentTypeOptions] == "nosniff", "\(path)")
        #expect(response.headers[HTTPField.Name("Referrer-Policy")!] == "no-referrer", "\(path)")
    }

    static func between(_ text: String, _ start: String, _ end: String) -> String? {
        guard let lower = text.range(of: start), let upper = text.range(of: end, range: lower.upperBound..<text.endIndex) else { return nil }
        return String(text[lower.upperBound..<upper.lowerBound])
    }

    /// The value of a hidden form field.
    static func field(_ name: String, in html: String) -> String? {
        between(html, "name=\"\(name)\" value=\"", "\"")
    }

    struct Receipt {
        var code: String
        var token: String
    }

    static func file(_ app: TestApp, nik: String = "3673014501900001") async throws -> Receipt {
        try await app.test { client in
            try await client.execute(
                uri: "/api/v1/requests", method: .post, headers: jsonHeaders, body: .json(sampleFiling(nik: nik))
            ) { response in
                #expect(response.status == .created, "\(response.body.text)")
                return Receipt(
                    code: try #require(response.body.json["tracking_code"] as? String),
                    token: try #require(response.body.json["access_token"] as? String))
            }
        }
    }

    /// Three kk-baru requests closed through the request store (two completed with IKM feedback
    /// of all 4s and all 3s, one rejected), as the API's officers would.
    static func closedFixture(_ app: TestApp) async throws -> (unitName: String, codes: [String]) {
        var codes: [String] = []
        for (index, nik) in ["3673014501900001", "3673014501900002", "3673014501900003"].enumerated() {
            let receipt = try await file(app, nik: nik)
            let officer = try await CitizenAPITests.officer(for: receipt.code, app: app)
            let catalog = try await app.services.catalog.snapshot()
            _ = try await app.services.requests.apply(.claim, by: .staff(officer), trackingCode: receipt.code, catalog: catalog)
            if index < 2 {
                _ = try await app.services.requests.apply(
                    .resolve(publicMessage: "Selesai.", outcome: nil), by: .staff(officer), trackingCode: receipt.code, catalog: catalog)
                try await app.services.requests.giveFeedback(
                    trackingCode: receipt.code, scores: try IKMScores(Array(repeating: 4 - index, count: 9)), comment: nil)
            } else {
                _ = try await app.services.requests.apply(
                    .reject(reason: "Dokumen tidak sesuai."), by: .staff(officer), trackingCode: receipt.code, catalog: catalog)
            }
            codes.append(receipt.code)
        }
        let unit = try await app.pool.query(
            "SELECT u.name FROM units u JOIN service_requests r ON r.unit_id = u.id WHERE r.tracking_code = $1", codes[0]
        ).single()
        return (try unit.decode(String.self, "name"), codes)
    }

    static func issueToken(_ app: TestApp, nip: String) async throws -> StaffTokenStore.Issued {
        let row = try await app.pool.query("SELECT id FROM staff WHERE nip = $1", nip).single()
        return try await StaffTokenStore(pool: app.pool).issue(staffID: try row.decode(Int64.self, "id"), label: "pages test", expiresAt: nil)
    }

    /// The pre-session cookie (as a Cookie header) and the sign-in form's anti-CSRF token.
    static func signInForm(_ client: some TestClientProtocol) async throws -> (cookie: String, csrf: String) {
        try await client.execute(uri: "/dasbor/masuk", method: .get) { response in
            let set = try #require(response.headers[values: .setCookie].first { $0.hasPrefix("loket_signin=") })
            let attributes = set.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
            #expect(attributes.contains("HttpOnly"))
            #expect(attributes.contains("SameSite=Strict"))
            return (String(set.split(separator: ";")[0]), try #require(field("csrf", in: response.body.text)))
        }
    }

    /// Signs in with `token` and returns the session as a Cookie header.
    static func signIn(_ client: some TestClientProtocol, token: String) async throws -> String {
        let (cookie, csrf) = try await signInForm(client)
        return try await client.execute(
            uri: "/dasbor/masuk", method: .post, headers: formHeaders.merging([.cookie: cookie]), body: form(["token": token, "csrf": csrf])
        ) { response in
            #expect(response.status == .seeOther, "\(response.body.text)")
            let set = try #require(response.headers[values: .setCookie].first { $0.hasPrefix("loket_session=") })
            return String(set.split(separator: ";")[0])
        }
    }
}
