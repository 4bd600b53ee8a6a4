import BigQuery
import Foundation

/// Compiles sync definitions into a plan: reads and deduplicates each source, batches it, writes the MERGEs,
/// dry-runs every query step through the client, picks the cheaper strategy, and checks the totals against
/// each policy. It sends nothing but dry runs and metadata reads.
public struct Planner: Sendable {
    /// The parameter of an inline batch is kept under this (BigQuery refuses requests over 10 MB).
    public static let maxInlineBytes = 8 << 20
    /// A staged load file is cut at this size.
    public static let stagedFileBytes = 16 << 20

    /// Requests (table reads and dry runs) in flight at once, across all syncs of a plan.
    public static let defaultRequests = 64
    /// Local sources read, converted and deduplicated at once: CPU- and memory-bound, so at most one per core
    /// but one, and never more than four (each can hold tens of MB while it deduplicates).
    public static var defaultPipelines: Int { min(4, max(1, ProcessInfo.processInfo.activeProcessorCount - 1)) }

    let client: BigQueryClient
    let configuration: Configuration
    let defaultProject: String?
    let stateDataset: String
    /// Bounds the requests in flight.
    let network: AsyncLimiter
    /// Bounds the local pipelines running.
    let pipelines: AsyncLimiter
    /// Plan every sync's steps, even one whose content was applied already to a target still as it was left.
    let force: Bool
    /// Count what each sync's MERGEs would do (`--preview`), by one priced query per sync.
    let preview: Bool
    /// Read incremental syncs whole, setting their watermarks aside (`--full-refresh`).
    let fullRefresh: Bool
    /// Where the batches and staging files are kept for an apply in this process (`apply SYNC…`), so it reads no
    /// source again; nil for a plan that is only shown or saved.
    let spool: PayloadSpool?
    /// A local source's bad rows reported at most, before the reading stops.
    let maxRowErrors: Int
    let previewQueries = PreviewQueries()

    /// How many of a local source's bad rows a plan reports before it stops reading.
    public static let defaultMaxRowErrors = LocalSource.defaultMaxRowErrors

    /// Creates a planner over loaded configuration. Every sync is planned at once; `requests` bounds the
    /// requests in flight and `pipelines` the local sources being read.
    public init(
        client: BigQueryClient, configuration: Configuration, defaultProject: String?, stateDataset: String = "bqsync",
        requests: Int = Planner.defaultRequests, pipelines: Int = Planner.defaultPipelines, force: Bool = false,
        preview: Bool = false, fullRefresh: Bool = false, maxRowErrors: Int = Planner.defaultMaxRowErrors,
        spool: PayloadSpool? = nil
    ) {
        self.fullRefresh = fullRefresh
        self.spool = spool
        self.maxRowErrors = max(1, maxRowErrors)
        self.force = force
        self.preview = preview
        self.client = client
        self.configuration = configuration
        self.defaultProject = defaultProject
        self.stateDataset = stateDataset
        network = AsyncLimiter(width: requests)
        self.pipelines = AsyncLimiter(width: pipelines)
    }

    /// The syncs a command names (all when none), or an error naming the unknown ones.
    public static func select(_ names: [String], from configuration: Configuration) throws(SyncError)
        -> [SyncDefinition]
    {
        let all = configuration.syncs.sorted { $0.name < $1.name }
        guard !names.isEmpty else { return all }
        var chosen: [SyncDefinition] = []
        for name in names {
            guard let sync = all.first(where: { $0.name == name }) else {
                let hint = Suggest.closest(to: name, in: all.map(\.name)).map { " (did you mean '\($0)'?)" } ?? ""
                throw SyncError.usage(
                    "no sync named '\(name)'\(hint); known: \(all.map(\.name).joined(separator: ", "))")
            }
            if !chosen.contains(where: { $0.name == name }) { chosen.append(sync) }
        }
        return chosen.sorted { $0.name < $1.name }
    }

    /// Plans the named syncs (all when none).
    public func plan(_ names: [String], progress: @escaping @Sendable (String) -> Void = { _ in })
        async throws(SyncError) -> Plan
    {
        let syncs = try Self.select(names, from: configuration)
        guard !syncs.isEmpty else { throw SyncError.usage("there are no syncs to plan (syncs.d/ is empty)") }
        for sync in syncs where configuration.policy(for: sync) == nil {
            throw SyncError.definition("\(sync.location(of: .policy)): policy '\(sync.policyName)' does not exist")
        }
        // Syncs are planned concurrently: their requests overlap, bounded by `network`, and their local sources
        // are read a few at a time (`pipelines`). The plan keeps name order, and the first failure in that order
        // is the one reported.
        let results = await withTaskGroup(
            of: (Int, Result<SyncPlan, SyncError>).self,
            returning: [Int: Result<SyncPlan, SyncError>].self
        ) { group in
            var collected: [Int: Result<SyncPlan, SyncError>] = [:]
            for (index, sync) in syncs.enumerated() {
                // Every job log line of this sync's dry runs names it.
                group.addTask {
                    (
                        index,
                        await JobLog.$sync.withValue(sync.name) {
                            await self.planOne(sync, index: index, progress: progress)
                        }
                    )
                }
            }
            for await (done, result) in group { collected[done] = result }
            return collected
        }
        var plans: [SyncPlan] = []
        for index in syncs.indices {
            switch results[index] {
            case .success(let plan): plans.append(plan)
            case .failure(let error): throw error
            case nil: throw SyncError.internal("sync '\(syncs[index].name)' was not planned")
            }
        }
        var plan = Plan(
            formatVersion: Plan.currentFormatVersion, planId: "", stateDataset: stateDataset, syncs: plans,
            budgets: budgets(plans))
        // The id is the work's, not the target's history: what the last apply was does not change it.
        var identity = plan
        for s in identity.syncs.indices { identity.syncs[s].sinceLastApply = nil }
        plan.planId = String(BatchEncoder.digest(try identity.encoded()).prefix(16))
        for s in plan.syncs.indices {
            for t in plan.syncs[s].steps.indices where plan.syncs[s].steps[t].kind.isJob {
                plan.syncs[s].steps[t].jobId = "bqsync_\(plan.planId)_\(s)_\(t)"
            }
        }
        if preview { try await runPreviews(&plan) }
        return plan
    }

    // MARK: - one sync

    func planOne(_ sync: SyncDefinition, index: Int, progress: @Sendable (String) -> Void) async -> Result<
        SyncPlan, SyncError
    > {
        progress("planning \(sync.name)")
        do throws(SyncError) {
            let policy = configuration.policy(for: sync) ?? .builtInDefault
            let prepared = try await network.withPlace { () async throws(SyncError) in
                try await PreparedTarget.prepare(
                    sync, policy: policy, client: client, defaultProject: defaultProject,
                    others: Array(configuration.policies.values))
            }
            return .success(try await planSync(prepared, index: index))
        } catch {
            return .failure(error)
        }
    }

    func planSync(_ prepared: PreparedTarget, index: Int) async throws(SyncError) -> SyncPlan {
        let sync = prepared.sync
        var plan = SyncPlan(
            name: sync.name, definition: FileFingerprint(path: sync.file.path, sha256: sync.file.sha256),
            policy: prepared.policy.name,
            target: prepared.target.description, strategy: .inline, strategyReason: "",
            source: SourceSnapshot(kind: sync.source.kind),
            targetState: TargetState(
                exists: prepared.table != nil, schemaSHA256: prepared.schemaFingerprint,
                bytes: prepared.table?.bytes, rows: prepared.table?.rows,
                modifiedMs: prepared.table?.lastModifiedTime.flatMap { Int64($0) }),
            columns: [], rowsRead: nil, rows: nil, batches: 0, pruning: nil, dedupPartitions: 1, steps: [])
        var steps: [Step] = []
        if prepared.table == nil { steps.append(Step(index: 0, kind: .createTable)) }
        try checkPartitionFilter(prepared)
        let last = await lastApply(plan, prepared: prepared)
        let window = try self.window(prepared, last: last)
        switch sync.source.kind {
        case .ndjson, .csv, .postgres:
            try await planLocal(prepared, window: window, last: last, into: &plan, steps: &steps)
        case .query:
            try await planQuery(prepared, window: window, into: &plan, steps: &steps)
        case .gcs:
            try await planGCS(prepared, window: window, into: &plan, steps: &steps)
        }
        if let window, !sync.source.kind.readsRows {
            plan.window = describe(window, prepared: prepared, last: last, rows: nil, through: nil)
        }
        for i in steps.indices { steps[i].index = i }
        plan.steps = steps
        if let last {
            plan.sinceLastApply = SyncPlan.SinceLastApply(
                planId: last.planId, appliedAtMs: last.appliedAtMs, billedBytes: last.billedBytes,
                costUSD: last.costUSD,
                changes: last.shape.map { plan.shape(keys: sync.merge.keys).changes(since: $0) })
        }
        if !force, let last, let table = prepared.table, plan.source.kind.readsRows,
            last.content == plan.contentDigest, last.rows == table.rows,
            last.modifiedMs == table.lastModifiedTime.flatMap({ Int64($0) })
        {
            // Only the rows bqsync reads itself are hashed by the plan; a query's tables or a bucket's files can
            // change unseen, so those are merged again.
            plan.unchanged = SyncPlan.Unchanged(planId: last.planId, appliedAtMs: last.appliedAtMs)
            plan.steps = []
        } else if preview {
            plan.preview = try await pricePreview(plan, prepared: prepared)
        }
        return plan
    }

    /// What the sync's last successful apply to this target recorded in its lease (nil when there is none, or
    /// the lease cannot be read: then nothing is called unchanged and nothing compared).
    func lastApply(_ plan: SyncPlan, prepared: PreparedTarget) async -> TargetLease.AppliedState? {
        guard prepared.table != nil,
            let lease = try? TargetLease(
                client: client, target: prepared.target, stateDataset: stateDataset, location: prepared.location,
                seconds: 0),
            let (_, record) = try? await network.withPlace({ () async throws(SyncError) in try await lease.read() })
        else { return nil }
        return record.last(sync: plan.name)
    }

    /// A target that requires a partition filter refuses every statement without one, dry runs included
    /// (docs/bigquery.md, "Partition filters"). The MERGEs of a local, gcs or staged query source whose partition
    /// column is a merge key carry one: a constant range over the batch's rows, over all rows for the staged
    /// MERGE, or over the staged rows' days (found by the profile step) for gcs and staged query sources. Anything
    /// else is refused here, before any dry run, rather than by BigQuery at apply.
    func checkPartitionFilter(_ prepared: PreparedTarget) throws(SyncError) {
        guard prepared.requiresPartitionFilter, let field = prepared.partitionField else { return }
        let pruner = Pruner(prepared: prepared)
        let reason: String?
        if prepared.sync.source.kind == .query, prepared.sync.batch.strategy == .inline {
            reason =
                "an inline query MERGE reads the query itself, so its rows are not known before it runs "
                + "(batch.strategy staged or auto stages and profiles them first)"
        } else if pruner.column == nil {
            reason =
                pruner.explanation.map { $0.replacingOccurrences(of: "none: ", with: "") }
                ?? "the partition column cannot be pruned"
        } else {
            reason = nil
        }
        guard let reason else { return }
        throw SyncError.definition(
            "\(prepared.sync.location(of: .targetTable)): sync '\(prepared.sync.name)': \(prepared.target) requires a filter on its "
                + "partition column '\(field)' (requirePartitionFilter), and BigQuery would refuse this sync's MERGE: \(reason). Use an "
                + "ndjson, csv, gcs or staged query source with '\(field)' among merge.keys; nothing was sent"
        )
    }

    func stagingTable(_ prepared: PreparedTarget, content: String) throws(SyncError) -> TableReference {
        // In the target's own dataset, so in its location (docs/bigquery.md, "Locations"); it expires after a day.
        try SyncError.liftingSync { () throws(BigQueryError) in
            try TableReference(
                projectId: prepared.target.projectId, datasetId: prepared.target.datasetId,
                tableId:
                    "bqsync_stage_\(prepared.sync.name.replacingOccurrences(of: "-", with: "_"))_\(content.prefix(16))")
        }
    }

    func planQuery(_ prepared: PreparedTarget, window: CursorWindow?, into plan: inout SyncPlan, steps: inout [Step])
        async throws(SyncError)
    {
        guard let query = prepared.sync.source.query else {
            throw SyncError.internal("sync '\(prepared.sync.name)' has no source.query")
        }
        plan.source.query = query
        let carried = try await queryColumns(query, prepared: prepared)
        plan.columns = columnPlans(prepared.layout, carried: carried)
        let builder = MergeBuilder(
            target: prepared.target, layout: prepared.layout, carried: carried, update: prepared.sync.merge.update)
        plan.batches = 1
        let strategy = prepared.sync.batch.strategy
        let refusesNullKeys = prepared.sync.merge.nullKeys == .refuse
        if strategy == .inline, refusesNullKeys {
            throw SyncError.definition(
                "\(prepared.sync.location(of: .mergeNullKeys)): sync '\(prepared.sync.name)': merge.null_keys: refuse needs the "
                    + "query's rows staged and profiled before the MERGE, but batch.strategy is inline (set it to staged or auto)"
            )
        }
        if strategy == .inline, window != nil {
            throw SyncError.definition(
                "\(prepared.sync.location(of: .batchStrategy)): sync '\(prepared.sync.name)': an incremental query source is "
                    + "staged, so that its window's end (the next watermark) is found before the MERGE, but batch.strategy is "
                    + "inline (set it to staged or auto)")
        }
        if strategy == .staged
            || (strategy == .auto && (prepared.requiresPartitionFilter || refusesNullKeys || window != nil))
        {
            try await planStagedQuery(
                query, prepared: prepared, builder: builder, window: window, into: &plan, steps: &steps)
            return
        }
        let sql = builder.merge(.query(query))
        var step = Step(index: 0, kind: .merge, sql: sql)
        step.estimate =
            prepared.table != nil
            ? try await dryRun(sql, parameters: [], prepared: prepared)
            : modeled(
                Billing.minimum, policy: prepared.policy,
                note: "the target is created by this plan: the query's bytes are not known until then")
        plan.strategy = .inline
        plan.strategyReason = "source.type: query runs inside BigQuery; one MERGE reads it directly"
        plan.pruning = "none: the query's rows are not known before it runs"
        steps.append(step)
    }

    /// A query source staged: its rows written into a staging table (`CREATE OR REPLACE TABLE … AS SELECT`),
    /// profiled (NULL keys counted, the partition range found), then merged once, as a gcs source's loaded rows.
    func planStagedQuery(
        _ query: String, prepared: PreparedTarget, builder: MergeBuilder, window: CursorWindow?,
        into plan: inout SyncPlan, steps: inout [Step]
    ) async throws(SyncError) {
        let staging = try stagingTable(
            prepared, content: BatchEncoder.digest(Array((query + "\n" + prepared.target.description).utf8)))
        // The window is applied in the query's own SELECT, so BigQuery prunes the tables it reads by it.
        let filter = Self.windowFilter(window, prepared: prepared)
        var staged = builder
        staged.sourceFilter = filter?.sql
        var stage = Step(
            index: 0, kind: .stageQuery, table: staging.description, sql: staged.stageQuery(query, into: staging))
        stage.parameters = filter?.parameters
        stage.estimate =
            prepared.table != nil
            ? try await dryRun(
                stage.sql ?? "", parameters: stage.queryParameters, prepared: prepared, writes: staging)
            : modeled(
                Billing.minimum, policy: prepared.policy,
                note: "the target is created by this plan: the query's bytes are not known until then")
        plan.strategy = .staged
        plan.strategyReason =
            prepared.sync.batch.strategy == .staged
            ? "batch.strategy: staged: the query's rows are staged, profiled, then merged once"
            : prepared.requiresPartitionFilter
                ? "the target requires a partition filter: the query's rows are staged and profiled, so the MERGE can "
                    + "carry their range"
                : window != nil && prepared.sync.merge.nullKeys != .refuse
                    ? "source.incremental: the query's rows in the window are staged and profiled, so the MERGE's end "
                        + "of the window (the next watermark) is known"
                    : "merge.null_keys: refuse: the query's rows are staged and profiled, so a NULL key stops the apply "
                        + "before the MERGE"
        steps.append(stage)
        steps.append(
            contentsOf: try await profiledMerge(
                prepared, builder: builder, staging: staging, cursor: window?.column, plan: &plan))
    }
    func planGCS(_ prepared: PreparedTarget, window: CursorWindow?, into plan: inout SyncPlan, steps: inout [Step])
        async throws(SyncError)
    {
        let sync = prepared.sync
        plan.source.uris = sync.source.uris
        let carried = prepared.layout.columns.indices.filter { prepared.layout.columns[$0].inTarget }
        plan.columns = columnPlans(prepared.layout, carried: carried)
        let content = BatchEncoder.digest(
            Array((sync.source.uris.joined(separator: "\n") + prepared.target.description).utf8))
        let staging = try stagingTable(prepared, content: content)
        var builder = MergeBuilder(
            target: prepared.target, layout: prepared.layout, carried: carried, update: sync.merge.update)
        // The files are loaded whole; the profile and the MERGE keep only the window's rows.
        let filter = Self.windowFilter(window, prepared: prepared)
        builder.sourceFilter = filter?.sql
        plan.strategy = .staged
        plan.strategyReason = "source.type: gcs is loaded by a BigQuery load job, then merged once"
        plan.batches = 1
        steps.append(Step(index: 0, kind: .createStaging, table: staging.description))
        steps.append(Step(index: 0, kind: .load, table: staging.description, payloadDigest: content))
        steps.append(
            contentsOf: try await profiledMerge(
                prepared, builder: builder, staging: staging, cursor: window?.column, filter: filter, plan: &plan))
    }

    /// The steps after rows are in a staging table whose contents are not known at plan time: the profile, the
    /// MERGE (limited to the profiled partition range when the target prunes), and the staging table dropped.
    /// `cursor`: an incremental sync's cursor column, whose largest staged value the profile finds; `filter`: the
    /// window's condition where the staging table holds more than the window (loaded files).
    func profiledMerge(
        _ prepared: PreparedTarget, builder: MergeBuilder, staging: TableReference, cursor: Int? = nil,
        filter: (sql: String, parameters: [StepParameter])? = nil, plan: inout SyncPlan
    ) async throws(SyncError) -> [Step] {
        let pruner = Pruner(prepared: prepared)
        let range = pruner.loadedRange
        var merge = Step(
            index: 0, kind: .merge, table: staging.description,
            sql: builder.merge(.stagedTyped(staging), pruning: range))
        merge.parameters = builder.sourceFilter == nil ? nil : filter?.parameters
        merge.estimate = try await stagedMergeEstimate(prepared, builder: builder, pruning: range)
        var profile = Step(
            index: 0, kind: .profile, table: staging.description,
            sql: LoadedProfile.sql(
                staging, layout: prepared.layout, partition: pruner.column, cursor: cursor, filter: filter?.sql))
        profile.parameters = filter?.parameters
        profile.estimate = modeled(
            Billing.minimum, policy: prepared.policy,
            note: "reads the staged rows' key columns, whose size is not known before they are staged: at least "
                + "BigQuery's 10 MB minimum (maximumBytesBilled still caps the job)")
        profile.estimate?.accuracy = .lowerBound
        plan.pruning =
            range == nil
            ? pruner.explanation
            : "the MERGE is limited to the days of the staged rows' '\(pruner.name ?? "")' values (found by the profile step)"
        return [profile, merge, Step(index: 0, kind: .dropStaging, table: staging.description)]
    }

    /// The estimate of a MERGE from a staging table filled at apply: the target scan by a dry run (over every
    /// partition when the MERGE is pruned to the staged range), a lower bound since the staged rows' size is not
    /// known before they are staged.
    func stagedMergeEstimate(_ prepared: PreparedTarget, builder: MergeBuilder, pruning: String?)
        async throws(SyncError)
        -> Estimate
    {
        guard prepared.table != nil else {
            return modeled(
                Billing.minimum, policy: prepared.policy,
                note: "the target is created by this plan; the staged rows' size is not known before they are staged")
        }
        let probe = builder.merge(
            .parameter("rows"),
            pruning: pruning.map {
                LoadedProfile.substitute($0, low: LoadedProfile.widest.low, high: LoadedProfile.widest.high)
            })
        var estimate = try await dryRun(probe, parameters: [MergeBuilder.emptyRowsParameter], prepared: prepared)
        estimate.accuracy = .lowerBound
        estimate.note =
            "the target scan; the staged rows' size is not known before they are staged (maximumBytesBilled still caps "
            + "the job)"
        return estimate
    }

    /// The target columns a query's result carries (by a dry run's schema); unknown result columns are an error
    /// unless the sync ignores them.
    func queryColumns(_ query: String, prepared: PreparedTarget) async throws(SyncError) -> [Int] {
        let dry: DryRunResult
        let schema: [FieldSchema]
        do {
            // reads: the target, so the job runs in its project when no other is configured (docs/bigquery.md, "Calls bqsync makes").
            // In the target's location: the MERGE will run there, and BigQuery cannot read another location's tables.
            (dry, schema) = try await network.withPlace { () async throws(BigQueryError) in
                try await client.dryRunWithSchema(
                    QueryJob(
                        sql: query, location: prepared.location, reads: [prepared.target], budget: prepared.policy.name)
                )
            }
        } catch {
            if let elsewhere = await datasetElsewhere(error, prepared: prepared) {
                throw SyncError.definition(
                    "\(prepared.sync.location(of: .sourceQuery)): sync '\(prepared.sync.name)': the query reads \(elsewhere.dataset), which is in "
                        + "\(elsewhere.location), but the target \(prepared.target) is in \(prepared.location); BigQuery runs a query in one "
                        + "location, so the MERGE would fail. Copy the data to \(prepared.location) or sync into a dataset in \(elsewhere.location)"
                )
            }
            throw SyncError.definition("\(prepared.sync.location(of: .sourceQuery)): \(error.description)")
        }
        _ = dry
        var carried: [Int] = []
        for field in schema {
            guard let index = prepared.layout.index[field.name.lowercased()],
                prepared.layout.columns[index].inTarget || index == prepared.layout.deleteWhen
            else {
                if prepared.sync.source.ignoreUnknownFields { continue }
                throw SyncError.definition(
                    "\(prepared.sync.location(of: .sourceQuery)): the query returns '\(field.name)', which is not a column of \(prepared.target) (set source.ignore_unknown_fields: true to skip it)"
                )
            }
            carried.append(index)
        }
        for key in prepared.layout.keys where !carried.contains(key) {
            throw SyncError.definition(
                "\(prepared.sync.location(of: .sourceQuery)): the query does not return merge key '\(prepared.layout.columns[key].name)'"
            )
        }
        return carried.sorted()
    }

    func columnPlans(_ layout: RowLayout, carried: [Int]) -> [ColumnPlan] {
        layout.columns.enumerated().map { index, column in
            ColumnPlan(
                name: column.name, type: column.type.rawValue, required: column.required, inTarget: column.inTarget,
                carried: carried.contains(index))
        }
    }

    /// The dataset and its location, when BigQuery refused a statement for reading a dataset outside the job's
    /// location ("Not found: Dataset P:D was not found in location L"; docs/bigquery.md, "Locations").
    func datasetElsewhere(_ error: BigQueryError, prepared: PreparedTarget) async -> (
        dataset: String, location: String
    )? {
        let text = error.description
        guard let start = text.range(of: "Dataset "),
            let end = text.range(of: " was not found in location", range: start.upperBound..<text.endIndex)
        else {
            return nil
        }
        let name = text[start.upperBound..<end.lowerBound].replacingOccurrences(of: ":", with: ".")
        let parts = name.split(separator: ".").map(String.init)
        guard parts.count == 2, let dataset = try? await client.getDataset(project: parts[0], dataset: parts[1]),
            let location = dataset.location,
            location.lowercased() != prepared.location.lowercased()
        else { return nil }
        return (name, location)
    }

    /// A dry run's estimate, holding a request place.
    func dryRun(
        _ sql: String, parameters: [QueryParameter], prepared: PreparedTarget, writes: TableReference? = nil
    ) async throws(SyncError) -> Estimate {
        try await network.withPlace { () async throws(SyncError) in
            try await estimate(sql, parameters: parameters, prepared: prepared, writes: writes)
        }
    }

    /// A dry run's estimate; the caller holds a request place.
    func estimate(
        _ sql: String, parameters: [QueryParameter], prepared: PreparedTarget, writes: TableReference? = nil
    ) async throws(SyncError) -> Estimate {
        let job = QueryJob(
            sql: sql, parameters: parameters, location: prepared.location, reads: [prepared.target],
            writes: writes ?? prepared.target,
            budget: prepared.policy.name)
        let result = try await SyncError.lifting { () async throws(BigQueryError) in try await client.dryRun(job) }
        return Estimate(
            bytesProcessed: result.bytesProcessed, accuracy: Estimate.Accuracy(bigQuery: result.accuracy),
            billedBytes: result.estimatedBilledBytes,
            costUSD: Billing.cost(
                billedBytes: result.estimatedBilledBytes, usdPerTiB: prepared.policy.limits.usdPerTiB),
            note: result.note)
    }

    func modeled(_ bytes: Int64, policy: Policy, note: String) -> Estimate {
        Estimate(
            bytesProcessed: 0, accuracy: .modeled, billedBytes: bytes,
            costUSD: Billing.cost(billedBytes: bytes, usdPerTiB: policy.limits.usdPerTiB), note: note)
    }

    // MARK: - budgets

    func budgets(_ plans: [SyncPlan]) -> [BudgetPlan] {
        let names = Set(plans.map(\.policy)).sorted()
        return names.compactMap { name -> BudgetPlan? in
            guard let policy = configuration.policy(named: name) else { return nil }
            let mine = plans.filter { $0.policy == name }
            // A --preview query is priced like the steps: it runs only if the plan with it fits.
            let previews = mine.compactMap(\.preview?.estimate)
            let bytes =
                mine.reduce(Int64(0)) { $0 + $1.estimatedBilledBytes } + previews.reduce(0) { $0 + $1.billedBytes }
            let queries = mine.reduce(0) { $0 + $1.queryJobs } + previews.count
            let cost = Billing.cost(billedBytes: bytes, usdPerTiB: policy.limits.usdPerTiB)
            let largest =
                (mine.flatMap(\.steps).map { $0.estimate?.billedBytes ?? 0 } + previews.map(\.billedBytes)).max() ?? 0
            let limits = policy.limits
            var violations: [String] = []
            if queries > limits.sessionQueries {
                violations.append(
                    "session query limit: \(queries) queries planned, policy '\(name)' allows \(limits.sessionQueries)")
            }
            if bytes > limits.sessionBytes {
                violations.append(
                    "session bytes limit: \(Format.bytes(bytes)) billed planned, policy '\(name)' allows \(Format.bytes(limits.sessionBytes))"
                )
            }
            if cost > limits.sessionCostUSD + 1e-12 {
                violations.append(
                    "session dollar limit: \(Format.dollars(cost)) planned, policy '\(name)' allows \(Format.dollars(limits.sessionCostUSD))"
                )
            }
            for plan in mine {
                for step in plan.steps where (step.estimate?.billedBytes ?? 0) > limits.queryBytes {
                    violations.append(
                        "per-query bytes limit: \(plan.name) step \(step.index) would bill \(Format.bytes(step.estimate?.billedBytes ?? 0)), policy '\(name)' allows \(Format.bytes(limits.queryBytes))"
                    )
                }
            }
            return BudgetPlan(
                policy: name, file: policy.file.map { FileFingerprint(path: $0.path, sha256: $0.sha256) },
                maxBytesBilled: limits.sessionBytes, maxQueries: limits.sessionQueries,
                maxCostUSD: limits.sessionCostUSD,
                maxBytesPerQuery: limits.queryBytes, plannedBytesBilled: bytes, plannedQueries: queries,
                plannedCostUSD: cost,
                largestQueryBytes: largest, violations: violations)
        }
    }
}

/// Partition pruning for a time-partitioned target: a constant range on the partition column, added to the
/// MERGE's ON clause. Only safe — and only used — when the partition column is a merge key, so a matching
/// target row necessarily lies in the range.
struct Pruner {
    let column: Int?
    let type: FieldType?
    let name: String?
    let explanation: String?

    init(prepared: PreparedTarget) {
        guard let field = prepared.partitionField else {
            column = nil
            type = nil
            name = nil
            explanation = nil
            return
        }
        guard let index = prepared.layout.index[field.lowercased()], prepared.layout.keys.contains(index) else {
            column = nil
            type = nil
            name = nil
            explanation = "none: partition column '\(field)' is not a merge key, so a row could match in any partition"
            return
        }
        let type = prepared.layout.columns[index].type
        guard [.date, .datetime, .timestamp].contains(type) else {
            column = nil
            self.type = nil
            name = nil
            explanation = "none: partition column '\(field)' is \(type.rawValue)"
            return
        }
        column = index
        self.type = type
        name = prepared.layout.columns[index].name
        explanation = "each MERGE is limited to the partitions of its rows' '\(field)' values"
    }

    /// The lowest and highest partition values of some rows.
    struct Range {
        var low: String?
        var high: String?
    }

    /// Widens `range` to cover `row`'s partition value.
    func extend(_ range: inout Range, with row: PackedRow) {
        guard let column, let type, let value = row.value(column) else { return }
        if range.low == nil || OrderComparison.less(value, range.low, type: type) { range.low = value }
        if range.high == nil || OrderComparison.less(range.high, value, type: type) { range.high = value }
    }

    /// `_bqsync_target.col BETWEEN DATE '…' AND DATE '…'` over the range (MergeBuilder.targetAlias).
    func predicate(_ range: Range) -> String? {
        guard let type, let name, let low = range.low, let high = range.high else { return nil }
        return
            "\(MergeBuilder.targetAlias).\(MergeBuilder.quote(name)) BETWEEN \(type.rawValue) '\(low)' AND \(type.rawValue) '\(high)'"
    }

    /// The predicate over the loaded rows' days, with the tokens the profile step's result replaces (gcs).
    var loadedRange: String? {
        guard let type, let name else { return nil }
        return LoadedProfile.predicate(column: name, type: type)
    }

    /// The predicate over a batch's values.
    func predicate(_ rows: [PackedRow]) -> String? {
        var range = Range()
        for row in rows { extend(&range, with: row) }
        return predicate(range)
    }
}
