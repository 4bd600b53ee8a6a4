/// The check of a query source's text: one SELECT, read with strings, quoted identifiers and comments skipped.
extension SyncDecoder {
    /// A query source must be one SELECT (or WITH … SELECT, possibly in parentheses): it becomes the MERGE's
    /// `USING (…)`. Strings, quoted identifiers and comments are skipped, so a `;` inside them is fine, and
    /// so is a final `;`.
    static func queryProblem(_ query: String) -> String? {
        let chars = Array(query.unicodeScalars)
        var index = 0
        var firstWord: String?
        var sawOpenParen = false
        var statementEnded = false
        while index < chars.count {
            let piece: QueryPiece
            if let trivia = triviaPiece(chars, at: index) {
                piece = trivia
            } else if statementEnded {
                return "must be a single statement (found ';' followed by more)"
            } else {
                piece = contentPiece(chars, at: index)
            }
            switch piece {
            case .skip(let end):
                index = end
            case .semicolon:
                statementEnded = true
                index += 1
            case .openParen:
                if firstWord == nil { sawOpenParen = true }
                index += 1
            case .text(let text, let end):
                if firstWord == nil { firstWord = text }
                index = end
            case .problem(let problem):
                return problem
            }
        }
        let keyword = firstWord?.uppercased() ?? ""
        guard keyword == "SELECT" || keyword == "WITH" else {
            let found = keyword.isEmpty ? "nothing" : quote(firstWord ?? "")
            return "must be a SELECT (or WITH … SELECT) query, not \(found)\(sawOpenParen ? " in parentheses" : "")"
        }
        return nil
    }

    /// What `queryProblem` reads at one place of a query.
    private enum QueryPiece {
        /// Whitespace or a comment, up to `end`.
        case skip(to: Int)
        case semicolon
        case openParen
        /// A word, a string or quoted identifier (its first 20 characters), or any other one character, up to `end`.
        case text(String, to: Int)
        /// An unterminated comment, string or quoted identifier.
        case problem(String)
    }

    /// Whitespace, a comment or a `;` at `index`; nil when something else starts there.
    private static func triviaPiece(_ chars: [Unicode.Scalar], at index: Int) -> QueryPiece? {
        let c = chars[index]
        let next: Unicode.Scalar? = index + 1 < chars.count ? chars[index + 1] : nil
        if c.properties.isWhitespace { return .skip(to: index + 1) }
        if (c == "-" && next == "-") || c == "#" {
            var end = index
            while end < chars.count, chars[end] != "\n", chars[end] != "\r" { end += 1 }
            return .skip(to: end)
        }
        if c == "/" && next == "*" {
            var end = index + 2
            while end + 1 < chars.count, !(chars[end] == "*" && chars[end + 1] == "/") { end += 1 }
            guard end + 1 < chars.count else { return .problem("an unterminated /* comment") }
            return .skip(to: end + 2)
        }
        // Final semicolons are fine; anything else after one is a second statement.
        return c == ";" ? .semicolon : nil
    }

    /// The string, quoted identifier, word, `(` or other character at `index`.
    private static func contentPiece(_ chars: [Unicode.Scalar], at index: Int) -> QueryPiece {
        let c = chars[index]
        if c == "'" || c == "\"" || c == "`" {
            guard let end = quotedEnd(chars, at: index) else {
                return .problem(c == "`" ? "an unterminated `quoted identifier`" : "an unterminated string")
            }
            return .text(String(String.UnicodeScalarView(chars[index..<min(end, index + 20)])), to: end)
        }
        if isWordChar(c) {
            var end = index
            while end < chars.count, isWordChar(chars[end]) { end += 1 }
            return .text(String(String.UnicodeScalarView(chars[index..<end])), to: end)
        }
        return c == "(" ? .openParen : .text(String(c), to: index + 1)
    }

    /// Just past the closing quote of the string or quoted identifier opening at `index` (one quote, or three of
    /// ' or "; backslash escapes skipped); nil when it is unterminated (a one-quote string ends at a line break).
    private static func quotedEnd(_ chars: [Unicode.Scalar], at index: Int) -> Int? {
        let c = chars[index]
        let triple = c != "`" && index + 2 < chars.count && chars[index + 1] == c && chars[index + 2] == c
        let quote = triple ? 3 : 1
        var end = index + quote
        while end < chars.count {
            if chars[end] == "\\" {
                end += 2
                continue
            }
            if !triple, chars[end] == "\n" || chars[end] == "\r" { return nil }
            if chars[end] == c, !triple || (end + 2 < chars.count && chars[end + 1] == c && chars[end + 2] == c) {
                return end + quote
            }
            end += 1
        }
        return nil
    }

    private static func isWordChar(_ c: Unicode.Scalar) -> Bool {
        c.properties.isAlphabetic || ("0"..."9").contains(c) || c == "_"
    }

}
