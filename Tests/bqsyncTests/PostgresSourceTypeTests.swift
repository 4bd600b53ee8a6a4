import Foundation
import SyncTestSupport
import Testing

/// Every PostgreSQL type bqsync maps, with edge values, into the BigQuery type it maps to (and some into the
/// others a column of that type may fill), inline and staged; read by a session whose own settings would change
/// every text form (time zone, date style, float digits, bytea output), which bqsync's transaction must set aside.
extension PostgresSourceTests {
    static let typeColumns: [(pg: String, bq: String)] = [
        ("id int4 PRIMARY KEY", "{name: id, type: INT64, mode: REQUIRED}"),
        ("i2 int2", "{name: i2, type: INT64}"), ("i4 int4", "{name: i4, type: INT64}"),
        ("i8 int8", "{name: i8, type: INT64}"), ("n numeric(38, 9)", "{name: n, type: NUMERIC}"),
        ("f4 float4", "{name: f4, type: FLOAT64}"), ("f8 float8", "{name: f8, type: FLOAT64}"),
        ("ok bool", "{name: ok, type: BOOL}"), ("s text", "{name: s, type: STRING}"),
        ("vc varchar(10)", "{name: vc, type: STRING}"), ("ch char(5)", "{name: ch, type: STRING}"),
        ("b bytea", "{name: b, type: BYTES}"), ("d date", "{name: d, type: DATE}"),
        ("ts timestamp", "{name: ts, type: DATETIME}"), ("tz timestamptz", "{name: tz, type: TIMESTAMP}"),
        ("t time", "{name: t, type: TIME}"), ("j json", "{name: j, type: JSON}"),
        ("jb jsonb", "{name: jb, type: JSON}"),
        ("u uuid", "{name: u, type: STRING}"),
        // Other targets a type may fill.
        ("i4n int4", "{name: i4n, type: NUMERIC}"), ("i8s int8", "{name: i8s, type: STRING}"),
        ("nf numeric", "{name: nf, type: FLOAT64}"), ("ns numeric", "{name: ns, type: STRING}"),
        ("jbs jsonb", "{name: jbs, type: STRING}"), ("tzs timestamptz", "{name: tzs, type: STRING}"),
        ("ds date", "{name: ds, type: STRING}"),
    ]

    /// 120 bytes (PostgreSQL's base64 breaks lines after 76 characters; BigQuery's has none).
    static let longBytes = Data((0..<60).flatMap { _ in [UInt8(0x00), 0xFF] })

    static let typeRows = """
        INSERT INTO types VALUES
          (1, -32768, -2147483648, -9223372036854775808, -12345678901234567890.123456789, -1024.75, -0.1, false,
           '日本語 🎉', 'ünïcødé', 'ab', '\\x00ff00', '2024-02-29', '2024-02-29 12:34:56.123456',
           '2024-02-29 12:00:00.000001+02', '23:59:59.999999', '{"b": 1, "a": [true, null]}',
           '{"b": 1, "a": [true, null]}', 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11',
           2147483647, 9223372036854775807, 0.30000000000000004, 12345678901234567890.123456789012,
           '{"b": 1, "a": [true, null]}', '2024-02-29 12:00:00.000001+02', '2024-02-29'),
          (2, 32767, 2147483647, 9223372036854775807, 0.000000001, 0.5, 1e300, true,
           '', '', '', '', '0001-01-01', '9999-12-31 23:59:59.999999',
           '1970-01-01 00:00:00+00', '00:00:00', '"x"', '[1, "two"]', '00000000-0000-0000-0000-000000000000',
           -1, -1, -2.5, -0.5, '"x"', '1970-01-01 00:00:00+00', '0001-01-01'),
          (4, 0, 0, 0, 0, 0, 5e-324, true, E'tab\\there\\nnew "quoted" \\\\ back', 'x', 'abcde',
           decode(repeat('00ff', 60), 'hex'), '2025-01-05', '2025-01-05 00:00:00', '2025-01-05 10:00:00-05:30',
           '07:08:00', 'null', '{"nested": {"k": "é"}}', '00000000-0000-0000-0000-000000000001',
           0, 0, 0, 0, 'null', '2025-01-05 10:00:00-05:30', '2025-01-05');
        INSERT INTO types (id) VALUES (3);
        INSERT INTO types (id, f8) VALUES (5, 0.30000000000000004), (6, 'NaN'), (7, '-Infinity');
        """

    /// What the emulator must hold, after `normalized` (FLOAT64 as a Swift Double, NUMERIC as a Decimal, JSON
    /// re-serialized with sorted keys: the emulator's spelling of each is not the point).
    static var expectedTypeRows: [[String?]] {
        let none = [String?](repeating: nil, count: typeColumns.count - 1)
        func only(_ id: String, f8: String) -> [String?] {
            var row: [String?] = [id] + none
            row[6] = f8
            return row
        }
        return [
            [
                "1", "-32768", "-2147483648", "-9223372036854775808", "-12345678901234567890.123456789", "-1024.75",
                "-0.1", "false", "日本語 🎉", "ünïcødé", "ab   ", "AP8A", "2024-02-29", "2024-02-29T12:34:56.123456",
                micros("2024-02-29T10:00:00.000001Z"), "23:59:59.999999", #"{"a":[true,null],"b":1}"#,
                #"{"a":[true,null],"b":1}"#, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
                "2147483647", "9223372036854775807", "0.30000000000000004", "12345678901234567890.123456789012",
                #"{"a": [true, null], "b": 1}"#, "2024-02-29 10:00:00.000001+00", "2024-02-29",
            ],
            [
                "2", "32767", "2147483647", "9223372036854775807", "0.000000001", "0.5", "1e+300", "true", "", "",
                "     ", "", "0001-01-01", "9999-12-31T23:59:59.999999", "0", "00:00:00", #""x""#, #"[1,"two"]"#,
                "00000000-0000-0000-0000-000000000000", "-1", "-1", "-2.5", "-0.5", #""x""#,
                "1970-01-01 00:00:00+00", "0001-01-01",
            ],
            ["3"] + none,
            [
                "4", "0", "0", "0", "0", "0.0", "5e-324", "true", "tab\there\nnew \"quoted\" \\ back", "x", "abcde",
                longBytes.base64EncodedString(), "2025-01-05", "2025-01-05T00:00:00",
                micros("2025-01-05T15:30:00Z"), "07:08:00", "null", #"{"nested":{"k":"é"}}"#,
                "00000000-0000-0000-0000-000000000001", "0", "0", "0.0", "0", "null", "2025-01-05 15:30:00+00",
                "2025-01-05",
            ],
            only("5", f8: "0.30000000000000004"),
            only("6", f8: "nan"),
            only("7", f8: "-inf"),
        ]
    }

    /// A cell as compared: by type, not by the emulator's spelling.
    static func normalized(_ rows: [[String?]]) -> [[String?]] {
        let types = typeColumns.map { column in
            column.bq.split(separator: " ").drop { $0 != "type:" }.dropFirst().first.map {
                $0.trimmingCharacters(in: CharacterSet(charactersIn: ",}"))
            } ?? ""
        }
        return rows.map { row in
            row.enumerated().map { index, cell -> String? in
                guard let cell, index < types.count else { return cell }
                switch types[index] {
                case "FLOAT64": return Double(cell).map { "\($0)" } ?? cell
                case "NUMERIC": return EndToEndTests.decimal(cell)
                case "JSON":
                    guard
                        let value = try? JSONSerialization.jsonObject(
                            with: Data(cell.utf8), options: [.fragmentsAllowed]),
                        let data = try? JSONSerialization.data(
                            withJSONObject: value, options: [.sortedKeys, .fragmentsAllowed, .withoutEscapingSlashes])
                    else { return cell }
                    return String(decoding: data, as: UTF8.self)
                default: return cell
                }
            }
        }
    }

    /// The URL with session settings that would change every text form bqsync reads, were they left in force.
    static func hostileURL() throws -> String {
        let options = "-c TimeZone=Asia/Kolkata -c DateStyle=SQL,DMY -c extra_float_digits=-3 -c bytea_output=escape"
        let encoded = try #require(options.addingPercentEncoding(withAllowedCharacters: .alphanumerics))
        return try Postgres.url() + "?options=" + encoded
    }

    /// Each mapped type and its edge values — NULLs, the integers' extremes, NUMERIC's 9 decimals, floats that
    /// need all 17 digits (and NaN, -Infinity, the smallest subnormal), unicode, the empty string beside NULL,
    /// char(n)'s padding, bytea with zero bytes and longer than a base64 line, DATETIME and TIMESTAMP with
    /// microseconds, an offset other than UTC, JSON that is a string or null — land as exactly these BigQuery values.
    @Test(arguments: ["inline", "staged"])
    func everyMappedTypeRoundTrips(strategy: String) throws {
        let ws = try Workspace("pg_types_\(strategy)")
        let pg = try PostgresSchema(ws.dataset)
        try pg.run(
            "CREATE TABLE types (\(Self.typeColumns.map(\.pg).joined(separator: ", ")));\n" + Self.typeRows)
        let hostile = try Self.hostileURL()
        let settings = try Postgres.psql("SHOW DateStyle", url: hostile)
        try #require(settings == [["SQL, DMY"]], "the session settings take effect: \(settings)")
        try ws.write(
            "syncs.d/types.yaml",
            EndToEndTests.sync(
                "types", source: Postgres.source(table: pg.table("types"), urlEnv: "PG_TYPES_URL"),
                table: ws.table("types"), schema: Self.typeColumns.map(\.bq), keys: ["id"], batch: 3,
                strategy: strategy))
        let plan = try ws.run(["plan", "--out", "plan.json"], environment: ["PG_TYPES_URL": hostile])
        #expect(plan.status == 0, "\(plan)")
        let applied = try ws.run(["apply", "plan.json"], environment: ["PG_TYPES_URL": hostile])
        #expect(applied.status == 0, "the apply reads the same rows again, so it is not stale: \(applied)")
        let rows = Self.normalized(try ws.rows("types", orderBy: "id"))
        let expected = Self.normalized(Self.expectedTypeRows)
        #expect(rows.count == expected.count, "\(applied)")
        for (got, want) in zip(rows, expected) where got != want {
            func shown(_ cell: String?) -> String { cell.map { "'\($0)'" } ?? "NULL" }
            let columns = Self.typeColumns.indices.filter { $0 < got.count && $0 < want.count && got[$0] != want[$0] }
            let differences = columns.map {
                "\(Self.typeColumns[$0].pg): got \(shown(got[$0])), want \(shown(want[$0]))"
            }
            Issue.record("row \(want[0] ?? "?"): \(differences.joined(separator: "; "))")
        }
    }

    /// Values PostgreSQL holds and BigQuery cannot (an infinite timestamp, a time of 24:00, a year past 9999, a
    /// NaN or a tenth decimal for NUMERIC) are row errors naming the row and the column, and nothing is sent.
    @Test func valuesBigQueryCannotHoldAreRowErrors() throws {
        let ws = try Workspace("pg_rowerrors")
        let pg = try PostgresSchema(ws.dataset)
        try pg.run(
            """
            CREATE TABLE odd (id int4 PRIMARY KEY, ts timestamp, t time, n numeric);
            INSERT INTO odd VALUES (1, '2025-01-01', '12:00', 1), (2, 'infinity', NULL, NULL), (3, NULL, '24:00:00', NULL),
              (4, '10000-01-01', NULL, NULL), (5, NULL, NULL, 'NaN'), (6, NULL, NULL, 1.0123456789);
            """)
        try ws.write(
            "syncs.d/odd.yaml",
            EndToEndTests.sync(
                "odd", source: Postgres.source(table: pg.table("odd")), table: ws.table("odd"),
                schema: [
                    "{name: id, type: INT64, mode: REQUIRED}", "{name: ts, type: DATETIME}", "{name: t, type: TIME}",
                    "{name: n, type: NUMERIC}",
                ], keys: ["id"]))
        let run = try ws.run("--log-level", "debug", "--log-format", "json", "apply", "--auto-approve", "odd")
        #expect(run.status == 1, "\(run)")
        let at = "postgres:\(pg.table("odd"))"
        for expected in [
            "\(at):2:2: error: column 'ts': invalid DATETIME 'infinity'",
            "\(at):3:3: error: column 't': invalid TIME '24:00:00'",
            "\(at):4:2: error: column 'ts': invalid DATETIME '10000-01-01 00:00:00'",
            "\(at):5:4: error: column 'n': invalid NUMERIC 'NaN'",
            "\(at):6:4: error: column 'n': NUMERIC '1.0123456789' has more than 9 decimal places",
        ] {
            #expect(run.stderr.contains(expected), "\(expected)\n\(run)")
        }
        #expect(run.sentJobs.isEmpty, "nothing sent: \(run.sentJobs)")
        #expect(try !ws.tableExists("odd"))
    }
}
