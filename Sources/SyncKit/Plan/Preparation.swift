import BigQuery
import Crypto
import Foundation

/// What plan and apply both derive for one sync: the resolved target, its table, the row layout.
struct PreparedTarget: Sendable {
    let sync: SyncDefinition
    let policy: Policy
    let target: TableReference
    /// The table as it is now; nil when the plan creates it.
    let table: TableResource?
    let layout: RowLayout
    /// The time-partitioning column, if any.
    let partitionField: String?
    /// Where the target's jobs run, known before the first one (docs/bigquery.md, "Locations"): its table's
    /// location, else its dataset's, else `target.location`, else BigQuery's default (US), where bqsync then
    /// creates the dataset.
    let location: String

    /// Whether BigQuery refuses any statement on the target that does not filter on its partition column
    /// (`requirePartitionFilter`; docs/bigquery.md, "Partition filters").
    var requiresPartitionFilter: Bool { table?.requirePartitionFilter == true && partitionField != nil }

    /// The SHA-256 of the table's schema (names, types, modes), or nil when it does not exist.
    var schemaFingerprint: String? {
        guard let table else { return nil }
        let text = table.fields.map {
            "\($0.name.lowercased()):\($0.type.uppercased()):\(($0.mode ?? "NULLABLE").uppercased())"
        }.joined(separator: "\n")
        return BatchEncoder.digest(Array(text.utf8))
    }

    /// `others`: every other policy of the configuration; a table any policy protects is never written (the
    /// client refuses it too, but only at the first write, after the lease and state jobs have run).
    static func prepare(
        _ sync: SyncDefinition, policy: Policy, client: BigQueryClient, defaultProject: String?,
        others: [Policy] = []
    ) async throws(SyncError) -> PreparedTarget {
        let target = try resolvedTarget(sync, policy: policy, defaultProject: defaultProject, others: others)
        let (table, location) = try await currentTable(target, sync: sync, client: client)
        let columns: [RowLayout.Column]
        let partitionField: String?
        if let table {
            columns = try checkedColumns(of: table, sync: sync, target: target)
            partitionField = table.timePartitioning?.field
        } else {
            guard sync.target.createIfMissing, let schema = sync.target.schema else {
                throw SyncError.definition(
                    "\(sync.location(of: .targetTable)): table \(target) does not exist (set target.create_if_missing: true with a schema: to create it)"
                )
            }
            columns = schema.map {
                RowLayout.Column(name: $0.name, type: $0.type, required: $0.mode == .required, inTarget: true)
            }
            partitionField = sync.target.partitioning?.field
        }
        let layout: RowLayout
        do {
            layout = try RowLayout(columns: columns, merge: sync.merge)
        } catch {
            throw SyncError.definition("\(sync.location(of: .merge)): sync '\(sync.name)': \(error.description)")
        }
        return PreparedTarget(
            sync: sync, policy: policy, target: target, table: table, layout: layout, partitionField: partitionField,
            location: location)
    }

    /// The sync's target, fully qualified; refused when `policy` or any of `others` protects it.
    private static func resolvedTarget(
        _ sync: SyncDefinition, policy: Policy, defaultProject: String?, others: [Policy]
    ) throws(SyncError) -> TableReference {
        let target: TableReference
        do {
            target = try sync.target.table.resolved(defaultProject: defaultProject)
        } catch {
            throw SyncError.definition("\(sync.location(of: .targetTable)): \(error.description)")
        }
        for guarding in [policy] + others.filter({ $0.name != policy.name }).sorted(by: { $0.name < $1.name }) {
            if let pattern = guarding.protectingPattern(for: target) {
                throw SyncError.refused(
                    "sync '\(sync.name)': target \(target) is protected by policy '\(guarding.name)' (pattern '\(pattern)'); nothing was sent"
                )
            }
        }
        return target
    }

    /// The target's table as it is now (nil when it does not exist) and where its jobs run; an error when
    /// `target.location` names another location than its dataset's.
    private static func currentTable(_ target: TableReference, sync: SyncDefinition, client: BigQueryClient)
        async throws(SyncError) -> (table: TableResource?, location: String)
    {
        let (table, datasetLocation) = try await SyncError.lifting {
            () async throws(BigQueryError) -> (TableResource?, String?) in
            let table = try await client.getTable(target)
            // BigQuery answers a table's location with it; a server that does not (the emulator) is asked for the dataset's.
            let location =
                table?.location == nil
                ? try await client.getDataset(project: target.projectId, dataset: target.datasetId)?.location : nil
            return (table, location)
        }
        let location = table?.location ?? datasetLocation ?? sync.target.location ?? "US"
        if let wanted = sync.target.location, wanted.lowercased() != location.lowercased() {
            throw SyncError.definition(
                "\(sync.location(of: .targetLocation)): target.location is \(wanted), but dataset \(target.projectId).\(target.datasetId) "
                    + "is in \(location); a dataset's location cannot change (remove target.location, or name a dataset in \(wanted))"
            )
        }
        return (table, location)
    }

    /// An existing table's columns bqsync can write (REPEATED and unknown types are left out), checked against
    /// the columns the definition declares in `schema:`.
    private static func checkedColumns(of table: TableResource, sync: SyncDefinition, target: TableReference)
        throws(SyncError) -> [RowLayout.Column]
    {
        var columns: [RowLayout.Column] = []
        for field in table.fields {
            guard (field.mode ?? "NULLABLE").uppercased() != "REPEATED",
                let type = FieldType(bigQueryName: field.type)
            else { continue }
            columns.append(
                RowLayout.Column(
                    name: field.name, type: type, required: (field.mode ?? "").uppercased() == "REQUIRED",
                    inTarget: true))
        }
        for spec in sync.target.schema ?? [] {
            let location = sync.location(of: .column(spec.name))
            guard let actual = columns.first(where: { $0.name.lowercased() == spec.name.lowercased() }) else {
                if let field = table.fields.first(where: { $0.name.lowercased() == spec.name.lowercased() }) {
                    throw SyncError.definition(
                        "\(location): column '\(spec.name)' is \((field.mode ?? "NULLABLE").uppercased()) \(field.type) in \(target), "
                            + "which bqsync cannot write; remove it from schema:")
                }
                throw SyncError.definition(
                    "\(location): column '\(spec.name)' is declared in schema: but \(target) has no such column. Add it "
                        + "(ALTER TABLE `\(target)` ADD COLUMN `\(spec.name)` \(spec.type.rawValue)) or remove it from schema:"
                )
            }
            if actual.type != spec.type {
                throw SyncError.definition(
                    "\(location): column '\(spec.name)' is \(spec.type.rawValue) in schema: but \(actual.type.rawValue) in \(target)"
                )
            }
        }
        return columns
    }

    /// The table to create from the definition.
    var creation: TableResource {
        let schema = (sync.target.schema ?? []).map {
            FieldSchema(name: $0.name, type: $0.type.rawValue, mode: $0.mode.rawValue, description: $0.description)
        }
        let partitioning = sync.target.partitioning.map { TimePartitioning(type: $0.type.rawValue, field: $0.field) }
        let clustering = sync.target.clustering.isEmpty ? nil : Clustering(fields: sync.target.clustering)
        return TableResource(
            reference: target, schema: schema, description: sync.description, labels: ["managed-by": "bqsync"],
            timePartitioning: partitioning, clustering: clustering)
    }
}

/// A source bqsync reads itself (local files, or a PostgreSQL table or query) read once: converted, limited to the
/// incremental window, deduplicated, then handed out in batches.
final class LocalRows {
    /// Local files, with their hashes (none for a database source).
    let files: [SourceFile]
    /// A database source's read: its statement and its rows' digest.
    let database: DatabaseSnapshot?
    /// Rows read from the source (inside the window, for a database source, whose query applies it).
    let rowsRead: Int64
    /// Rows kept by the incremental window, and the largest cursor among them.
    let windowRows: Int64
    let maxCursor: CursorValue?
    let carried: [Int]
    let partitions: Int
    private let dedup: Deduplicator

    /// Partitions for a database source, whose size is not known before it is read: 32 bound memory to about
    /// 8 MB of rows per partition up to 256 MB read, and keep the batches the same between plan and apply.
    static let databasePartitions = 32

    /// Reads the whole source (every error found here, before anything is sent). `window` limits an incremental
    /// sync's rows (in the query for a database, row by row for files).
    init(
        _ prepared: PreparedTarget, window: CursorWindow? = nil,
        maxRowErrors: Int = LocalSource.defaultMaxRowErrors
    ) throws(SyncError) {
        let layout = prepared.layout
        var kept: Int64 = 0
        var maxCursor: CursorValue?
        let cursorType = window.map { layout.columns[$0.column].type }
        func admit(_ row: PackedRow) throws(SyncError) -> Bool {
            guard let window, let cursorType else { return true }
            let value = try row.value(window.column).map { (text) throws(SyncError) -> CursorValue in
                do throws(ConversionProblem) {
                    return try CursorValue(canonical: text, type: cursorType)
                } catch {
                    throw SyncError.internal("cursor value \(text): \(error.message)")
                }
            }
            guard window.admits(value) else { return false }
            kept += 1
            if let value, maxCursor.map({ $0 < value }) ?? true { maxCursor = value }
            return true
        }
        var carried: Set<Int>
        if prepared.sync.source.kind == .postgres {
            partitions = Self.databasePartitions
            let dedup = try Deduplicator(layout: layout, partitions: partitions)
            self.dedup = dedup
            let read = try PostgresSource(sync: prepared.sync).read(
                layout: layout, window: window, maxErrors: maxRowErrors
            ) { (row) throws(SyncError) in
                if try admit(row) { try dedup.add(row) }
            }
            files = []
            database = read.snapshot
            rowsRead = read.snapshot.rows
            carried = read.carried
        } else {
            let source = try LocalSource(spec: prepared.sync.source)
            partitions = Deduplicator.partitionCount(sourceBytes: try source.totalBytes())
            let dedup = try Deduplicator(layout: layout, partitions: partitions)
            self.dedup = dedup
            var decoder = RowDecoder(layout: layout, ignoreUnknown: prepared.sync.source.ignoreUnknownFields)
            var read: Int64 = 0
            files = try source.read(into: &decoder, maxErrors: maxRowErrors) { (row) throws(SyncError) in
                read += 1
                if try admit(row) { try dedup.add(row) }
            }
            database = nil
            rowsRead = read
            carried = decoder.carried
        }
        windowRows = kept
        self.maxCursor = maxCursor
        for key in layout.keys { carried.insert(key) }
        self.carried = carried.sorted()
    }

    /// Calls `inline` with each inline batch (at most `size` rows and `maxBytes` of parameter) and `staged`
    /// with each staging file's NDJSON (at most `fileBytes`), in order. With `keepFiles` false the staging files
    /// are only measured and hashed as they are written, never held whole (what a plan needs).
    ///
    /// A row whose parameter alone is over `maxBytes` cannot go inline (BigQuery refuses a request over 10 MB):
    /// `tooLarge` is called with it and its size instead, and either throws, or returns to end the inline
    /// batches there while the staging files go on.
    func batches(
        size: Int, maxBytes: Int, fileBytes: Int, keepFiles: Bool = true, encoder: BatchEncoder,
        inline: (([PackedRow], [UInt8]) async throws(SyncError) -> Void)?,
        tooLarge: (PackedRow, Int) throws(SyncError) -> Void = { _, bytes throws(SyncError) in
            throw SyncError.definition(
                "a row is \(Format.bytes(Int64(bytes))) as an inline parameter, over the \(Format.bytes(Int64(Planner.maxInlineBytes))) an inline batch may carry"
            )
        },
        staged: ((StagedFile) async throws(SyncError) -> Void)?,
        each: (PackedRow) -> Void = { _ in }
    ) async throws(SyncError) {
        var pending: [PackedRow] = []
        var file = StagingWriter(limit: fileBytes, keep: keepFiles)
        var inline = inline
        func flushInline(_ rows: [PackedRow]) async throws(SyncError) {
            guard !rows.isEmpty, let send = inline else { return }
            let parameter = encoder.parameterValue(rows[...])
            if parameter.count > maxBytes {
                guard rows.count == 1 else {
                    let half = rows.count / 2
                    try await flushInline(Array(rows[..<half]))
                    try await flushInline(Array(rows[half...]))
                    return
                }
                try tooLarge(rows[0], parameter.count)
                inline = nil
                return
            }
            try await send(rows, parameter)
        }
        while let group = try dedup.next() {
            for row in group {
                each(row)
                pending.append(row)
                if pending.count == size {
                    try await flushInline(pending)
                    pending.removeAll(keepingCapacity: true)
                }
                guard let staged else { continue }
                file.append(row, encoder: encoder)
                if file.isFull { try await staged(file.finish()) }
            }
        }
        try await flushInline(pending)
        if file.rows > 0, let staged { try await staged(file.finish()) }
    }
}

/// One staging file of NDJSON: its SHA-256, size and rows, and its bytes when they were kept.
struct StagedFile: Sendable {
    var digest: String
    var bytes: Int
    var rows: Int
    var contents: [UInt8]?
}

/// Writes staging files of at most about `limit` bytes. Kept files get their whole buffer reserved up front
/// (so a full one is never copied into a doubled buffer); otherwise the bytes are hashed in 256 KiB pieces
/// and dropped.
struct StagingWriter {
    let limit: Int
    let keep: Bool
    let piece: Int
    private var json: JSONWriter
    private var hasher = SHA256Stream()
    private var hashed = 0
    private(set) var rows = 0

    init(limit: Int, keep: Bool, piece: Int = 256 << 10) {
        self.limit = limit
        self.keep = keep
        self.piece = piece
        json = JSONWriter(capacity: keep ? limit + piece : piece * 2)
    }

    var isFull: Bool { hashed + json.bytes.count >= limit }

    mutating func append(_ row: PackedRow, encoder: BatchEncoder) {
        encoder.ndjson(row, into: &json)
        rows += 1
        if !keep && json.bytes.count >= piece { drain() }
    }

    private mutating func drain() {
        json.bytes.withUnsafeBufferPointer { hasher.update($0) }
        hashed += json.bytes.count
        json.clear()
    }

    /// The file so far; the writer starts a new one.
    mutating func finish() -> StagedFile {
        let file: StagedFile
        if keep {
            file = StagedFile(
                digest: BatchEncoder.digest(json.bytes), bytes: json.bytes.count, rows: rows, contents: json.bytes)
        } else {
            drain()
            file = StagedFile(digest: hasher.hex(), bytes: hashed, rows: rows, contents: nil)
        }
        self = StagingWriter(limit: limit, keep: keep, piece: piece)
        return file
    }
}
