/// Which failures are worth another attempt, decided as the official clients do: by the error reason when
/// there is one (a 403 can be `rateLimitExceeded`), by the HTTP status only when there is none.
public enum Retry {
    /// Reasons that mean "try again" for API calls.
    public static let retryableReasons: Set<String> = [
        "rateLimitExceeded", "backendError", "internalError", "badGateway",
    ]
    /// Reasons that mean a job failed for a passing cause and may succeed under a new attempt id.
    public static let retryableJobReasons: Set<String> = retryableReasons.union([
        "jobBackendError", "jobInternalError", "jobRateLimitExceeded",
    ])
    /// Statuses retried when the answer carries no reason.
    public static let retryableStatuses: Set<Int> = [408, 429, 500, 502, 503, 504]

    /// Whether an HTTP error answer should be retried.
    public static func isRetryable(status: Int, reason: String?) -> Bool {
        if let reason, !reason.isEmpty { return retryableReasons.contains(reason) }
        return retryableStatuses.contains(status)
    }

    /// Messages of job failures that a later attempt can get past although their reason is not retryable as
    /// such: BigQuery's DML concurrency errors (docs/bigquery.md, "Concurrent DML"). A mutating statement that
    /// lost a conflict with a concurrent one fails with reason `invalidQuery` and "Could not serialize access to
    /// table … due to concurrent update"; one past the per-table queue of 20 fails with "Too many DML statements
    /// outstanding against table …". Every other `invalidQuery` is the statement's own fault and stays fatal.
    public static let retryableJobMessages = [
        "Could not serialize access to table", "Too many DML statements outstanding against table",
    ]

    /// Whether a failed job should be retried under its next attempt id.
    public static func isRetryableJob(reason: String?, message: String? = nil) -> Bool {
        if let message, retryableJobMessages.contains(where: { message.contains($0) }) { return true }
        guard let reason else { return false }
        return retryableJobReasons.contains(reason)
    }
}
