import BigQuery
import Foundation

/// What the steps of one sync's apply share: its plan, its target, the lease it holds, and the jobs it ran so far
/// (kept however the apply ends, so a failed run still records them).
struct SyncRun {
    let plan: SyncPlan
    let target: PreparedTarget
    let lease: LeaseKeeper
    /// Whether an earlier apply of this plan may have sent some of the jobs (see `BigQuerySyncService.resumes`).
    let resuming: Bool
    let observe: @Sendable (ApplyEvent) -> Void
    /// The payloads of this process's plan or freshness check, when they were kept: sent instead of reading the
    /// source again.
    var spool: PayloadSpool? = nil
    let tally = JobTally()

    var merges: [Step] { plan.steps.filter { $0.kind == .merge } }
    var loads: [Step] { plan.steps.filter { $0.kind == .load } }

    /// The lease is still this apply's, renewed when due: checked before each step.
    func keepLease() async throws(SyncError) {
        if let held = try await lease.keep() {
            observe(
                .note("\(plan.name): renewed the lease on \(target.target) (\(held) s since it was taken or renewed)"))
        }
    }

    /// A job finished: counted, and shown.
    func finished(_ outcome: JobOutcome, kind: Step.Kind, rows: Int64) {
        tally.add(outcome)
        observe(
            .stepFinished(
                sync: plan.name, kind: kind, rows: rows, bytesBilled: outcome.bytesBilled, adopted: outcome.adopted))
    }
}

/// The jobs one sync's apply ran or adopted, in order.
final class JobTally {
    private(set) var outcomes: [JobOutcome] = []
    /// Source rows the MERGE drops for a NULL merge key, where counted (the profile step of gcs and staged query
    /// syncs).
    var nullKeyRows: Int64 = 0
    /// An incremental gcs or query sync's largest staged cursor value, found by the profile step (nil when it did
    /// not run, or found none): the watermark this apply leaves, where the plan could not know it.
    var watermark: String?

    func add(_ outcome: JobOutcome) { outcomes.append(outcome) }

    /// The sync's summary: every job counted, the DML breakdown where BigQuery reported it.
    func summary(of plan: SyncPlan, status: ApplyStatus, seconds: Double) -> SyncSummary {
        func sum(_ value: (JobOutcome) -> Int64?) -> Int64? {
            let known = outcomes.compactMap(value)
            return known.isEmpty ? nil : known.reduce(0, +)
        }
        return SyncSummary(
            sync: plan.name, target: plan.target, status: status, inserted: sum(\.insertedRows),
            updated: sum(\.updatedRows),
            deleted: sum(\.deletedRows), affected: sum(\.affectedRows) ?? 0, bytesProcessed: sum(\.bytesProcessed) ?? 0,
            bytesBilled: sum(\.bytesBilled) ?? 0, costUSD: outcomes.reduce(0) { $0 + $1.costUSD }, jobs: outcomes.count,
            adopted: outcomes.filter(\.adopted).count, nullKeyRows: nullKeyRows, seconds: seconds)
    }
}

extension BigQuerySyncService {
    /// Runs a sync's steps: one function per (source kind, strategy) the planner writes.
    func runSteps(_ run: SyncRun) async throws(SyncError) {
        if run.plan.steps.contains(where: { $0.kind == .createTable }) { try await createTarget(run.target) }
        switch (run.plan.source.kind, run.plan.strategy) {
        case (.ndjson, .inline), (.csv, .inline), (.postgres, .inline): try await applyInlineBatches(run)
        case (.ndjson, .staged), (.csv, .staged), (.postgres, .staged): try await applyStagedFiles(run)
        case (.gcs, .staged): try await applyCloudStorageLoad(run)
        case (.query, .inline): try await applyQuery(run)
        case (.query, .staged): try await applyStagedQuery(run)
        case (.gcs, .inline), (_, .auto):
            throw SyncError.invalidPlan(
                "sync '\(run.plan.name)': the planner never writes a \(run.plan.source.kind.rawValue) source "
                    + "with strategy \(run.plan.strategy.rawValue)")
        }
    }

    /// Local rows, inline: each batch re-derived from the source, checked against the plan's digest of its
    /// parameter, then merged under its step's job id.
    func applyInlineBatches(_ run: SyncRun) async throws(SyncError) {
        if let spool = run.spool, Self.spooled(run.plan, in: spool) {
            return try await applySpooledBatches(run, spool: spool)
        }
        let (rows, encoder) = try localRows(run)
        let merges = run.merges
        var next = 0
        try await rows.batches(
            size: run.target.sync.batch.size, maxBytes: Planner.maxInlineBytes, fileBytes: Planner.stagedFileBytes,
            encoder: encoder,
            inline: { (batch, parameter) throws(SyncError) in
                guard next < merges.count, merges[next].payloadDigest == BatchEncoder.digest(parameter),
                    let sql = merges[next].sql
                else {
                    throw Self.staleDuringApply("batch \(next + 1) differs from the plan")
                }
                try await run.keepLease()
                let reviewed = Self.reviewedEstimate(merges[next], planned: run.plan.targetState, now: run.target.table)
                let outcome = try await runQuery(
                    sql, [MergeBuilder.rowsParameter(parameter)], step: merges[next], run: run, reviewed: reviewed)
                run.finished(outcome, kind: .merge, rows: Int64(batch.count))
                next += 1
            }, staged: nil)
        guard next == merges.count else {
            throw Self.staleDuringApply("the source yields \(next) batches, the plan has \(merges.count)")
        }
    }

    /// Local rows, staged: the staging files re-derived and checked against the plan's digests, loaded (free),
    /// then one MERGE. A MERGE an earlier run finished is adopted without loading again (its staging table may
    /// be gone).
    func applyStagedFiles(_ run: SyncRun) async throws(SyncError) {
        let (merge, sql, staging) = try stagedMerge(run)
        let finished = try await mergeFinished(merge, run: run)
        if !finished, let spool = run.spool, Self.spooled(run.plan, in: spool) {
            let schema = MergeBuilder(
                target: run.target.target, layout: run.target.layout, carried: Self.plannedCarried(run),
                update: run.target.sync.merge.update
            ).stagingSchema
            let since = try await prepareStaging(staging, schema: schema, target: run.target)
            try await loadSpooledFiles(run, spool: spool, into: staging, schema: schema, since: since)
        } else if !finished {
            let (rows, encoder) = try localRows(run)
            let schema = MergeBuilder(
                target: run.target.target, layout: run.target.layout, carried: encoder.carried,
                update: run.target.sync.merge.update
            ).stagingSchema
            let since = try await prepareStaging(staging, schema: schema, target: run.target)
            let loads = run.loads
            var next = 0
            try await rows.batches(
                size: run.target.sync.batch.size, maxBytes: Planner.maxInlineBytes, fileBytes: Planner.stagedFileBytes,
                encoder: encoder, inline: nil,
                staged: { (file) throws(SyncError) in
                    guard next < loads.count, loads[next].payloadDigest == file.digest, let contents = file.contents
                    else {
                        throw Self.staleDuringApply("staging file \(next + 1) differs from the plan")
                    }
                    try await run.keepLease()
                    let outcome = try await upload(
                        contents, into: staging, schema: schema, truncate: next == 0, step: loads[next],
                        adoptableFrom: since, run: run)
                    run.finished(outcome, kind: .load, rows: Int64(file.rows))
                    next += 1
                })
            guard next == loads.count else {
                throw Self.staleDuringApply("the source yields \(next) staging files, the plan has \(loads.count)")
            }
        }
        try await mergeStaged(sql, merge: merge, staging: staging, run: run, rows: merge.rows, finished: finished)
    }

    /// Cloud Storage: one load job from the URIs into the staging table (free), then one MERGE.
    func applyCloudStorageLoad(_ run: SyncRun) async throws(SyncError) {
        let (merge, sql, staging) = try stagedMerge(run)
        let finished = try await mergeFinished(merge, run: run)
        if !finished {
            let schema = run.target.layout.columns.filter(\.inTarget).map {
                FieldSchema(name: $0.name, type: $0.type.rawValue, mode: "NULLABLE")
            }
            let since = try await prepareStaging(staging, schema: schema, target: run.target)
            let source = run.target.sync.source
            // Parquet and Avro files carry their own schema, which BigQuery uses (and a WRITE_TRUNCATE load gives
            // the staging table); it is checked against the target below, before the MERGE reads it.
            let selfDescribing = source.format == .parquet || source.format == .avro
            var job = LoadJob(
                destination: staging, source: .gcs(source.uris), format: (source.format ?? .ndjson).rawValue,
                schema: selfDescribing ? nil : schema,
                writeDisposition: "WRITE_TRUNCATE", createDisposition: "CREATE_NEVER",
                ignoreUnknownValues: source.ignoreUnknownFields, jobId: run.loads.first?.jobId,
                location: run.target.location,
                labels: ["bqsync-sync": BigQueryClient.labelValue(run.target.sync.name)], budget: run.target.policy.name
            )
            if source.format == .csv {
                job.fieldDelimiter = String(source.delimiter)
                job.skipLeadingRows = source.skipLeadingRows
            }
            job.adoptableFrom = since
            job.resuming = run.resuming
            try await run.keepLease()
            let outcome = try await SyncError.lifting { () async throws(BigQueryError) in try await client.load(job) }
            run.finished(outcome, kind: .load, rows: outcome.loadedRows ?? 0)
            if selfDescribing { try await checkLoadedSchema(staging, run: run) }
        }
        try await mergeProfiled(sql, merge: merge, staging: staging, run: run, finished: finished)
    }

    /// A query source, staged: the query's rows written into the staging table by one statement, then profiled
    /// and merged once, as loaded files are.
    func applyStagedQuery(_ run: SyncRun) async throws(SyncError) {
        let (merge, sql, staging) = try stagedMerge(run)
        let finished = try await mergeFinished(merge, run: run)
        if !finished {
            guard let stage = run.plan.steps.first(where: { $0.kind == .stageQuery }), let stageSQL = stage.sql else {
                throw SyncError.invalidPlan("staged query sync '\(run.plan.name)' has no stage_query step")
            }
            try await run.keepLease()
            let outcome = try await runQuery(
                stageSQL, stage.queryParameters, step: stage, run: run, writes: staging)
            run.finished(outcome, kind: .stageQuery, rows: outcome.affectedRows ?? 0)
        }
        try await mergeProfiled(sql, merge: merge, staging: staging, run: run, finished: finished)
    }

    /// The MERGE of rows staged at apply (gcs, staged query): profiled first when the plan has a profile step (a
    /// plan made before it had one has none), limited to the profiled partition range when its SQL carries the
    /// placeholders, and not sent at all when no staged row has a key.
    func mergeProfiled(_ sql: String, merge: Step, staging: TableReference, run: SyncRun, finished: Bool)
        async throws(SyncError)
    {
        var statement = sql
        if !finished, let step = run.plan.steps.first(where: { $0.kind == .profile }) {
            let profile = try await profileStaged(step, staging: staging, run: run)
            if profile.nullKeyRows > 0, run.target.sync.merge.nullKeys == .refuse {
                try await SyncError.lifting { () async throws(BigQueryError) in try await client.deleteTable(staging) }
                throw SyncError.refused(
                    "\(run.target.sync.location(of: .mergeNullKeys)): sync '\(run.plan.name)': \(profile.nullKeyRows) of the "
                        + "\(profile.rows) staged rows have a NULL merge key, and merge.null_keys is refuse. No MERGE was run; "
                        + "the target is unchanged")
            }
            guard profile.rows > profile.nullKeyRows else {
                run.observe(
                    .note(
                        "\(run.plan.name): no staged row has a key; nothing to merge, the MERGE was not sent"))
                try await SyncError.lifting { () async throws(BigQueryError) in try await client.deleteTable(staging) }
                return
            }
            if statement.contains(LoadedProfile.lowToken) {
                guard let low = profile.low, let high = profile.high else {
                    throw SyncError.unexpected(
                        "sync '\(run.plan.name)': the profile of \(staging) found keyed rows but no partition range")
                }
                statement = LoadedProfile.substitute(statement, low: low, high: high)
            }
        }
        try await mergeStaged(statement, merge: merge, staging: staging, run: run, rows: nil, finished: finished)
    }

    /// The profile step over the staging table: rows with a NULL key counted (and shown; the MERGE drops them)
    /// and the staged range of partition days found.
    func profileStaged(_ step: Step, staging: TableReference, run: SyncRun) async throws(SyncError) -> LoadedProfile {
        guard let sql = step.sql else {
            throw SyncError.invalidPlan("sync '\(run.plan.name)': its profile step has no SQL")
        }
        try await run.keepLease()
        var job = QueryJob(
            sql: sql, parameters: step.queryParameters, jobId: step.jobId, location: run.target.location,
            labels: ["bqsync-sync": BigQueryClient.labelValue(run.target.sync.name)], reads: [staging],
            budget: run.target.policy.name, cacheable: false)
        job.resuming = run.resuming
        let result = try await SyncError.lifting { () async throws(BigQueryError) in try await client.query(job) }
        guard
            let profile = LoadedProfile(
                result, pruned: sql.contains("partition_low"), cursor: sql.contains("cursor_high"))
        else {
            throw SyncError.unexpected(
                "sync '\(run.plan.name)': the profile of \(staging) answered rows bqsync cannot read: \(result.rows)")
        }
        run.finished(result.outcome, kind: .profile, rows: profile.rows)
        run.tally.nullKeyRows += profile.nullKeyRows
        if let high = profile.cursorHigh { run.tally.watermark = try stagedWatermark(high, run: run) }
        if profile.nullKeyRows > 0, run.target.sync.merge.nullKeys == .skip {
            let keys = run.target.layout.keys.map { run.target.layout.columns[$0].name }.joined(separator: ", ")
            run.observe(
                .note(
                    "\(run.plan.name): \(profile.nullKeyRows) of the \(profile.rows) staged rows have a NULL merge key (\(keys)) "
                        + "and are skipped: such a row can never match a target row"))
        }
        return profile
    }

    /// The staging table's schema after a load of self-describing files, against the target's columns: a
    /// mismatch is refused, naming the column, before any MERGE (the target is untouched).
    func checkLoadedSchema(_ staging: TableReference, run: SyncRun) async throws(SyncError) {
        let table = try await SyncError.lifting { () async throws(BigQueryError) in try await client.getTable(staging) }
        let source = run.target.sync.source
        let problem =
            table == nil
            ? "the staging table \(staging) is gone after the load"
            : LoadedSchema.mismatch(
                files: table?.fields ?? [], columns: run.target.layout.columns,
                ignoreUnknownFields: source.ignoreUnknownFields)
        guard let problem else { return }
        throw SyncError.refused(
            "\(run.target.sync.location(of: .sourceFormat)): sync '\(run.plan.name)': the \(source.format?.rawValue ?? "") "
                + "files at \(source.uris.joined(separator: ", ")) do not fit \(run.target.target): \(problem). "
                + "No MERGE was run; the target is unchanged")
    }

    /// A query source: one MERGE that reads the query inside BigQuery.
    func applyQuery(_ run: SyncRun) async throws(SyncError) {
        guard let merge = run.merges.first, let sql = merge.sql else {
            throw SyncError.invalidPlan("query sync '\(run.plan.name)' has no MERGE")
        }
        try await run.keepLease()
        let outcome = try await runQuery(sql, merge.queryParameters, step: merge, run: run)
        run.finished(outcome, kind: .merge, rows: outcome.affectedRows ?? 0)
    }

    /// The largest staged cursor value the profile found, as the cursor type's canonical text: the watermark this
    /// apply leaves.
    func stagedWatermark(_ text: String, run: SyncRun) throws(SyncError) -> String {
        let column = try Planner.cursorColumn(run.target)
        return try Planner.cursorValue(
            text, type: run.target.layout.columns[column].type, prepared: run.target,
            what: "the staged rows' largest cursor"
        ).text
    }

    // MARK: - shared pieces

    /// The layout's columns the plan says the source carries.
    static func plannedCarried(_ run: SyncRun) -> [Int] {
        run.plan.columns.filter(\.carried).compactMap { run.target.layout.index[$0.name.lowercased()] }.sorted()
    }

    /// The source read again, its carried columns (and a database source's rows) checked against the plan's.
    func localRows(_ run: SyncRun) throws(SyncError) -> (LocalRows, BatchEncoder) {
        let rows = try LocalRows(run.target, window: try Planner.plannedWindow(run.plan.window, prepared: run.target))
        let carried = Self.plannedCarried(run)
        guard rows.carried == carried else { throw Self.staleDuringApply("the columns the source carries changed") }
        if let planned = run.plan.source.database {
            guard let now = rows.database, Self.staleRows(planned, now: now, sync: run.target.sync).isEmpty else {
                throw Self.staleDuringApply("the rows of the PostgreSQL source changed")
            }
        }
        return (rows, BatchEncoder(layout: run.target.layout, carried: carried))
    }

    /// A staged sync's MERGE step, its SQL and its staging table.
    func stagedMerge(_ run: SyncRun) throws(SyncError) -> (Step, String, TableReference) {
        guard let merge = run.merges.first, let sql = merge.sql, let name = merge.table else {
            throw SyncError.invalidPlan("staged sync '\(run.plan.name)' has no MERGE")
        }
        do {
            return (merge, sql, try TableName(parsing: name).resolved(defaultProject: run.target.target.projectId))
        } catch {
            throw SyncError.invalidPlan("staging table '\(name)': \(error)")
        }
    }

    /// Whether an earlier run of this plan finished the MERGE (under any attempt id): asked only when resuming.
    func mergeFinished(_ merge: Step, run: SyncRun) async throws(SyncError) -> Bool {
        guard run.resuming, let id = merge.jobId else { return false }
        return try await SyncError.lifting { () async throws(BigQueryError) in
            let project = try await client.billingProject(fallback: run.target.target.projectId)
            return try await client.succeededAttempt(
                idBase: id, project: project, location: run.target.location,
                budget: run.target.policy.name) != nil
        }
    }

    /// The staged MERGE, then the staging table dropped. A MERGE an earlier run `finished` is adopted on the plan's
    /// estimate, not dry-run again: its staging table may be gone, and BigQuery refuses a dry run that reads a
    /// missing table.
    func mergeStaged(_ sql: String, merge: Step, staging: TableReference, run: SyncRun, rows: Int64?, finished: Bool)
        async throws(SyncError)
    {
        try await run.keepLease()
        let planned = merge.estimate.map {
            DryRunResult(
                bytesProcessed: $0.bytesProcessed, accuracy: $0.accuracy.rawValue, statementType: "MERGE",
                estimatedBilledBytes: $0.billedBytes,
                conservative: false, note: "the plan's estimate of a MERGE an earlier run finished")
        }
        let outcome = try await runQuery(
            sql, merge.queryParameters, step: merge, run: run, reads: [staging], reviewed: finished ? planned : nil)
        run.finished(outcome, kind: .merge, rows: rows ?? outcome.affectedRows ?? 0)
        try await SyncError.lifting { () async throws(BigQueryError) in try await client.deleteTable(staging) }
    }

    static func staleDuringApply(_ what: String) -> SyncError {
        .refused("refused: \(what) since the plan was made; stopped before sending it")
    }

    func runQuery(
        _ sql: String, _ parameters: [QueryParameter], step: Step, run: SyncRun, reads: [TableReference] = [],
        writes: TableReference? = nil, reviewed: DryRunResult? = nil
    ) async throws(SyncError) -> JobOutcome {
        let target = run.target
        var job = QueryJob(
            sql: sql, parameters: parameters, jobId: step.jobId, location: target.location,
            labels: ["bqsync-sync": BigQueryClient.labelValue(target.sync.name)], reads: [target.target] + reads,
            writes: writes ?? target.target, budget: target.policy.name, cacheable: false)
        job.reviewed = reviewed
        job.resuming = run.resuming
        return try await SyncError.lifting { () async throws(BigQueryError) in try await client.query(job).outcome }
    }

    /// A step's plan-time dry run, for its job to be admitted on instead of being dry-run again (one request
    /// less per batch): only a real dry run's, not a modeled figure, and only while the target is as the plan
    /// saw it (its rows and bytes as read at the start of this apply, before any job). The rows this plan's
    /// earlier batches add are not in it; the job's maximumBytesBilled, from the budget, still caps what
    /// BigQuery may bill.
    static func reviewedEstimate(_ step: Step, planned: TargetState, now table: TableResource?) -> DryRunResult? {
        guard let estimate = step.estimate, estimate.accuracy != .modeled, planned.exists, let table,
            table.rows == planned.rows, table.bytes == planned.bytes
        else { return nil }
        return DryRunResult(
            bytesProcessed: estimate.bytesProcessed, accuracy: estimate.accuracy.rawValue, statementType: "MERGE",
            estimatedBilledBytes: estimate.billedBytes, conservative: false, note: "the plan's dry run")
    }

    /// Creates the target (and its dataset when missing) from the definition.
    func createTarget(_ target: PreparedTarget) async throws(SyncError) {
        try await SyncError.lifting { () async throws(BigQueryError) in
            if try await client.getDataset(project: target.target.projectId, dataset: target.target.datasetId) == nil {
                _ = try await client.createDataset(
                    DatasetResource(
                        projectId: target.target.projectId, datasetId: target.target.datasetId,
                        location: target.location, labels: ["managed-by": "bqsync"]))
            }
            _ = try await client.createTable(target.creation)
        }
    }

    /// Makes the staging table ready and returns from when a load into it may be adopted (its creation time,
    /// BigQuery's clock). A staging table left by an interrupted run of the same rows is kept, with the loads that
    /// went into it (adopted by their job ids); any other is replaced. A load attempt older than the table went
    /// into an earlier incarnation, so it is run again under its next attempt id, never adopted: adopting it would
    /// MERGE from an empty table. An unknown creation time adopts no load.
    func prepareStaging(_ staging: TableReference, schema: [FieldSchema], target: PreparedTarget)
        async throws(SyncError) -> Int64
    {
        let expires = Int64((clock.unixTime() + 86_400) * 1000)
        return try await SyncError.lifting { () async throws(BigQueryError) in
            if let existing = try await client.getTable(staging) {
                if SchemaSignature(existing.fields) == SchemaSignature(schema) {
                    return await client.creationTime(of: staging) ?? .max
                }
                try await client.deleteTable(staging)
            }
            _ = try await client.createTable(
                TableResource(
                    reference: staging, schema: schema, description: "bqsync staging for \(target.target)",
                    labels: ["managed-by": "bqsync"], expirationTime: expires))
            return await client.creationTime(of: staging) ?? .max
        }
    }

    /// One staging file written to a temporary file and uploaded by a load job (free).
    func upload(
        _ file: [UInt8], into staging: TableReference, schema: [FieldSchema], truncate: Bool, step: Step,
        adoptableFrom: Int64?,
        run: SyncRun
    ) async throws(SyncError) -> JobOutcome {
        let path = NSTemporaryDirectory() + "bqsync-stage-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).ndjson"
        try FileIO.writeNew(path, file)
        defer { unlink(path) }
        return try await upload(
            path: path, into: staging, schema: schema, truncate: truncate, step: step, adoptableFrom: adoptableFrom,
            run: run)
    }

    /// A load job of the NDJSON file at `path` into the staging table.
    func upload(
        path: String, into staging: TableReference, schema: [FieldSchema], truncate: Bool, step: Step,
        adoptableFrom: Int64?, run: SyncRun
    ) async throws(SyncError) -> JobOutcome {
        var job = LoadJob(
            destination: staging, source: .upload(path: path), format: "NEWLINE_DELIMITED_JSON", schema: schema,
            writeDisposition: truncate ? "WRITE_TRUNCATE" : "WRITE_APPEND", createDisposition: "CREATE_NEVER",
            jobId: step.jobId, location: run.target.location,
            labels: ["bqsync-sync": BigQueryClient.labelValue(run.target.sync.name)], budget: run.target.policy.name)
        job.adoptableFrom = adoptableFrom
        job.resuming = run.resuming
        return try await SyncError.lifting { () async throws(BigQueryError) in try await client.load(job) }
    }
}
