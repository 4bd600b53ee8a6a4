import BigQuery
import Crypto

/// Writes packed rows the way BigQuery receives them: an ARRAY<STRUCT> query parameter value (inline) or NDJSON
/// lines for a load into a staging table (staged). Both carry the canonical strings, so the MERGE's casts
/// restore the same values either way.
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

    /// The `parameterValue` of a batch: `{"arrayValues":[{"structValues":{"c":{"value":"…"},…}},…]}`.
    func parameterValue(_ rows: ArraySlice<PackedRow>) -> [UInt8] {
        var json = JSONWriter(capacity: rows.count * 128)
        json.raw("{\"arrayValues\":[")
        var firstRow = true
        for row in rows {
            if !firstRow { json.raw(",") }
            firstRow = false
            json.raw("{\"structValues\":{")
            var firstField = true
            row.forEachField { column, bytes in
                guard isCarried[column] else { return }
                if !firstField { json.raw(",") }
                firstField = false
                json.string(names[column])
                if let bytes {
                    json.raw(":{\"value\":")
                    json.string(utf8: bytes)
                    json.raw("}")
                } else {
                    json.raw(":{}")
                }
            }
            json.raw("}}")
        }
        json.raw("]}")
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
