import BigQuery
import Foundation

/// Keeps, for each merge key, the row that wins: the greatest `order_by`, ties to the last read. Memory stays
/// bounded: above a threshold rows are spread by a stable hash of their key over temporary partition files,
/// and each partition is deduplicated on its own. Winners come out in a deterministic order (partition by
/// partition, by read order within one), so the same source always yields the same batches.
package final class Deduplicator {
    private let layout: RowLayout
    private let partitions: Int
    private var memory: [[UInt8]: PackedRow] = [:]
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
            keep(row, in: &memory)
            return
        }
        let key = row.key(layout.keys)
        let partition = Int(Self.fnv1a(key) % UInt64(partitions))
        // Appended in place: copying the buffer out and back would copy it on every row.
        withUnsafeBytes(of: row.sequence.littleEndian) { buffers[partition].append(contentsOf: $0) }
        withUnsafeBytes(of: UInt32(row.bytes.count).littleEndian) { buffers[partition].append(contentsOf: $0) }
        buffers[partition].append(contentsOf: row.bytes)
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
            let winners = memory.values.sorted { $0.sequence < $1.sequence }
            memory = [:]
            return winners
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
        let handle = spills[partition]
        let data: Data
        do {
            try handle.seek(toOffset: 0)
            data = try handle.readToEnd() ?? Data()
        } catch {
            throw SyncError.io(path: spillPaths[partition], message: "cannot read a temporary file")
        }
        var table: [[UInt8]: PackedRow] = [:]
        data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            var offset = 0
            while offset + 12 <= raw.count {
                let sequence = raw.loadUnaligned(fromByteOffset: offset, as: Int64.self).littleEndian
                let count = Int(raw.loadUnaligned(fromByteOffset: offset + 8, as: UInt32.self).littleEndian)
                let bytes = [UInt8](raw[(offset + 12)..<(offset + 12 + count)])
                keep(PackedRow(sequence: sequence, bytes: bytes), in: &table)
                offset += 12 + count
            }
        }
        return table.values.sorted { $0.sequence < $1.sequence }
    }

    private func keep(_ row: PackedRow, in table: inout [[UInt8]: PackedRow]) {
        let key = row.key(layout.keys)
        if let current = table[key], let order = layout.orderBy {
            let type = layout.columns[order].type
            // The greatest order_by wins; equal values go to the row read last.
            if OrderComparison.less(row.value(order), current.value(order), type: type) { return }
            if current.sequence > row.sequence { return }
        }
        table[key] = row
    }

    private func write(_ bytes: [UInt8], to partition: Int) throws(SyncError) {
        guard !bytes.isEmpty else { return }
        do {
            try spills[partition].write(contentsOf: bytes)
        } catch {
            throw SyncError.io(path: spillPaths[partition], message: "cannot write a temporary file (disk full?)")
        }
    }

    /// FNV-1a: stable across processes (Swift's Hasher is seeded per process).
    static func fnv1a(_ bytes: [UInt8]) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
        return hash
    }
}
