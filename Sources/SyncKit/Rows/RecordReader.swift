import Foundation

/// Reads a file in fixed-size chunks and hands out its records (NDJSON lines, or CSV records whose quoted fields
/// may hold newlines) without ever holding more than one chunk and one record in memory.
///
/// A record longer than `maxRecordBytes` is an error that names its line and byte offset, so memory stays
/// bounded (about twice the limit plus a chunk) whatever the file holds: a 100 MB line, a 2 GB file without a
/// line break, or a CSV quote that is never closed.
package struct RecordReader {
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
    package var delimiter: [UInt8] = [UInt8(ascii: ",")]
    /// The longest record accepted (line break excluded); a longer one is an error, not unbounded memory.
    package var maxRecordBytes = RecordReader.defaultMaxRecordBytes
    /// Bytes read per call.
    package var chunkBytes = 1 << 20

    /// A reader of the file at `path`, named `displayPath` in errors; `quoted` for CSV.
    package init(path: String, displayPath: String, quoted: Bool) {
        self.path = path
        self.displayPath = displayPath
        self.quoted = quoted
    }

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
    package func forEach(
        sizeHint: Int = .max, reading read: (UnsafeMutableRawBufferPointer) -> Int,
        chunk chunkObserver: (UnsafeBufferPointer<UInt8>) -> Void = { _ in },
        _ body: (UnsafeBufferPointer<UInt8>, Int) throws(SyncError) -> Void
    ) throws(SyncError) {
        let chunkBytes = max(1, min(self.chunkBytes, sizeHint == .max ? .max : sizeHint + 1))
        // The bytes read and not yet handed out: the current record and what follows it.
        var pending: [UInt8] = []
        pending.reserveCapacity(min(chunkBytes * 2, maxRecordBytes + chunkBytes))
        var framing = Framing(self)
        var chunk = [UInt8](repeating: 0, count: chunkBytes)
        var first = true  // the byte-order mark is not decided yet
        var atEOF = false
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
                if pending.starts(with: [0xEF, 0xBB, 0xBF]) { framing.skip(3) }
            }
            try pending.withUnsafeBufferPointer { (bytes) throws(SyncError) in
                try framing.scan(bytes, body)
                try framing.checkOpenRecord(bytes)
                if atEOF { try framing.finish(bytes, body) }
            }
            if !atEOF, let consumed = framing.dropConsumed(of: pending.count) { pending.removeFirst(consumed) }
        }
    }

    /// A size for messages: whole MiB or KiB when it is one, else bytes.
    static func describe(_ bytes: Int) -> String {
        if bytes >= 1 << 20 && bytes % (1 << 20) == 0 { return "\(bytes >> 20) MiB" }
        if bytes >= 1 << 10 && bytes % (1 << 10) == 0 { return "\(bytes >> 10) KiB" }
        return "\(bytes) bytes"
    }
}

/// RecordReader's scan of the bytes buffered so far: where the current record starts, how far the scan has
/// looked, the line the record starts on, and in CSV whether the next byte is inside quotes. Offsets are into the
/// buffer, which drops the records already handed out from its front (`dropped` counts those bytes).
private struct Framing {
    let quoted: Bool
    let delimiter: [UInt8]
    /// The delimiter's last byte: a quote right after it opens a field.
    let last: UInt8
    let maxRecordBytes: Int
    let file: String
    var dropped: Int64 = 0  // bytes of the file before the buffer's first
    var start = 0  // first byte of the current record
    var scan = 0  // next byte to look at
    var inQuotes = false
    var fieldStart = true  // the next byte starts a field
    var justClosed = false  // the previous byte closed a quoted field (`""` re-opens: an escaped quote)
    var quoteAt = 0  // where the open quoted field began
    var line = 1  // line the current record starts on
    var newlinesInside = 0  // line breaks inside quotes in the current record

    init(_ reader: RecordReader) {
        quoted = reader.quoted
        delimiter = reader.delimiter
        last = reader.delimiter.last ?? UInt8(ascii: ",")
        maxRecordBytes = reader.maxRecordBytes
        file = reader.displayPath
    }

    /// Starts past the first `count` bytes (a byte-order mark).
    mutating func skip(_ count: Int) {
        start = count
        scan = count
    }

    /// Hands out every record that ends in `bytes` after the scan position.
    mutating func scan(
        _ bytes: UnsafeBufferPointer<UInt8>, _ body: (UnsafeBufferPointer<UInt8>, Int) throws(SyncError) -> Void
    ) throws(SyncError) {
        if quoted { try scanCSV(bytes, body) } else { try scanNDJSON(bytes, body) }
    }

    /// NDJSON: every line break ends a record.
    private mutating func scanNDJSON(
        _ bytes: UnsafeBufferPointer<UInt8>, _ body: (UnsafeBufferPointer<UInt8>, Int) throws(SyncError) -> Void
    ) throws(SyncError) {
        while scan < bytes.count {
            scan = Self.find(UInt8(ascii: "\n"), from: scan, in: bytes)
            guard scan < bytes.count else { break }
            try emit(scan, bytes, body)
            start = scan + 1
            scan += 1
        }
    }

    /// CSV: a line break ends a record unless it is inside quotes. The scan jumps from one byte that matters to
    /// the next with memchr: a line break or a quote. Between them only the last byte counts (whether it ends a
    /// delimiter, so a quote after it opens a field), and inside quotes only the line breaks are counted.
    private mutating func scanCSV(
        _ bytes: UnsafeBufferPointer<UInt8>, _ body: (UnsafeBufferPointer<UInt8>, Int) throws(SyncError) -> Void
    ) throws(SyncError) {
        let count = bytes.count
        var nextBreak = -1
        var nextQuote = -1  // the next line break and quote at or after `scan` (count: none)
        while scan < count {
            if nextBreak < scan { nextBreak = Self.find(UInt8(ascii: "\n"), from: scan, in: bytes) }
            if nextQuote < scan { nextQuote = Self.find(UInt8(ascii: "\""), from: scan, in: bytes) }
            if inQuotes {
                while nextBreak < nextQuote {
                    newlinesInside += 1
                    nextBreak = Self.find(UInt8(ascii: "\n"), from: nextBreak + 1, in: bytes)
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
                try emit(scan, bytes, body)
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

    /// The first `byte` at or after `from`, or `bytes.count` when there is none.
    private static func find(_ byte: UInt8, from: Int, in bytes: UnsafeBufferPointer<UInt8>) -> Int {
        guard from < bytes.count, let base = bytes.baseAddress,
            let found = memchr(base + from, Int32(byte), bytes.count - from)
        else { return bytes.count }
        return UnsafeRawPointer(base).distance(to: UnsafeRawPointer(found))
    }

    /// Ends the current record at `end` (its line break, or the end of the file): hands it out unless it is blank.
    private mutating func emit(
        _ end: Int, _ bytes: UnsafeBufferPointer<UInt8>,
        _ body: (UnsafeBufferPointer<UInt8>, Int) throws(SyncError) -> Void
    ) throws(SyncError) {
        var stop = end
        if stop > start, bytes[stop - 1] == UInt8(ascii: "\r") { stop -= 1 }
        if stop - start > maxRecordBytes { throw tooLong(bytes) }
        if stop > start, !Self.isBlank(bytes, start, stop) {
            try body(UnsafeBufferPointer(rebasing: bytes[start..<stop]), line)
        }
        line += 1 + newlinesInside
        newlinesInside = 0
    }

    /// The record still open is checked too, so a line that never ends cannot grow the buffer without bound.
    /// (A last `\r` may be the start of the line break, which is not counted.)
    func checkOpenRecord(_ bytes: UnsafeBufferPointer<UInt8>) throws(SyncError) {
        if scan - start - (scan > start && bytes[scan - 1] == UInt8(ascii: "\r") ? 1 : 0) > maxRecordBytes {
            throw tooLong(bytes)
        }
    }

    /// At the end of the file: a quote still open is an error, else the last record (without a line break) ends.
    mutating func finish(
        _ bytes: UnsafeBufferPointer<UInt8>, _ body: (UnsafeBufferPointer<UInt8>, Int) throws(SyncError) -> Void
    ) throws(SyncError) {
        if inQuotes {
            let location = recordLocation(
                UnsafeBufferPointer(rebasing: bytes[start..<bytes.count]), offset: quoteAt - start, firstLine: line,
                file: file)
            throw SyncError.row(location, "quoted field is not closed before the end of the file")
        }
        if start < bytes.count { try emit(bytes.count, bytes, body) }
    }

    /// How many bytes the buffer of `count` may drop from its front (the records handed out), once they are at
    /// least half of it; the offsets are moved to match. Nil while it is not worth copying the rest down.
    mutating func dropConsumed(of count: Int) -> Int? {
        guard start > 0 && start >= count / 2 else { return nil }
        let consumed = start
        dropped += Int64(consumed)
        scan -= consumed
        quoteAt = max(0, quoteAt - consumed)
        start = 0
        return consumed
    }

    /// A record over the bound: where it starts, and in CSV where a quoted field is still open.
    private func tooLong(_ bytes: UnsafeBufferPointer<UInt8>) -> SyncError {
        let offset = dropped + Int64(start)
        var message = "record is longer than \(RecordReader.describe(maxRecordBytes)) (it starts at byte \(offset))"
        if inQuotes {
            let location = recordLocation(
                UnsafeBufferPointer(rebasing: bytes[start..<min(bytes.count, scan)]), offset: quoteAt - start,
                firstLine: line, file: file)
            message +=
                "; the quoted field opened at \(location.line):\(location.column) is still open"
                + " (a quote inside a quoted field is written \"\")"
        } else {
            message += "; split the record or shorten the line"
        }
        return SyncError.row(SourceLocation(file: file, line: line, column: 1), message)
    }

    private static func isBlank(_ bytes: UnsafeBufferPointer<UInt8>, _ from: Int, _ to: Int) -> Bool {
        for index in from..<to where bytes[index] != 0x20 && bytes[index] != 0x09 && bytes[index] != 0x0D {
            return false
        }
        return true
    }
}

/// Where a byte of a record is: its line and its column in characters (both 1-based).
package func recordLocation(_ record: UnsafeBufferPointer<UInt8>, offset: Int, firstLine: Int, file: String)
    -> SourceLocation
{
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
