import Foundation
import HTTP
import Synchronization

/// An in-memory stand-in for BigQuery's REST API with BigQuery's own semantics where the emulator differs:
/// dry runs report bytes, a duplicate job id answers 409, jobs report bytes billed, and faults can be scripted.
/// It does not run SQL: queries return the rows a test gives.
public final class FakeBigQuery: Sendable {
    /// A scripted fault.
    public enum Fault: Sendable {
        /// Answer with this status and BigQuery error reason (nothing executes).
        case status(Int, reason: String)
        /// The connection is reset before the request arrives.
        case reset
        /// The request times out before it arrives.
        case timeout
        /// The request executes, but its answer is lost (connection reset afterwards).
        case lostResponse
        /// A job is created but fails with this reason (and message).
        case jobError(reason: String, message: String? = nil)
    }

    /// A fault with the requests it applies to.
    public struct ScriptedFault: Sendable {
        /// Which requests it applies to.
        public var matches: @Sendable (RecordedRequest) -> Bool
        /// What happens.
        public var fault: Fault
        /// How many more requests it applies to.
        public var remaining: Int

        /// Creates a fault.
        public init(times: Int = 1, fault: Fault, matches: @escaping @Sendable (RecordedRequest) -> Bool) {
            self.matches = matches
            self.fault = fault
            self.remaining = times
        }
    }

    /// A table the fake knows.
    public struct Table: Sendable {
        public var fields: [[String: String]]
        public var numBytes: Int64
        public var numRows: Int64
        public var etag: Int = 1
        /// What `tables.insert` was given, answered back as BigQuery does.
        public var description: String?
        public var labels: [String: String] = [:]
        public var expirationTime: String?

        public init(fields: [[String: String]], numBytes: Int64 = 0, numRows: Int64 = 0) {
            self.fields = fields
            self.numBytes = numBytes
            self.numRows = numRows
        }
    }

    struct State {
        var tables: [String: Table] = [:]
        var datasets: [String: String] = [:]  // "p.d" → location
        var jobs: [String: [UInt8]] = [:]
        var jobSQL: [String: String] = [:]
        var executions: [String: Int] = [:]
        var faults: [ScriptedFault] = []
        var tokenRequests = 0
        var tokens: [String] = []
        var dryRunBytes: @Sendable (String) -> (Int64, String) = { _ in (0, "PRECISE") }
        var billedBytes: (@Sendable (String) -> Int64)?
        var scans: (@Sendable (String) -> [String: Int64])?
        var rows: @Sendable (String) -> [[String?]] = { _ in [] }
        var schema: @Sendable (String) -> [[String: String]] = { _ in [] }
        var affectedRows: @Sendable (String) -> Int64 = { _ in 0 }
        var rejectToken: String?
    }

    private let state = Mutex(State())
    /// The transport to give a client.
    public let transport: ScriptedTransport

    /// Creates an empty fake.
    public init() {
        let box = WeakBox()
        transport = ScriptedTransport { request, _ throws(HTTPError) in
            guard let fake = box.value else { return HTTPResponse(status: 500) }
            return try await fake.handle(request)
        }
        box.value = self
    }

    private final class WeakBox: @unchecked Sendable {
        // @unchecked: set once in init before any request can arrive.
        weak var value: FakeBigQuery?
    }

    // MARK: - configuration

    /// Adds a dataset.
    public func addDataset(_ project: String, _ dataset: String, location: String = "US") {
        state.withLock { $0.datasets["\(project).\(dataset)"] = location }
    }

    /// Adds a table (`p.d.t`).
    public func addTable(_ name: String, _ table: Table) {
        state.withLock { $0.tables[name] = table }
    }

    /// A table's current metadata.
    public func table(_ name: String) -> Table? { state.withLock { $0.tables[name] } }

    /// What dry runs report for a SQL text: bytes and accuracy.
    public func setDryRun(_ answer: @escaping @Sendable (String) -> (Int64, String)) {
        state.withLock { $0.dryRunBytes = answer }
    }

    /// What jobs report as `totalBytesBilled` (default: the dry-run bytes rounded with BigQuery's minimums).
    public func setBilled(_ answer: @escaping @Sendable (String) -> Int64) {
        state.withLock { $0.billedBytes = answer }
    }

    /// What a statement processes of each table it references (`p.d.t` → bytes). Dry runs then report the total
    /// and the tables, as BigQuery's do, and jobs bill as BigQuery bills: each table rounded up to a whole MB with
    /// a 10 MB minimum (docs/bigquery.md, "Billing"), and over `maximumBytesBilled` the job fails, uncharged.
    public func setScans(_ answer: @escaping @Sendable (String) -> [String: Int64]) {
        state.withLock { $0.scans = answer }
    }

    /// The rows and schema a SELECT returns.
    public func setResult(schema: [[String: String]], rows: @escaping @Sendable (String) -> [[String?]]) {
        state.withLock {
            $0.schema = { _ in schema }
            $0.rows = rows
        }
    }

    /// `numDmlAffectedRows` for a DML text.
    public func setAffectedRows(_ answer: @escaping @Sendable (String) -> Int64) {
        state.withLock { $0.affectedRows = answer }
    }

    /// Queues a fault.
    public func inject(_ fault: ScriptedFault) { state.withLock { $0.faults.append(fault) } }

    /// Makes one access token be refused with 401.
    public func rejectToken(_ token: String?) { state.withLock { $0.rejectToken = token } }

    // MARK: - observation

    /// How many times each job id executed (a correct client never executes one twice).
    public var executions: [String: Int] { state.withLock { $0.executions } }
    /// The SQL of each executed query job by id.
    public var jobSQL: [String: String] { state.withLock { $0.jobSQL } }
    /// Token requests served.
    public var tokenRequests: Int { state.withLock { $0.tokenRequests } }
    /// Tokens handed out.
    public var issuedTokens: [String] { state.withLock { $0.tokens } }

    // MARK: - serving

    func handle(_ request: RecordedRequest) async throws(HTTPError) -> HTTPResponse {
        let fault: Fault? = state.withLock { state in
            guard let index = state.faults.firstIndex(where: { $0.remaining > 0 && $0.matches(request) }) else {
                return nil
            }
            state.faults[index].remaining -= 1
            return state.faults[index].fault
        }
        switch fault {
        case .status(let code, let reason)?:
            return .bigQueryError(code, reason: reason, message: "injected \(reason)")
        case .reset?:
            throw HTTPError(.connectionLost, "Connection reset by peer (injected)")
        case .timeout?:
            throw HTTPError(.timeout, "Operation timed out (injected)")
        case .lostResponse?:
            _ = serve(request, jobFailure: nil)
            throw HTTPError(.connectionLost, "Connection reset by peer after the request was served (injected)")
        case .jobError(let reason, let message)?:
            return serve(request, jobFailure: (reason, message ?? "injected \(reason)"))
        case nil:
            return serve(request, jobFailure: nil)
        }
    }

    private func serve(_ request: RecordedRequest, jobFailure: (reason: String, message: String)?) -> HTTPResponse {
        if request.url.contains("/token") || request.url.contains("computeMetadata") {
            return state.withLock { state in
                state.tokenRequests += 1
                let token = "ya29.fake-token-\(state.tokenRequests)"
                state.tokens.append(token)
                return .json(200, ["access_token": token, "expires_in": 3600, "token_type": "Bearer"])
            }
        }
        if let rejected = state.withLock({ $0.rejectToken }), request.header("Authorization") == "Bearer \(rejected)" {
            return .bigQueryError(401, reason: "authError", message: "Request had invalid authentication credentials.")
        }
        let path = request.path
        let parts = path.split(separator: "/").map(String.init)
        guard let projectIndex = parts.firstIndex(of: "projects"), projectIndex + 1 < parts.count else {
            return .bigQueryError(404, reason: "notFound", message: "unknown path \(path)")
        }
        let project = parts[projectIndex + 1]
        let rest = Array(parts[(projectIndex + 2)...])
        switch (request.method, rest.count, rest.first) {
        case ("POST", 1, "jobs"):
            if path.contains("/upload/") { return insertUpload(request, project: project, jobFailure: jobFailure) }
            return insertJob(request.json ?? [:], project: project, jobFailure: jobFailure)
        case ("GET", 2, "jobs"):
            return state.withLock { state in
                guard let job = state.jobs[rest[1]] else {
                    return .bigQueryError(404, reason: "notFound", message: "Not found: Job \(project):\(rest[1])")
                }
                return HTTPResponse(status: 200, headers: [("Content-Type", "application/json")], body: job)
            }
        case ("POST", 3, "jobs") where rest[2] == "cancel":
            return .json(200, ["kind": "bigquery#jobCancelResponse"])
        case ("GET", 1, "jobs"):
            let jobs = state.withLock { Array($0.jobs.values) }
            return .json(200, ["jobs": jobs.compactMap { try? JSONSerialization.jsonObject(with: Data($0)) }])
        case ("GET", 2, "queries"):
            return results(request, jobId: rest[1])
        case ("GET", 2, "datasets"), ("POST", 1, "datasets"):
            return dataset(request, project: project, rest: rest)
        case (_, _, "datasets") where rest.count >= 3:
            return table(request, project: project, rest: rest)
        default:
            return .bigQueryError(404, reason: "notFound", message: "unknown path \(path)")
        }
    }

    private func statementType(_ sql: String) -> String {
        let word = sql.drop { $0.isWhitespace }.prefix { $0.isLetter }.uppercased()
        switch word {
        case "WITH": return "SELECT"
        case "CREATE": return "CREATE_TABLE"
        case "DROP": return "DROP_TABLE"
        default: return word
        }
    }

    private func insertJob(_ body: [String: Any], project: String, jobFailure: (reason: String, message: String)?)
        -> HTTPResponse
    {
        let configurationBytes =
            (try? JSONSerialization.data(withJSONObject: body["configuration"] ?? [:])) ?? Data("{}".utf8)
        let reference = body["jobReference"] as? [String: Any] ?? [:]
        let jobId = reference["jobId"] as? String ?? "fake_\(UUID().uuidString)"
        let location = reference["location"] as? String ?? "US"
        let sql = ((body["configuration"] as? [String: Any])?["query"] as? [String: Any])?["query"] as? String ?? ""
        return state.withLock { state in
            let configuration = (try? JSONSerialization.jsonObject(with: configurationBytes)) as? [String: Any] ?? [:]
            let query = configuration["query"] as? [String: Any]
            let scans = state.scans?(sql)
            if configuration["dryRun"] as? Bool == true {
                var (bytes, accuracy) = state.dryRunBytes(sql)
                var statistics: [String: Any] = [
                    "totalBytesProcessedAccuracy": accuracy, "statementType": statementType(sql),
                ]
                if let scans {
                    bytes = scans.values.reduce(0, +)
                    statistics["referencedTables"] = scans.keys.sorted().map { name in
                        let parts = name.split(separator: ".").map(String.init)
                        return [
                            "projectId": parts.first ?? "", "datasetId": parts.dropFirst().first ?? "",
                            "tableId": parts.last ?? "",
                        ]
                    }
                }
                statistics["totalBytesProcessed"] = String(bytes)
                return .json(
                    200,
                    [
                        "jobReference": ["projectId": project, "location": location],
                        "status": ["state": "DONE"],
                        "statistics": ["query": statistics],
                    ])
            }
            if state.jobs[jobId] != nil {
                return .bigQueryError(
                    409, reason: "duplicate", message: "Already Exists: Job \(project):\(location).\(jobId)")
            }
            state.executions[jobId, default: 0] += 1
            var statistics: [String: Any] = [:]
            var status: [String: Any] = ["state": "DONE"]
            if let query {
                state.jobSQL[jobId] = sql
                let bytes = scans.map { $0.values.reduce(0, +) } ?? state.dryRunBytes(sql).0
                let rounded = { (bytes: Int64) in max(10 << 20, (bytes + (1 << 20) - 1) / (1 << 20) * (1 << 20)) }
                let billed =
                    state.billedBytes?(sql) ?? scans.map { $0.values.reduce(0) { $0 + rounded($1) } } ?? rounded(bytes)
                let limit = Int64(query["maximumBytesBilled"] as? String ?? "") ?? Int64.max
                if billed > limit {
                    status["errorResult"] = [
                        "reason": "bytesBilledLimitExceeded",
                        "message": "Query exceeded limit for bytes billed: \(limit). \(billed) or higher required.",
                    ]
                    statistics["query"] = ["statementType": statementType(sql)]
                } else {
                    var stats: [String: Any] = [
                        "totalBytesProcessed": String(bytes), "totalBytesBilled": String(billed),
                        "statementType": statementType(sql), "cacheHit": false,
                    ]
                    if statementType(sql) != "SELECT" { stats["numDmlAffectedRows"] = String(state.affectedRows(sql)) }
                    statistics["query"] = stats
                }
            } else if configuration["load"] != nil {
                statistics["load"] = ["outputRows": "0"]
            }
            if let jobFailure {
                status["errorResult"] = ["reason": jobFailure.reason, "message": jobFailure.message]
            }
            let job: [String: Any] = [
                "id": "\(project):\(location).\(jobId)",
                "jobReference": ["projectId": project, "jobId": jobId, "location": location],
                "configuration": configuration, "status": status, "statistics": statistics,
            ]
            let bytes = Array((try? JSONSerialization.data(withJSONObject: job, options: [.sortedKeys])) ?? Data())
            state.jobs[jobId] = bytes
            return HTTPResponse(status: 200, headers: [("Content-Type", "application/json")], body: bytes)
        }
    }

    private func insertUpload(
        _ request: RecordedRequest, project: String, jobFailure: (reason: String, message: String)?
    ) -> HTTPResponse {
        // The JSON part of a multipart body is the first `{`…`}` block after its headers.
        let text = request.text
        guard let start = text.range(of: "\r\n\r\n"),
            let end = text.range(of: "\r\n--", range: start.upperBound..<text.endIndex)
        else {
            return .bigQueryError(400, reason: "invalid", message: "not a multipart body")
        }
        let json =
            (try? JSONSerialization.jsonObject(with: Data(text[start.upperBound..<end.lowerBound].utf8)))
            as? [String: Any] ?? [:]
        return insertJob(json, project: project, jobFailure: jobFailure)
    }

    private func results(_ request: RecordedRequest, jobId: String) -> HTTPResponse {
        state.withLock { state in
            guard state.jobs[jobId] != nil else {
                return .bigQueryError(404, reason: "notFound", message: "Not found: Job \(jobId)")
            }
            let sql = state.jobSQL[jobId] ?? ""
            let rows = state.rows(sql)
            let items = URLComponents(string: request.url)?.queryItems ?? []
            let offset = Int(items.first { $0.name == "pageToken" }?.value ?? "") ?? 0
            let size = Int(items.first { $0.name == "maxResults" }?.value ?? "") ?? 10_000
            let page = Array(rows.dropFirst(offset).prefix(size))
            var body: [String: Any] = [
                "jobComplete": true, "totalRows": String(rows.count),
                "schema": ["fields": state.schema(sql)],
                "rows": page.map { row in
                    ["f": row.map { cell -> [String: Any] in cell.map { ["v": $0] } ?? ["v": NSNull()] }]
                },
            ]
            if offset + size < rows.count { body["pageToken"] = String(offset + size) }
            return .json(200, body)
        }
    }

    private func dataset(_ request: RecordedRequest, project: String, rest: [String]) -> HTTPResponse {
        state.withLock { state in
            if request.method == "GET" {
                let key = "\(project).\(rest[1])"
                guard let location = state.datasets[key] else {
                    return .bigQueryError(404, reason: "notFound", message: "Not found: Dataset \(project):\(rest[1])")
                }
                return .json(
                    200, ["datasetReference": ["projectId": project, "datasetId": rest[1]], "location": location])
            }
            let body = request.json ?? [:]
            let reference = body["datasetReference"] as? [String: Any] ?? [:]
            let id = reference["datasetId"] as? String ?? ""
            let key = "\(project).\(id)"
            if state.datasets[key] != nil {
                return .bigQueryError(409, reason: "duplicate", message: "Already Exists: Dataset \(key)")
            }
            let location = body["location"] as? String ?? "US"
            state.datasets[key] = location
            return .json(200, ["datasetReference": ["projectId": project, "datasetId": id], "location": location])
        }
    }

    private func table(_ request: RecordedRequest, project: String, rest: [String]) -> HTTPResponse {
        state.withLock { state in
            let dataset = rest[1]
            if request.method == "POST" && rest.count == 3 {
                let body = request.json ?? [:]
                let reference = body["tableReference"] as? [String: Any] ?? [:]
                let name = "\(project).\(dataset).\(reference["tableId"] as? String ?? "")"
                if state.datasets["\(project).\(dataset)"] == nil {
                    return .bigQueryError(404, reason: "notFound", message: "Not found: Dataset \(project):\(dataset)")
                }
                if state.tables[name] != nil {
                    return .bigQueryError(409, reason: "duplicate", message: "Already Exists: Table \(name)")
                }
                let fields = ((body["schema"] as? [String: Any])?["fields"] as? [[String: Any]] ?? []).map { field in
                    field.compactMapValues { $0 as? String }
                }
                var table = Table(fields: fields)
                table.description = body["description"] as? String
                table.labels = body["labels"] as? [String: String] ?? [:]
                table.expirationTime = body["expirationTime"] as? String
                state.tables[name] = table
                return .json(
                    200,
                    tableJSON(name, state.tables[name]!, body: body, location: state.datasets["\(project).\(dataset)"]))
            }
            guard rest.count == 4 else { return .bigQueryError(404, reason: "notFound", message: "unknown table path") }
            let name = "\(project).\(dataset).\(rest[3])"
            guard let table = state.tables[name] else {
                return .bigQueryError(404, reason: "notFound", message: "Not found: Table \(name)")
            }
            if request.method == "DELETE" {
                state.tables[name] = nil
                return HTTPResponse(status: 204)
            }
            return .json(200, tableJSON(name, table, body: [:], location: state.datasets["\(project).\(dataset)"]))
        }
    }

    /// A table resource as BigQuery answers it, with its dataset's location.
    private func tableJSON(_ name: String, _ table: Table, body: [String: Any], location: String?) -> [String: Any] {
        let parts = name.split(separator: ".").map(String.init)
        var json = body
        json["location"] = location ?? "US"
        json["tableReference"] = ["projectId": parts[0], "datasetId": parts[1], "tableId": parts[2]]
        json["schema"] = ["fields": table.fields]
        json["numBytes"] = String(table.numBytes)
        json["numRows"] = String(table.numRows)
        json["etag"] = "etag-\(table.etag)"
        if let description = table.description { json["description"] = description }
        if !table.labels.isEmpty { json["labels"] = table.labels }
        if let expiration = table.expirationTime { json["expirationTime"] = expiration }
        return json
    }
}
