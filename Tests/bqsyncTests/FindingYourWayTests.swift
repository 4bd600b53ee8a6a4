import Foundation
import SyncTestSupport
import Testing

/// Issue 18, point 10: the top-level help says where to start, the options every subcommand takes and the
/// environment; bqsync finds `syncs.d/` above the working directory as git finds `.git`; `status` with nothing
/// to name a project says so instead of "no runs recorded yet".
@Suite struct FindingYourWayTests {
    /// Runs the built binary as a user would: no `-C`, in `directory`, with the workspace's environment.
    static func run(_ arguments: [String], in directory: String, environment: [String: String]) throws -> RunResult {
        try RunningBQSync.start(arguments, in: directory, environment: environment).wait(timeout: 60)
    }

    @Test func topLevelHelpShowsWhereToStartTheGlobalOptionsAndTheEnvironment() throws {
        let help = try Self.run(["--help"], in: NSTemporaryDirectory(), environment: ["NO_COLOR": "1"])
        #expect(help.status == 0, "\(help)")
        for text in [
            "START HERE:", "bqsync validate", "bqsync plan --out plan.json", "bqsync apply plan.json",
            "-C <dir>", "--project <project>", "--endpoint <url>", "--log-level", "--log-format", "--color",
            "GOOGLE_CLOUD_PROJECT", "GOOGLE_APPLICATION_CREDENTIALS", "BIGQUERY_EMULATOR_HOST", "BQSYNC_ENDPOINT",
            "BQSYNC_HTTP_TIMEOUT", "BQSYNC_LEASE_SECONDS", "EXIT STATUS:",
        ] {
            #expect(help.stdout.contains(text), "\(text) is missing from\n\(help.stdout)")
        }
        let lines = help.stdout.split(separator: "\n")
        #expect(lines.allSatisfy { $0.count <= 80 }, "fits 80 columns:\n\(help.stdout)")
    }

    @Test func syncsDirectoryIsFoundAboveTheWorkingDirectory() throws {
        let ws = try Workspace("search_up")
        try ws.write(
            "syncs.d/s.yaml",
            EndToEndTests.sync(
                "s", source: "type: ndjson\npath: data/s.ndjson", table: ws.table("t"),
                schema: ["{name: id, type: INT64, mode: REQUIRED}"], keys: ["id"]))
        try ws.write("syncs.d/data/s.ndjson", "{\"id\": 1}\n")
        let below = ws.path("syncs.d/data")

        let validated = try Self.run(["--log-level", "info", "validate"], in: below, environment: ws.environment)
        #expect(validated.status == 0, "\(validated)")
        #expect(validated.stdout.contains("(1 sync, 1 policy)"), "\(validated)")
        #expect(
            validated.stderr.contains("info: project directory \(ws.root) (found searching up from \(below))"),
            "verbose output names the directory used: \(validated)")

        let planned = try Self.run(["plan"], in: below, environment: ws.environment)
        #expect(planned.status == 0, "\(planned)")
        #expect(planned.stdout.contains(ws.table("t")), "\(planned)")
    }

    @Test func statusWithNothingToNameAProjectSaysSoAndHow() throws {
        let ws = try Workspace("no_project")
        let status = try ws.run("status")
        #expect(status.status == 1, "\(status)")
        #expect(!status.stdout.contains("no runs recorded yet"), "\(status)")
        #expect(status.stderr.contains("no project to read run records from"), "\(status)")
        #expect(status.stderr.contains("--project") && status.stderr.contains("-C DIR"), "\(status)")

        // Named, the project's runs are shown (whatever other tests recorded there).
        let named = try ws.run("status", "--project", E2E.project, "--format", "json")
        #expect(named.status == 0, "\(named)")
        #expect((try? JSONSerialization.jsonObject(with: Data(named.stdout.utf8))) is [Any], "\(named)")
    }
}
