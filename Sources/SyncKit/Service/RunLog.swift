import BigQuery
import Foundation

/// How a recorded run ended.
public enum RunStatus: String, Sendable, Hashable, Codable {
    /// Every step ran or was adopted.
    case succeeded
    /// A step failed.
    case failed
    /// The apply was stopped by SIGINT or SIGTERM; applying the same plan again resumes it.
    case interrupted

    /// How a run record's row says the run ended. An interrupted run was recorded as `failed` with the message
    /// `interrupted` before it had a status of its own; it reads as interrupted either way.
    static func recorded(_ text: String?, message: String?) -> RunStatus {
        let status = RunStatus(rawValue: text ?? "") ?? .failed
        return status == .failed && message == Self.interruptedMessage ? .interrupted : status
    }

    /// The message of an interrupted run's record.
    static let interruptedMessage = "interrupted"
}

/// One apply of one sync, as recorded in the state dataset.
public struct RunRecord: Sendable, Hashable, Codable {
    public var runId: String
    public var sync: String
    public var planId: String
    public var target: String
    /// How the run ended.
    public var status: RunStatus
    /// Canonical TIMESTAMP text (UTC).
    public var startedAt: String
    public var finishedAt: String?
    /// Row counts when BigQuery reports the DML breakdown (nil otherwise).
    public var inserted: Int64?
    public var updated: Int64?
    public var deleted: Int64?
    /// Rows the MERGEs affected.
    public var affected: Int64
    /// What the plan estimated this sync would bill, beside what it did.
    public var bytesEstimated: Int64?
    public var costEstimatedUSD: Double?
    public var bytesProcessed: Int64
    public var bytesBilled: Int64
    public var costUSD: Double
    /// Jobs run (adopted ones included).
    public var jobs: Int
    /// The error, for a failed run.
    public var message: String?
}

/// The run records of a project's state dataset: one row per apply of a sync, appended with
/// `tabledata.insertAll` and read back with `tabledata.list`, so recording and reading them run no job and bill no
/// bytes (docs/bigquery.md, "Streaming inserts and `tabledata.list`"). The table is `bqsync.run_records`; the `runs` table of
/// bqsync's earlier layout is left as it is and not read.
struct RunLog: Sendable {
    let client: BigQueryClient
    let table: TableReference
    /// Waits between attempts while a just-created table is not yet visible to streaming inserts.
    let time: any TimeSource

    /// The table's name in the state dataset.
    static let tableName = "run_records"

    init(client: BigQueryClient, project: String, stateDataset: String, time: any TimeSource = SystemTime())
        throws(SyncError)
    {
        self.client = client
        table = try SyncError.liftingSync { () throws(BigQueryError) in
            try TableReference(projectId: project, datasetId: stateDataset, tableId: Self.tableName)
        }
        self.time = time
    }

    static let schema = [
        FieldSchema(name: "run_id", type: "STRING", mode: "REQUIRED"),
        FieldSchema(name: "sync", type: "STRING", mode: "REQUIRED"),
        FieldSchema(name: "plan_id", type: "STRING"), FieldSchema(name: "target", type: "STRING"),
        FieldSchema(name: "status", type: "STRING"),
        FieldSchema(name: "started_at", type: "TIMESTAMP"), FieldSchema(name: "finished_at", type: "TIMESTAMP"),
        FieldSchema(name: "rows_inserted", type: "INT64"), FieldSchema(name: "rows_updated", type: "INT64"),
        FieldSchema(name: "rows_deleted", type: "INT64"), FieldSchema(name: "rows_affected", type: "INT64"),
        FieldSchema(name: "bytes_estimated", type: "INT64"), FieldSchema(name: "cost_estimated_usd", type: "FLOAT64"),
        FieldSchema(name: "bytes_processed", type: "INT64"), FieldSchema(name: "bytes_billed", type: "INT64"),
        FieldSchema(name: "cost_usd", type: "FLOAT64"), FieldSchema(name: "jobs", type: "INT64"),
        FieldSchema(name: "message", type: "STRING"),
    ]

    // MARK: - writing

    /// Appends a run. A missing table (or dataset) is created first; a table BigQuery has only just created can
    /// refuse streaming inserts for a short while, so those 404s are retried for up to `settleSeconds`.
    func append(_ run: RunRecord, location: String?, settleSeconds: Double = 120) async throws(SyncError) {
        let row = InsertRow(insertId: "\(run.runId)-\(run.status.rawValue)", json: Self.json(run))
        do {
            try await client.insertRows(table, [row])
            return
        } catch .api(404, _, _) {
            try await create(location: location)
        } catch {
            throw SyncError.bigQuery(error)
        }
        let started = time.now()
        var wait = 1.0
        while true {
            do {
                try await client.insertRows(table, [row])
                return
            } catch .api(404, _, _) where time.now() - started + wait <= settleSeconds {
                try? await time.sleep(seconds: wait)
                wait = min(wait * 2, 16)
            } catch {
                throw SyncError.bigQuery(error)
            }
        }
    }

    func create(location: String?) async throws(SyncError) {
        try await StateDataset(client: client, project: table.projectId, name: table.datasetId).ensure(
            location: location)
        _ = try await SyncError.lifting { () async throws(BigQueryError) in
            try await client.createTable(
                TableResource(
                    reference: table, schema: Self.schema,
                    description: "bqsync run records: one row per apply of a sync",
                    labels: ["managed-by": "bqsync"]))
        }
    }

    /// A run as the JSON object of one insertAll row (INT64 as strings, TIMESTAMP as canonical text).
    static func json(_ run: RunRecord) -> [UInt8] {
        var json = JSONWriter(capacity: 512)
        json.object { row in
            row.field("run_id", string: run.runId)
            row.field("sync", string: run.sync)
            row.field("plan_id", string: run.planId)
            row.field("target", string: run.target)
            row.field("status", string: run.status.rawValue)
            row.field("started_at", string: run.startedAt)
            if let finished = run.finishedAt { row.field("finished_at", string: finished) }
            for (name, value) in [
                ("rows_inserted", run.inserted), ("rows_updated", run.updated), ("rows_deleted", run.deleted),
                ("rows_affected", run.affected), ("bytes_estimated", run.bytesEstimated),
                ("bytes_processed", run.bytesProcessed), ("bytes_billed", run.bytesBilled), ("jobs", Int64(run.jobs)),
            ] {
                if let value { row.field(name, string: String(value)) }
            }
            if let cost = run.costEstimatedUSD { row.field("cost_estimated_usd") { $0.raw(Self.number(cost)) } }
            row.field("cost_usd") { $0.raw(Self.number(run.costUSD)) }
            if let message = run.message { row.field("message", string: message) }
        }
        return json.bytes
    }

    /// A finite double as a JSON number.
    static func number(_ value: Double) -> String { value.isFinite ? "\(value)" : "0" }

    // MARK: - reading

    /// Every run recorded in this project, in no particular order; empty when nothing was recorded yet.
    func runs() async throws(SyncError) -> [RunRecord] {
        guard
            let (schema, rows) = try await SyncError.lifting({ () async throws(BigQueryError) in
                try await client.allRows(table)
            })
        else {
            return []
        }
        let index = Dictionary(schema.enumerated().map { ($1.name, $0) }, uniquingKeysWith: { first, _ in first })
        // A retried insertAll whose first answer was lost can leave a record twice: BigQuery drops the copy by its
        // insertId on a best-effort basis only (docs/bigquery.md, "Streaming inserts and `tabledata.list`").
        var seen: Set<String> = []
        return rows.compactMap { (cells) -> RunRecord? in
            func text(_ name: String) -> String? { index[name].flatMap { $0 < cells.count ? cells[$0].text : nil } }
            func int(_ name: String) -> Int64? { text(name).flatMap { Int64($0) } }
            func double(_ name: String) -> Double? { text(name).flatMap { Double($0) } }
            func timestamp(_ name: String) -> String? { text(name).flatMap(Self.timestampText) }
            guard let runId = text("run_id"), let sync = text("sync") else { return nil }
            return RunRecord(
                runId: runId, sync: sync, planId: text("plan_id") ?? "", target: text("target") ?? "",
                status: RunStatus.recorded(text("status"), message: text("message")),
                startedAt: timestamp("started_at") ?? "",
                finishedAt: timestamp("finished_at"), inserted: int("rows_inserted"), updated: int("rows_updated"),
                deleted: int("rows_deleted"), affected: int("rows_affected") ?? 0,
                bytesEstimated: int("bytes_estimated"),
                costEstimatedUSD: double("cost_estimated_usd"), bytesProcessed: int("bytes_processed") ?? 0,
                bytesBilled: int("bytes_billed") ?? 0, costUSD: double("cost_usd") ?? 0, jobs: Int(int("jobs") ?? 0),
                message: text("message"))
        }.filter { seen.insert("\($0.runId) \($0.status.rawValue)").inserted }
    }

    /// A TIMESTAMP cell of `tabledata.list` as canonical text. BigQuery sends seconds since the epoch as a
    /// floating-point string (`1.7650490056E9`); microseconds as an integer string also occur (the emulator).
    static func timestampText(_ cell: String) -> String? {
        if let micros = Int64(cell), abs(micros) > 100_000_000_000 { return Temporal.timestampText(micros: micros) }
        guard let seconds = Double(cell), seconds.isFinite, abs(seconds) < 1e13 else { return nil }
        return Temporal.timestampText(micros: Int64((seconds * 1_000_000).rounded()))
    }
}
