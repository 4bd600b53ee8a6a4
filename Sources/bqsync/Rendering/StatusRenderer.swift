import BigQuery
import SyncKit

/// `bqsync status` as text: one line per recorded run, newest first, the plan's estimate beside the bill.
struct StatusRenderer {
    let terminal: Terminal

    func text(_ runs: [RunRecord], watermarks: [SyncWatermark] = []) -> String {
        var out = runs.isEmpty ? "no runs recorded yet" : runs.map(line).joined(separator: "\n")
        if !watermarks.isEmpty {
            out += "\n\n" + terminal.bold("watermarks") + "\n"
            out += watermarks.map { mark in
                "  \(mark.sync) (\(mark.cursor)): "
                    + (mark.watermark.map { "\($0)\(mark.planId.map { " (left by plan \($0))" } ?? "")" }
                        ?? "none yet: the next apply reads from source.incremental.initial, or every row")
            }.joined(separator: "\n")
        }
        return out
    }

    func line(_ run: RunRecord) -> String {
        var counts: [String] = []
        if let inserted = run.inserted { counts.append("\(inserted) inserted") }
        if let updated = run.updated { counts.append("\(updated) updated") }
        if let deleted = run.deleted { counts.append("\(deleted) deleted") }
        if counts.isEmpty { counts.append("\(run.affected) affected") }
        let status: String
        switch run.status {
        case .succeeded: status = terminal.green(run.status.rawValue)
        case .interrupted: status = terminal.yellow(run.status.rawValue)
        case .failed: status = terminal.red(run.status.rawValue)
        }
        // The plan's estimate beside the bill, so drift between the two shows here.
        let estimated = run.bytesEstimated.map { " (plan: \(Format.bytes($0)))" } ?? ""
        return "\(run.finishedAt ?? "?")  \(terminal.bold(run.sync)) → \(run.target)  \(status)  plan \(run.planId)  "
            + counts.joined(separator: ", ")
            + "  \(Format.bytes(run.bytesBilled)) billed\(estimated)  \(Format.dollars(run.costUSD))  \(run.jobs) jobs"
            + (run.status == .interrupted
                ? "\n    " + terminal.yellow("interrupted (SIGINT or SIGTERM): apply the same plan again to resume")
                : run.message.map { "\n    " + terminal.red($0) } ?? "")
    }
}
