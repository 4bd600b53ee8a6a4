import BigQuery
import YAML

/// `merge:` (keys, order_by, update, delete_when) and `batch:`, and the column check they share with `target`.
extension SyncDecoder {
    func decodeMerge(_ node: YAMLNode, schema: [FieldSpec]?) -> MergeSpec? {
        guard
            let fields = reader.mapping(node, path: "merge", allowed: Self.mergeKeys, required: Self.requiredMergeKeys)
        else {
            return nil
        }
        let keys = fields["keys"].map { decodeKeys($0, schema: schema) } ?? []
        let orderBy = fields["order_by"].flatMap { decodeOrderBy($0, keys: keys, schema: schema) }
        let update = fields["update"].map { decodeUpdate($0, keys: keys, schema: schema) } ?? .all
        let deleteWhen = fields["delete_when"].flatMap { decodeDeleteWhen($0, keys: keys, schema: schema) }
        let nullKeys =
            fields["null_keys"].flatMap { reader.choice($0, path: "merge.null_keys", as: MergeSpec.NullKeys.self) }
            ?? .skip
        guard !keys.isEmpty else { return nil }
        return MergeSpec(keys: keys, orderBy: orderBy, update: update, deleteWhen: deleteWhen, nullKeys: nullKeys)
    }

    /// The distinct, comparable key columns that passed their checks.
    private func decodeKeys(_ node: YAMLNode, schema: [FieldSpec]?) -> [String] {
        guard let items = reader.stringList(node, path: "merge.keys") else { return [] }
        var keys: [String] = []
        var seen: [String: Mark] = [:]
        for (key, mark) in items {
            if key == Self.todoMergeKey {
                reader.error(
                    "'merge.keys' is still the TODO 'bqsync init' left: list the columns that identify a row", at: mark)
                continue
            }
            guard checkColumn(key, at: mark, path: "merge.keys", schema: schema) else { continue }
            if let first = seen[key.lowercased()] {
                reader.error(
                    "merge key \(quote(key)) is listed twice", at: mark,
                    notes: ["first listed at \(reader.file.location(first))"])
                continue
            }
            seen[key.lowercased()] = mark
            if let type = Self.type(of: key, in: schema), !type.isComparable {
                reader.error("merge key \(quote(key)) is \(type.rawValue), which BigQuery cannot compare", at: mark)
            }
            keys.append(key)
        }
        return keys
    }

    private func decodeOrderBy(_ node: YAMLNode, keys: [String], schema: [FieldSpec]?) -> String? {
        guard let column = reader.string(node, path: "merge.order_by"),
            checkColumn(column, at: node.mark, path: "merge.order_by", schema: schema)
        else { return nil }
        if Self.isKey(column, keys) {
            reader.error(
                "'merge.order_by' cannot be a merge key: rows with the same key have the same \(quote(column))",
                at: node)
        }
        if let type = Self.type(of: column, in: schema), !type.isOrderable {
            reader.error(
                "'merge.order_by' column \(quote(column)) is \(type.rawValue), which cannot be ordered", at: node)
        }
        return column
    }

    /// `all` (in any case), or a list of distinct non-key columns.
    private func decodeUpdate(_ node: YAMLNode, keys: [String], schema: [FieldSpec]?) -> MergeSpec.Update {
        if node.scalar != nil {
            if let text = reader.string(node, path: "merge.update"), text.lowercased() != "all" {
                reader.error("'merge.update' must be 'all' or a list of columns (got \(quote(text)))", at: node)
            }
            return .all
        }
        guard let columns = reader.stringList(node, path: "merge.update") else { return .all }
        var seen = Set<String>()
        for (column, mark) in columns where checkColumn(column, at: mark, path: "merge.update", schema: schema) {
            if Self.isKey(column, keys) {
                reader.error("\(quote(column)) is a merge key; keys are never updated", at: mark)
            }
            if !seen.insert(column.lowercased()).inserted {
                reader.error("column \(quote(column)) is listed twice in 'merge.update'", at: mark)
            }
        }
        return .columns(columns.map(\.0))
    }

    private func decodeDeleteWhen(_ node: YAMLNode, keys: [String], schema: [FieldSpec]?) -> String? {
        guard let column = reader.string(node, path: "merge.delete_when"),
            checkColumn(column, at: node.mark, path: "merge.delete_when", schema: schema)
        else { return nil }
        if Self.isKey(column, keys) { reader.error("'merge.delete_when' cannot be a merge key", at: node) }
        if let type = Self.type(of: column, in: schema), type != .bool {
            reader.error("'merge.delete_when' column \(quote(column)) must be BOOL (it is \(type.rawValue))", at: node)
        }
        return column
    }

    private static func isKey(_ column: String, _ keys: [String]) -> Bool {
        keys.contains { $0.lowercased() == column.lowercased() }
    }

    /// The declared type of a column (names compare case-insensitively); nil without a schema.
    private static func type(of column: String, in schema: [FieldSpec]?) -> FieldType? {
        schema?.first { $0.name.lowercased() == column.lowercased() }?.type
    }

    /// Checks a column name, and that the schema (when given) has it. Returns whether it is usable.
    @discardableResult
    func checkColumn(_ column: String, at mark: Mark, path: String, schema: [FieldSpec]?) -> Bool {
        if let problem = Naming.columnProblem(column) {
            reader.error("'\(path)': column \(quote(column)): \(problem)", at: mark)
            return false
        }
        if let schema, !schema.contains(where: { $0.name.lowercased() == column.lowercased() }) {
            let names = schema.map(\.name)
            reader.error(
                "'\(path)': column \(quote(column)) is not in 'target.schema'\(Suggest.hint(for: column, in: names))",
                at: mark)
            return false
        }
        return true
    }

    // MARK: batch

    func decodeBatch(_ node: YAMLNode) -> BatchSpec? {
        guard let fields = reader.mapping(node, path: "batch", allowed: Self.batchKeys) else { return nil }
        let size =
            fields["size"].map { reader.int($0, path: "batch.size", range: Self.batchSizeRange) }
            ?? BatchSpec.defaults.size
        let strategy =
            fields["strategy"].map { reader.choice($0, path: "batch.strategy", as: BatchSpec.Strategy.self) }
            ?? BatchSpec.defaults.strategy
        guard let size, let strategy else { return nil }
        return BatchSpec(size: size, strategy: strategy)
    }
}
