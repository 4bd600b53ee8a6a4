/// The BigQuery column types bqsync reads, converts and writes.
public enum FieldType: String, Sendable, Hashable, Codable, CaseIterable {
    case string = "STRING"
    case bytes = "BYTES"
    case int64 = "INT64"
    case float64 = "FLOAT64"
    case numeric = "NUMERIC"
    case bignumeric = "BIGNUMERIC"
    case bool = "BOOL"
    case date = "DATE"
    case datetime = "DATETIME"
    case time = "TIME"
    case timestamp = "TIMESTAMP"
    case json = "JSON"

    /// Reads a type name as BigQuery spells it, legacy aliases included (INTEGER, FLOAT, BOOLEAN, DECIMAL, …).
    public init?(bigQueryName name: String) {
        switch name.uppercased() {
        case "STRING": self = .string
        case "BYTES": self = .bytes
        case "INT64", "INTEGER", "INT", "SMALLINT", "BIGINT", "TINYINT", "BYTEINT": self = .int64
        case "FLOAT64", "FLOAT": self = .float64
        case "NUMERIC", "DECIMAL": self = .numeric
        case "BIGNUMERIC", "BIGDECIMAL": self = .bignumeric
        case "BOOL", "BOOLEAN": self = .bool
        case "DATE": self = .date
        case "DATETIME": self = .datetime
        case "TIME": self = .time
        case "TIMESTAMP": self = .timestamp
        case "JSON": self = .json
        default: return nil
        }
    }

    /// Types BigQuery cannot compare with `=`, so they cannot be merge keys.
    public var isComparable: Bool { self != .json }

    /// Types that can be ordered, for `order_by`.
    public var isOrderable: Bool { self != .json }
}

/// A column's mode.
public enum FieldMode: String, Sendable, Hashable, Codable {
    case nullable = "NULLABLE"
    case required = "REQUIRED"
}
