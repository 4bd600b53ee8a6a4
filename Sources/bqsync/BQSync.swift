import ArgumentParser
import Foundation

/// The `bqsync` command: validate, plan, apply, show and status.
@main
struct BQSync: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bqsync",
        abstract: "Sync records into BigQuery with batched, cost-guarded, reviewable MERGE plans.",
        version: BuildInfo.versionLine,
        subcommands: [
            ValidateCommand.self, PlanCommand.self, ApplyCommand.self, ShowCommand.self, StatusCommand.self,
            SchemaCommand.self, InitCommand.self,
        ]
    )

    /// Runs with global options accepted before the subcommand too (`bqsync -C dir plan`).
    static func main() async {
        let arguments = GlobalOptions.hoist(Array(CommandLine.arguments.dropFirst()))
        if arguments.isEmpty || (arguments.count == 1 && ["--help", "-h", "help"].contains(arguments[0])) {
            // The top-level help, with what ArgumentParser cannot show there: the options every subcommand takes,
            // the environment, and where to start.
            var help = helpMessage(columns: 80)
            if let usage = help.range(of: "\n\nUSAGE:") {
                help.insert(contentsOf: "\n\n" + startHere, at: usage.lowerBound)
            }
            Output.out(help + "\n\n" + guide(columns: 80))
            return
        }
        await main(arguments)
    }
}

extension BQSync {
    /// The top-level help's first words after the overview.
    static let startHere = """
        START HERE:
          bqsync validate              check syncs.d/*.yaml and policies/*.yaml, offline
          bqsync plan --out plan.json  see what would change and what it would cost
          bqsync apply plan.json       run exactly that plan
        """

    /// What the top-level help adds after ArgumentParser's: where to start, the global options (from
    /// `GlobalOptions` itself, so they cannot drift) and the environment variables that matter.
    static func guide(columns: Int) -> String {
        let options = GlobalOptions.helpMessage(columns: columns)
            .split(separator: "\n", omittingEmptySubsequences: false)
            .drop { !$0.hasPrefix("OPTIONS:") }.dropFirst()
            .filter { !$0.contains("-h, --help") }
            .reversed().drop { $0.trimmingCharacters(in: .whitespaces).isEmpty }.reversed()
        return """
            GLOBAL OPTIONS (every subcommand, written before or after it):
            \(options.joined(separator: "\n"))

            ENVIRONMENT:
              GOOGLE_CLOUD_PROJECT    the billing project when --project is not given
              GOOGLE_APPLICATION_CREDENTIALS
                                      a service_account or authorized_user key file
              BQSYNC_ACCESS_TOKEN, GOOGLE_OAUTH_ACCESS_TOKEN
                              a bearer token, used as is (checked first)
              BIGQUERY_EMULATOR_HOST  a local emulator, e.g. http://127.0.0.1:9050 (no auth)
              BQSYNC_ENDPOINT         the API root, auth kept (--endpoint wins over it)
              BQSYNC_HTTP_TIMEOUT     seconds one HTTP exchange may take (default 300)
              BQSYNC_LEASE_SECONDS    a target's lease life during an apply (default 3600)
              BQSYNC_CA_BUNDLE        a CA bundle to verify TLS with
              NO_COLOR                no colour under --color auto

            EXIT STATUS:
              0 success, 1 error, 2 changes (plan --detailed-exitcode), 3 refused (budget,
              protected table, stale plan, lease held by another apply; README lists all),
              64 usage, 130 interrupted (SIGINT, SIGTERM)
            """
    }
}
