import Foundation
import SyncTestSupport
import Testing

/// Two applies on one target at once. The first is held at the fault proxy inside a step (or inside taking the
/// lease) while the second runs: the second is refused with a message naming the first, sends no MERGE, and the
/// proxy's log shows the two applies' MERGEs never interleave. Afterwards the refused one applies cleanly.
@Suite struct ConcurrencyTests {
    static let arguments = ["--log-level", "info", "--log-format", "json", "apply", "plan.json", "--format", "json"]

    /// A second workspace whose sync `name` writes the first workspace's table `t`.
    static func rival(of ws: Workspace, name: String, scenario: MergeScenario, batch: Int) throws -> Workspace {
        let other = try Workspace("rival", policy: Reliability.policy)
        try other.write(
            "syncs.d/\(name).yaml",
            EndToEndTests.sync(
                name, source: "type: ndjson\npath: data/\(name).ndjson", table: ws.table("t"),
                schema: MergeScenario.schema, keys: ["id"], orderBy: "rev",
                deleteWhen: "del", batch: batch, strategy: "inline"))
        try other.write("syncs.d/data/\(name).ndjson", try scenario.sourceFile)
        return other
    }

    /// Two applies of one table `t`, each planned: sync `s` of `ws` (scenario `first`, seeded `seed`, the table
    /// holding its initial rows, in batches of `batch`) and sync `rival` of `rival` (scenario `second`, seeded
    /// `seed + 1`, in batches of 6).
    static func rivals(_ prefix: String, seed: UInt64, batch: Int) throws -> (
        first: MergeScenario, second: MergeScenario, ws: Workspace, rival: Workspace, planA: PlannedSync,
        planB: PlannedSync
    ) {
        let first = MergeScenario(seed: seed)
        let second = MergeScenario(seed: seed + 1)
        let ws = try Reliability.workspace(prefix, scenario: first, strategy: "inline", batch: batch)
        let rival = try Self.rival(of: ws, name: "rival", scenario: second, batch: 6)
        return (first, second, ws, rival, try Reliability.plan(ws), try Reliability.plan(rival, sync: "rival"))
    }

    /// The step MERGEs the proxy forwarded, per plan, as (start, end) intervals; checks no two plans' overlap or
    /// alternate.
    static func expectNoInterleaving(
        _ stats: ProxyStats, _ plans: [PlannedSync], sourceLocation: SourceLocation = #_sourceLocation
    ) {
        let merges = stats.log.filter { $0.step && !$0.dry && $0.statement == "MERGE" && $0.end != nil }.sorted {
            $0.start < $1.start
        }
        let owners = merges.compactMap { entry in
            plans.firstIndex { plan in entry.job.map { $0.hasPrefix("bqsync_\(plan.planId)_") } ?? false }
        }
        // The sequence of owners must be grouped: once a plan's MERGEs stop, they never start again.
        var seen: [Int] = []
        for owner in owners where seen.last != owner {
            #expect(
                !seen.contains(owner), "MERGEs of two applies interleave: \(owners)", sourceLocation: sourceLocation)
            seen.append(owner)
        }
        for (a, b) in zip(merges, merges.dropFirst()) {
            #expect(
                (a.end ?? 0) <= b.start || a.job == b.job,
                "two MERGEs in flight at once: \(a.job ?? "?"), \(b.job ?? "?")",
                sourceLocation: sourceLocation)
        }
    }

    @Test func aSecondApplyWhileTheFirstIsInsideAMergeIsRefused() throws {
        let (first, second, ws, rival, planA, planB) = try Self.rivals("concurrent_a", seed: 300, batch: 5)
        let proxy = try FaultProxy(upstream: ws.host)

        // A is held inside its second MERGE (the first has landed).
        let arm = try proxy.armStep(planA.merges[1])
        let a = try ws.start(Self.arguments, environment: proxy.holdingEnvironment)
        try #require(try proxy.waitUntilHeld(arm, timeout: 60, watching: a), "\(a.stderrSoFar)")

        let b = try rival.run(Self.arguments, environment: proxy.holdingEnvironment)
        #expect(b.status == 3, "refused by policy: \(b)")
        #expect(b.stderr.contains("\(ws.table("t")) is being applied by another bqsync (plan \(planA.planId)"), "\(b)")
        #expect(b.stderr.contains("pid \(a.process.processIdentifier)"), "\(b)")
        #expect(b.stderr.contains("try again when it finishes"), "\(b)")
        #expect(
            try proxy.stats().executions.keys.allSatisfy { !$0.hasPrefix("bqsync_\(planB.planId)_") }, "B sent no MERGE"
        )

        try proxy.release(arm, forward: true)
        let resultA = try a.wait(timeout: 60)
        #expect(resultA.status == 0, "\(resultA)")
        let afterA = first.merged(into: first.initial)
        #expect(try ws.rows("t", orderBy: "id") == MergeScenario.rendered(afterA))

        // Once A is done, B applies its (still fresh) plan over A's result.
        let retried = try rival.run(Self.arguments, environment: proxy.holdingEnvironment)
        #expect(retried.status == 0, "\(retried)")
        #expect(try ws.rows("t", orderBy: "id") == MergeScenario.rendered(second.merged(into: afterA)))
        Self.expectNoInterleaving(try proxy.stats(), [planA, planB])
        #expect(try Reliability.leases(ws, table: "t").isEmpty)
    }

    @Test func theSamePlanAppliedTwiceAtOnceRunsOnce() throws {
        let scenario = MergeScenario(seed: 302)
        let ws = try Reliability.workspace("concurrent_same", scenario: scenario, strategy: "inline", batch: 5)
        let planned = try Reliability.plan(ws)
        let proxy = try FaultProxy(upstream: ws.host)
        let arm = try proxy.armStep(planned.merges[2])
        let first = try ws.start(Self.arguments, environment: proxy.holdingEnvironment)
        try #require(try proxy.waitUntilHeld(arm, timeout: 60, watching: first), "\(first.stderrSoFar)")

        let second = try ws.run(Self.arguments, environment: proxy.holdingEnvironment)
        #expect(second.status == 3, "\(second)")
        #expect(second.stderr.contains("is being applied by another bqsync (plan \(planned.planId)"), "\(second)")

        try proxy.release(arm, forward: true)
        #expect(try first.wait(timeout: 60).status == 0)
        let third = try ws.run(Self.arguments, environment: proxy.holdingEnvironment)
        #expect(third.status == 0, "\(third)")
        #expect(third.stderr.contains("already applied"), "\(third)")
        #expect(try ws.rows("t", orderBy: "id") == scenario.expected)
        try proxy.stats().expectEachMergeOnce(planned)
    }

    /// A's request for the lease is held in flight; B takes the lease and is held inside its first MERGE; then A's
    /// request arrives: the lease is B's, so A is refused, and B finishes.
    @Test func twoAppliesRacingForTheLeaseOneWins() throws {
        let (first, second, ws, rival, planA, planB) = try Self.rivals("concurrent_race", seed: 303, batch: 6)
        let proxy = try FaultProxy(upstream: ws.host)

        let leaseA = try proxy.arm(
            method: "POST", path: "/datasets/bqsync/tables" + CrashResumeTests.endOfPath, body: "lease_")
        let a = try ws.start(Self.arguments, environment: proxy.holdingEnvironment)
        try #require(try proxy.waitUntilHeld(leaseA, timeout: 60, watching: a), "\(a.stderrSoFar)")
        let mergeB = try proxy.armStep(planB.merges[0])
        let b = try rival.start(Self.arguments, environment: proxy.holdingEnvironment)
        try #require(try proxy.waitUntilHeld(mergeB, timeout: 60, watching: b), "\(b.stderrSoFar)")

        try proxy.release(leaseA, forward: true)
        let resultA = try a.wait(timeout: 60)
        #expect(resultA.status == 3, "A lost the race: \(resultA)")
        #expect(resultA.stderr.contains("is being applied by another bqsync (plan \(planB.planId)"), "\(resultA)")
        try proxy.release(mergeB, forward: true)
        let resultB = try b.wait(timeout: 60)
        #expect(resultB.status == 0, "\(resultB)")
        let afterB = second.merged(into: second.initial)
        #expect(try ws.rows("t", orderBy: "id") == MergeScenario.rendered(afterB))

        let retried = try ws.run(Self.arguments, environment: proxy.holdingEnvironment)
        #expect(retried.status == 0, "\(retried)")
        #expect(try ws.rows("t", orderBy: "id") == MergeScenario.rendered(first.merged(into: afterB)))
        Self.expectNoInterleaving(try proxy.stats(), [planA, planB])
    }

    // MARK: - an apply longer than its lease

    /// The lease lasts 10 s here (`BQSYNC_LEASE_SECONDS`); A runs for longer (held twice at the proxy, each time
    /// for less than the lease). A renews its lease between steps, so B, started after A's first lease would have
    /// run out, is still refused, and no MERGEs interleave.
    @Test func anApplyLongerThanItsLeaseKeepsIt() throws {
        let (first, _, ws, rival, planA, planB) = try Self.rivals("lease_renewed", seed: 305, batch: 4)
        try #require(planA.merges.count >= 6)
        let proxy = try FaultProxy(upstream: ws.host)
        let environment = proxy.holdingEnvironment.merging(["BQSYNC_LEASE_SECONDS": "10"]) { $1 }

        let third = try proxy.armStep(planA.merges[2])
        let fifth = try proxy.armStep(planA.merges[4])
        let a = try ws.start(Self.arguments, environment: environment)
        try #require(try proxy.waitUntilHeld(third, timeout: 60, watching: a), "\(a.stderrSoFar)")
        let acquired = Date()
        Thread.sleep(forTimeInterval: 7)
        try proxy.release(third, forward: true)
        try #require(try proxy.waitUntilHeld(fifth, timeout: 60, watching: a), "\(a.stderrSoFar)")
        // Past the first lease's end: only a renewed lease keeps B out.
        Thread.sleep(forTimeInterval: max(0, 11 - Date().timeIntervalSince(acquired)))

        let b = try rival.run(Self.arguments, environment: environment)
        #expect(b.status == 3, "\(b)")
        #expect(b.stderr.contains("is being applied by another bqsync (plan \(planA.planId)"), "\(b)")
        try proxy.release(fifth, forward: true)
        let resultA = try a.wait(timeout: 60)
        #expect(resultA.status == 0, "\(resultA)")
        #expect(resultA.stderr.contains("renewed the lease"), "\(resultA)")
        #expect(try ws.rows("t", orderBy: "id") == MergeScenario.rendered(first.merged(into: first.initial)))
        Self.expectNoInterleaving(try proxy.stats(), [planA, planB])
        #expect(try Reliability.leases(ws, table: "t").isEmpty)
    }

    @Test func aLeaseLifeThatIsNotWholeSecondsFromTenToADayIsRefused() throws {
        let scenario = MergeScenario(seed: 309)
        let ws = try Reliability.workspace("lease_env", scenario: scenario, strategy: "inline", batch: 10)
        _ = try Reliability.plan(ws)
        for bad in ["5", "1.5", "an hour", "86401"] {
            let refused = try ws.run(
                ["--log-level", "debug", "--log-format", "json", "apply", "plan.json"],
                environment: ["BQSYNC_LEASE_SECONDS": bad])
            #expect(refused.status == 1, "\(refused)")
            #expect(
                refused.stderr.contains("BQSYNC_LEASE_SECONDS must be a whole number of seconds from 10 to 86400"),
                "\(refused)")
            #expect(refused.sentJobs.isEmpty, "\(refused.sentJobs)")
        }
        #expect(try ws.rows("t", orderBy: "id") == MergeScenario.rendered(scenario.initial))
    }

    /// A single step outlasts the lease (held at the proxy for longer than its 10 s): B takes the lapsed lease. When
    /// A's step returns, A finds its lease gone at the next step and stops, sending nothing more; B finishes, and A's
    /// plan applies later by resuming.
    @Test func anApplyThatLostItsLeaseStops() throws {
        let (_, _, ws, rival, planA, planB) = try Self.rivals("lease_lost", seed: 307, batch: 5)
        try #require(planA.merges.count >= 3)
        let proxy = try FaultProxy(upstream: ws.host)
        let environment = proxy.holdingEnvironment.merging(["BQSYNC_LEASE_SECONDS": "10"]) { $1 }

        let stuck = try proxy.armStep(planA.merges[1])
        let a = try ws.start(Self.arguments, environment: environment)
        try #require(try proxy.waitUntilHeld(stuck, timeout: 60, watching: a), "\(a.stderrSoFar)")
        Thread.sleep(forTimeInterval: 11)
        let heldB = try proxy.armStep(planB.merges[0])
        let b = try rival.start(Self.arguments, environment: environment)
        try #require(
            try proxy.waitUntilHeld(heldB, timeout: 60, watching: b), "B took the lapsed lease: \(b.stderrSoFar)")

        try proxy.release(stuck, forward: true)
        let resultA = try a.wait(timeout: 60)
        #expect(resultA.status == 1, "\(resultA)")
        #expect(resultA.stderr.contains("lapsed"), "\(resultA)")
        let executed = try proxy.stats().stepExecutions(planId: planA.planId)
        #expect(
            executed.keys.sorted() == Array(planA.merges.prefix(2)).sorted(),
            "A stopped after the step in flight: \(executed)")

        try proxy.release(heldB, forward: true)
        #expect(try b.wait(timeout: 60).status == 0)
        let resumed = try ws.run(Self.arguments, environment: environment)
        #expect(resumed.status == 0, "\(resumed)")
        try proxy.stats().expectEachMergeOnce(planA)
        #expect(try Reliability.leases(ws, table: "t").isEmpty)
    }
}
