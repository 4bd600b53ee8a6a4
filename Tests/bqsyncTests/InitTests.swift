import Foundation
import SyncTestSupport
import Testing

/// `bqsync init`: a definition from a data file's sample or from a table's schema, which `validate` accepts but
/// for its marked TODOs, and never written over an existing file.
@Suite("init")
struct InitTests {
    static var rows: [[String: Any]] {
        [
            [
                "id": 1, "email": "ann@example.com", "score": 1.5, "active": true, "born": "1990-02-03",
                "seen_at": "2024-01-02T10:00:00Z", "attrs": ["tier": "gold"], "note": NSNull(),
            ],
            [
                "id": 2, "email": NSNull(), "score": 2, "active": false, "born": "1991-04-05",
                "seen_at": "2024-01-03 11:30:00", "attrs": ["x", "y"],
            ],
        ]
    }

    /// The errors `validate` reports, as `line: message`.
    static func errors(_ result: RunResult) -> [String] {
        result.stdout.split(separator: "\n").compactMap { line in
            guard let range = line.range(of: ": error: ") else { return nil }
            let location = line[..<range.lowerBound].split(separator: ":")
            return location.count >= 3 ? "\(location[1]): \(line[range.upperBound...])" : nil
        }
    }

    @Test("from an NDJSON file: types and modes inferred; validate fails only on the TODOs; filled in, it applies")
    func fromNDJSON() throws {
        let workspace = try Workspace("init")
        try workspace.write("syncs.d/data/people.ndjson", ndjson(Self.rows))
        let result = try workspace.run("init", "people", "--from-file", "syncs.d/data/people.ndjson")
        #expect(result.status == 0, "\(result)")
        #expect(result.stdout.contains("fill in the TODO of target.table and merge.keys"), "\(result)")
        let text = try workspace.read("syncs.d/people.yaml")
        for line in [
            "  path: \"data/people.ndjson\"", "    - {name: id, type: INT64, mode: REQUIRED}",
            "    - {name: email, type: STRING}", "    - {name: score, type: FLOAT64, mode: REQUIRED}",
            "    - {name: active, type: BOOL, mode: REQUIRED}", "    - {name: born, type: DATE, mode: REQUIRED}",
            "    - {name: seen_at, type: TIMESTAMP, mode: REQUIRED}", "    - {name: attrs, type: JSON, mode: REQUIRED}",
            "    - {name: note, type: STRING}", "  create_if_missing: true",
        ] {
            #expect(text.contains(line + "\n"), "missing \(line) in\n\(text)")
        }
        // validate reports exactly the two TODOs, each at its own line.
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        let tableLine = try #require(lines.firstIndex { $0.hasPrefix("  table: ") }) + 1
        let keysLine = try #require(lines.firstIndex { $0.hasPrefix("  keys: ") }) + 1
        let validate = try workspace.run("validate")
        #expect(validate.status == 1)
        #expect(
            Self.errors(validate) == [
                "\(tableLine): 'target.table' is still the TODO 'bqsync init' left: name the table to write",
                "\(keysLine): 'merge.keys' is still the TODO 'bqsync init' left: list the columns that identify a row",
            ], "\(validate)")
        // Filled in, the definition is complete: validate passes and the rows land.
        let filled = text.replacingOccurrences(of: "TODO_dataset.TODO_table", with: workspace.table("people"))
            .replacingOccurrences(of: "[TODO_choose_merge_keys]", with: "[id]")
        try FileManager.default.removeItem(atPath: workspace.path("syncs.d/people.yaml"))
        try workspace.write("syncs.d/people.yaml", filled)
        let valid = try workspace.run("validate")
        #expect(valid.status == 0, "\(valid)")
        let apply = try workspace.run("apply", "people", "--auto-approve")
        #expect(apply.status == 0, "\(apply)")
        let landed = try workspace.rows("people", orderBy: "id", columns: "id, email, active, born")
        #expect(landed == [["1", "ann@example.com", "true", "1990-02-03"], ["2", nil, "false", "1991-04-05"]])
    }

    @Test("from a CSV file, with --table: only the merge keys are a TODO")
    func fromCSV() throws {
        let workspace = try Workspace("init")
        try workspace.write(
            "exports/orders.csv",
            "order_id,customer,amount,paid,placed_on,placed_at\n"
                + "10,\"Smith, Ann\",12.50,true,2024-03-01,2024-03-01T09:00:00Z\n"
                + "11,,7,false,2024-03-02,2024-03-02T10:15:00.5Z\n")
        let result = try workspace.run(
            "init", "orders", "--from-file", workspace.path("exports/orders.csv"), "--table", "shop.orders")
        #expect(result.status == 0, "\(result)")
        let text = try workspace.read("syncs.d/orders.yaml")
        for line in [
            "  type: csv", "  path: \"../exports/orders.csv\"", "  table: shop.orders",
            "    - {name: order_id, type: INT64, mode: REQUIRED}", "    - {name: customer, type: STRING}",
            "    - {name: amount, type: FLOAT64, mode: REQUIRED}", "    - {name: paid, type: BOOL, mode: REQUIRED}",
            "    - {name: placed_on, type: DATE, mode: REQUIRED}",
            "    - {name: placed_at, type: TIMESTAMP, mode: REQUIRED}",
        ] {
            #expect(text.contains(line + "\n"), "missing \(line) in\n\(text)")
        }
        let validate = try workspace.run("validate")
        #expect(validate.status == 1)
        let errors = Self.errors(validate)
        #expect(errors.count == 1 && errors.first?.contains("'merge.keys' is still the TODO") == true, "\(validate)")
    }

    @Test("an existing file is never overwritten: exit 1, it says so, the file is unchanged")
    func refusesOverwrite() throws {
        let workspace = try Workspace("init")
        try workspace.write("rows.ndjson", ndjson([["id": 1]]))
        try workspace.write("syncs.d/mine.yaml", "# mine\n")
        let result = try workspace.run("init", "mine", "--from-file", workspace.path("rows.ndjson"))
        #expect(result.status == 1, "\(result)")
        #expect(result.stderr.contains("mine.yaml exists; bqsync init never overwrites a file"), "\(result)")
        #expect(try workspace.read("syncs.d/mine.yaml") == "# mine\n")
        // Neither a name that is not one, nor no source at all, writes anything (usage errors).
        #expect(try workspace.run("init", "my sync", "--from-file", "rows.ndjson").status == 64)
        #expect(try workspace.run("init", "other").status == 64)
        #expect(!FileManager.default.fileExists(atPath: workspace.path("syncs.d/other.yaml")))
    }

    @Test("from a table (tables.get against the emulator): its columns; no primary key kept there, so a TODO")
    func fromTable() throws {
        let workspace = try Workspace("init")
        let host = workspace.host
        let project = E2E.project
        let dataset = try JSONSerialization.data(withJSONObject: [
            "datasetReference": ["projectId": project, "datasetId": workspace.dataset]
        ])
        #expect(try Curl.call("POST", host + "/bigquery/v2/projects/\(project)/datasets", json: dataset).status == 200)
        let table = try JSONSerialization.data(withJSONObject: [
            "tableReference": ["projectId": project, "datasetId": workspace.dataset, "tableId": "accounts"],
            "schema": [
                "fields": [
                    ["name": "account_id", "type": "INTEGER", "mode": "REQUIRED"],
                    ["name": "owner", "type": "STRING", "description": "who \"owns\" it"],
                    ["name": "opened", "type": "DATE"], ["name": "labels", "type": "STRING", "mode": "REPEATED"],
                ]
            ],
            "tableConstraints": ["primaryKey": ["columns": ["account_id"]]],
        ])
        let created = try Curl.call(
            "POST", host + "/bigquery/v2/projects/\(project)/datasets/\(workspace.dataset)/tables", json: table)
        #expect(created.status == 200)
        let kept = String(decoding: created.body, as: UTF8.self).contains("tableConstraints")
        let result = try workspace.run("init", "accounts", "--from-table", workspace.table("accounts"))
        #expect(result.status == 0, "\(result)")
        #expect(result.stderr.contains("column 'labels'"), "\(result)")
        let text = try workspace.read("syncs.d/accounts.yaml")
        for line in [
            "  table: \(workspace.table("accounts"))", "    - {name: account_id, type: INT64, mode: REQUIRED}",
            "    - {name: owner, type: STRING, description: \"who \\\"owns\\\" it\"}",
            "    - {name: opened, type: DATE}",
        ] {
            #expect(text.contains(line + "\n"), "missing \(line) in\n\(text)")
        }
        #expect(!text.contains("create_if_missing"))
        let validate = try workspace.run("validate")
        if kept {
            // A BigQuery that keeps the declared primary key: the keys come from it (unit-tested in ScaffoldTests).
            #expect(text.contains("  keys: [account_id]\n"))
            #expect(validate.status == 0, "\(validate)")
        } else {
            // The emulator does not keep tableConstraints: the keys are the TODO, which validate reports alone.
            let errors = Self.errors(validate)
            #expect(
                errors.count == 1 && errors.first?.contains("'merge.keys' is still the TODO") == true, "\(validate)")
        }
        // A missing table is an error that names it.
        let missing = try workspace.run("init", "nothing", "--from-table", workspace.table("nothing"))
        #expect(missing.status == 1 && missing.stderr.contains("does not exist"), "\(missing)")
    }
}
