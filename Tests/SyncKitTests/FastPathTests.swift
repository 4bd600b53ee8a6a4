import BigQuery
import Foundation
import SyncTestSupport
import Testing

@testable import SyncKit

/// The pipeline's fast paths against the slow paths they stand in for, on generated input: every record, value,
/// byte string or row set a fast path takes must give exactly what the slow path gives, and what it declines the
/// slow path decides (FastRecords.swift, ByteConversion.swift, Deduplicator.swift).
@Suite struct FastPathTests {
    static let columns: [RowLayout.Column] = [
        .init(name: "id", type: .int64, required: true, inTarget: true),
        .init(name: "Name", type: .string, required: false, inTarget: true),
        .init(name: "score", type: .float64, required: false, inTarget: true),
        .init(name: "active", type: .bool, required: false, inTarget: true),
        .init(name: "at", type: .timestamp, required: false, inTarget: true),
        .init(name: "day", type: .date, required: false, inTarget: true),
        .init(name: "amount", type: .numeric, required: false, inTarget: true),
        .init(name: "doc", type: .json, required: false, inTarget: true),
        .init(name: "blob", type: .bytes, required: false, inTarget: true),
        .init(name: "clock", type: .time, required: true, inTarget: true),
    ]

    static func layout() throws -> RowLayout {
        try RowLayout(columns: columns, keys: ["id"], orderBy: "at", deleteWhen: nil)
    }

    /// Text that a value of some column might be spelled as: right, nearly right, and wrong.
    static func text(_ g: inout SeededGenerator) -> String {
        g.pick([
            "1", "-0", "007", "+5", "12345678901234567", "123456789012345678901", " 42", "4.0", "1e3", "-17",
            "0.25", "-3.5", "1.", ".5", "1e400", "NaN", "inf", "-Infinity", "123456789.123456789", "0.1", "5e-324",
            "true", "false", "TRUE", "yes", "0", "t",
            "2026-01-10T12:00:00Z", "2026-02-29T12:00:00Z", "2024-02-29 23:59:59.5+02:00", "2026-01-10t00:00:00",
            "2026-13-01T00:00:00Z", " 2026-01-10T12:00:00Z", "2026-01-10", "0001-01-01T00:00:00Z",
            "9999-12-31T23:59:59.999999Z", "2026-01-10T12:00:00.1234567Z", "2026-01-10T12:00:00 UTC",
            "2026-1-5", "2026-01-10T12:00:00.000000Z", "2026-01-10 12:00:00", "2026-01-10T12:00:00.5z",
            "2026-01-10T24:00:00Z", "2026-01-10T12:00:00.Z", "2026-01-10T12:60:00Z", "0000-01-01T00:00:00Z",
            "2023-02-29T00:00:00Z", "2026-01-10T12:00:00Z ", "2026-01-10T12:00:00+00:00", "2026-01-10 ", "12:30:00",
            "12:30", "24:00:00",
            "", " ", "a", "é", "Name, 3", "u1@example.org", "line\nbreak", "tab\there", "quote\"d", "back\\slash",
            "\u{212A}", "K", "日本語", "emoji 🎉", "aGVsbG8=", "not base64!", "{\"a\": 1}", "[1, 2]", "null",
        ])
    }

    /// A good value for a column of `type`, as text.
    static func goodText(_ type: FieldType, _ g: inout SeededGenerator) -> String {
        switch type {
        case .int64: return String(g.below(1_000_000) - 500_000)
        case .float64: return g.pick(["0.25", "-3.5", "12", "1e3", "0", "123.456"])
        case .bool: return g.pick(["true", "false"])
        case .timestamp:
            return g.pick(["2026-01-10T12:00:00Z", "2026-03-01 08:15:30.25", "2024-02-29T23:59:59.999999Z"])
        case .date: return g.pick(["2026-01-10", "2024-02-29"])
        case .numeric: return g.pick(["1.50", "-2", "0.000000001"])
        case .json: return g.pick(["{\"a\": 1}", "[1, 2]", "\"text\""])
        case .bytes: return "aGVsbG8="
        case .time: return g.pick(["12:30:00", "00:00:00.5"])
        default: return g.pick(["Name, 3", "u1@example.org", "é", "quote\"d", "plain"])
        }
    }

    /// A JSON spelling of a good value for a column of `type`.
    static func goodJSON(_ type: FieldType, _ g: inout SeededGenerator) -> String {
        switch type {
        case .int64, .float64: return g.chance(50) ? goodText(type, &g) : "\"" + goodText(type, &g) + "\""
        case .bool: return g.chance(50) ? goodText(type, &g) : "\"" + goodText(type, &g) + "\""
        case .json: return g.pick(["{\"a\": 1}", "[1, 2]", "\"text\"", "3"])
        default:
            return "\""
                + goodText(type, &g).replacingOccurrences(of: "\\", with: "\\\\")
                .replacingOccurrences(of: "\"", with: "\\\"") + "\""
        }
    }

    /// A JSON spelling of a value: a string (sometimes with needless escapes), a number, a literal or a composite.
    static func jsonValue(_ g: inout SeededGenerator) -> String {
        switch g.below(10) {
        case 0: return g.pick(["null", "true", "false", "tru", "nul"])
        case 1:
            return g.pick(["{}", "[]", "{\"k\": [1, 2.5e3, null]}", "[1e400]", "{\"a\":", "[\"x\", {\"y\": false}]"])
        case 2, 3: return g.pick(["0", "-0", "7", "-12", "0.25", "1e5", "2.50", "01", "-", "1.", "123456789012345678"])
        default:
            var out = "\""
            for scalar in text(&g).unicodeScalars {
                switch scalar {
                case "\"": out += "\\\""
                case "\\": out += "\\\\"
                case "\n": out += g.chance(10) ? "\n" : "\\n"
                case "\t": out += g.chance(50) ? "\t" : "\\t"
                default:
                    if g.chance(5) {
                        out += String(format: "\\u%04x", scalar.value > 0xFFFF ? 0xD83C : scalar.value)
                    } else {
                        out.unicodeScalars.append(scalar)
                    }
                }
            }
            if g.chance(3) { out += "\\x" }
            return out + (g.chance(2) ? "" : "\"")
        }
    }

    static func ndjsonRecord(_ g: inout SeededGenerator) -> [UInt8] {
        var names = columns.map(\.name)
        if g.chance(30) { names.shuffle(using: &g) }
        var members: [String] = []
        for name in names where !g.chance(15) {
            var key = g.chance(20) ? name.uppercased() : name.lowercased()
            if g.chance(2) { key = "unknown" }
            if g.chance(1) { key = "na\\u006de" }
            if g.chance(1) { key = "\u{212A}ey" }
            let type = columns.first { $0.name == name }!.type
            let value =
                name == "id" && !g.chance(10) ? String(g.below(50)) : g.chance(85) ? goodJSON(type, &g) : jsonValue(&g)
            members.append("\"\(key)\"\(g.chance(20) ? " : " : ":")\(value)")
            if g.chance(2) { members.append(members.last!) }
        }
        var line = "{" + members.joined(separator: g.chance(20) ? ", " : ",") + "}"
        if g.chance(3) { line = " " + line + " " }
        if g.chance(2) { line += "x" }
        var bytes = Array(line.utf8)
        if g.chance(3), !bytes.isEmpty { bytes[g.below(bytes.count)] = g.pick([0xFF, 0xC3, 0x80, 0xED, 0x00]) }
        return bytes
    }

    static func csvField(_ g: inout SeededGenerator, delimiter: String) -> String {
        let value = g.chance(10) ? "NULL" : text(&g)
        let needsQuotes = value.contains(delimiter) || value.contains("\"") || value.contains("\n")
        if needsQuotes || g.chance(20) {
            return "\"" + value.replacingOccurrences(of: "\"", with: g.chance(5) ? "\"" : "\"\"") + "\""
        }
        return value
    }

    static func quotedIfNeeded(_ value: String, delimiter: String) -> String {
        guard value.contains(delimiter) || value.contains("\"") else { return value }
        return "\"" + value.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// Decodes `record` both ways and checks that the fast path, where it answers, answers as the slow path.
    static func compare(_ decoder: inout RowDecoder, _ record: [UInt8], csv: Bool) -> Bool {
        record.withUnsafeBufferPointer { bytes in
            let fast = csv ? decoder.fastCSV(bytes, sequence: 7) : decoder.fastNDJSON(bytes, sequence: 7)
            let slow =
                try?
                (csv ? decoder.slowCSV(bytes, line: 1, sequence: 7) : decoder.slowNDJSON(bytes, line: 1, sequence: 7))
            guard let fast else { return false }
            let shown = String(decoding: record, as: UTF8.self)
            guard let slow else {
                Issue.record("the fast path took a record the slow path refuses: \(shown)")
                return true
            }
            let fastBytes = fast.withBytes { Array($0) }
            let slowBytes = slow.withBytes { Array($0) }
            #expect(fastBytes == slowBytes, "\(shown)")
            return true
        }
    }

    @Test func ndjsonFastPathDecodesAsTheSlowPath() throws {
        var g = SeededGenerator(seed: 17)
        for ignoreUnknown in [false, true] {
            var decoder = RowDecoder(layout: try Self.layout(), ignoreUnknown: ignoreUnknown)
            var taken = 0
            for _ in 0..<20_000 where Self.compare(&decoder, Self.ndjsonRecord(&g), csv: false) { taken += 1 }
            // Enough of each kind: the generator is not so hostile that the fast path never runs.
            #expect(taken > 500, "the fast path took \(taken) of 20,000 records")
            #expect(taken < 19_000, "the fast path took \(taken) of 20,000 records: the generator is too tame")
        }
    }

    @Test func ndjsonFastPathCarriesTheColumnsItSaw() throws {
        var decoder = RowDecoder(layout: try Self.layout(), ignoreUnknown: false)
        let record = Array(#"{"id": 1, "CLOCK": "12:00:00", "name": null}"#.utf8)
        let row = record.withUnsafeBufferPointer { decoder.fastNDJSON($0, sequence: 0) }
        #expect(row != nil)
        #expect(decoder.carried == [0, 1, 9])
    }

    @Test(arguments: [",", ";", "¦"]) func csvFastPathDecodesAsTheSlowPath(delimiter: String) throws {
        var g = SeededGenerator(seed: 23)
        for marker in ["", "NULL", "\u{212A}"] {
            var decoder = RowDecoder(layout: try Self.layout(), ignoreUnknown: true)
            decoder.delimiter = Array(delimiter.utf8)
            decoder.nullMarker = marker
            let header = Self.columns.map(\.name) + ["extra"]
            try Array(header.joined(separator: delimiter).utf8).withUnsafeBufferPointer { bytes in
                try decoder.csvHeader(bytes, line: 1)
            }
            var taken = 0
            for _ in 0..<10_000 {
                var fields = header.map { name in
                    let type = Self.columns.first { $0.name == name }?.type ?? .string
                    return name == "id" && !g.chance(10)
                        ? String(g.below(50))
                        : g.chance(85)
                            ? Self.quotedIfNeeded(Self.goodText(type, &g), delimiter: delimiter)
                            : Self.csvField(&g, delimiter: delimiter)
                }
                if g.chance(3) { fields.removeLast() }
                if g.chance(3) { fields.append("x") }
                var record = Array(fields.joined(separator: delimiter).utf8)
                if g.chance(2), !record.isEmpty { record[g.below(record.count)] = g.pick([0xFF, 0x22, 0xC3]) }
                if Self.compare(&decoder, record, csv: true) { taken += 1 }
            }
            #expect(taken > 300, "the fast path took \(taken) of 10,000 records (marker '\(marker)')")
        }
    }

    @Test func byteConversionConvertsAsValueConversion() {
        var g = SeededGenerator(seed: 5)
        let types: [FieldType] = [.string, .int64, .float64, .bool, .timestamp, .date, .numeric, .json, .time]
        var taken = 0
        for _ in 0..<50_000 {
            var text = Self.text(&g)
            if g.chance(30) {
                text = String(g.next() % 1_000_000_000_000) + (g.chance(50) ? "." + String(g.below(10_000)) : "")
            }
            if g.chance(10) { text = "-" + text }
            let type = g.pick(types)
            let number = g.chance(30)
            let raw: RawValue = number ? .number(text) : .string(text)
            var out: [UInt8] = []
            let took = Array(text.utf8).withUnsafeBufferPointer {
                ByteConversion.append($0, number: number, as: type, to: &out)
            }
            guard took else {
                #expect(out.isEmpty)
                continue
            }
            taken += 1
            let slow = try? ValueConversion.canonical(raw, as: type)
            #expect(slow.map { Array($0.utf8) } == out, "\(type) \(number ? "number" : "string") '\(text)'")
        }
        #expect(taken > 5_000)
    }

    @Test func exactDecimalsAreWhatDoubleParsingGives() {
        var g = SeededGenerator(seed: 11)
        for _ in 0..<100_000 {
            let whole = String(g.next() % [10, 1000, 1_000_000, 1_000_000_000_000_000][g.below(4)])
            let fraction = String(repeating: "0", count: g.below(4)) + String(g.next() % 100_000_000)
            let text = (g.chance(30) ? "-" : "") + whole + (g.chance(80) ? "." + fraction : "")
            let exact = Array(text.utf8).withUnsafeBufferPointer { ByteConversion.exactDecimal($0) }
            guard let exact else { continue }
            #expect(exact.bitPattern == Double(text)?.bitPattern, "\(text)")
        }
    }

    @Test func utf8CheckAgreesWithTheStandardLibrary() {
        var g = SeededGenerator(seed: 3)
        let interesting: [UInt8] = [
            0x00, 0x41, 0x7F, 0x80, 0xBF, 0xC0, 0xC1, 0xC2, 0xDF, 0xE0, 0xA0, 0x9F, 0xED, 0xEF, 0xF0, 0x90, 0x8F, 0xF4,
            0xF5, 0xFF,
        ]
        for _ in 0..<200_000 {
            let count = g.below(24)
            let bytes = (0..<count).map { _ in g.chance(60) ? g.pick(interesting) : UInt8(g.below(256)) }
            let mine = bytes.withUnsafeBufferPointer { UTF8Check.isValid($0) }
            #expect(mine == (String(validating: bytes, as: UTF8.self) != nil), "\(bytes)")
        }
        for text in ["", "plain ASCII longer than eight bytes", "é", "日本語のテキスト", "🎉🎉", "a\u{10FFFF}"] {
            #expect(Array(text.utf8).withUnsafeBufferPointer { UTF8Check.isValid($0) })
        }
    }

    @Test func nestedStringsAreStringsOfStrings() {
        var g = SeededGenerator(seed: 9)
        for _ in 0..<20_000 {
            let bytes = (0..<g.below(20)).map { _ in
                g.chance(30) ? g.pick([0x22, 0x5C, 0x0A, 0x0D, 0x09, 0x01, 0x1F]) : UInt8(g.below(128))
            }
            var inner = JSONWriter()
            bytes.withUnsafeBufferPointer { inner.string(utf8: $0) }
            var twice = JSONWriter()
            inner.bytes.withUnsafeBufferPointer { twice.string(utf8: $0) }
            var nested = JSONWriter()
            bytes.withUnsafeBufferPointer { nested.nestedString(utf8: $0) }
            #expect(nested.bytes == Array(twice.bytes.dropFirst().dropLast()))
            // And the literal itself reads back as the bytes (Foundation's parser as the second opinion).
            let back = try? JSONSerialization.jsonObject(with: Data(inner.bytes), options: .fragmentsAllowed)
            #expect(back as? String == String(decoding: bytes, as: UTF8.self), "\(bytes)")
        }
    }

    @Test func timestampsAreWrittenAsTheirParts() {
        var g = SeededGenerator(seed: 13)
        for _ in 0..<50_000 {
            let micros = Int64(bitPattern: g.next() % 315_537_897_600_000_000) - 62_135_596_800_000_000
            var fast: [UInt8] = []
            Temporal.writeTimestamp(micros: g.chance(20) ? micros / 1_000_000 * 1_000_000 : micros, to: &fast)
            let text = String(decoding: fast, as: UTF8.self)
            let back = Array(text.dropLast(3).utf8).withUnsafeBufferPointer { Temporal.timestampMicros(utf8: $0) }
            #expect(back.map { Temporal.timestampText(micros: $0) } == text, "\(text)")
        }
        #expect(Temporal.timestampText(micros: 0) == "1970-01-01 00:00:00+00")
        #expect(Temporal.timestampText(micros: -1) == "1969-12-31 23:59:59.999999+00")
        #expect(Temporal.timestampText(micros: 253_402_300_799_999_999) == "9999-12-31 23:59:59.999999+00")
    }

    /// What the deduplicator gave before its table: a dictionary by key, the greatest `order_by` winning (ties to
    /// the row read last), winners in read order.
    static func reference(_ rows: [PackedRow], layout: RowLayout) -> [[UInt8]] {
        var table: [[UInt8]: PackedRow] = [:]
        for row in rows {
            let key = row.key(layout.keys)
            if let current = table[key], let order = layout.orderBy {
                let type = layout.columns[order].type
                if OrderComparison.less(row.value(order), current.value(order), type: type) { continue }
                if current.sequence > row.sequence { continue }
            }
            table[key] = row
        }
        return table.values.sorted { $0.sequence < $1.sequence }.map { $0.withBytes { Array($0) } }
    }

    @Test(arguments: [FieldType.timestamp, .int64, .string, .float64, .numeric])
    func deduplicationKeepsTheWinnersOfTheReference(orderType: FieldType) throws {
        var g = SeededGenerator(seed: UInt64(orderType.rawValue.count))
        let columns: [RowLayout.Column] = [
            .init(name: "a", type: .int64, required: false, inTarget: true),
            .init(name: "note", type: .string, required: false, inTarget: true),
            .init(name: "b", type: .string, required: false, inTarget: true),
            .init(name: "o", type: orderType, required: false, inTarget: true),
        ]
        let layout = try RowLayout(columns: columns, keys: ["b", "a"], orderBy: "o", deleteWhen: nil)
        let orders: [String?] = [
            nil, "1", "2", "10", "-3", "1.5", "2026-01-01 00:00:00+00", "2026-01-02 00:00:00+00", "9", "0.25",
        ]
        let rows = (0..<5_000).map { sequence in
            PackedRow(
                sequence: Int64(sequence),
                values: [
                    g.chance(5) ? nil : String(g.below(40)), String(sequence), g.pick([nil, "x", "y", "", "é"]),
                    g.pick(orders),
                ])
        }
        let expected = Self.reference(rows, layout: layout)
        for partitions in [1, 3, 16] {
            let dedup = try Deduplicator(layout: layout, partitions: partitions)
            for row in rows { try dedup.add(row) }
            var got: [[UInt8]] = []
            while let group = try dedup.next() { got += group.map { $0.withBytes { Array($0) } } }
            if partitions == 1 {
                #expect(got == expected)
            } else {
                // Partition by partition: the same winners, each partition in read order.
                #expect(
                    got.sorted { $0.lexicographicallyPrecedes($1) }
                        == expected.sorted { $0.lexicographicallyPrecedes($1) })
            }
        }
    }
}
