// N concurrent officers, each in a loop: POST /api/v1/staff/claim, read the tracking code from
// the 200 detail JSON, POST /api/v1/staff/requests/{code}/resolve. Run by bench/claim, which
// measures pgbench running the same SQL on the same database in the same run.
//
//   claim-bench --base http://127.0.0.1:PORT --tokens FILE [--seconds S] [--warmup S] [--threads T]
//
// FILE holds one personal token a line; one loop per token (an officer resolves only what he
// holds), each with one keep-alive HTTP/1.1 connection. The loops are driven as pgbench drives its
// clients: T threads (2, as bench/claim runs pgbench with -j 2) each wait on their connections'
// sockets together (poll) and advance whichever has an answer. The load tool shares the machine
// with the server and PostgreSQL, so it must cost little per request: an event-loop HTTP client
// cost ~0.4 ms of CPU per cycle here, a blocking thread per loop ~0.08 ms and three thread
// switches a cycle. The warm-up phase (connections, the server's prepared statements) is not
// timed. Prints one line of key=value pairs on standard output: cycles, seconds, rate (cycles/s),
// claim/resolve/cycle latency percentiles in ms, non-2xx answers, empty queues (204) and
// duplicates (a tracking code handed to two claims).
import Foundation

#if canImport(Glibc)
import Glibc
#endif

struct Options {
    var host = "127.0.0.1"
    var port: UInt16 = 8080
    var tokensFile = ""
    var seconds = 15.0
    var warmup = 2.0
    var threads = 2

    init(_ arguments: [String]) {
        var iterator = arguments.dropFirst().makeIterator()
        while let argument = iterator.next() {
            switch argument {
            case "--base":
                // http://HOST:PORT, loopback only.
                let base = (iterator.next() ?? "").replacingOccurrences(of: "http://", with: "")
                let parts = base.split(separator: ":")
                guard parts.count == 2, let port = UInt16(parts[1].prefix { $0.isNumber }) else { Self.fail("--base must be http://HOST:PORT") }
                host = String(parts[0])
                self.port = port
            case "--tokens": tokensFile = iterator.next() ?? ""
            case "--seconds": seconds = Double(iterator.next() ?? "") ?? seconds
            case "--warmup": warmup = Double(iterator.next() ?? "") ?? warmup
            case "--threads":
                guard let value = Int(iterator.next() ?? ""), (1...64).contains(value) else { Self.fail("--threads must be 1…64") }
                threads = value
            default: Self.fail("unknown argument \(argument)")
            }
        }
    }

    static func fail(_ message: String) -> Never {
        FileHandle.standardError.write(Data("claim-bench: \(message)\n".utf8))
        exit(2)
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

/// The claim's answer, as far as the loop needs it: the tracking code and the status.
struct Claimed {
    var trackingCode: String
    var status: String

    /// Read from the answer's bytes without a JSON decoder (this tool shares the cores with the
    /// server it measures; pgbench's client decodes nothing either). Each key occurs once as a key:
    /// a string value holding the same characters has its quotes escaped, and no nested object of
    /// the detail has a `status` or `tracking_code` key. Nil if either is missing.
    init?(_ body: ArraySlice<UInt8>) {
        guard let code = Self.string(after: Self.trackingCodeKey, in: body), let status = Self.string(after: Self.statusKey, in: body)
        else { return nil }
        trackingCode = code
        self.status = status
    }

    private static let trackingCodeKey = Array(#""tracking_code":""#.utf8)
    private static let statusKey = Array(#""status":""#.utf8)

    /// The string value after the first `key` (which ends with the value's opening quote), up to
    /// its closing quote; nil when it holds an escape.
    private static func string(after key: [UInt8], in body: ArraySlice<UInt8>) -> String? {
        var index = body.startIndex
        while index + key.count <= body.endIndex {
            if body[index] == key[0] && body[index..<(index + key.count)].elementsEqual(key) {
                let start = index + key.count
                guard let end = body[start...].firstIndex(of: 34) else { return nil }
                let value = body[start..<end]
                return value.contains(92) ? nil : String(decoding: value, as: UTF8.self)
            }
            index += 1
        }
        return nil
    }
}

/// One keep-alive HTTP/1.1 connection on a non-blocking socket, one request at a time. Answers are
/// read by Content-Length (loketd sends it on every JSON answer); anything else is a failure, never
/// a guess. Requests and answers are handled as bytes (no String per header line): this tool shares
/// the two cores with the server it measures.
final class Connection {
    let fd: Int32
    /// Received bytes; those before `start` are consumed.
    private var buffer: [UInt8] = []
    private var start = 0
    /// Request bytes the socket did not take yet (it wants EPOLLOUT then).
    private var unsent: [UInt8] = []
    private var chunk = [UInt8](repeating: 0, count: 65536)

    init(host: String, port: UInt16) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket: \(errno)") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        guard inet_pton(AF_INET, host, &address.sin_addr) == 1 else { throw Failure(description: "not an IPv4 address: \(host)") }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw Failure(description: "connect: \(errno)") }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        guard fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) == 0 else { throw Failure(description: "fcntl: \(errno)") }
        buffer.reserveCapacity(65536)
    }

    deinit { close(fd) }

    /// The head of a POST to `path` with `token`, up to (not including) the Content-Length value.
    static func head(_ path: String, token: String, json: Bool) -> [UInt8] {
        var head = "POST \(path) HTTP/1.1\r\nHost: loket\r\nAuthorization: Bearer \(token)\r\nAccept: application/json\r\n"
        if json { head += "Content-Type: application/json\r\n" }
        return Array((head + "Content-Length: ").utf8)
    }

    /// Sends `head` (from `Connection.head`), the body's length, and the body, as far as the
    /// socket takes them; true when bytes are left for `flush` (wait for EPOLLOUT).
    func post(head: [UInt8], body: [UInt8]) throws -> Bool {
        var request = head
        request.reserveCapacity(head.count + body.count + 8)
        request.append(contentsOf: String(body.count).utf8)
        request.append(contentsOf: [13, 10, 13, 10])
        request.append(contentsOf: body)
        unsent = request
        return try flush()
    }

    /// Sends what the socket did not take before; true when bytes are still left.
    func flush() throws -> Bool {
        var offset = 0
        while offset < unsent.count {
            let sent = unsent.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + offset, unsent.count - offset, Int32(MSG_NOSIGNAL)) }
            if sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { break }
            guard sent > 0 else { throw Failure(description: "send: \(errno)") }
            offset += sent
        }
        unsent.removeFirst(offset)
        return !unsent.isEmpty
    }

    /// Reads what the socket holds (it was reported readable).
    func receive() throws {
        if start == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            start = 0
        }
        while true {
            let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { return }
            guard count > 0 else { throw Failure(description: count == 0 ? "connection closed by the server" : "recv: \(errno)") }
            buffer.append(contentsOf: chunk[..<count])
            if count < chunk.count { return }
        }
    }

    /// The next whole answer received, if there is one. Its body is a slice of the buffer: done
    /// with before the next `receive`.
    func takeResponse() throws -> (status: Int, body: ArraySlice<UInt8>)? {
        var searched = start
        guard let bodyStart = headEnd(from: &searched) else { return nil }
        let headStart = start
        // "HTTP/1.1 200 OK": three digits after the first space.
        guard bodyStart - headStart > 12, buffer[headStart + 8] == 32,
              let status = Self.number(buffer[(headStart + 9)..<(headStart + 12)])
        else { throw Failure(description: "not a status line: \(text(headStart..<bodyStart))") }
        guard let length = contentLength(headStart..<bodyStart) else {
            if status == 204 || status == 304 {
                start = bodyStart
                return (status, [])
            }
            throw Failure(description: "answer without Content-Length: \(text(headStart..<bodyStart))")
        }
        guard buffer.count >= bodyStart + length else { return nil }
        start = bodyStart + length
        return (status, buffer[bodyStart..<start])
    }

    /// The index after the blank line ending the head, searching on from `searched`.
    private func headEnd(from searched: inout Int) -> Int? {
        var index = max(searched, start)
        while index + 4 <= buffer.count {
            if buffer[index] == 13 && buffer[index + 1] == 10 && buffer[index + 2] == 13 && buffer[index + 3] == 10 {
                return index + 4
            }
            index += 1
        }
        searched = index
        return nil
    }

    private static let contentLengthName = Array("content-length:".utf8)

    /// The value of the Content-Length header in the head at `range` (names compared ignoring case).
    private func contentLength(_ range: Range<Int>) -> Int? {
        let name = Self.contentLengthName
        var line = range.lowerBound
        while line < range.upperBound {
            var next = line
            while next < range.upperBound && buffer[next] != 10 { next += 1 }
            if next - line > name.count {
                var matches = true
                for offset in 0..<name.count where Self.lowercased(buffer[line + offset]) != name[offset] {
                    matches = false
                    break
                }
                if matches {
                    var value = line + name.count
                    while value < next && buffer[value] == 32 { value += 1 }
                    var stop = value
                    while stop < next && buffer[stop] >= 48 && buffer[stop] <= 57 { stop += 1 }
                    return Self.number(buffer[value..<stop])
                }
            }
            line = next + 1
        }
        return nil
    }

    private static func lowercased(_ byte: UInt8) -> UInt8 { byte >= 65 && byte <= 90 ? byte + 32 : byte }

    /// Decimal digits (1 to 9 of them) as a number.
    private static func number(_ digits: ArraySlice<UInt8>) -> Int? {
        guard !digits.isEmpty, digits.count <= 9 else { return nil }
        var value = 0
        for digit in digits {
            guard digit >= 48 && digit <= 57 else { return nil }
            value = value * 10 + Int(digit - 48)
        }
        return value
    }

    private func text(_ range: Range<Int>) -> String { String(decoding: buffer[range], as: UTF8.self) }
}

let options = Options(CommandLine.arguments)
guard let tokenText = try? String(contentsOfFile: options.tokensFile, encoding: .utf8) else {
    Options.fail("cannot read --tokens \(options.tokensFile)")
}
let tokens = tokenText.split(whereSeparator: \.isNewline).map(String.init).filter { !$0.isEmpty }
guard !tokens.isEmpty else { Options.fail("no tokens in \(options.tokensFile)") }

let resolveBody = Array(#"{"public_message":"Dokumen sudah selesai dan dapat diambil di loket 3.","outcome":"bench"}"#.utf8)
let clock = ContinuousClock()

@Sendable func milliseconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15
}

/// One officer's claim+resolve loop, advanced by its thread as answers arrive. A cycle that begins
/// before `warmupEnd` (and the first, always) is warm-up; the loop begins no cycle after `deadline`.
final class Loop {
    let connection: Connection
    let token: String
    let claimHead: [UInt8]
    var warm = Tally()
    var timed = Tally()
    var finished = false
    /// Set while the connection has request bytes the socket did not take.
    var wantsWrite = false
    /// After an empty queue (204): the instant to claim again.
    var pausedUntil: ContinuousClock.Instant?
    private var cycleStart = clock.now
    private var claimedAt: ContinuousClock.Instant?
    private var cyclesBegun = 0
    private let warmupEnd: ContinuousClock.Instant
    private let deadline: ContinuousClock.Instant

    init(token: String, warmupEnd: ContinuousClock.Instant, deadline: ContinuousClock.Instant) throws {
        connection = try Connection(host: options.host, port: options.port)
        self.token = token
        claimHead = Connection.head("/api/v1/staff/claim", token: token, json: false)
        self.warmupEnd = warmupEnd
        self.deadline = deadline
    }

    private var recording: Bool { cyclesBegun > 1 && cycleStart >= warmupEnd }

    /// Begins the next cycle (its claim), or finishes the loop past the deadline.
    func beginCycle() throws {
        let now = clock.now
        if cyclesBegun > 0 && now >= deadline {
            finished = true
            return
        }
        cyclesBegun += 1
        cycleStart = now
        claimedAt = nil
        wantsWrite = try connection.post(head: claimHead, body: [])
    }

    /// Handles the answers the connection holds.
    func advance() throws {
        while !finished, let answer = try connection.takeResponse() {
            let now = clock.now
            if let claimedAt {
                // The resolve's answer ends the cycle.
                if answer.status == 200 {
                    if recording {
                        timed.cycles += 1
                        timed.claimLatency.append(milliseconds(claimedAt - cycleStart))
                        timed.resolveLatency.append(milliseconds(now - claimedAt))
                        timed.cycleLatency.append(milliseconds(now - cycleStart))
                    }
                } else {
                    fail("resolve", answer)
                }
                try beginCycle()
                continue
            }
            claimedAt = now
            switch answer.status {
            case 204:
                update { $0.empty += 1 }
                pausedUntil = now + .milliseconds(20)
            case 200:
                guard let detail = Claimed(answer.body) else {
                    throw Failure(description: "claim answered without a tracking code and status: \(String(decoding: answer.body.prefix(300), as: UTF8.self))")
                }
                guard detail.status == "in_progress" else { throw Failure(description: "claim answered status \(detail.status)") }
                update { $0.codes.append(detail.trackingCode) }
                let resolveHead = Connection.head("/api/v1/staff/requests/\(detail.trackingCode)/resolve", token: token, json: true)
                wantsWrite = try connection.post(head: resolveHead, body: resolveBody)
            default:
                fail("claim", answer)
                try beginCycle()
            }
        }
    }

    private func update(_ change: (inout Tally) -> Void) {
        if recording { change(&timed) } else { change(&warm) }
    }

    private func fail(_ what: String, _ answer: (status: Int, body: ArraySlice<UInt8>)) {
        update { tally in
            tally.errors += 1
            if tally.firstError == nil {
                tally.firstError = "\(what): \(answer.status) \(String(decoding: answer.body.prefix(300), as: UTF8.self))"
            }
        }
    }
}

/// Drives `loops` from the calling thread until each has finished: one `poll` over their sockets,
/// as a pgbench thread polls its clients'.
@Sendable func drive(_ loops: [Loop]) throws {
    for loop in loops { try loop.beginCycle() }
    var descriptors = [pollfd]()
    var polled: [Loop] = []
    while true {
        descriptors.removeAll(keepingCapacity: true)
        polled.removeAll(keepingCapacity: true)
        // Loops paused after an empty queue are woken by the timeout.
        var timeout: Int32 = -1
        let now = clock.now
        for loop in loops where !loop.finished {
            if let until = loop.pausedUntil {
                let wait = Int32(max(0, milliseconds(until - now).rounded(.up)))
                timeout = timeout < 0 ? wait : min(timeout, wait)
            } else {
                descriptors.append(pollfd(fd: loop.connection.fd, events: Int16(POLLIN) | (loop.wantsWrite ? Int16(POLLOUT) : 0), revents: 0))
                polled.append(loop)
            }
        }
        if descriptors.isEmpty && timeout < 0 { return }
        let count = poll(&descriptors, nfds_t(descriptors.count), timeout)
        if count < 0 && errno != EINTR { throw Failure(description: "poll: \(errno)") }
        for (index, loop) in polled.enumerated() where descriptors[index].revents != 0 {
            let ready = descriptors[index].revents
            if ready & Int16(POLLOUT) != 0 { loop.wantsWrite = try loop.connection.flush() }
            if ready & (Int16(POLLIN) | Int16(POLLERR) | Int16(POLLHUP)) != 0 {
                try loop.connection.receive()
                try loop.advance()
            }
        }
        let later = clock.now
        for loop in loops where !loop.finished {
            guard let until = loop.pausedUntil, until <= later else { continue }
            loop.pausedUntil = nil
            try loop.beginCycle()
        }
    }
}

func percentile(_ sorted: [Double], _ p: Double) -> Double {
    guard !sorted.isEmpty else { return 0 }
    let index = min(sorted.count - 1, max(0, Int((p / 100 * Double(sorted.count)).rounded(.up)) - 1))
    return sorted[index]
}

/// Results of the loops, written by each driving thread.
final class Results: @unchecked Sendable {
    private let lock = NSLock()
    private var warm: [Tally] = []
    private var timed: [Tally] = []
    private var failures: [String] = []

    func finish(warm: Tally, timed: Tally) {
        lock.withLock {
            self.warm.append(warm)
            self.timed.append(timed)
        }
    }

    func fail(_ message: String) { lock.withLock { failures.append(message) } }

    var snapshot: (warm: [Tally], timed: [Tally], failures: [String]) { lock.withLock { (warm, timed, failures) } }
}

// Every loop connects, warms up until `warmupEnd` (at least one cycle), then runs until `deadline`;
// `--threads` threads share the loops, each driving its share.
let results = Results()
let warmupEnd = clock.now + .milliseconds(Int(options.warmup * 1000))
let started = warmupEnd
let deadline = started + .milliseconds(Int(options.seconds * 1000))
let done = DispatchGroup()
let threadCount = min(options.threads, tokens.count)
for index in 0..<threadCount {
    let share = stride(from: index, to: tokens.count, by: threadCount).map { tokens[$0] }
    done.enter()
    let thread = Thread {
        defer { done.leave() }
        do {
            let loops = try share.map { try Loop(token: $0, warmupEnd: warmupEnd, deadline: deadline) }
            try drive(loops)
            for loop in loops { results.finish(warm: loop.warm, timed: loop.timed) }
        } catch {
            results.fail("\(error)")
        }
    }
    thread.stackSize = 1 << 20
    thread.start()
}
done.wait()
let elapsed = milliseconds(clock.now - started) / 1000

let (warm, tallies, failures) = results.snapshot
if let failure = failures.first {
    FileHandle.standardError.write(Data("claim-bench: \(failures.count) loop(s) failed, first: \(failure)\n".utf8))
    exit(1)
}
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
