import Foundation

/// Child processes for the tests, run without holding a thread of Swift's cooperative pool.
///
/// That pool has one thread per processor (two on CI), shared by every test of the process.
/// Reading a child's pipes to the end or `waitUntilExit` blocks its thread: two such waits at once
/// stalled every other test's tasks (a pool's acquire timeout and a deadline test's bound
/// measured the stall, not the code).
public enum ChildProcess {
    public struct Output: Sendable {
        public var status: Int32
        public var stdout: String
        public var stderr: String
    }

    /// Runs `executable` to completion on threads of its own and returns its status and output.
    /// Both pipes are drained at once, so that a full stderr pipe cannot stall the child.
    public static func run(
        _ executable: URL, _ arguments: [String], environment: [String: String], stdin: String? = nil
    ) async throws -> Output {
        try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread {
                do {
                    let process = Process()
                    process.executableURL = executable
                    process.arguments = arguments
                    process.environment = environment
                    let output = Pipe(), errors = Pipe(), input = Pipe()
                    process.standardOutput = output
                    process.standardError = errors
                    process.standardInput = input
                    try process.run()
                    if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
                    try input.fileHandleForWriting.close()
                    let errorData = LockedData()
                    let drained = DispatchSemaphore(value: 0)
                    Thread.detachNewThread {
                        errorData.set(errors.fileHandleForReading.readDataToEndOfFile())
                        drained.signal()
                    }
                    let outputData = output.fileHandleForReading.readDataToEndOfFile()
                    drained.wait()
                    process.waitUntilExit()
                    continuation.resume(returning: Output(
                        status: process.terminationStatus, stdout: String(decoding: outputData, as: UTF8.self),
                        stderr: String(decoding: errorData.get(), as: UTF8.self)))
                } catch {
                    continuation.resume(throwing: error)
                }
            }
        }
    }

    final class LockedData: @unchecked Sendable {
        private let lock = NSLock()
        private var data = Data()

        func set(_ value: Data) { lock.lock(); data = value; lock.unlock() }
        func get() -> Data { lock.lock(); defer { lock.unlock() }; return data }
    }
}

extension Process {
    /// Waits for the process to end by looking every 10 ms, so that no thread of the cooperative
    /// pool blocks in `waitUntilExit` (a graceful shutdown can take seconds on a loaded machine).
    public func exited() async {
        while isRunning { try? await Task.sleep(for: .milliseconds(10)) }
        waitUntilExit()  // ended: returns at once, and terminationStatus is set
    }
}
