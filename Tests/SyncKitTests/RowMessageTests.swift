import Foundation
import Testing

@testable import SyncKit

/// Messages about source rows stay on one printable line whatever the row holds, and field names match
/// columns by ASCII case only (found by fuzzing; the inputs are also in Tests/FuzzCorpus).
@Suite struct RowMessageTests {
    static let layout = try! RowLayout(
        columns: [
            .init(name: "id", type: .int64, required: true, inTarget: true),
            .init(name: "ok", type: .bool, required: false, inTarget: true),
        ], merge: MergeSpec(keys: ["id"], orderBy: nil, update: .all, deleteWhen: nil))

    func ndjsonError(_ line: [UInt8]) -> String {
        var decoder = RowDecoder(layout: Self.layout, ignoreUnknown: false)
        do throws(SyncError) {
            _ = try line.withUnsafeBufferPointer { (buffer) throws(SyncError) in
                try decoder.ndjson(buffer, line: 1, sequence: 0)
            }
            return "no error"
        } catch {
            return error.description
        }
    }

    @Test func controlBytesAfterABackslashAreNamed() {
        #expect(
            ndjsonError(Array(#"{"id": 1, "ok": "\"#.utf8) + [0x0B] + Array(#""}"#.utf8))
                == ":1:18: invalid JSON: invalid escape: '\\' followed by byte 0xB")
        #expect(
            ndjsonError(Array(#"{"id": 1, "ok": "\"#.utf8) + [0xC2, 0x85] + Array(#""}"#.utf8))
                == ":1:18: invalid JSON: invalid escape: '\\' followed by byte 0xC2")
    }

    @Test func controlAndFormattingCharactersInValuesAreEscaped() {
        #expect(
            ValueConversion.quoted("a\u{85}b\u{9B}31m\u{202E}c\u{2028}") == #"'a\u{85}b\u{9b}31m\u{202e}c\u{2028}'"#)
        #expect(
            ndjsonError(Array("{\"id\": 1, \"ok\": \"\u{85}\"}".utf8))
                == ":1:17: column 'ok': invalid BOOL '\\u{85}' (use true or false)")
    }

    @Test func fieldNamesMatchByASCIICaseOnly() {
        #expect(ndjsonError(Array(#"{"ID": 1, "Ok": true}"#.utf8)) == "no error")
        #expect(ndjsonError(Array("{\"id\": 1, \"o\u{212A}\": true}".utf8)).contains("unknown field 'o\u{212A}'"))
    }
}
