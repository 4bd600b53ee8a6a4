import BigQuery
import Foundation

/// The lease an apply holds on its target while it runs. Before each step it is renewed once a quarter of its
/// life has passed since it was taken or last renewed, so an apply that runs longer than the lease keeps it; if it
/// was lost meanwhile (it expired and another apply took it), the apply stops before sending the step.
actor LeaseKeeper {
    let state: StateStore
    let target: TableReference
    let holder: String
    private var renewed: Date

    init(state: StateStore, target: TableReference, holder: String, acquired: Date = Date()) {
        self.state = state
        self.target = target
        self.holder = holder
        renewed = acquired
    }

    /// Renews the lease if it is due; returns the seconds it had been held since the last renewal when it renewed
    /// it, nil when not due. Throws when the lease is no longer ours.
    func keep() async throws(SyncError) -> Int? {
        let age = Date().timeIntervalSince(renewed)
        guard age >= Double(state.leaseSeconds) / 4 else { return nil }
        let asked = Date()
        guard try await state.renew(target: target, holder: holder) else {
            throw SyncError.failed("stopped: the lease on \(target) lapsed (\(Int(age)) s since it was renewed; it lasts \(state.leaseSeconds) s) "
                                   + "and another apply holds it now; nothing more was sent. Apply the plan again when that one is done")
        }
        renewed = asked
        return Int(age)
    }
}
