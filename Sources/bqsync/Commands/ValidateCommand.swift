import ArgumentParser
import SyncKit

/// `bqsync validate [PATH…]`: checks definitions and policies offline, reporting every error with its place.
struct ValidateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Check sync definitions and policies offline; every error with file:line:col."
    )

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case text, github, json
    }

    @OptionGroup var global: GlobalOptions

    @Option(help: "Output: text, github (Actions annotations) or json.")
    var format: Format = .text

    @Argument(help: "Files or directories to check (default: syncs.d/ and policies/ under -C).")
    var paths: [String] = []

    func run() async throws {
        global.startLogging()
        var loader = ConfigLoader(directory: global.directory, defaultProject: global.resolvedProject)
        loader.checksSourcePaths = true
        let configuration = loader.load(paths: paths)
        let diagnostics = configuration.diagnostics
        let errors = diagnostics.filter { $0.severity == .error }.count
        let warnings = diagnostics.count - errors
        switch format {
        case .json:
            Output.out(DiagnosticRenderer.json(diagnostics, files: configuration.fileCount))
        case .github:
            for diagnostic in diagnostics { Output.out(DiagnosticRenderer.github(diagnostic)) }
        case .text:
            let renderer = DiagnosticRenderer(terminal: Terminal(option: global.color))
            for diagnostic in diagnostics { Output.out(renderer.human(diagnostic) + "\n") }
            let files = "\(configuration.fileCount) file\(configuration.fileCount == 1 ? "" : "s")"
            if errors == 0 {
                Output.out(
                    "\(files) valid (\(configuration.syncs.count) sync\(configuration.syncs.count == 1 ? "" : "s"), \(configuration.policies.count) polic\(configuration.policies.count == 1 ? "y" : "ies"))\(warnings > 0 ? ", \(warnings) warning\(warnings == 1 ? "" : "s")" : "")"
                )
            } else {
                Output.out(
                    "\(errors) error\(errors == 1 ? "" : "s")\(warnings > 0 ? ", \(warnings) warning\(warnings == 1 ? "" : "s")" : "") in \(files)"
                )
            }
        }
        if errors > 0 { throw ExitStatus.failure }
    }
}
