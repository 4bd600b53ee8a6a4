import BigQuery

/// What can go wrong in SyncKit: bad configuration, unreadable files, bad rows, refusals, BigQuery failures.
public enum SyncError: Error, Sendable, CustomStringConvertible {
    /// Configuration problems, or a local source's bad rows (up to the row-error limit), each with its place.
    case config([Diagnostic])
    /// A file could not be read or written.
    case io(path: String, message: String)
    /// A source row is wrong: the file, line and column, and what is wrong.
    case row(SourceLocation, String)
    /// Refused by policy (budget, protected table) or because the plan is stale; nothing was sent.
    case refused(String)
    /// A plan file is not one this bqsync can apply.
    case invalidPlan(String)
    /// BigQuery failed.
    case bigQuery(BigQueryError)
    /// The command's arguments or environment are wrong (an unknown sync, a bad `BQSYNC_*` value, no project).
    case usage(String)
    /// A definition does not fit its target or what BigQuery accepts (columns, types, keys, location, partition
    /// filter, a row too large); the message starts at the definition's place where there is one.
    case definition(String)
    /// A database source failed: it could not be reached, refused its query, or returned a type bqsync cannot map
    /// (the message names the sync's definition, where the source came from, and what PostgreSQL said).
    case source(String)
    /// The target's lease could not be taken, or was lost while the apply ran.
    case lease(String)
    /// The apply was interrupted (SIGINT, SIGTERM); the run is recorded and the lease released.
    case interrupted(String)
    /// The rows were applied but the run could not be recorded.
    case unrecorded(String)
    /// A broken invariant of bqsync's own (a plan or lease that cannot be encoded, a step missing).
    case `internal`(String)
    /// An error of a kind SyncKit does not know, described.
    case unexpected(String)

    /// The message, lowercase.
    public var description: String {
        switch self {
        case .config(let diagnostics): return diagnostics.map(\.description).joined(separator: "\n")
        case .io(let path, let message): return "\(path): \(message)"
        case .row(let location, let message): return "\(location): \(message)"
        case .refused(let message): return message
        case .invalidPlan(let message): return "invalid plan: \(message)"
        case .bigQuery(let error): return error.description
        case .usage(let message), .definition(let message), .source(let message), .lease(let message),
            .interrupted(let message),
            .unrecorded(let message), .internal(let message), .unexpected(let message):
            return message
        }
    }

    /// Whether this is a refusal by policy (exit code 3) rather than an error.
    public var isRefusal: Bool {
        switch self {
        case .refused: return true
        case .bigQuery(let error): return error.isRefusal
        default: return false
        }
    }
}

extension SyncError {
    /// Runs a synchronous call into the BigQuery module, its error as a SyncError.
    static func liftingSync<T>(_ body: () throws(BigQueryError) -> T) throws(SyncError) -> T {
        do { return try body() } catch { throw .bigQuery(error) }
    }

    /// Runs an async call into the BigQuery module, its error as a SyncError.
    static func lifting<T>(_ body: () async throws(BigQueryError) -> T) async throws(SyncError) -> T {
        do { return try await body() } catch { throw .bigQuery(error) }
    }

    /// An untyped error as a SyncError (BigQuery errors wrapped).
    static func lift(_ error: any Error) -> SyncError {
        if let error = error as? SyncError { return error }
        if let error = error as? BigQueryError { return .bigQuery(error) }
        return .unexpected("\(error)")
    }
}
