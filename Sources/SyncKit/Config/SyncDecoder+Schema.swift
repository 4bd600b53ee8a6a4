import BigQuery
import YAML

/// `target.schema`: the declared columns, each a name, a type, a mode and a description.
extension SyncDecoder {
    /// One schema item as written; a part that is wrong has its error already and is nil.
    private struct Column {
        var name: String?
        var nameNode: YAMLNode?
        var type: FieldType?
        var mode: FieldMode
        var description: String?
    }

    /// The columns, or nil when any of them is wrong (each error reported at its place).
    func decodeSchema(_ node: YAMLNode) -> [FieldSpec]? {
        guard let items = reader.list(node, path: "target.schema") else { return nil }
        var fields: [FieldSpec] = []
        var seen: [String: Mark] = [:]
        for (index, item) in items.enumerated() {
            guard let column = decodeColumn(item, path: "target.schema[\(index)]") else { continue }
            guard let name = column.name, let nameNode = column.nameNode else { continue }
            if let first = seen[name.lowercased()] {
                reader.error(
                    "column \(quote(name)) is declared twice (column names are case-insensitive)", at: nameNode,
                    notes: ["first declared at \(reader.file.location(first))"])
                continue
            }
            seen[name.lowercased()] = nameNode.mark
            if let type = column.type {
                reader.remember(DefinitionKey.column(name).path, item.mark)
                fields.append(FieldSpec(name: name, type: type, mode: column.mode, description: column.description))
            }
        }
        return fields.count == items.count ? fields : nil
    }

    private func decodeColumn(_ item: YAMLNode, path: String) -> Column? {
        let split = Self.splitType(item)
        guard
            let keys = reader.mapping(
                item, path: path, allowed: Self.columnKeys + (split?.pieces ?? []),
                required: Self.requiredColumnKeys)
        else { return nil }
        var name: String?
        if let node = keys["name"], let text = reader.string(node, path: "\(path).name") {
            if let problem = Naming.columnProblem(text) {
                reader.error("column \(quote(text)): \(problem)", at: node)
            } else {
                name = text
            }
        }
        let description = keys["description"].flatMap {
            reader.string($0, path: "\(path).description", allowEmpty: true)
        }
        return Column(
            name: name, nameNode: keys["name"],
            type: keys["type"].flatMap { columnType($0, path: "\(path).type", written: split?.text) },
            mode: keys["mode"].map { columnMode($0, path: "\(path).mode") } ?? .nullable, description: description)
    }

    /// A column's type; `written` is its text when a flow mapping split it at a comma (`decimal(10,2)`).
    private func columnType(_ node: YAMLNode, path: String, written: String?) -> FieldType? {
        guard let text = written ?? reader.string(node, path: path) else { return nil }
        switch ColumnTypes.read(text) {
        case .success(let type): return type
        case .failure(let problem):
            reader.error(problem.message, at: node)
            return nil
        }
    }

    /// In a flow mapping, `{name: amount, type: decimal(10,2)}` is split by its comma into `type: decimal(10`
    /// and a key `2)` without a value. This puts the type back together (`decimal(10,2)`), and names the keys
    /// that were pieces of it, so that the type gets one message and the pieces none.
    static func splitType(_ item: YAMLNode) -> (text: String, pieces: [String])? {
        guard let pairs = item.mapping,
            let start = pairs.firstIndex(where: { $0.key.scalar?.value == "type" }),
            var text = pairs[start].value.scalar?.value, ColumnTypes.openBrackets(text) > 0
        else { return nil }
        var pieces: [String] = []
        for pair in pairs[(start + 1)...] {
            guard ColumnTypes.openBrackets(text) > 0, let key = pair.key.scalar?.value,
                let value = pair.value.scalar, value.value.isEmpty, value.style == .plain
            else { break }
            text += "," + key
            pieces.append(key)
        }
        return pieces.isEmpty ? nil : (text, pieces)
    }

    /// NULLABLE or REQUIRED, in any case; a wrong mode is reported and read as NULLABLE.
    private func columnMode(_ node: YAMLNode, path: String) -> FieldMode {
        guard let text = reader.string(node, path: path) else { return .nullable }
        switch text.uppercased() {
        case "NULLABLE": return .nullable
        case "REQUIRED": return .required
        case "REPEATED": reader.error("mode REPEATED is not supported by bqsync", at: node)
        default: reader.error("'\(path)' must be NULLABLE or REQUIRED (got \(quote(text)))", at: node)
        }
        return .nullable
    }
}
