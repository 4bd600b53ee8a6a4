import Foundation
import SyncTestSupport
import Testing

/// Each source type and every supported column type, end to end.
extension EndToEndTests {
    // MARK: - csv

    static let csvSchema = [
        "{name: id, type: INT64, mode: REQUIRED}", "{name: name, type: STRING}", "{name: note, type: STRING}",
        "{name: amount, type: NUMERIC}", "{name: ok, type: BOOL}", "{name: day, type: DATE}",
    ]

    /// NUMERIC as a canonical decimal, whatever the emulator's spelling ("1.500000000", "1E-9").
    static func decimal(_ text: String?) -> String? {
        guard let text, let value = Decimal(string: text) else { return text }
        return "\(value)"
    }

    @Test func csvWithQuotedFieldsNewlinesAndACustomDelimiter() throws {
        let ws = try Workspace("e2e_csv")
        try ws.write(
            "syncs.d/comma.yaml",
            Self.sync(
                "comma", source: "type: csv\npath: data/comma.csv", table: ws.table("comma"),
                schema: Self.csvSchema, keys: ["id"], batch: 2, strategy: "inline"))
        try ws.write(
            "syncs.d/semi.yaml",
            Self.sync(
                "semi", source: "type: csv\npath: data/semi.csv\ndelimiter: \";\"\nnull_marker: \"\\\\N\"",
                table: ws.table("semi"), schema: Self.csvSchema, keys: ["id"], batch: 2, strategy: "staged"))
        // RFC 4180: quoted fields with the delimiter, doubled quotes and line breaks; an unquoted empty field is
        // NULL (the default null marker is the empty string), a quoted empty one is the empty string.
        try ws.write(
            "syncs.d/data/comma.csv",
            """
            id,name,note,amount,ok,day
            1,"Smith, John","He said ""hi""
            and left, twice",12.50,true,2025-01-02
            2,plain,,3,false,
            3,"","x",-0.5,yes,2025-03-04
            4,unquoted spaces ,"a,b,c",,,
            5,"SELECT `x` FROM y; -- 'z'","日本語 🎉",0.000000001,0,2025-12-31

            """)
        // A custom delimiter and null marker, CRLF line endings (a quoted line break keeps its CRLF), a header
        // in another case and order.
        let semi =
            [
                "DAY;Id;name;note;amount;ok",
                "2025-12-31;10;\"a;b\";\"multi\r\nline;with;semis\";1e2;0",
                "\\N;11;\\N;\"\";;f",
                "2025-01-01;12;\"x\"\"y\";, comma ,;7;TRUE",
                ";13;;;;",
                "\"2025-02-03\";14;\"\\N\";tab\there;-12345678901234567890.123456789;no",
            ].joined(separator: "\r\n") + "\r\n"
        try ws.write("syncs.d/data/semi.csv", semi)
        // A delimiter outside ASCII (two bytes in UTF-8), next to other non-ASCII text.
        try ws.write(
            "syncs.d/broken.yaml",
            Self.sync(
                "broken", source: "type: csv\npath: data/broken.csv\ndelimiter: \"¦\"",
                table: ws.table("broken"), schema: Self.csvSchema, keys: ["id"], strategy: "inline"))
        try ws.write(
            "syncs.d/data/broken.csv",
            """
            id¦name¦note¦amount¦ok¦day
            20¦"a¦b, ""c\"\"\"¦é¦1.5¦true¦2025-05-05
            21¦¦"x
            y¦z"¦¦¦
            22¦æ¦, ,¦-2¦false¦2025-06-06

            """)
        let plan = try ws.run("plan", "--out", "plan.json")
        #expect(plan.status == 0, "\(plan)")
        let apply = try ws.run("apply", "plan.json")
        #expect(apply.status == 0, "\(apply)")
        // A table's rows by id, the amount (NUMERIC) as a canonical decimal.
        func rows(_ table: String) throws -> [[String?]] {
            try ws.rows(table, orderBy: "id").map { row in
                row.enumerated().map { $0.offset == 3 ? Self.decimal($0.element) : $0.element }
            }
        }
        let broken = try rows("broken")
        #expect(
            broken == [
                ["20", "a¦b, \"c\"", "é", "1.5", "true", "2025-05-05"],
                ["21", nil, "x\ny¦z", nil, nil, nil],
                ["22", "æ", ", ,", "-2", "false", "2025-06-06"],
            ])

        let comma = try rows("comma")
        #expect(
            comma == [
                ["1", "Smith, John", "He said \"hi\"\nand left, twice", "12.5", "true", "2025-01-02"],
                ["2", "plain", nil, "3", "false", nil],
                ["3", "", "x", "-0.5", "true", "2025-03-04"],
                ["4", "unquoted spaces ", "a,b,c", nil, nil, nil],
                ["5", "SELECT `x` FROM y; -- 'z'", "日本語 🎉", "0.000000001", "false", "2025-12-31"],
            ])
        let semiRows = try rows("semi")
        #expect(
            semiRows == [
                ["10", "a;b", "multi\r\nline;with;semis", "100", "false", "2025-12-31"],
                ["11", nil, "", nil, "false", nil],
                ["12", "x\"y", ", comma ,", "7", "true", "2025-01-01"],
                ["13", "", "", nil, nil, nil],
                ["14", "\\N", "tab\there", "-12345678901234567890.123456789", "false", "2025-02-03"],
            ])
    }

    // MARK: - query

    @Test func querySourceReadsAnotherTable() throws {
        let ws = try Workspace("e2e_query")
        try ws.write(
            "syncs.d/raw.yaml",
            Self.sync(
                "raw", source: "type: ndjson\npath: raw.ndjson", table: ws.table("raw_events"),
                schema: [
                    "{name: event_id, type: INT64, mode: REQUIRED}", "{name: user, type: STRING}",
                    "{name: score, type: INT64}",
                    "{name: at, type: TIMESTAMP}",
                ],
                keys: ["event_id"]))
        try ws.write(
            "syncs.d/best.yaml",
            Self.sync(
                "best",
                source: """
                    type: query
                    query: |
                      SELECT `user`, score AS `from`, `at` AS `order`  -- `at` quoted: the emulator (DuckDB) reserves it
                      FROM `\(ws.table("raw_events"))`
                      WHERE score >= 0
                    """, table: ws.table("best"),
                schema: [
                    "{name: user, type: STRING, mode: REQUIRED}", "{name: from, type: INT64}",
                    "{name: order, type: TIMESTAMP}",
                ],
                keys: ["user"], orderBy: "order"))
        try ws.write(
            "syncs.d/raw.ndjson",
            """
            {"event_id": 1, "user": "ann", "score": 5, "at": "2025-01-01T00:00:00Z"}
            {"event_id": 2, "user": "ann", "score": 9, "at": "2025-01-03T00:00:00Z"}
            {"event_id": 3, "user": "ann", "score": 7, "at": "2025-01-02T00:00:00Z"}
            {"event_id": 4, "user": "bo", "score": -1, "at": "2025-02-01T00:00:00Z"}
            {"event_id": 5, "user": "bo", "score": 2, "at": "2025-01-01T00:00:00Z"}
            {"event_id": 6, "user": "cy 'quoted' `name`", "score": 0, "at": "2025-01-01T12:00:00.5Z"}
            {"event_id": 7, "user": "dee", "score": -5, "at": "2025-01-01T00:00:00Z"}

            """)
        let raw = try ws.run("apply", "--auto-approve", "raw")
        #expect(raw.status == 0, "\(raw)")
        let plan = try ws.run("plan", "best", "--out", "plan.json")
        #expect(plan.status == 0, "\(plan)")
        let planned = try Self.syncPlan(try Self.planJSON(ws), "best")
        #expect((planned["source"] as? [String: Any])?["kind"] as? String == "query")
        let apply = try ws.run("apply", "plan.json")
        #expect(apply.status == 0, "\(apply)")
        // Per user the latest row with a non-negative score; dee has none.
        #expect(
            try ws.rows("best", orderBy: "`user`") == [
                ["ann", "9", micros("2025-01-03T00:00:00Z")],
                ["bo", "2", micros("2025-01-01T00:00:00Z")],
                ["cy 'quoted' `name`", "0", micros("2025-01-01T12:00:00.5Z")],
            ])

        // A second round through the query: the source table changes, the target follows.
        try ws.write(
            "syncs.d/raw.ndjson",
            """
            {"event_id": 8, "user": "ann", "score": 1, "at": "2025-03-01T00:00:00Z"}
            {"event_id": 9, "user": "dee", "score": 4, "at": "2025-03-01T00:00:00Z"}
            {"event_id": 10, "user": "bo", "score": 50, "at": "2024-01-01T00:00:00Z"}

            """)
        #expect(try ws.run("apply", "--auto-approve", "raw").status == 0)
        let second = try ws.run("apply", "--auto-approve", "best")
        #expect(second.status == 0, "\(second)")
        #expect(
            try ws.rows("best", orderBy: "`user`") == [
                ["ann", "1", micros("2025-03-01T00:00:00Z")],
                ["bo", "2", micros("2025-01-01T00:00:00Z")],  // the new row is older: kept
                ["cy 'quoted' `name`", "0", micros("2025-01-01T12:00:00.5Z")],
                ["dee", "4", micros("2025-03-01T00:00:00Z")],
            ])
    }

    /// A query source's rows with a NULL key never match, so they are dropped, not inserted again on every run;
    /// rows that tie under `order_by` are decided by their other columns, greatest first, whatever order
    /// BigQuery reads them in.
    @Test func aQuerySourcesNullKeysAreDroppedAndTiesAreDecidedByTheOtherColumns() throws {
        let ws = try Workspace("e2e_query_nulls")
        try ws.write(
            "syncs.d/q.yaml",
            Self.sync(
                "q",
                source: """
                    type: query
                    query: |
                      SELECT * FROM UNNEST([
                        STRUCT(CAST(NULL AS INT64) AS id, 'nobody' AS v, 1 AS rev),
                        STRUCT(1 AS id, 'apple' AS v, 2 AS rev), STRUCT(1, 'banana', 2), STRUCT(1, 'zebra', 1),
                        STRUCT(2 AS id, 'b' AS v, 5 AS rev), STRUCT(2, 'a', 5)])
                    """, table: ws.table("t"),
                schema: ["{name: id, type: INT64}", "{name: v, type: STRING}", "{name: rev, type: INT64}"],
                keys: ["id"], orderBy: "rev"))
        for round in 1...2 {
            let applied = try ws.run("apply", "--auto-approve", "q")
            #expect(applied.status == 0, "round \(round): \(applied)")
            #expect(try ws.rows("t", orderBy: "id") == [["1", "banana", "2"], ["2", "b", "5"]], "round \(round)")
        }
    }

    // MARK: - gcs

    /// The repo's archive export, which scripts/emulator serves as gs://bqsync-demo-archive/ (BQEMU_GCS_LOCAL_ROOT
    /// defaults to syncs.d/data/gcs). Tests only read it.
    static let gcsExports = E2E.repoRoot + "/syncs.d/data/gcs/bqsync-demo-archive/exports"

    @Test(
        .enabled(
            if: FileManager.default.fileExists(atPath: EndToEndTests.gcsExports + "/part-000.json"),
            "the repo's gs://bqsync-demo-archive files are missing"))
    func gcsSourceLoadsAndMerges() throws {
        let ws = try Workspace("e2e_gcs")
        try ws.write(
            "syncs.d/archive.yaml",
            Self.sync(
                "archive",
                source: "type: gcs\nuris: [gs://bqsync-demo-archive/exports/*.json]\nformat: NEWLINE_DELIMITED_JSON",
                table: ws.table("records"),
                schema: [
                    "{name: region, type: STRING, mode: REQUIRED}", "{name: record_id, type: INT64, mode: REQUIRED}",
                    "{name: payload, type: STRING}", "{name: archived_on, type: DATE}", "{name: version, type: INT64}",
                ],
                keys: ["region", "record_id"], orderBy: "version"))
        // What should land, from the files themselves: per (region, record_id) the greatest version.
        var expected: [String: [String?]] = [:]
        let files = try FileManager.default.contentsOfDirectory(atPath: Self.gcsExports).filter {
            $0.hasSuffix(".json")
        }.sorted()
        #expect(!files.isEmpty)
        for file in files {
            for line in try String(contentsOfFile: Self.gcsExports + "/" + file, encoding: .utf8).split(separator: "\n")
            {
                let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
                let region = try #require(object["region"] as? String)
                let id = try #require(object["record_id"] as? Int)
                let version = try #require(object["version"] as? Int)
                let key = "\(region)/\(id)"
                if let current = expected[key], let old = current[4].flatMap({ Int($0) }), old >= version { continue }
                expected[key] = [
                    region, String(id), object["payload"] as? String, object["archived_on"] as? String, String(version),
                ]
            }
        }
        let plan = try ws.run("plan", "--out", "plan.json")
        #expect(plan.status == 0, "\(plan)")
        #expect(try Self.syncPlan(try Self.planJSON(ws), "archive")["strategy"] as? String == "staged")
        let apply = try ws.run("apply", "plan.json")
        #expect(apply.status == 0, "\(apply)")
        let rows = try ws.rows("records", orderBy: "region, record_id")
        let want = expected.values.sorted { ($0[0]!, Int($0[1]!)!) < ($1[0]!, Int($1[1]!)!) }
        #expect(rows.count == want.count)
        #expect(rows == want)
    }

    // MARK: - every column type

    static let allTypesSchema = [
        "{name: id, type: INT64, mode: REQUIRED}", "{name: s, type: STRING}", "{name: b, type: BYTES}",
        "{name: i, type: INT64}",
        "{name: f, type: FLOAT64}", "{name: n, type: NUMERIC}", "{name: ok, type: BOOL}", "{name: d, type: DATE}",
        "{name: dt, type: DATETIME}", "{name: t, type: TIME}", "{name: ts, type: TIMESTAMP}", "{name: j, type: JSON}",
    ]

    @Test(arguments: ["inline", "staged"])
    func everyColumnType(strategy: String) throws {
        let ws = try Workspace("e2e_types")
        try ws.write(
            "syncs.d/types.yaml",
            Self.sync(
                "types", source: "type: ndjson\npath: types.ndjson", table: ws.table("types"),
                schema: Self.allTypesSchema, keys: ["id"], batch: 2, strategy: strategy))
        try ws.write(
            "syncs.d/types.ndjson",
            """
            {"id": 1, "s": "x", "b": "AAEC/w==", "i": 9223372036854775807, "f": 1.5, "n": "12345678901234567890.123456789", "ok": true, "d": "2024-02-29", "dt": "2024-02-29T12:34:56.789", "t": "23:59:59.999999", "ts": "2024-02-29T12:00:00+02:00", "j": {"a": [1, 2, {"b": null}], "c": "é"}}
            {"id": 2, "s": "", "b": "", "i": -9223372036854775808, "f": -0.25, "n": -1.5, "ok": false, "d": "0001-01-01", "dt": "9999-12-31 23:59:59.999999", "t": "00:00:00", "ts": 0, "j": [1, "two", true]}
            {"id": 3, "s": null, "b": null, "i": null, "f": 1e300, "n": "0.000000001", "ok": null, "d": null, "dt": null, "t": null, "ts": "1970-01-01T00:00:00.000001Z", "j": "just a string"}
            {"id": 4, "i": "42", "f": "-1.25e-5", "n": 7, "ok": "yes", "d": "2025-1-5", "dt": "2025-01-05", "t": "07:08", "ts": "2025-01-05 10:00:00-05:30", "j": null}

            """)
        let apply = try ws.run("apply", "--auto-approve")
        #expect(apply.status == 0, "\(apply)")
        let rows = try ws.rows("types", orderBy: "id").map { row in
            row.enumerated().map { column -> String? in
                switch column.offset {
                case 4: return column.element.flatMap(Double.init).map { "\($0)" }  // FLOAT64 as a number
                case 5: return Self.decimal(column.element)  // NUMERIC as a decimal
                default: return column.element
                }
            }
        }
        #expect(
            rows == [
                [
                    "1", "x", "AAEC/w==", "9223372036854775807", "1.5", "12345678901234567890.123456789", "true",
                    "2024-02-29",
                    "2024-02-29T12:34:56.789000", "23:59:59.999999", micros("2024-02-29T10:00:00Z"),
                    #"{"a":[1,2,{"b":null}],"c":"é"}"#,
                ],
                [
                    "2", "", "", "-9223372036854775808", "-0.25", "-1.5", "false", "0001-01-01",
                    "9999-12-31T23:59:59.999999", "00:00:00", "0",
                    #"[1,"two",true]"#,
                ],
                ["3", nil, nil, nil, "1e+300", "0.000000001", nil, nil, nil, nil, "1", #""just a string""#],
                [
                    "4", nil, nil, "42", "-1.25e-05", "7", "true", "2025-01-05", "2025-01-05T00:00:00", "07:08:00",
                    micros("2025-01-05T15:30:00Z"), nil,
                ],
            ])
    }

    /// Strings that JSON, SQL or the inline parameter's two layers of escaping could mangle land byte for byte,
    /// inline (one JSON STRING parameter) and staged (NDJSON load) alike.
    @Test(arguments: ["inline", "staged"])
    func hostileStringsLandExactly(strategy: String) throws {
        let ws = try Workspace("e2e_strings")
        try ws.write(
            "syncs.d/strings.yaml",
            Self.sync(
                "strings", source: "type: ndjson\npath: strings.ndjson", table: ws.table("strings"),
                schema: ["{name: id, type: INT64, mode: REQUIRED}", "{name: s, type: STRING}"],
                keys: ["id"], batch: 3, strategy: strategy))
        let values = [
            #"q"uote"#, #"back\slash \" \\"#, "new\nline\r\ttab", "ctl \u{01}\u{1f}", "é 😀 \u{2028}\u{2029} \u{feff}",
            #"["looks", "like", {"json": null}]"#, "$[0] ' '' `tick`", "null", "", "   ",
        ]
        var lines = ""
        for (index, value) in values.enumerated() {
            let object = try JSONSerialization.data(withJSONObject: ["id": index + 1, "s": value] as [String: Any])
            lines += String(decoding: object, as: UTF8.self) + "\n"
        }
        try ws.write("syncs.d/strings.ndjson", lines)
        let apply = try ws.run("apply", "--auto-approve")
        #expect(apply.status == 0, "\(apply)")
        let rows = try ws.rows("strings", orderBy: "id")
        #expect(rows == values.enumerated().map { [String($0.offset + 1), $0.element] })
    }

    /// A row too large for any inline batch (its parameter alone over 8 MiB; BigQuery refuses requests over
    /// 10 MB) is refused at plan time under `strategy: inline`, with the place to change, and sent staged
    /// under `auto`. Nothing is sent on the refused path.
    @Test func aRowTooLargeForInlineIsRefusedOrStaged() throws {
        let ws = try Workspace("e2e_big_row")
        let big = String(repeating: "x", count: 9 << 20)
        try ws.write(
            "syncs.d/big.ndjson",
            #"{"id": 1, "s": "small"}"# + "\n" + #"{"id": 2, "s": "\#(big)"}"# + "\n" + #"{"id": 3, "s": "also small"}"#
                + "\n")
        let schema = ["{name: id, type: INT64, mode: REQUIRED}", "{name: s, type: STRING}"]
        try ws.write(
            "syncs.d/big.yaml",
            Self.sync(
                "big", source: "type: ndjson\npath: big.ndjson", table: ws.table("big"), schema: schema,
                keys: ["id"], strategy: "inline"))
        let refused = try ws.run("--log-level", "debug", "--log-format", "json", "apply", "--auto-approve")
        #expect(refused.status != 0, "\(refused)")
        #expect(refused.stderr.contains("big.yaml:"), "\(refused)")
        #expect(refused.stderr.contains("the row with id = '2' is"), "\(refused)")
        #expect(refused.stderr.contains("use strategy: staged or auto"), "\(refused)")
        #expect(refused.sentJobs.isEmpty, "\(refused.sentJobs)")
        #expect(try !ws.tableExists("big"))

        try ws.write(
            "syncs.d/big.yaml",
            Self.sync(
                "big", source: "type: ndjson\npath: big.ndjson", table: ws.table("big"), schema: schema,
                keys: ["id"], strategy: "auto"))
        let plan = try ws.run("plan")
        #expect(plan.status == 0, "\(plan)")
        #expect(plan.stdout.contains("auto: staged, because the row with id = '2'"), "\(plan)")
        let applied = try ws.run("apply", "--auto-approve")
        #expect(applied.status == 0, "\(applied)")
        #expect(
            try ws.rows("big", orderBy: "id", columns: "id, LENGTH(s)") == [
                ["1", "5"], ["2", String(9 << 20)], ["3", "10"],
            ])
    }

    /// Under `auto`, a too-large row that comes first (before any inline batch) still stages every row: the
    /// staged plan is built from the staging files, not from the inline batches that never happened.
    @Test func aTooLargeFirstRowUnderAutoStagesEveryRow() throws {
        let ws = try Workspace("e2e_big_first")
        let big = String(repeating: "y", count: 9 << 20)
        try ws.write(
            "syncs.d/big.ndjson", #"{"id": 1, "s": "\#(big)"}"# + "\n" + #"{"id": 2, "s": "small"}"# + "\n")
        try ws.write(
            "syncs.d/big.yaml",
            Self.sync(
                "big", source: "type: ndjson\npath: big.ndjson", table: ws.table("big"),
                schema: ["{name: id, type: INT64, mode: REQUIRED}", "{name: s, type: STRING}"], keys: ["id"],
                strategy: "auto"))
        let plan = try ws.run("plan", "--out", "plan.json")
        #expect(plan.status == 0, "\(plan)")
        let synced = try Self.syncPlan(try Self.planJSON(ws), "big")
        #expect(synced["strategy"] as? String == "staged")
        #expect(synced["rows"] as? Int == 2, "\(synced)")
        #expect(
            (synced["steps"] as? [[String: Any]])?.contains { $0["kind"] as? String == "merge" } == true, "\(synced)")
        let applied = try ws.run("apply", "plan.json")
        #expect(applied.status == 0, "\(applied)")
        #expect(try ws.rows("big", orderBy: "id", columns: "id, LENGTH(s)") == [["1", String(9 << 20)], ["2", "5"]])
    }

    /// BIGNUMERIC: values are checked (precision 76.76: 38 digits each side) before anything is sent, and a bad
    /// one is an error with its place. The emulator cannot store the type (it maps BIGNUMERIC to DECIMAL(38,38) and
    /// answers 500 to a table with such a column), so the apply must fail cleanly there with nothing merged —
    /// or, on an emulator that can, land the exact values.
    @Test func bignumericIsCheckedAndFailsCleanlyWhereTheEmulatorCannotStoreIt() throws {
        let policy = E2E.defaultPolicy.replacingOccurrences(of: "max_attempts: 2", with: "max_attempts: 1")
        let ws = try Workspace("e2e_bignum", policy: policy)
        try ws.write(
            "syncs.d/big.yaml",
            Self.sync(
                "big", source: "type: ndjson\npath: big.ndjson", table: ws.table("big"),
                schema: ["{name: id, type: INT64, mode: REQUIRED}", "{name: bn, type: BIGNUMERIC}"], keys: ["id"]))
        let tooManyDecimals = "0." + String(repeating: "1", count: 39)
        try ws.write(
            "syncs.d/big.ndjson",
            """
            {"id": 1, "bn": "12345678901234567890123456789012345678.12345678901234567890123456789012345678"}
            {"id": 2, "bn": "\(tooManyDecimals)"}

            """)
        let bad = try ws.run("plan")
        #expect(bad.status == 1, "\(bad)")
        #expect(bad.stderr.contains("syncs.d/big.ndjson:2:17: column 'bn': BIGNUMERIC"), "\(bad)")
        #expect(bad.stderr.contains("more than 38 decimal places"), "\(bad)")

        try ws.write(
            "syncs.d/big.ndjson",
            """
            {"id": 1, "bn": "12345678901234567890123456789012345678.12345678901234567890123456789012345678"}
            {"id": 2, "bn": "-0.5"}

            """)
        let plan = try ws.run("plan")
        #expect(plan.status == 0, "\(plan)")
        let apply = try ws.run("apply", "--auto-approve", timeout: 90)
        if apply.status == 0 {
            let rows = try ws.rows("big", orderBy: "id").map { [$0[0], Self.decimal($0[1])] }
            #expect(
                rows == [
                    ["1", "12345678901234567890123456789012345678.12345678901234567890123456789012345678"],
                    ["2", "-0.5"],
                ])
        } else {
            #expect(apply.status == 1, "\(apply)")
            #expect(apply.stderr.contains("error:"), "\(apply)")
            #expect(try !ws.tableExists("big") || ws.rows("big", orderBy: "id").isEmpty, "nothing merged")
        }
    }
}
