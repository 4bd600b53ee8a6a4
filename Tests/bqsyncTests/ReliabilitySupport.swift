import Foundation
import SyncTestSupport
import Testing

// Shared by the fault-injection, crash-and-resume and concurrency tests: the fault proxy (Tests/BigQueryModel/fault-proxy.py)
// between the built bqsync and the emulator, a seeded sync scenario with its expected result, and readers of the
// job log, the run records and the leases.

/// One HTTP exchange by the curl command line (no part of the product's HTTP stack).
enum Curl {
    static func call(_ method: String, _ url: String, json: Data? = nil, headers: [String] = [], maxTime: Double = 120)
        throws -> (status: Int, body: Data)
    {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        let marker = "\n__HTTP_STATUS__:"
        var arguments = ["curl", "-sS", "--max-time", String(maxTime), "-w", marker + "%{http_code}", "-X", method]
        if json != nil { arguments += ["-H", "content-type: application/json", "--data-binary", "@-"] }
        for header in headers { arguments += ["-H", header] }
        process.arguments = arguments + [url]
        let stdin = Pipe()
        let stdout = Pipe()
        process.standardInput = json == nil ? FileHandle.nullDevice : stdin
        process.standardOutput = stdout
        try process.run()
        if let json {
            try stdin.fileHandleForWriting.write(contentsOf: json)
            try stdin.fileHandleForWriting.close()
        }
        let output = stdout.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0, let range = output.range(of: Data(marker.utf8), options: .backwards),
            let status = Int(String(decoding: output[range.upperBound...], as: UTF8.self))
        else {
            throw HarnessError(
                "curl \(method) \(url) failed (\(process.terminationStatus)): \(String(decoding: output, as: UTF8.self))"
            )
        }
        return (status, Data(output[..<range.lowerBound]))
    }

    static func object(_ method: String, _ url: String, _ body: [String: Any]? = nil) throws -> [String: Any] {
        let data = try body.map { try JSONSerialization.data(withJSONObject: $0) }
        let (status, answer) = try call(method, url, json: data)
        guard (200..<300).contains(status),
            let object = try JSONSerialization.jsonObject(with: answer) as? [String: Any]
        else {
            throw HarnessError("\(method) \(url) answered \(status): \(String(decoding: answer, as: UTF8.self))")
        }
        return object
    }
}

/// Tests/BigQueryModel/fault-proxy.py, started for one test: bqsync talks to it as its emulator, it forwards to the real one,
/// injecting seeded faults, holding requests on demand and counting job executions.
final class FaultProxy: @unchecked Sendable {
    /// Every fault kind the proxy knows (see the script's header).
    static let allKinds = [
        "429", "500", "503", "403", "reset", "timeout", "jobfail", "slow",
        "500-after", "503-after", "reset-after", "timeout-after", "late",
    ]
    /// bqsync's per-request timeout under the proxy (`BQSYNC_HTTP_TIMEOUT`); timeout faults hold longer.
    static let clientTimeout = 2.0

    let process: Process
    let url: String
    let stderrPath: String

    /// With `latency`, every request is held a time drawn from that range (seconds) before it is forwarded.
    init(
        upstream: String, seed: UInt64 = 0, rate: Double = 0, kinds: [String] = FaultProxy.allKinds,
        hold: Double = FaultProxy.clientTimeout + 1, latency: ClosedRange<Double>? = nil
    ) throws {
        process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments =
            [
                "python3", E2E.repoRoot + "/Tests/BigQueryModel/fault-proxy.py", "--upstream", upstream, "--seed",
                String(seed),
                "--rate", String(rate), "--kinds", kinds.joined(separator: ","), "--hold", String(hold),
            ]
            + (latency.map { ["--latency", String($0.lowerBound), "--latency-max", String($0.upperBound)] } ?? [])
        let stdout = Pipe()
        process.standardOutput = stdout
        process.standardInput = FileHandle.nullDevice
        stderrPath = NSTemporaryDirectory() + "bqsync-proxy-\(UUID().uuidString).err"
        _ = FileManager.default.createFile(atPath: stderrPath, contents: nil)
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: stderrPath))
        try process.run()
        var line = Data()
        while !line.contains(UInt8(ascii: "\n")) {
            let chunk = stdout.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            line += chunk
        }
        guard let port = Int(String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
        else {
            throw HarnessError(
                "the fault proxy did not start: \((try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "")")
        }
        url = "http://127.0.0.1:\(port)"
    }

    deinit {
        if process.isRunning, process.processIdentifier > 0 { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        unlink(stderrPath)
    }

    /// The environment that sends bqsync through the proxy, with a short request timeout (for timeout faults).
    var environment: [String: String] {
        ["BIGQUERY_EMULATOR_HOST": url, "BQSYNC_HTTP_TIMEOUT": String(Self.clientTimeout)]
    }

    /// The environment that sends bqsync through the proxy with the default request timeout, so a request held
    /// at the proxy stays in flight (not abandoned and retried) until it is released.
    var holdingEnvironment: [String: String] { ["BIGQUERY_EMULATOR_HOST": url] }

    /// Counts, faults and the request log so far.
    func stats() throws -> ProxyStats {
        let (status, data) = try Curl.call("GET", url + "/__proxy/stats")
        guard status == 200 else { throw HarnessError("proxy stats answered \(status)") }
        return try JSONDecoder().decode(ProxyStats.self, from: data)
    }

    /// New fault settings (the generator restarts from `seed`).
    func configure(seed: UInt64 = 0, rate: Double, kinds: [String] = FaultProxy.allKinds) throws {
        _ = try Curl.object("POST", url + "/__proxy/config", ["seed": seed, "rate": rate, "kinds": kinds])
    }

    /// Holds the `nth` request whose method, path and body match (regular expressions, searched); returns the
    /// arm's id. Several arms may be set at once.
    /// With `fault`, that request gets the fault (a kind of the script's list) instead of being held.
    @discardableResult
    func arm(method: String?, path: String, body: String = "", nth: Int = 1, fault: String? = nil) throws -> Int {
        var request: [String: Any] = ["path": path, "body": body, "nth": nth]
        if let method { request["method"] = method }
        if let fault { request["fault"] = fault }
        return try Curl.object("POST", url + "/__proxy/arm", request)["id"] as? Int ?? 0
    }

    /// Arms the insert of a plan step's first attempt (the job `STEP_1`): held, or with `fault`, given that fault.
    @discardableResult
    func armStep(_ step: String, fault: String? = nil) throws -> Int {
        try arm(method: "POST", path: #"/jobs(\?|$)"#, body: CrashResumeTests.job(step + "_1"), fault: fault)
    }

    /// Waits until the armed request is held (true), or the process `watching` exits or time runs out (false).
    func waitUntilHeld(_ arm: Int? = nil, timeout: Double, watching running: RunningBQSync? = nil) throws -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let answer = try Curl.object("GET", url + "/__proxy/held" + (arm.map { "?id=\($0)" } ?? ""))
            if answer["held"] as? Bool == true { return true }
            if let running, !running.process.isRunning { return false }
            usleep(10_000)
        }
        return false
    }

    /// Forwards (the answer goes to the client if it is still there) or drops the held request; returns when done.
    @discardableResult
    func release(_ arm: Int? = nil, forward: Bool) throws -> String? {
        var request: [String: Any] = ["forward": forward]
        if let arm { request["id"] = arm }
        return try Curl.object("POST", url + "/__proxy/release", request)["outcome"] as? String
    }

    /// Stands in for Parquet or Avro files in Cloud Storage (which the emulator cannot read): a load of `uri`
    /// finds files with this schema (`[name, type, mode]` each) and these rows, as the contract model has it.
    func registerFiles(uri: String, schema: [[String: String]], rows: [[String: Any]]) throws {
        _ = try Curl.object("POST", url + "/__proxy/files", ["uri": uri, "schema": schema, "rows": rows])
    }

    /// Creates a table (and its dataset, unless it exists) through the proxy, so its model knows the table's
    /// options (`requirePartitionFilter`, …): `options` are merged into the table resource.
    func createTable(
        dataset: String, table: String, fields: [[String: String]], options: [String: Any] = [:]
    ) throws {
        let base = url + "/bigquery/v2/projects/\(E2E.project)/datasets"
        let (status, _) = try Curl.call("GET", base + "/\(dataset)")
        if status == 404 {
            _ = try Curl.object("POST", base, ["datasetReference": ["projectId": E2E.project, "datasetId": dataset]])
        }
        var resource: [String: Any] = [
            "tableReference": ["projectId": E2E.project, "datasetId": dataset, "tableId": table],
            "schema": ["fields": fields],
        ]
        resource.merge(options) { $1 }
        _ = try Curl.object("POST", base + "/\(dataset)/tables", resource)
    }

    /// Declares a table's size to the contract model (`project.dataset.table`), standing in for a table too large
    /// to fill in a test: what tables.get answers as numBytes and what a query referencing it processes and bills.
    func declareSize(table: String, bytes: Int64) throws {
        _ = try Curl.object("POST", url + "/__proxy/sizes", ["table": table, "bytes": bytes])
    }

    /// What the proxy wrote to stderr (for failure messages).
    var stderr: String { (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "" }
}

/// The proxy's counts and log.
struct ProxyStats: Decodable {
    struct Fault: Decodable {
        var seq: Int
        var kind: String
        var method: String
        var path: String
        var job: String?
        var statement: String?
    }

    struct Entry: Decodable {
        var method: String
        var path: String
        var job: String?
        var dry: Bool
        var statement: String?
        var step: Bool
        var start: Double
        var end: Double?
        var fault: String?
        var held: Bool?
    }

    var requests: Int
    /// Job inserts that reached the emulator and were accepted, per job id.
    var executions: [String: Int]
    /// Duplicate inserts answered 409, per job id.
    var conflicts: [String: Int]
    /// Bytes billed the proxy reported for each finished query job.
    var billed: [String: Int64]
    /// Job ids that "failed" (jobfail).
    var failed: [String]
    var faults: [Fault]
    var log: [Entry]
    /// The contract model (Tests/BigQueryModel/bqcontract.py): If-Match preconditions answered 412, tables deleted for their
    /// expirationTime, and mutating DML jobs failed for a concurrent update on their table.
    var preconditionsFailed: Int
    var expired: [String]
    var dmlConflicts: [[String: String]]
    /// Calls the location rules refused: a job spanning two locations, a regional job looked up without its.
    var locationErrors: [[String: String]]
    /// Tables a statement was refused on for lacking their required partition filter.
    var partitionFilterRefusals: [String]

    enum CodingKeys: String, CodingKey {
        case requests, executions, conflicts, billed, failed, faults, log, expired
        case preconditionsFailed = "preconditions_failed"
        case dmlConflicts = "dml_conflicts"
        case locationErrors = "location_errors"
        case partitionFilterRefusals = "partition_filter_refusals"
    }

    /// Executions per plan step (a step's job id without its `_<attempt>`), over every attempt.
    func stepExecutions(planId: String) -> [String: Int] {
        var steps: [String: Int] = [:]
        for (job, count) in executions where job.hasPrefix("bqsync_\(planId)_") {
            steps[Self.stepId(job), default: 0] += count
        }
        return steps
    }

    /// Expects each of the plan's MERGE steps executed exactly once, over every attempt of every run so far.
    func expectEachMergeOnce(_ plan: PlannedSync, sourceLocation: SourceLocation = #_sourceLocation) {
        let steps = stepExecutions(planId: plan.planId)
        for step in plan.merges { #expect(steps[step] == 1, "\(step): \(steps)", sourceLocation: sourceLocation) }
    }

    /// The step id of an attempt's job id.
    static func stepId(_ job: String) -> String {
        guard let cut = job.lastIndex(of: "_") else { return job }
        return String(job[..<cut])
    }

    /// How many faults of each kind were injected.
    var faultCounts: [String: Int] { faults.reduce(into: [:]) { $0[$1.kind, default: 0] += 1 } }
}

/// A job log record (`--log-level info --log-format json`, `message` "job"): attempt, job id, kind, outcome, bytes.
struct JobLogLine {
    var fields: [String: String]
    var jobId: String { fields["job_id"] ?? "" }
    var outcome: String { fields["outcome"] ?? "" }
    var bytesBilled: Int64 { Int64(fields["bytes_billed"] ?? "") ?? 0 }

    /// The plan's step jobs that ran or were adopted in one run.
    static func steps(_ run: RunResult, planId: String) -> [JobLogLine] {
        run.jobRecords.map(JobLogLine.init).filter {
            $0.jobId.hasPrefix("bqsync_\(planId)_") && ($0.outcome == "done" || $0.outcome == "adopted")
        }
    }
}

/// A sync over a pre-existing table: updates, deletes, stale updates (older `rev`, ignored), inserts, deletes of
/// rows that never existed, and duplicate keys in the source (the greatest `rev` wins), with the rows the target
/// must hold afterwards, computed here from the merge rules (not by bqsync).
struct MergeScenario {
    struct Record: Hashable {
        var id: Int
        var v: String
        var rev: Int
        var del: Bool
    }

    var initial: [Record]
    var source: [Record]

    static let schema = [
        "{name: id, type: INT64, mode: REQUIRED}", "{name: v, type: STRING}", "{name: rev, type: INT64}",
        "{name: del, type: BOOL}",
    ]

    init(seed: UInt64, existing: Int = 24, inserted: ClosedRange<Int> = 10...20) {
        var random = SeededGenerator(seed: seed)
        initial = (0..<existing).map { Record(id: $0, v: "old \($0)", rev: 1, del: false) }
        var source: [Record] = []
        for id in 0..<existing {
            let roll = Int.random(in: 0..<100, using: &random)
            switch roll {
            case ..<40: source.append(Record(id: id, v: "new \(id)", rev: 2, del: false))
            case ..<55: source.append(Record(id: id, v: "gone \(id)", rev: 2, del: true))
            case ..<65: source.append(Record(id: id, v: "stale \(id)", rev: 0, del: false))
            case ..<72: source.append(Record(id: id, v: "stale delete \(id)", rev: 0, del: true))
            case ..<80:
                // The same key twice: the greater rev wins, in either order.
                let pair = [
                    Record(id: id, v: "dup loser \(id)", rev: 2, del: false),
                    Record(id: id, v: "dup winner \(id)", rev: 3, del: false),
                ]
                source += Bool.random(using: &random) ? pair : pair.reversed()
            default: break
            }
        }
        let inserts = Int.random(in: inserted, using: &random)
        for id in existing..<(existing + inserts) {
            source.append(Record(id: id, v: "inserted \(id)", rev: 2, del: false))
        }
        for id in (existing + inserts)..<(existing + inserts + 2) {
            source.append(Record(id: id, v: "never existed \(id)", rev: 2, del: true))
        }
        source.shuffle(using: &random)
        self.source = source
    }

    /// The source as NDJSON.
    var sourceFile: String {
        get throws { try ndjson(source.map { ["id": $0.id, "v": $0.v, "rev": $0.rev, "del": $0.del] }) }
    }

    /// Distinct keys in the source.
    var sourceKeys: Int { Set(source.map(\.id)).count }

    /// The target's rows after the merge, ordered by id, as the emulator renders them.
    var expected: [[String?]] { Self.rendered(merged(into: initial)) }

    /// A table after this source is merged into it: per key the greatest rev wins (ties: the last read); a
    /// matched row is updated or deleted unless it is newer; an unmatched one is inserted unless deleted.
    func merged(into rows: [Record]) -> [Record] {
        var winners: [Int: Record] = [:]
        for record in source {
            if let current = winners[record.id], current.rev > record.rev { continue }
            winners[record.id] = record
        }
        var table = Dictionary(uniqueKeysWithValues: rows.map { ($0.id, $0) })
        for (id, winner) in winners {
            if let existing = table[id] {
                guard winner.rev >= existing.rev else { continue }
                table[id] = winner.del ? nil : winner
            } else if !winner.del {
                table[id] = winner
            }
        }
        return table.values.sorted { $0.id < $1.id }
    }

    /// Rows as the emulator renders them.
    static func rendered(_ rows: [Record]) -> [[String?]] {
        rows.map { [String($0.id), $0.v, String($0.rev), $0.del ? "true" : "false"] }
    }
}

/// Setting up and reading back targets and the state dataset.
enum Reliability {
    /// A policy with short backoffs (a trial takes seconds, not minutes), a breaker that tolerates a burst of
    /// injected faults, and room in the budget for what the proxy bills (at least 10 MiB a job).
    static let policy = """
        version: 1
        name: default
        session:
          max_bytes_billed: 50 GB
          max_queries: 500
          max_cost_usd: 1
        query:
          max_bytes_billed: 1 GB
        cache: true
        retry: {max_attempts: 6, initial_backoff: 50ms, max_backoff: 400ms, deadline: 60s}
        circuit_breaker: {failure_threshold: 10, reset_after: 1s}

        """

    /// Creates `table` in the workspace's dataset with the scenario's schema and rows (REST, not bqsync).
    static func createTarget(_ ws: Workspace, _ table: String, rows: [MergeScenario.Record]) throws {
        let base = ws.host + "/bigquery/v2/projects/\(E2E.project)"
        let (status, body) = try Curl.call(
            "POST", base + "/datasets",
            json: try JSONSerialization.data(withJSONObject: [
                "datasetReference": ["projectId": E2E.project, "datasetId": ws.dataset]
            ]))
        guard status == 200 || status == 409 else {
            throw HarnessError("dataset: \(status) \(String(decoding: body, as: UTF8.self))")
        }
        _ = try Curl.object(
            "POST", base + "/datasets/\(ws.dataset)/tables",
            [
                "tableReference": ["projectId": E2E.project, "datasetId": ws.dataset, "tableId": table],
                "schema": [
                    "fields": [
                        ["name": "id", "type": "INT64", "mode": "REQUIRED"],
                        ["name": "v", "type": "STRING", "mode": "NULLABLE"],
                        ["name": "rev", "type": "INT64", "mode": "NULLABLE"],
                        ["name": "del", "type": "BOOL", "mode": "NULLABLE"],
                    ]
                ],
            ])
        guard !rows.isEmpty else { return }
        let values = rows.map { "(\($0.id), '\($0.v)', \($0.rev), \($0.del))" }.joined(separator: ", ")
        _ = try ws.query("INSERT INTO `\(ws.table(table))` (id, v, rev, del) VALUES \(values)")
    }

    /// Creates the state dataset unless it exists, so the trials see the request pattern of a project that has
    /// applied before (the first apply anywhere also creates it).
    static func ensureStateDataset(_ ws: Workspace) throws {
        let (status, body) = try Curl.call(
            "POST", ws.host + "/bigquery/v2/projects/\(E2E.project)/datasets",
            json: try JSONSerialization.data(
                withJSONObject: ["datasetReference": ["projectId": E2E.project, "datasetId": "bqsync"]]))
        guard status == 200 || status == 409 else {
            throw HarnessError("state dataset: \(status) \(String(decoding: body, as: UTF8.self))")
        }
    }

    /// A workspace with sync `s` from `data/s.ndjson` into table `t`, the table holding the scenario's initial rows.
    static func workspace(
        _ prefix: String, scenario: MergeScenario, strategy: String, batch: Int, createTarget: Bool = true
    ) throws -> Workspace {
        let ws = try Workspace(prefix, policy: policy)
        try ensureStateDataset(ws)
        if createTarget { try Reliability.createTarget(ws, "t", rows: scenario.initial) }
        try ws.write(
            "syncs.d/s.yaml",
            EndToEndTests.sync(
                "s", source: "type: ndjson\npath: data/s.ndjson", table: ws.table("t"),
                schema: MergeScenario.schema, keys: ["id"], orderBy: "rev", deleteWhen: "del",
                batch: batch, strategy: strategy))
        try ws.write("syncs.d/data/s.ndjson", try scenario.sourceFile)
        return ws
    }

    /// Plans into plan.json (straight to the emulator) and returns the plan's id and the MERGE and load job ids
    /// of sync `sync` (by default `s`, the sync of `workspace(_:scenario:strategy:batch:createTarget:)`).
    static func plan(_ ws: Workspace, sync name: String = "s") throws -> PlannedSync {
        let planned = try ws.run("plan", "--out", "plan.json")
        guard planned.status == 0 else { throw HarnessError("plan failed: \(planned)") }
        let plan = try EndToEndTests.planJSON(ws)
        let sync = try EndToEndTests.syncPlan(plan, name)
        let steps = sync["steps"] as? [[String: Any]] ?? []
        return PlannedSync(
            planId: plan["plan_id"] as? String ?? "", strategy: sync["strategy"] as? String ?? "",
            merges: steps.filter { $0["kind"] as? String == "merge" }.compactMap { $0["job_id"] as? String },
            loads: steps.filter { $0["kind"] as? String == "load" }.compactMap { $0["job_id"] as? String })
    }

    /// The run records of a plan: (status, bytes billed, jobs, run id).
    static func runs(_ ws: Workspace, planId: String) throws -> [(
        status: String, bytesBilled: Int64, jobs: Int, runId: String
    )] {
        guard
            try EmulatorSQL(host: ws.host).status(
                "GET", "/bigquery/v2/projects/\(E2E.project)/datasets/bqsync/tables/run_records") == 200
        else {
            return []
        }
        return try ws.query(
            "SELECT status, bytes_billed, jobs, run_id FROM `\(E2E.project).bqsync.run_records` WHERE plan_id = '\(planId)' ORDER BY finished_at"
        )
        .map { ($0[0] ?? "", Int64($0[1] ?? "") ?? -1, Int($0[2] ?? "") ?? -1, $0[3] ?? "") }
    }

    /// The leases on a target as its lease table describes them (found by listing the state dataset, not by
    /// bqsync's naming rule): the JSON record of each.
    static func leaseRecords(_ ws: Workspace, table: String) throws -> [[String: Any]] {
        let base = ws.host + "/bigquery/v2/projects/\(E2E.project)/datasets/bqsync/tables"
        let (status, body) = try Curl.call("GET", base + "?maxResults=10000")
        guard status == 200 else { return [] }
        let listed =
            (try JSONSerialization.jsonObject(with: body) as? [String: Any])?["tables"] as? [[String: Any]] ?? []
        let ids = listed.compactMap { ($0["tableReference"] as? [String: Any])?["tableId"] as? String }.filter {
            $0.hasPrefix("lease_")
        }
        return try ids.compactMap { id in
            // A lease of another test's target may be recovered (deleted, then created) between the list and this read.
            let (status, body) = try Curl.call("GET", base + "/" + id)
            if status == 404 { return nil }
            guard status == 200, let resource = (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] else {
                throw HarnessError("GET lease table \(id) answered \(status): \(String(decoding: body, as: UTF8.self))")
            }
            // Other tests share the state dataset, and one puts a foreign table (a description that is not JSON)
            // where a lease goes: that is nobody's lease record.
            guard let text = resource["description"] as? String,
                let record = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any],
                record["target"] as? String == ws.table(table)
            else { return nil }
            return record
        }
    }

    /// The holders of a target's lease while it is held (empty once released).
    static func leases(_ ws: Workspace, table: String) throws -> [String] {
        try leaseRecords(ws, table: table).filter { $0["state"] as? String == "held" }.compactMap {
            $0["holder"] as? String
        }
    }

    /// The summaries an `apply --format json` printed.
    static func summaries(_ run: RunResult) -> [[String: Any]] {
        guard let start = run.stdout.firstIndex(of: "[") else { return [] }
        return (try? JSONSerialization.jsonObject(with: Data(run.stdout[start...].utf8)) as? [[String: Any]]) ?? []
    }

    /// The last `error:` line of a run, for reports.
    static func errorLine(_ run: RunResult) -> String {
        run.stderr.split(separator: "\n").last { $0.hasPrefix("error:") || $0.hasPrefix("refused") }.map(String.init)
            ?? "exit \(run.status)"
    }
}

/// What a plan file holds for sync `s`.
struct PlannedSync {
    var planId: String
    var strategy: String
    var merges: [String]
    var loads: [String]
    var steps: [String] { loads + merges }
}

/// Appends one JSON line to the file named by `BQSYNC_SOAK_REPORT`, if set (scripts/soak-* summarise it).
func reportTrial(_ fields: [String: Any]) {
    guard let path = ProcessInfo.processInfo.environment["BQSYNC_SOAK_REPORT"], !path.isEmpty,
        let data = try? JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys])
    else { return }
    let line = data + Data("\n".utf8)
    let fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0o644)
    guard fd >= 0 else { return }
    defer { close(fd) }
    _ = line.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
}
