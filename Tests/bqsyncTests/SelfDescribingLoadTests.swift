import Foundation
import SyncTestSupport
import Testing

/// gcs syncs of Parquet and Avro files, through the contract model (Tests/BigQueryModel), which stands in for the
/// files the emulator cannot read: BigQuery takes their schema from the files, so bqsync sends the load no schema
/// of its own (an all-NULLABLE one clashes with the files' REQUIRED fields and fails the load), then checks what
/// landed in the staging table against the target before the MERGE. A mismatch is refused, naming the column,
/// and no MERGE runs.
@Suite struct SelfDescribingLoadTests {
    static let uri = "gs://bqsync-test-exports/people/*.parquet"
    static let schema = [
        "{name: id, type: INT64, mode: REQUIRED}", "{name: name, type: STRING}",
        "{name: updated_at, type: TIMESTAMP, mode: REQUIRED}",
    ]
    static let files: [[String: String]] = [
        ["name": "id", "type": "INT64", "mode": "REQUIRED"], ["name": "name", "type": "STRING", "mode": "NULLABLE"],
        ["name": "updated_at", "type": "TIMESTAMP", "mode": "REQUIRED"],
    ]
    static var rows: [[String: Any]] {
        [
            ["id": 1, "name": "ann", "updated_at": "2026-01-01T00:00:00Z"],
            ["id": 2, "name": "bob", "updated_at": "2026-01-01T00:00:00Z"],
            ["id": 2, "name": "bob, later", "updated_at": "2026-02-01T00:00:00Z"],
        ]
    }

    /// A workspace with one gcs sync of `format` files at `uri`, and a proxy whose model has `files` there.
    static func setUp(
        _ prefix: String, format: String, files: [[String: String]], rows: [[String: Any]] = rows,
        ignoreUnknown: Bool = false
    )
        throws -> (Workspace, FaultProxy)
    {
        let ws = try Workspace(prefix)
        let proxy = try FaultProxy(upstream: ws.host)
        try proxy.registerFiles(uri: uri, schema: files, rows: rows)
        var source = "type: gcs\nuris: [\"\(uri)\"]\nformat: \(format)"
        if ignoreUnknown { source += "\nignore_unknown_fields: true" }
        try ws.write(
            "syncs.d/people.yaml",
            EndToEndTests.sync(
                "people", source: source, table: ws.table("people"), schema: schema, keys: ["id"],
                orderBy: "updated_at"))
        return (ws, proxy)
    }

    static func apply(_ ws: Workspace, _ proxy: FaultProxy) throws -> RunResult {
        let planned = try ws.run(["plan", "--out", "plan.json"], environment: proxy.holdingEnvironment)
        #expect(planned.status == 0, "\(planned)")
        return try ws.run(
            ["--log-level", "debug", "--log-format", "json", "apply", "plan.json"],
            environment: proxy.holdingEnvironment)
    }

    @Test(
        "files whose own schema fits the target load without a schema from bqsync and merge",
        arguments: [
            "PARQUET", "AVRO",
        ])
    func filesThatFitMerge(format: String) throws {
        let (ws, proxy) = try Self.setUp("selfdesc_ok_\(format.lowercased())", format: format, files: Self.files)
        let applied = try Self.apply(ws, proxy)
        #expect(applied.status == 0, "\(applied)\n\(proxy.stderr)")
        #expect(try ws.rows("people", orderBy: "id", columns: "id, name") == [["1", "ann"], ["2", "bob, later"]])
        // The rows come only from the model's files: the load ran as BigQuery would, then the MERGE.
        #expect(try proxy.stats().log.contains { $0.statement == "MERGE" && !$0.dry }, "the MERGE ran")
    }

    /// Each way the files can differ from the target, and the column the refusal names.
    static let mismatches: [(files: [[String: String]], says: String)] = [
        (
            files.map { $0["name"] == "name" ? ["name": "name", "type": "INT64", "mode": "NULLABLE"] : $0 },
            "the files' column 'name' is INT64, the target's is STRING"
        ),
        (files.filter { $0["name"] != "name" }, "the files have no column 'name'"),
        (
            files + [["name": "nickname", "type": "STRING", "mode": "NULLABLE"]],
            "the files have column 'nickname', which is not a column of the target"
        ),
        (
            files.map { $0["name"] == "name" ? ["name": "name", "type": "STRING", "mode": "REPEATED"] : $0 },
            "the files' column 'name' is REPEATED"
        ),
    ]

    @Test("files that do not fit the target are refused, the column named, and no MERGE runs", arguments: 0..<4)
    func filesThatDoNotFitAreRefused(_ index: Int) throws {
        let (files, says) = Self.mismatches[index]
        // Files without rows: what is refused is their schema, whatever they hold.
        let (ws, proxy) = try Self.setUp("selfdesc_bad_\(index)", format: "PARQUET", files: files, rows: [])
        let applied = try Self.apply(ws, proxy)
        #expect(applied.status == 3, "\(applied)")
        #expect(applied.stderr.contains("people.yaml:"), "at the definition: \(applied)")
        #expect(applied.stderr.contains(says), "\(applied)")
        #expect(applied.stderr.contains("No MERGE was run; the target is unchanged"), "\(applied)")
        #expect(try proxy.stats().log.allSatisfy { !($0.statement == "MERGE" && !$0.dry) }, "no MERGE was sent")
        #expect(try ws.rows("people", orderBy: "id").isEmpty)
    }

    @Test("with ignore_unknown_fields, a column the target lacks is skipped")
    func unknownFieldsIgnored() throws {
        let files = Self.files + [["name": "nickname", "type": "STRING", "mode": "NULLABLE"]]
        let (ws, proxy) = try Self.setUp("selfdesc_extra", format: "AVRO", files: files, ignoreUnknown: true)
        let applied = try Self.apply(ws, proxy)
        #expect(applied.status == 0, "\(applied)")
        #expect(try ws.rows("people", orderBy: "id", columns: "id, name") == [["1", "ann"], ["2", "bob, later"]])
    }
}
