import Foundation
import SyncTestSupport
import Testing

/// `source: type: postgres` with `source.incremental`, end to end: the built bqsync reads a table of the throwaway
/// PostgreSQL server through libpq and merges it into the emulator; each test has a schema of its own there and a
/// dataset of its own in the emulator, so the tests run side by side. The source is set up and read back with psql,
/// the target through the emulator's REST API: neither through bqsync.
@Suite struct PostgresSourceTests {
    static let contactSchema = [
        "{name: id, type: INT64, mode: REQUIRED}", "{name: name, type: STRING}", "{name: amount, type: INT64}",
        "{name: updated_at, type: TIMESTAMP, mode: REQUIRED}",
    ]

    /// A workspace with sync `name` reading table `contacts` of a schema of its own (ids 1…`rows`, the cursor
    /// `updated_at` one second apart from 2025-01-01 00:00:01) into table `contacts` of the workspace's dataset.
    static func contacts(
        _ prefix: String, sync name: String = "contacts", rows: Int, batch: Int = 500, strategy: String = "inline",
        incremental: [String] = ["cursor: updated_at"], policy: String = E2E.defaultPolicy
    ) throws -> (Workspace, PostgresSchema) {
        let ws = try Workspace(prefix, policy: policy)
        let pg = try PostgresSchema(ws.dataset)
        try pg.run(
            """
            CREATE TABLE contacts (id int8 PRIMARY KEY, name text, amount int4, updated_at timestamptz NOT NULL);
            INSERT INTO contacts SELECT g, 'contact ' || g, g * 10,
              timestamptz '2025-01-01 00:00:00+00' + g * interval '1 second' FROM generate_series(1, \(rows)) g;
            """)
        try ws.write(
            "syncs.d/\(name).yaml",
            EndToEndTests.sync(
                name, source: Postgres.source(table: pg.table("contacts"), incremental: incremental),
                table: ws.table("contacts"), schema: contactSchema, keys: ["id"], batch: batch, strategy: strategy))
        return (ws, pg)
    }

    /// The source table as the emulator renders the target (TIMESTAMP as microseconds), ordered by id.
    static func sourceRows(_ pg: PostgresSchema) throws -> [[String?]] {
        try pg.run(
            "SELECT id, name, amount, (extract(epoch FROM updated_at) * 1000000)::bigint FROM contacts ORDER BY id")
    }

    /// The largest cursor in the source, as microseconds.
    static func maxCursor(_ pg: PostgresSchema) throws -> String? {
        try pg.run("SELECT (extract(epoch FROM max(updated_at)) * 1000000)::bigint FROM contacts").first?.first ?? nil
    }

    /// Neither the plan file nor any output of a run shows the URL's password.
    static func expectNoPassword(_ runs: [RunResult], files: [String] = [], in ws: Workspace) throws {
        let password = try Postgres.password()
        for run in runs {
            #expect(!run.stdout.contains(password) && !run.stderr.contains(password), "the password shows: \(run)")
        }
        for file in files {
            #expect(!(try ws.read(file)).contains(password), "the password is in \(file)")
        }
    }

    // MARK: - 1. a full sync, then only the changed rows

    /// A first run reads the whole table (200 rows) and the target equals it; after rows are updated (their cursor
    /// moved) and inserted, the next plan's window reads exactly those 25 rows — in the plan JSON, the text plan
    /// and the statement sent (the watermark as its parameter) — and its apply makes the target equal the source
    /// again; status shows the watermark at the largest cursor, microseconds included, after each apply. A run
    /// with nothing new reads no row and leaves the watermark.
    @Test func aFirstFullSyncThenOnlyTheChangedRows() throws {
        let (ws, pg) = try Self.contacts("pg_e2e", rows: 200)

        #expect(try Postgres.watermark(ws, sync: "contacts", table: "contacts") == nil, "no watermark before a run")
        let first = try ws.run("plan", "--out", "first.json")
        #expect(first.status == 0, "\(first)")
        let firstWindow = try Postgres.window(ws, "first.json", sync: "contacts")
        #expect(firstWindow["rows"] as? Int == 200, "\(firstWindow)")
        #expect(firstWindow["watermark"] == nil && firstWindow["after"] == nil, "a first run: \(firstWindow)")
        #expect(firstWindow["through"] as? String == "2025-01-01 00:03:20+00", "\(firstWindow)")
        #expect(firstWindow["full_refresh"] as? Bool == false)
        #expect(
            first.stdout.contains(
                "window: first run: every row (updated_at NULL included) → 2025-01-01 00:03:20+00: 200 rows"),
            "\(first)")
        let firstRead = try Postgres.database(ws, "first.json", sync: "contacts")
        #expect(firstRead["rows"] as? Int == 200, "\(firstRead)")
        #expect((firstRead["parameters"] as? [String])?.isEmpty == true, "no bound on a first run: \(firstRead)")
        #expect((firstRead["sha256"] as? String)?.count == 64, "\(firstRead)")

        let applied = try ws.run("apply", "first.json")
        #expect(applied.status == 0, "\(applied)")
        #expect(try ws.rows("contacts", orderBy: "id") == (try Self.sourceRows(pg)), "the target equals the source")
        #expect(try Postgres.watermark(ws, sync: "contacts", table: "contacts") == "2025-01-01 00:03:20+00")

        // 15 rows updated (the cursor moved, one of them to a microsecond-precise value that is the new maximum
        // among them), 10 inserted: 25 rows in the next window.
        try pg.run(
            """
            UPDATE contacts SET name = 'changed ' || id, amount = -id,
              updated_at = timestamptz '2025-02-01 00:00:00+00' + id * interval '1 microsecond'
              WHERE id % 10 = 0 AND id <= 150;
            INSERT INTO contacts SELECT g, 'new ' || g, g,
              timestamptz '2025-02-02 00:00:00+00' + (g - 200) * interval '1 microsecond' FROM generate_series(201, 210) g;
            """)
        let second = try ws.run("plan", "--out", "second.json")
        #expect(second.status == 0, "\(second)")
        let window = try Postgres.window(ws, "second.json", sync: "contacts")
        #expect(window["rows"] as? Int == 25, "exactly the changed rows: \(window)")
        #expect(window["watermark"] as? String == "2025-01-01 00:03:20+00", "\(window)")
        #expect(window["after"] as? String == "2025-01-01 00:03:20+00", "no lag: after the watermark: \(window)")
        #expect(window["through"] as? String == "2025-02-02 00:00:00.000010+00", "\(window)")
        #expect(
            second.stdout.contains(
                "window: updated_at > 2025-01-01 00:03:20+00 (the watermark) → 2025-02-02 00:00:00.000010+00: 25 rows"),
            "\(second)")
        let read = try Postgres.database(ws, "second.json", sync: "contacts")
        #expect(read["rows"] as? Int == 25, "the database sent only the window's rows: \(read)")
        #expect(read["parameters"] as? [String] == ["2025-01-01 00:03:20+00"], "the watermark is a parameter: \(read)")
        #expect((read["query"] as? String)?.contains("> $1") == true, "\(read)")
        #expect(
            try EndToEndTests.syncPlan(try EndToEndTests.planJSON(ws, "second.json"), "contacts")["rows"] as? Int == 25)

        let applied2 = try ws.run("apply", "second.json")
        #expect(applied2.status == 0, "\(applied2)")
        let source = try Self.sourceRows(pg)
        #expect(source.count == 210)
        #expect(try ws.rows("contacts", orderBy: "id") == source, "the target equals the source again")
        let watermark = try Postgres.watermark(ws, sync: "contacts", table: "contacts")
        #expect(watermark == "2025-02-02 00:00:00.000010+00", "the largest cursor merged")
        #expect(Postgres.micros(watermark) == (try Self.maxCursor(pg)), "the watermark is the source's largest cursor")

        // Nothing new: the window is empty and the watermark stays.
        let third = try ws.run("plan", "--out", "third.json")
        #expect(third.status == 0, "\(third)")
        #expect(try Postgres.window(ws, "third.json", sync: "contacts")["rows"] as? Int == 0)
        #expect(third.stdout.contains(": 0 rows; the watermark stays 2025-02-02 00:00:00.000010+00"), "\(third)")
        let applied3 = try ws.run("apply", "third.json")
        #expect(applied3.status == 0, "\(applied3)")
        #expect(try Postgres.watermark(ws, sync: "contacts", table: "contacts") == "2025-02-02 00:00:00.000010+00")

        try Self.expectNoPassword(
            [first, applied, second, applied2, third, applied3], files: ["first.json", "second.json"], in: ws)
    }

    // MARK: - NULL cursors

    /// A row whose cursor is NULL is read when the window has no lower bound (a first run without `initial`) —
    /// and the apply of that reviewed plan, which reads the window again up to its end, still finds it (so the
    /// plan is not stale) — but never once there is a watermark, nor on a first run from `initial`.
    @Test func nullCursorRowsAreReadOnlyWithoutALowerBound() throws {
        let ws = try Workspace("pg_nullcursor")
        let pg = try PostgresSchema(ws.dataset)
        try pg.run(
            """
            CREATE TABLE items (id int4 PRIMARY KEY, v text, changed_at timestamp);
            INSERT INTO items SELECT g, 'v' || g, timestamp '2025-03-01 00:00:00' + g * interval '1 hour'
              FROM generate_series(1, 5) g;
            INSERT INTO items VALUES (6, 'never stamped', NULL), (7, 'never stamped either', NULL);
            """)
        let schema = [
            "{name: id, type: INT64, mode: REQUIRED}", "{name: v, type: STRING}", "{name: changed_at, type: DATETIME}",
        ]
        try ws.write(
            "syncs.d/items.yaml",
            EndToEndTests.sync(
                "items", source: Postgres.source(table: pg.table("items"), incremental: ["cursor: changed_at"]),
                table: ws.table("items"), schema: schema, keys: ["id"]))
        try ws.write(
            "syncs.d/later.yaml",
            EndToEndTests.sync(
                "later",
                source: Postgres.source(
                    table: pg.table("items"), incremental: ["cursor: changed_at", "initial: \"2025-03-01 03:00:00\""]),
                table: ws.table("later"), schema: schema, keys: ["id"]))
        func source(_ condition: String = "true") throws -> [[String?]] {
            try pg.run(
                "SELECT id, v, to_char(changed_at, 'YYYY-MM-DD\"T\"HH24:MI:SS') FROM items WHERE \(condition) ORDER BY id"
            )
        }

        let plan = try ws.run("plan", "items", "--out", "first.json")
        #expect(plan.status == 0, "\(plan)")
        #expect(try Postgres.window(ws, "first.json", sync: "items")["rows"] as? Int == 7, "the NULL rows included")
        let applied = try ws.run("apply", "first.json")
        #expect(applied.status == 0, "the plan's own window read again finds the NULL rows: \(applied)")
        #expect(try ws.rows("items", orderBy: "id") == (try source()))
        #expect(try Postgres.watermark(ws, sync: "items", table: "items") == "2025-03-01 05:00:00")

        // A NULL-cursor row changed, and a row past the watermark: only the latter is read.
        try pg.run(
            """
            UPDATE items SET v = 'changed, still NULL' WHERE id = 6;
            INSERT INTO items VALUES (8, 'new', '2025-03-02 00:00:00');
            """)
        let next = try ws.run("plan", "items", "--out", "next.json")
        #expect(next.status == 0, "\(next)")
        #expect(try Postgres.window(ws, "next.json", sync: "items")["rows"] as? Int == 1, "only row 8")
        let nextApplied = try ws.run("apply", "next.json")
        #expect(nextApplied.status == 0, "\(nextApplied)")
        #expect(
            try ws.rows("items", orderBy: "id", columns: "id, v") == [
                ["1", "v1"], ["2", "v2"], ["3", "v3"], ["4", "v4"], ["5", "v5"], ["6", "never stamped"],
                ["7", "never stamped either"], ["8", "new"],
            ])

        // From `initial`: rows at or after it, no NULL row, on the first run too.
        let later = try ws.run("plan", "later", "--out", "later.json")
        #expect(later.status == 0, "\(later)")
        let laterWindow = try Postgres.window(ws, "later.json", sync: "later")
        #expect(laterWindow["rows"] as? Int == 4, "rows 3, 4, 5 and 8: \(laterWindow)")
        #expect(laterWindow["from"] as? String == "2025-03-01 03:00:00", "\(laterWindow)")
        #expect(later.stdout.contains("window: first run: changed_at ≥ 2025-03-01 03:00:00"), "\(later)")
        let laterApplied = try ws.run("apply", "later.json")
        #expect(laterApplied.status == 0, "\(laterApplied)")
        #expect(try ws.rows("later", orderBy: "id") == (try source("changed_at >= '2025-03-01 03:00:00'")))
    }

    // MARK: - 2. kill -9 mid-apply, then resume

    /// `kill -9` of an apply of an incremental window part-way (inline: while its second MERGE of four runs;
    /// staged: while its load runs, which then finishes), then the same plan applied again: the watermark did not
    /// move with the dead apply, the re-run resumes (the dead apply's lease recovered, no step twice) and merges
    /// the same window, the watermark moves to the window's end, and the target equals the source.
    @Test(arguments: ["inline", "staged"])
    func aKilledApplyResumesTheSameWindow(strategy: String) throws {
        let (ws, pg) = try Self.contacts(
            "pg_crash_\(strategy)", sync: "s", rows: 60, batch: 5, strategy: strategy, policy: Reliability.policy)
        try Reliability.ensureStateDataset(ws)
        let initial = try ws.run("apply", "--auto-approve", "s")
        #expect(initial.status == 0, "\(initial)")
        let before = try Postgres.watermark(ws, sync: "s", table: "contacts")
        #expect(before == "2025-01-01 00:01:00+00", "\(initial)")

        try pg.run(
            """
            UPDATE contacts SET name = 'moved ' || id, updated_at = timestamptz '2025-04-01 00:00:00+00' + id * interval '1 second'
              WHERE id % 3 = 0;
            """)
        let planned = try Reliability.plan(ws)
        #expect(try Postgres.window(ws, "plan.json", sync: "s")["rows"] as? Int == 20)
        try #require(planned.strategy == strategy, "\(planned)")
        if strategy == "inline" { try #require(planned.merges.count == 4, "20 rows in batches of 5: \(planned)") }

        let proxy = try FaultProxy(upstream: ws.host)
        let arm =
            strategy == "inline"
            ? try proxy.armStep(planned.merges[1])
            : try proxy.arm(method: "POST", path: "^/upload/")
        let arguments = ["--log-level", "info", "--log-format", "json", "apply", "plan.json"]
        let killed = try ws.start(arguments, environment: proxy.holdingEnvironment)
        let held = try proxy.waitUntilHeld(arm, timeout: 120, watching: killed)
        killed.killHard()
        try #require(held, "the request never came\n\(killed.stderrSoFar)")
        try proxy.release(arm, forward: true)
        #expect(killed.process.terminationReason == .uncaughtSignal, "killed, not finished\n\(killed.stderrSoFar)")
        #expect(
            try ws.rows("contacts", orderBy: "id") != (try Self.sourceRows(pg)), "the kill left the apply unfinished")

        #expect(
            try Postgres.watermark(ws, sync: "s", table: "contacts") == before,
            "the dead apply did not move the watermark")

        let rerun = try ws.run(arguments, timeout: 120, environment: proxy.holdingEnvironment)
        #expect(rerun.status == 0, "\(rerun)")
        #expect(rerun.stderr.contains("recovered the lease"), "the dead apply's lease is recovered: \(rerun)")
        #expect(try ws.rows("contacts", orderBy: "id") == (try Self.sourceRows(pg)), "the target equals the source")
        let steps = try proxy.stats().stepExecutions(planId: planned.planId)
        for step in planned.steps {
            #expect(steps[step] == 1, "step \(step) executed \(steps[step] ?? 0) times over both runs")
        }
        let after = try Postgres.watermark(ws, sync: "s", table: "contacts")
        #expect(after == "2025-04-01 00:01:00+00", "the resumed apply moved the watermark to the window's end")
        #expect(Postgres.micros(after) == (try Self.maxCursor(pg)))
        #expect(try Reliability.leases(ws, table: "contacts").isEmpty, "the lease is released")
    }

    /// Ctrl-C during an apply whose read of the source waits for a lock (a migration holds the table): the apply
    /// asks PostgreSQL to stop the query and ends at once, exit 130, with nothing merged and the watermark where
    /// it was; once the lock is gone the same plan applies.
    @Test func anInterruptedApplyStopsWhileItsSourceIsLocked() throws {
        let (ws, pg) = try Self.contacts("pg_locked", sync: "locked", rows: 10)
        let first = try ws.run("apply", "--auto-approve", "locked")
        #expect(first.status == 0, "\(first)")
        let before = try Self.sourceRows(pg)
        try pg.run("UPDATE contacts SET name = 'planned', updated_at = '2025-03-01 00:00:00+00' WHERE id = 3")
        let plan = try ws.run("plan", "--out", "plan.json")
        #expect(plan.status == 0, "\(plan)")

        // Another session holds the table (its own application_name, to end it below).
        let locker = Process()
        locker.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        locker.arguments = [
            "psql", try Postgres.url(), "-X", "-q", "-c",
            "BEGIN; LOCK TABLE \(pg.table("contacts")) IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(300)",
        ]
        var environment = ProcessInfo.processInfo.environment
        environment["PGAPPNAME"] = "locker_\(pg.name)"
        locker.environment = environment
        locker.standardInput = FileHandle.nullDevice
        locker.standardOutput = FileHandle.nullDevice
        locker.standardError = FileHandle.nullDevice
        try locker.run()
        func unlock() throws {
            try Postgres.psql(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'locker_\(pg.name)'"
            )
            locker.waitUntilExit()
        }
        defer { try? unlock() }
        try #require(
            try Postgres.wait(
                until: "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'locker_\(pg.name)' "
                    + "AND query LIKE '%pg_sleep%' AND state = 'active'", is: "1", timeout: 30),
            "the locking session is in place")

        let running = try ws.start(["apply", "plan.json"])
        let waiting = try Postgres.wait(
            until:
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'bqsync' AND wait_event_type = 'Lock' "
                + "AND query LIKE '%\(pg.name)%'", is: "1", timeout: 60)
        try #require(waiting, "bqsync never waited for the lock\n\(running.stderrSoFar)")
        let interrupted = Date()
        kill(running.process.processIdentifier, SIGINT)
        // The lock is held for 300 s: stopping within a minute (a busy machine's worst) is stopping at once.
        let stopped = try running.wait(timeout: 90)
        #expect(Date().timeIntervalSince(interrupted) < 60, "it stopped at once, not when the lock went")
        #expect(stopped.status == 130, "\(stopped)")
        #expect(stopped.stderr.contains("interrupted while reading the source; nothing was sent"), "\(stopped)")
        #expect(stopped.stderr.contains("canceling statement due to user request"), "PostgreSQL's words: \(stopped)")
        #expect(try ws.rows("contacts", orderBy: "id") == before, "nothing merged")
        #expect(try Postgres.watermark(ws, sync: "locked", table: "contacts") == "2025-01-01 00:00:10+00")

        try unlock()
        let applied = try ws.run("apply", "plan.json")
        #expect(applied.status == 0, "\(applied)")
        #expect(try ws.rows("contacts", orderBy: "id") == (try Self.sourceRows(pg)))
    }

    // MARK: - 3. --full-refresh

    /// After incremental runs, a row's cursor moves back below the watermark: an incremental plan misses it, a
    /// `plan --full-refresh` reads every row (its window says so, with no bound and no watermark), and its apply
    /// makes the target equal the source and leaves the watermark at the source's largest cursor — lower than
    /// before, not the larger of the two. `apply --full-refresh NAME` does the same; with a plan file it is refused.
    @Test func aFullRefreshReadsEveryRowAndResetsTheWatermark() throws {
        let (ws, pg) = try Self.contacts("pg_refresh", sync: "refresh", rows: 30)
        let first = try ws.run("apply", "--auto-approve", "refresh")
        #expect(first.status == 0, "\(first)")
        try pg.run("UPDATE contacts SET name = 'bumped', updated_at = '2025-05-01 00:00:00+00' WHERE id IN (3, 4)")
        let second = try ws.run("apply", "--auto-approve", "refresh")
        #expect(second.status == 0, "\(second)")
        #expect(second.stderr.contains(": 2 rows"), "an incremental run: \(second)")
        #expect(try Postgres.watermark(ws, sync: "refresh", table: "contacts") == "2025-05-01 00:00:00+00")

        // Row 4 goes back in time: below the watermark, so an incremental plan does not see it.
        try pg.run("UPDATE contacts SET name = 'rewound', updated_at = '2024-12-31 00:00:00+00' WHERE id = 4")
        let incremental = try ws.run("plan", "--out", "incremental.json")
        #expect(incremental.status == 0, "\(incremental)")
        #expect(try Postgres.window(ws, "incremental.json", sync: "refresh")["rows"] as? Int == 0)

        let plan = try ws.run("plan", "--full-refresh", "--out", "full.json")
        #expect(plan.status == 0, "\(plan)")
        let window = try Postgres.window(ws, "full.json", sync: "refresh")
        #expect(window["rows"] as? Int == 30, "every row: \(window)")
        #expect(window["full_refresh"] as? Bool == true, "\(window)")
        #expect(window["watermark"] == nil && window["after"] == nil && window["from"] == nil, "\(window)")
        #expect(window["through"] as? String == "2025-05-01 00:00:00+00", "\(window)")
        #expect(plan.stdout.contains("window: full refresh: every row"), "\(plan)")
        #expect(try Postgres.database(ws, "full.json", sync: "refresh")["rows"] as? Int == 30)
        let applied = try ws.run("apply", "full.json")
        #expect(applied.status == 0, "\(applied)")
        #expect(try ws.rows("contacts", orderBy: "id") == (try Self.sourceRows(pg)), "row 4 rewound in the target too")
        #expect(try Postgres.watermark(ws, sync: "refresh", table: "contacts") == "2025-05-01 00:00:00+00")

        // Row 3, the largest cursor, goes back too: a full refresh sets the watermark to the new, lower, maximum.
        try pg.run("UPDATE contacts SET name = 'rewound too', updated_at = '2024-12-30 00:00:00+00' WHERE id = 3")
        let byName = try ws.run("apply", "--auto-approve", "--full-refresh", "refresh")
        #expect(byName.status == 0, "\(byName)")
        #expect(byName.stderr.contains("window: full refresh: every row"), "\(byName)")
        #expect(byName.stderr.contains(": 30 rows"), "\(byName)")
        #expect(try ws.rows("contacts", orderBy: "id") == (try Self.sourceRows(pg)))
        let watermark = try Postgres.watermark(ws, sync: "refresh", table: "contacts")
        #expect(watermark == "2025-01-01 00:00:30+00", "the source's largest cursor now (row 30)")
        #expect(Postgres.micros(watermark) == (try Self.maxCursor(pg)))

        let refused = try ws.run("apply", "--full-refresh", "full.json")
        #expect(refused.status != 0, "\(refused)")
        #expect(refused.stderr.contains("a plan file carries its own window"), "\(refused)")
    }

    // MARK: - 7. a stale plan

    /// `apply PLANFILE` reads the plan's window again: a row changed inside it since the plan (its cursor kept),
    /// or a row added inside it, makes the plan stale (exit 3, nothing sent, the target unchanged), while a row
    /// added past the window's end does not: that plan applies, without the new row, which the next window reads.
    @Test func aRowChangedInsideThePlannedWindowMakesThePlanStale() throws {
        let (ws, pg) = try Self.contacts("pg_stale", sync: "stale", rows: 10)
        let first = try ws.run("apply", "--auto-approve", "stale")
        #expect(first.status == 0, "\(first)")
        let applied = try Self.sourceRows(pg)
        try pg.run("UPDATE contacts SET name = 'reviewed', updated_at = '2025-06-01 00:00:00+00' WHERE id IN (2, 5)")

        // Changed inside the window, its cursor kept: stale.
        let plan = try ws.run("plan", "--out", "plan.json")
        #expect(plan.status == 0, "\(plan)")
        #expect(try Postgres.window(ws, "plan.json", sync: "stale")["rows"] as? Int == 2)
        try pg.run("UPDATE contacts SET name = 'sneaked in' WHERE id = 5")
        let stale = try ws.run("--log-level", "debug", "--log-format", "json", "apply", "plan.json")
        #expect(stale.status == 3, "\(stale)")
        #expect(stale.stderr.contains("stale"), "\(stale)")
        #expect(stale.stderr.contains("changed since the plan"), "\(stale)")
        #expect(stale.sentJobs.isEmpty, "a stale plan sends nothing: \(stale.sentJobs)")
        #expect(try ws.rows("contacts", orderBy: "id") == applied, "the target unchanged")

        // A row added inside the window (a late commit): stale too.
        let plan2 = try ws.run("plan", "--out", "plan2.json")
        #expect(plan2.status == 0, "\(plan2)")
        try pg.run("INSERT INTO contacts VALUES (11, 'late', 110, '2025-05-15 00:00:00+00')")
        let stale2 = try ws.run("apply", "plan2.json")
        #expect(stale2.status == 3, "\(stale2)")
        #expect(stale2.stderr.contains("stale"), "\(stale2)")
        #expect(try ws.rows("contacts", orderBy: "id") == applied, "the target unchanged")

        // A row past the window's end: the plan is not stale, and merges its window without it.
        let plan3 = try ws.run("plan", "--out", "plan3.json")
        #expect(plan3.status == 0, "\(plan3)")
        #expect(try Postgres.window(ws, "plan3.json", sync: "stale")["rows"] as? Int == 3)
        try pg.run("INSERT INTO contacts VALUES (12, 'after the plan', 120, '2025-07-01 00:00:00+00')")
        let fresh = try ws.run("apply", "plan3.json")
        #expect(fresh.status == 0, "a row past the window does not make it stale: \(fresh)")
        #expect(try ws.rows("contacts", orderBy: "id") == (try Self.sourceRows(pg)).filter { $0.first != "12" })
        #expect(try Postgres.watermark(ws, sync: "stale", table: "contacts") == "2025-06-01 00:00:00+00")
        let next = try ws.run("plan", "--out", "next.json")
        #expect(next.status == 0, "\(next)")
        #expect(try Postgres.window(ws, "next.json", sync: "stale")["rows"] as? Int == 1, "row 12, next time")

        // Two plans of the same window: once one is applied, the watermark moved, and the other is stale.
        let other = try ws.run("plan", "--out", "other.json")
        #expect(other.status == 0, "\(other)")
        let applyNext = try ws.run("apply", "next.json")
        #expect(applyNext.status == 0, "\(applyNext)")
        let moved = try ws.run("apply", "other.json")
        #expect(moved.status == 3, "\(moved)")
        #expect(moved.stderr.contains("the watermark of sync 'stale' moved since the plan"), "\(moved)")
        #expect(try ws.rows("contacts", orderBy: "id") == (try Self.sourceRows(pg)))
    }
}

// MARK: - the digest of the rows

extension PostgresSourceTests {
    /// A row updated to the values it had (PostgreSQL writes a new version of it, elsewhere in the table, so an
    /// unordered scan returns it in another place) is no change: the reviewed plan applies, not stale, and its
    /// batches are the plan's. On a first run (the whole table) and in a later window alike.
    @Test func aRowRewrittenWithTheSameValuesIsNoChange() throws {
        let (ws, pg) = try Self.contacts("pg_rewrite", sync: "rewrite", rows: 10, batch: 3)
        let plan = try ws.run("plan", "--out", "first.json")
        #expect(plan.status == 0, "\(plan)")
        try pg.run("UPDATE contacts SET name = name WHERE id IN (1, 4)")
        let first = try ws.run("apply", "first.json")
        #expect(first.status == 0, "the same rows, in another physical order: \(first)")
        #expect(try ws.rows("contacts", orderBy: "id") == (try Self.sourceRows(pg)))

        try pg.run("UPDATE contacts SET name = 'moved', updated_at = '2025-03-01 00:00:00+00' WHERE id IN (2, 5, 7, 9)")
        let next = try ws.run("plan", "--out", "next.json")
        #expect(next.status == 0, "\(next)")
        #expect(try Postgres.window(ws, "next.json", sync: "rewrite")["rows"] as? Int == 4)
        try pg.run("UPDATE contacts SET amount = amount WHERE id IN (2, 7)")
        let applied = try ws.run("apply", "next.json")
        #expect(applied.status == 0, "\(applied)")
        #expect(try ws.rows("contacts", orderBy: "id") == (try Self.sourceRows(pg)))
    }

    /// A row changed after the apply's check of the plan (its one read of the window, docs/architecture.md "One
    /// pass"; the change is made here while the apply takes the target's lease) is not read again: the apply merges
    /// exactly the reviewed rows, its watermark is the plan's end, and the next plan's window holds the change.
    @Test func aRowChangedWhileTheApplyTakesTheLeaseIsLeftToTheNextWindow() throws {
        let (ws, pg) = try Self.contacts("pg_race", sync: "race", rows: 10, batch: 2)
        let first = try ws.run("apply", "--auto-approve", "race")
        #expect(first.status == 0, "\(first)")
        try pg.run("UPDATE contacts SET name = 'planned', updated_at = '2025-03-01 00:00:00+00' WHERE id IN (2, 5, 8)")
        let plan = try ws.run("plan", "--out", "plan.json")
        #expect(plan.status == 0, "\(plan)")
        let reviewed = try Self.sourceRows(pg)

        let proxy = try FaultProxy(upstream: ws.host)
        let arm = try proxy.arm(method: "PATCH", path: "/tables/lease_", body: #"state\\":\\"held"#)
        let running = try ws.start(["apply", "plan.json"], environment: proxy.holdingEnvironment)
        let held = try proxy.waitUntilHeld(arm, timeout: 60, watching: running)
        try #require(held, "the lease was never taken\n\(running.stderrSoFar)")
        try pg.run(
            "UPDATE contacts SET name = 'changed during the apply', updated_at = '2025-04-01 00:00:00+00' WHERE id = 8")
        try proxy.release(arm, forward: true)
        let applied = try running.wait(timeout: 60)
        #expect(applied.status == 0, "\(applied)")
        #expect(try ws.rows("contacts", orderBy: "id") == reviewed, "the reviewed rows, as the plan showed them")
        #expect(try Postgres.watermark(ws, sync: "race", table: "contacts") == "2025-03-01 00:00:00+00")

        let next = try ws.run("plan", "--out", "next.json")
        #expect(next.status == 0, "\(next)")
        #expect(try Postgres.window(ws, "next.json", sync: "race")["rows"] as? Int == 1, "the changed row")
        let again = try ws.run("apply", "next.json")
        #expect(again.status == 0, "\(again)")
        #expect(try ws.rows("contacts", orderBy: "id") == (try Self.sourceRows(pg)))
    }

    /// The plan's digest of the rows tells apart rows whose values differ only in where a control character falls
    /// between two columns (text may hold any byte but NUL): such a change after the plan makes it stale before
    /// anything is sent — no lease, dataset or table — like any other.
    @Test func aValueBoundaryMovedAfterThePlanIsStale() throws {
        let ws = try Workspace("pg_digest")
        let pg = try PostgresSchema(ws.dataset)
        try pg.run(
            """
            CREATE TABLE t (id int8 PRIMARY KEY, a text, b text);
            INSERT INTO t VALUES (1, E'x\\x1F', 'y'), (2, E'p\\x1E', E'\\x1Fq'), (3, 'r', NULL);
            """)
        try ws.write(
            "syncs.d/d.yaml",
            EndToEndTests.sync(
                "d", source: Postgres.source(table: pg.table("t")), table: ws.table("t"),
                schema: [
                    "{name: id, type: INT64, mode: REQUIRED}", "{name: a, type: STRING}", "{name: b, type: STRING}",
                ],
                keys: ["id"], strategy: "inline"))
        for (round, change) in [
            "UPDATE t SET a = 'x', b = E'\\x1Fy' WHERE id = 1",
            "UPDATE t SET a = 'p', b = E'\\x1E\\x1Fq' WHERE id = 2",
            "UPDATE t SET a = 'r', b = '' WHERE id = 3",
        ].enumerated() {
            let plan = try ws.run("plan", "--out", "plan.json")
            #expect(plan.status == 0, "\(plan)")
            try pg.run(change)
            let stale = try ws.run("--log-level", "debug", "--log-format", "json", "apply", "plan.json")
            #expect(stale.status == 3, "round \(round): \(change): \(stale)")
            #expect(stale.stderr.contains("changed since the plan"), "round \(round): \(stale)")
            #expect(stale.sentJobs.isEmpty, "round \(round): nothing sent: \(stale.sentJobs)")
            #expect(try !ws.datasetExists(), "round \(round)")
        }
    }
}

// MARK: - connecting, naming, querying, other cursors

extension PostgresSourceTests {
    /// The three ways to name the server — `url_env`, a `url:` without a password (the password from
    /// PGPASSWORD), and neither (libpq's PG* variables) — read the same rows.
    @Test func connectsThroughURLEnvURLOrLibpqsEnvironment() throws {
        let ws = try Workspace("pg_connect")
        let pg = try PostgresSchema(ws.dataset)
        try pg.run("CREATE TABLE t (id int8 PRIMARY KEY, v text); INSERT INTO t VALUES (1, 'one'), (2, 'two')")
        let port = try Postgres.port()
        let sources = [
            "by_env": "type: postgres\nurl_env: BQSYNC_POSTGRES_URL\ntable: \(pg.table("t"))",
            "by_url": "type: postgres\nurl: postgresql://bqsync@127.0.0.1:\(port)/bqsync\ntable: \(pg.table("t"))",
            "by_libpq": "type: postgres\ntable: \(pg.table("t"))",
        ]
        for (name, source) in sources {
            try ws.write(
                "syncs.d/\(name).yaml",
                EndToEndTests.sync(
                    name, source: source, table: ws.table(name),
                    schema: ["{name: id, type: INT64, mode: REQUIRED}", "{name: v, type: STRING}"], keys: ["id"]))
        }
        let environment = [
            "PGHOST": "127.0.0.1", "PGPORT": port, "PGUSER": "bqsync", "PGDATABASE": "bqsync",
            "PGPASSWORD": try Postgres.password(),
        ]
        let applied = try ws.run(["apply", "--auto-approve"], environment: environment)
        #expect(applied.status == 0, "\(applied)")
        for name in sources.keys {
            #expect(try ws.rows(name, orderBy: "id") == [["1", "one"], ["2", "two"]], "\(name)")
        }
        // Without the password anywhere, libpq's own message says so.
        var bare = environment
        bare["PGPASSWORD"] = nil
        let refused = try ws.run(["plan", "by_url"], environment: bare)
        #expect(refused.status == 1, "\(refused)")
        #expect(refused.stderr.contains("by_url.yaml:"), "\(refused)")
        #expect(
            refused.stderr.contains("password") && refused.stderr.contains("via source.url"),
            "libpq's words about the missing password: \(refused)")
    }

    /// A query source, incremental: the window wraps the query (its own WHERE, a final `;`), a mixed-case
    /// column and a table whose quoted name has a space are matched, and `ignore_unknown_fields` leaves a column
    /// the target lacks unselected.
    @Test func anIncrementalQuerySourceWithQuotedNames() throws {
        let ws = try Workspace("pg_query")
        let pg = try PostgresSchema(ws.dataset)
        try pg.run(
            """
            CREATE TABLE "Contact List" ("Id" int8 PRIMARY KEY, "Full Name" text, "ChangedAt" timestamptz, active bool,
              secret text);
            INSERT INTO "Contact List" SELECT g, 'name ' || g, timestamptz '2025-01-01 00:00:00+00' + g * interval '1 day',
              g % 2 = 0, 'do not copy' FROM generate_series(1, 10) g;
            """)
        let quoted = "\(pg.name).\"Contact List\""
        try ws.write(
            "syncs.d/q.yaml",
            EndToEndTests.sync(
                "q",
                source: """
                    type: postgres
                    url_env: BQSYNC_POSTGRES_URL
                    query: |
                      SELECT "Id", "Full Name" AS name, "ChangedAt", secret
                      FROM \(quoted)
                      WHERE active;
                    ignore_unknown_fields: true
                    incremental:
                      cursor: changedat
                    """, table: ws.table("q"),
                schema: [
                    "{name: id, type: INT64, mode: REQUIRED}", "{name: name, type: STRING}",
                    "{name: changedat, type: TIMESTAMP}",
                ], keys: ["id"]))
        try ws.write(
            "syncs.d/whole.yaml",
            EndToEndTests.sync(
                "whole",
                source: "type: postgres\nurl_env: BQSYNC_POSTGRES_URL\ntable: '\(quoted)'\nignore_unknown_fields: true",
                table: ws.table("whole"),
                schema: ["{name: id, type: INT64, mode: REQUIRED}", "{name: active, type: BOOL}"],
                keys: ["id"]))
        let first = try ws.run("apply", "--auto-approve")
        #expect(first.status == 0, "\(first)")
        #expect(
            try ws.rows("q", orderBy: "id", columns: "id, name") == [2, 4, 6, 8, 10].map { ["\($0)", "name \($0)"] })
        #expect(try ws.query("SELECT COUNT(*) FROM `\(ws.table("whole"))`") == [["10"]])

        try pg.run(
            """
            UPDATE "Contact List" SET "Full Name" = 'renamed', "ChangedAt" = '2025-02-01 00:00:00+00' WHERE "Id" IN (3, 4);
            """)
        let second = try ws.run("plan", "q", "--out", "second.json")
        #expect(second.status == 0, "\(second)")
        #expect(
            try Postgres.window(ws, "second.json", sync: "q")["rows"] as? Int == 1, "row 4: row 3 is not active")
        let query = try #require(try Postgres.database(ws, "second.json", sync: "q")["query"] as? String)
        let selected = query.components(separatedBy: " FROM (").first ?? query
        #expect(!selected.contains("secret"), "a column the target lacks is not selected: \(query)")
        #expect(query.contains("WHERE active) AS bqsync_source WHERE"), "the query wrapped, its `;` gone: \(query)")
        let applied = try ws.run("apply", "second.json")
        #expect(applied.status == 0, "\(applied)")
        #expect(
            try ws.rows("q", orderBy: "id", columns: "id, name") == [
                ["2", "name 2"], ["4", "renamed"], ["6", "name 6"], ["8", "name 8"], ["10", "name 10"],
            ])
    }

    /// INT64 (from int4 and int8), NUMERIC and DATE cursors: each window's bound is sent as a parameter of the
    /// column's own type and reads exactly the rows past the watermark; a DATE cursor's lag goes back whole days.
    @Test func int64NumericAndDateCursors() throws {
        let ws = try Workspace("pg_cursors")
        let pg = try PostgresSchema(ws.dataset)
        try pg.run(
            """
            CREATE TABLE t (id int4 PRIMARY KEY, small int4, version int8, seq numeric(20, 3), day date);
            INSERT INTO t SELECT g, g, 1000000000000 + g, g * 1.5, date '2025-01-01' + g FROM generate_series(1, 10) g;
            """)
        let columns = [
            ("small", "INT64", [String]()), ("version", "INT64", []), ("seq", "NUMERIC", []),
            ("day", "DATE", ["lag: 24h"]),
            ("small_numeric", "NUMERIC", []),
        ]
        for (cursor, type, extra) in columns {
            let column = cursor == "small_numeric" ? "small" : cursor
            try ws.write(
                "syncs.d/\(cursor).yaml",
                EndToEndTests.sync(
                    cursor,
                    source: Postgres.source(
                        query: "SELECT id, \(column) AS c FROM \(pg.table("t"))", incremental: ["cursor: c"] + extra),
                    table: ws.table(cursor),
                    schema: ["{name: id, type: INT64, mode: REQUIRED}", "{name: c, type: \(type)}"], keys: ["id"]))
        }
        let first = try ws.run("apply", "--auto-approve")
        #expect(first.status == 0, "\(first)")
        let marks = try columns.map { try Postgres.watermark(ws, sync: $0.0, table: $0.0) }
        #expect(marks == ["10", "1000000000010", "15", "2025-01-11", "10"], "\(first)")

        try pg.run(
            "UPDATE t SET small = 20 + id, version = version + 100, seq = seq + 100, day = day + 30 WHERE id IN (2, 7)")
        let plan = try ws.run("plan", "--out", "plan.json")
        #expect(plan.status == 0, "\(plan)")
        for (cursor, _, _) in columns {
            let window = try Postgres.window(ws, "plan.json", sync: cursor)
            let read = try Postgres.database(ws, "plan.json", sync: cursor)
            // The DATE cursor re-reads the watermark's own day (lag 24h): row 10, besides 2 and 7.
            #expect(window["rows"] as? Int == (cursor == "day" ? 3 : 2), "\(cursor): \(window)")
            #expect(read["parameters"] as? [String] == [window["after"] as? String ?? "?"], "\(cursor): \(read)")
        }
        #expect(try Postgres.window(ws, "plan.json", sync: "day")["after"] as? String == "2025-01-10")
        let applied = try ws.run("apply", "plan.json")
        #expect(applied.status == 0, "\(applied)")
        let after = try columns.map { try Postgres.watermark(ws, sync: $0.0, table: $0.0) }
        #expect(after == ["27", "1000000000107", "110.5", "2025-02-07", "27"], "\(applied)")
        #expect(
            try ws.rows("seq", orderBy: "id", columns: "id, CAST(c AS STRING)").map {
                [$0[0], EndToEndTests.decimal($0[1])]
            }
                == (try pg.run("SELECT id, seq::text FROM t ORDER BY id")).map {
                    [$0[0], EndToEndTests.decimal($0[1])]
                })
    }
}
