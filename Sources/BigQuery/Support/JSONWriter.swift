/// Writes JSON straight into a byte buffer: faster than `JSONEncoder` for large batches, and the output is
/// deterministic (keys in the order written), so it can be hashed.
public struct JSONWriter: Sendable {
    /// The bytes written so far.
    public private(set) var bytes: [UInt8] = []

    /// Creates an empty writer, reserving capacity.
    public init(capacity: Int = 256) {
        bytes.reserveCapacity(capacity)
    }

    /// Appends raw, already valid JSON.
    public mutating func raw(_ text: String) {
        var text = text
        text.withUTF8 { bytes.append(contentsOf: $0) }
    }

    /// Empties the output, keeping its buffer for reuse.
    public mutating func clear() { bytes.removeAll(keepingCapacity: true) }

    /// Appends raw, already valid JSON bytes.
    public mutating func raw(_ data: [UInt8]) { bytes.append(contentsOf: data) }

    /// Appends a JSON string literal, escaped.
    public mutating func string(_ text: String) {
        var text = text
        text.withUTF8 { string(utf8: $0) }
    }

    /// Where the run of bytes from `from` that a JSON string holds as they are ends: the index of the first quote,
    /// backslash or control character (or the end), and whether the run is ASCII. Eight bytes at a time while
    /// none of them is one of those (or, with `stopAtHighBit`, above ASCII). Any byte above ASCII ends the
    /// eight-byte steps; the rest is looked at byte by byte.
    public static func plainRun(_ utf8: UnsafeBufferPointer<UInt8>, from: Int, stopAtHighBit: Bool) -> (Int, Bool) {
        var index = from
        let count = utf8.count
        if let base = utf8.baseAddress {
            let ones: UInt64 = 0x0101_0101_0101_0101
            let highs: UInt64 = 0x8080_8080_8080_8080
            while index + 8 <= count {
                let word = UnsafeRawPointer(base + index).loadUnaligned(as: UInt64.self)
                let quote = word ^ (ones &* 0x22)
                let backslash = word ^ (ones &* 0x5C)
                // A zero byte in `quote` or `backslash`, or a byte under 0x20, or a high bit: not plain.
                let special =
                    ((quote &- ones) & ~quote) | ((backslash &- ones) & ~backslash) | ((word &- ones &* 0x20) & ~word)
                    | word
                guard special & highs == 0 else { break }
                index += 8
            }
        }
        var ascii = true
        while index < count {
            let byte = utf8[index]
            if byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") { break }
            if byte >= 0x80 {
                ascii = false
                if stopAtHighBit { break }
            }
            index += 1
        }
        return (index, ascii)
    }

    /// Appends a JSON string literal from UTF-8 bytes, escaped: control characters, quote and backslash.
    public mutating func string(utf8: UnsafeBufferPointer<UInt8>) {
        bytes.append(UInt8(ascii: "\""))
        escaped(utf8, twice: false)
        bytes.append(UInt8(ascii: "\""))
    }

    /// Appends the JSON string literal of `utf8` escaped once more, for the inside of another JSON string: what
    /// `string(utf8:)` writes, passed through `string(utf8:)` again without its outer quotes. One pass over the
    /// bytes, where two would write the inner literal and then copy it escaped.
    public mutating func nestedString(utf8: UnsafeBufferPointer<UInt8>) {
        bytes.append(92)
        bytes.append(UInt8(ascii: "\""))
        escaped(utf8, twice: true)
        bytes.append(92)
        bytes.append(UInt8(ascii: "\""))
    }

    /// The bytes with JSON's escapes, `twice` with each escape's backslash (and an escaped quote or backslash
    /// itself) escaped again: `\"` becomes `\\\"`, `\n` becomes `\\n`.
    private mutating func escaped(_ utf8: UnsafeBufferPointer<UInt8>, twice: Bool) {
        var start = 0
        let count = utf8.count
        var index = 0
        while index < count {
            (index, _) = Self.plainRun(utf8, from: index, stopAtHighBit: false)
            guard index < count else { break }
            let byte = utf8[index]
            defer { index += 1 }
            if index > start { bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[start..<index])) }
            start = index + 1
            bytes.append(92)
            if twice { bytes.append(92) }
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"):
                if twice { bytes.append(92) }
                bytes.append(byte)
            case 0x0A: bytes.append(UInt8(ascii: "n"))
            case 0x0D: bytes.append(UInt8(ascii: "r"))
            case 0x09: bytes.append(UInt8(ascii: "t"))
            default:
                bytes.append(UInt8(ascii: "u"))
                bytes.append(UInt8(ascii: "0"))
                bytes.append(UInt8(ascii: "0"))
                bytes.append(Self.hexDigit(byte >> 4))
                bytes.append(Self.hexDigit(byte & 0xF))
            }
        }
        if count > start { bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[start..<count])) }
    }

    private static func hexDigit(_ value: UInt8) -> UInt8 {
        value < 10 ? UInt8(ascii: "0") + value : UInt8(ascii: "a") + value - 10
    }

    /// Appends `"key":`.
    public mutating func key(_ name: String) {
        string(name)
        bytes.append(UInt8(ascii: ":"))
    }

    /// Appends an integer.
    public mutating func int(_ value: Int64) { raw(String(value)) }

    /// Appends true or false.
    public mutating func bool(_ value: Bool) { raw(value ? "true" : "false") }

    /// Appends `{`…`}` around fields written by `body`, which calls `field` for each.
    public mutating func object(_ body: (inout ObjectWriter) -> Void) {
        bytes.append(UInt8(ascii: "{"))
        var object = ObjectWriter(writer: self)
        self = JSONWriter(capacity: 0)
        body(&object)
        self = object.writer
        bytes.append(UInt8(ascii: "}"))
    }

    /// Writes the fields of one object, adding commas.
    public struct ObjectWriter {
        var writer: JSONWriter
        var first = true

        /// Writes `"name": <value written by body>`.
        public mutating func field(_ name: String, _ body: (inout JSONWriter) -> Void) {
            if !first { writer.bytes.append(UInt8(ascii: ",")) }
            first = false
            writer.key(name)
            body(&writer)
        }

        /// Writes `"name": "text"`.
        public mutating func field(_ name: String, string value: String) { field(name) { $0.string(value) } }
    }

    /// Appends `[`…`]` around the items, written by `item`.
    public mutating func array<S: Sequence>(_ items: S, _ item: (inout JSONWriter, S.Element) -> Void) {
        bytes.append(UInt8(ascii: "["))
        var first = true
        for element in items {
            if !first { bytes.append(UInt8(ascii: ",")) }
            first = false
            item(&self, element)
        }
        bytes.append(UInt8(ascii: "]"))
    }
}
