import BigQuery

/// Reads the latest runs from the state dataset of each target project of the named syncs.
public struct StatusReader: Sendable {
    let client: BigQueryClient
    let configuration: Configuration
    let defaultProject: String?
    let stateDataset: String

    /// Creates a reader.
    public init(client: BigQueryClient, configuration: Configuration, defaultProject: String?, stateDataset: String = "bqsync") {
        self.client = client
        self.configuration = configuration
        self.defaultProject = defaultProject
        self.stateDataset = stateDataset
    }

    /// The latest runs of the named syncs (all when none), newest first.
    public func latestRuns(_ names: [String], limit: Int) async throws(SyncError) -> [RunRecord] {
        let syncs = try Planner.select(names, from: configuration)
        var projects: [String: String] = [:]  // project → a policy name for the budget
        for sync in syncs {
            guard let table = try? sync.target.table.resolved(defaultProject: defaultProject) else { continue }
            projects[table.projectId] = projects[table.projectId] ?? sync.policyName
        }
        var runs: [RunRecord] = []
        for (project, policy) in projects.sorted(by: { $0.key < $1.key }) {
            let store = StateStore(client: client, project: project, dataset: stateDataset, budget: policy)
            let exists: Bool
            let runsTable = try store.runs
            do { exists = try await client.getTable(runsTable) != nil } catch { throw SyncError.bigQuery(error) }
            guard exists else { continue }
            runs += try await store.latestRuns(syncs: names.isEmpty ? [] : syncs.map(\.name), limit: limit)
        }
        return runs.sorted { ($0.finishedAt ?? "") > ($1.finishedAt ?? "") }
    }
}
