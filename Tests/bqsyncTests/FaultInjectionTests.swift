import Foundation
import SyncTestSupport
import Testing

/// Whole `apply` runs of reviewed plans through the fault proxy (Tests/BigQueryModel/fault-proxy.py): 429, 500, 503 and 403
/// rateLimitExceeded answers, resets, timeouts, slow answers and failed jobs, before the emulator sees a request
/// and after it has served it, at 10-30% of requests. Each trial is seeded (the scenario and the faults), runs on
/// its own dataset, and checks that the table ends exactly as the merge rules say, that no step ran twice (counted
/// at the proxy), and that the run's bytes are the sum over its jobs.
///
/// The suite runs a few seeds; `BQSYNC_SOAK_TRIALS=N` runs seeds 1…N (scripts/soak-faults).
@Suite struct FaultInjectionTests {
    static let seeds: [UInt64] = {
        let count = Int(ProcessInfo.processInfo.environment["BQSYNC_SOAK_TRIALS"] ?? "") ?? 8
        let first = UInt64(ProcessInfo.processInfo.environment["BQSYNC_SOAK_FIRST_SEED"] ?? "") ?? 1
        return (0..<UInt64(max(1, count))).map { first + $0 }
    }()

    /// A trial's settings, all from its seed: a third staged, the rest inline; rates spread over 10-30%.
    struct Settings: CustomStringConvertible {
        var seed: UInt64
        var strategy: String
        var rate: Double
        var batch: Int

        init(seed: UInt64) {
            self.seed = seed
            strategy = seed % 3 == 0 ? "staged" : "inline"
            rate = 0.10 + 0.02 * Double(seed % 11)
            batch = 4 + Int(seed % 4)
        }

        var description: String {
            "seed \(seed): \(strategy), \(Int((rate * 100).rounded()))% faults, batches of \(batch)"
        }
    }

    @Test(arguments: seeds)
    func seededApplyUnderFaultsEndsExactlyRight(seed: UInt64) throws {
        let settings = Settings(seed: seed)
        try Self.trial(settings, prefix: "fault_\(seed)")
    }

    /// The control: no faults, both strategies. bqsync's own fault-free result equals the merge rules' result the
    /// trials are checked against.
    @Test(arguments: ["inline", "staged"])
    func withoutFaultsTheResultIsTheModelsResult(strategy: String) throws {
        var settings = Settings(seed: strategy == "inline" ? 1 : 3)
        settings.rate = 0
        let outcome = try Self.trial(settings, prefix: "fault_free_\(strategy)")
        #expect(outcome.runs == 1, "a fault-free apply succeeds the first time")
        #expect(outcome.faults.isEmpty)
    }

    /// `BQSYNC_HTTP_TIMEOUT` bounds each exchange (the trials' timeout faults rely on it): a request held past it
    /// is abandoned and retried; a value that is not a number of seconds is refused before anything is sent.
    @Test func theRequestTimeoutComesFromTheEnvironment() throws {
        let scenario = MergeScenario(seed: 9)
        let ws = try Reliability.workspace("http_timeout", scenario: scenario, strategy: "inline", batch: 10)
        _ = try Reliability.plan(ws)
        let proxy = try FaultProxy(upstream: ws.host, hold: 3)
        try proxy.arm(
            method: "GET", path: "/datasets/\(ws.dataset)/tables/t" + CrashResumeTests.endOfPath, fault: "timeout")
        let started = Date()
        let applied = try ws.run(
            ["--log-level", "info", "--log-format", "json", "apply", "plan.json"],
            environment: proxy.environment.merging(["BQSYNC_HTTP_TIMEOUT": "1"]) { $1 })
        #expect(applied.status == 0, "\(applied)")
        #expect(applied.stderr.contains("timed out after 1"), "the held request was abandoned after 1 s: \(applied)")
        #expect(Date().timeIntervalSince(started) < 30)
        #expect(try ws.rows("t", orderBy: "id") == scenario.expected)

        for bad in ["soon", "0", "-1", "nan"] {
            let refused = try ws.run(
                ["--log-level", "debug", "--log-format", "json", "status"], environment: ["BQSYNC_HTTP_TIMEOUT": bad])
            #expect(refused.status == 1, "\(refused)")
            #expect(refused.stderr.contains("BQSYNC_HTTP_TIMEOUT must be a number of seconds"), "\(refused)")
            #expect(refused.requests.isEmpty, "\(refused.requests)")
        }
    }

    struct Outcome {
        var runs: Int
        var faults: [String: Int]
    }

    /// Runs one trial and checks it; the outcome is also appended to `BQSYNC_SOAK_REPORT`.
    @discardableResult
    static func trial(_ settings: Settings, prefix: String) throws -> Outcome {
        let started = Date()
        let scenario = MergeScenario(seed: settings.seed)
        let ws = try Reliability.workspace(
            prefix, scenario: scenario, strategy: settings.strategy, batch: settings.batch)
        let planned = try Reliability.plan(ws)
        try #require(planned.strategy == settings.strategy, "\(settings)")
        if settings.strategy == "inline" {
            #expect(
                planned.merges.count == (scenario.sourceKeys + settings.batch - 1) / settings.batch,
                "several batches: \(settings)")
        } else {
            #expect(planned.loads.count == 1 && planned.merges.count == 1, "\(settings)")
        }
        let proxy = try FaultProxy(upstream: ws.host, seed: settings.seed, rate: settings.rate)

        // Apply; a run may fail when faults exhaust its retries: then the same plan is applied again (through the
        // same faults) and must finish the job.
        var results: [RunResult] = []
        while results.count < 6 {
            let result = try ws.run(
                ["--log-level", "info", "--log-format", "json", "apply", "plan.json", "--format", "json"], timeout: 300,
                environment: proxy.environment)
            results.append(result)
            if result.status == 0 { break }
        }
        let stats = try proxy.stats()
        let final = try #require(results.last)
        #expect(final.status == 0, "\(settings): not applied after \(results.count) runs\n\(final)\n\(proxy.stderr)")

        // 1. The table, row by row.
        let rows = try ws.rows("t", orderBy: "id")
        #expect(rows == scenario.expected, "\(settings): the table differs from the fault-free result")

        // 2. No step executed twice: each job id at most once, each step (over its attempt ids) exactly once.
        for (job, count) in stats.executions where count > 1 {
            Issue.record("\(settings): job \(job) executed \(count) times")
        }
        let steps = stats.stepExecutions(planId: planned.planId)
        for step in planned.steps {
            #expect(
                steps[step] == 1, "\(settings): step \(step) executed \(steps[step] ?? 0) times (\(stats.executions))")
        }

        // 3. Bytes: every summary printed equals the sum over its jobs in that run's job log; the one succeeded run
        // record holds the bytes BigQuery (the proxy) reported for the plan's MERGEs, once each.
        for result in results where result.status == 0 {
            for summary in Reliability.summaries(result) where summary["status"] as? String == "applied" {
                let jobs = JobLogLine.steps(result, planId: planned.planId)
                #expect(
                    summary["bytes_billed"] as? Int64 == jobs.reduce(0) { $0 + $1.bytesBilled },
                    "\(settings): the summary's bytes are the sum over its jobs\n\(result)")
                #expect(summary["jobs"] as? Int == jobs.count, "\(settings): \(summary)")
            }
        }
        let executedMerges = stats.executions.keys.filter { planned.merges.contains(ProxyStats.stepId($0)) }
        let billed = executedMerges.reduce(Int64(0)) { $0 + (stats.billed[$1] ?? 0) }
        let runs = try Reliability.runs(ws, planId: planned.planId)
        let succeeded = runs.filter { $0.status == "succeeded" }
        #expect(succeeded.count == 1, "\(settings): one succeeded run record: \(runs)")
        #expect(
            succeeded.first?.bytesBilled == billed,
            "\(settings): recorded \(succeeded.first?.bytesBilled ?? -1), billed \(billed)")
        if let summary = Reliability.summaries(final).first, summary["status"] as? String == "applied" {
            #expect(
                summary["bytes_billed"] as? Int64 == succeeded.first?.bytesBilled,
                "\(settings): summary and run record agree")
            #expect(summary["jobs"] as? Int == succeeded.first?.jobs, "\(settings): summary and run record agree")
        }

        // 4. Nothing left behind: the lease is released. When faults kept the last run from releasing it (a
        // warning, not a failure: the rows are in and recorded), the next apply on this host releases it.
        let leaseWarning = final.stderr.contains("was not released")
        if leaseWarning {
            // The release may have run with only its answer lost: then there is nothing left to release.
            let left = try Reliability.leases(ws, table: "t")
            try proxy.configure(rate: 0)
            let again = try ws.run(["apply", "plan.json"], timeout: 300, environment: proxy.environment)
            #expect(again.status == 0, "\(settings): \(again)")
            #expect(left.isEmpty || again.stderr.contains("recovered the lease"), "\(settings): \(again)")
        }
        #expect(try Reliability.leases(ws, table: "t").isEmpty, "\(settings): the lease is released")

        let seconds = Date().timeIntervalSince(started)
        reportTrial([
            "kind": "faults", "seed": settings.seed, "strategy": settings.strategy, "rate": settings.rate,
            "batch": settings.batch,
            "steps": planned.steps.count, "runs": results.count, "applied": final.status == 0,
            "failures": results.filter { $0.status != 0 }.map(Reliability.errorLine),
            "faults": stats.faultCounts, "requests": stats.requests, "conflicts": stats.conflicts.values.reduce(0, +),
            "adopted": results.map {
                JobLogLine.steps($0, planId: planned.planId).filter { $0.outcome == "adopted" }.count
            }
            .reduce(0, +),
            "table_ok": rows == scenario.expected, "max_step_executions": steps.values.max() ?? 0,
            "lease_warning": leaseWarning,
            "bytes_ok": succeeded.count == 1 && succeeded.first?.bytesBilled == billed, "seconds": seconds,
        ])
        return Outcome(runs: results.count, faults: stats.faultCounts)
    }
}
