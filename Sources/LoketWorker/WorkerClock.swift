import Foundation

/// The worker's notion of now. Production reads the system clock; tests move time by hand so that
/// stages, breaches and lease expiry happen at exact instants.
public protocol WorkerClock: Sendable {
    func now() -> Date
}

public struct SystemWorkerClock: WorkerClock {
    public init() {}
    public func now() -> Date { Date() }
}
