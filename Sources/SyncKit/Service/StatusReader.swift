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
}
