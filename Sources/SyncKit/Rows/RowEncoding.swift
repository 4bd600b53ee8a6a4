import BigQuery

/// What the fuzz targets (SyncFuzz) need of SyncKit beyond the row types marked `package`: a layout built without a
/// sync definition, and rows encoded the way bqsync sends them. BatchEncoder itself stays internal to SyncKit.
extension RowLayout {
    /// A layout over `columns` whose MERGE updates every column, the merge roles given by column name.
    package init(columns: [Column], keys: [String], orderBy: String?, deleteWhen: String?) throws(SyncError) {
        try self.init(
            columns: columns, merge: MergeSpec(keys: keys, orderBy: orderBy, update: .all, deleteWhen: deleteWhen))
    }

    /// `rows` with the `carried` columns as a staging file (NDJSON, one object a line) and as an inline batch's
    /// query parameter, byte for byte as `BatchEncoder` writes them for a load job and a MERGE.
    package func encoded(_ rows: [PackedRow], carried: [Int]) -> (ndjson: [UInt8], parameter: [UInt8]) {
        let encoder = BatchEncoder(layout: self, carried: carried)
        var staging = JSONWriter()
        for row in rows { encoder.ndjson(row, into: &staging) }
        return (staging.bytes, encoder.parameterValue(rows[...]))
    }
}
