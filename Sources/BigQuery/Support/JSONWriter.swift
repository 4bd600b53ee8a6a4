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
    public mutating func raw(_ text: String) { bytes.append(contentsOf: text.utf8) }

    /// Empties the output, keeping its buffer for reuse.
    public mutating func clear() { bytes.removeAll(keepingCapacity: true) }

    /// Appends raw, already valid JSON bytes.
    public mutating func raw(_ data: [UInt8]) { bytes.append(contentsOf: data) }

    /// Appends a JSON string literal, escaped.
    public mutating func string(_ text: String) {
        var text = text
        text.withUTF8 { string(utf8: $0) }
    }

    /// Appends a JSON string literal from UTF-8 bytes, escaped: control characters, quote and backslash.
    public mutating func string(utf8: UnsafeBufferPointer<UInt8>) {
        bytes.append(UInt8(ascii: "\""))
        var start = 0
        let count = utf8.count
        for index in 0..<count {
            let byte = utf8[index]
            guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else { continue }
            if index > start { bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[start..<index])) }
            start = index + 1
            bytes.append(92)
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"): bytes.append(byte)
            case 0x0A: bytes.append(UInt8(ascii: "n"))
            case 0x0D: bytes.append(UInt8(ascii: "r"))
            case 0x09: bytes.append(UInt8(ascii: "t"))
            default:
                bytes.append(contentsOf: [UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0")])
                bytes.append(Self.hexDigit(byte >> 4))
                bytes.append(Self.hexDigit(byte & 0xF))
            }
        }
        if count > start { bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[start..<count])) }
        bytes.append(UInt8(ascii: "\""))
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
