import BigQuery
import Foundation
import HTTP
import Logging
import SyncTestSupport

/// A client wired to a `FakeBigQuery` with virtual time.
struct Harness {
    let fake: FakeBigQuery
    let time: ManualTime
    let logs: LogCapture
    let client: BigQueryClient

    static let project = "proj-test"

    init(
        limits: CostLimits = .defaults, retry: RetryPolicy = .defaults, breaker: CircuitBreakerSettings = .defaults,
        protected: [String] = [], source: CredentialSource = .none, cache: Bool = true,
        fake: FakeBigQuery = FakeBigQuery(),
        transport: (any HTTPTransport)? = nil
    ) {
        self.fake = fake
        time = ManualTime()
        logs = LogCapture()
        var configuration = ClientConfiguration(
            apiRoot: "https://bq.test/bigquery/v2", uploadRoot: "https://bq.test/upload/bigquery/v2",
            isEmulator: false, project: Self.project)
        configuration.pollInterval = 0.01
        let transport = transport ?? fake.transport
        client = BigQueryClient(
            configuration: configuration, transport: transport,
            authenticator: Authenticator(source: source, transport: transport, clock: time),
            budgets: [Budget(name: "default", limits: limits, retry: retry, cache: cache)],
            protectedTables: protected.map { try! TablePattern($0) }, breaker: breaker, time: time,
            logger: logs.logger()
        )
    }

    /// Requests that were not dry runs, token calls or metadata reads: what would cost or change something.
    var billableInserts: [RecordedRequest] {
        fake.transport.requests.filter { request in
            request.method == "POST" && request.path.hasSuffix("/jobs")
                && (request.json?["configuration"] as? [String: Any])?["dryRun"] as? Bool != true
        }
    }

    var dryRuns: [RecordedRequest] {
        fake.transport.requests.filter { ($0.json?["configuration"] as? [String: Any])?["dryRun"] as? Bool == true }
    }
}

func table(_ name: String) -> TableReference {
    let parts = name.split(separator: ".").map(String.init)
    return try! TableReference(projectId: parts[0], datasetId: parts[1], tableId: parts[2])
}

let megabyte: Int64 = 1 << 20
