import Foundation
import SyncTestSupport
import Testing

/// Issue 16: bqsync without a Swift toolchain. `scripts/test` runs `scripts/package` after the build (a release
/// binary linked with --static-swift-stdlib, completions, the man page, the README, and a sums file) and names the
/// tarball in `BQSYNC_PACKAGE`: a test cannot build it itself, since `swift test` holds the build directory.
/// Unpacked into an empty directory, the binary runs with no Swift on `PATH` and validates and plans the shipped
/// examples against the emulator.
@Suite struct PackageTests {
    static let tarball = ProcessInfo.processInfo.environment["BQSYNC_PACKAGE"]

    @Test(.enabled(if: tarball != nil, "BQSYNC_PACKAGE is set by scripts/test, which packages bqsync before the tests"))
    func theTarballRunsWithoutAToolchain() throws {
        let tarball = try #require(Self.tarball)
        let out = URL(fileURLWithPath: tarball).deletingLastPathComponent().path
        let name = URL(fileURLWithPath: tarball).lastPathComponent
        #expect(name.hasPrefix("bqsync-") && name.hasSuffix("-linux-\(Self.machine).tar.gz"), "\(name)")

        let sums = try Shell.run(["/usr/bin/sha256sum", "-c", name + ".sha256"], timeout: 60, directory: out)
        #expect(sums.status == 0 && sums.output.contains("\(name): OK"), "\(sums.output)")

        let empty = NSTemporaryDirectory() + "bqsync-unpacked-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: empty) }
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        let unpacked = try Shell.run(["/usr/bin/tar", "-xzf", tarball, "-C", empty], timeout: 120)
        try #require(unpacked.status == 0, "\(unpacked.output)")
        let root = empty + "/" + String(name.dropLast(".tar.gz".count))
        for file in [
            "bin/bqsync", "share/man/man1/bqsync.1", "share/bash-completion/completions/bqsync",
            "share/zsh/site-functions/_bqsync", "share/fish/vendor_completions.d/bqsync.fish",
            "share/doc/bqsync/README.md", "share/doc/bqsync/LICENSE", "share/bqsync/commit",
        ] {
            #expect(FileManager.default.fileExists(atPath: root + "/" + file), "\(file) is in the tarball")
        }

        // The examples, in a directory of their own; no Swift on PATH, nothing of the build environment.
        let ws = try Workspace("package")
        for directory in ["syncs.d", "policies"] {
            try FileManager.default.copyItem(
                atPath: E2E.repoRoot + "/" + directory, toPath: ws.path("examples/" + directory))
        }
        // The PostgreSQL example reads syncs.d/data/postgres/people.sql, loaded into a database of its own on the
        // suite's server (scripts/test starts it): the packaged binary links libpq and reads through it.
        let server = try #require(
            ProcessInfo.processInfo.environment["BQSYNC_POSTGRES_URL"],
            "BQSYNC_POSTGRES_URL is not set: run the suite through scripts/test, which starts PostgreSQL")
        let database = "package_\(getpid())_\(UInt32.random(in: 0...UInt32.max))"
        let created = try Shell.run(
            ["/usr/bin/psql", server, "-q", "-v", "ON_ERROR_STOP=1", "-c", "CREATE DATABASE \(database)"], timeout: 60)
        try #require(created.status == 0, "\(created.output)")
        let url = String(server[..<(server.lastIndex(of: "/") ?? server.endIndex)]) + "/" + database
        let loaded = try Shell.run(
            [
                "/usr/bin/psql", url, "-q", "-v", "ON_ERROR_STOP=1", "-f",
                E2E.repoRoot + "/syncs.d/data/postgres/people.sql",
            ],
            timeout: 60)
        try #require(loaded.status == 0, "\(loaded.output)")
        let environment = [
            "PATH": "/usr/bin:/bin", "HOME": ws.root, "BIGQUERY_EMULATOR_HOST": ws.host, "NO_COLOR": "1",
            "DATABASE_URL": url,
        ]
        func bqsync(_ arguments: [String]) throws -> Shell.Result {
            try Shell.run(
                [root + "/bin/bqsync"] + arguments, timeout: 120, directory: ws.path("examples"),
                environment: environment)
        }
        let version = try bqsync(["--version"])
        #expect(version.status == 0 && version.output.contains("(commit "), "\(version.output)")
        let validated = try bqsync(["validate"])
        #expect(validated.status == 0, "\(validated.output)")
        let planned = try bqsync(["plan"])
        #expect(planned.status == 0 && planned.output.contains("fits every policy"), "\(planned.output)")
        #expect(planned.output.contains("window: first run: every row"), "\(planned.output)")
        let libraries = try Shell.run(["/usr/bin/ldd", root + "/bin/bqsync"], timeout: 60)
        #expect(!libraries.output.contains("libswift"), "no Swift runtime library is needed: \(libraries.output)")
    }

    static var machine: String {
        var name = utsname()
        uname(&name)
        return withUnsafeBytes(of: &name.machine) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    }
}
