import ArgumentParser
import Foundation
import SyncKit

/// `bqsync show PLANFILE`: renders a saved plan.
struct ShowCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "show", abstract: "Render a saved plan file.")

    @OptionGroup var global: GlobalOptions

    @Option(help: "Output: text, json or markdown.")
    var format: PlanCommand.Format = .text

    @Argument(help: "The plan file.")
    var planFile: String

    func run() async throws {
        do {
            let plan = try PlanFile.read(planFile)
            try PlanCommand.render(plan, format: format, terminal: Terminal(option: global.color))
        } catch let error as SyncError {
            throw CommandContext.fail(error)
        }
    }
}

/// Reading plan files.
enum PlanFile {
    /// Reads and decodes a plan file (at most 256 MiB).
    static func read(_ path: String) throws(SyncError) -> Plan {
        guard let handle = FileHandleReader(path: path) else {
            throw SyncError.io(path: path, message: "cannot read the plan file")
        }
        let bytes = try handle.readAll(limit: 256 << 20)
        return try Plan.decode(bytes, path: path)
    }
}

/// A small whole-file reader with a size limit.
struct FileHandleReader {
    let path: String
    init?(path: String) {
        guard FileManager.default.isReadableFile(atPath: path) else { return nil }
        self.path = path
    }

    func readAll(limit: Int) throws(SyncError) -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw SyncError.io(path: path, message: "cannot read")
        }
        guard data.count <= limit else {
            throw SyncError.io(path: path, message: "file is larger than \(limit >> 20) MiB")
        }
        return Array(data)
    }
}
