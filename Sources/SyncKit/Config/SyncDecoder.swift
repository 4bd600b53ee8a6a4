import BigQuery
import YAML

/// Turns a parsed `syncs.d/NAME.yaml` into a `SyncDefinition`, reporting every problem with its place.
struct SyncDecoder {
    static let topKeys = ["version", "name", "description", "source", "target", "merge", "batch", "policy"]
    static let sourceKeys: [SourceSpec.Kind: [String]] = [
        .ndjson: ["path", "ignore_unknown_fields"],
        .csv: ["path", "delimiter", "null_marker", "ignore_unknown_fields"],
        .query: ["query"],
        .gcs: ["uris", "format", "delimiter", "skip_leading_rows", "ignore_unknown_fields"],
        .postgres: ["url_env", "url", "table", "query", "ignore_unknown_fields"],
    ]
    /// Keys every source type may have.
    static let commonSourceKeys = ["incremental"]
    static let requiredSourceKeys: [SourceSpec.Kind: [String]] = [
        .ndjson: ["path"], .csv: ["path"], .query: ["query"], .gcs: ["uris"], .postgres: [],
    ]
    /// The keys of `source.incremental`.
    static let incrementalKeys = ["cursor", "lag", "initial"]
    static let targetKeys = ["table", "create_if_missing", "location", "schema", "partitioning", "clustering"]
    /// The keys of one `target.schema` item.
    static let columnKeys = ["name", "type", "mode", "description"]
    static let partitioningKeys = ["field", "type"]
    static let mergeKeys = ["keys", "order_by", "update", "delete_when", "null_keys"]
    static let batchKeys = ["size", "strategy"]
    /// The keys each block must have (`source` needs `type`, then its type's own, `requiredSourceKeys`).
    static let requiredTopKeys = ["version", "source", "target", "merge"]
    static let requiredTargetKeys = ["table"]
    static let requiredColumnKeys = ["name", "type"]
    static let requiredPartitioningKeys = ["field"]
    static let requiredMergeKeys = ["keys"]
    /// `batch.size`.
    static let batchSizeRange = 1...50_000
    /// `target.clustering` has at most this many columns.
    static let maxClusteringColumns = 4
    /// What `bqsync init` writes where it cannot know the value; `validate` reports each at its line.
    static let todoMergeKey = "TODO_choose_merge_keys"
    static let todoTable = "TODO_dataset.TODO_table"
    /// `source.skip_leading_rows`.
    static let skipLeadingRowsRange = 0...1_000_000
    /// Every block's keys, for "it belongs under 'target'".
    static let homes = KeyHomes([
        .init("", topKeys),
        .init("source", ["type"] + commonSourceKeys + SourceSpec.Kind.allCases.flatMap { sourceKeys[$0] ?? [] }),
        .init("source.incremental", incrementalKeys),
        .init("target", targetKeys), .init("target.partitioning", partitioningKeys),
        .init("target.schema[]", columnKeys, label: "a 'target.schema' column"), .init("merge", mergeKeys),
        .init("batch", batchKeys),
    ])

    let reader: NodeReader
    /// The file's name without extension: the sync's default name.
    let stem: String
    let baseDirectory: String
    /// The policies a definition may name.
    let policies: [String: Policy]
    /// Policies whose files have errors of their own (reported there, not again here).
    let brokenPolicies: Set<String>
    /// The project for a table named without one (for the protected-table check).
    let defaultProject: String?

    /// The sync's name (when it could be read), the policy it names (when it could be read), and the
    /// definition (when nothing was wrong).
    struct Decoded {
        var name: String?
        var policyName: String?
        var definition: SyncDefinition?
    }

    func decode(_ root: YAMLNode) -> Decoded {
        guard
            let top = reader.mapping(
                root, path: "", allowed: Self.topKeys, required: Self.requiredTopKeys)
        else {
            return Decoded()
        }
        if let version = top["version"] { checkVersion(version, reader: reader) }
        let name = decodeName(top["name"])
        let description = top["description"].flatMap { reader.string($0, path: "description", allowEmpty: true) }
        let target = top["target"].flatMap(decodeTarget)
        let source = top["source"].flatMap(decodeSource)
        let merge = top["merge"].flatMap { decodeMerge($0, schema: target?.schema) }
        if let incremental = source?.incremental { checkCursor(incremental, schema: target?.schema) }
        let batch = top["batch"].map(decodeBatch) ?? .defaults
        let policyName = decodePolicyName(top["policy"])
        checkPolicy(policyName ?? "default", node: top["policy"], table: target?.table)
        guard let name, let source, let target, let merge, let batch, !reader.diagnostics.hasErrors else {
            return Decoded(name: name, policyName: policyName)
        }
        let definition = SyncDefinition(
            name: name, description: description, source: source, target: target, merge: merge, batch: batch,
            policyName: policyName ?? "default", file: reader.file, marks: reader.marks
        )
        return Decoded(name: name, policyName: policyName, definition: definition)
    }

    /// `policy:`, `default` when it is not written; nil when it is written wrong.
    private func decodePolicyName(_ node: YAMLNode?) -> String? {
        guard let node else { return "default" }
        guard let text = reader.string(node, path: "policy") else { return nil }
        if let problem = Self.nameProblem(text) {
            reader.error("'policy': \(problem)", at: node)
            return nil
        }
        return text
    }

    /// The named policy exists, and does not protect the target table.
    private func checkPolicy(_ name: String, node: YAMLNode?, table: TableName?) {
        guard let policy = policies[name] else {
            if brokenPolicies.contains(name) { return }
            if let node {
                reader.error(
                    "policy \(quote(name)) is not defined in policies/\(Suggest.hint(for: name, in: policies.keys.sorted()))",
                    at: node)
            }
            return
        }
        guard let table, let tableMark = reader.marks["target.table"] else { return }
        let project = table.projectId ?? defaultProject
        let reference = project.flatMap {
            try? TableReference(projectId: $0, datasetId: table.datasetId, tableId: table.tableId)
        }
        // With no project known, a pattern naming a project could still match: treat it as protecting.
        let pattern = policy.protectedTables.first { pattern in
            if let reference { return pattern.matches(reference) }
            return pattern.matches(datasetId: table.datasetId, tableId: table.tableId)
        }
        guard let pattern else { return }
        if reference == nil {
            reader.refusal(
                "target \(quote(table.description)) names no project and could be protected by policy \(quote(policy.name)) (pattern \(quote(pattern.text))); write the project in 'target.table'",
                at: tableMark)
        } else {
            reader.refusal(
                "target \(quote(table.description)) is protected by policy \(quote(policy.name)) (pattern \(quote(pattern.text))); bqsync never writes to it",
                at: tableMark)
        }
    }

    /// Sync and policy names: letters, digits, `_` and `-`, starting with a letter or digit, at most 64.
    static func nameProblem(_ name: String) -> String? {
        if let problem = Naming.unsafeCharacterProblem(name) { return problem }
        guard !name.isEmpty, name.count <= 64 else { return "a name has 1 to 64 characters" }
        guard let first = name.unicodeScalars.first, first.properties.isAlphabetic || ("0"..."9").contains(first) else {
            return "a name starts with a letter or a digit"
        }
        guard
            name.unicodeScalars.allSatisfy({
                $0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "_" || $0 == "-"
            })
        else {
            return "a name holds only letters, digits, '_' and '-'"
        }
        return nil
    }

    private func decodeName(_ node: YAMLNode?) -> String? {
        guard let node else {
            if let problem = Self.nameProblem(stem) {
                reader.error(
                    "the sync is named after its file, \(quote(stem)), which is not a valid name (\(problem)); set 'name:'",
                    at: Mark(line: 1, column: 1))
                return nil
            }
            return stem
        }
        guard let text = reader.string(node, path: "name") else { return nil }
        if let problem = Self.nameProblem(text) {
            reader.error("'name': \(problem)", at: node)
            return nil
        }
        return text
    }
}

/// `version: 1`, the only version there is.
func checkVersion(_ node: YAMLNode, reader: NodeReader) {
    guard let version = reader.int(node, path: "version", range: Int.min...Int.max) else { return }
    if version != 1 {
        reader.error("unsupported 'version' \(version); this bqsync reads version 1", at: node)
    }
}
