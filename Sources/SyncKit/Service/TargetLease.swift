import BigQuery
import Foundation

/// The lease that lets one apply at a time write a target table. It is a metadata object, not a row: one empty
/// table per target in the state dataset (`bqsync.lease_<target>_<hash>`), whose description holds who has it and
/// until when, and whose `expirationTime` is its life, so BigQuery itself deletes the lease of a holder that died
/// (docs/bigquery.md, "Metadata as a mutex").
///
/// Every change is a compare-and-swap on the table's metadata: creating it is `tables.insert` (409 when it
/// exists), and taking it over, renewing it and releasing it are `tables.patch` with `If-Match: <etag>` (412 when
/// anyone changed it since it was read). So two applies that race for one target cannot both win, whatever the
/// timing; different targets have different tables and never contend; and nothing here is a job or DML, so the
/// lease bills 0 bytes. A released lease stays (for 30 days of disuse) and remembers which plans were applied to
/// its target, so an apply of a plan already applied sends nothing.
struct TargetLease: Sendable {
    /// What a lease table's description holds (JSON).
    struct Record: Codable, Sendable, Hashable {
        enum State: String, Codable, Sendable { case held, released }

        /// Marks the description as bqsync's (and its layout).
        var bqsyncLease = 1
        /// The target, `project.dataset.table`.
        var target: String
        var state: State
        /// The apply that holds it (or last held it): plan, host, pid and a random part.
        var holder: String
        var planId: String
        var sync: String
        var host: String
        var pid: Int64
        /// When it was taken, and when it lapses unless renewed (ms since the epoch).
        var acquiredAtMs: Int64
        var expiresAtMs: Int64
        /// How the last apply that released it ended (`succeeded` or `failed`).
        var lastStatus: RunStatus?
        /// `plan/sync` of the latest successful applies to this target, oldest first.
        var applied: [String] = []
        /// Per sync, what its latest successful apply merged and the target as that apply left it (nil in leases
        /// written before it existed).
        var states: [AppliedState]? = nil

        enum CodingKeys: String, CodingKey {
            case bqsyncLease = "bqsync_lease"
            case target, state, holder
            case planId = "plan_id"
            case sync, host, pid
            case acquiredAtMs = "acquired_at_ms"
            case expiresAtMs = "expires_at_ms"
            case lastStatus = "last_status"
            case applied, states
        }

        /// What `sync`'s last successful apply recorded.
        func last(sync: String) -> AppliedState? { states?.last(where: { $0.sync == sync }) }

        /// Whether `sync` of `planId` was applied to this target and released since.
        func hasApplied(planId: String, sync: String) -> Bool { applied.contains("\(planId)/\(sync)") }
    }

    /// What one sync's latest successful apply merged (SyncPlan.contentDigest) and the target as it left it.
    struct AppliedState: Codable, Sendable, Hashable {
        var sync: String
        var content: String
        var planId: String
        /// The target's rows and last modification (ms) read right after the apply (nil when it could not be read:
        /// the next plan then merges again).
        var rows: Int64?
        var modifiedMs: Int64?
        var appliedAtMs: Int64
        /// What the apply's definition was, for the next plan's "since the last apply" (nil in leases written
        /// before it was kept): the carried columns as `name TYPE`, the keys, strategy and policy, and what it
        /// billed.
        var shape: SyncPlan.Shape?
        var billedBytes: Int64?
        var costUSD: Double?
        /// An incremental sync's watermark: the largest cursor value merged by the applies up to this one.
        var watermark: String?

        enum CodingKeys: String, CodingKey {
            case sync, content, watermark
            case planId = "plan_id"
            case rows
            case modifiedMs = "modified_ms"
            case appliedAtMs = "applied_at_ms"
            case shape
            case billedBytes = "billed_bytes"
            case costUSD = "cost_usd"
        }
    }

    /// The lease as this apply holds it: the etag of its last write, and the record it replaced.
    struct Held: Sendable {
        var etag: String?
        var record: Record
        /// The record before this apply took it (nil when the lease table did not exist).
        var previous: Record?
    }

    /// How many successful applies a lease remembers.
    static let rememberedApplies = 32
    /// How long a released lease stays before BigQuery deletes it, unused (30 days, in ms).
    static let releasedLife: Int64 = 30 * 86_400_000

    let client: BigQueryClient
    let target: TableReference
    /// The lease table.
    let table: TableReference
    /// Its dataset's location when bqsync creates it (the target's; metadata calls do not care).
    let location: String?
    let seconds: Int64
    let clock: any WallClock
    let host: String
    let pid: Int64

    init(
        client: BigQueryClient, target: TableReference, stateDataset: String, location: String?, seconds: Int64,
        clock: any WallClock = SystemWallClock(), host: String = ProcessInfo.processInfo.hostName,
        pid: Int64 = Int64(getpid())
    ) throws(SyncError) {
        self.client = client
        self.target = target
        table = try Self.table(for: target, stateDataset: stateDataset)
        self.location = location
        self.seconds = seconds
        self.clock = clock
        self.host = host
        self.pid = pid
    }

    /// `project.<state>.lease_<dataset>_<table>_<hash>`: readable, and unique per target by the hash of its full
    /// name (the readable part is cut and loses characters a table id cannot hold).
    static func table(for target: TableReference, stateDataset: String) throws(SyncError) -> TableReference {
        let readable = String(
            "\(target.datasetId)_\(target.tableId)".unicodeScalars.map { scalar -> Character in
                scalar.isASCII && (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar))
                    ? Character(scalar) : "_"
            }.prefix(96))
        let hash = BatchEncoder.digest(Array(target.description.utf8)).prefix(16)
        return try SyncError.liftingSync { () throws(BigQueryError) in
            try TableReference(
                projectId: target.projectId, datasetId: stateDataset, tableId: "lease_\(readable)_\(hash)")
        }
    }

    var nowMs: Int64 { Int64(clock.unixTime() * 1000) }

    // MARK: - reading

    /// The lease table and its record, nil when there is none. A table there that bqsync did not create as a
    /// lease is refused, and nothing is written to it.
    func read() async throws(SyncError) -> (TableResource, Record)? {
        guard
            let resource = try await SyncError.lifting({ () async throws(BigQueryError) in
                try await client.getTable(table)
            })
        else { return nil }
        guard resource.labels?["managed-by"] == "bqsync", resource.labels?["bqsync-kind"] == "lease",
            let text = resource.description, let record = try? JSONDecoder().decode(Record.self, from: Data(text.utf8)),
            record.target == target.description
        else {
            throw SyncError.refused(
                "refused: \(table) already exists and is not bqsync's lease for \(target) (no bqsync lease labels and "
                    + "description); bqsync touched nothing. Remove or rename that table, then apply again")
        }
        return (resource, record)
    }

    /// Whether a holder is gone: its lease lapsed, or it is a process of this host that no longer exists.
    func isAbandoned(_ record: Record) -> Bool {
        if record.state == .released || record.expiresAtMs <= nowMs { return true }
        guard record.host == host, record.pid > 0, record.pid <= Int64(Int32.max) else { return false }
        return kill(pid_t(record.pid), 0) != 0 && errno == ESRCH
    }

    /// The refusal for a lease another live apply holds.
    func heldRefusal(_ record: Record) -> SyncError {
        let until = Temporal.timestampText(micros: record.expiresAtMs * 1000)
        return .refused(
            "refused: \(target) is being applied by another bqsync (plan \(record.planId), sync \(record.sync), host \(record.host), "
                + "pid \(record.pid), lease until \(until)); try again when it finishes")
    }

    // MARK: - taking, renewing, releasing

    /// A record of this apply holding the lease from now, carrying over what the lease remembers.
    func holding(_ holder: String, planId: String, sync: String, previous: Record?) -> Record {
        let now = nowMs
        return Record(
            target: target.description, state: .held, holder: holder, planId: planId, sync: sync, host: host, pid: pid,
            acquiredAtMs: now, expiresAtMs: now + seconds * 1000, lastStatus: previous?.lastStatus,
            applied: previous?.applied ?? [], states: previous?.states)
    }

    /// What taking the lease came to.
    enum Acquisition {
        /// This apply holds it.
        case held(Held)
        /// The lease was released after this very plan and sync were applied: nothing to do, nothing taken.
        case alreadyApplied
    }

    /// Takes the lease for `holder`: creates it, or takes over one that was released, lapsed, or left by a dead
    /// process of this host. Throws a refusal naming the holder when another live apply has it.
    /// With `force`, a plan applied already is taken again.
    func acquire(_ holder: String, planId: String, sync: String, force: Bool = false) async throws(SyncError)
        -> Acquisition
    {
        for _ in 0..<4 {
            guard let (resource, record) = try await read() else {
                let mine = holding(holder, planId: planId, sync: sync, previous: nil)
                if let created = try await create(mine) {
                    return .held(Held(etag: created.etag, record: mine, previous: nil))
                }
                continue  // someone created it first (or our own retried insert did): read it
            }
            if record.holder == holder && record.state == .held {
                // Our own write, whose answer was lost and retried.
                return .held(Held(etag: resource.etag, record: record, previous: nil))
            }
            if !force, record.state == .released, record.hasApplied(planId: planId, sync: sync) {
                return .alreadyApplied
            }
            guard isAbandoned(record) else { throw heldRefusal(record) }
            let mine = holding(holder, planId: planId, sync: sync, previous: record)
            if case .written(let etag) = try await write(mine, expiresAtMs: mine.expiresAtMs, ifMatch: resource.etag) {
                return .held(Held(etag: etag, record: mine, previous: record))
            }
        }
        throw SyncError.lease(
            "could not take the lease on \(target): \(table) kept changing while bqsync tried; apply again")
    }

    /// Renews the lease for its whole life from now; throws when another apply took it over meanwhile.
    func renew(_ held: Held) async throws(SyncError) -> Held {
        var renewed = held
        renewed.record.expiresAtMs = nowMs + seconds * 1000
        if case .written(let etag) = try await write(
            renewed.record, expiresAtMs: renewed.record.expiresAtMs, ifMatch: held.etag)
        {
            renewed.etag = etag
            return renewed
        }
        // 412 or gone: unless the lease still names us (our renewal went through and its answer was lost), it is lost.
        if let (resource, record) = try await read(), record.holder == held.record.holder, record.state == .held {
            renewed.etag = resource.etag
            renewed.record = record
            return renewed
        }
        throw SyncError.lease(
            "stopped: the lease on \(target) lapsed and another apply holds it now; nothing more was sent. "
                + "Apply the plan again when that one is done")
    }

    /// Releases the lease, remembering how the apply ended. A lease that is gone (lapsed and deleted) or was
    /// taken over meanwhile is left alone; the latter is reported, since another apply may have run alongside.
    func release(_ held: Held, status: RunStatus, after: AppliedState? = nil) async throws(SyncError) {
        var record = held.record
        record.state = .released
        record.lastStatus = status
        if status == .succeeded {
            record.applied = Array(
                (record.applied.filter { $0 != "\(record.planId)/\(record.sync)" } + ["\(record.planId)/\(record.sync)"])
                    .suffix(Self.rememberedApplies))
        }
        if let after {
            record.states = Array(
                ((record.states ?? []).filter { $0.sync != after.sync } + [after]).suffix(Self.rememberedApplies))
        }
        if case .written = try await write(record, expiresAtMs: nowMs + Self.releasedLife, ifMatch: held.etag) {
            return
        }
        guard let (_, current) = try await read() else { return }
        if current.holder == held.record.holder { return }  // released already (a retried write)
        throw SyncError.lease(
            "the lease on \(target) was taken over by another apply (plan \(current.planId), host \(current.host), "
                + "pid \(current.pid)) before this one released it")
    }

    // MARK: - the two metadata writes

    /// The lease table's labels: what marks it as bqsync's lease.
    static let labels = ["managed-by": "bqsync", "bqsync-kind": "lease"]

    /// The record as the lease table's description. BigQuery keeps a description of at most 16,384 characters
    /// (Table resource, `description`), and the emulator keeps any: the oldest per-sync states, then the oldest
    /// applied plans, are left out until it fits (they only inform the next plan and "already applied").
    func description(_ record: Record) throws(SyncError) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var record = record
        while true {
            guard let data = try? encoder.encode(record) else {
                throw SyncError.internal("cannot encode the lease of \(target)")
            }
            let text = String(decoding: data, as: UTF8.self)
            if text.count <= Self.maxDescription { return text }
            if let states = record.states, !states.isEmpty {
                record.states = Array(states.dropFirst())
            } else if !record.applied.isEmpty {
                record.applied.removeFirst()
            } else {
                throw SyncError.internal("the lease of \(target) does not fit a table description")
            }
        }
    }

    /// BigQuery's limit on a table description, in characters.
    static let maxDescription = 16_384

    /// `tables.insert` of the lease; nil when it exists already (409). Creates the state dataset when missing.
    func create(_ record: Record) async throws(SyncError) -> TableResource? {
        var resource = TableResource(
            reference: table, schema: [], description: try description(record), labels: Self.labels,
            expirationTime: record.expiresAtMs)
        resource.schema = nil
        // The first lease of a project creates the state dataset (a free metadata call; 409 when it exists). BigQuery
        // answers a table created in a missing dataset with 404, handled below; the emulator fails it with a 500,
        // which retries would not cure, so the dataset is made sure of first.
        try await StateDataset(client: client, project: table.projectId, name: table.datasetId).ensure(
            location: location)
        for attempt in 1...2 {
            do {
                let (created, isNew) = try await client.createTable(resource)
                return isNew ? created : nil
            } catch .api(404, _, _) where attempt == 1 {
                try await StateDataset(client: client, project: table.projectId, name: table.datasetId).ensure(
                    location: location)
            } catch {
                throw SyncError.bigQuery(error)
            }
        }
        return nil
    }

    /// How a guarded write of the lease went.
    enum Write {
        /// It was written; the table's new etag.
        case written(etag: String?)
        /// The lease changed since its etag was read (412), or is gone (404): nothing was written.
        case conflict
    }

    /// `tables.patch` of the lease guarded by `etag`.
    func write(_ record: Record, expiresAtMs: Int64, ifMatch etag: String?) async throws(SyncError) -> Write {
        let patch = TablePatch(
            description: try description(record), labels: Self.labels, expirationTime: .some(expiresAtMs))
        do {
            return .written(etag: try await client.patchTable(table, patch, ifMatch: etag).etag)
        } catch .api(412, _, _), .api(404, _, _) {
            return .conflict
        } catch {
            throw SyncError.bigQuery(error)
        }
    }
}

/// The state dataset of a project (`bqsync`): lease tables and the run records.
struct StateDataset: Sendable {
    let client: BigQueryClient
    let project: String
    let name: String

    /// Creates the dataset when it does not exist (a free metadata call).
    func ensure(location: String?) async throws(SyncError) {
        _ = try await SyncError.lifting { () async throws(BigQueryError) in
            try await client.createDataset(
                DatasetResource(
                    projectId: project, datasetId: name, location: location,
                    description: "bqsync state: leases and run records", labels: ["managed-by": "bqsync"]))
        }
    }
}
