import BigQuery
import Foundation
import HTTP
import Logging
import SyncTestSupport
import Synchronization
import Testing

@testable import SyncKit

/// The planner's requests overlap across syncs and within one, never beyond its bound, and the plan is the same
/// whatever order the answers arrive in.
@Suite struct PlannerConcurrencyTests {
    /// Holds every request for a while (like a distant server) and counts how many are in flight at once.
    final class SlowTransport: HTTPTransport {
        let inner: any HTTPTransport
        let delay: Duration
        private let counts = Mutex((now: 0, peak: 0, total: 0))

        init(_ inner: any HTTPTransport, delay: Duration) {
            self.inner = inner
            self.delay = delay
        }

        var peak: Int { counts.withLock { $0.peak } }
        var total: Int { counts.withLock { $0.total } }

        func send(_ request: HTTPRequest) async throws(HTTPError) -> HTTPResponse {
            counts.withLock {
                $0.now += 1
                $0.total += 1
                $0.peak = max($0.peak, $0.now)
            }
            defer { counts.withLock { $0.now -= 1 } }
            // A varying hold, so answers come back in another order than the requests went out.
            let jitter = Duration.milliseconds(Int.random(in: 0...20))
            try? await Task.sleep(for: delay + jitter)
            return try await inner.send(request)
        }
    }

    static let project = "proj-test"

    /// `syncs` inline syncs of `batches` two-row batches each, over existing tables of the fake.
    func workspace(syncs: Int, batches: Int, fake: FakeBigQuery) throws -> Workspace {
        let ws = try Workspace()
        try ws.write("policies/default.yaml", "version: 1\nname: default\nsession: {max_queries: 100000}\n")
        fake.addDataset(Self.project, "d")
        for s in 1...syncs {
            fake.addTable(
                "\(Self.project).d.t\(s)",
                .init(
                    fields: [
                        ["name": "id", "type": "INT64", "mode": "REQUIRED"], ["name": "name", "type": "STRING"],
                    ],
                    numBytes: 50 << 20, numRows: 1000))
            try ws.write(
                "syncs.d/s\(s).yaml",
                """
                version: 1
                name: s\(s)
                source: {type: ndjson, path: s\(s).ndjson}
                target: {table: \(Self.project).d.t\(s)}
                merge: {keys: [id]}
                batch: {size: 2, strategy: inline}

                """)
            try ws.write(
                "syncs.d/s\(s).ndjson",
                (1...(2 * batches)).map { #"{"id": \#($0), "name": "n\#($0)-\#(s)"}"# }.joined(separator: "\n") + "\n")
        }
        return ws
    }

    func planner(_ ws: Workspace, transport: any HTTPTransport, requests: Int) -> Planner {
        var configuration = ClientConfiguration(
            apiRoot: "https://bq.test/bigquery/v2", uploadRoot: "https://bq.test/upload/bigquery/v2",
            isEmulator: false, project: Self.project)
        configuration.pollInterval = 0.01
        let client = BigQueryClient(
            configuration: configuration, transport: transport,
            authenticator: Authenticator(source: .none, transport: transport),
            budgets: [Budget(name: "default", limits: .defaults, retry: .defaults, cache: true)],
            protectedTables: [], breaker: .defaults, logger: .quiet)
        let loaded = ConfigLoader(directory: ws.root, defaultProject: Self.project).load()
        return Planner(
            client: client, configuration: loaded, defaultProject: Self.project, requests: requests, pipelines: 1)
    }

    @Test(arguments: [1, 3, 8])
    func requestsOverlapWithinTheirBound(requests: Int) async throws {
        let fake = FakeBigQuery()
        fake.setDryRun { _ in (50 << 20, "PRECISE") }
        let ws = try workspace(syncs: 6, batches: 4, fake: fake)
        let slow = SlowTransport(fake.transport, delay: .milliseconds(30))
        let plan = try await planner(ws, transport: slow, requests: requests).plan([])
        // Each sync: one table read, one dry run per batch, and one read of its lease (is the target as the last
        // apply of this content left it?).
        #expect(slow.total == 6 * (1 + 4 + 1))
        #expect(slow.peak <= requests)
        if requests > 1 { #expect(slow.peak > 1, "requests never overlapped") }
        #expect(plan.syncs.map(\.name) == (1...6).map { "s\($0)" })
        for sync in plan.syncs {
            let merges = sync.steps.filter { $0.kind == .merge }
            #expect(merges.count == 4)
            #expect(
                merges.allSatisfy { $0.estimate?.accuracy == .precise && ($0.estimate?.billedBytes ?? 0) >= 50 << 20 })
        }
    }

    /// The order answers arrive in does not change the plan: the same bytes (and so the same plan id) as
    /// planning one request at a time.
    @Test func planIsTheSameWhateverTheOrderOfAnswers() async throws {
        let fake = FakeBigQuery()
        fake.setDryRun { sql in (sql.contains(".t1`") ? 10 << 20 : 70 << 20, "PRECISE") }
        let ws = try workspace(syncs: 5, batches: 3, fake: fake)
        let serial = try await planner(ws, transport: fake.transport, requests: 1).plan([])
        let overlapped = try await planner(
            ws, transport: SlowTransport(fake.transport, delay: .milliseconds(5)), requests: 16
        ).plan([])
        #expect(try serial.encoded() == overlapped.encoded())
    }

    /// A dry run that fails stops the plan with that error, and every request it started has finished.
    @Test func aFailedDryRunStopsThePlanAndLeavesNothingRunning() async throws {
        let fake = FakeBigQuery()
        let ws = try workspace(syncs: 4, batches: 3, fake: fake)
        fake.inject(
            .init(times: 1, fault: .status(400, reason: "invalidQuery")) { request in
                (request.json?["configuration"] as? [String: Any])?["dryRun"] as? Bool == true
                    && request.text.contains("t3")
            })
        let slow = SlowTransport(fake.transport, delay: .milliseconds(10))
        await #expect(throws: SyncError.self) { try await planner(ws, transport: slow, requests: 8).plan([]) }
        let afterwards = slow.total
        try await Task.sleep(for: .milliseconds(100))
        #expect(slow.total == afterwards, "requests were still being sent after the plan failed")
    }
}
