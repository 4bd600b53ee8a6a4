import BigQuery
import Foundation
import HTTP
import Logging
import SyncTestSupport
import Testing

/// Canary secrets planted in every credential kind never appear in logs (at trace level), errors or job records.
@Suite struct SecretsTests {
    static let tokenCanary = "ya29.CANARY-ACCESS-TOKEN-7f3a"
    static let refreshCanary = "1//CANARY-REFRESH-TOKEN-91bc"
    static let clientSecretCanary = "CANARY-CLIENT-SECRET-55d0"

    func scan(_ text: String, extra: [String] = []) {
        for canary in [Self.tokenCanary, Self.refreshCanary, Self.clientSecretCanary] + extra {
            #expect(!text.contains(canary), "a secret leaked: \(canary)")
        }
    }

    func exercise(_ source: CredentialSource, fake: FakeBigQuery, extra: [String]) async throws {
        let harness = Harness(source: source, fake: fake)
        let logs = harness.logs
        let target = table("\(Harness.project).d.t")
        var printed = ""
        _ = try? await harness.client.query(QueryJob(sql: "SELECT 1"))
        _ = try? await harness.client.query(QueryJob(sql: "MERGE x", reads: [target], writes: target))
        _ = try? await harness.client.getTable(target)
        do { _ = try await harness.client.query(QueryJob(sql: "BROKEN")) } catch { printed += "\(error)" }
        for record in await harness.client.records { printed += "\(record)" }
        printed += "\(source)" + String(reflecting: source)
        scan(logs.entries.joined(separator: "\n") + printed, extra: extra + fake.issuedTokens)
    }

    @Test func staticTokenNeverLeaks() async throws {
        let fake = FakeBigQuery()
        try await exercise(.token(Secret(Self.tokenCanary), variable: "BQSYNC_ACCESS_TOKEN"), fake: fake, extra: [])
    }

    @Test func authorizedUserSecretsNeverLeak() async throws {
        let fake = FakeBigQuery()
        let key = AuthorizedUserKey(
            path: "/dev/null", clientId: "client-id", clientSecret: Secret(Self.clientSecretCanary),
            refreshToken: Secret(Self.refreshCanary), tokenURI: "https://bq.test/token", quotaProjectId: nil)
        try await exercise(.authorizedUser(key), fake: fake, extra: [])
        #expect(fake.tokenRequests > 0, "the refresh token was used, so the scan covers the issued token too")
    }

    @Test func serviceAccountKeyNeverLeaks() async throws {
        let fake = FakeBigQuery()
        let pem = TestKeys.pair.privatePEM
        let body = pem.split(separator: "\n").filter { !$0.hasPrefix("-----") }.joined()
        let key = ServiceAccountKey(
            path: "/dev/null", clientEmail: "sa@p.iam.gserviceaccount.com", privateKey: Secret(pem),
            privateKeyId: "kid", tokenURI: "https://bq.test/token", projectId: Harness.project, quotaProjectId: nil)
        try await exercise(.serviceAccount(key), fake: fake, extra: [String(body.prefix(40)), String(body.suffix(40))])
        #expect(fake.tokenRequests > 0, "the key was used to get a token, so the scan covers the issued token too")
    }
}
