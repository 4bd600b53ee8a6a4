import Foundation
import SyncTestSupport
import Testing

/// A target with `requirePartitionFilter`, through the fault proxy's contract model, which refuses (as BigQuery
/// does, dry runs included) a statement on it without a filter on its partition column (docs/bigquery.md,
/// "Partition filters"). The emulator ignores the option.
@Suite struct PartitionFilterTests {
    static let schema = [
        "{name: id, type: INT64, mode: REQUIRED}", "{name: day, type: DATE, mode: REQUIRED}", "{name: v, type: STRING}",
    ]

    /// Creates `t`, partitioned by `day` and requiring a partition filter, through the proxy (so its model knows).
    static func createTarget(_ ws: Workspace, through proxy: FaultProxy) throws {
        try proxy.createTable(
            dataset: ws.dataset, table: "t",
            fields: [
                ["name": "id", "type": "INT64", "mode": "REQUIRED"],
                ["name": "day", "type": "DATE", "mode": "REQUIRED"],
                ["name": "v", "type": "STRING", "mode": "NULLABLE"],
            ],
            options: ["timePartitioning": ["type": "DAY", "field": "day"], "requirePartitionFilter": true])
    }

    static func workspace(_ prefix: String, keys: [String], strategy: String, proxy: (Workspace) throws -> FaultProxy)
        throws -> (Workspace, FaultProxy)
    {
        let ws = try Workspace(prefix)
        let server = try proxy(ws)
        try createTarget(ws, through: server)
        try ws.write(
            "syncs.d/p.yaml",
            EndToEndTests.sync(
                "p", source: "type: ndjson\npath: data/p.ndjson", table: ws.table("t"), schema: schema,
                keys: keys, batch: 2, strategy: strategy, create: false))
        try ws.write(
            "syncs.d/data/p.ndjson",
            """
            {"id": 1, "day": "2026-01-02", "v": "a"}
            {"id": 2, "day": "2026-01-05", "v": "b"}
            {"id": 3, "day": "2026-02-01", "v": "c"}

            """)
        return (ws, server)
    }

    /// Inline batches carry their own rows' range; the staged MERGE the range of all rows.
    @Test(arguments: ["inline", "auto", "staged"])
    func everyMergeCarriesTheFilterWhenThePartitionColumnIsAKey(strategy: String) throws {
        let (ws, proxy) = try Self.workspace("pfilter_\(strategy)", keys: ["id", "day"], strategy: strategy) {
            try FaultProxy(upstream: $0.host)
        }
        let planned = try ws.run(["plan", "--out", "plan.json"], environment: proxy.holdingEnvironment)
        #expect(planned.status == 0, "\(planned)")
        let applied = try ws.run(
            ["--log-level", "debug", "--log-format", "json", "apply", "plan.json"],
            environment: proxy.holdingEnvironment)
        #expect(applied.status == 0, "\(applied)")
        #expect(try ws.rows("t", orderBy: "id", columns: "id, v") == [["1", "a"], ["2", "b"], ["3", "c"]])
        #expect(try proxy.stats().partitionFilterRefusals.isEmpty)
        let merges = try proxy.stats().log.filter { $0.statement == "MERGE" && !$0.dry }
        #expect(!merges.isEmpty)
    }

    /// With `day` not a key, a row could match in any partition: no MERGE can carry a range.
    @Test(arguments: [("staged", ["id"]), ("inline", ["id"])])
    func aMergeThatCannotCarryTheFilterIsRefusedAtPlanTime(strategy: String, keys: [String]) throws {
        let (ws, proxy) = try Self.workspace("pfilter_no_\(strategy)", keys: keys, strategy: strategy) {
            try FaultProxy(upstream: $0.host)
        }
        let planned = try ws.run(
            ["--log-level", "debug", "--log-format", "json", "plan"], environment: proxy.holdingEnvironment)
        #expect(planned.status == 1, "\(planned)")
        #expect(planned.stderr.contains("p.yaml:"), "at the sync's line: \(planned)")
        #expect(
            planned.stderr.contains("requires a filter on its partition column 'day' (requirePartitionFilter)"),
            "\(planned)")
        #expect(
            try proxy.stats().log.allSatisfy { !($0.method == "POST" && $0.path.hasSuffix("/jobs")) },
            "not even a dry run was sent")
    }
}
