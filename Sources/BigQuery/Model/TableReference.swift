/// A fully qualified BigQuery table: project, dataset and table ids, each checked by `Naming`.
public struct TableReference: Sendable, Hashable, Codable, Comparable, CustomStringConvertible {
    /// The project id.
    public var projectId: String
    /// The dataset id.
    public var datasetId: String
    /// The table id.
    public var tableId: String

    /// Creates a reference, refusing names that break BigQuery's rules.
    public init(projectId: String, datasetId: String, tableId: String) throws(BigQueryError) {
        if let problem = Naming.projectProblem(projectId) { throw .invalidName("project '\(projectId)': \(problem)") }
        if let problem = Naming.datasetProblem(datasetId) { throw .invalidName("dataset '\(datasetId)': \(problem)") }
        if let problem = Naming.tableProblem(tableId) { throw .invalidName("table '\(tableId)': \(problem)") }
        self.projectId = projectId
        self.datasetId = datasetId
        self.tableId = tableId
    }

    /// `project.dataset.table`.
    public var description: String { "\(projectId).\(datasetId).\(tableId)" }

    /// The backtick-quoted identifier for SQL; safe because every part passed `Naming`.
    public var sql: String { "`\(projectId).\(datasetId).\(tableId)`" }

    /// Orders by the dotted name.
    public static func < (lhs: TableReference, rhs: TableReference) -> Bool { lhs.description < rhs.description }

    enum CodingKeys: String, CodingKey { case projectId, datasetId, tableId }

    /// Decodes and re-checks the names.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        try self.init(
            projectId: container.decode(String.self, forKey: .projectId),
            datasetId: container.decode(String.self, forKey: .datasetId),
            tableId: container.decode(String.self, forKey: .tableId)
        )
    }
}

/// A table name as written in a definition: `dataset.table` or `project.dataset.table`.
public struct TableName: Sendable, Hashable, CustomStringConvertible {
    /// The project, if the name gave one.
    public var projectId: String?
    /// The dataset id.
    public var datasetId: String
    /// The table id.
    public var tableId: String

    /// What is wrong with a table name as written.
    public enum Problem: Error, Sendable, Hashable {
        /// Not two or three dot-separated parts.
        case form
        /// One part breaks `Naming`'s rules: which (`project`, `dataset` or `table`), as written, and why.
        case part(String, name: String, problem: String)

        /// The message for `text`, with `show` echoing a name (the whole text, or the part).
        public func message(for text: String, showing show: (String) -> String) -> String {
            switch self {
            case .form: return "\(show(text)) is not a table name of the form [project.]dataset.table"
            case .part(let part, let name, let problem): return "\(part) \(show(name)): \(problem)"
            }
        }
    }

    /// Parses and checks `[project.]dataset.table`; the error says which part is wrong.
    public init(parsing text: String) throws(BigQueryError) {
        do throws(Problem) {
            self = try TableName(checking: text)
        } catch {
            throw .invalidName(error.message(for: text) { "'\($0)'" })
        }
    }

    /// Parses and checks `[project.]dataset.table`, the problem naming the part that is wrong; the one parser of
    /// table names (`init(parsing:)` and the definition decoder differ only in how they echo names).
    public init(checking text: String) throws(Problem) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        switch parts.count {
        case 2: (projectId, datasetId, tableId) = (nil, parts[0], parts[1])
        case 3: (projectId, datasetId, tableId) = (parts[0], parts[1], parts[2])
        default: throw .form
        }
        if let projectId, let problem = Naming.projectProblem(projectId) {
            throw .part("project", name: projectId, problem: problem)
        }
        if let problem = Naming.datasetProblem(datasetId) { throw .part("dataset", name: datasetId, problem: problem) }
        if let problem = Naming.tableProblem(tableId) { throw .part("table", name: tableId, problem: problem) }
    }

    /// The name as written.
    public var description: String { [projectId, datasetId, tableId].compactMap { $0 }.joined(separator: ".") }

    /// The full reference, with `defaultProject` standing in for an omitted project.
    public func resolved(defaultProject: String?) throws(BigQueryError) -> TableReference {
        guard let project = projectId ?? defaultProject else {
            throw .invalidName(
                "table '\(description)' names no project and no default project is set (--project or GOOGLE_CLOUD_PROJECT)"
            )
        }
        return try TableReference(projectId: project, datasetId: datasetId, tableId: tableId)
    }
}
