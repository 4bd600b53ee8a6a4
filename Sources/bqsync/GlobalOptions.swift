import ArgumentParser
import Foundation

/// Options every subcommand takes.
struct GlobalOptions: ParsableArguments {
    @Option(name: .customShort("C"), help: ArgumentHelp("Where syncs.d/ and policies/ are.", valueName: "dir"))
    var directory: String = "."

    @Option(
        help:
            "The project jobs run in and are billed to (else GOOGLE_CLOUD_PROJECT, the credentials' project_id, the target's project)."
    )
    var project: String?

    @Option(help: ArgumentHelp("The BigQuery API root (auth kept); also BQSYNC_ENDPOINT.", valueName: "url"))
    var endpoint: String?

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: LogLevelOption = .warning

    @Option(help: "Log format: text or json.")
    var logFormat: LogFormatOption = .text

    @Option(help: "Colour: auto, always or never (NO_COLOR turns it off under auto).")
    var color: ColorOption = .auto

    /// Option names that take a value, for hoisting.
    static let valued: Set<String> = ["-C", "--project", "--endpoint", "--log-level", "--log-format", "--color"]

    /// Moves global options written before the subcommand to after it, where ArgumentParser looks for them.
    static func hoist(_ arguments: [String]) -> [String] {
        var leading: [String] = []
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            let name = argument.split(separator: "=", maxSplits: 1).first.map(String.init) ?? argument
            guard valued.contains(name) || (argument.hasPrefix("-C") && argument.count > 2) else { break }
            leading.append(argument)
            if !argument.contains("=") && valued.contains(argument) && index + 1 < arguments.count {
                leading.append(arguments[index + 1])
                index += 1
            }
            index += 1
        }
        guard !leading.isEmpty, index < arguments.count else { return arguments }
        return [arguments[index]] + leading + Array(arguments[(index + 1)...])
    }
}

enum LogLevelOption: String, ExpressibleByArgument, CaseIterable {
    case trace, debug, info, notice, warning, error, critical
}

enum LogFormatOption: String, ExpressibleByArgument, CaseIterable {
    case text, json
}

enum ColorOption: String, ExpressibleByArgument, CaseIterable {
    case auto, always, never
}

extension GlobalOptions {
    /// `--project`, else GOOGLE_CLOUD_PROJECT (the credentials' project is resolved later, by the client).
    var resolvedProject: String? {
        if let project, !project.isEmpty { return project }
        let env = ProcessInfo.processInfo.environment["GOOGLE_CLOUD_PROJECT"]
        return env?.isEmpty == false ? env : nil
    }
}
