/// A query job as bqsync asks for it.
public struct QueryJob: Sendable {
    /// The GoogleSQL statement.
    public var sql: String
    /// Named parameters.
    public var parameters: [QueryParameter]
    /// A deterministic id base (`bqsync_<plan>_<step>`); attempts are appended as `_<n>`. Nil for a random id.
    public var jobId: String?
    /// The project the job runs in; nil for the client's.
    public var project: String?
    /// Where it runs (the dataset's location).
    public var location: String?
    /// Labels beyond the client's own.
    public var labels: [String: String]
    /// Tables the statement reads (for a conservative estimate when the dry run cannot tell).
    public var reads: [TableReference]
    /// The table the statement writes (DML or DDL target), checked against protected tables.
    public var writes: TableReference?
    /// Whether a write only inserts (DML billing: no full scan of the target).
    public var onlyInserts: Bool
    /// Which policy's budget the job spends.
    public var budget: String
    /// Whether the session may answer it from its cache (read-only queries only).
    public var cacheable: Bool
    /// A dry run of this exact statement already made (a reviewed plan's step): the job is admitted on it and
    /// not dry-run again. Ignored for a job that declares no write: a fresh dry run must confirm it only reads.
    public var reviewed: DryRunResult?
    /// Whether an earlier run may already have sent this job (a resumed apply): each attempt id is looked up
    /// before it is inserted. Otherwise the insert goes first and BigQuery's 409 tells of an existing one.
    public var resuming = false

    /// Creates a job.
    public init(
        sql: String, parameters: [QueryParameter] = [], jobId: String? = nil, project: String? = nil,
        location: String? = nil,
        labels: [String: String] = [:], reads: [TableReference] = [], writes: TableReference? = nil,
        onlyInserts: Bool = false, budget: String = "default", cacheable: Bool = true
    ) {
        self.sql = sql
        self.parameters = parameters
        self.jobId = jobId
        self.project = project
        self.location = location
        self.labels = labels
        self.reads = reads
        self.writes = writes
        self.onlyInserts = onlyInserts
        self.budget = budget
        self.cacheable = cacheable
    }
}

/// A load job: rows from a local file (uploaded) or from Cloud Storage into a table.
public struct LoadJob: Sendable {
    /// Where the rows come from.
    public enum Source: Sendable {
        /// A local file, uploaded (multipart, or resumable when large).
        case upload(path: String)
        /// `gs://` URIs.
        case gcs([String])
    }

    /// The destination table.
    public var destination: TableReference
    /// The source.
    public var source: Source
    /// NEWLINE_DELIMITED_JSON, CSV, PARQUET or AVRO.
    public var format: String
    /// The destination schema (nil: the table's own, or self-describing formats).
    public var schema: [FieldSchema]?
    /// WRITE_TRUNCATE, WRITE_APPEND or WRITE_EMPTY.
    public var writeDisposition: String
    /// CREATE_IF_NEEDED or CREATE_NEVER.
    public var createDisposition: String
    /// CSV: delimiter.
    public var fieldDelimiter: String?
    /// CSV: header rows to skip.
    public var skipLeadingRows: Int?
    /// Whether values for unknown columns are ignored.
    public var ignoreUnknownValues: Bool
    /// A deterministic id base.
    public var jobId: String?
    /// The project the job runs in.
    public var project: String?
    /// Where it runs.
    public var location: String?
    /// Labels beyond the client's own.
    public var labels: [String: String]
    /// Which policy's retry settings apply (load jobs are free).
    public var budget: String
    /// With a deterministic id base: an attempt that already exists is adopted only if BigQuery created it at or
    /// after this time (milliseconds since the epoch, BigQuery's clock), normally the destination's creation
    /// time. An older attempt loaded into an earlier incarnation of the destination (a staging table dropped and
    /// created again), so it is passed over and the next attempt id runs the load again. Nil: adopt any.
    public var adoptableFrom: Int64?
    /// Whether an earlier run may already have sent this job (see `QueryJob.resuming`).
    public var resuming = false

    /// Creates a load job.
    public init(
        destination: TableReference, source: Source, format: String, schema: [FieldSchema]? = nil,
        writeDisposition: String = "WRITE_APPEND", createDisposition: String = "CREATE_NEVER",
        fieldDelimiter: String? = nil, skipLeadingRows: Int? = nil, ignoreUnknownValues: Bool = false,
        jobId: String? = nil, project: String? = nil, location: String? = nil, labels: [String: String] = [:],
        budget: String = "default"
    ) {
        self.destination = destination
        self.source = source
        self.format = format
        self.schema = schema
        self.writeDisposition = writeDisposition
        self.createDisposition = createDisposition
        self.fieldDelimiter = fieldDelimiter
        self.skipLeadingRows = skipLeadingRows
        self.ignoreUnknownValues = ignoreUnknownValues
        self.jobId = jobId
        self.project = project
        self.location = location
        self.labels = labels
        self.budget = budget
    }
}

/// What a dry run tells about a query, with bqsync's billed-bytes estimate.
public struct DryRunResult: Sendable, Hashable, Codable {
    /// `totalBytesProcessed` as BigQuery reported it.
    public var bytesProcessed: Int64
    /// PRECISE, UPPER_BOUND, LOWER_BOUND or UNKNOWN.
    public var accuracy: String
    /// SELECT, MERGE, INSERT, …
    public var statementType: String?
    /// The estimate of bytes billed the cost guard uses.
    public var estimatedBilledBytes: Int64
    /// Whether the estimate came from table metadata because the dry run could not tell.
    public var conservative: Bool
    /// Why the estimate is what it is, when it is not simply the dry run's.
    public var note: String?

    /// Creates a result.
    public init(
        bytesProcessed: Int64, accuracy: String, statementType: String?, estimatedBilledBytes: Int64,
        conservative: Bool,
        note: String?
    ) {
        self.bytesProcessed = bytesProcessed
        self.accuracy = accuracy
        self.statementType = statementType
        self.estimatedBilledBytes = estimatedBilledBytes
        self.conservative = conservative
        self.note = note
    }
}

/// What a finished job did.
public struct JobOutcome: Sendable, Hashable, Codable {
    /// The job's id as BigQuery knows it.
    public var jobId: String
    /// Where it ran.
    public var location: String?
    /// SELECT, MERGE, … ("LOAD" for loads).
    public var statementType: String?
    /// Bytes processed.
    public var bytesProcessed: Int64
    /// Bytes billed (the estimate when the server did not report it).
    public var bytesBilled: Int64
    /// Dollars.
    public var costUSD: Double
    /// Whether BigQuery answered from its cache.
    public var cacheHit: Bool
    /// Rows a DML statement affected.
    public var affectedRows: Int64?
    /// DML breakdown, when BigQuery reports it.
    public var insertedRows: Int64?
    public var updatedRows: Int64?
    public var deletedRows: Int64?
    /// Rows a load job wrote.
    public var loadedRows: Int64?
    /// Which attempt succeeded.
    public var attempt: Int
    /// Whether an earlier run's job was adopted instead of running again.
    public var adopted: Bool
    /// Seconds from send to done.
    public var durationSeconds: Double
}

/// A query's outcome and rows.
public struct QueryResult: Sendable {
    /// What the job did.
    public var outcome: JobOutcome
    /// The result columns.
    public var schema: [FieldSchema]
    /// The rows, cells in schema order.
    public var rows: [[Cell]]
    /// Whether the session cache answered.
    public var fromSessionCache: Bool
}

/// One record of the job log: every call that starts, adopts, answers from cache or refuses a job.
public struct JobRecord: Sendable, Hashable, Codable {
    /// query, dry-run, load.
    public var kind: String
    /// The job id (or the id it would have had).
    public var jobId: String
    /// SELECT, MERGE, LOAD, …
    public var statementType: String?
    /// Bytes processed.
    public var bytesProcessed: Int64
    /// Bytes billed.
    public var bytesBilled: Int64
    /// Dollars.
    public var costUSD: Double
    /// Seconds.
    public var durationSeconds: Double
    /// The attempt.
    public var attempt: Int
    /// done, adopted, cached, failed, refused.
    public var outcome: String
    /// The error reason when it failed or was refused.
    public var reason: String?
    /// The sync the job is for, when known: `JobLog.$sync` of the calling task, else the job's `bqsync-sync`
    /// label.
    public var sync: String? = nil
}

/// What the job log knows of the calling task.
public enum JobLog {
    /// The sync the calling task works for; every job log line of a call made under it names that sync
    /// (`sync` in the JSON log).
    @TaskLocal public static var sync: String?

    /// The sync of a job: the task's, else the job's `bqsync-sync` label.
    static func sync(labels: [String: String]) -> String? { sync ?? labels["bqsync-sync"] }
}
