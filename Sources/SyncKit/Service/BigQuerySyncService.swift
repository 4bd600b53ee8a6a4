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
    /// Source rows skipped for a NULL merge key (counted for gcs and staged query sources; a local source refuses
    /// them).
    public var nullKeyRows: Int64 = 0
    public var seconds: Double

    /// snake_case, as the plan file, `status --format json` and the JSON log.
    enum CodingKeys: String, CodingKey {
        case sync, target, status, inserted, updated, deleted, affected
        case bytesProcessed = "bytes_processed"
        case bytesBilled = "bytes_billed"
        case costUSD = "cost_usd"
        case jobs, adopted
        case nullKeyRows = "null_key_rows"
        case seconds
    }

    /// A sync that was applied already: nothing ran.
    static func alreadyApplied(_ plan: SyncPlan) -> SyncSummary {
        SyncSummary(
            sync: plan.name, target: plan.target, status: .alreadyApplied, inserted: nil, updated: nil, deleted: nil,
            affected: 0,
            bytesProcessed: 0, bytesBilled: 0, costUSD: 0, jobs: 0, adopted: 0, nullKeyRows: 0, seconds: 0)
    }
}

/// Applies reviewed plans: refuses a stale plan before any job, takes each target's lease, runs exactly the
/// plan's steps under their deterministic job ids (so a re-run resumes and no step runs twice), records the run
/// in the state dataset and releases the lease. Bookkeeping (lease, run record) is metadata calls and
/// `tabledata.insertAll`: no job, no DML, nothing billed.
public struct BigQuerySyncService: Sendable {
    let client: BigQueryClient
    let configuration: Configuration
    let defaultProject: String?
    /// How long a lease lives unless renewed.
    let leaseSeconds: Int64
    /// Paces lease renewal and retries.
    let time: any TimeSource
    /// Timestamps of leases and run records.
    let clock: any WallClock

    /// Creates a service over one client (the only way to BigQuery) and loaded configuration.
    public init(
        client: BigQueryClient, configuration: Configuration, defaultProject: String?,
        leaseSeconds: Int64 = LeaseSettings.defaultSeconds, time: any TimeSource = SystemTime(),
        clock: any WallClock = SystemWallClock()
    ) {
        self.client = client
        self.configuration = configuration
        self.defaultProject = defaultProject
        self.leaseSeconds = leaseSeconds
        self.time = time
        self.clock = clock
    }

    /// Applies a plan. Refuses a stale one (nothing sent); otherwise runs each sync's steps. `force` runs the
    /// steps of a plan applied already again, under new job ids (BigQuery would answer the old ones with the
    /// jobs that ran). `spool`: the payloads the planner kept in this process (`apply SYNC…`), sent as they are;
    /// given empty, the freshness check fills it as it reads each source once (`apply PLANFILE`).
    public func apply(
        _ plan: Plan, force: Bool = false, spool: PayloadSpool? = nil,
        observe: @escaping @Sendable (ApplyEvent) -> Void = { _ in }
    ) async throws(SyncError) -> [SyncSummary] {
        let prepared = try await checkFresh(plan, spool: spool)
        var summaries: [SyncSummary] = []
        let rerun = force ? "_f\(Int64(clock.unixTime() * 1000))" : nil
        for (syncPlan, target) in zip(plan.syncs, prepared) {
            if let unchanged = syncPlan.unchanged {
                observe(
                    .note(
                        "\(syncPlan.name): unchanged since plan \(unchanged.planId) applied it, and the target is as that "
                            + "apply left it; nothing to do\(force ? " (plan with --force to merge it again)" : "")"))
                summaries.append(.alreadyApplied(syncPlan))
                continue
            }
            let run = rerun.map { syncPlan.rerun(suffix: $0) } ?? syncPlan
            // Every job log line of this sync's apply names it.
            let result = await JobLog.$sync.withValue(syncPlan.name) { () async -> Result<SyncSummary, SyncError> in
                do throws(SyncError) {
                    return .success(
                        try await applySync(
                            run, target: target, plan: plan, force: force, spool: spool, observe: observe))
                } catch {
                    return .failure(error)
                }
            }
            summaries.append(try result.get())
        }
        return summaries
    }

    /// One sync: take the lease (or find the plan applied already), run the steps, record the run, release.
    func applySync(
        _ syncPlan: SyncPlan, target: PreparedTarget, plan: Plan, force: Bool, spool: PayloadSpool? = nil,
        observe: @escaping @Sendable (ApplyEvent) -> Void
    ) async throws(SyncError) -> SyncSummary {
        let started = clock.unixTime()
        let log = try RunLog(
            client: client, project: target.target.projectId, stateDataset: plan.stateDataset, time: time)
        guard
            let (keeper, holder, resuming) = try await takeLease(
                syncPlan, target: target, plan: plan, force: force, log: log, observe: observe)
        else {
            observe(.note("\(syncPlan.name): plan \(plan.planId) was already applied; nothing to do"))
            return .alreadyApplied(syncPlan)
        }
        observe(.syncStarted(sync: syncPlan.name, batches: syncPlan.batches, rows: syncPlan.rows))
        let run = SyncRun(
            plan: syncPlan, target: target, lease: keeper, resuming: resuming, observe: observe, spool: spool)
        do {
            try await runSteps(run)
        } catch {
            throw await failed(run, error, holder: holder, plan: plan, log: log, started: started)
        }
        return try await finished(run, holder: holder, plan: plan, log: log, started: started)
    }

    /// The target's lease for this apply, with its holder id and whether the apply resumes an earlier one of the
    /// plan; nil when the plan was applied already (the lease says so, or a dead apply recorded its run and
    /// died releasing it).
    func takeLease(
        _ syncPlan: SyncPlan, target: PreparedTarget, plan: Plan, force: Bool, log: RunLog,
        observe: @Sendable (ApplyEvent) -> Void
    ) async throws(SyncError) -> (LeaseKeeper, String, Bool)? {
        let lease = try TargetLease(
            client: client, target: target.target, stateDataset: plan.stateDataset, location: target.location,
            seconds: leaseSeconds, clock: clock)
        let holder = "\(plan.planId)-\(lease.host)-\(lease.pid)-\(UInt32.random(in: 0...UInt32.max))"
        guard
            case .held(let held) = try await lease.acquire(
                holder, planId: plan.planId, sync: syncPlan.name, force: force)
        else { return nil }
        if let previous = held.previous, previous.state == .held {
            observe(
                .note(
                    "\(syncPlan.name): recovered the lease on \(target.target) left by an apply that is gone "
                        + "(plan \(previous.planId), host \(previous.host), pid \(previous.pid))"))
        }
        let keeper = LeaseKeeper(lease: lease, held: held, time: time)
        let resuming = !force && Self.resumes(plan.planId, after: held.previous)
        if resuming,
            try await log.runs().contains(where: {
                $0.planId == plan.planId && $0.sync == syncPlan.name && $0.status == .succeeded
            })
        {
            try await keeper.release(.succeeded)
            return nil
        }
        return (keeper, holder, resuming)
    }

    /// A sync whose steps failed or were interrupted: its run recorded and the lease released, even when the
    /// apply was interrupted (an unstructured task does not inherit the cancellation, so its requests are sent
    /// and answered). Returns the error to throw.
    func failed(_ run: SyncRun, _ error: SyncError, holder: String, plan: Plan, log: RunLog, started: Double) async
        -> SyncError
    {
        let interrupted: Bool
        if case .bigQuery(.cancelled) = error { interrupted = true } else { interrupted = Task.isCancelled }
        let summary = run.tally.summary(of: run.plan, status: .failed, seconds: clock.unixTime() - started)
        let record = runRecord(
            holder, run.plan, plan, summary, started: started, status: interrupted ? .interrupted : .failed,
            message: interrupted ? "interrupted" : error.description)
        await Task { [log, keeper = run.lease, location = run.target.location] in
            try? await log.append(record, location: location)
            try? await keeper.release(interrupted ? .interrupted : .failed)
        }.value
        guard interrupted else { return error }
        return SyncError.interrupted(
            "\(run.plan.name): interrupted after \(summary.jobs) job\(summary.jobs == 1 ? "" : "s"); the run was recorded as interrupted "
                + "and the lease on \(run.target.target) released. Apply the same plan again to resume: finished steps are adopted, "
                + "not run again")
    }

    /// A sync whose steps all ran: its run recorded, then the lease released with what the apply left. The rows
    /// are in once the run is recorded, so a lease that cannot be released then is not a failed apply: it lapses,
    /// and the next apply on this host takes it over at once (its holder has exited).
    func finished(_ run: SyncRun, holder: String, plan: Plan, log: RunLog, started: Double) async throws(SyncError)
        -> SyncSummary
    {
        let summary = run.tally.summary(of: run.plan, status: .applied, seconds: clock.unixTime() - started)
        do {
            try await log.append(
                runRecord(holder, run.plan, plan, summary, started: started, status: .succeeded, message: nil),
                location: run.target.location)
        } catch {
            try? await run.lease.release(.succeeded)
            throw SyncError.unrecorded(
                "\(run.plan.name): applied, but its run could not be recorded in \(log.table): \(error.description)")
        }
        do {
            try await run.lease.release(
                .succeeded,
                after: await appliedState(
                    run.plan, plan: plan, target: run.target, summary: summary, staged: run.tally.watermark))
        } catch {
            run.observe(
                .note(
                    "warning: \(run.plan.name): applied and recorded, but the lease on \(run.target.target) was not released "
                        + "(\(error.description)); the next apply on this host takes it over, elsewhere it lapses within \(leaseSeconds) s"
                ))
        }
        return summary
    }

    /// What this apply merged and the target as it left it, for the next plan: an unchanged target (the planner
    /// trusts it for sources whose rows it hashes: a query's tables or a bucket's files can change unseen), what
    /// changed in the definition since, and an incremental sync's new watermark. When the target cannot be read
    /// now its rows are unknown, and the next plan merges again.
    /// `staged`: the window's end the profile found, for a sync whose rows BigQuery reads.
    func appliedState(
        _ syncPlan: SyncPlan, plan: Plan, target: PreparedTarget, summary: SyncSummary, staged: String? = nil
    ) async -> TargetLease.AppliedState {
        let table = try? await client.getTable(target.target)
        return TargetLease.AppliedState(
            sync: syncPlan.name, content: syncPlan.contentDigest, planId: plan.planId, rows: table?.rows,
            modifiedMs: table?.lastModifiedTime.flatMap { Int64($0) }, appliedAtMs: Int64(clock.unixTime() * 1000),
            shape: syncPlan.shape(keys: target.sync.merge.keys), billedBytes: summary.bytesBilled,
            costUSD: summary.costUSD, watermark: staged ?? syncPlan.window?.next)
    }

    /// Whether an earlier apply of this plan may have sent some of its jobs: the lease it replaced was this
    /// plan's, left by an apply that died (still held) or that failed. Then each job id is looked up before it is
    /// inserted; otherwise inserts go first and BigQuery's 409 tells of a job that exists all the same.
    static func resumes(_ planId: String, after previous: TargetLease.Record?) -> Bool {
        guard let previous, previous.planId == planId else { return false }
        return previous.state == .held || previous.lastStatus == .failed || previous.lastStatus == .interrupted
    }

    /// The run record of a finished, failed or interrupted apply of one sync.
    func runRecord(
        _ runId: String, _ syncPlan: SyncPlan, _ plan: Plan, _ summary: SyncSummary, started: Double,
        status: RunStatus, message: String?
    ) -> RunRecord {
        RunRecord(
            runId: runId, sync: syncPlan.name, planId: plan.planId, target: syncPlan.target,
            status: status,
            startedAt: Temporal.timestampText(micros: Int64(started * 1_000_000)),
            finishedAt: Temporal.timestampText(micros: Int64(clock.unixTime() * 1_000_000)),
            inserted: summary.inserted, updated: summary.updated, deleted: summary.deleted, affected: summary.affected,
            bytesEstimated: syncPlan.estimatedBilledBytes, costEstimatedUSD: syncPlan.estimatedCostUSD,
            bytesProcessed: summary.bytesProcessed, bytesBilled: summary.bytesBilled, costUSD: summary.costUSD,
            jobs: summary.jobs,
            message: message)
    }
}

/// The life of a target's lease, from `BQSYNC_LEASE_SECONDS`.
public enum LeaseSettings {
    /// An hour.
    public static let defaultSeconds: Int64 = 3600

    /// `BQSYNC_LEASE_SECONDS` (whole seconds, 10 to 86400), else the default of an hour.
    public static func seconds(environment: [String: String]) throws(SyncError) -> Int64 {
        guard let text = environment["BQSYNC_LEASE_SECONDS"], !text.isEmpty else { return defaultSeconds }
        guard let seconds = Int64(text), (10...86_400).contains(seconds) else {
            throw SyncError.usage(
                "BQSYNC_LEASE_SECONDS must be a whole number of seconds from 10 to 86400, not '\(text)'")
        }
        return seconds
    }
}
