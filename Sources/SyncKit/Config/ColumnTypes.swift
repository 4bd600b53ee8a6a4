import BigQuery

/// How a column type written in `target.schema` is read: BigQuery's names and their aliases (in any case), and
/// for anything else one message that says what to write instead.
enum ColumnTypes {
    /// BigQuery types bqsync cannot read or write.
    static let unsupported = ["RECORD", "STRUCT", "ARRAY", "GEOGRAPHY", "INTERVAL", "RANGE"]

    /// Other databases' type names, each with the BigQuery type to write instead. They are suggested, not
    /// accepted: `TEXT` or `NUMBER` can mean more than one thing, and a schema reads the same in BigQuery.
    static let suggestions: [String: FieldType] = [
        "VARCHAR": .string, "NVARCHAR": .string, "CHAR": .string, "NCHAR": .string, "CHARACTER": .string,
        "CHARACTER VARYING": .string, "TEXT": .string, "CLOB": .string, "UUID": .string,
        "DOUBLE": .float64, "DOUBLE PRECISION": .float64, "REAL": .float64, "FLOAT4": .float64, "FLOAT8": .float64,
        "FLOAT32": .float64, "LONG": .int64, "INT2": .int64, "INT4": .int64, "INT8": .int64, "INT32": .int64,
        "SERIAL": .int64, "BIGSERIAL": .int64, "NUMBER": .numeric, "MONEY": .numeric, "BLOB": .bytes,
        "BINARY": .bytes, "VARBINARY": .bytes, "BYTEA": .bytes, "JSONB": .json, "TIMESTAMPTZ": .timestamp,
        "DATETIME2": .datetime, "TIMESTAMP_NTZ": .datetime,
    ]

    /// The type a name means, or the message for a name bqsync does not take.
    static func read(_ text: String) -> Result<FieldType, Problem> {
        if let type = FieldType(bigQueryName: text) { return .success(type) }
        let trimmed = text.trimmingSpaces
        let open = trimmed.firstIndex { $0 == "(" || $0 == "<" }
        let base = trimmed[..<(open ?? trimmed.endIndex)].trimmingSpaces.uppercased()
        if unsupported.contains(base) { return .failure(Problem("column type \(base) is not supported by bqsync")) }
        if open != nil, let type = FieldType(bigQueryName: base) ?? suggestions[base] {
            return .failure(
                Problem("parameterized types are not supported by bqsync: use \(type.rawValue) (got \(quote(text)))"))
        }
        let valid = FieldType.allCases.map(\.rawValue)
        let hint =
            suggestions[base].map { " (did you mean '\($0.rawValue)'?)" }
            ?? Suggest.closest(to: text.uppercased(), in: valid).map { " (did you mean '\($0)'?)" }
            ?? " (valid types: \(valid.joined(separator: ", ")))"
        return .failure(Problem("unknown column type \(quote(text))\(hint)"))
    }

    struct Problem: Error, Hashable {
        var message: String
        init(_ message: String) { self.message = message }
    }

    /// How deep a type's text is inside `(…)` and `<…>`: more than 0 when a bracket is still open.
    static func openBrackets(_ text: String) -> Int {
        text.reduce(0) { depth, char in
            switch char {
            case "(", "<": return depth + 1
            case ")", ">": return depth - 1
            default: return depth
            }
        }
    }
}
