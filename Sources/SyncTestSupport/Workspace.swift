import Foundation

/// A temporary directory laid out like a project (`syncs.d/`, `policies/`), removed when the workspace goes away:
/// the one workspace helper of every test target. The unit tests use it as a directory; the end-to-end tests
/// (Tests/bqsyncTests) add the emulator's host, a dataset of its own and a clean-up that drops that dataset.
public final class Workspace: @unchecked Sendable {
    /// The directory.
    public let root: String
    /// A name unique to this workspace (a dataset name, for tests that create tables).
    public let dataset: String
    /// The emulator's base URL, or "" for a workspace that talks to no server.
    public let host: String
    private let cleanup: (@Sendable (_ dataset: String, _ host: String) -> Void)?

    /// Creates the directory, with `policies/default.yaml` holding `policy` when one is given.
    public init(
        prefix: String = "test", policy: String? = nil, host: String = "",
        cleanup: (@Sendable (_ dataset: String, _ host: String) -> Void)? = nil
    ) throws {
        dataset = Emulator.uniqueName(prefix)
        root = NSTemporaryDirectory() + "bqsync-" + dataset
        self.host = host
        self.cleanup = cleanup
        for directory in ["syncs.d", "policies"] {
            try FileManager.default.createDirectory(atPath: root + "/" + directory, withIntermediateDirectories: true)
        }
        if let policy { try write("policies/default.yaml", policy) }
    }

    deinit {
        try? FileManager.default.removeItem(atPath: root)
        cleanup?(dataset, host)
    }

    /// The absolute path of a workspace file.
    public func path(_ relative: String) -> String { root + "/" + relative }

    /// Writes a text file (creating its directory).
    public func write(_ relative: String, _ text: String) throws { try write(relative, Array(text.utf8)) }

    /// Writes a file (creating its directory).
    public func write(_ relative: String, _ bytes: [UInt8]) throws {
        let url = URL(fileURLWithPath: path(relative))
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(bytes).write(to: url)
    }

    /// Reads a text file.
    public func read(_ relative: String) throws -> String {
        try String(contentsOfFile: path(relative), encoding: .utf8)
    }
}
