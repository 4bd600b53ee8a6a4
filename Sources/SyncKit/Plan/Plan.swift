import BigQuery
import Foundation

/// A reviewed unit of work: every step of every sync with its SQL, estimates and the fingerprints of what it was
/// planned from. Written as versioned, deterministic JSON (`plan --out`); `apply` runs exactly these steps.
public struct Plan: Codable, Sendable, Hashable {
    /// The plan file format this bqsync writes and reads. 3: no `state` steps (bookkeeping is metadata calls
    /// and streamed run records, billed nothing); plans of format 2 reserved budget for them.
    public static let currentFormatVersion = 3

    /// The file format's version.
    public var formatVersion: Int
    /// A digest of everything the plan does and was planned from; job ids are derived from it.
    public var planId: String
    /// The dataset (in each target's project) holding the leases and run records.
    public var stateDataset: String
    /// One entry per sync, in name order.
    public var syncs: [SyncPlan]
    /// Each policy's limits against what the plan would spend under it.
    public var budgets: [BudgetPlan]

    enum CodingKeys: String, CodingKey {
        case formatVersion = "format_version"
        case planId = "plan_id"
        case stateDataset = "state_dataset"
        case syncs, budgets
    }

    /// Whether any step changes a table.
    public var hasChanges: Bool { syncs.contains { !$0.steps.isEmpty && $0.rows != 0 } }

    /// Whether every budget fits.
    public var fits: Bool { budgets.allSatisfy { $0.violations.isEmpty } }

    /// The plan as deterministic JSON (sorted keys, no timestamps), ending in a newline.
    public func encoded() throws(SyncError) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        do {
            return Array(try encoder.encode(self)) + [0x0A]
        } catch {
            throw SyncError.internal("cannot encode the plan: \(error)")
        }
    }

    /// Reads a plan file, refusing other format versions.
    public static func decode(_ bytes: [UInt8], path: String) throws(SyncError) -> Plan {
        struct Version: Decodable {
            var formatVersion: Int?
            enum CodingKeys: String, CodingKey { case formatVersion = "format_version" }
        }
        let data = Data(bytes)
        guard let version = try? JSONDecoder().decode(Version.self, from: data) else {
            throw SyncError.invalidPlan("\(path) is not a bqsync plan file (not a JSON object)")
        }
        guard version.formatVersion == currentFormatVersion else {
            throw SyncError.invalidPlan(
                "\(path) has format_version \(version.formatVersion.map(String.init) ?? "(missing)"); this bqsync reads \(currentFormatVersion)"
            )
        }
        do {
            return try JSONDecoder().decode(Plan.self, from: data)
        } catch {
            throw SyncError.invalidPlan("\(path): \(Self.describe(error))")
        }
    }

    static func describe(_ error: any Error) -> String {
        guard let error = error as? DecodingError else { return "unreadable" }
        func path(_ context: DecodingError.Context) -> String {
            context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
        }
        switch error {
        case .keyNotFound(let key, let context):
            return "missing '\(key.stringValue)' at \(path(context).isEmpty ? "top level" : path(context))"
        case .typeMismatch(_, let context), .valueNotFound(_, let context): return "wrong type at \(path(context))"
        case .dataCorrupted(let context): return "corrupt value at \(path(context))"
        @unknown default: return "unreadable"
        }
    }
}

/// One sync's part of a plan.
public struct SyncPlan: Codable, Sendable, Hashable {
    /// The sync's name.
    public var name: String
    /// The definition file and its hash.
    public var definition: FileFingerprint
    /// The policy's name.
    public var policy: String
    /// `project.dataset.table`.
    public var target: String
    /// inline or staged (a plan never carries `auto`: the planner has chosen).
    public var strategy: BatchSpec.Strategy
    /// Why this strategy (for `auto`, the two estimates).
    public var strategyReason: String
    /// What the source was when planned.
    public var source: SourceSnapshot
    /// What the target was when planned.
    public var targetState: TargetState
    /// The columns rows carry, in order, with their types.
    public var columns: [ColumnPlan]
    /// Rows read from the source (nil when the rows never leave BigQuery).
    public var rowsRead: Int64?
    /// Rows after deduplication by merge key.
    public var rows: Int64?
    /// Batches (inline) or load files (staged).
    public var batches: Int
    /// How partition pruning applies, or why it does not.
    public var pruning: String?
    /// Dedup partitions used (part of the batch layout).
    public var dedupPartitions: Int
    /// The steps, in order.
    public var steps: [Step]
    /// Set when this very content was applied already and the target is as that apply left it: the sync has no
    /// steps (nil otherwise, and in plan files made before it existed).
    public var unchanged: Unchanged?
    /// `plan --preview`: what the MERGEs would do to the target, by one priced read-only query.
    public var preview: Preview?
    /// The sync's last successful apply to this target, and what changed in the definition since (nil when the
    /// target's lease remembers none).
    public var sinceLastApply: SinceLastApply?
    /// An incremental sync's window.
    public var window: IncrementalWindow?

    enum CodingKeys: String, CodingKey {
        case name, definition, policy, target, strategy
        case strategyReason = "strategy_reason"
        case source
        case targetState = "target_state"
        case columns
        case rowsRead = "rows_read"
        case rows, batches, pruning
        case dedupPartitions = "dedup_partitions"
        case steps, unchanged, preview
        case sinceLastApply = "since_last_apply"
        case window
    }

    /// What a reviewer compares between two applies of a sync: its carried columns (`name TYPE`), keys, strategy
    /// and policy.
    public struct Shape: Codable, Sendable, Hashable {
        public var columns: [String]
        public var keys: [String]
        public var strategy: String
        public var policy: String

        /// What changed from `earlier` to this one, one line each: `+ column x STRING`, `keys [a] → [a, b]`, ….
        public func changes(since earlier: Shape) -> [String] {
            var lines: [String] = []
            let before = Set(earlier.columns)
            let now = Set(columns)
            lines += columns.filter { !before.contains($0) }.map { "+ column \($0)" }
            lines += earlier.columns.filter { !now.contains($0) }.map { "- column \($0)" }
            if keys != earlier.keys {
                lines.append("keys [\(earlier.keys.joined(separator: ", "))] → [\(keys.joined(separator: ", "))]")
            }
            if strategy != earlier.strategy { lines.append("strategy \(earlier.strategy) → \(strategy)") }
            if policy != earlier.policy { lines.append("policy \(earlier.policy) → \(policy)") }
            return lines
        }
    }

    /// This plan's shape, with the definition's merge keys.
    public func shape(keys: [String]) -> Shape {
        Shape(
            columns: columns.filter { $0.carried && $0.inTarget }.map { "\($0.name) \($0.type)" }, keys: keys,
            strategy: strategy.rawValue, policy: policy)
    }

    /// A sync's last successful apply, beside this plan.
    public struct SinceLastApply: Codable, Sendable, Hashable {
        public var planId: String
        public var appliedAtMs: Int64
        /// What that apply billed (nil when its lease did not keep it).
        public var billedBytes: Int64?
        public var costUSD: Double?
        /// What changed in the definition since, one line each (empty: nothing; nil: not known).
        public var changes: [String]?

        enum CodingKeys: String, CodingKey {
            case planId = "plan_id"
            case appliedAtMs = "applied_at_ms"
            case billedBytes = "billed_bytes"
            case costUSD = "cost_usd"
            case changes
        }
    }

    /// What a sync's MERGEs would do to the target, counted by one read-only query at plan time (`--preview`).
    public struct Preview: Codable, Sendable, Hashable {
        /// The query's estimate (counted in the plan's budget).
        public var estimate: Estimate?
        /// Source rows that would be inserted, update a target row, delete one, or leave the target as it is.
        public var inserted: Int64?
        public var updated: Int64?
        public var deleted: Int64?
        public var unchanged: Int64?
        /// Why there are no counts, when there are none.
        public var unavailable: String?

        public init(estimate: Estimate? = nil, unavailable: String? = nil) {
            self.estimate = estimate
            self.unavailable = unavailable
        }

        /// `+3 ~1 -0 =46`, or why there are no counts.
        public var summary: String {
            guard let inserted, let updated, let deleted, let unchanged else {
                return "preview: \(unavailable ?? "not run")"
            }
            return "+\(inserted) ~\(updated) -\(deleted) =\(unchanged)"
        }
    }

    /// The same steps under job ids with `suffix` appended: a forced re-run, which BigQuery must not answer with
    /// the jobs of the earlier run.
    func rerun(suffix: String) -> SyncPlan {
        var copy = self
        copy.steps = steps.map {
            var step = $0
            step.jobId = step.jobId.map { $0 + suffix }
            return step
        }
        return copy
    }

    /// What a sync's last apply of the same content was, when the target is as it left it.
    public struct Unchanged: Codable, Sendable, Hashable {
        /// The plan that applied it.
        public var planId: String
        /// When that apply finished (ms since the epoch).
        public var appliedAtMs: Int64

        enum CodingKeys: String, CodingKey {
            case planId = "plan_id"
            case appliedAtMs = "applied_at_ms"
        }
    }

    /// SHA-256 of what the sync does, whatever the target was: the definition, source, columns, strategy and
    /// every step's kind, statement and payload, without job ids, estimates, the target's state, the step that
    /// creates it, or the strategy's reason (which quotes estimates). Two plans with one digest merge the same
    /// rows the same way.
    public var contentDigest: String {
        var copy = self
        copy.targetState = TargetState(exists: true)
        copy.strategyReason = ""
        copy.unchanged = nil
        copy.preview = nil
        copy.sinceLastApply = nil
        copy.steps = steps.filter { $0.kind != .createTable }.map {
            var step = $0
            step.index = 0
            step.jobId = nil
            step.estimate = nil
            return step
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return BatchEncoder.digest(Array((try? encoder.encode(copy)) ?? Data()))
    }

    /// Bytes billed by the steps, as estimated.
    public var estimatedBilledBytes: Int64 { steps.reduce(0) { $0 + ($1.estimate?.billedBytes ?? 0) } }
    /// Dollars, as estimated.
    public var estimatedCostUSD: Double { steps.reduce(0) { $0 + ($1.estimate?.costUSD ?? 0) } }
    /// Billable query jobs.
    public var queryJobs: Int { steps.filter(\.kind.isQuery).count }
}

/// A file's path and SHA-256.
public struct FileFingerprint: Codable, Sendable, Hashable {
    /// The path as shown.
    public var path: String
    /// Lowercase hex SHA-256.
    public var sha256: String
}

/// The source as planned: files and their hashes, or the query text, or the URIs.
public struct SourceSnapshot: Codable, Sendable, Hashable {
    /// The kind of source.
    public var kind: SourceSpec.Kind
    /// Local files, in read order.
    public var files: [SourceFile]?
    /// The query's text.
    public var query: String?
    /// The URIs.
    public var uris: [String]?
    /// A PostgreSQL source's read: the statement and its rows' count and SHA-256.
    public var database: DatabaseSnapshot?
}

/// The rows an incremental sync's plan covers: past the last successful apply's watermark (less the lag), up to
/// the largest cursor value read.
public struct IncrementalWindow: Codable, Sendable, Hashable {
    /// The cursor column.
    public var cursor: String
    /// The watermark the window starts from (nil: a first run, a lost state, or a full refresh).
    public var watermark: String?
    /// Rows strictly after this cursor value (the watermark less `lag`); nil: no such bound.
    public var after: String?
    /// Rows from this cursor value on (`initial`, when there is no watermark); nil: no such bound.
    public var from: String?
    /// The largest cursor value read, the window's inclusive end and the next watermark; nil when the window
    /// holds no row.
    public var through: String?
    /// Rows in the window (nil where BigQuery reads the source: known once the rows are staged).
    public var rows: Int64?
    /// Whether the watermark was set aside (`--full-refresh`).
    public var fullRefresh: Bool

    /// The watermark a successful apply of this window leaves: its end, else the one it started from.
    public var next: String? { through ?? watermark }

    enum CodingKeys: String, CodingKey {
        case cursor, watermark, after, from, through, rows
        case fullRefresh = "full_refresh"
    }
}

/// The target as planned.
public struct TargetState: Codable, Sendable, Hashable {
    /// Whether the table existed.
    public var exists: Bool
    /// SHA-256 of its schema (names, types, modes), when it existed.
    public var schemaSHA256: String?
    /// Bytes and rows BigQuery reported.
    public var bytes: Int64?
    public var rows: Int64?
    /// Its `lastModifiedTime` (ms since the epoch): any change to its data moves it, so a target changed since an
    /// earlier plan gives another plan id (nil in plan files made before it was kept).
    public var modifiedMs: Int64?

    enum CodingKeys: String, CodingKey {
        case exists
        case schemaSHA256 = "schema_sha256"
        case bytes, rows
        case modifiedMs = "modified_ms"
    }
}

/// One column of a sync's rows.
public struct ColumnPlan: Codable, Sendable, Hashable {
    public var name: String
    public var type: String
    public var required: Bool
    /// False for a `delete_when` column the target does not have.
    public var inTarget: Bool
    /// Whether the source carries it.
    public var carried: Bool

    enum CodingKeys: String, CodingKey {
        case name, type, required
        case inTarget = "in_target"
        case carried
    }
}

/// One step of a sync.
public struct Step: Codable, Sendable, Hashable {
    /// What a step does.
    public enum Kind: String, Codable, Sendable, Hashable {
        /// Create the target dataset/table from `schema:` (free).
        case createTable = "create_table"
        /// Create the run's staging table (free).
        case createStaging = "create_staging"
        /// A load job into the staging table (free).
        case load
        /// A MERGE into the target (billed).
        case merge
        /// A SELECT over the staging table before a gcs or staged query sync's MERGE (billed): its rows with a
        /// NULL key, and the range of partition values the MERGE is limited to (LoadedProfile).
        case profile
        /// A staged query sync's `CREATE OR REPLACE TABLE <staging> AS SELECT …` of the query's rows (billed).
        case stageQuery = "stage_query"
        /// Drop the staging table (free).
        case dropStaging = "drop_staging"

        /// A query job, billed and counted against the session's query limit.
        public var isQuery: Bool { self == .merge || self == .profile || self == .stageQuery }
        /// A job, run under the step's job id.
        public var isJob: Bool { isQuery || self == .load }
    }

    /// Position within the sync.
    public var index: Int
    /// What it does.
    public var kind: Kind
    /// The job id base (attempts append `_<n>`).
    public var jobId: String?
    /// The staging table (`project.dataset.table`) a staged step creates, loads, reads or drops.
    public var table: String?
    /// The statement (merge).
    public var sql: String?
    /// SHA-256 of the parameters or of the loaded file.
    public var payloadDigest: String?
    /// Size of the parameters or of the loaded file.
    public var payloadBytes: Int64?
    /// Rows carried.
    public var rows: Int64?
    /// The estimate.
    public var estimate: Estimate?
    /// The statement's scalar query parameters (an incremental window's bounds), sent with it and with its dry run.
    public var parameters: [StepParameter]?

    enum CodingKeys: String, CodingKey {
        case index, kind
        case jobId = "job_id"
        case table, sql
        case payloadDigest = "payload_digest"
        case payloadBytes = "payload_bytes"
        case rows, estimate, parameters
    }

    /// The parameters as BigQuery query parameters.
    var queryParameters: [QueryParameter] { (parameters ?? []).map(\.queryParameter) }
}

/// A scalar query parameter of a step: `@name`, its GoogleSQL type and its value's text.
public struct StepParameter: Codable, Sendable, Hashable {
    public var name: String
    public var type: String
    public var value: String

    var queryParameter: QueryParameter { QueryParameter(name: name, type: .scalar(type), value: .scalar(value)) }
}

/// What a step is expected to cost.
public struct Estimate: Codable, Sendable, Hashable {
    /// Bytes the dry run reported.
    public var bytesProcessed: Int64
    /// How far the bytes can be trusted.
    public var accuracy: Accuracy
    /// The bytes billed the cost guard counts (the 10 MB minimums applied).
    public var billedBytes: Int64
    /// Dollars.
    public var costUSD: Double
    /// How the estimate was made when it is not simply the dry run's.
    public var note: String?

    enum CodingKeys: String, CodingKey {
        case bytesProcessed = "bytes_processed"
        case accuracy
        case billedBytes = "billed_bytes"
        case costUSD = "cost_usd"
        case note
    }

    /// BigQuery's `totalBytesProcessedAccuracy` of a dry run, or `MODELED` when bqsync computed the figure
    /// itself (no dry run was possible, or it was combined with what the dry run could not see).
    public enum Accuracy: String, Codable, Sendable, Hashable, CaseIterable {
        case precise = "PRECISE"
        case upperBound = "UPPER_BOUND"
        case lowerBound = "LOWER_BOUND"
        case unknown = "UNKNOWN"
        case modeled = "MODELED"

        /// A dry run's accuracy as BigQuery spells it; a value this bqsync does not know counts as unknown.
        public init(bigQuery text: String) {
            self = Accuracy(rawValue: text) ?? .unknown
        }
    }
}

/// A policy's limits and what the plan would spend under them.
public struct BudgetPlan: Codable, Sendable, Hashable {
    /// The policy's name.
    public var policy: String
    /// Its file and hash (nil for the built-in default).
    public var file: FileFingerprint?
    /// Session limits.
    public var maxBytesBilled: Int64
    public var maxQueries: Int
    public var maxCostUSD: Double
    public var maxBytesPerQuery: Int64
    /// What the plan would spend.
    public var plannedBytesBilled: Int64
    public var plannedQueries: Int
    public var plannedCostUSD: Double
    /// The largest single step.
    public var largestQueryBytes: Int64
    /// Each limit the plan would pass, described.
    public var violations: [String]

    enum CodingKeys: String, CodingKey {
        case policy, file
        case maxBytesBilled = "max_bytes_billed"
        case maxQueries = "max_queries"
        case maxCostUSD = "max_cost_usd"
        case maxBytesPerQuery = "max_bytes_per_query"
        case plannedBytesBilled = "planned_bytes_billed"
        case plannedQueries = "planned_queries"
        case plannedCostUSD = "planned_cost_usd"
        case largestQueryBytes = "largest_query_bytes"
        case violations
    }
}
