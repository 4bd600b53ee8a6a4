import Foundation
import SyncTestSupport
import Testing

/// The throwaway PostgreSQL server `scripts/test` starts (`scripts/postgres start`, which exports
/// `BQSYNC_POSTGRES_URL`): psql to set up and read back source tables (no part of bqsync's libpq code), a schema of
/// its own per test, and readers of the plan's window and of `status`'s watermark.
enum Postgres {
    /// `BQSYNC_POSTGRES_URL`; a test without it fails (it is never skipped) and says how to run it.
    static func url() throws -> String {
        guard let url = ProcessInfo.processInfo.environment["BQSYNC_POSTGRES_URL"], !url.isEmpty else {
            throw HarnessError(
                "BQSYNC_POSTGRES_URL is not set: run the tests through scripts/test, which starts a throwaway "
                    + "PostgreSQL server (scripts/postgres start) and exports it; or export it yourself: "
                    + "eval \"export $(scripts/postgres start | tail -1)\"")
        }
        return url
    }

    /// The server's port (from `BQSYNC_POSTGRES_PORT`, else from the URL).
    static func port() throws -> String {
        if let port = ProcessInfo.processInfo.environment["BQSYNC_POSTGRES_PORT"], !port.isEmpty { return port }
        let url = try url()
        guard let components = URLComponents(string: url), let port = components.port else {
            throw HarnessError("no port in BQSYNC_POSTGRES_URL \(url)")
        }
        return String(port)
    }

    /// The password in `BQSYNC_POSTGRES_URL` (a test-only credential of the throwaway server), to check it is
    /// never printed.
    static func password() throws -> String {
        try URLComponents(string: url())?.password ?? "bqsync-test-password"
    }

    /// Separators psql puts between cells and rows, and its NULL: bytes no test value holds.
    static let cellSeparator = "\u{1F}"
    static let rowSeparator = "\u{1E}"
    static let null = "\u{01}"

    /// Runs `sql` (one or more statements; psql stops at the first error) and returns the rows of the last one
    /// that returns rows, each cell as PostgreSQL's text (nil for NULL).
    @discardableResult
    static func psql(_ sql: String, url: String? = nil) throws -> [[String?]] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [
            "psql", try url ?? Postgres.url(), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-F", cellSeparator,
            "-R",
            rowSeparator, "-P", "null=" + null, "-c", sql,
        ]
        var environment = ProcessInfo.processInfo.environment
        environment["PGCONNECT_TIMEOUT"] = "10"
        process.environment = environment
        let id = UUID().uuidString
        let out = NSTemporaryDirectory() + "bqsync-psql-\(id).out"
        let err = NSTemporaryDirectory() + "bqsync-psql-\(id).err"
        _ = FileManager.default.createFile(atPath: out, contents: nil)
        _ = FileManager.default.createFile(atPath: err, contents: nil)
        defer {
            unlink(out)
            unlink(err)
        }
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: out))
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: err))
        try process.run()
        process.waitUntilExit()
        let stdout = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
        let stderr = (try? String(contentsOfFile: err, encoding: .utf8)) ?? ""
        guard process.terminationStatus == 0 else {
            throw HarnessError("psql failed (exit \(process.terminationStatus)) on:\n\(sql)\n\(stderr)")
        }
        var text = stdout
        if text.hasSuffix("\n") { text.removeLast() }
        guard !text.isEmpty else { return [] }
        return text.components(separatedBy: rowSeparator).map { row in
            row.components(separatedBy: cellSeparator).map { $0 == null ? nil : $0 }
        }
    }

    /// Polls `sql` until its first cell is `value` (true) or `timeout` seconds pass (false).
    static func wait(until sql: String, is value: String, timeout: Double) throws -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if try psql(sql).first?.first == value { return true }
            usleep(50_000)
        }
        return false
    }

    /// A string as an SQL literal.
    static func literal(_ text: String) -> String { "'" + text.replacingOccurrences(of: "'", with: "''") + "'" }

    /// A source definition reading `table` (or `query`) through `url_env: BQSYNC_POSTGRES_URL`, with an optional
    /// incremental block (its lines, e.g. `["cursor: updated_at"]`).
    static func source(
        table: String? = nil, query: String? = nil, incremental: [String] = [], urlEnv: String = "BQSYNC_POSTGRES_URL"
    ) -> String {
        var lines = ["type: postgres", "url_env: \(urlEnv)"]
        if let table { lines.append("table: \(table)") }
        if let query { lines.append("query: \(query)") }
        if !incremental.isEmpty { lines += ["incremental:"] + incremental.map { "  " + $0 } }
        return lines.joined(separator: "\n")
    }

    /// `LINE:COLUMN` (1-based) of the value of the first `key: value` in `text`, as diagnostics name it; for a
    /// `key` starting `{` (a flow mapping, e.g. `{name: v`), where that text starts.
    static func place(of key: String, in text: String) -> String? {
        let flow = key.hasPrefix("{")
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            guard let range = line.range(of: flow ? key : key + ": ") else { continue }
            let column = line.distance(from: line.startIndex, to: flow ? range.lowerBound : range.upperBound) + 1
            return "\(number + 1):\(column)"
        }
        return nil
    }

    /// A loopback port nothing listens on (bound, then closed, here).
    static func closedPort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw HarnessError("socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0
            }
        }
        guard bound else { throw HarnessError("bind: \(String(cString: strerror(errno)))") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// An incremental sync's window in a plan file.
    static func window(_ ws: Workspace, _ file: String, sync: String) throws -> [String: Any] {
        let planned = try EndToEndTests.syncPlan(try EndToEndTests.planJSON(ws, file), sync)
        return try #require(planned["window"] as? [String: Any], "no window in \(file): \(planned)")
    }

    /// A PostgreSQL source's read in a plan file (`source.database`).
    static func database(_ ws: Workspace, _ file: String, sync: String) throws -> [String: Any] {
        let planned = try EndToEndTests.syncPlan(try EndToEndTests.planJSON(ws, file), sync)
        let source = try #require(planned["source"] as? [String: Any], "\(planned)")
        return try #require(source["database"] as? [String: Any], "no source.database in \(file): \(source)")
    }

    /// The sync's watermark as `status` shows it, in text (its `watermarks` section) and in JSON (every run of
    /// the sync on this workspace's table carries it), which must agree; nil when there is none yet.
    static func watermark(_ ws: Workspace, sync: String, table: String) throws -> String? {
        let text = try ws.run("status", sync)
        try #require(text.status == 0, "\(text)")
        let lines = text.stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let section = try #require(lines.firstIndex(of: "watermarks"), "no watermarks section: \(text)")
        let prefix = "  \(sync) ("
        let line = try #require(lines[(section + 1)...].first { $0.hasPrefix(prefix) }, "\(text)")
        // `  NAME (cursor): VALUE (left by plan ID)` or `  NAME (cursor): none yet: …`.
        let value = try #require(line.range(of: "): ").map { String(line[$0.upperBound...]) }, "\(line)")
        let shown: String? =
            value.hasPrefix("none yet")
            ? nil : value.range(of: " (left by plan ").map { String(value[..<$0.lowerBound]) } ?? value

        let json = try ws.run("status", sync, "--format", "json")
        try #require(json.status == 0, "\(json)")
        let runs = try #require(
            try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [[String: Any]], "\(json)")
        for run in runs where run["target"] as? String == ws.table(table) {
            #expect(run["watermark"] as? String == shown, "status text says \(shown ?? "none"), JSON: \(run)")
        }
        return shown
    }

    /// A TIMESTAMP as microseconds since the epoch, from bqsync's text or PostgreSQL's (`2025-01-01 00:00:00+00`).
    static func micros(_ text: String?) -> String? {
        guard var text else { return nil }
        // The harness's reader takes a fraction from the seventh number: drop the UTC offset first.
        for zone in ["+00:00", "+00", "Z"] where text.hasSuffix(zone) {
            text.removeLast(zone.count)
            break
        }
        return bqsyncTests.micros(text)
    }
}

/// A schema of its own for one test, dropped (with its tables) when the test is done.
final class PostgresSchema: @unchecked Sendable {
    let name: String

    /// Creates schema `src_NAME` (NAME a workspace's dataset name: unique to the test and a plain identifier;
    /// PostgreSQL reserves names starting `pg_`).
    init(_ name: String) throws {
        self.name = "src_" + name
        try Postgres.psql("DROP SCHEMA IF EXISTS \(self.name) CASCADE; CREATE SCHEMA \(self.name)")
    }

    deinit { _ = try? Postgres.psql("DROP SCHEMA IF EXISTS \(name) CASCADE") }

    /// `schema.table`.
    func table(_ table: String) -> String { "\(name).\(table)" }

    /// Runs SQL with this schema first on the search path.
    @discardableResult
    func run(_ sql: String) throws -> [[String?]] { try Postgres.psql("SET search_path TO \(name); " + sql) }
}
