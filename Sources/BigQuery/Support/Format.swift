/// Numbers for people: byte counts as BigQuery bills them (powers of 10) and dollars.
public enum Format {
    /// A byte count for people: `1.5 GB`, `10 MB`, `512 B` (powers of 10, as BigQuery bills).
    public static func bytes(_ bytes: Int64) -> String {
        let magnitude = Swift.abs(Double(bytes))
        let units: [(Double, String)] = [(1e12, "TB"), (1e9, "GB"), (1e6, "MB"), (1e3, "KB")]
        for (scale, name) in units where magnitude >= scale {
            return "\(trim(Double(bytes) / scale)) \(name)"
        }
        return "\(bytes) B"
    }

    /// Dollars with enough digits to show a small cost: `$0.000057`, `$1.25`.
    public static func dollars(_ value: Double) -> String {
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
    public static func fixed(_ value: Double, digits: Int) -> String {
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
