import YAML

/// Where a diagnostic points: a file (as the user named it) and a 1-based line and column.
public struct SourceLocation: Sendable, Hashable, Codable, Comparable, CustomStringConvertible {
    /// The file path as displayed.
    public var file: String
    /// 1-based line.
    public var line: Int
    /// 1-based column.
    public var column: Int

    /// Creates a location.
    public init(file: String, line: Int, column: Int) {
        self.file = file
        self.line = line
        self.column = column
    }

    /// Creates a location from a YAML mark.
    public init(file: String, mark: Mark) {
        self.init(file: file, line: mark.line, column: mark.column)
    }

    /// `file:line:column`.
    public var description: String { "\(file):\(line):\(column)" }

    /// Orders by file, then line, then column.
    public static func < (lhs: SourceLocation, rhs: SourceLocation) -> Bool {
        (lhs.file, lhs.line, lhs.column) < (rhs.file, rhs.line, rhs.column)
    }
}

/// One finding about the user's input: an error or a warning, where it is, and the source line for a caret.
public struct Diagnostic: Sendable, Hashable, Codable, CustomStringConvertible {
    /// How bad it is.
    public enum Severity: String, Sendable, Hashable, Codable {
        /// Makes the command fail.
        case error
        /// Worth a look; does not fail the command.
        case warning
    }

    /// How bad it is.
    public var severity: Severity
    /// What is wrong, lowercase, no location.
    public var message: String
    /// Where, when there is a place to point at.
    public var location: SourceLocation?
    /// The text of the line the location points into, for the caret display.
    public var sourceLine: String?
    /// Further context ("first defined at …").
    public var notes: [String]
    /// Whether the error is a refusal by policy (a protected target) rather than a mistake in the file.
    public var isRefusal = false

    /// Creates a diagnostic.
    public init(
        _ severity: Severity, _ message: String, at location: SourceLocation? = nil, sourceLine: String? = nil,
        notes: [String] = []
    ) {
        self.severity = severity
        self.message = message
        self.location = location
        self.sourceLine = sourceLine.map(Self.maskingPasswords)
        self.notes = notes
    }

    /// The line with the password of any `scheme://user:password@` in it masked: the line of a definition that
    /// wrongly holds a credential is shown under its error, in terminals and CI logs.
    static func maskingPasswords(_ line: String) -> String {
        var line = line
        // A `password=` parameter, in a URI's query or a `key=value` string.
        if let found = line.range(of: "password=", options: .caseInsensitive) {
            let value = line[found.upperBound...].prefix { !"&# \t\"'".contains($0) }
            line.replaceSubrange(found.upperBound..<value.endIndex, with: PostgresSource.mask)
        }
        guard line.contains("://"), line.contains("@") else { return line }
        var out = ""
        var rest = Substring(line)
        while let scheme = rest.range(of: "://") {
            out += rest[..<scheme.upperBound]
            rest = rest[scheme.upperBound...]
            let authority = rest.prefix { !"/?# \t\"'".contains($0) }
            if let at = authority.lastIndex(of: "@"), let colon = authority[..<at].firstIndex(of: ":") {
                out += authority[...colon] + PostgresSource.mask
                rest = rest[at...]
            }
        }
        return out + rest
    }

    /// `file:line:col: error: message`.
    public var description: String {
        let prefix = location.map { "\($0): " } ?? ""
        return "\(prefix)\(severity.rawValue): \(message)"
    }
}

extension Array where Element == Diagnostic {
    /// Whether any of these is an error.
    public var hasErrors: Bool { contains { $0.severity == .error } }
}
