internal import CYAML

/// Reads one YAML document into `YAMLNode`s with line:column marks, on libyaml.
///
/// Beyond libyaml it refuses duplicate mapping keys, complex keys, more than one document, nesting deeper
/// than `maxDepth`, documents that aliases would expand past `maxNodes` nodes ("billion laughs"), and tags
/// other than the core schema's (`!!str`, `!!int`, `!!float`, `!!bool`, `!!null`, `!!seq`, `!!map`).
/// Error marks always point into the text (libyaml's end-of-stream mark is moved onto the last line).
public struct YAMLParser: Sendable {
    /// The deepest nesting of sequences and mappings accepted.
    public var maxDepth: Int
    /// The most nodes a document may expand to, counting every alias at the size of what it names.
    public var maxNodes: Int

    /// Creates a parser with the given bounds.
    public init(maxDepth: Int = 256, maxNodes: Int = 100_000) {
        self.maxDepth = maxDepth
        self.maxNodes = maxNodes
    }

    /// Parses UTF-8 (or UTF-16 with a BOM) bytes; returns nil when the stream holds no document.
    public func parse(_ bytes: [UInt8]) throws(YAMLError) -> YAMLNode? {
        do throws(YAMLError) {
            return try parseUnclamped(bytes)
        } catch {
            throw YAMLError(error.message, at: SourceText.clamp(error.mark, in: bytes))
        }
    }

    private func parseUnclamped(_ bytes: [UInt8]) throws(YAMLError) -> YAMLNode? {
        let handle = try ParserHandle()
        let result = bytes.withUnsafeBufferPointer { buffer -> Result<YAMLNode?, YAMLError> in
            // libyaml reads the buffer lazily; it must outlive the whole parse, which this closure guarantees.
            yaml_parser_set_input_string(&handle.parser, buffer.baseAddress, buffer.count)
            var builder = TreeBuilder(maxDepth: maxDepth, maxNodes: maxNodes)
            while true {
                var event = yaml_event_t()
                guard yaml_parser_parse(&handle.parser, &event) == 1 else {
                    return .failure(handle.error(in: bytes))
                }
                defer { yaml_event_delete(&event) }
                if event.type == YAML_STREAM_END_EVENT { break }
                do throws(YAMLError) {
                    try builder.handle(event)
                } catch {
                    return .failure(error)
                }
            }
            return .success(builder.root)
        }
        return try result.get()
    }

    /// Parses a string as UTF-8.
    public func parse(_ text: String) throws(YAMLError) -> YAMLNode? {
        try parse(Array(text.utf8))
    }
}

/// Owns a libyaml parser and frees it.
private final class ParserHandle {
    var parser = yaml_parser_t()

    init() throws(YAMLError) {
        guard yaml_parser_initialize(&parser) == 1 else {
            throw YAMLError("libyaml could not allocate a parser", at: Mark(line: 1, column: 1))
        }
    }

    deinit { yaml_parser_delete(&parser) }

    func error(in bytes: [UInt8]) -> YAMLError {
        var problem = parser.problem.map { String(cString: $0) } ?? "unknown libyaml error"
        if parser.error == YAML_MEMORY_ERROR { problem = "libyaml ran out of memory" }
        if parser.error == YAML_READER_ERROR {
            // Reader errors (bad encoding, control characters) carry a byte offset, not a mark.
            let value = Int(parser.problem_value)
            if value >= 0 {
                if problem.contains("octet") {
                    problem += " (byte 0x" + hex(value, width: 2) + ")"
                } else {
                    problem += " (U+" + hex(value, width: 4) + ")"
                }
            }
            return YAMLError(problem, at: SourceText.mark(ofByte: Int(parser.problem_offset), in: bytes))
        }
        let at = mark(parser.problem_mark)
        // A tab where indentation is read: libyaml's words, then what to do (its context adds nothing here).
        if SyntaxAdvice.isTab(at: at, in: bytes) {
            return YAMLError("\(problem) — \(SyntaxAdvice.tabs)", at: at)
        }
        var message = problem
        if let context = parser.context.map({ String(cString: $0) }) {
            message += " (\(context) at \(mark(parser.context_mark)))"
        }
        if let advice = SyntaxAdvice.advice(for: problem, at: at, in: bytes) { message += " — \(advice)" }
        return YAMLError(message, at: at)
    }
}

/// What to do about libyaml's syntax errors, said after its own words.
enum SyntaxAdvice {
    static let tabs = "indent with spaces, not tabs"
    static let indentation = "check the indentation of this line against the one above"

    /// libyaml's problems that come from a line indented more or less than its structure allows.
    static let indentationProblems = [
        "mapping values are not allowed in this context", "did not find expected key",
        "did not find expected '-' indicator", "block sequence entries are not allowed in this context",
    ]

    /// A second `key: value` on one line (`source: type: ndjson`, or text such as `description: note: x`).
    static let sameLine = "to write text with ': ' in it, quote it; to nest a mapping, start it on a new line, indented"

    /// What to add to libyaml's problem at a mark, if anything.
    static func advice(for problem: String, at mark: Mark, in bytes: [UInt8]) -> String? {
        guard indentationProblems.contains(problem) else { return nil }
        if problem == indentationProblems[0], let line = line(of: mark, in: bytes) {
            // The ':' libyaml stopped at follows another "key: " on its own line.
            let before = String(String.UnicodeScalarView(line.prefix(max(0, mark.column - 1))))
            if before.contains(": ") { return sameLine }
        }
        return indentation
    }

    /// Whether the character at a mark (libyaml counts columns in characters) is a tab.
    static func isTab(at mark: Mark, in bytes: [UInt8]) -> Bool {
        guard let line = line(of: mark, in: bytes) else { return false }
        return line.indices.contains(mark.column - 1) && line[mark.column - 1] == "\t"
    }

    /// The characters of a mark's line.
    private static func line(of mark: Mark, in bytes: [UInt8]) -> [Unicode.Scalar]? {
        let lines = SourceText.lines(bytes)
        guard lines.indices.contains(mark.line - 1) else { return nil }
        return Array(lines[mark.line - 1].unicodeScalars)
    }
}

private func hex(_ value: Int, width: Int) -> String {
    let digits = String(value, radix: 16, uppercase: true)
    return String(repeating: "0", count: max(0, width - digits.count)) + digits
}

private func mark(_ mark: yaml_mark_t) -> Mark {
    Mark(line: Int(mark.line) + 1, column: Int(mark.column) + 1)
}

private func string(_ pointer: UnsafeMutablePointer<yaml_char_t>?) -> String? {
    guard let pointer else { return nil }
    return String(cString: pointer)
}

/// Builds the tree from events with an explicit stack, so deep documents cannot overflow the call stack.
private struct TreeBuilder {
    struct Frame {
        var isMapping: Bool
        var mark: Mark
        var anchor: String?
        var size = 1
        var items: [YAMLNode] = []
        var pairs: [YAMLNode.Pair] = []
        var pendingKey: YAMLNode?
        var seen: [String: Mark] = [:]
    }

    let maxDepth: Int
    let maxNodes: Int
    var stack: [Frame] = []
    var anchors: [String: (node: YAMLNode, size: Int)] = [:]
    var nodeCount = 0
    var documents = 0
    var root: YAMLNode?

    init(maxDepth: Int, maxNodes: Int) {
        self.maxDepth = maxDepth
        self.maxNodes = maxNodes
    }

    mutating func handle(_ event: yaml_event_t) throws(YAMLError) {
        let at = mark(event.start_mark)
        switch event.type {
        case YAML_DOCUMENT_START_EVENT:
            documents += 1
            if documents > 1 {
                throw YAMLError("more than one document in the file; bqsync reads one document per file", at: at)
            }
        case YAML_SCALAR_EVENT:
            let data = event.data.scalar
            let value =
                data.value.map { String(decoding: UnsafeBufferPointer(start: $0, count: data.length), as: UTF8.self) }
                ?? ""
            let style: ScalarStyle
            switch data.style {
            case YAML_SINGLE_QUOTED_SCALAR_STYLE: style = .singleQuoted
            case YAML_DOUBLE_QUOTED_SCALAR_STYLE: style = .doubleQuoted
            case YAML_LITERAL_SCALAR_STYLE: style = .literal
            case YAML_FOLDED_SCALAR_STYLE: style = .folded
            default: style = .plain
            }
            let tag = string(data.tag).map(Self.expandTag)
            let scalar = Scalar(value: value, style: style, tag: tag)
            try Self.checkTag(of: scalar, at: at)
            let node = YAMLNode(.scalar(scalar), mark: at)
            try complete(node, size: 1, anchor: string(data.anchor))
        case YAML_ALIAS_EVENT:
            let name = string(event.data.alias.anchor) ?? ""
            guard let target = anchors[name] else {
                throw YAMLError("alias '*\(name)' refers to no anchor defined before it", at: at)
            }
            // Count before copying: the bound is what keeps an alias bomb from being expanded.
            try count(target.size, at: at)
            // The value is placed at the alias, so a message about it points at the use (and can name the anchor).
            try complete(target.node.placed(at: at), size: target.size, anchor: nil, counted: true)
        case YAML_SEQUENCE_START_EVENT:
            let data = event.data.sequence_start
            try Self.checkCollectionTag(string(data.tag).map(Self.expandTag), expected: "seq", at: at)
            try push(Frame(isMapping: false, mark: at, anchor: string(data.anchor)), at: at)
        case YAML_MAPPING_START_EVENT:
            let data = event.data.mapping_start
            try Self.checkCollectionTag(string(data.tag).map(Self.expandTag), expected: "map", at: at)
            try push(Frame(isMapping: true, mark: at, anchor: string(data.anchor)), at: at)
        case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
            guard let frame = stack.popLast() else { return }
            let node = YAMLNode(frame.isMapping ? .mapping(frame.pairs) : .sequence(frame.items), mark: frame.mark)
            try complete(node, size: frame.size, anchor: frame.anchor, counted: true)
        default:
            break
        }
    }

    static func expandTag(_ tag: String) -> String {
        tag.hasPrefix("!!") ? "tag:yaml.org,2002:" + tag.dropFirst(2) : tag
    }

    static let core = "tag:yaml.org,2002:"

    /// `tag:yaml.org,2002:int` → `!!int`, for messages.
    static func shortTag(_ tag: String) -> String {
        tag.hasPrefix(core) ? "!!" + tag.dropFirst(core.count) : tag
    }

    static func unknownTag(_ tag: String, at: Mark) -> YAMLError {
        YAMLError(
            "unknown tag \(SourceText.quoted(shortTag(tag))) (bqsync reads only the core tags !!str, !!int, !!float, !!bool, !!null, !!seq and !!map)",
            at: at)
    }

    /// A scalar's tag is a core scalar tag, and its text is a value of that type.
    static func checkTag(of scalar: Scalar, at: Mark) throws(YAMLError) {
        guard let tag = scalar.tag, tag != "!" else { return }
        let plain = Scalar(value: scalar.value).resolved
        let fits: Bool
        switch tag {
        case core + "str": return
        case core + "null": if case .null = plain { fits = true } else { fits = false }
        case core + "bool": if case .bool = plain { fits = true } else { fits = false }
        case core + "int": if case .int = plain { fits = true } else { fits = false }
        case core + "float":
            switch plain {
            case .float, .int: fits = true
            default: fits = false
            }
        case core + "seq", core + "map":
            throw YAMLError("tag \(shortTag(tag)) is for a collection, not a single value", at: at)
        default:
            throw unknownTag(tag, at: at)
        }
        if !fits { throw YAMLError("\(SourceText.quoted(scalar.value)) is not a valid \(shortTag(tag)) value", at: at) }
    }

    /// A collection's tag is absent, non-specific, or the core tag for its kind.
    static func checkCollectionTag(_ tag: String?, expected: String, at: Mark) throws(YAMLError) {
        guard let tag, tag != "!", tag != core + expected else { return }
        if tag == core + "seq" || tag == core + "map"
            || tag.hasPrefix(core) && ["str", "int", "float", "bool", "null"].contains(tag.dropFirst(core.count))
        {
            throw YAMLError("tag \(shortTag(tag)) does not fit \(expected == "seq" ? "a list" : "a mapping")", at: at)
        }
        throw unknownTag(tag, at: at)
    }

    mutating func push(_ frame: Frame, at: Mark) throws(YAMLError) {
        guard stack.count < maxDepth else {
            throw YAMLError("nesting deeper than \(maxDepth) levels", at: at)
        }
        try count(1, at: at)
        stack.append(frame)
    }

    mutating func count(_ nodes: Int, at: Mark) throws(YAMLError) {
        nodeCount += nodes
        if nodeCount > maxNodes {
            throw YAMLError("document expands to more than \(maxNodes) nodes (aliases repeat what they name)", at: at)
        }
    }

    /// Attaches a finished node to its parent (or makes it the root) and records its anchor.
    mutating func complete(_ node: YAMLNode, size: Int, anchor: String?, counted: Bool = false) throws(YAMLError) {
        if !counted { try count(size, at: node.mark) }
        if let anchor { anchors[anchor] = (node, size) }
        let top = stack.count - 1
        guard top >= 0 else {
            root = node
            return
        }
        stack[top].size += size
        guard stack[top].isMapping else {
            stack[top].items.append(node)
            return
        }
        if let key = stack[top].pendingKey {
            stack[top].pairs.append(YAMLNode.Pair(key: key, value: node))
            stack[top].pendingKey = nil
            return
        }
        guard let scalar = node.scalar else {
            throw YAMLError("a mapping key must be a plain value, not \(node.kindDescription)", at: node.mark)
        }
        if let first = stack[top].seen[scalar.value] {
            throw YAMLError(
                "duplicate key \(SourceText.quoted(scalar.value)) (first defined at \(first))", at: node.mark)
        }
        stack[top].seen[scalar.value] = node.mark
        stack[top].pendingKey = node
    }
}
