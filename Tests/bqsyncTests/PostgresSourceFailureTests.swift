import Foundation
import SyncTestSupport
import Testing

/// A PostgreSQL source that cannot be read ends the run with exit 1 and a message that names the sync's file, line
/// and column and carries PostgreSQL's own words, and nothing is sent to BigQuery (no job, table or dataset; the
/// JSON log's requests say so). No message shows a password. Mistakes in the definition itself are found by
/// `bqsync validate`, each at its place.
@Suite struct PostgresSourceFailureTests {
    /// One way to fail.
    struct Failure: CustomStringConvertible, Sendable {
        var name: String
        /// The source's `table:` or `query:` line(s) (and any others), given the test's schema.
        var source: @Sendable (PostgresSchema) -> String
        /// Environment for the run, given the server's port and password.
        var environment: @Sendable (_ port: String, _ password: String) -> [String: String] = { _, _ in [:] }
        /// Text the message must hold, given the test's schema.
        var messages: @Sendable (PostgresSchema) -> [String]
        /// The source keys the message may be placed at (the value of the first such `key:` in the file), or
        /// (`{…`) the start of that text.
        var placedAt: [String] = ["table", "query", "url_env"]
        /// Whether `bqsync validate` finds it already.
        var validated = false
        /// Secrets the output must not show, given the environment.
        var secrets: @Sendable (_ password: String) -> [String] = { [$0] }

        var description: String { name }
    }

    static let wrongPassword = "wrong-password-\(UInt32.random(in: 0...UInt32.max))"
    static let unset = "BQSYNC_TEST_UNSET_\(UInt32.random(in: 0...UInt32.max))"

    static let failures: [Failure] = [
        Failure(
            name: "an unparsable URL",
            source: { "url_env: PGF_URL\ntable: \($0.table("t"))" },
            environment: { _, password in ["PGF_URL": "postgresql://bqsync:\(password)@[127.0.0.1/bqsync"] },
            messages: { _ in ["cannot connect", #"end of string reached when looking for matching "]""#] }),
        Failure(
            name: "a bad percent-encoding in the URL's password",
            source: { "url_env: PGF_URL\ntable: \($0.table("t"))" },
            environment: { port, password in
                ["PGF_URL": "postgresql://bqsync:%zz\(password)@127.0.0.1:\(port)/bqsync"]
            },
            messages: { _ in ["cannot connect", "invalid percent-encoded token"] }),
        Failure(
            name: "a server that is down",
            source: { "url_env: PGF_URL\ntable: \($0.table("t"))" },
            environment: { _, password in
                let port = (try? Postgres.closedPort()) ?? 1
                return ["PGF_URL": "postgresql://bqsync:\(password)@127.0.0.1:\(port)/bqsync"]
            },
            messages: { _ in ["cannot connect", "Connection refused"] }),
        Failure(
            name: "a wrong password",
            source: { "url_env: PGF_URL\ntable: \($0.table("t"))" },
            environment: { port, _ in
                ["PGF_URL": "postgresql://bqsync:\(wrongPassword)@127.0.0.1:\(port)/bqsync"]
            },
            messages: { _ in ["cannot connect", #"password authentication failed for user "bqsync""#] },
            secrets: { [$0, wrongPassword] }),
        Failure(
            name: "url_env naming an unset variable",
            source: { "url_env: \(unset)\ntable: \($0.table("t"))" },
            messages: { _ in ["source.url_env names $\(unset), which is not set"] }, placedAt: ["url_env"]),
        Failure(
            name: "a missing table",
            source: { "url_env: BQSYNC_POSTGRES_URL\ntable: \($0.table("missing"))" },
            messages: { [#"relation "\#($0.table("missing"))" does not exist"#] }),
        Failure(
            name: "an unsupported type (an array)",
            source: { "url_env: BQSYNC_POSTGRES_URL\ntable: \($0.table("arrays"))" },
            messages: { _ in ["column 'tags' is PostgreSQL type integer[]"] }),
        Failure(
            name: "an unsupported type (a point, from a query)",
            source: {
                "url_env: BQSYNC_POSTGRES_URL\nquery: SELECT id, v, position AS tags FROM \($0.table("points"))"
            },
            messages: { _ in ["column 'tags' is PostgreSQL type point"] }),
        Failure(
            name: "a source without the merge key",
            source: { "url_env: BQSYNC_POSTGRES_URL\nquery: SELECT v FROM \($0.table("t"))" },
            messages: { _ in ["the source returns no column 'id', a merge key"] }, placedAt: ["keys"]),
        Failure(
            name: "a column the target lacks",
            source: { "url_env: BQSYNC_POSTGRES_URL\nquery: SELECT id, v, 1 AS extra FROM \($0.table("t"))" },
            messages: { _ in ["column 'extra' of the source is not a column of the target"] }, placedAt: ["query"]),
        Failure(
            name: "a type the target column cannot take",
            source: { "url_env: BQSYNC_POSTGRES_URL\nquery: SELECT id, v, NULL::bytea AS tags FROM \($0.table("t"))" },
            messages: { _ in ["column 'tags' is PostgreSQL bytea, which fills a BigQuery BYTES column, not STRING"] },
            placedAt: ["{name: tags"]),
        Failure(
            name: "two statements",
            source: { "url_env: BQSYNC_POSTGRES_URL\nquery: SELECT id, v FROM \($0.table("t")); SELECT 2" },
            messages: { _ in ["must be a single statement"] }, placedAt: ["query"], validated: true),
        Failure(
            name: "a DELETE",
            source: { "url_env: BQSYNC_POSTGRES_URL\nquery: DELETE FROM \($0.table("t")) RETURNING id, v" },
            messages: { _ in ["must be a SELECT"] }, placedAt: ["query"], validated: true),
        Failure(
            name: "a DELETE inside a WITH",
            source: {
                "url_env: BQSYNC_POSTGRES_URL\nquery: WITH gone AS (DELETE FROM \($0.table("t")) RETURNING id, v) SELECT * FROM gone"
            },
            messages: { _ in ["ERROR:", "data-modifying statement"] }, placedAt: ["query"]),
        Failure(
            name: "a query that fails while its rows stream",
            source: {
                "url_env: BQSYNC_POSTGRES_URL\nquery: SELECT id, (10 / (id - 3))::text AS v FROM \($0.table("t"))"
            },
            messages: { _ in ["the source query failed", "division by zero"] }, placedAt: ["query"]),
    ]

    @Test(arguments: failures)
    func aSourceThatCannotBeReadSendsNothing(failure: Failure) throws {
        let index = Self.failures.firstIndex { $0.name == failure.name } ?? 0
        let ws = try Workspace("pg_fail_\(index)")
        let pg = try PostgresSchema(ws.dataset)
        try pg.run(
            """
            CREATE TABLE t (id int8 PRIMARY KEY, v text);
            INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 5) g;
            CREATE TABLE arrays (id int8 PRIMARY KEY, v text, tags int[]);
            INSERT INTO arrays VALUES (1, 'a', '{1,2}');
            CREATE TABLE points (id int8 PRIMARY KEY, v text, position point);
            INSERT INTO points VALUES (1, 'a', '(1,2)');
            """)
        let definition = EndToEndTests.sync(
            "f", source: "type: postgres\n" + failure.source(pg), table: ws.table("t"),
            schema: [
                "{name: id, type: INT64, mode: REQUIRED}", "{name: v, type: STRING}", "{name: tags, type: STRING}",
            ],
            keys: ["id"])
        try ws.write("syncs.d/f.yaml", definition)
        let password = try Postgres.password()
        let environment = failure.environment(try Postgres.port(), password)

        let run = try ws.run(
            ["--log-level", "debug", "--log-format", "json", "apply", "--auto-approve", "f"], environment: environment)
        #expect(run.status == 1, "\(failure): \(run)")
        for message in failure.messages(pg) {
            #expect(run.stderr.contains(message), "\(failure): '\(message)' in\n\(run.stderr)")
        }
        let places = failure.placedAt.compactMap { Postgres.place(of: $0, in: definition) }
        #expect(!places.isEmpty, "\(failure.placedAt) in\n\(definition)")
        #expect(
            places.contains { run.stderr.contains("syncs.d/f.yaml:\($0): ") },
            "\(failure): the message names the definition at one of \(places):\n\(run.stderr)")
        #expect(!run.requests.isEmpty || failure.validated, "the JSON log was read: \(run)")
        #expect(run.sentJobs.isEmpty, "\(failure): nothing sent: \(run.sentJobs)")
        #expect(try !ws.datasetExists(), "\(failure): no dataset created")
        for secret in failure.secrets(password) {
            #expect(
                !run.stderr.contains(secret) && !run.stdout.contains(secret), "\(failure): a password shows:\n\(run)")
        }
        #expect(try pg.run("SELECT count(*) FROM t") == [["5"]], "\(failure): the source is untouched")

        let validate = try ws.run(["validate"], environment: environment)
        #expect(validate.status == (failure.validated ? 1 : 0), "\(failure): \(validate)")
        if failure.validated {
            #expect(
                places.contains { validate.stdout.contains("syncs.d/f.yaml:\($0): error:") },
                "\(failure): \(validate)")
        }
    }

    // MARK: - 6. validation

    /// `bqsync validate` finds each mistake of an incremental or PostgreSQL definition at its file, line and
    /// column — without connecting: the definitions name no reachable server — and passes a correct one.
    @Test func validateFindsEachMistakeAtItsPlace() throws {
        let ws = try Workspace("pg_validate")
        let schema = [
            "{name: id, type: INT64, mode: REQUIRED}", "{name: name, type: STRING}",
            "{name: score, type: FLOAT64}", "{name: updated_at, type: TIMESTAMP}",
        ]
        func write(_ name: String, _ source: String) throws -> String {
            let text = EndToEndTests.sync(
                name, source: source, table: ws.table(name), schema: schema, keys: ["id"])
            try ws.write("syncs.d/\(name).yaml", text)
            return text
        }
        let pg = "type: postgres\nurl: postgresql://bqsync@127.0.0.1:1/nowhere\n"
        let files = [
            (
                "cursor_missing",
                try write("cursor_missing", pg + "table: public.t\nincremental:\n  cursor: changed_at"),
                "cursor",
                "'source.incremental.cursor': column 'changed_at' is not in 'target.schema'"
            ),
            (
                "cursor_string", try write("cursor_string", pg + "table: public.t\nincremental:\n  cursor: name"),
                "cursor",
                "'source.incremental.cursor': column 'name' is STRING; a cursor is TIMESTAMP, DATETIME, DATE, INT64, NUMERIC"
            ),
            (
                "cursor_float",
                try write("cursor_float", "type: ndjson\npath: x.ndjson\nincremental:\n  cursor: score"),
                "cursor",
                "'source.incremental.cursor': column 'score' is FLOAT64; a cursor is"
            ),
            (
                "both", try write("both", pg + "table: public.t\nquery: SELECT * FROM public.t"), "table",
                "'source.table' and 'source.query' cannot both be set"
            ),
            (
                "password",
                try write("password", "type: postgres\nurl: postgresql://u:secret@host/db\ntable: public.t"), "url",
                "'source.url': the URI holds a password"
            ),
            (
                "password_parameter",
                try write(
                    "password_parameter", "type: postgres\nurl: postgresql://u@host/db?password=secret\ntable: t"),
                "url", "'source.url': the URI holds a password parameter"
            ),
        ]
        _ = try write(
            "fine",
            pg + "table: public.t\nincremental:\n  cursor: updated_at\n  lag: 5m\n  initial: \"2024-01-01T00:00:00Z\"")

        let validate = try ws.run("validate")
        #expect(validate.status == 1, "\(validate)")
        for (name, text, key, message) in files {
            let place = try #require(Postgres.place(of: key, in: text), "\(key) in \(text)")
            #expect(
                validate.stdout.contains("syncs.d/\(name).yaml:\(place): error: \(message)"),
                "\(name) at \(place): \(message)\n\(validate)")
        }
        #expect(!validate.stdout.contains("fine.yaml"), "a correct definition is not reported: \(validate)")
        #expect(validate.stdout.contains("\(files.count) errors in "), "one error each: \(validate)")
    }
}
