import BigQuery
import Foundation
import HTTP
import SyncTestSupport
import Testing

@Suite("client: retries, breaker, adoption, auth, cache, protected tables")
struct ClientTests {
    let target = table("proj-test.crm.contacts")
    let select = QueryJob(sql: "SELECT id FROM `proj-test.crm.contacts`", reads: [table("proj-test.crm.contacts")])

    func merge(_ id: String? = "bqsync_plan_step1") -> QueryJob {
        QueryJob(
            sql:
                "MERGE `proj-test.crm.contacts` T USING (SELECT 1 AS id) S ON T.id = S.id WHEN NOT MATCHED THEN INSERT (id) VALUES (S.id)",
            jobId: id, writes: target)
    }

    static let isJobInsert: @Sendable (RecordedRequest) -> Bool = { request in
        request.method == "POST" && request.path.hasSuffix("/jobs")
            && (request.json?["configuration"] as? [String: Any])?["dryRun"] == nil
    }

    // MARK: retries decided by reason

    @Test(
        "retryable reasons and statuses are retried",
        arguments: [
            (403, "rateLimitExceeded"), (500, "backendError"), (503, "backendError"), (500, "internalError"),
            (502, "badGateway"),
            (429, ""), (503, ""), (504, ""),
        ])
    func retried(status: Int, reason: String) async throws {
        let harness = Harness()
        harness.fake.inject(.init(times: 2, fault: .status(status, reason: reason), matches: Self.isJobInsert))
        let result = try await harness.client.query(merge())
        #expect(result.outcome.jobId == "bqsync_plan_step1_1")
        #expect(harness.fake.executions == ["bqsync_plan_step1_1": 1])
        #expect(harness.time.waits.count == 2)
    }

    @Test(
        "fatal reasons are not retried, whatever the status",
        arguments: [
            (403, "quotaExceeded"), (403, "accessDenied"), (400, "invalidQuery"), (404, "notFound"), (500, "invalid"),
        ])
    func fatal(status: Int, reason: String) async throws {
        let harness = Harness()
        harness.fake.inject(.init(times: 1, fault: .status(status, reason: reason), matches: Self.isJobInsert))
        let error = await #expect(throws: BigQueryError.self) { _ = try await harness.client.query(merge()) }
        #expect(error?.reason == reason)
        #expect(harness.time.waits.isEmpty)
        #expect(harness.fake.executions.isEmpty)
    }

    @Test func resetsAndTimeoutsAreRetried() async throws {
        let harness = Harness()
        harness.fake.inject(.init(times: 1, fault: .reset, matches: Self.isJobInsert))
        harness.fake.inject(.init(times: 1, fault: .timeout, matches: Self.isJobInsert))
        _ = try await harness.client.query(merge())
        #expect(harness.fake.executions == ["bqsync_plan_step1_1": 1])
    }

    @Test func backoffGrowsByTwoAndIsCapped() async throws {
        let retry = RetryPolicy(
            maxAttempts: 8, initialBackoff: .seconds(1), maxBackoff: .seconds(4), deadline: .seconds(600))
        let harness = Harness(retry: retry, breaker: .init(failureThreshold: 100, resetAfter: .seconds(1)))
        harness.fake.inject(.init(times: 5, fault: .status(503, reason: "backendError"), matches: Self.isJobInsert))
        _ = try await harness.client.query(merge())
        #expect(harness.time.waits == [1, 2, 4, 4, 4])  // ManualTime's jitter returns the full ceiling
    }

    @Test func attemptsRunOut() async throws {
        let retry = RetryPolicy(
            maxAttempts: 3, initialBackoff: .seconds(1), maxBackoff: .seconds(32), deadline: .seconds(600))
        let harness = Harness(retry: retry, breaker: .init(failureThreshold: 100, resetAfter: .seconds(1)))
        harness.fake.inject(.init(times: 10, fault: .status(503, reason: "backendError"), matches: Self.isJobInsert))
        let error = await #expect(throws: BigQueryError.self) { _ = try await harness.client.query(merge()) }
        #expect("\(error!)".contains("gave up after 3 attempts"))
    }

    @Test func deadlineEndsRetries() async throws {
        let retry = RetryPolicy(
            maxAttempts: 50, initialBackoff: .seconds(10), maxBackoff: .seconds(32), deadline: .seconds(60))
        let harness = Harness(retry: retry, breaker: .init(failureThreshold: 100, resetAfter: .seconds(1)))
        harness.fake.inject(.init(times: 100, fault: .timeout, matches: Self.isJobInsert))
        let error = await #expect(throws: BigQueryError.self) { _ = try await harness.client.query(merge()) }
        #expect("\(error!)".contains("deadline of 60s"))
        #expect(harness.time.waits.reduce(0, +) <= 60)
    }

    // MARK: circuit breaker

    @Test func breakerOpensFailsFastAndProbes() async throws {
        let retry = RetryPolicy(
            maxAttempts: 1, initialBackoff: .seconds(1), maxBackoff: .seconds(1), deadline: .seconds(600))
        let harness = Harness(retry: retry, breaker: .init(failureThreshold: 3, resetAfter: .seconds(30)))
        harness.fake.inject(.init(times: 4, fault: .status(503, reason: "backendError"), matches: { _ in true }))
        for _ in 0..<3 { await #expect(throws: BigQueryError.self) { _ = try await harness.client.query(select) } }
        let sentBefore = harness.fake.transport.requests.count
        let open = await #expect(throws: BigQueryError.self) { _ = try await harness.client.query(select) }
        guard case .circuitOpen(let failures, _) = open else {
            Issue.record("expected circuitOpen, got \(String(describing: open))")
            return
        }
        #expect(failures == 3)
        #expect(harness.fake.transport.requests.count == sentBefore)  // failed fast: nothing sent
        harness.time.advance(31)
        // Half-open: one probe goes through and fails (the 4th scripted fault) → open again.
        await #expect(throws: BigQueryError.self) { _ = try await harness.client.query(select) }
        #expect(harness.fake.transport.requests.count == sentBefore + 1)
        if case .open = await harness.client.circuitBreaker.state {
        } else {
            Issue.record("breaker should be open again")
        }
        harness.time.advance(31)
        _ = try await harness.client.query(select)  // the probe succeeds: closed
        #expect(await harness.client.circuitBreaker.state == .closed)
    }

    @Test func clientErrorsDoNotOpenTheBreaker() async throws {
        let harness = Harness(breaker: .init(failureThreshold: 2, resetAfter: .seconds(30)))
        harness.fake.inject(.init(times: 5, fault: .status(400, reason: "invalidQuery"), matches: { _ in true }))
        for _ in 0..<5 { await #expect(throws: BigQueryError.self) { _ = try await harness.client.query(select) } }
        #expect(await harness.client.circuitBreaker.state == .closed)
    }

    // MARK: deterministic ids, 409 adoption, attempts

    @Test func lostAnswerIsAdoptedNotRerun() async throws {
        let harness = Harness()
        harness.fake.inject(.init(times: 1, fault: .lostResponse, matches: Self.isJobInsert))
        let result = try await harness.client.query(merge())
        #expect(harness.fake.executions == ["bqsync_plan_step1_1": 1])
        #expect(result.outcome.attempt == 1)
    }

    @Test func aFirstAttemptIsInsertedWithoutLookingItUpFirst() async throws {
        let harness = Harness()
        _ = try await harness.client.query(merge())
        let methods = harness.fake.transport.requests.filter { $0.path.contains("/jobs") }.map(\.method)
        #expect(methods == ["POST", "POST"], "a dry run, then the insert; no jobs.get before it: \(methods)")
    }

    @Test func conflictOnInsertAdoptsTheExistingJob() async throws {
        let harness = Harness()
        // Another process ran the step; this one inserts the same id and BigQuery answers 409.
        let other = Harness(fake: harness.fake)
        _ = try await other.client.query(merge())
        let before = harness.fake.transport.requests.count
        let result = try await harness.client.query(merge())
        #expect(harness.fake.executions == ["bqsync_plan_step1_1": 1])
        #expect(result.outcome.jobId == "bqsync_plan_step1_1")
        #expect(result.outcome.adopted)
        let sent = harness.fake.transport.requests.dropFirst(before).filter {
            $0.path.contains("/jobs") && $0.json?["configuration"].flatMap { ($0 as? [String: Any])?["dryRun"] } == nil
        }
        #expect(
            sent.map(\.method) == ["POST", "GET"], "the insert (409), then the existing job read: \(sent.map(\.method))"
        )
    }

    @Test func anEarlierRunsFailedAttemptIsPassedOverWhateverItsReason() async throws {
        let other = Harness()
        other.fake.inject(.init(times: 1, fault: .jobError(reason: "invalidQuery"), matches: Self.isJobInsert))
        _ = try? await other.client.query(merge())
        let harness = Harness(fake: other.fake)
        let result = try await harness.client.query(merge())
        #expect(result.outcome.jobId == "bqsync_plan_step1_2")
        #expect(harness.fake.executions == ["bqsync_plan_step1_1": 1, "bqsync_plan_step1_2": 1])
    }

    @Test func aResumingJobLooksEachAttemptUpBeforeInsertingIt() async throws {
        let other = Harness()
        _ = try await other.client.query(merge())
        let harness = Harness(fake: other.fake)
        var job = merge()
        job.resuming = true
        let before = harness.fake.transport.requests.count
        let result = try await harness.client.query(job)
        #expect(result.outcome.adopted)
        let jobCalls = harness.fake.transport.requests.dropFirst(before).filter {
            $0.path.contains("/jobs/") || Self.isJobInsert($0)
        }
        #expect(jobCalls.map(\.method) == ["GET"], "looked up and adopted, never inserted: \(jobCalls.map(\.method))")
    }

    /// BigQuery's DML concurrency errors (docs/bigquery.md): a MERGE that lost a conflict with a concurrent
    /// statement on its table, or found the table's DML queue full, is retried under its next attempt id.
    @Test(
        "a concurrent-update conflict or a full DML queue is retried under the next id",
        arguments: [
            "Could not serialize access to table proj-test:crm.contacts due to concurrent update",
            "Resources exceeded during query execution: Too many DML statements outstanding against table proj-test:crm.contacts, limit is 20.",
        ])
    func dmlConflictsAreRetried(message: String) async throws {
        let harness = Harness()
        harness.fake.inject(
            .init(times: 1, fault: .jobError(reason: "invalidQuery", message: message), matches: Self.isJobInsert))
        let result = try await harness.client.query(merge())
        #expect(result.outcome.jobId == "bqsync_plan_step1_2")
        #expect(harness.time.waits.count == 1, "with backoff: \(harness.time.waits)")
    }

    @Test func rerunAdoptsAFinishedStep() async throws {
        let harness = Harness()
        _ = try await harness.client.query(merge())
        let second = Harness(fake: harness.fake)  // a new process after a crash
        let result = try await second.client.query(merge())
        #expect(result.outcome.adopted)
        #expect(harness.fake.executions == ["bqsync_plan_step1_1": 1])
    }

    @Test func failedJobRetriesUnderTheNextAttemptId() async throws {
        let harness = Harness()
        harness.fake.inject(.init(times: 1, fault: .jobError(reason: "backendError"), matches: Self.isJobInsert))
        let result = try await harness.client.query(merge())
        #expect(result.outcome.jobId == "bqsync_plan_step1_2")
        #expect(result.outcome.attempt == 2)
        #expect(harness.fake.executions == ["bqsync_plan_step1_1": 1, "bqsync_plan_step1_2": 1])
    }

    @Test func failedJobWithAFatalReasonIsNotRetried() async throws {
        let harness = Harness()
        harness.fake.inject(.init(times: 1, fault: .jobError(reason: "invalidQuery"), matches: Self.isJobInsert))
        let error = await #expect(throws: BigQueryError.self) { _ = try await harness.client.query(merge()) }
        #expect(error?.reason == "invalidQuery")
        #expect(harness.fake.executions == ["bqsync_plan_step1_1": 1])
    }

    // MARK: auth

    @Test func expiredTokenIsRefreshedOnceOn401() async throws {
        let key = try TestKeys.serviceAccount(tokenURI: "https://oauth.test/token")
        let harness = Harness(source: .serviceAccount(key))
        _ = try await harness.client.query(select)
        #expect(harness.fake.tokenRequests == 1)
        harness.fake.rejectToken(harness.fake.issuedTokens.first)
        _ = try await harness.client.query(QueryJob(sql: "SELECT 2", cacheable: false))
        #expect(harness.fake.tokenRequests == 2)
    }

    @Test func tokenIsRefreshedBeforeItExpires() async throws {
        let key = try TestKeys.serviceAccount(tokenURI: "https://oauth.test/token")
        let harness = Harness(source: .serviceAccount(key))
        _ = try await harness.client.query(QueryJob(sql: "SELECT 1", cacheable: false))
        harness.time.advance(3600 - 200)  // inside the 225 s margin
        _ = try await harness.client.query(QueryJob(sql: "SELECT 1", cacheable: false))
        #expect(harness.fake.tokenRequests == 2)
    }

    @Test func staticTokenRejectedIsAClearError() async throws {
        let harness = Harness(source: .token(Secret("static-token"), variable: "BQSYNC_ACCESS_TOKEN"))
        harness.fake.rejectToken("static-token")
        let error = await #expect(throws: BigQueryError.self) { _ = try await harness.client.query(select) }
        #expect("\(error!)".contains("BQSYNC_ACCESS_TOKEN"))
        #expect(!"\(error!)".contains("static-token"))
    }

    @Test func quotaProjectHeaderIsSent() async throws {
        var key = try TestKeys.serviceAccount(tokenURI: "https://oauth.test/token")
        key.quotaProjectId = "quota-proj"
        let harness = Harness(source: .serviceAccount(key))
        _ = try await harness.client.query(select)
        let request = try #require(harness.fake.transport.requests.last)
        #expect(request.header("x-goog-user-project") == "quota-proj")
        #expect(request.header("Authorization")?.hasPrefix("Bearer ya29.") == true)
    }

    // MARK: cache

    @Test func identicalReadOnlyQueryIsAnsweredFromTheSessionCache() async throws {
        let harness = Harness()
        harness.fake.setResult(schema: [["name": "id", "type": "INTEGER"]]) { _ in [["1"], ["2"]] }
        let first = try await harness.client.query(select)
        let second = try await harness.client.query(select)
        #expect(!first.fromSessionCache)
        #expect(second.fromSessionCache)
        #expect(second.rows == first.rows)
        #expect(harness.billableInserts.count == 1)
        #expect(await harness.client.cacheHits() == 1)
        var other = select
        other.parameters = [.int64("x", 1)]
        _ = try await harness.client.query(other)
        #expect(harness.billableInserts.count == 2)
    }

    @Test func cacheOffSendsEveryQueryAndTellsBigQuery() async throws {
        let harness = Harness(cache: false)
        _ = try await harness.client.query(select)
        _ = try await harness.client.query(select)
        #expect(harness.billableInserts.count == 2)
        let config = try #require(harness.billableInserts.first?.json?["configuration"] as? [String: Any])
        #expect((config["query"] as? [String: Any])?["useQueryCache"] as? Bool == false)
    }

    @Test func writesAreNeverCached() async throws {
        let harness = Harness()
        _ = try await harness.client.query(merge(nil))
        _ = try await harness.client.query(merge(nil))
        #expect(harness.billableInserts.count == 2)
    }

    // MARK: protected tables, undeclared writes

    @Test func protectedTablesAreRefusedBeforeAnythingIsSent() async throws {
        let harness = Harness(protected: ["*.crm.*"])
        let refusals: [() async throws -> Void] = [
            { _ = try await harness.client.query(merge()) },
            {
                _ = try await harness.client.load(
                    LoadJob(destination: target, source: .gcs(["gs://b/x.json"]), format: "NEWLINE_DELIMITED_JSON"))
            },
            { _ = try await harness.client.createTable(TableResource(reference: target, schema: [])) },
            { try await harness.client.deleteTable(target) },
        ]
        for refusal in refusals {
            let error = await #expect(throws: BigQueryError.self) { try await refusal() }
            #expect(error?.isRefusal == true)
            #expect("\(error!)".contains("protected"))
        }
        #expect(harness.fake.transport.requests.isEmpty)
    }

    @Test func aWriteDeclaredAsAReadIsRefused() async throws {
        let harness = Harness()
        let error = await #expect(throws: BigQueryError.self) {
            _ = try await harness.client.query(QueryJob(sql: "DELETE FROM `proj-test.finance.ledger` WHERE TRUE"))
        }
        #expect("\(error!)".contains("declares no table it writes"))
        #expect(error?.isRefusal == true, "a refusal (exit 3), not a failure")
        #expect(harness.billableInserts.isEmpty)
    }

    // MARK: labels, results, job log

    @Test func everyJobCarriesLabels() async throws {
        let harness = Harness()
        var job = merge()
        job.labels = ["sync": "Contacts Sync!", "plan": "abc"]
        _ = try await harness.client.query(job)
        let labels = try #require(
            (harness.billableInserts.first?.json?["configuration"] as? [String: Any])?["labels"] as? [String: String])
        #expect(labels == ["tool": "bqsync", "sync": "contacts_sync_", "plan": "abc"])
    }

    @Test func resultsArePaged() async throws {
        let fake = FakeBigQuery()
        fake.setResult(schema: [["name": "n", "type": "INTEGER"]]) { _ in (0..<25).map { [String($0)] } }
        let harness = Harness(fake: fake)
        let result = try await harness.client.query(select)
        #expect(result.rows.count == 25)
        #expect(result.rows.map { $0[0].text } == (0..<25).map { String($0) })
    }

    @Test func jobLogRecordsEveryCall() async throws {
        let harness = Harness()
        harness.fake.setDryRun { _ in (20 * megabyte, "PRECISE") }
        _ = try await harness.client.query(merge())
        let records = await harness.client.records
        #expect(records.map(\.outcome) == ["dry-run", "done"])
        let done = try #require(records.last)
        #expect(done.jobId == "bqsync_plan_step1_1")
        #expect(done.statementType == "MERGE")
        #expect(done.bytesBilled == 20 * megabyte)
        #expect(done.attempt == 1)
        let line = try #require(harness.logs.entries.first { $0.contains("info job") && $0.contains("outcome=done") })
        #expect(line.contains("bytes_billed=\(20 * megabyte)"))
        #expect(line.contains("statement=MERGE"))
    }

    // MARK: reviewed estimates (a plan's dry run)

    func reviewed(_ bytes: Int64) -> DryRunResult {
        DryRunResult(
            bytesProcessed: bytes, accuracy: "PRECISE", statementType: "MERGE", estimatedBilledBytes: bytes,
            conservative: false, note: nil)
    }

    @Test func aReviewedEstimateAdmitsAWriteWithoutAnotherDryRun() async throws {
        let harness = Harness()
        var job = merge()
        job.reviewed = reviewed(30 * megabyte)
        let result = try await harness.client.query(job)
        #expect(harness.dryRuns.isEmpty)
        #expect(harness.billableInserts.count == 1)
        #expect(result.outcome.statementType == "MERGE")
        // Admitted on the reviewed figure: the job's cap is at least that.
        let cap =
            (harness.billableInserts.first?.json?["configuration"] as? [String: Any]).flatMap {
                $0["query"] as? [String: Any]
            }?["maximumBytesBilled"] as? String
        #expect(cap.flatMap { Int64($0) }.map { $0 >= 30 * megabyte } == true)
    }

    @Test func aReviewedEstimateOverTheLimitIsRefusedWithNothingSent() async throws {
        var limits = CostLimits.defaults
        limits.queryBytes = 100 * megabyte
        let harness = Harness(limits: limits)
        var job = merge()
        job.reviewed = reviewed(2_000 * megabyte)
        await #expect(throws: BigQueryError.self) { _ = try await harness.client.query(job) }
        #expect(harness.dryRuns.isEmpty)
        #expect(harness.billableInserts.isEmpty)
    }

    @Test func aReadOnlyQueryIsDryRunEvenWithAReviewedEstimate() async throws {
        let harness = Harness()
        var job = select
        job.reviewed = reviewed(0)
        _ = try await harness.client.query(job)
        #expect(harness.dryRuns.count == 1)
    }
}
