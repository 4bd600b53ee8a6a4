import Crypto
import Foundation
import HTTP
import Testing

/// A loopback test server (Fixtures/http_server.py), started once for the suite.
final class TestServer: @unchecked Sendable {
    // @unchecked: immutable after init.
    let process: Process
    let base: String

    static let shared: TestServer? = try? TestServer()

    init(arguments: [String] = [], scheme: String = "http") throws {
        process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
            "Fixtures/http_server.py"
        ).path
        process.arguments = ["python3", script] + arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        var line = Data()
        while let byte = try pipe.fileHandleForReading.read(upToCount: 1), !byte.isEmpty, byte != Data("\n".utf8) {
            line.append(byte)
        }
        base = "\(scheme)://127.0.0.1:\(String(decoding: line, as: UTF8.self))"
    }

    deinit { process.terminate() }
}

@Suite("CurlTransport")
struct CurlTransportTests {
    let transport = CurlTransport()

    func server() throws -> String {
        try #require(TestServer.shared, "the loopback test server did not start").base
    }

    func json(_ response: HTTPResponse) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any])
    }

    @Test func getWithHeaders() async throws {
        let response = try await transport.send(
            HTTPRequest(method: "GET", url: try server() + "/echo?a=1", headers: [("X-Test", "yes")]))
        #expect(response.status == 200)
        #expect(response.header("content-type") == "application/json")
        let body = try json(response)
        #expect(body["method"] as? String == "GET")
        #expect((body["headers"] as? [String: String])?["x-test"] == "yes")
        #expect((body["headers"] as? [String: String])?["accept-encoding"]?.contains("gzip") == true)
    }

    @Test(arguments: ["POST", "PUT", "PATCH"])
    func bodyMethods(method: String) async throws {
        let payload = Array("hello \(method)".utf8)
        let response = try await transport.send(
            HTTPRequest(method: method, url: try server() + "/echo", body: .bytes(payload)))
        let body = try json(response)
        #expect(body["method"] as? String == method)
        #expect(body["length"] as? Int == payload.count)
        #expect((body["headers"] as? [String: String])?["expect"] == nil)
    }

    @Test func deleteWithoutBody() async throws {
        let response = try await transport.send(HTTPRequest(method: "DELETE", url: try server() + "/echo"))
        #expect(try json(response)["method"] as? String == "DELETE")
    }

    @Test func streamsAFileWithPrefixAndSuffix() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("upload-\(UUID().uuidString)").path
        let content = [UInt8]((0..<3_000_000).map { UInt8(truncatingIfNeeded: $0 &* 31) })
        _ = FileManager.default.createFile(atPath: path, contents: Data(content))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let prefix = Array("--start--".utf8)
        let suffix = Array("--end--".utf8)
        let response = try await transport.send(
            HTTPRequest(
                method: "POST", url: try server() + "/echo",
                body: .file(path: path, prefix: prefix, suffix: suffix)))
        let body = try json(response)
        #expect(body["length"] as? Int == prefix.count + content.count + suffix.count)
        let expected = Data(prefix + content + suffix)
        #expect(body["sha256"] as? String == sha256Hex(expected))
    }

    @Test func streamsAFileRange() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("range-\(UUID().uuidString)").path
        _ = FileManager.default.createFile(atPath: path, contents: Data("0123456789".utf8))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let response = try await transport.send(
            HTTPRequest(
                method: "PUT", url: try server() + "/echo",
                body: .fileRange(path: path, offset: 3, length: 4)))
        let body = try json(response)
        #expect(body["length"] as? Int == 4)
        #expect(body["sha256"] as? String == sha256Hex(Data("3456".utf8)))
    }

    @Test func decompressesGzip() async throws {
        let response = try await transport.send(HTTPRequest(method: "GET", url: try server() + "/gzip"))
        #expect(String(decoding: response.body, as: UTF8.self) == String(repeating: "compressed hello ", count: 100))
    }

    @Test func errorStatusIsAResponse() async throws {
        let response = try await transport.send(HTTPRequest(method: "GET", url: try server() + "/status/503"))
        #expect(response.status == 503)
        #expect(!response.isSuccess)
    }

    @Test func timeoutIsRetryable() async throws {
        let error = await #expect(throws: HTTPError.self) {
            _ = try await transport.send(HTTPRequest(method: "GET", url: try server() + "/slow?s=3", timeout: 0.5))
        }
        #expect(error?.kind == .timeout)
        #expect(error?.cause == .timeout)
        #expect(error?.isRetryable == true)
        #expect(error?.message.lowercased().contains("timed out") == true)
    }

    @Test func resetIsConnectionLost() async throws {
        let error = await #expect(throws: HTTPError.self) {
            _ = try await transport.send(HTTPRequest(method: "GET", url: try server() + "/reset", timeout: 10))
        }
        #expect(error?.kind == .connectionLost)
        #expect(error?.isRetryable == true)
    }

    @Test("a POST reset on a reused connection is a lost connection (retryable), not a failure")
    func resetPostOnReusedConnection() async throws {
        // Warm a connection, then POST a body that the server answers by resetting. libcurl retries such a request
        // on a new connection and, unable to rewind the body, reports CURLE_SEND_FAIL_REWIND or a receive error.
        let single = CurlTransport()
        for _ in 0..<3 {
            _ = try await single.send(HTTPRequest(method: "GET", url: try server() + "/echo"))
            let error = await #expect(throws: HTTPError.self) {
                _ = try await single.send(
                    HTTPRequest(
                        method: "POST", url: try server() + "/reset", body: .bytes(Array(repeating: 120, count: 4096)),
                        timeout: 10))
            }
            #expect(error?.kind == .connectionLost, "\(String(describing: error))")
            #expect(error?.isRetryable == true)
        }
    }

    @Test func refusedConnectionCarriesCurlsMessage() async throws {
        // Port 9 (discard) is closed on loopback here.
        let error = await #expect(throws: HTTPError.self) {
            _ = try await transport.send(HTTPRequest(method: "GET", url: "http://127.0.0.1:9/"))
        }
        #expect(error?.kind == .connect)
        #expect(error?.message.contains("127.0.0.1") == true)
        // Finer than the kind, for the message that names an unreachable endpoint (from the system's errno).
        #expect(error?.cause == .refused)
    }

    @Test func unsupportedSchemeIsRefused() async throws {
        let error = await #expect(throws: HTTPError.self) {
            _ = try await transport.send(HTTPRequest(method: "GET", url: "file:///etc/passwd"))
        }
        #expect(error?.kind == .request)
    }

    @Test func tlsVerificationFailsOnAnUntrustedServer() async throws {
        // An https request to the plain-HTTP server cannot complete a TLS handshake: never silently accepted.
        let url = try server().replacingOccurrences(of: "http://", with: "https://") + "/echo"
        let error = await #expect(throws: HTTPError.self) {
            _ = try await transport.send(HTTPRequest(method: "GET", url: url, timeout: 5))
        }
        #expect(error?.kind == .tls || error?.kind == .connectionLost || error?.kind == .other)
    }

    @Test("a self-signed certificate is refused; trusted through BQSYNC_CA_BUNDLE it is accepted")
    func certificateIsVerified() async throws {
        let tls = try SelfSignedServer()
        let error = await #expect(throws: HTTPError.self) {
            _ = try await transport.send(HTTPRequest(method: "GET", url: tls.server.base + "/echo", timeout: 5))
        }
        #expect(error?.kind == .tls)
        #expect(error?.message.lowercased().contains("certificate") == true)
        // The same server, its certificate named as the CA bundle: verification passes, so it was verification
        // (not the handshake) that refused above.
        let trusting = CurlTransport(configuration: .init(environment: ["BQSYNC_CA_BUNDLE": tls.certificate]))
        let response = try await trusting.send(HTTPRequest(method: "GET", url: tls.server.base + "/echo", timeout: 5))
        #expect(response.status == 200)
    }

    @Test(
        "credentials never go out over plain http to another host",
        arguments: [
            "http://192.0.2.1/bigquery/v2/projects", "http://bigquery.example.com/x", "ftp://127.0.0.1/x",
        ])
    func credentialsNeedTLS(url: String) async throws {
        let error = await #expect(throws: HTTPError.self) {
            _ = try await transport.send(
                HTTPRequest(method: "GET", url: url, headers: [("Authorization", "Bearer canary-token")], timeout: 2))
        }
        #expect(error?.kind == .request)
        #expect(error?.message.contains("refusing to send credentials") == true)
        #expect(error?.message.contains("canary-token") == false)
    }

    @Test func credentialsMayGoToLoopbackOverPlainHTTP() async throws {
        let response = try await transport.send(
            HTTPRequest(method: "GET", url: try server() + "/echo", headers: [("Authorization", "Bearer t")]))
        #expect(response.status == 200)
    }

    @Test(
        "loopback hosts",
        arguments: [
            ("localhost", true), ("127.0.0.1", true), ("127.255.0.9", true), ("[::1]", true), ("::1", true),
            ("LOCALHOST", true),
            ("127.0.0.1.example.com", false), ("128.0.0.1", false), ("example.com", false), ("10.0.0.1", false),
            ("", false), ("127.0.0", false),
        ])
    func loopback(host: String, expected: Bool) {
        #expect(Endpoint.isLoopback(host: host) == expected)
    }

    @Test func responseSizeIsBounded() async throws {
        var configuration = CurlTransport.Configuration()
        configuration.maxResponseBytes = 1000
        let small = CurlTransport(configuration: configuration)
        await #expect(throws: HTTPError.self) {
            _ = try await small.send(HTTPRequest(method: "GET", url: try server() + "/big?n=5000"))
        }
    }

    @Test func concurrentRequestsReuseHandles() async throws {
        let base = try server()
        try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<32 {
                group.addTask { try await transport.send(HTTPRequest(method: "GET", url: base + "/echo")).status }
            }
            for try await status in group { #expect(status == 200) }
        }
    }

    @Test func libraryVersionNamesLibcurl() {
        #expect(CurlTransport.libraryVersion.hasPrefix("libcurl/"))
    }
}

func sha256Hex(_ data: Data) -> String {
    SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
}

/// A loopback HTTPS server with a fresh self-signed certificate for 127.0.0.1 (made by openssl).
final class SelfSignedServer: @unchecked Sendable {
    // @unchecked: immutable after init.
    let directory: String
    let certificate: String
    let server: TestServer

    init() throws {
        directory = NSTemporaryDirectory() + "bqsync-tls-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        certificate = directory + "/cert.pem"
        let key = directory + "/key.pem"
        let openssl = Process()
        openssl.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        openssl.arguments = [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", certificate,
        ]
        openssl.standardOutput = FileHandle.nullDevice
        openssl.standardError = FileHandle.nullDevice
        try openssl.run()
        openssl.waitUntilExit()
        guard openssl.terminationStatus == 0 else { throw CocoaError(.fileWriteUnknown) }
        server = try TestServer(arguments: ["--tls", certificate, key], scheme: "https")
    }

    deinit { try? FileManager.default.removeItem(atPath: directory) }
}
