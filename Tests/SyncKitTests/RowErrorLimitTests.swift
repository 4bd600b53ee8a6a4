import Foundation
import SyncTestSupport
import Testing

@testable import SyncKit

/// A source with several bad rows reports them together, each at its file:line:col, up to a limit (issue 18,
/// point 7); `validate` warns at `source.path` when a local source's pattern matches no file.
@Suite struct RowErrorLimitTests {
    static let layout = try! RowLayout(
        columns: [
            .init(name: "id", type: .int64, required: true, inTarget: true),
            .init(name: "n", type: .int64, required: false, inTarget: true),
        ], merge: MergeSpec(keys: ["id"], orderBy: nil, update: .all, deleteWhen: nil))

    /// Reads `text` as one source file; the rows handed on, or the error thrown.
    func read(_ text: String, kind: SourceSpec.Kind = .ndjson, maxErrors: Int? = nil) throws -> (
        rows: Int, error: SyncError?, path: String
    ) {
        let path = NSTemporaryDirectory() + "bqsync-row-errors-\(UUID().uuidString).\(kind.rawValue)"
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        defer { unlink(path) }
        let source = try LocalSource(spec: SourceSpec(kind: kind, path: path))
        var decoder = RowDecoder(layout: Self.layout, ignoreUnknown: false)
        var rows = 0
        do throws(SyncError) {
            if let maxErrors {
                _ = try source.read(into: &decoder, maxErrors: maxErrors) { _ in rows += 1 }
            } else {
                _ = try source.read(into: &decoder) { _ in rows += 1 }
            }
            return (rows, nil, path)
        } catch {
            return (rows, error, path)
        }
    }

    /// `good` good lines, the first `bad` of them each after a bad one (`"n": "x"`, column 7).
    func ndjson(bad: Int, good: Int) -> String {
        (1...max(bad, good)).flatMap { index in
            (index <= bad ? [#"{"n": "x", "id": \#(index)}"#] : []) + (index <= good ? [#"{"id": \#(index)}"#] : [])
        }.joined(separator: "\n") + "\n"
    }

    func diagnostics(_ error: SyncError?) throws -> [Diagnostic] {
        guard case .config(let diagnostics) = try #require(error) else {
            Issue.record("not a list of diagnostics: \(String(describing: error))")
            return []
        }
        return diagnostics
    }

    @Test func fiveBadLinesGiveFiveErrorsInOneReading() throws {
        let (rows, error, path) = try read(ndjson(bad: 5, good: 5))
        let all = try diagnostics(error)
        #expect(all.count == 6)
        let located = all.dropLast().map { "\($0.location.map { "\($0)" } ?? "nowhere"): \($0.message)" }
        #expect(located == [1, 3, 5, 7, 9].map { "\(path):\($0):7: column 'n': invalid INT64 'x'" })
        #expect(all.allSatisfy { $0.severity == .error })
        #expect(all.last?.location == nil)
        #expect(all.last?.message == "5 row errors in the source")
        #expect(rows == 0, "a row was handed on after an error")
    }

    @Test func twentyFiveBadLinesStopAfterTwenty() throws {
        let (_, error, path) = try read(ndjson(bad: 25, good: 25))
        let all = try diagnostics(error)
        #expect(all.count == 21)
        #expect(all.dropLast().map(\.location?.line) == (1...20).map { $0 * 2 - 1 })
        #expect(all.dropLast().allSatisfy { $0.location?.file == path && $0.location?.column == 7 })
        #expect(all.last?.message == "stopped after 20 row errors: the source has more (fix these and plan again)")
        #expect(
            error?.description.hasSuffix(
                "error: stopped after 20 row errors: the source has more (fix these and plan again)") == true)
    }

    @Test func exactlyTheLimitIsAllOfThem() throws {
        let all = try diagnostics(try read(ndjson(bad: 20, good: 0)).error)
        #expect(all.count == 21)
        #expect(all.last?.message == "20 row errors in the source")
    }

    @Test func theLimitIsAParameter() throws {
        let three = try diagnostics(try read(ndjson(bad: 5, good: 5), maxErrors: 3).error)
        #expect(three.dropLast().map(\.location?.line) == [1, 3, 5])
        #expect(three.last?.message == "stopped after 3 row errors: the source has more (fix these and plan again)")
        let one = try diagnostics(try read(ndjson(bad: 2, good: 0), maxErrors: 1).error)
        #expect(
            one.map(\.message) == [
                "column 'n': invalid INT64 'x'",
                "stopped after 1 row error: the source has more (fix these and plan again)",
            ])
    }

    /// One bad row reads exactly as before: a single row error, no list.
    @Test func oneBadLineIsOneRowError() throws {
        let (_, error, path) = try read(ndjson(bad: 1, good: 3))
        guard case .row(let location, let message) = try #require(error) else {
            Issue.record("not a row error: \(String(describing: error))")
            return
        }
        #expect("\(location): \(message)" == "\(path):1:7: column 'n': invalid INT64 'x'")
    }

    @Test func csvRowsAreCheckedOnAndFramingErrorsEndTheFile() throws {
        let (_, error, path) = try read("id,n\n1,x\n,2\n3,4\n4,\"open\n", kind: .csv)
        let all = try diagnostics(error)
        #expect(
            all.map { "\($0.location.map { "\($0)" } ?? "-"): \($0.message)" } == [
                "\(path):2:3: column 'n': invalid INT64 'x'", "\(path):3:1: merge key 'id' is NULL or missing",
                "\(path):5:3: quoted field is not closed before the end of the file",
                "-: 3 row errors in the source",
            ])
        // A bad header ends the file: the rows after it are not reported against no header.
        guard case .row(let location, let message) = try #require(try read("id,bogus\n1,2\nx,y\n", kind: .csv).error)
        else {
            Issue.record("a bad header gave more than its own error")
            return
        }
        #expect(location.line == 1 && message.hasPrefix("unknown field 'bogus'"))
    }

    /// `validate` (ConfigLoader.load with checksSourcePaths) warns at `source.path` when nothing matches; a match gives no warning.
    @Test func validateWarnsAtAnUnmatchedSourcePath() throws {
        let workspace = try Workspace()
        try workspace.write(
            "syncs.d/a.yaml",
            "version: 1\nsource:\n  type: ndjson\n  path: data/*.ndjson\ntarget: {table: my-project.d.t}\nmerge: {keys: [id]}\n"
        )
        try workspace.write(
            "syncs.d/b.yaml",
            "version: 1\nsource: {type: csv, path: b.csv}\ntarget: {table: my-project.d.u}\nmerge: {keys: [id]}\n")
        try workspace.write("syncs.d/b.csv", "id\n1\n")
        var loader = ConfigLoader(directory: workspace.root)
        #expect(loader.load().diagnostics.isEmpty, "only validate asks")
        loader.checksSourcePaths = true
        let configuration = loader.load()
        let shown = configuration.diagnostics.map { diagnostic in
            let location = diagnostic.location.map {
                "\($0.file.replacingOccurrences(of: workspace.root + "/", with: "")):\($0.line):\($0.column): "
            }
            return "\(location ?? "")\(diagnostic.severity.rawValue): \(diagnostic.message)"
        }
        #expect(
            shown == [
                "syncs.d/a.yaml:4:9: warning: 'source.path' 'data/*.ndjson' matches no file (relative to "
                    + "'\(workspace.root)/syncs.d', the definition's directory); plan will stop at this sync"
            ])
        #expect(configuration.diagnostics.first?.sourceLine == "  path: data/*.ndjson")
        #expect(configuration.syncs.count == 2, "a warning does not make the definition invalid")
    }
}
