import Foundation

/// The inline batches' parameters and the staging files of one process's plan, kept on disk by their SHA-256 (the
/// plan's `payload_digest`) so that the apply sends exactly those bytes without reading the sources again: one pass
/// over each source for `apply SYNC…` (the planner fills it) and for `apply PLANFILE` (the freshness check fills it
/// while it proves the sources unchanged). A payload is read back only if its bytes still hash to its name.
///
/// The directory is private to the process (0700, under the temporary directory) and removed with the spool.
public final class PayloadSpool: @unchecked Sendable {
    let directory: String
    private let lock = NSLock()
    private var stored: Set<String> = []

    /// A new, empty spool.
    public init() throws(SyncError) {
        var template = Array((NSTemporaryDirectory() + "bqsync-spool-XXXXXX").utf8CString)
        let made = template.withUnsafeMutableBufferPointer { $0.baseAddress.map { mkdtemp($0) != nil } ?? false }
        guard made else {
            throw SyncError.io(
                path: NSTemporaryDirectory(), message: "cannot create a spool directory: \(FileIO.systemError())")
        }
        directory = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    deinit {
        for digest in stored { unlink(path(digest)) }
        rmdir(directory)
    }

    func path(_ digest: String) -> String { directory + "/" + digest }

    /// Keeps `bytes` under `digest` (their SHA-256, as the plan records it).
    func put(_ bytes: [UInt8], digest: String) throws(SyncError) {
        guard digest.allSatisfy({ $0.isHexDigit }), !contains(digest) else { return }
        try FileIO.writeNew(path(digest), bytes)
        lock.withLock { _ = stored.insert(digest) }
    }

    func contains(_ digest: String) -> Bool { lock.withLock { stored.contains(digest) } }

    /// Whether every one of `digests` is kept.
    func containsAll(_ digests: [String?]) -> Bool {
        lock.withLock { digests.allSatisfy { $0.map { stored.contains($0) } ?? false } }
    }

    /// The bytes kept under `digest`, checked against it; nil when they are not kept or no longer match.
    func get(_ digest: String, limit: Int) -> [UInt8]? {
        guard contains(digest), let bytes = try? FileIO.read(path(digest), limit: limit),
            BatchEncoder.digest(bytes) == digest
        else { return nil }
        return bytes
    }

    /// The file kept under `digest`, once its bytes are hashed again and match (for a load job to upload from);
    /// nil otherwise.
    func verifiedPath(_ digest: String) -> String? {
        guard contains(digest),
            let file = try? BigQuerySyncService.fingerprint(path(digest), display: digest), file.sha256 == digest
        else { return nil }
        return path(digest)
    }
}
