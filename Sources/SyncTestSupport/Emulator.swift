import Foundation

/// The local BigQuery emulator for end-to-end tests: `BIGQUERY_EMULATOR_HOST`, which scripts/test exports after
/// `scripts/emulator start`.
public enum Emulator {
    /// The emulator's base URL. A test run without one fails each test at once with this message, rather than
    /// starting one from inside the test process: Foundation's `Process.waitUntilExit` there never saw the
    /// script exit (its child left a zombie), and the run stalled with nothing said.
    public static func host() throws -> String {
        guard let host = ProcessInfo.processInfo.environment["BIGQUERY_EMULATOR_HOST"], !host.isEmpty else {
            throw EmulatorError(
                message: "BIGQUERY_EMULATOR_HOST is not set: run the tests through scripts/test, which starts the "
                    + "local emulator and exports it; or export it yourself: "
                    + "eval \"export $(scripts/emulator start | tail -1)\"")
        }
        return host
    }

    /// A name unique to this test process and call, for datasets that must not collide.
    public static func uniqueName(_ prefix: String) -> String {
        "\(prefix)_\(getpid())_\(UInt32.random(in: 0...UInt32.max))"
    }
}

/// The emulator is not there.
public struct EmulatorError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}
