import Testing

@testable import YAML

@Suite("SourceText")
struct SourceTextTests {
    @Test(
        "lines split where libyaml counts line breaks",
        arguments: [
            ("a\nb\n", ["a", "b"]),
            ("a\nb", ["a", "b"]),
            ("a\r\nb\r\n", ["a", "b"]),
            ("a\rb\rc", ["a", "b", "c"]),
            ("a\u{85}b\u{2028}c\u{2029}d", ["a", "b", "c", "d"]),
            ("", [""]),
            ("\n", [""]),
            ("a\n\nb", ["a", "", "b"]),
            ("\u{FEFF}a: 1", ["a: 1"]),
        ])
    func lines(_ text: String, _ expected: [String]) {
        #expect(SourceText.lines(Array(text.utf8)) == expected)
    }

    @Test("invalid UTF-8 shows as U+FFFD on its line")
    func invalidBytes() {
        #expect(SourceText.lines([0x61, 0xFF, 0x62, 0x0A, 0x63]) == ["a\u{FFFD}b", "c"])
    }

    @Test("byte offsets become marks with the same rules")
    func marks() {
        let bytes = Array("ab\r\ncé\u{2028}x\ry".utf8)
        #expect(SourceText.mark(ofByte: 0, in: bytes) == Mark(line: 1, column: 1))
        #expect(SourceText.mark(ofByte: 4, in: bytes) == Mark(line: 2, column: 1))
        #expect(SourceText.mark(ofByte: 5, in: bytes) == Mark(line: 2, column: 2))
        #expect(SourceText.mark(ofByte: 7, in: bytes) == Mark(line: 2, column: 3))
        #expect(SourceText.mark(ofByte: 10, in: bytes) == Mark(line: 3, column: 1))
        #expect(SourceText.mark(ofByte: 12, in: bytes) == Mark(line: 4, column: 1))
        #expect(SourceText.mark(ofByte: 99, in: bytes) == Mark(line: 4, column: 2))
    }

    @Test("marks past the text are clamped onto it")
    func clamp() {
        let lines = ["version: 1", "name: x"]
        #expect(SourceText.clamp(Mark(line: 3, column: 1), lines: lines) == Mark(line: 2, column: 8))
        #expect(SourceText.clamp(Mark(line: 2, column: 40), lines: lines) == Mark(line: 2, column: 8))
        #expect(SourceText.clamp(Mark(line: 1, column: 3), lines: lines) == Mark(line: 1, column: 3))
        #expect(SourceText.clamp(Mark(line: 0, column: 0), lines: lines) == Mark(line: 1, column: 1))
        #expect(SourceText.clamp(Mark(line: 5, column: 5), lines: [""]) == Mark(line: 1, column: 1))
    }

    @Test(
        "quoted text escapes what could break or hide a message",
        arguments: [
            ("plain", "'plain'"),
            ("a\nb", "'a\\nb'"),
            ("a\r\nb\tc", "'a\\r\\nb\\tc'"),
            ("nul\0", "'nul\\0'"),
            ("esc\u{1B}[31m", "'esc\\u{1B}[31m'"),
            ("bidi\u{202E}txt", "'bidi\\u{202E}txt'"),
            ("zero\u{200B}width", "'zero\\u{200B}width'"),
            ("ls\u{2028}ps\u{2029}nel\u{85}", "'ls\\u{2028}ps\\u{2029}nel\\u{85}'"),
            ("back\\slash", "'back\\\\slash'"),
            ("cоntacts", "'cоntacts'"),
        ])
    func quoted(_ text: String, _ expected: String) {
        #expect(SourceText.quoted(text) == expected)
    }

    @Test("long text is cut, with its length")
    func quotedLong() {
        let text = String(repeating: "x", count: 1500)
        #expect(SourceText.quoted(text) == "'" + String(repeating: "x", count: 64) + "…' (1500 characters)")
        #expect(SourceText.quoted(String(repeating: "y", count: 64)) == "'" + String(repeating: "y", count: 64) + "'")
    }

    @Test("single-line keeps backslashes and escapes breaks")
    func singleLine() {
        #expect(SourceText.singleLine("already 'a\\nb'") == "already 'a\\nb'")
        #expect(SourceText.singleLine("two\nlines") == "two\\nlines")
    }

    @Test("the byte-level fast path agrees with the scalar walker, invalid UTF-8 included")
    func fastPathAgrees() {
        // A fixed xorshift generator: the same bytes every run.
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next() -> UInt64 {
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            return state
        }
        let pieces: [[UInt8]] = [
            [0x61], [0x3A], [0x20], [0x0A], [0x0D], [0x0D, 0x0A], [0xC2, 0x85], [0xE2, 0x80, 0xA8],
            [0xE2, 0x80, 0xA9], [0xC3, 0xA9], [0xE6, 0x97, 0xA5], [0xF0, 0x9F, 0x98, 0x80], [0xFF], [0xC3],
            [0xE2, 0x80], [0x80], [0xED, 0xA0, 0x80], [0xEF, 0xBB, 0xBF], [0x09],
        ]
        for _ in 0..<500 {
            var bytes: [UInt8] = []
            for _ in 0..<Int(next() % 24) { bytes += pieces[Int(next() % UInt64(pieces.count))] }
            #expect(SourceText.lines(bytes) == SourceText.linesByScalars(bytes), "\(bytes)")
            for offset in 0...bytes.count {
                let fast = SourceText.mark(ofByte: offset, in: bytes)
                let slow = SourceText.markByScalars(ofByte: offset, in: bytes)
                if fast != slow { Issue.record("offset \(offset) of \(bytes): \(fast) vs \(slow)") }
            }
        }
    }
}
