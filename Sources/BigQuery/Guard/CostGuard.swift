/// Keeps one session's spending within its policy. Every billable job asks for admission with its estimate
/// before it is sent; a job that would pass a limit is refused there. Admitted jobs reserve their estimate
/// until their actual bytes billed are settled, so concurrent jobs cannot overspend together.
public actor CostGuard {
    /// What a session has spent.
    public struct Usage: Sendable, Hashable, Codable {
        /// Bytes billed.
        public var bytesBilled: Int64 = 0
        /// Bytes processed.
        public var bytesProcessed: Int64 = 0
        /// Query jobs sent.
        public var queries = 0
        /// Dollars.
        public var costUSD: Double = 0

        /// Nothing spent.
        public init() {}
    }

    /// A job's place in the budget, from admission to settlement.
    public struct Admission: Sendable, Hashable {
        /// Identifies the reservation.
        public let id: Int
        /// The estimate reserved.
        public let estimatedBytes: Int64
        /// What to send as `maximumBytesBilled`: BigQuery itself refuses the job beyond it.
        public let maximumBytesBilled: Int64
    }

    /// The limits enforced.
    public let limits: CostLimits
    /// What settled jobs have spent.
    public private(set) var usage = Usage()
    /// Warnings given (one per limit), in order.
    public private(set) var warnings: [String] = []
    private var reservations: [Int: Int64] = [:]
    private var nextId = 0
    private var warned: Set<Refusal.Limit> = []
    private var drained = 0

    /// Creates a guard with nothing spent.
    public init(limits: CostLimits) {
        self.limits = limits
    }

    private var reservedBytes: Int64 { reservations.values.reduce(0, +) }

    /// Checks that a whole plan fits before any of it runs: its bytes, query count and dollars.
    public func check(plannedBytes: Int64, plannedQueries: Int) throws(BigQueryError) {
        if plannedQueries > 0 {
            try checkQueries(adding: plannedQueries)
        }
        try checkSessionBytes(adding: plannedBytes)
    }

    /// Admits a billable job estimated at `estimatedBytes` billed, or refuses it.
    public func admit(estimatedBytes: Int64) throws(BigQueryError) -> Admission {
        if estimatedBytes > limits.queryBytes {
            throw .refused(
                .budget(
                    limit: .queryBytes, allowed: Format.bytes(limits.queryBytes),
                    wouldBe: Format.bytes(estimatedBytes), left: Format.bytes(limits.queryBytes)))
        }
        try checkQueries(adding: 1)
        try checkSessionBytes(adding: estimatedBytes)
        let committed = usage.bytesBilled + reservedBytes
        let bytesLeft = limits.sessionBytes - committed
        let dollarsLeft = max(0, limits.sessionCostUSD - limits.cost(ofBytes: committed))
        let bytesForDollars = Int64(
            min(Double(Int64.max / 2), (dollarsLeft / limits.usdPerTiB * 1_099_511_627_776).rounded(.down)))
        let maximum = max(estimatedBytes, min(limits.queryBytes, bytesLeft, bytesForDollars))
        nextId += 1
        reservations[nextId] = estimatedBytes
        usage.queries += 1
        noteWarnings()
        return Admission(id: nextId, estimatedBytes: estimatedBytes, maximumBytesBilled: maximum)
    }

    /// Records what an admitted job actually cost (0 for a failed job: failures are not billed).
    @discardableResult
    public func settle(_ admission: Admission, billedBytes: Int64, processedBytes: Int64) -> [String] {
        reservations[admission.id] = nil
        usage.bytesBilled += billedBytes
        usage.bytesProcessed += processedBytes
        usage.costUSD = limits.cost(ofBytes: usage.bytesBilled)
        return noteWarnings()
    }

    /// Warnings given since the last call, for the caller to log once.
    public func drainWarnings() -> [String] {
        defer { drained = warnings.count }
        return Array(warnings[drained...])
    }

    /// The share of each session limit used, settled plus reserved.
    public func shares() -> [Refusal.Limit: Double] {
        let bytes = usage.bytesBilled + reservedBytes
        return [
            .sessionBytes: Double(bytes) / Double(max(1, limits.sessionBytes)),
            .sessionQueries: Double(usage.queries) / Double(max(1, limits.sessionQueries)),
            .sessionCost: limits.sessionCostUSD > 0
                ? limits.cost(ofBytes: bytes) / limits.sessionCostUSD : (bytes > 0 ? 1 : 0),
        ]
    }

    private func checkQueries(adding count: Int) throws(BigQueryError) {
        if usage.queries + count > limits.sessionQueries {
            throw .refused(
                .budget(
                    limit: .sessionQueries, allowed: String(limits.sessionQueries),
                    wouldBe: String(usage.queries + count), left: String(max(0, limits.sessionQueries - usage.queries)))
            )
        }
    }

    private func checkSessionBytes(adding bytes: Int64) throws(BigQueryError) {
        let committed = usage.bytesBilled + reservedBytes
        if committed + bytes > limits.sessionBytes {
            throw .refused(
                .budget(
                    limit: .sessionBytes, allowed: Format.bytes(limits.sessionBytes),
                    wouldBe: Format.bytes(committed + bytes),
                    left: Format.bytes(max(0, limits.sessionBytes - committed))))
        }
        let cost = limits.cost(ofBytes: committed + bytes)
        if cost > limits.sessionCostUSD {
            throw .refused(
                .budget(
                    limit: .sessionCost, allowed: Format.dollars(limits.sessionCostUSD),
                    wouldBe: Format.dollars(cost),
                    left: Format.dollars(max(0, limits.sessionCostUSD - limits.cost(ofBytes: committed)))))
        }
    }

    /// Adds one warning per limit the session passes `warnAt` of; returns the new ones.
    @discardableResult
    private func noteWarnings() -> [String] {
        var fresh: [String] = []
        let shares = shares()
        for limit in [Refusal.Limit.sessionBytes, .sessionQueries, .sessionCost] where !warned.contains(limit) {
            guard let share = shares[limit], share >= limits.warnAt else { continue }
            warned.insert(limit)
            let percent = Int((share * 100).rounded(.down))
            let figure: String
            switch limit {
            case .sessionBytes:
                figure = "\(Format.bytes(usage.bytesBilled + reservedBytes)) of \(Format.bytes(limits.sessionBytes))"
            case .sessionQueries: figure = "\(usage.queries) of \(limits.sessionQueries) queries"
            default:
                figure =
                    "\(Format.dollars(limits.cost(ofBytes: usage.bytesBilled + reservedBytes))) of \(Format.dollars(limits.sessionCostUSD))"
            }
            fresh.append("\(limit.rawValue) at \(percent)% of its limit (\(figure))")
        }
        warnings += fresh
        return fresh
    }
}
