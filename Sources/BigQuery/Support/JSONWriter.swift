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

    /// Appends raw, already valid JSON bytes.
    public mutating func raw(_ data: [UInt8]) { bytes.append(contentsOf: data) }

    /// Appends a JSON string literal, escaped.
    public mutating func string(_ text: String) {
        var text = text
        text.withUTF8 { string(utf8: $0) }
    }

    /// Appends a JSON string literal from UTF-8 bytes, escaped (control characters, quote, backslash; and
    /// U+2028/2029 so the output is also safe to embed in JavaScript).
    public mutating func string(utf8: UnsafeBufferPointer<UInt8>) {
        bytes.append(UInt8(ascii: "\""))
        var start = 0
        let count = utf8.count
        var index = 0
        while index < count {
            let byte = utf8[index]
            var escape: [UInt8]?
            switch byte {
            case UInt8(ascii: "\""): escape = [92, 34]
            case UInt8(ascii: "\\"): escape = [92, 92]
            case 0x0A: escape = [92, 110]
            case 0x0D: escape = [92, 114]
            case 0x09: escape = [92, 116]
            case 0x00..<0x20:
                let hex: [UInt8] = Array("0123456789abcdef".utf8)
                escape = [92, 117, 48, 48, hex[Int(byte >> 4)], hex[Int(byte & 0xF)]]
            default: break
            }
            if let escape {
                if index > start { bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[start..<index])) }
                bytes.append(contentsOf: escape)
                start = index + 1
            }
            index += 1
        }
        if count > start { bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[start..<count])) }
        bytes.append(UInt8(ascii: "\""))
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
