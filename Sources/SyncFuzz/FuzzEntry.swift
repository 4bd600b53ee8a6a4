import BigQuery
import Foundation
import SyncKit
import YAML

/// Entry points for the fuzzer (`Sources/FuzzDriver`) and for the corpus replay test: bytes in, through the
/// code `bqsync validate` and `bqsync plan` run on them, nothing out.
///
/// Besides "no crash, no hang", each entry checks what the rest of bqsync relies on and traps when it breaks,
/// so the fuzzer reports it: every diagnostic points into the text with its own line, messages stay on one
/// line, every row value is in canonical form, no two winning rows share a key, spilled and in-memory
/// deduplication agree, the staging NDJSON is valid JSON, and RecordReader finds the records and errors of a
/// byte-by-byte reference reading however the file is split into reads.
package enum FuzzEntry {
    /// The bytes as a sync definition (`syncs.d/fuzz.yaml`), then as a policy (`policies/fuzz.yaml`).
    package static func config(_ bytes: UnsafeBufferPointer<UInt8>) {
        let input = Array(bytes)
        let lines = SourceText.lines(input)
        let loader = ConfigLoader(directory: ".", defaultProject: "fuzz-project")
        for asPolicy in [false, true] {
            let path = asPolicy ? "policies/fuzz.yaml" : "syncs.d/fuzz.yaml"
            let file = ConfigLoader.Input(path: path, bytes: .success(input))
            let configuration =
                asPolicy ? loader.check(syncs: [], policies: [file]) : loader.check(syncs: [file], policies: [])
            for diagnostic in configuration.diagnostics {
                singleLine(diagnostic.message, "diagnostic message")
                for note in diagnostic.notes { singleLine(note, "diagnostic note") }
                guard let location = diagnostic.location else { continue }
                precondition(location.file == path, "diagnostic for another file: \(location)")
                precondition(lines.indices.contains(location.line - 1), "diagnostic line outside the file: \(location)")
                let text = lines[location.line - 1]
                precondition(
                    (1...text.unicodeScalars.count + 1).contains(location.column),
                    "diagnostic column outside its line: \(location)")
                precondition(
                    diagnostic.sourceLine == nil || diagnostic.sourceLine == text,
                    "diagnostic shows another line: \(location)")
            }
            if !asPolicy && !configuration.diagnostics.hasErrors {
                precondition(configuration.syncs.count == 1, "a definition without errors did not decode")
            }
        }
    }

    /// The bytes as an NDJSON source file, with and without `ignore_unknown_fields`.
    package static func ndjson(_ bytes: UnsafeBufferPointer<UInt8>) {
        records(bytes, quoted: false, delimiter: [UInt8(ascii: ",")])
        withScratchFile(bytes, ext: "ndjson") { path in
            rows(path, bytes: bytes, spec: SourceSpec(kind: .ndjson, path: path))
            rows(path, bytes: bytes, spec: SourceSpec(kind: .ndjson, path: path, ignoreUnknownFields: true))
        }
    }

    /// The bytes as a CSV source file: `,` with an empty null marker, then `¦` (two bytes) with `NULL` and
    /// `ignore_unknown_fields`.
    package static func csv(_ bytes: UnsafeBufferPointer<UInt8>) {
        records(bytes, quoted: true, delimiter: [UInt8(ascii: ",")])
        records(bytes, quoted: true, delimiter: Array("¦".utf8))
        withScratchFile(bytes, ext: "csv") { path in
            rows(path, bytes: bytes, spec: SourceSpec(kind: .csv, path: path))
            rows(
                path, bytes: bytes,
                spec: SourceSpec(kind: .csv, path: path, delimiter: "¦", nullMarker: "NULL", ignoreUnknownFields: true))
        }
    }

    /// The fixed target the row entries decode into: every column type bqsync writes, one REQUIRED column, a
    /// merge key, an `order_by` and a `delete_when` control column that is not in the target.
    package static let layout: RowLayout = {
        let columns: [RowLayout.Column] = [
            .init(name: "id", type: .int64, required: true, inTarget: true),
            .init(name: "name", type: .string, required: false, inTarget: true),
            .init(name: "raw", type: .bytes, required: false, inTarget: true),
            .init(name: "score", type: .float64, required: false, inTarget: true),
            .init(name: "amount", type: .numeric, required: false, inTarget: true),
            .init(name: "big", type: .bignumeric, required: false, inTarget: true),
            .init(name: "ok", type: .bool, required: true, inTarget: true),
            .init(name: "day", type: .date, required: false, inTarget: true),
            .init(name: "local", type: .datetime, required: false, inTarget: true),
            .init(name: "clock", type: .time, required: false, inTarget: true),
            .init(name: "at", type: .timestamp, required: false, inTarget: true),
            .init(name: "payload", type: .json, required: false, inTarget: true),
        ]
        do {
            return try RowLayout(columns: columns, keys: ["id"], orderBy: "at", deleteWhen: "gone")
        } catch {
            preconditionFailure("the fuzz layout is invalid: \(error)")
        }
    }()

    /// Reads a file the way `plan` does (LocalSource → RowDecoder → Deduplicator → BatchEncoder) and checks
    /// the rows and any error.
    static func rows(_ path: String, bytes: UnsafeBufferPointer<UInt8>, spec: SourceSpec) {
        let layout = Self.layout
        var read: [PackedRow] = []
        do {
            let source = try LocalSource(spec: spec)
            var decoder = RowDecoder(layout: layout, ignoreUnknown: spec.ignoreUnknownFields)
            let files = try source.read(into: &decoder) { (row) throws(SyncError) in
                check(row)
                read.append(row)
            }
            precondition(files.count == 1 && files[0].bytes == Int64(bytes.count), "the source file was not read whole")
            var carried = decoder.carried
            for key in layout.keys { carried.insert(key) }
            let memory = try deduplicate(read, partitions: 1)
            let spilled = try deduplicate(read, partitions: 3)
            precondition(
                Set(memory.map(\.sequence)) == Set(spilled.map(\.sequence)),
                "spilled and in-memory deduplication disagree")
            var keys = Set<[UInt8]>()
            for row in memory {
                precondition(keys.insert(row.key(layout.keys)).inserted, "two winning rows share a key")
            }
            let encoded = layout.encoded(memory, carried: carried.sorted())
            checkJSONLines(encoded.ndjson, count: memory.count)
            if !memory.isEmpty { checkJSONLines(encoded.parameter + [0x0A], count: 1) }
        } catch {
            check(error, in: bytes)
        }
    }

    static func deduplicate(_ rows: [PackedRow], partitions: Int) throws(SyncError) -> [PackedRow] {
        let dedup = try Deduplicator(layout: layout, partitions: partitions)
        for row in rows { try dedup.add(row) }
        var winners: [PackedRow] = []
        while let group = try dedup.next() { winners += group }
        return winners
    }

    /// Every value is already canonical (converting it again gives the same text), keys and REQUIRED columns
    /// are present.
    static func check(_ row: PackedRow) {
        for (index, column) in layout.columns.enumerated() {
            guard let value = row.value(index) else {
                precondition(
                    !column.required && !layout.keys.contains(index), "a NULL key or REQUIRED column was accepted")
                continue
            }
            switch column.type {
            case .string:
                continue
            case .json:
                let valid = Array(value.utf8).withUnsafeBufferPointer { buffer in
                    (try? JSONLineParser.validate(buffer)) != nil
                }
                precondition(valid, "a JSON value is not valid JSON: \(ValueConversion.quoted(value))")
            default:
                let again: String?
                do {
                    again = try ValueConversion.canonical(.string(value), as: column.type)
                } catch {
                    preconditionFailure(
                        "a canonical \(column.type.rawValue) does not convert again: \(ValueConversion.quoted(value)): \(error.message)"
                    )
                }
                precondition(
                    again == value,
                    "\(column.type.rawValue) \(ValueConversion.quoted(value)) is not canonical (again: \(again.map(ValueConversion.quoted) ?? "NULL"))"
                )
            }
        }
    }

    /// A reading error says where it is, inside the file, on one line; so does each of several row errors.
    static func check(_ error: SyncError, in bytes: UnsafeBufferPointer<UInt8>) {
        let lines = bytes.reduce(1) { $0 + ($1 == 0x0A ? 1 : 0) }
        func inside(_ location: SourceLocation) {
            precondition(
                location.line >= 1 && location.line <= lines && location.column >= 1,
                "error outside the file: \(location)")
        }
        if case .config(let diagnostics) = error {
            precondition(diagnostics.count >= 2, "row errors without their summary: \(diagnostics.count)")
            precondition(
                diagnostics.dropLast().allSatisfy { $0.location != nil } && diagnostics.last?.location == nil,
                "row errors without a place, or a summary with one")
            for diagnostic in diagnostics {
                singleLine(diagnostic.message, "error")
                diagnostic.location.map(inside)
            }
            return
        }
        singleLine(error.description, "error")
        guard case .row(let location, _) = error else { return }
        inside(location)
    }

    /// `bytes` is `count` lines, each one JSON object.
    static func checkJSONLines(_ bytes: [UInt8], count: Int) {
        var lines = 0
        bytes.withUnsafeBufferPointer { buffer in
            var start = 0
            for index in buffer.indices where buffer[index] == 0x0A {
                let line = UnsafeBufferPointer(rebasing: buffer[start..<index])
                do throws(RecordProblem) {
                    try JSONLineParser.validate(line)
                } catch {
                    preconditionFailure(
                        "encoded rows are not valid JSON: \(error.message) at \(error.offset): \(String(decoding: line, as: UTF8.self))"
                    )
                }
                precondition(line.first == UInt8(ascii: "{"), "an encoded row is not an object")
                lines += 1
                start = index + 1
            }
            precondition(start == buffer.count, "encoded rows do not end in a line break")
        }
        precondition(lines == count, "\(count) rows encoded as \(lines) lines")
    }

    /// The records and errors are those of a byte-by-byte reference reading, whether the bytes come in one read
    /// or in reads of 1 to 17 bytes (sizes drawn from the input itself, so a run is repeatable); a small record
    /// bound is used so that its error is reached too.
    static func records(_ bytes: UnsafeBufferPointer<UInt8>, quoted: Bool, delimiter: [UInt8]) {
        var seed: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes { seed = (seed ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
        let expected = reference(Array(bytes), quoted: quoted, delimiter: delimiter, max: 300)
        let whole = records(bytes, quoted: quoted, delimiter: delimiter) { _ in Int.max }
        let split = records(bytes, quoted: quoted, delimiter: delimiter) { _ in
            seed ^= seed << 13
            seed ^= seed >> 7
            seed ^= seed << 17
            return Int(seed % 17) + 1
        }
        precondition(whole.records == expected.records, "records differ from the reference reading")
        precondition(
            whole.outcome == expected.outcome,
            "the outcome differs from the reference reading: \(whole.outcome) / \(expected.outcome)")
        precondition(whole.records == split.records, "records depend on how the file is split into reads")
        precondition(
            whole.error == split.error,
            "errors depend on how the file is split into reads: \(whole.error ?? "none") / \(split.error ?? "none")")
        var hashed = 0
        let observed = records(bytes, quoted: quoted, delimiter: delimiter, chunk: { hashed += $0.count }) { _ in 5 }
        precondition(observed.outcome != "ok" || hashed == bytes.count, "the chunks seen are not the whole file")
    }

    struct Record: Equatable {
        var bytes: [UInt8]
        var line: Int
    }

    static func records(
        _ bytes: UnsafeBufferPointer<UInt8>, quoted: Bool, delimiter: [UInt8],
        chunk: (UnsafeBufferPointer<UInt8>) -> Void = { _ in },
        size: (Int) -> Int
    ) -> (records: [Record], error: String?, outcome: String) {
        var reader = RecordReader(path: "fuzz", displayPath: "fuzz", quoted: quoted)
        reader.delimiter = delimiter
        reader.maxRecordBytes = 300
        reader.chunkBytes = 64
        var offset = 0
        var records: [Record] = []
        do throws(SyncError) {
            try reader.forEach(
                reading: { buffer in
                    let count = min(buffer.count, size(buffer.count), bytes.count - offset)
                    guard count > 0 else { return 0 }
                    buffer.copyMemory(
                        from: UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: bytes[offset..<(offset + count)])))
                    offset += count
                    return count
                }, chunk: chunk
            ) { (record, line) throws(SyncError) in
                precondition(record.count <= 300, "a record over the bound was handed out")
                records.append(Record(bytes: Array(record), line: line))
            }
            return (records, nil, "ok")
        } catch {
            check(error, in: bytes)
            var outcome = error.description
            if case .row(let location, let message) = error {
                if message.hasPrefix("record is longer than") { outcome = "too long at line \(location.line)" }
                if message.hasPrefix("quoted field is not closed") {
                    outcome = "unclosed quote at \(location.line):\(location.column)"
                }
            }
            // Where the bound is found, a quoted field may or may not be seen open yet; the rest must agree.
            var text = error.description
            if let cut = text.range(of: "; the quoted field") ?? text.range(of: "; split the record") {
                text = String(text[..<cut.lowerBound])
            }
            return (records, text, outcome)
        }
    }

    /// What RecordReader must find, worked out one byte at a time over the whole input: the records (without
    /// a byte-order mark, line breaks and blank lines) with their lines, then "ok" or the first error.
    static func reference(_ input: [UInt8], quoted: Bool, delimiter: [UInt8], max: Int) -> (
        records: [Record], outcome: String
    ) {
        let last = delimiter.last ?? UInt8(ascii: ",")
        var records: [Record] = []
        var start = input.starts(with: [0xEF, 0xBB, 0xBF]) ? 3 : 0
        var line = 1
        var newlinesInside = 0
        var quoteAt = 0
        var inQuotes = false
        var fieldStart = true
        var justClosed = false
        func length(_ end: Int) -> Int { end - start - (end > start && input[end - 1] == 0x0D ? 1 : 0) }
        func finish(_ end: Int) -> Bool {
            guard length(end) <= max else { return false }
            let record = Array(input[start..<(start + length(end))])
            if !record.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) {
                records.append(Record(bytes: record, line: line))
            }
            line += 1 + newlinesInside
            newlinesInside = 0
            return true
        }
        var index = start
        while index < input.count {
            let byte = input[index]
            if quoted && byte == UInt8(ascii: "\"") {
                if inQuotes {
                    inQuotes = false
                    justClosed = true
                } else if fieldStart || justClosed {
                    inQuotes = true
                    if fieldStart { quoteAt = index }
                    justClosed = false
                }
                fieldStart = false
            } else if byte == 0x0A && !inQuotes {
                guard finish(index) else { return (records, "too long at line \(line)") }
                start = index + 1
                fieldStart = true
                justClosed = false
            } else {
                if byte == 0x0A { newlinesInside += 1 }
                if !inQuotes {
                    fieldStart =
                        byte == last
                        && (delimiter.count == 1
                            || (index + 1 >= start + delimiter.count
                                && Array(input[(index + 1 - delimiter.count)...index]) == delimiter))
                    justClosed = false
                }
            }
            index += 1
        }
        if length(input.count) > max { return (records, "too long at line \(line)") }
        if inQuotes {
            let location = input.withUnsafeBufferPointer {
                recordLocation(
                    UnsafeBufferPointer(rebasing: $0[start...]), offset: quoteAt - start, firstLine: line, file: "fuzz")
            }
            return (records, "unclosed quote at \(location.line):\(location.column)")
        }
        if start < input.count { _ = finish(input.count) }
        return (records, "ok")
    }

    static func singleLine(_ text: String, _ what: String) {
        precondition(
            !text.contains(where: { $0.isNewline }), "\(what) is not on one line: \(ValueConversion.quoted(text))")
    }

    /// Runs `body` with a new file holding `bytes` (in /dev/shm when there is one), removed afterwards.
    static func withScratchFile(_ bytes: UnsafeBufferPointer<UInt8>, ext: String, _ body: (String) -> Void) {
        var isDirectory: ObjCBool = false
        let shm = FileManager.default.fileExists(atPath: "/dev/shm", isDirectory: &isDirectory) && isDirectory.boolValue
        let directory = shm && access("/dev/shm", W_OK) == 0 ? "/dev/shm" : NSTemporaryDirectory()
        let path = (directory as NSString).appendingPathComponent("bqsync-fuzz-\(getpid())-\(UUID().uuidString).\(ext)")
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        precondition(fd >= 0, "cannot create \(path): \(String(cString: strerror(errno)))")
        var written = 0
        while written < bytes.count {
            let count = write(fd, bytes.baseAddress! + written, bytes.count - written)
            precondition(count > 0 || errno == EINTR, "cannot write \(path): \(String(cString: strerror(errno)))")
            if count > 0 { written += count }
        }
        close(fd)
        defer { unlink(path) }
        body(path)
    }
}
