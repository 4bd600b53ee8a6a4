import ArgumentParser
import Foundation
import Logging

/// Options every subcommand takes.
struct GlobalOptions: ParsableArguments {
    @Option(
        name: .customShort("C"),
        help: ArgumentHelp(
            "Where syncs.d/ and policies/ are (default: the nearest directory holding syncs.d/, searching up from the working directory as git does).",
            valueName: "dir"))
    var explicitDirectory: String?

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
    /// The project directory: `-C`, else the nearest directory holding `syncs.d/` from the working directory up,
    /// else the working directory.
    var directory: String { explicitDirectory ?? ProjectDirectory.search().path }

    /// Installs the log handler (once per process) and says at `info` which project directory is used and why.
    func startLogging() {
        StderrLogHandler.bootstrap(level: logLevel, format: logFormat)
        let logger = Logger(label: "bqsync")
        if let explicitDirectory {
            logger.info("project directory \(explicitDirectory) (from -C)")
        } else {
            logger.info("\(ProjectDirectory.search().description)")
        }
    }

    /// `--project`, else GOOGLE_CLOUD_PROJECT (the credentials' project is resolved later, by the client).
    var resolvedProject: String? {
        if let project, !project.isEmpty { return project }
        let env = ProcessInfo.processInfo.environment["GOOGLE_CLOUD_PROJECT"]
        return env?.isEmpty == false ? env : nil
    }
}

/// Where `syncs.d/` is when `-C` is not given: the working directory or the nearest one above it that holds it.
struct ProjectDirectory {
    /// The directory: `.` for the working directory itself, else an absolute path (so a plan made there names
    /// the same files wherever it is applied from).
    var path: String
    /// The working directory, absolute.
    var start: String
    /// Whether a directory holding `syncs.d/` was found.
    var found: Bool

    /// Searches up from `start` (the working directory) for a directory holding `syncs.d/`.
    static func search(
        from start: String = FileManager.default.currentDirectoryPath, fileManager: FileManager = .default
    ) -> ProjectDirectory {
        var directory = URL(fileURLWithPath: start).standardizedFileURL
        var ups = 0
        while true {
            var isDirectory: ObjCBool = false
            if fileManager.fileExists(
                atPath: directory.appendingPathComponent("syncs.d").path, isDirectory: &isDirectory),
                isDirectory.boolValue
            {
                return ProjectDirectory(path: ups == 0 ? "." : directory.path, start: start, found: true)
            }
            let parent = directory.deletingLastPathComponent()
            if parent.path == directory.path { return ProjectDirectory(path: ".", start: start, found: false) }
            directory = parent
            ups += 1
        }
    }

    /// The directory, for `--log-level info`.
    var description: String {
        guard found else { return "no syncs.d/ in \(start) or any directory above it; using \(start)" }
        return path == "."
            ? "project directory \(start)" : "project directory \(path) (found searching up from \(start))"
    }
}
