/// A value as a source file spelled it, before it is converted to its column's type.
package enum RawValue: Sendable, Hashable {
    /// JSON null, or a CSV field equal to the null marker.
    case null
    /// A JSON string or a CSV field.
    case string(String)
    /// A JSON number, as written.
    case number(String)
    /// A JSON true or false.
    case bool(Bool)
    /// A JSON object or array, as written.
    case composite(String)

    /// What the value is, for messages.
    var kindName: String {
        switch self {
        case .null: return "null"
        case .string: return "a string"
        case .number: return "a number"
        case .bool: return "a boolean"
        case .composite(let text): return text.hasPrefix("[") ? "an array" : "an object"
        }
    }
}

/// A problem in a record at a byte offset.
package struct RecordProblem: Error {
    package var offset: Int
    package var message: String
    /// Whether the record's syntax is wrong (rather than a value in it).
    var syntax = true
}

/// Parses the top-level JSON object of one NDJSON line into its members, each with the offset where its key starts.
package struct JSONLineParser {
    /// Nesting deeper than this inside a value is an error, not a stack overflow.
    static let maxDepth = 256

    let bytes: UnsafeBufferPointer<UInt8>
    var index = 0

    init(_ bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    /// Calls `member` with each key, its value, and the offsets of the key and the value.
    mutating func members(_ member: (String, RawValue, Int, Int) throws(RecordProblem) -> Void) throws(RecordProblem) {
        skipSpace()
        guard peek == UInt8(ascii: "{") else {
            throw problem(index < bytes.count ? "expected a JSON object" : "empty line")
        }
        index += 1
        skipSpace()
        if peek == UInt8(ascii: "}") {
            index += 1
        } else {
            while true {
                skipSpace()
                let keyOffset = index
                guard peek == UInt8(ascii: "\"") else { throw problem("expected a quoted member name") }
                let key = try string()
                skipSpace()
                guard peek == UInt8(ascii: ":") else { throw problem("expected ':' after the member name") }
                index += 1
                skipSpace()
                let valueOffset = index
                let value = try self.value()
                try member(key, value, keyOffset, valueOffset)
                skipSpace()
                if peek == UInt8(ascii: ",") {
                    index += 1
                    continue
                }
                if peek == UInt8(ascii: "}") {
                    index += 1
                    break
                }
                throw problem("expected ',' or '}'")
            }
        }
        skipSpace()
        if index < bytes.count { throw problem("unexpected text after the JSON object (one object per line)") }
    }

    /// Checks that `bytes` hold exactly one JSON value.
    package static func validate(_ bytes: UnsafeBufferPointer<UInt8>) throws(RecordProblem) {
        var parser = JSONLineParser(bytes)
        parser.skipSpace()
        try parser.skipValue(depth: 0)
        parser.skipSpace()
        if parser.index < bytes.count { throw parser.problem("unexpected text after the JSON value") }
    }

    var peek: UInt8? { index < bytes.count ? bytes[index] : nil }

    private func problem(_ message: String) -> RecordProblem { RecordProblem(offset: index, message: message) }

    mutating func skipSpace() {
        while index < bytes.count {
            let byte = bytes[index]
            guard byte == 0x20 || byte == 0x09 || byte == 0x0D || byte == 0x0A else { return }
            index += 1
        }
    }

    private mutating func value() throws(RecordProblem) -> RawValue {
        guard let byte = peek else { throw problem("expected a value") }
        switch byte {
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            let start = index
            try skipValue(depth: 0)
            return .composite(try text(start, index))
        case UInt8(ascii: "t"):
            try literal("true")
            return .bool(true)
        case UInt8(ascii: "f"):
            try literal("false")
            return .bool(false)
        case UInt8(ascii: "n"):
            try literal("null")
            return .null
        default:
            let start = index
            try number()
            return .number(try text(start, index))
        }
    }

    mutating func skipValue(depth: Int) throws(RecordProblem) {
        guard depth < Self.maxDepth else { throw problem("JSON nested deeper than \(Self.maxDepth) levels") }
        guard let byte = peek else { throw problem("expected a value") }
        switch byte {
        case UInt8(ascii: "\""): _ = try string()
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            let close = byte == UInt8(ascii: "{") ? UInt8(ascii: "}") : UInt8(ascii: "]")
            index += 1
            skipSpace()
            if peek == close {
                index += 1
                return
            }
            while true {
                skipSpace()
                if close == UInt8(ascii: "}") {
                    guard peek == UInt8(ascii: "\"") else { throw problem("expected a quoted member name") }
                    _ = try string()
                    skipSpace()
                    guard peek == UInt8(ascii: ":") else { throw problem("expected ':' after the member name") }
                    index += 1
                    skipSpace()
                }
                try skipValue(depth: depth + 1)
                skipSpace()
                if peek == UInt8(ascii: ",") {
                    index += 1
                    continue
                }
                if peek == close {
                    index += 1
                    return
                }
                throw problem("expected ',' or '\(Character(UnicodeScalar(close)))'")
            }
        case UInt8(ascii: "t"): try literal("true")
        case UInt8(ascii: "f"): try literal("false")
        case UInt8(ascii: "n"): try literal("null")
        default: try number()
        }
    }

    mutating func literal(_ word: StaticString) throws(RecordProblem) {
        let matches = word.withUTF8Buffer { expected in
            index + expected.count <= bytes.count
                && (0..<expected.count).allSatisfy { bytes[index + $0] == expected[$0] }
        }
        guard matches else { throw problem("invalid literal") }
        index += word.utf8CodeUnitCount
    }

    mutating func number() throws(RecordProblem) {
        let start = index
        if peek == UInt8(ascii: "-") { index += 1 }
        guard let first = peek, isDigit(first) else { throw RecordProblem(offset: start, message: "expected a value") }
        if first == UInt8(ascii: "0") { index += 1 } else { while let d = peek, isDigit(d) { index += 1 } }
        if peek == UInt8(ascii: ".") {
            index += 1
            guard let d = peek, isDigit(d) else { throw problem("expected a digit after '.'") }
            while let d = peek, isDigit(d) { index += 1 }
        }
        if peek == UInt8(ascii: "e") || peek == UInt8(ascii: "E") {
            index += 1
            if peek == UInt8(ascii: "+") || peek == UInt8(ascii: "-") { index += 1 }
            guard let d = peek, isDigit(d) else { throw problem("expected a digit in the exponent") }
            while let d = peek, isDigit(d) { index += 1 }
        }
    }

    private func isDigit(_ byte: UInt8) -> Bool { byte >= 0x30 && byte <= 0x39 }

    private func text(_ from: Int, _ to: Int) throws(RecordProblem) -> String {
        guard let text = String(validating: UnsafeBufferPointer(rebasing: bytes[from..<to]), as: UTF8.self) else {
            throw RecordProblem(offset: from, message: "invalid UTF-8")
        }
        return text
    }

    private mutating func string() throws(RecordProblem) -> String {
        let open = index
        index += 1
        let start = index
        // Fast path: no escapes.
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                let result = try text(start, index)
                index += 1
                return result
            }
            if byte == UInt8(ascii: "\\") { break }
            if byte < 0x20 { throw problem("control character in a string (escape it)") }
            index += 1
        }
        var scalars: [UInt8] = Array(UnsafeBufferPointer(rebasing: bytes[start..<index]))
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                index += 1
                guard let result = String(validating: scalars, as: UTF8.self) else {
                    throw RecordProblem(offset: open, message: "invalid UTF-8")
                }
                return result
            }
            if byte < 0x20 { throw problem("control character in a string (escape it)") }
            if byte != UInt8(ascii: "\\") {
                scalars.append(byte)
                index += 1
                continue
            }
            index += 1
            guard let escape = peek else { break }
            index += 1
            try appendEscape(escape, to: &scalars)
        }
        throw RecordProblem(offset: open, message: "string is not closed")
    }

    /// The bytes one escape stands for (`escape` is the byte after the backslash, already consumed): the JSON
    /// escapes, and `\u` with its surrogate pair.
    mutating func appendEscape(_ escape: UInt8, to scalars: inout [UInt8]) throws(RecordProblem) {
        switch escape {
        case UInt8(ascii: "\""): scalars.append(0x22)
        case UInt8(ascii: "\\"): scalars.append(0x5C)
        case UInt8(ascii: "/"): scalars.append(0x2F)
        case UInt8(ascii: "b"): scalars.append(0x08)
        case UInt8(ascii: "f"): scalars.append(0x0C)
        case UInt8(ascii: "n"): scalars.append(0x0A)
        case UInt8(ascii: "r"): scalars.append(0x0D)
        case UInt8(ascii: "t"): scalars.append(0x09)
        case UInt8(ascii: "u"):
            var code = try hex4()
            if (0xD800..<0xDC00).contains(code) {
                guard index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"),
                    bytes[index + 1] == UInt8(ascii: "u")
                else {
                    throw problem("unpaired surrogate in \\u escape")
                }
                index += 2
                let low = try hex4()
                guard (0xDC00..<0xE000).contains(low) else { throw problem("unpaired surrogate in \\u escape") }
                code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
            } else if (0xDC00..<0xE000).contains(code) {
                throw problem("unpaired surrogate in \\u escape")
            }
            guard let scalar = Unicode.Scalar(code) else { throw problem("invalid \\u escape") }
            scalars.append(contentsOf: Array(String(Character(scalar)).utf8))
        default:
            // A byte that is not printable ASCII is named by its value: messages stay on one printable line.
            guard (0x21...0x7E).contains(escape) else {
                throw RecordProblem(
                    offset: index - 2,
                    message: "invalid escape: '\\' followed by byte 0x\(String(escape, radix: 16, uppercase: true))"
                )
            }
            throw RecordProblem(
                offset: index - 2, message: "invalid escape '\\\(Character(UnicodeScalar(escape)))'")
        }
    }

    private mutating func hex4() throws(RecordProblem) -> UInt32 {
        guard index + 4 <= bytes.count else { throw problem("invalid \\u escape") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[index]
            let digit: UInt8
            switch byte {
            case 0x30...0x39: digit = byte - 0x30
            case 0x41...0x46: digit = byte - 0x41 + 10
            case 0x61...0x66: digit = byte - 0x61 + 10
            default: throw problem("invalid \\u escape")
            }
            value = value << 4 | UInt32(digit)
            index += 1
        }
        return value
    }
}

/// Splits one CSV record (RFC 4180) into its fields, each with whether it was quoted and its byte offset.
struct CSVRecordParser {
    /// Calls `field` with each field's text, whether it was quoted, and its offset in the record. The delimiter
    /// is one character's UTF-8 bytes (more than one byte for a non-ASCII one, such as `¦`).
    static func fields(
        _ bytes: UnsafeBufferPointer<UInt8>, delimiter: [UInt8],
        _ field: (String, Bool, Int) throws(RecordProblem) -> Void
    ) throws(RecordProblem) {
        var index = 0
        let quote = UInt8(ascii: "\"")
        let first = delimiter.first ?? UInt8(ascii: ",")
        func isDelimiter(_ at: Int) -> Bool {
            guard bytes[at] == first else { return false }
            guard delimiter.count > 1 else { return true }
            return at + delimiter.count <= bytes.count
                && (1..<delimiter.count).allSatisfy { bytes[at + $0] == delimiter[$0] }
        }
        while true {
            let start = index
            if index < bytes.count, bytes[index] == quote {
                index += 1
                var value: [UInt8] = []
                var closed = false
                while index < bytes.count {
                    let byte = bytes[index]
                    if byte == quote {
                        if index + 1 < bytes.count, bytes[index + 1] == quote {
                            value.append(quote)
                            index += 2
                            continue
                        }
                        index += 1
                        closed = true
                        break
                    }
                    value.append(byte)
                    index += 1
                }
                guard closed else { throw RecordProblem(offset: start, message: "quoted field is not closed") }
                if index < bytes.count, !isDelimiter(index) {
                    throw RecordProblem(
                        offset: index,
                        message: "unexpected text after a closing quote (a quote inside a quoted field is written \"\")"
                    )
                }
                guard let text = String(validating: value, as: UTF8.self) else {
                    throw RecordProblem(offset: start, message: "invalid UTF-8")
                }
                try field(text, true, start)
            } else {
                while index < bytes.count, !isDelimiter(index) {
                    if bytes[index] == quote {
                        throw RecordProblem(
                            offset: index, message: "quote inside an unquoted field (quote the whole field)")
                    }
                    index += 1
                }
                guard let text = String(validating: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
                else {
                    throw RecordProblem(offset: start, message: "invalid UTF-8")
                }
                try field(text, false, start)
            }
            if index >= bytes.count { return }
            index += max(1, delimiter.count)  // the delimiter
        }
    }
}
