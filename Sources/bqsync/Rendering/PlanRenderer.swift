import BigQuery
import Foundation
import SyncKit

/// Renders a plan for review: terminal text, markdown for a pull-request comment, JSON.
struct PlanRenderer {
    let terminal: Terminal

    /// GitHub refuses comments over 65,536 characters; stay under 65,000.
    static let markdownLimit = 65_000

    func text(_ plan: Plan) -> String {
        var out = terminal.bold("bqsync plan \(plan.planId)") + "\n"
        for sync in plan.syncs {
            out += "\n" + terminal.bold("sync \(sync.name)") + " → \(sync.target)  [\(sync.strategy.rawValue)]\n"
            out += "  " + terminal.dim(sync.strategyReason) + "\n"
            var facts: [String] = []
            if let read = sync.rowsRead { facts.append("\(read) rows read") }
            if let rows = sync.rows { facts.append("\(rows) after dedup") }
            facts.append(
                "\(sync.batches) \(sync.strategy == .inline ? "batch" : "load")\(sync.batches == 1 ? "" : (sync.strategy == .inline ? "es" : "s"))"
            )
            facts.append(
                "≈ \(Format.bytes(sync.estimatedBilledBytes)) billed, \(Format.dollars(sync.estimatedCostUSD))")
            out += "  " + facts.joined(separator: ", ") + "\n"
            if !sync.targetState.exists { out += "  " + terminal.yellow("creates \(sync.target)") + "\n" }
            if let window = sync.window { out += "  " + Self.windowLine(window) + "\n" }
            if let unchanged = sync.unchanged { out += "  " + terminal.green(Self.unchangedLine(unchanged)) + "\n" }
            if let preview = sync.preview { out += "  " + Self.previewLine(preview) + "\n" }
            if let last = sync.sinceLastApply { out += "  " + Self.sinceLine(last) + "\n" }
            for warning in Self.warnings(sync) { out += "  " + terminal.yellow("warning: " + warning) + "\n" }
            if let pruning = sync.pruning { out += "  pruning: \(pruning)\n" }
            for step in Self.condensed(sync.steps) { out += "    " + step + "\n" }
        }
        out += "\n" + terminal.bold("budget") + "\n"
        for budget in plan.budgets {
            out += "  policy \(budget.policy): " + Self.budgetLine(budget) + "\n"
            for violation in budget.violations { out += "    " + terminal.red("✗ " + violation) + "\n" }
        }
        out += "\n" + Self.legend(plan).map { terminal.dim($0) }.joined(separator: "\n") + "\n"
        out +=
            plan.fits
            ? terminal.green("\nfits every policy") + "\n"
            : terminal.red("\nrefused: the plan passes a policy limit") + "\n"
        return out
    }

    /// `preview: +3 ~1 -0 =46 (inserted, updated, deleted, unchanged; ≈ 10.5 MB billed)`.
    static func previewLine(_ preview: SyncPlan.Preview) -> String {
        guard preview.inserted != nil else { return preview.summary }
        let billed = preview.estimate.map { "; ≈ \(Format.bytes($0.billedBytes)) billed" } ?? ""
        return "preview: \(preview.summary) (inserted, updated, deleted, unchanged\(billed))"
    }

    /// `since the last apply (plan …, at …): + column x STRING; strategy inline → staged; it billed 10.5 MB, $…`.
    static func sinceLine(_ last: SyncPlan.SinceLastApply) -> String {
        let when = ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: Double(last.appliedAtMs) / 1000))
        var parts: [String] = []
        switch last.changes {
        case .none: parts.append("what changed in the definition is not known")
        case .some(let changes) where changes.isEmpty: parts.append("the definition's shape is the same")
        case .some(let changes): parts += changes
        }
        if let billed = last.billedBytes {
            parts.append("it billed \(Format.bytes(billed)), \(Format.dollars(last.costUSD ?? 0))")
        }
        return "since the last apply (plan \(last.planId), at \(when)): " + parts.joined(separator: "; ")
    }

    /// `window: updated_at > 2024-05-01 10:00:00+00 (watermark …, less the lag) → 2024-05-02 …: 12 rows`.
    static func windowLine(_ window: IncrementalWindow) -> String {
        let start: String
        if let after = window.after {
            start =
                "\(window.cursor) > \(after)"
                + (window.watermark.map { $0 == after ? " (the watermark)" : " (watermark \($0), less the lag)" } ?? "")
        } else if let from = window.from {
            start = "\(window.cursor) ≥ \(from) (source.incremental.initial)"
        } else {
            start = "every row (\(window.cursor) NULL included)"
        }
        let refresh = window.fullRefresh ? "full refresh: " : (window.watermark == nil ? "first run: " : "")
        let end = window.through.map { " → \($0)" } ?? ""
        guard let rows = window.rows else {
            return "window: \(refresh)\(start); its rows and end are found once staged (the profile step)"
        }
        return "window: \(refresh)\(start)\(end): \(rows) row\(rows == 1 ? "" : "s")"
            + (window.through == nil ? "; the watermark stays \(window.watermark ?? "unset")" : "")
    }

    /// A sync with nothing to do, and why.
    static func unchangedLine(_ unchanged: SyncPlan.Unchanged) -> String {
        let when = ISO8601DateFormatter().string(
            from: Date(timeIntervalSince1970: Double(unchanged.appliedAtMs) / 1000))
        return "unchanged: plan \(unchanged.planId) applied this content at \(when), and the target is as that apply "
            + "left it; nothing to do (plan --force to merge it again)"
    }

    /// What the estimate marks in this plan mean, and the units: one line each.
    static func legend(_ plan: Plan) -> [String] {
        let used = Set(plan.syncs.flatMap(\.steps).compactMap(\.estimate?.accuracy))
        let meanings: [(Estimate.Accuracy, String)] = [
            (.precise, "BigQuery's dry run of the statement, exact"),
            (.upperBound, "BigQuery's dry run of the statement, at most this"),
            (.lowerBound, "at least this: BigQuery's dry run says so, or the rows are known only once they are loaded"),
            (
                .unknown,
                "BigQuery's dry run gave no figure; bqsync's estimate from the tables' sizes, with BigQuery's minimums"
            ),
            (
                .modeled,
                "not a dry run of the statement as sent: from a dry run of part of it, or the minimum for a new table"
            ),
        ]
        return meanings.filter { used.contains($0.0) }.map { "(\($0.0.rawValue.lowercased())) \($0.1)" }
            + [
                "sizes are decimal: 1 MB = 10^6 bytes, 1 GB = 10^9; BigQuery bills at least 10 MiB (10,485,760 bytes, "
                    + "shown as 10.5 MB) per table a query references"
            ]
    }

    static func budgetLine(_ budget: BudgetPlan) -> String {
        "\(budget.plannedQueries)/\(budget.maxQueries) queries, \(Format.bytes(budget.plannedBytesBilled))/\(Format.bytes(budget.maxBytesBilled)) billed, "
            + "\(Format.dollars(budget.plannedCostUSD))/\(Format.dollars(budget.maxCostUSD)); largest query \(Format.bytes(budget.largestQueryBytes))"
            + "/\(Format.bytes(budget.maxBytesPerQuery)); left after: \(max(0, budget.maxQueries - budget.plannedQueries)) queries, "
            + "\(Format.bytes(max(0, budget.maxBytesBilled - budget.plannedBytesBilled))), \(Format.dollars(max(0, budget.maxCostUSD - budget.plannedCostUSD)))"
    }

    /// Steps as lines, runs of like steps folded (`merge ×40`).
    static func condensed(_ steps: [Step]) -> [String] {
        var lines: [String] = []
        var index = 0
        while index < steps.count {
            let step = steps[index]
            var end = index
            while end + 1 < steps.count, steps[end + 1].kind == step.kind { end += 1 }
            let run = steps[index...end]
            let rows = run.compactMap(\.rows).reduce(0, +)
            let billed = run.compactMap(\.estimate?.billedBytes).reduce(0, +)
            var line = "\(step.kind.rawValue)" + (run.count > 1 ? " ×\(run.count)" : "")
            if rows > 0 { line += "  \(rows) rows" }
            if step.kind.isQuery {
                line += "  ≈ \(Format.bytes(billed)) billed"
                if let accuracy = step.estimate?.accuracy { line += " (\(accuracy.rawValue.lowercased()))" }
            }
            lines.append(line)
            index = end + 1
        }
        return lines
    }

    /// The plan as a pull-request comment: refusals first, then the syncs, the budgets, what changed since each
    /// sync's last apply, the step details and the legend. It stays under GitHub's comment limit, leaving out the
    /// details first, then the changes, then table rows, and says what it left out.
    func markdown(_ plan: Plan) -> String {
        var head = "### bqsync plan `\(plan.planId)`\n\n"
        head += plan.fits ? "**Fits every policy.**\n\n" : "**Refused: the plan passes a policy limit.**\n\n"
        let violations = plan.budgets.flatMap(\.violations)
        if !violations.isEmpty { head += violations.map { "- :x: \(Self.cell($0))" }.joined(separator: "\n") + "\n\n" }
        var rows = plan.syncs.map(Self.syncRow)
        let budgets = Self.budgetTable(plan.budgets)
        var since = Self.sinceList(plan.syncs)
        var details = plan.syncs.map(Self.details).joined()
        let legend = "\n" + Self.legend(plan).map { "<sub>\(Self.html($0))</sub><br>" }.joined(separator: "\n") + "\n"
        let footer =
            legend
            + "\n<sub>Apply exactly this plan with `bqsync apply PLANFILE`; a changed definition, policy, source or target schema is refused.</sub>\n"
        let header =
            "| sync | target | strategy | rows | batches | billed | cost |\n|---|---|---|---:|---:|---:|---:|\n"
        func length() -> Int {
            head.count + header.count + rows.reduce(0) { $0 + $1.count } + budgets.count + since.count + details.count
                + footer.count
        }
        if length() > Self.markdownLimit {
            details = "\n_Step details left out to stay under GitHub's comment limit; see `bqsync show PLANFILE`._\n"
        }
        if length() > Self.markdownLimit {
            since = "\n_What changed since each sync's last apply is left out too; see `bqsync show PLANFILE`._\n"
        }
        if length() > Self.markdownLimit {
            let note =
                "| … \(rows.count) syncs in all; the rest are left out (see `bqsync show PLANFILE`) | | | | | | |\n"
            while length() + note.count > Self.markdownLimit, !rows.isEmpty { rows.removeLast() }
            rows.append(note)
        }
        return head + header + rows.joined() + budgets + since + details + footer
    }

    static func syncRow(_ sync: SyncPlan) -> String {
        "| \(cell(sync.name)) | `\(sync.target)` | \(sync.strategy.rawValue) | \(sync.rows.map(String.init) ?? "in BigQuery") | \(sync.batches) | "
            + "\(Format.bytes(sync.estimatedBilledBytes)) | \(Format.dollars(sync.estimatedCostUSD)) |\n"
    }

    static func budgetTable(_ budgets: [BudgetPlan]) -> String {
        var out = "\n| policy | queries | billed | cost | largest query |\n|---|---:|---:|---:|---:|\n"
        for budget in budgets {
            out +=
                "| \(cell(budget.policy)) | \(budget.plannedQueries) / \(budget.maxQueries) | \(Format.bytes(budget.plannedBytesBilled)) / "
                + "\(Format.bytes(budget.maxBytesBilled)) | \(Format.dollars(budget.plannedCostUSD)) / \(Format.dollars(budget.maxCostUSD)) | "
                + "\(Format.bytes(budget.largestQueryBytes)) / \(Format.bytes(budget.maxBytesPerQuery)) |\n"
        }
        return out
    }

    /// Per sync, what changed since its last apply and what a reviewer should be warned of.
    static func sinceList(_ syncs: [SyncPlan]) -> String {
        let lines = syncs.flatMap { sync in
            (sync.window.map { ["- `\(html(sync.name))`: \(cell(windowLine($0)))"] } ?? [])
                + (sync.sinceLastApply.map { ["- `\(html(sync.name))`: \(cell(sinceLine($0)))"] } ?? [])
                + warnings(sync).map { "- `\(html(sync.name))`: :warning: \(cell($0))" }
        }
        return lines.isEmpty ? "" : "\n" + lines.joined(separator: "\n") + "\n"
    }

    /// What a reviewer should know of a sync's plan that its figures do not say: estimates that are only a lower
    /// bound or unknown, a partitioned target its MERGEs cannot prune, a target the plan creates.
    static func warnings(_ sync: SyncPlan) -> [String] {
        var warnings: [String] = []
        let accuracies = Set(sync.steps.compactMap(\.estimate?.accuracy))
        if accuracies.contains(.lowerBound) {
            warnings.append("the estimate is a lower bound: the rows are known only once staged")
        }
        if accuracies.contains(.unknown) {
            warnings.append("a step's estimate is bqsync's own: BigQuery's dry run gave no figure")
        }
        if let pruning = sync.pruning, pruning.hasPrefix("none: partition column") {
            warnings.append(
                "no partition pruning (" + pruning.dropFirst("none: ".count) + "): each MERGE scans the whole target")
        }
        if !sync.targetState.exists, !sync.steps.isEmpty { warnings.append("the plan creates \(sync.target)") }
        return warnings
    }

    static func details(_ sync: SyncPlan) -> String {
        var out =
            "\n<details><summary><code>\(html(sync.name))</code>: \(sync.steps.count) step\(sync.steps.count == 1 ? "" : "s") — \(html(sync.strategyReason))</summary>\n\n"
        if let unchanged = sync.unchanged { out += "- \(cell(unchangedLine(unchanged)))\n" }
        if let preview = sync.preview { out += "- \(cell(previewLine(preview)))\n" }
        for line in condensed(sync.steps) { out += "- \(cell(line))\n" }
        if let sql = sync.steps.first(where: { $0.kind == .merge })?.sql {
            out += "\n```sql\n" + sql.replacingOccurrences(of: "```", with: "` ` `") + "\n```\n"
        }
        return out + "\n</details>\n"
    }

    static func cell(_ text: String) -> String {
        html(text).replacingOccurrences(of: "|", with: "\\|").replacingOccurrences(of: "\n", with: " ")
    }

    static func html(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;")
    }

    func summaries(_ summaries: [SyncSummary]) -> String {
        var out = ""
        for s in summaries {
            var counts: [String] = []
            if let inserted = s.inserted { counts.append("\(inserted) inserted") }
            if let updated = s.updated { counts.append("\(updated) updated") }
            if let deleted = s.deleted { counts.append("\(deleted) deleted") }
            if s.nullKeyRows > 0 { counts.append("\(s.nullKeyRows) skipped for a NULL key") }
            if counts.isEmpty {
                counts.append("\(s.affected) rows affected (the server reports no insert/update/delete breakdown)")
            }
            let status = s.status == .applied ? terminal.green(s.status.rawValue) : terminal.yellow(s.status.rawValue)
            out +=
                "\(terminal.bold(s.sync)) → \(s.target): \(status); " + counts.joined(separator: ", ")
                + "; \(Format.bytes(s.bytesProcessed)) processed, \(Format.bytes(s.bytesBilled)) billed, \(Format.dollars(s.costUSD)); "
                + "\(s.jobs) job\(s.jobs == 1 ? "" : "s")\(s.adopted > 0 ? " (\(s.adopted) adopted from an earlier run)" : "")"
                + String(format: " in %.1fs", s.seconds) + "\n"
        }
        return out
    }
}
