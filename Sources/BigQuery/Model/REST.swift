/// BigQuery REST v2 resources as bqsync reads them. Every INT64 arrives as a JSON string.

/// `jobReference`.
public struct JobReference: Codable, Sendable, Hashable {
    /// Project the job runs in.
    public var projectId: String
    /// The job id (absent in dry-run answers).
    public var jobId: String?
    /// Where it runs (US, EU, a region).
    public var location: String?

    /// Creates a reference.
    public init(projectId: String, jobId: String?, location: String?) {
        self.projectId = projectId
        self.jobId = jobId
        self.location = location
    }
}

/// One error of an `ErrorProto` list.
public struct ErrorProto: Codable, Sendable, Hashable {
    /// The machine-readable reason (`rateLimitExceeded`, `invalidQuery`, …).
    public var reason: String?
    /// The human message.
    public var message: String?
    /// Where in the request or query.
    public var location: String?
}

/// `status` of a job.
public struct JobStatus: Codable, Sendable, Hashable {
    /// PENDING, RUNNING or DONE.
    public var state: String?
    /// Set when a DONE job failed.
    public var errorResult: ErrorProto?
    /// Every error (the job may still have succeeded if errorResult is absent).
    public var errors: [ErrorProto]?
}

/// `statistics.query.dmlStats`.
public struct DMLStats: Codable, Sendable, Hashable {
    public var insertedRowCount: String?
    public var updatedRowCount: String?
    public var deletedRowCount: String?
}

/// `statistics.query`.
public struct QueryStatistics: Codable, Sendable, Hashable {
    public var totalBytesProcessed: String?
    public var totalBytesProcessedAccuracy: String?
    public var totalBytesBilled: String?
    public var cacheHit: Bool?
    public var statementType: String?
    public var numDmlAffectedRows: String?
    public var dmlStats: DMLStats?
    public var referencedTables: [TableReferenceJSON]?
    public var schema: TableSchemaJSON?
}

/// `statistics.load`.
public struct LoadStatistics: Codable, Sendable, Hashable {
    public var outputRows: String?
    public var outputBytes: String?
    public var inputFiles: String?
    public var badRecords: String?
}

/// `statistics` of a job.
public struct JobStatistics: Codable, Sendable, Hashable {
    public var creationTime: String?
    public var startTime: String?
    public var endTime: String?
    public var totalBytesProcessed: String?
    public var query: QueryStatistics?
    public var load: LoadStatistics?
}

/// A job resource (only the parts bqsync reads).
public struct JobResource: Codable, Sendable, Hashable {
    public var id: String?
    public var jobReference: JobReference?
    public var status: JobStatus?
    public var statistics: JobStatistics?
}

/// A table reference as JSON.
public struct TableReferenceJSON: Codable, Sendable, Hashable {
    public var projectId: String
    public var datasetId: String
    public var tableId: String

    /// Creates one from a checked reference.
    public init(_ table: TableReference) {
        projectId = table.projectId
        datasetId = table.datasetId
        tableId = table.tableId
    }
}

/// A column of a table schema.
public struct FieldSchema: Codable, Sendable, Hashable {
    /// Column name.
    public var name: String
    /// Type name as BigQuery spells it (legacy names included).
    public var type: String
    /// NULLABLE, REQUIRED or REPEATED.
    public var mode: String?
    /// Nested fields of a RECORD.
    public var fields: [FieldSchema]?
    /// Description.
    public var description: String?

    /// Creates a field.
    public init(
        name: String, type: String, mode: String? = nil, fields: [FieldSchema]? = nil, description: String? = nil
    ) {
        self.name = name
        self.type = type
        self.mode = mode
        self.fields = fields
        self.description = description
    }

    /// The type, when it is one bqsync handles.
    public var fieldType: FieldType? { FieldType(bigQueryName: type) }

    /// Whether the column is REQUIRED.
    public var isRequired: Bool { mode?.uppercased() == "REQUIRED" }
}

/// `schema`.
public struct TableSchemaJSON: Codable, Sendable, Hashable {
    /// The columns.
    public var fields: [FieldSchema]?

    /// Creates a schema.
    public init(fields: [FieldSchema]) { self.fields = fields }
}

/// `timePartitioning`.
public struct TimePartitioning: Codable, Sendable, Hashable {
    /// DAY, HOUR, MONTH or YEAR.
    public var type: String
    /// The column, or nil for ingestion-time partitioning.
    public var field: String?
    /// Milliseconds a partition is kept.
    public var expirationMs: String?

    /// Creates partitioning on a column.
    public init(type: String, field: String?) {
        self.type = type
        self.field = field
    }
}

/// `clustering`.
public struct Clustering: Codable, Sendable, Hashable {
    /// Up to four columns.
    public var fields: [String]

    /// Creates clustering.
    public init(fields: [String]) { self.fields = fields }
}

/// A table resource.
public struct TableResource: Codable, Sendable, Hashable {
    public var tableReference: TableReferenceJSON
    public var schema: TableSchemaJSON?
    public var numBytes: String?
    public var numRows: String?
    public var lastModifiedTime: String?
    public var etag: String?
    public var location: String?
    public var type: String?
    public var expirationTime: String?
    public var description: String?
    public var labels: [String: String]?
    public var timePartitioning: TimePartitioning?
    public var clustering: Clustering?
    public var requirePartitionFilter: Bool?
    /// The declared primary key (and foreign keys), when the table has any.
    public var tableConstraints: TableConstraints?

    /// A new table to create.
    public init(
        reference: TableReference, schema: [FieldSchema], description: String? = nil, labels: [String: String]? = nil,
        expirationTime: Int64? = nil, timePartitioning: TimePartitioning? = nil, clustering: Clustering? = nil
    ) {
        tableReference = TableReferenceJSON(reference)
        self.schema = TableSchemaJSON(fields: schema)
        self.description = description
        self.labels = labels
        self.expirationTime = expirationTime.map(String.init)
        self.timePartitioning = timePartitioning
        self.clustering = clustering
    }

    /// The table's size in bytes (all columns), as BigQuery reports it.
    public var bytes: Int64 { numBytes.flatMap { Int64($0) } ?? 0 }
    /// The table's row count, as BigQuery reports it.
    public var rows: Int64 { numRows.flatMap { Int64($0) } ?? 0 }
    /// The columns.
    public var fields: [FieldSchema] { schema?.fields ?? [] }
}

/// A dataset resource.
public struct DatasetResource: Codable, Sendable, Hashable {
    public struct Reference: Codable, Sendable, Hashable {
        public var projectId: String
        public var datasetId: String
    }
    public var datasetReference: Reference
    public var location: String?
    public var description: String?
    public var labels: [String: String]?
    public var defaultTableExpirationMs: String?

    /// A new dataset to create.
    public init(
        projectId: String, datasetId: String, location: String?, description: String? = nil,
        labels: [String: String]? = nil
    ) {
        datasetReference = Reference(projectId: projectId, datasetId: datasetId)
        self.location = location
        self.description = description
        self.labels = labels
    }
}

/// One cell of a query result row.
public indirect enum Cell: Codable, Sendable, Hashable {
    case null
    case string(String)
    case array([Cell])
    case record([Cell])

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
            return
        }
        if let text = try? container.decode(String.self) {
            self = .string(text)
            return
        }
        if let items = try? container.decode([Wrapped].self) {
            self = .array(items.map(\.v))
            return
        }
        if let row = try? container.decode(Row.self) {
            self = .record(row.f)
            return
        }
        if let number = try? container.decode(Double.self) {
            self = .string(String(number))
            return
        }
        if let flag = try? container.decode(Bool.self) {
            self = .string(flag ? "true" : "false")
            return
        }
        throw DecodingError.dataCorruptedError(in: container, debugDescription: "unexpected cell")
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .string(let text): try container.encode(text)
        case .array(let items): try container.encode(items.map { Wrapped(v: $0) })
        case .record(let cells): try container.encode(Row(f: cells))
        }
    }

    /// The text of a scalar cell.
    public var text: String? {
        if case .string(let text) = self { return text }
        return nil
    }

    /// `{"v": …}`.
    public struct Wrapped: Codable, Sendable, Hashable {
        /// The cell.
        public var v: Cell
    }

    /// `{"f": [{"v": …}, …]}`: one row.
    public struct Row: Codable, Sendable, Hashable {
        /// The row's cells in schema order.
        public var f: [Cell]
        /// Creates a row.
        public init(f: [Cell]) { self.f = f }
        /// Decodes a row.
        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            f = try container.decode([Wrapped].self, forKey: .f).map(\.v)
        }
        /// Encodes a row.
        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(f.map { Wrapped(v: $0) }, forKey: .f)
        }
        enum CodingKeys: String, CodingKey { case f }
    }
}

/// `jobs.getQueryResults`.
public struct QueryResultsPage: Codable, Sendable {
    public var jobComplete: Bool?
    public var schema: TableSchemaJSON?
    public var rows: [Cell.Row]?
    public var totalRows: String?
    public var pageToken: String?
    public var errors: [ErrorProto]?
    public var numDmlAffectedRows: String?
}

/// The error body of a failed call.
public struct ErrorResponse: Codable, Sendable {
    public struct Body: Codable, Sendable {
        public var code: Int?
        public var message: String?
        public var status: String?
        public var errors: [ErrorProto]?
    }
    public var error: Body?
}

/// `jobs.list`.
public struct JobList: Codable, Sendable {
    public struct Entry: Codable, Sendable {
        public var id: String?
        public var jobReference: JobReference?
        public var state: String?
        public var status: JobStatus?
        public var statistics: JobStatistics?
    }
    public var jobs: [Entry]?
    public var nextPageToken: String?
}
