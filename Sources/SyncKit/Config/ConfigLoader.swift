import BigQuery
import Crypto
import YAML

/// Everything loaded from `syncs.d/` and `policies/`: the definitions that decoded, and every diagnostic.
public struct Configuration: Sendable {
    /// The sync definitions that decoded without errors, by file name order.
    public var syncs: [SyncDefinition]
    /// The policies by name (the built-in default included when no `default` file exists).
    public var policies: [String: Policy]
    /// Every error and warning, in file order.
    public var diagnostics: [Diagnostic]
    /// How many files were read.
    public var fileCount: Int

    /// The policy a sync uses.
    public func policy(for sync: SyncDefinition) -> Policy? { policies[sync.policyName] }
}

/// Finds, reads and checks the configuration under a directory (`-C DIR`).
public struct ConfigLoader: Sendable {
    /// Configuration files larger than this are refused.
    public static let maxFileSize = 1 << 20

    /// Where `syncs.d/` and `policies/` are.
    public var directory: String
    /// The project used for names that omit one (for the protected-table check).
    public var defaultProject: String?
    /// The YAML parser's bounds.
    public var parser = YAMLParser()

    /// Creates a loader for a directory.
    public init(directory: String = ".", defaultProject: String? = nil) {
        self.directory = directory
        self.defaultProject = defaultProject
    }

    /// Loads every definition and policy. With `paths`, only those files (or directories) are checked as
    /// definitions, while `policies/` is still read to resolve what they refer to.
    public func load(paths: [String] = []) -> Configuration {
        var diagnostics: [Diagnostic] = []
        var syncFiles: [String] = []
        var policyFiles: [String] = []
        let policiesDir = FileIO.join(directory, "policies")
        if paths.isEmpty {
            let syncsDir = FileIO.join(directory, "syncs.d")
            if FileIO.isDirectory(syncsDir) {
                syncFiles = yamlFiles(in: syncsDir, diagnostics: &diagnostics)
            } else {
                diagnostics.append(Diagnostic(.error, "no syncs.d/ directory in '\(directory)' (use -C DIR to point at one)"))
            }
        } else {
            for path in paths {
                let isPolicyPath = FileIO.stem(path) == "policies" || FileIO.directory(of: path).hasSuffix("policies")
                if FileIO.isDirectory(path) {
                    let files = yamlFiles(in: path, diagnostics: &diagnostics)
                    if isPolicyPath { policyFiles += files } else { syncFiles += files }
                } else if FileIO.exists(path) {
                    if isPolicyPath { policyFiles.append(path) } else { syncFiles.append(path) }
                } else {
                    diagnostics.append(Diagnostic(.error, "\(path): no such file or directory"))
                }
            }
        }
        if FileIO.isDirectory(policiesDir) {
            for file in yamlFiles(in: policiesDir, diagnostics: &diagnostics) where !policyFiles.contains(file) {
                policyFiles.append(file)
            }
        }

        var policies: [String: Policy] = [:]
        var policyMarks: [String: SourceLocation] = [:]
        var brokenPolicies: Set<String> = []
        for path in policyFiles {
            guard let (reader, root) = parse(path, diagnostics: &diagnostics) else { continue }
            let policy = PolicyDecoder(reader: reader, stem: FileIO.stem(path)).decode(root)
            diagnostics += reader.diagnostics
            guard let policy else {
                brokenPolicies.insert(FileIO.stem(path))
                continue
            }
            let location = reader.marks["name"].map { reader.file.location($0) } ?? SourceLocation(file: path, line: 1, column: 1)
            if let first = policyMarks[policy.name] {
                diagnostics.append(Diagnostic(.error, "two policies are named '\(policy.name)'", at: location,
                                              sourceLine: reader.file.line(location.line), notes: ["first defined at \(first)"]))
                continue
            }
            policyMarks[policy.name] = location
            policies[policy.name] = policy
        }
        if policies["default"] == nil && !brokenPolicies.contains("default") { policies["default"] = .builtInDefault }

        var syncs: [SyncDefinition] = []
        var syncNames: [String: SourceLocation] = [:]
        for path in syncFiles {
            guard let (reader, root) = parse(path, diagnostics: &diagnostics) else { continue }
            let decoder = SyncDecoder(reader: reader, stem: FileIO.stem(path), baseDirectory: FileIO.directory(of: path),
                                      policies: policies, brokenPolicies: brokenPolicies, defaultProject: defaultProject)
            let decoded = decoder.decode(root)
            diagnostics += reader.diagnostics
            guard let name = decoded.name else { continue }
            let location = reader.marks["name"].map { reader.file.location($0) } ?? SourceLocation(file: path, line: 1, column: 1)
            if let first = syncNames[name] {
                diagnostics.append(Diagnostic(.error, "two syncs are named '\(name)'", at: location,
                                              sourceLine: reader.file.line(location.line), notes: ["first defined at \(first)"]))
                continue
            }
            syncNames[name] = location
            if let sync = decoded.definition { syncs.append(sync) }
        }
        // Stable: diagnostics at one place keep the order they were found in.
        diagnostics = diagnostics.enumerated().sorted { a, b in
            let (x, y) = (a.element.location, b.element.location)
            return (x?.file ?? "", x?.line ?? 0, x?.column ?? 0, a.offset) < (y?.file ?? "", y?.line ?? 0, y?.column ?? 0, b.offset)
        }.map(\.element)
        return Configuration(syncs: syncs, policies: policies, diagnostics: diagnostics, fileCount: syncFiles.count + policyFiles.count)
    }

    private func yamlFiles(in directory: String, diagnostics: inout [Diagnostic]) -> [String] {
        do {
            return try FileIO.list(directory)
                .filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") }
                .map { FileIO.join(directory, $0) }
        } catch {
            diagnostics.append(Diagnostic(.error, error.description))
            return []
        }
    }

    /// Reads and parses one file; problems become diagnostics.
    private func parse(_ path: String, diagnostics: inout [Diagnostic]) -> (NodeReader, YAMLNode)? {
        let bytes: [UInt8]
        do {
            bytes = try FileIO.read(path, limit: Self.maxFileSize)
        } catch {
            diagnostics.append(Diagnostic(.error, error.description, at: SourceLocation(file: path, line: 1, column: 1)))
            return nil
        }
        let text = String(decoding: bytes, as: UTF8.self)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { line in
            line.hasSuffix("\r") ? String(line.dropLast()) : String(line)
        }
        let digest = SHA256.hash(data: bytes).map { byte in
            let hex = String(byte, radix: 16)
            return byte < 16 ? "0" + hex : hex
        }.joined()
        let file = ConfigFile(path: path, sha256: digest, lines: lines)
        do {
            guard let root = try parser.parse(bytes) else {
                diagnostics.append(file.error("the file is empty", at: Mark(line: 1, column: 1)))
                return nil
            }
            return (NodeReader(file: file), root)
        } catch let error as YAMLError {
            diagnostics.append(file.error(error.message, at: error.mark))
        } catch {
            diagnostics.append(file.error("\(error)", at: Mark(line: 1, column: 1)))
        }
        return nil
    }
}
