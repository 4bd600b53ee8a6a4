import ArgumentParser
import SyncKit

/// `bqsync plan [SYNC…]`: reads every source, dry-runs every step, renders the plan and checks it against the budgets.
struct PlanCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan",
        abstract: "Compile syncs into a batched MERGE plan, dry-run every step, check the budget."
    )

    enum Format: String, ExpressibleByArgument, CaseIterable { case text, json, markdown }

    @OptionGroup var global: GlobalOptions

    @Option(help: "Output: text, json or markdown (for a pull-request comment).")
    var format: Format = .text

    @Option(help: ArgumentHelp("Write the plan file here, for `bqsync apply FILE`.", valueName: "file"))
    var out: String?

    @Flag(help: "Exit 2 when the plan changes something, 0 when it changes nothing.")
    var detailedExitcode = false

    @Flag(
        help: ArgumentHelp(
            "Plan every sync's steps, even one whose content was applied already to a target still as it was left.",
            discussion: "Use it when the target changed in a way its row count and last modification do not show."))
    var force = false

    @Flag(
        help: ArgumentHelp(
            "Count per sync the rows the MERGEs would insert, update, delete and leave unchanged (+3 ~1 -0 =46).",
            discussion:
                "One read-only query per sync, priced in the plan like any query; none runs if the plan passes a policy limit."
        ))
    var preview = false

    @Flag(
        help: ArgumentHelp(
            "Read incremental syncs whole: set each watermark aside; the apply then sets it anew.",
            discussion: "From source.incremental.initial when it is set, else every row (NULL cursors included)."))
    var fullRefresh = false

    @Option(help: ArgumentHelp("Report at most this many of a source's bad rows, then stop.", valueName: "n"))
    var maxRowErrors = Planner.defaultMaxRowErrors

    @Argument(help: "Syncs to plan (default: all).")
    var syncs: [String] = []

    func run() async throws {
        let context = try CommandContext.make(global, syncs: syncs)
        let planner = Planner(
            client: context.client, configuration: context.configuration, defaultProject: global.resolvedProject,
            force: force, preview: preview, fullRefresh: fullRefresh, maxRowErrors: maxRowErrors)
        let plan = try await context.run { () async throws(SyncError) in try await planner.plan(syncs) }
        try Self.render(plan, format: format, terminal: context.terminal)
        if let out {
            let bytes = try await context.run { () async throws(SyncError) in try plan.encoded() }
            try CommandContext.writeAtomically(bytes, to: out)
            Output.err("plan written to \(out)")
        }
        if !plan.fits {
            for violation in plan.budgets.flatMap(\.violations) { Output.err("refused: \(violation)") }
            throw ExitStatus.refused
        }
        if detailedExitcode && plan.hasChanges { throw ExitStatus.changes }
    }

    static func render(_ plan: Plan, format: Format, terminal: Terminal) throws {
        let renderer = PlanRenderer(terminal: terminal)
        switch format {
        case .text: Output.out(renderer.text(plan))
        case .markdown: Output.out(renderer.markdown(plan))
        case .json:
            let bytes = try plan.encoded()
            Output.out(String(decoding: bytes, as: UTF8.self))
        }
    }
}
