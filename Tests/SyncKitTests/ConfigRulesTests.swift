import Testing

@testable import SyncKit

/// The value rules on their own: units, the query check, the CSV delimiter.
@Suite("config rules")
struct ConfigRulesTests {
    @Test(
        "sizes",
        arguments: [
            ("5 GB", Int64(5_000_000_000)), ("1GiB", 1 << 30), ("0.5 KB", 500), ("1.5 TB", 1_500_000_000_000),
            ("1.123456789012 TB", 1_123_456_789_012), ("512", 512), ("8 B", 8),
            ("9223372036854775807 B", Int64.max), ("007 MB", 7_000_000),
        ] as [(String, Int64)])
    func sizes(_ text: String, _ bytes: Int64) throws {
        #expect(try Units.bytes(text) == bytes)
    }

    @Test(
        "size problems",
        arguments: [
            (
                "99999999999 TB",
                "'99999999999 TB' is too large (a size is at most 9,223,372,036,854,775,807 bytes, about 9.2 EB)"
            ),
            (
                "9223372036854775808",
                "'9223372036854775808' is too large (a size is at most 9,223,372,036,854,775,807 bytes, about 9.2 EB)"
            ),
            (
                "9000000 TiB",
                "'9000000 TiB' is too large (a size is at most 9,223,372,036,854,775,807 bytes, about 9.2 EB)"
            ),
            ("-5 GB", "a size cannot be negative (got '-5 GB')"),
            ("1.5 B", "'1.5 B' is not a whole number of bytes"),
            ("1.2.3 GB", "'1.2.3 GB' is not a whole number of bytes"),
            ("GB", "'GB' is not a size (write e.g. 5 GB or 500 MiB)"),
            (". GB", "'. GB' is not a size (write e.g. 5 GB or 500 MiB)"),
            ("5 XB", "unknown size unit 'XB' (use B, KB, MB, GB, TB, KiB, MiB, GiB or TiB)"),
        ])
    func sizeProblems(_ text: String, _ message: String) {
        #expect(throws: Units.Problem(message)) { try Units.bytes(text) }
    }

    @Test(
        "durations and their written form",
        arguments: [
            ("500ms", "500ms"), ("1s", "1s"), ("90s", "1m30s"), ("1m30s", "1m30s"), ("2h", "2h"), ("0.5s", "500ms"),
            ("3661s", "1h1m1s"),
        ])
    func durations(_ text: String, _ formatted: String) throws {
        #expect(Units.formatDuration(try Units.duration(text)) == formatted)
    }

    @Test(
        "duration problems",
        arguments: [
            ("-1s", "a duration cannot be negative (got '-1s')"),
            ("5", "'5' needs a unit (ms, s, m or h)"),
            ("2d", "unknown duration unit 'd' (use ms, s, m or h)"),
            ("9000h", "'9000h' is longer than a year"),
        ])
    func durationProblems(_ text: String, _ message: String) {
        #expect(throws: Units.Problem(message)) { try Units.duration(text) }
    }

    @Test("percentages and dollars")
    func fractionsAndDollars() throws {
        #expect(try Units.fraction("80%") == 0.8)
        #expect(try Units.fraction("0.25") == 0.25)
        #expect(throws: Units.Problem("'0%' must be more than 0% and at most 100%")) { try Units.fraction("0%") }
        #expect(try Units.dollars("$0.03") == 0.03)
        #expect(throws: Units.Problem("'1e3' is not a dollar amount (write e.g. 0.03)")) { try Units.dollars("1e3") }
    }

    @Test(
        "queries that are one SELECT pass, whatever their strings and comments hold",
        arguments: [
            "SELECT ';' AS x",
            "SELECT 1 AS id -- ; not a statement\n",
            "SELECT 1 /* ; */ AS id",
            "# a comment; with a semicolon\nSELECT 1",
            "(SELECT 1 AS id) UNION ALL (SELECT 2)",
            "((SELECT 1 AS id))",
            "  (\n  -- leading comment\n  SELECT 1)",
            "SELECT 1;",
            "SELECT 1;\n-- trailing comment\n",
            "SELECT 1; /* done */ ;",
            "SELECT \"a;b\" AS s",
            "SELECT `we;ird` FROM `p.d.t`",
            "SELECT '''multi\n;line''' AS s",
            "SELECT \"\"\"a \" ; \"\"\" AS s",
            "SELECT 'it\\'s; fine' AS s",
            "SELECT r'\\d+;' AS pattern",
            "WITH a AS (SELECT 1 AS id) SELECT * FROM a",
            "with lower AS (select 1) select * from lower",
        ])
    func validQueries(_ query: String) {
        #expect(SyncDecoder.queryProblem(query) == nil)
    }

    @Test(
        "queries that are not one SELECT are refused",
        arguments: [
            ("SELECT 1; SELECT 2", "must be a single statement (found ';' followed by more)"),
            ("SELECT 1; DROP TABLE `p.d.t`", "must be a single statement (found ';' followed by more)"),
            ("DROP TABLE x", "must be a SELECT (or WITH … SELECT) query, not 'DROP'"),
            ("(DELETE FROM x WHERE TRUE)", "must be a SELECT (or WITH … SELECT) query, not 'DELETE' in parentheses"),
            ("SELECT 'unterminated", "an unterminated string"),
            ("SELECT `open", "an unterminated `quoted identifier`"),
            ("/* open", "an unterminated /* comment"),
            ("-- only a comment", "must be a SELECT (or WITH … SELECT) query, not nothing"),
            ("'text'", "must be a SELECT (or WITH … SELECT) query, not ''text''"),
        ])
    func invalidQueries(_ query: String, _ problem: String) {
        #expect(SyncDecoder.queryProblem(query) == problem)
    }

    @Test(
        "CSV delimiters are one character that CSV does not use itself",
        arguments: [
            (",", false, nil), (";", false, nil), ("\t", false, nil), ("|", true, nil), ("é", true, nil),
            ("€", false, nil),
            ("\r\n", false, "must be exactly one character"),
            ("||", false, "must be exactly one character"),
            ("", false, "must be exactly one character"),
            ("\"", false, "cannot be the quote character"),
            ("\n", false, "cannot be a line break"),
            ("\r", false, "cannot be a line break"),
            ("\u{2028}", false, "cannot be a line break"),
            ("\u{0}", false, "cannot be a control character"),
            ("€", true, "must be a single-byte (ISO-8859-1) character for a BigQuery load job"),
        ] as [(String, Bool, String?)])
    func delimiters(_ text: String, _ forLoadJob: Bool, _ problem: String?) {
        #expect(SyncDecoder.delimiterProblem(text, forLoadJob: forLoadJob) == problem)
    }

    @Test(
        "column types: BigQuery's names and aliases in any case; others get one message that says what to write",
        arguments: [
            ("int64", nil), ("Integer", nil), ("DECIMAL", nil), ("bigdecimal", nil),
            (" STRING ", "unknown column type ' STRING ' (did you mean 'STRING'?)"),
            ("Double Precision", "unknown column type 'Double Precision' (did you mean 'FLOAT64'?)"),
            ("NVARCHAR", "unknown column type 'NVARCHAR' (did you mean 'STRING'?)"),
            ("TIMESTMAP", "unknown column type 'TIMESTMAP' (did you mean 'TIMESTAMP'?)"),
            ("numeric(38, 9)", "parameterized types are not supported by bqsync: use NUMERIC (got 'numeric(38, 9)')"),
            (
                "BIGNUMERIC(76,38)",
                "parameterized types are not supported by bqsync: use BIGNUMERIC (got 'BIGNUMERIC(76,38)')"
            ),
            ("varchar(20)", "parameterized types are not supported by bqsync: use STRING (got 'varchar(20)')"),
            ("bytes(16)", "parameterized types are not supported by bqsync: use BYTES (got 'bytes(16)')"),
            ("array<int64>", "column type ARRAY is not supported by bqsync"),
            ("STRUCT<a INT64>", "column type STRUCT is not supported by bqsync"),
            ("record", "column type RECORD is not supported by bqsync"),
            ("RANGE<TIMESTAMP>", "column type RANGE is not supported by bqsync"),
            (
                "frob(1)",
                "unknown column type 'frob(1)' (valid types: STRING, BYTES, INT64, FLOAT64, NUMERIC, BIGNUMERIC, BOOL, DATE, DATETIME, TIME, TIMESTAMP, JSON)"
            ),
        ] as [(String, String?)])
    func columnTypes(_ text: String, _ problem: String?) {
        switch ColumnTypes.read(text) {
        case .success: #expect(problem == nil)
        case .failure(let found): #expect(found.message == problem)
        }
    }

    @Test("table names are checked part by part, echoed safely")
    func tableNames() {
        #expect(SyncDecoder.tableNameProblem("bqsync-demo.crm.contacts") == nil)
        #expect(SyncDecoder.tableNameProblem("crm.contacts") == nil)
        #expect(
            SyncDecoder.tableNameProblem("contacts")
                == "'contacts' is not a table name of the form [project.]dataset.table")
        #expect(
            SyncDecoder.tableNameProblem("crm.con\ntacts")
                == "table 'con\\ntacts': a line break is not allowed in a name")
        #expect(SyncDecoder.tableNameProblem("crm`x") == "'crm`x': a backtick is not allowed in a name")
    }
}
