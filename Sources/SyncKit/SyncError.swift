import BigQuery

/// What can go wrong in SyncKit: bad configuration, unreadable files, bad rows, refusals, BigQuery failures.
public enum SyncError: Error, Sendable, CustomStringConvertible {
    /// Configuration problems, each with its place.
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
    /// Anything else, described.
    case failed(String)

    /// The message, lowercase.
    public var description: String {
        switch self {
        case .config(let diagnostics): return diagnostics.map(\.description).joined(separator: "\n")
        case .io(let path, let message): return "\(path): \(message)"
        case .row(let location, let message): return "\(location): \(message)"
        case .refused(let message): return message
        case .invalidPlan(let message): return "invalid plan: \(message)"
        case .bigQuery(let error): return error.description
        case .failed(let message): return message
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
        return .failed("\(error)")
    }
}
