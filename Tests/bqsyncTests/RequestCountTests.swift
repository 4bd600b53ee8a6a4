import Foundation
import SyncTestSupport
import Testing

/// Issue 17, "requests": against BigQuery every round trip costs tens to hundreds of milliseconds, so an apply sends
/// only what it needs. A one-sync inline apply of a reviewed plan to a target that exists sends: the target's
/// metadata (the staleness check), the lease (read, take, release), the MERGE and what reads its result, the run
/// record, and the target's metadata once more for the state it leaves. No job id is looked up before its insert
/// (BigQuery's 409 tells of a duplicate), and no dry run repeats the plan's.
@Suite struct RequestCountTests {
    @Test("a one-sync inline apply of a reviewed plan sends only what it needs")
    func inlineApplyOfAReviewedPlan() throws {
        let ws = try Workspace("requests")
        try ws.write(
            "syncs.d/s.yaml",
            EndToEndTests.sync(
                "s", source: "type: ndjson\npath: data/s.ndjson", table: ws.table("t"),
                schema: ["{name: id, type: INT64, mode: REQUIRED}", "{name: v, type: STRING}"], keys: ["id"],
                strategy: "inline"))
        try ws.write("syncs.d/data/s.ndjson", "{\"id\": 1, \"v\": \"a\"}\n{\"id\": 2, \"v\": \"b\"}\n")
        // The target and the state's tables exist already (a first apply), as in the steady state measured.
        let first = try ws.run(["apply", "--auto-approve", "s"])
        try #require(first.status == 0, "\(first)")
        try ws.write("syncs.d/data/s.ndjson", "{\"id\": 1, \"v\": \"a2\"}\n{\"id\": 3, \"v\": \"c\"}\n")
        let planned = try ws.run(["plan", "--out", "plan.json"])
        try #require(planned.status == 0, "\(planned)")

        let proxy = try FaultProxy(upstream: ws.host)
        let applied = try ws.run(["apply", "plan.json"], environment: proxy.holdingEnvironment)
        #expect(applied.status == 0, "\(applied)")
        let log = try proxy.stats().log.sorted { $0.start < $1.start }
        let kinds = log.map { entry -> String in
            let path = entry.path
            if path.hasSuffix("/jobs") { return entry.dry ? "dry run" : "jobs.insert \(entry.statement ?? "")" }
            if path.contains("/queries/") || path.contains("/jobs/") { return "job result" }
            if path.hasSuffix("/insertAll") { return "tabledata.insertAll" }
            if path.contains("/tables/lease_") { return "\(entry.method) lease" }
            if path.hasSuffix("/tables/t") { return "\(entry.method) target" }
            return "\(entry.method) \(path)"
        }
        let counts = Dictionary(kinds.map { ($0, 1) }, uniquingKeysWith: +)
        #expect(counts["dry run"] == nil, "no dry run repeats the plan's: \(kinds)")
        #expect(counts["jobs.insert MERGE"] == 1, "\(kinds)")
        #expect(counts["GET target"] == 2, "the staleness check, and the state the apply leaves: \(kinds)")
        #expect(counts["GET lease"] == 1 && counts["PATCH lease"] == 2, "read, take, release: \(kinds)")
        #expect(counts["tabledata.insertAll"] == 1, "the run record: \(kinds)")
        #expect((counts["job result"] ?? 0) <= 1, "at most one read of the MERGE's result: \(kinds)")
        // In order (the emulator answers the MERGE's insert DONE, so no result is polled here; BigQuery may need
        // one getQueryResults).
        #expect(
            kinds == [
                "GET target", "GET lease", "PATCH lease", "jobs.insert MERGE", "tabledata.insertAll", "GET target",
                "PATCH lease",
            ], "nothing else: \(kinds)")
        #expect(try ws.rows("t", orderBy: "id", columns: "id, v") == [["1", "a2"], ["2", "b"], ["3", "c"]])
    }
}
