/// Parsing of the units a policy is written in: sizes, durations, percentages and dollars.
public enum Units {
    /// What is wrong with a value.
    public struct Problem: Error, Sendable, Hashable {
        /// The message, lowercase.
        public var message: String
        init(_ message: String) { self.message = message }
    }

    static let sizeUnits: [(String, Int64)] = [
        ("B", 1), ("KB", 1_000), ("MB", 1_000_000), ("GB", 1_000_000_000), ("TB", 1_000_000_000_000),
        ("KiB", 1 << 10), ("MiB", 1 << 20), ("GiB", 1 << 30), ("TiB", 1 << 40),
    ]

    /// `5 GB`, `1GiB`, `1.5 TB`, or a plain integer of bytes. KB/MB/GB/TB are powers of 10, KiB… of 2.
    public static func bytes(_ text: String) throws(Problem) -> Int64 {
        if text.trimmingSpaces.hasPrefix("-") { throw Problem("a size cannot be negative (got \(quote(text)))") }
        let (number, unit) = split(text)
        guard !number.isEmpty, number.contains(where: \.isNumber) else {
            throw Problem("\(quote(text)) is not a size (write e.g. 5 GB or 500 MiB)")
        }
        var multiplier: Int64 = 1
        if !unit.isEmpty {
            guard let match = sizeUnits.first(where: { $0.0.lowercased() == unit.lowercased() }) else {
                throw Problem("unknown size unit \(quote(unit)) (use B, KB, MB, GB, TB, KiB, MiB, GiB or TiB)")
            }
            multiplier = match.1
        }
        switch decimal(number, scale: multiplier) {
        case .value(let value): return value
        case .overflow:
            throw Problem(
                "\(quote(text)) is too large (a size is at most \(formatInt(Int(Int64.max))) bytes, about 9.2 EB)")
        case .invalid:
            throw Problem("\(quote(text)) is not a whole number of bytes")
        }
    }

    /// `500ms`, `1s`, `1m30s`, `2h`, `0.5s`. A bare number is refused: its unit would be a guess.
    public static func duration(_ text: String) throws(Problem) -> Duration {
        let trimmed = text.filter { $0 != " " }
        guard !trimmed.isEmpty else { throw Problem("empty duration") }
        if trimmed.hasPrefix("-") { throw Problem("a duration cannot be negative (got \(quote(text)))") }
        var total = 0.0
        var rest = Substring(trimmed)
        while !rest.isEmpty {
            let number = rest.prefix { $0.isASCII && ($0.isNumber || $0 == ".") }
            rest = rest.dropFirst(number.count)
            let unit = rest.prefix { $0.isASCII && $0.isLetter }
            rest = rest.dropFirst(unit.count)
            guard let value = Double(number), value.isFinite else {
                throw Problem("\(quote(text)) is not a duration (write e.g. 500ms, 1s, 1m30s)")
            }
            let scale: Double
            switch unit {
            case "ms": scale = 0.001
            case "s": scale = 1
            case "m": scale = 60
            case "h": scale = 3600
            case "": throw Problem("\(quote(text)) needs a unit (ms, s, m or h)")
            default: throw Problem("unknown duration unit \(quote(String(unit))) (use ms, s, m or h)")
            }
            total += value * scale
        }
        guard total <= 86_400 * 365 else { throw Problem("\(quote(text)) is longer than a year") }
        return .milliseconds(Int64((total * 1000).rounded()))
    }

    /// `80%` or a fraction such as `0.8`; the result is a fraction in (0, 1].
    public static func fraction(_ text: String) throws(Problem) -> Double {
        let trimmed = text.trimmingSpaces
        let value: Double
        if trimmed.hasSuffix("%") {
            guard let percent = Double(trimmed.dropLast().trimmingSpaces), percent.isFinite else {
                throw Problem("\(quote(text)) is not a percentage")
            }
            value = percent / 100
        } else {
            guard let fraction = Double(trimmed), fraction.isFinite else {
                throw Problem("\(quote(text)) is not a percentage (write e.g. 80%)")
            }
            guard fraction <= 1 else {
                throw Problem("\(quote(text)) is more than 1; write a percentage as \(trimmed)%")
            }
            value = fraction
        }
        guard value > 0, value <= 1 else { throw Problem("\(quote(text)) must be more than 0% and at most 100%") }
        return value
    }

    /// `0.03` or `$0.03`: a non-negative dollar amount.
    public static func dollars(_ text: String) throws(Problem) -> Double {
        var trimmed = Substring(text.trimmingSpaces)
        if trimmed.first == "$" { trimmed = trimmed.dropFirst() }
        guard let value = Double(trimmed), value.isFinite, !trimmed.contains("e"), !trimmed.contains("E") else {
            throw Problem("\(quote(text)) is not a dollar amount (write e.g. 0.03)")
        }
        guard value >= 0 else { throw Problem("\(quote(text)) is negative") }
        return value
    }

    /// Splits `1.5 GB` into `1.5` and `GB`.
    private static func split(_ text: String) -> (String, String) {
        let trimmed = text.trimmingSpaces
        let number = trimmed.prefix { $0.isASCII && ($0.isNumber || $0 == ".") }
        let unit = trimmed.dropFirst(number.count).trimmingSpaces
        return (String(number), unit)
    }

    private enum Decimal {
        case value(Int64)
        case overflow
        case invalid
    }

    /// Exact decimal × scale as an integer; `invalid` if it has a fraction of a byte left or is not a number.
    private static func decimal(_ text: String, scale: Int64) -> Decimal {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count <= 2, parts.allSatisfy({ $0.allSatisfy { $0.isASCII && $0.isNumber } }) else {
            return .invalid
        }
        var wholeDigits = parts[0].drop { $0 == "0" }
        if wholeDigits.isEmpty { wholeDigits = "0" }
        // More digits than Int64 has can only be an overflow (the characters are all digits).
        guard wholeDigits.count <= 19, let whole = Int64(wholeDigits) else { return .overflow }
        var (result, overflow) = whole.multipliedReportingOverflow(by: scale)
        guard !overflow else { return .overflow }
        if parts.count == 2 {
            var digits = parts[1]
            while digits.last == "0" { digits = digits.dropLast() }
            guard digits.count <= 18 else { return .invalid }
            var denominator: Int64 = 1
            for _ in digits { denominator *= 10 }
            guard let numerator = Int64(digits.isEmpty ? "0" : String(digits)) else { return .invalid }
            // numerator × scale / denominator, reduced first so that only a real overflow overflows.
            var (a, b) = (scale, denominator)
            while b != 0 { (a, b) = (b, a % b) }
            let (reducedScale, reducedDenominator) = (scale / a, denominator / a)
            guard numerator % reducedDenominator == 0 else { return .invalid }
            let (scaled, overflow2) = (numerator / reducedDenominator).multipliedReportingOverflow(by: reducedScale)
            guard !overflow2 else { return .overflow }
            (result, overflow) = result.addingReportingOverflow(scaled)
            guard !overflow else { return .overflow }
        }
        return .value(result)
    }

    /// A duration as a policy would write it: `500ms`, `32s`, `1m30s`, `2h`.
    public static func formatDuration(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        let totalMilliseconds = seconds * 1000 + attoseconds / 1_000_000_000_000_000
        if totalMilliseconds % 1000 != 0 { return "\(totalMilliseconds)ms" }
        var rest = totalMilliseconds / 1000
        var out = ""
        if rest >= 3600 {
            out += "\(rest / 3600)h"
            rest %= 3600
        }
        if rest >= 60 {
            out += "\(rest / 60)m"
            rest %= 60
        }
        if rest > 0 || out.isEmpty { out += "\(rest)s" }
        return out
    }
}

extension StringProtocol {
    /// The text without leading and trailing spaces and tabs.
    var trimmingSpaces: String {
        let chars = Array(self)
        var start = 0
        var end = chars.count
        while start < end, chars[start] == " " || chars[start] == "\t" { start += 1 }
        while end > start, chars[end - 1] == " " || chars[end - 1] == "\t" { end -= 1 }
        return String(chars[start..<end])
    }
}
