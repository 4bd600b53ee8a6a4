import ArgumentParser
import BigQuery
import Foundation
import Logging
import SyncKit

/// What the BigQuery-facing commands share: logging, configuration (refused with its diagnostics when
/// invalid), the one client, and the mapping of errors to exit codes.
struct CommandContext {
    let global: GlobalOptions
    let configuration: Configuration
    let client: BigQueryClient
    let terminal: Terminal

    /// Loads configuration and builds the client; invalid configuration prints every diagnostic and exits 1.
    /// With `syncs` named, only they and the policies they use must be valid: errors elsewhere are warnings.
    static func make(_ global: GlobalOptions, syncs: [String] = []) throws -> CommandContext {
        global.startLogging()
        let configuration = ConfigLoader(directory: global.directory, defaultProject: global.resolvedProject).load(
            syncs: syncs)
        let errors = configuration.diagnostics.filter { $0.severity == .error }
        let renderer = DiagnosticRenderer(terminal: Terminal(option: global.color, fileDescriptor: STDERR_FILENO))
        for diagnostic in configuration.diagnostics { Output.err(renderer.human(diagnostic)) }
        if !errors.isEmpty {
            Output.err("\(errors.count) error\(errors.count == 1 ? "" : "s") in the configuration; nothing was sent")
            // A protected target is a refusal by policy (exit 3) even when validation finds it.
            throw errors.allSatisfy(\.isRefusal) ? ExitStatus.refused : ExitStatus.failure
        }
        do {
            let client = try Session.client(
                configuration: configuration, endpoint: global.endpoint, project: global.resolvedProject,
                warn: { Output.err("warning: \($0)") })
            return CommandContext(
                global: global, configuration: configuration, client: client, terminal: Terminal(option: global.color))
        } catch {
            throw fail(error)
        }
    }

    /// Prints an error and returns its exit code: 3 for refusals, 1 otherwise.
    static func fail(_ error: SyncError) -> ExitCode {
        if case .config(let diagnostics) = error {
            // Each diagnostic says its own severity, at its file:line:col, with its caret.
            let renderer = DiagnosticRenderer(terminal: Terminal(option: .auto, fileDescriptor: STDERR_FILENO))
            for diagnostic in diagnostics { Output.err(renderer.human(diagnostic)) }
            Output.err("nothing was sent")
        } else {
            Output.err((error.isRefusal ? "" : "error: ") + error.description)
        }
        return error.isRefusal ? ExitStatus.refused : ExitStatus.failure
    }

    /// Runs a library call, mapping its error to an exit code.
    func run<T>(_ body: () async throws(SyncError) -> T) async throws -> T {
        do {
            return try await body()
        } catch {
            throw Self.fail(error)
        }
    }

    /// Writes a file atomically (temporary file, then rename), so a failure leaves nothing half-written.
    static func writeAtomically(_ bytes: [UInt8], to path: String) throws {
        let temporary = path + ".tmp-\(getpid())"
        guard
            FileManager.default.createFile(
                atPath: temporary, contents: Data(bytes), attributes: [.posixPermissions: 0o644])
        else {
            Output.err("error: cannot write \(path)")
            throw ExitStatus.failure
        }
        guard rename(temporary, path) == 0 else {
            unlink(temporary)
            Output.err("error: cannot write \(path): \(String(cString: strerror(errno)))")
            throw ExitStatus.failure
        }
    }
}
