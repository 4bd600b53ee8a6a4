import Foundation
import SyncTestSupport
import Testing

/// Applies that contend, under BigQuery's semantics rather than the emulator's serial execution: through the fault
/// proxy, whose contract model (Tests/BigQueryModel/bqcontract.py) keeps table etags and If-Match (412), expirationTime, and
/// fails a mutating DML statement that runs alongside another on its table, and which holds every request for
/// 200–500 ms, so that applies started together really overlap (docs/bigquery.md, "Concurrent DML" and "Metadata
/// as a mutex").
@Suite struct ContendedApplyTests {
    static let latency = 0.2...0.5
    static let arguments = ConcurrencyTests.arguments

    /// The refusal of an apply that found the target's lease held by a live apply.
    static func expectRefusedByHolder(
        _ run: RunResult, planId: String, sourceLocation: SourceLocation = #_sourceLocation
    ) {
        #expect(run.status == 3, "\(run)", sourceLocation: sourceLocation)
        #expect(
            run.stderr.contains("is being applied by another bqsync (plan \(planId), sync "), "\(run)",
            sourceLocation: sourceLocation)
        #expect(
            run.stderr.contains(" host ") && run.stderr.contains(" pid ") && run.stderr.contains("lease until "),
            "\(run)",
            sourceLocation: sourceLocation)
    }

    @Test func twoAppliesOfOneTargetStartedTogetherOneMerges() throws {
        let (first, second, ws, rival, planA, planB) = try ConcurrencyTests.rivals("contend_one", seed: 320, batch: 5)
        let plans = [planA, planB]
        let proxy = try FaultProxy(upstream: ws.host, seed: 1, latency: Self.latency)

        let started = [
            try ws.start(Self.arguments, environment: proxy.holdingEnvironment),
            try rival.start(Self.arguments, environment: proxy.holdingEnvironment),
        ]
        let results = try started.map { try $0.wait(timeout: 120) }
        let winners = results.indices.filter { results[$0].status == 0 }
        try #require(winners.count == 1, "exactly one apply wins: \(results)")
        let winner = winners[0]
        let loser = 1 - winner
        Self.expectRefusedByHolder(results[loser], planId: plans[winner].planId)

        let stats = try proxy.stats()
        #expect(stats.stepExecutions(planId: plans[loser].planId).isEmpty, "the refused apply sent no MERGE")
        #expect(Set(stats.stepExecutions(planId: plans[winner].planId).keys) == Set(plans[winner].merges))
        #expect(stats.dmlConflicts.isEmpty, "\(stats.dmlConflicts)")
        let scenario = winner == 0 ? first : second
        #expect(try ws.rows("t", orderBy: "id") == MergeScenario.rendered(scenario.merged(into: scenario.initial)))
        #expect(try Reliability.leases(ws, table: "t").isEmpty)
    }

    @Test func eightAppliesOfEightTargetsStartedTogetherAllSucceed() throws {
        let scenarios = (0..<8).map { MergeScenario(seed: 330 + UInt64($0)) }
        let workspaces = try scenarios.enumerated().map { index, scenario in
            try Reliability.workspace("contend_eight_\(index)", scenario: scenario, strategy: "inline", batch: 5)
        }
        let plans = try workspaces.map { try Reliability.plan($0) }
        let proxy = try FaultProxy(upstream: workspaces[0].host, seed: 2, latency: Self.latency)

        let started = try workspaces.map { try $0.start(Self.arguments, environment: proxy.holdingEnvironment) }
        let results = try started.map { try $0.wait(timeout: 180) }
        for (index, result) in results.enumerated() {
            #expect(result.status == 0, "apply \(index): \(result)")
            #expect(try workspaces[index].rows("t", orderBy: "id") == scenarios[index].expected, "target \(index)")
        }
        let stats = try proxy.stats()
        #expect(stats.dmlConflicts.isEmpty, "\(stats.dmlConflicts)")
        #expect(stats.preconditionsFailed == 0, "no lease contended with another target's")
        for plan in plans { stats.expectEachMergeOnce(plan) }
        // They overlapped: every apply's MERGEs started before the last apply's first MERGE finished.
        let merges = stats.log.filter { $0.step && !$0.dry && $0.statement == "MERGE" }
        let firstEnds = plans.compactMap { plan in
            merges.filter { $0.job?.hasPrefix("bqsync_\(plan.planId)_") == true }.compactMap(\.end).min()
        }
        let lastStarts = plans.compactMap { plan in
            merges.filter { $0.job?.hasPrefix("bqsync_\(plan.planId)_") == true }.map(\.start).max()
        }
        #expect((firstEnds.min() ?? 0) < (lastStarts.max() ?? 0), "the applies ran side by side")
    }

    /// `kill -9` while holding the lease. On the same host the next apply sees the holder's pid is gone and takes
    /// the lease over at once; a holder on another host cannot be checked, so the next apply is refused, naming it,
    /// until its lease (10 s here) expires, and then resumes the plan: no step runs twice.
    @Test(arguments: [false, true])
    func aKilledHoldersLeaseIsRecovered(onAnotherHost: Bool) throws {
        let scenario = MergeScenario(seed: onAnotherHost ? 341 : 340)
        let ws = try Reliability.workspace(
            onAnotherHost ? "killed_elsewhere" : "killed_here", scenario: scenario, strategy: "inline", batch: 5)
        let planned = try Reliability.plan(ws)
        try #require(planned.merges.count >= 3)
        let proxy = try FaultProxy(upstream: ws.host, seed: 3, latency: Self.latency)
        let environment = proxy.holdingEnvironment.merging(["BQSYNC_LEASE_SECONDS": "10"]) { $1 }

        let stuck = try proxy.armStep(planned.merges[1])
        let killed = try ws.start(Self.arguments, environment: environment)
        try #require(try proxy.waitUntilHeld(stuck, timeout: 60, watching: killed), "\(killed.stderrSoFar)")
        killed.killHard()
        try proxy.release(stuck, forward: false)
        let killedAt = Date()
        if onAnotherHost { try Self.moveLease(of: ws, toHost: "elsewhere.example", through: proxy) }

        if onAnotherHost {
            let refused = try ws.run(
                ["--log-level", "debug", "--log-format", "json"] + Self.arguments, environment: environment)
            Self.expectRefusedByHolder(refused, planId: planned.planId)
            #expect(
                refused.stderr.contains("host elsewhere.example, pid \(killed.process.processIdentifier)"), "\(refused)"
            )
            #expect(refused.sentJobs.isEmpty, "\(refused.sentJobs)")
            Thread.sleep(forTimeInterval: max(0, 10.5 - Date().timeIntervalSince(killedAt)))
        }
        let resumed = try ws.run(Self.arguments, timeout: 120, environment: environment)
        #expect(resumed.status == 0, "\(resumed)")
        if !onAnotherHost { #expect(resumed.stderr.contains("recovered the lease"), "\(resumed)") }
        #expect(try ws.rows("t", orderBy: "id") == scenario.expected)
        try proxy.stats().expectEachMergeOnce(planned)
        #expect(try Reliability.leases(ws, table: "t").isEmpty)
    }

    /// A MERGE that lost to a concurrent update on its target (a statement bqsync did not send, so the lease
    /// cannot keep it out) fails with BigQuery's invalidQuery "Could not serialize access"; bqsync runs it again
    /// under its next attempt id and the apply succeeds. Any other invalidQuery stays fatal.
    @Test func aMergeThatLostToAConcurrentUpdateRunsAgain() throws {
        let scenario = MergeScenario(seed: 342)
        let ws = try Reliability.workspace("dml_conflict", scenario: scenario, strategy: "inline", batch: 5)
        let planned = try Reliability.plan(ws)
        let proxy = try FaultProxy(upstream: ws.host)
        try proxy.armStep(planned.merges[0], fault: "conflict")
        let applied = try ws.run(Self.arguments, environment: proxy.holdingEnvironment)
        #expect(applied.status == 0, "\(applied)")
        #expect(applied.stderr.contains("Could not serialize access to table"), "\(applied)")
        #expect(try ws.rows("t", orderBy: "id") == scenario.expected)
        let stats = try proxy.stats()
        #expect(stats.failed == [planned.merges[0] + "_1"])
        #expect(stats.executions[planned.merges[0] + "_2"] == 1, "\(stats.executions)")

        let other = try Reliability.workspace("dml_invalid", scenario: scenario, strategy: "inline", batch: 5)
        let otherPlan = try Reliability.plan(other)
        try proxy.armStep(otherPlan.merges[0], fault: "invalid")
        let failed = try other.run(Self.arguments, environment: proxy.holdingEnvironment)
        #expect(failed.status == 1, "\(failed)")
        #expect(
            try proxy.stats().executions.keys.allSatisfy { !$0.hasPrefix(otherPlan.merges[0] + "_") }, "not retried")
    }

    /// Every job runs in the billing project (`--project`), never the target's; tables stay fully qualified in
    /// the target's project, and the lease and run records live there too.
    @Test(arguments: ["inline", "staged"])
    func everyJobRunsInTheBillingProject(strategy: String) throws {
        let scenario = MergeScenario(seed: strategy == "inline" ? 343 : 344)
        let ws = try Reliability.workspace("billing_\(strategy)", scenario: scenario, strategy: strategy, batch: 5)
        _ = try Reliability.plan(ws)
        let proxy = try FaultProxy(upstream: ws.host)
        let applied = try ws.run(
            ["--project", "billing-elsewhere"] + Self.arguments, environment: proxy.holdingEnvironment)
        #expect(applied.status == 0, "\(applied)")
        #expect(try ws.rows("t", orderBy: "id") == scenario.expected)
        let jobs = try proxy.stats().log.filter { $0.method == "POST" && $0.path.hasSuffix("/jobs") }
        #expect(!jobs.isEmpty)
        for job in jobs { #expect(job.path.contains("/projects/billing-elsewhere/jobs"), "\(job.path)") }
        #expect(try Reliability.runs(ws, planId: try Reliability.plan(ws).planId).map(\.status) == ["succeeded"])
    }

    /// A table bqsync did not create sits where the target's lease goes (no bqsync labels, no lease record): the
    /// apply refuses with exit 3, naming it, and touches nothing, neither that table nor the target.
    @Test func aForeignTableWhereTheLeaseGoesIsRefusedAndLeftAlone() throws {
        let scenario = MergeScenario(seed: 345)
        let ws = try Reliability.workspace("foreign_lease", scenario: scenario, strategy: "inline", batch: 5)
        let first = MergeScenario(seed: 346)
        try ws.write("syncs.d/data/s.ndjson", try first.sourceFile)
        #expect(try ws.run("apply", "--auto-approve").status == 0)  // the lease table now exists: find its name
        let base = ws.host + "/bigquery/v2/projects/\(E2E.project)/datasets/bqsync/tables"
        let listed = try Curl.object("GET", base + "?maxResults=10000")["tables"] as? [[String: Any]] ?? []
        let lease = try #require(
            listed.compactMap { ($0["tableReference"] as? [String: Any])?["tableId"] as? String }
                .first { $0.hasPrefix("lease_\(ws.dataset)_t_") })
        _ = try Curl.call("DELETE", base + "/" + lease)
        _ = try Curl.object(
            "POST", base,
            [
                "tableReference": ["projectId": E2E.project, "datasetId": "bqsync", "tableId": lease],
                "schema": ["fields": [["name": "note", "type": "STRING"]]], "description": "someone else's",
            ])
        let before = try ws.rows("t", orderBy: "id")
        try ws.write("syncs.d/data/s.ndjson", try scenario.sourceFile)

        let refused = try ws.run("--log-level", "debug", "--log-format", "json", "apply", "--auto-approve")
        #expect(refused.status == 3, "\(refused)")
        #expect(
            refused.stderr.contains(
                "bqsync-demo.bqsync.\(lease) already exists and is not bqsync's lease for \(ws.table("t"))"),
            "\(refused)")
        #expect(refused.stderr.contains("bqsync touched nothing"), "\(refused)")
        #expect(
            !refused.requests.contains { ["PATCH", "DELETE"].contains($0["method"]) },
            "\(refused.requests)")
        #expect(refused.sentJobs.isEmpty, "no job was sent: \(refused.sentJobs)")
        let foreign = try Curl.object("GET", base + "/" + lease)
        #expect(
            foreign["description"] as? String == "someone else's" && foreign["labels"] == nil,
            "the foreign table is as it was: \(foreign)")
        #expect(try ws.rows("t", orderBy: "id") == before)
    }

    /// Rewrites the held lease of `ws`'s target as if its holder ran on `host` (an etag-guarded patch through the
    /// proxy, as another bqsync would write it).
    static func moveLease(of ws: Workspace, toHost host: String, through proxy: FaultProxy) throws {
        let base = proxy.url + "/bigquery/v2/projects/\(E2E.project)/datasets/bqsync/tables"
        let listed = try Curl.object("GET", base + "?maxResults=10000")["tables"] as? [[String: Any]] ?? []
        let ids = listed.compactMap { ($0["tableReference"] as? [String: Any])?["tableId"] as? String }
        for id in ids where id.hasPrefix("lease_\(ws.dataset)_t_") {
            let resource = try Curl.object("GET", base + "/" + id)
            guard let text = resource["description"] as? String,
                var record = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any],
                record["target"] as? String == ws.table("t")
            else { continue }
            record["host"] = host
            let description = String(
                decoding: try JSONSerialization.data(withJSONObject: record, options: [.sortedKeys]), as: UTF8.self)
            let (status, body) = try Curl.call(
                "PATCH", base + "/" + id,
                json: try JSONSerialization.data(withJSONObject: ["description": description]),
                headers: ["If-Match: \(resource["etag"] as? String ?? "")"])
            guard status == 200 else {
                throw HarnessError("moving the lease: \(status) \(String(decoding: body, as: UTF8.self))")
            }
            return
        }
        throw HarnessError("no lease on \(ws.table("t"))")
    }
}
