import Foundation

/// The clock and the sleeping the client retries with; tests substitute a virtual one.
public protocol TimeSource: Sendable {
    /// Seconds since some fixed start.
    func now() -> Double
    /// Waits (or pretends to).
    func sleep(seconds: Double) async throws
    /// A uniformly random wait in [0, ceiling] for full jitter.
    func jitter(upTo ceiling: Double) -> Double
}

/// Real time and real randomness.
public struct SystemTime: TimeSource {
    /// Creates the system time source.
    public init() {}

    public func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

    public func sleep(seconds: Double) async throws {
        guard seconds > 0 else { return }
        try await Task.sleep(nanoseconds: UInt64(seconds * 1e9))
    }

    public func jitter(upTo ceiling: Double) -> Double {
        ceiling > 0 ? Double.random(in: 0...ceiling) : 0
    }
}

/// Wall-clock time as Unix seconds, for token expiry and JWT claims.
public protocol WallClock: Sendable {
    /// Seconds since 1970.
    func unixTime() -> Double
}

/// The system's wall clock.
public struct SystemWallClock: WallClock {
    /// Creates it.
    public init() {}
    public func unixTime() -> Double { Date().timeIntervalSince1970 }
}
