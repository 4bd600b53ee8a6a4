import Foundation
import SyncTestSupport
import Testing

/// `kill -9` of bqsync during `apply`, at a known point each time, then `apply` of the same plan file again. The
/// point is a request held at the fault proxy (killed while it is in flight; the proxy then forwards it — the
/// server did the work, the client died — or drops it), or a read of the source file (a FIFO the test feeds,
/// killed while bqsync waits for the rest). Each re-run must end with the exact table, resume rather than restart
/// (no step runs twice: counted at the proxy; finished steps adopted), and recover the dead apply's lease.
///
/// The suite runs a selection; `BQSYNC_CRASH_POINTS=all` runs every point (scripts/soak-crash).
@Suite struct CrashResumeTests {
    /// Where the kill happens.
    struct Point: CustomStringConvertible, Sendable {
        enum Trigger: Sendable {
            /// Hold the nth request matching (method, path regex, body regex); forward it after the kill, or drop it.
            case request(method: String, path: String, body: String, nth: Int, forward: Bool)
            /// Kill while bqsync reads the source file: its first read (the staleness check) or its second (the rows).
            case sourceRead(pass: Int)
        }

        var name: String
        var strategy: String = "inline"
        /// The target does not exist yet (the plan creates it).
        var createsTarget = false
        var trigger: @Sendable (PlannedSync, Workspace) -> Trigger
        /// Whether the killed apply held the target's lease (the re-run must recover it).
        var holdsLease: Bool
        /// In the suite's selection (the rest run under `BQSYNC_CRASH_POINTS=all`).
        var inSuite = false
        /// Faults armed at the proxy before the apply: (method, path regex, body regex, fault kind).
        var faults: @Sendable (PlannedSync, Workspace) -> [(String, String, String, String)] = { _, _ in [] }

        var description: String { name }
    }

    static let notDry = #"^(?!.*"dryRun":true)"#
    static let dry = #""dryRun":true"#
    static let endOfPath = #"(\?|$)"#

    static func post(_ body: String, nth: Int = 1, forward: Bool) -> Point.Trigger {
        .request(method: "POST", path: #"/jobs(\?|$)"#, body: body, nth: nth, forward: forward)
    }

    static func job(_ id: String) -> String { #""jobId":""# + id + #"""# }

    /// A release of the lease: the lease's description (JSON inside the patch's JSON) says `"state":"released"`.
    static let released = #"state\\":\\"released"#

    static let allPoints: [Point] = [
        // Reads.
        // The one read of the source: the staleness check, which keeps the batches it proves unchanged for the
        // apply (docs/architecture.md, "One pass"), before the lease is taken.
        Point(
            name: "reading the source (staleness check, batches kept)", trigger: { _, _ in .sourceRead(pass: 1) },
            holdsLease: false, inSuite: true),
        Point(
            name: "tables.get of the target",
            trigger: { _, ws in
                .request(
                    method: "GET", path: "/datasets/\(ws.dataset)/tables/t" + endOfPath, body: "", nth: 1,
                    forward: false)
            }, holdsLease: false, inSuite: true),
        // The lease: a table in the state dataset, read, then created.
        Point(
            name: "tables.get of the lease",
            trigger: { _, _ in
                .request(method: "GET", path: "/datasets/bqsync/tables/lease_", body: "", nth: 1, forward: true)
            }, holdsLease: false),
        Point(
            name: "lease insert (never arrived)",
            trigger: { _, _ in
                .request(
                    method: "POST", path: "/datasets/bqsync/tables" + endOfPath, body: "lease_", nth: 1, forward: false)
            }, holdsLease: false),
        Point(
            name: "lease insert (ran: the dead apply holds the lease)",
            trigger: { _, _ in
                .request(
                    method: "POST", path: "/datasets/bqsync/tables" + endOfPath, body: "lease_", nth: 1, forward: true)
            }, holdsLease: true, inSuite: true),
        // MERGEs.
        Point(
            name: "first MERGE (never arrived)",
            trigger: { plan, _ in post(job(plan.merges[0] + "_1"), forward: false) }, holdsLease: true),
        Point(
            name: "first MERGE (ran)", trigger: { plan, _ in post(job(plan.merges[0] + "_1"), forward: true) },
            holdsLease: true),
        Point(
            name: "second MERGE (ran)", trigger: { plan, _ in post(job(plan.merges[1] + "_1"), forward: true) },
            holdsLease: true,
            inSuite: true),
        Point(
            name: "last MERGE (ran)",
            trigger: { plan, _ in post(job(plan.merges[plan.merges.count - 1] + "_1"), forward: true) },
            holdsLease: true),
        // Bookkeeping: the run record (tabledata.insertAll) and the release (an etag-guarded tables.patch).
        Point(
            name: "run record (never arrived)",
            trigger: { _, _ in
                .request(method: "POST", path: "/tables/run_records/insertAll", body: "", nth: 1, forward: false)
            }, holdsLease: true),
        Point(
            name: "run record (ran: the run is recorded, the lease still held)",
            trigger: { _, _ in
                .request(method: "POST", path: "/tables/run_records/insertAll", body: "", nth: 1, forward: true)
            }, holdsLease: true, inSuite: true),
        Point(
            name: "lease release (never arrived)",
            trigger: { _, _ in
                .request(method: "PATCH", path: "/tables/lease_", body: released, nth: 1, forward: false)
            }, holdsLease: true),
        Point(
            name: "lease release (ran)",
            trigger: { _, _ in
                .request(method: "PATCH", path: "/tables/lease_", body: released, nth: 1, forward: true)
            }, holdsLease: false),
        // Staged: the staging table, the load, the MERGE.
        Point(
            name: "staged: creating the staging table (ran)", strategy: "staged",
            trigger: { _, ws in
                .request(
                    method: "POST", path: "/datasets/\(ws.dataset)/tables" + endOfPath, body: "bqsync_stage_", nth: 1,
                    forward: true)
            }, holdsLease: true),
        Point(
            name: "staged: load upload (never arrived)", strategy: "staged",
            trigger: { _, _ in
                .request(method: "POST", path: "^/upload/", body: "", nth: 1, forward: false)
            }, holdsLease: true),
        Point(
            name: "staged: load upload (ran)", strategy: "staged",
            trigger: { _, _ in
                .request(method: "POST", path: "^/upload/", body: "", nth: 1, forward: true)
            }, holdsLease: true, inSuite: true),
        Point(
            name: "staged: MERGE (ran)", strategy: "staged",
            trigger: { plan, _ in post(job(plan.merges[0] + "_1"), forward: true) },
            holdsLease: true),
        Point(
            name: "staged: dropping the staging table (ran)", strategy: "staged",
            trigger: { _, _ in
                .request(method: "DELETE", path: "/tables/bqsync_stage_", body: "", nth: 1, forward: true)
            }, holdsLease: true),
        // The MERGE's first attempt failed (a job error), its second ran; killed while the staging table is dropped.
        // The re-run must see the MERGE done under attempt 2, not load the staging table again.
        Point(
            name: "staged: dropping the staging table after a MERGE retried under its next id (ran)",
            strategy: "staged",
            trigger: { _, _ in
                .request(method: "DELETE", path: "/tables/bqsync_stage_", body: "", nth: 1, forward: true)
            },
            holdsLease: true, inSuite: true,
            faults: { plan, _ in [("POST", #"/jobs(\?|$)"#, job(plan.merges[0] + "_1"), "jobfail")] }),
        // A target the plan creates.
        Point(
            name: "creating the target table (ran)", createsTarget: true,
            trigger: { _, ws in
                .request(
                    method: "POST", path: "/datasets/\(ws.dataset)/tables" + endOfPath, body: "", nth: 1, forward: true)
            }, holdsLease: true),
    ]

    /// `BQSYNC_CRASH_POINTS`: unset, the suite's selection; `all`, every point; other text, the points whose name
    /// contains it.
    static let points: [Point] = {
        switch ProcessInfo.processInfo.environment["BQSYNC_CRASH_POINTS"] ?? "" {
        case "": return allPoints.filter(\.inSuite)
        case "all": return allPoints
        case let text: return allPoints.filter { $0.name.contains(text) }
        }
    }()

    @Test(arguments: points)
    func killedThenReappliedEndsExactlyRight(point: Point) throws {
        let started = Date()
        let index = Self.allPoints.firstIndex { $0.name == point.name } ?? 0
        var scenario = MergeScenario(seed: 100 + UInt64(index))
        if point.createsTarget { scenario.initial = [] }
        let ws = try Reliability.workspace(
            "crash_\(index)", scenario: scenario, strategy: point.strategy, batch: 5,
            createTarget: !point.createsTarget)
        let planned = try Reliability.plan(ws)
        try #require(planned.strategy == point.strategy)
        let proxy = try FaultProxy(upstream: ws.host)
        for (method, path, body, fault) in point.faults(planned, ws) {
            try proxy.arm(method: method, path: path, body: body, fault: fault)
        }
        let arguments = ["--log-level", "info", "--log-format", "json", "apply", "plan.json", "--format", "json"]

        // The apply, killed at the point.
        let killed: RunningBQSync
        switch point.trigger(planned, ws) {
        case .request(let method, let path, let body, let nth, let forward):
            let arm = try proxy.arm(method: method, path: path, body: body, nth: nth)
            killed = try ws.start(arguments, environment: proxy.holdingEnvironment)
            let held = try proxy.waitUntilHeld(arm, timeout: 120, watching: killed)
            killed.killHard()
            try #require(held, "\(point): the request never came\n\(killed.stderrSoFar)")
            try proxy.release(arm, forward: forward)
        case .sourceRead(let pass):
            let source = ws.path("syncs.d/data/s.ndjson")
            let fifo = try SourceFIFO(path: source)
            killed = try ws.start(arguments, environment: proxy.holdingEnvironment)
            let reading = fifo.feed(pid: killed.process.processIdentifier, fullPasses: pass - 1, timeout: 120)
            killed.killHard()
            fifo.restore()
            try #require(reading, "\(point): bqsync never read the source\n\(killed.stderrSoFar)")
        }
        #expect(
            killed.process.terminationReason == .uncaughtSignal, "\(point): killed, not finished\n\(killed.stderrSoFar)"
        )
        let before = try proxy.stats()
        let ranBefore = before.stepExecutions(planId: planned.planId)

        // The same plan again, to the end.
        let rerun = try ws.run(arguments, timeout: 120, environment: proxy.holdingEnvironment)
        #expect(rerun.status == 0, "\(point): \(rerun)")
        let after = try proxy.stats()

        // The exact table.
        #expect(try ws.rows("t", orderBy: "id") == scenario.expected, "\(point): the table")
        // Resumed, not restarted: every step ran exactly once over both runs; what the killed run finished is adopted.
        let steps = after.stepExecutions(planId: planned.planId)
        for step in planned.steps {
            #expect(steps[step] == 1, "\(point): step \(step) executed \(steps[step] ?? 0) times\n\(rerun)")
        }
        for (job, count) in after.executions where count > 1 {
            Issue.record("\(point): job \(job) executed \(count) times")
        }
        let rerunSteps = JobLogLine.steps(rerun, planId: planned.planId)
        for line in rerunSteps where ranBefore[ProxyStats.stepId(line.jobId)] != nil {
            #expect(
                line.outcome == "adopted",
                "\(point): \(line.jobId) finished before the kill, so it is adopted\n\(rerun)")
        }
        // The lease: recovered from the dead apply when it held one, and released at the end.
        if point.holdsLease {
            #expect(
                rerun.stderr.contains("recovered the lease") || rerun.stderr.contains("released the lease"),
                "\(point): the dead apply's lease is recovered\n\(rerun)")
        } else {
            #expect(!rerun.stderr.contains("recovered the lease"), "\(point): \(rerun)")
        }
        #expect(try Reliability.leases(ws, table: "t").isEmpty, "\(point): the lease is released")
        let runs = try Reliability.runs(ws, planId: planned.planId)
        #expect(runs.filter { $0.status == "succeeded" }.count == 1, "\(point): one succeeded run: \(runs)")

        reportTrial([
            "kind": "crash", "point": point.name, "strategy": point.strategy, "steps_before_kill": ranBefore.count,
            "adopted": rerunSteps.filter { $0.outcome == "adopted" }.count, "rerun_status": Int(rerun.status),
            "lease_recovered": rerun.stderr.contains("recovered the lease")
                || rerun.stderr.contains("released the lease"),
            "table_ok": (try? ws.rows("t", orderBy: "id")) == scenario.expected,
            "max_step_executions": steps.values.max() ?? 0,
            "seconds": Date().timeIntervalSince(started),
        ])
    }
}

/// The source file replaced by a FIFO the test feeds, so bqsync can be killed while it reads: bqsync blocks in
/// `read` until the test writes more.
final class SourceFIFO: @unchecked Sendable {
    let path: String
    let content: Data

    init(path: String) throws {
        self.path = path
        content = try Data(contentsOf: URL(fileURLWithPath: path))
        unlink(path)
        guard mkfifo(path, 0o600) == 0 else {
            throw HarnessError("mkfifo \(path): \(String(cString: strerror(errno)))")
        }
        // A write after the reader died must not kill the test process.
        signal(SIGPIPE, SIG_IGN)
    }

    /// Feeds `fullPasses` whole readings of the file to process `pid`, then half of the next, and returns true with
    /// bqsync waiting in `read` for the rest (false if it did not open the file in time). A reader's `open` blocks
    /// until a writer comes, so each pass opens the writing end once a reader waits (a non-blocking open succeeds),
    /// and after a full pass waits until bqsync has closed that reading (seen in /proc) so the next pass never runs
    /// into it. The writing end of the half pass stays open until `restore`.
    func feed(pid: pid_t, fullPasses: Int, timeout: Double, halfOfTheNext: Bool = true) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        func waitFor(open wanted: Bool) -> Bool {
            while readers(pid) != wanted {
                guard Date() < deadline else { return false }
                usleep(1_000)
            }
            return true
        }
        for pass in 0...fullPasses {
            if pass == fullPasses, !halfOfTheNext { return true }
            var fd: Int32 = -1
            while fd < 0 {
                fd = open(path, O_WRONLY | O_NONBLOCK)
                if fd < 0 {
                    guard errno == ENXIO, Date() < deadline else { return false }
                    usleep(1_000)
                }
            }
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)
            guard waitFor(open: true) else {
                close(fd)
                return false
            }
            let last = pass == fullPasses
            let bytes = last ? content.prefix(content.count / 2) : content
            let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if last {
                held = fd
                usleep(100_000)  // bqsync has read the half and waits in read() for the rest
                return written == bytes.count
            }
            close(fd)
            guard waitFor(open: false) else { return false }
        }
        return false
    }

    /// Whether process `pid` has the FIFO open.
    private func readers(_ pid: pid_t) -> Bool {
        let directory = "/proc/\(pid)/fd"
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return false }
        // readlink(2) itself: /proc's links report no size, which Foundation's reader relies on.
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        return entries.contains { entry in
            let count = readlink(directory + "/" + entry, &buffer, buffer.count - 1)
            guard count > 0 else { return false }
            return String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self) == path
        }
    }

    private var held: Int32 = -1

    /// Feeds one whole reading of the file to process `pid`, waits until it closes it, then puts `replacement` in
    /// its place as a regular file: a second reading, if any, sees other rows. False if it did not read in time.
    func feedOnce(pid: pid_t, timeout: Double, then replacement: Data) -> Bool {
        let fed = feed(pid: pid, fullPasses: 1, timeout: timeout, halfOfTheNext: false)
        unlink(path)
        _ = FileManager.default.createFile(atPath: path, contents: replacement)
        return fed
    }

    /// Closes the writing end and puts the regular file back, byte for byte.
    func restore() {
        if held >= 0 { close(held) }
        held = -1
        unlink(path)
        _ = FileManager.default.createFile(atPath: path, contents: content)
    }
}
