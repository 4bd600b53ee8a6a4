import BigQuery
import Foundation

/// The lease an apply holds on its target while it runs. Before each step it is renewed once a quarter of its
/// life has passed since it was taken or last renewed, so an apply that runs longer than the lease keeps it; if it
/// was lost meanwhile (it lapsed and another apply took it over), the apply stops before sending the step.
actor LeaseKeeper {
    let lease: TargetLease
    private(set) var held: TargetLease.Held
    let time: any TimeSource
    private var renewed: Double

    init(lease: TargetLease, held: TargetLease.Held, time: any TimeSource) {
        self.lease = lease
        self.held = held
        self.time = time
        renewed = time.now()
    }

    /// Renews the lease if it is due; returns the seconds since it was taken or last renewed when it renewed
    /// it, nil when not due. Throws when the lease is no longer this apply's.
    func keep() async throws(SyncError) -> Int? {
        let age = time.now() - renewed
        guard age >= Double(lease.seconds) / 4 else { return nil }
        let asked = time.now()
        held = try await lease.renew(held)
        renewed = asked
        return Int(age)
    }

    /// Releases the lease, recording how the apply ended. The lease keeps an interrupted run as `failed`: for
    /// the next apply both mean "some steps may have run, look each job up first", and a lease stays readable by
    /// a bqsync that knows only those two.
    func release(_ status: RunStatus, after: TargetLease.AppliedState? = nil) async throws(SyncError) {
        try await lease.release(held, status: status == .interrupted ? .failed : status, after: after)
    }
}
