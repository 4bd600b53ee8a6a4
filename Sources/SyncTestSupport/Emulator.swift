import Foundation
import Synchronization

/// The local BigQuery emulator for end-to-end tests: `BIGQUERY_EMULATOR_HOST` when the test command started
/// one, else one started here through `scripts/emulator start` (left running for the next test run).
public enum Emulator {
    /// The package root (where scripts/ is).
    public static let packageRoot: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    private static let started = Mutex<String?>(nil)

    /// The emulator's base URL, starting it if needed.
    public static func host() throws -> String {
        if let host = ProcessInfo.processInfo.environment["BIGQUERY_EMULATOR_HOST"], !host.isEmpty { return host }
        return try started.withLock { cached in
            if let cached { return cached }
            let process = Process()
            process.executableURL = URL(fileURLWithPath: packageRoot + "/scripts/emulator")
            process.arguments = ["start"]
            let pipe = Pipe()
            process.standardOutput = pipe
            try process.run()
            process.waitUntilExit()
            let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            guard process.terminationStatus == 0,
                let line = output.split(separator: "\n").first(where: { $0.hasPrefix("BIGQUERY_EMULATOR_HOST=") })
            else {
                throw EmulatorError(message: "scripts/emulator start failed: \(output)")
            }
            let host = String(line.dropFirst("BIGQUERY_EMULATOR_HOST=".count))
            cached = host
            return host
        }
    }

    /// A name unique to this test process and call, for datasets that must not collide.
    public static func uniqueName(_ prefix: String) -> String {
        "\(prefix)_\(getpid())_\(UInt32.random(in: 0...UInt32.max))"
    }
}

/// The emulator could not be started.
public struct EmulatorError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}
