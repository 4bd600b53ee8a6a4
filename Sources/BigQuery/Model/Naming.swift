/// BigQuery's naming rules for the identifiers bqsync puts into SQL, kept to a safe subset.
///
/// Each check returns nil when the name is fine, or a short lowercase problem. Anything that could leave a
/// backtick-quoted identifier (backticks, backslashes, newlines, control characters) is always refused, and so
/// are non-ASCII characters, which could make one table look like another.
public enum Naming {
    /// Project ids: 6–30 lowercase letters, digits and hyphens, starting with a letter, not ending with a hyphen.
    public static func projectProblem(_ name: String) -> String? {
        if let problem = unsafeCharacterProblem(name) { return problem }
        guard (6...30).contains(name.count) else { return "a project id has 6 to 30 characters (got \(name.count))" }
        guard let first = name.unicodeScalars.first, isLower(first) else {
            return "a project id starts with a lowercase letter"
        }
        guard name.unicodeScalars.allSatisfy({ isLower($0) || isDigit($0) || $0 == "-" }) else {
            return "a project id holds only lowercase letters, digits and hyphens"
        }
        guard !name.hasSuffix("-") else { return "a project id does not end with a hyphen" }
        return nil
    }

    /// Dataset ids: letters, digits and underscores, at most 1,024 characters.
    public static func datasetProblem(_ name: String) -> String? {
        if let problem = unsafeCharacterProblem(name) { return problem }
        guard !name.isEmpty else { return "a dataset id is empty" }
        guard name.utf8.count <= 1024 else { return "a dataset id has at most 1,024 characters" }
        guard name.unicodeScalars.allSatisfy({ isLetter($0) || isDigit($0) || $0 == "_" }) else {
            return "a dataset id holds only letters, digits and underscores"
        }
        return nil
    }

    /// Table ids: letters, digits, underscores and hyphens, at most 1,024 bytes.
    public static func tableProblem(_ name: String) -> String? {
        if let problem = unsafeCharacterProblem(name) { return problem }
        guard !name.isEmpty else { return "a table id is empty" }
        guard name.utf8.count <= 1024 else { return "a table id has at most 1,024 bytes" }
        guard name.unicodeScalars.allSatisfy({ isLetter($0) || isDigit($0) || $0 == "_" || $0 == "-" }) else {
            return "a table id holds only letters, digits, underscores and hyphens"
        }
        return nil
    }

    /// Column names: letters, digits and underscores, starting with a letter or underscore, at most 300
    /// characters, none of BigQuery's reserved prefixes, nor bqsync's own `_bqsync_`.
    public static func columnProblem(_ name: String) -> String? {
        if let problem = unsafeCharacterProblem(name) { return problem }
        guard !name.isEmpty else { return "a column name is empty" }
        guard name.count <= 300 else { return "a column name has at most 300 characters" }
        guard let first = name.unicodeScalars.first, isLetter(first) || first == "_" else {
            return "a column name starts with a letter or an underscore"
        }
        guard name.unicodeScalars.allSatisfy({ isLetter($0) || isDigit($0) || $0 == "_" }) else {
            return "a column name holds only letters, digits and underscores"
        }
        let upper = name.uppercased()
        for prefix in reservedColumnPrefixes where upper.hasPrefix(prefix) {
            return "column names starting with '\(prefix)' are reserved"
        }
        return nil
    }

    /// Prefixes BigQuery (and bqsync, for its own helper columns) reserve.
    public static let reservedColumnPrefixes = [
        "_TABLE_", "_FILE_", "_PARTITION", "_ROW_TIMESTAMP", "__ROOT__", "_COLON_", "_CHANGE_", "_BQSYNC_",
    ]

    /// Characters that could break out of a backtick-quoted identifier or hide a look-alike.
    public static func unsafeCharacterProblem(_ name: String) -> String? {
        for scalar in name.unicodeScalars {
            switch scalar {
            case "`": return "a backtick is not allowed in a name"
            case "\\": return "a backslash is not allowed in a name"
            case "\n", "\r": return "a line break is not allowed in a name"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F { return "control characters are not allowed in a name" }
                if !scalar.isASCII {
                    return
                        "non-ASCII character U+\(String(scalar.value, radix: 16, uppercase: true)) is not allowed in a name (look-alike characters could name a different object)"
                }
            }
        }
        return nil
    }

    private static func isLower(_ s: Unicode.Scalar) -> Bool { ("a"..."z").contains(s) }
    private static func isLetter(_ s: Unicode.Scalar) -> Bool { ("a"..."z").contains(s) || ("A"..."Z").contains(s) }
    private static func isDigit(_ s: Unicode.Scalar) -> Bool { ("0"..."9").contains(s) }
}
