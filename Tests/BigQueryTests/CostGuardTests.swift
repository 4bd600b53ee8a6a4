import BigQuery
import Foundation
import SyncTestSupport
import Testing

@Suite("cost guard")
struct CostGuardTests {
    let target = table("proj-test.crm.contacts")

    func merge(_ id: String? = nil) -> QueryJob {
        QueryJob(
            sql:
                "MERGE `proj-test.crm.contacts` T USING (SELECT 1 AS id) S ON T.id = S.id WHEN NOT MATCHED THEN INSERT (id) VALUES (S.id)",
            jobId: id, writes: target)
    }

    @Test func perQueryLimitRefusesBeforeSending() async throws {
        let harness = Harness()
        harness.fake.setDryRun { _ in (2_000_000_000, "PRECISE") }
        let error = await #expect(throws: BigQueryError.self) { _ = try await harness.client.query(merge()) }
        #expect(error?.isRefusal == true)
        #expect("\(error!)".contains("per-query bytes billed"))
        #expect(harness.billableInserts.isEmpty)
        #expect(harness.dryRuns.count == 1)
    }

    @Test func sessionBytesLimitRefusesTheJobThatWouldPassIt() async throws {
        var limits = CostLimits.defaults
        limits.sessionBytes = 25 * megabyte
        limits.sessionCostUSD = 100
        let harness = Harness(limits: limits)
        harness.fake.setDryRun { _ in (10 * megabyte, "PRECISE") }
        _ = try await harness.client.query(merge())
        _ = try await harness.client.query(merge())
        let error = await #expect(throws: BigQueryError.self) { _ = try await harness.client.query(merge()) }
        #expect("\(error!)".contains("session bytes billed"))
        #expect(harness.billableInserts.count == 2)
    }

    @Test func sessionQueryLimitRefuses() async throws {
        var limits = CostLimits.defaults
        limits.sessionQueries = 2
        let harness = Harness(limits: limits)
        _ = try await harness.client.query(merge())
        _ = try await harness.client.query(merge())
        let error = await #expect(throws: BigQueryError.self) { _ = try await harness.client.query(merge()) }
        #expect("\(error!)".contains("session query count would reach 3, over the limit of 2"))
        #expect(harness.billableInserts.count == 2)
    }

    @Test func sessionDollarLimitRefuses() async throws {
        var limits = CostLimits.defaults
        limits.sessionCostUSD = 0.0001  // ~17.6 MB at $6.25/TiB
        let harness = Harness(limits: limits)
        harness.fake.setDryRun { _ in (12 * megabyte, "PRECISE") }
        _ = try await harness.client.query(merge())
        let error = await #expect(throws: BigQueryError.self) { _ = try await harness.client.query(merge()) }
        #expect("\(error!)".contains("session cost"))
        #expect(harness.billableInserts.count == 1)
    }

    /// A staged MERGE scans 15.5 MiB of its target and 0.5 MiB of its staging table. BigQuery bills each table
    /// rounded up to a whole MB and at least 10 MB: 16 + 10 = 26 MiB, though the dry run reports 16 MiB over two
    /// tables. Near the end of the session budget the cap must not fall below that (the job would fail with
    /// bytesBilledLimitExceeded): the estimate is the dearest split, 10 + 16 + 1 = 27 MiB, so with less left the job is refused
    /// before it is sent, and with that much left it runs under a cap it cannot trip.
    @Test(arguments: [22, 27])
    func aTwoTableMergeAtTheEndOfTheBudgetIsNeverCappedBelowBigQuerysRounding(leftMiB: Int64) async throws {
        var limits = CostLimits.defaults
        limits.sessionBytes = leftMiB * megabyte
        limits.sessionCostUSD = 100
        let harness = Harness(limits: limits)
        harness.fake.setScans { _ in
            ["proj-test.crm.contacts": 31 * megabyte / 2, "proj-test.crm.bqsync_stage_x": megabyte / 2]
        }
        if leftMiB < 27 {
            let error = await #expect(throws: BigQueryError.self) { _ = try await harness.client.query(merge()) }
            #expect(error?.isRefusal == true, "\(String(describing: error))")
            #expect(harness.billableInserts.isEmpty)
        } else {
            _ = try await harness.client.query(merge())
            #expect(await harness.client.costGuard("default")!.usage.bytesBilled == 26 * megabyte)
            #expect(harness.billableInserts.last.flatMap(maximumBytesBilled) == 27 * megabyte)
        }
    }

    @Test func billingRoundsEachTableAndBoundsAnUnknownSplit() {
        #expect(Billing.billed(perTable: [31 * megabyte / 2, megabyte / 2]) == 26 * megabyte)
        #expect(Billing.billed(perTable: []) == 10 * megabyte)
        #expect(Billing.billed(processed: 5 * megabyte + 1, tablesReferenced: 1) == 10 * megabyte)
        #expect(Billing.billed(processed: 12 * megabyte + 1, tablesReferenced: 1) == 13 * megabyte)
        #expect(Billing.billed(processed: 16 * megabyte, tablesReferenced: 2) == 27 * megabyte)
        #expect(Billing.billed(processed: 3 * megabyte, tablesReferenced: 3) == 30 * megabyte)
        // Never below any split's bill: every split of 40.5 MiB over three tables, by half MiB.
        let total = 81 * megabyte / 2
        let bound = Billing.billed(processed: total, tablesReferenced: 3)
        for a in stride(from: Int64(0), through: total, by: Int64.Stride(megabyte / 2)) {
            for b in stride(from: Int64(0), through: total - a, by: Int64.Stride(megabyte / 2)) {
                #expect(Billing.billed(perTable: [a, b, total - a - b]) <= bound)
            }
        }
    }

    @Test func maximumBytesBilledIsTheSmallerOfQueryLimitAndWhatIsLeft() async throws {
        var limits = CostLimits.defaults
        limits.sessionBytes = 1_500_000_000
        limits.queryBytes = 1_000_000_000
        limits.sessionCostUSD = 100
        let harness = Harness(limits: limits)
        harness.fake.setDryRun { _ in (700_000_000, "PRECISE") }
        _ = try await harness.client.query(merge())
        let firstLimit = try #require(harness.billableInserts.last.flatMap(maximumBytesBilled))
        #expect(firstLimit == 1_000_000_000)
        harness.fake.setDryRun { _ in (100_000_000, "PRECISE") }
        _ = try await harness.client.query(merge())
        let secondLimit = try #require(harness.billableInserts.last.flatMap(maximumBytesBilled))
        let billedFirst = (700_000_000 + megabyte - 1) / megabyte * megabyte
        #expect(secondLimit == 1_500_000_000 - billedFirst)
        for request in harness.billableInserts { #expect(maximumBytesBilled(request) != nil) }
    }

    @Test func bytesBilledLimitExceededFailsUncharged() async throws {
        let harness = Harness()
        harness.fake.setDryRun { _ in (10 * megabyte, "PRECISE") }
        harness.fake.setBilled { _ in 2_000_000_000 }  // BigQuery bills more than the dry run said
        let error = await #expect(throws: BigQueryError.self) {
            _ = try await harness.client.query(merge("bqsync_p_1"))
        }
        #expect(error?.reason == "bytesBilledLimitExceeded")
        let usage = await harness.client.costGuard("default")!.usage
        #expect(usage.bytesBilled == 0)
    }

    @Test func warnsOncePerLimitAtWarnAt() async throws {
        var limits = CostLimits.defaults
        limits.sessionQueries = 5
        limits.warnAt = 0.6
        let harness = Harness(limits: limits)
        for _ in 0..<5 { _ = try await harness.client.query(merge()) }
        let warnings = await harness.client.costGuard("default")!.warnings
        #expect(warnings.count == 1)
        #expect(warnings.first?.contains("session query count at 60%") == true)
        #expect(harness.logs.entries.filter { $0.contains("warning budget") }.count == 1)
    }

    @Test func actualBytesAreAccountedAfterEachJob() async throws {
        let harness = Harness()
        harness.fake.setDryRun { _ in (50 * megabyte, "PRECISE") }
        harness.fake.setBilled { _ in 40 * megabyte }
        _ = try await harness.client.query(merge())
        let usage = await harness.client.costGuard("default")!.usage
        #expect(usage.bytesBilled == 40 * megabyte)
        #expect(usage.queries == 1)
        #expect(abs(usage.costUSD - Billing.cost(billedBytes: 40 * megabyte, usdPerTiB: 6.25)) < 1e-12)
    }

    @Test(arguments: [(Int64(0), "PRECISE"), (Int64(123), "UNKNOWN")])
    func zeroOrUnknownEstimatesUseTableMetadata(bytes: Int64, accuracy: String) async throws {
        let harness = Harness()
        harness.fake.addTable(
            "proj-test.crm.contacts",
            .init(fields: [["name": "id", "type": "INT64"]], numBytes: 300 * megabyte, numRows: 1000))
        harness.fake.setDryRun { _ in (bytes, accuracy) }
        let dry = try await harness.client.dryRun(merge())
        #expect(dry.conservative)
        #expect(dry.estimatedBilledBytes == 300 * megabyte)
        #expect(dry.note?.contains("table metadata") == true)
    }

    @Test func minimumsApplyWhenTheTableIsSmall() async throws {
        let harness = Harness()
        harness.fake.addTable(
            "proj-test.crm.contacts", .init(fields: [["name": "id", "type": "INT64"]], numBytes: 1000, numRows: 10))
        harness.fake.addTable(
            "proj-test.crm.staging", .init(fields: [["name": "id", "type": "INT64"]], numBytes: 1000, numRows: 10))
        var job = merge()
        job.reads = [table("proj-test.crm.staging")]
        let dry = try await harness.client.dryRun(job)
        #expect(dry.estimatedBilledBytes == 20 * megabyte)  // 10 MB per table referenced
    }

    @Test func planCheckRefusesAWholePlanUpFront() async throws {
        let guardian = CostGuard(limits: .defaults)
        await #expect(throws: BigQueryError.self) {
            try await guardian.check(plannedBytes: 1 << 20, plannedQueries: 501)
        }
        await #expect(throws: BigQueryError.self) {
            try await guardian.check(plannedBytes: 6_000_000_000, plannedQueries: 1)
        }
        try await guardian.check(plannedBytes: 1_000_000, plannedQueries: 500)
    }

    @Test func billingRules() {
        #expect(Billing.billed(processed: 0, tablesReferenced: 1) == 10 * megabyte)
        #expect(Billing.billed(processed: 1, tablesReferenced: 3) == 30 * megabyte)
        #expect(Billing.billed(processed: 100 * megabyte + 1, tablesReferenced: 1) == 101 * megabyte)
        #expect(Billing.dmlProcessed(scannedColumnBytes: 5, targetTableBytes: 100, onlyInserts: true) == 5)
        #expect(Billing.dmlProcessed(scannedColumnBytes: 5, targetTableBytes: 100, onlyInserts: false) == 105)
        #expect(abs(Billing.cost(billedBytes: 1 << 40, usdPerTiB: 6.25) - 6.25) < 1e-12)
    }
}

func maximumBytesBilled(_ request: RecordedRequest) -> Int64? {
    ((request.json?["configuration"] as? [String: Any])?["query"] as? [String: Any])?["maximumBytesBilled"]
        .flatMap { $0 as? String }.flatMap { Int64($0) }
}
