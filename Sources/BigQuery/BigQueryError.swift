/// Everything that can go wrong talking to BigQuery; messages are short and lowercase, and never hold secrets.
public enum BigQueryError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A project, dataset, table or column name breaks BigQuery's rules (or bqsync's safe subset of them).
    case invalidName(String)
    /// The cost guard or protected-table check refused a job before it was sent.
    case refused(Refusal)
    /// BigQuery answered with an error: HTTP status, the first error's reason, and its message.
    case api(status: Int, reason: String?, message: String)
    /// A job ran and failed: its id, the error reason and message.
    case jobFailed(jobId: String, reason: String?, message: String)
    /// The request never got an HTTP answer (connection refused, reset, timeout, TLS): curl's own message.
    case transport(String)
    /// Too many consecutive failures: calls fail fast until the breaker's reset time.
    case circuitOpen(failures: Int, retryInSeconds: Double)
    /// Retries ran out of time or attempts; the last error is attached.
    case retriesExhausted(attempts: Int, last: String)
    /// Credentials could not be found, read or exchanged for a token.
    case auth(String)
    /// BigQuery's answer was not what the API promises.
    case invalidResponse(String)
    /// The calling task was cancelled (Ctrl-C): the request in flight was aborted and nothing more was sent.
    case cancelled

    /// The message, lowercase, without secrets.
    public var description: String {
        switch self {
        case .invalidName(let message): return message
        case .refused(let refusal): return refusal.description
        case .api(let status, let reason, let message):
            return "bigquery answered \(status)\(reason.map { " \($0)" } ?? ""): \(message)"
        case .jobFailed(let jobId, let reason, let message):
            return "job \(jobId) failed\(reason.map { " (\($0))" } ?? ""): \(message)"
        case .transport(let message): return "connection failed: \(message)"
        case .circuitOpen(let failures, let seconds):
            return
                "circuit breaker open after \(failures) consecutive failures; next attempt allowed in \(Int(seconds.rounded(.up)))s"
        case .retriesExhausted(let attempts, let last): return "gave up after \(attempts) attempts: \(last)"
        case .auth(let message): return "credentials: \(message)"
        case .invalidResponse(let message): return "unexpected answer from bigquery: \(message)"
        case .cancelled: return "interrupted"
        }
    }

    /// The BigQuery error reason, where there is one.
    public var reason: String? {
        switch self {
        case .api(_, let reason, _), .jobFailed(_, let reason, _): return reason
        default: return nil
        }
    }

    /// Whether this was refused by policy (budget or protected table) rather than a failure.
    public var isRefusal: Bool {
        if case .refused = self { return true }
        return false
    }
}

/// Why the cost guard or protected-table check refused a job.
public enum Refusal: Sendable, Hashable, CustomStringConvertible {
    /// A limit would be passed: which limit, what it is, what the job would bring the figure to.
    case budget(limit: Limit, allowed: String, wouldBe: String, left: String)
    /// A write to a protected table.
    case protectedTable(table: String, pattern: String)
    /// A statement that writes (the dry run says so) in a job that declares no table it writes.
    case undeclaredWrite(statement: String)

    /// The limits the cost guard enforces.
    public enum Limit: String, Sendable, Hashable, Codable {
        /// Bytes billed by one query.
        case queryBytes = "per-query bytes billed"
        /// Bytes billed in the session.
        case sessionBytes = "session bytes billed"
        /// Queries in the session.
        case sessionQueries = "session query count"
        /// Dollars in the session.
        case sessionCost = "session cost"
    }

    /// The message.
    public var description: String {
        switch self {
        case .budget(let limit, let allowed, let wouldBe, let left):
            return "refused: \(limit.rawValue) would reach \(wouldBe), over the limit of \(allowed) (\(left) left)"
        case .protectedTable(let table, let pattern):
            return "refused: table \(table) is protected (pattern '\(pattern)'); bqsync never writes to it"
        case .undeclaredWrite(let statement):
            return "refused: the statement is a \(statement) but the job declares no table it writes; nothing was sent"
        }
    }
}
