import Foundation
import SyncTestSupport
import Testing

/// Canary credentials, used for real: bqsync gets its token from a loopback token endpoint with a service-account
/// key or an authorized-user file, sends it to the emulator through `--endpoint`, and runs validate, plan, show,
/// apply and status at every log level in both log formats. Nothing it prints, writes (plan file, workspace) or
/// records (the state dataset) may hold the access token, refresh token, client secret or private key.
@Suite(.serialized) struct SecretsEndToEndTests {
    static let accessToken = "ya29.E2E-CANARY-ACCESS-TOKEN-c41d"
    static let refreshToken = "1//E2E-CANARY-REFRESH-TOKEN-8e2a"
    static let clientSecret = "E2E-CANARY-CLIENT-SECRET-0b7f"

    /// The loopback server of the HTTP tests, whose `/token` hands out the canary access token.
    final class TokenServer: @unchecked Sendable {
        // @unchecked: immutable after init.
        let process = Process()
        let base: String

        init() throws {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["python3", E2E.repoRoot + "/Tests/HTTPTests/Fixtures/http_server.py"]
            let pipe = Pipe()
            process.standardOutput = pipe
            try process.run()
            var line = Data()
            while let byte = try pipe.fileHandleForReading.read(upToCount: 1), !byte.isEmpty, byte != Data("\n".utf8) {
                line.append(byte)
            }
            base = "http://127.0.0.1:\(String(decoding: line, as: UTF8.self))"
        }

        var tokenURI: String { base + "/token?t=" + SecretsEndToEndTests.accessToken }

        var tokenRequests: Int {
            get throws {
                let data = try Curl.call("GET", base + "/stats", maxTime: 10).body
                let object = try JSONSerialization.jsonObject(with: data) as? [String: Any]
                return object?["token_requests"] as? Int ?? 0
            }
        }

        deinit { process.terminate() }
    }

    /// A fresh RSA key (openssl), PEM.
    static func privateKey() throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw HarnessError("openssl genpkey failed") }
        return String(decoding: data, as: UTF8.self)
    }

    enum Kind: String, CaseIterable, Sendable {
        case serviceAccount = "service_account"
        case authorizedUser = "authorized_user"
    }

    @Test("no secret in any output, file or record", arguments: Kind.allCases)
    func noSecretAnywhere(kind: Kind) throws {
        let server = try TokenServer()
        let ws = try Workspace("e2e_secrets")
        let pem = try Self.privateKey()
        let keyBody = pem.split(separator: "\n").filter { !$0.hasPrefix("-----") }.joined()
        let credentials: [String: Any] =
            switch kind {
            case .serviceAccount:
                [
                    "type": "service_account", "project_id": E2E.project, "private_key_id": "canary-kid",
                    "private_key": pem,
                    "client_email": "bqsync@\(E2E.project).iam.gserviceaccount.com", "client_id": "1",
                    "token_uri": server.tokenURI,
                ]
            case .authorizedUser:
                [
                    "type": "authorized_user", "client_id": "canary-client.apps.googleusercontent.com",
                    "client_secret": Self.clientSecret,
                    "refresh_token": Self.refreshToken, "token_uri": server.tokenURI,
                ]
            }
        let keyFile = NSTemporaryDirectory() + "bqsync-canary-\(UUID().uuidString).json"
        try JSONSerialization.data(withJSONObject: credentials).write(to: URL(fileURLWithPath: keyFile))
        chmod(keyFile, 0o600)
        defer { unlink(keyFile) }
        let canaries = [
            Self.accessToken, Self.refreshToken, Self.clientSecret, String(keyBody.prefix(48)),
            String(keyBody.suffix(48)),
            String(keyBody.dropFirst(600).prefix(48)),
        ]

        try ws.write(
            "syncs.d/people.yaml",
            EndToEndTests.sync(
                "people", source: "type: ndjson\npath: data/people.ndjson",
                table: ws.table("people"), schema: EndToEndTests.contactSchema,
                keys: ["id"], orderBy: "updated_at", deleteWhen: "is_deleted",
                batch: 2, strategy: "inline"))
        try ws.write(
            "syncs.d/data/people.ndjson",
            """
            {"id": 1, "name": "alice", "amount": 10, "is_deleted": false, "updated_at": "2025-01-01T00:00:00Z"}
            {"id": 2, "name": "bob", "amount": 20, "is_deleted": false, "updated_at": "2025-01-01T00:00:00Z"}
            {"id": 3, "name": "carol", "amount": 30, "is_deleted": false, "updated_at": "2025-01-01T00:00:00Z"}

            """)
        let environment = [
            "GOOGLE_APPLICATION_CREDENTIALS": keyFile, "BIGQUERY_EMULATOR_HOST": "",
            "GOOGLE_CLOUD_PROJECT": E2E.project,
            "NO_GCE_CHECK": "true",
        ]
        let endpoint = ["--endpoint", ws.host]
        var printed: [RunResult] = []
        func run(_ arguments: [String]) throws -> RunResult {
            let result = try ws.run(arguments + endpoint, environment: environment)
            printed.append(result)
            return result
        }

        for level in ["trace", "debug", "info", "warning", "error"] {
            for format in ["text", "json"] {
                let flags = ["--log-level", level, "--log-format", format]
                #expect(try run(["validate"] + flags).status == 0)
                let plan = try run(["plan", "--out", "plan-\(level)-\(format).json"] + flags)
                #expect(plan.status == 0, "\(plan)")
                #expect(try run(["plan", "--format", "json"] + flags).status == 0)
                #expect(try run(["plan", "--format", "markdown"] + flags).status == 0)
                #expect(try run(["show", "plan-\(level)-\(format).json"] + flags).status == 0)
            }
        }
        // Applies at the two most verbose levels (each a real run with jobs and state writes), then status.
        for (index, level) in ["trace", "debug"].enumerated() {
            let flags = ["--log-level", level, "--log-format", index == 0 ? "text" : "json"]
            let apply = try run(["apply", "--auto-approve", "--format", "json"] + flags)
            #expect(apply.status == 0, "\(apply)")
            #expect(try run(["status"] + flags).status == 0)
            let status = try run(["status", "--format", "json"] + flags)
            #expect(status.status == 0, "\(status)")
        }
        // The token was really fetched and used: otherwise the scan proves nothing.
        #expect(try server.tokenRequests >= 1)
        #expect(try ws.rows("people", orderBy: "id", columns: "id").count == 3)
        #expect(
            printed.contains { $0.logsJSON && !$0.requests.isEmpty },
            "at debug level every request is logged, so the scan covers them"
        )

        var haystack = printed.map { $0.stdout + "\n" + $0.stderr }
        let files = FileManager.default.enumerator(atPath: ws.root)?.compactMap { $0 as? String } ?? []
        for file in files where !file.hasPrefix("syncs.d/") && !file.hasPrefix("policies/") {
            if let data = FileManager.default.contents(atPath: ws.path(file)) {
                haystack.append(String(decoding: data, as: UTF8.self))
            }
        }
        #expect(files.contains { $0.hasPrefix("plan-trace") }, "the plan files were written")
        let plan = try EndToEndTests.planJSON(ws, "plan-trace-text.json")
        let stateDataset = try #require(plan["state_dataset"] as? String)
        haystack += try ws.query("SELECT TO_JSON_STRING(r) FROM `\(E2E.project).\(stateDataset).run_records` AS r").map
        { $0.compactMap { $0 }.joined() }
        haystack += try Reliability.leaseRecords(ws, table: "people").map {
            String(decoding: try JSONSerialization.data(withJSONObject: $0), as: UTF8.self)
        }
        for canary in canaries {
            for (index, text) in haystack.enumerated() {
                #expect(!text.contains(canary), "\(kind): a secret (\(canary.prefix(12))…) leaked into output \(index)")
            }
        }
    }
}
