import Foundation
import HTTP

/// Supplies the auth headers of each request: caches the access token, refreshes it 225 s before it
/// expires, and once more when BigQuery answers 401. Concurrent refreshes are coalesced into one.
public actor Authenticator {
    /// An access token and when it expires (Unix seconds).
    struct AccessToken: Sendable {
        var value: Secret
        var expiresAt: Double
    }

    /// Seconds before expiry at which a token is refreshed.
    public static let refreshMargin = 225.0

    /// Where tokens come from.
    public nonisolated let source: CredentialSource
    private let transport: any HTTPTransport
    private let clock: any WallClock
    private var token: AccessToken?
    private var refreshing: Task<AccessToken, any Error>?
    private var metadataProject: String?

    /// Creates an authenticator.
    public init(source: CredentialSource, transport: any HTTPTransport, clock: any WallClock = SystemWallClock()) {
        self.source = source
        self.transport = transport
        self.clock = clock
    }

    /// Whether a rejected token can be replaced by a fresh one.
    public nonisolated var canRefresh: Bool {
        switch source {
        case .none, .token: return false
        default: return true
        }
    }

    /// The project the credentials belong to, if they name one.
    public func projectId() async -> String? {
        switch source {
        case .serviceAccount(let key): return key.projectId
        case .authorizedUser(let key): return key.quotaProjectId
        case .metadata(let host):
            if let metadataProject { return metadataProject }
            let request = HTTPRequest(
                method: "GET", url: "http://\(host)/computeMetadata/v1/project/project-id",
                headers: [("Metadata-Flavor", "Google")], timeout: 3)
            guard let response = try? await transport.send(request), response.isSuccess else { return nil }
            metadataProject = String(decoding: response.body, as: UTF8.self)
            return metadataProject
        default: return nil
        }
    }

    /// The headers to add: `Authorization` (and `x-goog-user-project` when the credentials name a quota project).
    public func headers(forceRefresh: Bool = false) async throws(BigQueryError) -> [(name: String, value: String)] {
        var headers: [(name: String, value: String)] = []
        switch source {
        case .none:
            return []
        case .token(let secret, _):
            return [("Authorization", "Bearer \(secret.value)")]
        case .serviceAccount(let key):
            if let quota = key.quotaProjectId { headers.append(("x-goog-user-project", quota)) }
        case .authorizedUser(let key):
            if let quota = key.quotaProjectId { headers.append(("x-goog-user-project", quota)) }
        case .metadata:
            break
        }
        let token = try await currentToken(forceRefresh: forceRefresh)
        headers.insert(("Authorization", "Bearer \(token.value.value)"), at: 0)
        return headers
    }

    private func currentToken(forceRefresh: Bool) async throws(BigQueryError) -> AccessToken {
        if !forceRefresh, let token, clock.unixTime() < token.expiresAt - Self.refreshMargin {
            return token
        }
        if let refreshing {
            return try await wait(refreshing)
        }
        let task = Task { [source, transport, clock] in
            try await Self.fetch(source: source, transport: transport, clock: clock)
        }
        refreshing = task
        defer { refreshing = nil }
        let fresh = try await wait(task)
        token = fresh
        return fresh
    }

    private func wait(_ task: Task<AccessToken, any Error>) async throws(BigQueryError) -> AccessToken {
        do {
            return try await task.value
        } catch let error as BigQueryError {
            throw error
        } catch {
            throw .auth("token request failed")
        }
    }

    /// Asks the token endpoint for a new token.
    private static func fetch(source: CredentialSource, transport: any HTTPTransport, clock: any WallClock) async throws
        -> AccessToken
    {
        let now = clock.unixTime()
        let request: HTTPRequest
        switch source {
        case .serviceAccount(let key):
            let assertion = try ServiceAccountJWT(key: key).assertion(issuedAt: Int64(now))
            request = formPost(
                key.tokenURI,
                [
                    ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"), ("assertion", assertion),
                ])
        case .authorizedUser(let key):
            request = formPost(
                key.tokenURI,
                [
                    ("grant_type", "refresh_token"), ("client_id", key.clientId),
                    ("client_secret", key.clientSecret.value), ("refresh_token", key.refreshToken.value),
                ])
        case .metadata(let host):
            request = HTTPRequest(
                method: "GET", url: "http://\(host)/computeMetadata/v1/instance/service-accounts/default/token",
                headers: [("Metadata-Flavor", "Google")], timeout: 5)
        case .none, .token:
            throw BigQueryError.auth("these credentials cannot be refreshed")
        }
        // A key file's token_uri receives the refresh token and client secret (or a signed assertion): never in
        // clear text. The metadata server is plain http by design and is sent no secret.
        if case .metadata = source {
        } else if let problem = Endpoint.cleartextProblem(request.url) {
            throw BigQueryError.auth("refusing to send credentials to token_uri: \(problem)")
        }
        let response: HTTPResponse
        do {
            response = try await transport.send(request)
        } catch {
            if case .metadata = source {
                throw BigQueryError.auth(
                    "no credentials found (the metadata server did not answer: \(error.message)); set GOOGLE_APPLICATION_CREDENTIALS, run `gcloud auth application-default login`, or set NO_GCE_CHECK=true to skip the metadata server"
                )
            }
            throw BigQueryError.auth("token request to \(hostOf(request.url)) failed: \(error.message)")
        }
        guard response.isSuccess else {
            // OAuth error bodies carry an error code and description, never the credentials sent.
            let detail =
                (try? JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any]).flatMap { body in
                    [body["error"] as? String, body["error_description"] as? String].compactMap { $0 }.joined(
                        separator: ": ")
                } ?? ""
            throw BigQueryError.auth(
                "token request to \(hostOf(request.url)) answered \(response.status)\(detail.isEmpty ? "" : ": \(detail)")"
            )
        }
        guard let body = try? JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any],
            let value = body["access_token"] as? String, !value.isEmpty
        else {
            throw BigQueryError.auth("token response from \(hostOf(request.url)) holds no access_token")
        }
        let lifetime = (body["expires_in"] as? NSNumber)?.doubleValue ?? 3600
        return AccessToken(value: Secret(value), expiresAt: now + lifetime)
    }

    private static func formPost(_ url: String, _ fields: [(String, String)]) -> HTTPRequest {
        let body = fields.map { "\(formEncode($0.0))=\(formEncode($0.1))" }.joined(separator: "&")
        return HTTPRequest(
            method: "POST", url: url, headers: [("Content-Type", "application/x-www-form-urlencoded")],
            body: .bytes(Array(body.utf8)), timeout: 30)
    }

    static func formEncode(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }

    static func hostOf(_ url: String) -> String {
        URL(string: url)?.host ?? "the token endpoint"
    }
}
