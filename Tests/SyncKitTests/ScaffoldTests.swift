import BigQuery
import Foundation
import SyncTestSupport
import Testing

@testable import SyncKit

/// What `bqsync init` writes: inference from a sample, a table's columns and primary key, and YAML the decoder
/// reads back as the same columns.
@Suite("init scaffolding")
struct ScaffoldTests {
    /// The diagnostics of a definition written into a workspace.
    static func load(_ yaml: String, name: String) throws -> Configuration {
        let workspace = try Workspace()
        try workspace.write("syncs.d/\(name).yaml", yaml)
        return ConfigLoader(directory: workspace.root).load()
    }

    @Test("a table's declared primary key becomes the merge keys, and the definition is valid as written")
    func primaryKey() throws {
        let json = """
            {"tableReference": {"projectId": "bqsync-demo", "datasetId": "crm", "tableId": "accounts"},
             "schema": {"fields": [
               {"name": "region", "type": "STRING", "mode": "REQUIRED"},
               {"name": "account_id", "type": "INTEGER", "mode": "REQUIRED"},
               {"name": "balance", "type": "NUMERIC", "description": "in \\"EUR\\""},
               {"name": "area", "type": "GEOGRAPHY"},
               {"name": "tags", "type": "STRING", "mode": "REPEATED"}]},
             "tableConstraints": {"primaryKey": {"columns": ["region", "account_id"]}}}
            """
        let table = try JSONDecoder().decode(TableResource.self, from: Data(json.utf8))
        let found = Scaffold.columns(of: table)
        #expect(found.keys == ["region", "account_id"])
        #expect(found.skipped == ["area", "tags"])
        #expect(found.columns.map(\.type) == [.string, .int64, .numeric])
        let yaml = Scaffold.yaml(
            Scaffold.Draft(
                name: "accounts", sourceKind: .ndjson, sourcePath: "data/accounts/*.ndjson",
                table: "bqsync-demo.crm.accounts", createIfMissing: false, columns: found.columns, keys: found.keys,
                header: ["from a test"], skipped: found.skipped))
        #expect(yaml.contains("  keys: [region, account_id]\n"))
        let configuration = try Self.load(yaml, name: "accounts")
        #expect(!configuration.diagnostics.hasErrors, "\(configuration.diagnostics)\n\(yaml)")
        let sync = try #require(configuration.syncs.first)
        #expect(sync.target.schema == found.columns)
        #expect(sync.merge.keys == ["region", "account_id"])
        #expect(sync.target.schema?[2].description == "in \"EUR\"")
    }

    @Test("without a primary key the keys are a TODO, reported at its line and nothing else")
    func noPrimaryKey() throws {
        let yaml = Scaffold.yaml(
            Scaffold.Draft(
                name: "t", sourceKind: .csv, sourcePath: "t.csv", table: "crm.t", createIfMissing: true,
                columns: [FieldSpec(name: "id", type: .int64)], keys: nil, header: []))
        let configuration = try Self.load(yaml, name: "t")
        let errors = configuration.diagnostics.filter { $0.severity == .error }
        let line = try #require(yaml.split(separator: "\n").firstIndex { $0.hasPrefix("  keys:") }) + 1
        #expect(errors.count == 1)
        #expect(errors.first?.location?.line == line)
        #expect(errors.first?.message.contains("TODO") == true)
    }

    @Test("inference: mixed numbers widen, JSON strings stay strings, nulls and absences make NULLABLE")
    func inference() throws {
        let workspace = try Workspace()
        try workspace.write(
            "a.ndjson",
            """
            {"a": 1, "b": "123", "c": true, "d": {"x": 1}, "e": "2024-01-01"}
            {"a": 2.5, "b": "x", "c": null, "d": [1], "e": "2024-01-01T00:00:00Z"}
            {"a": 3, "b": "y", "d": "text", "e": "2024-01-02"}

            """)
        let ndjson = try Scaffold.infer(file: workspace.path("a.ndjson"), kind: .ndjson)
        #expect(ndjson.rows == 3)
        #expect(ndjson.columns.map(\.name) == ["a", "b", "c", "d", "e"])
        #expect(ndjson.columns.map(\.type) == [.float64, .string, .bool, .json, .timestamp])
        #expect(ndjson.columns.map(\.mode) == [.required, .required, .nullable, .required, .required])
        try workspace.write("b.csv", "n,flag,when,text\n1,TRUE,2024-01-01,\"\"\n,false,2024-02-01,x\n")
        let csv = try Scaffold.infer(file: workspace.path("b.csv"), kind: .csv)
        #expect(csv.columns.map(\.type) == [.int64, .bool, .date, .string])
        // An empty unquoted field is NULL (the default null marker); a quoted empty one is a value.
        #expect(csv.columns.map(\.mode) == [.nullable, .required, .required, .required])
        // Only the sample is read.
        let sample = try Scaffold.infer(file: workspace.path("a.ndjson"), kind: .ndjson, sampleRows: 1)
        #expect(sample.rows == 1 && sample.columns.map(\.type) == [.int64, .string, .bool, .json, .date])
        // A field that cannot be a column is refused, naming it.
        try workspace.write("c.csv", "id,first name\n1,x\n")
        #expect(throws: SyncError.self) { try Scaffold.infer(file: workspace.path("c.csv"), kind: .csv) }
    }
}
