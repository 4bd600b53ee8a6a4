import Foundation
import SyncTestSupport
import Testing

/// Issue 18, point 4: an endpoint bqsync cannot reach is named at once, with the setting it came from and why.
@Suite struct UnreachableEndpointTests {
    static func workspace(_ prefix: String) throws -> Workspace {
        let ws = try Workspace(prefix)
        try ws.write(
            "syncs.d/s.yaml",
            EndToEndTests.sync(
                "s", source: "type: ndjson\npath: data/s.ndjson", table: ws.table("t"),
                schema: ["{name: id, type: INT64, mode: REQUIRED}"], keys: ["id"]))
        try ws.write("syncs.d/data/s.ndjson", "{\"id\": 1}\n")
        return ws
    }

    /// Nothing listens at the emulator's address: the first refused connection ends the run with the URL, the
    /// variable it came from and the reason, instead of retries and then "circuit breaker open".
    @Test func aRefusedEmulatorAddressIsNamedAndNotWaitedFor() throws {
        let ws = try Self.workspace("unreachable")
        let run = try ws.run(
            ["--log-level", "debug", "--log-format", "json", "plan"],
            environment: ["BIGQUERY_EMULATOR_HOST": "http://127.0.0.1:1"])
        #expect(run.status == 1, "\(run)")
        let error = run.stderr.split(separator: "\n").first { $0.hasPrefix("error:") }.map(String.init) ?? ""
        #expect(
            error.contains("connection refused at http://127.0.0.1:1/bigquery/v2 (from BIGQUERY_EMULATOR_HOST)"),
            "\(run)")
        #expect(error.contains("nothing is listening there"), "\(run)")
        #expect(!run.stderr.contains("circuit breaker"), "\(run)")
        #expect(!run.logRecords.contains { $0["message"] == "retrying" }, "not retried: \(run)")
    }

    /// An endpoint that answers every request by dropping the connection: the first failure prints one warning
    /// line (visible at the default log level) naming it, its setting, the reason, and the retries left.
    @Test func theFirstFailureToReachTheEndpointIsNamedOnce() throws {
        let ws = try Self.workspace("dropping")
        let proxy = try FaultProxy(upstream: ws.host, rate: 1, kinds: ["reset"])
        let run = try ws.run(["plan"], environment: ["BIGQUERY_EMULATOR_HOST": proxy.url])
        #expect(run.status == 1, "\(run)")
        let named = run.stderr.split(separator: "\n").filter { $0.contains("cannot reach") }
        #expect(named.count == 1, "\(run)")
        #expect(
            named.first?.hasPrefix(
                "warning: cannot reach \(proxy.url)/bigquery/v2 (from BIGQUERY_EMULATOR_HOST): connection lost; "
                    + "retrying up to 1 more time for at most") == true, "\(run)")
    }
}
