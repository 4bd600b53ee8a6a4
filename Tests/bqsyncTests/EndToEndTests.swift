import Foundation
import SyncTestSupport
import Testing

/// The built `bqsync` against the local BigQuery emulator: every test plans and applies real definitions in its
/// own workspace and dataset, then reads the target back row by row. Serialized: they share one emulator (and
/// its `bqsync` state dataset), and the emulator runs one statement at a time anyway.
@Suite(.serialized) struct EndToEndTests {
    /// A sync definition.
    static func sync(
        _ name: String, source: String, table: String, schema: [String], keys: [String], orderBy: String? = nil,
        deleteWhen: String? = nil, update: String = "all", batch: Int = 500, strategy: String = "auto",
        policy: String = "default", create: Bool = true
    ) -> String {
        var text = """
            version: 1
            name: \(name)
            source:
              \(source.split(separator: "\n", omittingEmptySubsequences: false).joined(separator: "\n  "))
            target:
              table: \(table)
              create_if_missing: \(create)
              schema:

            """
        for column in schema { text += "    - \(column)\n" }
        text += "merge:\n  keys: [\(keys.joined(separator: ", "))]\n  update: \(update)\n"
        if let orderBy { text += "  order_by: \(orderBy)\n" }
        if let deleteWhen { text += "  delete_when: \(deleteWhen)\n" }
        text += "batch:\n  size: \(batch)\n  strategy: \(strategy)\npolicy: \(policy)\n"
        return text
    }

    /// Decodes a plan file.
    static func planJSON(_ workspace: Workspace, _ file: String = "plan.json") throws -> [String: Any] {
        let data = try Data(contentsOf: URL(fileURLWithPath: workspace.path(file)))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    /// One sync's entry of a plan file.
    static func syncPlan(_ plan: [String: Any], _ name: String) throws -> [String: Any] {
        let syncs = try #require(plan["syncs"] as? [[String: Any]])
        return try #require(syncs.first { $0["name"] as? String == name })
    }

    // MARK: - inserts, updates, deletes

    static let contactSchema = [
        "{name: id, type: INT64, mode: REQUIRED}", "{name: name, type: STRING}", "{name: amount, type: INT64}",
        "{name: is_deleted, type: BOOL}", "{name: updated_at, type: TIMESTAMP, mode: REQUIRED}",
    ]

    @Test func insertsUpdatesAndDeletesThroughAReviewedPlan() throws {
        let ws = try Workspace("e2e_merge")
        try ws.write(
            "syncs.d/contacts.yaml",
            Self.sync(
                "contacts", source: "type: ndjson\npath: data/contacts.ndjson", table: ws.table("contacts"),
                schema: Self.contactSchema, keys: ["id"], orderBy: "updated_at",
                deleteWhen: "is_deleted", batch: 2, strategy: "inline"))
        // A second sync in the same directory, never named: `apply NAME` must leave it alone.
        try ws.write(
            "syncs.d/bystander.yaml",
            Self.sync(
                "bystander", source: "type: ndjson\npath: data/contacts.ndjson",
                table: ws.table("bystander"), schema: Self.contactSchema, keys: ["id"]))
        try ws.write(
            "syncs.d/data/contacts.ndjson",
            """
            {"id": 1, "name": "alice", "amount": 10, "is_deleted": false, "updated_at": "2025-01-01T00:00:00Z"}
            {"id": 2, "name": "bob", "amount": 20, "is_deleted": false, "updated_at": "2025-01-01T00:00:00Z"}
            {"id": 3, "name": "carol", "amount": 30, "is_deleted": false, "updated_at": "2025-01-01T00:00:00Z"}
            {"id": 4, "name": "dave", "amount": 40, "is_deleted": false, "updated_at": "2025-06-01T00:00:00Z"}
            {"id": 5, "name": "erin", "amount": 50, "is_deleted": false, "updated_at": "2025-01-01T00:00:00Z"}

            """)

        // Round 1, the reviewed way: plan --out, then apply that file.
        let detailed = try ws.run("plan", "contacts", "--detailed-exitcode")
        #expect(detailed.status == 2, "a plan that writes rows exits 2 under --detailed-exitcode\n\(detailed)")
        let plan = try ws.run("plan", "contacts", "--out", "plan.json")
        #expect(plan.status == 0, "\(plan)")
        #expect(plan.stdout.contains("contacts"), "\(plan)")
        let planned = try Self.syncPlan(try Self.planJSON(ws), "contacts")
        #expect(planned["strategy"] as? String == "inline")
        #expect(planned["rows"] as? Int == 5)
        #expect(planned["batches"] as? Int == 3, "5 rows in batches of 2")
        #expect(try !ws.tableExists("contacts"), "plan sends nothing but dry runs and metadata reads")
        let show = try ws.run("show", "plan.json")
        #expect(show.status == 0, "\(show)")
        #expect(show.stdout.contains(ws.table("contacts")), "\(show)")

        let first = try ws.run("apply", "plan.json")
        #expect(first.status == 0, "\(first)")
        #expect(
            try ws.rows("contacts", orderBy: "id") == [
                ["1", "alice", "10", "false", micros("2025-01-01T00:00:00Z")],
                ["2", "bob", "20", "false", micros("2025-01-01T00:00:00Z")],
                ["3", "carol", "30", "false", micros("2025-01-01T00:00:00Z")],
                ["4", "dave", "40", "false", micros("2025-06-01T00:00:00Z")],
                ["5", "erin", "50", "false", micros("2025-01-01T00:00:00Z")],
            ])

        // Applying the same reviewed plan again does nothing: it was already applied.
        let again = try ws.run("--log-level", "debug", "--log-format", "json", "apply", "plan.json")
        #expect(again.status == 0, "\(again)")
        #expect(again.stderr.contains("already applied"), "\(again)")
        #expect(!again.requests.isEmpty, "the JSON log was read, so the check below can see a MERGE: \(again)")
        #expect(
            !again.jobRecords.contains { $0["statement"] == "MERGE" && $0["kind"] == "query" },
            "no MERGE runs twice: \(again)")

        // Round 2, by name with --auto-approve: an update, a delete, an older update and an older delete (both
        // ignored: a newer target row is never overwritten), an insert, and a deleted row that never existed.
        try ws.write(
            "syncs.d/data/contacts.ndjson",
            """
            {"id": 1, "name": "alice v2", "amount": 11, "is_deleted": false, "updated_at": "2025-02-01T00:00:00Z"}
            {"id": 2, "name": "bob", "amount": 20, "is_deleted": true, "updated_at": "2025-02-01T00:00:00Z"}
            {"id": 3, "name": "carol stale", "amount": 0, "is_deleted": true, "updated_at": "2024-12-01T00:00:00Z"}
            {"id": 4, "name": "dave stale", "amount": 0, "is_deleted": false, "updated_at": "2025-01-01T00:00:00Z"}
            {"id": 6, "name": "frank", "amount": 60, "is_deleted": false, "updated_at": "2025-02-01T00:00:00Z"}
            {"id": 7, "name": "ghost", "amount": 70, "is_deleted": true, "updated_at": "2025-02-01T00:00:00Z"}

            """)
        let second = try ws.run("apply", "--auto-approve", "contacts")
        #expect(second.status == 0, "\(second)")
        #expect(second.stdout.contains("contacts"), "\(second)")
        #expect(
            try ws.rows("contacts", orderBy: "id") == [
                ["1", "alice v2", "11", "false", micros("2025-02-01T00:00:00Z")],
                ["3", "carol", "30", "false", micros("2025-01-01T00:00:00Z")],
                ["4", "dave", "40", "false", micros("2025-06-01T00:00:00Z")],
                ["5", "erin", "50", "false", micros("2025-01-01T00:00:00Z")],
                ["6", "frank", "60", "false", micros("2025-02-01T00:00:00Z")],
            ])
        #expect(try !ws.tableExists("bystander"), "apply NAME applies only that sync")

        // The runs are recorded; status shows them.
        let status = try ws.run("status", "contacts", "--format", "json")
        #expect(status.status == 0, "\(status)")
        let runs = try #require(
            try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [[String: Any]], "\(status)")
        // The state dataset is per project, shared by every directory: this workspace's runs are those on its table.
        let mine = runs.filter { $0["target"] as? String == ws.table("contacts") }
        #expect(mine.count == 2, "\(status)")
        #expect(
            mine.allSatisfy { $0["status"] as? String == "succeeded" && $0["sync"] as? String == "contacts" },
            "\(status)")
        #expect(
            mine.allSatisfy { ($0["bytes_estimated"] as? Int ?? 0) > 0 },
            "the plan's estimate is kept beside the bill: \(status)")
        // In text, the estimate sits beside the bill; reading the runs ran no query job.
        let text = try ws.run("--log-level", "info", "--log-format", "json", "status", "contacts")
        #expect(text.status == 0 && text.stdout.contains("billed (plan: "), "\(text)")
        #expect(text.jobRecords.isEmpty, "status runs no job: \(text.stderr)")
    }

    /// An inline apply admits each batch on the plan's own dry run of it instead of dry-running it again (while
    /// the target is as the plan saw it): its dry runs do not grow with the number of batches. (The emulator's
    /// table metadata does not change with DML, so a target changed since the plan is tested in SyncKitTests.)
    @Test func inlineBatchesAreAdmittedOnThePlansDryRuns() throws {
        let ws = try Workspace("e2e_reviewed")
        try ws.write(
            "syncs.d/people.yaml",
            Self.sync(
                "people", source: "type: ndjson\npath: people.ndjson", table: ws.table("people"),
                schema: ["{name: id, type: INT64, mode: REQUIRED}", "{name: name, type: STRING}"],
                keys: ["id"], batch: 2, strategy: "inline"))
        func apply(_ ids: ClosedRange<Int>, _ tag: String) throws -> Int {
            try ws.write(
                "syncs.d/people.ndjson",
                ids.map { #"{"id": \#($0), "name": "\#(tag)\#($0)"}"# }.joined(separator: "\n") + "\n")
            let plan = try ws.run("plan", "--out", "\(tag).json")
            #expect(plan.status == 0, "\(plan)")
            let apply = try ws.run("--log-level", "debug", "--log-format", "json", "apply", "\(tag).json")
            #expect(apply.status == 0, "\(apply)")
            #expect(try ws.rows("people", orderBy: "id") == ids.map { [String($0), "\(tag)\($0)"] })
            return apply.jobRecords.filter { $0["kind"] == "dry-run" }.count
        }
        _ = try apply(1...2, "created")
        let oneBatch = try apply(1...2, "one")
        let fourBatches = try apply(1...8, "four")
        #expect(fourBatches == oneBatch, "dry runs during apply: one batch \(oneBatch), four batches \(fourBatches)")
    }

    // MARK: - duplicates

    @Test(arguments: ["inline", "staged"])
    func duplicatesWithinAndAcrossBatchesAndFiles(strategy: String) throws {
        let ws = try Workspace("e2e_dups")
        try ws.write(
            "syncs.d/events.yaml",
            Self.sync(
                "events", source: "type: ndjson\npath: data/*.ndjson", table: ws.table("events"),
                schema: [
                    "{name: k, type: STRING, mode: REQUIRED}", "{name: v, type: STRING}", "{name: seq, type: INT64}",
                ],
                keys: ["k"], orderBy: "seq", batch: 2, strategy: strategy))
        // Files are read in name order: a.ndjson, then b.ndjson.
        try ws.write(
            "syncs.d/data/a.ndjson",
            """
            {"k": "x", "v": "x1", "seq": 1}
            {"k": "y", "v": "y5", "seq": 5}
            {"k": "x", "v": "x3", "seq": 3}
            {"k": "z", "v": "z first", "seq": 7}
            {"k": "x", "v": "x2", "seq": 2}
            {"k": "q", "v": "q1", "seq": 1}
            {"k": "w", "v": "w only", "seq": 10}
            {"k": "n", "v": "n10", "seq": 10}
            {"k": "n", "v": "n9", "seq": 9}

            """)
        try ws.write(
            "syncs.d/data/b.ndjson",
            """
            {"k": "y", "v": "y4 read later but smaller", "seq": 4}
            {"k": "z", "v": "z tie read last", "seq": 7}
            {"k": "x", "v": "x3 tie read last", "seq": 3}
            {"k": "q", "v": "q null seq", "seq": null}
            {"k": "n", "v": "n-2", "seq": -2}

            """)
        let plan = try ws.run("plan", "--out", "plan.json")
        #expect(plan.status == 0, "\(plan)")
        let planned = try Self.syncPlan(try Self.planJSON(ws), "events")
        #expect(planned["rows_read"] as? Int == 14)
        #expect(planned["rows"] as? Int == 6, "one row per key after dedup")
        let apply = try ws.run("apply", "plan.json")
        #expect(apply.status == 0, "\(apply)")
        #expect(
            try ws.rows("events", orderBy: "k") == [
                ["n", "n10", "10"],
                ["q", "q1", "1"],  // NULL sorts first: seq 1 wins over a later NULL
                ["w", "w only", "10"],
                ["x", "x3 tie read last", "3"],  // greatest seq, tie: the row read last
                ["y", "y5", "5"],  // greatest wins even when read first
                ["z", "z tie read last", "7"],
            ])
    }

    // MARK: - composite keys, keyword column names

    @Test func compositeKeysAndColumnsNamedLikeSQLKeywords() throws {
        let ws = try Workspace("e2e_keywords")
        try ws.write(
            "syncs.d/kw.yaml",
            Self.sync(
                "kw", source: "type: ndjson\npath: kw.ndjson", table: ws.table("select"),
                schema: [
                    "{name: select, type: STRING, mode: REQUIRED}", "{name: from, type: INT64, mode: REQUIRED}",
                    "{name: order, type: INT64}", "{name: group, type: STRING}", "{name: where, type: BOOL}",
                    "{name: limit, type: DATE}",
                ],
                keys: ["select", "from"], orderBy: "order", deleteWhen: "where", update: "[group, order]", batch: 2,
                strategy: "inline"))
        // Round 1 never mentions the delete_when column `where`: no row is deleted, and it stays NULL.
        try ws.write(
            "syncs.d/kw.ndjson",
            """
            {"select": "a", "from": 1, "order": 1, "group": "g a1", "limit": "2025-01-01"}
            {"select": "a", "from": 2, "order": 1, "group": "g a2", "limit": "2025-01-02"}
            {"select": "b", "from": 1, "order": 1, "group": "g b1", "limit": "2025-01-03"}

            """)
        let first = try ws.run("apply", "--auto-approve")
        #expect(first.status == 0, "\(first)")
        try ws.write(
            "syncs.d/kw.ndjson",
            """
            {"select": "a", "from": 1, "order": 2, "group": "g a1 new", "where": false, "limit": "2030-01-01"}
            {"select": "a", "from": 2, "order": 2, "group": "gone", "where": true, "limit": "2030-01-01"}
            {"select": "b", "from": 2, "order": 1, "group": "g b2", "where": false, "limit": "2025-02-02"}
            {"select": "A", "from": 1, "order": 1, "group": "upper-case key is another key", "where": null, "limit": null}

            """)
        let second = try ws.run("apply", "--auto-approve")
        #expect(second.status == 0, "\(second)")
        // `limit` is not in the update list, so (a, 1) keeps its first value; keys match on both columns.
        #expect(
            try ws.rows("select", orderBy: "`select`, `from`") == [
                ["A", "1", "1", "upper-case key is another key", nil, nil],
                ["a", "1", "2", "g a1 new", nil, "2025-01-01"],
                ["b", "1", "1", "g b1", nil, "2025-01-03"],
                ["b", "2", "1", "g b2", "false", "2025-02-02"],
            ])

        // Round 3 never mentions the order_by column: a row without it is never newer than a target row that has one.
        try ws.write(
            "syncs.d/kw.ndjson",
            """
            {"select": "b", "from": 1, "group": "no order given"}
            {"select": "c", "from": 1, "group": "new without order"}

            """)
        let third = try ws.run("apply", "--auto-approve")
        #expect(third.status == 0, "\(third)")
        #expect(
            try ws.rows("select", orderBy: "`select`, `from`") == [
                ["A", "1", "1", "upper-case key is another key", nil, nil],
                ["a", "1", "2", "g a1 new", nil, "2025-01-01"],
                ["b", "1", "1", "g b1", nil, "2025-01-03"],
                ["b", "2", "1", "g b2", "false", "2025-02-02"],
                ["c", "1", nil, "new without order", nil, nil],
            ])
    }

    // MARK: - values stored verbatim

    static let awkwardStrings: [String] = [
        "O'Reilly's",
        "say \"hi\" and \"\"bye\"\"",
        "`backtick` and ``double`` and ```triple```",
        "line1\nline2\r\nline3\ttab\u{0B}vt",
        "'); DROP TABLE x; --",
        "SELECT * FROM `bqsync-demo.bqsync.runs` WHERE 1=1; -- @rows @@version",
        "\\ backslash \\n not a newline \\u0041 \\\" \\'",
        "unicode: héllo wörld ß 日本語 🎉 👩‍👩‍👧 עברית العربية",
        "combining e\u{301} vs é, zero width \u{200B}joiner\u{200D}",
        "",
        "   leading and trailing   ",
        "separators \u{2028} \u{2029} \u{85} nbsp\u{A0}",
        "${x} %s %n {{y}} $1 ? :name",
        "null",
        "NULL",
        "{\"looks\": \"like json\"}",
        "/* comment */ -- comment\n# hash",
        String(repeating: "long ✓ ", count: 3000),
    ]

    @Test(arguments: ["inline", "staged"])
    func valuesAreStoredVerbatim(strategy: String) throws {
        let ws = try Workspace("e2e_verbatim")
        try ws.write(
            "syncs.d/texts.yaml",
            Self.sync(
                "texts", source: "type: ndjson\npath: texts.ndjson", table: ws.table("texts"),
                schema: [
                    "{name: id, type: INT64, mode: REQUIRED}", "{name: s, type: STRING}", "{name: j, type: JSON}",
                ],
                keys: ["id"], batch: 4, strategy: strategy))
        let rows: [[String: Any]] = Self.awkwardStrings.enumerated().map {
            ["id": $0.offset, "s": $0.element, "j": ["v": $0.element]]
        }
        try ws.write("syncs.d/texts.ndjson", ndjson(rows))
        let apply = try ws.run("apply", "--auto-approve")
        #expect(apply.status == 0, "\(apply)")
        let stored = try ws.query("SELECT id, s, JSON_VALUE(j, '$.v') FROM `\(ws.table("texts"))` ORDER BY id")
        #expect(stored.count == Self.awkwardStrings.count)
        for (index, expected) in Self.awkwardStrings.enumerated() {
            let row = stored.first { $0.first == String(index) }
            #expect(row?[1] == expected, "STRING value \(index) changed")
            #expect(row?[2] == expected, "JSON string value \(index) changed")
        }
    }

    // MARK: - strategies

    @Test func inlineStagedAndAutoGiveTheSameTable() throws {
        let ws = try Workspace("e2e_strategies")
        let schema = [
            "{name: id, type: INT64, mode: REQUIRED}", "{name: label, type: STRING}", "{name: score, type: FLOAT64}",
            "{name: day, type: DATE}", "{name: gone, type: BOOL}", "{name: version, type: INT64}",
        ]
        for strategy in ["inline", "staged", "auto"] {
            try ws.write(
                "syncs.d/\(strategy).yaml",
                Self.sync(
                    strategy, source: "type: ndjson\npath: data/rows.ndjson", table: ws.table("t_\(strategy)"),
                    schema: schema, keys: ["id"], orderBy: "version", deleteWhen: "gone",
                    batch: 3, strategy: strategy))
        }
        var round1: [[String: Any]] = []
        for id in 1...12 {
            round1.append([
                "id": id, "label": "r1 \(id)", "score": Double(id) / 4, "day": "2025-01-\(10 + id)", "gone": false,
                "version": 1,
            ])
        }
        try ws.write("syncs.d/data/rows.ndjson", ndjson(round1))
        let first = try ws.run("apply", "--auto-approve")
        #expect(first.status == 0, "\(first)")

        var round2: [[String: Any]] = []
        for id in stride(from: 2, through: 12, by: 2) {
            round2.append([
                "id": id, "label": "r2 \(id)", "score": -Double(id), "day": "2026-02-\(10 + id)", "gone": false,
                "version": 2,
            ])
        }
        round2.append(["id": 3, "gone": true, "version": 2])  // delete
        round2.append(["id": 5, "label": "older", "gone": true, "version": 0])  // older delete: ignored
        // A duplicate: the newer wins.
        round2.append(["id": 4, "label": "r3 4", "score": 4.5, "day": "2027-01-01", "gone": false, "version": 3])
        round2.append(["id": 20, "label": "new 20", "score": 1e-3, "gone": false, "version": 1])
        round2.append(["id": 21, "label": "deleted before it existed", "gone": true, "version": 1])
        try ws.write("syncs.d/data/rows.ndjson", ndjson(round2))
        let plan = try ws.run("plan", "--out", "plan.json")
        #expect(plan.status == 0, "\(plan)")
        let planFile = try Self.planJSON(ws)
        #expect(try Self.syncPlan(planFile, "inline")["strategy"] as? String == "inline")
        #expect(try Self.syncPlan(planFile, "staged")["strategy"] as? String == "staged")
        let apply = try ws.run("apply", "plan.json")
        #expect(apply.status == 0, "\(apply)")

        var expected: [[String?]] = []
        for id in 1...12 where id != 3 {
            if id == 4 {
                expected.append(["4", "r3 4", "4.5", "2027-01-01", "false", "3"])
            } else if id % 2 == 0 {
                expected.append([
                    String(id), "r2 \(id)", String(format: "%g", -Double(id)), "2026-02-\(10 + id)", "false", "2",
                ])
            } else {
                expected.append([
                    String(id), "r1 \(id)", String(format: "%g", Double(id) / 4), "2025-01-\(10 + id)", "false", "1",
                ])
            }
        }
        expected.append(["20", "new 20", "0.001", nil, "false", "1"])
        for strategy in ["inline", "staged", "auto"] {
            let rows = try ws.rows("t_\(strategy)", orderBy: "id").map { row in
                // FLOAT64 as a number, whatever the emulator's spelling (e.g. "-2.0" or "-2").
                row.enumerated().map {
                    $0.offset == 2 ? $0.element.flatMap(Double.init).map { String(format: "%g", $0) } : $0.element
                }
            }
            #expect(rows == expected, "strategy \(strategy)")
        }
        // No staging table (in the target's dataset, so in its location) is left behind.
        let staging = try ws.query(
            "SELECT table_name FROM `\(ws.table("INFORMATION_SCHEMA.TABLES"))` WHERE table_name LIKE 'bqsync_stage_%'")
        #expect(staging.isEmpty, "staging tables left: \(staging)")
    }
}
