import BigQuery
import Foundation
import HTTP
import Logging
import SyncTestSupport
import Testing

/// The client against the local emulator: real HTTP through libcurl, real SQL.
@Suite(.serialized) struct EmulatorClientTests {
    static let project = "bqsync-client-tests"

    func client(pageSize: Int = 10_000) throws -> BigQueryClient {
        var configuration = try ClientConfiguration.resolve(
            endpoint: nil, project: Self.project,
            environment: ["BIGQUERY_EMULATOR_HOST": try Emulator.host()])
        configuration.pageSize = pageSize
        let transport = CurlTransport()
        return BigQueryClient(
            configuration: configuration, transport: transport,
            authenticator: Authenticator(source: .none, transport: transport),
            budgets: [Budget(name: "default", limits: .defaults, retry: .defaults, cache: true)],
            protectedTables: [], breaker: .defaults, logger: .quiet)
    }

    func dataset(_ client: BigQueryClient) async throws -> String {
        let name = Emulator.uniqueName("client")
        let (_, created) = try await client.createDataset(
            DatasetResource(projectId: Self.project, datasetId: name, location: nil))
        #expect(created)
        let (_, again) = try await client.createDataset(
            DatasetResource(projectId: Self.project, datasetId: name, location: nil))
        #expect(!again, "a second insert of the same dataset is an existing one, not an error")
        return name
    }

    static let schema = [
        FieldSchema(name: "id", type: "INT64", mode: "REQUIRED"), FieldSchema(name: "name", type: "STRING"),
        FieldSchema(name: "score", type: "FLOAT64"),
    ]

    @Test func datasetAndTableLifecycle() async throws {
        let client = try client()
        let dataset = try await dataset(client)
        let reference = try TableReference(projectId: Self.project, datasetId: dataset, tableId: "t")
        #expect(try await client.getTable(reference) == nil)
        _ = try await client.createTable(TableResource(reference: reference, schema: Self.schema))
        let table = try #require(try await client.getTable(reference))
        #expect(table.fields.map(\.name) == ["id", "name", "score"])
        try await client.deleteTable(reference)
        #expect(try await client.getTable(reference) == nil)
        try await client.deleteTable(reference)  // deleting what is gone is not an error
    }

    @Test func loadFromAnUploadThenMergeAnArrayOfStructsThenPage() async throws {
        let client = try client(pageSize: 7)
        let dataset = try await dataset(client)
        let reference = try TableReference(projectId: Self.project, datasetId: dataset, tableId: "people")
        _ = try await client.createTable(TableResource(reference: reference, schema: Self.schema))

        let path = NSTemporaryDirectory() + Emulator.uniqueName("load") + ".ndjson"
        let lines =
            (1...20).map { #"{"id": \#($0), "name": "n\#($0)", "score": \#(Double($0) / 2)}"# }.joined(separator: "\n")
            + "\n"
        try Data(lines.utf8).write(to: URL(fileURLWithPath: path))
        defer { unlink(path) }
        let loaded = try await client.load(
            LoadJob(destination: reference, source: .upload(path: path), format: "NEWLINE_DELIMITED_JSON"))
        #expect(loaded.statementType == "LOAD")

        // Update 2 rows and insert 1 from an ARRAY<STRUCT> parameter, with a quote, a backtick and SQL in a value.
        let rows: [(Int, String)] = [(3, "it's `x`; DROP TABLE t --"), (4, "ünïcødé"), (21, "new")]
        let type = ParameterType.array(
            .structure([.init(name: "id", type: .scalar("INT64")), .init(name: "name", type: .scalar("STRING"))]))
        let value = ParameterValue.array(
            rows.map { .structure([("id", .scalar(String($0.0))), ("name", .scalar($0.1))]) })
        let merge = """
            MERGE \(reference.sql) AS T
            USING (SELECT r.`id` AS `id`, r.`name` AS `name` FROM UNNEST(@rows) AS r) AS S
            ON T.`id` = S.`id`
            WHEN MATCHED THEN UPDATE SET `name` = S.`name`
            WHEN NOT MATCHED THEN INSERT (`id`, `name`) VALUES (S.`id`, S.`name`)
            """
        let merged = try await client.query(
            QueryJob(
                sql: merge, parameters: [QueryParameter(name: "rows", type: type, value: value)],
                jobId: Emulator.uniqueName("bqsync_merge"), reads: [reference], writes: reference))
        #expect(merged.outcome.affectedRows == 3)

        let select = try await client.query(
            QueryJob(sql: "SELECT `id`, `name` FROM \(reference.sql) ORDER BY `id`", reads: [reference]))
        #expect(select.rows.count == 21, "21 rows read back through pages of 7")
        let names = Dictionary(
            uniqueKeysWithValues: select.rows.map { row -> (String, String) in
                guard case .string(let id) = row[0], case .string(let name) = row[1] else { return ("?", "?") }
                return (id, name)
            })
        #expect(names["3"] == rows[0].1)
        #expect(names["4"] == rows[1].1)
        #expect(names["21"] == "new")
        #expect(names["20"] == "n20")
    }

    @Test func badSQLIsAClearErrorNotASuccess() async throws {
        let client = try client()
        await #expect(throws: BigQueryError.self) {
            _ = try await client.query(QueryJob(sql: "SELEC nonsense FROM nowhere"))
        }
    }
}
