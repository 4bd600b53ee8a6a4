import Foundation
import SyncTestSupport
import Testing

/// `bqsync schema`: the emitted JSON Schemas agree with `bqsync validate`, checked by check-jsonschema (PyPI) over
/// every valid example (all pass) and the whole invalid corpus (Tests/SyncKitTests/Fixtures/invalid; each of
/// whose files `InvalidCorpusTests` proves bqsync refuses): every case a schema can express fails, and the cases
/// it cannot are listed below, each with why, and are exactly the ones that pass.
@Suite("JSON Schemas for editors", .enabled(if: CheckJSONSchema.runs, "check-jsonschema could not be installed"))
struct SchemaTests {
    static let fixtures = E2E.repoRoot + "/Tests/SyncKitTests/Fixtures"

    /// Corpus cases a JSON Schema cannot express, which the emitted schemas therefore accept: only
    /// `bqsync validate` refuses them.
    static let beyondSchema: Set<String> = [
        // A column named in merge or partitioning must be a column of target.schema, of a fitting type: a
        // schema cannot compare one part of a document with another's values.
        "syncs/delete-when-not-bool.yaml", "syncs/delete-when-not-in-schema.yaml", "syncs/merge-key-json.yaml",
        "syncs/merge-key-not-in-schema.yaml", "syncs/order-by-not-in-schema.yaml",
        "syncs/partitioning-string-column.yaml", "syncs/update-not-in-schema.yaml",
        // Between two keys' values: order_by or update naming a merge key.
        "syncs/order-by-is-key.yaml", "syncs/update-includes-key.yaml",
        // Names compared case-insensitively (`id` and `ID`); uniqueItems compares exactly.
        "syncs/merge-keys-repeated.yaml", "syncs/schema-column-twice.yaml",
        // Another file: the policy a sync names, its protected tables, a second sync with the same name.
        "syncs/policy-missing.yaml", "syncs/protected-no-project.yaml", "syncs/protected-strict.yaml",
        "syncs/protected-target.yaml", "syncs/sync-name-duplicate.yaml",
        // The incremental cursor against target.schema: its column, its type, and what its type lets lag and
        // initial be.
        "syncs/incremental-cursor-not-in-schema.yaml", "syncs/incremental-cursor-wrong-type.yaml",
        "syncs/incremental-initial-invalid.yaml", "syncs/incremental-lag-on-integer.yaml",
        // A query's statements: strings, comments and ';' need a lexer, not a regular expression.
        "syncs/query-two-statements.yaml", "syncs/query-unterminated-string.yaml",
        // Rules of the YAML text, not of its data: bqsync refuses merge keys ('<<'); a YAML parser applies
        // them, and the merged data is valid.
        "syncs/yaml-merge-key.yaml",
        // Sizes and durations compared after their units are applied (9000h > a year; 1 MB < 10 MB), and
        // two durations compared with each other or with a default.
        "policies/duration-too-long.yaml", "policies/size-below-minimum.yaml",
        "policies/retry-initial-over-default-max.yaml", "policies/retry-max-under-default-initial.yaml",
        "policies/retry-max-under-initial.yaml",
    ]

    /// Cases whose YAML text check-jsonschema's own parser (ruamel.yaml) refuses, as bqsync's does: there is no
    /// data for a schema to judge. They fail, but not by the schema.
    static let refusedByParser: Set<String> = [
        "syncs/control-character.yaml", "syncs/invalid-utf8-trailing.yaml", "syncs/invalid-utf8.yaml",
        "syncs/yaml-bad-indentation.yaml", "syncs/yaml-duplicate-key.yaml", "syncs/yaml-key-over-indented.yaml",
        "syncs/yaml-list-then-key.yaml", "syncs/yaml-nested-on-one-line.yaml", "syncs/yaml-tab-after-key.yaml",
        "syncs/yaml-tab-indent.yaml", "syncs/yaml-tag-mismatch.yaml", "syncs/yaml-two-documents.yaml",
        "syncs/yaml-unclosed-flow-no-newline.yaml", "syncs/yaml-undefined-alias.yaml", "syncs/yaml-unknown-tag.yaml",
        "policies/policy-duplicate-key.yaml",
    ]

    /// Not given to check-jsonschema: its loader copies every alias's value, so this billion-laughs file (which
    /// bqsync refuses after 100,000 nodes) would expand to 9^9 lists.
    static let notRun: Set<String> = ["syncs/yaml-alias-bomb.yaml"]

    /// The two schemas as `bqsync schema` prints them, in a workspace.
    static func emit() throws -> (Workspace, sync: String, policy: String) {
        let workspace = try Workspace(prefix: "schema")
        for kind in ["sync", "policy"] {
            let result = try workspace.run("schema", kind)
            #expect(result.status == 0, "\(result)")
            try workspace.write("\(kind).schema.json", result.stdout)
        }
        return (workspace, workspace.path("sync.schema.json"), workspace.path("policy.schema.json"))
    }

    static func yamlFiles(_ directory: String) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.filter { $0.hasSuffix(".yaml") }.sorted().map { directory + "/" + $0 }
    }

    @Test("both schemas are valid draft 2020-12 schemas, and say so")
    func metaschema() throws {
        let (workspace, sync, policy) = try Self.emit()
        let result = try CheckJSONSchema.run(["--check-metaschema", sync, policy])
        #expect(result.status == 0, "\(result.output)")
        for path in [sync, policy] {
            let object = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path)))
            let schema = try #require(object as? [String: Any])
            #expect(schema["$schema"] as? String == "https://json-schema.org/draft/2020-12/schema")
        }
        _ = workspace
    }

    @Test("every valid example passes: syncs.d/, policies/ and the valid fixtures")
    func validExamples() throws {
        let (workspace, sync, policy) = try Self.emit()
        let syncs = Self.yamlFiles(E2E.repoRoot + "/syncs.d") + Self.yamlFiles(Self.fixtures + "/valid/syncs")
        let policies = Self.yamlFiles(E2E.repoRoot + "/policies") + Self.yamlFiles(Self.fixtures + "/valid/policies")
        #expect(syncs.count >= 4 && policies.count >= 3)
        for (schema, files) in [(sync, syncs), (policy, policies)] {
            let result = try CheckJSONSchema.run(["--schemafile", schema] + files)
            #expect(result.status == 0, "\(result.output)")
        }
        _ = workspace
    }

    @Test("the invalid corpus: what a schema can express fails, the rest is listed and is exactly what passes")
    func invalidCorpus() throws {
        let (workspace, sync, policy) = try Self.emit()
        var outcomes: [String: String] = [:]
        for (kind, schema) in [("syncs", sync), ("policies", policy)] {
            let files = Self.yamlFiles(Self.fixtures + "/invalid/" + kind)
            #expect(files.count >= 30)
            let cases = files.map { "\(kind)/" + ($0 as NSString).lastPathComponent }
            // The parser's refusals one by one (one of them stops check-jsonschema outright), the rest at once.
            for (file, name) in zip(files, cases) where Self.refusedByParser.contains(name) {
                let result = try CheckJSONSchema.run(["-o", "json", "--schemafile", schema, file])
                outcomes[name] =
                    result.status == 0 ? "pass" : result.output.contains("\"errors\": [\n") ? "schema" : "parse"
            }
            let batch = zip(files, cases).filter { !Self.refusedByParser.contains($1) && !Self.notRun.contains($1) }
            let result = try CheckJSONSchema.run(["-o", "json", "--schemafile", schema] + batch.map(\.0))
            let report = try #require(
                try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any], "\(result.output)")
            let failed = Set(((report["errors"] as? [[String: Any]]) ?? []).compactMap { $0["filename"] as? String })
            let unparsed = Set(
                ((report["parse_errors"] as? [[String: Any]]) ?? []).compactMap { $0["filename"] as? String })
            for (file, name) in batch {
                outcomes[name] = failed.contains(file) ? "schema" : unparsed.contains(file) ? "parse" : "pass"
            }
        }
        let passed = Set(outcomes.filter { $0.value == "pass" }.keys)
        let parse = Set(outcomes.filter { $0.value == "parse" }.keys)
        #expect(
            passed == Self.beyondSchema,
            "passed but not listed: \(passed.subtracting(Self.beyondSchema).sorted()); listed but failed: \(Self.beyondSchema.subtracting(passed).sorted())"
        )
        #expect(parse == Self.refusedByParser, "\(parse.symmetricDifference(Self.refusedByParser).sorted())")
        // Everything else fails by the schema: most of the corpus.
        let bySchema = outcomes.filter { $0.value == "schema" }.count
        #expect(bySchema == outcomes.count - passed.count - parse.count)
        #expect(bySchema >= 90, "only \(bySchema) cases fail by the schema")
        _ = workspace
    }

    @Test("an editor's mistakes are caught with a useful path: an unknown key, a wrong choice, a missing key")
    func editorFindings() throws {
        let (workspace, sync, _) = try Self.emit()
        try workspace.write(
            "syncs.d/typo.yaml",
            """
            # yaml-language-server: $schema=../sync.schema.json
            version: 1
            source: {type: NDJSON, path: rows.ndjson, query: SELECT 1}
            target: {table: bqsync-demo.crm.contacts, create_if_missing: true}
            merge: {keys: [id]}
            batch: {strategy: Staged, size: 5000}

            """)
        let result = try CheckJSONSchema.run(["--schemafile", sync, workspace.path("syncs.d/typo.yaml")])
        #expect(result.status == 1)
        // The source type in capitals and the strategy in any case are fine, as they are for validate; a query
        // in an ndjson source and a created table without a schema are not.
        #expect(result.output.contains("$.source"), "\(result.output)")
        #expect(result.output.contains("'schema' is a required property"), "\(result.output)")
        #expect(!result.output.contains("$.batch"), "\(result.output)")
    }
}
