import Foundation
import Hummingbird
import HummingbirdTesting
import LoketAPI
import Postgres
import Testing

/// A body cut short on the wire (the client promises more than it sends, then half-closes) is the
/// client's fault: 400 `malformed_request`, never a 500, and for an upload not a 413 either.
@Suite("Bodies cut short on the wire")
struct TruncatedBodyTests {
    @Test func aFilingAndAnUploadCutShortAre400MalformedRequest() async throws {
        try await APITestEnvironment.withLiveServer { port, pool in
            let filing = try JSONSerialization.data(withJSONObject: sampleFiling())
            let receipt = try await RawHTTP.run(port: port) { connection in
                try connection.send(RawHTTP.head("POST /api/v1/requests HTTP/1.1", [
                    "Content-Type: application/json", "Content-Length: \(filing.count)"]) + Array(filing))
                return try connection.readResponse()
            }
            #expect(receipt.status == 201)
            let code = try #require(receipt.json["tracking_code"] as? String)
            let token = try #require(receipt.json["access_token"] as? String)
            let before = try await Self.counts(pool)

            let cases: [(String, [String], [UInt8])] = [
                ("POST /api/v1/requests HTTP/1.1", ["Content-Type: application/json", "Content-Length: 100"],
                 Array(#"{"service_"#.utf8)),
                ("POST /api/v1/requests HTTP/1.1", ["Content-Type: application/json", "Transfer-Encoding: chunked"],
                 Array("a\r\n{\"service_c\r\n".utf8)),
                ("POST /api/v1/requests/\(code)/documents HTTP/1.1",
                 ["Content-Type: application/pdf", "Authorization: Bearer \(token)", "Content-Length: \(1 << 20)"],
                 Array("%PDF-1.4\n".utf8) + [UInt8](repeating: UInt8(ascii: "0"), count: 1000)),
            ]
            for (line, fields, body) in cases {
                let answer = try await RawHTTP.run(port: port) { connection in
                    try connection.send(RawHTTP.head(line, fields) + body)
                    connection.halfClose()
                    return try connection.readResponse()
                }
                #expect(answer.status == 400, "\(line) \(fields.last ?? "")")
                #expect(answer.errorCode == "malformed_request", "\(line) \(fields.last ?? "")")
            }
            #expect(try await Self.counts(pool) == before, "nothing stored")
        }
    }

    static func counts(_ pool: ConnectionPool) async throws -> [Int] {
        let row = try await pool.query(
            "SELECT (SELECT count(*) FROM service_requests) AS requests, (SELECT count(*) FROM documents) AS documents"
        ).single()
        return [try row.decode(Int.self, "requests"), try row.decode(Int.self, "documents")]
    }
}
