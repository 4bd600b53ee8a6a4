import Foundation
import Testing

@testable import SyncKit

/// The repository's own syncs.d/ and policies/: valid as shipped, and never a crash when damaged.
@Suite("shipped examples")
struct ShippedExamplesTests {
    /// The repository root, found from this file's place (Tests/SyncKitTests/…).
    static let root: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    static func files(in directory: String) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: root + "/" + directory)) ?? []
        return names.filter { $0.hasSuffix(".yaml") }.sorted().map { "\(directory)/\($0)" }
    }

    static func bytes(_ relative: String) throws -> [UInt8] {
        Array(try Data(contentsOf: URL(fileURLWithPath: root + "/" + relative)))
    }

    @Test("validate finds nothing wrong in syncs.d/ and policies/")
    func validateShipped() throws {
        #expect(Self.files(in: "syncs.d").count >= 3)
        #expect(Self.files(in: "policies").count >= 1)
        let configuration = ConfigLoader(directory: Self.root).load()
        #expect(configuration.diagnostics.map(\.description) == [])
        #expect(configuration.syncs.map(\.name).sorted() == ["archive", "contacts", "identity", "people"])
        #expect(configuration.policies["default"]?.file != nil)
        #expect(configuration.fileCount == Self.files(in: "syncs.d").count + Self.files(in: "policies").count)
    }

    @Test("validate with the directories named explicitly finds nothing wrong either")
    func validateShippedExplicitPaths() {
        let loader = ConfigLoader(directory: Self.root)
        let configuration = loader.load(paths: [
            Self.root + "/syncs.d", Self.root + "/policies/", Self.root + "/policies/../policies/default.yaml",
        ])
        #expect(configuration.diagnostics.map(\.description) == [])
        #expect(configuration.syncs.count == 4)
    }

    static let examples = files(in: "syncs.d") + files(in: "policies")

    @Test("truncating or flipping any byte of a shipped example never crashes the loader", arguments: examples)
    func damagedExampleNeverCrashes(_ file: String) throws {
        let loader = ConfigLoader()
        let bytes = try Self.bytes(file)
        let isPolicy = file.hasPrefix("policies/")
        // The other side of each check is kept small, so the time goes to the damaged file: a policy that
        // protects something (so the protection check runs), or a sync that uses the policy.
        let policy = ConfigLoader.Input(
            path: "policies/default.yaml",
            bytes: .success(Array("version: 1\nprotected_tables: [\"*.finance.*\", \"p-123456.crm.golden\"]\n".utf8)))
        let sync = ConfigLoader.Input(path: "syncs.d/s.yaml", bytes: .success(Array(ConfigLoaderTests.okSync.utf8)))
        var checked = 0
        var failed = 0
        func run(_ damaged: [UInt8]) {
            let input = ConfigLoader.Input(path: file, bytes: .success(damaged))
            let configuration =
                isPolicy
                ? loader.check(syncs: [sync], policies: [input]) : loader.check(syncs: [input], policies: [policy])
            checked += 1
            failed += configuration.diagnostics.hasErrors ? 1 : 0
            for diagnostic in configuration.diagnostics {
                // Whatever went wrong is said on one line, at a place that exists.
                if diagnostic.message.contains(where: \.isNewline) { Issue.record("multi-line message: \(diagnostic)") }
                guard let location = diagnostic.location else { continue }
                guard let line = diagnostic.sourceLine else {
                    Issue.record("no source line: \(diagnostic)")
                    continue
                }
                if location.column < 1 || location.column > line.unicodeScalars.count + 1 {
                    Issue.record("column off the line: \(diagnostic)")
                }
            }
        }
        for cut in 0...bytes.count { run(Array(bytes[0..<cut])) }
        // One flip per position, the mask taking turns: 0xFF makes invalid UTF-8; 0x20 turns ':' into a
        // control character, ' ' into NUL, '-' into CR and letters into their other case; 0x01 turns digits
        // and letters into neighbours and '[' into '\\'.
        let masks: [UInt8] = [0xFF, 0x20, 0x01]
        for index in bytes.indices {
            var damaged = bytes
            damaged[index] ^= masks[index % masks.count]
            run(damaged)
        }
        #expect(checked == 2 * bytes.count + 1)
        // Most damage is caught (some is harmless: a flipped letter in a description).
        #expect(failed > checked / 2)
    }
}
