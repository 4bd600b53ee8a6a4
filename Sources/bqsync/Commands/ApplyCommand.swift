import ArgumentParser
import Foundation
import SyncKit

/// `bqsync apply PLANFILE` runs a reviewed plan; `bqsync apply [SYNC…]` plans, shows, and asks first.
struct ApplyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apply",
        abstract: "Run a reviewed plan file, or plan and apply syncs (asks for yes on a TTY)."
    )

    @OptionGroup var global: GlobalOptions

    @Flag(help: "Apply without asking (required off a TTY when no plan file is given).")
    var autoApprove = false

    @Flag(
        help: ArgumentHelp(
            "Run the steps even of a plan applied already (under new job ids); with sync names, plan with --force.",
            discussion: "Use it to repair a target changed behind bqsync's back, or to re-run a reviewed plan file."))
    var force = false

    @Flag(
        help: ArgumentHelp(
            "With sync names: read incremental syncs whole and reset their watermarks (plan --full-refresh).",
            discussion: "A plan file carries its own window: plan it with --full-refresh instead."))
    var fullRefresh = false

    @Option(help: ArgumentHelp("Report at most this many of a source's bad rows, then stop.", valueName: "n"))
    var maxRowErrors = Planner.defaultMaxRowErrors

    @Option(help: "Summary output: text or json.")
    var format: Summary = .text

    enum Summary: String, ExpressibleByArgument, CaseIterable { case text, json }

    @Argument(help: "A plan file from `bqsync plan --out`, or the syncs to plan and apply (default: all).")
    var targets: [String] = []

    func run() async throws {
        // A plan file is applied under the whole configuration; named syncs need only themselves to be valid.
        let planFile = targets.count == 1 && FileManager.default.fileExists(atPath: targets[0])
        let context = try CommandContext.make(global, syncs: planFile ? [] : targets)
        let leaseSeconds = try await context.run { () throws(SyncError) in
            try LeaseSettings.seconds(environment: ProcessInfo.processInfo.environment)
        }
        // The batches and staging files of this apply, kept while it runs so that each source is read once: by the
        // plan made here, or by the freshness check of a plan file.
        let spool = try await context.run { () throws(SyncError) in try PayloadSpool() }
        let (plan, plannedHere) = try await approvedPlan(context, spool: spool)
        let service = BigQuerySyncService(
            client: context.client, configuration: context.configuration, defaultProject: global.resolvedProject,
            leaseSeconds: leaseSeconds)
        let progress = Progress(plan: plan, tty: Terminal.stderrIsTTY)
        let (outcome, interrupted) = try await Interruption.run { () async -> Result<[SyncSummary], SyncError> in
            do throws(SyncError) {
                return .success(
                    try await service.apply(plan, force: force, spool: spool) { event in progress.handle(event) })
            } catch {
                return .failure(error)
            }
        }
        progress.finish()
        if interrupted, case .failure(let error) = outcome {
            if case .interrupted = error {
                Output.err(error.description)
            } else {
                Output.err("error: " + error.description)
            }
            let (done, total) = progress.batches
            Output.err(
                Interruption.summary(
                    batchesDone: done, of: total, command: Interruption.command(CommandLine.arguments),
                    resumes: !plannedHere))
            throw ExitCode(Interruption.exitStatus)
        }
        let summaries = try await context.run { () throws(SyncError) in try outcome.get() }
        switch format {
        case .text: Output.out(PlanRenderer(terminal: context.terminal).summaries(summaries))
        case .json: Output.out(JSONOutput.encode(summaries))
        }
    }

    /// The plan to apply, and whether it was planned here: a reviewed plan file is the approval itself (no
    /// prompt); syncs named (or none) are planned, shown, checked against the budgets and approved with `yes` on
    /// a TTY or `--auto-approve`.
    func approvedPlan(_ context: CommandContext, spool: PayloadSpool) async throws -> (Plan, Bool) {
        if targets.count == 1, FileManager.default.fileExists(atPath: targets[0]),
            !context.configuration.syncs.contains(where: { $0.name == targets[0] })
        {
            guard !fullRefresh else {
                throw ValidationError(
                    "--full-refresh applies to syncs planned now; a plan file carries its own window (plan it with --full-refresh)"
                )
            }
            return (try await context.run { () async throws(SyncError) in try PlanFile.read(targets[0]) }, false)
        }
        let planner = Planner(
            client: context.client, configuration: context.configuration, defaultProject: global.resolvedProject,
            force: force, fullRefresh: fullRefresh, maxRowErrors: maxRowErrors, spool: spool)
        let plan = try await context.run { () async throws(SyncError) in try await planner.plan(targets) }
        Output.err(PlanRenderer(terminal: Terminal(option: global.color, fileDescriptor: STDERR_FILENO)).text(plan))
        if !plan.fits {
            for violation in plan.budgets.flatMap(\.violations) { Output.err("refused: \(violation)") }
            throw ExitStatus.refused
        }
        if !autoApprove {
            guard Terminal.stdinIsTTY else {
                Output.err(
                    "error: not a terminal, so no one can approve: pass --auto-approve, or apply a reviewed plan file")
                throw ExitStatus.usage
            }
            FileHandle.standardError.write(Data("Apply this plan? Only 'yes' is accepted: ".utf8))
            guard readLine()?.trimmingCharacters(in: .whitespaces) == "yes" else {
                Output.err("apply cancelled; nothing was sent")
                throw ExitStatus.failure
            }
        }
        return (plan, true)
    }
}
