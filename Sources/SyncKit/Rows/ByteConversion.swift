import BigQuery

/// The fast path of `ValueConversion`: a value converted straight from a record's bytes to its canonical bytes,
/// for the common types and spellings, with no `String` in between. It never words an error: whatever it does
/// not take (another type, an unusual spelling, a value that is wrong) it leaves to `ValueConversion`, which
/// decides and explains. Where both apply they give the same bytes (ByteConversionTests compares them on
/// generated values).
enum ByteConversion {
    /// Appends to `out` the canonical text of the value `bytes` spell as `type`, and returns true; or appends
    /// nothing and returns false when `ValueConversion` must decide. `bytes` are valid UTF-8: a JSON string's
    /// text with its escapes undone, a CSV field's, or (`number`) a JSON number token as written.
    static func append(
        _ bytes: UnsafeBufferPointer<UInt8>, number: Bool, as type: FieldType, to out: inout [UInt8]
    ) -> Bool {
        switch type {
        case .string:
            out.append(contentsOf: bytes)
            return true
        case .int64: return appendInt64(bytes, to: &out)
        case .float64: return appendFloat64(bytes, to: &out)
        case .bool:
            guard !number else { return false }
            if equals(bytes, "true") {
                out.append(contentsOf: "true".utf8)
                return true
            }
            if equals(bytes, "false") {
                out.append(contentsOf: "false".utf8)
                return true
            }
            return false
        case .timestamp:
            guard !number, !padded(bytes) else { return false }
            if Temporal.writeUTCTimestamp(utf8: bytes, to: &out) { return true }
            guard let micros = Temporal.timestampMicros(utf8: bytes) else { return false }
            Temporal.writeTimestamp(micros: micros, to: &out)
            return true
        case .date:
            guard !number, !padded(bytes), let day = Temporal.date(utf8: bytes) else { return false }
            day.write(to: &out)
            return true
        default:
            return false
        }
    }

    /// Whether the text starts or ends with a space or tab, which `ValueConversion.trim` would take off.
    private static func padded(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let first = bytes.first, let last = bytes.last else { return false }
        return first == 0x20 || first == 0x09 || last == 0x20 || last == 0x09
    }

    static func equals(_ bytes: UnsafeBufferPointer<UInt8>, _ literal: StaticString) -> Bool {
        guard bytes.count == literal.utf8CodeUnitCount else { return false }
        let expected = literal.utf8Start
        for index in 0..<bytes.count where bytes[index] != expected[index] { return false }
        return true
    }

    /// An INT64 written as an optional `-` and 1 to 18 digits (so it cannot overflow): its value in decimal.
    /// Anything else (a `+`, spaces, a fraction, an exponent, 19 digits and more) goes to `ValueConversion.int64`.
    private static func appendInt64(_ bytes: UnsafeBufferPointer<UInt8>, to out: inout [UInt8]) -> Bool {
        var index = 0
        let negative = bytes.first == UInt8(ascii: "-")
        if negative { index = 1 }
        let digits = bytes.count - index
        guard (1...18).contains(digits) else { return false }
        var value: Int64 = 0
        while index < bytes.count {
            let digit = bytes[index] &- UInt8(ascii: "0")
            guard digit < 10 else { return false }
            value = value * 10 + Int64(digit)
            index += 1
        }
        Temporal.appendDigits(Int(negative ? -value : value), 1, to: &out)
        return true
    }

    /// A FLOAT64 spelled only with digits, `.`, signs and an exponent: parsed and written as
    /// `ValueConversion.float64` writes it. The names (NaN, inf, …) and spaces go to `ValueConversion`.
    private static func appendFloat64(_ bytes: UnsafeBufferPointer<UInt8>, to out: inout [UInt8]) -> Bool {
        guard (1...40).contains(bytes.count) else { return false }
        for byte in bytes {
            guard
                (byte >= 0x30 && byte <= 0x39) || byte == 0x2E || byte == 0x2B || byte == 0x2D || byte == 0x65
                    || byte == 0x45
            else { return false }
        }
        // Short ASCII text: a small string, no allocation.
        guard let value = exactDecimal(bytes) ?? Double(String(decoding: bytes, as: UTF8.self)), value.isFinite
        else { return false }
        if value == 0 {
            out.append(UInt8(ascii: "0"))
        } else {
            var text = value.description
            text.withUTF8 { out.append(contentsOf: $0) }
        }
        return true
    }

    /// Exact powers of ten: each is a Double without rounding up to 10^22.
    private static let powersOfTen: [Double] = (0...22).map { exponent in
        var value = 1.0
        for _ in 0..<exponent { value *= 10 }
        return value
    }

    /// A plain decimal (`-`, digits, and a `.` with digits after it) with at most 15 digits, computed exactly:
    /// its digits as an integer are a Double without rounding (under 2^53), so is 10^(its decimals), and one
    /// IEEE division rounds the quotient correctly, which is the value `Double(String)` (correctly rounded too)
    /// gives. Nil for any other spelling, left to `Double(String)`.
    static func exactDecimal(_ bytes: UnsafeBufferPointer<UInt8>) -> Double? {
        var index = 0
        let negative = bytes.first == UInt8(ascii: "-")
        if negative { index = 1 }
        var digits = 0
        var decimals = 0
        var point = false
        var mantissa: Int64 = 0
        while index < bytes.count {
            let byte = bytes[index]
            index += 1
            if byte == UInt8(ascii: ".") {
                guard !point, digits > 0 else { return nil }
                point = true
                continue
            }
            let digit = byte &- UInt8(ascii: "0")
            guard digit < 10 else { return nil }
            mantissa = mantissa * 10 + Int64(digit)
            digits += 1
            if point { decimals += 1 }
            guard digits <= 15 else { return nil }
        }
        guard digits > 0, !point || decimals > 0 else { return nil }
        let magnitude = Double(mantissa) / powersOfTen[decimals]
        return negative ? -magnitude : magnitude
    }
}

/// UTF-8 checked the way `String(validating:as: UTF8.self)` checks it (no overlong forms, no surrogates, nothing
/// past U+10FFFF, no stray or missing continuation bytes), without making a string: ASCII eight bytes at a time.
enum UTF8Check {
    static func isValid(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let base = bytes.baseAddress else { return true }
        let count = bytes.count
        var index = 0
        while index < count {
            while index + 8 <= count,
                UnsafeRawPointer(base + index).loadUnaligned(as: UInt64.self) & 0x8080_8080_8080_8080 == 0
            {
                index += 8
            }
            guard index < count else { return true }
            let lead = bytes[index]
            if lead < 0x80 {
                index += 1
                continue
            }
            var low: UInt8 = 0x80
            var high: UInt8 = 0xBF
            let continuations: Int
            switch lead {
            case 0xC2...0xDF: continuations = 1
            case 0xE0:
                continuations = 2
                low = 0xA0
            case 0xE1...0xEC, 0xEE...0xEF: continuations = 2
            case 0xED:
                continuations = 2
                high = 0x9F
            case 0xF0:
                continuations = 3
                low = 0x90
            case 0xF1...0xF3: continuations = 3
            case 0xF4:
                continuations = 3
                high = 0x8F
            default: return false
            }
            guard index + continuations < count else { return false }
            let second = bytes[index + 1]
            guard second >= low && second <= high else { return false }
            var next = index + 2
            while next <= index + continuations {
                guard bytes[next] & 0xC0 == 0x80 else { return false }
                next += 1
            }
            index = next
        }
        return true
    }

    /// Whether every byte is ASCII.
    static func isASCII(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        for byte in bytes where byte >= 0x80 { return false }
        return true
    }
}
