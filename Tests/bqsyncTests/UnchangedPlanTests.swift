import Foundation
import SyncTestSupport
import Testing

/// Issue 18, points 1 and 2: a plan knows when this very content was applied already to a target that is still as
/// that apply left it (its rows and last modification, recorded in the target's lease), says so and changes
/// nothing; a target changed behind bqsync's back gives a plan that repairs it; `--force` plans and applies
/// regardless. Through the contract model (Tests/BigQueryModel), whose tables' lastModifiedTime moves with every
/// change to their data, as BigQuery's does (the emulator's never moves, nor does its numRows follow DML).
@Suite struct UnchangedPlanTests {
    /// A workspace with one local sync, planned and applied through a proxy, and a `bqsync` runner that goes
    /// through it.
    static func workspace(_ prefix: String) throws -> (Workspace, FaultProxy) {
        let ws = try Workspace(prefix)
        let proxy = try FaultProxy(upstream: ws.host)
        try ws.write(
            "syncs.d/c.yaml",
            EndToEndTests.sync(
                "c", source: "type: ndjson\npath: data/c.ndjson", table: ws.table("c"),
                schema: ["{name: id, type: INT64, mode: REQUIRED}", "{name: v, type: STRING}"], keys: ["id"]))
        try ws.write("syncs.d/data/c.ndjson", "{\"id\": 1, \"v\": \"a\"}\n{\"id\": 2, \"v\": \"b\"}\n")
        let planned = try ws.run(["plan", "--out", "plan.json"], environment: proxy.holdingEnvironment)
        #expect(planned.status == 0, "\(planned)")
        let applied = try ws.run(["apply", "plan.json"], environment: proxy.holdingEnvironment)
        #expect(applied.status == 0, "\(applied)")
        return (ws, proxy)
    }

    /// A statement run by hand, through the proxy (so the model sees the change, as BigQuery would).
    static func byHand(_ sql: String, _ proxy: FaultProxy) throws {
        _ = try Curl.object(
            "POST", proxy.url + "/bigquery/v2/projects/\(E2E.project)/queries", ["query": sql, "useLegacySql": false])
    }

    @Test func aReplanAfterTheApplyIsAnHonestNoOp() throws {
        let (ws, proxy) = try Self.workspace("unchanged_noop")
        let again = try ws.run(
            ["plan", "--detailed-exitcode", "--out", "again.json"], environment: proxy.holdingEnvironment)
        #expect(again.status == 0, "nothing to change, so 0 under --detailed-exitcode: \(again)")
        #expect(again.stdout.contains("unchanged: plan "), "\(again)")
        #expect(again.stdout.contains("nothing to do"), "\(again)")
        let json = try ws.run(["plan", "--format", "json"], environment: proxy.holdingEnvironment)
        #expect(json.stdout.contains("\"unchanged\""), "the JSON plan says so too: \(json.stdout)")
        let applied = try ws.run(["apply", "again.json"], environment: proxy.holdingEnvironment)
        #expect(applied.status == 0, "\(applied)")
        #expect(applied.stderr.contains("unchanged since plan"), "\(applied)")
        let forced = try ws.run(["plan", "--force", "--detailed-exitcode"], environment: proxy.holdingEnvironment)
        #expect(forced.status == 2, "--force plans the steps: \(forced)")
    }

    @Test func aChangedRecordIsNotANoOp() throws {
        let (ws, proxy) = try Self.workspace("unchanged_edit")
        try ws.write("syncs.d/data/c.ndjson", "{\"id\": 1, \"v\": \"a\"}\n{\"id\": 2, \"v\": \"changed\"}\n")
        let again = try ws.run(["plan", "--detailed-exitcode"], environment: proxy.holdingEnvironment)
        #expect(again.status == 2, "\(again)")
        #expect(!again.stdout.contains("unchanged: plan "), "\(again)")
    }

    @Test func aRowDeletedByHandIsRepairedByTheNextPlan() throws {
        let (ws, proxy) = try Self.workspace("unchanged_repair")
        try Self.byHand("DELETE FROM `\(ws.table("c"))` WHERE id = 2", proxy)
        #expect(try ws.rows("c", orderBy: "id", columns: "id") == [["1"]])
        let again = try ws.run(
            ["plan", "--detailed-exitcode", "--out", "repair.json"], environment: proxy.holdingEnvironment)
        #expect(again.status == 2, "the target changed, so the plan merges again: \(again)")
        let applied = try ws.run(["apply", "repair.json"], environment: proxy.holdingEnvironment)
        #expect(applied.status == 0, "\(applied)")
        #expect(try ws.rows("c", orderBy: "id", columns: "id, v") == [["1", "a"], ["2", "b"]])
    }

    /// The same change by hand twice (the row count unchanged): each time the plan is a new one, and its apply
    /// repairs the target instead of saying "already applied".
    @Test func aTargetChangedTwiceByHandIsRepairedTwice() throws {
        let (ws, proxy) = try Self.workspace("unchanged_twice")
        var ids: [String] = []
        for round in 1...2 {
            try Self.byHand("UPDATE `\(ws.table("c"))` SET v = 'vandal' WHERE id = 1", proxy)
            let planned = try ws.run(
                ["plan", "--detailed-exitcode", "--out", "r\(round).json"], environment: proxy.holdingEnvironment)
            #expect(planned.status == 2, "round \(round): \(planned)")
            ids.append(try #require(try EndToEndTests.planJSON(ws, "r\(round).json")["plan_id"] as? String))
            let applied = try ws.run(["apply", "r\(round).json"], environment: proxy.holdingEnvironment)
            #expect(applied.status == 0 && !applied.stderr.contains("already applied"), "round \(round): \(applied)")
            #expect(try ws.rows("c", orderBy: "id", columns: "id, v") == [["1", "a"], ["2", "b"]], "round \(round)")
        }
        #expect(ids[0] != ids[1], "the second change gives another plan")
    }

    /// Issue 16: the plan says what changed in the definition since the last applied run, beside what that run
    /// billed.
    @Test func thePlanSaysWhatChangedSinceTheLastApply() throws {
        let (ws, proxy) = try Self.workspace("unchanged_since")
        let definition = try ws.read("syncs.d/c.yaml")
        try ws.write("syncs.d/c.yaml", definition.replacingOccurrences(of: "strategy: auto", with: "strategy: staged"))
        try ws.write("syncs.d/data/c.ndjson", "{\"id\": 1}\n{\"id\": 3}\n")
        let markdown = try ws.run(["plan", "--format", "markdown"], environment: proxy.holdingEnvironment)
        #expect(markdown.status == 0, "\(markdown)")
        #expect(markdown.stdout.contains("- `c`: since the last apply (plan "), "\(markdown.stdout)")
        #expect(
            markdown.stdout.contains("- column v STRING; strategy inline → staged; it billed "), "\(markdown.stdout)")
        let text = try ws.run(["plan"], environment: proxy.holdingEnvironment)
        #expect(text.stdout.contains("since the last apply (plan "), "\(text.stdout)")
    }

    @Test func applyForceRunsAnAppliedPlanAgain() throws {
        let (ws, proxy) = try Self.workspace("unchanged_force")
        let twice = try ws.run(["apply", "plan.json"], environment: proxy.holdingEnvironment)
        #expect(twice.status == 0 && twice.stderr.contains("already applied"), "\(twice)")
        try Self.byHand("DELETE FROM `\(ws.table("c"))` WHERE id = 1", proxy)
        let forced = try ws.run(
            ["--log-level", "info", "--log-format", "json", "apply", "--force", "plan.json"],
            environment: proxy.holdingEnvironment)
        #expect(forced.status == 0, "\(forced)")
        let merges = forced.jobRecords.filter { $0["statement"] == "MERGE" && $0["outcome"] == "done" }
        #expect(merges.count == 1, "the MERGE ran again, under a new job id: \(forced.jobRecords)")
        #expect(try ws.rows("c", orderBy: "id", columns: "id, v") == [["1", "a"], ["2", "b"]])
    }
}
