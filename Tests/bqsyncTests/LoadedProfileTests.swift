import Foundation
import SyncTestSupport
import Testing

/// gcs syncs whose rows are known only once loaded: the profile step (one priced SELECT over the staging table)
/// counts the rows with a NULL merge key, which the MERGE drops, and finds the days the loaded partition values
/// span, which the MERGE of a `requirePartitionFilter` target is limited to with constant literals
/// (docs/bigquery.md, "Partition filters"). Through the contract model (Tests/BigQueryModel), which stands in for
/// the files and refuses, as BigQuery does, a statement on such a target without a partition filter.
@Suite struct LoadedProfileTests {
    static let uri = "gs://bqsync-test-exports/events/*.parquet"
    static let schema = [
        "{name: id, type: INT64}", "{name: day, type: DATE, mode: REQUIRED}", "{name: v, type: STRING}",
    ]
    static let files: [[String: String]] = [
        ["name": "id", "type": "INT64", "mode": "NULLABLE"], ["name": "day", "type": "DATE", "mode": "REQUIRED"],
        ["name": "v", "type": "STRING", "mode": "NULLABLE"],
    ]
    /// Three rows with a key, one of them twice (the later wins), and one with a NULL id.
    static var rows: [[String: Any]] {
        [
            ["id": 1, "day": "2026-01-02", "v": "a"], ["id": 2, "day": "2026-01-05", "v": "b"],
            ["id": NSNull(), "day": "2026-01-07", "v": "orphan"], ["id": 3, "day": "2026-02-01", "v": "c"],
        ]
    }

    /// The target `t`, day-partitioned, created through the proxy so its model knows what it requires.
    static func createTarget(_ ws: Workspace, through proxy: FaultProxy, requireFilter: Bool) throws {
        try proxy.createTable(
            dataset: ws.dataset, table: "t", fields: files,
            options: ["timePartitioning": ["type": "DAY", "field": "day"], "requirePartitionFilter": requireFilter])
    }

    static func setUp(_ prefix: String, keys: [String], requireFilter: Bool) throws -> (Workspace, FaultProxy) {
        let ws = try Workspace(prefix)
        let proxy = try FaultProxy(upstream: ws.host)
        try proxy.registerFiles(uri: uri, schema: files, rows: rows)
        try createTarget(ws, through: proxy, requireFilter: requireFilter)
        try ws.write(
            "syncs.d/events.yaml",
            EndToEndTests.sync(
                "events", source: "type: gcs\nuris: [\"\(uri)\"]\nformat: PARQUET", table: ws.table("t"),
                schema: schema, keys: keys, create: false))
        return (ws, proxy)
    }

    static func planAndApply(_ ws: Workspace, _ proxy: FaultProxy) throws -> (plan: RunResult, apply: RunResult) {
        let planned = try ws.run(["plan", "--out", "plan.json"], environment: proxy.holdingEnvironment)
        let applied = try ws.run(
            ["--log-level", "debug", "--log-format", "json", "apply", "--format", "json", "plan.json"],
            environment: proxy.holdingEnvironment)
        return (planned, applied)
    }

    /// The apply's JSON summary of the one sync.
    static func summary(_ applied: RunResult) throws -> [String: Any] {
        let list = try #require(try JSONSerialization.jsonObject(with: Data(applied.stdout.utf8)) as? [[String: Any]])
        return try #require(list.first)
    }

    @Test("a requirePartitionFilter target's gcs MERGE is limited to the loaded days, and BigQuery's rule holds")
    func requirePartitionFilterTargetMergesTheLoadedRange() throws {
        let (ws, proxy) = try Self.setUp("profile_pfilter", keys: ["id", "day"], requireFilter: true)
        let (planned, applied) = try Self.planAndApply(ws, proxy)
        #expect(planned.status == 0, "planned, not refused: \(planned)")
        #expect(applied.status == 0, "\(applied)\n\(proxy.stderr)")
        #expect(
            try ws.rows("t", orderBy: "id", columns: "id, v") == [["1", "a"], ["2", "b"], ["3", "c"]],
            "the NULL-key row is not inserted")
        #expect(try proxy.stats().partitionFilterRefusals.isEmpty, "every statement carried the partition filter")
        let merges = try proxy.stats().log.filter { $0.statement == "MERGE" && !$0.dry }
        #expect(merges.count == 1)
        let plan = try String(contentsOfFile: ws.path("plan.json"), encoding: .utf8)
        #expect(
            plan.contains("\"kind\" : \"profile\"") || plan.contains("\"kind\":\"profile\""), "the plan shows the step")
    }

    @Test("the rows with a NULL merge key are counted in the summary, and a re-run inserts them no more")
    func nullKeyRowsAreCountedNotInserted() throws {
        let (ws, proxy) = try Self.setUp("profile_nullkeys", keys: ["id"], requireFilter: false)
        let (planned, applied) = try Self.planAndApply(ws, proxy)
        #expect(planned.status == 0, "\(planned)")
        #expect(applied.status == 0, "\(applied)\n\(proxy.stderr)")
        #expect(try Self.summary(applied)["null_key_rows"] as? Int == 1, "\(applied.stdout)")
        #expect(
            applied.stderr.contains("1 of the 4 staged rows have a NULL merge key (id) and are skipped"), "\(applied)")
        let again = try Self.planAndApply(ws, proxy)
        #expect(again.apply.status == 0, "\(again.apply)")
        #expect(try ws.rows("t", orderBy: "id", columns: "id, v") == [["1", "a"], ["2", "b"], ["3", "c"]])
    }

    @Test("files with no row that has a key merge nothing: the MERGE of a pruned target is not sent")
    func noKeyedRowSendsNoMerge() throws {
        let ws = try Workspace("profile_empty")
        let proxy = try FaultProxy(upstream: ws.host)
        try proxy.registerFiles(uri: Self.uri, schema: Self.files, rows: [["id": NSNull(), "day": "2026-01-07"]])
        try Self.createTarget(ws, through: proxy, requireFilter: true)
        try ws.write(
            "syncs.d/events.yaml",
            EndToEndTests.sync(
                "events", source: "type: gcs\nuris: [\"\(Self.uri)\"]\nformat: PARQUET", table: ws.table("t"),
                schema: Self.schema, keys: ["id", "day"], create: false))
        let (planned, applied) = try Self.planAndApply(ws, proxy)
        #expect(planned.status == 0, "\(planned)")
        #expect(applied.status == 0, "\(applied)\n\(proxy.stderr)")
        #expect(applied.stderr.contains("nothing to merge, the MERGE was not sent"), "\(applied)")
        #expect(try proxy.stats().log.allSatisfy { !($0.statement == "MERGE" && !$0.dry) })
        #expect(try ws.rows("t", orderBy: "id").isEmpty)
    }

    // MARK: - query sources, staged

    /// A source table `src` beside the target, holding `rows`, for a query source to read.
    static func createSource(_ ws: Workspace, through proxy: FaultProxy) throws {
        try proxy.createTable(dataset: ws.dataset, table: "src", fields: files)
        _ = try Curl.object(
            "POST", proxy.url + "/bigquery/v2/projects/\(E2E.project)/datasets/\(ws.dataset)/tables/src/insertAll",
            ["rows": rows.map { ["json": $0] }])
    }

    static func querySetUp(_ prefix: String, strategy: String, requireFilter: Bool) throws -> (Workspace, FaultProxy) {
        let ws = try Workspace(prefix)
        let proxy = try FaultProxy(upstream: ws.host)
        try createTarget(ws, through: proxy, requireFilter: requireFilter)
        try createSource(ws, through: proxy)
        try ws.write(
            "syncs.d/events.yaml",
            EndToEndTests.sync(
                "events", source: "type: query\nquery: SELECT id, day, v FROM `\(ws.table("src"))`",
                table: ws.table("t"), schema: schema, keys: ["id", "day"], strategy: strategy, create: false))
        return (ws, proxy)
    }

    @Test(
        "a query source into a requirePartitionFilter target is staged and profiled under auto, and its MERGE pruned",
        arguments: ["auto", "staged"])
    func stagedQueryIntoARequirePartitionFilterTarget(strategy: String) throws {
        let (ws, proxy) = try Self.querySetUp("profile_query_\(strategy)", strategy: strategy, requireFilter: true)
        let (planned, applied) = try Self.planAndApply(ws, proxy)
        #expect(planned.status == 0, "planned, not refused: \(planned)")
        #expect(applied.status == 0, "\(applied)\n\(proxy.stderr)")
        #expect(try Self.summary(applied)["null_key_rows"] as? Int == 1, "\(applied.stdout)")
        #expect(try ws.rows("t", orderBy: "id", columns: "id, v") == [["1", "a"], ["2", "b"], ["3", "c"]])
        #expect(try proxy.stats().partitionFilterRefusals.isEmpty, "every statement carried the partition filter")
        let statements = try proxy.stats().log.filter { !$0.dry }.compactMap(\.statement)
        #expect(statements.contains("CREATE_TABLE_AS_SELECT") || statements.contains("CREATE"), "\(statements)")
    }

    @Test("an inline query source into a requirePartitionFilter target is refused at plan time, nothing sent")
    func inlineQueryIntoARequirePartitionFilterTargetIsRefused() throws {
        let (ws, proxy) = try Self.querySetUp("profile_query_inline", strategy: "inline", requireFilter: true)
        let planned = try ws.run(["plan"], environment: proxy.holdingEnvironment)
        #expect(planned.status == 1, "\(planned)")
        #expect(planned.stderr.contains("an inline query MERGE reads the query itself"), "\(planned)")
        #expect(try proxy.stats().partitionFilterRefusals.isEmpty, "refused by bqsync, not by BigQuery")
    }

    // MARK: - merge.null_keys: refuse

    /// The sync's definition with `merge.null_keys: refuse`.
    static func refusingNullKeys(_ ws: Workspace) throws {
        let definition = try ws.read("syncs.d/events.yaml")
        try ws.write(
            "syncs.d/events.yaml",
            definition.replacingOccurrences(of: "  update: all\n", with: "  update: all\n  null_keys: refuse\n"))
    }

    @Test(
        "with merge.null_keys: refuse, a NULL key in the staged rows stops the apply before the MERGE",
        arguments: ["gcs", "query"])
    func refusedNullKeysStopBeforeTheMerge(source: String) throws {
        let (ws, proxy) =
            source == "gcs"
            ? try Self.setUp("profile_refuse_gcs", keys: ["id"], requireFilter: false)
            : try Self.querySetUp("profile_refuse_query", strategy: "auto", requireFilter: false)
        try Self.refusingNullKeys(ws)
        let (planned, applied) = try Self.planAndApply(ws, proxy)
        #expect(planned.status == 0, "\(planned)")
        #expect(applied.status == 3, "\(applied)")
        #expect(applied.stderr.contains("events.yaml:"), "at the definition: \(applied)")
        #expect(
            applied.stderr.contains("1 of the 4 staged rows have a NULL merge key, and merge.null_keys is refuse"),
            "\(applied)")
        #expect(try proxy.stats().log.allSatisfy { !($0.statement == "MERGE" && !$0.dry) }, "no MERGE was sent")
        #expect(try ws.rows("t", orderBy: "id").isEmpty)
    }

    @Test func refusingNullKeysOfAnInlineQueryIsADefinitionError() throws {
        let (ws, proxy) = try Self.querySetUp("profile_refuse_inline", strategy: "inline", requireFilter: false)
        try Self.refusingNullKeys(ws)
        let planned = try ws.run(["plan"], environment: proxy.holdingEnvironment)
        #expect(planned.status == 1, "\(planned)")
        #expect(planned.stderr.contains("merge.null_keys: refuse needs the query's rows staged"), "\(planned)")
    }
}
