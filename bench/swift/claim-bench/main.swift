// N concurrent officers, each in a loop: POST /api/v1/staff/claim, read the tracking code from
// the 200 detail JSON, POST /api/v1/staff/requests/{code}/resolve. Run by bench/claim, which
// measures pgbench running the same SQL on the same database in the same run.
//
//   claim-bench --base http://127.0.0.1:PORT --tokens FILE [--seconds S] [--warmup S]
//
// FILE holds one personal token a line; one loop per token (an officer resolves only what he
// holds). Keep-alive connections, one per loop. The warm-up phase (connections, the server's
// prepared statements) is not timed. Prints one line of key=value pairs on standard output:
// cycles, seconds, rate (cycles/s), claim/resolve/cycle latency percentiles in ms, non-2xx
// answers, empty queues (204) and duplicates (a tracking code handed to two claims).
import AsyncHTTPClient
import Foundation

struct Options {
    var base = "http://127.0.0.1:8080"
    var tokensFile = ""
    var seconds = 15.0
    var warmup = 2.0

    init(_ arguments: [String]) {
        var iterator = arguments.dropFirst().makeIterator()
        while let argument = iterator.next() {
            switch argument {
            case "--base": base = iterator.next() ?? base
            case "--tokens": tokensFile = iterator.next() ?? ""
            case "--seconds": seconds = Double(iterator.next() ?? "") ?? seconds
            case "--warmup": warmup = Double(iterator.next() ?? "") ?? warmup
            default:
                FileHandle.standardError.write(Data("claim-bench: unknown argument \(argument)\n".utf8))
                exit(2)
            }
        }
    }
}

struct Failure: Error, CustomStringConvertible {
    var description: String
}

/// What one loop saw.
struct Tally: Sendable {
    var cycles = 0
    var claimLatency: [Double] = []  // ms
    var resolveLatency: [Double] = []
    var cycleLatency: [Double] = []
    var errors = 0
    var empty = 0
    var codes: [String] = []
    var firstError: String?
}

struct Claimed: Decodable {
    var trackingCode: String
    var status: String
    enum CodingKeys: String, CodingKey {
        case trackingCode = "tracking_code"
        case status
    }
}

let options = Options(CommandLine.arguments)
guard let tokenText = try? String(contentsOfFile: options.tokensFile, encoding: .utf8) else {
    FileHandle.standardError.write(Data("claim-bench: cannot read --tokens \(options.tokensFile)\n".utf8))
    exit(2)
}
let tokens = tokenText.split(whereSeparator: \.isNewline).map(String.init).filter { !$0.isEmpty }
guard !tokens.isEmpty else {
    FileHandle.standardError.write(Data("claim-bench: no tokens in \(options.tokensFile)\n".utf8))
    exit(2)
}

var configuration = HTTPClient.Configuration(timeout: .init(connect: .seconds(5), read: .seconds(60)))
configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = tokens.count
let client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
let resolveBody = Array(#"{"public_message":"Dokumen sudah selesai dan dapat diambil di loket 3.","outcome":"bench"}"#.utf8)
let clock = ContinuousClock()

func milliseconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15
}

func post(_ path: String, token: String, body: [UInt8]?) async throws -> (status: UInt, body: [UInt8]) {
    var request = HTTPClientRequest(url: options.base + "/api/v1/staff/" + path)
    request.method = .POST
    request.headers.add(name: "Authorization", value: "Bearer \(token)")
    request.headers.add(name: "Accept", value: "application/json")
    if let body {
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(body)
    }
    let response = try await client.execute(request, timeout: .seconds(60))
    let buffer = try await response.body.collect(upTo: 16 * 1024 * 1024)
    return (response.status.code, Array(buffer.readableBytesView))
}

/// One claim+resolve cycle; records into `tally` when `record`.
func cycle(token: String, tally: inout Tally, record: Bool) async throws {
    let started = clock.now
    let claim = try await post("claim", token: token, body: nil)
    let claimed = clock.now
    if claim.status == 204 {
        tally.empty += 1
        try await Task.sleep(for: .milliseconds(20))
        return
    }
    guard claim.status == 200 else {
        tally.errors += 1
        if tally.firstError == nil { tally.firstError = "claim: \(claim.status) \(String(decoding: claim.body.prefix(300), as: UTF8.self))" }
        return
    }
    let detail = try JSONDecoder().decode(Claimed.self, from: Data(claim.body))
    guard detail.status == "in_progress" else { throw Failure(description: "claim answered status \(detail.status)") }
    tally.codes.append(detail.trackingCode)
    let resolve = try await post("requests/\(detail.trackingCode)/resolve", token: token, body: resolveBody)
    let resolved = clock.now
    guard resolve.status == 200 else {
        tally.errors += 1
        if tally.firstError == nil { tally.firstError = "resolve: \(resolve.status) \(String(decoding: resolve.body.prefix(300), as: UTF8.self))" }
        return
    }
    if record {
        tally.cycles += 1
        tally.claimLatency.append(milliseconds(claimed - started))
        tally.resolveLatency.append(milliseconds(resolved - claimed))
        tally.cycleLatency.append(milliseconds(resolved - started))
    }
}

func percentile(_ sorted: [Double], _ p: Double) -> Double {
    guard !sorted.isEmpty else { return 0 }
    let index = min(sorted.count - 1, max(0, Int((p / 100 * Double(sorted.count)).rounded(.up)) - 1))
    return sorted[index]
}

var exitCode: Int32 = 0
do {
    // Warm-up: every loop runs cycles, untimed, until the warm-up ends (at least one each).
    let warmupEnd = clock.now + .milliseconds(Int(options.warmup * 1000))
    let warm = try await withThrowingTaskGroup(of: Tally.self) { group in
        for token in tokens {
            group.addTask {
                var tally = Tally()
                repeat { try await cycle(token: token, tally: &tally, record: false) } while clock.now < warmupEnd
                return tally
            }
        }
        var all: [Tally] = []
        for try await tally in group { all.append(tally) }
        return all
    }

    let started = clock.now
    let deadline = started + .milliseconds(Int(options.seconds * 1000))
    let tallies = try await withThrowingTaskGroup(of: Tally.self) { group in
        for token in tokens {
            group.addTask {
                var tally = Tally()
                while clock.now < deadline { try await cycle(token: token, tally: &tally, record: true) }
                return tally
            }
        }
        var all: [Tally] = []
        for try await tally in group { all.append(tally) }
        return all
    }
    let elapsed = milliseconds(clock.now - started) / 1000

    let cycles = tallies.reduce(0) { $0 + $1.cycles }
    let claims = tallies.flatMap(\.claimLatency).sorted()
    let resolves = tallies.flatMap(\.resolveLatency).sorted()
    let whole = tallies.flatMap(\.cycleLatency).sorted()
    let errors = (warm + tallies).reduce(0) { $0 + $1.errors }
    let empty = (warm + tallies).reduce(0) { $0 + $1.empty }
    let codes = (warm + tallies).flatMap(\.codes)
    let duplicates = codes.count - Set(codes).count
    if let first = (warm + tallies).compactMap(\.firstError).first {
        FileHandle.standardError.write(Data("claim-bench: first error: \(first)\n".utf8))
    }
    func fmt(_ value: Double) -> String { String(format: "%.2f", value) }
    var fields = [
        "cycles=\(cycles)", "seconds=\(fmt(elapsed))", "rate=\(fmt(Double(cycles) / elapsed))",
        "loops=\(tokens.count)", "claimed_total=\(codes.count)",
    ]
    for (name, values) in [("claim", claims), ("resolve", resolves), ("cycle", whole)] {
        fields += ["\(name)_p50=\(fmt(percentile(values, 50)))", "\(name)_p90=\(fmt(percentile(values, 90)))",
                   "\(name)_p99=\(fmt(percentile(values, 99)))", "\(name)_max=\(fmt(values.last ?? 0))"]
    }
    fields += ["errors=\(errors)", "empty=\(empty)", "duplicates=\(duplicates)"]
    print(fields.joined(separator: " "))
} catch {
    FileHandle.standardError.write(Data("claim-bench: \(error)\n".utf8))
    exitCode = 1
}
_ = try? await client.shutdown().get()
exit(exitCode)
