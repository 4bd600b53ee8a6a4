/// BigQuery's on-demand billing rules (shared/BIGQUERY.md): bytes are rounded up to the MB, with a minimum of
/// 10 MB per table referenced and per query; DML bills the updated table in full when it updates or deletes.
public enum Billing {
    /// One MB as BigQuery bills it (2^20 bytes).
    public static let megabyte: Int64 = 1 << 20
    /// The minimum per query and per table referenced.
    public static let minimum: Int64 = 10 * megabyte

    /// Bytes billed for a query that processes `bytes` and references `tables` tables.
    public static func billed(processed bytes: Int64, tablesReferenced tables: Int) -> Int64 {
        let rounded = (max(0, bytes) + megabyte - 1) / megabyte * megabyte
        return max(rounded, minimum * Int64(max(1, tables)))
    }

    /// What a statement modifying a table processes: `q` (bytes of the referenced columns of the tables it
    /// scans) plus, unless it only inserts, `t` (every column of the modified table).
    public static func dmlProcessed(scannedColumnBytes q: Int64, targetTableBytes t: Int64, onlyInserts: Bool) -> Int64 {
        onlyInserts ? q : q + t
    }

    /// Dollars for billed bytes at a price per TiB.
    public static func cost(billedBytes: Int64, usdPerTiB: Double) -> Double {
        Double(billedBytes) / 1_099_511_627_776 * usdPerTiB
    }
}
