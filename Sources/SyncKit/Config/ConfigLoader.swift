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
    /// What each file read defines, by its displayed path (the file of a diagnostic's location).
    var owners: [String: FileOwner] = [:]

    /// A policy by name (the built-in default is among them unless a broken `default` file replaced it).
    public func policy(named name: String) -> Policy? { policies[name] }

    /// The policy a sync uses.
    public func policy(for sync: SyncDefinition) -> Policy? { policy(named: sync.policyName) }
}

/// What one configuration file defines: a sync or a policy, by its name (the file name when the name could not be
/// read), and for a sync the policy it uses (nil when that could not be read).
struct FileOwner: Sendable, Hashable {
    var isPolicy: Bool
    var name: String
    var policy: String?
}

extension Configuration {
    /// The configuration as a command that names syncs needs it: a broken definition blocks only itself. Errors
    /// in the files of the named syncs and of the policies they use still count; errors in any other file become
    /// warnings, at the same place. Errors that are no file's (a missing `syncs.d/`) still count. With no names,
    /// everything must be valid, and the configuration is returned as it is.
    public func scoped(to names: [String]) -> Configuration {
        guard !names.isEmpty else { return self }
        let wanted = Set(names)
        let policies = Set(owners.values.filter { !$0.isPolicy && wanted.contains($0.name) }.compactMap(\.policy))
        let distinct = names.enumerated().filter { !names[..<$0.offset].contains($0.element) }.map(\.element)
        let named = distinct.map { quote($0) }.joined(separator: ", ")
        var scoped = self
        scoped.diagnostics = diagnostics.map { diagnostic in
            guard diagnostic.severity == .error, let file = diagnostic.location?.file, let owner = owners[file],
                !(owner.isPolicy ? policies.contains(owner.name) : wanted.contains(owner.name))
            else { return diagnostic }
            var warning = diagnostic
            warning.severity = .warning
            warning.isRefusal = false
            warning.notes.append("not needed by \(named), so it does not stop \(distinct.count == 1 ? "it" : "them")")
            return warning
        }
        return scoped
    }
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
    /// Whether `load` warns when a local source's `path:` matches no file (`bqsync validate` asks; `plan` stops
    /// at such a sync anyway).
    public var checksSourcePaths = false

    /// Creates a loader for a directory.
    public init(directory: String = ".", defaultProject: String? = nil) {
        self.directory = directory
        self.defaultProject = defaultProject
    }

    /// Loads every definition and policy. With `paths`, only those files (or directories) are checked as
    /// definitions, while `policies/` is still read to resolve what they refer to. A path is a policy when
    /// it is (or is in) a directory named `policies`; paths are compared after resolving `.`, `..` and
    /// symbolic links, so one file named two ways is read once.
    ///
    /// With `syncs`, only those syncs and the policies they use must be valid: errors elsewhere are warnings
    /// (see `Configuration.scoped(to:)`).
    public func load(paths: [String] = [], syncs names: [String] = []) -> Configuration {
        var diagnostics: [Diagnostic] = []
        var syncFiles: [String] = []
        var policyFiles: [String] = []
        var seen = Set<String>()
        func add(_ file: String, asPolicy: Bool) {
            guard seen.insert(FileIO.canonical(file)).inserted else { return }
            if asPolicy { policyFiles.append(file) } else { syncFiles.append(file) }
        }
        let policiesDir = FileIO.join(directory, "policies")
        let canonicalPoliciesDir = FileIO.canonical(policiesDir)
        if paths.isEmpty {
            let syncsDir = FileIO.join(directory, "syncs.d")
            if FileIO.isDirectory(syncsDir) {
                for file in yamlFiles(in: syncsDir, diagnostics: &diagnostics) { add(file, asPolicy: false) }
            } else {
                diagnostics.append(
                    Diagnostic(.error, "no syncs.d/ directory in \(quote(directory)) (use -C DIR to point at one)"))
            }
        } else {
            for path in paths {
                if FileIO.isDirectory(path) {
                    let isPolicyDir = Self.isPoliciesDirectory(path) || FileIO.canonical(path) == canonicalPoliciesDir
                    for file in yamlFiles(in: path, diagnostics: &diagnostics) { add(file, asPolicy: isPolicyDir) }
                } else if FileIO.exists(path) {
                    let parent = FileIO.directory(of: path)
                    let isPolicy = Self.isPoliciesDirectory(parent) || FileIO.canonical(parent) == canonicalPoliciesDir
                    add(path, asPolicy: isPolicy)
                } else {
                    diagnostics.append(Diagnostic(.error, "\(SourceText.singleLine(path)): no such file or directory"))
                }
            }
        }
        if FileIO.isDirectory(policiesDir) {
            for file in yamlFiles(in: policiesDir, diagnostics: &diagnostics) { add(file, asPolicy: true) }
        }
        var configuration = check(
            syncs: syncFiles.map(Self.read), policies: policyFiles.map(Self.read), diagnostics: diagnostics)
        if checksSourcePaths {
            configuration.diagnostics = Self.inFileOrder(
                configuration.diagnostics + configuration.syncs.compactMap(Self.unmatchedPath))
        }
        return configuration.scoped(to: names)
    }

    /// A warning at `source.path` when a local source's path or glob matches no file (or cannot be expanded):
    /// `plan` would stop there. A warning, not an error: the files may be written after the definitions are
    /// checked (a pipeline that validates, exports, then plans), and validating must not need the data.
    static func unmatchedPath(_ sync: SyncDefinition) -> Diagnostic? {
        guard sync.source.kind == .ndjson || sync.source.kind == .csv, let pattern = sync.source.path else {
            return nil
        }
        let problem: String
        do {
            guard try LocalSource.matches(pattern, in: sync.source.baseDirectory).isEmpty else { return nil }
            problem = "matches no file"
        } catch {
            problem = "cannot be expanded"
        }
        let directory = sync.source.baseDirectory
        let relative = pattern.hasPrefix("/") ? "" : " (relative to \(quote(directory)), the definition's directory)"
        let location = sync.location(of: .sourcePath)
        return sync.file.warning(
            "'source.path' \(quote(pattern)) \(problem)\(relative); plan will stop at this sync",
            at: Mark(line: location.line, column: location.column))
    }

    /// One file to check: its displayed path and its bytes, or why they could not be read.
    package struct Input {
        package var path: String
        package var bytes: Result<[UInt8], SyncError>

        package init(path: String, bytes: Result<[UInt8], SyncError>) {
            self.path = path
            self.bytes = bytes
        }
    }

    static func read(_ path: String) -> Input {
        do {
            return Input(path: path, bytes: .success(try FileIO.read(path, limit: maxFileSize)))
        } catch {
            return Input(path: path, bytes: .failure(error))
        }
    }

    /// Whether a directory is named `policies` (as written, or once links are resolved).
    static func isPoliciesDirectory(_ path: String) -> Bool {
        FileIO.lastComponent(FileIO.standardized(path)) == "policies"
            || FileIO.lastComponent(FileIO.canonical(path)) == "policies"
    }

    /// Checks definitions and policies given as bytes: everything `load` does after reading the files.
    package func check(
        syncs syncFiles: [Input], policies policyFiles: [Input], diagnostics initial: [Diagnostic] = []
    )
        -> Configuration
    {
        let policies = checkPolicies(policyFiles)
        let syncs = checkSyncs(syncFiles, policies: policies)
        return Configuration(
            syncs: syncs.syncs, policies: policies.policies,
            diagnostics: Self.inFileOrder(initial + policies.diagnostics + syncs.diagnostics),
            fileCount: syncFiles.count + policyFiles.count, owners: policies.owners.merging(syncs.owners) { $1 })
    }

    /// Diagnostics by file, line and column. Stable: diagnostics at one place keep the order they were found in.
    static func inFileOrder(_ diagnostics: [Diagnostic]) -> [Diagnostic] {
        diagnostics.enumerated().sorted { a, b in
            let (x, y) = (a.element.location, b.element.location)
            return (x?.file ?? "", x?.line ?? 0, x?.column ?? 0, a.offset) < (
                y?.file ?? "", y?.line ?? 0, y?.column ?? 0, b.offset
            )
        }.map(\.element)
    }

    /// What the policy files hold.
    struct CheckedPolicies {
        /// By name; the built-in default among them unless a `default` file (broken or not) exists.
        var policies: [String: Policy] = [:]
        /// Names of policies whose files have errors (reported there, not again in the syncs that use them).
        var broken: Set<String> = []
        var owners: [String: FileOwner] = [:]
        var diagnostics: [Diagnostic] = []
    }

    private func checkPolicies(_ files: [Input]) -> CheckedPolicies {
        var checked = CheckedPolicies()
        var first: [String: SourceLocation] = [:]
        for input in files {
            let stem = FileIO.stem(input.path)
            guard let (reader, root) = parse(input, kind: .policy, diagnostics: &checked.diagnostics) else {
                // Unreadable: its name is unknown, so the file name is the best guess at what syncs call it.
                checked.broken.insert(stem)
                checked.owners[input.path] = FileOwner(isPolicy: true, name: stem)
                continue
            }
            let decoded = PolicyDecoder(reader: reader, stem: stem).decode(root)
            checked.diagnostics += reader.diagnostics
            checked.owners[input.path] = FileOwner(isPolicy: true, name: decoded.name)
            guard let policy = decoded.policy else {
                checked.broken.insert(decoded.name)
                continue
            }
            if let earlier = first[policy.name] {
                checked.diagnostics.append(
                    Self.duplicate("two policies are named", policy.name, reader: reader, earlier: earlier))
                continue
            }
            first[policy.name] = Self.nameLocation(reader)
            checked.policies[policy.name] = policy
        }
        if checked.policies["default"] == nil && !checked.broken.contains("default") {
            checked.policies["default"] = .builtInDefault
        }
        return checked
    }

    /// What the definition files hold: the syncs that decoded, and what each file defines.
    private func checkSyncs(_ files: [Input], policies: CheckedPolicies) -> (
        syncs: [SyncDefinition], owners: [String: FileOwner], diagnostics: [Diagnostic]
    ) {
        var syncs: [SyncDefinition] = []
        var owners: [String: FileOwner] = [:]
        var diagnostics: [Diagnostic] = []
        var first: [String: SourceLocation] = [:]
        for input in files {
            let stem = FileIO.stem(input.path)
            guard let (reader, root) = parse(input, kind: .sync, diagnostics: &diagnostics) else {
                owners[input.path] = FileOwner(isPolicy: false, name: stem)
                continue
            }
            let decoder = SyncDecoder(
                reader: reader, stem: stem, baseDirectory: FileIO.directory(of: input.path),
                policies: policies.policies, brokenPolicies: policies.broken, defaultProject: defaultProject)
            let decoded = decoder.decode(root)
            diagnostics += reader.diagnostics
            owners[input.path] = FileOwner(isPolicy: false, name: decoded.name ?? stem, policy: decoded.policyName)
            guard let name = decoded.name else { continue }
            if let earlier = first[name] {
                diagnostics.append(Self.duplicate("two syncs are named", name, reader: reader, earlier: earlier))
                continue
            }
            first[name] = Self.nameLocation(reader)
            if let sync = decoded.definition { syncs.append(sync) }
        }
        return (syncs, owners, diagnostics)
    }

    /// Where a file names what it defines: its `name:`, else its start.
    private static func nameLocation(_ reader: NodeReader) -> SourceLocation {
        reader.marks["name"].map { reader.file.location($0) }
            ?? SourceLocation(file: reader.file.path, line: 1, column: 1)
    }

    /// The error for a second file defining a name, at its name.
    private static func duplicate(_ message: String, _ name: String, reader: NodeReader, earlier: SourceLocation)
        -> Diagnostic
    {
        let location = nameLocation(reader)
        return reader.file.error(
            "\(message) \(quote(name))", at: Mark(line: location.line, column: location.column),
            notes: ["first defined at \(earlier)"])
    }

    private func yamlFiles(in directory: String, diagnostics: inout [Diagnostic]) -> [String] {
        do {
            return try FileIO.list(directory)
                .filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") }
                .map { FileIO.join(directory, $0) }
        } catch {
            diagnostics.append(Diagnostic(.error, SourceText.singleLine(error.description)))
            return []
        }
    }

    /// What a file holds, for messages about the file as a whole.
    enum DocumentKind {
        case sync, policy

        var description: String { self == .sync ? "a sync definition" : "a policy" }

        var requiredKeys: String { self == .sync ? "'version', 'source', 'target' and 'merge'" : "'version'" }

        var homes: KeyHomes { self == .sync ? SyncDecoder.homes : PolicyDecoder.homes }
    }

    /// Reads and parses one file; problems become diagnostics.
    private func parse(_ input: Input, kind: DocumentKind, diagnostics: inout [Diagnostic]) -> (NodeReader, YAMLNode)? {
        let bytes: [UInt8]
        switch input.bytes {
        case .success(let read): bytes = read
        case .failure(let error):
            // The location already names the file; an I/O error's own text would name it again.
            let message: String
            if case .io(_, let text) = error { message = text } else { message = error.description }
            diagnostics.append(
                Diagnostic(
                    .error, SourceText.singleLine(message), at: SourceLocation(file: input.path, line: 1, column: 1)))
            return nil
        }
        let digest = SHA256.hash(data: bytes).map { byte in
            let hex = String(byte, radix: 16)
            return byte < 16 ? "0" + hex : hex
        }.joined()
        let file = ConfigFile(path: input.path, sha256: digest, lines: SourceText.lines(bytes))
        do {
            let root = try parser.parse(bytes)
            guard let root, !Self.isEmptyDocument(root) else {
                diagnostics.append(
                    file.error(
                        "the file is empty: \(kind.description) is a mapping with at least \(kind.requiredKeys)",
                        at: root?.mark ?? Mark(line: 1, column: 1)))
                return nil
            }
            return (NodeReader(file: file, documentKind: kind.description, homes: kind.homes), root)
        } catch {
            diagnostics.append(file.error(error.message, at: error.mark))
        }
        return nil
    }

    /// A document with nothing in it (`---` alone) parses as an empty plain scalar.
    private static func isEmptyDocument(_ root: YAMLNode) -> Bool {
        guard let scalar = root.scalar else { return false }
        return scalar.value.isEmpty && scalar.style == .plain && scalar.tag == nil
    }
}
