import BigQuery
import Testing

@testable import SyncKit

/// When an apply may admit an inline batch on the plan's dry run of it rather than dry-running it again.
@Suite struct ReviewedEstimateTests {
    static let target = try! TableReference(projectId: "my-project", datasetId: "d", tableId: "t")

    func table(rows: Int64, bytes: Int64) -> TableResource {
        var table = TableResource(
            reference: Self.target, schema: [FieldSchema(name: "id", type: "INT64", mode: "REQUIRED")])
        table.numRows = String(rows)
        table.numBytes = String(bytes)
        return table
    }

    func step(accuracy: Estimate.Accuracy, billed: Int64 = 80 << 20) -> Step {
        var step = Step(index: 3, kind: .merge, sql: "MERGE …", payloadDigest: "abc", payloadBytes: 10, rows: 2)
        step.estimate = Estimate(
            bytesProcessed: 70 << 20, accuracy: accuracy, billedBytes: billed, costUSD: 0.0005, note: nil)
        return step
    }

    let planned = TargetState(exists: true, schemaSHA256: "s", bytes: 5_000, rows: 100)

    @Test func anUnchangedTargetReusesThePlansDryRun() throws {
        let reviewed = try #require(
            BigQuerySyncService.reviewedEstimate(
                step(accuracy: .precise), planned: planned,
                now: table(rows: 100, bytes: 5_000)))
        #expect(reviewed.estimatedBilledBytes == 80 << 20)
        #expect(reviewed.bytesProcessed == 70 << 20)
        #expect(reviewed.statementType == "MERGE")
    }

    @Test(arguments: [(101, 5_000), (100, 5_001), (0, 0)])
    func aTargetThatChangedSizeIsDryRunAgain(rows: Int64, bytes: Int64) {
        #expect(
            BigQuerySyncService.reviewedEstimate(
                step(accuracy: .precise), planned: planned, now: table(rows: rows, bytes: bytes)) == nil)
    }

    @Test func aModeledFigureOrAMissingTargetIsNeverReused() {
        let same = table(rows: 100, bytes: 5_000)
        #expect(BigQuerySyncService.reviewedEstimate(step(accuracy: .modeled), planned: planned, now: same) == nil)
        #expect(BigQuerySyncService.reviewedEstimate(step(accuracy: .precise), planned: planned, now: nil) == nil)
        let created = TargetState(exists: false, schemaSHA256: nil, bytes: nil, rows: nil)
        #expect(BigQuerySyncService.reviewedEstimate(step(accuracy: .precise), planned: created, now: same) == nil)
        var bare = step(accuracy: .precise)
        bare.estimate = nil
        #expect(BigQuerySyncService.reviewedEstimate(bare, planned: planned, now: same) == nil)
    }
}
