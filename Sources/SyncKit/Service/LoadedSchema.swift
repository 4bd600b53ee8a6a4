import BigQuery

/// What a load of self-describing files (Parquet, Avro) put in the staging table, checked against the target
/// before the MERGE reads it.
///
/// BigQuery takes the schema of Parquet and Avro files from the files themselves, and a `WRITE_TRUNCATE` load
/// replaces the staging table's schema with it (docs/bigquery.md, "Loads"). bqsync therefore sends such a load no
/// schema of its own (an all-NULLABLE one would clash with the files' REQUIRED fields) and compares what landed
/// with the columns the MERGE reads: each must be there, with the target's type, as a single value. A column
/// the target lacks is an error unless `source.ignore_unknown_fields` is set, as for every other source.
enum LoadedSchema {
    /// The first mismatch between the staging table's fields (from the files) and the target's columns, in the
    /// order of the target's columns, then of the files' extra fields; nil when the MERGE can read the staging
    /// table as planned.
    static func mismatch(files: [FieldSchema], columns: [RowLayout.Column], ignoreUnknownFields: Bool) -> String? {
        var byName: [String: FieldSchema] = [:]
        for field in files { byName[field.name.lowercased()] = field }
        for column in columns where column.inTarget {
            guard let field = byName[column.name.lowercased()] else {
                return "the files have no column '\(column.name)'"
            }
            if field.mode?.uppercased() == "REPEATED" {
                return
                    "the files' column '\(field.name)' is REPEATED (an array); the target's is \(column.type.rawValue)"
            }
            let type = FieldType(bigQueryName: field.type)
            guard type == column.type else {
                return "the files' column '\(field.name)' is \(type?.rawValue ?? field.type.uppercased()), "
                    + "the target's is \(column.type.rawValue)"
            }
        }
        if !ignoreUnknownFields {
            let known = Set(columns.filter(\.inTarget).map { $0.name.lowercased() })
            if let extra = files.first(where: { !known.contains($0.name.lowercased()) }) {
                return "the files have column '\(extra.name)', which is not a column of the target "
                    + "(set source.ignore_unknown_fields: true to skip it)"
            }
        }
        return nil
    }
}
