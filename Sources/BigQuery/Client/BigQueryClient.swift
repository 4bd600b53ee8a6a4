import Foundation
import HTTP
import Logging

/// The one way bqsync talks to BigQuery. Every job is dry-run and admitted by its budget's `CostGuard` before it
/// is sent, writes to protected tables are refused before sending, calls are retried with backoff and guarded by
/// a circuit breaker, read-only results are cached for the session, and every job is logged.
///
/// What runs where. The actor holds only the session's state and the decisions that read or change it: the
/// protected-table check, the cost guards' admission and settlement, the session cache, the table metadata and
/// creation times, job ids, and the job log. Everything else runs off it, so many calls in flight do not take
/// turns on it:
/// - `perform` (auth headers, the breaker, the exchange, classifying an answer and decoding an error body, the
///   backoff) is `@concurrent`: it reads only constants (`transport`, `authenticator`, `breaker`, `time`,
///   `logger`, `configuration`); the breaker and the authenticator are actors of their own.
/// - Request bodies are built by `encodeObject` / `encodeResource` and responses decoded by `decode` /
///   `decodeTable`, all `@concurrent`; the body builders capture only `Sendable` values.
/// - Reads that touch no state run off the actor whole: job polling (`getJob`, `waitForJob`) and paging
///   through query results (`results`).
/// The actor methods await those helpers and apply what they return, so state changes stay in one place; what
/// stays on the actor is cheap (dictionary updates, appending a record, sums).
public actor BigQueryClient {
    /// Endpoints and behaviour.
    public nonisolated let configuration: ClientConfiguration
    nonisolated let transport: any HTTPTransport
    /// Supplies auth headers.
    public nonisolated let authenticator: Authenticator
    nonisolated let time: any TimeSource
    nonisolated let breaker: CircuitBreaker
    /// Whether the endpoint has answered yet, and whether its first failure was reported.
    nonisolated let reachability = Reachability()
    let protectedTables: [TablePattern]
    let budgets: [String: Budget]
    let guards: [String: CostGuard]
    let cache = QueryCache()
    var tableMetadata: [TableReference: TableResource?] = [:]
    /// When each table read or created in this session was created (ms since the epoch, BigQuery's clock).
    var tableCreated: [TableReference: Int64] = [:]
    /// Every job call, in order.
    public private(set) var records: [JobRecord] = []
    nonisolated let logger: Logger
    private var idCounter = 0
    private let sessionTag: String

    /// Creates a client. Each budget gets its own cost guard; the protected tables of every policy apply.
    public init(
        configuration: ClientConfiguration, transport: any HTTPTransport, authenticator: Authenticator,
        budgets: [Budget], protectedTables: [TablePattern], breaker: CircuitBreakerSettings,
        time: any TimeSource = SystemTime(), logger: Logger = Logger(label: "bqsync.bigquery")
    ) {
        self.configuration = configuration
        self.transport = transport
        self.authenticator = authenticator
        self.time = time
        self.breaker = CircuitBreaker(settings: breaker, time: time)
        self.protectedTables = protectedTables
        self.budgets = Dictionary(budgets.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        self.guards = Dictionary(
            budgets.map { ($0.name, CostGuard(limits: $0.limits)) }, uniquingKeysWith: { first, _ in first })
        self.logger = logger
        self.sessionTag = String(UInt32.random(in: 0...UInt32.max), radix: 16)
    }

    /// The cost guard of a budget.
    public nonisolated func costGuard(_ budget: String) -> CostGuard? {
        guards[budget]
    }

    /// The breaker, for inspection.
    public nonisolated var circuitBreaker: CircuitBreaker { breaker }

    /// The session cache's hits.
    public func cacheHits() async -> Int { await cache.hits }

    /// The project jobs run in: the job's own, the configured one, else the credentials', else `fallback` (the target's).
    public func billingProject(fallback: String?, explicit: String? = nil) async throws(BigQueryError) -> String {
        if let explicit { return explicit }
        if let project = configuration.project { return project }
        if let project = await authenticator.projectId() { return project }
        if let fallback { return fallback }
        throw .invalidName("no project to run jobs in: pass --project or set GOOGLE_CLOUD_PROJECT")
    }

    // MARK: - protected tables

    /// Throws when the table is protected; nothing is sent.
    func checkWritable(_ table: TableReference?, jobId: String, kind: String) throws(BigQueryError) {
        guard let table, let pattern = protectedTables.first(where: { $0.matches(table) }) else { return }
        let refusal = BigQueryError.refused(.protectedTable(table: table.description, pattern: pattern.text))
        record(
            JobRecord(
                kind: kind, jobId: jobId, statementType: nil, bytesProcessed: 0, bytesBilled: 0, costUSD: 0,
                durationSeconds: 0, attempt: 0, outcome: "refused", reason: "protectedTable"))
        throw refusal
    }

    // MARK: - HTTP with retries

    /// Sends one API call with the budget's retry policy. `probe`, when given, runs before each retry and may
    /// return a response to adopt instead (a job an earlier attempt created). Nonisolated: it reads only the
    /// client's constants (transport, authenticator, breaker, clock, logger), so the exchange, its backoff and
    /// the decoding of an error answer never wait for the actor.
    @concurrent
    nonisolated func perform(
        _ method: String, _ url: String, body: HTTPRequest.Body = .none, contentType: String? = "application/json",
        headers extra: [(name: String, value: String)] = [], retry: RetryPolicy, timeout: Double? = nil,
        accepting: Set<Int> = [],
        probe: (@Sendable () async throws(BigQueryError) -> HTTPResponse?)? = nil
    ) async throws(BigQueryError) -> HTTPResponse {
        let start = time.now()
        var attempt = 0
        var forceRefresh = false
        var refreshed = false
        while true {
            attempt += 1
            if attempt > 1, let probe, let adopted = try await probe() { return adopted }
            let request = try await authorizedRequest(
                method, url, body: body, contentType: contentType, headers: extra, timeout: timeout,
                forceRefresh: forceRefresh)
            forceRefresh = false
            switch try await exchange(request, attempt: attempt, accepting: accepting) {
            case .answered(let response):
                return response
            case .unauthorized(let message):
                guard authenticator.canRefresh, !refreshed else {
                    throw .auth("BigQuery rejected the credentials (\(authenticator.source)): \(message)")
                }
                refreshed = true
                forceRefresh = true
                attempt -= 1
            case .unreachable(let transportError):
                let what = unreachable(transportError, url: url)
                let failure = BigQueryError.transport(what)
                guard transportError.isRetryable else { throw failure }
                if isNothingListening(transportError, url: url) {
                    throw .transport(
                        what + "; nothing is listening there"
                            + (configuration.isEmulator ? " (is the emulator running?)" : "")
                            + ". Not retried: no request of this run has reached it yet")
                }
                let wait = try retryWait(after: failure, attempt: attempt, start: start, retry: retry)
                reportFirstFailure(transportError, url: url, attempt: attempt, start: start, retry: retry)
                try await backOff(method, url, attempt: attempt, wait: wait, failure: failure)
            case .retryable(let failure):
                let wait = try retryWait(after: failure, attempt: attempt, start: start, retry: retry)
                try await backOff(method, url, attempt: attempt, wait: wait, failure: failure)
            }
        }
    }

    /// Waits before the next attempt, saying so at notice level; a cancelled wait ends the call.
    nonisolated func backOff(_ method: String, _ url: String, attempt: Int, wait: Double, failure: BigQueryError)
        async throws(BigQueryError)
    {
        logger.notice(
            "retrying",
            metadata: [
                "method": "\(method)", "url": "\(Self.redactedURL(url))", "attempt": .stringConvertible(attempt),
                "wait_s": .stringConvertible(wait), "error": "\(failure.description)",
            ])
        do {
            try await time.sleep(seconds: wait)
        } catch {
            throw .cancelled
        }
    }

    /// The request of one attempt: fresh auth headers, then the content type (when there is a body, or the
    /// method is not GET), then the call's own headers.
    nonisolated func authorizedRequest(
        _ method: String, _ url: String, body: HTTPRequest.Body, contentType: String?,
        headers extra: [(name: String, value: String)], timeout: Double?, forceRefresh: Bool
    ) async throws(BigQueryError) -> HTTPRequest {
        var headers = try await authenticator.headers(forceRefresh: forceRefresh)
        if let contentType, body.inMemoryCount != 0 || method != "GET" {
            headers.append(("Content-Type", contentType))
        }
        headers += extra
        return HTTPRequest(method: method, url: url, headers: headers, body: body, timeout: timeout)
    }

    /// How one attempt ended, when it did not end the call with an error.
    enum Exchange {
        /// A response to return.
        case answered(HTTPResponse)
        /// A 401: the credentials were rejected (with BigQuery's message).
        case unauthorized(String)
        /// A failure worth another attempt.
        case retryable(BigQueryError)
        /// No HTTP answer: the transport's error (retried when it is retryable).
        case unreachable(HTTPError)
    }

    /// One attempt through the breaker: sends the request, tells the breaker how the service did, and sorts the
    /// outcome. Throws for a failure not worth retrying.
    nonisolated func exchange(_ request: HTTPRequest, attempt: Int, accepting: Set<Int>) async throws(BigQueryError)
        -> Exchange
    {
        try await breaker.acquire()
        let sent = time.now()
        let response: HTTPResponse
        do throws(HTTPError) {
            response = try await transport.send(request)
        } catch {
            if error.kind == .cancelled || Task.isCancelled { throw .cancelled }
            await breaker.recordFailure()
            logger.debug(
                "http",
                metadata: [
                    "method": "\(request.method)", "url": "\(Self.redactedURL(request.url))",
                    "error": "\(error.kind.rawValue)", "attempt": .stringConvertible(attempt),
                ])
            return .unreachable(error)
        }
        reachability.markAnswered()
        logger.debug(
            "http",
            metadata: [
                "method": "\(request.method)", "url": "\(Self.redactedURL(request.url))",
                "status": .stringConvertible(response.status),
                "ms": .stringConvertible(Int((time.now() - sent) * 1000)),
                "attempt": .stringConvertible(attempt),
            ])
        switch Self.classify(response, accepting: accepting) {
        case .success:
            await breaker.recordSuccess()
            return .answered(response)
        case .unauthorized(let message):
            await breaker.recordSuccess()
            return .unauthorized(message)
        case .fatal(let error):
            await breaker.recordSuccess()
            throw error
        case .retryable(let error):
            await breaker.recordFailure()
            return .retryable(error)
        }
    }

    /// What a response means for the call; a 4xx the service answered (other than a retryable reason) is the
    /// caller's fault, not the service's.
    enum Verdict: Equatable {
        case success
        case unauthorized(String)
        case fatal(BigQueryError)
        case retryable(BigQueryError)
    }

    /// Sorts a response: success (2xx or an accepted status), a 401, or an API error retried by its reason.
    static func classify(_ response: HTTPResponse, accepting: Set<Int>) -> Verdict {
        if response.isSuccess || accepting.contains(response.status) { return .success }
        let (reason, message) = errorInfo(response)
        if response.status == 401 { return .unauthorized(message) }
        let error = BigQueryError.api(status: response.status, reason: reason, message: message)
        return Retry.isRetryable(status: response.status, reason: reason) ? .retryable(error) : .fatal(error)
    }

    /// The wait before the next attempt, or the error that ends the call: attempts run out, or the wait would
    /// pass the retry deadline.
    nonisolated func retryWait(after failure: BigQueryError, attempt: Int, start: Double, retry: RetryPolicy)
        throws(BigQueryError) -> Double
    {
        guard attempt < retry.maxAttempts else {
            throw .retriesExhausted(attempts: attempt, last: failure.description)
        }
        let wait = time.jitter(upTo: retry.ceiling(beforeRetry: attempt).seconds)
        let elapsed = time.now() - start
        guard elapsed + wait <= retry.deadline.seconds else {
            throw .retriesExhausted(
                attempts: attempt,
                last: "\(failure.description) (retry deadline of \(Int(retry.deadline.seconds))s reached)")
        }
        return wait
    }

    /// The reason and message of an error answer.
    static func errorInfo(_ response: HTTPResponse) -> (String?, String) {
        if let decoded = try? JSONDecoder().decode(ErrorResponse.self, from: Data(response.body)),
            let body = decoded.error
        {
            let first = body.errors?.first
            return (first?.reason ?? body.status, body.message ?? first?.message ?? "HTTP \(response.status)")
        }
        let text = String(decoding: response.body.prefix(200), as: UTF8.self)
            .unicodeScalars.filter { $0.value >= 0x20 || $0 == "\n" }.map(String.init).joined()
        return (nil, text.isEmpty ? "HTTP \(response.status)" : "HTTP \(response.status): \(text)")
    }

    /// The URL without its query string (which can carry upload ids).
    static func redactedURL(_ url: String) -> String {
        url.split(separator: "?", maxSplits: 1).first.map(String.init) ?? url
    }

    // MARK: - JSON

    /// A request body, the JSON object whose fields `fields` writes, built off the actor: a large body (an
    /// `insertAll` batch) is built on the concurrent pool while the actor serves other calls. `fields` may use
    /// only what it captures.
    @concurrent
    nonisolated static func encodeObject(
        capacity: Int = 256, _ fields: @Sendable (inout JSONWriter.ObjectWriter) -> Void
    ) async -> [UInt8] {
        var json = JSONWriter(capacity: capacity)
        json.object(fields)
        return json.bytes
    }

    /// A resource encoded with `JSONEncoder`, off the actor; nil when it cannot be encoded.
    @concurrent
    nonisolated static func encodeResource<T: Encodable & Sendable>(_ value: T) async -> [UInt8]? {
        (try? JSONEncoder().encode(value)).map(Array.init)
    }

    /// Decodes a response body off the actor: a large one (a page of query results, a job resource) is parsed
    /// on the concurrent pool while the actor serves other calls.
    @concurrent
    nonisolated func decode<T: Decodable & Sendable>(_ type: T.Type, _ response: HTTPResponse, what: String)
        async throws(BigQueryError) -> T
    {
        do {
            return try JSONDecoder().decode(T.self, from: Data(response.body))
        } catch {
            throw .invalidResponse("\(what): \(String(describing: error).prefix(200))")
        }
    }

    // MARK: - ids, labels, URLs

    /// A fresh random job id for jobs that need no determinism.
    func randomJobId(_ prefix: String) -> String {
        idCounter += 1
        return "bqsync_\(prefix)_\(sessionTag)_\(idCounter)_\(UInt32.random(in: 0...UInt32.max))"
    }

    /// The client's labels plus the job's, made valid (lowercase letters, digits, `_`, `-`; at most 63).
    nonisolated func labels(_ extra: [String: String]) -> [(String, String)] {
        var merged = configuration.labels
        for (key, value) in extra { merged[key] = value }
        return merged.compactMap { key, value in
            let k = Self.labelText(key)
            guard let first = k.first, first.isLetter else { return nil }
            return (k, Self.labelText(value))
        }.sorted { $0.0 < $1.0 }
    }

    /// Text made into a valid label value (lowercase letters, digits, `_`, `-`; at most 63 characters).
    public static func labelValue(_ text: String) -> String { labelText(text) }

    static func labelText(_ text: String) -> String {
        String(
            text.lowercased().map { ($0.isASCII && ($0.isLetter || $0.isNumber)) || $0 == "_" || $0 == "-" ? $0 : "_" }
                .prefix(63))
    }

    /// Percent-encodes one path segment: every byte of its UTF-8 but RFC 3986's unreserved ASCII characters
    /// (letters, digits, `-._~`) as `%XX`. Written out byte by byte: a `CharacterSet` built per call cost memory
    /// and time on every request of a large plan (docs/benchmarks.md), and its `alphanumerics` would let non-ASCII
    /// letters through unencoded.
    static func segment(_ text: String) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count)
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                UInt8(ascii: "~"):
                out.append(byte)
            default:
                out += [UInt8(ascii: "%"), hex[Int(byte >> 4)], hex[Int(byte & 0x0F)]]
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// `?a=b&c=d`, percent-encoded, nil values left out.
    static func query(_ items: [(String, String?)]) -> String {
        let parts = items.compactMap { key, value in value.map { "\(key)=\(segment($0))" } }
        return parts.isEmpty ? "" : "?" + parts.joined(separator: "&")
    }

    nonisolated func projectURL(_ project: String) -> String {
        "\(configuration.apiRoot)/projects/\(Self.segment(project))"
    }

    nonisolated func tableURL(_ table: TableReference) -> String {
        "\(projectURL(table.projectId))/datasets/\(Self.segment(table.datasetId))/tables/\(Self.segment(table.tableId))"
    }

    // MARK: - job log

    func record(_ entry: JobRecord) {
        var entry = entry
        if entry.sync == nil { entry.sync = JobLog.sync }
        records.append(entry)
        var metadata: Logger.Metadata = entry.sync.map { ["sync": "\($0)"] } ?? [:]
        metadata.merge(
            [
                "kind": "\(entry.kind)", "job_id": "\(entry.jobId)", "statement": "\(entry.statementType ?? "-")",
                "bytes_processed": .stringConvertible(entry.bytesProcessed),
                "bytes_billed": .stringConvertible(entry.bytesBilled), "cost_usd": .stringConvertible(entry.costUSD),
                "duration_s": .stringConvertible(entry.durationSeconds), "attempt": .stringConvertible(entry.attempt),
                "outcome": "\(entry.outcome)", "reason": "\(entry.reason ?? "-")",
            ]
        ) { _, new in new }
        logger.info("job", metadata: metadata)
    }

    func warn(_ messages: [String], budget: String) {
        for message in messages {
            logger.warning("budget", metadata: ["policy": "\(budget)", "warning": "\(message)"])
        }
    }
}
