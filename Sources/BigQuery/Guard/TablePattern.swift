/// A protected-table pattern: `project.dataset.table` or `dataset.table` (any project), where `*` matches any
/// run of characters within one part and `?` one character.
public struct TablePattern: Sendable, Hashable, CustomStringConvertible {
    /// The pattern as written.
    public let text: String
    private let parts: [String]

    /// Parses a pattern; the error says what is wrong with it.
    public init(_ text: String) throws(BigQueryError) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 2 || parts.count == 3 else {
            throw .invalidName("protected-table pattern '\(text)' must have the form [project.]dataset.table")
        }
        for part in parts {
            guard !part.isEmpty else { throw .invalidName("protected-table pattern '\(text)' has an empty part") }
            let unwild = String(part.map { $0 == "*" || $0 == "?" ? "a" : $0 })
            if let problem = Naming.unsafeCharacterProblem(unwild) {
                throw .invalidName("protected-table pattern '\(text)': \(problem)")
            }
        }
        self.text = text
        self.parts = parts.count == 2 ? ["*"] + parts : parts
    }

    /// The pattern as written.
    public var description: String { text }

    /// Whether the table matches.
    public func matches(_ table: TableReference) -> Bool {
        Self.glob(parts[0], table.projectId) && Self.glob(parts[1], table.datasetId)
            && Self.glob(parts[2], table.tableId)
    }

    /// Whether the table could match in some project (used when the project is not known yet): the
    /// project part of the pattern is taken to match, since the table may yet live in that project. For
    /// protection that is the safe reading.
    public func matches(datasetId: String, tableId: String) -> Bool {
        Self.glob(parts[1], datasetId) && Self.glob(parts[2], tableId)
    }

    /// Glob match of one part; BigQuery dataset and table ids are case-sensitive, project ids lowercase.
    static func glob(_ pattern: String, _ text: String) -> Bool {
        let p = Array(pattern.unicodeScalars)
        let t = Array(text.unicodeScalars)
        var pi = 0
        var ti = 0
        var starP = -1
        var starT = 0
        while ti < t.count {
            if pi < p.count, p[pi] == "?" || p[pi] == t[ti] {
                pi += 1
                ti += 1
            } else if pi < p.count, p[pi] == "*" {
                starP = pi
                starT = ti
                pi += 1
            } else if starP >= 0 {
                pi = starP + 1
                starT += 1
                ti = starT
            } else {
                return false
            }
        }
        while pi < p.count, p[pi] == "*" { pi += 1 }
        return pi == p.count
    }
}
