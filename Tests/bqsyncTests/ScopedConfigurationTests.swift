import Foundation
import SyncTestSupport
import Testing

/// Issue 18, point 8: with sync names given, only those syncs (and the policies they use) must be valid; an error
/// in another definition is shown as a warning, at its file:line:col, and blocks nothing. Without names, or for a
/// plan file, every definition must be valid, as before.
@Suite struct ScopedConfigurationTests {
    static func workspace(_ prefix: String) throws -> Workspace {
        let ws = try Workspace(prefix)
        try ws.write(
            "syncs.d/good.yaml",
            EndToEndTests.sync(
                "good", source: "type: ndjson\npath: data/good.ndjson", table: ws.table("good"),
                schema: ["{name: id, type: INT64, mode: REQUIRED}"], keys: ["id"]))
        try ws.write("syncs.d/data/good.ndjson", "{\"id\": 1}\n")
        try ws.write("syncs.d/broken.yaml", "version: 1\nname: broken\nsource:\n  type: ndjson\n  pathh: x.ndjson\n")
        return ws
    }

    @Test func aNamedSyncPlansAndAppliesDespiteAnotherBrokenDefinition() throws {
        let ws = try Self.workspace("scoped_named")
        let planned = try ws.run("plan", "good")
        #expect(planned.status == 0, "\(planned)")
        #expect(planned.stderr.contains("broken.yaml:5:3"), "the other file's error is shown, at its place: \(planned)")
        #expect(planned.stderr.contains("warning"), "as a warning: \(planned)")
        let applied = try ws.run("apply", "--auto-approve", "good")
        #expect(applied.status == 0, "\(applied)")
        #expect(try ws.rows("good", orderBy: "id", columns: "id") == [["1"]])
    }

    @Test func withoutNamesEveryDefinitionMustBeValid() throws {
        let ws = try Self.workspace("scoped_all")
        let planned = try ws.run("plan")
        #expect(planned.status == 1, "\(planned)")
        #expect(planned.stderr.contains("broken.yaml:5:3"), "\(planned)")
        let broken = try ws.run("plan", "broken")
        #expect(broken.status == 1, "the named broken sync is still an error: \(broken)")
    }
}
