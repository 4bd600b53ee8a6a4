import BigQuery

/// Turns NDJSON lines and CSV records into packed rows of a layout: fields matched to columns by name
/// (case-insensitively), values converted to the column types, keys and REQUIRED columns checked. Every problem
/// names the file, line and column.
package struct RowDecoder {
    /// The columns rows carry.
    let layout: RowLayout
    /// Whether fields that are not columns are skipped rather than an error.
    let ignoreUnknown: Bool
    /// CSV: the field delimiter, as the UTF-8 bytes of its one character.
    var delimiter: [UInt8] = [UInt8(ascii: ",")]
    /// CSV: the unquoted text that means NULL.
    var nullMarker = ""
    /// Columns that appeared in the source (a field or a header cell).
    package var carried: Set<Int> { Set(carriedColumns.indices.filter { carriedColumns[$0] }) }
    /// `carried`, one flag per column.
    var carriedColumns: [Bool]
    /// The file being read, as shown in errors.
    var file = ""
    /// CSV: the current file's header, as column indexes (nil for an ignored column).
    var header: [Int?] = []
    var values: [String?]
    var seen: [Bool]
    /// The fast path's row under construction (FastRecords.swift).
    var builder: RowBuilder
    /// Per column, its name in ASCII lowercase for the fast path's matching of NDJSON member names (nil for a
    /// column no name reaches); nil when a column name is not ASCII, and then every record takes the slow path.
    let matchNames: [[UInt8]?]?
    /// The columns a row must have a value for: the merge keys, then the REQUIRED columns.
    let mandatory: [Int]

    package init(layout: RowLayout, ignoreUnknown: Bool) {
        self.layout = layout
        self.ignoreUnknown = ignoreUnknown
        values = Array(repeating: nil, count: layout.columns.count)
        seen = Array(repeating: false, count: layout.columns.count)
        carriedColumns = Array(repeating: false, count: layout.columns.count)
        builder = RowBuilder(columns: layout.columns.count)
        matchNames = Self.matchNames(layout)
        mandatory = layout.keys + layout.columns.indices.filter { layout.columns[$0].required }
    }

    /// The text with ASCII letters lowercased and nothing else changed: BigQuery compares column names without
    /// regard to ASCII case only, while Unicode lowercasing would turn a Kelvin sign (U+212A) into `k`.
    static func asciiLowercased(_ text: String) -> String {
        guard text.utf8.contains(where: { (0x41...0x5A).contains($0) }) else { return text }
        return String(decoding: text.utf8.map { (0x41...0x5A).contains($0) ? $0 + 0x20 : $0 }, as: UTF8.self)
    }

    private func error(_ record: UnsafeBufferPointer<UInt8>, _ offset: Int, _ line: Int, _ message: String) -> SyncError
    {
        .row(recordLocation(record, offset: offset, firstLine: line, file: file), message)
    }

    private func unknownField(_ name: String) -> String {
        var message = "unknown field \(ValueConversion.quoted(name)): not a column of the target"
        if let suggestion = Suggest.closest(to: name, in: layout.columns.map(\.name)) {
            message += " (did you mean '\(suggestion)'?)"
        }
        return message + "; set source.ignore_unknown_fields: true to skip it"
    }

    /// Decodes one NDJSON line: on the fast path when it can, else (and for every error) on the slow one.
    mutating func ndjson(_ record: UnsafeBufferPointer<UInt8>, line: Int, sequence: Int64) throws(SyncError)
        -> PackedRow
    {
        if let row = fastNDJSON(record, sequence: sequence) { return row }
        return try slowNDJSON(record, line: line, sequence: sequence)
    }

    /// Decodes one NDJSON line through strings: the reference the fast path matches, and the wording of errors.
    mutating func slowNDJSON(_ record: UnsafeBufferPointer<UInt8>, line: Int, sequence: Int64) throws(SyncError)
        -> PackedRow
    {
        for index in values.indices {
            values[index] = nil
            seen[index] = false
        }
        var parser = JSONLineParser(record)
        var failure: SyncError?
        do throws(RecordProblem) {
            try parser.members { (name, raw, keyOffset, valueOffset) throws(RecordProblem) in
                guard let column = layout.index[name] ?? layout.index[Self.asciiLowercased(name)] else {
                    if ignoreUnknown { return }
                    throw RecordProblem(offset: keyOffset, message: unknownField(name), syntax: false)
                }
                if seen[column] {
                    throw RecordProblem(offset: keyOffset, message: "field '\(name)' appears twice", syntax: false)
                }
                seen[column] = true
                do throws(ConversionProblem) {
                    values[column] = try ValueConversion.canonical(raw, as: layout.columns[column].type)
                } catch {
                    throw RecordProblem(
                        offset: valueOffset, message: "column '\(layout.columns[column].name)': \(error.message)",
                        syntax: false)
                }
            }
        } catch {
            failure = self.error(
                record, error.offset, line, error.syntax ? "invalid JSON: \(error.message)" : error.message)
        }
        if let failure { throw failure }
        for index in seen.indices where seen[index] { carriedColumns[index] = true }
        try check(record, line: line)
        return PackedRow(sequence: sequence, values: values)
    }

    /// Reads a CSV header row: every cell must name a column (or be ignored), once.
    mutating func csvHeader(_ record: UnsafeBufferPointer<UInt8>, line: Int) throws(SyncError) {
        var header: [Int?] = []
        var used: Set<Int> = []
        let layout = self.layout
        let ignoreUnknown = self.ignoreUnknown
        do throws(RecordProblem) {
            try CSVRecordParser.fields(record, delimiter: delimiter) { (name, _, offset) throws(RecordProblem) in
                let trimmed = name.trimmingCharacters(in: .whitespaces)
                guard let column = layout.index[Self.asciiLowercased(trimmed)] else {
                    if ignoreUnknown {
                        header.append(nil)
                        return
                    }
                    throw RecordProblem(offset: offset, message: unknownField(trimmed))
                }
                guard used.insert(column).inserted else {
                    throw RecordProblem(offset: offset, message: "column '\(trimmed)' appears twice in the header")
                }
                header.append(column)
            }
        } catch {
            throw self.error(record, error.offset, line, error.message)
        }
        self.header = header
        for case let column? in header { carriedColumns[column] = true }
    }

    /// Decodes one CSV record after the header: on the fast path when it can, else on the slow one.
    mutating func csv(_ record: UnsafeBufferPointer<UInt8>, line: Int, sequence: Int64) throws(SyncError) -> PackedRow {
        if let row = fastCSV(record, sequence: sequence) { return row }
        return try slowCSV(record, line: line, sequence: sequence)
    }

    /// Decodes one CSV record through strings: the reference the fast path matches, and the wording of errors.
    mutating func slowCSV(_ record: UnsafeBufferPointer<UInt8>, line: Int, sequence: Int64) throws(SyncError)
        -> PackedRow
    {
        for index in values.indices { values[index] = nil }
        var position = 0
        var failure: RecordProblem?
        let header = self.header
        let layout = self.layout
        let nullMarker = self.nullMarker
        var values = self.values
        do throws(RecordProblem) {
            try CSVRecordParser.fields(record, delimiter: delimiter) { (text, quoted, offset) throws(RecordProblem) in
                defer { position += 1 }
                guard position < header.count else {
                    throw RecordProblem(
                        offset: offset, message: "this row has more fields than the header (\(header.count))")
                }
                guard let column = header[position] else { return }
                let type = layout.columns[column].type
                if !quoted && text == nullMarker { return }
                if text.isEmpty && type != .string && type != .bytes { return }
                do throws(ConversionProblem) {
                    values[column] = try ValueConversion.canonical(.string(text), as: type)
                } catch {
                    throw RecordProblem(
                        offset: offset, message: "column '\(layout.columns[column].name)': \(error.message)")
                }
            }
        } catch {
            failure = error
        }
        self.values = values
        if let failure { throw self.error(record, failure.offset, line, failure.message) }
        if position < header.count {
            throw self.error(
                record, record.count, line,
                "this row has \(position) field\(position == 1 ? "" : "s"), the header has \(header.count)")
        }
        try check(record, line: line)
        return PackedRow(sequence: sequence, values: values)
    }

    private func check(_ record: UnsafeBufferPointer<UInt8>, line: Int) throws(SyncError) {
        for key in layout.keys where values[key] == nil {
            throw error(record, 0, line, "merge key '\(layout.columns[key].name)' is NULL or missing")
        }
        for (index, column) in layout.columns.enumerated() where column.required && values[index] == nil {
            throw error(record, 0, line, "REQUIRED column '\(column.name)' is NULL or missing")
        }
    }
}
