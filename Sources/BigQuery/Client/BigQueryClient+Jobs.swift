import Foundation
import HTTP

extension BigQueryClient {
    /// Statement types that only read.
    static let readOnlyStatements: Set<String> = ["SELECT"]

    // MARK: - queries

    /// Runs a query: protected-table check, session cache, admission (a dry run, or the reviewed one the job
    /// carries, checked against the budget), the job (deterministic attempt ids, adoption), settlement of the
    /// actual bytes, and the rows of a SELECT.
    public func query(_ job: QueryJob) async throws(BigQueryError) -> QueryResult {
        let budget = try self.budget(job.budget)
        let project = try await billingProject(
            fallback: job.writes?.projectId ?? job.reads.first?.projectId, explicit: job.project)
        try checkWritable(job.writes, jobId: job.jobId ?? "query", kind: "query")
        let cacheKey =
            job.writes == nil && job.cacheable && budget.cache
            ? QueryCache.key(project: project, location: job.location, sql: job.sql, parameters: job.parameters) : nil
        if let cacheKey, var cached = await cache.lookup(cacheKey) {
            record(
                JobRecord(
                    kind: "query", jobId: cached.outcome.jobId, statementType: cached.outcome.statementType,
                    bytesProcessed: 0,
                    bytesBilled: 0, costUSD: 0, durationSeconds: 0, attempt: 0, outcome: "cached", reason: nil,
                    sync: JobLog.sync(labels: job.labels)))
            cached.fromSessionCache = true
            return cached
        }
        let (dry, admission, guardian) = try await admit(job)
        let started = time.now()
        let run: JobRun
        do {
            run = try await runJob(
                project: project, idBase: job.jobId, location: job.location, retry: budget.retry, kind: "query",
                resuming: job.resuming
            ) { object in
                object.field("query") { json in
                    self.writeQueryConfiguration(
                        job, cache: budget.cache, maximumBytesBilled: admission.maximumBytesBilled, into: &json)
                }
                object.field("labels") { json in
                    json.object { labels in for (k, v) in self.labels(job.labels) { labels.field(k, string: v) } }
                }
            }
        } catch {
            await guardian.settle(admission, billedBytes: 0, processedBytes: 0)
            throw error
        }
        let outcome = await settle(run, of: job, dry: dry, admission: admission, guardian: guardian, started: started)
        var schema: [FieldSchema] = []
        var rows: [[Cell]] = []
        if job.writes == nil {
            (schema, rows) = try await results(
                project: project, jobId: outcome.jobId, location: outcome.location, retry: budget.retry)
        }
        let result = QueryResult(outcome: outcome, schema: schema, rows: rows, fromSessionCache: false)
        if let cacheKey { await cache.store(cacheKey, result) }
        return result
    }

    /// The estimate a job is admitted on (the reviewed dry run it carries, else a fresh one), checked: a
    /// statement the dry run shows to write, in a job that declares no write, is refused; then the budget
    /// reserves the estimate or refuses the job. Nothing is sent but the dry run.
    func admit(_ job: QueryJob) async throws(BigQueryError) -> (DryRunResult, CostGuard.Admission, CostGuard) {
        let displayId = job.jobId ?? "query"
        let dry: DryRunResult
        if let reviewed = job.reviewed, job.writes != nil {
            dry = reviewed
        } else {
            dry = try await dryRun(job)
        }
        if job.writes == nil, let statement = dry.statementType, !Self.readOnlyStatements.contains(statement) {
            record(
                JobRecord(
                    kind: "query", jobId: displayId, statementType: statement, bytesProcessed: 0, bytesBilled: 0,
                    costUSD: 0,
                    durationSeconds: 0, attempt: 0, outcome: "refused", reason: "undeclaredWrite",
                    sync: JobLog.sync(labels: job.labels)))
            throw .refused(.undeclaredWrite(statement: statement))
        }
        guard let guardian = guards[job.budget] else { throw .invalidName("no budget named '\(job.budget)'") }
        do {
            let admission = try await guardian.admit(estimatedBytes: dry.estimatedBilledBytes)
            warn(await guardian.drainWarnings(), budget: job.budget)
            return (dry, admission, guardian)
        } catch {
            record(
                JobRecord(
                    kind: "query", jobId: displayId, statementType: dry.statementType, bytesProcessed: 0,
                    bytesBilled: 0,
                    costUSD: 0, durationSeconds: 0, attempt: 0, outcome: "refused", reason: "budget",
                    sync: JobLog.sync(labels: job.labels)))
            throw error
        }
    }

    /// Settles a finished job with its budget (its actual bytes billed replace the reservation) and logs it.
    func settle(
        _ run: JobRun, of job: QueryJob, dry: DryRunResult, admission: CostGuard.Admission, guardian: CostGuard,
        started: Double
    ) async -> JobOutcome {
        let stats = run.resource.statistics?.query
        let processed = Int64(stats?.totalBytesProcessed ?? run.resource.statistics?.totalBytesProcessed ?? "") ?? 0
        let cacheHit = stats?.cacheHit ?? false
        let billed = Int64(stats?.totalBytesBilled ?? "") ?? (cacheHit ? 0 : dry.estimatedBilledBytes)
        await guardian.settle(admission, billedBytes: billed, processedBytes: processed)
        warn(await guardian.drainWarnings(), budget: job.budget)
        var outcome = JobOutcome(
            jobId: run.resource.jobReference?.jobId ?? run.jobId,
            location: run.resource.jobReference?.location ?? job.location,
            statementType: stats?.statementType ?? dry.statementType, bytesProcessed: processed, bytesBilled: billed,
            costUSD: Billing.cost(billedBytes: billed, usdPerTiB: guardian.limits.usdPerTiB), cacheHit: cacheHit,
            affectedRows: stats?.numDmlAffectedRows.flatMap { Int64($0) },
            insertedRows: stats?.dmlStats?.insertedRowCount.flatMap { Int64($0) },
            updatedRows: stats?.dmlStats?.updatedRowCount.flatMap { Int64($0) },
            deletedRows: stats?.dmlStats?.deletedRowCount.flatMap { Int64($0) },
            loadedRows: nil, attempt: run.attempt, adopted: run.adopted, durationSeconds: time.now() - started
        )
        if job.writes != nil, outcome.affectedRows == nil, let inserted = outcome.insertedRows {
            outcome.affectedRows = inserted + (outcome.updatedRows ?? 0) + (outcome.deletedRows ?? 0)
        }
        record(
            JobRecord(
                kind: "query", jobId: outcome.jobId, statementType: outcome.statementType, bytesProcessed: processed,
                bytesBilled: billed, costUSD: outcome.costUSD, durationSeconds: outcome.durationSeconds,
                attempt: run.attempt, outcome: run.adopted ? "adopted" : "done", reason: nil,
                sync: JobLog.sync(labels: job.labels)))
        return outcome
    }

    /// `configuration.query` of a job or dry run, written in one place: the statement, GoogleSQL, the cache
    /// setting, the cap BigQuery enforces (not for a dry run) and the named parameters.
    nonisolated func writeQueryConfiguration(
        _ job: QueryJob, cache: Bool, maximumBytesBilled: Int64?, into json: inout JSONWriter
    ) {
        json.object { query in
            query.field("query", string: job.sql)
            query.field("useLegacySql") { $0.bool(false) }
            query.field("useQueryCache") { $0.bool(cache) }
            if let maximumBytesBilled { query.field("maximumBytesBilled", string: String(maximumBytesBilled)) }
            if !job.parameters.isEmpty {
                query.field("parameterMode", string: "NAMED")
                query.field("queryParameters") { json in json.array(job.parameters) { json, p in p.write(to: &json) } }
            }
        }
    }

    /// Dry-runs a query (free) and estimates its bytes billed; an estimate the dry run cannot give (UNKNOWN
    /// accuracy, or 0 bytes) is replaced by a conservative one from table metadata and the 10 MB minimums.
    public func dryRun(_ job: QueryJob) async throws(BigQueryError) -> DryRunResult {
        try await dryRunWithSchema(job).0
    }

    /// A dry run that also returns the result schema BigQuery reports (for a SELECT).
    public func dryRunWithSchema(_ job: QueryJob) async throws(BigQueryError) -> (DryRunResult, [FieldSchema]) {
        let budget = try self.budget(job.budget)
        let project = try await billingProject(
            fallback: job.writes?.projectId ?? job.reads.first?.projectId, explicit: job.project)
        let started = time.now()
        let jobId = randomJobId("dryrun")
        let body = await Self.encodeObject { object in
            object.field("jobReference") { json in
                json.object { ref in
                    ref.field("projectId", string: project)
                    ref.field("jobId", string: jobId)
                    if let location = job.location { ref.field("location", string: location) }
                }
            }
            object.field("configuration") { json in
                json.object { config in
                    config.field("dryRun") { $0.bool(true) }
                    config.field("query") { json in
                        self.writeQueryConfiguration(job, cache: budget.cache, maximumBytesBilled: nil, into: &json)
                    }
                }
            }
        }
        let response = try await perform(
            "POST", "\(projectURL(project))/jobs", body: .bytes(body), retry: budget.retry)
        let resource = try await decode(JobResource.self, response, what: "dry run")
        if let error = resource.status?.errorResult {
            throw .jobFailed(jobId: "dry run", reason: error.reason, message: error.message ?? "dry run failed")
        }
        let stats = resource.statistics?.query
        let processed = Int64(stats?.totalBytesProcessed ?? resource.statistics?.totalBytesProcessed ?? "") ?? 0
        let accuracy = stats?.totalBytesProcessedAccuracy ?? "UNKNOWN"
        let referenced = (stats?.referencedTables ?? []).compactMap {
            try? TableReference(projectId: $0.projectId, datasetId: $0.datasetId, tableId: $0.tableId)
        }
        var result = DryRunResult(
            bytesProcessed: processed, accuracy: accuracy, statementType: stats?.statementType,
            estimatedBilledBytes: Billing.billed(processed: processed, tablesReferenced: max(1, referenced.count)),
            conservative: false, note: nil
        )
        if accuracy == "UNKNOWN" || processed == 0 || accuracy == "LOWER_BOUND" {
            let sizes = try await metadataEstimate(job, referenced: referenced)
            let tables = sizes.count
            let fallback = Billing.billed(perTable: sizes)
            if fallback > result.estimatedBilledBytes || accuracy != "LOWER_BOUND" {
                result.estimatedBilledBytes = max(fallback, result.estimatedBilledBytes)
                result.conservative = true
                result.note =
                    "dry run reported \(Format.bytes(processed)) (\(accuracy) accuracy); estimated from table metadata of \(tables) table\(tables == 1 ? "" : "s") and the 10 MB minimums"
            }
        }
        record(
            JobRecord(
                kind: "dry-run", jobId: resource.jobReference?.jobId ?? "dry run", statementType: result.statementType,
                bytesProcessed: processed, bytesBilled: 0, costUSD: 0, durationSeconds: time.now() - started,
                attempt: 1, outcome: "dry-run", reason: result.note == nil ? nil : "conservativeEstimate",
                sync: JobLog.sync(labels: job.labels)))
        return (result, stats?.schema?.fields ?? [])
    }

    /// What a statement could process by table metadata: the tables it reads other than its target, plus the
    /// whole target (which covers both the target columns it scans and, for DML, the full-table term).
    /// Each table's size, for BigQuery's per-table rounding (docs/bigquery.md, "Billing"); at least one entry.
    func metadataEstimate(_ job: QueryJob, referenced: [TableReference]) async throws(BigQueryError) -> [Int64] {
        var tables = Set(job.reads).union(referenced)
        if let target = job.writes { tables.insert(target) }
        var sizes: [Int64] = []
        for table in tables.sorted() {
            sizes.append(try await estimatedSize(of: table))
        }
        return sizes.isEmpty ? [0] : sizes
    }

    /// A table's size from its metadata: `numBytes`, or — where a server reports 0 bytes for a table with rows
    /// (the emulator) — rows × a width estimated from the schema.
    func estimatedSize(of table: TableReference) async throws(BigQueryError) -> Int64 {
        let resource: TableResource?
        if let cached = tableMetadata[table] {
            resource = cached
        } else {
            resource = try await getTable(table)
            tableMetadata[table] = resource
        }
        guard let resource else { return 0 }
        if resource.bytes > 0 { return resource.bytes }
        return resource.rows * Self.estimatedRowWidth(resource.fields)
    }

    /// BigQuery's logical sizes per type; variable-length types assumed 64 bytes.
    static func estimatedRowWidth(_ fields: [FieldSchema]) -> Int64 {
        fields.reduce(0) { total, field in
            switch field.fieldType {
            case .bool: return total + 1
            case .int64, .float64, .date, .datetime, .time, .timestamp: return total + 8
            case .numeric: return total + 16
            case .bignumeric: return total + 32
            default: return total + 66
            }
        }
    }

    // MARK: - results

    /// Every row of a finished query, page by page; nonisolated, so the pages are fetched, decoded and gathered
    /// off the actor.
    @concurrent
    nonisolated func results(project: String, jobId: String, location: String?, retry: RetryPolicy)
        async throws(BigQueryError) -> ([FieldSchema], [[Cell]])
    {
        var rows: [[Cell]] = []
        var schema: [FieldSchema] = []
        var pageToken: String?
        while true {
            let url =
                "\(projectURL(project))/queries/\(Self.segment(jobId))"
                + Self.query([
                    ("location", location), ("pageToken", pageToken), ("maxResults", String(configuration.pageSize)),
                    ("timeoutMs", "10000"),
                ])
            let response = try await perform("GET", url, retry: retry)
            let page = try await decode(QueryResultsPage.self, response, what: "query results")
            if let error = page.errors?.first {
                throw .jobFailed(jobId: jobId, reason: error.reason, message: error.message ?? "query failed")
            }
            guard page.jobComplete != false else { continue }
            if schema.isEmpty { schema = page.schema?.fields ?? [] }
            rows += (page.rows ?? []).map(\.f)
            guard let next = page.pageToken, !next.isEmpty, next != pageToken else { break }
            pageToken = next
        }
        return (schema, rows)
    }

    // MARK: - jobs

    /// The outcome of running one job.
    struct JobRun {
        var resource: JobResource
        var jobId: String
        var attempt: Int
        var adopted: Bool
    }

    /// Runs a job to completion. With an id base, attempt n is `<base>_<n>`, and BigQuery's 409 for an id that
    /// exists is the authority: an earlier run's attempt that succeeded is adopted (awaited first if it still
    /// runs), one that failed is passed over for the next id. `resuming` (an earlier run of the same step may
    /// have sent it) looks each attempt up before inserting it instead, for servers that do not answer 409 (the
    /// emulator re-runs a duplicate id). A job that fails for a passing cause (a backend error, a concurrent
    /// update of the table) is retried under the next id, with backoff, within the retry policy's deadline.
    func runJob(
        project: String, idBase: String?, location: String?, retry: RetryPolicy, kind: String, resuming: Bool = false,
        upload: (@Sendable (String, [UInt8]) async throws(BigQueryError) -> JobResource)? = nil,
        adoptable: (JobResource) -> Bool = { _ in true },
        configuration write: @Sendable (inout JSONWriter.ObjectWriter) -> Void
    ) async throws(BigQueryError) -> JobRun {
        let start = time.now()
        var lastFailure: BigQueryError?
        for attempt in 1...max(1, retry.maxAttempts) {
            let jobId = idBase.map { "\($0)_\(attempt)" } ?? randomJobId(kind)
            let outcome: AttemptOutcome
            if idBase != nil, resuming,
                let existing = try await getJob(project: project, jobId: jobId, location: location, retry: retry)
            {
                outcome = try await settleExisting(
                    existing, project: project, jobId: jobId, attempt: attempt, location: location, retry: retry,
                    adoptable: adoptable)
            } else {
                outcome = try await insertAttempt(
                    project: project, jobId: jobId, attempt: attempt, location: location, retry: retry,
                    upload: upload, adoptable: adoptable, configuration: write)
            }
            switch outcome {
            case .succeeded(let run):
                return run
            case .passedOver(let failure):
                lastFailure = failure
            case .failed(let failure, let resource):
                let error = resource.status?.errorResult
                record(
                    JobRecord(
                        kind: kind, jobId: resource.jobReference?.jobId ?? jobId,
                        statementType: resource.statistics?.query?.statementType,
                        bytesProcessed: 0, bytesBilled: 0, costUSD: 0, durationSeconds: 0, attempt: attempt,
                        outcome: "failed",
                        reason: error?.reason))
                guard Retry.isRetryableJob(reason: error?.reason, message: error?.message), attempt < retry.maxAttempts
                else { throw failure }
                let wait = time.jitter(upTo: retry.ceiling(beforeRetry: attempt).seconds)
                guard time.now() - start + wait <= retry.deadline.seconds else {
                    throw .retriesExhausted(
                        attempts: attempt,
                        last: "\(failure.description) (retry deadline of \(Int(retry.deadline.seconds))s reached)")
                }
                lastFailure = failure
                logger.notice(
                    "job failed; retrying under a new id",
                    metadata: [
                        "job_id": "\(jobId)", "reason": "\(error?.reason ?? "-")",
                        "message": "\(error?.message ?? "-")",
                    ])
                do { try await time.sleep(seconds: wait) } catch { throw .cancelled }
            }
        }
        throw .retriesExhausted(attempts: retry.maxAttempts, last: lastFailure?.description ?? "job failed")
    }

    /// How one attempt id ended.
    enum AttemptOutcome {
        /// It succeeded: run now, or adopted from an earlier run.
        case succeeded(JobRun)
        /// An earlier run's attempt under this id failed, or wrote to a table since replaced: use the next id.
        case passedOver(BigQueryError)
        /// This run's attempt failed.
        case failed(BigQueryError, JobResource)
    }

    /// Inserts one attempt and waits for it. A 409 means the id exists from an earlier run (a retry of this very
    /// request that BigQuery had already accepted is caught by `perform`'s probe, and counts as this run's).
    func insertAttempt(
        project: String, jobId: String, attempt: Int, location: String?, retry: RetryPolicy,
        upload: (@Sendable (String, [UInt8]) async throws(BigQueryError) -> JobResource)?,
        adoptable: (JobResource) -> Bool,
        configuration write: @Sendable (inout JSONWriter.ObjectWriter) -> Void
    ) async throws(BigQueryError) -> AttemptOutcome {
        let body = await Self.encodeObject { object in
            object.field("jobReference") { json in
                json.object { ref in
                    ref.field("projectId", string: project)
                    ref.field("jobId", string: jobId)
                    if let location { ref.field("location", string: location) }
                }
            }
            object.field("configuration") { json in json.object { write(&$0) } }
        }
        var resource: JobResource
        do {
            if let upload {
                resource = try await upload(jobId, body)
            } else {
                let response = try await perform(
                    "POST", "\(projectURL(project))/jobs", body: .bytes(body), retry: retry,
                    probe: { [self] () async throws(BigQueryError) -> HTTPResponse? in
                        try await self.getJobResponse(project: project, jobId: jobId, location: location, retry: retry)
                    }
                )
                resource = try await decode(JobResource.self, response, what: "job")
            }
        } catch .api(409, _, _) {
            guard let existing = try await getJob(project: project, jobId: jobId, location: location, retry: retry)
            else {
                throw BigQueryError.invalidResponse("job \(jobId) already exists but cannot be read")
            }
            return try await settleExisting(
                existing, project: project, jobId: jobId, attempt: attempt, location: location, retry: retry,
                adoptable: adoptable)
        }
        let actualId = resource.jobReference?.jobId ?? jobId
        if resource.status?.state != "DONE" {
            resource = try await waitForJob(
                project: project, jobId: actualId, location: resource.jobReference?.location ?? location, retry: retry)
        }
        if let error = resource.status?.errorResult {
            return .failed(
                .jobFailed(jobId: actualId, reason: error.reason, message: error.message ?? "failed"), resource)
        }
        return .succeeded(JobRun(resource: resource, jobId: actualId, attempt: attempt, adopted: false))
    }

    /// An attempt an earlier run created: adopted once done if it succeeded into the current table, else passed over.
    func settleExisting(
        _ existing: JobResource, project: String, jobId: String, attempt: Int, location: String?, retry: RetryPolicy,
        adoptable: (JobResource) -> Bool
    ) async throws(BigQueryError) -> AttemptOutcome {
        var existing = existing
        if existing.status?.state != "DONE" {
            existing = try await waitForJob(
                project: project, jobId: jobId, location: existing.jobReference?.location ?? location, retry: retry)
        }
        if let error = existing.status?.errorResult {
            return .passedOver(.jobFailed(jobId: jobId, reason: error.reason, message: error.message ?? "failed"))
        }
        guard adoptable(existing) else {
            logger.notice(
                "an earlier attempt is not adoptable; running the job again under the next id",
                metadata: ["job_id": "\(jobId)"])
            return .passedOver(
                .jobFailed(jobId: jobId, reason: nil, message: "an earlier attempt wrote to a table since replaced"))
        }
        return .succeeded(JobRun(resource: existing, jobId: jobId, attempt: attempt, adopted: true))
    }

    /// The job, or nil when it does not exist.
    @concurrent
    nonisolated func getJob(project: String, jobId: String, location: String?, retry: RetryPolicy)
        async throws(BigQueryError) -> JobResource?
    {
        guard let response = try await getJobResponse(project: project, jobId: jobId, location: location, retry: retry)
        else { return nil }
        return try await decode(JobResource.self, response, what: "job")
    }

    @concurrent
    nonisolated func getJobResponse(project: String, jobId: String, location: String?, retry: RetryPolicy)
        async throws(BigQueryError) -> HTTPResponse?
    {
        let url = "\(projectURL(project))/jobs/\(Self.segment(jobId))" + Self.query([("location", location)])
        do {
            return try await perform("GET", url, retry: retry)
        } catch .api(404, _, _) {
            return nil
        }
    }

    /// Polls a job until it is DONE, waiting longer each time (off the actor: polling reads no client state).
    @concurrent
    nonisolated func waitForJob(project: String, jobId: String, location: String?, retry: RetryPolicy)
        async throws(BigQueryError) -> JobResource
    {
        var interval = configuration.pollInterval
        while true {
            guard let job = try await getJob(project: project, jobId: jobId, location: location, retry: retry) else {
                throw .invalidResponse("job \(jobId) disappeared while running")
            }
            if job.status?.state == "DONE" { return job }
            do { try await time.sleep(seconds: interval) } catch { throw .cancelled }
            interval = min(configuration.maxPollInterval, interval * 1.5)
        }
    }

    /// The attempt of a deterministic job that succeeded, if any: attempts `<idBase>_1`, `_2`, … are read in order
    /// until one is missing; a failed attempt is passed over, a running one awaited. For resuming a step.
    public func succeededAttempt(idBase: String, project: String, location: String?, budget: String)
        async throws(BigQueryError) -> JobResource?
    {
        let retry = try self.budget(budget).retry
        for attempt in 1...max(1, retry.maxAttempts) {
            let jobId = "\(idBase)_\(attempt)"
            guard var job = try await getJob(project: project, jobId: jobId, location: location, retry: retry) else {
                return nil
            }
            if job.status?.state != "DONE" {
                job = try await waitForJob(project: project, jobId: jobId, location: location, retry: retry)
            }
            if job.status?.errorResult == nil { return job }
        }
        return nil
    }

    /// Reads a job by id (for `status`, resume and tests).
    public func job(_ jobId: String, project: String, location: String?) async throws(BigQueryError) -> JobResource? {
        try await getJob(project: project, jobId: jobId, location: location, retry: defaultRetry)
    }

    /// Asks BigQuery to cancel a job.
    public func cancelJob(_ jobId: String, project: String, location: String?) async throws(BigQueryError) {
        let url = "\(projectURL(project))/jobs/\(Self.segment(jobId))/cancel" + Self.query([("location", location)])
        _ = try await perform("POST", url, retry: defaultRetry)
    }

    /// Lists recent jobs of a project (one page).
    public func listJobs(project: String, stateFilter: String? = nil, maxResults: Int = 100) async throws(BigQueryError)
        -> [JobList.Entry]
    {
        let url =
            "\(projectURL(project))/jobs"
            + Self.query([("allUsers", "false"), ("stateFilter", stateFilter), ("maxResults", String(maxResults))])
        let response = try await perform("GET", url, retry: defaultRetry)
        return try await decode(JobList.self, response, what: "job list").jobs ?? []
    }

    var defaultRetry: RetryPolicy { budgets["default"]?.retry ?? budgets.values.first?.retry ?? .defaults }

    func budget(_ name: String) throws(BigQueryError) -> Budget {
        guard let budget = budgets[name] else { throw .invalidName("no budget named '\(name)'") }
        return budget
    }
}
