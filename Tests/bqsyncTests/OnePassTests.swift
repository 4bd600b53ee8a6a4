import Foundation
import SyncTestSupport
import Testing

/// Issue 17, "one pass": an apply reads each local source once. The source is a FIFO that gives its rows to one
/// reading only; then other rows take its place. An apply that read it again would see them and refuse the plan
/// (the batches differ), or send them; one that reads it once sends the reviewed rows.
@Suite struct OnePassTests {
    static let rows = "{\"id\": 1, \"v\": \"a\"}\n{\"id\": 2, \"v\": \"b\"}\n{\"id\": 3, \"v\": \"c\"}\n"
    static let other = Data("{\"id\": 1, \"v\": \"changed\"}\n".utf8)

    static func workspace(_ prefix: String, strategy: String) throws -> Workspace {
        let ws = try Workspace(prefix)
        try ws.write(
            "syncs.d/s.yaml",
            EndToEndTests.sync(
                "s", source: "type: ndjson\npath: data/s.ndjson", table: ws.table("t"),
                schema: ["{name: id, type: INT64, mode: REQUIRED}", "{name: v, type: STRING}"], keys: ["id"],
                batch: 2, strategy: strategy))
        try ws.write("syncs.d/data/s.ndjson", rows)
        return ws
    }

    /// Runs bqsync with the source given to one reading only, then replaced.
    static func runReadingOnce(_ ws: Workspace, _ arguments: [String]) throws -> RunResult {
        let fifo = try SourceFIFO(path: ws.path("syncs.d/data/s.ndjson"))
        let running = try ws.start(arguments)
        let fed = fifo.feedOnce(pid: running.process.processIdentifier, timeout: 120, then: other)
        let result = try running.wait(timeout: 120)
        try #require(fed, "bqsync never read the source\n\(result)")
        return result
    }

    @Test("apply SYNC plans and applies from one reading of the source", arguments: ["inline", "staged"])
    func applySyncReadsOnce(strategy: String) throws {
        let ws = try Self.workspace("onepass_sync_\(strategy)", strategy: strategy)
        let applied = try Self.runReadingOnce(ws, ["apply", "--auto-approve", "s"])
        #expect(applied.status == 0, "\(applied)")
        #expect(try ws.rows("t", orderBy: "id", columns: "id, v") == [["1", "a"], ["2", "b"], ["3", "c"]])
    }

    @Test(
        "apply PLANFILE proves the source unchanged and applies it from one reading", arguments: ["inline", "staged"])
    func applyPlanFileReadsOnce(strategy: String) throws {
        let ws = try Self.workspace("onepass_file_\(strategy)", strategy: strategy)
        let planned = try ws.run(["plan", "--out", "plan.json"])
        try #require(planned.status == 0, "\(planned)")
        let applied = try Self.runReadingOnce(ws, ["apply", "plan.json"])
        #expect(applied.status == 0, "\(applied)")
        #expect(try ws.rows("t", orderBy: "id", columns: "id, v") == [["1", "a"], ["2", "b"], ["3", "c"]])
        // The replaced source is now what the files say: the plan is stale, and refused before anything is sent.
        let again = try ws.run(["apply", "--force", "plan.json"])
        #expect(again.status == 3, "\(again)")
        #expect(again.stderr.contains("changed since the plan"), "\(again)")
    }
}
