import BigQuery
import YAML

/// Turns a parsed `policies/NAME.yaml` into a `Policy`, reporting every problem with its place.
struct PolicyDecoder {
    static let topKeys = [
        "version", "name", "pricing", "session", "query", "warn_at", "protected_tables", "cache", "retry",
        "circuit_breaker",
    ]
    static let pricingKeys = ["usd_per_tib"]
    static let sessionKeys = ["max_bytes_billed", "max_queries", "max_cost_usd"]
    static let queryKeys = ["max_bytes_billed"]
    static let retryKeys = ["max_attempts", "initial_backoff", "max_backoff", "deadline"]
    static let circuitBreakerKeys = ["failure_threshold", "reset_after"]
    static let requiredTopKeys = ["version"]
    /// `session.max_queries`, `retry.max_attempts`, `circuit_breaker.failure_threshold`.
    static let maxQueriesRange = 1...1_000_000
    static let maxAttemptsRange = 1...100
    static let failureThresholdRange = 1...1000
    /// `query.max_bytes_billed` is at least this: BigQuery bills every query at least 10 MB.
    static let minimumQueryBytes: Int64 = 10_000_000
    /// Every block's keys, for "it belongs under 'session'".
    static let homes = KeyHomes([
        .init("", topKeys), .init("pricing", pricingKeys), .init("session", sessionKeys), .init("query", queryKeys),
        .init("retry", retryKeys), .init("circuit_breaker", circuitBreakerKeys),
    ])

    let reader: NodeReader
    let stem: String

    /// The policy's name (from `name:`, else the file name) and the policy, when nothing was wrong.
    struct Decoded {
        var name: String
        var policy: Policy?
    }

    func decode(_ root: YAMLNode) -> Decoded {
        var name = stem
        if let node = root["name"], let text = node.scalar?.value, SyncDecoder.nameProblem(text) == nil { name = text }
        return Decoded(name: name, policy: decodePolicy(root))
    }

    private func decodePolicy(_ root: YAMLNode) -> Policy? {
        guard let top = reader.mapping(root, path: "", allowed: Self.topKeys, required: Self.requiredTopKeys) else {
            return nil
        }
        if let version = top["version"] { checkVersion(version, reader: reader) }
        var policy = Policy.builtInDefault
        policy.file = reader.file
        policy.name = decodeName(top["name"])
        policy.limits = decodeLimits(top)
        if let node = top["protected_tables"] { policy.protectedTables = decodeProtectedTables(node) }
        if let node = top["cache"], let cache = reader.bool(node, path: "cache") { policy.cache = cache }
        if let node = top["retry"] { policy.retry = decodeRetry(node) }
        if let node = top["circuit_breaker"] { policy.circuitBreaker = decodeCircuitBreaker(node) }
        return reader.diagnostics.hasErrors ? nil : policy
    }

    /// `name:`, else the file name; a name that is not valid is reported.
    private func decodeName(_ node: YAMLNode?) -> String {
        guard let node else {
            if let problem = SyncDecoder.nameProblem(stem) {
                reader.error(
                    "the policy is named after its file, \(quote(stem)), which is not a valid name (\(problem)); set 'name:'",
                    at: Mark(line: 1, column: 1))
            }
            return stem
        }
        guard let name = reader.string(node, path: "name") else { return stem }
        if let problem = SyncDecoder.nameProblem(name) { reader.error("'name': \(problem)", at: node) }
        return name
    }

    /// `pricing`, `session`, `query` and `warn_at`, over the defaults.
    private func decodeLimits(_ top: [String: YAMLNode]) -> CostLimits {
        var limits = CostLimits.defaults
        if let node = top["pricing"], let keys = reader.mapping(node, path: "pricing", allowed: Self.pricingKeys) {
            if let node = keys["usd_per_tib"], let price = reader.unit(node, path: "pricing.usd_per_tib", Units.dollars)
            {
                if price <= 0 { reader.error("'pricing.usd_per_tib' must be more than 0", at: node) }
                limits.usdPerTiB = price
            }
        }
        if let node = top["session"] { limits = decodeSession(node, over: limits) }
        if let node = top["query"], let keys = reader.mapping(node, path: "query", allowed: Self.queryKeys) {
            if let node = keys["max_bytes_billed"], let bytes = positiveBytes(node, path: "query.max_bytes_billed") {
                // BigQuery bills every query at least 10 MB: a lower ceiling would refuse every job.
                if bytes < Self.minimumQueryBytes {
                    reader.error(
                        "'query.max_bytes_billed' must be at least 10 MB: BigQuery bills every query at least 10 MB",
                        at: node)
                }
                limits.queryBytes = bytes
            }
        }
        if let node = top["warn_at"], let share = reader.unit(node, path: "warn_at", Units.fraction) {
            limits.warnAt = share
        }
        return limits
    }

    private func decodeSession(_ node: YAMLNode, over defaults: CostLimits) -> CostLimits {
        var limits = defaults
        guard let keys = reader.mapping(node, path: "session", allowed: Self.sessionKeys) else { return limits }
        if let node = keys["max_bytes_billed"], let bytes = positiveBytes(node, path: "session.max_bytes_billed") {
            limits.sessionBytes = bytes
        }
        if let node = keys["max_queries"],
            let count = reader.int(node, path: "session.max_queries", range: Self.maxQueriesRange)
        {
            limits.sessionQueries = count
        }
        if let node = keys["max_cost_usd"], let dollars = reader.unit(node, path: "session.max_cost_usd", Units.dollars)
        {
            if dollars == 0 {
                // BigQuery bills every query at least 10 MB, so a zero budget would refuse every query.
                reader.error(
                    "'session.max_cost_usd' must be more than 0: every query costs something (BigQuery bills at least 10 MB)",
                    at: node)
            }
            limits.sessionCostUSD = dollars
        }
        return limits
    }

    private func decodeProtectedTables(_ node: YAMLNode) -> [TablePattern] {
        guard let patterns = reader.stringList(node, path: "protected_tables", allowEmpty: true) else {
            return Policy.builtInDefault.protectedTables
        }
        return patterns.compactMap { text, mark in
            if let problem = Self.patternProblem(text) {
                reader.error(problem, at: mark)
                return nil
            }
            do {
                return try TablePattern(text)
            } catch {
                reader.error("\(error)", at: mark)
                return nil
            }
        }
    }

    private func decodeCircuitBreaker(_ node: YAMLNode) -> CircuitBreakerSettings {
        var settings = Policy.builtInDefault.circuitBreaker
        guard let keys = reader.mapping(node, path: "circuit_breaker", allowed: Self.circuitBreakerKeys) else {
            return settings
        }
        if let node = keys["failure_threshold"],
            let count = reader.int(node, path: "circuit_breaker.failure_threshold", range: Self.failureThresholdRange)
        {
            settings.failureThreshold = count
        }
        if let node = keys["reset_after"], let duration = positiveDuration(node, path: "circuit_breaker.reset_after") {
            settings.resetAfter = duration
        }
        return settings
    }

    private func decodeRetry(_ node: YAMLNode) -> RetryPolicy {
        var retry = Policy.builtInDefault.retry
        guard let keys = reader.mapping(node, path: "retry", allowed: Self.retryKeys) else { return retry }
        if let node = keys["max_attempts"],
            let count = reader.int(node, path: "retry.max_attempts", range: Self.maxAttemptsRange)
        {
            retry.maxAttempts = count
        }
        let initialNode = keys["initial_backoff"]
        let maximumNode = keys["max_backoff"]
        let initial = initialNode.flatMap { positiveDuration($0, path: "retry.initial_backoff") }
        let maximum = maximumNode.flatMap { positiveDuration($0, path: "retry.max_backoff") }
        if let initial { retry.initialBackoff = initial }
        if let maximum { retry.maxBackoff = maximum }
        // Say which written key conflicts with which (written or default) one. A key that was written but is
        // wrong has its own error already, and is not compared.
        if retry.maxBackoff < retry.initialBackoff {
            let (low, high) = (Units.formatDuration(retry.maxBackoff), Units.formatDuration(retry.initialBackoff))
            if let maximumNode, maximum != nil, initial != nil {
                reader.error(
                    "'retry.max_backoff' (\(low)) must not be shorter than 'retry.initial_backoff' (\(high))",
                    at: maximumNode)
            } else if let maximumNode, maximum != nil, initialNode == nil {
                reader.error(
                    "'retry.max_backoff' (\(low)) is shorter than the default 'retry.initial_backoff' (\(high)); raise it or set 'retry.initial_backoff'",
                    at: maximumNode)
            } else if let initialNode, initial != nil, maximumNode == nil {
                reader.error(
                    "'retry.initial_backoff' (\(high)) is longer than the default 'retry.max_backoff' (\(low)); lower it or set 'retry.max_backoff'",
                    at: initialNode)
            }
        }
        if let node = keys["deadline"], let duration = positiveDuration(node, path: "retry.deadline") {
            retry.deadline = duration
        }
        return retry
    }

    /// What is wrong with a protected-table pattern, with the pattern quoted safely; nil if it is fine.
    static func patternProblem(_ text: String) -> String? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2 || parts.count == 3 else {
            return "protected-table pattern \(quote(text)) must have the form [project.]dataset.table"
        }
        for part in parts {
            guard !part.isEmpty else { return "protected-table pattern \(quote(text)) has an empty part" }
            let unwild = String(part.map { $0 == "*" || $0 == "?" ? "a" : $0 })
            if let problem = Naming.unsafeCharacterProblem(unwild) {
                return "protected-table pattern \(quote(text)): \(problem)"
            }
        }
        return nil
    }

    private func positiveBytes(_ node: YAMLNode, path: String) -> Int64? {
        guard let bytes = reader.unit(node, path: path, Units.bytes) else { return nil }
        guard bytes > 0 else {
            reader.error("'\(path)' must be more than 0", at: node)
            return nil
        }
        return bytes
    }

    private func positiveDuration(_ node: YAMLNode, path: String) -> Duration? {
        guard let duration = reader.unit(node, path: path, Units.duration) else { return nil }
        guard duration > .zero else {
            reader.error("'\(path)' must be longer than 0", at: node)
            return nil
        }
        return duration
    }
}
