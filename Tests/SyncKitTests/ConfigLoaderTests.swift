import BigQuery
import Foundation
import SyncTestSupport
import Testing

@testable import SyncKit

/// Loader behaviour that needs more than one file, or looks past the message: caret lines, notes, paths.
@Suite("config loader")
struct ConfigLoaderTests {
    static let okSync =
        "version: 1\nsource: {type: ndjson, path: rows.ndjson}\ntarget: {table: bqsync-demo.crm.contacts}\nmerge: {keys: [id]}\n"

    func errors(_ configuration: Configuration, relativeTo workspace: Workspace) -> [String] {
        configuration.diagnostics.filter { $0.severity == .error }.map { diagnostic in
            let location =
                diagnostic.location.map {
                    "\($0.file.replacingOccurrences(of: workspace.root + "/", with: "")):\($0.line):\($0.column): "
                } ?? ""
            return location + diagnostic.message
        }
    }

    // MARK: policies

    @Test("a broken policy is known by its name: syncs that use it get no second error")
    func brokenPolicyByName() throws {
        let workspace = try Workspace()
        try workspace.write("policies/tight.yaml", "version: 1\nname: strict\nsession: {max_queries: 0}\n")
        try workspace.write("syncs.d/a.yaml", Self.okSync + "policy: strict\n")
        let configuration = ConfigLoader(directory: workspace.root).load()
        #expect(
            errors(configuration, relativeTo: workspace) == [
                "policies/tight.yaml:3:24: 'session.max_queries' must be between 1 and 1,000,000 (got 0)"
            ])
    }

    @Test("an unparseable policy is known by its file name")
    func unparseablePolicy() throws {
        let workspace = try Workspace()
        try workspace.write("policies/strict.yaml", "version: 1\nsession: {max_queries: 5\n")
        try workspace.write("syncs.d/a.yaml", Self.okSync + "policy: strict\n")
        let configuration = ConfigLoader(directory: workspace.root).load()
        let found = errors(configuration, relativeTo: workspace)
        #expect(found.count == 1)
        #expect(found.first?.hasPrefix("policies/strict.yaml:") == true)
    }

    @Test("a broken policy named default keeps the built-in default from standing in")
    func brokenDefault() throws {
        let workspace = try Workspace()
        try workspace.write("policies/base.yaml", "version: 1\nname: default\nwarn_at: 200%\n")
        try workspace.write("syncs.d/a.yaml", Self.okSync)
        let configuration = ConfigLoader(directory: workspace.root).load()
        #expect(configuration.policies["default"] == nil)
        #expect(
            errors(configuration, relativeTo: workspace) == [
                "policies/base.yaml:3:10: 'warn_at': '200%' must be more than 0% and at most 100%"
            ])
    }

    @Test("two policies with one name")
    func duplicatePolicyNames() throws {
        let workspace = try Workspace()
        try workspace.write("policies/a.yaml", "version: 1\nname: shared\n")
        try workspace.write("policies/b.yaml", "version: 1\nname: shared\n")
        try workspace.write("syncs.d/ok.yaml", Self.okSync)
        let configuration = ConfigLoader(directory: workspace.root).load()
        #expect(
            errors(configuration, relativeTo: workspace) == ["policies/b.yaml:2:7: two policies are named 'shared'"])
        #expect(configuration.diagnostics.first?.notes.first?.hasSuffix("policies/a.yaml:2:7") == true)
    }

    // MARK: a broken definition blocks only itself

    func warnings(_ configuration: Configuration, relativeTo workspace: Workspace) -> [String] {
        configuration.diagnostics.filter { $0.severity == .warning }.map { diagnostic in
            let location =
                diagnostic.location.map {
                    "\($0.file.replacingOccurrences(of: workspace.root + "/", with: "")):\($0.line):\($0.column): "
                } ?? ""
            return location + diagnostic.message
        }
    }

    @Test("with sync names, errors in other definitions are warnings at the same place; without, they are errors")
    func otherDefinitionsWarn() throws {
        let workspace = try Workspace()
        try workspace.write("syncs.d/orders.yaml", Self.okSync.replacingOccurrences(of: "contacts", with: "orders"))
        try workspace.write("syncs.d/broken.yaml", Self.okSync + "schema: []\n")
        try workspace.write("syncs.d/unparseable.yaml", "version: 1\nsource:\n\ttype: ndjson\n")
        let loader = ConfigLoader(directory: workspace.root)
        let all = loader.load()
        let problems = [
            "syncs.d/broken.yaml:5:1: unknown key 'schema': it belongs under 'target'",
            "syncs.d/unparseable.yaml:3:1: found character that cannot start any token — indent with spaces, not tabs",
        ]
        #expect(errors(all, relativeTo: workspace) == problems)

        let orders = loader.load(syncs: ["orders"])
        #expect(errors(orders, relativeTo: workspace) == [])
        #expect(warnings(orders, relativeTo: workspace) == problems)
        #expect(orders.diagnostics.allSatisfy { $0.notes.last == "not needed by 'orders', so it does not stop it" })
        #expect(orders.syncs.map(\.name) == ["orders"])
        #expect(try Planner.select(["orders"], from: orders).map(\.name) == ["orders"])

        // A named sync's own errors count, also when its file could not be parsed (it is known by its file name).
        #expect(errors(loader.load(syncs: ["orders", "broken"]), relativeTo: workspace) == [problems[0]])
        #expect(errors(loader.load(syncs: ["unparseable"]), relativeTo: workspace) == [problems[1]])
        let twice = loader.load(syncs: ["orders", "orders"])
        #expect(twice.diagnostics.allSatisfy { $0.notes.last == "not needed by 'orders', so it does not stop it" })
    }

    @Test("with sync names, the policies those syncs use must be valid, and no others")
    func policiesOfNamedSyncs() throws {
        let workspace = try Workspace()
        try workspace.write("policies/strict.yaml", "version: 1\nsession: {max_queries: 0}\n")
        try workspace.write("policies/other.yaml", "version: 1\nwarn_at: 200%\n")
        try workspace.write("policies/default.yaml", "version: 1\ncache: maybe\n")
        try workspace.write("syncs.d/orders.yaml", Self.okSync + "policy: strict\n")
        try workspace.write("syncs.d/plain.yaml", Self.okSync.replacingOccurrences(of: "contacts", with: "plain"))
        let loader = ConfigLoader(directory: workspace.root)
        let strict = "policies/strict.yaml:2:24: 'session.max_queries' must be between 1 and 1,000,000 (got 0)"
        let other = "policies/other.yaml:2:10: 'warn_at': '200%' must be more than 0% and at most 100%"
        let byDefault = "policies/default.yaml:2:8: 'cache' must be true or false, not a string"
        let orders = loader.load(syncs: ["orders"])
        #expect(errors(orders, relativeTo: workspace) == [strict])
        #expect(warnings(orders, relativeTo: workspace) == [byDefault, other])
        // A sync that names no policy uses `default`.
        #expect(errors(loader.load(syncs: ["plain"]), relativeTo: workspace) == [byDefault])
    }

    @Test("with sync names, another sync's protected target is a warning, not a refusal")
    func otherRefusalWarns() throws {
        let workspace = try Workspace()
        try workspace.write("policies/default.yaml", "version: 1\nprotected_tables: ['*.finance.*']\n")
        try workspace.write("syncs.d/orders.yaml", Self.okSync)
        try workspace.write(
            "syncs.d/ledger.yaml", Self.okSync.replacingOccurrences(of: "crm.contacts", with: "finance.ledger"))
        let loader = ConfigLoader(directory: workspace.root)
        #expect(loader.load().diagnostics.filter(\.isRefusal).count == 1)
        let orders = loader.load(syncs: ["orders"])
        #expect(errors(orders, relativeTo: workspace) == [])
        #expect(orders.diagnostics.count == 1)
        #expect(orders.diagnostics.first?.isRefusal == false)
        #expect(orders.diagnostics.first?.location?.line == 3)
    }

    @Test("with sync names, an error that is no file's still counts")
    func errorsOfNoFileCount() throws {
        let workspace = try Workspace()
        try FileManager.default.removeItem(atPath: workspace.path("syncs.d"))
        let found = errors(ConfigLoader(directory: workspace.root).load(syncs: ["orders"]), relativeTo: workspace)
        #expect(found.count == 1)
        #expect(found.first?.hasPrefix("no syncs.d/ directory") == true)
    }

    // MARK: protection

    @Test("a pattern naming a project protects a table whose project is not known")
    func protectionWithUnknownProject() throws {
        let pattern = try TablePattern("bqsync-demo.secure.*")
        #expect(pattern.matches(datasetId: "secure", tableId: "accounts"))
        #expect(!pattern.matches(datasetId: "open", tableId: "accounts"))
        #expect(try TablePattern("secure.acc?unts").matches(datasetId: "secure", tableId: "accounts"))

        let workspace = try Workspace()
        try workspace.write("policies/default.yaml", "version: 1\nprotected_tables: [bqsync-demo.secure.*]\n")
        try workspace.write(
            "syncs.d/a.yaml",
            "version: 1\nsource: {type: ndjson, path: x}\ntarget: {table: secure.accounts}\nmerge: {keys: [id]}\n")
        let unknown = ConfigLoader(directory: workspace.root).load()
        #expect(
            errors(unknown, relativeTo: workspace) == [
                "syncs.d/a.yaml:3:17: target 'secure.accounts' names no project and could be protected by policy 'default' (pattern 'bqsync-demo.secure.*'); write the project in 'target.table'"
            ])
        let sameProject = ConfigLoader(directory: workspace.root, defaultProject: "bqsync-demo").load()
        #expect(
            errors(sameProject, relativeTo: workspace) == [
                "syncs.d/a.yaml:3:17: target 'secure.accounts' is protected by policy 'default' (pattern 'bqsync-demo.secure.*'); bqsync never writes to it"
            ])
        let otherProject = ConfigLoader(directory: workspace.root, defaultProject: "other-project").load()
        #expect(errors(otherProject, relativeTo: workspace) == [])
    }

    // MARK: explicit paths

    @Test("one file named several ways is read once")
    func explicitPathsNormalized() throws {
        let workspace = try Workspace()
        try workspace.write("syncs.d/a.yaml", Self.okSync)
        try workspace.write("policies/default.yaml", "version: 1\n")
        try FileManager.default.createSymbolicLink(
            atPath: workspace.root + "/linked.yaml", withDestinationPath: workspace.root + "/syncs.d/a.yaml")
        let loader = ConfigLoader(directory: workspace.root)
        let configuration = loader.load(paths: [
            workspace.root + "/syncs.d/a.yaml",
            workspace.root + "/syncs.d/./a.yaml",
            workspace.root + "/syncs.d/../syncs.d/a.yaml",
            workspace.root + "/linked.yaml",
            workspace.root + "/policies/default.yaml",
            workspace.root + "/policies/../policies/default.yaml",
        ])
        #expect(configuration.diagnostics.map(\.description) == [])
        #expect(configuration.fileCount == 2)
        #expect(configuration.syncs.count == 1)
    }

    @Test("a path is a policy when its directory is named policies, not when the name merely ends so")
    func policyDirectoryDetection() throws {
        let workspace = try Workspace()
        try workspace.write("my_policies/a.yaml", Self.okSync)
        try workspace.write("policies/strict.yaml", "version: 1\nname: strict\n")
        try FileManager.default.createSymbolicLink(
            atPath: workspace.root + "/rules", withDestinationPath: workspace.root + "/policies")
        let loader = ConfigLoader(directory: workspace.root)
        let asSyncs = loader.load(paths: [workspace.root + "/my_policies"])
        #expect(asSyncs.diagnostics.map(\.description) == [])
        #expect(asSyncs.syncs.map(\.name) == ["a"])
        // A link to policies/ is policies/; the file is read once.
        let linked = loader.load(paths: [workspace.root + "/rules/strict.yaml", workspace.root + "/rules"])
        #expect(linked.diagnostics.map(\.description) == [])
        #expect(linked.syncs.isEmpty)
        #expect(linked.policies["strict"] != nil)
        #expect(linked.fileCount == 1)
    }

    @Test("a missing path is reported")
    func missingPath() throws {
        let workspace = try Workspace()
        let configuration = ConfigLoader(directory: workspace.root).load(paths: [workspace.root + "/nope.yaml"])
        #expect(configuration.diagnostics.map(\.message) == ["\(workspace.root)/nope.yaml: no such file or directory"])
    }

    // MARK: what a diagnostic shows

    func single(_ text: String, file: String = "syncs.d/a.yaml") throws -> Diagnostic {
        let workspace = try Workspace()
        try workspace.write(file, Array(text.utf8))
        let configuration = ConfigLoader(directory: workspace.root).load()
        return try #require(configuration.diagnostics.first { $0.severity == .error })
    }

    @Test("the caret line of a file with CR line endings is its own line")
    func crLineEndings() throws {
        let diagnostic = try single(
            Self.okSync.replacingOccurrences(of: "version: 1", with: "version: 2").replacingOccurrences(
                of: "\n", with: "\r"))
        #expect(diagnostic.location?.line == 1)
        #expect(diagnostic.sourceLine == "version: 2")
    }

    @Test(
        "NEL, LS and PS end lines for the caret display as they do for libyaml",
        arguments: ["\u{85}", "\u{2028}", "\u{2029}"])
    func unicodeLineBreaks(_ lineBreak: String) throws {
        let diagnostic = try single(
            "description: \"one\(lineBreak)two\"\nversion: 3\n"
                + Self.okSync.replacingOccurrences(of: "version: 1\n", with: ""))
        #expect(diagnostic.location?.line == 3)
        #expect(diagnostic.location?.column == 10)
        #expect(diagnostic.sourceLine == "version: 3")
    }

    @Test("an error at the end of a file without a final newline points at its last line")
    func endOfFileWithoutNewline() throws {
        let diagnostic = try single("version: 1\nmerge: {keys: [id")
        #expect(diagnostic.location?.line == 2)
        #expect(diagnostic.location?.column == 18)
        #expect(diagnostic.sourceLine == "merge: {keys: [id")
    }

    @Test("a reader error points at the bad byte, on its line")
    func readerErrorLine() throws {
        let workspace = try Workspace()
        try workspace.write("syncs.d/a.yaml", Array("version: 1\nname: ab".utf8) + [0xFF] + Array("c\n".utf8))
        let diagnostic = try #require(ConfigLoader(directory: workspace.root).load().diagnostics.first)
        #expect(diagnostic.message == "invalid leading UTF-8 octet (byte 0xFF)")
        #expect(diagnostic.location?.line == 2)
        #expect(diagnostic.location?.column == 9)
        #expect(diagnostic.sourceLine == "name: ab\u{FFFD}c")
    }

    @Test("a value reached through an alias is reported at the alias, with a note naming the anchor")
    func aliasUseSite() throws {
        let diagnostic = try single("description: &n 70000\n" + Self.okSync + "batch: {size: *n}\n")
        #expect(diagnostic.message == "'batch.size' must be between 1 and 50,000 (got 70,000)")
        #expect(diagnostic.location?.line == 6)
        #expect(diagnostic.location?.column == 15)
        #expect(diagnostic.notes.count == 1)
        #expect(diagnostic.notes.first?.hasSuffix("syncs.d/a.yaml:1:14") == true)
    }

    @Test(
        "echoed text is escaped and cut",
        arguments: [
            ("\"ver\\u001Bsion\": 1\n", "unknown key 'ver\\u{1B}sion' (did you mean 'version'?)"),
            (
                "name: \"a\\u202Eb\"\n",
                "'name': non-ASCII character U+202E is not allowed in a name (look-alike characters could name a different object)"
            ),
            ("policy: \"" + String(repeating: "p", count: 200) + "\"\n", "'policy': a name has 1 to 64 characters"),
            (
                "batch: {strategy: \"" + String(repeating: "s", count: 100) + "\"}\n",
                "'batch.strategy' must be one of auto, inline, staged (got '" + String(repeating: "s", count: 64)
                    + "…' (100 characters))"
            ),
        ])
    func echoedText(_ line: String, _ message: String) throws {
        let workspace = try Workspace()
        try workspace.write("syncs.d/a.yaml", Self.okSync + line)
        let configuration = ConfigLoader(directory: workspace.root).load()
        #expect(
            configuration.diagnostics.map(\.message).contains(message), "\(configuration.diagnostics.map(\.message))")
    }
}

/// Words from a fixed set read the same in any case, as column types and modes always have.
@Suite("case-insensitive words")
struct CaseInsensitiveWordTests {
    @Test("source type, format, partitioning type, update, strategy, type and mode in any case")
    func anyCase() throws {
        let workspace = try Workspace()
        try workspace.write(
            "syncs.d/local.yaml",
            """
            version: 1
            source: {type: NDJSON, path: rows.ndjson}
            target:
              table: bqsync-demo.crm.contacts
              create_if_missing: true
              schema:
                - {name: id, type: int64, mode: required}
                - {name: day, type: Date}
              partitioning: {field: day, type: month}
            merge: {keys: [id], update: ALL}
            batch: {strategy: Staged}

            """)
        try workspace.write(
            "syncs.d/files.yaml",
            """
            version: 1
            source: {type: Gcs, uris: ["gs://bucket/rows.csv"], format: csv, delimiter: ";"}
            target: {table: bqsync-demo.crm.files}
            merge: {keys: [id]}

            """)
        try workspace.write(
            "syncs.d/query.yaml",
            """
            version: 1
            source: {type: QUERY, query: SELECT 1 AS id}
            target: {table: bqsync-demo.crm.query}
            merge: {keys: [id]}

            """)
        let configuration = ConfigLoader(directory: workspace.root).load()
        #expect(configuration.diagnostics.filter { $0.severity == .error }.map(\.description) == [])
        let syncs = Dictionary(uniqueKeysWithValues: configuration.syncs.map { ($0.name, $0) })
        let local = try #require(syncs["local"])
        #expect(local.source.kind == .ndjson)
        #expect(local.batch.strategy == .staged)
        #expect(local.merge.update == .all)
        #expect(local.target.partitioning?.type == .month)
        #expect(local.target.schema?.map(\.mode) == [.required, .nullable])
        #expect(syncs["files"]?.source.kind == .gcs)
        #expect(syncs["files"]?.source.format == .csv)
        #expect(syncs["query"]?.source.kind == .query)
    }

    @Test("a word that is not one of the choices is still refused, with its did-you-mean")
    func wrongWord() throws {
        let workspace = try Workspace()
        try workspace.write(
            "syncs.d/a.yaml", ConfigLoaderTests.okSync.replacingOccurrences(of: "type: ndjson", with: "type: NDJSN"))
        let configuration = ConfigLoader(directory: workspace.root).load()
        #expect(
            configuration.diagnostics.map(\.message) == [
                "'source.type' must be one of ndjson, csv, query, gcs, postgres (got 'NDJSN') (did you mean 'ndjson'?)"
            ])
    }
}

/// `SyncDefinition.location(of:)`: the typed keys later checks point at.
@Suite("definition key locations")
struct DefinitionKeyTests {
    static let sync = """
        version: 1
        source: {type: ndjson, path: rows.ndjson}
        target:
          table: bqsync-demo.crm.contacts
          schema:
            - {name: id, type: STRING}
            - {name: Updated_At, type: TIMESTAMP}
        merge: {keys: [id]}

        """

    func definition() throws -> SyncDefinition {
        let workspace = try Workspace()
        try workspace.write("syncs.d/a.yaml", Self.sync)
        return try #require(ConfigLoader(directory: workspace.root).load().syncs.first)
    }

    @Test func aColumnPointsAtItsSchemaItemWhateverItsCase() throws {
        let sync = try definition()
        #expect(sync.location(of: .column("updated_at")).line == 7)
        #expect(sync.location(of: .column("UPDATED_AT")).line == 7)
        #expect(sync.location(of: .targetTable).line == 4)
    }

    @Test func aKeyTheFileLeavesOutPointsAtTheNearestWrittenOne() throws {
        let sync = try definition()
        // No column 'other': the schema list itself.
        #expect(sync.location(of: .column("other")).line == 6)
        // No `batch:` at all: the file's start.
        #expect(sync.location(of: .batchStrategy).line == 1)
    }
}
