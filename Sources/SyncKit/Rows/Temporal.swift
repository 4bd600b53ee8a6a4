/// DATE, TIME, DATETIME and TIMESTAMP text: parsed strictly, written in the canonical form BigQuery casts from.
enum Temporal {
    /// A calendar date.
    struct Day: Hashable, CanonicalText {
        var year: Int, month: Int, day: Int
        func write(to out: inout [UInt8]) {
            appendDigits(year, 4, to: &out)
            out.append(UInt8(ascii: "-"))
            appendDigits(month, 2, to: &out)
            out.append(UInt8(ascii: "-"))
            appendDigits(day, 2, to: &out)
        }
        /// Days since 1970-01-01.
        var ordinal: Int64 {
            let y = Int64(month <= 2 ? year - 1 : year)
            let era = (y >= 0 ? y : y - 399) / 400
            let yoe = y - era * 400
            let m = Int64(month)
            let doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + Int64(day) - 1
            let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
            return era * 146_097 + doe - 719_468
        }
        init(year: Int, month: Int, day: Int) {
            self.year = year
            self.month = month
            self.day = day
        }
        init(ordinal: Int64) {
            let z = ordinal + 719_468
            let era = (z >= 0 ? z : z - 146_096) / 146_097
            let doe = z - era * 146_097
            let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
            let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
            let mp = (5 * doy + 2) / 153
            let d = doy - (153 * mp + 2) / 5 + 1
            let m = mp < 10 ? mp + 3 : mp - 9
            self.init(year: Int(yoe + era * 400 + (m <= 2 ? 1 : 0)), month: Int(m), day: Int(d))
        }
    }

    /// A time of day with microseconds.
    struct Clock: Hashable, CanonicalText {
        var hour: Int, minute: Int, second: Int, micros: Int
        func write(to out: inout [UInt8]) {
            appendDigits(hour, 2, to: &out)
            out.append(UInt8(ascii: ":"))
            appendDigits(minute, 2, to: &out)
            out.append(UInt8(ascii: ":"))
            appendDigits(second, 2, to: &out)
            if micros > 0 {
                out.append(UInt8(ascii: "."))
                appendDigits(micros, 6, to: &out)
            }
        }
        var microsOfDay: Int64 { (Int64(hour) * 3600 + Int64(minute) * 60 + Int64(second)) * 1_000_000 + Int64(micros) }
    }

    static func pad(_ value: Int, _ width: Int) -> String {
        var out: [UInt8] = []
        appendDigits(value, width, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Appends a non-negative number in decimal, zero-padded to `width` digits.
    static func appendDigits(_ value: Int, _ width: Int, to out: inout [UInt8]) {
        var digits:
            (
                UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                UInt8,
                UInt8, UInt8, UInt8, UInt8
            ) = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var count = 0
        var rest = value.magnitude
        withUnsafeMutableBytes(of: &digits) { buffer in
            repeat {
                buffer[count] = UInt8(ascii: "0") + UInt8(rest % 10)
                rest /= 10
                count += 1
            } while rest > 0
            if value < 0 { out.append(UInt8(ascii: "-")) }
            if count < width { out.append(contentsOf: repeatElement(UInt8(ascii: "0"), count: width - count)) }
            for index in stride(from: count - 1, through: 0, by: -1) { out.append(buffer[index]) }
        }
    }

    // MARK: - parsing, on the UTF-8 bytes (every accepted form is ASCII)

    private typealias Bytes = UnsafeBufferPointer<UInt8>

    private static func withBytes<R>(_ text: Substring, _ body: (Bytes) -> R) -> R {
        if let result = text.utf8.withContiguousStorageIfAvailable(body) { return result }
        return Array(text.utf8).withUnsafeBufferPointer(body)
    }

    private static func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }

    /// The decimal value of `bytes[range]` when it is 1 to 6 digits and nothing else.
    private static func number(_ bytes: Bytes, _ range: Range<Int>) -> Int? {
        guard (1...6).contains(range.count) else { return nil }
        var value = 0
        for index in range {
            guard isDigit(bytes[index]) else { return nil }
            value = value * 10 + Int(bytes[index] - UInt8(ascii: "0"))
        }
        return value
    }

    /// The first positions of a separator in a range: at most three are kept, and `count` stops at `limit` + 1
    /// (enough to tell "too many"). Held inline: the parsers run once per value, and an array would allocate.
    private struct Positions {
        private var found: (Int, Int, Int) = (0, 0, 0)
        private(set) var count = 0
        var first: Int? { count > 0 ? found.0 : nil }
        subscript(index: Int) -> Int { index == 0 ? found.0 : index == 1 ? found.1 : found.2 }
        mutating func append(_ position: Int) {
            switch count {
            case 0: found.0 = position
            case 1: found.1 = position
            case 2: found.2 = position
            default: break
            }
            count += 1
        }
    }

    /// The positions of `separator` in `range`, at most `limit` + 1 of them (`limit` at most 2).
    private static func positions(of separator: UInt8, in bytes: Bytes, _ range: Range<Int>, limit: Int) -> Positions {
        var found = Positions()
        for index in range where bytes[index] == separator {
            found.append(index)
            if found.count > limit { break }
        }
        return found
    }

    /// `YYYY-MM-DD` (year 1…9999), checked against the calendar.
    static func date(_ text: Substring) -> Day? {
        withBytes(text) { date($0, 0..<$0.count) }
    }

    private static func date(_ bytes: Bytes, _ range: Range<Int>) -> Day? {
        let dashes = positions(of: UInt8(ascii: "-"), in: bytes, range, limit: 2)
        guard dashes.count == 2, dashes[0] - range.lowerBound == 4, (1...2).contains(dashes[1] - dashes[0] - 1),
            (1...2).contains(range.upperBound - dashes[1] - 1),
            let year = number(bytes, range.lowerBound..<dashes[0]),
            let month = number(bytes, dashes[0] + 1..<dashes[1]),
            let day = number(bytes, dashes[1] + 1..<range.upperBound), year >= 1, (1...12).contains(month)
        else { return nil }
        let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
        let days = month == 2 ? (leap ? 29 : 28) : (month == 4 || month == 6 || month == 9 || month == 11 ? 30 : 31)
        guard (1...days).contains(day) else { return nil }
        return Day(year: year, month: month, day: day)
    }

    /// `HH:MM[:SS[.f…]]`, up to microseconds.
    static func time(_ text: Substring) -> Clock? {
        withBytes(text) { time($0, 0..<$0.count) }
    }

    private static func time(_ bytes: Bytes, _ range: Range<Int>) -> Clock? {
        let colons = positions(of: UInt8(ascii: ":"), in: bytes, range, limit: 2)
        guard (1...2).contains(colons.count), colons[0] - range.lowerBound == 2,
            let hour = number(bytes, range.lowerBound..<colons[0]), hour < 24
        else { return nil }
        let minuteEnd = colons.count == 2 ? colons[1] : range.upperBound
        guard minuteEnd - colons[0] - 1 == 2, let minute = number(bytes, colons[0] + 1..<minuteEnd), minute < 60 else {
            return nil
        }
        var second = 0
        var micros = 0
        if colons.count == 2 {
            let seconds = colons[1] + 1..<range.upperBound
            let dots = positions(of: UInt8(ascii: "."), in: bytes, seconds, limit: 1)
            guard dots.count <= 1 else { return nil }
            let secondEnd = dots.first ?? seconds.upperBound
            guard secondEnd - seconds.lowerBound == 2, let s = number(bytes, seconds.lowerBound..<secondEnd), s < 60
            else { return nil }
            second = s
            if let dot = dots.first {
                let fraction = dot + 1..<seconds.upperBound
                guard let value = number(bytes, fraction) else { return nil }
                micros = value * [100_000, 10_000, 1_000, 100, 10, 1][fraction.count - 1]
            }
        }
        return Clock(hour: hour, minute: minute, second: second, micros: micros)
    }

    /// `YYYY-MM-DD[ T]HH:MM[:SS[.f]]` → `YYYY-MM-DD HH:MM:SS[.ffffff]`.
    static func datetime(_ text: String) -> String? {
        withBytes(Substring(text)) { bytes in
            let all = 0..<bytes.count
            guard let (day, clock, zone) = split(bytes, all), zone.isEmpty else {
                if let day = date(bytes, all) { return day.text + " 00:00:00" }
                return nil
            }
            return day.text + " " + clock.text
        }
    }

    /// A timestamp as microseconds since the epoch (UTC): a date, a time and a zone (`Z`, `UTC`, `±HH[:MM]`;
    /// none means UTC), or a date alone (midnight UTC).
    static func timestampMicros(_ text: String) -> Int64? {
        withBytes(Substring(text)) { timestampMicros(utf8: $0) }
    }

    /// `timestampMicros` of UTF-8 bytes.
    static func timestampMicros(utf8 bytes: UnsafeBufferPointer<UInt8>) -> Int64? {
        let all = 0..<bytes.count
        if let day = date(bytes, all) { return day.ordinal * 86_400_000_000 }
        guard let (day, clock, zoneRange) = split(bytes, all) else { return nil }
        var zone = zoneRange
        while let first = zone.first, bytes[first] == UInt8(ascii: " ") { zone = first + 1..<zone.upperBound }
        guard let offsetSeconds = offset(bytes, zone) else { return nil }
        let micros = day.ordinal * 86_400_000_000 + clock.microsOfDay - Int64(offsetSeconds) * 1_000_000
        guard micros >= -62_135_596_800_000_000, micros <= 253_402_300_799_999_999 else { return nil }
        return micros
    }

    /// Appends the canonical text of a timestamp in the shape most sources write, and returns true:
    /// `YYYY-MM-DD[T t]HH:MM:SS[.f…]` (1 to 6 fraction digits), in UTC (`Z`, `z` or no zone), which is read at
    /// fixed places and written back field by field (in UTC they are the value's own). Anything else, or a field
    /// out of range, returns false and appends nothing: `timestampMicros` decides it.
    static func writeUTCTimestamp(utf8 bytes: UnsafeBufferPointer<UInt8>, to out: inout [UInt8]) -> Bool {
        let count = bytes.count
        guard count >= 19, bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-"),
            bytes[10] == UInt8(ascii: "T") || bytes[10] == UInt8(ascii: " ") || bytes[10] == UInt8(ascii: "t"),
            bytes[13] == UInt8(ascii: ":"), bytes[16] == UInt8(ascii: ":")
        else { return false }
        func digits(_ from: Int, _ width: Int) -> Int? {
            var value = 0
            for index in from..<from + width {
                let digit = bytes[index] &- UInt8(ascii: "0")
                guard digit < 10 else { return nil }
                value = value * 10 + Int(digit)
            }
            return value
        }
        guard let year = digits(0, 4), let month = digits(5, 2), let day = digits(8, 2), let hour = digits(11, 2),
            let minute = digits(14, 2), let second = digits(17, 2), year >= 1, (1...12).contains(month), hour < 24,
            minute < 60, second < 60
        else { return false }
        let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
        let days = month == 2 ? (leap ? 29 : 28) : (month == 4 || month == 6 || month == 9 || month == 11 ? 30 : 31)
        guard (1...days).contains(day) else { return false }
        var end = 19
        var fraction = 0
        if end < count, bytes[end] == UInt8(ascii: ".") {
            end += 1
            let first = end
            while end < count, end - first < 7, let digit = digits(end, 1) {
                fraction = fraction * 10 + digit
                end += 1
            }
            guard (1...6).contains(end - first) else { return false }
            for _ in (end - first)..<6 { fraction *= 10 }
        }
        guard end == count || (end + 1 == count && (bytes[end] == UInt8(ascii: "Z") || bytes[end] == UInt8(ascii: "z")))
        else { return false }
        out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[0..<10]))
        out.append(UInt8(ascii: " "))
        out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[11..<19]))
        if fraction > 0 {
            out.append(UInt8(ascii: "."))
            appendDigits(fraction, 6, to: &out)
        }
        out.append(UInt8(ascii: "+"))
        out.append(UInt8(ascii: "0"))
        out.append(UInt8(ascii: "0"))
        return true
    }

    /// `date` of UTF-8 bytes.
    static func date(utf8 bytes: UnsafeBufferPointer<UInt8>) -> Day? { date(bytes, 0..<bytes.count) }

    /// A zone's offset east of UTC in seconds: empty, `Z`, `z`, `UTC`, `+00`, or `[UTC]±H[H][[:]MM]` up to ±14 hours.
    private static func offset(_ bytes: Bytes, _ zone: Range<Int>) -> Int? {
        func equals(_ range: Range<Int>, _ literal: StaticString) -> Bool {
            range.count == literal.utf8CodeUnitCount
                && range.enumerated().allSatisfy { bytes[$0.element] == literal.utf8Start[$0.offset] }
        }
        if zone.isEmpty || equals(zone, "Z") || equals(zone, "z") || equals(zone, "UTC") || equals(zone, "+00") {
            return 0
        }
        var rest = zone
        if rest.count >= 3, equals(rest.lowerBound..<rest.lowerBound + 3, "UTC") {
            rest = rest.lowerBound + 3..<rest.upperBound
        }
        guard let first = rest.first, bytes[first] == UInt8(ascii: "+") || bytes[first] == UInt8(ascii: "-") else {
            return nil
        }
        let sign = bytes[first] == UInt8(ascii: "-") ? -1 : 1
        let body = first + 1..<rest.upperBound
        let colons = positions(of: UInt8(ascii: ":"), in: bytes, body, limit: 1)
        let hours: Range<Int>
        let minutes: Range<Int>?
        if let colon = colons.first {
            guard colons.count == 1 else { return nil }
            hours = body.lowerBound..<colon
            minutes = colon + 1..<body.upperBound
        } else if body.count == 4 {
            hours = body.lowerBound..<body.lowerBound + 2
            minutes = body.lowerBound + 2..<body.upperBound
        } else {
            hours = body
            minutes = nil
        }
        guard (1...2).contains(hours.count), let h = number(bytes, hours), h <= 14 else { return nil }
        var m = 0
        if let minutes {
            guard minutes.count == 2, let value = number(bytes, minutes), value < 60 else { return nil }
            m = value
        }
        return (h * 3600 + m * 60) * sign
    }

    /// The canonical UTC text of a timestamp: `YYYY-MM-DD HH:MM:SS[.ffffff]+00`.
    static func timestampText(micros: Int64) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(32)
        writeTimestamp(micros: micros, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Appends `timestampText(micros:)`'s UTF-8, written into a buffer on the stack and appended at once.
    static func writeTimestamp(micros: Int64, to out: inout [UInt8]) {
        var days = micros / 86_400_000_000
        var rest = micros % 86_400_000_000
        if rest < 0 {
            rest += 86_400_000_000
            days -= 1
        }
        let day = Day(ordinal: days)
        let seconds = Int(rest / 1_000_000)
        let fraction = Int(rest % 1_000_000)
        guard (1...9999).contains(day.year) else {
            // Outside the range a TIMESTAMP holds: written digit by digit (no parsed value gets here).
            day.write(to: &out)
            out.append(UInt8(ascii: " "))
            Clock(hour: seconds / 3600, minute: seconds / 60 % 60, second: seconds % 60, micros: fraction)
                .write(to: &out)
            out.append(contentsOf: "+00".utf8)
            return
        }
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 32) { buffer in
            func put(_ value: Int, _ width: Int, at end: Int) {
                var rest = value
                for index in stride(from: end - 1, through: end - width, by: -1) {
                    buffer[index] = UInt8(ascii: "0") + UInt8(rest % 10)
                    rest /= 10
                }
            }
            // YYYY-MM-DD HH:MM:SS[.ffffff]+00
            put(day.year, 4, at: 4)
            buffer[4] = UInt8(ascii: "-")
            put(day.month, 2, at: 7)
            buffer[7] = UInt8(ascii: "-")
            put(day.day, 2, at: 10)
            buffer[10] = UInt8(ascii: " ")
            put(seconds / 3600, 2, at: 13)
            buffer[13] = UInt8(ascii: ":")
            put(seconds / 60 % 60, 2, at: 16)
            buffer[16] = UInt8(ascii: ":")
            put(seconds % 60, 2, at: 19)
            var count = 19
            if fraction > 0 {
                buffer[19] = UInt8(ascii: ".")
                put(fraction, 6, at: 26)
                count = 26
            }
            buffer[count] = UInt8(ascii: "+")
            buffer[count + 1] = UInt8(ascii: "0")
            buffer[count + 2] = UInt8(ascii: "0")
            out.append(contentsOf: UnsafeBufferPointer(rebasing: buffer[0..<count + 3]))
        }
    }

    /// A date and a time of day `[ Tt]` apart, and the range after the time (the zone, if any).
    private static func split(_ bytes: Bytes, _ range: Range<Int>) -> (Day, Clock, Range<Int>)? {
        guard range.count >= 16 else { return nil }
        let dateEnd = range.lowerBound + 10
        let separator = bytes[dateEnd]
        guard separator == UInt8(ascii: " ") || separator == UInt8(ascii: "T") || separator == UInt8(ascii: "t"),
            let day = date(bytes, range.lowerBound..<dateEnd)
        else { return nil }
        var timeEnd = dateEnd + 1
        while timeEnd < range.upperBound,
            isDigit(bytes[timeEnd]) || bytes[timeEnd] == UInt8(ascii: ":") || bytes[timeEnd] == UInt8(ascii: ".")
        {
            timeEnd += 1
        }
        guard let clock = time(bytes, dateEnd + 1..<timeEnd) else { return nil }
        return (day, clock, timeEnd..<range.upperBound)
    }
}

/// A value written in its canonical ASCII form.
protocol CanonicalText {
    func write(to out: inout [UInt8])
}

extension CanonicalText {
    /// The canonical form as a string.
    var text: String {
        var out: [UInt8] = []
        write(to: &out)
        return String(decoding: out, as: UTF8.self)
    }
}
