import BigQuery
import YAML

/// `source: type: postgres` and `source.incremental`, which every source type may have.
extension SyncDecoder {
    func postgresSource(_ fields: [String: YAMLNode], node: YAMLNode) -> SourceSpec {
        var table: String?
        if let node = fields["table"], let text = reader.string(node, path: "source.table") {
            if let problem = Self.postgresTableProblem(text) { reader.error("'source.table': \(problem)", at: node) }
            table = text
        }
        var query: String?
        if let node = fields["query"], let text = reader.string(node, path: "source.query") {
            if let problem = Self.queryProblem(text) { reader.error("'source.query': \(problem)", at: node) }
            query = text
        }
        if let tableNode = fields["table"], fields["query"] != nil {
            reader.error(
                "'source.table' and 'source.query' cannot both be set: name a table or write one SELECT", at: tableNode)
        } else if fields["table"] == nil, fields["query"] == nil {
            reader.error("a postgres source needs 'table' or 'query'", at: node)
        }
        var urlEnvironment: String?
        if let node = fields["url_env"], let name = reader.string(node, path: "source.url_env") {
            if !Self.isEnvironmentName(name) {
                reader.error(
                    "'source.url_env' names an environment variable (letters, digits and '_', not starting with a digit), not \(quote(name))",
                    at: node)
            }
            urlEnvironment = name
        }
        var url: String?
        if let node = fields["url"], let text = reader.string(node, path: "source.url") {
            if let problem = Self.connectionURIProblem(text) { reader.error("'source.url': \(problem)", at: node) }
            url = text
        }
        if let node = fields["url"], fields["url_env"] != nil {
            reader.error("'source.url' and 'source.url_env' cannot both be set", at: node)
        }
        return SourceSpec(
            kind: .postgres, query: query, ignoreUnknownFields: ignoreUnknownFields(fields),
            baseDirectory: baseDirectory, table: table, urlEnvironment: urlEnvironment, url: url)
    }

    /// `source.incremental`: a cursor column, an optional lag and an optional first lower bound.
    func decodeIncremental(_ node: YAMLNode) -> IncrementalSpec? {
        guard
            let fields = reader.mapping(
                node, path: "source.incremental", allowed: Self.incrementalKeys, required: ["cursor"])
        else { return nil }
        guard let cursorNode = fields["cursor"],
            let cursor = reader.string(cursorNode, path: "source.incremental.cursor")
        else { return nil }
        if let problem = Naming.columnProblem(cursor) {
            reader.error("'source.incremental.cursor': column \(quote(cursor)): \(problem)", at: cursorNode)
        }
        let lag = fields["lag"].flatMap { reader.unit($0, path: "source.incremental.lag", Units.duration) } ?? .zero
        let initial = fields["initial"].flatMap { reader.scalarText($0, path: "source.incremental.initial") }
        return IncrementalSpec(cursor: cursor, lag: lag, initial: initial)
    }

    /// The cursor names a column of `target.schema` (when one is declared) of a type a cursor can have; the lag
    /// and the first lower bound fit that type.
    func checkCursor(_ incremental: IncrementalSpec, schema: [FieldSpec]?) {
        guard let mark = reader.marks["source.incremental.cursor"] else { return }
        guard checkColumn(incremental.cursor, at: mark, path: "source.incremental.cursor", schema: schema),
            let schema, let column = schema.first(where: { $0.name.lowercased() == incremental.cursor.lowercased() })
        else { return }
        guard IncrementalSpec.cursorTypes.contains(column.type) else {
            reader.error(
                "'source.incremental.cursor': column \(quote(column.name)) is \(column.type.rawValue); a cursor is "
                    + IncrementalSpec.cursorTypes.map(\.rawValue).joined(separator: ", ")
                    + " (a value that grows as rows change)",
                at: mark)
            return
        }
        if incremental.lag != .zero, let lagMark = reader.marks["source.incremental.lag"],
            !CursorValue.takesLag(column.type)
        {
            reader.error(
                "'source.incremental.lag' applies to a TIMESTAMP, DATETIME or DATE cursor; '\(column.name)' is \(column.type.rawValue)",
                at: lagMark)
        }
        if let initial = incremental.initial, let initialMark = reader.marks["source.incremental.initial"] {
            do throws(ConversionProblem) {
                _ = try CursorValue(text: initial, type: column.type)
            } catch {
                reader.error("'source.incremental.initial': \(error.message)", at: initialMark)
            }
        }
    }

    /// `schema.table` or `table`, each part a plain identifier or a double-quoted one.
    static func postgresTableProblem(_ text: String) -> String? {
        guard PostgresName(text) != nil else {
            return
                "\(quote(text)) is not a table name (write table or schema.table; quote a part with \"…\" when it needs it)"
        }
        return nil
    }

    static func isEnvironmentName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, !("0"..."9").contains(first) else { return false }
        return name.unicodeScalars.allSatisfy {
            $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "_")
        }
    }

    /// A libpq URI written in a definition is reviewed in pull requests and kept in the repository, so it may not
    /// carry a password, in its user part or as a parameter (`url_env`, `PGPASSWORD` or `~/.pgpass` do).
    static func connectionURIProblem(_ uri: String) -> String? {
        guard uri.hasPrefix("postgresql://") || uri.hasPrefix("postgres://") else {
            return "a connection URI starts with postgresql:// (got \(quote(String(uri.prefix(20)))))"
        }
        let rest = uri.drop(while: { $0 != "/" }).dropFirst(2)
        let authority = rest.prefix(while: { $0 != "/" && $0 != "?" })
        if let at = authority.lastIndex(of: "@"), authority[..<at].contains(":") {
            return "the URI holds a password; credentials never live in YAML: use 'url_env', PGPASSWORD or ~/.pgpass"
        }
        if let question = uri.firstIndex(of: "?") {
            let parameters = uri[uri.index(after: question)...].split(separator: "&")
            if parameters.contains(where: { $0.lowercased().hasPrefix("password=") }) {
                return
                    "the URI holds a password parameter; credentials never live in YAML: use 'url_env', PGPASSWORD or ~/.pgpass"
            }
        }
        return nil
    }
}
