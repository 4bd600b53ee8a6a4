import BigQuery

/// The columns a sync's rows carry, in target order, and the roles the merge gives them.
package struct RowLayout: Sendable, Hashable {
    /// One column.
    package struct Column: Sendable, Hashable {
        /// The name as the target spells it.
        package var name: String
        /// The target type (BOOL for a `delete_when` column the target does not have).
        package var type: FieldType
        /// Whether a row without a value for it is an error.
        package var required: Bool
        /// Whether the target table has it (false only for a `delete_when` control column).
        package var inTarget: Bool

        /// Creates a column.
        package init(name: String, type: FieldType, required: Bool, inTarget: Bool) {
            self.name = name
            self.type = type
            self.required = required
            self.inTarget = inTarget
        }
    }

    /// The columns, in order.
    package var columns: [Column]
    /// Lowercased name → index (BigQuery column names are case-insensitive).
    var index: [String: Int]
    /// The merge keys' indexes.
    package var keys: [Int]
    /// The `order_by` column's index.
    var orderBy: Int?
    /// The `delete_when` column's index.
    var deleteWhen: Int?

    /// Builds the layout of a sync over the target's columns.
    init(columns targetColumns: [Column], merge: MergeSpec) throws(SyncError) {
        var columns = targetColumns
        var index: [String: Int] = [:]
        for (position, column) in columns.enumerated() { index[column.name.lowercased()] = position }
        if let flag = merge.deleteWhen, index[flag.lowercased()] == nil {
            index[flag.lowercased()] = columns.count
            columns.append(Column(name: flag, type: .bool, required: false, inTarget: false))
        }
        var keys: [Int] = []
        for key in merge.keys {
            guard let position = index[key.lowercased()] else {
                throw SyncError.definition("merge key '\(key)' is not a column of the target")
            }
            guard columns[position].type.isComparable else {
                throw SyncError.definition(
                    "merge key '\(key)' is \(columns[position].type.rawValue), which cannot be compared")
            }
            keys.append(position)
        }
        var orderBy: Int?
        if let name = merge.orderBy {
            guard let position = index[name.lowercased()] else {
                throw SyncError.definition("order_by column '\(name)' is not a column of the target")
            }
            guard columns[position].type.isOrderable else {
                throw SyncError.definition(
                    "order_by column '\(name)' is \(columns[position].type.rawValue), which cannot be ordered")
            }
            orderBy = position
        }
        var deleteWhen: Int?
        if let name = merge.deleteWhen {
            let position = index[name.lowercased()] ?? 0
            guard columns[position].type == .bool else {
                throw SyncError.definition(
                    "delete_when column '\(name)' must be BOOL, not \(columns[position].type.rawValue)")
            }
            deleteWhen = position
        }
        self.columns = columns
        self.index = index
        self.keys = keys
        self.orderBy = orderBy
        self.deleteWhen = deleteWhen
    }
}

/// A converted row, packed into one buffer: per column a tag byte (0 NULL, 1 value), then for a value its
/// length (4 bytes, little-endian) and its canonical UTF-8 text. The buffer may be shared: the winners of one
/// deduplicated partition are ranges of the one buffer it was read into.
package struct PackedRow: Sendable {
    /// The order it was read in, across all files of the source.
    package var sequence: Int64
    /// The buffer holding the packed columns, and where in it they are.
    private let storage: [UInt8]
    private let range: Range<Int>

    /// Packs canonical values.
    init(sequence: Int64, values: [String?]) {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(values.count * 12)
        for value in values {
            guard let value else {
                bytes.append(0)
                continue
            }
            bytes.append(1)
            let count = UInt32(value.utf8.count)
            withUnsafeBytes(of: count.littleEndian) { bytes.append(contentsOf: $0) }
            bytes.append(contentsOf: value.utf8)
        }
        self.init(sequence: sequence, bytes: bytes)
    }

    init(sequence: Int64, bytes: [UInt8]) {
        self.init(sequence: sequence, storage: bytes, range: 0..<bytes.count)
    }

    /// The row packed at `range` of a shared buffer.
    init(sequence: Int64, storage: [UInt8], range: Range<Int>) {
        self.sequence = sequence
        self.storage = storage
        self.range = range
    }

    /// Calls `body` with the packed bytes.
    func withBytes<R, E: Error>(_ body: (UnsafeBufferPointer<UInt8>) throws(E) -> R) throws(E) -> R {
        try storage.withUnsafeBufferPointer { (buffer) throws(E) in
            try body(UnsafeBufferPointer(rebasing: buffer[range]))
        }
    }

    /// Calls `body` with each column's bytes (nil for NULL), in order.
    func forEachField(_ body: (Int, UnsafeBufferPointer<UInt8>?) -> Void) {
        storage.withUnsafeBufferPointer { whole in
            let buffer = UnsafeBufferPointer(rebasing: whole[range])
            var offset = 0
            var column = 0
            while offset < buffer.count {
                if buffer[offset] == 0 {
                    body(column, nil)
                    offset += 1
                } else {
                    let count = Int(
                        UInt32(buffer[offset + 1]) | UInt32(buffer[offset + 2]) << 8 | UInt32(buffer[offset + 3]) << 16
                            | UInt32(buffer[offset + 4]) << 24)
                    body(column, UnsafeBufferPointer(rebasing: buffer[(offset + 5)..<(offset + 5 + count)]))
                    offset += 5 + count
                }
                column += 1
            }
        }
    }

    /// One column's text, or nil for NULL.
    package func value(_ index: Int) -> String? {
        var result: String?
        forEachField { column, bytes in
            if column == index, let bytes { result = String(decoding: bytes, as: UTF8.self) }
        }
        return result
    }

    /// The packed merge-key columns: two rows with equal keys have equal key bytes.
    package func key(_ indexes: [Int]) -> [UInt8] {
        var key: [UInt8] = []
        forEachField { column, bytes in
            guard indexes.contains(column) else { return }
            guard let bytes else {
                key.append(0)
                return
            }
            key.append(1)
            let count = UInt32(bytes.count)
            withUnsafeBytes(of: count.littleEndian) { key.append(contentsOf: $0) }
            key.append(contentsOf: bytes)
        }
        return key
    }
}

/// Orders `order_by` values the way BigQuery does, over their canonical text.
enum OrderComparison {
    /// Whether `a` sorts before `b` (NULL first).
    static func less(_ a: String?, _ b: String?, type: FieldType) -> Bool {
        guard let a else { return b != nil }
        guard let b else { return false }
        switch type {
        case .int64:
            return (Int64(a) ?? 0) < (Int64(b) ?? 0)
        case .float64:
            let x = Double(a) ?? .nan
            let y = Double(b) ?? .nan
            if x.isNaN { return !y.isNaN }
            if y.isNaN { return false }
            return x < y
        case .numeric, .bignumeric:
            return decimalLess(a, b)
        default:
            // Canonical DATE, DATETIME, TIME, TIMESTAMP and BOOL text sorts in value order; STRING and BYTES by bytes.
            return a.utf8.lexicographicallyPrecedes(b.utf8)
        }
    }

    private static func decimalLess(_ a: String, _ b: String) -> Bool {
        let negativeA = a.hasPrefix("-")
        let negativeB = b.hasPrefix("-")
        if negativeA != negativeB { return negativeA }
        let ordering = magnitudeOrder(negativeA ? String(a.dropFirst()) : a, negativeB ? String(b.dropFirst()) : b)
        return negativeA ? ordering > 0 : ordering < 0
    }

    /// -1, 0 or 1 as |a| is less than, equal to or greater than |b|.
    private static func magnitudeOrder(_ a: String, _ b: String) -> Int {
        let partsA = a.split(separator: ".", omittingEmptySubsequences: false)
        let partsB = b.split(separator: ".", omittingEmptySubsequences: false)
        let wholeA = partsA[0]
        let wholeB = partsB[0]
        let fractionA = partsA.count > 1 ? partsA[1] : ""
        let fractionB = partsB.count > 1 ? partsB[1] : ""
        let ordering: Int
        if wholeA.count != wholeB.count {
            ordering = wholeA.count < wholeB.count ? -1 : 1
        } else if wholeA != wholeB {
            ordering = wholeA < wholeB ? -1 : 1
        } else {
            let width = max(fractionA.count, fractionB.count)
            let paddedA = fractionA + String(repeating: "0", count: width - fractionA.count)
            let paddedB = fractionB + String(repeating: "0", count: width - fractionB.count)
            ordering = paddedA == paddedB ? 0 : (paddedA < paddedB ? -1 : 1)
        }
        return ordering
    }
}
