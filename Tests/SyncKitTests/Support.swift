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
