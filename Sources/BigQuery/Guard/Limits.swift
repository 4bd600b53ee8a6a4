/// The cost limits of one session (one bqsync invocation), as a policy states them.
public struct CostLimits: Sendable, Hashable, Codable {
    /// Bytes billed by all jobs of the session together.
    public var sessionBytes: Int64
    /// Query jobs in the session.
    public var sessionQueries: Int
    /// Dollars spent in the session.
    public var sessionCostUSD: Double
    /// Bytes billed by one query; also sent as `maximumBytesBilled`.
    public var queryBytes: Int64
    /// Share (0–1] of a session limit past which one warning is given.
    public var warnAt: Double
    /// On-demand price per TiB scanned.
    public var usdPerTiB: Double

    /// The defaults the project started from: 5 GB and 500 queries a session, 1 GB a query, $0.03, 80%.
    public static let defaults = CostLimits(
        sessionBytes: 5_000_000_000, sessionQueries: 500, sessionCostUSD: 0.03,
        queryBytes: 1_000_000_000, warnAt: 0.8, usdPerTiB: 6.25
    )

    /// Creates limits.
    public init(
        sessionBytes: Int64, sessionQueries: Int, sessionCostUSD: Double, queryBytes: Int64, warnAt: Double,
        usdPerTiB: Double
    ) {
        self.sessionBytes = sessionBytes
        self.sessionQueries = sessionQueries
        self.sessionCostUSD = sessionCostUSD
        self.queryBytes = queryBytes
        self.warnAt = warnAt
        self.usdPerTiB = usdPerTiB
    }

    /// Dollars for a number of billed bytes at this price.
    public func cost(ofBytes bytes: Int64) -> Double {
        Double(bytes) / 1_099_511_627_776 * usdPerTiB
    }
}

/// When and how often to retry, as the official clients do: exponential backoff with full jitter.
public struct RetryPolicy: Sendable, Hashable, Codable {
    /// Attempts in all, the first included.
    public var maxAttempts: Int
    /// The first backoff ceiling.
    public var initialBackoff: Duration
    /// The largest backoff ceiling.
    public var maxBackoff: Duration
    /// Total time allowed for one call with its retries.
    public var deadline: Duration
    /// Growth of the ceiling per attempt.
    public var multiplier: Double

    /// 6 attempts, 1 s doubling to 32 s, 600 s deadline.
    public static let defaults = RetryPolicy(
        maxAttempts: 6, initialBackoff: .seconds(1), maxBackoff: .seconds(32), deadline: .seconds(600))

    /// Creates a policy.
    public init(
        maxAttempts: Int, initialBackoff: Duration, maxBackoff: Duration, deadline: Duration, multiplier: Double = 2
    ) {
        self.maxAttempts = maxAttempts
        self.initialBackoff = initialBackoff
        self.maxBackoff = maxBackoff
        self.deadline = deadline
        self.multiplier = multiplier
    }

    /// The backoff ceiling before retry number `retry` (1 for the first retry): initial × multiplier^(retry-1),
    /// capped; the wait itself is drawn uniformly from [0, ceiling] ("full jitter").
    public func ceiling(beforeRetry retry: Int) -> Duration {
        let initial = initialBackoff.seconds
        let ceiling = min(maxBackoff.seconds, initial * pow2(multiplier, retry - 1))
        return .seconds(ceiling)
    }

    private func pow2(_ base: Double, _ exponent: Int) -> Double {
        var result = 1.0
        for _ in 0..<max(0, min(exponent, 64)) { result *= base }
        return result
    }
}

/// When the circuit breaker opens and when it lets a probe through.
public struct CircuitBreakerSettings: Sendable, Hashable, Codable {
    /// Consecutive failures that open the breaker.
    public var failureThreshold: Int
    /// Time after opening before one probe call is allowed.
    public var resetAfter: Duration

    /// 5 failures, 30 s.
    public static let defaults = CircuitBreakerSettings(failureThreshold: 5, resetAfter: .seconds(30))

    /// Creates settings.
    public init(failureThreshold: Int, resetAfter: Duration) {
        self.failureThreshold = failureThreshold
        self.resetAfter = resetAfter
    }
}

extension Duration {
    /// The duration in seconds, as a Double.
    public var seconds: Double {
        let (s, attoseconds) = components
        return Double(s) + Double(attoseconds) / 1e18
    }
}
