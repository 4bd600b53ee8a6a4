import ArgumentParser

/// bqsync's exit codes, defined in one place.
enum ExitStatus {
    /// Success, no changes.
    static let success = ExitCode(0)
    /// An error.
    static let failure = ExitCode(1)
    /// Success with changes (`--detailed-exitcode`).
    static let changes = ExitCode(2)
    /// Refused by policy: budget, protected table, stale plan.
    static let refused = ExitCode(3)
    /// Usage error (ArgumentParser's validation failures use the same code).
    static let usage = ExitCode(64)
}
