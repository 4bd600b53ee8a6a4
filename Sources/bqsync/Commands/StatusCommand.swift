import ArgumentParser
import BigQuery
import SyncKit

/// `bqsync status [SYNC…]`: the latest runs recorded in the state dataset.
struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "status", abstract: "Show the latest recorded runs of syncs.")

    @OptionGroup var global: GlobalOptions

    @Option(help: "Output: text or json.")
    var format: ApplyCommand.Summary = .text

    @Option(help: "Runs to show per target project.")
    var limit: Int = 20

    @Argument(help: "Syncs to show (default: all).")
    var syncs: [String] = []

    func run() async throws {
        let context = try CommandContext.make(global)
        let reader = StatusReader(client: context.client, configuration: context.configuration, defaultProject: global.resolvedProject)
        let runs = try await context.run { () async throws(SyncError) in try await reader.latestRuns(syncs, limit: max(1, min(limit, 1000))) }
        switch format {
        case .json:
            Output.out(JSONOutput.encode(runs))
        case .text:
            if runs.isEmpty { Output.out("no runs recorded yet"); return }
            let terminal = context.terminal
            for run in runs {
                var counts: [String] = []
                if let inserted = run.inserted { counts.append("\(inserted) inserted") }
                if let updated = run.updated { counts.append("\(updated) updated") }
                if let deleted = run.deleted { counts.append("\(deleted) deleted") }
                if counts.isEmpty { counts.append("\(run.affected) affected") }
                let status = run.status == .succeeded ? terminal.green(run.status.rawValue) : terminal.red(run.status.rawValue)
                // The plan's estimate beside the bill, so drift between the two shows here.
                let estimated = run.bytesEstimated.map { " (plan: \(Format.bytes($0)))" } ?? ""
                Output.out("\(run.finishedAt ?? "?")  \(terminal.bold(run.sync)) → \(run.target)  \(status)  plan \(run.planId)  "
                           + counts.joined(separator: ", ") + "  \(Format.bytes(run.bytesBilled)) billed\(estimated)  \(Format.dollars(run.costUSD))  \(run.jobs) jobs"
                           + (run.message.map { "\n    " + terminal.red($0) } ?? ""))
            }
        }
    }
}
