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
        let (number, unit) = split(text)
        guard !number.isEmpty else { throw Problem("'\(text)' is not a size (write e.g. 5 GB or 500 MiB)") }
        var multiplier: Int64 = 1
        if !unit.isEmpty {
            guard let match = sizeUnits.first(where: { $0.0.lowercased() == unit.lowercased() }) else {
                throw Problem("unknown size unit '\(unit)' (use B, KB, MB, GB, TB, KiB, MiB, GiB or TiB)")
            }
            multiplier = match.1
        }
        guard let value = decimal(number, scale: multiplier) else {
            throw Problem("'\(text)' is not a whole number of bytes")
        }
        return value
    }

    /// `500ms`, `1s`, `1m30s`, `2h`, `0.5s`. A bare number is refused: its unit would be a guess.
    public static func duration(_ text: String) throws(Problem) -> Duration {
        let trimmed = text.filter { $0 != " " }
        guard !trimmed.isEmpty else { throw Problem("empty duration") }
        var total = 0.0
        var rest = Substring(trimmed)
        while !rest.isEmpty {
            let number = rest.prefix { $0.isASCII && ($0.isNumber || $0 == ".") }
            rest = rest.dropFirst(number.count)
            let unit = rest.prefix { $0.isASCII && $0.isLetter }
            rest = rest.dropFirst(unit.count)
            guard let value = Double(number), value.isFinite else {
                throw Problem("'\(text)' is not a duration (write e.g. 500ms, 1s, 1m30s)")
            }
            let scale: Double
            switch unit {
            case "ms": scale = 0.001
            case "s": scale = 1
            case "m": scale = 60
            case "h": scale = 3600
            case "": throw Problem("'\(text)' needs a unit (ms, s, m or h)")
            default: throw Problem("unknown duration unit '\(unit)' (use ms, s, m or h)")
            }
            total += value * scale
        }
        guard total <= 86_400 * 365 else { throw Problem("'\(text)' is longer than a year") }
        return .milliseconds(Int64((total * 1000).rounded()))
    }

    /// `80%` or a fraction such as `0.8`; the result is a fraction in (0, 1].
    public static func fraction(_ text: String) throws(Problem) -> Double {
        let trimmed = text.trimmingSpaces
        let value: Double
        if trimmed.hasSuffix("%") {
            guard let percent = Double(trimmed.dropLast().trimmingSpaces), percent.isFinite else {
                throw Problem("'\(text)' is not a percentage")
            }
            value = percent / 100
        } else {
            guard let fraction = Double(trimmed), fraction.isFinite else { throw Problem("'\(text)' is not a percentage (write e.g. 80%)") }
            guard fraction <= 1 else { throw Problem("'\(text)' is more than 1; write a percentage as \(trimmed)%") }
            value = fraction
        }
        guard value > 0, value <= 1 else { throw Problem("'\(text)' must be more than 0% and at most 100%") }
        return value
    }

    /// `0.03` or `$0.03`: a non-negative dollar amount.
    public static func dollars(_ text: String) throws(Problem) -> Double {
        var trimmed = Substring(text.trimmingSpaces)
        if trimmed.first == "$" { trimmed = trimmed.dropFirst() }
        guard let value = Double(trimmed), value.isFinite, !trimmed.contains("e"), !trimmed.contains("E") else {
            throw Problem("'\(text)' is not a dollar amount (write e.g. 0.03)")
        }
        guard value >= 0 else { throw Problem("'\(text)' is negative") }
        return value
    }

    /// Splits `1.5 GB` into `1.5` and `GB`.
    private static func split(_ text: String) -> (String, String) {
        let trimmed = text.trimmingSpaces
        let number = trimmed.prefix { $0.isASCII && ($0.isNumber || $0 == ".") }
        let unit = trimmed.dropFirst(number.count).trimmingSpaces
        return (String(number), unit)
    }

    /// Exact decimal × scale as an integer, or nil if it has a fraction left or overflows.
    private static func decimal(_ text: String, scale: Int64) -> Int64? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count <= 2, let whole = Int64(parts[0].isEmpty ? "0" : String(parts[0])) else { return nil }
        var (result, overflow) = whole.multipliedReportingOverflow(by: scale)
        guard !overflow else { return nil }
        if parts.count == 2 {
            let digits = parts[1]
            guard digits.allSatisfy({ $0.isNumber }), digits.count <= 18 else { return nil }
            var denominator: Int64 = 1
            for _ in digits { denominator *= 10 }
            guard let numerator = Int64(digits.isEmpty ? "0" : String(digits)) else { return nil }
            let (scaled, overflow2) = numerator.multipliedReportingOverflow(by: scale)
            guard !overflow2, scaled % denominator == 0 else { return nil }
            (result, overflow) = result.addingReportingOverflow(scaled / denominator)
            guard !overflow else { return nil }
        }
        return result
    }

    /// A byte count for people: `1.5 GB`, `10 MB`, `512 B` (powers of 10, as BigQuery bills).
    public static func formatBytes(_ bytes: Int64) -> String {
        let magnitude = Swift.abs(Double(bytes))
        let units: [(Double, String)] = [(1e12, "TB"), (1e9, "GB"), (1e6, "MB"), (1e3, "KB")]
        for (scale, name) in units where magnitude >= scale {
            return "\(trim(Double(bytes) / scale)) \(name)"
        }
        return "\(bytes) B"
    }

    /// Dollars with enough digits to show a small cost: `$0.000057`, `$1.25`.
    public static func formatDollars(_ value: Double) -> String {
        if value == 0 { return "$0.00" }
        if value >= 1 { return "$" + fixed(value, digits: 2) }
        return "$" + fixed(value, digits: 6)
    }

    private static func trim(_ value: Double) -> String {
        let text = fixed(value, digits: value >= 100 ? 0 : (value >= 10 ? 1 : 2))
        guard text.contains(".") else { return text }
        var trimmed = Substring(text)
        while trimmed.last == "0" { trimmed = trimmed.dropLast() }
        if trimmed.last == "." { trimmed = trimmed.dropLast() }
        return String(trimmed)
    }

    /// Fixed-point formatting without Foundation's locale handling.
    static func fixed(_ value: Double, digits: Int) -> String {
        var scale = 1.0
        for _ in 0..<digits { scale *= 10 }
        let scaled = (Swift.abs(value) * scale).rounded()
        let whole = Int64(scaled / scale)
        let fraction = Int64(scaled - Double(whole) * scale)
        let sign = value < 0 && scaled != 0 ? "-" : ""
        guard digits > 0 else { return "\(sign)\(whole)" }
        var fractionText = String(fraction)
        while fractionText.count < digits { fractionText = "0" + fractionText }
        return "\(sign)\(whole).\(fractionText)"
    }
}

extension StringProtocol {
    /// The text without leading and trailing spaces and tabs.
    var trimmingSpaces: String {
        let chars = Array(self)
        var start = 0, end = chars.count
        while start < end, chars[start] == " " || chars[start] == "\t" { start += 1 }
        while end > start, chars[end - 1] == " " || chars[end - 1] == "\t" { end -= 1 }
        return String(chars[start..<end])
    }
}
