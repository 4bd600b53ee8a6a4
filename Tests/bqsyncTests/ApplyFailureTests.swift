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
        try proxy.armStep(planned.merges[2], fault: "invalid")
        let arguments = ["--log-level", "info", "--log-format", "json", "apply", "plan.json", "--format", "json"]

        let failed = try ws.run(arguments, environment: proxy.holdingEnvironment)
        #expect(failed.status == 1, "\(failed)")
        #expect(failed.stderr.contains("invalidQuery"), "\(failed)")
        let stats = try proxy.stats()
        let ran = planned.merges.prefix(2).map { $0 + "_1" }
        let records = try Reliability.runs(ws, planId: planned.planId)
        #expect(records.map(\.status) == ["failed"], "\(records)")
        #expect(records.first?.jobs == 2, "the failed run ran two MERGEs: \(records)")
        #expect(
            records.first?.bytesBilled == ran.reduce(0) { $0 + (stats.billed[$1] ?? 0) }, "\(records) \(stats.billed)")
        #expect(try Reliability.leases(ws, table: "t").isEmpty, "a failed apply releases its lease")

        let rerun = try ws.run(arguments, environment: proxy.holdingEnvironment)
        #expect(rerun.status == 0, "\(rerun)")
        #expect(try ws.rows("t", orderBy: "id") == scenario.expected)
        try proxy.stats().expectEachMergeOnce(planned)
        let lines = JobLogLine.steps(rerun, planId: planned.planId)
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

    /// Ctrl-C while a MERGE is in flight (held at the proxy, so without cancellation the apply would wait for it
    /// up to its 300 s timeout): the request is aborted at once, the run is recorded as interrupted with the jobs
    /// that ran, the lease is released, and the exit status is 130. The held MERGE never reaches BigQuery; the
    /// next apply of the plan adopts the finished step and runs the rest, each once.
    @Test(arguments: [SIGINT, SIGTERM])
    func anInterruptedApplyStopsAtOnceRecordsItsRunAndReleasesItsLease(signal: Int32) throws {
        let scenario = MergeScenario(seed: signal == SIGINT ? 201 : 202)
        let ws = try Reliability.workspace(
            signal == SIGINT ? "interrupted" : "terminated", scenario: scenario, strategy: "inline", batch: 5)
        let planned = try Reliability.plan(ws)
        try #require(planned.merges.count >= 3)
        let proxy = try FaultProxy(upstream: ws.host)
        let held = try proxy.armStep(planned.merges[1])
        let arguments = ["--log-level", "info", "--log-format", "json", "apply", "plan.json"]
        let running = try ws.start(arguments, environment: proxy.holdingEnvironment)
        try #require(try proxy.waitUntilHeld(held, timeout: 60, watching: running), "\(running.stderrSoFar)")

        let sent = Date()
        kill(running.process.processIdentifier, signal)
        let stopped = try running.wait(timeout: 20)
        #expect(Date().timeIntervalSince(sent) < 10, "stopped without waiting for the request in flight")
        #expect(stopped.status == 130, "\(stopped)")
        #expect(
            stopped.stderr.contains(
                "interrupted after 1 job; the run was recorded as interrupted and the lease on \(ws.table("t")) released"
            ),
            "\(stopped)")
        #expect(try Reliability.runs(ws, planId: planned.planId).map(\.status) == ["interrupted"])
        #expect(try Reliability.leases(ws, table: "t").isEmpty, "the lease was released")
        try proxy.release(held, forward: false)

        let rerun = try ws.run(arguments, environment: proxy.holdingEnvironment)
        #expect(rerun.status == 0, "\(rerun)")
        #expect(try ws.rows("t", orderBy: "id") == scenario.expected)
        try proxy.stats().expectEachMergeOnce(planned)
    }
}
