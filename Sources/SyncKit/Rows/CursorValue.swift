import BigQuery

/// A value of an incremental sync's cursor column, ordered as BigQuery orders its type: TIMESTAMP and DATETIME
/// as microseconds, DATE as days, INT64 as an integer, NUMERIC as a decimal.
package struct CursorValue: Sendable, Hashable, Comparable, CustomStringConvertible {
    enum Value: Hashable {
        case micros(Int64)
        case days(Int64)
        case integer(Int64)
        /// Canonical NUMERIC text: an optional `-`, digits without leading zeros, an optional fraction.
        case decimal(String)
    }

    let type: FieldType
    let value: Value

    /// Parses `text` of the cursor's type (any form bqsync reads for that type).
    package init(text: String, type: FieldType) throws(ConversionProblem) {
        guard IncrementalSpec.cursorTypes.contains(type) else {
            throw ConversionProblem("a cursor cannot be \(type.rawValue)")
        }
        let canonical = try ValueConversion.scalar(text, as: type)
        try self.init(canonical: canonical, type: type)
    }

    /// A value from its canonical text (what `ValueConversion` makes of a source value).
    init(canonical: String, type: FieldType) throws(ConversionProblem) {
        self.type = type
        switch type {
        case .timestamp, .datetime:
            guard let micros = Temporal.timestampMicros(canonical) else {
                throw ConversionProblem("invalid \(type.rawValue) cursor \(ValueConversion.quoted(canonical))")
            }
            value = .micros(micros)
        case .date:
            guard let day = Temporal.date(Substring(canonical)) else {
                throw ConversionProblem("invalid DATE cursor \(ValueConversion.quoted(canonical))")
            }
            value = .days(day.ordinal)
        case .int64:
            guard let integer = Int64(canonical) else {
                throw ConversionProblem("invalid INT64 cursor \(ValueConversion.quoted(canonical))")
            }
            value = .integer(integer)
        default:
            value = .decimal(canonical)
        }
    }

    /// Whether a lag (a duration) can be taken off a cursor of this type.
    static func takesLag(_ type: FieldType) -> Bool { type == .timestamp || type == .datetime || type == .date }

    /// This value less `lag` (a DATE by whole days, rounded up); the value itself for types without a lag.
    func minus(_ lag: Duration) -> CursorValue {
        let (seconds, attoseconds) = lag.components
        let micros = seconds * 1_000_000 + attoseconds / 1_000_000_000_000
        var copy = self
        switch value {
        case .micros(let value): copy = CursorValue(type: type, value: .micros(value - micros))
        case .days(let value):
            let days = (micros + 86_400_000_000 - 1) / 86_400_000_000
            copy = CursorValue(type: type, value: .days(value - days))
        default: break
        }
        return copy
    }

    private init(type: FieldType, value: Value) {
        self.type = type
        self.value = value
    }

    /// Canonical text of the type: what the plan shows, the state keeps, and queries take as a parameter.
    package var text: String {
        switch value {
        case .micros(let micros):
            let text = Temporal.timestampText(micros: micros)
            // DATETIME has no zone: the same digits without the `+00`.
            return type == .datetime ? String(text.dropLast(3)) : text
        case .days(let days): return Temporal.Day(ordinal: days).text
        case .integer(let integer): return String(integer)
        case .decimal(let text): return text
        }
    }

    package var description: String { text }

    package static func < (lhs: CursorValue, rhs: CursorValue) -> Bool {
        switch (lhs.value, rhs.value) {
        case (.micros(let a), .micros(let b)), (.days(let a), .days(let b)), (.integer(let a), .integer(let b)):
            return a < b
        case (.decimal(let a), .decimal(let b)):
            return Self.decimalLess(a, b)
        default:
            return false
        }
    }

    /// Orders canonical decimal text: sign, then the integer part's length and digits, then the fraction.
    static func decimalLess(_ a: String, _ b: String) -> Bool {
        let negativeA = a.hasPrefix("-")
        let negativeB = b.hasPrefix("-")
        if negativeA != negativeB { return negativeA }
        let magnitudeA = negativeA ? String(a.dropFirst()) : a
        let magnitudeB = negativeB ? String(b.dropFirst()) : b
        let less = magnitudeLess(magnitudeA, magnitudeB)
        let equal = magnitudeA == magnitudeB
        return negativeA ? (!less && !equal) : less
    }

    private static func magnitudeLess(_ a: String, _ b: String) -> Bool {
        let partsA = a.split(separator: ".", omittingEmptySubsequences: false)
        let partsB = b.split(separator: ".", omittingEmptySubsequences: false)
        let integerA = partsA[0].drop(while: { $0 == "0" })
        let integerB = partsB[0].drop(while: { $0 == "0" })
        if integerA.count != integerB.count { return integerA.count < integerB.count }
        if integerA != integerB { return integerA < integerB }
        var fractionA = partsA.count > 1 ? String(partsA[1]) : ""
        var fractionB = partsB.count > 1 ? String(partsB[1]) : ""
        let width = max(fractionA.count, fractionB.count)
        fractionA += String(repeating: "0", count: width - fractionA.count)
        fractionB += String(repeating: "0", count: width - fractionB.count)
        return fractionA < fractionB
    }
}

/// The rows an incremental sync reads this run: past `after` (exclusive; nil from the start) and, once a plan has
/// fixed it, up to `through` (inclusive), by the cursor column. A row whose cursor is NULL is in the window only
/// when the window has no lower bound (a first run without `initial`, or a full refresh without one).
package struct CursorWindow: Sendable, Hashable {
    package var column: Int
    package var after: CursorValue?
    package var from: CursorValue?
    package var through: CursorValue?

    package init(column: Int, after: CursorValue? = nil, from: CursorValue? = nil, through: CursorValue? = nil) {
        self.column = column
        self.after = after
        self.from = from
        self.through = through
    }

    /// `after`: strictly greater than; `from`: greater than or equal (`initial`).
    package func admits(_ value: CursorValue?) -> Bool {
        guard let value else { return after == nil && from == nil }
        if let after, !(after < value) { return false }
        if let from, value < from { return false }
        if let through, through < value { return false }
        return true
    }
}
