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
    ]
    static let requiredSourceKeys: [SourceSpec.Kind: [String]] = [
        .ndjson: ["path"], .csv: ["path"], .query: ["query"], .gcs: ["uris"],
    ]

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

    /// The sync's name (when it could be read) and the definition (when nothing was wrong).
    struct Decoded {
        var name: String?
        var definition: SyncDefinition?
    }

    func decode(_ root: YAMLNode) -> Decoded {
        let sync = decodeDefinition(root)
        return Decoded(name: sync.name, definition: sync.definition)
    }

    private func decodeDefinition(_ root: YAMLNode) -> (name: String?, definition: SyncDefinition?) {
        guard
            let top = reader.mapping(
                root, path: "", allowed: Self.topKeys, required: ["version", "source", "target", "merge"])
        else {
            return (nil, nil)
        }
        if let version = top["version"] { checkVersion(version, reader: reader) }
        let name = decodeName(top["name"])
        let description = top["description"].flatMap { reader.string($0, path: "description", allowEmpty: true) }
        let target = top["target"].flatMap(decodeTarget)
        let source = top["source"].flatMap(decodeSource)
        let merge = top["merge"].flatMap { decodeMerge($0, schema: target?.schema) }
        let batch = top["batch"].map(decodeBatch) ?? .defaults
        var policyName = "default"
        if let node = top["policy"], let text = reader.string(node, path: "policy") {
            if let problem = Self.nameProblem(text) {
                reader.error("'policy': \(problem)", at: node)
            } else {
                policyName = text
            }
        }
        checkPolicy(policyName, node: top["policy"], table: target?.table)
        guard let name, let source, let target, let merge, let batch, !reader.diagnostics.hasErrors else {
            return (name, nil)
        }
        let definition = SyncDefinition(
            name: name, description: description, source: source, target: target, merge: merge, batch: batch,
            policyName: policyName, file: reader.file, marks: reader.marks
        )
        return (name, definition)
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

    // MARK: source

    private func decodeSource(_ node: YAMLNode) -> SourceSpec? {
        guard node.mapping != nil else {
            _ = reader.mapping(node, path: "source", allowed: [])
            return nil
        }
        guard let typeNode = node["type"] else {
            reader.error(
                "missing required key 'type' in 'source' (one of \(SourceSpec.Kind.allCases.map(\.rawValue).joined(separator: ", ")))",
                at: node)
            return nil
        }
        guard let kind = reader.choice(typeNode, path: "source.type", as: SourceSpec.Kind.self) else { return nil }
        let own = Self.sourceKeys[kind] ?? []
        var elsewhere: [String: String] = [:]
        for (other, keys) in Self.sourceKeys where other != kind {
            for key in keys where !own.contains(key) {
                let owners = Self.sourceKeys.filter { $0.value.contains(key) }.map(\.key.rawValue).sorted()
                elsewhere[key] =
                    "it is for source type \(owners.joined(separator: " or ")), and this source is type '\(kind.rawValue)'"
            }
        }
        let allKeys = Self.sourceKeys.values.flatMap { $0 } + ["type"]
        guard
            let fields = reader.mapping(
                node, path: "source", allowed: own + ["type"], required: Self.requiredSourceKeys[kind] ?? [],
                elsewhere: elsewhere.filter { allKeys.contains($0.key) })
        else { return nil }
        var spec = SourceSpec(kind: kind, baseDirectory: baseDirectory)
        if let node = fields["path"], let path = reader.string(node, path: "source.path") {
            if path.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) {
                reader.error("'source.path' holds a control character or line break (got \(quote(path)))", at: node)
            }
            spec.path = path
        }
        if let node = fields["query"], let query = reader.string(node, path: "source.query") {
            if let problem = Self.queryProblem(query) { reader.error("'source.query': \(problem)", at: node) }
            spec.query = query
        }
        if let node = fields["uris"], let uris = reader.stringList(node, path: "source.uris") {
            for (uri, mark) in uris {
                if let problem = Self.gcsURIProblem(uri) { reader.error("'source.uris': \(problem)", at: mark) }
            }
            spec.uris = uris.map(\.0)
        }
        if kind == .gcs {
            spec.format =
                fields["format"].map {
                    reader.choice($0, path: "source.format", as: SourceSpec.Format.self, caseInsensitive: true)
                } ?? .ndjson
        }
        if let node = fields["delimiter"], let text = reader.string(node, path: "source.delimiter") {
            if let problem = Self.delimiterProblem(text, forLoadJob: kind == .gcs) {
                reader.error("'source.delimiter' \(problem) (got \(quote(text)))", at: node)
            } else if let char = text.first {
                spec.delimiter = char
            }
            if kind == .gcs, spec.format != .csv {
                reader.error("'source.delimiter' applies only to format CSV", at: node)
            }
        }
        if let node = fields["skip_leading_rows"],
            let rows = reader.int(node, path: "source.skip_leading_rows", range: 0...1_000_000)
        {
            if spec.format != .csv { reader.error("'source.skip_leading_rows' applies only to format CSV", at: node) }
            spec.skipLeadingRows = rows
        }
        if let node = fields["null_marker"],
            let marker = reader.string(node, path: "source.null_marker", allowEmpty: true)
        {
            spec.nullMarker = marker
        }
        if let node = fields["ignore_unknown_fields"],
            let flag = reader.bool(node, path: "source.ignore_unknown_fields")
        {
            spec.ignoreUnknownFields = flag
        }
        return spec
    }

    /// A CSV delimiter is exactly one character (one Unicode scalar: "\r\n" is one Swift `Character` but two
    /// characters in a file) and not one that CSV itself uses; a load job (gcs) needs a single-byte one.
    static func delimiterProblem(_ text: String, forLoadJob: Bool) -> String? {
        let scalars = Array(text.unicodeScalars)
        guard scalars.count == 1, let scalar = scalars.first else { return "must be exactly one character" }
        switch scalar {
        case "\"": return "cannot be the quote character"
        case "\n", "\r", "\u{85}", "\u{2028}", "\u{2029}": return "cannot be a line break"
        case "\t": return nil
        default: break
        }
        if scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) { return "cannot be a control character" }
        if forLoadJob && scalar.value > 0xFF {
            return "must be a single-byte (ISO-8859-1) character for a BigQuery load job"
        }
        return nil
    }

    /// A query source must be one SELECT (or WITH … SELECT, possibly in parentheses): it becomes the MERGE's
    /// `USING (…)`. Strings, quoted identifiers and comments are skipped, so a `;` inside them is fine, and
    /// so is a final `;`.
    static func queryProblem(_ query: String) -> String? {
        let chars = Array(query.unicodeScalars)
        var index = 0
        var firstWord: String?
        var sawOpenParen = false
        var statementEnded = false
        while index < chars.count {
            let piece: QueryPiece
            if let trivia = triviaPiece(chars, at: index) {
                piece = trivia
            } else if statementEnded {
                return "must be a single statement (found ';' followed by more)"
            } else {
                piece = contentPiece(chars, at: index)
            }
            switch piece {
            case .skip(let end):
                index = end
            case .semicolon:
                statementEnded = true
                index += 1
            case .openParen:
                if firstWord == nil { sawOpenParen = true }
                index += 1
            case .text(let text, let end):
                if firstWord == nil { firstWord = text }
                index = end
            case .problem(let problem):
                return problem
            }
        }
        let keyword = firstWord?.uppercased() ?? ""
        guard keyword == "SELECT" || keyword == "WITH" else {
            let found = keyword.isEmpty ? "nothing" : quote(firstWord ?? "")
            return "must be a SELECT (or WITH … SELECT) query, not \(found)\(sawOpenParen ? " in parentheses" : "")"
        }
        return nil
    }

    /// What `queryProblem` reads at one place of a query.
    private enum QueryPiece {
        /// Whitespace or a comment, up to `end`.
        case skip(to: Int)
        case semicolon
        case openParen
        /// A word, a string or quoted identifier (its first 20 characters), or any other one character, up to `end`.
        case text(String, to: Int)
        /// An unterminated comment, string or quoted identifier.
        case problem(String)
    }

    /// Whitespace, a comment or a `;` at `index`; nil when something else starts there.
    private static func triviaPiece(_ chars: [Unicode.Scalar], at index: Int) -> QueryPiece? {
        let c = chars[index]
        let next: Unicode.Scalar? = index + 1 < chars.count ? chars[index + 1] : nil
        if c.properties.isWhitespace { return .skip(to: index + 1) }
        if (c == "-" && next == "-") || c == "#" {
            var end = index
            while end < chars.count, chars[end] != "\n", chars[end] != "\r" { end += 1 }
            return .skip(to: end)
        }
        if c == "/" && next == "*" {
            var end = index + 2
            while end + 1 < chars.count, !(chars[end] == "*" && chars[end + 1] == "/") { end += 1 }
            guard end + 1 < chars.count else { return .problem("an unterminated /* comment") }
            return .skip(to: end + 2)
        }
        // Final semicolons are fine; anything else after one is a second statement.
        return c == ";" ? .semicolon : nil
    }

    /// The string, quoted identifier, word, `(` or other character at `index`.
    private static func contentPiece(_ chars: [Unicode.Scalar], at index: Int) -> QueryPiece {
        let c = chars[index]
        if c == "'" || c == "\"" || c == "`" {
            guard let end = quotedEnd(chars, at: index) else {
                return .problem(c == "`" ? "an unterminated `quoted identifier`" : "an unterminated string")
            }
            return .text(String(String.UnicodeScalarView(chars[index..<min(end, index + 20)])), to: end)
        }
        if isWordChar(c) {
            var end = index
            while end < chars.count, isWordChar(chars[end]) { end += 1 }
            return .text(String(String.UnicodeScalarView(chars[index..<end])), to: end)
        }
        return c == "(" ? .openParen : .text(String(c), to: index + 1)
    }

    /// Just past the closing quote of the string or quoted identifier opening at `index` (one quote, or three of
    /// ' or "; backslash escapes skipped); nil when it is unterminated (a one-quote string ends at a line break).
    private static func quotedEnd(_ chars: [Unicode.Scalar], at index: Int) -> Int? {
        let c = chars[index]
        let triple = c != "`" && index + 2 < chars.count && chars[index + 1] == c && chars[index + 2] == c
        let quote = triple ? 3 : 1
        var end = index + quote
        while end < chars.count {
            if chars[end] == "\\" {
                end += 2
                continue
            }
            if !triple, chars[end] == "\n" || chars[end] == "\r" { return nil }
            if chars[end] == c, !triple || (end + 2 < chars.count && chars[end + 1] == c && chars[end + 2] == c) {
                return end + quote
            }
            end += 1
        }
        return nil
    }

    private static func isWordChar(_ c: Unicode.Scalar) -> Bool {
        c.properties.isAlphabetic || ("0"..."9").contains(c) || c == "_"
    }

    /// `gs://bucket/object`, bucket 3–222 of [a-z0-9._-], at most one `*` in the object name.
    static func gcsURIProblem(_ uri: String) -> String? {
        guard uri.hasPrefix("gs://") else { return "\(quote(uri)) is not a gs:// URI" }
        let rest = uri.dropFirst(5)
        guard let slash = rest.firstIndex(of: "/") else { return "\(quote(uri)) names a bucket but no object" }
        let bucket = rest[..<slash]
        let object = rest[rest.index(after: slash)...]
        guard (3...222).contains(bucket.count),
            bucket.unicodeScalars.allSatisfy({
                ("a"..."z").contains($0) || ("0"..."9").contains($0) || "._-".unicodeScalars.contains($0)
            })
        else {
            return "\(quote(String(bucket))) is not a valid bucket name"
        }
        guard !object.isEmpty else { return "\(quote(uri)) names no object" }
        guard object.filter({ $0 == "*" }).count <= 1 else {
            return "\(quote(uri)) has more than one '*' (BigQuery allows one)"
        }
        if object.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) {
            return "\(quote(uri)) holds control characters"
        }
        return nil
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

    // MARK: target

    private func decodeTarget(_ node: YAMLNode) -> TargetSpec? {
        guard
            let fields = reader.mapping(
                node, path: "target",
                allowed: ["table", "create_if_missing", "location", "schema", "partitioning", "clustering"],
                required: ["table"])
        else {
            return nil
        }
        var table: TableName?
        if let node = fields["table"], let text = reader.string(node, path: "target.table") {
            do throws(TableName.Problem) {
                table = try TableName(checking: text)
            } catch {
                reader.error("'target.table': \(Self.describe(error, in: text))", at: node)
            }
        }
        let create = fields["create_if_missing"].flatMap { reader.bool($0, path: "target.create_if_missing") } ?? false
        let schema = fields["schema"].flatMap(decodeSchema)
        if create, fields["schema"] == nil, let node = fields["create_if_missing"] {
            reader.error("'target.create_if_missing' needs 'target.schema' to create the table from", at: node)
        }
        var partitioning: PartitioningSpec?
        if let node = fields["partitioning"] {
            partitioning = decodePartitioning(node, schema: schema)
        }
        var clustering: [String] = []
        if let node = fields["clustering"], let columns = reader.stringList(node, path: "target.clustering") {
            if columns.count > 4 {
                reader.error("'target.clustering' has at most 4 columns (got \(columns.count))", at: node)
            }
            var seen = Set<String>()
            for (column, mark) in columns {
                checkColumn(column, at: mark, path: "target.clustering", schema: schema)
                if !seen.insert(column.lowercased()).inserted {
                    reader.error("clustering column \(quote(column)) is listed twice", at: mark)
                }
            }
            clustering = columns.map(\.0)
        }
        var location: String?
        if let node = fields["location"], let text = reader.string(node, path: "target.location") {
            if let canonical = Self.canonicalLocation(text) {
                location = canonical
            } else {
                reader.error(
                    "'target.location': \(quote(text)) is not a BigQuery location (US, EU, or a region such as europe-west1)",
                    at: node)
            }
        }
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

    private func decodeSchema(_ node: YAMLNode) -> [FieldSpec]? {
        guard let items = reader.list(node, path: "target.schema") else { return nil }
        var fields: [FieldSpec] = []
        var seen: [String: Mark] = [:]
        for (index, item) in items.enumerated() {
            let path = "target.schema[\(index)]"
            guard
                let keys = reader.mapping(
                    item, path: path, allowed: ["name", "type", "mode", "description"], required: ["name", "type"])
            else { continue }
            var name: String?
            if let node = keys["name"], let text = reader.string(node, path: "\(path).name") {
                if let problem = Naming.columnProblem(text) {
                    reader.error("column \(quote(text)): \(problem)", at: node)
                } else if let first = seen[text.lowercased()] {
                    reader.error(
                        "column \(quote(text)) is declared twice (column names are case-insensitive)", at: node,
                        notes: ["first declared at \(reader.file.location(first))"])
                } else {
                    seen[text.lowercased()] = node.mark
                    name = text
                }
            }
            var type: FieldType?
            if let node = keys["type"], let text = reader.string(node, path: "\(path).type") {
                type = FieldType(bigQueryName: text)
                if type == nil {
                    let unsupported = ["RECORD", "STRUCT", "ARRAY", "GEOGRAPHY", "INTERVAL", "RANGE"]
                    if unsupported.contains(text.uppercased()) {
                        reader.error("column type \(text.uppercased()) is not supported by bqsync", at: node)
                    } else {
                        reader.error(
                            "unknown column type \(quote(text))\(Suggest.hint(for: text.uppercased(), in: FieldType.allCases.map(\.rawValue)))",
                            at: node)
                    }
                }
            }
            var mode = FieldMode.nullable
            if let node = keys["mode"], let text = reader.string(node, path: "\(path).mode") {
                switch text.uppercased() {
                case "NULLABLE": mode = .nullable
                case "REQUIRED": mode = .required
                case "REPEATED": reader.error("mode REPEATED is not supported by bqsync", at: node)
                default: reader.error("'\(path).mode' must be NULLABLE or REQUIRED (got \(quote(text)))", at: node)
                }
            }
            let description = keys["description"].flatMap {
                reader.string($0, path: "\(path).description", allowEmpty: true)
            }
            if let name, let type {
                reader.remember(DefinitionKey.column(name).path, item.mark)
                fields.append(FieldSpec(name: name, type: type, mode: mode, description: description))
            }
        }
        return fields.count == items.count ? fields : nil
    }

    private func decodePartitioning(_ node: YAMLNode, schema: [FieldSpec]?) -> PartitioningSpec? {
        guard
            let keys = reader.mapping(
                node, path: "target.partitioning", allowed: ["field", "type"], required: ["field"])
        else { return nil }
        let granularity =
            keys["type"].map {
                reader.choice(
                    $0, path: "target.partitioning.type", as: PartitioningSpec.Granularity.self, caseInsensitive: true)
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

    // MARK: merge

    private func decodeMerge(_ node: YAMLNode, schema: [FieldSpec]?) -> MergeSpec? {
        guard
            let fields = reader.mapping(
                node, path: "merge", allowed: ["keys", "order_by", "update", "delete_when"], required: ["keys"])
        else {
            return nil
        }
        var keys: [String] = []
        if let node = fields["keys"], let items = reader.stringList(node, path: "merge.keys") {
            var seen: [String: Mark] = [:]
            for (key, mark) in items {
                guard checkColumn(key, at: mark, path: "merge.keys", schema: schema) else { continue }
                if let first = seen[key.lowercased()] {
                    reader.error(
                        "merge key \(quote(key)) is listed twice", at: mark,
                        notes: ["first listed at \(reader.file.location(first))"])
                    continue
                }
                seen[key.lowercased()] = mark
                if let type = schema?.first(where: { $0.name.lowercased() == key.lowercased() })?.type,
                    !type.isComparable
                {
                    reader.error("merge key \(quote(key)) is \(type.rawValue), which BigQuery cannot compare", at: mark)
                }
                keys.append(key)
            }
        }
        let isKey = { (column: String) in keys.contains { $0.lowercased() == column.lowercased() } }
        var orderBy: String?
        if let node = fields["order_by"], let column = reader.string(node, path: "merge.order_by") {
            if checkColumn(column, at: node.mark, path: "merge.order_by", schema: schema) {
                if isKey(column) {
                    reader.error(
                        "'merge.order_by' cannot be a merge key: rows with the same key have the same \(quote(column))",
                        at: node)
                }
                if let type = schema?.first(where: { $0.name.lowercased() == column.lowercased() })?.type,
                    !type.isOrderable
                {
                    reader.error(
                        "'merge.order_by' column \(quote(column)) is \(type.rawValue), which cannot be ordered",
                        at: node)
                }
                orderBy = column
            }
        }
        var update = MergeSpec.Update.all
        if let node = fields["update"] {
            if node.scalar != nil {
                if let text = reader.string(node, path: "merge.update"), text != "all" {
                    reader.error("'merge.update' must be 'all' or a list of columns (got \(quote(text)))", at: node)
                }
            } else if let columns = reader.stringList(node, path: "merge.update") {
                var seen = Set<String>()
                for (column, mark) in columns where checkColumn(column, at: mark, path: "merge.update", schema: schema)
                {
                    if isKey(column) {
                        reader.error("\(quote(column)) is a merge key; keys are never updated", at: mark)
                    }
                    if !seen.insert(column.lowercased()).inserted {
                        reader.error("column \(quote(column)) is listed twice in 'merge.update'", at: mark)
                    }
                }
                update = .columns(columns.map(\.0))
            }
        }
        var deleteWhen: String?
        if let node = fields["delete_when"], let column = reader.string(node, path: "merge.delete_when") {
            if checkColumn(column, at: node.mark, path: "merge.delete_when", schema: schema) {
                if isKey(column) { reader.error("'merge.delete_when' cannot be a merge key", at: node) }
                if let type = schema?.first(where: { $0.name.lowercased() == column.lowercased() })?.type, type != .bool
                {
                    reader.error(
                        "'merge.delete_when' column \(quote(column)) must be BOOL (it is \(type.rawValue))", at: node)
                }
                deleteWhen = column
            }
        }
        guard !keys.isEmpty else { return nil }
        return MergeSpec(keys: keys, orderBy: orderBy, update: update, deleteWhen: deleteWhen)
    }

    /// Checks a column name, and that the schema (when given) has it. Returns whether it is usable.
    @discardableResult
    private func checkColumn(_ column: String, at mark: Mark, path: String, schema: [FieldSpec]?) -> Bool {
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

    private func decodeBatch(_ node: YAMLNode) -> BatchSpec? {
        guard let fields = reader.mapping(node, path: "batch", allowed: ["size", "strategy"]) else { return nil }
        let size =
            fields["size"].map { reader.int($0, path: "batch.size", range: 1...50_000) } ?? BatchSpec.defaults.size
        let strategy =
            fields["strategy"].map { reader.choice($0, path: "batch.strategy", as: BatchSpec.Strategy.self) }
            ?? BatchSpec.defaults.strategy
        guard let size, let strategy else { return nil }
        return BatchSpec(size: size, strategy: strategy)
    }
}

/// `version: 1`, the only version there is.
func checkVersion(_ node: YAMLNode, reader: NodeReader) {
    guard let version = reader.int(node, path: "version", range: Int.min...Int.max) else { return }
    if version != 1 {
        reader.error("unsupported 'version' \(version); this bqsync reads version 1", at: node)
    }
}
