import Foundation
import SyncFuzz
import SyncTestSupport
import Testing

@testable import SyncKit

/// Hostile sizes end in an error that says what and where, quickly and in bounded memory: deeply nested YAML
/// (the parser's depth bound) and a 100 MB line (the reader's record bound). The 2 GB source is in
/// `scripts/soak-bounds`, which is too slow for this suite.
@Suite struct ResourceBoundsTests {
    static let clock = ContinuousClock()

    /// A definition whose `source:` holds `levels` nested collections; `name` chooses the style.
    static func nested(_ style: String, levels: Int) -> String {
        let head = "version: 1\nsource:"
        switch style {
        case "flow sequence":
            return head + " " + String(repeating: "[", count: levels) + String(repeating: "]", count: levels) + "\n"
        case "flow mapping":
            return head + " " + String(repeating: "{a: ", count: levels) + "x" + String(repeating: "}", count: levels)
                + "\n"
        case "block sequence": return head + "\n" + String(repeating: "- ", count: levels) + "x\n"
        default:
            return head + "\n" + (1..<levels).map { String(repeating: " ", count: $0) + "a:\n" }.joined()
                + String(repeating: " ", count: levels) + "a: x\n"
        }
    }

    @Test(
        "deeply nested YAML is refused at the first level too deep",
        arguments: [
            ("flow sequence", 1_000, "2:264"), ("flow sequence", 100_000, "2:264"),
            ("flow mapping", 1_000, "2:1029"), ("flow mapping", 100_000, "2:1029"),
            ("block sequence", 1_000, "3:511"), ("block sequence", 100_000, "3:511"),
            ("block mapping", 1_000, "258:257"),
        ])
    func deepYAML(style: String, levels: Int, place: String) throws {
        let workspace = try Workspace()
        try workspace.write("syncs.d/deep.yaml", Self.nested(style, levels: levels))
        var configuration: Configuration?
        let elapsed = Self.clock.measure { configuration = ConfigLoader(directory: workspace.root).load() }
        let errors = (configuration?.diagnostics ?? []).filter { $0.severity == .error }.map(\.description)
        #expect(errors == ["\(workspace.root)/syncs.d/deep.yaml:\(place): error: nesting deeper than 256 levels"])
        #expect(elapsed < .seconds(10), "\(elapsed)")
    }

    @Test("a 100,000-level block mapping cannot fit in a configuration file")
    func deepBlockMappingIsTooBig() throws {
        // Indenting 100,000 levels takes about 5 GB; the 1 MiB file bound refuses it before any parsing. The
        // file is sparse: only its size matters here.
        let workspace = try Workspace()
        let path = workspace.root + "/syncs.d/deep.yaml"
        #expect(
            FileManager.default.createFile(
                atPath: path, contents: Data(Self.nested("block mapping", levels: 1_000).utf8)))
        #expect(truncate(path, 5_000_350_021) == 0)
        let configuration = ConfigLoader(directory: workspace.root).load()
        let errors = configuration.diagnostics.filter { $0.severity == .error }.map(\.message)
        #expect(errors.count == 1)
        #expect(
            errors.first?.hasPrefix("file is 5000350021 bytes, more than the 1048576 allowed") == true,
            "the location names the file; the message does not again: \(errors)")
    }

    /// Reads a source through LocalSource (as `plan` does) into the fuzz layout; returns the error.
    static func readError(_ path: String, kind: SourceSpec.Kind) -> String {
        let spec = SourceSpec(kind: kind, path: path)
        var decoder = RowDecoder(layout: FuzzEntry.layout, ignoreUnknown: true)
        do throws(SyncError) {
            _ = try LocalSource(spec: spec).read(into: &decoder) { (_) throws(SyncError) in }
            return "no error"
        } catch {
            return error.description
        }
    }

    /// Writes `head`, `count` filler bytes and `tail` to a new temporary file.
    static func write(_ head: String, filler: UInt8, count: Int, tail: String, ext: String) throws -> String {
        let path = NSTemporaryDirectory() + "bqsync-bounds-\(UUID().uuidString).\(ext)"
        // Written in pieces: building 100 MB element by element is slow in a debug build.
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path, isDirectory: false).creatingFile())
        defer { try? handle.close() }
        try handle.write(contentsOf: Data(head.utf8))
        let block = Data(repeating: filler, count: 1 << 20)
        for _ in 0..<(count >> 20) { try handle.write(contentsOf: block) }
        try handle.write(contentsOf: Data(repeating: filler, count: count & ((1 << 20) - 1)))
        try handle.write(contentsOf: Data(tail.utf8))
        return path
    }

    @Test(
        "a 100 MB line is refused at its line and byte, after reading about 32 MiB of it",
        arguments: [
            ("{\"id\": 2, \"ok\": true}\n{\"id\": 1, \"ok\": true, \"name\": \"", "\"}\n", "ndjson", ""),
            ("id,ok,name\n2,true,x\n1,true,", "\n", "csv", ""),
            ("id,ok,name\n2,true,x\n1,true,\"", "\"\n", "csv", "; the quoted field opened at 3:8 is still open"),
        ])
    func hundredMegabyteLine(head: String, tail: String, ext: String, note: String) throws {
        let path = try Self.write(head, filler: UInt8(ascii: "x"), count: 100_000_000, tail: tail, ext: ext)
        defer { unlink(path) }
        var message = ""
        let elapsed = Self.clock.measure { message = Self.readError(path, kind: ext == "csv" ? .csv : .ndjson) }
        let start = head.utf8.count - head.split(separator: "\n", omittingEmptySubsequences: false).last!.utf8.count
        #expect(
            message.hasPrefix(
                "\(path):\(ext == "csv" ? 3 : 2):1: record is longer than 32 MiB (it starts at byte \(start))\(note)"),
            "\(message)")
        #expect(elapsed < .seconds(30), "\(elapsed)")
    }

    /// The records of `text` (as `line:text`) read with the given record bound, in reads of `step` bytes, then
    /// the error if there is one.
    static func records(_ text: String, max: Int, step: Int) -> [String] {
        var reader = RecordReader(path: "t", displayPath: "t.csv", quoted: true)
        reader.maxRecordBytes = max
        reader.chunkBytes = 16
        let bytes = Array(text.utf8)
        var offset = 0
        var records: [String] = []
        do throws(SyncError) {
            try reader.forEach(reading: { buffer in
                let count = Swift.min(buffer.count, step, bytes.count - offset)
                for index in 0..<count { buffer[index] = bytes[offset + index] }
                offset += count
                return count
            }) { (record, line) throws(SyncError) in
                records.append("\(line):" + String(decoding: record, as: UTF8.self))
            }
        } catch {
            records.append(error.description)
        }
        return records
    }

    @Test("the record bound is exact, however the file is split into reads", arguments: [1, 3, 16, 1 << 20])
    func exactRecordBound(step: Int) {
        let ten = "0123456789"
        #expect(Self.records("a\n\(ten)\r\nb\n", max: 10, step: step) == ["1:a", "2:\(ten)", "3:b"])
        #expect(
            Self.records("a\n\(ten)x\nb\n", max: 10, step: step)
                == [
                    "1:a",
                    "t.csv:2:1: record is longer than 10 bytes (it starts at byte 2); split the record or shorten the line",
                ])
        #expect(
            Self.records("a\n\(ten)\(ten)", max: 10, step: step).last?.hasPrefix(
                "t.csv:2:1: record is longer than 10 bytes (it starts at byte 2)") == true)
        #expect(
            Self.records("a\n\"\(ten)\n\(ten)", max: 15, step: step).last
                == "t.csv:2:1: record is longer than 15 bytes (it starts at byte 2); the quoted field opened at 2:1 is still open (a quote inside a quoted field is written \"\")"
        )
    }

    @Test("a byte-order mark is skipped however the reads split it", arguments: [1, 2, 3, 1 << 20])
    func byteOrderMarkSplit(step: Int) {
        #expect(
            Self.records("\u{FEFF}\"id\",\"ok\"\n1,\"x\"\"y\"\n", max: 100, step: step) == [
                "1:\"id\",\"ok\"", "2:1,\"x\"\"y\"",
            ])
        #expect(Self.records("\u{FEFF}\"a\nb\"\n", max: 100, step: step) == ["1:\"a\nb\""])
    }
}

extension URL {
    /// The URL, after creating an empty file there.
    fileprivate func creatingFile() throws -> URL {
        guard FileManager.default.createFile(atPath: path, contents: nil) else { throw CocoaError(.fileWriteUnknown) }
        return self
    }
}
