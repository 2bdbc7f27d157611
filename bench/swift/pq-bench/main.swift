// Drives `SELECT abalance FROM pgbench_accounts WHERE aid = $1` (the statement of pgbench -S)
// through Loket's ConnectionPool from N concurrent tasks for a fixed time and prints the rate.
// Run by bench/pq, which measures pgbench itself on the same database in the same run.
//   --mode query:   every SELECT acquires a connection from the pool and returns it (pool.query).
//   --mode session: each client borrows a connection once and runs its SELECTs on it, as each
//                   pgbench client does (pool.withConnection around the loop).
import Foundation
import Postgres

struct Options {
    var clients = 8
    var seconds = 10.0
    var scale = 1
    var session = false

    init(_ arguments: [String]) {
        var iterator = arguments.dropFirst().makeIterator()
        while let argument = iterator.next() {
            switch argument {
            case "--clients": clients = Int(iterator.next() ?? "") ?? clients
            case "--seconds": seconds = Double(iterator.next() ?? "") ?? seconds
            case "--scale": scale = Int(iterator.next() ?? "") ?? scale
            case "--mode": session = iterator.next() == "session"
            default:
                FileHandle.standardError.write(Data("unknown argument \(argument)\n".utf8))
                exit(2)
            }
        }
    }
}

let options = Options(CommandLine.arguments)
let pool = ConnectionPool(
    configuration: .fromEnvironment(applicationName: "pq-bench"), maxConnections: options.clients,
    acquireTimeout: .seconds(30))
let accounts = 100_000 * options.scale
let sql = "SELECT abalance FROM pgbench_accounts WHERE aid = $1"

// Warm every connection (connect + prepare) before the clock starts, as pgbench does.
try await withThrowingTaskGroup(of: Void.self) { group in
    for _ in 0..<options.clients {
        group.addTask { _ = try await pool.query(sql, Int.random(in: 1...accounts)) }
    }
    try await group.waitForAll()
}

let clock = ContinuousClock()
let deadline = clock.now + .milliseconds(Int(options.seconds * 1000))
let started = clock.now
let total = try await withThrowingTaskGroup(of: Int.self) { group in
    for _ in 0..<options.clients {
        group.addTask {
            var count = 0
            // A cheap generator, like pgbench's: getrandom(2) per query would measure the kernel.
            var generator = SplitMix64(seed: UInt64.random(in: 1...UInt64.max))
            if options.session {
                try await pool.withConnection { connection in
                    while clock.now < deadline {
                        let rows = try await connection.query(sql, Int.random(in: 1...accounts, using: &generator))
                        _ = try rows.single().decode(Int.self, 0)
                        count += 1
                    }
                }
            } else {
                while clock.now < deadline {
                    let rows = try await pool.query(sql, Int.random(in: 1...accounts, using: &generator))
                    _ = try rows.single().decode(Int.self, 0)
                    count += 1
                }
            }
            return count
        }
    }
    var sum = 0
    for try await count in group { sum += count }
    return sum
}
let elapsed = clock.now - started
let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
print(String(format: "queries=%d seconds=%.3f rate=%.1f", total, seconds, Double(total) / seconds))
await pool.close()

struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
