import BigQuery
import Foundation
import HTTP
import Logging
import SyncTestSupport
import Testing

/// The client against the local emulator: real HTTP through libcurl, real SQL.
@Suite(.serialized) struct EmulatorClientTests {
    static let project = "bqsync-client-tests"

    func client(pageSize: Int = 10_000, cache: Bool = true) throws -> BigQueryClient {
        var configuration = try ClientConfiguration.resolve(
            endpoint: nil, project: Self.project,
            environment: ["BIGQUERY_EMULATOR_HOST": try Emulator.host()])
        configuration.pageSize = pageSize
        let transport = CurlTransport()
        return BigQueryClient(
            configuration: configuration, transport: transport,
            authenticator: Authenticator(source: .none, transport: transport),
            budgets: [Budget(name: "default", limits: .defaults, retry: .defaults, cache: cache)],
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

    /// The test harness itself: bqemulator runs tabledata.list on a thread of its own over the DuckDB connection its
    /// query jobs use, and unpatched, the two swap results (a query answers the listed table's rows, no rows, or
    /// "'NoneType' object has no attribute 'schema'"). scripts/bqemulator-serial.py moves that handler onto the
    /// emulator's event loop; this proves it, since the suite's end-to-end tests read back through both calls side
    /// by side and would otherwise fail now and then for the emulator's sake. BigQuery has no such race.
    @Test func queriesAndTableReadsSideBySideEachGetTheirOwnRows() async throws {
        let client = try client(cache: false)
        let dataset = try await dataset(client)
        func table(_ name: String, rows: Int) async throws -> TableReference {
            let reference = try TableReference(projectId: Self.project, datasetId: dataset, tableId: name)
            _ = try await client.createTable(TableResource(reference: reference, schema: Self.schema))
            try await client.insertRows(
                reference,
                (1...rows).map { InsertRow(insertId: "\(name)\($0)", json: Array(#"{"id": \#($0)}"#.utf8)) })
            return reference
        }
        let queried = try await table("queried", rows: 50)
        let listed = try await table("listed", rows: 7)
        let wrong = try await withThrowingTaskGroup(of: [String].self) { group in
            for lister in 0..<3 {
                group.addTask {
                    var wrong: [String] = []
                    for _ in 0..<40 {
                        do {
                            let page = try await client.listRows(listed, pageToken: nil)
                            if page.rows.count != 7 { wrong.append("list \(lister): \(page.rows.count) rows, not 7") }
                        } catch { wrong.append("list \(lister): \(error)") }
                    }
                    return wrong
                }
            }
            group.addTask {
                var wrong: [String] = []
                for round in 0..<40 {
                    do {  // a different statement each round, so no answer comes from a cache
                        let result = try await client.query(
                            QueryJob(
                                sql: "SELECT `id` FROM \(queried.sql) WHERE `id` > -\(round) ORDER BY `id`",
                                reads: [queried]))
                        if result.rows.count != 50 { wrong.append("query \(round): \(result.rows.count) rows, not 50") }
                    } catch { wrong.append("query \(round): \(error)") }
                }
                return wrong
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
        #expect(wrong.isEmpty, "\(wrong.count) wrong answers, the first: \(wrong.prefix(5))")
    }

    @Test func badSQLIsAClearErrorNotASuccess() async throws {
        let client = try client()
        await #expect(throws: BigQueryError.self) {
            _ = try await client.query(QueryJob(sql: "SELEC nonsense FROM nowhere"))
        }
    }
}
