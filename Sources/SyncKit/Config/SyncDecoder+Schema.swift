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
        guard let keys = reader.mapping(item, path: path, allowed: Self.columnKeys, required: ["name", "type"])
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
            name: name, nameNode: keys["name"], type: keys["type"].flatMap { columnType($0, path: "\(path).type") },
            mode: keys["mode"].map { columnMode($0, path: "\(path).mode") } ?? .nullable, description: description)
    }

    private func columnType(_ node: YAMLNode, path: String) -> FieldType? {
        guard let text = reader.string(node, path: path) else { return nil }
        if let type = FieldType(bigQueryName: text) { return type }
        let unsupported = ["RECORD", "STRUCT", "ARRAY", "GEOGRAPHY", "INTERVAL", "RANGE"]
        if unsupported.contains(text.uppercased()) {
            reader.error("column type \(text.uppercased()) is not supported by bqsync", at: node)
        } else {
            reader.error(
                "unknown column type \(quote(text))\(Suggest.hint(for: text.uppercased(), in: FieldType.allCases.map(\.rawValue)))",
                at: node)
        }
        return nil
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
