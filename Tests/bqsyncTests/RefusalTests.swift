import Foundation
import SyncTestSupport
import Testing

/// What bqsync refuses or fails on, and how it recovers: each time the target must be exactly as it was (or, after a
/// crash and re-run, exactly as planned).
extension EndToEndTests {
    static let simpleSchema = ["{name: id, type: INT64, mode: REQUIRED}", "{name: v, type: STRING}"]

    /// A workspace with one inline sync `s` over `data/s.ndjson` into table `t`, already applied once with ids 1…3.
    static func appliedWorkspace(_ prefix: String, policy: String = "default") throws -> Workspace {
        let ws = try Workspace(prefix)
        try ws.write(
            "syncs.d/s.yaml",
            sync(
                "s", source: "type: ndjson\npath: data/s.ndjson", table: ws.table("t"), schema: simpleSchema,
                keys: ["id"], batch: 2, strategy: "inline"))
        try ws.write("syncs.d/data/s.ndjson", ndjson((1...3).map { ["id": $0, "v": "v1 \($0)"] }))
        let first = try ws.run("apply", "--auto-approve")
        #expect(first.status == 0, "\(first)")
        try #require(try ws.rows("t", orderBy: "id") == originalRows)
        return ws
    }

    static let originalRows: [[String?]] = [["1", "v1 1"], ["2", "v1 2"], ["3", "v1 3"]]

    // MARK: - stale plan

    @Test func aStalePlanIsRefusedBeforeAnyJob() throws {
        let ws = try Self.appliedWorkspace("e2e_stale")
        try ws.write("syncs.d/data/s.ndjson", ndjson([["id": 1, "v": "v2 1"], ["id": 4, "v": "v2 4"]]))
        let plan = try ws.run("plan", "--out", "plan.json")
        #expect(plan.status == 0, "\(plan)")

        // The source changes after the review.
        try ws.write(
            "syncs.d/data/s.ndjson",
            ndjson([["id": 1, "v": "v2 1"], ["id": 4, "v": "v2 4"], ["id": 5, "v": "sneaked in"]]))
        let stale = try ws.run("--log-level", "debug", "--log-format", "json", "apply", "plan.json")
        #expect(stale.status == 3, "\(stale)")
        #expect(stale.stderr.contains("stale"), "\(stale)")
        #expect(stale.stderr.contains("s.ndjson changed since the plan"), "\(stale)")
        #expect(stale.sentJobs.isEmpty, "a stale plan sends no job: \(stale.sentJobs)")
        #expect(try ws.rows("t", orderBy: "id") == Self.originalRows)

        // The definition changes after the review (the source back as reviewed).
        try ws.write("syncs.d/data/s.ndjson", ndjson([["id": 1, "v": "v2 1"], ["id": 4, "v": "v2 4"]]))
        let definition = try ws.read("syncs.d/s.yaml")
        try ws.write("syncs.d/s.yaml", definition.replacingOccurrences(of: "size: 2", with: "size: 3"))
        let stale2 = try ws.run("apply", "plan.json")
        #expect(stale2.status == 3, "\(stale2)")
        #expect(stale2.stderr.contains("s.yaml changed since the plan"), "\(stale2)")
        #expect(try ws.rows("t", orderBy: "id") == Self.originalRows)

        // Put back exactly as reviewed, the same plan applies.
        try ws.write("syncs.d/s.yaml", definition)
        let apply = try ws.run("apply", "plan.json")
        #expect(apply.status == 0, "\(apply)")
        #expect(try ws.rows("t", orderBy: "id") == [["1", "v2 1"], ["2", "v1 2"], ["3", "v1 3"], ["4", "v2 4"]])
    }

    // MARK: - a declared column the table lacks

    /// Issue 18, point 9: a schema column an existing table lacks says what to do, at the column's line.
    @Test func aDeclaredColumnTheTableLacksSaysHowToAddIt() throws {
        let ws = try Self.appliedWorkspace("e2e_addcolumn")
        let definition = try ws.read("syncs.d/s.yaml")
        try ws.write(
            "syncs.d/s.yaml",
            definition.replacingOccurrences(of: "create_if_missing: true", with: "create_if_missing: false")
                .replacingOccurrences(
                    of: "    - {name: v, type: STRING}\n",
                    with: "    - {name: v, type: STRING}\n    - {name: note, type: STRING}\n"))
        let plan = try ws.run("plan")
        #expect(plan.status == 1, "\(plan)")
        #expect(plan.stderr.contains("s.yaml:"), "at the column: \(plan)")
        #expect(
            plan.stderr.contains("ALTER TABLE `\(ws.table("t"))` ADD COLUMN `note` STRING) or remove it from schema:"),
            "\(plan)")
    }

    // MARK: - protected target

    @Test func aProtectedTargetIsRefusedBeforeAnyJob() throws {
        let ws = try Self.appliedWorkspace("e2e_protected")
        try ws.write("syncs.d/data/s.ndjson", ndjson([["id": 1, "v": "overwritten"], ["id": 9, "v": "inserted"]]))
        let reviewed = try ws.run("plan", "--out", "plan.json")
        #expect(reviewed.status == 0, "\(reviewed)")

        // Another policy of the directory protects the target (the sync itself uses `default`): bqsync never writes
        // it, whichever policy protects it.
        try ws.write(
            "policies/guard.yaml",
            """
            version: 1
            name: guard
            protected_tables: ["\(E2E.project).\(ws.dataset).*"]

            """)
        for arguments in [
            ["plan"], ["apply", "--auto-approve"], ["apply", "--auto-approve", "s"], ["apply", "plan.json"],
        ] {
            let refused = try ws.run(["--log-level", "debug", "--log-format", "json"] + arguments)
            #expect(refused.status == 3, "\(refused)")
            #expect(refused.stderr.contains("protected"), "\(refused)")
            #expect(refused.sentJobs.isEmpty, "refused before any job: \(refused.sentJobs)")
            if arguments != ["apply", "plan.json"] {
                #expect(
                    refused.requests.isEmpty, "a protected target is refused before any request: \(refused.requests)")
            }
        }
        #expect(try ws.rows("t", orderBy: "id") == Self.originalRows)

        // The sync's own policy protecting its target is caught offline, with the definition's line; still nothing sent.
        // (README, "Exit codes", maps "protected table" to exit 3; the configuration check reports it as an error, exit 1.)
        try FileManager.default.removeItem(atPath: ws.path("policies/guard.yaml"))
        let definition = try ws.read("syncs.d/s.yaml")
        try ws.write("syncs.d/s.yaml", definition.replacingOccurrences(of: "policy: default", with: "policy: guard"))
        try ws.write(
            "policies/guard.yaml",
            """
            version: 1
            name: guard
            protected_tables: ["\(E2E.project).\(ws.dataset).t"]

            """)
        let own = try ws.run("--log-level", "debug", "--log-format", "json", "apply", "--auto-approve")
        #expect([1, 3].contains(own.status), "\(own)")
        #expect(own.stderr.contains("protected by policy 'guard'"), "\(own)")
        #expect(own.requests.isEmpty, "\(own.requests)")
        #expect(try ws.rows("t", orderBy: "id") == Self.originalRows)
    }

    // MARK: - policy too small

    @Test func aPolicyTooSmallForThePlanIsRefusedWithNothingWritten() throws {
        let ws = try Self.appliedWorkspace("e2e_budget")
        try ws.write(
            "policies/tiny.yaml",
            """
            version: 1
            name: tiny
            session:
              max_queries: 1

            """)
        let definition = try ws.read("syncs.d/s.yaml")
        try ws.write("syncs.d/s.yaml", definition.replacingOccurrences(of: "policy: default", with: "policy: tiny"))
        try ws.write(
            "syncs.d/data/s.ndjson",
            ndjson([["id": 1, "v": "v2 1"], ["id": 2, "v": "v2 2"], ["id": 7, "v": "v2 7"]]))

        let plan = try ws.run("--log-level", "debug", "--log-format", "json", "plan", "--out", "plan.json")
        #expect(plan.status == 3, "\(plan)")
        #expect(plan.stderr.contains("session query limit"), "\(plan)")
        #expect(plan.stderr.contains("allows 1"), "\(plan)")
        #expect(plan.sentJobs.isEmpty, "plan sends only dry runs: \(plan.sentJobs)")
        let budgets = try #require(try Self.planJSON(ws)["budgets"] as? [[String: Any]])
        let tiny = try #require(budgets.first { $0["policy"] as? String == "tiny" })
        #expect(tiny["max_queries"] as? Int == 1)
        #expect((tiny["planned_queries"] as? Int ?? 0) > 1)
        #expect((tiny["violations"] as? [String])?.isEmpty == false)

        for arguments in [["apply", "plan.json"], ["apply", "--auto-approve"]] {
            let refused = try ws.run(["--log-level", "debug", "--log-format", "json"] + arguments)
            #expect(refused.status == 3, "\(refused)")
            #expect(refused.stderr.contains("session query limit"), "\(refused)")
            #expect(refused.sentJobs.isEmpty, "\(refused.sentJobs)")
        }
        #expect(try ws.rows("t", orderBy: "id") == Self.originalRows)
    }

    // MARK: - bad values

    @Test func aBadValueIsAnErrorWithItsFileLineAndColumn() throws {
        let ws = try Workspace("e2e_badvalue")
        try ws.write(
            "syncs.d/j.yaml",
            Self.sync(
                "j", source: "type: ndjson\npath: j.ndjson", table: ws.table("j"),
                schema: ["{name: id, type: INT64, mode: REQUIRED}", "{name: n, type: INT64}"], keys: ["id"]))
        try ws.write(
            "syncs.d/j.ndjson",
            """
            {"id": 1, "n": 5}

            {"id": 3, "n": "abc"}
            {"id": 4, "n": 6}

            """)
        for arguments in [["plan"], ["apply", "--auto-approve"]] {
            let failed = try ws.run(arguments)
            #expect(failed.status == 1, "\(failed)")
            // Line 3 (the blank line 2 still counts), column 16: where the value starts.
            #expect(failed.stderr.contains("syncs.d/j.ndjson:3:16: column 'n': invalid INT64 'abc'"), "\(failed)")
        }
        #expect(try !ws.datasetExists(), "nothing was created")

        // CSV: a record spanning lines; the bad value is on its second line.
        try FileManager.default.removeItem(atPath: ws.path("syncs.d/j.yaml"))
        try ws.write(
            "syncs.d/c.yaml",
            Self.sync(
                "c", source: "type: csv\npath: c.csv", table: ws.table("c"),
                schema: [
                    "{name: id, type: INT64, mode: REQUIRED}", "{name: s, type: STRING}",
                    "{name: d, type: DATE}",
                ], keys: ["id"]))
        try ws.write("syncs.d/c.csv", "id,s,d\n1,\"a\nb\",2025-01-01\n2,\"c\nd\",2025-02-30\n")
        let csv = try ws.run("apply", "--auto-approve")
        #expect(csv.status == 1, "\(csv)")
        #expect(csv.stderr.contains("syncs.d/c.csv:5:4: column 'd': invalid DATE '2025-02-30'"), "\(csv)")

        // A NULL merge key names its line too.
        try ws.write("syncs.d/c.csv", "id,s,d\n1,a,2025-01-01\n,b,2025-01-02\n")
        let nullKey = try ws.run("plan")
        #expect(nullKey.status == 1, "\(nullKey)")
        #expect(nullKey.stderr.contains("syncs.d/c.csv:3:1: merge key 'id' is NULL or missing"), "\(nullKey)")
        #expect(try !ws.datasetExists(), "nothing was created")
    }

    // MARK: - killed mid-way

    @Test func anApplyKilledMidwayThenRerunEndsExactlyRight() throws {
        let ws = try Workspace("e2e_killed")
        try ws.write(
            "syncs.d/k.yaml",
            Self.sync(
                "k", source: "type: ndjson\npath: data/k.ndjson", table: ws.table("k"),
                schema: [
                    "{name: id, type: INT64, mode: REQUIRED}", "{name: v, type: STRING}",
                    "{name: rev, type: INT64}", "{name: del, type: BOOL}",
                ],
                keys: ["id"], orderBy: "rev", deleteWhen: "del", batch: 2, strategy: "inline"))
        try ws.write(
            "syncs.d/data/k.ndjson", ndjson((0..<10).map { ["id": $0, "v": "old \($0)", "rev": 1, "del": false] }))
        let first = try ws.run("apply", "--auto-approve")
        #expect(first.status == 0, "\(first)")

        // 60 rows in 30 batches: updates of 0…9 (and a delete of 7), inserts of 10…59.
        let round2: [[String: Any]] = (0..<60).map { ["id": $0, "v": "new \($0)", "rev": 2, "del": $0 == 7] }
        try ws.write("syncs.d/data/k.ndjson", ndjson(round2))
        let plan = try ws.run("plan", "--out", "plan.json")
        #expect(plan.status == 0, "\(plan)")
        #expect(try Self.syncPlan(try Self.planJSON(ws), "k")["batches"] as? Int == 30)

        let running = try ws.start(["apply", "plan.json"])
        let sawFirst = running.waitForStderr(timeout: 60) { $0.contains("merge done") }
        running.killHard()
        #expect(sawFirst, "the apply never finished a batch: \(running.stderrSoFar)")
        #expect(running.process.terminationReason == .uncaughtSignal, "killed, not finished: \(running.stderrSoFar)")
        let midway = try ws.query("SELECT COUNTIF(v LIKE 'new %'), COUNT(*) FROM `\(ws.table("k"))`")
        let updated = Int(midway.first?[0] ?? "") ?? -1
        #expect(updated >= 1 && updated < 59, "killed mid-way: \(updated) rows of the plan had landed")

        let rerun = try ws.run("apply", "plan.json")
        #expect(rerun.status == 0, "\(rerun)")
        #expect(rerun.stderr.contains("recovered the lease"), "the dead apply's lease is taken over: \(rerun)")
        #expect(rerun.stderr.contains("adopted from an earlier run"), "finished steps are not run again: \(rerun)")
        let expected: [[String?]] = (0..<60).filter { $0 != 7 }.map { [String($0), "new \($0)", "2", "false"] }
        #expect(try ws.rows("k", orderBy: "id") == expected)

        let status = try ws.run("status", "k", "--format", "json")
        let runs = try #require(
            try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [[String: Any]], "\(status)")
        let mine = runs.filter { $0["target"] as? String == ws.table("k") }
        #expect(mine.filter { $0["status"] as? String == "succeeded" }.count == 2, "\(status)")
    }
}
