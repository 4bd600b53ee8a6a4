import Foundation

/// Reads a file in fixed-size chunks and hands out its records (NDJSON lines, or CSV records whose quoted fields
/// may hold newlines) without ever holding more than one chunk and one record in memory.
struct RecordReader {
    /// The file read.
    let path: String
    /// The path shown in errors.
    let displayPath: String
    /// Whether a newline inside double quotes belongs to the record (CSV) or ends it (NDJSON).
    let quoted: Bool
    /// CSV: the field delimiter, as the UTF-8 bytes of its one character (a quote opens a quoted field only at a
    /// field's start).
    var delimiter: [UInt8] = [UInt8(ascii: ",")]
    /// The longest record accepted; a longer one is an error, not unbounded memory.
    var maxRecordBytes = 32 << 20
    /// Bytes read per call.
    var chunkBytes = 1 << 20

    /// Calls `body` with each non-blank record (without its line break) and the 1-based line it starts on.
    func forEach(chunk chunkObserver: (UnsafeBufferPointer<UInt8>) -> Void = { _ in },
                 _ body: (UnsafeBufferPointer<UInt8>, Int) throws(SyncError) -> Void) throws(SyncError) {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw SyncError.io(path: displayPath, message: String(cString: strerror(errno))) }
        defer { close(fd) }
        var pending: [UInt8] = []
        pending.reserveCapacity(chunkBytes * 2)
        var start = 0          // first byte of the current record in `pending`
        var scan = 0           // next byte to look at
        var inQuotes = false
        var fieldStart = true      // the next byte starts a field
        var justClosed = false     // the previous byte closed a quoted field (`""` re-opens: an escaped quote)
        var quoteAt = 0            // where the open quoted field began
        var line = 1           // line the current record starts on
        var newlinesInside = 0 // line breaks inside quotes in the current record
        var first = true
        var chunk = [UInt8](repeating: 0, count: chunkBytes)
        let chunkHandler = chunkObserver
        let last = delimiter.last ?? UInt8(ascii: ",")
        var atEOF = false

        func emit(_ end: Int) throws(SyncError) {
            var stop = end
            if stop > start, pending[stop - 1] == UInt8(ascii: "\r") { stop -= 1 }
            if stop > start, !isBlank(pending, start, stop) {
                try pending.withUnsafeBufferPointer { (all: UnsafeBufferPointer<UInt8>) throws(SyncError) in
                    try body(UnsafeBufferPointer(rebasing: all[start..<stop]), line)
                }
            }
            line += 1 + newlinesInside
            newlinesInside = 0
        }

        while !atEOF {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, chunkBytes) }
            if count < 0 { throw SyncError.io(path: displayPath, message: String(cString: strerror(errno))) }
            if count == 0 {
                atEOF = true
            } else {
                chunk.withUnsafeBufferPointer { chunkHandler(UnsafeBufferPointer(rebasing: $0[0..<count])) }
                pending.append(contentsOf: chunk[0..<count])
            }
            if first, pending.count >= 3 || atEOF {
                first = false
                if pending.starts(with: [0xEF, 0xBB, 0xBF]) { start = 3; scan = 3 }
            }
            while scan < pending.count {
                let byte = pending[scan]
                if quoted, byte == UInt8(ascii: "\"") {
                    if inQuotes {
                        inQuotes = false
                        justClosed = true
                    } else if fieldStart || justClosed {
                        inQuotes = true
                        if fieldStart { quoteAt = scan }
                        justClosed = false
                    }
                    fieldStart = false
                } else if byte == UInt8(ascii: "\n") && !inQuotes {
                    try emit(scan)
                    start = scan + 1
                    fieldStart = true
                    justClosed = false
                } else {
                    if byte == UInt8(ascii: "\n") { newlinesInside += 1 }
                    if !inQuotes {
                        fieldStart = byte == last && (delimiter.count == 1
                            || (scan + 1 >= start + delimiter.count && pending[(scan + 1 - delimiter.count)...scan].elementsEqual(delimiter)))
                        justClosed = false
                    }
                }
                scan += 1
            }
            if scan - start > maxRecordBytes {
                throw SyncError.row(SourceLocation(file: displayPath, line: line, column: 1),
                                    "record is longer than \(maxRecordBytes >> 20) MiB; split the file or shorten the line")
            }
            if atEOF {
                if inQuotes {
                    let location = pending.withUnsafeBufferPointer {
                        recordLocation(UnsafeBufferPointer(rebasing: $0[start..<pending.count]), offset: quoteAt - start, firstLine: line, file: displayPath)
                    }
                    throw SyncError.row(location, "quoted field is not closed before the end of the file")
                }
                if start < pending.count { try emit(pending.count) }
            } else if start > 0 && start >= pending.count / 2 {
                pending.removeFirst(start)
                scan -= start
                quoteAt = max(0, quoteAt - start)
                start = 0
            }
        }
    }

    private func isBlank(_ bytes: [UInt8], _ from: Int, _ to: Int) -> Bool {
        for index in from..<to where bytes[index] != 0x20 && bytes[index] != 0x09 && bytes[index] != 0x0D { return false }
        return true
    }
}

/// Where a byte of a record is: its line and its column in characters (both 1-based).
func recordLocation(_ record: UnsafeBufferPointer<UInt8>, offset: Int, firstLine: Int, file: String) -> SourceLocation {
    var line = firstLine
    var column = 1
    var index = 0
    let stop = min(offset, record.count)
    while index < stop {
        let byte = record[index]
        if byte == UInt8(ascii: "\n") {
            line += 1
            column = 1
        } else if byte & 0xC0 != 0x80 {
            column += 1
        }
        index += 1
    }
    return SourceLocation(file: file, line: line, column: column)
}
