import Foundation
import SyncTestSupport
import Testing

/// All the data errors at once (issue 18, point 7), through the bqsync binary: a plan over a source with several
/// bad lines names each at its file:line:col, says how many there are or that it stopped, exits 1 and sends nothing;
/// `validate` warns at `source.path` when the path matches no file.
extension EndToEndTests {
    @Test func aSourceWithSeveralBadRowsReportsThemAllInOnePlan() throws {
        let ws = try Workspace("e2e_rowerrors")
        try ws.write(
            "syncs.d/r.yaml",
            Self.sync(
                "r", source: "type: ndjson\npath: r.ndjson", table: ws.table("r"),
                schema: ["{name: id, type: INT64, mode: REQUIRED}", "{name: n, type: INT64}"], keys: ["id"]))
        func source(bad: Int) -> String {
            (1...30).map { #"{"n": \#($0 <= bad ? #""x""# : "1"), "id": \#($0)}"# }.joined(separator: "\n") + "\n"
        }

        try ws.write("syncs.d/r.ndjson", source(bad: 5))
        let five = try ws.run("plan")
        #expect(five.status == 1, "\(five)")
        for line in 1...5 {
            #expect(five.stderr.contains("syncs.d/r.ndjson:\(line):7: error: column 'n': invalid INT64 'x'"), "\(five)")
        }
        #expect(!five.stderr.contains("syncs.d/r.ndjson:6:"), "\(five)")
        #expect(five.stderr.contains("error: 5 row errors in the source"), "\(five)")

        try ws.write("syncs.d/r.ndjson", source(bad: 25))
        let many = try ws.run("apply", "--auto-approve")
        #expect(many.status == 1, "\(many)")
        #expect(many.stderr.contains("syncs.d/r.ndjson:20:7: error: column 'n'"), "\(many)")
        #expect(!many.stderr.contains("syncs.d/r.ndjson:21:"), "\(many)")
        #expect(many.stderr.contains("stopped after 20 row errors: the source has more"), "\(many)")
        #expect(try !ws.datasetExists(), "nothing was created")
        #expect(!many.stderr.contains("error: error:"), "each row error is rendered once: \(many)")

        let two = try ws.run("plan", "--max-row-errors", "2")
        #expect(two.status == 1, "\(two)")
        #expect(two.stderr.contains("stopped after 2 row errors: the source has more"), "\(two)")
        #expect(!two.stderr.contains("syncs.d/r.ndjson:3:"), "\(two)")

        try FileManager.default.removeItem(atPath: ws.path("syncs.d/r.ndjson"))
        let validate = try ws.run("validate")
        #expect(validate.status == 0, "a warning does not fail validate: \(validate)")
        #expect(validate.stdout.contains("syncs.d/r.yaml:"), "\(validate)")
        #expect(validate.stdout.contains("warning: 'source.path' 'r.ndjson' matches no file"), "\(validate)")
    }
}
