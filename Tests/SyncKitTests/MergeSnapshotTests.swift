import BigQuery
import Foundation
import Testing

@testable import SyncKit

/// The MERGE statements bqsync writes, one snapshot per strategy and source under `Snapshots/`, compared byte for
/// byte, so a change to the SQL shows as a diff in review. After an intended change, re-record them with
/// `BQSYNC_RECORD_SNAPSHOTS=1 swift test --filter MergeSnapshotTests` and read the diff.
@Suite struct MergeSnapshotTests {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
        "Snapshots"
    ).path
    static let recording = ProcessInfo.processInfo.environment["BQSYNC_RECORD_SNAPSHOTS"] == "1"

    /// Every column type bqsync writes, a two-column key, an `order_by` and a `delete_when` control column.
    static func layout() throws -> RowLayout {
        let columns: [RowLayout.Column] = [
            .init(name: "id", type: .int64, required: true, inTarget: true),
            .init(name: "day", type: .date, required: true, inTarget: true),
            .init(name: "name", type: .string, required: false, inTarget: true),
            .init(name: "raw", type: .bytes, required: false, inTarget: true),
            .init(name: "score", type: .float64, required: false, inTarget: true),
            .init(name: "amount", type: .numeric, required: false, inTarget: true),
            .init(name: "big", type: .bignumeric, required: false, inTarget: true),
            .init(name: "ok", type: .bool, required: false, inTarget: true),
            .init(name: "local", type: .datetime, required: false, inTarget: true),
            .init(name: "clock", type: .time, required: false, inTarget: true),
            .init(name: "at", type: .timestamp, required: false, inTarget: true),
            .init(name: "payload", type: .json, required: false, inTarget: true),
            .init(name: "gone", type: .bool, required: false, inTarget: false),
        ]
        return try RowLayout(
            columns: columns, merge: MergeSpec(keys: ["id", "day"], orderBy: "at", update: .all, deleteWhen: "gone"))
    }

    static func builder(update: MergeSpec.Update = .all) throws -> MergeBuilder {
        let layout = try layout()
        return MergeBuilder(
            target: try TableReference(projectId: "my-project", datasetId: "crm", tableId: "contacts"), layout: layout,
            carried: Array(layout.columns.indices), update: update)
    }

    static let staging = try! TableReference(
        projectId: "my-project", datasetId: "crm", tableId: "bqsync_stage_contacts_0123456789abcdef")

    static let cases: [(name: String, sql: @Sendable () throws -> String)] = [
        (
            "inline",
            {
                try builder().merge(
                    .parameter("rows"), pruning: "_bqsync_target.`day` BETWEEN DATE '2026-01-01' AND DATE '2026-01-09'")
            }
        ),
        ("inline-update-columns", { try builder(update: .columns(["name", "score"])).merge(.parameter("rows")) }),
        (
            "staged",
            {
                try builder().merge(
                    .stagedText(staging),
                    pruning: "_bqsync_target.`day` BETWEEN DATE '2025-12-30' AND DATE '2026-02-01'")
            }
        ),
        ("gcs", { try builder().merge(.stagedTyped(staging)) }),
        ("query", { try builder().merge(.query("SELECT * FROM `my-project.raw.contacts_export`;")) }),
    ]

    @Test(arguments: cases.map(\.name))
    func mergeMatchesItsSnapshot(_ name: String) throws {
        let sql = try #require(Self.cases.first { $0.name == name }).sql() + "\n"
        let path = Self.directory + "/merge-\(name).sql"
        if Self.recording {
            try FileManager.default.createDirectory(atPath: Self.directory, withIntermediateDirectories: true)
            try sql.write(toFile: path, atomically: true, encoding: .utf8)
            return
        }
        let recorded = try String(contentsOfFile: path, encoding: .utf8)
        #expect(
            sql == recorded,
            "merge-\(name).sql differs; if intended, re-record (BQSYNC_RECORD_SNAPSHOTS=1) and review the diff")
    }
}
