import Foundation
import SyncTestSupport
import Testing

/// Issue 18, point 1: `plan --preview` counts per sync what its MERGEs would do to the target, by one read-only
/// query priced in the plan like any query (none runs when the plan passes a policy limit).
@Suite struct PreviewTests {
    static let schema = [
        "{name: id, type: INT64, mode: REQUIRED}", "{name: v, type: STRING}", "{name: deleted, type: BOOL}",
    ]

    /// Rows 1…3 applied; then the source keeps 1, changes 2, deletes 3, adds 4, and flags 5 (never there) deleted.
    static func workspace(_ prefix: String, policy: String = E2E.defaultPolicy) throws -> Workspace {
        let ws = try Workspace(prefix, policy: policy)
        try ws.write(
            "syncs.d/p.yaml",
            EndToEndTests.sync(
                "p", source: "type: ndjson\npath: data/p.ndjson", table: ws.table("p"), schema: schema, keys: ["id"],
                deleteWhen: "deleted", strategy: "inline"))
        try ws.write(
            "syncs.d/data/p.ndjson",
            (1...3).map { "{\"id\": \($0), \"v\": \"v\($0)\", \"deleted\": false}" }.joined(separator: "\n") + "\n")
        let applied = try ws.run("apply", "--auto-approve")
        #expect(applied.status == 0, "\(applied)")
        try ws.write(
            "syncs.d/data/p.ndjson",
            """
            {"id": 1, "v": "v1", "deleted": false}
            {"id": 2, "v": "changed", "deleted": false}
            {"id": 3, "v": "v3", "deleted": true}
            {"id": 4, "v": "new", "deleted": false}
            {"id": 5, "v": "never there", "deleted": true}

            """)
        return ws
    }

    @Test func thePreviewCountsInsertsUpdatesDeletesAndUnchangedRows() throws {
        let ws = try Self.workspace("preview_counts")
        let text = try ws.run("plan", "--preview")
        #expect(text.status == 0, "\(text)")
        #expect(text.stdout.contains("preview: +1 ~1 -1 =2 (inserted, updated, deleted, unchanged"), "\(text)")
        let markdown = try ws.run("plan", "--preview", "--format", "markdown")
        #expect(markdown.stdout.contains("preview: +1 ~1 -1 =2"), "\(markdown)")
        let json = try ws.run("plan", "--preview", "--format", "json")
        let plan = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        let sync = try #require((plan["syncs"] as? [[String: Any]])?.first)
        let preview = try #require(sync["preview"] as? [String: Any], "\(json.stdout)")
        #expect(preview["inserted"] as? Int == 1)
        #expect(preview["updated"] as? Int == 1)
        #expect(preview["deleted"] as? Int == 1)
        #expect(preview["unchanged"] as? Int == 2)
        #expect(preview["estimate"] != nil, "priced")
        // The preview changed nothing.
        #expect(try ws.rows("p", orderBy: "id", columns: "id, v") == [["1", "v1"], ["2", "v2"], ["3", "v3"]])
    }

    @Test func aPreviewThePolicyCannotAffordIsRefusedAndNotRun() throws {
        let policy = E2E.defaultPolicy.replacingOccurrences(of: "max_queries: 500", with: "max_queries: 1")
        let ws = try Self.workspace("preview_refused", policy: policy)
        let planned = try ws.run("--log-level", "info", "--log-format", "json", "plan", "--preview")
        #expect(planned.status == 3, "one MERGE and one preview pass max_queries: 1: \(planned)")
        #expect(planned.stderr.contains("session query limit: 2 queries planned"), "\(planned)")
        #expect(planned.stdout.contains("preview: not run: the plan passes a policy limit"), "\(planned)")
        let ran = planned.jobRecords.filter { $0["kind"] == "query" && $0["outcome"] == "done" }
        #expect(ran.isEmpty, "no preview query ran: \(ran)")
    }
}
