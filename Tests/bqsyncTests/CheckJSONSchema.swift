import Foundation
import Testing

/// check-jsonschema (PyPI), the validator the schema tests run: in its own Python environment,
/// `$BQSYNC_EMULATOR_DIR/jsonschema-venv` (default `.emulator/`), made on first use as scripts/sql-analyzer-env
/// makes the analyzer's (pinned, a ready file holding the pins; under a lock, since tests run in parallel).
/// Only when it cannot be installed (no python3 venv, no PyPI) do the tests that need it skip, saying why; under
/// CI (`CI` set) that is a failure instead, so CI never passes without running them.
enum CheckJSONSchema {
    static let pins = "check-jsonschema==0.39.0"

    static var directory: String {
        let base = ProcessInfo.processInfo.environment["BQSYNC_EMULATOR_DIR"].flatMap { $0.isEmpty ? nil : $0 }
        return (base ?? E2E.repoRoot + "/.emulator") + "/jsonschema-venv"
    }

    /// The executable, or why there is none.
    static let tool: Result<String, HarnessError> = {
        let venv = directory
        let script = """
            set -e
            venv="$1"; pins="$2"
            mkdir -p "$(dirname "$venv")"
            exec 9>"$venv.lock"
            flock 9
            if [ "$(cat "$venv/.bqsync-ready" 2>/dev/null)" != "$pins" ]; then
              rm -rf "$venv"
              python3 -m venv "$venv"
              "$venv/bin/pip" install --quiet --disable-pip-version-check $pins
              echo "$pins" > "$venv/.bqsync-ready"
            fi
            """
        do {
            let result = try Shell.run(["/bin/bash", "-c", script, "install", venv, pins], timeout: 300)
            let executable = venv + "/bin/check-jsonschema"
            guard result.status == 0, FileManager.default.isExecutableFile(atPath: executable) else {
                return .failure(HarnessError("could not install \(pins) into \(venv): \(result.output)"))
            }
            return .success(executable)
        } catch {
            return .failure(HarnessError("could not install \(pins) into \(venv): \(error)"))
        }
    }()

    /// Whether the tests that need it run: it is there, or (outside CI) they skip.
    static var runs: Bool {
        if case .success = tool { return true }
        return ProcessInfo.processInfo.environment["CI"] != nil
    }

    /// The executable; records a failure (under CI, when it could not be installed) and throws when missing.
    static func executable() throws -> String {
        try tool.get()
    }

    /// Runs it with these arguments.
    static func run(_ arguments: [String]) throws -> Shell.Result {
        try Shell.run([try executable()] + arguments, timeout: 120)
    }
}

/// Runs a program to the end, stdout and stderr together.
enum Shell {
    struct Result {
        var status: Int32
        var output: String
    }

    static func run(
        _ command: [String], timeout: Double, directory: String? = nil, environment: [String: String]? = nil
    ) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: command[0])
        process.arguments = Array(command.dropFirst())
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        if let environment { process.environment = environment }
        let file = NSTemporaryDirectory() + "bqsync-shell-\(UUID().uuidString).out"
        _ = FileManager.default.createFile(atPath: file, contents: nil)
        defer { unlink(file) }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: file))
        process.standardOutput = handle
        process.standardError = handle
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning {
            if Date() > deadline {
                process.terminate()
                process.waitUntilExit()
                throw HarnessError("\(command.joined(separator: " ")) did not finish within \(timeout) s")
            }
            usleep(10_000)
        }
        process.waitUntilExit()
        try handle.close()
        let output = (try? String(contentsOfFile: file, encoding: .utf8)) ?? ""
        return Result(status: process.terminationStatus, output: output)
    }
}
