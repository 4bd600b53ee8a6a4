import BigQuery
import Foundation

/// What `bqsync init` writes: a sync definition from a sample of a data file (its columns' types inferred) or
/// from a table's schema (its merge keys from the table's declared primary key). What cannot be known is written
/// as a marked TODO that `bqsync validate` reports at its line.
public enum Scaffold {
    /// How many records of a file are read to infer its columns.
    public static let defaultSampleRows = 1000

    /// What a sample of a file says about its columns.
    public struct Inferred: Sendable, Hashable {
        /// The columns, in the order they first appear.
        public var columns: [FieldSpec]
        /// How many records were read.
        public var rows: Int
    }

    /// The kind of local source a file is, by its extension: `.ndjson`, `.jsonl`, `.json` or `.csv`.
    public static func sourceKind(of path: String) -> SourceSpec.Kind? {
        switch (path as NSString).pathExtension.lowercased() {
        case "ndjson", "jsonl", "json": return .ndjson
        case "csv": return .csv
        default: return nil
        }
    }

    /// Infers the columns of the first `sampleRows` records of a local file (NDJSON objects, or CSV with a header
    /// row): each column gets the narrowest of INT64, FLOAT64, BOOL, DATE, TIMESTAMP, STRING and JSON (objects and
    /// arrays) that bqsync's own conversion accepts for every value sampled, and is REQUIRED only when no sampled
    /// record leaves it null or out.
    public static func infer(file path: String, kind: SourceSpec.Kind, sampleRows: Int = defaultSampleRows)
        throws(SyncError) -> Inferred
    {
        var inference = Inference()
        let reader = RecordReader(path: path, displayPath: path, quoted: kind == .csv)
        var header: [String]?
        do {
            try reader.forEach(chunk: { _ in }) { (record, line) throws(SyncError) in
                if inference.rows >= sampleRows { throw SyncError.interrupted(Self.enough) }
                do throws(RecordProblem) {
                    if kind == .ndjson {
                        var values: [(String, RawValue)] = []
                        var parser = JSONLineParser(record)
                        try parser.members { name, value, _, _ throws(RecordProblem) in values.append((name, value)) }
                        inference.add(values, textual: false)
                    } else if let names = header {
                        var values: [(String, RawValue)] = []
                        var index = 0
                        try CSVRecordParser.fields(record, delimiter: [UInt8(ascii: ",")]) {
                            text, quoted, _ throws(RecordProblem) in
                            let name = index < names.count ? names[index] : "column_\(index + 1)"
                            values.append((name, !quoted && text.isEmpty ? .null : .string(text)))
                            index += 1
                        }
                        inference.add(values, textual: true)
                    } else {
                        var names: [String] = []
                        try CSVRecordParser.fields(record, delimiter: [UInt8(ascii: ",")]) {
                            text, _, _ throws(RecordProblem) in names.append(text)
                        }
                        header = names
                        inference.declare(names)
                    }
                } catch {
                    throw SyncError.row(
                        SourceLocation(file: path, line: line, column: 1), "cannot read this record: \(error.message)")
                }
            }
        } catch {
            guard case .interrupted(Self.enough) = error else { throw error }
        }
        for name in inference.order {
            if let problem = Naming.columnProblem(name) {
                throw SyncError.usage(
                    "\(path): field \(quote(name)) cannot be a BigQuery column name (\(problem)); rename it in the file"
                )
            }
        }
        guard !inference.order.isEmpty else { throw SyncError.usage("\(path): no columns found in its first records") }
        return Inferred(columns: inference.columns(), rows: inference.rows)
    }

    private static let enough = "sample read"

    /// A table's columns as a definition declares them, the columns bqsync cannot declare (RECORD, REPEATED,
    /// GEOGRAPHY, …) by name, and its declared primary key.
    public static func columns(of table: TableResource) -> (columns: [FieldSpec], skipped: [String], keys: [String]?) {
        var columns: [FieldSpec] = []
        var skipped: [String] = []
        for field in table.fields {
            guard let type = field.fieldType, field.mode?.uppercased() != "REPEATED" else {
                skipped.append(field.name)
                continue
            }
            columns.append(
                FieldSpec(
                    name: field.name, type: type, mode: field.isRequired ? .required : .nullable,
                    description: field.description))
        }
        let keys = table.tableConstraints?.primaryKey?.columns
        return (columns, skipped, keys.flatMap { $0.isEmpty ? nil : $0 })
    }

    /// What a definition is written from.
    public struct Draft: Sendable, Hashable {
        /// The sync's name.
        public var name: String
        /// The source: its kind and its path relative to `syncs.d/` (ndjson, csv).
        public var sourceKind: SourceSpec.Kind
        public var sourcePath: String
        /// The target `[project.]dataset.table`; nil writes a TODO.
        public var table: String?
        /// Whether bqsync creates the table (a file's columns) or it exists (a table's).
        public var createIfMissing: Bool
        public var columns: [FieldSpec]
        /// The merge keys; nil writes a TODO.
        public var keys: [String]?
        /// Comment lines at the top (what it was written from).
        public var header: [String]
        /// Columns left out, for a comment.
        public var skipped: [String] = []

        public init(
            name: String, sourceKind: SourceSpec.Kind, sourcePath: String, table: String?, createIfMissing: Bool,
            columns: [FieldSpec], keys: [String]?, header: [String], skipped: [String] = []
        ) {
            self.name = name
            self.sourceKind = sourceKind
            self.sourcePath = sourcePath
            self.table = table
            self.createIfMissing = createIfMissing
            self.columns = columns
            self.keys = keys
            self.header = header
            self.skipped = skipped
        }
    }

    /// The YAML text of a definition.
    public static func yaml(_ draft: Draft) -> String {
        var lines = draft.header.map { "# " + $0 }
        lines += ["version: 1", "name: \(draft.name)", "source:", "  type: \(draft.sourceKind.rawValue)"]
        lines.append("  path: " + JSONValue.quoted(draft.sourcePath))
        lines.append("target:")
        if let table = draft.table {
            lines.append("  table: \(table)")
        } else {
            lines.append("  # TODO: the table to write, [project.]dataset.table ('bqsync validate' reports this line).")
            lines.append("  table: \(SyncDecoder.todoTable)")
        }
        if draft.createIfMissing { lines.append("  create_if_missing: true") }
        if !draft.skipped.isEmpty {
            lines.append(
                "  # Not declared (bqsync cannot write these types or modes): \(draft.skipped.joined(separator: ", "))."
            )
        }
        lines.append("  schema:")
        for column in draft.columns {
            var item = "    - {name: \(column.name), type: \(column.type.rawValue)"
            if column.mode == .required { item += ", mode: REQUIRED" }
            if let description = column.description, !description.isEmpty {
                item += ", description: " + JSONValue.quoted(description)
            }
            lines.append(item + "}")
        }
        lines.append("merge:")
        if let keys = draft.keys {
            lines.append("  keys: [\(keys.joined(separator: ", "))]")
        } else {
            lines.append(
                "  # TODO: the columns that identify a row, e.g. [id] ('bqsync validate' reports this line until then)."
            )
            lines.append("  keys: [\(SyncDecoder.todoMergeKey)]")
        }
        lines += [
            "batch:", "  size: \(BatchSpec.defaults.size)", "  strategy: \(BatchSpec.defaults.strategy.rawValue)",
        ]
        return lines.joined(separator: "\n") + "\n"
    }

    /// `target` relative to the directory `base` (both made absolute first): `data/x.csv`, `../x.csv`.
    public static func relativePath(_ target: String, from base: String) -> String {
        let targetParts = FileIO.canonical(target).split(separator: "/")
        let baseParts = FileIO.canonical(base).split(separator: "/")
        var common = 0
        while common < min(targetParts.count, baseParts.count), targetParts[common] == baseParts[common] {
            common += 1
        }
        let up = Array(repeating: "..", count: baseParts.count - common)
        return (up + targetParts[common...].map(String.init)).joined(separator: "/")
    }

    /// Creates `path` with `text`, never replacing a file: false when it exists already.
    public static func create(_ path: String, _ text: String) throws(SyncError) -> Bool {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            if errno == EEXIST { return false }
            throw SyncError.io(path: path, message: FileIO.systemError())
        }
        defer { close(fd) }
        let bytes = Array(text.utf8)
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard written == bytes.count else {
            unlink(path)
            throw SyncError.io(path: path, message: FileIO.systemError())
        }
        return true
    }

    /// The problem with a sync name, nil when it is fine.
    public static func nameProblem(_ name: String) -> String? { SyncDecoder.nameProblem(name) }
}

/// The columns seen so far: for each, the types every value sampled fits, and how many records gave it a value.
private struct Inference {
    /// The types inferred, narrowest first.
    static let preference: [FieldType] = [.int64, .float64, .bool, .date, .timestamp, .string, .json]
    /// A JSON string's text is not read as a number or a boolean: `"123"` stays STRING.
    static let fromJSONString: Set<FieldType> = [.date, .timestamp, .string, .json]

    var order: [String] = []
    var fits: [String: Set<FieldType>] = [:]
    var values: [String: Int] = [:]
    var rows = 0

    mutating func declare(_ names: [String]) {
        for name in names where fits[name] == nil {
            order.append(name)
            fits[name] = Set(Self.preference)
            values[name] = 0
        }
    }

    mutating func add(_ record: [(String, RawValue)], textual: Bool) {
        rows += 1
        declare(record.map(\.0))
        for (name, value) in record {
            if case .null = value { continue }
            var types = Set(
                Self.preference.filter { type in (try? ValueConversion.canonical(value, as: type)) != nil })
            if !textual, case .string = value { types.formIntersection(Self.fromJSONString) }
            fits[name, default: []].formIntersection(types)
            values[name, default: 0] += 1
        }
    }

    func columns() -> [FieldSpec] {
        order.map { name in
            let seen = values[name] ?? 0
            let type = seen == 0 ? .string : Self.preference.first { fits[name]?.contains($0) == true } ?? .string
            return FieldSpec(name: name, type: type, mode: seen == rows && rows > 0 ? .required : .nullable)
        }
    }
}
