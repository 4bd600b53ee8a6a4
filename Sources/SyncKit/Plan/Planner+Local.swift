import BigQuery

/// A local source read and batched (`Planner.batchLocal`): what the plan shows of the source, its inline MERGEs
/// (each priced), its staging files' loads, and what the staged MERGE needs.
struct LocalBatches {
    let files: [SourceFile]
    let database: DatabaseSnapshot?
    let rowsRead: Int64
    let windowRows: Int64
    let maxCursor: CursorValue?
    let partitions: Int
    /// The layout's columns the source carries (merge keys included).
    let carried: [Int]
    /// The inline MERGEs, in batch order (none under `strategy: staged`).
    var inline: [Step] = []
    /// One load per staging file, in order, its table not yet set (none under `strategy: inline`).
    var loads: [Step] = []
    /// The rows of the inline batches, or of the staging files under `strategy: staged`.
    var rows: Int64 = 0
    /// The partition values of all the rows, for the staged MERGE's pruning.
    var range = Pruner.Range()
    /// Under `strategy: auto`, why the inline batches ended early: a row too large for any.
    var tooLargeForInline: String?

    init(_ rows: LocalRows) {
        files = rows.files
        database = rows.database
        rowsRead = rows.rowsRead
        windowRows = rows.windowRows
        maxCursor = rows.maxCursor
        partitions = rows.partitions
        carried = rows.carried
    }
}

/// What `strategy` (or, under `auto`, the cheaper of the two) makes of a local source.
struct LocalChoice {
    var strategy: BatchSpec.Strategy
    var reason: String
    var rows: Int64
    var batches: Int
    var steps: [Step]
}

extension Planner {
    /// One inline batch's dry run: the step it prices and its outcome.
    typealias InlineDryRun = (step: Int, result: Result<Estimate, SyncError>)

    func planLocal(
        _ prepared: PreparedTarget, window: CursorWindow?, last: TargetLease.AppliedState?, into plan: inout SyncPlan,
        steps: inout [Step]
    ) async throws(SyncError) {
        let batches = try await batchLocal(prepared, window: window)
        plan.source.files = prepared.sync.source.kind == .postgres ? nil : batches.files
        plan.source.database = batches.database
        plan.rowsRead = batches.rowsRead
        if let window {
            plan.window = describe(
                window, prepared: prepared, last: last, rows: batches.windowRows, through: batches.maxCursor)
        }
        plan.dedupPartitions = batches.partitions
        plan.columns = columnPlans(prepared.layout, carried: batches.carried)
        plan.pruning = Pruner(prepared: prepared).explanation
        let staged = try await stagedSteps(prepared, batches: batches)
        let choice = chooseStrategy(prepared.sync.batch.strategy, batches: batches, staged: staged)
        plan.rows = choice.rows
        plan.strategy = choice.strategy
        plan.strategyReason = choice.reason
        plan.batches = choice.batches
        steps.append(contentsOf: choice.steps)
    }

    /// Reads, deduplicates and batches the source holding a pipeline place. Each inline batch's dry run runs in a
    /// task group as soon as the batch is made, holding a request place; when every place is taken the reading
    /// waits, so the batches held in memory stay bounded. The pipeline place is given back once the reading is
    /// done, before the dry runs are awaited. Every dry run is awaited (none is left running, and after a failed
    /// read they are cancelled first); the first failure in batch order is the one thrown.
    func batchLocal(_ prepared: PreparedTarget, window: CursorWindow? = nil) async throws(SyncError) -> LocalBatches {
        await pipelines.acquire()
        var holdsPipeline = true
        defer { if holdsPipeline { pipelines.release() } }
        let rows = try LocalRows(prepared, window: window, maxRowErrors: maxRowErrors)
        let outcome = await withTaskGroup(of: InlineDryRun.self, returning: Result<LocalBatches, SyncError>.self) {
            group in
            var batches: LocalBatches
            do throws(SyncError) {
                batches = try await collectBatches(rows, prepared: prepared, dryRuns: &group)
            } catch {
                group.cancelAll()
                return .failure(error)
            }
            pipelines.release()
            holdsPipeline = false
            var results = [Result<Estimate, SyncError>?](repeating: nil, count: batches.inline.count)
            for await (step, result) in group { results[step] = result }
            for (step, result) in results.enumerated() {
                switch result {
                case .success(let estimate): batches.inline[step].estimate = estimate
                case .failure(let error): return .failure(error)
                case nil: continue  // the target is created by this plan: modeled, not dry-run
                }
            }
            return .success(batches)
        }
        return try outcome.get()
    }

    /// The source's batches, in order. When the target exists, each inline batch's dry run is added to `dryRuns`
    /// once a request place is free; otherwise its estimate is modeled.
    func collectBatches(_ rows: LocalRows, prepared: PreparedTarget, dryRuns: inout TaskGroup<InlineDryRun>)
        async throws(SyncError) -> LocalBatches
    {
        let strategy = prepared.sync.batch.strategy
        let builder = MergeBuilder(
            target: prepared.target, layout: prepared.layout, carried: rows.carried, update: prepared.sync.merge.update)
        let pruner = Pruner(prepared: prepared)
        let network = self.network
        let spool = self.spool
        var batches = LocalBatches(rows)
        let inline = { (batch: [PackedRow], parameter: [UInt8]) async throws(SyncError) -> Void in
            batches.rows += Int64(batch.count)
            let sql = builder.merge(.parameter("rows"), pruning: pruner.predicate(batch))
            let digest = BatchEncoder.digest(parameter)
            try spool?.put(parameter, digest: digest)
            var step = Step(
                index: 0, kind: .merge, sql: sql, payloadDigest: digest, payloadBytes: Int64(parameter.count),
                rows: Int64(batch.count))
            if prepared.table != nil {
                await network.acquire()
                dryRuns.addTask { [index = batches.inline.count] in
                    defer { network.release() }
                    do throws(SyncError) {
                        let parameters = [MergeBuilder.rowsParameter(parameter)]
                        let estimate = try await self.estimate(sql, parameters: parameters, prepared: prepared)
                        return (index, .success(estimate))
                    } catch {
                        return (index, .failure(error))
                    }
                }
            } else {
                step.estimate = modeled(
                    Billing.minimum, policy: prepared.policy, note: "the target is created by this plan: 10 MB minimum")
            }
            batches.inline.append(step)
        }
        let staged = { (file: StagedFile) async throws(SyncError) -> Void in
            if strategy == .staged { batches.rows += Int64(file.rows) }
            if let contents = file.contents { try spool?.put(contents, digest: file.digest) }
            batches.loads.append(
                Step(
                    index: 0, kind: .load, payloadDigest: file.digest, payloadBytes: Int64(file.bytes),
                    rows: Int64(file.rows)))
        }
        let tooLarge = { (row: PackedRow, bytes: Int) throws(SyncError) -> Void in
            batches.tooLargeForInline = try tooLargeForInline(row, bytes: bytes, prepared: prepared)
        }
        // `inline` adds to the task group, so it must not escape; `batches` takes it as an optional (escaping) value.
        try await withoutActuallyEscaping(inline) { (inline) async throws(SyncError) in
            try await rows.batches(
                size: prepared.sync.batch.size, maxBytes: Self.maxInlineBytes, fileBytes: Self.stagedFileBytes,
                keepFiles: spool != nil, encoder: BatchEncoder(layout: prepared.layout, carried: rows.carried),
                inline: strategy == .staged ? nil : inline, tooLarge: tooLarge,
                staged: strategy == .inline ? nil : staged, each: { row in pruner.extend(&batches.range, with: row) })
        }
        return batches
    }

    /// A row too large for any inline batch: an error under `strategy: inline`; under `auto`, the reason the plan
    /// is staged.
    func tooLargeForInline(_ row: PackedRow, bytes: Int, prepared: PreparedTarget) throws(SyncError) -> String {
        let key = prepared.layout.keys.map {
            "\(prepared.layout.columns[$0].name) = \(row.value($0).map { ValueConversion.quoted($0) } ?? "NULL")"
        }
        let what =
            "the row with \(key.joined(separator: ", ")) is \(Format.bytes(Int64(bytes))) as an inline parameter, more than the "
            + "\(Format.bytes(Int64(Self.maxInlineBytes))) an inline batch may carry (BigQuery refuses a request over 10 MB)"
        guard prepared.sync.batch.strategy == .auto else {
            throw SyncError.definition(
                "\(prepared.sync.location(of: .batchStrategy)): sync '\(prepared.sync.name)': \(what); use strategy: staged or auto"
            )
        }
        return what
    }

    /// The staged plan (unless `strategy: inline`): create the staging table, load each file, one MERGE that reads
    /// the whole staging table once and scans the target once, drop the table. None when there are no rows.
    func stagedSteps(_ prepared: PreparedTarget, batches: LocalBatches) async throws(SyncError) -> [Step] {
        guard prepared.sync.batch.strategy != .inline else { return [] }
        let content = BatchEncoder.digest(
            Array((batches.loads.compactMap(\.payloadDigest).joined() + prepared.target.description).utf8))
        let staging = try stagingTable(prepared, content: content)
        let builder = MergeBuilder(
            target: prepared.target, layout: prepared.layout, carried: batches.carried,
            update: prepared.sync.merge.update)
        // Limited to the partitions of all the rows, as each inline batch is to its own (Pruner).
        let pruning = Pruner(prepared: prepared).predicate(batches.range)
        var merge = Step(
            index: 0, kind: .merge, sql: builder.merge(.stagedText(staging), pruning: pruning),
            rows: batches.loads.reduce(Int64(0)) { $0 + ($1.rows ?? 0) })
        merge.estimate = try await stagedEstimate(
            prepared, probe: builder.merge(.parameter("rows"), pruning: pruning),
            stagedBytes: batches.loads.reduce(Int64(0)) { $0 + ($1.payloadBytes ?? 0) })
        merge.table = staging.description
        let loads = batches.loads.map { load in
            var load = load
            load.table = staging.description
            return load
        }
        let steps =
            [Step(index: 0, kind: .createStaging, table: staging.description)] + loads
            + [merge, Step(index: 0, kind: .dropStaging, table: staging.description)]
        // Counted from the staging files themselves: under `auto`, `batches.rows` counts only the inline batches,
        // which stop early (or never start) at a row too large for them.
        return merge.rows == 0 ? [] : steps
    }

    /// The staged MERGE's estimate: a dry run of `probe` (the MERGE over an empty batch: the target scan) plus the
    /// staged rows, read once; modeled when the plan creates the target.
    func stagedEstimate(_ prepared: PreparedTarget, probe: String, stagedBytes: Int64) async throws(SyncError)
        -> Estimate
    {
        let policy = prepared.policy
        guard prepared.table != nil else {
            return modeled(
                Billing.billed(perTable: [0, stagedBytes]), policy: policy,
                note: "the target is created by this plan: the staged rows, 10 MB minimum per table referenced")
        }
        var estimate = try await dryRun(probe, parameters: [MergeBuilder.emptyRowsParameter], prepared: prepared)
        estimate.bytesProcessed += stagedBytes
        estimate.billedBytes = Billing.billed(perTable: [estimate.billedBytes, stagedBytes])
        estimate.costUSD = Billing.cost(billedBytes: estimate.billedBytes, usdPerTiB: policy.limits.usdPerTiB)
        estimate.accuracy = .modeled
        estimate.note = "dry run of the target scan plus the staged rows (\(Format.bytes(stagedBytes)), read once)"
        return estimate
    }

    /// The strategy the sync names, or under `auto` the cheaper by billed bytes (ties to the fewer jobs, inline
    /// first), unless a row was too large to go inline.
    func chooseStrategy(_ strategy: BatchSpec.Strategy, batches: LocalBatches, staged: [Step]) -> LocalChoice {
        let inline = batches.inline
        let loads = batches.loads
        switch strategy {
        case .inline:
            return LocalChoice(
                strategy: .inline, reason: "batch.strategy: inline", rows: batches.rows, batches: inline.count,
                steps: inline)
        case .staged:
            return LocalChoice(
                strategy: .staged, reason: "batch.strategy: staged", rows: batches.rows, batches: loads.count,
                steps: staged)
        case .auto:
            let inlineCost = inline.reduce(Int64(0)) { $0 + ($1.estimate?.billedBytes ?? 0) }
            let stagedCost = staged.reduce(Int64(0)) { $0 + ($1.estimate?.billedBytes ?? 0) }
            let stagedJobs = staged.filter { $0.kind == .merge || $0.kind == .load }.count
            let pickInline =
                batches.tooLargeForInline == nil
                && (inlineCost < stagedCost || (inlineCost == stagedCost && inline.count <= stagedJobs))
            let reason: String
            if let tooLarge = batches.tooLargeForInline {
                reason = "auto: staged, because \(tooLarge)"
            } else {
                reason =
                    "auto: inline \(inline.count) MERGE\(inline.count == 1 ? "" : "s") ≈ \(Format.bytes(inlineCost)) billed; "
                    + "staged \(loads.count) free load\(loads.count == 1 ? "" : "s") + 1 MERGE ≈ \(Format.bytes(stagedCost)) billed"
            }
            return pickInline
                ? LocalChoice(
                    strategy: .inline, reason: reason, rows: inline.reduce(0) { $0 + ($1.rows ?? 0) },
                    batches: inline.count, steps: inline)
                : LocalChoice(
                    strategy: .staged, reason: reason, rows: loads.reduce(0) { $0 + ($1.rows ?? 0) },
                    batches: loads.count, steps: staged)
        }
    }
}
