import Crypto
import Foundation

/// One local source file: where it is, its size and (once read) its SHA-256.
public struct SourceFile: Sendable, Hashable, Codable {
    /// The path as shown (relative to the sync's directory when given relative).
    public var path: String
    /// Its size in bytes.
    public var bytes: Int64
    /// Lowercase hex SHA-256 of its contents.
    public var sha256: String
}

/// Reads the rows of a local `ndjson` or `csv` source: the files its path or glob names, in name order, each
/// record decoded, converted and handed on; the files are hashed while they are read.
package struct LocalSource {
    /// Absolute paths, with their displayed forms.
    let files: [(absolute: String, display: String)]
    /// ndjson or csv.
    let kind: SourceSpec.Kind
    /// CSV delimiter.
    let delimiter: Character
    /// CSV null marker.
    let nullMarker: String

    /// Resolves the source's path or glob against the definition's directory; no match is an error.
    package init(spec: SourceSpec) throws(SyncError) {
        guard let pattern = spec.path else { throw SyncError.internal("the source has no path") }
        let matches = try Self.matches(pattern, in: spec.baseDirectory)
        guard !matches.isEmpty else {
            throw SyncError.io(path: FileIO.join(spec.baseDirectory, pattern), message: "no source file matches")
        }
        files = matches.map { ($0, $0) }
        kind = spec.kind
        delimiter = spec.delimiter
        nullMarker = spec.nullMarker
    }

    /// The files a path or glob names, relative to `directory` unless absolute, in name order (directories
    /// left out); none is an empty list, a pattern that cannot be expanded an error.
    static func matches(_ pattern: String, in directory: String) throws(SyncError) -> [String] {
        let absolutePattern = pattern.hasPrefix("/") ? pattern : FileIO.join(directory, pattern)
        guard pattern.contains(where: { "*?[".contains($0) }) else {
            return FileIO.exists(absolutePattern) ? [absolutePattern] : []
        }
        var matches: [String] = []
        var result = glob_t()
        defer { globfree(&result) }
        let status = glob(absolutePattern, 0, nil, &result)
        if status == 0 {
            for index in 0..<Int(result.gl_pathc) {
                if let path = result.gl_pathv[index] { matches.append(String(cString: path)) }
            }
        } else if status != GLOB_NOMATCH {
            throw SyncError.io(path: pattern, message: "cannot expand the pattern")
        }
        return matches.filter { !FileIO.isDirectory($0) }.sorted()
    }

    /// The total size of the files.
    func totalBytes() throws(SyncError) -> Int64 {
        var total: Int64 = 0
        for file in files {
            var info = stat()
            guard stat(file.absolute, &info) == 0 else {
                throw SyncError.io(path: file.display, message: FileIO.systemError())
            }
            total += Int64(info.st_size)
        }
        return total
    }

    /// Row errors reported for one source before the reading stops, by default: one run of `plan` shows a file's
    /// mistakes together instead of one at a time.
    package static let defaultMaxRowErrors = 20

    /// Reads every record, decoding each into a packed row; returns the files with their hashes.
    ///
    /// A bad row does not end the reading: its error is kept (with its file, line and column) and the next
    /// record is read, until `maxErrors` are kept and one more is found. A CSV header error, a record too long
    /// or a quote never closed ends its file, as the records after it cannot be told apart. Once there is an
    /// error no more rows go to `row`, and the errors are thrown at the end (`RowErrors.failure`); an I/O error
    /// is thrown at once.
    package func read(
        into decoder: inout RowDecoder, maxErrors: Int = LocalSource.defaultMaxRowErrors,
        _ row: (PackedRow) throws(SyncError) -> Void
    ) throws(SyncError) -> [SourceFile] {
        var described: [SourceFile] = []
        var sequence: Int64 = 0
        var errors = RowErrors(limit: maxErrors)
        decoder.delimiter = Array(String(delimiter).utf8)
        decoder.nullMarker = nullMarker
        for file in files {
            decoder.file = file.display
            var hasher = SHA256Stream()
            var size: Int64 = 0
            var sawHeader = false
            var reader = RecordReader(path: file.absolute, displayPath: file.display, quoted: kind == .csv)
            reader.delimiter = decoder.delimiter
            do throws(SyncError) {
                try reader.forEach(chunk: { chunk in
                    hasher.update(chunk)
                    size += Int64(chunk.count)
                }) { (record, line) throws(SyncError) in
                    if kind == .csv && !sawHeader {
                        try decoder.csvHeader(record, line: line)  // an error here ends the file
                        sawHeader = true
                        return
                    }
                    do throws(SyncError) {
                        let packed =
                            kind == .csv
                            ? try decoder.csv(record, line: line, sequence: sequence)
                            : try decoder.ndjson(record, line: line, sequence: sequence)
                        sequence += 1
                        if errors.isEmpty { try row(packed) }
                    } catch {
                        try errors.add(error)
                    }
                }
                if kind == .csv && !sawHeader {
                    throw SyncError.row(
                        SourceLocation(file: file.display, line: 1, column: 1), "the CSV file has no header row")
                }
            } catch {
                if errors.stopped { throw error }  // the errors themselves, past the limit
                try errors.add(error)
                continue
            }
            described.append(SourceFile(path: file.display, bytes: size, sha256: hasher.hex()))
        }
        if let failure = errors.failure { throw failure }
        return described
    }
}
