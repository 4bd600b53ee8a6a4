import Foundation
import HTTP
import SyncTestSupport
import Synchronization
import Testing

@testable import BigQuery

extension BigQueryClient {
    /// Holds the actor (blocks the thread running it) while `work` runs in a detached task, and tells whether
    /// `work` finished within `seconds`. Only work that never waits for the actor can: what needs it waits
    /// until the hold ends, so a regression fails after the timeout instead of hanging.
    func whileHeld(seconds: Double, _ work: @escaping @Sendable () async -> Void) -> Bool {
        let done = DispatchSemaphore(value: 0)
        Task.detached {
            await work()
            done.signal()
        }
        return done.wait(timeout: .now() + seconds) == .success
    }
}

@Suite("client: what runs off the actor")
struct IsolationTests {
    @Test(
        "polling a job and paging, decoding and gathering query results finish while the actor is held",
        // It blocks a thread of the shared cooperative pool: on a 2-core machine running the whole suite in
        // parallel the work can find no free thread and the test fails without a regression (seen in CI). Run it
        // alone: BQSYNC_ISOLATION_TEST=1 swift test --filter IsolationTests.
        .enabled(
            if: ProcessInfo.processInfo.activeProcessorCount > 1
                && ProcessInfo.processInfo.environment["BQSYNC_ISOLATION_TEST"] == "1",
            "the held actor blocks one thread; the work needs another, free one (BQSYNC_ISOLATION_TEST=1)"))
    func readsDoNotWaitForTheActor() async throws {
        let rows = 2_000
        let page = HTTPResponse.json(
            200,
            [
                "jobComplete": true, "schema": ["fields": [["name": "id", "type": "STRING"]]],
                "rows": (0..<rows).map { ["f": [["v": "row \($0)"]]] },
            ])
        let job = HTTPResponse.json(
            200, ["jobReference": ["projectId": "p", "jobId": "j", "location": "US"], "status": ["state": "DONE"]])
        let transport = ScriptedTransport { request, _ throws(HTTPError) in
            request.path.contains("/queries/") ? page : job
        }
        let client = Harness(transport: transport).client
        let seen = Mutex<(rows: Int, state: String?)>((0, nil))
        let finished = await client.whileHeld(seconds: 30) {
            let done = try? await client.waitForJob(project: "p", jobId: "j", location: "US", retry: .defaults)
            let results = try? await client.results(project: "p", jobId: "j", location: "US", retry: .defaults)
            seen.withLock { $0 = (results?.1.count ?? 0, done?.status?.state) }
        }
        #expect(finished, "the reads waited for the actor")
        #expect(seen.withLock { $0.rows } == rows)
        #expect(seen.withLock { $0.state } == "DONE")
        #expect(transport.requests.count == 2)
    }

    @Test func answersAreClassifiedByStatusAndReason() {
        func verdict(_ response: HTTPResponse, accepting: Set<Int> = []) -> BigQueryClient.Verdict {
            BigQueryClient.classify(response, accepting: accepting)
        }
        #expect(verdict(.json(200, [:])) == .success)
        #expect(verdict(HTTPResponse(status: 308), accepting: [308]) == .success)
        #expect(verdict(.bigQueryError(401, reason: "unauthorized", message: "expired")) == .unauthorized("expired"))
        let limited = BigQueryError.api(status: 403, reason: "rateLimitExceeded", message: "slow down")
        #expect(verdict(.bigQueryError(403, reason: "rateLimitExceeded", message: "slow down")) == .retryable(limited))
        let quota = BigQueryError.api(status: 403, reason: "quotaExceeded", message: "no")
        #expect(verdict(.bigQueryError(403, reason: "quotaExceeded", message: "no")) == .fatal(quota))
        #expect(verdict(HTTPResponse(status: 503)) == .retryable(.api(status: 503, reason: nil, message: "HTTP 503")))
    }

    /// A path segment keeps RFC 3986's unreserved ASCII characters and percent-encodes every other UTF-8 byte.
    @Test func pathSegmentsArePercentEncodedByteByByte() {
        #expect(BigQueryClient.segment("bqsync_stage-1.x~") == "bqsync_stage-1.x~")
        #expect(BigQueryClient.segment("a b/c?d") == "a%20b%2Fc%3Fd")
        #expect(BigQueryClient.segment("é") == "%C3%A9", "a non-ASCII letter is encoded, not passed through")
        #expect(BigQueryClient.segment("") == "")
    }
}
