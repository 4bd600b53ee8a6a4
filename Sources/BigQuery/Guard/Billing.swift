/// BigQuery's on-demand billing rules (docs/bigquery.md, "Billing"): each table referenced is rounded up to a whole
/// MB with a minimum of 10 MB, and a query bills 10 MB at least; DML bills the updated table in full when it
/// updates or deletes.
public enum Billing {
    /// One MB as BigQuery bills it (2^20 bytes).
    public static let megabyte: Int64 = 1 << 20
    /// The minimum per query and per table referenced.
    public static let minimum: Int64 = 10 * megabyte

    /// `bytes` rounded up to a whole MB.
    static func roundedUp(_ bytes: Int64) -> Int64 { (max(0, bytes) + megabyte - 1) / megabyte * megabyte }

    /// Exactly what BigQuery bills a query that processes `bytes[t]` of each table it references.
    public static func billed(perTable bytes: [Int64]) -> Int64 {
        max(minimum, bytes.reduce(0) { $0 + max(roundedUp($1), minimum) })
    }

    /// The most BigQuery can bill a query that processes `bytes` in all over `tables` referenced tables, when only
    /// the total is known (a dry run): whatever the split, so that a cap set to it never fails the job. One table
    /// is exact. With n tables the dearest split is n − 1 tables at the 10 MB minimum and one holding the rest,
    /// and rounding each table up adds less than a MB to each of the n − 1 others: at most
    /// max(10 MB × n, 10 MB × (n − 1) + ⌈total⌉ + 1 MB × (n − 1)).
    public static func billed(processed bytes: Int64, tablesReferenced tables: Int) -> Int64 {
        let others = Int64(max(1, tables)) - 1
        return max(minimum * (others + 1), minimum * others + roundedUp(bytes) + megabyte * others)
    }

    /// What a statement modifying a table processes: `q` (bytes of the referenced columns of the tables it
    /// scans) plus, unless it only inserts, `t` (every column of the modified table).
    public static func dmlProcessed(scannedColumnBytes q: Int64, targetTableBytes t: Int64, onlyInserts: Bool) -> Int64
    {
        onlyInserts ? q : q + t
    }

    /// Dollars for billed bytes at a price per TiB.
    public static func cost(billedBytes: Int64, usdPerTiB: Double) -> Double {
        Double(billedBytes) / 1_099_511_627_776 * usdPerTiB
    }
}
