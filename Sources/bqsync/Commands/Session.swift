import BigQuery
import Foundation
import HTTP
import Logging
import SyncKit

/// One bqsync invocation's connection to BigQuery: the one client, with a budget (cost guard) per policy, the
/// protected tables of every policy, and the circuit breaker.
enum Session {
    /// Builds the client for loaded configuration: endpoint and project from the options and environment,
    /// credentials by Application Default Credentials (none for the emulator).
    static func client(
        configuration: Configuration, endpoint: String?, project: String?,
        transport: (any HTTPTransport)? = nil, logger: Logger = Logger(label: "bqsync.bigquery"),
        warn: (String) -> Void = { _ in }
    ) throws(SyncError) -> BigQueryClient {
        let clientConfiguration: ClientConfiguration
        let source: CredentialSource
        do {
            clientConfiguration = try ClientConfiguration.resolve(endpoint: endpoint, project: project)
            if clientConfiguration.isEmulator {
                source = .none
            } else {
                let (found, warnings) = try CredentialDiscovery().discover()
                warnings.forEach(warn)
                source = found
            }
        } catch {
            throw SyncError.bigQuery(error)
        }
        let transportConfiguration = try transportConfiguration()
        let transport = transport ?? CurlTransport(configuration: transportConfiguration)
        var policies = Array(configuration.policies.values).sorted { $0.name < $1.name }
        if !policies.contains(where: { $0.name == Policy.builtInDefault.name }) { policies.append(.builtInDefault) }
        let budgets = policies.map { Budget(name: $0.name, limits: $0.limits, retry: $0.retry, cache: $0.cache) }
        let protected = policies.flatMap(\.protectedTables)
        // One breaker guards the one endpoint: the strictest policy's settings.
        let breaker = policies.map(\.circuitBreaker).min { $0.failureThreshold < $1.failureThreshold } ?? .defaults
        return BigQueryClient(
            configuration: clientConfiguration, transport: transport,
            authenticator: Authenticator(source: source, transport: transport),
            budgets: budgets, protectedTables: protected, breaker: breaker, logger: logger)
    }

    /// The transport's settings: `BQSYNC_HTTP_TIMEOUT` (seconds, e.g. `30` or `2.5`) bounds each HTTP exchange;
    /// without it the transport's default (300 s) applies. A request that times out is retried like any
    /// other transient failure.
    static func transportConfiguration(environment: [String: String] = ProcessInfo.processInfo.environment)
        throws(SyncError)
        -> CurlTransport.Configuration
    {
        var configuration = CurlTransport.Configuration(environment: environment)
        if let text = environment["BQSYNC_HTTP_TIMEOUT"], !text.isEmpty {
            guard let seconds = Double(text), seconds.isFinite, seconds > 0, seconds <= 86_400 else {
                throw SyncError.usage(
                    "BQSYNC_HTTP_TIMEOUT must be a number of seconds between 0 and 86400, not '\(text)'")
            }
            configuration.defaultTimeout = seconds
        }
        return configuration
    }
}
