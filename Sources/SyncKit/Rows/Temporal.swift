/// DATE, TIME, DATETIME and TIMESTAMP text: parsed strictly, written in the canonical form BigQuery casts from.
enum Temporal {
    /// A calendar date.
    struct Day: Hashable {
        var year: Int, month: Int, day: Int
        var text: String { pad(year, 4) + "-" + pad(month, 2) + "-" + pad(day, 2) }
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
        init(year: Int, month: Int, day: Int) { self.year = year; self.month = month; self.day = day }
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
    struct Clock: Hashable {
        var hour: Int, minute: Int, second: Int, micros: Int
        var text: String {
            pad(hour, 2) + ":" + pad(minute, 2) + ":" + pad(second, 2) + (micros > 0 ? "." + pad(micros, 6) : "")
        }
        var microsOfDay: Int64 { (Int64(hour) * 3600 + Int64(minute) * 60 + Int64(second)) * 1_000_000 + Int64(micros) }
    }

    static func pad(_ value: Int, _ width: Int) -> String {
        let text = String(value)
        return text.count >= width ? text : String(repeating: "0", count: width - text.count) + text
    }

    private static func number(_ text: Substring, digits: Int) -> Int? {
        guard text.count == digits, text.allSatisfy(\.isASCIIDigit) else { return nil }
        return Int(text)
    }

    /// `YYYY-MM-DD` (year 1…9999), checked against the calendar.
    static func date(_ text: Substring) -> Day? {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 3, let year = number(parts[0], digits: 4), let month = Int(parts[1]), let day = Int(parts[2]),
              (1...2).contains(parts[1].count), (1...2).contains(parts[2].count), parts[1].allSatisfy(\.isASCIIDigit),
              parts[2].allSatisfy(\.isASCIIDigit), year >= 1, (1...12).contains(month) else { return nil }
        let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
        let days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]
        guard (1...days).contains(day) else { return nil }
        return Day(year: year, month: month, day: day)
    }

    /// `HH:MM[:SS[.f…]]`, up to microseconds.
    static func time(_ text: Substring) -> Clock? {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard (2...3).contains(parts.count), let hour = number(parts[0], digits: 2), let minute = number(parts[1], digits: 2),
              hour < 24, minute < 60 else { return nil }
        var second = 0, micros = 0
        if parts.count == 3 {
            let pieces = parts[2].split(separator: ".", omittingEmptySubsequences: false)
            guard (1...2).contains(pieces.count), let s = number(pieces[0], digits: 2), s < 60 else { return nil }
            second = s
            if pieces.count == 2 {
                let fraction = pieces[1]
                guard (1...6).contains(fraction.count), fraction.allSatisfy(\.isASCIIDigit), let value = Int(fraction) else { return nil }
                micros = value * [100_000, 10_000, 1_000, 100, 10, 1][fraction.count - 1]
            }
        }
        return Clock(hour: hour, minute: minute, second: second, micros: micros)
    }

    /// `YYYY-MM-DD[ T]HH:MM[:SS[.f]]` → `YYYY-MM-DD HH:MM:SS[.ffffff]`.
    static func datetime(_ text: String) -> String? {
        guard let (day, clock, rest) = split(Substring(text)), rest.isEmpty else {
            if let day = date(Substring(text)) { return day.text + " 00:00:00" }
            return nil
        }
        return day.text + " " + clock.text
    }

    /// A timestamp as microseconds since the epoch (UTC): a date, a time and a zone (`Z`, `UTC`, `±HH[:MM]`;
    /// none means UTC), or a date alone (midnight UTC).
    static func timestampMicros(_ text: String) -> Int64? {
        if let day = date(Substring(text)) { return day.ordinal * 86_400_000_000 }
        guard let (day, clock, zone) = split(Substring(text)) else { return nil }
        var offsetSeconds = 0
        var rest = zone.drop { $0 == " " }
        if rest.isEmpty || rest == "Z" || rest == "z" || rest == "UTC" || rest == "+00" {
            offsetSeconds = 0
        } else {
            if rest.hasPrefix("UTC") { rest = rest.dropFirst(3) }
            guard let sign = rest.first, sign == "+" || sign == "-" else { return nil }
            let body = rest.dropFirst()
            let pieces = body.contains(":") ? body.split(separator: ":", omittingEmptySubsequences: false)
                : (body.count == 4 ? [body.prefix(2), body.suffix(2)] : [body])
            guard (1...2).contains(pieces.count), (1...2).contains(pieces[0].count), pieces[0].allSatisfy(\.isASCIIDigit),
                  let hours = Int(pieces[0]), hours <= 14 else { return nil }
            var minutes = 0
            if pieces.count == 2 {
                guard let m = number(pieces[1], digits: 2), m < 60 else { return nil }
                minutes = m
            }
            offsetSeconds = (hours * 3600 + minutes * 60) * (sign == "-" ? -1 : 1)
        }
        let micros = day.ordinal * 86_400_000_000 + clock.microsOfDay - Int64(offsetSeconds) * 1_000_000
        guard micros >= -62_135_596_800_000_000, micros <= 253_402_300_799_999_999 else { return nil }
        return micros
    }

    /// The canonical UTC text of a timestamp: `YYYY-MM-DD HH:MM:SS[.ffffff]+00`.
    static func timestampText(micros: Int64) -> String {
        var days = micros / 86_400_000_000
        var rest = micros % 86_400_000_000
        if rest < 0 { rest += 86_400_000_000; days -= 1 }
        let day = Day(ordinal: days)
        let seconds = Int(rest / 1_000_000)
        let clock = Clock(hour: seconds / 3600, minute: seconds / 60 % 60, second: seconds % 60, micros: Int(rest % 1_000_000))
        return day.text + " " + clock.text + "+00"
    }

    private static func split(_ text: Substring) -> (Day, Clock, Substring)? {
        guard text.count >= 16 else { return nil }
        let dateEnd = text.index(text.startIndex, offsetBy: 10)
        let separator = text[dateEnd]
        guard separator == " " || separator == "T" || separator == "t", let day = date(text[..<dateEnd]) else { return nil }
        let after = text[text.index(after: dateEnd)...]
        var timeEnd = after.startIndex
        while timeEnd < after.endIndex, after[timeEnd].isASCIIDigit || after[timeEnd] == ":" || after[timeEnd] == "." {
            timeEnd = after.index(after: timeEnd)
        }
        guard let clock = time(after[..<timeEnd]) else { return nil }
        return (day, clock, after[timeEnd...])
    }
}
