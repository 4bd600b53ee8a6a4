import Foundation
import Testing
@testable import SyncKit

/// Every file under Fixtures/invalid is a broken definition or policy whose leading comment lines say what
/// the loader must report: `# expect: LINE:COL: MESSAGE` (one line per diagnostic, in order).
@Suite("invalid definitions and policies")
struct InvalidCorpusTests {
    static let syncCases = Fixtures.files(in: "invalid/syncs")
    static let policyCases = Fixtures.files(in: "invalid/policies")

    @Test("the corpus is large enough")
    func corpusSize() {
        #expect(Self.syncCases.count + Self.policyCases.count >= 40)
    }

    @Test("a broken definition is reported at its place", arguments: syncCases)
    func brokenSync(_ path: String) throws {
        let workspace = try Workspace()
        try workspace.write("policies/default.yaml", Fixtures.text("valid/policies/default.yaml"))
        try workspace.write("policies/strict.yaml", Fixtures.text("valid/policies/strict.yaml"))
        let name = (path as NSString).lastPathComponent
        try workspace.write("syncs.d/\(name)", Fixtures.text(path))
        try check(workspace: workspace, file: "syncs.d/\(name)", source: Fixtures.text(path))
    }

    @Test("a broken policy is reported at its place", arguments: policyCases)
    func brokenPolicy(_ path: String) throws {
        let workspace = try Workspace()
        let name = (path as NSString).lastPathComponent
        try workspace.write("policies/\(name)", Fixtures.text(path))
        try workspace.write("syncs.d/ok.yaml", Fixtures.text("valid/syncs/ok.yaml"))
        try check(workspace: workspace, file: "policies/\(name)", source: Fixtures.text(path))
    }

    private func check(workspace: Workspace, file: String, source: String) throws {
        let expected = source.split(separator: "\n").compactMap { line -> String? in
            guard line.hasPrefix("# expect: ") else { return nil }
            return "\(file):" + line.dropFirst("# expect: ".count)
        }
        #expect(!expected.isEmpty, "fixture \(file) states no expectation")
        let configuration = ConfigLoader(directory: workspace.path).load()
        let actual = configuration.diagnostics.filter { $0.severity == .error }.map { diagnostic -> String in
            let location = diagnostic.location.map { loc in
                "\(loc.file.replacingOccurrences(of: workspace.path + "/", with: "")):\(loc.line):\(loc.column): "
            } ?? ""
            return location + diagnostic.message
        }
        #expect(actual == expected)
        // Every located error carries the line it points into, for the caret display.
        for diagnostic in configuration.diagnostics where diagnostic.location != nil {
            #expect(diagnostic.sourceLine != nil)
        }
    }
}
