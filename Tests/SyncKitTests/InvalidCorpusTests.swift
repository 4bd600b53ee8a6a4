import Foundation
import SyncTestSupport
import Testing

@testable import SyncKit

/// Every file under Fixtures/invalid is a broken definition or policy whose leading comment lines say what
/// the loader must report: `# expect: LINE:COL: MESSAGE` (one line per error, in order).
///
/// Fixtures are read as bytes (some hold invalid UTF-8 or control characters on purpose) and the expect
/// lines are found whatever the file's line breaks are (one fixture uses CR only).
@Suite("invalid definitions and policies")
struct InvalidCorpusTests {
    static let syncCases = Fixtures.files(in: "invalid/syncs")
    static let policyCases = Fixtures.files(in: "invalid/policies")

    @Test("the corpus is large enough")
    func corpusSize() {
        #expect(Self.syncCases.count + Self.policyCases.count >= 60)
        #expect(Self.syncCases.count >= 30)
        #expect(Self.policyCases.count >= 30)
    }

    @Test("a broken definition is reported at its place", arguments: syncCases)
    func brokenSync(_ path: String) throws {
        let workspace = try Workspace()
        try workspace.write("policies/default.yaml", Fixtures.text("valid/policies/default.yaml"))
        try workspace.write("policies/strict.yaml", Fixtures.text("valid/policies/strict.yaml"))
        // A valid neighbour, so cases about more than one file (two syncs with one name) can be written.
        try workspace.write("syncs.d/ok.yaml", Fixtures.text("valid/syncs/ok.yaml"))
        let name = (path as NSString).lastPathComponent
        let bytes = try Fixtures.bytes(path)
        try workspace.write("syncs.d/\(name)", bytes)
        try check(workspace: workspace, file: "syncs.d/\(name)", bytes: bytes)
    }

    @Test("a broken policy is reported at its place", arguments: policyCases)
    func brokenPolicy(_ path: String) throws {
        let workspace = try Workspace()
        let name = (path as NSString).lastPathComponent
        let bytes = try Fixtures.bytes(path)
        try workspace.write("policies/\(name)", bytes)
        try workspace.write("syncs.d/ok.yaml", Fixtures.text("valid/syncs/ok.yaml"))
        try check(workspace: workspace, file: "policies/\(name)", bytes: bytes)
    }

    private func check(workspace: Workspace, file: String, bytes: [UInt8]) throws {
        let text = String(decoding: bytes, as: UTF8.self)
        let expected = text.split(whereSeparator: { $0 == "\n" || $0 == "\r" || $0 == "\r\n" }).compactMap {
            line -> String? in
            guard line.hasPrefix("# expect: ") else { return nil }
            return "\(file):" + line.dropFirst("# expect: ".count)
        }
        #expect(!expected.isEmpty, "fixture \(file) states no expectation")
        let configuration = ConfigLoader(directory: workspace.root).load()
        let actual = configuration.diagnostics.filter { $0.severity == .error }.map { diagnostic -> String in
            let location =
                diagnostic.location.map { loc in
                    "\(loc.file.replacingOccurrences(of: workspace.root + "/", with: "")):\(loc.line):\(loc.column): "
                } ?? ""
            return location + diagnostic.message
        }
        #expect(actual == expected)
        // Every located diagnostic carries the line it points into, and its column is on that line (or just
        // after its end), for the caret display; messages are single lines.
        for diagnostic in configuration.diagnostics {
            #expect(!diagnostic.message.contains(where: { $0.isNewline }))
            guard let location = diagnostic.location else { continue }
            let line = try #require(diagnostic.sourceLine, "no source line for \(diagnostic)")
            #expect(
                location.column >= 1 && location.column <= line.unicodeScalars.count + 1,
                "column off the line: \(diagnostic)")
        }
    }
}
