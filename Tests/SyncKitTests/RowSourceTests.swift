import BigQuery
import Foundation
import Testing

@testable import SyncKit

/// Row readers, conversion and dedup, without BigQuery.
@Suite struct RowSourceTests {
    static let columns: [RowLayout.Column] = [
        .init(name: "id", type: .int64, required: true, inTarget: true),
        .init(name: "name", type: .string, required: false, inTarget: true),
        .init(name: "at", type: .timestamp, required: false, inTarget: true),
        .init(name: "amount", type: .numeric, required: false, inTarget: true),
    ]

    func layout(orderBy: String? = "at") throws -> RowLayout {
        try RowLayout(
            columns: Self.columns, merge: MergeSpec(keys: ["id"], orderBy: orderBy, update: .all, deleteWhen: nil))
    }

    func write(_ text: String, ext: String) throws -> String {
        let path = NSTemporaryDirectory() + "bqsync-rows-\(UUID().uuidString).\(ext)"
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    func read(
        _ text: String, kind: SourceSpec.Kind, delimiter: Character = ",", ignoreUnknown: Bool = false,
        partitions: Int = 1
    ) throws -> [PackedRow] {
        let path = try write(text, ext: kind.rawValue)
        defer { unlink(path) }
        let spec = SourceSpec(kind: kind, path: path, delimiter: delimiter, ignoreUnknownFields: ignoreUnknown)
        let source = try LocalSource(spec: spec)
        let layout = try layout()
        let dedup = try Deduplicator(layout: layout, partitions: partitions)
        var decoder = RowDecoder(layout: layout, ignoreUnknown: ignoreUnknown)
        _ = try source.read(into: &decoder) { (row) throws(SyncError) in try dedup.add(row) }
        var rows: [PackedRow] = []
        while let group = try dedup.next() { rows += group }
        return rows
    }

    func values(_ rows: [PackedRow]) -> [[String?]] {
        rows.map { row in (0..<Self.columns.count).map { row.value($0) } }
    }

    func failure(_ text: String, kind: SourceSpec.Kind) -> String {
        do {
            _ = try read(text, kind: kind)
            return "no error"
        } catch {
            return "\(error)"
        }
    }

    @Test func ndjsonRowsAreConvertedAndDeduplicated() throws {
        let text = """
            {"id": 1, "name": "a", "at": "2024-01-01T00:00:00Z", "amount": 1.50}
            {"id": 2, "name": "b\\u00e9\\"`x`", "at": "2024-01-01 00:00:00+02:00"}
            {"id": 1, "name": "newer", "at": "2024-01-02T00:00:00Z", "amount": "2e3"}
            {"id": 1, "name": "older", "at": "2023-12-31T00:00:00Z"}

            {"id": 2, "name": "tie, last read wins", "at": "2023-12-31T22:00:00Z"}
            """
        let rows = values(try read(text, kind: .ndjson))
        #expect(
            rows == [
                ["1", "newer", "2024-01-02 00:00:00+00", "2000"],
                ["2", "tie, last read wins", "2023-12-31 22:00:00+00", nil],
            ])
    }

    @Test func spilledDedupMatchesInMemory() throws {
        var lines: [String] = []
        for i in 0..<2000 {
            lines.append(
                #"{"id": \#(i % 300), "name": "v\#(i)", "at": "2024-01-01T00:00:\#(String(format: "%02d", i % 60))Z"}"#)
        }
        let text = lines.joined(separator: "\n")
        let memory = values(try read(text, kind: .ndjson, partitions: 1))
        let spilled = values(try read(text, kind: .ndjson, partitions: 7))
        #expect(memory.count == 300)
        #expect(
            Set(memory.map { $0.map { $0 ?? "∅" }.joined(separator: "|") })
                == Set(spilled.map { $0.map { $0 ?? "∅" }.joined(separator: "|") }))
    }

    @Test func csvFollowsRFC4180() throws {
        let text = "id;name;at\r\n1;\"semi; \"\"quoted\"\"\nand a newline\";2024-01-01\r\n2;;\r\n3;\"\";\n"
        let rows = values(try read(text, kind: .csv, delimiter: ";"))
        #expect(
            rows == [
                ["1", "semi; \"quoted\"\nand a newline", "2024-01-01 00:00:00+00", nil],
                ["2", nil, nil, nil],
                ["3", "", nil, nil],
            ])
    }

    @Test(arguments: [
        (#"{"id": 1, "at": "yesterday"}"#, "1:17: column 'at': invalid TIMESTAMP 'yesterday'"),
        (#"{"id": 1, "nmae": "x"}"#, "1:11: unknown field 'nmae': not a column of the target (did you mean 'name'?)"),
        (#"{"name": "x"}"#, "1:1: merge key 'id' is NULL or missing"),
        (#"{"id": 1.5}"#, "1:8: column 'id': invalid INT64 '1.5'"),
        (#"{"id": 1, "amount": 12345678901234567890123456789012}"#, "has more than 29 integer digits"),
        ("{\"id\": 1}\n{\"id\": 2, \"name\": \"x\"", "2:22: invalid JSON: expected ',' or '}'"),
        (#"[1, 2]"#, "1:1: invalid JSON: expected a JSON object"),
    ])
    func ndjsonErrorsNameTheLineAndColumn(text: String, expected: String) {
        let message = failure(text, kind: .ndjson)
        #expect(message.contains(expected), "\(message)")
    }

    @Test(arguments: [
        ("id,name\n1,\"open", "2:3: quoted field is not closed"),
        ("id,name\n1,a,b", "2:5: this row has more fields than the header (2)"),
        ("id,name,bogus\n1,a,b", "1:9: unknown field 'bogus'"),
        ("id,at\n1,2024-02-30", "2:3: column 'at': invalid TIMESTAMP '2024-02-30'"),
        ("id,name\n1,a\"b", "2:4: quote inside an unquoted field"),
    ])
    func csvErrorsNameTheLineAndColumn(text: String, expected: String) {
        let message = failure(text, kind: .csv)
        #expect(message.contains(expected), "\(message)")
    }

    @Test func unknownFieldsCanBeIgnored() throws {
        let rows = values(try read(#"{"id": 1, "extra": {"deep": [1, 2]}}"#, kind: .ndjson, ignoreUnknown: true))
        #expect(rows == [["1", nil, nil, nil]])
    }

    @Test(arguments: [
        (FieldType.int64, "+42", "42"), (.int64, "9223372036854775807", "9223372036854775807"),
        (.float64, "1e3", "1000.0"), (.float64, "NaN", "NaN"), (.float64, "-inf", "-inf"),
        (.numeric, "-000.1200", "-0.12"), (.numeric, "1.5E-3", "0.0015"),
        (.bignumeric, "1e30", "1000000000000000000000000000000"),
        (.bool, "Yes", "true"), (.bool, "0", "false"),
        (.date, "2024-02-29", "2024-02-29"), (.datetime, "2024-01-01T10:11:12.5", "2024-01-01 10:11:12.500000"),
        (.time, "23:59:59.999999", "23:59:59.999999"),
        (.timestamp, "2024-01-01T00:00:00-05:30", "2024-01-01 05:30:00+00"),
        (.timestamp, "1970-01-01 00:00:00.000001Z", "1970-01-01 00:00:00.000001+00"),
        (.bytes, "aGk=", "aGk="), (.json, #"{"a":[1,true,null]}"#, #"{"a":[1,true,null]}"#),
    ])
    func valuesAreCanonical(type: FieldType, input: String, expected: String) throws {
        #expect(try ValueConversion.scalar(input, as: type) == expected)
    }

    @Test(arguments: [
        (FieldType.int64, "9223372036854775808"), (.float64, "1e999"), (.numeric, "1.0000000001"), (.bool, "maybe"),
        (.date, "2023-02-29"), (.date, "24-01-01"), (.time, "24:00:00"), (.timestamp, "2024-01-01T00:00:00+25:00"),
        (.bytes, "not base64!"), (.json, "{unquoted: 1}"), (.datetime, "2024-13-01 00:00:00"),
    ])
    func badValuesAreRefused(type: FieldType, input: String) {
        #expect(throws: ConversionProblem.self) { try ValueConversion.scalar(input, as: type) }
    }

    @Test func orderingFollowsTheType() {
        #expect(OrderComparison.less("9", "10", type: .int64))
        #expect(OrderComparison.less("-2.5", "-2.25", type: .numeric))
        #expect(OrderComparison.less("99.9", "100", type: .numeric))
        #expect(OrderComparison.less(nil, "0", type: .int64))
        #expect(OrderComparison.less("2024-01-01 00:00:00+00", "2024-01-01 00:00:00.000001+00", type: .timestamp))
        #expect(!OrderComparison.less("b", "a", type: .string))
    }

    @Test func mergeQuotesEveryIdentifier() throws {
        let columns: [RowLayout.Column] = [
            .init(name: "select", type: .int64, required: true, inTarget: true),
            .init(name: "from", type: .string, required: false, inTarget: true),
            .init(name: "gone", type: .bool, required: false, inTarget: true),
        ]
        let layout = try RowLayout(
            columns: columns, merge: MergeSpec(keys: ["select"], orderBy: nil, update: .all, deleteWhen: "gone"))
        let target = try TableReference(projectId: "my-project", datasetId: "d", tableId: "t")
        let sql = MergeBuilder(target: target, layout: layout, carried: [0, 1, 2], update: .all).merge(
            .parameter("rows"))
        #expect(sql.contains("ON _bqsync_target.`select` = S.`select`"))
        #expect(sql.contains("WHEN MATCHED AND COALESCE(S.`gone`, FALSE) THEN DELETE"))
        #expect(
            sql.contains("WHEN NOT MATCHED AND NOT COALESCE(S.`gone`, FALSE) THEN INSERT (`select`, `from`, `gone`)"))
        #expect(sql.contains("CAST(JSON_VALUE(_bqsync_row, '$[0]') AS INT64) AS `select`"))
        #expect(sql.contains("JSON_VALUE(_bqsync_row, '$[1]') AS `from`"))
        #expect(sql.contains("CAST(JSON_VALUE(_bqsync_row, '$[2]') AS BOOL) AS `gone`"))
        #expect(sql.contains("FROM UNNEST(JSON_QUERY_ARRAY(@rows)) AS _bqsync_row"))
    }

    /// Columns named like the usual aliases (`t` for `AS T`, `r` for `AS r`) stay columns, and the deduplicating
    /// forms put WHERE before QUALIFY, as ZetaSQL requires (scripts/sql-analyze.py).
    @Test func mergeAliasesAndQualifyAreAnalyzable() throws {
        let columns: [RowLayout.Column] = [
            .init(name: "id", type: .int64, required: true, inTarget: true),
            .init(name: "t", type: .time, required: false, inTarget: true),
            .init(name: "r", type: .int64, required: false, inTarget: true),
        ]
        let layout = try RowLayout(
            columns: columns, merge: MergeSpec(keys: ["id"], orderBy: "r", update: .all, deleteWhen: nil))
        let target = try TableReference(projectId: "my-project", datasetId: "d", tableId: "t")
        let staging = try TableReference(projectId: "my-project", datasetId: "bqsync", tableId: "stage_t")
        let sql = MergeBuilder(target: target, layout: layout, carried: [0, 1, 2], update: .all).merge(
            .stagedTyped(staging))
        // NULL keys dropped; ties under order_by broken by the other columns (`t`), greatest first.
        #expect(
            sql.contains(
                "FROM `my-project.bqsync.stage_t` AS _bqsync_row\nWHERE _bqsync_row.`id` IS NOT NULL\nQUALIFY ROW_NUMBER() OVER "
                    + "(PARTITION BY _bqsync_row.`id` ORDER BY _bqsync_row.`r` DESC, _bqsync_row.`t` DESC) = 1"),
            "\(sql)")
        #expect(sql.contains("THEN UPDATE SET `t` = S.`t`, `r` = S.`r`"))
        #expect(sql.hasPrefix("MERGE `my-project.d.t` AS _bqsync_target\n"))
    }

    /// The inline parameter is one JSON STRING; its text is a JSON array of rows, each an array of the carried
    /// columns in order, with NULL as null and every character a JSON string can hold, escaped twice over.
    @Test func inlineParameterIsPositionalJSONText() throws {
        let layout = try layout()
        let hostile = "q\"uote \\ back\nline\ttab \u{01}ctl é 😀 \u{2028}"
        let rows = [
            PackedRow(sequence: 0, values: ["1", hostile, nil, "1.5"]),
            PackedRow(sequence: 1, values: ["2", nil, "2024-01-01 00:00:00+00", nil]),
        ]
        // Column 2 (`at`) not carried: each row has three slots, for columns 0, 1 and 3.
        let encoded = BatchEncoder(layout: layout, carried: [0, 1, 3]).parameterValue(rows[...])
        let wrapper = try #require(try JSONSerialization.jsonObject(with: Data(encoded)) as? [String: String])
        let text = try #require(wrapper["value"])
        let decoded = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [[Any]])
        #expect(decoded.count == 2)
        #expect(decoded[0].count == 3 && decoded[1].count == 3)
        #expect(
            decoded[0][0] as? String == "1" && decoded[0][1] as? String == hostile && decoded[0][2] as? String == "1.5")
        #expect(decoded[1][0] as? String == "2" && decoded[1][1] is NSNull && decoded[1][2] is NSNull)
        #expect(BatchEncoder(layout: layout, carried: [0]).parameterValue([][...]) == Array(#"{"value":"[]"}"#.utf8))
    }

    /// A staging file measured and hashed as it is written (a plan) is the same file as one kept whole (an
    /// apply): same cuts, digests, sizes and rows.
    @Test func hashedStagingFilesMatchKeptOnes() throws {
        let layout = try layout()
        let encoder = BatchEncoder(layout: layout, carried: [0, 1, 2, 3])
        let rows = (0..<500).map {
            PackedRow(
                sequence: Int64($0),
                values: [String($0), "name \"\($0)\" é", $0 % 3 == 0 ? nil : "2024-01-01 00:00:00+00", "1.5"])
        }
        func files(keep: Bool) -> [StagedFile] {
            var writer = StagingWriter(limit: 4_000, keep: keep, piece: 300)
            var out: [StagedFile] = []
            for row in rows {
                writer.append(row, encoder: encoder)
                if writer.isFull { out.append(writer.finish()) }
            }
            if writer.rows > 0 { out.append(writer.finish()) }
            return out
        }
        let kept = files(keep: true)
        let hashed = files(keep: false)
        #expect(kept.count > 5)
        #expect(kept.map(\.digest) == hashed.map(\.digest))
        #expect(kept.map(\.bytes) == hashed.map(\.bytes))
        #expect(kept.map(\.rows) == hashed.map(\.rows))
        #expect(kept.reduce(0) { $0 + $1.rows } == rows.count)
        #expect(hashed.allSatisfy { $0.contents == nil })
        for file in kept {
            let contents = try #require(file.contents)
            #expect(contents.count == file.bytes && BatchEncoder.digest(contents) == file.digest)
        }
        var all = JSONWriter()
        for row in rows { encoder.ndjson(row, into: &all) }
        #expect(kept.flatMap { $0.contents ?? [] } == all.bytes)
    }
}
