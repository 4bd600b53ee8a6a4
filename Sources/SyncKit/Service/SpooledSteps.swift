import BigQuery
import Foundation

/// One pass over a source bqsync reads itself: the apply sends the batches and staging files kept in the spool
/// (by the planner, for `apply SYNC…`, or by the freshness check of `apply PLANFILE`, which reads each source once
/// to prove it unchanged), each read back only if it still hashes to the plan's digest.
extension BigQuerySyncService {
    /// The payloads a local sync's apply sends, in order: its inline MERGEs' or its loads'.
    static func payloadSteps(_ plan: SyncPlan) -> [Step] {
        plan.steps.filter { $0.kind == (plan.strategy == .staged ? .load : .merge) && $0.payloadDigest != nil }
    }

    /// Whether the spool holds every payload of the sync's plan, so its apply reads no source.
    static func spooled(_ plan: SyncPlan, in spool: PayloadSpool?) -> Bool {
        guard let spool, plan.source.kind.readsRows else { return false }
        let steps = payloadSteps(plan)
        return !steps.isEmpty && spool.containsAll(steps.map(\.payloadDigest))
    }

    /// Reads a reviewed plan's local or database source once: its rows in the plan's window, batched as the plan
    /// batched them, each payload kept in the spool. Returns how the source differs from the plan (its files, its
    /// rows, its columns, its batches): nothing when it is as planned, and then the apply sends the kept payloads.
    func spoolSource(_ syncPlan: SyncPlan, target: PreparedTarget, spool: PayloadSpool) async throws(SyncError)
        -> [String]
    {
        let rows = try LocalRows(target, window: try Planner.plannedWindow(syncPlan.window, prepared: target))
        if let files = syncPlan.source.files {
            let changed = Self.staleFiles(files, now: rows.files, source: target.sync.source)
            if !changed.isEmpty { return changed }
        }
        if let planned = syncPlan.source.database, let now = rows.database {
            let changed = Self.staleRows(planned, now: now, sync: target.sync)
            if !changed.isEmpty { return changed }
        }
        let carried = syncPlan.columns.filter(\.carried).compactMap { target.layout.index[$0.name.lowercased()] }
            .sorted()
        guard rows.carried == carried else { return ["the columns source '\(syncPlan.name)' carries changed"] }
        let expected = Self.payloadSteps(syncPlan).compactMap(\.payloadDigest)
        var made: [String] = []
        let keep = { (bytes: [UInt8], digest: String) throws(SyncError) -> Void in
            made.append(digest)
            if expected.contains(digest) { try spool.put(bytes, digest: digest) }
        }
        let staged = syncPlan.strategy == .staged
        try await rows.batches(
            size: target.sync.batch.size, maxBytes: Planner.maxInlineBytes, fileBytes: Planner.stagedFileBytes,
            keepFiles: staged, encoder: BatchEncoder(layout: target.layout, carried: carried),
            inline: staged
                ? nil
                : { (_, parameter) throws(SyncError) in
                    try keep(parameter, BatchEncoder.digest(parameter))
                },
            staged: staged
                ? { (file) throws(SyncError) in if let contents = file.contents { try keep(contents, file.digest) } }
                : nil)
        guard made == expected else {
            return [
                "sync '\(syncPlan.name)': the source yields \(made.count) \(staged ? "staging files" : "batches") "
                    + "that are not the plan's \(expected.count)"
            ]
        }
        return []
    }

    /// Local rows, inline, from the spool: each batch's parameter checked against its step's digest, then merged.
    func applySpooledBatches(_ run: SyncRun, spool: PayloadSpool) async throws(SyncError) {
        for (index, merge) in run.merges.enumerated() {
            guard let digest = merge.payloadDigest, let sql = merge.sql,
                let parameter = spool.get(digest, limit: Planner.maxInlineBytes + (1 << 20))
            else {
                throw Self.staleDuringApply("batch \(index + 1) is not the plan's")
            }
            try await run.keepLease()
            let reviewed = Self.reviewedEstimate(merge, planned: run.plan.targetState, now: run.target.table)
            let outcome = try await runQuery(
                sql, [MergeBuilder.rowsParameter(parameter)], step: merge, run: run, reviewed: reviewed)
            run.finished(outcome, kind: .merge, rows: merge.rows ?? 0)
        }
    }

    /// Local rows, staged, from the spool: each staging file loaded from where it is kept, once it hashes to its
    /// step's digest.
    func loadSpooledFiles(
        _ run: SyncRun, spool: PayloadSpool, into staging: TableReference, schema: [FieldSchema], since: Int64?
    ) async throws(SyncError) {
        for (index, load) in run.loads.enumerated() {
            guard let digest = load.payloadDigest, let path = spool.verifiedPath(digest) else {
                throw Self.staleDuringApply("staging file \(index + 1) is not the plan's")
            }
            try await run.keepLease()
            let outcome = try await upload(
                path: path, into: staging, schema: schema, truncate: index == 0, step: load, adoptableFrom: since,
                run: run)
            run.finished(outcome, kind: .load, rows: load.rows ?? 0)
        }
    }
}
