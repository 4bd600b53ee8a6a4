import BigQuery
import Foundation

/// The state dataset in a target's project: `leases` (one apply per target table at a time) and `runs`
/// (append-only run records). Every write is a DML job through the client and counts against the budget.
struct StateStore: Sendable {
    let client: BigQueryClient
    let project: String
    let dataset: String
    let budget: String

    /// How long a lease lasts without renewal; a holder that dies loses it after this. A running apply renews
    /// its lease before a step once a quarter of this has passed since it last did.
    var leaseSeconds: Int64 = StateStore.defaultLeaseSeconds

    /// The lease's life when `BQSYNC_LEASE_SECONDS` does not say.
    static let defaultLeaseSeconds: Int64 = 3600

    /// `BQSYNC_LEASE_SECONDS` (whole seconds, 10 to 86400), else the default of an hour.
    static func leaseSeconds(environment: [String: String] = ProcessInfo.processInfo.environment) throws(SyncError) -> Int64 {
        guard let text = environment["BQSYNC_LEASE_SECONDS"], !text.isEmpty else { return defaultLeaseSeconds }
        guard let seconds = Int64(text), (10...86_400).contains(seconds) else {
            throw SyncError.failed("BQSYNC_LEASE_SECONDS must be a whole number of seconds from 10 to 86400, not '\(text)'")
        }
        return seconds
    }

    var leases: TableReference { get throws(SyncError) { try table("leases") } }
    var runs: TableReference { get throws(SyncError) { try table("runs") } }

    func table(_ name: String) throws(SyncError) -> TableReference {
        do { return try TableReference(projectId: project, datasetId: dataset, tableId: name) } catch { throw SyncError.bigQuery(error) }
    }

    static let leaseSchema = [
        FieldSchema(name: "target", type: "STRING", mode: "REQUIRED"), FieldSchema(name: "holder", type: "STRING", mode: "REQUIRED"),
        FieldSchema(name: "plan_id", type: "STRING"), FieldSchema(name: "host", type: "STRING"), FieldSchema(name: "pid", type: "INT64"),
        FieldSchema(name: "acquired_at", type: "TIMESTAMP"), FieldSchema(name: "expires_at", type: "TIMESTAMP"),
    ]

    static let runSchema = [
        FieldSchema(name: "run_id", type: "STRING", mode: "REQUIRED"), FieldSchema(name: "sync", type: "STRING", mode: "REQUIRED"),
        FieldSchema(name: "plan_id", type: "STRING"), FieldSchema(name: "target", type: "STRING"), FieldSchema(name: "status", type: "STRING"),
        FieldSchema(name: "started_at", type: "TIMESTAMP"), FieldSchema(name: "finished_at", type: "TIMESTAMP"),
        FieldSchema(name: "rows_inserted", type: "INT64"), FieldSchema(name: "rows_updated", type: "INT64"),
        FieldSchema(name: "rows_deleted", type: "INT64"), FieldSchema(name: "rows_affected", type: "INT64"),
        FieldSchema(name: "bytes_processed", type: "INT64"), FieldSchema(name: "bytes_billed", type: "INT64"),
        FieldSchema(name: "cost_usd", type: "FLOAT64"), FieldSchema(name: "jobs", type: "INT64"), FieldSchema(name: "message", type: "STRING"),
    ]

    /// Creates the dataset and its tables when missing (free metadata calls, not jobs).
    func ensure(location: String?) async throws(SyncError) {
        do {
            if try await client.getDataset(project: project, dataset: dataset) == nil {
                _ = try await client.createDataset(DatasetResource(projectId: project, datasetId: dataset, location: location,
                                                                   description: "bqsync state: runs and leases", labels: ["managed-by": "bqsync"]))
            }
            for (name, schema) in [("leases", Self.leaseSchema), ("runs", Self.runSchema)] {
                let reference = try table(name)
                if try await client.getTable(reference) == nil {
                    _ = try await client.createTable(TableResource(reference: reference, schema: schema, labels: ["managed-by": "bqsync"]))
                }
            }
        } catch {
            throw SyncError.lift(error)
        }
    }

    /// Who holds a target's lease now, if anyone (expired leases count as free).
    struct Holder: Sendable {
        var holder: String, planId: String?, host: String?, pid: Int64?, expiresAt: String?
    }

    /// Takes the target's lease for `holder`: free, expired, already ours, or left by a dead process of the same
    /// plan on this host (recovered). Returns nil when taken, else who holds it.
    func acquire(target: TableReference, holder: String, planId: String, recoverable: Set<String>) async throws(SyncError) -> Holder? {
        let host = ProcessInfo.processInfo.hostName
        let sql = """
        MERGE \(try leases.sql) AS L
        USING (SELECT @target AS target) AS S
        ON L.`target` = S.`target`
        WHEN MATCHED AND (L.`expires_at` < CURRENT_TIMESTAMP() OR L.`holder` = @holder OR L.`holder` IN UNNEST(@recoverable)) THEN
          UPDATE SET `holder` = @holder, `plan_id` = @plan, `host` = @host, `pid` = @pid, `acquired_at` = CURRENT_TIMESTAMP(),
                     `expires_at` = TIMESTAMP_ADD(CURRENT_TIMESTAMP(), INTERVAL @ttl SECOND)
        WHEN NOT MATCHED THEN
          INSERT (`target`, `holder`, `plan_id`, `host`, `pid`, `acquired_at`, `expires_at`)
          VALUES (@target, @holder, @plan, @host, @pid, CURRENT_TIMESTAMP(), TIMESTAMP_ADD(CURRENT_TIMESTAMP(), INTERVAL @ttl SECOND))
        """
        let parameters: [QueryParameter] = [
            .string("target", target.description), .string("holder", holder), .string("plan", planId), .string("host", host),
            .int64("pid", Int64(getpid())), .int64("ttl", leaseSeconds),
            QueryParameter(name: "recoverable", type: .array(.scalar("STRING")), value: .array(recoverable.sorted().map { .scalar($0) })),
        ]
        let result = try await execute(sql, parameters, writes: try leases)
        if (result.outcome.affectedRows ?? 0) >= 1 { return nil }
        return try await current(target: target) ?? Holder(holder: "unknown", planId: nil, host: nil, pid: nil, expiresAt: nil)
    }

    /// The lease row of a target.
    func current(target: TableReference) async throws(SyncError) -> Holder? {
        let sql = "SELECT `holder`, `plan_id`, `host`, `pid`, CAST(`expires_at` AS STRING) AS `expires_at` FROM \(try leases.sql) WHERE `target` = @target"
        let result = try await execute(sql, [.string("target", target.description)], writes: nil, cacheable: false)
        guard let row = result.rows.first, row.count >= 5 else { return nil }
        return Holder(holder: row[0].text ?? "", planId: row[1].text, host: row[2].text, pid: row[3].text.flatMap { Int64($0) }, expiresAt: row[4].text)
    }

    /// Extends the lease `holder` holds by its whole life from now; false when it no longer holds it (it expired
    /// and another apply took it).
    func renew(target: TableReference, holder: String) async throws(SyncError) -> Bool {
        let sql = """
        UPDATE \(try leases.sql) SET `expires_at` = TIMESTAMP_ADD(CURRENT_TIMESTAMP(), INTERVAL @ttl SECOND)
        WHERE `target` = @target AND `holder` = @holder
        """
        let result = try await execute(sql, [.string("target", target.description), .string("holder", holder), .int64("ttl", leaseSeconds)],
                                       writes: try leases)
        return (result.outcome.affectedRows ?? 0) >= 1
    }

    /// Releases the lease if we hold it.
    func release(target: TableReference, holder: String) async throws(SyncError) {
        let sql = "DELETE FROM \(try leases.sql) WHERE `target` = @target AND `holder` = @holder"
        _ = try await execute(sql, [.string("target", target.description), .string("holder", holder)], writes: try leases)
    }

    /// Appends a run record.
    func record(_ run: RunRecord) async throws(SyncError) {
        let sql = """
        INSERT INTO \(try runs.sql) (`run_id`, `sync`, `plan_id`, `target`, `status`, `started_at`, `finished_at`, `rows_inserted`,
          `rows_updated`, `rows_deleted`, `rows_affected`, `bytes_processed`, `bytes_billed`, `cost_usd`, `jobs`, `message`)
        VALUES (@run_id, @sync, @plan_id, @target, @status, CAST(@started_at AS TIMESTAMP), CURRENT_TIMESTAMP(),
          CAST(@inserted AS INT64), CAST(@updated AS INT64), CAST(@deleted AS INT64), @affected, @processed, @billed,
          CAST(@cost AS FLOAT64), @jobs, @message)
        """
        let parameters: [QueryParameter] = [
            .string("run_id", run.runId), .string("sync", run.sync), .string("plan_id", run.planId), .string("target", run.target),
            .string("status", run.status.rawValue), .string("started_at", run.startedAt),
            .string("inserted", run.inserted.map(String.init)), .string("updated", run.updated.map(String.init)),
            .string("deleted", run.deleted.map(String.init)), .int64("affected", run.affected), .int64("processed", run.bytesProcessed),
            .int64("billed", run.bytesBilled), .string("cost", String(run.costUSD)), .int64("jobs", Int64(run.jobs)), .string("message", run.message),
        ]
        _ = try await execute(sql, parameters, writes: try runs)
    }

    /// The latest runs, newest first, of the named syncs (all when none).
    func latestRuns(syncs: [String], limit: Int) async throws(SyncError) -> [RunRecord] {
        let filter = syncs.isEmpty ? "" : "WHERE `sync` IN UNNEST(@syncs)"
        let sql = """
        SELECT `run_id`, `sync`, `plan_id`, `target`, `status`, CAST(`started_at` AS STRING), CAST(`finished_at` AS STRING),
          `rows_inserted`, `rows_updated`, `rows_deleted`, `rows_affected`, `bytes_processed`, `bytes_billed`, `cost_usd`, `jobs`, `message`
        FROM \(try runs.sql) \(filter)
        ORDER BY `finished_at` DESC LIMIT \(limit)
        """
        let parameters = syncs.isEmpty ? [] : [QueryParameter(name: "syncs", type: .array(.scalar("STRING")), value: .array(syncs.map { .scalar($0) }))]
        let result = try await execute(sql, parameters, writes: nil, cacheable: false)
        return result.rows.map { row in
            func text(_ i: Int) -> String? { i < row.count ? row[i].text : nil }
            func int(_ i: Int) -> Int64? { text(i).flatMap { Int64($0) } }
            return RunRecord(runId: text(0) ?? "", sync: text(1) ?? "", planId: text(2) ?? "", target: text(3) ?? "", status: RunStatus(rawValue: text(4) ?? "") ?? .failed,
                             startedAt: text(5) ?? "", finishedAt: text(6), inserted: int(7), updated: int(8), deleted: int(9),
                             affected: int(10) ?? 0, bytesProcessed: int(11) ?? 0, bytesBilled: int(12) ?? 0,
                             costUSD: text(13).flatMap(Double.init) ?? 0, jobs: Int(int(14) ?? 0), message: text(15))
        }
    }

    /// Whether a run of this plan and sync already succeeded.
    func succeeded(planId: String, sync: String) async throws(SyncError) -> Bool {
        let sql = "SELECT COUNT(*) FROM \(try runs.sql) WHERE `plan_id` = @plan AND `sync` = @sync AND `status` = 'succeeded'"
        let result = try await execute(sql, [.string("plan", planId), .string("sync", sync)], writes: nil, cacheable: false)
        return (result.rows.first?.first?.text).flatMap { Int($0) }.map { $0 > 0 } ?? false
    }

    private func execute(_ sql: String, _ parameters: [QueryParameter], writes: TableReference?, cacheable: Bool = true) async throws(SyncError) -> QueryResult {
        do {
            return try await client.query(QueryJob(sql: sql, parameters: parameters, project: project, labels: ["bqsync-state": "true"],
                                                   reads: [], writes: writes, budget: budget, cacheable: cacheable))
        } catch {
            throw SyncError.bigQuery(error)
        }
    }
}

/// How a recorded run ended.
public enum RunStatus: String, Sendable, Hashable, Codable {
    /// Every step ran or was adopted.
    case succeeded
    /// A step failed.
    case failed
}

/// One apply of one sync, as recorded in the state dataset.
public struct RunRecord: Sendable, Hashable, Codable {
    public var runId: String
    public var sync: String
    public var planId: String
    public var target: String
    /// How the run ended.
    public var status: RunStatus
    public var startedAt: String
    public var finishedAt: String?
    /// Row counts when BigQuery reports the DML breakdown (nil otherwise).
    public var inserted: Int64?
    public var updated: Int64?
    public var deleted: Int64?
    /// Rows the MERGEs affected.
    public var affected: Int64
    public var bytesProcessed: Int64
    public var bytesBilled: Int64
    public var costUSD: Double
    /// Jobs run (adopted ones included).
    public var jobs: Int
    /// The error, for a failed run.
    public var message: String?
}

extension Cell {
    /// The cell's text, nil for NULL.
    var text: String? {
        if case .string(let value) = self { return value }
        return nil
    }
}
