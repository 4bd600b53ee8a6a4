import BigQuery
import Foundation

/// Keeps, for each merge key, the row that wins: the greatest `order_by`, ties to the last read. Memory stays
/// bounded: above a threshold rows are spread by a stable hash of their key over temporary partition files,
/// and each partition is deduplicated on its own. Winners come out in a deterministic order (partition by
/// partition, by read order within one), so the same source always yields the same batches.
package final class Deduplicator {
    private let layout: RowLayout
    private let partitions: Int
    private var memory: WinnerTable
    private var spills: [FileHandle] = []
    private var spillPaths: [String] = []
    private var buffers: [[UInt8]] = []
    /// Rows added.
    private(set) var rowsRead: Int64 = 0

    /// Bytes of source per partition: a partition's winners are what one pass holds in memory.
    static let partitionSourceBytes: Int64 = 8 << 20

    /// The partition count for a source of `bytes` bytes (1: no spilling).
    static func partitionCount(sourceBytes bytes: Int64) -> Int {
        Int(min(4096, max(1, (bytes + partitionSourceBytes - 1) / partitionSourceBytes)))
    }

    package init(layout: RowLayout, partitions: Int) throws(SyncError) {
        self.layout = layout
        self.partitions = max(1, partitions)
        memory = WinnerTable(layout: layout)
        if self.partitions > 1 {
            let directory = NSTemporaryDirectory() + "bqsync-dedup-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
            do {
                try FileManager.default.createDirectory(
                    atPath: directory, withIntermediateDirectories: true,
                    attributes: [.posixPermissions: 0o700])
            } catch {
                throw SyncError.io(path: directory, message: "cannot create a temporary directory")
            }
            for index in 0..<self.partitions {
                let path = directory + "/part-\(index)"
                guard
                    FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o600]),
                    let handle = FileHandle(forUpdatingAtPath: path)
                else {
                    throw SyncError.io(path: path, message: "cannot create a temporary file")
                }
                spills.append(handle)
                spillPaths.append(path)
                buffers.append([])
            }
        }
    }

    deinit {
        for handle in spills { try? handle.close() }
        for path in spillPaths { unlink(path) }
        if let first = spillPaths.first { rmdir(FileIO.directory(of: first)) }
    }

    /// Adds a row.
    package func add(_ row: PackedRow) throws(SyncError) {
        rowsRead += 1
        if partitions == 1 {
            memory.keep(row)
            return
        }
        let partition = row.withBytes { Int(WinnerTable.keyHash($0, keys: layout.keys) % UInt64(partitions)) }
        // Appended in place: copying the buffer out and back would copy it on every row.
        withUnsafeBytes(of: row.sequence.littleEndian) { buffers[partition].append(contentsOf: $0) }
        row.withBytes { bytes in
            withUnsafeBytes(of: UInt32(bytes.count).littleEndian) { buffers[partition].append(contentsOf: $0) }
            buffers[partition].append(contentsOf: bytes)
        }
        if buffers[partition].count >= 256 << 10 {
            try write(buffers[partition], to: partition)
            buffers[partition].removeAll(keepingCapacity: true)
        }
    }

    private var nextPartition = 0
    private var flushed = false

    /// The next group of winning rows in the deterministic order (one partition at a time), or nil when done.
    package func next() throws(SyncError) -> [PackedRow]? {
        if partitions == 1 {
            guard nextPartition == 0 else { return nil }
            nextPartition = 1
            defer { memory = WinnerTable(layout: layout) }
            return memory.winners()
        }
        if !flushed {
            for partition in 0..<partitions {
                try write(buffers[partition], to: partition)
                buffers[partition] = []
            }
            flushed = true
        }
        guard nextPartition < partitions else { return nil }
        let partition = nextPartition
        nextPartition += 1
        var table = WinnerTable(layout: layout, spilled: try readSpill(partition))
        table.keepSpilled()
        return table.winners()
    }

    /// A partition's temporary file, whole.
    private func readSpill(_ partition: Int) throws(SyncError) -> [UInt8] {
        let fd = spills[partition].fileDescriptor
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            throw SyncError.io(path: spillPaths[partition], message: "cannot read a temporary file")
        }
        let size = Int(info.st_size)
        var failed = false
        let bytes = [UInt8](unsafeUninitializedCapacity: size) { buffer, count in
            var done = 0
            while done < size {
                let got = pread(fd, buffer.baseAddress! + done, size - done, off_t(done))
                if got < 0 && errno == EINTR { continue }
                guard got > 0 else {
                    failed = true
                    break
                }
                done += got
            }
            count = done
        }
        if failed { throw SyncError.io(path: spillPaths[partition], message: "cannot read a temporary file") }
        return bytes
    }

    private func write(_ bytes: [UInt8], to partition: Int) throws(SyncError) {
        guard !bytes.isEmpty else { return }
        do {
            try spills[partition].write(contentsOf: bytes)
        } catch {
            throw SyncError.io(path: spillPaths[partition], message: "cannot write a temporary file (disk full?)")
        }
    }
}

/// The winning row of each key among the rows kept: the rows packed in one buffer, in the order they were kept,
/// and found by their key's hash in an open-addressed table. A row that loses its key is marked, not moved, so
/// the winners come out in read order without a sort, and they share the buffer instead of each being an
/// allocation of its own.
struct WinnerTable {
    private struct Entry {
        var range: Range<Int>
        var sequence: Int64
        var hash: UInt64
        var alive: Bool
    }

    private let keys: [Int]
    private let orderBy: Int?
    private let orderType: FieldType?
    /// The rows kept (as `add` hands them in), or a partition's temporary file (each row after its sequence
    /// number and length).
    private var arena: [UInt8] = []
    private var entries: [Entry] = []
    /// Entry indexes by hash, -1 for empty; a power of two, at most half full.
    private var slots: [Int32]
    private var live = 0

    init(layout: RowLayout) {
        keys = layout.keys
        orderBy = layout.orderBy
        orderType = layout.orderBy.map { layout.columns[$0].type }
        slots = Array(repeating: -1, count: 64)
    }

    /// A table over a partition's temporary file, to be kept by `keepSpilled`.
    init(layout: RowLayout, spilled: [UInt8]) {
        self.init(layout: layout)
        arena = spilled
        var size = 64
        while size < spilled.count / 24 { size <<= 1 }  // rows of 48 bytes and more: at most half full
        slots = Array(repeating: -1, count: size)
        entries.reserveCapacity(spilled.count / 48)
    }

    /// Keeps `row` unless a row kept already wins its key.
    mutating func keep(_ row: PackedRow) {
        let start = arena.count
        row.withBytes { arena.append(contentsOf: $0) }
        let hash = arena.withUnsafeBufferPointer {
            Self.keyHash(UnsafeBufferPointer(rebasing: $0[start...]), keys: keys)
        }
        if !keep(start..<arena.count, sequence: row.sequence, hash: hash) {
            arena.removeSubrange(start...)
        }
    }

    /// Keeps the rows of the temporary file the table was made over, in the order they were written.
    mutating func keepSpilled() {
        var offset = 0
        while offset + 12 <= arena.count {
            let (sequence, count) = arena.withUnsafeBytes { raw in
                (
                    raw.loadUnaligned(fromByteOffset: offset, as: Int64.self).littleEndian,
                    Int(raw.loadUnaligned(fromByteOffset: offset + 8, as: UInt32.self).littleEndian)
                )
            }
            let range = offset + 12..<offset + 12 + count
            let hash = arena.withUnsafeBufferPointer {
                Self.keyHash(UnsafeBufferPointer(rebasing: $0[range]), keys: keys)
            }
            keep(range, sequence: sequence, hash: hash)
            offset = range.upperBound
        }
    }

    /// FNV-1a over the merge-key columns as they are packed (tag, length, text), in column order (the bytes of
    /// `row.key(keys)`): stable across processes and versions, unlike Swift's per-process seeded Hasher, so a
    /// key's partition, and with it the order of the batches, is the same at plan and at apply.
    static func keyHash(_ row: UnsafeBufferPointer<UInt8>, keys: [Int]) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        forEachField(row) { column, field, _ in
            guard keys.contains(column) else { return }
            for byte in UnsafeBufferPointer(rebasing: row[field]) {
                hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3
            }
        }
        return hash
    }

    /// Calls `body` with each column, its whole packed field (tag, length and text) and its text (nil for NULL).
    private static func forEachField(
        _ row: UnsafeBufferPointer<UInt8>, _ body: (Int, Range<Int>, Range<Int>?) -> Void
    ) {
        var offset = 0
        var column = 0
        while offset < row.count {
            if row[offset] == 0 {
                body(column, offset..<offset + 1, nil)
                offset += 1
            } else {
                let count = Int(
                    UInt32(row[offset + 1]) | UInt32(row[offset + 2]) << 8 | UInt32(row[offset + 3]) << 16
                        | UInt32(row[offset + 4]) << 24)
                body(column, offset..<offset + 5 + count, offset + 5..<offset + 5 + count)
                offset += 5 + count
            }
            column += 1
        }
    }

    /// Keeps the row at `range` of the buffer unless a row kept with the same key wins over it (the greatest
    /// `order_by` wins, and equal values go to the row read last); whether it was kept.
    @discardableResult
    private mutating func keep(_ range: Range<Int>, sequence: Int64, hash: UInt64) -> Bool {
        let mask = slots.count - 1
        var slot = Self.slot(hash) & mask
        while slots[slot] >= 0 {
            let index = Int(slots[slot])
            let current = entries[index]
            if current.hash == hash, sameKey(range, current.range) {
                if let orderBy, let orderType {
                    if Self.less(text(range, orderBy), text(current.range, orderBy), type: orderType) { return false }
                    if current.sequence > sequence { return false }
                }
                entries[index].alive = false
                entries.append(Entry(range: range, sequence: sequence, hash: hash, alive: true))
                slots[slot] = Int32(entries.count - 1)
                return true
            }
            slot = (slot + 1) & mask
        }
        entries.append(Entry(range: range, sequence: sequence, hash: hash, alive: true))
        slots[slot] = Int32(entries.count - 1)
        live += 1
        if live * 2 > slots.count { grow() }
        return true
    }

    /// The winners, in the order they were kept.
    func winners() -> [PackedRow] {
        var rows: [PackedRow] = []
        rows.reserveCapacity(live)
        for entry in entries where entry.alive {
            rows.append(PackedRow(sequence: entry.sequence, storage: arena, range: entry.range))
        }
        return rows
    }

    /// A slot for a hash: its bits mixed (MurmurHash3's finalizer) so the low ones the mask keeps are spread.
    private static func slot(_ hash: UInt64) -> Int {
        var mixed = hash ^ (hash >> 33)
        mixed = mixed &* 0xff51_afd7_ed55_8ccd
        mixed ^= mixed >> 33
        return Int(truncatingIfNeeded: mixed)
    }

    private mutating func grow() {
        var grown = [Int32](repeating: -1, count: slots.count * 2)
        let mask = grown.count - 1
        for slot in slots where slot >= 0 {
            var position = Self.slot(entries[Int(slot)].hash) & mask
            while grown[position] >= 0 { position = (position + 1) & mask }
            grown[position] = slot
        }
        slots = grown
    }

    /// Whether the rows at two ranges of the buffer have the same packed key fields.
    private func sameKey(_ a: Range<Int>, _ b: Range<Int>) -> Bool {
        arena.withUnsafeBufferPointer { arena in
            let first = UnsafeBufferPointer(rebasing: arena[a])
            let second = UnsafeBufferPointer(rebasing: arena[b])
            for key in keys {
                guard let x = Self.field(first, key), let y = Self.field(second, key),
                    first[x].elementsEqual(second[y])
                else { return false }
            }
            return true
        }
    }

    /// The whole packed field of `column`.
    private static func field(_ row: UnsafeBufferPointer<UInt8>, _ column: Int) -> Range<Int>? {
        var found: Range<Int>?
        forEachField(row) { index, field, _ in if index == column { found = field } }
        return found
    }

    /// A column's text in the row at `range`, nil for NULL.
    private func text(_ range: Range<Int>, _ column: Int) -> [UInt8]? {
        arena.withUnsafeBufferPointer { arena in
            let row = UnsafeBufferPointer(rebasing: arena[range])
            var found: [UInt8]?
            Self.forEachField(row) { index, _, text in
                if index == column, let text { found = Array(UnsafeBufferPointer(rebasing: row[text])) }
            }
            return found
        }
    }

    /// `OrderComparison.less` over canonical bytes: on the bytes for the types whose canonical text sorts in
    /// value order, through strings for the numbers.
    static func less(_ a: [UInt8]?, _ b: [UInt8]?, type: FieldType) -> Bool {
        guard let a else { return b != nil }
        guard let b else { return false }
        switch type {
        case .int64, .float64, .numeric, .bignumeric:
            return OrderComparison.less(
                String(decoding: a, as: UTF8.self), String(decoding: b, as: UTF8.self), type: type)
        default:
            return a.lexicographicallyPrecedes(b)
        }
    }
}
