import BigQuery
import Foundation
import Logging
import SyncTestSupport
import Testing

@testable import SyncKit

/// The state dataset is created on first use, where the target is, and the lease is then taken: against
/// BigQuery-shaped answers (FakeBigQuery refuses a table in a dataset that does not exist, as BigQuery does).
/// The end-to-end tests share one emulator whose state dataset exists before they start.
@Suite struct StateDatasetTests {
    static func client(_ fake: FakeBigQuery) -> BigQueryClient {
        var configuration = ClientConfiguration(
            apiRoot: "https://bq.test/bigquery/v2", uploadRoot: "https://bq.test/upload/bigquery/v2",
            isEmulator: false, project: "proj-test")
        configuration.pollInterval = 0.01
        return BigQueryClient(
            configuration: configuration, transport: fake.transport,
            authenticator: Authenticator(source: .none, transport: fake.transport),
            budgets: [Budget(name: "default", limits: .defaults, retry: .defaults, cache: true)],
            protectedTables: [], breaker: .defaults, logger: .quiet)
    }

    @Test func theFirstLeaseCreatesTheStateDatasetInTheTargetsLocation() async throws {
        let fake = FakeBigQuery()
        fake.addDataset("proj-test", "crm", location: "europe-west1")
        let time = ManualTime()
        let target = try TableReference(projectId: "proj-test", datasetId: "crm", tableId: "contacts")
        let lease = try TargetLease(
            client: Self.client(fake), target: target, stateDataset: "bqsync", location: "europe-west1",
            seconds: 60, clock: time, host: "here", pid: 1)
        guard case .held(let held) = try await lease.acquire("holder-1", planId: "p1", sync: "contacts") else {
            Issue.record("the lease was not taken")
            return
        }
        #expect(held.previous == nil)
        let sent = fake.transport.requests.map {
            "\($0.method) \($0.url.replacingOccurrences(of: "https://bq.test/bigquery/v2/projects/proj-test", with: ""))"
        }
        #expect(
            sent == [
                "GET /datasets/bqsync/tables/\(lease.table.tableId)", "POST /datasets", "POST /datasets/bqsync/tables",
            ], "\(sent)")
        let created = try #require(fake.transport.requests.first { $0.url.hasSuffix("/datasets") }?.json)
        #expect(created["location"] as? String == "europe-west1")
        // The lease is there, bqsync's, held by this apply until the lease's life is up.
        let (resource, record) = try #require(try await lease.read())
        #expect(resource.labels == TargetLease.labels)
        #expect(
            record.holder == "holder-1" && record.state == .held
                && record.expiresAtMs == Int64(time.unixTime() * 1000) + 60_000)
    }

    /// BigQuery keeps a table description of at most 16,384 characters: a lease remembering many wide syncs
    /// leaves out its oldest states so that it still fits, and keeps the newest.
    @Test func aLeaseWithManyWideSyncsStillFitsATableDescription() throws {
        let target = try TableReference(projectId: "proj-test", datasetId: "crm", tableId: "contacts")
        let lease = try TargetLease(
            client: Self.client(FakeBigQuery()), target: target, stateDataset: "bqsync", location: nil, seconds: 60,
            clock: ManualTime(), host: "here", pid: 1)
        let shape = SyncPlan.Shape(
            columns: (0..<80).map { "a_rather_long_column_name_\($0) STRING" }, keys: ["id"], strategy: "inline",
            policy: "default")
        var record = TargetLease.Record(
            target: target.description, state: .released, holder: "h", planId: "p", sync: "s0", host: "here",
            pid: 1, acquiredAtMs: 0, expiresAtMs: 0)
        record.states = (0..<32).map {
            TargetLease.AppliedState(
                sync: "s\($0)", content: String(repeating: "c", count: 64), planId: "p\($0)", rows: 1, modifiedMs: 1,
                appliedAtMs: 1, shape: shape)
        }
        let text = try lease.description(record)
        #expect(text.count <= 16_384, "\(text.count) characters")
        let kept = try JSONDecoder().decode(TargetLease.Record.self, from: Data(text.utf8))
        #expect(kept.states?.last?.sync == "s31", "the newest state is kept")
        #expect((kept.states?.count ?? 0) < 32, "the oldest are left out")
    }
}
