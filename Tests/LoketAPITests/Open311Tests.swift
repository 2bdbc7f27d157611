import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
@testable import LoketAPI
import LoketCore
import LoketStore
import Postgres
import Prometheus
import Testing
#if canImport(FoundationXML)
import FoundationXML
#endif

@Suite("Open311 GeoReport v2")
struct Open311Tests {
    // MARK: Discovery and catalog

    @Test func discoveryDescribesTheEndpointInBothFormats() async throws {
        try await APITestEnvironment.withApp { app in
            try await app.test { client in
                let json = try await client.execute(uri: "/open311/v2/discovery.json", method: .get)
                #expect(json.status == .ok)
                #expect(json.headers[.contentType] == "application/json; charset=utf-8")
                let endpoint = try #require((json.body.json["endpoints"] as? [[String: Any]])?.first)
                #expect(endpoint["specification"] as? String == "http://wiki.open311.org/GeoReport_v2")
                #expect(endpoint["url"] as? String == "http://localhost/open311/v2")
                #expect(endpoint["type"] as? String == "production")
                #expect(Set(endpoint["formats"] as? [String] ?? []) == ["text/xml", "application/json"])
                #expect(RFC3339.date(from: json.body.json["changeset"] as? String ?? "") != nil)

                let xml = try await client.execute(uri: "/open311/v2/discovery.xml", method: .get)
                #expect(xml.status == .ok)
                #expect(xml.headers[.contentType] == "text/xml; charset=utf-8")
                #expect(xml.body.text.hasPrefix(#"<?xml version="1.0" encoding="utf-8"?>"#))
                let root = try O311XMLTree.parse(xml.body)
                #expect(root.name == "discovery")
                let formats = root.child("endpoints")?.child("endpoint")?.child("formats")?.children("format").map(\.text)
                #expect(formats == ["text/xml", "application/json"])
            }
        }
    }

    @Test func serviceListInBothFormatsAndLanguages() async throws {
        try await APITestEnvironment.withApp { app in
            let active = try await app.services.catalog.snapshot().services.count
            try await app.test { client in
                let json = try await client.execute(uri: "/open311/v2/services.json", method: .get)
                #expect(json.status == .ok)
                #expect(json.headers[.contentType] == "application/json; charset=utf-8")
                let list = json.body.jsonArray
                #expect(list.count == active)
                #expect(list.allSatisfy { $0["service_code"] is String && $0["type"] as? String == "realtime" })
                let kk = try #require(list.first { $0["service_code"] as? String == "kk-baru" })
                #expect(kk["service_name"] as? String == "Penerbitan Kartu Keluarga (KK)")
                #expect(kk["metadata"] as? Bool == true)
                #expect(kk["group"] as? String == "adminduk")
                #expect((kk["keywords"] as? String)?.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.contains("kartu keluarga") == true)
                let birth = try #require(list.first { $0["service_code"] as? String == "akta-kelahiran" })
                #expect(birth["metadata"] as? Bool == false)

                let english = try await client.execute(uri: "/open311/v2/services.json", method: .get, headers: [.acceptLanguage: "en"])
                #expect(english.body.jsonArray.first { $0["service_code"] as? String == "kk-baru" }?["service_name"] as? String
                    == "Family card (KK) issuance")
                #expect(english.headers[HTTPField.Name("Content-Language")!] == "en")

                let xml = try await client.execute(uri: "/open311/v2/services.xml", method: .get)
                #expect(xml.status == .ok)
                #expect(xml.headers[.contentType] == "text/xml; charset=utf-8")
                let root = try O311XMLTree.parse(xml.body)
                #expect(root.name == "services")
                #expect(root.children("service").count == active)
                let kkXML = try #require(root.children("service").first { $0.value("service_code") == "kk-baru" })
                #expect(kkXML.value("metadata") == "true")
                #expect(kkXML.value("service_name") == "Penerbitan Kartu Keluarga (KK)")

                // jurisdiction_id: ours, empty (= absent) and absent all answer the same list.
                let plain = json.body.text
                for query in ["?jurisdiction_id=serangkota.go.id", "?jurisdiction_id=", "?jurisdiction_id=&"] {
                    let same = try await client.execute(uri: "/open311/v2/services.json\(query)", method: .get)
                    #expect(same.status == .ok)
                    #expect(same.body.text == plain, "\(query)")
                }
            }
        }
    }

    @Test func serviceDefinitionsDescribeTheAttributes() async throws {
        try await APITestEnvironment.withApp { app in
            try await app.test { client in
                let json = try await client.execute(uri: "/open311/v2/services/kk-baru.json", method: .get)
                #expect(json.status == .ok)
                #expect(json.body.json["service_code"] as? String == "kk-baru")
                let attribute = try #require((json.body.json["attributes"] as? [[String: Any]])?.first)
                #expect(attribute["variable"] as? Bool == true)
                #expect(attribute["code"] as? String == "alasan")
                #expect(attribute["datatype"] as? String == "singlevaluelist")
                #expect(attribute["required"] as? Bool == true)
                #expect(attribute["order"] as? Int == 1)
                #expect(attribute["description"] as? String == "Alasan permohonan KK")
                #expect((attribute["datatype_description"] as? String)?.isEmpty == false)
                let values = attribute["values"] as? [[String: String]] ?? []
                #expect(values.map { $0["key"] ?? "" }.contains("keluarga_baru"))
                #expect(values.allSatisfy { $0["name"]?.isEmpty == false })

                let multi = try await client.execute(uri: "/open311/v2/services/dtks-bansos.json", method: .get, headers: [.acceptLanguage: "en"])
                let program = try #require((multi.body.json["attributes"] as? [[String: Any]])?.first)
                #expect(program["datatype"] as? String == "multivaluelist")
                #expect(program["description"] as? String == "Assistance programmes requested")
                #expect((program["datatype_description"] as? String)?.contains("attribute[program][]") == true)

                let xml = try await client.execute(uri: "/open311/v2/services/ktp-el.xml", method: .get)
                #expect(xml.status == .ok)
                #expect(xml.headers[.contentType] == "text/xml; charset=utf-8")
                let root = try O311XMLTree.parse(xml.body)
                #expect(root.name == "service_definition")
                #expect(root.value("service_code") == "ktp-el")
                let attributes = root.child("attributes")?.children("attribute") ?? []
                #expect(attributes.map { $0.value("code") } == ["jenis_permohonan", "nomor_kk"])
                #expect(attributes.first?.child("values")?.children("value").count == 4)
                #expect(attributes.last?.value("required") == "false")

                let none = try await client.execute(uri: "/open311/v2/services/akta-kelahiran.xml", method: .get)
                #expect(try O311XMLTree.parse(none.body).child("attributes")?.children.isEmpty == true)
            }
        }
    }

    /// Unknown services, requests, tokens, formats and jurisdictions are 404 with Open311's error
    /// list, in the requested format (XML when the format itself is unknown).
    @Test func missingResourcesAre404InOpen311Shape() async throws {
        let unknownCode = try TrackingCode.generate(prefix: "SRG").description
        try await APITestEnvironment.withApp { app in
            try await app.test { client in
                let jsonCases = [
                    "/open311/v2/services/no-such-service.json",
                    "/open311/v2/requests/\(unknownCode).json",
                    "/open311/v2/requests/not-a-code.json",
                    "/open311/v2/tokens/\(unknownCode).json",
                    "/open311/v2/services.json?jurisdiction_id=jakarta.go.id",
                    "/open311/v2/requests.json?jurisdiction_id=jakarta.go.id",
                    "/open311/v2/services/kk-baru.json?jurisdiction_id=jakarta.go.id",
                ]
                for uri in jsonCases {
                    let response = try await client.execute(uri: uri, method: .get)
                    #expect(response.status == .notFound, "\(uri)")
                    #expect(response.headers[.contentType] == "application/json; charset=utf-8", "\(uri)")
                    let errors = response.body.jsonArray
                    #expect(errors.count == 1, "\(uri): \(response.body.text)")
                    #expect(errors.first?["code"] as? Int == 404, "\(uri)")
                    #expect((errors.first?["description"] as? String)?.isEmpty == false, "\(uri)")
                }
                let xmlCases = [
                    "/open311/v2/services/no-such-service.xml",
                    "/open311/v2/services.html",
                    "/open311/v2/discovery.txt",
                    "/open311/v2/services/kk-baru.yaml",
                    "/open311/v2/services/kk-baru",
                    "/open311/v2/requests/\(unknownCode).csv",
                    "/open311/v2/requests/\(unknownCode).xml",
                    "/open311/v2/tokens/garbage.xml",
                    "/open311/v2/tokens/garbage.JSON",
                ]
                for uri in xmlCases {
                    let response = try await client.execute(uri: uri, method: .get)
                    #expect(response.status == .notFound, "\(uri)")
                    #expect(response.headers[.contentType] == "text/xml; charset=utf-8", "\(uri)")
                    let root = try O311XMLTree.parse(response.body)
                    #expect(root.name == "errors", "\(uri)")
                    #expect(root.children("error").first?.value("code") == "404", "\(uri)")
                    #expect(root.children("error").first?.value("description")?.isEmpty == false, "\(uri)")
                }
                let english = try await client.execute(uri: "/open311/v2/services/no-such-service.json", method: .get, headers: [.acceptLanguage: "en"])
                #expect(english.body.jsonArray.first?["description"] as? String == #"There is no active service "no-such-service"."#)
                let indonesian = try await client.execute(uri: "/open311/v2/services.csv", method: .get)
                #expect(try O311XMLTree.parse(indonesian.body).children("error").first?.value("description")?.hasPrefix("Format \"csv\" tidak tersedia") == true)
            }
        }
    }

    // MARK: Filing

    @Test func aPartnerFilesRequestsInBothFormats() async throws {
        try await APITestEnvironment.withApp { app in
            let partner = try await app.services.partners.issue(name: "Aplikasi Lapor Serang", contactEmail: "dev@example.id")
            // A web form's textarea sends its line breaks as CR LF: stored as a newline.
            let description = "Mohon KK baru: 5 < 7 & \"kutip\" 'tunggal' + 100%\r\nbaris kedua"
            let stored = "Mohon KK baru: 5 < 7 & \"kutip\" 'tunggal' + 100%\nbaris kedua"
            let fields: [(String, String)] = [
                ("api_key", partner.key), ("jurisdiction_id", "serangkota.go.id"), ("service_code", "kk-baru"),
                ("first_name", "Siti"), ("last_name", "Aminah"), ("email", "siti@example.id"), ("phone", "0812-3456-7890"),
                ("address_string", "Jl. Ki Mas Jong No. 5, Serang"), ("address_id", "36.73.01.1001"),
                ("lat", "-6.1185"), ("long", "106.1503"), ("description", description),
                ("media_url", "HTTPS://foto.example.id/kk.jpg"), ("device_id", "perangkat-1"), ("account_id", "akun-77"),
                ("attribute[alasan]", "keluarga_baru"),
            ]
            let code = try await app.test { client in
                let response = try await client.execute(uri: "/open311/v2/requests.json", method: .post, headers: O311.formHeaders, body: O311.form(fields))
                #expect(response.status == .ok, "\(response.body.text)")
                #expect(response.headers[.contentType] == "application/json; charset=utf-8")
                let answer = try #require(response.body.jsonArray.first)
                let code = try #require(answer["service_request_id"] as? String)
                #expect(code.hasPrefix("SRG-"))
                #expect(answer["account_id"] as? String == "akun-77")
                #expect((answer["service_notice"] as? String)?.contains("diperkirakan selesai pada") == true)
                #expect(answer.keys.sorted() == ["account_id", "service_notice", "service_request_id"])
                return code
            }
            let row = try await app.pool.query(
                """
                SELECT r.source, r.partner_key_id, r.citizen_name, r.citizen_email, r.citizen_phone, r.description, r.address,
                       r.area_code, r.latitude, r.media_url, r.attributes::text AS attributes, u.name AS unit_name
                FROM service_requests r JOIN units u ON u.id = r.unit_id WHERE r.tracking_code = $1
                """, code
            ).single()
            #expect(try row.decode(String.self, "source") == "open311")
            #expect(try row.decode(Int64.self, "partner_key_id") == partner.id)
            #expect(try row.decode(String.self, "citizen_name") == "Siti Aminah")
            #expect(try row.decode(String.self, "citizen_email") == "siti@example.id")
            #expect(try row.decode(String.self, "citizen_phone") == "+6281234567890")
            #expect(try row.decode(String.self, "description") == stored)
            #expect(try row.decode(String.self, "area_code") == "36.73.01.1001")
            #expect(try row.decode(Double.self, "latitude") == -6.1185)
            // The scheme in its canonical lower case, as the database's check wants it (once a 500).
            #expect(try row.decode(String.self, "media_url") == "https://foto.example.id/kk.jpg")
            #expect(try row.decode(String.self, "attributes") == #"{"alasan": "keluarga_baru"}"#)
            let unitName = try row.decode(String.self, "unit_name")

            try await app.test { client in
                // The key in the query string, raw brackets and repeated [] values for a multivaluelist,
                // `+` as a space and %2B as a plus; the answer in XML and in English.
                let body = "service_code=dtks-bansos&email=budi%40example.id&address_string=Kp.+Baru+RT+01%2FRW+02"
                    + "&description=Rumah+rusak+1%2B1&attribute[program][]=pkh&attribute[program][]=bpnt&attribute%5Bprogram%5D%5B%5D="
                let response = try await client.execute(
                    uri: "/open311/v2/requests.xml?api_key=\(partner.key)", method: .post,
                    headers: [.contentType: "application/x-www-form-urlencoded", .acceptLanguage: "en"], body: ByteBuffer(string: body))
                #expect(response.status == .ok, "\(response.body.text)")
                #expect(response.headers[.contentType] == "text/xml; charset=utf-8")
                let root = try O311XMLTree.parse(response.body)
                #expect(root.name == "service_requests")
                let request = try #require(root.children("request").first)
                let xmlCode = try #require(request.value("service_request_id"))
                #expect(request.child("account_id")?.text == "")
                #expect(request.value("service_notice")?.contains("expected to be completed by") == true)
                let stored = try await app.pool.query(
                    "SELECT address, description, attributes::text AS attributes FROM service_requests WHERE tracking_code = $1", xmlCode
                ).single()
                #expect(try stored.decode(String.self, "address") == "Kp. Baru RT 01/RW 02")
                #expect(try stored.decode(String.self, "description") == "Rumah rusak 1+1")
                #expect(try stored.decode(String.self, "attributes") == #"{"program": ["pkh", "bpnt"]}"#)

                let detail = try await client.execute(uri: "/open311/v2/requests/\(code).json", method: .get)
                #expect(detail.body.jsonArray.first?["agency_responsible"] as? String == unitName)
            }
        }
    }

    /// What partner clients send besides the specification's own examples: lists written as PHP's
    /// http_build_query writes them, a discovery behind a proxy that ends TLS; and a partner over
    /// the rate limit is told so in Open311's own error list, in the format it asked for.
    @Test func partnerClientsAsTheyAreWritten() async throws {
        var options = APIOptions()
        options.rateLimitBurst = 2
        options.rateLimitPerSecond = 0.01
        options.trustForwardedFor = true
        try await APITestEnvironment.withApp(options: options) { app in
            let partner = try await app.services.partners.issue(name: "Aplikasi Lapor Serang", contactEmail: "dev@example.id")
            try await app.test { client in
                let body = "api_key=\(partner.key)&service_code=dtks-bansos&address_string=Kp.+Baru&description=Rumah+rusak"
                    + "&attribute%5Bprogram%5D%5B0%5D=pkh&attribute[program][1]=bpnt"
                let filed = try await client.execute(
                    uri: "/open311/v2/requests.json", method: .post, headers: O311.formHeaders.merging([.forwardedForTest: "203.0.113.9"]),
                    body: ByteBuffer(string: body))
                #expect(filed.status == .ok, "\(filed.body.text)")
                let code = try #require(filed.body.jsonArray.first?["service_request_id"] as? String)
                let stored = try await app.pool.query("SELECT attributes::text AS attributes FROM service_requests WHERE tracking_code = $1", code).single()
                #expect(try stored.decode(String.self, "attributes") == #"{"program": ["pkh", "bpnt"]}"#)

                // Anything else after the code is still refused, with the forms that work named.
                let odd = try await client.execute(
                    uri: "/open311/v2/requests.json", method: .post, headers: O311.formHeaders.merging([.forwardedForTest: "198.51.100.4"]),
                    body: ByteBuffer(string: "api_key=\(partner.key)&service_code=dtks-bansos&address_string=Kp.+Baru&attribute[program][x]=pkh"))
                #expect(odd.status == .badRequest)
                #expect(odd.body.text.contains("attribute[program][x]"), "\(odd.body.text)")

                // The second filing from 203.0.113.9 emptied its bucket: the third is a 429 in
                // Open311's shape, XML for .xml and JSON for .json, with Retry-After.
                _ = try await client.execute(
                    uri: "/open311/v2/requests.json", method: .post, headers: O311.formHeaders.merging([.forwardedForTest: "203.0.113.9"]),
                    body: ByteBuffer(string: body))
                let xml = try await client.execute(
                    uri: "/open311/v2/requests.xml", method: .post, headers: O311.formHeaders.merging([.forwardedForTest: "203.0.113.9"]),
                    body: ByteBuffer(string: body))
                #expect(xml.status == .tooManyRequests)
                #expect(Int(xml.headers[.retryAfter] ?? "") ?? 0 >= 1)
                #expect(xml.headers[.contentType] == "text/xml; charset=utf-8")
                let errors = try O311XMLTree.parse(xml.body)
                #expect(errors.name == "errors")
                #expect(errors.child("error")?.value("code") == "429")
                let json = try await client.execute(
                    uri: "/open311/v2/requests.json", method: .post, headers: O311.formHeaders.merging([.forwardedForTest: "203.0.113.9"]),
                    body: ByteBuffer(string: body))
                #expect(json.status == .tooManyRequests)
                #expect(json.body.jsonArray.first?["code"] as? Int == 429, "\(json.body.text)")
                #expect(json.body.jsonArray.first?["description"] is String)

                // Behind the proxy the client spoke https, and discovery says so.
                let discovery = try await client.execute(
                    uri: "/open311/v2/discovery.json", method: .get, headers: [HTTPField.Name("X-Forwarded-Proto")!: "https"])
                let endpoint = try #require((discovery.body.json["endpoints"] as? [[String: Any]])?.first)
                #expect(endpoint["url"] as? String == "https://localhost/open311/v2")
            }
        }
    }

    @Test func filingWithoutAValidKeyIs403() async throws {
        try await APITestEnvironment.withApp { app in
            let revoked = try await app.services.partners.issue(name: "Aplikasi Lama", contactEmail: nil)
            #expect(try await app.services.partners.revoke(id: revoked.id))
            let base: [(String, String)] = [
                ("service_code", "akta-kelahiran"), ("email", "a@example.id"), ("address_string", "Jl. Veteran 1"),
            ]
            try await app.test { client in
                let cases: [(String, [(String, String)])] = [
                    ("no key", base),
                    ("empty key", base + [("api_key", "")]),
                    ("unknown key", base + [("api_key", "lk_not-a-real-key")]),
                    ("revoked key", base + [("api_key", revoked.key)]),
                ]
                for (name, fields) in cases {
                    let json = try await client.execute(uri: "/open311/v2/requests.json", method: .post, headers: O311.formHeaders, body: O311.form(fields))
                    #expect(json.status == .forbidden, "\(name)")
                    let error = json.body.jsonArray.first
                    #expect(error?["code"] as? Int == 403, "\(name)")
                    #expect((error?["description"] as? String)?.contains("api_key") == true, "\(name)")

                    let xml = try await client.execute(uri: "/open311/v2/requests.xml", method: .post, headers: O311.formHeaders, body: O311.form(fields))
                    #expect(xml.status == .forbidden, "\(name)")
                    let root = try O311XMLTree.parse(xml.body)
                    #expect(root.name == "errors")
                    #expect(root.children("error").first?.value("code") == "403", "\(name)")
                }
                let english = try await client.execute(
                    uri: "/open311/v2/requests.json", method: .post, headers: O311.headers(O311.formHeaders, adding: [.acceptLanguage: "en"]), body: O311.form(base))
                #expect(english.body.jsonArray.first?["description"] as? String == "An api_key is required to file requests through Open311.")
            }
            let stored = try await app.pool.query("SELECT count(*) AS n FROM service_requests WHERE source = 'open311'").single()
            #expect(try stored.decode(Int.self, "n") == 0)
        }
    }

    /// GeoReport v2 makes e-mail and phone optional: a partner may file without either (the
    /// citizen API still requires one).
    @Test func aPartnerMayFileWithoutContactDetails() async throws {
        try await APITestEnvironment.withApp { app in
            let partner = try await app.services.partners.issue(name: "Aplikasi Anonim", contactEmail: nil)
            let code = try await app.test { client in
                try await O311.file(client, [
                    ("api_key", partner.key), ("service_code", "kk-baru"), ("address_id", "36.73.01.1001"),
                    ("attribute[alasan]", "pisah_kk"),
                ])
            }
            let row = try await app.pool.query(
                "SELECT citizen_phone, citizen_email, source FROM service_requests WHERE tracking_code = $1", code).single()
            #expect(try row.decode(String?.self, "citizen_phone") == nil)
            #expect(try row.decode(String?.self, "citizen_email") == nil)
            #expect(try row.decode(String.self, "source") == "open311")
            // The database still holds every other source to it.
            await #expect(throws: PostgresError.self) {
                try await app.pool.query("UPDATE service_requests SET source = 'web' WHERE tracking_code = $1", code)
            }
        }
    }

    /// Each invalid filing is refused with Open311's error list (400, or 404 for what does not
    /// exist), several problems at once where there are several, and nothing is stored.
    @Test func invalidFilingsAreRefusedWithEveryProblem() async throws {
        try await APITestEnvironment.withApp { app in
            let partner = try await app.services.partners.issue(name: "Aplikasi Uji", contactEmail: nil)
            let key = partner.key
            let valid: [(String, String)] = [
                ("api_key", key), ("service_code", "kk-baru"), ("email", "a@example.id"), ("address_string", "Jl. Veteran 1"),
                ("attribute[alasan]", "pisah_kk"),
            ]
            let pbg: [(String, String)] = [
                ("api_key", key), ("service_code", "pbg"), ("address_string", "Jl. Veteran 1"), ("attribute[fungsi_bangunan]", "hunian"),
            ]
            func replacing(_ name: String, with value: String?) -> [(String, String)] {
                var fields = valid.filter { $0.0 != name }
                if let value { fields.append((name, value)) }
                return fields
            }
            let contentType = O311.formHeaders
            let cases: [(name: String, body: ByteBuffer, headers: HTTPFields, status: HTTPResponse.Status, minimumErrors: Int)] = [
                // No service code, a latitude that is no number, markup (contact details are optional).
                ("nearly empty", O311.form([("api_key", key), ("lat", "abc"), ("long", "106.1"), ("description", "lihat <b>ini</b>")]),
                 contentType, .badRequest, 3),
                ("too long", O311.form(replacing("description", with: String(repeating: "x", count: 4001))), contentType, .badRequest, 1),
                ("html comment", O311.form(replacing("description", with: "aman <!-- bukan -->")), contentType, .badRequest, 1),
                ("lat without long", O311.form(valid + [("lat", "-6.1")]), contentType, .badRequest, 1),
                ("bad choice", O311.form(replacing("attribute[alasan]", with: "karena")), contentType, .badRequest, 1),
                ("malformed attribute", O311.form(valid + [("attribute[alasan][x]", "1")]), contentType, .badRequest, 1),
                ("unknown attribute", O311.form(valid + [("attribute[warna]", "biru")]), contentType, .badRequest, 1),
                ("conflicting service_code", O311.form(valid + [("service_code", "ktp-el")]), contentType, .badRequest, 1),
                ("bad e-mail and phone", O311.form(replacing("email", with: "bukan-email") + [("phone", "12")]), contentType, .badRequest, 2),
                ("unknown area", O311.form(valid + [("address_id", "36.73.99.9999")]), contentType, .badRequest, 1),
                ("bad media url", O311.form(valid + [("media_url", "javascript:alert(1)")]), contentType, .badRequest, 1),
                ("control character", O311.form(replacing("attribute[alasan]", with: "pisah\u{1}kk")), contentType, .badRequest, 1),
                ("long first name", O311.form(valid + [("first_name", String(repeating: "a", count: 100)), ("last_name", "B")]), contentType, .badRequest, 1),
                ("long last name", O311.form(valid + [("first_name", "A"), ("last_name", String(repeating: "b", count: 101))]), contentType, .badRequest, 1),
                // A number attribute must be a finite number ("nan" and "inf" read as Double).
                ("number nan", O311.form(pbg + [("attribute[luas_bangunan_m2]", "nan")]), contentType, .badRequest, 1),
                ("number inf", O311.form(pbg + [("attribute[luas_bangunan_m2]", "1e999")]), contentType, .badRequest, 1),
                ("json body", O311.form(valid), [.contentType: "application/json"], .badRequest, 1),
                ("no content type", O311.form(valid), [:], .badRequest, 1),
                ("latin-1 form", O311.form(valid), [.contentType: "application/x-www-form-urlencoded; charset=iso-8859-1"], .badRequest, 1),
                ("invalid utf-8", ByteBuffer(string: "api_key=\(key)&service_code=kk-baru&description=%FF%FE"), contentType, .badRequest, 1),
                ("nul byte", ByteBuffer(string: "api_key=\(key)&service_code=kk%00baru"), contentType, .badRequest, 1),
                ("unknown service", O311.form(replacing("service_code", with: "no-such-service")), contentType, .notFound, 1),
                ("other jurisdiction", O311.form(valid + [("jurisdiction_id", "jakarta.go.id")]), contentType, .notFound, 1),
            ]
            try await app.test { client in
                for test in cases {
                    let response = try await client.execute(uri: "/open311/v2/requests.json", method: .post, headers: test.headers, body: test.body)
                    #expect(response.status == test.status, "\(test.name): \(response.body.text)")
                    #expect(response.headers[.contentType] == "application/json; charset=utf-8", "\(test.name)")
                    let errors = response.body.jsonArray
                    #expect(errors.count >= test.minimumErrors, "\(test.name): \(response.body.text)")
                    #expect(errors.allSatisfy { $0["code"] as? Int == Int(test.status.code) }, "\(test.name)")
                    #expect(errors.allSatisfy { ($0["description"] as? String)?.isEmpty == false }, "\(test.name)")
                }
                // The same refusal as XML, with every problem listed.
                let xml = try await client.execute(uri: "/open311/v2/requests.xml", method: .post, headers: contentType, body: cases[0].body)
                #expect(xml.status == .badRequest)
                let root = try O311XMLTree.parse(xml.body)
                #expect(root.children("error").count >= cases[0].minimumErrors)
                let descriptions = root.children("error").compactMap { $0.value("description") }
                #expect(descriptions.contains { $0.contains("service_code") })
                #expect(descriptions.contains { $0.contains("lat") })
                #expect(descriptions.contains { $0.contains("HTML") })
                // An answer is named as the form names it.
                let missing = try await client.execute(
                    uri: "/open311/v2/requests.json", method: .post, headers: contentType,
                    body: O311.form(pbg.filter { $0.0 != "attribute[fungsi_bangunan]" } + [("attribute[luas_bangunan_m2]", " 120.5 ")]))
                #expect(missing.status == .badRequest)
                #expect(missing.body.text.contains("attribute[fungsi_bangunan]"), "\(missing.body.text)")
                #expect(!missing.body.text.contains("luas_bangunan_m2"), "\(missing.body.text)")
            }
            let stored = try await app.pool.query("SELECT count(*) AS n FROM service_requests").single()
            #expect(try stored.decode(Int.self, "n") == 0)
        }
    }

    @Test func idempotencyKeyReplaysTheFirstAnswer() async throws {
        try await APITestEnvironment.withApp { app in
            let partner = try await app.services.partners.issue(name: "Aplikasi Ulang", contactEmail: nil)
            let body = O311.form([
                ("api_key", partner.key), ("service_code", "akta-kelahiran"), ("phone", "081234567890"), ("address_string", "Jl. Veteran 1"),
            ])
            let headers = O311.headers(O311.formHeaders, adding: [.idempotencyKey: "lapor-42"])
            try await app.test { client in
                let first = try await client.execute(uri: "/open311/v2/requests.json", method: .post, headers: headers, body: body)
                #expect(first.status == .ok)
                let again = try await client.execute(uri: "/open311/v2/requests.json", method: .post, headers: headers, body: body)
                #expect(again.status == .ok)
                #expect(again.body.text == first.body.text)
                #expect(again.headers[HTTPField.Name("Idempotent-Replayed")!] == "true")

                let otherBody = try await client.execute(
                    uri: "/open311/v2/requests.json", method: .post, headers: headers,
                    body: O311.form([("api_key", partner.key), ("service_code", "akta-kematian"), ("phone", "081234567890"), ("address_string", "Jl. Veteran 1")]))
                #expect(otherBody.status == .badRequest)
                #expect(otherBody.body.jsonArray.first?["code"] as? Int == 400)
                let otherFormat = try await client.execute(uri: "/open311/v2/requests.xml", method: .post, headers: headers, body: body)
                #expect(otherFormat.status == .badRequest)
                #expect(try O311XMLTree.parse(otherFormat.body).name == "errors")
            }
            let stored = try await app.pool.query("SELECT count(*) AS n FROM service_requests").single()
            #expect(try stored.decode(Int.self, "n") == 1)
        }
    }

    // MARK: Reading requests

    @Test func listingFiltersByIdServiceStatusAndDate() async throws {
        try await APITestEnvironment.withApp { app in
            let partner = try await app.services.partners.issue(name: "Aplikasi Pantau", contactEmail: nil)
            let (codes, cancelled) = try await app.test { client in
                var codes: [String] = []
                for (service, attribute) in [
                    ("kk-baru", ("attribute[alasan]", "hilang_rusak")), ("akta-kelahiran", nil), ("pengaduan-pelayanan", ("attribute[kategori]", "perizinan")),
                    ("akta-kelahiran", nil),
                ] as [(String, (String, String)?)] {
                    var fields = [("api_key", partner.key), ("service_code", service), ("email", "warga@example.id"), ("address_string", "Jl. Veteran 1")]
                    if let attribute { fields.append(attribute) }
                    codes.append(try await O311.file(client, fields))
                }
                // One more through the citizen API, then cancelled by its citizen: a closed request.
                let receipt = try await client.execute(
                    uri: "/api/v1/requests", method: .post, headers: jsonHeaders, body: .json(sampleFiling(nik: "3673014501900002")))
                #expect(receipt.status == .created, "\(receipt.body.text)")
                let cancelled = try #require(receipt.body.json["tracking_code"] as? String)
                let token = try #require(receipt.body.json["access_token"] as? String)
                let cancel = try await client.execute(
                    uri: "/api/v1/requests/\(cancelled)/cancel", method: .post,
                    headers: [.authorization: "Bearer \(token)", .contentType: "application/json"], body: .json(["reason": "salah isi"]))
                #expect(cancel.status == .ok, "\(cancel.body.text)")
                return (codes, cancelled)
            }
            let all = Set(codes + [cancelled])
            try await app.test { client in
                func ids(_ query: String, status: HTTPResponse.Status = .ok) async throws -> [String] {
                    let response = try await client.execute(uri: "/open311/v2/requests.json\(query)", method: .get)
                    #expect(response.status == status, "\(query): \(response.body.text)")
                    return response.body.jsonArray.compactMap { $0["service_request_id"] as? String }
                }
                // Default: the last 90 days, newest first.
                #expect(try await ids("") == ([cancelled] + codes.reversed()))
                #expect(Set(try await ids("?status=")) == all)
                #expect(Set(try await ids("?service_code=&status=&start_date=&end_date=&jurisdiction_id=")) == all)

                // service_request_id overrides every other filter; malformed ids match nothing.
                let named = "?service_request_id=\(codes[0]),\(codes[1].lowercased()),,bukan-kode&service_code=sktm&status=closed"
                    + "&start_date=2020-01-01T00:00:00Z&end_date=2020-12-31T00:00:00Z"
                #expect(Set(try await ids(named)) == [codes[0], codes[1]])
                // ... but a malformed one is still refused.
                #expect(try await ids("?service_request_id=\(codes[0])&status=pending", status: .badRequest).isEmpty)
                #expect(try await ids("?service_request_id=\(codes[0])&end_date=kemarin", status: .badRequest).isEmpty)

                #expect(Set(try await ids("?service_code=akta-kelahiran,pengaduan-pelayanan")) == [codes[1], codes[2], codes[3]])
                #expect(Set(try await ids("?service_code=akta-kelahiran&service_code=kk-baru")) == [codes[0], codes[1], codes[3], cancelled])
                #expect(try await ids("?service_code=no-such-service").isEmpty)

                #expect(try await ids("?status=closed") == [cancelled])
                #expect(Set(try await ids("?status=open")) == Set(codes))
                #expect(Set(try await ids("?status=open,closed")) == all)
                #expect(Set(try await ids("?status=OPEN&status=closed")) == all)
                #expect(try await ids("?status=pending", status: .badRequest).isEmpty)

                let now = Date()
                let around = "?start_date=\(O311.encode(RFC3339.string(from: now.addingTimeInterval(-3600))))&end_date=\(O311.encode(RFC3339.string(from: now.addingTimeInterval(3600))))"
                #expect(Set(try await ids(around)) == all)
                // An unencoded `+07:00` arrives as a space and is still understood.
                let unencoded = "?start_date=\(RFC3339.string(from: now.addingTimeInterval(-3600)))"
                #expect(Set(try await ids(unencoded)) == all)
                #expect(try await ids("?start_date=2020-01-01T00:00:00Z&end_date=2020-03-01T00:00:00Z").isEmpty)

                for refused in [
                    "?start_date=2020-01-01T00:00:00Z&end_date=2020-06-01T00:00:00Z",
                    "?start_date=2020-03-01T00:00:00Z&end_date=2020-01-01T00:00:00Z",
                    "?start_date=2026-11-01",
                    "?end_date=kemarin",
                    "?start_date=2020-01-01T00:00:00",
                ] {
                    let response = try await client.execute(uri: "/open311/v2/requests.json\(refused)", method: .get)
                    #expect(response.status == .badRequest, "\(refused)")
                    #expect(response.body.jsonArray.first?["code"] as? Int == 400, "\(refused)")
                }
                let tooLong = try await client.execute(
                    uri: "/open311/v2/requests.xml?start_date=2020-01-01T00:00:00Z&end_date=2020-06-01T00:00:00Z", method: .get)
                #expect(tooLong.status == .badRequest)
                #expect(try O311XMLTree.parse(tooLong.body).children("error").first?.value("description")?.contains("90") == true)

                let xml = try await client.execute(uri: "/open311/v2/requests.xml", method: .get)
                #expect(xml.status == .ok)
                #expect(xml.headers[.contentType] == "text/xml; charset=utf-8")
                let root = try O311XMLTree.parse(xml.body)
                #expect(root.name == "service_requests")
                #expect(root.children("request").compactMap { $0.value("service_request_id") } == [cancelled] + codes.reversed())
                #expect(root.children("request").first?.value("status") == "closed")
            }

            // A request filed 100 days ago is outside the default window but reachable by date or id.
            try await app.pool.query(
                "UPDATE service_requests SET created_at = now() - interval '100 days' WHERE tracking_code = $1", codes[0])
            try await app.test { client in
                let listed = try await client.execute(uri: "/open311/v2/requests.json", method: .get)
                #expect(!listed.body.jsonArray.contains { $0["service_request_id"] as? String == codes[0] })
                let since = O311.encode(RFC3339.string(from: Date().addingTimeInterval(-101 * 24 * 3600)))
                let old = try await client.execute(uri: "/open311/v2/requests.json?start_date=\(since)", method: .get)
                #expect(old.body.jsonArray.compactMap { $0["service_request_id"] as? String } == [codes[0]])
                let byID = try await client.execute(uri: "/open311/v2/requests.json?service_request_id=\(codes[0])", method: .get)
                #expect(byID.body.jsonArray.count == 1)
            }
        }
    }

    @Test func aSingleRequestAndItsTokenInBothFormats() async throws {
        try await APITestEnvironment.withApp { app in
            let partner = try await app.services.partners.issue(name: "Aplikasi Satu", contactEmail: nil)
            try await app.test { client in
                let code = try await O311.file(client, [
                    ("api_key", partner.key), ("service_code", "akta-kelahiran"), ("phone", "081234567890"),
                    ("address_string", "Jl. Veteran 1"), ("lat", "-6.12"), ("long", "106.15"), ("description", "Anak kami lahir 1 November"),
                ])
                // The sample catalog keeps civil registration private: a birth tells where a family lives.
                let hidden = try #require(try await client.execute(uri: "/open311/v2/requests/\(code).json", method: .get).body.jsonArray.first)
                for key in ["description", "address", "lat", "long"] { #expect(hidden[key] is NSNull, "\(key)") }
                try await app.pool.query("UPDATE service_types SET is_public = true WHERE code = 'akta-kelahiran'")
                let json = try await client.execute(uri: "/open311/v2/requests/\(code).json", method: .get)
                #expect(json.status == .ok)
                let list = json.body.jsonArray
                #expect(list.count == 1)
                let request = try #require(list.first)
                #expect(request["service_request_id"] as? String == code)
                #expect(request["status"] as? String == "open")
                #expect(request["service_code"] as? String == "akta-kelahiran")
                #expect(request["service_name"] as? String == "Penerbitan Akta Kelahiran")
                #expect(request["description"] as? String == "Anak kami lahir 1 November")
                #expect(request["address"] as? String == "Jl. Veteran 1")
                #expect(request["lat"] as? Double == -6.12)
                #expect(request["long"] as? Double == 106.15)
                #expect(request["zipcode"] is NSNull)
                #expect((request["agency_responsible"] as? String)?.isEmpty == false)
                #expect((request["requested_datetime"] as? String)?.hasSuffix("+07:00") == true)
                #expect(RFC3339.date(from: request["expected_datetime"] as? String ?? "") != nil)
                #expect((request["service_notice"] as? String)?.contains(request["agency_responsible"] as? String ?? "?") == true)
                let expectedKeys: Set<String> = [
                    "service_request_id", "status", "status_notes", "service_name", "service_code", "description", "agency_responsible",
                    "service_notice", "requested_datetime", "updated_datetime", "expected_datetime", "address", "address_id", "zipcode",
                    "lat", "long", "media_url",
                ]
                #expect(Set(request.keys) == expectedKeys)

                let xml = try await client.execute(uri: "/open311/v2/requests/\(code.lowercased()).xml", method: .get)
                #expect(xml.status == .ok)
                let root = try O311XMLTree.parse(xml.body)
                #expect(root.name == "service_requests")
                #expect(root.children("request").count == 1)
                #expect(root.children("request").first?.value("service_request_id") == code)
                #expect(root.children("request").first?.value("lat") == "-6.12")

                let token = try await client.execute(uri: "/open311/v2/tokens/\(code).json", method: .get)
                #expect(token.status == .ok)
                #expect(token.body.jsonArray.first?["service_request_id"] as? String == code)
                #expect(token.body.jsonArray.first?["token"] as? String == code)
                let tokenXML = try await client.execute(uri: "/open311/v2/tokens/\(code).xml", method: .get)
                let tokenRoot = try O311XMLTree.parse(tokenXML.body)
                #expect(tokenRoot.name == "service_requests")
                #expect(tokenRoot.children("request").first?.value("token") == code)
            }
        }
    }

    // MARK: Privacy

    /// Names, NIKs, phone numbers, e-mail addresses, and the free text and location of private
    /// services, filed through both APIs, appear in no Open311 answer; public descriptions do.
    @Test func listingsNeverShowPersonalDataOrPrivateText() async throws {
        try await APITestEnvironment.withApp { app in
            let partner = try await app.services.partners.issue(name: "Aplikasi Privasi", contactEmail: nil)
            let forbidden = [
                "Namapenanda", "Publikweb", "Privatweb", "3673014501909911", "3673014501909922", "81299110001", "81299220002",
                "penanda.web.publik", "penanda.web.privat", "Namadepanrahasia", "Namabelakangprivat", "Namadepanpublik",
                "Namabelakangpublik", "81299330003", "81299440004", "penanda.o311.publik", "penanda.o311.privat",
                "RAHASIA-PRIVATWEB", "Jalan Rahasia Privatweb", "RAHASIA-PRIVATO311", "Jalan Rahasia O311", "106.654321", "6.123456",
                "foto.rahasia.example",
            ]
            // Two services made public for the test (the sample catalog keeps both private).
            try await app.pool.query("UPDATE service_types SET is_public = true WHERE code IN ('kk-baru', 'akta-kelahiran')")
            let codes = try await app.test { client in
                var codes: [String] = []
                for (service, nik, name, phone, email, description, address) in [
                    ("kk-baru", "3673014501909911", "Namapenanda Publikweb", "0812-9911-0001", "penanda.web.publik@example.id",
                     "Deskripsi publik PUBLIKWEB-OK", "Jalan Terbuka 1"),
                    ("pengaduan-asn", "3673014501909922", "Namapenanda Privatweb", "0812-9922-0002", "penanda.web.privat@example.id",
                     "RAHASIA-PRIVATWEB tidak boleh tampil", "Jalan Rahasia Privatweb 2"),
                ] {
                    var body = sampleFiling(nik: nik, service: service, extra: [
                        "citizen": ["name": name, "nik": nik, "phone": phone, "email": email],
                        "description": description, "address": address,
                    ])
                    if service == "pengaduan-asn" {
                        body["attributes"] = [String: String]()
                        body["latitude"] = -6.123456
                        body["longitude"] = 106.654321
                    }
                    let response = try await client.execute(uri: "/api/v1/requests", method: .post, headers: jsonHeaders, body: .json(body))
                    #expect(response.status == .created, "\(response.body.text)")
                    codes.append(try #require(response.body.json["tracking_code"] as? String))
                }
                codes.append(try await O311.file(client, [
                    ("api_key", partner.key), ("service_code", "akta-kelahiran"), ("first_name", "Namadepanpublik"),
                    ("last_name", "Namabelakangpublik"), ("phone", "0812-9933-0003"), ("email", "penanda.o311.publik@example.id"),
                    ("address_string", "Jalan Terbuka 3"), ("description", "Deskripsi publik PUBLIKO311-OK"),
                ]))
                codes.append(try await O311.file(client, [
                    ("api_key", partner.key), ("service_code", "pengaduan-asn"), ("first_name", "Namadepanrahasia"),
                    ("last_name", "Namabelakangprivat"), ("phone", "0812-9944-0004"), ("email", "penanda.o311.privat@example.id"),
                    ("address_string", "Jalan Rahasia O311"), ("lat", "-6.123456"), ("long", "106.654321"),
                    ("description", "RAHASIA-PRIVATO311"), ("media_url", "https://foto.rahasia.example/wajah.jpg"),
                ]))
                return codes
            }
            // An officer's public message on the private request is private too.
            try await app.pool.query("UPDATE service_requests SET public_message = 'RAHASIA-PRIVATWEB pesan' WHERE tracking_code = $1", codes[1])

            try await app.test { client in
                var uris = ["/open311/v2/requests", "/open311/v2/requests?service_request_id=\(codes.joined(separator: ","))"]
                for code in codes {
                    uris += ["/open311/v2/requests/\(code)", "/open311/v2/tokens/\(code)"]
                }
                var listing = ""
                for uri in uris {
                    for format in ["json", "xml"] {
                        for language in ["id", "en"] {
                            let (path, query) = uri.contains("?")
                                ? (String(uri.prefix { $0 != "?" }), "?" + uri.drop { $0 != "?" }.dropFirst())
                                : (uri, "")
                            let response = try await client.execute(
                                uri: "\(path).\(format)\(query)", method: .get, headers: [.acceptLanguage: language])
                            #expect(response.status == .ok, "\(path).\(format)")
                            let text = response.body.text
                            for marker in forbidden {
                                #expect(!text.contains(marker), "\(marker) appears in \(path).\(format)\(query)")
                            }
                            if format == "xml" { _ = try O311XMLTree.parse(response.body) }
                            if uri == "/open311/v2/requests" { listing += text }
                        }
                    }
                }
                // The public descriptions are shown: the absence above is the privacy rule, not an empty answer.
                #expect(listing.contains("PUBLIKWEB-OK"))
                #expect(listing.contains("PUBLIKO311-OK"))
                let privateRequest = try await client.execute(uri: "/open311/v2/requests/\(codes[3]).json", method: .get)
                let fields = try #require(privateRequest.body.jsonArray.first)
                for key in ["description", "address", "lat", "long", "media_url", "status_notes"] {
                    #expect(fields[key] is NSNull, "\(key) of a private request")
                }
                #expect(fields["service_code"] as? String == "pengaduan-asn")
                // A private request's area is the kecamatan at most; a public one's the kelurahan.
                var areas: [String?] = []
                for code in [codes[0], codes[1]] {
                    let answer = try await client.execute(uri: "/open311/v2/requests/\(code).json", method: .get)
                    areas.append(answer.body.jsonArray.first?["address_id"] as? String)
                }
                #expect(areas == ["36.73.01.1001", "36.73.01"])
            }
        }
    }

    /// With the database out of reach, Open311 answers 503 with Retry-After in its own error shape,
    /// never a 500 or a hang.
    @Test func anUnreachableDatabaseIs503InOpen311Shape() async throws {
        let pool = ConnectionPool(
            configuration: PostgresConfiguration(conninfo: "host=/nonexistent dbname=unused"), maxConnections: 1,
            acquireTimeout: .milliseconds(200))
        let services = LoketServices(pool: pool, options: APIOptions())
        let app = Application(router: buildRouter(services: services, metrics: PrometheusCollectorRegistry()))
        do {
            try await app.test(.router) { client in
                for uri in ["/open311/v2/services.json", "/open311/v2/requests.xml"] {
                    let response = try await client.execute(uri: uri, method: .get)
                    #expect(response.status == .serviceUnavailable, "\(uri)")
                    #expect(response.headers[.retryAfter] != nil, "\(uri)")
                    if uri.hasSuffix(".json") {
                        #expect(response.body.jsonArray.first?["code"] as? Int == 503)
                    } else {
                        #expect(try O311XMLTree.parse(response.body).children("error").first?.value("code") == "503")
                    }
                }
            }
            await pool.close()
        } catch {
            await pool.close()
            throw error
        }
    }

    // MARK: Writers and form decoding

    @Test func xmlEscapesMarkupAndDropsWhatXMLCannotCarry() throws {
        let nasty = "a & b < c > d \"e\" 'f' \u{0}\u{1}\u{8}\u{B}\u{1F}\u{7F}\u{85}\u{FFFE}\tg\r\nh 😀 ü"
        #expect(Open311XMLWriter.escape(nasty) == "a &amp; b &lt; c &gt; d &quot;e&quot; &apos;f&apos; \tg&#13;\nh 😀 ü")
        let document = Open311Value.list(item: "request", [.object([
            ("description", .text(nasty)), ("lat", .number(-6.5)), ("zipcode", .text(nil)), ("tags", .list(item: "tag", [])),
        ])])
        let xml = document.xml(root: "service_requests")
        #expect(xml.hasPrefix(#"<?xml version="1.0" encoding="utf-8"?>"#))
        let root = try O311XMLTree.parse(ByteBuffer(string: xml))
        let request = try #require(root.children("request").first)
        #expect(request.value("description") == "a & b < c > d \"e\" 'f' \tg\r\nh 😀 ü")
        #expect(request.value("lat") == "-6.5")
        #expect(request.child("zipcode")?.text == "")

        let json = document.json
        let parsed = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [[String: Any]])
        #expect(parsed.first?["description"] as? String == nasty)
        #expect(parsed.first?["zipcode"] is NSNull)
        #expect(parsed.first?["lat"] as? Double == -6.5)
        #expect(json.hasPrefix(#"[{"description":"#))
    }

    @Test func formDecodingFollowsTheURLStandard() throws {
        let decoded = try FormData(decoding: Array("a=1+2%2B3&&b=%zz%4&c&=x&attribute%5Bp%5D%5B%5D=%C3%BC&a=".utf8))
        #expect(decoded.pairs.map(\.name) == ["a", "b", "c", "attribute[p][]", "a"])
        #expect(decoded.pairs.map(\.value) == ["1 2+3", "%zz%4", "", "ü", ""])
        var problems: [FieldProblem] = []
        #expect(decoded.value("a", problems: &problems) == "1 2+3")
        #expect(decoded.value("c", problems: &problems) == nil)
        #expect(problems.isEmpty)
        #expect(FormData(pairs: [("s", "x,,y"), ("s", " z ")]).list("s") == ["x", "y", "z"])
        _ = FormData(pairs: [("s", "x"), ("s", "y")]).value("s", problems: &problems)
        #expect(problems.map(\.code) == ["conflicting_values"])
        #expect(throws: APIError.self) { try FormData(decoding: Array("a=%FF".utf8)) }
        #expect(throws: APIError.self) { try FormData(decoding: Array("a=%00".utf8)) }
        #expect(Open311Controller.containsHTMLTag("5 < 7 dan 9 > 3") == false)
        #expect(Open311Controller.containsHTMLTag("<script>alert(1)</script>"))
        #expect(Open311Controller.containsHTMLTag("tutup </p>"))
        #expect(Open311Controller.containsHTMLTag("<a") == false)
    }
}

// MARK: Helpers

/// Helpers of these tests, in their own namespace so that they cannot clash with other suites'.
enum O311 {
    static let formHeaders: HTTPFields = [.contentType: "application/x-www-form-urlencoded; charset=utf-8"]

    /// A form body with every byte outside the unreserved set percent-encoded and spaces as `+`.
    static func form(_ fields: [(String, String)]) -> ByteBuffer {
        ByteBuffer(string: fields.map { "\(encode($0.0))=\(encode($0.1))" }.joined(separator: "&"))
    }

    /// One form or query-string value, encoded (the `+` of an offset would otherwise read as a space).
    static func encode(_ text: String) -> String {
        let unreserved = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~ ")
        return text.addingPercentEncoding(withAllowedCharacters: unreserved)!.replacingOccurrences(of: " ", with: "+")
    }

    /// Files through Open311 and returns the service_request_id.
    static func file(_ client: any TestClientProtocol, _ fields: [(String, String)]) async throws -> String {
        let response = try await client.execute(uri: "/open311/v2/requests.json", method: .post, headers: formHeaders, body: form(fields))
        #expect(response.status == .ok, "\(response.body.text)")
        return try #require(response.body.jsonArray.first?["service_request_id"] as? String)
    }

    static func headers(_ base: HTTPFields, adding other: HTTPFields) -> HTTPFields {
        var merged = base
        for field in other { merged[field.name] = field.value }
        return merged
    }
}

/// A parsed XML document, to prove that answers parse and to read them.
final class O311XMLTree: NSObject, XMLParserDelegate {
    final class Element {
        let name: String
        var children: [Element] = []
        var text = ""

        init(name: String) { self.name = name }

        func child(_ name: String) -> Element? { children.first { $0.name == name } }
        func children(_ name: String) -> [Element] { children.filter { $0.name == name } }
        func value(_ name: String) -> String? { child(name)?.text }
    }

    struct ParseError: Error, CustomStringConvertible {
        var description: String
    }

    private var stack: [Element] = []
    private var root: Element?

    static func parse(_ buffer: ByteBuffer) throws -> Element {
        let parser = XMLParser(data: Data(buffer.readableBytesView))
        let tree = O311XMLTree()
        parser.delegate = tree
        guard parser.parse(), let root = tree.root else {
            throw ParseError(description: "not well-formed XML (\(parser.parserError.map { "\($0)" } ?? "no root")): \(String(buffer: buffer))")
        }
        return root
    }

    func parser(
        _ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?, qualifiedName qName: String?,
        attributes attributeDict: [String: String] = [:]
    ) {
        stack.append(Element(name: elementName))
    }

    func parser(_ parser: XMLParser, didEndElement elementName: String, namespaceURI: String?, qualifiedName qName: String?) {
        let element = stack.removeLast()
        if let parent = stack.last {
            parent.children.append(element)
        } else {
            root = element
        }
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) {
        stack.last?.text += string
    }
}
