import BigQuery
import YAML

/// `target:`: the table, where it lives, and what bqsync creates it with (schema, partitioning, clustering).
extension SyncDecoder {
    func decodeTarget(_ node: YAMLNode) -> TargetSpec? {
        guard
            let fields = reader.mapping(
                node, path: "target", allowed: Self.targetKeys, required: Self.requiredTargetKeys)
        else {
            return nil
        }
        let table = fields["table"].flatMap(tableName)
        let create = fields["create_if_missing"].flatMap { reader.bool($0, path: "target.create_if_missing") } ?? false
        let schema = fields["schema"].flatMap(decodeSchema)
        if create, fields["schema"] == nil, let node = fields["create_if_missing"] {
            reader.error("'target.create_if_missing' needs 'target.schema' to create the table from", at: node)
        }
        let partitioning = fields["partitioning"].flatMap { decodePartitioning($0, schema: schema) }
        let clustering = fields["clustering"].map { decodeClustering($0, schema: schema) } ?? []
        let location = fields["location"].flatMap(decodeLocation)
        for (key, node) in [("partitioning", fields["partitioning"]), ("clustering", fields["clustering"])] {
            if let node, !create {
                reader.warning(
                    "'target.\(key)' is used only when bqsync creates the table (create_if_missing: true)",
                    at: node.mark)
            }
        }
        guard let table else { return nil }
        return TargetSpec(
            table: table, createIfMissing: create, location: location, schema: schema, partitioning: partitioning,
            clustering: clustering)
    }

    private func tableName(_ node: YAMLNode) -> TableName? {
        guard let text = reader.string(node, path: "target.table") else { return nil }
        if text == Self.todoTable {
            reader.error("'target.table' is still the TODO 'bqsync init' left: name the table to write", at: node)
            return nil
        }
        do throws(TableName.Problem) {
            return try TableName(checking: text)
        } catch {
            reader.error("'target.table': \(Self.describe(error, in: text))", at: node)
            return nil
        }
    }

    /// At most 4 distinct columns of the schema (when there is one).
    private func decodeClustering(_ node: YAMLNode, schema: [FieldSpec]?) -> [String] {
        guard let columns = reader.stringList(node, path: "target.clustering") else { return [] }
        if columns.count > Self.maxClusteringColumns {
            reader.error(
                "'target.clustering' has at most \(Self.maxClusteringColumns) columns (got \(columns.count))", at: node)
        }
        var seen = Set<String>()
        for (column, mark) in columns {
            checkColumn(column, at: mark, path: "target.clustering", schema: schema)
            if !seen.insert(column.lowercased()).inserted {
                reader.error("clustering column \(quote(column)) is listed twice", at: mark)
            }
        }
        return columns.map(\.0)
    }

    private func decodeLocation(_ node: YAMLNode) -> String? {
        guard let text = reader.string(node, path: "target.location") else { return nil }
        guard let canonical = Self.canonicalLocation(text) else {
            reader.error(
                "'target.location': \(quote(text)) is not a BigQuery location (US, EU, or a region such as europe-west1)",
                at: node)
            return nil
        }
        return canonical
    }

    /// A BigQuery location as BigQuery names it: the multi-regions `US` and `EU` in capitals, a region
    /// (`europe-west1`, `asia-northeast1`, `us-east4`) in lowercase; nil when the text is neither.
    static func canonicalLocation(_ text: String) -> String? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if ["US", "EU"].contains(trimmed.uppercased()) { return trimmed.uppercased() }
        let region = trimmed.lowercased()
        let parts = region.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count >= 2, parts.count <= 3,
            parts.allSatisfy({ !$0.isEmpty && $0.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber) } }),
            parts[0].allSatisfy(\.isLetter), let last = parts.last, last.last?.isNumber == true
        else { return nil }
        return region
    }

    func decodePartitioning(_ node: YAMLNode, schema: [FieldSpec]?) -> PartitioningSpec? {
        guard
            let keys = reader.mapping(
                node, path: "target.partitioning", allowed: Self.partitioningKeys,
                required: Self.requiredPartitioningKeys)
        else { return nil }
        let granularity =
            keys["type"].map {
                reader.choice(
                    $0, path: "target.partitioning.type", as: PartitioningSpec.Granularity.self)
            } ?? .day
        guard let fieldNode = keys["field"], let field = reader.string(fieldNode, path: "target.partitioning.field"),
            let granularity
        else { return nil }
        checkColumn(field, at: fieldNode.mark, path: "target.partitioning.field", schema: schema)
        if let column = schema?.first(where: { $0.name.lowercased() == field.lowercased() }) {
            switch column.type {
            case .date where granularity == .hour:
                reader.error("a DATE column cannot be partitioned by HOUR", at: fieldNode)
            case .date, .datetime, .timestamp: break
            default:
                reader.error(
                    "partitioning column \(quote(field)) must be DATE, DATETIME or TIMESTAMP (it is \(column.type.rawValue))",
                    at: fieldNode)
            }
        }
        return PartitioningSpec(field: field, type: granularity)
    }

    /// What is wrong with `[project.]dataset.table`, naming the part and quoting it safely; nil if fine.
    static func tableNameProblem(_ text: String) -> String? {
        do throws(TableName.Problem) {
            _ = try TableName(checking: text)
            return nil
        } catch {
            return describe(error, in: text)
        }
    }

    /// A `TableName(checking:)` problem with the name quoted safely (`init(parsing:)` echoes it unescaped and in
    /// full), and for a name not of the form, first any character no name may hold.
    static func describe(_ problem: TableName.Problem, in text: String) -> String {
        if problem == .form, let unsafe = Naming.unsafeCharacterProblem(text) { return "\(quote(text)): \(unsafe)" }
        return problem.message(for: text, showing: quote)
    }

}
