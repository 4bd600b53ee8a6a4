import YAML

/// Reads typed values out of YAML nodes for one file, collecting every problem instead of stopping at the
/// first, and remembering where each key was written.
final class NodeReader {
    let file: ConfigFile
    /// What the whole file is, for messages about its top level: "a sync definition", "a policy".
    let documentKind: String
    /// Where each key of this kind of file belongs, for a key written in the wrong block.
    let homes: KeyHomes
    private(set) var diagnostics: [Diagnostic] = []
    private(set) var marks: [String: Mark] = [:]

    init(file: ConfigFile, documentKind: String = "the document", homes: KeyHomes = KeyHomes([])) {
        self.file = file
        self.documentKind = documentKind
        self.homes = homes
    }

    func error(_ message: String, at mark: Mark, notes: [String] = []) {
        diagnostics.append(file.error(message, at: mark, notes: notes))
    }

    /// An error about a node; a value reached through an alias is reported at the alias, with a note
    /// saying where it was written.
    func error(_ message: String, at node: YAMLNode, notes: [String] = []) {
        error(message, at: node.mark, notes: notes + aliasNote(node))
    }

    /// An error that is a refusal by policy (a protected target): `plan` and `apply` exit 3 for it.
    func refusal(_ message: String, at mark: Mark) {
        var diagnostic = file.error(message, at: mark)
        diagnostic.isRefusal = true
        diagnostics.append(diagnostic)
    }

    func warning(_ message: String, at mark: Mark) {
        diagnostics.append(file.warning(message, at: mark))
    }

    private func aliasNote(_ node: YAMLNode) -> [String] {
        guard let origin = node.anchorMark else { return [] }
        return ["the value comes through an alias from \(file.location(origin))"]
    }

    /// The keys of a mapping, checked: it is a mapping, every key is known (else where it belongs, or a
    /// did-you-mean), and the required ones are there. `elsewhere` maps keys that belong to another variant to a hint.
    func mapping(
        _ node: YAMLNode, path: String, allowed: [String], required: [String] = [],
        elsewhere: [String: String] = [:]
    ) -> [String: YAMLNode]? {
        guard let pairs = node.mapping else {
            error(
                "\(label(path)) must be a mapping\(path.isEmpty ? " of keys" : ""), not \(node.kindDescription)",
                at: node)
            return nil
        }
        var fields: [String: YAMLNode] = [:]
        for pair in pairs {
            let key = pair.key.scalar?.value ?? ""
            let keyPath = path.isEmpty ? key : "\(path).\(key)"
            if let hint = elsewhere[key] {
                error("\(quote(key)) does not belong here: \(hint)", at: pair.key.mark)
            } else if allowed.contains(key) {
                fields[key] = pair.value
                marks[keyPath] = pair.value.mark
            } else if key == "<<" {
                error("YAML merge keys ('<<') are not supported; write the keys out", at: pair.key.mark)
            } else {
                let place = path.isEmpty ? "" : " in '\(path)'"
                // A key another block has is more likely misplaced than misspelt.
                let hint = homes.hint(for: key, at: path) ?? Suggest.hint(for: key, in: allowed)
                error("unknown key \(quote(key))\(place)\(hint)", at: pair.key.mark)
            }
        }
        for key in required where fields[key] == nil && elsewhere[key] == nil {
            let place = path.isEmpty ? "" : " in '\(path)'"
            error("missing required key '\(key)'\(place)", at: node.mark)
        }
        return fields
    }

    /// A string; plain numbers are read as their text, but null, booleans and collections are refused.
    func string(_ node: YAMLNode, path: String, allowEmpty: Bool = false) -> String? {
        guard let scalar = node.scalar else {
            error("\(label(path)) must be a string, not \(node.kindDescription)", at: node)
            return nil
        }
        switch scalar.resolved {
        case .null:
            error("\(label(path)) must be a string, not null", at: node)
            return nil
        case .bool:
            error("\(label(path)) must be a string, not a boolean (quote it if you mean the text)", at: node)
            return nil
        default:
            if !allowEmpty && scalar.value.isEmpty {
                error("\(label(path)) must not be empty", at: node)
                return nil
            }
            return scalar.value
        }
    }

    /// An integer within a range.
    func int(_ node: YAMLNode, path: String, range: ClosedRange<Int>) -> Int? {
        guard case .int(let value)? = node.scalar?.resolved else {
            error("\(label(path)) must be an integer, not \(node.kindDescription)", at: node)
            return nil
        }
        guard range.contains(value) else {
            error(
                "\(label(path)) must be between \(formatInt(range.lowerBound)) and \(formatInt(range.upperBound)) (got \(formatInt(value)))",
                at: node)
            return nil
        }
        return value
    }

    /// A boolean: true or false.
    func bool(_ node: YAMLNode, path: String) -> Bool? {
        guard case .bool(let value)? = node.scalar?.resolved else {
            error("\(label(path)) must be true or false, not \(node.kindDescription)", at: node)
            return nil
        }
        return value
    }

    /// A number (integer or decimal), as text, for unit parsers.
    func scalarText(_ node: YAMLNode, path: String) -> String? {
        guard let scalar = node.scalar else {
            error("\(label(path)) must be a single value, not \(node.kindDescription)", at: node)
            return nil
        }
        if case .null = scalar.resolved {
            error("\(label(path)) must have a value, not null", at: node)
            return nil
        }
        if case .bool = scalar.resolved {
            error("\(label(path)) must be a value with a unit, not a boolean", at: node)
            return nil
        }
        return scalar.value
    }

    /// A value parsed by a unit parser, its problem reported at the node.
    func unit<T>(_ node: YAMLNode, path: String, _ parse: (String) throws(Units.Problem) -> T) -> T? {
        guard let text = scalarText(node, path: path) else { return nil }
        do {
            return try parse(text)
        } catch {
            self.error("\(label(path)): \(error.message)", at: node)
            return nil
        }
    }

    /// A list of nodes, each item's mark remembered as `path[i]`.
    func list(_ node: YAMLNode, path: String, allowEmpty: Bool = false) -> [YAMLNode]? {
        guard let items = node.sequence else {
            error("\(label(path)) must be a list, not \(node.kindDescription)", at: node)
            return nil
        }
        if items.isEmpty && !allowEmpty {
            error("\(label(path)) must not be empty", at: node)
            return nil
        }
        for (index, item) in items.enumerated() { marks["\(path)[\(index)]"] = item.mark }
        return items
    }

    /// A list of strings with their marks.
    func stringList(_ node: YAMLNode, path: String, allowEmpty: Bool = false) -> [(String, Mark)]? {
        guard let items = list(node, path: path, allowEmpty: allowEmpty) else { return nil }
        var result: [(String, Mark)] = []
        var ok = true
        for (index, item) in items.enumerated() {
            if let text = string(item, path: "\(path)[\(index)]") {
                result.append((text, item.mark))
            } else {
                ok = false
            }
        }
        return ok ? result : nil
    }

    /// One of a fixed set of words, in any case (as column types and modes are), with a did-you-mean.
    func choice<T: RawRepresentable & CaseIterable>(_ node: YAMLNode, path: String, as: T.Type) -> T?
    where T.RawValue == String {
        guard let text = string(node, path: path) else { return nil }
        let options = T.allCases.map(\.rawValue)
        if let value = T.allCases.first(where: { $0.rawValue.lowercased() == text.lowercased() }) { return value }
        error(
            "\(label(path)) must be one of \(options.joined(separator: ", ")) (got \(quote(text)))\(Suggest.hint(for: text, in: options))",
            at: node)
        return nil
    }

    func remember(_ path: String, _ mark: Mark) { marks[path] = mark }

    private func label(_ path: String) -> String { path.isEmpty ? documentKind : "'\(path)'" }
}

/// Text from the user quoted for a message: escaped, and cut when long (see `SourceText.quoted`).
func quote(_ text: String) -> String { SourceText.quoted(text) }

/// 50000 → "50,000".
func formatInt(_ value: Int) -> String {
    let digits = String(value.magnitude)
    var out = ""
    for (index, char) in digits.enumerated() {
        if index > 0 && (digits.count - index) % 3 == 0 { out.append(",") }
        out.append(char)
    }
    return (value < 0 ? "-" : "") + out
}
