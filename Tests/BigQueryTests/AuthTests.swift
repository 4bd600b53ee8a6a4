import BigQuery
import Foundation
import SyncTestSupport
import Testing

@Suite("auth")
struct AuthTests {
    @Test("the service-account JWT verifies with openssl and carries the right claims")
    func jwtVerifiesIndependently() throws {
        let key = try TestKeys.serviceAccount(tokenURI: "https://oauth2.googleapis.com/token")
        let jwt = try ServiceAccountJWT(key: key).assertion(issuedAt: 1_790_000_000)
        let parts = jwt.split(separator: ".").map(String.init)
        #expect(parts.count == 3)
        let header = try #require(
            try JSONSerialization.jsonObject(with: Data(Base64URL.decode(parts[0]) ?? [])) as? [String: Any])
        #expect(header["alg"] as? String == "RS256")
        #expect(header["typ"] as? String == "JWT")
        #expect(header["kid"] as? String == "kid-123")
        let claims = try #require(
            try JSONSerialization.jsonObject(with: Data(Base64URL.decode(parts[1]) ?? [])) as? [String: Any])
        #expect(claims["iss"] as? String == "sync@proj-test.iam.gserviceaccount.com")
        #expect(claims["scope"] as? String == "https://www.googleapis.com/auth/bigquery")
        #expect(claims["aud"] as? String == "https://oauth2.googleapis.com/token")
        #expect(claims["iat"] as? Int == 1_790_000_000)
        #expect(claims["exp"] as? Int == 1_790_003_600)

        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("jwt-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try Data((parts[0] + "." + parts[1]).utf8).write(to: URL(fileURLWithPath: directory + "/input"))
        try Data(try #require(Base64URL.decode(parts[2]))).write(to: URL(fileURLWithPath: directory + "/signature"))
        let (status, output) = TestKeys.run(
            "/usr/bin/openssl",
            [
                "dgst", "-sha256", "-verify", TestKeys.pair.publicPEMPath, "-signature", directory + "/signature",
                directory + "/input",
            ])
        #expect(status == 0, "openssl: \(output)")
        #expect(output.contains("Verified OK"))
        // A flipped byte in the signed input must fail verification.
        try Data((parts[0] + "." + parts[1] + "x").utf8).write(to: URL(fileURLWithPath: directory + "/input"))
        #expect(
            TestKeys.run(
                "/usr/bin/openssl",
                [
                    "dgst", "-sha256", "-verify", TestKeys.pair.publicPEMPath,
                    "-signature", directory + "/signature", directory + "/input",
                ]
            ).0 != 0)
    }

    @Test func tokenExchangeSendsTheJWTBearerGrant() async throws {
        let fake = FakeBigQuery()
        let key = try TestKeys.serviceAccount(tokenURI: "https://oauth.test/token")
        let authenticator = Authenticator(source: .serviceAccount(key), transport: fake.transport, clock: ManualTime())
        let headers = try await authenticator.headers()
        #expect(headers.first?.value == "Bearer ya29.fake-token-1")
        let request = try #require(fake.transport.requests.first)
        #expect(request.url == "https://oauth.test/token")
        #expect(request.text.hasPrefix("grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion="))
    }

    @Test func authorizedUserRefreshesWithItsRefreshToken() async throws {
        let fake = FakeBigQuery()
        let key = AuthorizedUserKey(
            path: "/x", clientId: "cid", clientSecret: Secret("csecret"), refreshToken: Secret("rtoken"),
            tokenURI: "https://oauth.test/token", quotaProjectId: "qp")
        let authenticator = Authenticator(source: .authorizedUser(key), transport: fake.transport, clock: ManualTime())
        let headers = try await authenticator.headers()
        #expect(headers.contains { $0.name == "x-goog-user-project" && $0.value == "qp" })
        #expect(
            fake.transport.requests.first?.text
                == "grant_type=refresh_token&client_id=cid&client_secret=csecret&refresh_token=rtoken")
    }

    @Test(
        "a token_uri in clear text to another host is never sent the secrets",
        arguments: [
            "http://oauth.example.com/token", "http://10.1.2.3/token", "ftp://127.0.0.1/token",
        ])
    func cleartextTokenURIIsRefused(uri: String) async throws {
        let fake = FakeBigQuery()
        let key = AuthorizedUserKey(
            path: "/x", clientId: "cid", clientSecret: Secret("csecret"), refreshToken: Secret("rtoken"),
            tokenURI: uri, quotaProjectId: nil)
        for source in [
            CredentialSource.authorizedUser(key), .serviceAccount(try TestKeys.serviceAccount(tokenURI: uri)),
        ] {
            let authenticator = Authenticator(source: source, transport: fake.transport, clock: ManualTime())
            await #expect {
                _ = try await authenticator.headers()
            } throws: { error in
                "\(error)".contains("refusing to send credentials to token_uri") && !"\(error)".contains("rtoken")
            }
        }
        #expect(fake.transport.requests.isEmpty)
    }

    @Test func metadataServerIsAskedWithItsHeader() async throws {
        let fake = FakeBigQuery()
        let authenticator = Authenticator(
            source: .metadata(host: "metadata.test"), transport: fake.transport, clock: ManualTime())
        _ = try await authenticator.headers()
        let request = try #require(fake.transport.requests.first)
        #expect(request.url == "http://metadata.test/computeMetadata/v1/instance/service-accounts/default/token")
        #expect(request.header("Metadata-Flavor") == "Google")
    }

    @Test func concurrentRefreshesAreCoalesced() async throws {
        let fake = FakeBigQuery()
        let key = try TestKeys.serviceAccount(tokenURI: "https://oauth.test/token")
        let authenticator = Authenticator(source: .serviceAccount(key), transport: fake.transport, clock: ManualTime())
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<10 { group.addTask { _ = try await authenticator.headers() } }
            try await group.waitForAll()
        }
        #expect(fake.tokenRequests == 1)
    }

    @Test func emulatorSendsNoAuth() async throws {
        let authenticator = Authenticator(source: .none, transport: FakeBigQuery().transport)
        #expect(try await authenticator.headers().isEmpty)
    }

    // MARK: discovery

    func writeKey(_ object: [String: Any], mode: Int) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("cred-\(UUID().uuidString).json").path
        try JSONSerialization.data(withJSONObject: object).write(to: URL(fileURLWithPath: path))
        chmod(path, mode_t(mode))
        return path
    }

    @Test func discoveryOrder() throws {
        let path = try writeKey(
            ["type": "service_account", "client_email": "a@b", "private_key": "k", "project_id": "from-key"],
            mode: 0o600)
        defer { try? FileManager.default.removeItem(atPath: path) }
        var env = ["GOOGLE_APPLICATION_CREDENTIALS": path, "HOME": "/nonexistent"]
        guard case .serviceAccount(let key) = try CredentialDiscovery(environment: env).discover().0 else {
            Issue.record("service account expected")
            return
        }
        #expect(key.projectId == "from-key")
        env["BQSYNC_ACCESS_TOKEN"] = "tok"
        guard case .token = try CredentialDiscovery(environment: env).discover().0 else {
            Issue.record("token expected")
            return
        }
        let metadata = try CredentialDiscovery(environment: [
            "HOME": "/nonexistent", "GCE_METADATA_HOST": "169.254.169.254",
        ]).discover().0
        guard case .metadata(let host) = metadata else {
            Issue.record("metadata expected")
            return
        }
        #expect(host == "169.254.169.254")
        #expect(throws: BigQueryError.self) {
            try CredentialDiscovery(environment: ["HOME": "/nonexistent", "NO_GCE_CHECK": "true"]).discover()
        }
    }

    @Test func gcloudDefaultFileIsFound() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("gcloud-\(UUID().uuidString)")
            .path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try JSONSerialization.data(withJSONObject: [
            "type": "authorized_user", "client_id": "c", "client_secret": "s", "refresh_token": "r",
        ])
        .write(to: URL(fileURLWithPath: directory + "/application_default_credentials.json"))
        chmod(directory + "/application_default_credentials.json", 0o600)
        guard case .authorizedUser = try CredentialDiscovery(environment: ["CLOUDSDK_CONFIG": directory]).discover().0
        else {
            Issue.record("authorized user expected")
            return
        }
    }

    @Test func looseKeyFilePermissionsAreWarnedAbout() throws {
        let path = try writeKey(["type": "service_account", "client_email": "a@b", "private_key": "k"], mode: 0o644)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let (_, warnings) = try CredentialDiscovery(environment: ["GOOGLE_APPLICATION_CREDENTIALS": path]).discover()
        #expect(warnings.count == 1)
        #expect(warnings.first?.contains("chmod 600") == true)
    }

    @Test(arguments: ["external_account", "impersonated_service_account"])
    func unsupportedTypesAreRefusedClearly(type: String) throws {
        let path = try writeKey(["type": type], mode: 0o600)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let error = #expect(throws: BigQueryError.self) {
            try CredentialDiscovery(environment: ["GOOGLE_APPLICATION_CREDENTIALS": path]).discover()
        }
        #expect("\(error!)".contains("not supported yet"))
    }

    @Test func secretsNeverDescribeThemselves() {
        let secret = Secret("hunter2")
        #expect("\(secret)" == "<redacted>")
        #expect(String(reflecting: secret) == "<redacted>")
        #expect(!"\(CredentialSource.token(secret, variable: "BQSYNC_ACCESS_TOKEN"))".contains("hunter2"))
    }
}

@Suite("endpoint")
struct EndpointTests {
    @Test func emulatorHostWithAndWithoutScheme() throws {
        for host in ["127.0.0.1:9050", "http://127.0.0.1:9050", "http://127.0.0.1:9050/"] {
            let configuration = try ClientConfiguration.resolve(
                endpoint: nil, project: nil, environment: ["BIGQUERY_EMULATOR_HOST": host])
            #expect(configuration.isEmulator)
            #expect(configuration.apiRoot == "http://127.0.0.1:9050/bigquery/v2")
            #expect(configuration.uploadRoot == "http://127.0.0.1:9050/upload/bigquery/v2")
        }
    }

    @Test func endpointOverrideKeepsAuth() throws {
        let configuration = try ClientConfiguration.resolve(
            endpoint: "https://proxy.example.com/bigquery/v2", project: "p",
            environment: ["BIGQUERY_EMULATOR_HOST": "x:1"])
        #expect(!configuration.isEmulator)
        #expect(configuration.apiRoot == "https://proxy.example.com/bigquery/v2")
        #expect(configuration.uploadRoot == "https://proxy.example.com/upload/bigquery/v2")
        let fromEnv = try ClientConfiguration.resolve(
            endpoint: nil, project: nil, environment: ["BQSYNC_ENDPOINT": "https://p.example.com"])
        #expect(fromEnv.apiRoot == "https://p.example.com/bigquery/v2")
        #expect(fromEnv.project == nil)
        #expect(
            try ClientConfiguration.resolve(endpoint: nil, project: nil, environment: ["GOOGLE_CLOUD_PROJECT": "gp"])
                .project == "gp")
    }

    @Test(arguments: ["ftp://x", "not a url", "https://user:pw@host", "https://host/?token=1"])
    func badEndpointsAreRefused(endpoint: String) {
        #expect(throws: BigQueryError.self) {
            try ClientConfiguration.resolve(endpoint: endpoint, project: nil, environment: [:])
        }
    }

    @Test(
        "an endpoint that would carry credentials in clear text is refused",
        arguments: [
            "http://bigquery.example.com", "http://10.0.0.5:9050/bigquery/v2", "http://127.0.0.1.example.com",
            "http://[fe80::1]:80",
        ])
    func cleartextEndpointsAreRefused(endpoint: String) {
        #expect {
            try ClientConfiguration.resolve(endpoint: endpoint, project: nil, environment: [:])
        } throws: { error in
            "\(error)".contains("clear text") && "\(error)".contains("https://")
        }
    }

    @Test(
        "plain http is fine on this machine's loopback",
        arguments: ["http://127.0.0.1:9050", "http://localhost:1", "http://[::1]:8080", "http://127.1.2.3"])
    func loopbackEndpointsAreAccepted(endpoint: String) throws {
        let configuration = try ClientConfiguration.resolve(endpoint: endpoint, project: nil, environment: [:])
        #expect(!configuration.isEmulator)
    }

    @Test func defaultIsGoogle() throws {
        let configuration = try ClientConfiguration.resolve(endpoint: nil, project: nil, environment: [:])
        #expect(configuration.apiRoot == "https://bigquery.googleapis.com/bigquery/v2")
    }
}
