import Foundation
import SyncTestSupport
import Testing

/// Incremental query and gcs sources, whose rows BigQuery reads: the window goes into the staged query's SELECT
/// (filtered at the source, as typed query parameters) or into the profile and the MERGE from loaded files; the
/// profile step finds the window's end, which the apply keeps as the watermark. Through the contract model
/// (Tests/BigQueryModel), which stands in for the files, over the emulator's data.
@Suite struct IncrementalQueryTests {
    static let schema = [
        "{name: id, type: INT64, mode: REQUIRED}", "{name: v, type: STRING}", "{name: updated_at, type: TIMESTAMP}",
    ]
    static let fields: [[String: String]] = [
        ["name": "id", "type": "INT64", "mode": "NULLABLE"], ["name": "v", "type": "STRING", "mode": "NULLABLE"],
        ["name": "updated_at", "type": "TIMESTAMP", "mode": "NULLABLE"],
    ]

    static func row(_ id: Int, _ v: String, _ at: String) -> [String: Any] {
        ["id": id, "v": v, "updated_at": at]
    }

    /// A sync named `s` with `incremental` under `source`.
    static func definition(_ ws: Workspace, source: String, incremental: String, strategy: String = "auto") -> String {
        EndToEndTests.sync(
            "s", source: source + "\n" + incremental, table: ws.table("t"), schema: schema, keys: ["id"],
            strategy: strategy)
    }

    static func plan(_ ws: Workspace, _ proxy: FaultProxy) throws -> [String: Any] {
        let planned = try ws.run(["plan", "--out", "plan.json"], environment: proxy.holdingEnvironment)
        try #require(planned.status == 0, "\(planned)")
        return try EndToEndTests.syncPlan(EndToEndTests.planJSON(ws), "s")
    }

    static func apply(_ ws: Workspace, _ proxy: FaultProxy) throws -> RunResult {
        let applied = try ws.run(["apply", "plan.json"], environment: proxy.holdingEnvironment)
        #expect(applied.status == 0, "\(applied)\n\(proxy.stderr)")
        return applied
    }

    static func watermark(_ ws: Workspace, _ proxy: FaultProxy) throws -> String? {
        let status = try ws.run(["status", "--format", "json", "s"], environment: proxy.holdingEnvironment)
        let runs = try #require(try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [[String: Any]])
        return runs.first?["watermark"] as? String
    }

    @Test("a query source's second run stages only the rows past the watermark, filtered in the query itself")
    func querySourceReadsOnlyTheWindow() throws {
        let ws = try Workspace("incr_query")
        let proxy = try FaultProxy(upstream: ws.host)
        try proxy.createTable(dataset: ws.dataset, table: "src", fields: Self.fields)
        let source = ws.table("src")
        _ = try ws.query(
            "INSERT INTO `\(source)` (id, v, updated_at) VALUES (1, 'a', TIMESTAMP '2026-03-01 10:00:00+00'), "
                + "(2, 'b', TIMESTAMP '2026-03-01 11:00:00+00'), (3, 'c', TIMESTAMP '2026-03-01 12:00:00+00')")
        try ws.write(
            "syncs.d/s.yaml",
            Self.definition(
                ws, source: "type: query\nquery: SELECT id, v, updated_at FROM `\(source)`",
                incremental: "incremental: {cursor: updated_at}"))
        let first = try Self.plan(ws, proxy)
        #expect((first["window"] as? [String: Any])?["after"] == nil, "a first run reads every row")
        _ = try Self.apply(ws, proxy)
        #expect(try Self.watermark(ws, proxy) == "2026-03-01 12:00:00+00", "the largest cursor merged")

        _ = try ws.query(
            "UPDATE `\(source)` SET v = 'b2', updated_at = TIMESTAMP '2026-03-02 09:00:00+00' WHERE id = 2")
        _ = try ws.query(
            "INSERT INTO `\(source)` (id, v, updated_at) VALUES (4, 'd', TIMESTAMP '2026-03-02 10:00:00+00')")
        let second = try Self.plan(ws, proxy)
        let window = try #require(second["window"] as? [String: Any])
        #expect(window["after"] as? String == "2026-03-01 12:00:00+00")
        let steps = try #require(second["steps"] as? [[String: Any]])
        let stage = try #require(steps.first { $0["kind"] as? String == "stage_query" })
        #expect((stage["sql"] as? String)?.contains("> @bqsync_after") == true, "filtered in the query: \(stage)")
        let parameters = try #require(stage["parameters"] as? [[String: Any]])
        #expect(parameters.first?["type"] as? String == "TIMESTAMP")
        let applied = try Self.apply(ws, proxy)
        #expect(applied.stderr.contains("apply s: profile done, 2 rows"), "only the window was staged: \(applied)")
        #expect(
            try ws.rows("t", orderBy: "id", columns: "id, v") == [["1", "a"], ["2", "b2"], ["3", "c"], ["4", "d"]])
        #expect(try Self.watermark(ws, proxy) == "2026-03-02 10:00:00+00")

        // Nothing new: the window is empty, the watermark stays.
        _ = try Self.plan(ws, proxy)
        let idle = try Self.apply(ws, proxy)
        #expect(idle.stderr.contains("nothing to merge"), "\(idle)")
        #expect(try Self.watermark(ws, proxy) == "2026-03-02 10:00:00+00")
    }

    @Test("an incremental query source under batch.strategy: inline is refused at plan time")
    func inlineIncrementalQueryIsRefused() throws {
        let ws = try Workspace("incr_query_inline")
        try ws.write(
            "syncs.d/s.yaml",
            Self.definition(
                ws, source: "type: query\nquery: SELECT 1 AS id, 'a' AS v, CURRENT_TIMESTAMP() AS updated_at",
                incremental: "incremental: {cursor: updated_at}", strategy: "inline"))
        let planned = try ws.run(["plan"])
        #expect(planned.status == 1, "\(planned)")
        #expect(planned.stderr.contains("an incremental query source is staged"), "\(planned)")
        #expect(planned.stderr.contains("s.yaml:"), "at the definition: \(planned)")
    }

    @Test("a gcs source's files are loaded whole; the profile and the MERGE keep the window, from initial on")
    func gcsSourceMergesOnlyTheWindow() throws {
        let ws = try Workspace("incr_gcs")
        let proxy = try FaultProxy(upstream: ws.host)
        let uri = "gs://bqsync-test-exports/incr/\(ws.dataset)/*.parquet"
        try proxy.registerFiles(
            uri: uri, schema: Self.fields,
            rows: [
                Self.row(1, "old", "2025-12-31 23:00:00+00"), Self.row(2, "a", "2026-01-01 10:00:00+00"),
                Self.row(3, "b", "2026-01-01 11:00:00+00"),
            ])
        try ws.write(
            "syncs.d/s.yaml",
            Self.definition(
                ws, source: "type: gcs\nuris: [\"\(uri)\"]\nformat: PARQUET",
                incremental: "incremental: {cursor: updated_at, initial: \"2026-01-01T00:00:00Z\"}"))
        let first = try Self.plan(ws, proxy)
        #expect((first["window"] as? [String: Any])?["from"] as? String == "2026-01-01 00:00:00+00")
        _ = try Self.apply(ws, proxy)
        #expect(
            try ws.rows("t", orderBy: "id", columns: "id, v") == [["2", "a"], ["3", "b"]], "before initial: left")
        #expect(try Self.watermark(ws, proxy) == "2026-01-01 11:00:00+00")

        // The export grows: one row changes, one is new, the rest are as before.
        try proxy.registerFiles(
            uri: uri, schema: Self.fields,
            rows: [
                Self.row(1, "old", "2025-12-31 23:00:00+00"), Self.row(2, "a", "2026-01-01 10:00:00+00"),
                Self.row(3, "b2", "2026-01-02 08:00:00+00"), Self.row(4, "c", "2026-01-02 09:00:00+00"),
            ])
        let second = try Self.plan(ws, proxy)
        #expect((second["window"] as? [String: Any])?["after"] as? String == "2026-01-01 11:00:00+00")
        let applied = try Self.apply(ws, proxy)
        #expect(applied.stderr.contains("apply s: profile done, 2 rows"), "the profile counts the window: \(applied)")
        #expect(try ws.rows("t", orderBy: "id", columns: "id, v") == [["2", "a"], ["3", "b2"], ["4", "c"]])
        #expect(try Self.watermark(ws, proxy) == "2026-01-02 09:00:00+00")
    }
}
