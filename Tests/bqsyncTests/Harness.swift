import Foundation
import SyncTestSupport
import Testing

/// End-to-end harness: the built `bqsync` binary run against the local emulator, each test in its own temporary
/// workspace (syncs.d/, policies/, data files) writing to its own datasets.
enum E2E {
    /// The package root, from this file's place (Tests/bqsyncTests/Harness.swift).
    static let repoRoot: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    /// The project every test writes to (the emulator's default project).
    static let project = "bqsync-demo"

    /// The state dataset (`bqsync`), created once before the first workspace: on a fresh emulator every test's
    /// first apply would otherwise create it at the same moment, and the emulator can fail a request that uses a
    /// dataset another request is still creating (BigQuery cannot; creating it on first use is covered by
    /// `StateDatasetTests`).
    static let stateDatasetReady: Bool = {
        guard let host = try? Emulator.host() else { return false }
        let body = try? JSONSerialization.data(withJSONObject: [
            "datasetReference": ["projectId": project, "datasetId": "bqsync"]
        ])
        let answer = try? Curl.call("POST", host + "/bigquery/v2/projects/\(project)/datasets", json: body)
        return answer?.status == 200 || answer?.status == 409
    }()

    /// The built binary (`swift build --build-tests` builds it before the tests run).
    static var binary: String {
        get throws {
            let path = repoRoot + "/.build/debug/bqsync"
            guard FileManager.default.isExecutableFile(atPath: path) else {
                throw HarnessError(
                    "\(path) is missing: run `swift build --build-tests` before `swift test --skip-build`")
            }
            return path
        }
    }

    /// The repo's own policy, with fast retries so a failing test fails in seconds, not minutes.
    static let defaultPolicy = """
        version: 1
        name: default
        pricing: {usd_per_tib: 6.25}
        session:
          max_bytes_billed: 5 GB
          max_queries: 500
          max_cost_usd: 0.03
        query:
          max_bytes_billed: 1 GB
        warn_at: 80%
        cache: true
        retry: {max_attempts: 2, initial_backoff: 100ms, max_backoff: 1s, deadline: 60s}
        circuit_breaker: {failure_threshold: 5, reset_after: 30s}

        """
}

struct HarnessError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// One finished run of the binary.
struct RunResult: CustomStringConvertible {
    var arguments: [String]
    var status: Int32
    var stdout: String
    var stderr: String

    var description: String {
        "bqsync \(arguments.joined(separator: " ")) → exit \(status)\n--- stdout\n\(stdout)\n--- stderr\n\(stderr)"
    }

    /// The log of a run with `--log-format json`: every stderr line that is a JSON object, as its fields.
    /// (Diagnostics stay text; they are not log records.) Asking for it of a run without `--log-format json`
    /// is a test bug, recorded as a failure rather than silently answered "no records".
    var logRecords: [[String: String]] {
        if !logsJSON {
            Issue.record("log records asked of a run without --log-format json: bqsync \(arguments)")
        }
        return stderr.split(separator: "\n").compactMap { line in
            guard line.hasPrefix("{"),
                let object = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any]
            else { return nil }
            // Numbers are JSON numbers; a test compares their text.
            return object.compactMapValues { ($0 as? String) ?? ($0 as? NSNumber)?.stringValue }
        }
    }

    /// Whether the run was asked for `--log-format json`.
    var logsJSON: Bool { zip(arguments, arguments.dropFirst()).contains { $0 == "--log-format" && $1 == "json" } }

    /// The job log's records (`message` "job"): kind, statement, outcome, bytes… of every job attempt.
    var jobRecords: [[String: String]] { logRecords.filter { $0["message"] == "job" } }

    /// Every request that creates or changes something (a job that is not a dry run and was not refused, a table
    /// or dataset created, a load): what "nothing was sent" rules out. Needs `--log-level debug --log-format json`.
    var sentJobs: [[String: String]] {
        logRecords.filter { record in
            if record["message"] == "job" { return record["kind"] != "dry-run" && record["outcome"] != "refused" }
            guard record["message"] == "http", record["method"] == "POST", let url = record["url"] else { return false }
            let path = url.split(separator: "?").first.map(String.init) ?? url
            return path.hasSuffix("/tables") || path.hasSuffix("/datasets") || path.contains("/upload/")
        }
    }

    /// Every HTTP request logged (`--log-level debug --log-format json`).
    var requests: [[String: String]] { logRecords.filter { $0["message"] == "http" } }
}

/// The end-to-end side of the one `Workspace` (SyncTestSupport): the emulator's host, a dataset of its own that
/// goes with the workspace, the repo's policy, and runs of the built binary.
extension Workspace {
    convenience init(_ prefix: String, policy: String = E2E.defaultPolicy) throws {
        let host = try Emulator.host()
        _ = E2E.stateDatasetReady
        try self.init(prefix: prefix, policy: policy, host: host) { dataset, host in
            // The emulator keeps everything in memory: drop what the test created.
            _ = try? EmulatorSQL(host: host).status(
                "DELETE", "/bigquery/v2/projects/\(E2E.project)/datasets/\(dataset)?deleteContents=true")
        }
    }

    /// `project.dataset.name` in this workspace's dataset.
    func table(_ name: String) -> String { "\(E2E.project).\(dataset).\(name)" }

    /// The environment of the child: the emulator, no colour, nothing that points elsewhere.
    var environment: [String: String] {
        var environment = ProcessInfo.processInfo.environment
        environment["BIGQUERY_EMULATOR_HOST"] = host
        environment["NO_COLOR"] = "1"
        for name in ["BQSYNC_ENDPOINT", "GOOGLE_CLOUD_PROJECT", "GOOGLE_APPLICATION_CREDENTIALS"] {
            environment[name] = nil
        }
        return environment
    }

    /// Starts `bqsync -C root ARGS…` with stdin from /dev/null (never a TTY) and output to files; `extra` adds to
    /// or overrides the environment (e.g. a fault proxy as `BIGQUERY_EMULATOR_HOST`).
    func start(_ arguments: [String], environment extra: [String: String] = [:]) throws -> RunningBQSync {
        try RunningBQSync.start(
            ["-C", root] + arguments, in: root, environment: environment.merging(extra) { _, override in override },
            shown: arguments)
    }

    /// Runs `bqsync -C root ARGS…` to the end (at most `timeout` seconds).
    @discardableResult
    func run(_ arguments: String..., timeout: Double = 60) throws -> RunResult {
        try start(arguments).wait(timeout: timeout)
    }

    /// Runs `bqsync -C root ARGS…` to the end.
    @discardableResult
    func run(_ arguments: [String], timeout: Double = 60, environment extra: [String: String] = [:]) throws -> RunResult
    {
        try start(arguments, environment: extra).wait(timeout: timeout)
    }

    /// Rows of a SELECT through the emulator's REST API.
    func query(_ sql: String) throws -> [[String?]] { try EmulatorSQL(host: host).rows(sql) }

    /// Every row of a table in this workspace's dataset, ordered by `orderBy`.
    func rows(_ table: String, orderBy: String, columns: String = "*") throws -> [[String?]] {
        try query("SELECT \(columns) FROM `\(self.table(table))` ORDER BY \(orderBy)")
    }

    /// Whether a table of this workspace's dataset exists.
    func tableExists(_ table: String) throws -> Bool {
        try EmulatorSQL(host: host).status(
            "GET", "/bigquery/v2/projects/\(E2E.project)/datasets/\(dataset)/tables/\(table)") == 200
    }

    /// Whether this workspace's dataset exists.
    func datasetExists() throws -> Bool {
        try EmulatorSQL(host: host).status("GET", "/bigquery/v2/projects/\(E2E.project)/datasets/\(dataset)") == 200
    }
}

/// A bqsync process still running (or finished).
final class RunningBQSync: @unchecked Sendable {
    let process: Process
    let arguments: [String]
    let stdoutPath: String
    let stderrPath: String

    /// Starts the built binary with `arguments` in `directory`, stdin from /dev/null (never a TTY) and output to
    /// files; `shown` is what failure messages call the run (default: the arguments).
    static func start(
        _ arguments: [String], in directory: String, environment: [String: String], shown: [String]? = nil
    ) throws -> RunningBQSync {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try E2E.binary)
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        process.environment = environment
        let id = UUID().uuidString
        let out = NSTemporaryDirectory() + "bqsync-e2e-\(id).out"
        let err = NSTemporaryDirectory() + "bqsync-e2e-\(id).err"
        _ = FileManager.default.createFile(atPath: out, contents: nil)
        _ = FileManager.default.createFile(atPath: err, contents: nil)
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: out))
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: err))
        try process.run()
        return RunningBQSync(process: process, arguments: shown ?? arguments, stdoutPath: out, stderrPath: err)
    }

    init(process: Process, arguments: [String], stdoutPath: String, stderrPath: String) {
        self.process = process
        self.arguments = arguments
        self.stdoutPath = stdoutPath
        self.stderrPath = stderrPath
    }

    deinit {
        if process.isRunning, process.processIdentifier > 0 { kill(process.processIdentifier, SIGKILL) }
        unlink(stdoutPath)
        unlink(stderrPath)
    }

    /// What it has written to stderr so far.
    var stderrSoFar: String { (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "" }

    /// Waits until `predicate` holds for its stderr (true) or it exits or time runs out (false).
    func waitForStderr(timeout: Double, _ predicate: (String) -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if predicate(stderrSoFar) { return true }
            if !process.isRunning { return predicate(stderrSoFar) }
            usleep(2_000)
        }
        return false
    }

    /// SIGKILL, then reap.
    func killHard() {
        // Never kill(0, …): that would be this test process's whole group.
        if process.isRunning, process.processIdentifier > 0 { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    /// Waits for the exit and collects the output.
    func wait(timeout: Double) throws -> RunResult {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning {
            if Date() > deadline {
                killHard()
                throw HarnessError(
                    "bqsync \(arguments.joined(separator: " ")) did not finish within \(timeout) s; stderr:\n\(stderrSoFar)"
                )
            }
            usleep(5_000)
        }
        process.waitUntilExit()
        return RunResult(
            arguments: arguments, status: process.terminationStatus,
            stdout: (try? String(contentsOfFile: stdoutPath, encoding: .utf8)) ?? "", stderr: stderrSoFar)
    }
}

/// Reads tables back through the emulator's REST API (curl, so no HTTP stack of the product is involved).
struct EmulatorSQL {
    let host: String

    /// The rows of a query, each cell as the REST API renders it (nil for NULL; TIMESTAMP as integer microseconds).
    func rows(_ sql: String) throws -> [[String?]] {
        let body = try JSONSerialization.data(
            withJSONObject: ["query": sql, "useLegacySql": false, "maxResults": 100_000] as [String: Any])
        let (status, data) = try Curl.call(
            "POST", host + "/bigquery/v2/projects/\(E2E.project)/queries", json: body, maxTime: 60)
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw HarnessError("the emulator answered \(status) with no JSON: \(String(decoding: data, as: UTF8.self))")
        }
        if let errors = object["errors"] ?? (object["error"] as Any?), !(errors is NSNull) {
            throw HarnessError("query failed: \(sql)\n\(errors)")
        }
        guard status == 200, object["jobComplete"] as? Bool == true else {
            throw HarnessError("query did not complete (\(status)): \(String(decoding: data, as: UTF8.self))")
        }
        let rows = object["rows"] as? [[String: Any]] ?? []
        return rows.map { row in
            (row["f"] as? [[String: Any]] ?? []).map { cell in
                switch cell["v"] {
                case let text as String: return text
                case let number as NSNumber: return number.stringValue
                case nil, is NSNull: return nil
                case let other?:
                    let data = (try? JSONSerialization.data(withJSONObject: other, options: [.sortedKeys])) ?? Data()
                    return String(decoding: data, as: UTF8.self)
                }
            }
        }
    }

    /// The HTTP status of a request without a body.
    func status(_ method: String, _ path: String) throws -> Int {
        try Curl.call(method, host + path, maxTime: 60).status
    }
}

/// NDJSON text from objects, one line each (keys sorted, so files are reproducible).
func ndjson(_ rows: [[String: Any]]) throws -> String {
    try rows.map { row in
        let data = try JSONSerialization.data(withJSONObject: row, options: [.sortedKeys, .withoutEscapingSlashes])
        return String(decoding: data, as: UTF8.self) + "\n"
    }.joined()
}

/// A UTC TIMESTAMP `YYYY-MM-DD[ T]HH:MM:SS[.ffffff][Z]` as the emulator renders it: integer microseconds since
/// the epoch (computed here independently of bqsync's own parser).
func micros(_ text: String) -> String {
    let digits = text.split(whereSeparator: { !$0.isNumber }).map { String($0) }
    precondition(digits.count >= 6, "bad timestamp in a test: \(text)")
    let (y, m, d) = (Int64(digits[0])!, Int64(digits[1])!, Int64(digits[2])!)
    let (hh, mm, ss) = (Int64(digits[3])!, Int64(digits[4])!, Int64(digits[5])!)
    var fraction: Int64 = 0
    if digits.count > 6 { fraction = Int64((digits[6] + "000000").prefix(6))! }
    // Days from the civil date (Howard Hinnant's algorithm).
    let yy = m <= 2 ? y - 1 : y
    let era = (yy >= 0 ? yy : yy - 399) / 400
    let yoe = yy - era * 400
    let doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
    let days = era * 146_097 + doe - 719_468
    return String(((days * 86_400 + hh * 3600 + mm * 60 + ss) * 1_000_000) + fraction)
}
