import Foundation
import SyncTestSupport
import Testing

/// The plan as a reviewer reads it: `bqsync show PLAN` in text, markdown and JSON, for two saved plans of the
/// shipped examples (`Snapshots/*.plan.json`: one that fits its policy, one over every limit), compared byte for
/// byte with the snapshots beside them, so a change to what reviewers see shows as a diff. After an intended
/// change, re-record with `BQSYNC_RECORD_SNAPSHOTS=1 swift test --filter PlanSnapshotTests` and read the diff.
/// (The saved plans are made by `bqsync plan --out` in a copy of syncs.d/ and policies/; re-make them when the
/// plan format changes.) `show` is offline: no emulator, no credentials.
@Suite struct PlanSnapshotTests {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
        "Snapshots"
    ).path
    static let recording = ProcessInfo.processInfo.environment["BQSYNC_RECORD_SNAPSHOTS"] == "1"

    static let cases: [(plan: String, format: String, suffix: String)] = ["examples", "over-budget"].flatMap { plan in
        [("text", "txt"), ("markdown", "md"), ("json", "json")].map { (plan, $0.0, $0.1) }
    }

    @Test("show renders a saved plan as its snapshot", arguments: 0..<cases.count)
    func rendering(_ index: Int) throws {
        let (plan, format, suffix) = Self.cases[index]
        let shown = try Self.show(Self.directory + "/\(plan).plan.json", format: format)
        #expect(shown.status == 0, "\(shown.stderr)")
        let snapshot = Self.directory + "/\(plan).show.\(suffix)"
        if Self.recording {
            try Data(shown.stdout.utf8).write(to: URL(fileURLWithPath: snapshot))
            return
        }
        let expected = try String(contentsOfFile: snapshot, encoding: .utf8)
        #expect(
            shown.stdout == expected,
            "bqsync show --format \(format) differs from Snapshots/\(plan).show.\(suffix); if intended, re-record")
    }

    /// `bqsync show FILE --format F` in an empty workspace that points at no server.
    static func show(_ file: String, format: String) throws -> RunResult {
        try Workspace(prefix: "plan_snapshot").run(["show", file, "--format", format])
    }

    /// Issue 16: with 200 syncs, the markdown comment stays under GitHub's 65,536-character limit and says what it
    /// left out; refusals come before the syncs.
    @Test func aCommentOf200SyncsStaysUnderGitHubsLimit() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: Self.directory + "/over-budget.plan.json"))
        var plan = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let syncs = try #require(plan["syncs"] as? [[String: Any]])
        plan["syncs"] = (0..<200).map { index -> [String: Any] in
            var sync = syncs[index % syncs.count]
            sync["name"] = "sync_with_a_rather_long_name_for_the_comment_\(index)"
            return sync
        }
        let ws = try Workspace(prefix: "plan_200")
        try ws.write("plan.json", String(decoding: try JSONSerialization.data(withJSONObject: plan), as: UTF8.self))
        let shown = try ws.run(["show", ws.path("plan.json"), "--format", "markdown"])
        #expect(shown.status == 0, "\(shown.stderr)")
        #expect(shown.stdout.count <= 65_536, "\(shown.stdout.count) characters")
        #expect(shown.stdout.contains("left out"), "it says what it left out")
        let refusal = try #require(shown.stdout.range(of: "- :x: "), "the refusals are listed")
        let table = try #require(shown.stdout.range(of: "| sync | target |"))
        #expect(refusal.lowerBound < table.lowerBound, "refusals come first")
    }
}
