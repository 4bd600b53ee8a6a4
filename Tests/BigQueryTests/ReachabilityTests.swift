import BigQuery
import Foundation
import HTTP
import SyncTestSupport
import Testing

/// Issue 18, point 4: an endpoint that cannot be reached is named at its first failure (where, from which setting,
/// why, and for how long bqsync will keep trying), once per session; a refused connection to this machine's loopback
/// before anything answered ends the call at once, while a remote endpoint keeps BigQuery's retries.
@Suite("client: an unreachable endpoint is named at once")
struct ReachabilityTests {
    static let retry = RetryPolicy(
        maxAttempts: 4, initialBackoff: .seconds(1), maxBackoff: .seconds(2), deadline: .seconds(600))

    /// A client on `root` whose transport refuses every connection (after `answers` answered requests).
    static func client(root: String, source: String, answers: Int = 0, logs: LogCapture, time: ManualTime)
        -> (BigQueryClient, ScriptedTransport)
    {
        let transport = ScriptedTransport { request, index throws(HTTPError) in
            if index < answers { return .json(200, ["kind": "bigquery#table"]) }
            throw HTTPError(.connect, "Failed to connect: Couldn't connect to server", cause: .refused)
        }
        var configuration = ClientConfiguration(
            apiRoot: root + "/bigquery/v2", uploadRoot: root + "/upload/bigquery/v2", isEmulator: false,
            project: "proj-test")
        configuration.endpointSource = source
        let client = BigQueryClient(
            configuration: configuration, transport: transport,
            authenticator: Authenticator(source: .none, transport: transport, clock: time),
            budgets: [Budget(name: "default", limits: .defaults, retry: retry, cache: true)], protectedTables: [],
            breaker: .init(failureThreshold: 100, resetAfter: .seconds(1)), time: time, logger: logs.logger())
        return (client, transport)
    }

    static let table = try! TableReference(projectId: "proj-test", datasetId: "d", tableId: "t")

    @Test func aRemoteEndpointThatRefusesIsNamedOnceAndKeepsItsRetries() async throws {
        let logs = LogCapture()
        let time = ManualTime()
        let (client, transport) = Self.client(
            root: "https://bq.example.com", source: "--endpoint", logs: logs, time: time)
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<3 { group.addTask { _ = try? await client.getTable(Self.table) } }
        }
        #expect(transport.requests.count == 3 * Self.retry.maxAttempts, "every call used its retries")
        let named = logs.entries.filter { $0.contains("cannot reach") }
        #expect(named.count == 1, "\(logs.entries)")
        #expect(
            named.first?.hasPrefix(
                "warning cannot reach https://bq.example.com/bigquery/v2 (from --endpoint): connection refused; "
                    + "retrying up to 3 more times for at most 5 s") == true, "\(named)")
    }

    @Test func aRefusedLoopbackEndpointBeforeAnyAnswerFailsAtOnce() async throws {
        let logs = LogCapture()
        let time = ManualTime()
        let (client, transport) = Self.client(
            root: "http://127.0.0.1:1", source: "BIGQUERY_EMULATOR_HOST", logs: logs, time: time)
        let error = await #expect(throws: BigQueryError.self) { _ = try await client.getTable(Self.table) }
        #expect(transport.requests.count == 1)
        #expect(time.waits.isEmpty)
        let text = error.map { "\($0)" } ?? ""
        #expect(
            text.contains("connection refused at http://127.0.0.1:1/bigquery/v2 (from BIGQUERY_EMULATOR_HOST)"),
            "\(text)")
        #expect(text.contains("nothing is listening there"), "\(text)")
    }

    @Test func aLoopbackEndpointThatAnsweredBeforeKeepsItsRetries() async throws {
        let logs = LogCapture()
        let time = ManualTime()
        let (client, transport) = Self.client(
            root: "http://127.0.0.1:1", source: "BIGQUERY_EMULATOR_HOST", answers: 1, logs: logs, time: time)
        _ = try? await client.getTable(Self.table)
        let other = try TableReference(projectId: "proj-test", datasetId: "d", tableId: "u")
        _ = try? await client.getTable(other)
        #expect(
            transport.requests.count == 1 + Self.retry.maxAttempts, "a restart of a server that was there is waited for"
        )
        #expect(logs.entries.filter { $0.contains("cannot reach http://127.0.0.1:1/bigquery/v2") }.count == 1)
    }
}
