import BigQuery

/// Reads the latest runs from the state dataset of each target project of the named syncs, with
/// `tabledata.list`: no query job, nothing billed.
public struct StatusReader: Sendable {
    let client: BigQueryClient
    let configuration: Configuration
    let defaultProject: String?
    let stateDataset: String

    /// Creates a reader.
    public init(
        client: BigQueryClient, configuration: Configuration, defaultProject: String?, stateDataset: String = "bqsync"
    ) {
        self.client = client
        self.configuration = configuration
        self.defaultProject = defaultProject
        self.stateDataset = stateDataset
    }

    /// The latest runs of the named syncs (all when none), newest first, at most `limit` per target project.
    /// With no sync defined at all, every run recorded in the default project (`--project`); with no default
    /// project either there is nothing to read, and that is an error rather than "no runs".
    public func latestRuns(_ names: [String], limit: Int) async throws(SyncError) -> [RunRecord] {
        if configuration.syncs.isEmpty, names.isEmpty {
            guard let defaultProject else {
                throw SyncError.usage(
                    "no project to read run records from: no sync is defined, and neither --project nor "
                        + "GOOGLE_CLOUD_PROJECT is set")
            }
            let recorded = try await RunLog(client: client, project: defaultProject, stateDataset: stateDataset).runs()
            return Array(recorded.sorted { ($0.finishedAt ?? "") > ($1.finishedAt ?? "") }.prefix(limit))
        }
        let syncs = try Planner.select(names, from: configuration)
        let wanted = Set(syncs.map(\.name))
        let projects = Set(syncs.compactMap { try? $0.target.table.resolved(defaultProject: defaultProject).projectId })
        guard !projects.isEmpty || syncs.isEmpty else {
            throw SyncError.usage(
                "no project to read run records from: the targets name none; pass --project or set GOOGLE_CLOUD_PROJECT"
            )
        }
        var runs: [RunRecord] = []
        for project in projects.sorted() {
            let recorded = try await RunLog(client: client, project: project, stateDataset: stateDataset).runs()
            runs += recorded.filter { wanted.contains($0.sync) }.sorted {
                ($0.finishedAt ?? "") > ($1.finishedAt ?? "")
            }.prefix(limit)
        }
        return runs.sorted { ($0.finishedAt ?? "") > ($1.finishedAt ?? "") }
    }

    /// Each named incremental sync's watermark (all such syncs when none are named), from its target's lease:
    /// one metadata read per target, no job. A sync never applied has none; a target that cannot be read is left out.
    public func watermarks(_ names: [String]) async throws(SyncError) -> [SyncWatermark] {
        let syncs = try Planner.select(names, from: configuration).filter { $0.source.incremental != nil }
        var found: [SyncWatermark] = []
        for sync in syncs {
            guard let cursor = sync.source.incremental?.cursor,
                let target = try? sync.target.table.resolved(defaultProject: defaultProject),
                let lease = try? TargetLease(
                    client: client, target: target, stateDataset: stateDataset, location: sync.target.location ?? "US",
                    seconds: 0)
            else { continue }
            let state = (try? await lease.read())??.1.last(sync: sync.name)
            found.append(
                SyncWatermark(sync: sync.name, cursor: cursor, watermark: state?.watermark, planId: state?.planId))
        }
        return found
    }
}

/// An incremental sync's watermark: the largest cursor value its successful applies merged.
public struct SyncWatermark: Sendable, Hashable, Codable {
    public var sync: String
    public var cursor: String
    /// Nil until an apply succeeds (or after a full refresh that read no row).
    public var watermark: String?
    /// The plan whose apply left it.
    public var planId: String?

    enum CodingKeys: String, CodingKey {
        case sync, cursor, watermark
        case planId = "plan_id"
    }
}
