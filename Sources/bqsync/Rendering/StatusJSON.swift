import BigQuery
import SyncKit

/// `bqsync status --format json`: one object per run in the style of the plan and the JSON log (snake_case keys,
/// ISO-8601 UTC timestamps, numbers as numbers).
struct StatusJSON: Encodable {
    let run: RunRecord
    /// The run's sync's current watermark, for an incremental sync.
    var watermark: SyncWatermark? = nil

    enum CodingKeys: String, CodingKey {
        case runId = "run_id"
        case sync
        case planId = "plan_id"
        case target, status
        case startedAt = "started_at"
        case finishedAt = "finished_at"
        case inserted = "rows_inserted"
        case updated = "rows_updated"
        case deleted = "rows_deleted"
        case affected = "rows_affected"
        case bytesEstimated = "bytes_estimated"
        case costEstimatedUSD = "cost_estimated_usd"
        case bytesProcessed = "bytes_processed"
        case bytesBilled = "bytes_billed"
        case costUSD = "cost_usd"
        case jobs, message, watermark
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(run.runId, forKey: .runId)
        try container.encode(run.sync, forKey: .sync)
        try container.encode(run.planId, forKey: .planId)
        try container.encode(run.target, forKey: .target)
        try container.encode(run.status.rawValue, forKey: .status)
        try container.encode(Self.iso8601(run.startedAt), forKey: .startedAt)
        try container.encodeIfPresent(run.finishedAt.map(Self.iso8601), forKey: .finishedAt)
        try container.encodeIfPresent(run.inserted, forKey: .inserted)
        try container.encodeIfPresent(run.updated, forKey: .updated)
        try container.encodeIfPresent(run.deleted, forKey: .deleted)
        try container.encode(run.affected, forKey: .affected)
        try container.encodeIfPresent(run.bytesEstimated, forKey: .bytesEstimated)
        try container.encodeIfPresent(run.costEstimatedUSD, forKey: .costEstimatedUSD)
        try container.encode(run.bytesProcessed, forKey: .bytesProcessed)
        try container.encode(run.bytesBilled, forKey: .bytesBilled)
        try container.encode(run.costUSD, forKey: .costUSD)
        try container.encode(run.jobs, forKey: .jobs)
        try container.encodeIfPresent(run.message, forKey: .message)
        if let watermark { try container.encode(watermark.watermark, forKey: .watermark) }
    }

    /// BigQuery's canonical TIMESTAMP text (`2026-12-07 09:22:49.461178+00`) as ISO 8601
    /// (`2026-12-07T09:22:49.461178Z`); text of another shape is left as it is.
    static func iso8601(_ text: String) -> String {
        guard text.count >= 19, text.dropFirst(10).first == " " else { return text }
        var iso = String(text.prefix(10)) + "T" + String(text.dropFirst(11))
        for suffix in ["+00:00", "+00", " UTC"] where iso.hasSuffix(suffix) {
            iso = String(iso.dropLast(suffix.count))
            break
        }
        return iso.hasSuffix("Z") ? iso : iso + "Z"
    }
}
