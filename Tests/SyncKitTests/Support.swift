import Foundation

/// Access to the files under Tests/SyncKitTests/Fixtures.
enum Fixtures {
    static var root: String {
        Bundle.module.resourcePath.map { $0 + "/Fixtures" } ?? "Fixtures"
    }

    /// Paths (relative to Fixtures) of the YAML files in a fixture directory, sorted.
    static func files(in directory: String) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: root + "/" + directory)) ?? []
        return names.filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") }.sorted().map { directory + "/" + $0 }
    }

    static func text(_ path: String) throws -> String {
        try String(contentsOfFile: root + "/" + path, encoding: .utf8)
    }

    static func bytes(_ path: String) throws -> [UInt8] {
        Array(try Data(contentsOf: URL(fileURLWithPath: root + "/" + path)))
    }
}

/// A temporary directory laid out like a project (`syncs.d/`, `policies/`), removed when released.
final class Workspace {
    let path: String

    init() throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("bqsync-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: base, withIntermediateDirectories: true)
        path = base.path
        try FileManager.default.createDirectory(atPath: path + "/syncs.d", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: path + "/policies", withIntermediateDirectories: true)
    }

    func write(_ relative: String, _ text: String) throws {
        try write(relative, Array(text.utf8))
    }

    func write(_ relative: String, _ bytes: [UInt8]) throws {
        let url = URL(fileURLWithPath: path + "/" + relative)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(bytes).write(to: url)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}
