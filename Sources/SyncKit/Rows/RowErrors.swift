/// The row errors of one source, kept up to a limit so that one run of `plan` reports a file's mistakes together.
struct RowErrors {
    /// How many are kept; one more ends the reading.
    let limit: Int
    /// The errors kept, in the order they were found.
    private(set) var diagnostics: [Diagnostic] = []
    /// Whether one more than `limit` was found, so the reading stopped.
    private(set) var stopped = false

    init(limit: Int) {
        self.limit = max(1, limit)
    }

    var isEmpty: Bool { diagnostics.isEmpty }

    /// Keeps a row error. Any other error is thrown as it is, and so is `failure` once past the limit.
    mutating func add(_ error: SyncError) throws(SyncError) {
        guard case .row(let location, let message) = error else { throw error }
        guard diagnostics.count < limit else {
            stopped = true
            throw failure ?? error
        }
        diagnostics.append(Diagnostic(.error, message, at: location))
    }

    /// None without errors; one error as it was found (`SyncError.row`); several as a list of diagnostics that
    /// ends with how many there are and whether the reading stopped early.
    var failure: SyncError? {
        guard let first = diagnostics.first else { return nil }
        if diagnostics.count == 1 && !stopped, let location = first.location {
            return .row(location, first.message)
        }
        let summary =
            stopped
            ? "stopped after \(diagnostics.count) row error\(diagnostics.count == 1 ? "" : "s"): the source has more"
                + " (fix these and plan again)"
            : "\(diagnostics.count) row errors in the source"
        return .config(diagnostics + [Diagnostic(.error, summary)])
    }
}
