import BigQuery
import Foundation

/// A row assembled on the fast path: each column's canonical bytes back to back in one reused buffer, then packed.
struct RowBuilder {
    /// The values written so far.
    var scratch: [UInt8] = []
    /// Per column, where its value starts in `scratch` (-1: NULL or missing) and ends.
    var starts: [Int]
    var ends: [Int]
    /// A JSON string's or a quoted CSV field's bytes once its escapes are undone.
    var decoded: [UInt8] = []

    init(columns: Int) {
        starts = Array(repeating: -1, count: columns)
        ends = Array(repeating: 0, count: columns)
        scratch.reserveCapacity(256)
        decoded.reserveCapacity(64)
    }

    mutating func reset() {
        scratch.removeAll(keepingCapacity: true)
        for index in starts.indices { starts[index] = -1 }
    }

    /// The row in `PackedRow`'s format, from the values written.
    func packed(sequence: Int64) -> PackedRow {
        var size = starts.count
        for column in starts.indices where starts[column] >= 0 { size += 4 + ends[column] - starts[column] }
        let bytes = scratch.withUnsafeBufferPointer { scratch in
            [UInt8](unsafeUninitializedCapacity: size) { out, count in
                var at = 0
                for column in starts.indices {
                    let start = starts[column]
                    guard start >= 0 else {
                        out[at] = 0
                        at += 1
                        continue
                    }
                    let length = ends[column] - start
                    out[at] = 1
                    out[at + 1] = UInt8(truncatingIfNeeded: length)
                    out[at + 2] = UInt8(truncatingIfNeeded: length >> 8)
                    out[at + 3] = UInt8(truncatingIfNeeded: length >> 16)
                    out[at + 4] = UInt8(truncatingIfNeeded: length >> 24)
                    at += 5
                    if length > 0 {
                        (out.baseAddress! + at).update(from: scratch.baseAddress! + start, count: length)
                    }
                    at += length
                }
                count = at
            }
        }
        return PackedRow(sequence: sequence, bytes: bytes)
    }
}

/// RowDecoder's fast path: a record's fields matched to columns on their bytes and converted by `ByteConversion`
/// into a `RowBuilder`, with a `String` only for the types it leaves to `ValueConversion`. It returns nil at the
/// first thing it does not handle or that is wrong, and the slow path (`slowNDJSON`, `slowCSV`) decodes the record
/// again: the slow path alone reports errors, so their words and places stay the same, and the fast path must only
/// ever give the slow path's row (FastPathTests compares the two on generated records).
extension RowDecoder {
    /// Which column, if any, an NDJSON member name reaches: the names are compared in ASCII lowercase, first with
    /// the column after the previous one (members usually come in column order). Nil for a name the fast path
    /// does not decide (not ASCII).
    private func column(named key: UnsafeBufferPointer<UInt8>, after previous: Int, names: [[UInt8]?]) -> Int?? {
        func matches(_ column: Int) -> Bool {
            guard let name = names[column], name.count == key.count else { return false }
            for index in 0..<key.count {
                var byte = key[index]
                if byte >= 0x41 && byte <= 0x5A { byte += 0x20 }
                if byte != name[index] { return false }
            }
            return true
        }
        let hint = previous + 1
        if hint < names.count, matches(hint) { return .some(hint) }
        for column in names.indices where column != hint && matches(column) { return .some(column) }
        return UTF8Check.isASCII(key) ? .some(nil) : nil
    }

    /// The fast path's names: per column its name lowercased, for the column the layout's index gives that name
    /// (nil for another); nil altogether when a name is not ASCII, whose case-insensitive matching is the slow
    /// path's.
    static func matchNames(_ layout: RowLayout) -> [[UInt8]?]? {
        var names: [[UInt8]?] = []
        for (position, column) in layout.columns.enumerated() {
            guard column.name.utf8.allSatisfy({ $0 < 0x80 }) else { return nil }
            let lowered = column.name.lowercased()
            names.append(layout.index[lowered] == position ? Array(lowered.utf8) : nil)
        }
        return names
    }

    /// One NDJSON line on the fast path, or nil for the slow path to decode.
    mutating func fastNDJSON(_ record: UnsafeBufferPointer<UInt8>, sequence: Int64) -> PackedRow? {
        guard let names = matchNames else { return nil }
        builder.reset()
        for index in seen.indices { seen[index] = false }
        var parser = JSONLineParser(record)
        parser.skipSpace()
        guard parser.peek == UInt8(ascii: "{") else { return nil }
        parser.index += 1
        parser.skipSpace()
        if parser.peek == UInt8(ascii: "}") {
            parser.index += 1
        } else {
            var previous = -1
            while true {
                parser.skipSpace()
                guard parser.peek == UInt8(ascii: "\"") else { return nil }
                let keyStart = parser.index + 1
                var keyEnd = keyStart
                while keyEnd < record.count, record[keyEnd] != UInt8(ascii: "\"") {
                    guard record[keyEnd] >= 0x20, record[keyEnd] != UInt8(ascii: "\\") else { return nil }
                    keyEnd += 1
                }
                guard keyEnd < record.count else { return nil }
                parser.index = keyEnd + 1
                parser.skipSpace()
                guard parser.peek == UInt8(ascii: ":") else { return nil }
                parser.index += 1
                parser.skipSpace()
                let key = UnsafeBufferPointer(rebasing: record[keyStart..<keyEnd])
                guard let found = column(named: key, after: previous, names: names) else { return nil }
                if let column = found {
                    guard !seen[column] else { return nil }
                    seen[column] = true
                    previous = column
                    guard fastValue(&parser, column: column) else { return nil }
                } else {
                    guard ignoreUnknown, (try? parser.skipValue(depth: 0)) != nil else { return nil }
                }
                parser.skipSpace()
                if parser.peek == UInt8(ascii: ",") {
                    parser.index += 1
                    continue
                }
                guard parser.peek == UInt8(ascii: "}") else { return nil }
                parser.index += 1
                break
            }
        }
        parser.skipSpace()
        guard parser.index == record.count else { return nil }
        for column in mandatory where builder.starts[column] < 0 { return nil }
        for index in seen.indices where seen[index] { carriedColumns[index] = true }
        return builder.packed(sequence: sequence)
    }

    /// Converts the JSON value at the parser into the column's slot; false for the slow path.
    private mutating func fastValue(_ parser: inout JSONLineParser, column: Int) -> Bool {
        let type = layout.columns[column].type
        let bytes = parser.bytes
        guard let first = parser.peek else { return false }
        switch first {
        case UInt8(ascii: "\""):
            let start = parser.index + 1
            let (index, ascii) = JSONWriter.plainRun(bytes, from: start, stopAtHighBit: false)
            guard index < bytes.count, bytes[index] >= 0x20 else { return false }
            if bytes[index] == UInt8(ascii: "\"") {
                parser.index = index + 1
                let text = UnsafeBufferPointer(rebasing: bytes[start..<index])
                guard ascii || UTF8Check.isValid(text) else { return false }
                return put(text, number: false, column: column, type: type)
            }
            // Escapes: the text so far, then the rest decoded the way JSONLineParser decodes it.
            var decoded = builder.decoded
            builder.decoded = []
            defer { builder.decoded = decoded }
            decoded.removeAll(keepingCapacity: true)
            decoded.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start..<index]))
            parser.index = index
            while true {
                guard let byte = parser.peek, byte >= 0x20 else { return false }
                parser.index += 1
                if byte == UInt8(ascii: "\"") { break }
                if byte != UInt8(ascii: "\\") {
                    decoded.append(byte)
                    continue
                }
                guard let escape = parser.peek else { return false }
                parser.index += 1
                guard (try? parser.appendEscape(escape, to: &decoded)) != nil else { return false }
            }
            return decoded.withUnsafeBufferPointer { text in
                UTF8Check.isValid(text) && put(text, number: false, column: column, type: type)
            }
        case UInt8(ascii: "t"), UInt8(ascii: "f"):
            let flag = first == UInt8(ascii: "t")
            guard (try? parser.literal(flag ? "true" : "false")) != nil,
                type == .bool || type == .string || type == .json
            else { return false }
            builder.starts[column] = builder.scratch.count
            builder.scratch.append(contentsOf: (flag ? "true" : "false").utf8)
            builder.ends[column] = builder.scratch.count
            return true
        case UInt8(ascii: "n"):
            return (try? parser.literal("null")) != nil
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            let start = parser.index
            guard (try? parser.skipValue(depth: 0)) != nil,
                let text = String(validating: UnsafeBufferPointer(rebasing: bytes[start..<parser.index]), as: UTF8.self)
            else { return false }
            return putSlow(.composite(text), column: column, type: type)
        default:
            let start = parser.index
            guard (try? parser.number()) != nil else { return false }
            return put(
                UnsafeBufferPointer(rebasing: bytes[start..<parser.index]), number: true, column: column, type: type)
        }
    }

    /// Writes a value's canonical bytes into the column's slot: `ByteConversion` when it takes the value, else
    /// `ValueConversion` through a string; false when that refuses it (the slow path words the error).
    private mutating func put(_ text: UnsafeBufferPointer<UInt8>, number: Bool, column: Int, type: FieldType) -> Bool {
        let start = builder.scratch.count
        if ByteConversion.append(text, number: number, as: type, to: &builder.scratch) {
            builder.starts[column] = start
            builder.ends[column] = builder.scratch.count
            return true
        }
        let string = String(decoding: text, as: UTF8.self)
        return putSlow(number ? .number(string) : .string(string), column: column, type: type)
    }

    private mutating func putSlow(_ raw: RawValue, column: Int, type: FieldType) -> Bool {
        let converted: String?
        do throws(ConversionProblem) {
            converted = try ValueConversion.canonical(raw, as: type)
        } catch {
            return false
        }
        guard var value = converted else { return true }
        builder.starts[column] = builder.scratch.count
        value.withUTF8 { builder.scratch.append(contentsOf: $0) }
        builder.ends[column] = builder.scratch.count
        return true
    }

    /// One CSV record on the fast path, or nil for the slow path to decode.
    mutating func fastCSV(_ record: UnsafeBufferPointer<UInt8>, sequence: Int64) -> PackedRow? {
        builder.reset()
        let quote = UInt8(ascii: "\"")
        let delimiter = self.delimiter
        let first = delimiter.first ?? UInt8(ascii: ",")
        let width = max(1, delimiter.count)
        func isDelimiter(_ at: Int) -> Bool {
            guard record[at] == first else { return false }
            guard delimiter.count > 1 else { return true }
            return at + delimiter.count <= record.count
                && (1..<delimiter.count).allSatisfy { record[at + $0] == delimiter[$0] }
        }
        var position = 0
        var index = 0
        var decoded = builder.decoded
        builder.decoded = []
        defer { builder.decoded = decoded }
        while true {
            let start = index
            if index < record.count && record[index] == quote {
                index += 1
                decoded.removeAll(keepingCapacity: true)
                var closed = false
                while index < record.count {
                    let byte = record[index]
                    if byte == quote {
                        guard index + 1 < record.count, record[index + 1] == quote else {
                            index += 1
                            closed = true
                            break
                        }
                        decoded.append(quote)
                        index += 2
                        continue
                    }
                    decoded.append(byte)
                    index += 1
                }
                guard closed, index >= record.count || isDelimiter(index),
                    decoded.withUnsafeBufferPointer({ csvField($0, quoted: true, position: position) })
                else { return nil }
            } else {
                while index < record.count, !isDelimiter(index) {
                    guard record[index] != quote else { return nil }
                    index += 1
                }
                guard csvField(UnsafeBufferPointer(rebasing: record[start..<index]), quoted: false, position: position)
                else { return nil }
            }
            position += 1
            if index >= record.count { break }
            index += width
        }
        guard position == header.count else { return nil }
        for column in mandatory where builder.starts[column] < 0 { return nil }
        return builder.packed(sequence: sequence)
    }

    /// Converts one CSV field into its column's slot (nothing for a NULL or an ignored column); false for the
    /// slow path.
    private mutating func csvField(_ field: UnsafeBufferPointer<UInt8>, quoted: Bool, position: Int) -> Bool {
        guard position < header.count, UTF8Check.isValid(field) else { return false }
        guard let column = header[position] else { return true }
        let type = layout.columns[column].type
        if !quoted && isNullMarker(field) { return true }
        if field.isEmpty && type != .string && type != .bytes { return true }
        return put(field, number: false, column: column, type: type)
    }

    /// Whether an unquoted CSV field is the null marker, compared as the slow path compares strings (canonical
    /// equivalence): on the bytes when both are ASCII or the marker is empty, else as strings.
    private func isNullMarker(_ field: UnsafeBufferPointer<UInt8>) -> Bool {
        if nullMarker.isEmpty { return field.isEmpty }
        if nullMarker.utf8.allSatisfy({ $0 < 0x80 }) && UTF8Check.isASCII(field) {
            return field.elementsEqual(nullMarker.utf8)
        }
        return String(decoding: field, as: UTF8.self) == nullMarker
    }
}
