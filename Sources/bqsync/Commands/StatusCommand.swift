import ArgumentParser
import BigQuery
import SyncKit

/// `bqsync status [SYNC…]`: the latest runs recorded in the state dataset.
struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "Show the latest recorded runs of syncs.")

    @OptionGroup var global: GlobalOptions

    @Option(help: "Output: text or json.")
    var format: ApplyCommand.Summary = .text

    @Option(help: "Runs to show per target project.")
    var limit: Int = 20

    @Argument(help: "Syncs to show (default: all).")
    var syncs: [String] = []

    func run() async throws {
        let context = try CommandContext.make(global)
        if context.configuration.syncs.isEmpty, syncs.isEmpty, global.resolvedProject == nil {
            // Nothing names a project whose runs could be shown: say so, and how to name one.
            Output.err(
                "error: no project to read run records from: no sync is defined in \(global.directory)/syncs.d/, "
                    + "and neither --project nor GOOGLE_CLOUD_PROJECT is set. Pass --project ID, or -C DIR for the "
                    + "directory that holds your syncs.d/")
            throw ExitStatus.failure
        }
        let reader = StatusReader(
            client: context.client, configuration: context.configuration, defaultProject: global.resolvedProject)
        let runs = try await context.run { () async throws(SyncError) in
            try await reader.latestRuns(syncs, limit: max(1, min(limit, 1000)))
        }
        let watermarks = try await context.run { () async throws(SyncError) in try await reader.watermarks(syncs) }
        switch format {
        case .json:
            let current = Dictionary(watermarks.map { ($0.sync, $0) }, uniquingKeysWith: { first, _ in first })
            Output.out(JSONOutput.encode(runs.map { StatusJSON(run: $0, watermark: current[$0.sync]) }))
        case .text:
            Output.out(StatusRenderer(terminal: context.terminal).text(runs, watermarks: watermarks))
        }
    }
}
