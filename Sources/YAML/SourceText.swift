/// Pointing into YAML source the way libyaml counts, and quoting source text inside messages.
///
/// libyaml ends a line at LF, CR, CR LF, NEL (U+0085), LS (U+2028) and PS (U+2029), and counts columns in
/// Unicode scalars; a byte-order mark is not part of the first line. Everything here follows the same rules,
/// so a mark, the line it is shown on and the caret under it agree.
public enum SourceText {
    /// The lines of a source, decoded (UTF-8, or UTF-16 with a byte-order mark; invalid bytes become U+FFFD)
    /// and split where libyaml counts a line break. A final line break does not start another line; an
    /// empty source has one empty line.
    public static func lines(_ bytes: [UInt8]) -> [String] {
        if isUTF16(bytes) { return linesByScalars(bytes) }
        // UTF-8: split on the bytes of the breaks (none of them can be part of another character, valid or
        // not) and let the standard library decode each line, with the same U+FFFD repair as `walk`.
        var lines: [String] = []
        var start = hasUTF8BOM(bytes) ? 3 : 0
        var index = start
        while index < bytes.count {
            let width = breakWidth(bytes, at: index)
            if width == 0 {
                index += 1
                continue
            }
            lines.append(String(decoding: bytes[start..<index], as: UTF8.self))
            index += width
            start = index
        }
        if start < bytes.count || lines.isEmpty {
            lines.append(String(decoding: bytes[start..<bytes.count], as: UTF8.self))
        }
        return lines
    }

    /// The 1-based line and column of the character that starts at (or contains) a byte offset.
    public static func mark(ofByte offset: Int, in bytes: [UInt8]) -> Mark {
        if isUTF16(bytes) { return markByScalars(ofByte: offset, in: bytes) }
        let end = min(max(offset, 0), bytes.count)
        var line = 1
        var lineStart = hasUTF8BOM(bytes) ? 3 : 0
        var index = lineStart
        while index < end {
            let width = breakWidth(bytes, at: index)
            if width == 0 {
                index += 1
                continue
            }
            line += 1
            index += width
            lineStart = index
        }
        let column =
            lineStart < end ? String(decoding: bytes[lineStart..<end], as: UTF8.self).unicodeScalars.count + 1 : 1
        return Mark(line: line, column: column)
    }

    /// How many bytes the line break at `index` takes (CR LF: 2; NEL: 2; LS, PS: 3), or 0 for none.
    private static func breakWidth(_ bytes: [UInt8], at index: Int) -> Int {
        switch bytes[index] {
        case 0x0A: return 1
        case 0x0D: return index + 1 < bytes.count && bytes[index + 1] == 0x0A ? 2 : 1
        case 0xC2: return index + 1 < bytes.count && bytes[index + 1] == 0x85 ? 2 : 0
        case 0xE2:
            guard index + 2 < bytes.count, bytes[index + 1] == 0x80,
                bytes[index + 2] == 0xA8 || bytes[index + 2] == 0xA9
            else { return 0 }
            return 3
        default: return 0
        }
    }

    private static func isUTF16(_ bytes: [UInt8]) -> Bool {
        bytes.count >= 2 && ((bytes[0] == 0xFF && bytes[1] == 0xFE) || (bytes[0] == 0xFE && bytes[1] == 0xFF))
    }

    private static func hasUTF8BOM(_ bytes: [UInt8]) -> Bool {
        bytes.count >= 3 && bytes[0] == 0xEF && bytes[1] == 0xBB && bytes[2] == 0xBF
    }

    /// `lines`, scalar by scalar (any encoding `walk` reads).
    static func linesByScalars(_ bytes: [UInt8]) -> [String] {
        var lines: [String] = []
        var current = String.UnicodeScalarView()
        var afterCR = false
        walk(bytes) { scalar, _ in
            defer { afterCR = scalar == "\r" }
            if scalar == "\n" && afterCR { return true }
            if isBreak(scalar) {
                lines.append(String(current))
                current = String.UnicodeScalarView()
            } else {
                current.append(scalar)
            }
            return true
        }
        if !current.isEmpty || lines.isEmpty { lines.append(String(current)) }
        return lines
    }

    /// `mark(ofByte:in:)`, scalar by scalar (any encoding `walk` reads).
    static func markByScalars(ofByte offset: Int, in bytes: [UInt8]) -> Mark {
        var line = 1
        var column = 1
        var afterCR = false
        walk(bytes) { scalar, start in
            guard start < offset else { return false }
            defer { afterCR = scalar == "\r" }
            if scalar == "\n" && afterCR { return true }
            if isBreak(scalar) {
                line += 1
                column = 1
            } else {
                column += 1
            }
            return true
        }
        return Mark(line: line, column: column)
    }

    /// A mark moved onto the text: one past the last line (libyaml's end-of-stream mark) becomes the end of
    /// the last line, and a column past the end of its line becomes the place just after the line.
    public static func clamp(_ mark: Mark, lines: [String]) -> Mark {
        guard let last = lines.last else { return Mark(line: 1, column: 1) }
        if mark.line < 1 { return Mark(line: 1, column: 1) }
        if mark.line > lines.count { return Mark(line: lines.count, column: last.unicodeScalars.count + 1) }
        let length = lines[mark.line - 1].unicodeScalars.count
        return Mark(line: mark.line, column: min(max(mark.column, 1), length + 1))
    }

    /// A clamped mark for a source given as bytes.
    public static func clamp(_ mark: Mark, in bytes: [UInt8]) -> Mark {
        clamp(mark, lines: lines(bytes))
    }

    /// Text from a source, quoted for a message: `'value'`, with line breaks, tabs, control and invisible
    /// formatting characters (and the backslash) escaped, so a message stays on one line and shows what is
    /// really there; text longer than `limit` characters is cut, with its length said after the quote.
    public static func quoted(_ text: String, limit: Int = 64) -> String {
        var out = "'"
        var count = 0
        for scalar in text.unicodeScalars {
            count += 1
            if count > limit { continue }
            out += escaped(scalar)
        }
        guard count > limit else { return out + "'" }
        return out + "…' (\(count) characters)"
    }

    /// A message made safe to print on one line: line breaks, control and invisible formatting characters
    /// are escaped (the backslash is left alone, so text already quoted stays as it is).
    public static func singleLine(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: needsEscape) else { return text }
        var out = ""
        for scalar in text.unicodeScalars {
            out += scalar == "\\" ? "\\" : escaped(scalar)
        }
        return out
    }

    static func needsEscape(_ scalar: Unicode.Scalar) -> Bool {
        scalar != "\\" && escaped(scalar) != String(scalar)
    }

    /// One scalar as it appears inside `quoted`.
    static func escaped(_ scalar: Unicode.Scalar) -> String {
        switch scalar {
        case "\n": return "\\n"
        case "\r": return "\\r"
        case "\t": return "\\t"
        case "\0": return "\\0"
        case "\\": return "\\\\"
        default:
            switch scalar.properties.generalCategory {
            case .control, .format, .lineSeparator, .paragraphSeparator, .surrogate, .unassigned, .privateUse:
                return "\\u{" + String(scalar.value, radix: 16, uppercase: true) + "}"
            default:
                return String(scalar)
            }
        }
    }

    /// Whether libyaml ends a line at this character (CR LF is handled by the callers).
    static func isBreak(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x0A, 0x0D, 0x85, 0x2028, 0x2029: return true
        default: return false
        }
    }

    /// Calls `body` with each scalar of the source and the byte offset it starts at, until `body` returns
    /// false. Detects the encoding as libyaml does (a UTF-16 byte-order mark, else UTF-8) and skips the mark.
    static func walk(_ bytes: [UInt8], _ body: (Unicode.Scalar, Int) -> Bool) {
        if bytes.count >= 2, (bytes[0] == 0xFF && bytes[1] == 0xFE) || (bytes[0] == 0xFE && bytes[1] == 0xFF) {
            walkUTF16(bytes, bigEndian: bytes[0] == 0xFE, body)
            return
        }
        let start = bytes.count >= 3 && bytes[0] == 0xEF && bytes[1] == 0xBB && bytes[2] == 0xBF ? 3 : 0
        var iterator = ByteIterator(bytes: bytes, offset: start)
        var parser = Unicode.UTF8.ForwardParser()
        var offset = start
        while true {
            switch parser.parseScalar(from: &iterator) {
            case .valid(let encoded):
                let scalar = Unicode.UTF8.decode(encoded)
                guard body(scalar, offset) else { return }
                offset += encoded.count
            case .error(let length):
                guard body("\u{FFFD}", offset) else { return }
                offset += length
            case .emptyInput:
                return
            }
        }
    }

    private static func walkUTF16(_ bytes: [UInt8], bigEndian: Bool, _ body: (Unicode.Scalar, Int) -> Bool) {
        var units: [UInt16] = []
        units.reserveCapacity(bytes.count / 2)
        var index = 2
        while index + 1 < bytes.count {
            let (a, b) = (UInt16(bytes[index]), UInt16(bytes[index + 1]))
            units.append(bigEndian ? a << 8 | b : b << 8 | a)
            index += 2
        }
        var iterator = units.makeIterator()
        var parser = Unicode.UTF16.ForwardParser()
        var offset = 2
        while true {
            switch parser.parseScalar(from: &iterator) {
            case .valid(let encoded):
                guard body(Unicode.UTF16.decode(encoded), offset) else { return }
                offset += 2 * encoded.count
            case .error(let length):
                guard body("\u{FFFD}", offset) else { return }
                offset += 2 * length
            case .emptyInput:
                return
            }
        }
    }

    private struct ByteIterator: IteratorProtocol {
        let bytes: [UInt8]
        var offset: Int

        mutating func next() -> UInt8? {
            guard offset < bytes.count else { return nil }
            defer { offset += 1 }
            return bytes[offset]
        }
    }
}
