import BigQuery

/// Writes a sync's MERGE. Every identifier has passed BigQuery's naming rules and is backtick-quoted; every
/// value is a query parameter or a column of the source relation, never spliced text — except partition
/// pruning literals, which are canonical DATE/TIMESTAMP text this builder formatted itself.
struct MergeBuilder: Sendable {
    /// Where the MERGE's source rows come from.
    enum Relation: Sendable, Hashable {
        /// `UNNEST(JSON_QUERY_ARRAY(@rows))`: a STRING parameter holding a JSON array of rows, each an array of
        /// canonical strings in carried-column order (`BatchEncoder.parameterValue`).
        case parameter(String)
        /// A staging table of canonical strings (local sources, staged).
        case stagedText(TableReference)
        /// A staging table in the target's own types, possibly with duplicate keys (gcs).
        case stagedTyped(TableReference)
        /// A SELECT run inside BigQuery, possibly with duplicate keys.
        case query(String)
    }

    /// The target.
    let target: TableReference
    /// The row layout.
    let layout: RowLayout
    /// Columns the source carries (indexes into the layout).
    let carried: [Int]
    /// What a matched row updates.
    let update: MergeSpec.Update
    /// A condition on the source rows (alias `rowAlias`) that only rows of an incremental window pass: applied where
    /// BigQuery reads them, in a staged query's CREATE … AS SELECT and in the MERGE from loaded files.
    var sourceFilter: String? = nil

    /// `` `name` `` — names were validated; a backtick cannot occur in one.
    static func quote(_ name: String) -> String { "`" + name + "`" }

    /// The aliases of the target and of the source relation's rows, in the `_bqsync_` prefix no column name may
    /// take: GoogleSQL resolves a bare name to a table alias before a column (`SET t = S.t` under `AS T` would
    /// set the whole row), and a name in QUALIFY to a SELECT-list alias before a table alias (a column `r`
    /// would hide `AS r`).
    static let targetAlias = "_bqsync_target"
    static let rowAlias = "_bqsync_row"

    /// A query without the trailing `;` validation allows (a statement terminator cannot sit in a subquery).
    static func withoutTrailingSemicolons(_ sql: String) -> String {
        var text = Substring(sql)
        while let last = text.last, last == ";" || last.isWhitespace { text = text.dropLast() }
        return String(text)
    }

    /// The expression that turns a canonical string back into its column type.
    static func cast(_ expression: String, to type: FieldType) -> String {
        switch type {
        case .string: return expression
        case .bytes: return "FROM_BASE64(\(expression))"
        // 'round': a number wider than INT64 or FLOAT64 holds is rounded to the nearest FLOAT64 instead of failing the
        // MERGE (the default, 'exact'); one no FLOAT64 holds (1e400) is refused at plan time (ValueConversion).
        case .json: return "PARSE_JSON(\(expression), wide_number_mode => 'round')"
        // PARSE_NUMERIC, not CAST: the same value in BigQuery, and the emulator casts to a DECIMAL(18,3)
        // that drops digits (PARSE_NUMERIC keeps NUMERIC's 38 digits, 9 after the point).
        case .numeric: return "PARSE_NUMERIC(\(expression))"
        case .bignumeric: return "PARSE_BIGNUMERIC(\(expression))"
        default: return "CAST(\(expression) AS \(type.rawValue))"
        }
    }

    /// The parameter type of a batch: one STRING (JSON text).
    static let rowsParameterType = ParameterType.scalar("STRING")

    /// The `@rows` parameter of a batch already encoded by `BatchEncoder.parameterValue`.
    static func rowsParameter(_ encoded: [UInt8]) -> QueryParameter {
        QueryParameter(name: "rows", type: rowsParameterType, value: .encoded(encoded))
    }

    /// An `@rows` parameter with no rows, for dry runs that only need the statement's shape.
    static let emptyRowsParameter = QueryParameter(name: "rows", type: rowsParameterType, value: .scalar("[]"))

    /// The staging table's schema for local sources: the carried columns as STRING.
    var stagingSchema: [FieldSchema] {
        carried.map { FieldSchema(name: layout.columns[$0].name, type: "STRING", mode: "NULLABLE") }
    }

    /// The SELECT the MERGE reads from.
    func using(_ relation: Relation) -> String {
        let columns = carried.map { layout.columns[$0] }
        let r = Self.rowAlias
        switch relation {
        case .parameter(let name):
            let list = columns.enumerated().map {
                Self.cast("JSON_VALUE(\(r), '$[\($0.offset)]')", to: $0.element.type) + " AS "
                    + Self.quote($0.element.name)
            }
            return "SELECT " + list.joined(separator: ", ") + " FROM UNNEST(JSON_QUERY_ARRAY(@\(name))) AS \(r)"
        case .stagedText(let table):
            let list = columns.map {
                Self.cast("\(r).\(Self.quote($0.name))", to: $0.type) + " AS " + Self.quote($0.name)
            }
            return "SELECT " + list.joined(separator: ", ") + " FROM \(table.sql) AS \(r)"
        case .stagedTyped(let table):
            return deduplicated(columns: columns, from: "\(table.sql) AS \(r)")
        case .query(let sql):
            return deduplicated(columns: columns, from: "(\n" + Self.withoutTrailingSemicolons(sql) + "\n) AS \(r)")
        }
    }

    /// One row per key from a source BigQuery reads itself (a query, loaded files). A row with a NULL key is
    /// dropped: it can never match a target row, so it would be inserted again on every run. Among rows with one
    /// key the greatest `order_by` wins, and ties go to the row whose other columns, compared in column order,
    /// are greatest (JSON columns cannot be compared and are passed over), so the winner never depends on the
    /// order BigQuery happens to read the rows in. The WHERE also puts QUALIFY where ZetaSQL, unless QUALIFY is a
    /// reserved keyword there, takes it: after WHERE, GROUP BY or HAVING (scripts/sql-analyze.py); BigQuery takes
    /// it either way.
    private func deduplicated(columns: [RowLayout.Column], from: String) -> String {
        let r = Self.rowAlias
        let list = columns.map { "\(r).\(Self.quote($0.name)) AS \(Self.quote($0.name))" }
        let keyNames = layout.keys.map { "\(r)." + Self.quote(layout.columns[$0].name) }
        let tiebreak = carried.filter {
            !layout.keys.contains($0) && $0 != layout.orderBy && layout.columns[$0].type != .json
        }
        let order = ((layout.orderBy.map { [$0] } ?? []) + tiebreak).map {
            "\(r).\(Self.quote(layout.columns[$0].name)) DESC"
        }
        return "SELECT " + list.joined(separator: ", ") + " FROM " + from
            + "\nWHERE "
            + (keyNames.map { "\($0) IS NOT NULL" } + (sourceFilter.map { ["(\($0))"] } ?? []))
            .joined(separator: " AND ")
            + "\nQUALIFY ROW_NUMBER() OVER (PARTITION BY \(keyNames.joined(separator: ", ")) ORDER BY \((order.isEmpty ? keyNames : order).joined(separator: ", "))) = 1"
    }

    /// A staged query sync's first statement: the query's carried columns written into the staging table, which
    /// expires after a day if a failed run leaves it (BigQuery's DDL example of `expiration_timestamp`).
    /// `CREATE OR REPLACE`, so a retried or resumed run replaces what an earlier attempt wrote.
    func stageQuery(_ query: String, into staging: TableReference) -> String {
        let r = Self.rowAlias
        let list = carried.map { "\(r).\(Self.quote(layout.columns[$0].name))" }
        return "CREATE OR REPLACE TABLE \(staging.sql)\n"
            + "OPTIONS (expiration_timestamp = TIMESTAMP_ADD(CURRENT_TIMESTAMP(), INTERVAL 1 DAY))\nAS\n"
            + "SELECT " + list.joined(separator: ", ") + " FROM (\n" + Self.withoutTrailingSemicolons(query)
            + "\n) AS \(r)" + (sourceFilter.map { "\nWHERE " + $0 } ?? "")
    }

    /// The columns a matched row updates: `update: all` means every carried target column but the keys.
    var updatedColumns: [Int] {
        let candidates = carried.filter { !layout.keys.contains($0) && layout.columns[$0].inTarget }
        switch update {
        case .all: return candidates
        case .columns(let names):
            let wanted = Set(names.map { $0.lowercased() })
            return candidates.filter { wanted.contains(layout.columns[$0].name.lowercased()) }
        }
    }

    /// The ON clause: the keys equal, and `pruning`, an extra constant predicate on the target (partition pruning).
    func onClause(pruning: String?) -> String {
        let t = Self.targetAlias
        let on = layout.keys.map {
            "\(t).\(Self.quote(layout.columns[$0].name)) = S.\(Self.quote(layout.columns[$0].name))"
        }
        return (on + (pruning.map { [$0] } ?? [])).joined(separator: " AND ")
    }

    /// When a matched target row may change: never overwritten by an older source row (nil without `order_by`).
    var newerCondition: String? {
        let t = Self.targetAlias
        let q = Self.quote
        return layout.orderBy.flatMap { order -> String? in
            let column = layout.columns[order]
            guard column.inTarget else { return nil }
            // A source without the column has NULL there, which is never newer than a target value.
            guard carried.contains(order) else { return "\(t).\(q(column.name)) IS NULL" }
            return "(\(t).\(q(column.name)) IS NULL OR S.\(q(column.name)) >= \(t).\(q(column.name)))"
        }
    }

    /// `COALESCE(S.flag, FALSE)` for a carried `delete_when` column (one the source does not carry is never true,
    /// and S has no such column).
    var deleteCondition: String? {
        layout.deleteWhen.flatMap {
            carried.contains($0) ? "COALESCE(S.\(Self.quote(layout.columns[$0].name)), FALSE)" : nil
        }
    }

    /// The MERGE statement. `pruning` is an extra constant predicate on the target (partition pruning).
    func merge(_ relation: Relation, pruning: String? = nil) -> String {
        let q = Self.quote
        let t = Self.targetAlias
        let newer = newerCondition
        var sql =
            "MERGE \(target.sql) AS \(t)\nUSING (\n" + using(relation) + "\n) AS S\nON " + onClause(pruning: pruning)
        if let delete = deleteCondition {
            sql += "\nWHEN MATCHED AND \([delete, newer].compactMap { $0 }.joined(separator: " AND ")) THEN DELETE"
        }
        let updates = updatedColumns
        if !updates.isEmpty {
            let set = updates.map { "\(q(layout.columns[$0].name)) = S.\(q(layout.columns[$0].name))" }.joined(
                separator: ", ")
            sql += "\nWHEN MATCHED" + (newer.map { " AND \($0)" } ?? "") + " THEN UPDATE SET " + set
        }
        let inserted = carried.filter { layout.columns[$0].inTarget }
        let names = inserted.map { q(layout.columns[$0].name) }
        let values = inserted.map { "S." + q(layout.columns[$0].name) }
        sql +=
            "\nWHEN NOT MATCHED" + (deleteCondition.map { " AND NOT \($0)" } ?? "") + " THEN INSERT ("
            + names.joined(separator: ", ") + ") VALUES (" + values.joined(separator: ", ") + ")"
        return sql
    }

    /// A read-only SELECT of what `merge` would do to the target (`plan --preview`): the source rows, and how many
    /// it would insert, update (a matched row whose updated columns would change) and delete; the rest leave the
    /// target as it is. It joins as the MERGE matches and tests the MERGE's own conditions.
    func preview(_ relation: Relation, pruning: String? = nil) -> String {
        let q = Self.quote
        let t = Self.targetAlias
        let matched = "\(t).\(q(layout.columns[layout.keys[0]].name)) IS NOT NULL"
        let delete = deleteCondition ?? "FALSE"
        let newer = newerCondition ?? "TRUE"
        let differs = updatedColumns.map { index -> String in
            let name = q(layout.columns[index].name)
            // JSON values cannot be compared; their canonical text can.
            return layout.columns[index].type == .json
                ? "TO_JSON_STRING(S.\(name)) IS DISTINCT FROM TO_JSON_STRING(\(t).\(name))"
                : "S.\(name) IS DISTINCT FROM \(t).\(name)"
        }
        let changes = differs.isEmpty ? "FALSE" : "(" + differs.joined(separator: " OR ") + ")"
        return "SELECT COUNT(*) AS source_rows,\n"
            + "COUNTIF(NOT (\(matched)) AND NOT \(delete)) AS inserted,\n"
            + "COUNTIF(\(matched) AND NOT \(delete) AND \(newer) AND \(changes)) AS updated,\n"
            + "COUNTIF(\(matched) AND \(delete) AND \(newer)) AS deleted\n"
            + "FROM (\n" + using(relation) + "\n) AS S\nLEFT JOIN \(target.sql) AS \(t)\nON "
            + onClause(pruning: pruning)
    }
}
