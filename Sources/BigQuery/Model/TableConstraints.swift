/// `tableConstraints`: a table's declared primary key and foreign keys (BigQuery does not enforce them).
public struct TableConstraints: Codable, Sendable, Hashable {
    /// `primaryKey`: the columns that identify a row.
    public struct PrimaryKey: Codable, Sendable, Hashable {
        public var columns: [String]

        public init(columns: [String]) { self.columns = columns }
    }

    public var primaryKey: PrimaryKey?

    public init(primaryKey: PrimaryKey?) { self.primaryKey = primaryKey }
}
