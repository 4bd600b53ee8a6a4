import Foundation
import SyncTestSupport
import Testing

/// Bytes billed as BigQuery bills them, through the contract model (Tests/BigQueryModel), which sizes tables and
/// bills each referenced table rounded up to a whole MB and at least 10 MB (docs/bigquery.md, "Billing"). The
/// emulator bills nothing, so only the model can show that a job's maximumBytesBilled is never below its bill.
@Suite struct BillingModelTests {
    static let mebibyte: Int64 = 1 << 20

    /// A staged MERGE reads its 15.5 MiB target and its small staging table: BigQuery bills 16 + 10 = 26 MiB,
    /// though the bytes processed round to 16. With exactly the dearest split's 27 MiB left in the session, the
    /// apply runs under a cap BigQuery's rounding cannot trip; a cap from the bytes processed (16 MiB) would fail
    /// the job with bytesBilledLimitExceeded.
    @Test func aStagedMergeAtTheEndOfTheBudgetIsBilledWithinItsCap() throws {
        let policy = E2E.defaultPolicy.replacingOccurrences(
            of: "max_bytes_billed: 5 GB", with: "max_bytes_billed: \(27 * Self.mebibyte)")
        let ws = try Workspace("billing_edge", policy: policy)
        let proxy = try FaultProxy(upstream: ws.host)
        try proxy.createTable(
            dataset: ws.dataset, table: "t",
            fields: [
                ["name": "id", "type": "INT64", "mode": "REQUIRED"],
                ["name": "v", "type": "STRING", "mode": "NULLABLE"],
            ])
        try proxy.declareSize(table: ws.table("t"), bytes: 31 * Self.mebibyte / 2)
        try ws.write(
            "syncs.d/t.yaml",
            EndToEndTests.sync(
                "t", source: "type: ndjson\npath: data/t.ndjson", table: ws.table("t"),
                schema: ["{name: id, type: INT64, mode: REQUIRED}", "{name: v, type: STRING}"], keys: ["id"],
                strategy: "staged", create: false))
        try ws.write("syncs.d/data/t.ndjson", "{\"id\": 1, \"v\": \"a\"}\n{\"id\": 2, \"v\": \"b\"}\n")
        let planned = try ws.run(["plan", "--out", "plan.json"], environment: proxy.holdingEnvironment)
        #expect(planned.status == 0, "the plan fits: \(planned)")
        let applied = try ws.run(
            ["--log-level", "info", "--log-format", "json", "apply", "plan.json"], environment: proxy.holdingEnvironment
        )
        #expect(applied.status == 0, "\(applied)\n\(proxy.stderr)")
        #expect(!applied.stderr.contains("bytesBilledLimitExceeded"), "\(applied)")
        let stats = try proxy.stats()
        let merges = stats.log.filter { $0.statement == "MERGE" && !$0.dry }.compactMap(\.job)
        #expect(merges.count == 1)
        #expect(merges.map { stats.billed[$0] } == [26 * Self.mebibyte], "billed as BigQuery bills: \(stats.billed)")
        // The rows, the apply's output and the proxy's log are in the message, so a failure says what the table
        // held (it once held the wrong rows: bqemulator's race, docs/bigquery.md).
        let rows = try ws.rows("t", orderBy: "id", columns: "id, v")
        #expect(rows == [["1", "a"], ["2", "b"]], "\(rows)\n\(applied)\n\(proxy.stderr)")
    }
}
