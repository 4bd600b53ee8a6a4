import Foundation

/// What `bqsync --version` says: the version, and the commit a packaged binary was built from. scripts/package
/// writes the commit into `share/bqsync/commit` beside the binary (`bin/bqsync`); a binary run from a build
/// directory says it is a development build instead.
enum BuildInfo {
    static let version = "0.2.0"

    /// `0.2.0 (commit 1a2b3c4d5e6f)`, or `0.2.0 (development build)`.
    static var versionLine: String {
        guard let commit = packagedCommit else { return "\(version) (development build)" }
        return "\(version) (commit \(commit))"
    }

    /// The commit in `../share/bqsync/commit` relative to the running executable, when it is there.
    static var packagedCommit: String? {
        guard let executable = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") else {
            return nil
        }
        let file = URL(fileURLWithPath: executable).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("share/bqsync/commit").path
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { return nil }
        let commit = text.trimmingCharacters(in: .whitespacesAndNewlines)
        return commit.isEmpty ? nil : commit
    }
}
