import BigQuery
import Foundation

/// What a gcs sync's files turned out to hold, once loaded into the staging table: found by one priced SELECT (the
/// plan's `profile` step) before the MERGE, because nothing is known of the rows before the load.
/// - The rows with a NULL merge key, which the MERGE drops (such a row can never match a target row, so it would
///   be inserted again on every run): counted, so the summary says how many.
/// - For a target whose partition column is a merge key, the days the loaded rows' partition values span: the
///   MERGE's ON clause is limited to them with constant literals, which BigQuery can use to eliminate partitions
///   and which a `requirePartitionFilter` target requires (docs/bigquery.md, "Partition filters"). A subquery in
///   their place would neither prune nor count as a partition filter.
struct LoadedProfile: Sendable, Equatable {
    /// Rows in the staging table.
    var rows: Int64
    /// Rows with a NULL in some merge key.
    var nullKeyRows: Int64
    /// The first loaded day and the day after the last (`YYYY-MM-DD`), when the MERGE is pruned and some row has
    /// a partition value.
    var low: String?
    var high: String?
    /// An incremental sync's largest staged cursor value (its type's canonical text from `CAST(… AS STRING)`), the
    /// watermark its apply leaves; nil when no row has one or the sync is not incremental.
    var cursorHigh: String?

    /// The placeholders the plan's MERGE carries where the loaded range goes: quoted, so they can only stand for a
    /// literal's text, and `$`, which no identifier bqsync writes can hold.
    static let lowToken = "'$bqsync_loaded_low'"
    static let highToken = "'$bqsync_loaded_high'"

    /// The range a plan-time dry run uses in place of the tokens: every partition (a bound on the target scan).
    static let widest = (low: "0001-01-01", high: "9999-12-31")

    /// `_bqsync_target.col >= T '$bqsync_loaded_low' AND _bqsync_target.col < T '$bqsync_loaded_high'`.
    static func predicate(column name: String, type: FieldType) -> String {
        let column = "\(MergeBuilder.targetAlias).\(MergeBuilder.quote(name))"
        return "\(column) >= \(type.rawValue) \(lowToken) AND \(column) < \(type.rawValue) \(highToken)"
    }

    /// The profile SELECT over the staging table. `partition` is the pruned partition column (a merge key of
    /// type DATE, DATETIME or TIMESTAMP), if any; its days are taken in UTC, as BigQuery partitions. `cursor` is an
    /// incremental sync's cursor column, whose largest value is the next watermark; `filter` keeps only the rows
    /// of its window (a gcs sync's, whose files are loaded whole).
    static func sql(
        _ staging: TableReference, layout: RowLayout, partition: Int?, cursor: Int? = nil, filter: String? = nil
    ) -> String {
        let r = MergeBuilder.rowAlias
        func column(_ index: Int) -> String { "\(r).\(MergeBuilder.quote(layout.columns[index].name))" }
        let nullKey = layout.keys.map { "\(column($0)) IS NULL" }.joined(separator: " OR ")
        var list = ["COUNT(*) AS loaded_rows", "COUNTIF(\(nullKey)) AS null_key_rows"]
        if let partition {
            let day = { (aggregate: String) in
                layout.columns[partition].type == .date
                    ? "\(aggregate)(\(column(partition)))" : "DATE(\(aggregate)(\(column(partition))))"
            }
            list.append("CAST(\(day("MIN")) AS STRING) AS partition_low")
            list.append("CAST(DATE_ADD(\(day("MAX")), INTERVAL 1 DAY) AS STRING) AS partition_high")
        }
        if let cursor { list.append("CAST(MAX(\(column(cursor))) AS STRING) AS cursor_high") }
        return "SELECT " + list.joined(separator: ", ") + " FROM \(staging.sql) AS \(r)"
            + (filter.map { " WHERE " + $0 } ?? "")
    }

    /// The profile from the SELECT's one row; nil when it is not what `sql` asks for.
    init?(_ result: QueryResult, pruned: Bool, cursor: Bool = false) {
        guard let row = result.rows.first, row.count == (pruned ? 4 : 2) + (cursor ? 1 : 0),
            case .string(let rows) = row[0], let rows = Int64(rows),
            case .string(let nulls) = row[1], let nulls = Int64(nulls)
        else { return nil }
        self.rows = rows
        nullKeyRows = nulls
        if cursor {
            switch row[row.count - 1] {
            case .string(let high): cursorHigh = high
            case .null: break
            default: return nil
            }
        }
        guard pruned else { return }
        switch (row[2], row[3]) {
        case (.string(let low), .string(let high)):
            guard Self.isDay(low), Self.isDay(high) else { return nil }
            self.low = low
            self.high = high
        case (.null, .null): break
        default: return nil
        }
    }

    init(rows: Int64, nullKeyRows: Int64, low: String? = nil, high: String? = nil) {
        self.rows = rows
        self.nullKeyRows = nullKeyRows
        self.low = low
        self.high = high
    }

    /// `YYYY-MM-DD`, digits only: the only text ever put in place of a token.
    static func isDay(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        return bytes.count == 10
            && bytes.enumerated().allSatisfy { i, byte in
                i == 4 || i == 7 ? byte == UInt8(ascii: "-") : (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
            }
    }

    /// The plan's MERGE with the tokens replaced by `low` and `high` (both checked by `isDay`).
    static func substitute(_ sql: String, low: String, high: String) -> String {
        sql.replacingOccurrences(of: lowToken, with: "'\(low)'").replacingOccurrences(
            of: highToken, with: "'\(high)'")
    }
}
