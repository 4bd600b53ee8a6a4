import BigQuery
import Foundation
import SyncKit
import Synchronization

/// Shows an apply's progress: on a TTY one line redrawn in place (syncs, batches, rows, bytes, elapsed, ETA);
/// off one, a plain line per step.
final class Progress: Sendable {
    private struct State {
        var syncs = 0
        var batchesDone = 0
        var rowsDone: Int64 = 0
        var billed: Int64 = 0
        var current = ""
        var currentBatches = 0
    }

    private let state = Mutex(State())
    private let tty: Bool
    private let totalSyncs: Int
    private let totalBatches: Int
    private let totalRows: Int64
    /// The step kind that finishes a batch, per sync: a MERGE inline, a load staged (the plan's `batches`).
    private let batchKinds: [String: Step.Kind]
    private let started = Date()

    init(plan: Plan, tty: Bool) {
        self.tty = tty
        totalSyncs = plan.syncs.count
        totalBatches = plan.syncs.reduce(0) { $0 + $1.batches }
        totalRows = plan.syncs.reduce(0) { $0 + ($1.rows ?? 0) }
        batchKinds = Dictionary(
            plan.syncs.map { ($0.name, $0.strategy == .staged ? Step.Kind.load : .merge) },
            uniquingKeysWith: { first, _ in first })
    }

    /// Batches finished (run or adopted) so far, and the plan's batches in all.
    var batches: (done: Int, total: Int) { (state.withLock { $0.batchesDone }, totalBatches) }

    func handle(_ event: ApplyEvent) {
        let line: String? = state.withLock { state in
            switch event {
            case .syncStarted(let sync, let batches, let rows):
                state.syncs += 1
                state.current = sync
                state.currentBatches = batches
                return tty
                    ? nil
                    : "apply \(sync): \(batches) batch\(batches == 1 ? "" : "es")\(rows.map { ", \($0) rows" } ?? "")"
            case .stepFinished(let sync, let kind, let rows, let billed, let adopted):
                state.batchesDone += kind == (batchKinds[sync] ?? .merge) ? 1 : 0
                state.rowsDone += kind == .load || (kind == .merge && rows > 0) ? rows : 0
                state.billed += billed
                return tty
                    ? nil
                    : "apply \(sync): \(kind.rawValue) done, \(rows) rows, \(Format.bytes(billed)) billed\(adopted ? " (adopted from an earlier run)" : "")"
            case .note(let text):
                return text
            }
        }
        if let line {
            if tty { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
            Output.err(line)
        }
        if tty { redraw() }
    }

    private func redraw() {
        let snapshot = state.withLock { $0 }
        let elapsed = Date().timeIntervalSince(started)
        let fraction = totalBatches > 0 ? Double(snapshot.batchesDone) / Double(totalBatches) : 0
        let eta = fraction > 0.02 ? String(format: "%.0fs", elapsed / fraction - elapsed) : "…"
        let text =
            "syncs \(snapshot.syncs)/\(totalSyncs) · batches \(snapshot.batchesDone)/\(totalBatches) · rows \(snapshot.rowsDone)/\(totalRows) · "
            + "\(Format.bytes(snapshot.billed)) billed · \(String(format: "%.0fs", elapsed)) elapsed · ETA \(eta)"
        FileHandle.standardError.write(Data("\r\u{1B}[K\(text)".utf8))
    }

    func finish() {
        if tty { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
    }
}
