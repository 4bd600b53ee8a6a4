import BigQuery
import Synchronization

/// `plan --preview`: per sync, one read-only query that counts what its MERGEs would do to the target (rows
/// inserted, updated, deleted, left as they are). It is priced like any query: its dry run is in the plan's
/// budget, and it runs only once the whole plan, previews included, fits every policy.
extension Planner {
    /// The preview queries of one plan, kept between pricing and running (their parameters are not in the plan).
    final class PreviewQueries: Sendable {
        private let jobs = Mutex<[String: QueryJob]>([:])

        func keep(_ job: QueryJob, for sync: String) { jobs.withLock { $0[sync] = job } }
        func job(for sync: String) -> QueryJob? { jobs.withLock { $0[sync] } }
    }

    /// The preview of a planned sync, priced (its query kept in `previewQueries` to run later), or why there is
    /// none.
    func pricePreview(_ plan: SyncPlan, prepared: PreparedTarget) async throws(SyncError) -> SyncPlan.Preview {
        guard prepared.table != nil else {
            return SyncPlan.Preview(unavailable: "the target is created by this plan: every row is inserted")
        }
        let carried = plan.columns.filter(\.carried).compactMap { prepared.layout.index[$0.name.lowercased()] }
        let builder = MergeBuilder(
            target: prepared.target, layout: prepared.layout, carried: carried.sorted(),
            update: prepared.sync.merge.update)
        let sql: String
        var parameters: [QueryParameter] = []
        switch prepared.sync.source.kind {
        case .gcs:
            return SyncPlan.Preview(unavailable: "a gcs source's rows are known only once they are loaded")
        case .query:
            sql = builder.preview(.query(prepared.sync.source.query ?? ""))
        case .ndjson, .csv, .postgres:
            let window = try Self.plannedWindow(plan.window, prepared: prepared)
            guard let (parameter, range) = try await previewRows(prepared, carried: builder.carried, window: window)
            else {
                return SyncPlan.Preview(
                    unavailable: "the rows do not fit one request (\(Format.bytes(Int64(Planner.maxInlineBytes))))")
            }
            sql = builder.preview(.parameter("rows"), pruning: Pruner(prepared: prepared).predicate(range))
            parameters = [MergeBuilder.rowsParameter(parameter)]
        }
        var estimate = try await dryRun(sql, parameters: parameters, prepared: prepared)
        estimate.note = "the --preview query"
        previewQueries.keep(
            QueryJob(
                sql: sql, parameters: parameters, location: prepared.location, reads: [prepared.target],
                budget: prepared.policy.name, cacheable: false),
            for: plan.name)
        return SyncPlan.Preview(estimate: estimate)
    }

    /// All the source's rows as one `@rows` parameter and their partition range; nil when they do not fit one
    /// request. The source is read again (a preview is asked for, not the common path).
    func previewRows(_ prepared: PreparedTarget, carried: [Int], window: CursorWindow?) async throws(SyncError)
        -> ([UInt8], Pruner.Range)?
    {
        let rows = try LocalRows(prepared, window: window)
        let pruner = Pruner(prepared: prepared)
        var parameter: [UInt8]?
        var batches = 0
        var range = Pruner.Range()
        try await rows.batches(
            size: Self.previewRowLimit, maxBytes: Planner.maxInlineBytes, fileBytes: Planner.stagedFileBytes,
            keepFiles: false, encoder: BatchEncoder(layout: prepared.layout, carried: carried),
            inline: { (_, encoded) throws(SyncError) in
                batches += 1
                parameter = encoded
            }, tooLarge: { _, _ throws(SyncError) in batches += 2 }, staged: nil,
            each: { pruner.extend(&range, with: $0) })
        guard batches <= 1 else { return nil }
        return (parameter ?? Array("[]".utf8), range)
    }

    /// At most this many rows go into a preview's one parameter.
    static let previewRowLimit = 200_000

    /// Runs the priced previews of a plan that fits every policy, filling in their counts.
    func runPreviews(_ plan: inout Plan) async throws(SyncError) {
        for index in plan.syncs.indices {
            guard plan.syncs[index].preview?.estimate != nil else { continue }
            guard plan.fits else {
                plan.syncs[index].preview?.unavailable = "not run: the plan passes a policy limit"
                continue
            }
            guard let job = previewQueries.job(for: plan.syncs[index].name) else { continue }
            let result = try await network.withPlace { () async throws(SyncError) in
                try await SyncError.lifting { () async throws(BigQueryError) in try await client.query(job) }
            }
            let counts = result.rows.first?.map { cell -> Int64? in
                if case .string(let text) = cell { return Int64(text) }
                return nil
            }
            guard let counts, counts.count == 4, let rows = counts[0], let inserted = counts[1],
                let updated = counts[2], let deleted = counts[3]
            else {
                throw SyncError.unexpected(
                    "sync '\(plan.syncs[index].name)': the preview query answered rows bqsync cannot read: \(result.rows)"
                )
            }
            plan.syncs[index].preview?.inserted = inserted
            plan.syncs[index].preview?.updated = updated
            plan.syncs[index].preview?.deleted = deleted
            plan.syncs[index].preview?.unchanged = rows - inserted - updated - deleted
        }
    }
}
