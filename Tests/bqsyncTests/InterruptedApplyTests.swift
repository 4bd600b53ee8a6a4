import Foundation
import SyncTestSupport
import Testing

/// Issue 18, point 5: an apply stopped by SIGINT or SIGTERM part-way says how far it got and what to run next,
/// records its run as interrupted (so `status` shows it) and releases its lease; running that command finishes it.
@Suite struct InterruptedApplyTests {
    @Test(arguments: [SIGINT, SIGTERM])
    func anInterruptedApplySaysHowFarItGotAndHowToResume(signal: Int32) throws {
        let scenario = MergeScenario(seed: signal == SIGINT ? 301 : 302)
        let ws = try Reliability.workspace(
            signal == SIGINT ? "int_resume" : "term_resume", scenario: scenario, strategy: "inline", batch: 4)
        let planned = try Reliability.plan(ws)
        try #require(planned.merges.count >= 5)
        let proxy = try FaultProxy(upstream: ws.host)
        // The fourth MERGE is held at the proxy: three batches are done when the signal comes.
        let held = try proxy.armStep(planned.merges[3])
        let running = try ws.start(["apply", "plan.json"], environment: proxy.holdingEnvironment)
        try #require(try proxy.waitUntilHeld(held, timeout: 60, watching: running), "\(running.stderrSoFar)")

        kill(running.process.processIdentifier, signal)
        let stopped = try running.wait(timeout: 30)
        try proxy.release(held, forward: false)
        #expect(stopped.status == 130, "\(stopped)")
        let expected =
            "interrupted after 3/\(planned.merges.count) batches; re-run 'bqsync -C \(ws.root) apply plan.json' to resume"
        #expect(stopped.stderr.contains(expected), "\(stopped)")
        #expect(try Reliability.leases(ws, table: "t").isEmpty, "the lease was released")

        // `status` shows the run as interrupted, in text and JSON.
        let status = try ws.run("status", "s")
        #expect(status.status == 0, "\(status)")
        let line = status.stdout.split(separator: "\n").first { $0.contains(planned.planId) } ?? ""
        #expect(line.contains("interrupted"), "\(status)")
        let json = try ws.run("status", "s", "--format", "json")
        let runs = (try? JSONSerialization.jsonObject(with: Data(json.stdout.utf8))) as? [[String: Any]] ?? []
        #expect(
            runs.first { $0["plan_id"] as? String == planned.planId }?["status"] as? String == "interrupted", "\(json)")

        // The command it named finishes the apply: the three finished MERGEs are adopted, none runs twice.
        let rerun = try ws.run(["apply", "plan.json"], environment: proxy.holdingEnvironment)
        #expect(rerun.status == 0, "\(rerun)")
        #expect(try ws.rows("t", orderBy: "id") == scenario.expected)
        try proxy.stats().expectEachMergeOnce(planned)
    }
}
