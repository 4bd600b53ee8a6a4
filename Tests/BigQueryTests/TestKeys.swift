import BigQuery
import Foundation

/// RSA keys made with the openssl command, for signing and independent verification.
enum TestKeys {
    struct Pair {
        let privatePEM: String
        let publicPEMPath: String
    }

    static let pair: Pair = {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("bqsync-keys-\(getpid())").path
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let privatePath = directory + "/key.pem"
        let publicPath = directory + "/pub.pem"
        if !FileManager.default.fileExists(atPath: publicPath) {
            run(
                "/usr/bin/openssl",
                ["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", privatePath])
            run("/usr/bin/openssl", ["pkey", "-in", privatePath, "-pubout", "-out", publicPath])
        }
        let pem = (try? String(contentsOfFile: privatePath, encoding: .utf8)) ?? ""
        return Pair(privatePEM: pem, publicPEMPath: publicPath)
    }()

    static func serviceAccount(tokenURI: String, path: String = "/tmp/test-key.json") throws -> ServiceAccountKey {
        ServiceAccountKey(
            path: path, clientEmail: "sync@proj-test.iam.gserviceaccount.com", privateKey: Secret(pair.privatePEM),
            privateKeyId: "kid-123", tokenURI: tokenURI, projectId: "proj-test", quotaProjectId: nil)
    }

    @discardableResult
    static func run(_ tool: String, _ arguments: [String], input: Data? = nil) -> (Int32, String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        if let input {
            let pipe = Pipe()
            process.standardInput = pipe
            try? process.run()
            pipe.fileHandleForWriting.write(input)
            try? pipe.fileHandleForWriting.close()
        } else {
            try? process.run()
        }
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, text)
    }
}
