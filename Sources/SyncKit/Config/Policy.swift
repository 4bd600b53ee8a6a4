import BigQuery

/// A cost policy (`policies/NAME.yaml`): limits, protected tables, cache, retries and the circuit breaker.
public struct Policy: Sendable, Hashable {
    /// The policy's name; syncs refer to it with `policy:`.
    public var name: String
    /// Session and per-query limits, warning share and price.
    public var limits: CostLimits
    /// Tables bqsync never writes.
    public var protectedTables: [TablePattern]
    /// Whether query results are cached (BigQuery's cache and the session's own).
    public var cache: Bool
    /// Retry behaviour.
    public var retry: RetryPolicy
    /// Circuit-breaker behaviour.
    public var circuitBreaker: CircuitBreakerSettings
    /// The file it came from; nil for the built-in default.
    public var file: ConfigFile?

    /// The built-in policy used when a sync names none and `policies/default.yaml` does not exist.
    public static let builtInDefault = Policy(
        name: "default", limits: .defaults, protectedTables: [], cache: true,
        retry: .defaults, circuitBreaker: .defaults, file: nil
    )

    /// The first protected pattern the table matches, if any.
    public func protectingPattern(for table: TableReference) -> TablePattern? {
        protectedTables.first { $0.matches(table) }
    }
}
