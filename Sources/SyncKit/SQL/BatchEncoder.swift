import BigQuery
import Crypto

/// Writes packed rows the way BigQuery receives them: one STRING query parameter holding a JSON array of rows
/// (inline), or NDJSON lines for a load into a staging table (staged). Both carry the canonical strings, so the
/// MERGE's casts restore the same values either way.
struct BatchEncoder: Sendable {
    /// The layout's column names.
    let names: [String]
    /// Which columns are carried, in order.
    let carried: [Int]
    private let isCarried: [Bool]

    init(layout: RowLayout, carried: [Int]) {
        names = layout.columns.map(\.name)
        self.carried = carried
        var flags = Array(repeating: false, count: layout.columns.count)
        for index in carried { flags[index] = true }
        isCarried = flags
    }

    /// The `parameterValue` of a batch: one STRING whose text is a JSON array of rows, each row an array of the
    /// carried columns' canonical strings in `carried` order (null for NULL):
    /// `{"value":"[[\"1\",\"a\",null],…]"}`. The MERGE reads it with `JSON_QUERY_ARRAY` and `JSON_VALUE`.
    /// One scalar parameter rather than an ARRAY<STRUCT>: about half the bytes on the wire, and a server
    /// parses one value instead of building a struct per row.
    func parameterValue(_ rows: ArraySlice<PackedRow>) -> [UInt8] {
        // Written escaped for the parameter's JSON string as it goes: each value's literal by `nestedString`,
        // and the array's brackets, commas and nulls need no escaping.
        var json = JSONWriter(capacity: rows.count * 128 + 16)
        json.raw("{\"value\":\"[")
        var firstRow = true
        for row in rows {
            json.raw(firstRow ? "[" : ",[")
            firstRow = false
            // Positional: every carried column gets its slot, also one the packed row does not reach.
            var next = 0
            row.forEachField { column, bytes in
                guard next < carried.count, column < isCarried.count, isCarried[column] else { return }
                while next < carried.count, carried[next] < column {
                    json.raw(next == 0 ? "null" : ",null")
                    next += 1
                }
                if next > 0 { json.raw(",") }
                if let bytes { json.nestedString(utf8: bytes) } else { json.raw("null") }
                next += 1
            }
            while next < carried.count {
                json.raw(next == 0 ? "null" : ",null")
                next += 1
            }
            json.raw("]")
        }
        json.raw("]\"}")
        return json.bytes
    }

    /// One NDJSON line per row, each ending in a newline.
    func ndjson(_ row: PackedRow, into json: inout JSONWriter) {
        do {
            json.raw("{")
            var firstField = true
            row.forEachField { column, bytes in
                guard isCarried[column], let bytes else { return }
                if !firstField { json.raw(",") }
                firstField = false
                json.string(names[column])
                json.raw(":")
                json.string(utf8: bytes)
            }
            json.raw("}\n")
        }
    }

    /// Lowercase hex SHA-256.
    static func digest(_ bytes: [UInt8]) -> String {
        SHA256.hash(data: bytes).map { hexByte($0) }.joined()
    }

    static func hexByte(_ byte: UInt8) -> String {
        let digits = Array("0123456789abcdef")
        return String([digits[Int(byte >> 4)], digits[Int(byte & 15)]])
    }
}
