import Foundation
import SyncTestSupport
import Testing

/// `source.incremental` on local files: the window is applied row by row as the file is read, the watermark kept
/// in the target's lease as for a database source. The file keeps every version of a row (lines are appended), so
/// only the window decides what a run merges.
@Suite struct IncrementalSyncTests {
    static let schema = [
        "{name: id, type: INT64, mode: REQUIRED}", "{name: v, type: STRING}", "{name: updated_at, type: TIMESTAMP}",
    ]

    static let firstLines = """
        {"id": 1, "v": "a", "updated_at": "2025-01-01T00:00:01Z"}
        {"id": 2, "v": "b", "updated_at": "2025-01-01T00:00:02Z"}
        {"id": 3, "v": "c", "updated_at": "2025-01-01T00:00:03Z"}
        {"id": 4, "v": "d", "updated_at": "2025-01-01T00:00:04.000004Z"}
        {"id": 5, "v": "no stamp", "updated_at": null}
        {"id": 6, "v": "no stamp either"}

        """

    /// Row 2 changed and row 7 new, both past the watermark; row 5 changed with its cursor still NULL and row 8
    /// stamped before the watermark (a late row), which an incremental run does not read.
    static let appendedLines = """
        {"id": 2, "v": "b2", "updated_at": "2025-01-02T00:00:00Z"}
        {"id": 7, "v": "g", "updated_at": "2025-01-02T00:00:01Z"}
        {"id": 5, "v": "changed, no stamp", "updated_at": null}
        {"id": 8, "v": "late", "updated_at": "2024-12-31T00:00:00Z"}

        """

    /// A first run without `initial` reads every line, NULL cursors included; after lines are appended, the
    /// second run reads only the rows past the watermark (2 of 10 lines; `lag` widens the window by its
    /// duration) and merges them, leaving the rows outside the window as they were. A sync from `initial` reads
    /// no NULL-cursor row even on its first run. A CSV file with an INT64 cursor works the same.
    @Test func aSecondRunReadsOnlyTheNewAndChangedLines() throws {
        let ws = try Workspace("incr_ndjson")
        func define(_ name: String, _ incremental: [String]) throws {
            try ws.write(
                "syncs.d/\(name).yaml",
                EndToEndTests.sync(
                    name,
                    source: "type: ndjson\npath: data/events.ndjson\nincremental:\n"
                        + incremental.map { "  " + $0 }.joined(separator: "\n"),
                    table: ws.table(name), schema: Self.schema, keys: ["id"]))
        }
        try define("events", ["cursor: updated_at"])
        try define("lagged", ["cursor: updated_at", "lag: 2s"])
        try ws.write(
            "syncs.d/revs.yaml",
            EndToEndTests.sync(
                "revs", source: "type: csv\npath: data/revs.csv\nincremental:\n  cursor: rev", table: ws.table("revs"),
                schema: [
                    "{name: id, type: INT64, mode: REQUIRED}", "{name: v, type: STRING}", "{name: rev, type: INT64}",
                ],
                keys: ["id"]))
        try ws.write("syncs.d/data/events.ndjson", Self.firstLines)
        try ws.write("syncs.d/data/revs.csv", "id,v,rev\n1,a,1\n2,b,2\n3,c,3\n")

        // Round 1: every row.
        let first = try ws.run("plan", "--out", "first.json")
        #expect(first.status == 0, "\(first)")
        for name in ["events", "lagged"] {
            let window = try Postgres.window(ws, "first.json", sync: name)
            #expect(window["rows"] as? Int == 6, "\(name): the NULL-cursor rows too: \(window)")
            #expect(window["through"] as? String == "2025-01-01 00:00:04.000004+00", "\(name): \(window)")
        }
        #expect(first.stdout.contains("window: first run: every row (updated_at NULL included)"), "\(first)")
        #expect(try Postgres.window(ws, "first.json", sync: "revs")["rows"] as? Int == 3)
        let applied = try ws.run("apply", "first.json")
        #expect(applied.status == 0, "\(applied)")
        let round1 = [
            ["1", "a"], ["2", "b"], ["3", "c"], ["4", "d"], ["5", "no stamp"], ["6", "no stamp either"],
        ]
        #expect(try ws.rows("events", orderBy: "id", columns: "id, v") == round1)
        #expect(try Postgres.watermark(ws, sync: "events", table: "events") == "2025-01-01 00:00:04.000004+00")
        #expect(try Postgres.watermark(ws, sync: "revs", table: "revs") == "3")

        // Round 2: lines appended.
        try ws.write("syncs.d/data/events.ndjson", Self.firstLines + Self.appendedLines)
        try ws.write("syncs.d/data/revs.csv", "id,v,rev\n1,a,1\n2,b,2\n3,c,3\n4,d,4\n1,a2,5\n")
        try define("from_initial", ["cursor: updated_at", "initial: \"2025-01-01T00:00:03Z\""])
        let second = try ws.run("plan", "--out", "second.json")
        #expect(second.status == 0, "\(second)")
        let planned = try EndToEndTests.syncPlan(try EndToEndTests.planJSON(ws, "second.json"), "events")
        #expect(planned["rows_read"] as? Int == 10, "every line is read: \(planned)")
        #expect(planned["rows"] as? Int == 2, "two rows merged: \(planned)")
        let window = try Postgres.window(ws, "second.json", sync: "events")
        #expect(window["rows"] as? Int == 2, "rows 2 and 7: \(window)")
        #expect(window["after"] as? String == "2025-01-01 00:00:04.000004+00", "\(window)")
        #expect(
            second.stdout.contains(
                "window: updated_at > 2025-01-01 00:00:04.000004+00 (the watermark) → 2025-01-02 00:00:01+00: 2 rows"),
            "\(second)")
        let lagged = try Postgres.window(ws, "second.json", sync: "lagged")
        #expect(lagged["after"] as? String == "2025-01-01 00:00:02.000004+00", "the watermark less 2 s: \(lagged)")
        #expect(lagged["rows"] as? Int == 4, "rows 3, 4, 2 and 7: \(lagged)")
        #expect(
            second.stdout.contains(
                "window: updated_at > 2025-01-01 00:00:02.000004+00 (watermark 2025-01-01 00:00:04.000004+00, less the lag)"
            ),
            "\(second)")
        let initial = try Postgres.window(ws, "second.json", sync: "from_initial")
        #expect(initial["rows"] as? Int == 4, "rows 3, 4, 2 (its new line) and 7, no NULL cursor: \(initial)")
        #expect(initial["from"] as? String == "2025-01-01 00:00:03+00", "\(initial)")
        #expect(try Postgres.window(ws, "second.json", sync: "revs")["rows"] as? Int == 2, "rev 4 and 5")

        let applied2 = try ws.run("apply", "second.json")
        #expect(applied2.status == 0, "\(applied2)")
        let round2 = [
            ["1", "a"], ["2", "b2"], ["3", "c"], ["4", "d"], ["5", "no stamp"], ["6", "no stamp either"], ["7", "g"],
        ]
        #expect(try ws.rows("events", orderBy: "id", columns: "id, v") == round2, "5 and 8 were not read")
        #expect(try ws.rows("lagged", orderBy: "id", columns: "id, v") == round2)
        #expect(
            try ws.rows("from_initial", orderBy: "id", columns: "id, v") == [
                ["2", "b2"], ["3", "c"], ["4", "d"], ["7", "g"],
            ])
        #expect(
            try ws.rows("revs", orderBy: "id", columns: "id, v, rev") == [
                ["1", "a2", "5"], ["2", "b", "2"], ["3", "c", "3"], ["4", "d", "4"],
            ])
        #expect(try Postgres.watermark(ws, sync: "events", table: "events") == "2025-01-02 00:00:01+00")
        #expect(try Postgres.watermark(ws, sync: "from_initial", table: "from_initial") == "2025-01-02 00:00:01+00")
        #expect(try Postgres.watermark(ws, sync: "revs", table: "revs") == "5")
    }
}
