import BigQuery
import Foundation

/// Converts source values to a column's type and spells them canonically, the way the MERGE's SQL casts them
/// back (`CAST(… AS INT64)`, `FROM_BASE64(…)`, `PARSE_JSON(…)`, …). A value that cannot be converted is an
/// error here, before anything is sent.
package enum ValueConversion {
    /// The canonical text of `raw` as a value of `type`, or nil for NULL.
    package static func canonical(_ raw: RawValue, as type: FieldType) throws(ConversionProblem) -> String? {
        switch raw {
        case .null: return nil
        case .composite(let text):
            guard type == .json else { throw ConversionProblem("expected \(type.rawValue), got \(raw.kindName)") }
            try checkJSONNumbers(text)
            return text
        case .bool(let flag):
            switch type {
            case .bool, .string: return flag ? "true" : "false"
            case .json: return flag ? "true" : "false"
            default: throw ConversionProblem("expected \(type.rawValue), got a boolean")
            }
        case .number(let text):
            switch type {
            case .string: return text
            case .json:
                try checkJSONNumbers(text)
                return text
            case .int64, .float64, .numeric, .bignumeric: return try scalar(text, as: type)
            case .timestamp:
                guard let seconds = Double(text), seconds.isFinite else {
                    throw ConversionProblem("invalid TIMESTAMP \(quoted(text))")
                }
                let micros = (seconds * 1_000_000).rounded()
                // 0001-01-01 00:00:00 up to (not including) 10000-01-01, compared as doubles that are exact.
                guard micros >= -62_135_596_800_000_000, micros < 253_402_300_800_000_000 else {
                    throw ConversionProblem("TIMESTAMP \(quoted(text)) is out of range (years 1 to 9999)")
                }
                return Temporal.timestampText(micros: Int64(micros))
            default: throw ConversionProblem("expected \(type.rawValue), got a number")
            }
        case .string(let text):
            if type == .json {
                var writer = JSONWriter()
                writer.string(text)
                return String(decoding: writer.bytes, as: UTF8.self)
            }
            return try scalar(text, as: type)
        }
    }

    /// Converts text (a CSV field or a JSON string) to `type`.
    static func scalar(_ text: String, as type: FieldType) throws(ConversionProblem) -> String {
        switch type {
        case .string: return text
        case .int64: return try int64(text)
        case .float64: return try float64(text)
        case .numeric: return try Decimals.canonical(text, integerDigits: 29, scale: 9, typeName: "NUMERIC")
        case .bignumeric: return try Decimals.canonical(text, integerDigits: 38, scale: 38, typeName: "BIGNUMERIC")
        case .bool: return try bool(text)
        case .date:
            guard let date = Temporal.date(Substring(trim(text))) else {
                throw ConversionProblem("invalid DATE \(quoted(text)) (expected YYYY-MM-DD)")
            }
            return date.text
        case .datetime:
            guard let value = Temporal.datetime(trim(text)) else {
                throw ConversionProblem("invalid DATETIME \(quoted(text)) (expected YYYY-MM-DD HH:MM:SS[.ffffff])")
            }
            return value
        case .time:
            guard let time = Temporal.time(Substring(trim(text))) else {
                throw ConversionProblem("invalid TIME \(quoted(text)) (expected HH:MM:SS[.ffffff])")
            }
            return time.text
        case .timestamp:
            guard let micros = Temporal.timestampMicros(trim(text)) else {
                throw ConversionProblem(
                    "invalid TIMESTAMP \(quoted(text)) (expected YYYY-MM-DD HH:MM:SS[.ffffff][+HH:MM|Z])")
            }
            return Temporal.timestampText(micros: micros)
        case .bytes:
            guard Data(base64Encoded: text) != nil else {
                throw ConversionProblem("invalid BYTES \(quoted(text)) (expected base64)")
            }
            return text
        case .json: return try json(text)
        }
    }

    /// An INT64, also from a whole number written as a float (`3.0`, `1e3`) within range.
    static func int64(_ text: String) throws(ConversionProblem) -> String {
        let trimmed = trim(text)
        guard let value = Int64(trimmed.hasPrefix("+") ? String(trimmed.dropFirst()) : trimmed) else {
            if let double = Double(trimmed), double.rounded() == double, abs(double) < 9.2e18 {
                return String(Int64(double))
            }
            throw ConversionProblem(
                "invalid INT64 \(quoted(text))"
                    + (Double(trimmed) != nil ? " (out of range or not a whole number)" : ""))
        }
        return String(value)
    }

    /// A FLOAT64: decimal or exponent notation, or NaN and the infinities by name.
    static func float64(_ text: String) throws(ConversionProblem) -> String {
        let trimmed = trim(text)
        switch trimmed.lowercased() {
        case "nan": return "NaN"
        case "inf", "+inf", "infinity", "+infinity": return "inf"
        case "-inf", "-infinity": return "-inf"
        default: break
        }
        guard
            trimmed.utf8.allSatisfy({
                ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2E || $0 == 0x2B || $0 == 0x2D || $0 == 0x65 || $0 == 0x45
            }),
            let value = Double(trimmed), value.isFinite
        else {
            throw ConversionProblem("invalid FLOAT64 \(quoted(text))")
        }
        return value == 0 ? "0" : String(value)
    }

    /// A BOOL from the usual spellings of true and false.
    static func bool(_ text: String) throws(ConversionProblem) -> String {
        switch trim(text).lowercased() {
        case "true", "t", "yes", "y", "1": return "true"
        case "false", "f", "no", "n", "0": return "false"
        default: throw ConversionProblem("invalid BOOL \(quoted(text)) (use true or false)")
        }
    }

    /// JSON text, checked whole and for numbers no FLOAT64 holds.
    static func json(_ text: String) throws(ConversionProblem) -> String {
        let valid: Bool =
            text.utf8.withContiguousStorageIfAvailable { buffer in
                (try? JSONLineParser.validate(buffer)) != nil
            }
            ?? ((try? Array(text.utf8).withUnsafeBufferPointer { buffer throws(RecordProblem) in
                try JSONLineParser.validate(buffer)
            }) != nil)
        guard valid else { throw ConversionProblem("invalid JSON \(quoted(text))") }
        try checkJSONNumbers(text)
        return text
    }

    /// Refuses a JSON number that no FLOAT64 can hold (such as 1e400): BigQuery's `PARSE_JSON`, even with
    /// `wide_number_mode => 'round'` (which the MERGE uses, so that 12345678901234567890123 is stored rounded to
    /// the nearest FLOAT64), fails on it at apply; here it fails the plan, naming the value.
    static func checkJSONNumbers(_ text: String) throws(ConversionProblem) {
        var inString = false
        var escaped = false
        var number: [UInt8] = []
        func check() throws(ConversionProblem) {
            defer { number.removeAll(keepingCapacity: true) }
            guard !number.isEmpty, let value = Double(String(decoding: number, as: UTF8.self)), !value.isFinite else {
                return
            }
            throw ConversionProblem(
                "JSON number \(quoted(String(decoding: number, as: UTF8.self))) is out of FLOAT64's range; BigQuery cannot store it"
            )
        }
        for byte in text.utf8 {
            if inString {
                if escaped {
                    escaped = false
                } else if byte == UInt8(ascii: "\\") {
                    escaped = true
                } else if byte == UInt8(ascii: "\"") {
                    inString = false
                }
                continue
            }
            switch byte {
            case UInt8(ascii: "\""):
                try check()
                inString = true
            case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "+"), UInt8(ascii: "."),
                UInt8(ascii: "e"), UInt8(ascii: "E"):
                number.append(byte)
            default: try check()
            }
        }
        try check()
    }

    /// The text without leading and trailing spaces and tabs; the common case (none) allocates nothing.
    static func trim(_ text: String) -> String {
        guard let first = text.utf8.first, let last = text.utf8.last else { return text }
        if first != 0x20 && first != 0x09 && last != 0x20 && last != 0x09 { return text }
        return text.trimmingCharacters(in: .whitespaces)
    }

    /// A value for a message: quoted, control characters escaped, long values shortened.
    package static func quoted(_ text: String) -> String {
        var shown = ""
        for scalar in text.unicodeScalars.prefix(60) {
            switch scalar {
            case "\n": shown += "\\n"
            case "\r": shown += "\\r"
            case "\t": shown += "\\t"
            case "'": shown += "\\'"
            default:
                // C0 and C1 controls, line and paragraph separators and invisible formatting (bidi) characters.
                switch scalar.properties.generalCategory {
                case .control, .format, .lineSeparator, .paragraphSeparator, .surrogate, .privateUse, .unassigned:
                    shown += "\\u{\(String(scalar.value, radix: 16))}"
                default:
                    shown.unicodeScalars.append(scalar)
                }
            }
        }
        return "'" + shown + (text.unicodeScalars.count > 60 ? "…" : "") + "'"
    }
}

/// Why a value could not be converted.
package struct ConversionProblem: Error {
    package var message: String
    init(_ message: String) { self.message = message }
}

/// NUMERIC and BIGNUMERIC text: checked against precision and scale, written without exponent or `+`.
enum Decimals {
    static func canonical(_ text: String, integerDigits: Int, scale: Int, typeName: String) throws(ConversionProblem)
        -> String
    {
        let bad = ConversionProblem("invalid \(typeName) \(ValueConversion.quoted(text))")
        var chars = Substring(ValueConversion.trim(text))
        var negative = false
        if chars.first == "-" {
            negative = true
            chars = chars.dropFirst()
        } else if chars.first == "+" {
            chars = chars.dropFirst()
        }
        var exponent = 0
        if let e = chars.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            guard let value = Int(chars[chars.index(after: e)...]), abs(value) < 1000 else { throw bad }
            exponent = value
            chars = chars[..<e]
        }
        let parts = chars.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count <= 2, !chars.isEmpty, chars != "." else { throw bad }
        let whole = parts[0]
        let fraction = parts.count == 2 ? parts[1] : ""
        guard whole.allSatisfy(\.isASCIIDigit), fraction.allSatisfy(\.isASCIIDigit),
            !(whole.isEmpty && fraction.isEmpty)
        else { throw bad }
        var digits = Array(whole + fraction)
        var point = whole.count + exponent
        if point < 0 {
            digits.insert(contentsOf: Array(repeating: "0", count: -point), at: 0)
            point = 0
        }
        if point > digits.count { digits.append(contentsOf: Array(repeating: "0", count: point - digits.count)) }
        var integer = String(digits[..<point]).drop { $0 == "0" }
        var decimals = String(digits[point...])
        while decimals.last == "0" { decimals.removeLast() }
        guard integer.count <= integerDigits else {
            throw ConversionProblem(
                "\(typeName) \(ValueConversion.quoted(text)) has more than \(integerDigits) integer digits")
        }
        guard decimals.count <= scale else {
            throw ConversionProblem("\(typeName) \(ValueConversion.quoted(text)) has more than \(scale) decimal places")
        }
        if integer.isEmpty { integer = "0" }
        let body = decimals.isEmpty ? String(integer) : "\(integer).\(decimals)"
        return negative && body != "0" ? "-" + body : body
    }
}

extension Character {
    var isASCIIDigit: Bool { ("0"..."9").contains(self) }
}
