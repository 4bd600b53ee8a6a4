import BigQuery
import YAML

/// One sync, as declared in `syncs.d/NAME.yaml`: where rows come from, where they go, how they merge.
public struct SyncDefinition: Sendable, Hashable {
    /// Unique across syncs.d; the file name unless `name:` says otherwise.
    public var name: String
    /// What the sync is for.
    public var description: String?
    /// Where rows come from.
    public var source: SourceSpec
    /// The table rows go to.
    public var target: TargetSpec
    /// How rows are matched and merged.
    public var merge: MergeSpec
    /// How rows are batched.
    public var batch: BatchSpec
    /// The cost policy's name (`policies/NAME.yaml`).
    public var policyName: String
    /// The file the definition came from.
    public var file: ConfigFile
    /// Where each key was written (`"target.table"`, `"merge.keys[1]"`), so later checks can point at it.
    public var marks: [String: Mark]

    /// Where a key of this definition was written; a key the file leaves out (a default) points at the nearest
    /// enclosing key that is written, else at the file's start.
    public func location(of key: DefinitionKey) -> SourceLocation {
        var path = Substring(key.path)
        while true {
            if let mark = marks[String(path)] { return file.location(mark) }
            guard let dot = path.lastIndex(where: { $0 == "." || $0 == "[" }) else { break }
            path = path[..<dot]
        }
        return file.location(Mark(line: 1, column: 1))
    }
}

/// A key of a sync definition that later checks (plan, apply) point their errors at. Only these constants exist,
/// so a misspelt key cannot silently point at line 1, column 1; the decoder records marks under the same paths.
public struct DefinitionKey: Sendable, Hashable {
    /// The dotted path the decoder records the key's mark under.
    let path: String

    /// `target.table`.
    public static let targetTable = DefinitionKey(path: "target.table")
    /// `target.location`.
    public static let targetLocation = DefinitionKey(path: "target.location")
    /// `source.path` (ndjson, csv).
    public static let sourcePath = DefinitionKey(path: "source.path")
    /// `source.query`.
    public static let sourceQuery = DefinitionKey(path: "source.query")
    /// `source.table` (postgres).
    public static let sourceTable = DefinitionKey(path: "source.table")
    /// `source.incremental.cursor`.
    public static let incrementalCursor = DefinitionKey(path: "source.incremental.cursor")
    /// `source.format`.
    public static let sourceFormat = DefinitionKey(path: "source.format")
    /// `merge`.
    public static let merge = DefinitionKey(path: "merge")
    /// `merge.keys`.
    public static let mergeKeys = DefinitionKey(path: "merge.keys")
    /// `merge.null_keys`.
    public static let mergeNullKeys = DefinitionKey(path: "merge.null_keys")
    /// `batch.strategy`.
    public static let batchStrategy = DefinitionKey(path: "batch.strategy")
    /// `policy`.
    public static let policy = DefinitionKey(path: "policy")

    /// The `target.schema` item that declares a column (names compare case-insensitively).
    public static func column(_ name: String) -> DefinitionKey {
        DefinitionKey(path: "target.schema.\(name.lowercased())")
    }
}

/// A configuration file: its displayed path, its bytes' SHA-256, and its lines for carets.
public struct ConfigFile: Sendable, Hashable {
    /// The path as displayed and used in locations.
    public var path: String
    /// Lowercase hex SHA-256 of the file's bytes.
    public var sha256: String
    /// The file's lines, split where libyaml counts line breaks (LF, CR, CR LF, NEL, LS, PS), so a mark's
    /// line number finds its text.
    public var lines: [String]

    /// Creates a file record.
    public init(path: String, sha256: String, lines: [String]) {
        self.path = path
        self.sha256 = sha256
        self.lines = lines
    }

    /// A location in this file; a mark past the end of the text is moved onto it.
    public func location(_ mark: Mark) -> SourceLocation {
        SourceLocation(file: path, mark: SourceText.clamp(mark, lines: lines))
    }

    /// The text of a 1-based line, if the file has it.
    public func line(_ number: Int) -> String? { lines.indices.contains(number - 1) ? lines[number - 1] : nil }

    /// An error diagnostic at a mark of this file, with its source line.
    public func error(_ message: String, at mark: Mark, notes: [String] = []) -> Diagnostic {
        diagnostic(.error, message, at: mark, notes: notes)
    }

    /// A warning diagnostic at a mark of this file, with its source line.
    public func warning(_ message: String, at mark: Mark, notes: [String] = []) -> Diagnostic {
        diagnostic(.warning, message, at: mark, notes: notes)
    }

    private func diagnostic(_ severity: Diagnostic.Severity, _ message: String, at mark: Mark, notes: [String])
        -> Diagnostic
    {
        let place = self.location(mark)
        // Messages quote user text already; this keeps anything that slipped through on one line.
        return Diagnostic(
            severity, SourceText.singleLine(message), at: place, sourceLine: line(place.line),
            notes: notes.map { SourceText.singleLine($0) })
    }
}

/// Where rows come from.
public struct SourceSpec: Sendable, Hashable {
    /// The kinds of source.
    public enum Kind: String, Sendable, Hashable, Codable, CaseIterable {
        /// Newline-delimited JSON files, read locally.
        case ndjson
        /// CSV files with a header row, read locally.
        case csv
        /// A SELECT run inside BigQuery; no rows leave it.
        case query
        /// Files in Cloud Storage, loaded by a BigQuery load job.
        case gcs
        /// A table or SELECT of a PostgreSQL database, read through libpq.
        case postgres

        /// Whether bqsync reads the rows itself (and merges them inline or staged), rather than BigQuery.
        public var readsRows: Bool { self == .ndjson || self == .csv || self == .postgres }
    }

    /// The formats a `gcs` source can have.
    public enum Format: String, Sendable, Hashable, Codable, CaseIterable {
        case ndjson = "NEWLINE_DELIMITED_JSON"
        case csv = "CSV"
        case parquet = "PARQUET"
        case avro = "AVRO"
    }

    /// The kind of source.
    public var kind: Kind
    /// `ndjson` / `csv`: a file or glob, relative to `baseDirectory`.
    public var path: String?
    /// `query`: the SELECT.
    public var query: String?
    /// `gcs`: `gs://` URIs (one `*` allowed in each).
    public var uris: [String]
    /// `gcs`: the files' format.
    public var format: Format?
    /// `csv` (and `gcs` CSV): the field delimiter.
    public var delimiter: Character
    /// `csv`: the unquoted text that means NULL (default: an empty field).
    public var nullMarker: String
    /// `gcs` CSV: header rows to skip.
    public var skipLeadingRows: Int
    /// Whether a source field that is not a target column is ignored rather than an error.
    public var ignoreUnknownFields: Bool
    /// The directory of the definition file; relative paths resolve against it.
    public var baseDirectory: String
    /// `postgres`: the table (`schema.table` or `table`), when no `query` is given.
    public var table: String?
    /// `postgres`: the environment variable holding a libpq connection URI (nil: libpq's `PG*` variables,
    /// `~/.pgpass` and `PGSERVICEFILE` decide).
    public var urlEnvironment: String?
    /// `postgres`: a connection URI written in the definition, never with a password.
    public var url: String?
    /// Only the rows past the sync's watermark, when set.
    public var incremental: IncrementalSpec?

    /// Creates a source spec with defaults for what a kind does not use.
    public init(
        kind: Kind, path: String? = nil, query: String? = nil, uris: [String] = [], format: Format? = nil,
        delimiter: Character = ",", nullMarker: String = "", skipLeadingRows: Int = 0,
        ignoreUnknownFields: Bool = false, baseDirectory: String = ".", table: String? = nil,
        urlEnvironment: String? = nil, url: String? = nil, incremental: IncrementalSpec? = nil
    ) {
        self.table = table
        self.urlEnvironment = urlEnvironment
        self.url = url
        self.incremental = incremental
        self.kind = kind
        self.path = path
        self.query = query
        self.uris = uris
        self.format = format
        self.delimiter = delimiter
        self.nullMarker = nullMarker
        self.skipLeadingRows = skipLeadingRows
        self.ignoreUnknownFields = ignoreUnknownFields
        self.baseDirectory = baseDirectory
    }
}

/// `source.incremental`: read only the rows whose cursor column is past the sync's watermark (the largest cursor
/// value a successful apply merged), less `lag`.
public struct IncrementalSpec: Sendable, Hashable, Codable {
    /// The cursor column's BigQuery types.
    public static let cursorTypes: [FieldType] = [.timestamp, .datetime, .date, .int64, .numeric]

    /// The cursor column, a target column.
    public var cursor: String
    /// How far before the watermark a run starts reading again, for rows committed late (microseconds for a
    /// TIMESTAMP or DATETIME cursor, days for DATE; not allowed for INT64 and NUMERIC).
    public var lag: Duration
    /// The lower bound of the first run (or of a full refresh), as text of the cursor's type; nil: every row.
    public var initial: String?

    public init(cursor: String, lag: Duration = .zero, initial: String? = nil) {
        self.cursor = cursor
        self.lag = lag
        self.initial = initial
    }
}

/// One column of a declared schema.
public struct FieldSpec: Sendable, Hashable, Codable {
    /// Column name.
    public var name: String
    /// Column type.
    public var type: FieldType
    /// NULLABLE or REQUIRED.
    public var mode: FieldMode
    /// Column description.
    public var description: String?

    /// Creates a field.
    public init(name: String, type: FieldType, mode: FieldMode = .nullable, description: String? = nil) {
        self.name = name
        self.type = type
        self.mode = mode
        self.description = description
    }
}

/// Time partitioning of a table bqsync creates.
public struct PartitioningSpec: Sendable, Hashable, Codable {
    /// DAY, HOUR, MONTH or YEAR.
    public enum Granularity: String, Sendable, Hashable, Codable, CaseIterable {
        case hour = "HOUR"
        case day = "DAY"
        case month = "MONTH"
        case year = "YEAR"
    }
    /// The DATE, DATETIME or TIMESTAMP column.
    public var field: String
    /// The partition size.
    public var type: Granularity
}

/// The table rows go to.
public struct TargetSpec: Sendable, Hashable {
    /// `[project.]dataset.table`.
    public var table: TableName
    /// Create the table from `schema` when it does not exist.
    public var createIfMissing: Bool
    /// Where bqsync creates the target's dataset when it is missing (nil: BigQuery's default, US); when the
    /// dataset exists, it must be there.
    public var location: String?
    /// The declared columns, if given: checked against the table, used to create it.
    public var schema: [FieldSpec]?
    /// Partitioning for a created table.
    public var partitioning: PartitioningSpec?
    /// Clustering columns for a created table (at most 4).
    public var clustering: [String]
}

/// How rows are matched and merged.
public struct MergeSpec: Sendable, Hashable {
    /// Which columns a MERGE updates when a row matches.
    public enum Update: Sendable, Hashable {
        /// Every non-key column the source carries.
        case all
        /// These columns only.
        case columns([String])
    }

    /// What a row with a NULL merge key does in a source BigQuery reads itself (query, gcs); a local source
    /// always refuses one at plan time.
    public enum NullKeys: String, Sendable, Hashable, CaseIterable {
        /// Dropped by the MERGE (it could never match a target row), and counted where the rows are profiled.
        case skip
        /// The apply stops before the MERGE when the staged rows hold one (the rows are staged and profiled).
        case refuse
    }

    /// The key columns.
    public var keys: [String]
    /// Among rows with the same key, the greatest value of this column wins (ties: MergeBuilder's documented
    /// tiebreak, for sources BigQuery reads; a local source keeps the last read).
    public var orderBy: String?
    /// What a matched row updates.
    public var update: Update
    /// A BOOL column: a matched row with true is deleted.
    public var deleteWhen: String?
    /// `merge.null_keys`.
    public var nullKeys: NullKeys = .skip
}

/// How rows are batched and which strategy merges them.
public struct BatchSpec: Sendable, Hashable {
    /// The merge strategies.
    public enum Strategy: String, Sendable, Hashable, Codable, CaseIterable {
        /// The cheaper of the two, by dry runs and BigQuery's billing rules.
        case auto
        /// One MERGE per batch, the batch as one JSON STRING parameter.
        case inline
        /// Free load jobs into a staging table, then one MERGE.
        case staged
    }

    /// Rows per batch, 1…50,000.
    public var size: Int
    /// The strategy.
    public var strategy: Strategy

    /// 500 rows, auto.
    public static let defaults = BatchSpec(size: 500, strategy: .auto)
}
