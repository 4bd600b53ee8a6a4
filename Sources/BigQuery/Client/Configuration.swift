import Foundation
import HTTP

/// Where the BigQuery API is and how the client behaves.
public struct ClientConfiguration: Sendable {
    /// The REST root, e.g. `https://bigquery.googleapis.com/bigquery/v2`.
    public var apiRoot: String
    /// The upload root, e.g. `https://bigquery.googleapis.com/upload/bigquery/v2`.
    public var uploadRoot: String
    /// Whether this is the local emulator (no auth).
    public var isEmulator: Bool
    /// The project jobs run in, when given (`--project`, `GOOGLE_CLOUD_PROJECT`).
    public var project: String?
    /// Where the endpoint came from, for messages that name it: `--endpoint`, `BQSYNC_ENDPOINT`,
    /// `BIGQUERY_EMULATOR_HOST`, or Google's default.
    public var endpointSource: String = "the default endpoint"
    /// Labels added to every job.
    public var labels: [String: String] = ["tool": "bqsync"]
    /// First wait between job status polls, in seconds (doubles up to `maxPollInterval`).
    public var pollInterval: Double = 0.2
    /// Longest wait between job status polls.
    public var maxPollInterval: Double = 5
    /// Uploads up to this size go in one multipart request; larger ones are resumable.
    public var multipartLimit: Int = 8 << 20
    /// Chunk size of resumable uploads (a multiple of 256 KiB).
    public var uploadChunk: Int = 8 << 20
    /// Rows per page of query results.
    public var pageSize: Int = 10_000

    /// Google's production endpoints.
    public static let googleRoot = "https://bigquery.googleapis.com"

    /// Creates a configuration.
    public init(apiRoot: String, uploadRoot: String, isEmulator: Bool, project: String?) {
        self.apiRoot = apiRoot
        self.uploadRoot = uploadRoot
        self.isEmulator = isEmulator
        self.project = project
    }

    /// Resolves the endpoint: `--endpoint` / `BQSYNC_ENDPOINT` (auth kept), else `BIGQUERY_EMULATOR_HOST`
    /// (no auth; accepted with or without a scheme), else Google.
    public static func resolve(
        endpoint: String?, project: String?, environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(BigQueryError) -> ClientConfiguration {
        let fromEnvironment = environment["BQSYNC_ENDPOINT"].flatMap { $0.isEmpty ? nil : $0 }
        let explicit = endpoint ?? fromEnvironment
        let project = project ?? environment["GOOGLE_CLOUD_PROJECT"].flatMap { $0.isEmpty ? nil : $0 }
        if let explicit {
            let source = endpoint != nil ? "--endpoint" : "BQSYNC_ENDPOINT"
            // Credentials go to this endpoint: it must be https, or plain http on this machine's loopback.
            if let problem = Endpoint.cleartextProblem(explicit) {
                throw .invalidName(
                    "endpoint '\(explicit)' (from \(source)) would carry credentials in clear text: \(problem)")
            }
            let (api, upload) = try roots(for: explicit)
            var configuration = ClientConfiguration(
                apiRoot: api, uploadRoot: upload, isEmulator: false, project: project)
            configuration.endpointSource = source
            return configuration
        }
        if let host = environment["BIGQUERY_EMULATOR_HOST"], !host.isEmpty {
            let base = host.contains("://") ? host : "http://" + host
            let (api, upload) = try roots(for: base)
            var configuration = ClientConfiguration(
                apiRoot: api, uploadRoot: upload, isEmulator: true, project: project)
            configuration.endpointSource = "BIGQUERY_EMULATOR_HOST"
            return configuration
        }
        let (api, upload) = try roots(for: googleRoot)
        return ClientConfiguration(apiRoot: api, uploadRoot: upload, isEmulator: false, project: project)
    }

    /// `https://host[:port][/prefix]` → the REST and upload roots. A URL ending in `/bigquery/v2` is the REST root.
    static func roots(for url: String) throws(BigQueryError) -> (String, String) {
        var base = url
        while base.hasSuffix("/") { base.removeLast() }
        guard let parsed = URL(string: base), let scheme = parsed.scheme?.lowercased(),
            scheme == "http" || scheme == "https",
            parsed.host != nil
        else {
            throw .invalidName("endpoint '\(url)' is not an http(s) URL")
        }
        if parsed.user != nil || parsed.password != nil || parsed.query != nil {
            throw .invalidName("endpoint '\(url)' must not carry credentials or a query")
        }
        if base.hasSuffix("/bigquery/v2") {
            let root = String(base.dropLast("/bigquery/v2".count))
            return (base, root + "/upload/bigquery/v2")
        }
        return (base + "/bigquery/v2", base + "/upload/bigquery/v2")
    }
}

/// One policy's budget and retry behaviour, as the client applies it to the jobs that name it.
public struct Budget: Sendable {
    /// The policy's name; jobs name their budget.
    public var name: String
    /// Cost limits.
    public var limits: CostLimits
    /// Retries.
    public var retry: RetryPolicy
    /// Whether query results may come from a cache (BigQuery's and the session's).
    public var cache: Bool

    /// Creates a budget.
    public init(name: String, limits: CostLimits, retry: RetryPolicy, cache: Bool) {
        self.name = name
        self.limits = limits
        self.retry = retry
        self.cache = cache
    }
}
