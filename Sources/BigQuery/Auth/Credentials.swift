import Foundation

/// Where access tokens come from, found the way Application Default Credentials are.
public enum CredentialSource: Sendable, CustomStringConvertible {
    /// No auth: the emulator.
    case none
    /// A token given in the environment (`BQSYNC_ACCESS_TOKEN` or `GOOGLE_OAUTH_ACCESS_TOKEN`); it cannot be refreshed.
    case token(Secret, variable: String)
    /// A service-account key file: tokens from a signed JWT.
    case serviceAccount(ServiceAccountKey)
    /// A user's refresh token (gcloud's application-default file).
    case authorizedUser(AuthorizedUserKey)
    /// The GCE metadata server.
    case metadata(host: String)

    /// Where the credentials came from, without any secret.
    public var description: String {
        switch self {
        case .none: return "no credentials (emulator)"
        case .token(_, let variable): return "access token from \(variable)"
        case .serviceAccount(let key): return "service account \(key.clientEmail) (\(key.path))"
        case .authorizedUser(let key): return "user credentials (\(key.path))"
        case .metadata(let host): return "metadata server \(host)"
        }
    }
}

/// A secret string: shown as `<redacted>` by every description, so it cannot leak into logs or errors.
public struct Secret: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible, Codable {
    /// The secret itself; use only where it is sent.
    public let value: String

    /// Wraps a secret.
    public init(_ value: String) { self.value = value }

    public var description: String { "<redacted>" }
    public var debugDescription: String { "<redacted>" }

    /// Encodes as `<redacted>`: a secret never reaches a file.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode("<redacted>")
    }
}

/// A service-account key file's fields bqsync uses.
public struct ServiceAccountKey: Sendable {
    /// The file it came from.
    public var path: String
    /// `client_email`: the JWT's issuer.
    public var clientEmail: String
    /// `private_key`: PEM, PKCS#8 or PKCS#1.
    public var privateKey: Secret
    /// `private_key_id`: the JWT header's `kid`.
    public var privateKeyId: String?
    /// `token_uri`: where the JWT is exchanged.
    public var tokenURI: String
    /// `project_id`.
    public var projectId: String?
    /// `quota_project_id`.
    public var quotaProjectId: String?

    /// Creates a key.
    public init(
        path: String, clientEmail: String, privateKey: Secret, privateKeyId: String?, tokenURI: String,
        projectId: String?, quotaProjectId: String?
    ) {
        self.path = path
        self.clientEmail = clientEmail
        self.privateKey = privateKey
        self.privateKeyId = privateKeyId
        self.tokenURI = tokenURI
        self.projectId = projectId
        self.quotaProjectId = quotaProjectId
    }
}

/// An authorized-user file's fields bqsync uses.
public struct AuthorizedUserKey: Sendable {
    /// The file it came from.
    public var path: String
    /// `client_id`.
    public var clientId: String
    /// `client_secret`.
    public var clientSecret: Secret
    /// `refresh_token`.
    public var refreshToken: Secret
    /// `token_uri`, or Google's.
    public var tokenURI: String
    /// `quota_project_id`.
    public var quotaProjectId: String?

    /// Creates a key.
    public init(
        path: String, clientId: String, clientSecret: Secret, refreshToken: Secret, tokenURI: String,
        quotaProjectId: String?
    ) {
        self.path = path
        self.clientId = clientId
        self.clientSecret = clientSecret
        self.refreshToken = refreshToken
        self.tokenURI = tokenURI
        self.quotaProjectId = quotaProjectId
    }
}

/// Finds credentials as Application Default Credentials do (docs/bigquery.md).
public struct CredentialDiscovery: Sendable {
    /// The environment to read.
    public var environment: [String: String]
    /// The user's home, for gcloud's default file.
    public var home: String

    /// Creates a discovery over an environment.
    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.environment = environment
        self.home = environment["HOME"] ?? NSHomeDirectory()
    }

    /// The credentials, and warnings (a key file others can read).
    public func discover() throws(BigQueryError) -> (CredentialSource, [String]) {
        for variable in ["BQSYNC_ACCESS_TOKEN", "GOOGLE_OAUTH_ACCESS_TOKEN"] {
            if let token = environment[variable], !token.isEmpty {
                return (.token(Secret(token), variable: variable), [])
            }
        }
        if let path = environment["GOOGLE_APPLICATION_CREDENTIALS"], !path.isEmpty {
            return try load(path, from: "GOOGLE_APPLICATION_CREDENTIALS")
        }
        let gcloudDir = environment["CLOUDSDK_CONFIG"].flatMap { $0.isEmpty ? nil : $0 } ?? home + "/.config/gcloud"
        let adc = gcloudDir + "/application_default_credentials.json"
        if FileManager.default.fileExists(atPath: adc) {
            return try load(adc, from: "gcloud application-default credentials")
        }
        if environment["NO_GCE_CHECK"]?.lowercased() != "true" {
            let host = environment["GCE_METADATA_HOST"].flatMap { $0.isEmpty ? nil : $0 } ?? "metadata.google.internal"
            return (.metadata(host: host), [])
        }
        throw .auth(
            "no credentials found: set GOOGLE_APPLICATION_CREDENTIALS to a key file, run `gcloud auth application-default login`, or set BIGQUERY_EMULATOR_HOST for the emulator"
        )
    }

    /// Reads a credentials file.
    public func load(_ path: String, from origin: String) throws(BigQueryError) -> (CredentialSource, [String]) {
        var warnings: [String] = []
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw .auth("cannot read \(path) (from \(origin)): \(String(cString: strerror(errno)).lowercased())")
        }
        if info.st_mode & 0o077 != 0 {
            warnings.append(
                "credentials file \(path) is readable by group or others (mode \(String(info.st_mode & 0o777, radix: 8))); restrict it with chmod 600"
            )
        }
        guard let data = FileManager.default.contents(atPath: path), data.count < 1 << 20,
            let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
        else {
            throw .auth("\(path) is not a JSON credentials file")
        }
        let type = object["type"] as? String ?? ""
        func field(_ name: String) throws(BigQueryError) -> String {
            guard let value = object[name] as? String, !value.isEmpty else { throw .auth("\(path): missing '\(name)'") }
            return value
        }
        switch type {
        case "service_account":
            let key = ServiceAccountKey(
                path: path, clientEmail: try field("client_email"), privateKey: Secret(try field("private_key")),
                privateKeyId: object["private_key_id"] as? String,
                tokenURI: object["token_uri"] as? String ?? "https://oauth2.googleapis.com/token",
                projectId: object["project_id"] as? String, quotaProjectId: object["quota_project_id"] as? String
            )
            return (.serviceAccount(key), warnings)
        case "authorized_user":
            let key = AuthorizedUserKey(
                path: path, clientId: try field("client_id"), clientSecret: Secret(try field("client_secret")),
                refreshToken: Secret(try field("refresh_token")),
                tokenURI: object["token_uri"] as? String ?? "https://oauth2.googleapis.com/token",
                quotaProjectId: object["quota_project_id"] as? String
            )
            return (.authorizedUser(key), warnings)
        case "external_account", "impersonated_service_account", "external_account_authorized_user":
            throw .auth(
                "\(path): credentials of type '\(type)' are not supported yet; use a service-account key or user credentials"
            )
        default:
            throw .auth("\(path): unknown credentials type '\(type)'")
        }
    }
}
