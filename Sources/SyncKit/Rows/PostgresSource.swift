import BigQuery
import Foundation
import Postgres

/// What a PostgreSQL source's read saw: the statement sent, and the rows' count and SHA-256 (of every value's text,
/// in order), which the apply reads again and compares.
public struct DatabaseSnapshot: Codable, Sendable, Hashable {
    /// The SELECT sent, with `$n` parameters.
    public var query: String
    /// The parameters' text, in order (the window's bounds).
    public var parameters: [String]
    public var rows: Int64
    public var sha256: String
}

/// `table` or `schema.table`, each part a plain identifier (folded to lower case, as PostgreSQL does) or a
/// double-quoted one (kept as written).
struct PostgresName {
    let parts: [String]

    init?(_ text: String) {
        var parts: [String] = []
        var index = text.startIndex
        while index < text.endIndex {
            var part = ""
            if text[index] == "\"" {
                index = text.index(after: index)
                var closed = false
                while index < text.endIndex {
                    if text[index] == "\"" {
                        let next = text.index(after: index)
                        if next < text.endIndex, text[next] == "\"" {
                            part.append("\"")
                            index = text.index(after: next)
                            continue
                        }
                        index = next
                        closed = true
                        break
                    }
                    part.append(text[index])
                    index = text.index(after: index)
                }
                guard closed, !part.isEmpty else { return nil }
            } else {
                while index < text.endIndex, text[index] != "." {
                    let c = text[index]
                    guard c.isLetter || c.isNumber || c == "_" || c == "$" else { return nil }
                    part.append(c)
                    index = text.index(after: index)
                }
                guard let first = part.first, first.isLetter || first == "_" else { return nil }
                part = part.lowercased()
            }
            parts.append(part)
            if index < text.endIndex {
                guard text[index] == "." else { return nil }
                index = text.index(after: index)
                guard index < text.endIndex else { return nil }
            }
        }
        guard (1...2).contains(parts.count) else { return nil }
        self.parts = parts
    }

    /// The name as SQL: each part double-quoted.
    var sql: String { parts.map(PostgresName.quoted).joined(separator: ".") }

    static func quoted(_ identifier: String) -> String {
        "\"" + identifier.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}

/// How PostgreSQL's types map to BigQuery's (README, "PostgreSQL sources"): the types a column of each may fill,
/// and how its value is selected as text bqsync reads.
enum PostgresTypes {
    struct Mapping {
        var name: String
        var targets: [FieldType]
        /// bytea's text form is hex (`\x…`); BigQuery's BYTES text is base64, without line breaks.
        var base64 = false
    }

    static let mappings: [UInt32: Mapping] = [
        16: Mapping(name: "boolean", targets: [.bool, .string]),
        17: Mapping(name: "bytea", targets: [.bytes], base64: true),
        20: Mapping(name: "bigint", targets: [.int64, .numeric, .bignumeric, .float64, .string]),
        21: Mapping(name: "smallint", targets: [.int64, .numeric, .bignumeric, .float64, .string]),
        23: Mapping(name: "integer", targets: [.int64, .numeric, .bignumeric, .float64, .string]),
        25: Mapping(name: "text", targets: [.string]),
        114: Mapping(name: "json", targets: [.json, .string]),
        700: Mapping(name: "real", targets: [.float64, .string]),
        701: Mapping(name: "double precision", targets: [.float64, .string]),
        1042: Mapping(name: "character", targets: [.string]),
        1043: Mapping(name: "character varying", targets: [.string]),
        1082: Mapping(name: "date", targets: [.date, .string]),
        1083: Mapping(name: "time without time zone", targets: [.time, .string]),
        1114: Mapping(name: "timestamp without time zone", targets: [.datetime, .string]),
        1184: Mapping(name: "timestamp with time zone", targets: [.timestamp, .string]),
        1700: Mapping(name: "numeric", targets: [.numeric, .bignumeric, .float64, .string]),
        2950: Mapping(name: "uuid", targets: [.string]),
        3802: Mapping(name: "jsonb", targets: [.json, .string]),
    ]
}

/// Reads a `postgres` source through libpq: one `REPEATABLE READ READ ONLY` transaction, so the rows are one
/// consistent snapshot; the rows streamed one at a time (libpq's single-row mode), never the whole result; an
/// incremental window's bounds sent as parameters, so the database's indexes and partition pruning apply.
package struct PostgresSource {
    let sync: SyncDefinition
    let environment: [String: String]

    package init(sync: SyncDefinition, environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.sync = sync
        self.environment = environment
    }

    var spec: SourceSpec { sync.source }

    /// How row errors name the source: `postgres:public.contacts` or `postgres:query`, then the row number.
    var display: String { "postgres:" + (spec.table ?? "query") }

    /// The sync's own SELECT: the table, or the query without a final `;`.
    var baseQuery: String {
        if let table = spec.table, let name = PostgresName(table) { return "SELECT * FROM \(name.sql)" }
        var query = (spec.query ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        while query.hasSuffix(";") { query = String(query.dropLast()).trimmingCharacters(in: .whitespacesAndNewlines) }
        return query
    }

    /// The key a message about what the source returns is placed at: its `table`, or its `query`.
    var sourceKey: DefinitionKey { spec.table != nil ? .sourceTable : .sourceQuery }

    /// Where the connection settings come from, for messages.
    var origin: String {
        if let name = spec.urlEnvironment { return "the URI in $\(name)" }
        if spec.url != nil { return "source.url" }
        return "libpq's environment (PGHOST, PGDATABASE, …, ~/.pgpass)"
    }

    private func failure(_ what: String, _ error: PostgresError) -> SyncError {
        let what = error.interrupted ? "interrupted while reading the source; nothing was sent" : what
        return .source(
            "\(sync.location(of: sourceKey)): sync '\(sync.name)': \(what) "
                + "(PostgreSQL via \(origin)): \(Self.redacted(error.message, connection: connectionText))")
    }

    /// The URI (or `key=value` string) handed to libpq, when the definition names one.
    var connectionText: String? {
        if let name = spec.urlEnvironment { return environment[name] }
        return spec.url
    }

    /// What stands for a password in messages.
    static let mask = "********"

    /// `message` without the passwords of `connection`: libpq quotes a URI it cannot parse whole, and a token of
    /// it (a bad percent-encoding, say) as written, so its password would reach the terminal and CI logs.
    static func redacted(_ message: String, connection: String?) -> String {
        guard let connection else { return message }
        let secrets = passwords(in: connection)
        guard !secrets.isEmpty else { return message }
        var text = message
        var masked = connection
        for secret in secrets { masked = masked.replacingOccurrences(of: secret, with: mask) }
        text = text.replacingOccurrences(of: connection, with: masked)
        for secret in secrets {
            text = text.replacingOccurrences(of: "\"\(secret)\"", with: "\"\(mask)\"")
            // Unquoted, only where the text is long enough not to be any word of the message.
            if secret.count >= 4 { text = text.replacingOccurrences(of: secret, with: mask) }
        }
        return text
    }

    /// The passwords a connection string carries, as written and percent-decoded: a URI's `user:password@`, a
    /// `password=` parameter of a URI or of a `key=value` string.
    static func passwords(in connection: String) -> [String] {
        var found: [String] = []
        if connection.hasPrefix("postgresql://") || connection.hasPrefix("postgres://"),
            let scheme = connection.range(of: "://")
        {
            let rest = connection[scheme.upperBound...]
            let authority = rest.prefix { $0 != "/" && $0 != "?" }
            if let at = authority.lastIndex(of: "@"), let colon = authority[..<at].firstIndex(of: ":") {
                found.append(String(authority[authority.index(after: colon)..<at]))
            }
            if let question = connection.firstIndex(of: "?") {
                for parameter in connection[connection.index(after: question)...].split(separator: "&") {
                    let pair = parameter.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                    if pair.count == 2, pair[0].lowercased() == "password" { found.append(String(pair[1])) }
                }
            }
        } else {
            // `key=value` pairs, a value optionally single-quoted with backslash escapes.
            let characters = Array(connection)
            var index = 0
            while index < characters.count {
                while index < characters.count, characters[index].isWhitespace { index += 1 }
                var key = ""
                while index < characters.count, characters[index] != "=", !characters[index].isWhitespace {
                    key.append(characters[index])
                    index += 1
                }
                while index < characters.count, characters[index].isWhitespace { index += 1 }
                guard index < characters.count, characters[index] == "=" else { break }
                index += 1
                while index < characters.count, characters[index].isWhitespace { index += 1 }
                var value = ""
                if index < characters.count, characters[index] == "'" {
                    index += 1
                    while index < characters.count, characters[index] != "'" {
                        if characters[index] == "\\", index + 1 < characters.count { index += 1 }
                        value.append(characters[index])
                        index += 1
                    }
                    index += 1
                } else {
                    while index < characters.count, !characters[index].isWhitespace {
                        value.append(characters[index])
                        index += 1
                    }
                }
                if key.lowercased() == "password" { found.append(value) }
            }
        }
        var secrets: [String] = []
        for secret in found where !secret.isEmpty {
            for form in [secret, secret.removingPercentEncoding ?? secret] where !secrets.contains(form) {
                secrets.append(form)
            }
        }
        // Longest first, so a password that holds another is masked whole.
        return secrets.sorted { $0.count > $1.count }
    }

    func connect() throws(SyncError) -> PostgresConnection {
        var parameters: [(String, String)] = [("application_name", "bqsync")]
        if environment["PGCONNECT_TIMEOUT"] == nil { parameters.append(("connect_timeout", "10")) }
        if let name = spec.urlEnvironment {
            guard let url = environment[name], !url.isEmpty else {
                throw SyncError.source(
                    "\(sync.location(of: DefinitionKey(path: "source.url_env"))): sync '\(sync.name)': "
                        + "source.url_env names $\(name), which is not set; nothing was sent")
            }
            parameters.append(("dbname", url))
        } else if let url = spec.url {
            parameters.append(("dbname", url))
        }
        do {
            return try PostgresConnection(parameters: parameters, expandDatabase: true)
        } catch {
            throw failure("cannot connect; nothing was sent", error)
        }
    }

    /// The columns the sync's SELECT returns, matched to the layout's (by name, case-insensitively), each checked
    /// against the types its target column can take. A column the target lacks is an error unless
    /// `ignore_unknown_fields`; then it is not selected at all.
    func matchColumns(_ columns: [PostgresColumn], layout: RowLayout, connection: PostgresConnection)
        throws(SyncError) -> [(source: PostgresColumn, column: Int, mapping: PostgresTypes.Mapping)]
    {
        var matched: [(source: PostgresColumn, column: Int, mapping: PostgresTypes.Mapping)] = []
        var used: Set<Int> = []
        for source in columns {
            guard let column = layout.index[RowDecoder.asciiLowercased(source.name)] else {
                if spec.ignoreUnknownFields { continue }
                var message =
                    "column \(ValueConversion.quoted(source.name)) of the source is not a column of the target"
                if let suggestion = Suggest.closest(to: source.name, in: layout.columns.map(\.name)) {
                    message += " (did you mean '\(suggestion)'?)"
                }
                throw SyncError.definition(
                    "\(sync.location(of: sourceKey)): sync '\(sync.name)': \(message); select only the target's "
                        + "columns or set source.ignore_unknown_fields: true; nothing was sent")
            }
            guard used.insert(column).inserted else {
                throw SyncError.definition(
                    "\(sync.location(of: sourceKey)): sync '\(sync.name)': the source returns column '\(source.name)' twice; "
                        + "nothing was sent"
                )
            }
            let target = layout.columns[column]
            guard let mapping = PostgresTypes.mappings[source.typeOID] else {
                let name =
                    (try? connection.rows("SELECT format_type($1::oid, NULL)", parameters: [String(source.typeOID)]))?
                    .first?.first ?? nil
                throw SyncError.definition(
                    "\(sync.location(of: sourceKey)): sync '\(sync.name)': column "
                        + "'\(source.name)' is PostgreSQL type \(name ?? "oid \(source.typeOID)"), which bqsync does not map to "
                        + "BigQuery (README, \"PostgreSQL sources\"); cast it in a query source (for example to text or json); nothing was sent"
                )
            }
            guard mapping.targets.contains(target.type) else {
                throw SyncError.definition(
                    "\(sync.location(of: .column(target.name))): sync '\(sync.name)': column '\(source.name)' is PostgreSQL "
                        + "\(mapping.name), which fills a BigQuery \(mapping.targets.map(\.rawValue).joined(separator: " or ")) "
                        + "column, not \(target.type.rawValue); nothing was sent")
            }
            matched.append((source, column, mapping))
        }
        return matched
    }

    /// The SELECT sent: the matched columns as text bqsync reads, the window's bounds as `$n` parameters of
    /// the cursor column's own type (so an index on it is used), ordered by the merge keys (`keys`, layout
    /// columns). PostgreSQL returns an unordered SELECT in no set order — a row updated to the same values moves
    /// to the end of a table, a scan may start where a concurrent one is — and the rows' digest and the batches
    /// follow the read order: the plan and its apply must read the same rows in the same order.
    func statement(
        _ matched: [(source: PostgresColumn, column: Int, mapping: PostgresTypes.Mapping)], window: CursorWindow?,
        cursorType: String?, keys: [Int] = []
    ) -> (sql: String, parameters: [String]) {
        let select = matched.map { entry in
            let name = "bqsync_source." + PostgresName.quoted(entry.source.name)
            return entry.mapping.base64
                ? "translate(encode(\(name), 'base64'), E'\\n', '') AS \(PostgresName.quoted(entry.source.name))" : name
        }
        var sql = "SELECT \(select.isEmpty ? "1" : select.joined(separator: ", ")) FROM (\(baseQuery)) AS bqsync_source"
        var parameters: [String] = []
        if let window, let cursorType, let cursor = matched.first(where: { $0.column == window.column }) {
            let column = "bqsync_source." + PostgresName.quoted(cursor.source.name)
            var conditions: [String] = []
            for (bound, op) in [(window.after, ">"), (window.from, ">="), (window.through, "<=")] {
                guard let bound else { continue }
                parameters.append(bound.text)
                conditions.append("\(column) \(op) $\(parameters.count)::\(cursorType)")
            }
            if !conditions.isEmpty {
                var condition = conditions.joined(separator: " AND ")
                // A window without a lower bound holds the rows whose cursor is NULL (`CursorWindow.admits`): a
                // reviewed plan's end (`through`) alone must not drop them when its apply reads the window again.
                if window.after == nil, window.from == nil { condition = "(\(condition) OR \(column) IS NULL)" }
                sql += " WHERE " + condition
            }
        }
        let order = keys.compactMap { key in matched.first { $0.column == key } }.map {
            "bqsync_source." + PostgresName.quoted($0.source.name)
        }
        if !order.isEmpty { sql += " ORDER BY " + order.joined(separator: ", ") }
        return (sql, parameters)
    }

    /// Reads the rows into packed rows of `layout`, each handed to `row`. Bad values are row errors (the row's
    /// number and the column's ordinal), up to `maxErrors`; connection, query and type problems end the read at
    /// once. Returns what was read, for the plan and for the apply's check.
    package func read(
        layout: RowLayout, window: CursorWindow?, maxErrors: Int = LocalSource.defaultMaxRowErrors,
        _ row: (PackedRow) throws(SyncError) -> Void
    ) throws(SyncError) -> (snapshot: DatabaseSnapshot, carried: Set<Int>) {
        let connection = try connect()
        do {
            try connection.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            // Text forms bqsync reads whatever the server's or role's settings: ISO dates, UTC offsets, floats
            // that round-trip.
            try connection.execute(
                "SET LOCAL TimeZone = 'UTC'; SET LOCAL DateStyle = 'ISO, YMD'; SET LOCAL extra_float_digits = 1")
        } catch {
            throw failure("cannot start a read-only transaction", error)
        }
        let columns: [PostgresColumn]
        do {
            columns = try connection.describe("SELECT * FROM (\(baseQuery)) AS bqsync_source")
        } catch {
            throw failure("PostgreSQL refused the source query; nothing was sent", error)
        }
        let matched = try matchColumns(columns, layout: layout, connection: connection)
        for key in layout.keys where !matched.contains(where: { $0.column == key }) {
            throw SyncError.definition(
                "\(sync.location(of: .mergeKeys)): sync '\(sync.name)': the source returns no column "
                    + "'\(layout.columns[key].name)', a merge key; nothing was sent")
        }
        var cursorType: String?
        if let window {
            guard let cursor = matched.first(where: { $0.column == window.column }) else {
                throw SyncError.definition(
                    "\(sync.location(of: .incrementalCursor)): sync '\(sync.name)': the source returns no column "
                        + "'\(layout.columns[window.column].name)' for source.incremental.cursor; nothing was sent")
            }
            cursorType =
                (try? connection.rows("SELECT format_type($1::oid, NULL)", parameters: [String(cursor.source.typeOID)]))?
                .first?.first ?? nil
        }
        let (sql, parameters) = statement(matched, window: window, cursorType: cursorType, keys: layout.keys)
        var reader = RowReader(
            layout: layout, matched: matched.map { ($0.column, $0.source.name) }, display: display, maxErrors: maxErrors
        )
        do {
            try connection.stream(sql, parameters: parameters) { result in reader.take(result, row) }
        } catch {
            throw failure("the source query failed", error)
        }
        if let stop = reader.stop { throw stop }
        if let failure = reader.errors.failure { throw failure }
        try? connection.execute("COMMIT")
        return (
            DatabaseSnapshot(query: sql, parameters: parameters, rows: reader.rows, sha256: reader.hasher.hex()),
            Set(matched.map(\.column))
        )
    }
}

/// Turns streamed result rows into packed rows, hashing every value as it goes.
private struct RowReader {
    let layout: RowLayout
    /// Result column → layout column, and the result column's name.
    let matched: [(column: Int, name: String)]
    let display: String
    var errors: RowErrors
    var hasher = SHA256Stream()
    var rows: Int64 = 0
    var values: [String?]
    /// An error that ends the reading.
    var stop: SyncError?

    init(layout: RowLayout, matched: [(column: Int, name: String)], display: String, maxErrors: Int) {
        self.layout = layout
        self.matched = matched
        self.display = display
        errors = RowErrors(limit: maxErrors)
        values = Array(repeating: nil, count: layout.columns.count)
    }

    /// Takes one result row; false stops the stream.
    mutating func take(_ result: PostgresRow, _ row: (PackedRow) throws(SyncError) -> Void) -> Bool {
        rows += 1
        for index in values.indices { values[index] = nil }
        var problem: SyncError?
        for (position, entry) in matched.enumerated() {
            let text = result.withValue(position) { bytes -> String? in
                guard let bytes else {
                    hash(header: 0, length: nil)
                    return nil
                }
                // Each value after its length: a separator byte inside a value (text may hold any of them)
                // cannot make two different rows hash alike.
                hash(header: 1, length: bytes.count)
                hasher.update(bytes)
                return String(decoding: bytes, as: UTF8.self)
            }
            guard let text, problem == nil else { continue }
            do throws(ConversionProblem) {
                values[entry.column] = try ValueConversion.scalar(text, as: layout.columns[entry.column].type)
            } catch {
                problem = rowError(position, "column '\(entry.name)': \(error.message)")
            }
        }
        if problem == nil { problem = missing() }
        do throws(SyncError) {
            if let problem { throw problem }
            if errors.isEmpty { try row(PackedRow(sequence: rows - 1, values: values)) }
        } catch {
            do throws(SyncError) {
                try errors.add(error)
            } catch {
                stop = error
                return false
            }
        }
        return true
    }

    /// A value's header in the digest: NULL (0), or a value (1) and its length in bytes (8, little-endian).
    private mutating func hash(header: UInt8, length: Int?) {
        var bytes: [UInt8] = [header]
        if let length { bytes += withUnsafeBytes(of: UInt64(length).littleEndian, Array.init) }
        bytes.withUnsafeBufferPointer { hasher.update($0) }
    }

    private func rowError(_ position: Int, _ message: String) -> SyncError {
        .row(SourceLocation(file: display, line: Int(rows), column: position + 1), message)
    }

    /// A NULL merge key or REQUIRED column.
    private func missing() -> SyncError? {
        for key in layout.keys where values[key] == nil {
            return rowError(0, "merge key '\(layout.columns[key].name)' is NULL")
        }
        for (index, column) in layout.columns.enumerated() where column.required && values[index] == nil {
            return rowError(0, "REQUIRED column '\(column.name)' is NULL")
        }
        return nil
    }
}
