import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
@testable import LoketAPI
import LoketStore
import Postgres
import Prometheus
import Testing

/// `Expect: 100-continue` on a real socket: loketd's own server (`.loketHTTP1`), a client that
/// writes the head, waits for the interim 100 (Continue), then sends the body.
@Suite("Expect: 100-continue")
struct ExpectContinueTests {
    @Test func decisions() {
        #expect(ExpectContinue.decide(expect: [], contentLength: "10", chunked: false) == .proceed)
        #expect(ExpectContinue.decide(expect: ["100-continue"], contentLength: "10", chunked: false) == .sendContinue)
        #expect(ExpectContinue.decide(expect: ["100-Continue "], contentLength: nil, chunked: true) == .sendContinue)
        #expect(ExpectContinue.decide(expect: ["100-continue"], contentLength: "0", chunked: false) == .proceed)
        #expect(ExpectContinue.decide(expect: ["100-continue"], contentLength: nil, chunked: false) == .proceed)
        #expect(ExpectContinue.decide(expect: ["something-else"], contentLength: "10", chunked: false) == .refuse(.expectationFailed))
        #expect(ExpectContinue.decide(expect: ["100-continue, foo"], contentLength: "10", chunked: false) == .refuse(.expectationFailed))
        #expect(ExpectContinue.decide(expect: ["100-continue"], contentLength: "100000000", chunked: false) == .refuse(.contentTooLarge))
        #expect(ExpectContinue.decide(expect: ["100-continue"], contentLength: String(ExpectContinue.maxBodyBytes), chunked: false) == .sendContinue)
    }

    @Test func aFilingThatExpects100ContinueGetsItThenItsAnswer() async throws {
        try await APITestEnvironment.withLiveServer { port, pool in
            let body = try JSONSerialization.data(withJSONObject: sampleFiling())
            let outcome = try await RawHTTP.run(port: port) { connection in
                try connection.send(RawHTTP.head("POST /api/v1/requests HTTP/1.1", [
                    "Content-Type: application/json", "Expect: 100-continue", "Content-Length: \(body.count)"]))
                let interim = try connection.readResponse()
                try connection.send(Array(body))
                let final = try connection.readResponse()
                return [interim, final]
            }
            #expect(outcome[0].status == 100)
            #expect(outcome[0].head == "HTTP/1.1 100 Continue\r\n\r\n")
            #expect(outcome[1].status == 201)
            let code = try #require(outcome[1].json["tracking_code"] as? String)
            let stored = try await pool.query("SELECT count(*) AS n FROM service_requests WHERE tracking_code = $1", code)
            #expect(try stored.single().decode(Int.self, "n") == 1)

            // The route's own limit still holds after 100 (Continue): 200 KiB of JSON is refused.
            let large = try await RawHTTP.run(port: port) { connection in
                try connection.send(RawHTTP.head("POST /api/v1/requests HTTP/1.1", [
                    "Content-Type: application/json", "Expect: 100-continue", "Content-Length: \(200 * 1024)"]))
                let interim = try connection.readResponse()
                try? connection.send([UInt8](repeating: UInt8(ascii: " "), count: 200 * 1024))
                return [interim, try connection.readResponse()]
            }
            #expect(large.map(\.status) == [100, 413])
            #expect(large[1].errorCode == "body_too_large")
        }
    }

    @Test func anUnknownExpectationIs417AndAnOversizedDeclaredBody413AtOnce() async throws {
        try await APITestEnvironment.withLiveServer { port, pool in
            let before = try await pool.query("SELECT count(*) AS n FROM service_requests").single().decode(Int.self, "n")
            for (expect, length, status, code) in [
                ("something-else", 40, 417, "expectation_failed"),
                ("100-continue", 100_000_000, 413, "body_too_large"),
            ] {
                // No body is sent: the answer must come without it, and the connection then closes.
                let outcome = try await RawHTTP.run(port: port) { connection in
                    try connection.send(RawHTTP.head("POST /api/v1/requests HTTP/1.1", [
                        "Content-Type: application/json", "Accept-Language: en", "Expect: \(expect)", "Content-Length: \(length)"]))
                    let answer = try connection.readResponse()
                    return [answer, RawHTTP.Response(status: connection.closedByPeer() ? 0 : -1, head: "", body: Data())]
                }
                #expect(outcome[0].status == status, "Expect: \(expect)")
                #expect(outcome[0].errorCode == code, "Expect: \(expect)")
                #expect(outcome[0].head.lowercased().contains("connection: close\r\n"))
                #expect(outcome[1].status == 0, "the connection is closed after the refusal")
            }
            let after = try await pool.query("SELECT count(*) AS n FROM service_requests").single().decode(Int.self, "n")
            #expect(after == before, "nothing stored")
        }
    }

    @Test func http10IgnoresTheExpectationAndPipelinedAnswersStayInOrder() async throws {
        try await APITestEnvironment.withLiveServer { port, _ in
            // HTTP/1.0: no 1xx may be sent; the body follows the head at once, as such a client does.
            let old = try await RawHTTP.run(port: port) { connection in
                try connection.send(RawHTTP.head("POST /api/v1/requests HTTP/1.0", [
                    "Content-Type: application/json", "Expect: 100-continue", "Content-Length: 2"]) + Array("{}".utf8))
                return [try connection.readResponse()]
            }
            #expect(old[0].status == 422)
            // A GET and an expecting POST in one write: the 100 comes after the GET's whole answer.
            let pipelined = try await RawHTTP.run(port: port) { connection in
                try connection.send(RawHTTP.head("GET /api/v1/services HTTP/1.1", [])
                    + RawHTTP.head("POST /api/v1/requests HTTP/1.1", ["Content-Type: application/json", "Expect: 100-continue", "Content-Length: 2"]))
                let first = try connection.readResponse()
                let interim = try connection.readResponse()
                try connection.send(Array("{}".utf8))
                return [first, interim, try connection.readResponse()]
            }
            #expect(pipelined.map(\.status) == [200, 100, 422])
            #expect((pipelined[0].json["services"] as? [Any])?.isEmpty == false)
        }
    }

    /// HEAD over the wire: the head of the GET answer and no body, and the connection carries on.
    @Test func headIsAnsweredWithoutABodyAndTheConnectionCarriesOn() async throws {
        try await APITestEnvironment.withLiveServer { port, _ in
            let outcome = try await RawHTTP.run(port: port) { connection in
                try connection.send(RawHTTP.head("HEAD /api/v1/services HTTP/1.1", []))
                let head = try connection.readResponse(toHead: true)
                try connection.send(RawHTTP.head("GET /api/v1/services HTTP/1.1", []))
                return [head, try connection.readResponse()]
            }
            #expect(outcome.map(\.status) == [200, 200])
            #expect(outcome[0].head.lowercased().contains("content-type: application/json"))
            // The GET right behind it parses as its own response: HEAD sent no body bytes.
            #expect(outcome[1].json["services"] != nil)
        }
    }
}
