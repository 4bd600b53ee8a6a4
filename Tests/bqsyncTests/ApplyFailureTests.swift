import Foundation
import SyncTestSupport
import Testing

/// Applies that fail part-way on a non-retryable error, through the fault proxy: what the run record says, and how
/// the next apply of the same plan finishes the job.
@Suite struct ApplyFailureTests {
    /// The third MERGE is refused (HTTP 400, not retryable): the apply fails, and its run record counts the two
    /// MERGEs that ran, with their bytes; the re-run adopts those two and runs the rest, each step once.
    @Test func aFailedApplyRecordsTheJobsItRanAndTheRerunAdoptsThem() throws {
        let scenario = MergeScenario(seed: 200)
        let ws = try Reliability.workspace("failed_run", scenario: scenario, strategy: "inline", batch: 5)
        let planned = try Reliability.plan(ws)
        try #require(planned.merges.count >= 4)
        let proxy = try FaultProxy(upstream: ws.host)
        try proxy.arm(method: "POST", path: #"/jobs(\?|$)"#, body: CrashResumeTests.job(planned.merges[2] + "_1"), fault: "invalid")
        let arguments = ["--log-level", "info", "apply", "plan.json", "--format", "json"]

        let failed = try ws.run(arguments, environment: proxy.holdingEnvironment)
        #expect(failed.status == 1, "\(failed)")
        #expect(failed.stderr.contains("invalidQuery"), "\(failed)")
        let stats = try proxy.stats()
        let ran = planned.merges.prefix(2).map { $0 + "_1" }
        let records = try Reliability.runs(ws, planId: planned.planId)
        #expect(records.map(\.status) == ["failed"], "\(records)")
        #expect(records.first?.jobs == 2, "the failed run ran two MERGEs: \(records)")
        #expect(records.first?.bytesBilled == ran.reduce(0) { $0 + (stats.billed[$1] ?? 0) }, "\(records) \(stats.billed)")
        #expect(try Reliability.leases(ws, table: "t").isEmpty, "a failed apply releases its lease")

        let rerun = try ws.run(arguments, environment: proxy.holdingEnvironment)
        #expect(rerun.status == 0, "\(rerun)")
        #expect(try ws.rows("t", orderBy: "id") == scenario.expected)
        let steps = try proxy.stats().stepExecutions(planId: planned.planId)
        for step in planned.merges { #expect(steps[step] == 1, "\(step): \(steps)") }
        let lines = JobLogLine.steps(rerun.stderr, planId: planned.planId)
        #expect(lines.filter { $0.outcome == "adopted" }.map(\.jobId) == ran, "\(rerun)")
        let summary = try #require(Reliability.summaries(rerun).first)
        #expect(summary["adopted"] as? Int == 2)
        #expect(summary["jobs"] as? Int == planned.merges.count)
    }

    /// The rows are in and the run is recorded, but releasing the lease is refused: the apply succeeds with a
    /// warning, and the next apply of the plan on this host releases the lease its (exited) holder left.
    @Test func aLeaseThatCannotBeReleasedIsAWarningNotAFailure() throws {
        let scenario = MergeScenario(seed: 201)
        let ws = try Reliability.workspace("stuck_lease", scenario: scenario, strategy: "inline", batch: 8)
        let planned = try Reliability.plan(ws)
        let proxy = try FaultProxy(upstream: ws.host)
        try proxy.arm(method: "PATCH", path: "/tables/lease_", body: CrashResumeTests.released, fault: "invalid")

        let applied = try ws.run(["apply", "plan.json"], environment: proxy.holdingEnvironment)
        #expect(applied.status == 0, "\(applied)")
        #expect(applied.stderr.contains("was not released"), "\(applied)")
        #expect(try ws.rows("t", orderBy: "id") == scenario.expected)
        #expect(try Reliability.leases(ws, table: "t").count == 1, "the lease is still there")
        #expect(try Reliability.runs(ws, planId: planned.planId).map(\.status) == ["succeeded"])

        let again = try ws.run(["apply", "plan.json"], environment: proxy.holdingEnvironment)
        #expect(again.status == 0, "\(again)")
        #expect(again.stderr.contains("already applied"), "\(again)")
        #expect(again.stderr.contains("recovered the lease"), "\(again)")
        #expect(try Reliability.leases(ws, table: "t").isEmpty)
    }
}
