import BigQuery
import Foundation

/// Something that happened during an apply, for progress displays and logs.
public enum ApplyEvent: Sendable {
    /// A sync begins: its name, batches and rows.
    case syncStarted(sync: String, batches: Int, rows: Int64?)
    /// A step finished (or was adopted from an earlier run).
    case stepFinished(sync: String, kind: Step.Kind, rows: Int64, bytesBilled: Int64, adopted: Bool)
    /// A note worth showing (lease recovered, already applied, …).
    case note(String)
}

/// How one sync's apply ended.
public enum ApplyStatus: String, Sendable, Hashable, Codable {
    /// Its steps ran (or were adopted) and the run was recorded.
    case applied
    /// The plan had been applied to this target already: nothing was sent.
    case alreadyApplied = "already-applied"
    /// A step failed; the run was recorded as failed.
    case failed
}

/// What one sync's apply did.
public struct SyncSummary: Sendable, Hashable, Codable {
    public var sync: String
    public var target: String
    /// How the apply of this sync ended.
    public var status: ApplyStatus
    public var inserted: Int64?
    public var updated: Int64?
    public var deleted: Int64?
    /// Rows the MERGEs affected.
    public var affected: Int64
    public var bytesProcessed: Int64
    public var bytesBilled: Int64
    public var costUSD: Double
    /// Jobs run or adopted.
    public var jobs: Int
    /// Jobs adopted from an earlier, interrupted run.
    public var adopted: Int
    public var seconds: Double
}

/// Applies reviewed plans: refuses a stale plan before any job, takes each target's lease, runs exactly the
/// plan's steps under their deterministic job ids (so a re-run resumes and no step runs twice), records the run
/// in the state dataset and releases the lease.
public struct BigQuerySyncService: Sendable {
    let client: BigQueryClient
    let configuration: Configuration
    let defaultProject: String?

    /// Creates a service over one client (the only way to BigQuery) and loaded configuration.
    public init(client: BigQueryClient, configuration: Configuration, defaultProject: String?) {
        self.client = client
        self.configuration = configuration
        self.defaultProject = defaultProject
    }

    /// Checks that nothing a plan was made from has changed; returns the prepared targets. Sends no job.
    func checkFresh(_ plan: Plan) async throws(SyncError) -> [PreparedTarget] {
        var stale: [String] = []
        var prepared: [PreparedTarget] = []
        for budget in plan.budgets {
            let policy = configuration.policies[budget.policy] ?? (budget.policy == Policy.builtInDefault.name ? Policy.builtInDefault : nil)
            guard let policy else { stale.append("policy '\(budget.policy)' no longer exists"); continue }
            if policy.file?.sha256 != budget.file?.sha256 {
                stale.append("policy '\(budget.policy)' (\(policy.file?.path ?? "built-in")) changed since the plan")
            }
        }
        for syncPlan in plan.syncs {
            guard let sync = configuration.syncs.first(where: { $0.name == syncPlan.name }) else {
                stale.append("sync '\(syncPlan.name)' no longer exists")
                continue
            }
            if sync.file.sha256 != syncPlan.definition.sha256 { stale.append("\(sync.file.path) changed since the plan") }
            guard let policy = configuration.policy(for: sync) else { continue }
            let target = try await PreparedTarget.prepare(sync, policy: policy, client: client, defaultProject: defaultProject,
                                                        others: Array(configuration.policies.values))
            if let fingerprint = target.schemaFingerprint {
                if syncPlan.targetState.exists, fingerprint != syncPlan.targetState.schemaSHA256 {
                    stale.append("the schema of \(target.target) changed since the plan")
                } else if !syncPlan.targetState.exists, !matchesDeclaredSchema(target) {
                    stale.append("\(target.target) was created by someone else since the plan, with another schema")
                }
            } else if syncPlan.targetState.exists {
                stale.append("\(target.target) no longer exists")
            }
            if let files = syncPlan.source.files {
                let source = try LocalSource(spec: sync.source)
                let now = try source.files.map { (file) throws(SyncError) -> SourceFile in try Self.fingerprint(file.absolute, display: file.display) }
                if now.map(\.path) != files.map(\.path) {
                    stale.append("the files of source '\(sync.source.path ?? "")' changed since the plan")
                } else {
                    for (then, current) in zip(files, now) where then.sha256 != current.sha256 {
                        stale.append("source file \(current.path) changed since the plan")
                    }
                }
            }
            prepared.append(target)
        }
        guard stale.isEmpty else {
            throw SyncError.refused("refused: the plan \(plan.planId) is stale; nothing was sent\n  - " + stale.joined(separator: "\n  - ")
                                    + "\nrun `bqsync plan` again and review the new plan")
        }
        for budget in plan.budgets where !budget.violations.isEmpty {
            throw SyncError.refused("refused by policy '\(budget.policy)'; nothing was sent\n  - " + budget.violations.joined(separator: "\n  - "))
        }
        return prepared
    }

    private func matchesDeclaredSchema(_ target: PreparedTarget) -> Bool {
        guard let declared = target.sync.target.schema, let table = target.table else { return false }
        let actual = table.fields.map { "\($0.name.lowercased()):\(FieldType(bigQueryName: $0.type)?.rawValue ?? $0.type)" }
        return actual == declared.map { "\($0.name.lowercased()):\($0.type.rawValue)" }
    }

    static func fingerprint(_ path: String, display: String) throws(SyncError) -> SourceFile {
        let reader = RecordReader(path: path, displayPath: display, quoted: false)
        var hasher = SHA256Stream()
        var size: Int64 = 0
        try reader.forEach(chunk: { hasher.update($0); size += Int64($0.count) }) { (_, _) throws(SyncError) in }
        return SourceFile(path: display, bytes: size, sha256: hasher.hex())
    }

    /// Applies a plan. Refuses a stale one (nothing sent); otherwise runs each sync's steps.
    public func apply(_ plan: Plan, observe: @escaping @Sendable (ApplyEvent) -> Void = { _ in }) async throws(SyncError) -> [SyncSummary] {
        let prepared = try await checkFresh(plan)
        var summaries: [SyncSummary] = []
        for (syncPlan, target) in zip(plan.syncs, prepared) {
            summaries.append(try await applySync(syncPlan, target: target, plan: plan, observe: observe))
        }
        return summaries
    }

    func applySync(_ syncPlan: SyncPlan, target: PreparedTarget, plan: Plan, observe: @escaping @Sendable (ApplyEvent) -> Void) async throws(SyncError) -> SyncSummary {
        let started = Date()
        var state = StateStore(client: client, project: target.target.projectId, dataset: plan.stateDataset, budget: target.policy.name)
        state.leaseSeconds = try StateStore.leaseSeconds()
        try await state.ensure(location: target.table?.location)
        var summary = SyncSummary(sync: syncPlan.name, target: syncPlan.target, status: .applied, inserted: nil, updated: nil, deleted: nil,
                                  affected: 0, bytesProcessed: 0, bytesBilled: 0, costUSD: 0, jobs: 0, adopted: 0, seconds: 0)
        if try await state.succeeded(planId: plan.planId, sync: syncPlan.name) {
            // An apply that died after recording its run (while releasing its lease) left the lease behind.
            if let other = try await state.current(target: target.target), Self.isDeadHere(other) {
                try await state.release(target: target.target, holder: other.holder)
                observe(.note("\(syncPlan.name): released the lease on \(target.target) left by a dead apply on this host (pid \(other.pid ?? 0))"))
            }
            observe(.note("\(syncPlan.name): plan \(plan.planId) was already applied; nothing to do"))
            summary.status = .alreadyApplied
            return summary
        }
        let holder = "\(plan.planId)-\(ProcessInfo.processInfo.hostName)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        if let other = try await state.acquire(target: target.target, holder: holder, planId: plan.planId, recoverable: []) {
            let dead = Self.isDeadHere(other)
            if dead,
               try await state.acquire(target: target.target, holder: holder, planId: plan.planId, recoverable: [other.holder]) == nil {
                observe(.note("\(syncPlan.name): recovered the lease on \(target.target) left by a dead apply on this host (pid \(other.pid ?? 0))"))
            } else {
                throw SyncError.refused("refused: \(target.target) is being applied by another bqsync (plan \(other.planId ?? "?"), host \(other.host ?? "?"), pid \(other.pid.map(String.init) ?? "?"), lease until \(other.expiresAt ?? "?")); try again when it finishes")
            }
        }
        let lease = LeaseKeeper(state: state, target: target.target, holder: holder)
        observe(.syncStarted(sync: syncPlan.name, batches: syncPlan.batches, rows: syncPlan.rows))
        let startedText = Temporal.timestampText(micros: Int64(started.timeIntervalSince1970 * 1_000_000))
        do {
            try await runSteps(syncPlan, target: target, plan: plan, lease: lease, summary: &summary, observe: observe)
        } catch {
            summary.status = .failed
            try? await state.record(runRecord(holder, syncPlan, plan, summary, started: startedText, message: error.description))
            try? await state.release(target: target.target, holder: holder)
            throw error
        }
        summary.seconds = Date().timeIntervalSince(started)
        try await state.record(runRecord(holder, syncPlan, plan, summary, started: startedText, message: nil))
        // The rows are in and the run is recorded: a lease that cannot be released now is not a failed apply. It
        // expires, and the next apply on this host takes it over at once (its holder has exited).
        do {
            try await state.release(target: target.target, holder: holder)
        } catch {
            observe(.note("warning: \(syncPlan.name): applied and recorded, but the lease on \(target.target) was not released "
                          + "(\(error.description)); the next apply on this host takes it over, elsewhere it expires within \(state.leaseSeconds) s"))
        }
        return summary
    }

    /// Whether a lease holder is a process of this host that no longer exists (a crashed apply).
    static func isDeadHere(_ holder: StateStore.Holder) -> Bool {
        guard holder.host == ProcessInfo.processInfo.hostName, let pid = holder.pid, pid > 0, pid <= Int64(Int32.max) else { return false }
        return kill(pid_t(pid), 0) != 0 && errno == ESRCH
    }

    /// The run record of a finished (message nil) or failed apply of one sync.
    func runRecord(_ runId: String, _ syncPlan: SyncPlan, _ plan: Plan, _ summary: SyncSummary, started: String, message: String?) -> RunRecord {
        RunRecord(runId: runId, sync: syncPlan.name, planId: plan.planId, target: syncPlan.target, status: message == nil ? .succeeded : .failed,
                  startedAt: started, finishedAt: nil, inserted: summary.inserted, updated: summary.updated, deleted: summary.deleted,
                  affected: summary.affected, bytesProcessed: summary.bytesProcessed, bytesBilled: summary.bytesBilled,
                  costUSD: summary.costUSD, jobs: summary.jobs, message: message)
    }

    // MARK: - steps

    func runSteps(_ syncPlan: SyncPlan, target: PreparedTarget, plan: Plan, lease: LeaseKeeper, summary: inout SyncSummary,
                  observe: @escaping @Sendable (ApplyEvent) -> Void) async throws(SyncError) {
        // Before each step: the lease is still ours, renewed when due.
        func keepLease() async throws(SyncError) {
            if let held = try await lease.keep() {
                observe(.note("\(syncPlan.name): renewed the lease on \(target.target) (\(held) s since it was taken or renewed)"))
            }
        }
        let steps = syncPlan.steps
        let merges = steps.filter { $0.kind == .merge }
        let loads = steps.filter { $0.kind == .load }
        // A staged (or gcs) sync whose MERGE already finished in an earlier run, under any attempt id, skips
        // straight to it (adopted): its staging table may be gone.
        var mergeDone = false
        if syncPlan.strategy == .staged || syncPlan.source.kind == .gcs, let merge = merges.first, let id = merge.jobId {
            let project = try await billingProject(target)
            do {
                mergeDone = try await client.succeededAttempt(idBase: id, project: project, location: target.table?.location,
                                                              budget: target.policy.name) != nil
            } catch {
                throw SyncError.bigQuery(error)
            }
        }
        let staging = try merges.first?.table.map { (name) throws(SyncError) -> TableReference in
            do { return try TableName(parsing: name).resolved(defaultProject: target.target.projectId) } catch { throw SyncError.invalidPlan("staging table '\(name)': \(error)") }
        }
        for step in steps where step.kind == .createTable {
            try await createTarget(target)
        }
        switch (syncPlan.source.kind, syncPlan.strategy) {
        case (.ndjson, .inline), (.csv, .inline):
            let rows = try LocalRows(target)
            let carried = carriedColumns(syncPlan, layout: target.layout)
            guard rows.carried == carried else { throw staleDuringApply("the columns the source carries changed") }
            let encoder = BatchEncoder(layout: target.layout, carried: carried)
            var next = 0
            var outcomes: [JobOutcome] = []
            // Counted however the batches end, so a run that fails later still records the jobs it ran.
            defer { for outcome in outcomes { add(outcome, to: &summary) } }
            try await rows.batches(size: target.sync.batch.size, maxBytes: Planner.maxInlineBytes, fileBytes: Planner.stagedFileBytes,
                                   encoder: encoder, inline: { (batch, parameter) throws(SyncError) in
                guard next < merges.count, merges[next].payloadDigest == BatchEncoder.digest(parameter), let sql = merges[next].sql else {
                    throw staleDuringApply("batch \(next + 1) differs from the plan")
                }
                try await keepLease()
                let outcome = try await runQuery(sql, [MergeBuilder.rowsParameter(parameter)], jobId: merges[next].jobId, target: target,
                                                 reviewed: Self.reviewedEstimate(merges[next], planned: syncPlan.targetState, now: target.table))
                outcomes.append(outcome)
                observe(.stepFinished(sync: syncPlan.name, kind: .merge, rows: Int64(batch.count), bytesBilled: outcome.bytesBilled, adopted: outcome.adopted))
                next += 1
            }, staged: nil)
            guard next == merges.count else { throw staleDuringApply("the source yields \(next) batches, the plan has \(merges.count)") }
        case (.ndjson, .staged), (.csv, .staged):
            guard let staging, let merge = merges.first, let sql = merge.sql else { throw SyncError.invalidPlan("staged sync '\(syncPlan.name)' has no MERGE") }
            if !mergeDone {
                let rows = try LocalRows(target)
                let carried = carriedColumns(syncPlan, layout: target.layout)
                guard rows.carried == carried else { throw staleDuringApply("the columns the source carries changed") }
                let builder = MergeBuilder(target: target.target, layout: target.layout, carried: carried, update: target.sync.merge.update)
                let since = try await prepareStaging(staging, schema: builder.stagingSchema, target: target)
                let encoder = BatchEncoder(layout: target.layout, carried: carried)
                var next = 0
                var outcomes: [JobOutcome] = []
                defer { for outcome in outcomes { add(outcome, to: &summary) } }
                try await rows.batches(size: target.sync.batch.size, maxBytes: Planner.maxInlineBytes, fileBytes: Planner.stagedFileBytes,
                                       encoder: encoder, inline: nil, staged: { (file) throws(SyncError) in
                    guard next < loads.count, loads[next].payloadDigest == file.digest, let contents = file.contents else {
                        throw staleDuringApply("staging file \(next + 1) differs from the plan")
                    }
                    try await keepLease()
                    let outcome = try await load(contents, into: staging, schema: builder.stagingSchema, truncate: next == 0, jobId: loads[next].jobId,
                                                 adoptableFrom: since, target: target)
                    outcomes.append(outcome)
                    observe(.stepFinished(sync: syncPlan.name, kind: .load, rows: Int64(file.rows), bytesBilled: 0, adopted: outcome.adopted))
                    next += 1
                })
                guard next == loads.count else { throw staleDuringApply("the source yields \(next) staging files, the plan has \(loads.count)") }
            }
            try await keepLease()
            let outcome = try await runQuery(sql, [], jobId: merge.jobId, target: target, reads: [staging])
            add(outcome, to: &summary)
            observe(.stepFinished(sync: syncPlan.name, kind: .merge, rows: merge.rows ?? 0, bytesBilled: outcome.bytesBilled, adopted: outcome.adopted))
            try await dropStaging(staging)
        case (.gcs, _):
            guard let staging, let merge = merges.first, let sql = merge.sql else { throw SyncError.invalidPlan("gcs sync '\(syncPlan.name)' has no MERGE") }
            if !mergeDone {
                let schema = target.layout.columns.filter(\.inTarget).map { FieldSchema(name: $0.name, type: $0.type.rawValue, mode: "NULLABLE") }
                let since = try await prepareStaging(staging, schema: schema, target: target)
                let source = target.sync.source
                var job = LoadJob(destination: staging, source: .gcs(source.uris), format: (source.format ?? .ndjson).rawValue, schema: schema,
                                  writeDisposition: "WRITE_TRUNCATE", createDisposition: "CREATE_NEVER",
                                  ignoreUnknownValues: source.ignoreUnknownFields, jobId: loads.first?.jobId, location: target.table?.location,
                                  labels: ["bqsync-sync": BigQueryClient.labelValue(target.sync.name)], budget: target.policy.name)
                if source.format == .csv {
                    job.fieldDelimiter = String(source.delimiter)
                    job.skipLeadingRows = source.skipLeadingRows
                }
                job.adoptableFrom = since
                try await keepLease()
                let outcome: JobOutcome
                do { outcome = try await client.load(job) } catch { throw SyncError.bigQuery(error) }
                add(outcome, to: &summary)
                observe(.stepFinished(sync: syncPlan.name, kind: .load, rows: outcome.loadedRows ?? 0, bytesBilled: 0, adopted: outcome.adopted))
            }
            try await keepLease()
            let outcome = try await runQuery(sql, [], jobId: merge.jobId, target: target, reads: [staging])
            add(outcome, to: &summary)
            observe(.stepFinished(sync: syncPlan.name, kind: .merge, rows: outcome.affectedRows ?? 0, bytesBilled: outcome.bytesBilled, adopted: outcome.adopted))
            try await dropStaging(staging)
        case (.query, _):
            guard let merge = merges.first, let sql = merge.sql else { throw SyncError.invalidPlan("query sync '\(syncPlan.name)' has no MERGE") }
            try await keepLease()
            let outcome = try await runQuery(sql, [], jobId: merge.jobId, target: target)
            add(outcome, to: &summary)
            observe(.stepFinished(sync: syncPlan.name, kind: .merge, rows: outcome.affectedRows ?? 0, bytesBilled: outcome.bytesBilled, adopted: outcome.adopted))
        case (.ndjson, .auto), (.csv, .auto):
            throw SyncError.invalidPlan("sync '\(syncPlan.name)': a plan carries the strategy the planner chose, never auto")
        }
    }

    func staleDuringApply(_ what: String) -> SyncError {
        .refused("refused: \(what) since the plan was made; stopped before sending it")
    }

    func carriedColumns(_ syncPlan: SyncPlan, layout: RowLayout) -> [Int] {
        syncPlan.columns.filter(\.carried).compactMap { layout.index[$0.name.lowercased()] }.sorted()
    }

    func add(_ outcome: JobOutcome, to summary: inout SyncSummary) {
        summary.jobs += 1
        if outcome.adopted { summary.adopted += 1 }
        summary.affected += outcome.affectedRows ?? 0
        summary.bytesProcessed += outcome.bytesProcessed
        summary.bytesBilled += outcome.bytesBilled
        summary.costUSD += outcome.costUSD
        if let inserted = outcome.insertedRows { summary.inserted = (summary.inserted ?? 0) + inserted }
        if let updated = outcome.updatedRows { summary.updated = (summary.updated ?? 0) + updated }
        if let deleted = outcome.deletedRows { summary.deleted = (summary.deleted ?? 0) + deleted }
    }

    func billingProject(_ target: PreparedTarget) async throws(SyncError) -> String {
        do { return try await client.billingProject(fallback: target.target.projectId) } catch { throw SyncError.bigQuery(error) }
    }

    func runQuery(_ sql: String, _ parameters: [QueryParameter], jobId: String?, target: PreparedTarget,
                  reads: [TableReference] = [], reviewed: DryRunResult? = nil) async throws(SyncError) -> JobOutcome {
        var job = QueryJob(sql: sql, parameters: parameters, jobId: jobId, location: target.table?.location,
                           labels: ["bqsync-sync": BigQueryClient.labelValue(target.sync.name)], reads: [target.target] + reads,
                           writes: target.target, budget: target.policy.name, cacheable: false)
        job.reviewed = reviewed
        do { return try await client.query(job).outcome } catch { throw SyncError.bigQuery(error) }
    }

    /// A step's plan-time dry run, for its job to be admitted on instead of being dry-run again (one request
    /// less per batch): only a real dry run's, not a modeled figure, and only while the target is as the plan
    /// saw it (its rows and bytes as read at the start of this apply, before any job). The rows this plan's
    /// earlier batches add are not in it; the job's maximumBytesBilled, from the budget, still caps what
    /// BigQuery may bill.
    static func reviewedEstimate(_ step: Step, planned: TargetState, now table: TableResource?) -> DryRunResult? {
        guard let estimate = step.estimate, estimate.accuracy != .modeled, planned.exists, let table,
              table.rows == planned.rows, table.bytes == planned.bytes else { return nil }
        return DryRunResult(bytesProcessed: estimate.bytesProcessed, accuracy: estimate.accuracy.rawValue, statementType: "MERGE",
                            estimatedBilledBytes: estimate.billedBytes, conservative: false, note: "the plan's dry run")
    }

    func createTarget(_ target: PreparedTarget) async throws(SyncError) {
        do {
            if try await client.getDataset(project: target.target.projectId, dataset: target.target.datasetId) == nil {
                _ = try await client.createDataset(DatasetResource(projectId: target.target.projectId, datasetId: target.target.datasetId,
                                                                   location: nil, labels: ["managed-by": "bqsync"]))
            }
            _ = try await client.createTable(target.creation)
        } catch {
            throw SyncError.bigQuery(error)
        }
    }

    /// Makes the staging table ready and returns from when a load into it may be adopted (its creation time,
    /// BigQuery's clock). A staging table left by an interrupted run of the same rows is kept, with the loads that
    /// went into it (adopted by their job ids); any other is replaced. A load attempt older than the table went
    /// into an earlier incarnation, so it is run again under its next attempt id, never adopted: adopting it would
    /// MERGE from an empty table. An unknown creation time adopts no load.
    func prepareStaging(_ staging: TableReference, schema: [FieldSchema], target: PreparedTarget) async throws(SyncError) -> Int64 {
        let expires = Int64((Date().timeIntervalSince1970 + 86_400) * 1000)
        do {
            if let existing = try await client.getTable(staging) {
                if Self.sameColumns(existing.fields, schema) { return await client.creationTime(of: staging) ?? .max }
                try await client.deleteTable(staging)
            }
            _ = try await client.createTable(TableResource(reference: staging, schema: schema, description: "bqsync staging for \(target.target)",
                                                           labels: ["managed-by": "bqsync"], expirationTime: expires))
            return await client.creationTime(of: staging) ?? .max
        } catch {
            throw SyncError.bigQuery(error)
        }
    }

    static func sameColumns(_ actual: [FieldSchema], _ wanted: [FieldSchema]) -> Bool {
        actual.map { "\($0.name.lowercased()):\(FieldType(bigQueryName: $0.type)?.rawValue ?? $0.type)" }
            == wanted.map { "\($0.name.lowercased()):\(FieldType(bigQueryName: $0.type)?.rawValue ?? $0.type)" }
    }

    func dropStaging(_ staging: TableReference) async throws(SyncError) {
        do { try await client.deleteTable(staging) } catch { throw SyncError.bigQuery(error) }
    }

    func load(_ file: [UInt8], into staging: TableReference, schema: [FieldSchema], truncate: Bool, jobId: String?, adoptableFrom: Int64?,
              target: PreparedTarget) async throws(SyncError) -> JobOutcome {
        let path = NSTemporaryDirectory() + "bqsync-stage-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).ndjson"
        try FileIO.writeNew(path, file)
        defer { unlink(path) }
        var job = LoadJob(destination: staging, source: .upload(path: path), format: "NEWLINE_DELIMITED_JSON", schema: schema,
                          writeDisposition: truncate ? "WRITE_TRUNCATE" : "WRITE_APPEND", createDisposition: "CREATE_NEVER",
                          jobId: jobId, location: target.table?.location,
                          labels: ["bqsync-sync": BigQueryClient.labelValue(target.sync.name)], budget: target.policy.name)
        job.adoptableFrom = adoptableFrom
        do { return try await client.load(job) } catch { throw SyncError.bigQuery(error) }
    }
}
