import ArgumentParser

/// The `bqsync` command: validate, plan, apply, show and status.
@main
struct BQSync: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bqsync",
        abstract: "Sync records into BigQuery with batched, cost-guarded, reviewable MERGE plans.",
        version: "0.1.0",
        subcommands: [ValidateCommand.self, PlanCommand.self, ApplyCommand.self, ShowCommand.self, StatusCommand.self]
    )

    /// Runs with global options accepted before the subcommand too (`bqsync -C dir plan`).
    static func main() async {
        await main(GlobalOptions.hoist(Array(CommandLine.arguments.dropFirst())))
    }
}
