import BigQuery
import Foundation

/// Whether a reviewed plan still describes the world: the definitions, policies, sources and target schemas it
/// was made from. Reads metadata and local files only; sends no job.
extension BigQuerySyncService {
    /// The prepared targets of a plan that is still fresh; a stale one (or one over its budget) is refused with
    /// every reason at once, before anything is sent.
    ///
    /// A source bqsync reads itself is read once: with a spool that already holds its payloads (the planner's,
    /// moments ago in this process) it is not read at all, and those reviewed bytes are what the apply sends; with
    /// a spool that does not, it is read, batched as planned and compared payload by payload, and the payloads are
    /// kept for the apply; without a spool its files are hashed (and a database source read) here and read again
    /// by the apply.
    func checkFresh(_ plan: Plan, spool: PayloadSpool? = nil) async throws(SyncError) -> [PreparedTarget] {
        var stale = stalePolicies(plan)
        var prepared: [PreparedTarget] = []
        for syncPlan in plan.syncs {
            guard let sync = configuration.syncs.first(where: { $0.name == syncPlan.name }) else {
                stale.append("sync '\(syncPlan.name)' no longer exists")
                continue
            }
            if sync.file.sha256 != syncPlan.definition.sha256 {
                stale.append("\(sync.file.path) changed since the plan")
            }
            guard let policy = configuration.policy(for: sync) else { continue }
            let target = try await PreparedTarget.prepare(
                sync, policy: policy, client: client, defaultProject: defaultProject,
                others: Array(configuration.policies.values))
            stale += staleTarget(target, planned: syncPlan.targetState)
            if Self.spooled(syncPlan, in: spool) {
                // Sent as reviewed moments ago.
            } else if let spool, syncPlan.source.kind.readsRows, syncPlan.unchanged == nil, stale.isEmpty {
                stale += try await spoolSource(syncPlan, target: target, spool: spool)
            } else {
                stale += try staleSource(sync.source, planned: syncPlan.source)
                stale += try staleDatabase(syncPlan, target: target)
            }
            stale += try await staleWatermark(syncPlan, target: target, stateDataset: plan.stateDataset)
            prepared.append(target)
        }
        guard stale.isEmpty else {
            throw SyncError.refused(
                "refused: the plan \(plan.planId) is stale; nothing was sent\n  - " + stale.joined(separator: "\n  - ")
                    + "\nrun `bqsync plan` again and review the new plan")
        }
        for budget in plan.budgets where !budget.violations.isEmpty {
            throw SyncError.refused(
                "refused by policy '\(budget.policy)'; nothing was sent\n  - "
                    + budget.violations.joined(separator: "\n  - "))
        }
        return prepared
    }

    /// Policies that are gone or changed since the plan.
    func stalePolicies(_ plan: Plan) -> [String] {
        plan.budgets.compactMap { budget in
            guard let policy = configuration.policy(named: budget.policy) else {
                return "policy '\(budget.policy)' no longer exists"
            }
            guard policy.file?.sha256 != budget.file?.sha256 else { return nil }
            return "policy '\(budget.policy)' (\(policy.file?.path ?? "built-in")) changed since the plan"
        }
    }

    /// How the target differs from the plan's view of it.
    func staleTarget(_ target: PreparedTarget, planned: TargetState) -> [String] {
        if let fingerprint = target.schemaFingerprint {
            if planned.exists, fingerprint != planned.schemaSHA256 {
                return ["the schema of \(target.target) changed since the plan"]
            }
            if !planned.exists, !matchesDeclaredSchema(target) {
                return ["\(target.target) was created by someone else since the plan, with another schema"]
            }
            return []
        }
        return planned.exists ? ["\(target.target) no longer exists"] : []
    }

    /// How a local source's files differ from the plan's hashes of them.
    func staleSource(_ source: SourceSpec, planned: SourceSnapshot) throws(SyncError) -> [String] {
        guard let files = planned.files else { return [] }
        let local = try LocalSource(spec: source)
        let now = try local.files.map { (file) throws(SyncError) -> SourceFile in
            try Self.fingerprint(file.absolute, display: file.display)
        }
        return Self.staleFiles(files, now: now, source: source)
    }

    /// How a PostgreSQL source's rows in the plan's window differ from those the plan read: read again (one
    /// consistent snapshot) and compared by count and digest, before anything is sent.
    func staleDatabase(_ syncPlan: SyncPlan, target: PreparedTarget) throws(SyncError) -> [String] {
        guard let planned = syncPlan.source.database else { return [] }
        let rows = try LocalRows(target, window: try Planner.plannedWindow(syncPlan.window, prepared: target))
        guard let now = rows.database else { return [] }
        return Self.staleRows(planned, now: now, sync: target.sync)
    }

    /// How a local source's files now differ from the plan's: one reason for the source when the list of files
    /// is not the plan's (a file came, went or was renamed), else one for each file whose SHA-256 is not. Used by
    /// `staleSource`, which hashes the files, and by `spoolSource`, which reads them into the spool.
    static func staleFiles(_ planned: [SourceFile], now: [SourceFile], source: SourceSpec) -> [String] {
        guard now.map(\.path) == planned.map(\.path) else {
            return ["the files of source '\(source.path ?? "")' changed since the plan"]
        }
        return zip(planned, now).compactMap { then, current in
            then.sha256 == current.sha256 ? nil : "source file \(current.path) changed since the plan"
        }
    }

    /// How a database source's read now differs from the plan's: nothing when its rows' digest is the plan's, else
    /// one reason that names the source and both row counts. Used by `staleDatabase` and `spoolSource`, and by
    /// `localRows`, which compares with it but says the change its own way (the apply has begun by then).
    static func staleRows(_ planned: DatabaseSnapshot, now: DatabaseSnapshot, sync: SyncDefinition) -> [String] {
        guard now.sha256 != planned.sha256 else { return [] }
        return [
            "the rows of PostgreSQL source \(PostgresSource(sync: sync).display) changed since the plan "
                + "(\(planned.rows) rows then, \(now.rows) now)"
        ]
    }

    /// An incremental sync whose watermark moved since the plan (another apply merged a window since): the plan's
    /// window is not the next one any more.
    func staleWatermark(_ syncPlan: SyncPlan, target: PreparedTarget, stateDataset: String) async throws(SyncError)
        -> [String]
    {
        guard let window = syncPlan.window, !window.fullRefresh else { return [] }
        let lease = try TargetLease(
            client: client, target: target.target, stateDataset: stateDataset, location: target.location,
            seconds: leaseSeconds, clock: clock)
        let current = try await lease.read()?.1.last(sync: syncPlan.name)?.watermark
        guard current != window.watermark else { return [] }
        return [
            "the watermark of sync '\(syncPlan.name)' moved since the plan (\(window.watermark ?? "none") then, "
                + "\(current ?? "none") now): another apply merged a window since"
        ]
    }

    func matchesDeclaredSchema(_ target: PreparedTarget) -> Bool {
        guard let declared = target.sync.target.schema, let table = target.table else { return false }
        return SchemaSignature(table.fields)
            == SchemaSignature(declared.map { FieldSchema(name: $0.name, type: $0.type.rawValue) })
    }

    /// A local file's size and SHA-256, read in chunks.
    static func fingerprint(_ path: String, display: String) throws(SyncError) -> SourceFile {
        let reader = RecordReader(path: path, displayPath: display, quoted: false)
        var hasher = SHA256Stream()
        var size: Int64 = 0
        try reader.forEach(chunk: {
            hasher.update($0)
            size += Int64($0.count)
        }) { (_, _) throws(SyncError) in }
        return SourceFile(path: display, bytes: size, sha256: hasher.hex())
    }
}

/// A table's columns as names (case-folded) and types (legacy names mapped), in order: what "the same columns"
/// means wherever bqsync compares schemas.
struct SchemaSignature: Hashable {
    let columns: [String]

    init(_ fields: [FieldSchema]) {
        columns = fields.map {
            "\($0.name.lowercased()):\(FieldType(bigQueryName: $0.type)?.rawValue ?? $0.type.uppercased())"
        }
    }
}
