import Foundation

/// Reads a file in fixed-size chunks and hands out its records (NDJSON lines, or CSV records whose quoted fields
/// may hold newlines) without ever holding more than one chunk and one record in memory.
///
/// A record longer than `maxRecordBytes` is an error that names its line and byte offset, so memory stays
/// bounded (about twice the limit plus a chunk) whatever the file holds: a 100 MB line, a 2 GB file without a
/// line break, or a CSV quote that is never closed.
struct RecordReader {
    /// The longest record accepted by default: 32 MiB. BigQuery takes rows up to 100 MB in a load job but at
    /// most 10 MB in one request (query parameters included), so a longer row could not be sent inline anyway.
    static let defaultMaxRecordBytes = 32 << 20

    /// The file read.
    let path: String
    /// The path shown in errors.
    let displayPath: String
    /// Whether a newline inside double quotes belongs to the record (CSV) or ends it (NDJSON).
    let quoted: Bool
    /// CSV: the field delimiter, as the UTF-8 bytes of its one character (a quote opens a quoted field only at a
    /// field's start).
    var delimiter: [UInt8] = [UInt8(ascii: ",")]
    /// The longest record accepted (line break excluded); a longer one is an error, not unbounded memory.
    var maxRecordBytes = RecordReader.defaultMaxRecordBytes
    /// Bytes read per call.
    var chunkBytes = 1 << 20

    /// Calls `body` with each non-blank record (without its line break) and the 1-based line it starts on.
    func forEach(
        chunk chunkObserver: (UnsafeBufferPointer<UInt8>) -> Void = { _ in },
        _ body: (UnsafeBufferPointer<UInt8>, Int) throws(SyncError) -> Void
    ) throws(SyncError) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw SyncError.io(path: displayPath, message: FileIO.systemError()) }
        defer { close(fd) }
        // A small file gets a buffer its size, not a whole chunk (most sources in tests and fuzzing are small).
        var info = stat()
        let size = fstat(fd, &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG ? Int(info.st_size) : Int.max
        try forEach(
            sizeHint: size,
            reading: { buffer in
                while true {
                    let count = read(fd, buffer.baseAddress, buffer.count)
                    if count < 0 && errno == EINTR { continue }
                    return count
                }
            }, chunk: chunkObserver, body)
    }

    /// `forEach` over bytes that `read` supplies: it fills the buffer it is given (up to its size) and returns
    /// how many bytes it put there, 0 at the end, or -1 with `errno` set. Any split of the input into reads gives
    /// the same records, lines and errors.
    /// `sizeHint`, the expected size, only sizes the buffers.
    func forEach(
        sizeHint: Int = .max, reading read: (UnsafeMutableRawBufferPointer) -> Int,
        chunk chunkObserver: (UnsafeBufferPointer<UInt8>) -> Void = { _ in },
        _ body: (UnsafeBufferPointer<UInt8>, Int) throws(SyncError) -> Void
    ) throws(SyncError) {
        let chunkBytes = max(1, min(self.chunkBytes, sizeHint == .max ? .max : sizeHint + 1))
        var pending: [UInt8] = []
        pending.reserveCapacity(min(chunkBytes * 2, maxRecordBytes + chunkBytes))
        var dropped: Int64 = 0  // bytes of the file before `pending[0]`
        var start = 0  // first byte of the current record in `pending`
        var scan = 0  // next byte to look at
        var inQuotes = false
        var fieldStart = true  // the next byte starts a field
        var justClosed = false  // the previous byte closed a quoted field (`""` re-opens: an escaped quote)
        var quoteAt = 0  // where the open quoted field began
        var line = 1  // line the current record starts on
        var newlinesInside = 0  // line breaks inside quotes in the current record
        var first = true  // the byte-order mark is not decided yet
        var chunk = [UInt8](repeating: 0, count: chunkBytes)
        let last = delimiter.last ?? UInt8(ascii: ",")
        var atEOF = false

        func tooLong() -> SyncError {
            let offset = dropped + Int64(start)
            var message = "record is longer than \(Self.describe(maxRecordBytes)) (it starts at byte \(offset))"
            if inQuotes {
                let location = pending.withUnsafeBufferPointer {
                    recordLocation(
                        UnsafeBufferPointer(rebasing: $0[start..<min(pending.count, scan)]), offset: quoteAt - start,
                        firstLine: line, file: displayPath)
                }
                message +=
                    "; the quoted field opened at \(location.line):\(location.column) is still open"
                    + " (a quote inside a quoted field is written \"\")"
            } else {
                message += "; split the record or shorten the line"
            }
            return SyncError.row(SourceLocation(file: displayPath, line: line, column: 1), message)
        }

        func emit(_ end: Int) throws(SyncError) {
            var stop = end
            if stop > start, pending[stop - 1] == UInt8(ascii: "\r") { stop -= 1 }
            if stop - start > maxRecordBytes { throw tooLong() }
            if stop > start, !isBlank(pending, start, stop) {
                try pending.withUnsafeBufferPointer { (all: UnsafeBufferPointer<UInt8>) throws(SyncError) in
                    try body(UnsafeBufferPointer(rebasing: all[start..<stop]), line)
                }
            }
            line += 1 + newlinesInside
            newlinesInside = 0
        }

        while !atEOF {
            let got = min(chunk.withUnsafeMutableBytes { read($0) }, chunkBytes)
            if got < 0 { throw SyncError.io(path: displayPath, message: FileIO.systemError()) }
            if got == 0 {
                atEOF = true
            } else {
                chunk.withUnsafeBufferPointer { chunkObserver(UnsafeBufferPointer(rebasing: $0[0..<got])) }
                pending.append(contentsOf: chunk[0..<got])
            }
            if first {
                // Nothing is looked at before the first three bytes (or the whole of a shorter file) are in, so
                // a byte-order mark is skipped however the reads split it.
                guard pending.count >= 3 || atEOF else { continue }
                first = false
                if pending.starts(with: [0xEF, 0xBB, 0xBF]) {
                    start = 3
                    scan = 3
                }
            }
            // The scan jumps from one byte that matters to the next with memchr: a line break, and in CSV a
            // quote. Between them only the last byte counts (whether it ends a delimiter, so a quote after it
            // opens a field), and inside quotes only the line breaks are counted.
            let count = pending.count
            try pending.withUnsafeBufferPointer { (bytes: UnsafeBufferPointer<UInt8>) throws(SyncError) in
                var nextBreak = -1
                var nextQuote = -1  // the next line break and quote at or after `scan` (count: none)
                func find(_ byte: UInt8, from: Int) -> Int {
                    guard from < count, let base = bytes.baseAddress,
                        let found = memchr(base + from, Int32(byte), count - from)
                    else { return count }
                    return UnsafeRawPointer(base).distance(to: UnsafeRawPointer(found))
                }
                while scan < count {
                    if nextBreak < scan { nextBreak = find(UInt8(ascii: "\n"), from: scan) }
                    guard quoted else {
                        scan = nextBreak
                        guard scan < count else { break }
                        try emit(scan)
                        start = scan + 1
                        scan += 1
                        continue
                    }
                    if nextQuote < scan { nextQuote = find(UInt8(ascii: "\""), from: scan) }
                    if inQuotes {
                        while nextBreak < nextQuote {
                            newlinesInside += 1
                            nextBreak = find(UInt8(ascii: "\n"), from: nextBreak + 1)
                        }
                        scan = nextQuote
                        guard scan < count else { break }
                        inQuotes = false
                        justClosed = true
                        fieldStart = false
                        scan += 1
                        continue
                    }
                    let next = min(nextBreak, nextQuote)
                    if next > scan {
                        let end = next - 1
                        fieldStart =
                            bytes[end] == last
                            && (delimiter.count == 1
                                || (end + 1 >= start + delimiter.count
                                    && bytes[(end + 1 - delimiter.count)...end].elementsEqual(delimiter)))
                        justClosed = false
                        scan = next
                        guard scan < count else { break }
                    }
                    if next == nextBreak {
                        try emit(scan)
                        start = scan + 1
                        fieldStart = true
                        justClosed = false
                    } else {
                        if fieldStart || justClosed {
                            inQuotes = true
                            if fieldStart { quoteAt = scan }
                            justClosed = false
                        }
                        fieldStart = false
                    }
                    scan += 1
                }
            }
            // The record still open is checked too, so a line that never ends cannot grow `pending` without bound.
            // (A last `\r` may be the start of the line break, which is not counted.)
            if scan - start - (scan > start && pending[scan - 1] == UInt8(ascii: "\r") ? 1 : 0) > maxRecordBytes {
                throw tooLong()
            }
            if atEOF {
                if inQuotes {
                    let location = pending.withUnsafeBufferPointer {
                        recordLocation(
                            UnsafeBufferPointer(rebasing: $0[start..<pending.count]), offset: quoteAt - start,
                            firstLine: line, file: displayPath)
                    }
                    throw SyncError.row(location, "quoted field is not closed before the end of the file")
                }
                if start < pending.count { try emit(pending.count) }
            } else if start > 0 && start >= pending.count / 2 {
                pending.removeFirst(start)
                dropped += Int64(start)
                scan -= start
                quoteAt = max(0, quoteAt - start)
                start = 0
            }
        }
    }

    /// A size for messages: whole MiB or KiB when it is one, else bytes.
    static func describe(_ bytes: Int) -> String {
        if bytes >= 1 << 20 && bytes % (1 << 20) == 0 { return "\(bytes >> 20) MiB" }
        if bytes >= 1 << 10 && bytes % (1 << 10) == 0 { return "\(bytes >> 10) KiB" }
        return "\(bytes) bytes"
    }

    private func isBlank(_ bytes: [UInt8], _ from: Int, _ to: Int) -> Bool {
        for index in from..<to where bytes[index] != 0x20 && bytes[index] != 0x09 && bytes[index] != 0x0D {
            return false
        }
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
