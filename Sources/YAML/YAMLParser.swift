internal import CYAML

/// Reads one YAML document into `YAMLNode`s with line:column marks, on libyaml.
///
/// Beyond libyaml it refuses duplicate mapping keys, complex keys, more than one document, nesting deeper
/// than `maxDepth`, and documents that aliases would expand past `maxNodes` nodes ("billion laughs").
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
    public func parse(_ bytes: [UInt8]) throws -> YAMLNode? {
        let handle = try ParserHandle()
        return try bytes.withUnsafeBufferPointer { buffer -> YAMLNode? in
            // libyaml reads the buffer lazily; it must outlive the whole parse, which this closure guarantees.
            yaml_parser_set_input_string(&handle.parser, buffer.baseAddress, buffer.count)
            var builder = TreeBuilder(maxDepth: maxDepth, maxNodes: maxNodes)
            while true {
                var event = yaml_event_t()
                guard yaml_parser_parse(&handle.parser, &event) == 1 else {
                    throw handle.error()
                }
                defer { yaml_event_delete(&event) }
                if event.type == YAML_STREAM_END_EVENT { break }
                try builder.handle(event)
            }
            return builder.root
        }
    }

    /// Parses a string as UTF-8.
    public func parse(_ text: String) throws -> YAMLNode? {
        try parse(Array(text.utf8))
    }
}

/// Owns a libyaml parser and frees it.
private final class ParserHandle {
    var parser = yaml_parser_t()

    init() throws {
        guard yaml_parser_initialize(&parser) == 1 else {
            throw YAMLError("libyaml could not allocate a parser", at: Mark(line: 1, column: 1))
        }
    }

    deinit { yaml_parser_delete(&parser) }

    func error() -> YAMLError {
        let problem = parser.problem.map { String(cString: $0) } ?? "unknown libyaml error"
        let at = mark(parser.problem_mark)
        if let context = parser.context.map({ String(cString: $0) }) {
            let contextMark = mark(parser.context_mark)
            return YAMLError("\(problem) (\(context) at \(contextMark))", at: at)
        }
        return YAMLError(problem, at: at)
    }
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

    mutating func handle(_ event: yaml_event_t) throws {
        let at = mark(event.start_mark)
        switch event.type {
        case YAML_DOCUMENT_START_EVENT:
            documents += 1
            if documents > 1 {
                throw YAMLError("more than one document in the file; bqsync reads one document per file", at: at)
            }
        case YAML_SCALAR_EVENT:
            let data = event.data.scalar
            let value = data.value.map { String(decoding: UnsafeBufferPointer(start: $0, count: data.length), as: UTF8.self) } ?? ""
            let style: ScalarStyle
            switch data.style {
            case YAML_SINGLE_QUOTED_SCALAR_STYLE: style = .singleQuoted
            case YAML_DOUBLE_QUOTED_SCALAR_STYLE: style = .doubleQuoted
            case YAML_LITERAL_SCALAR_STYLE: style = .literal
            case YAML_FOLDED_SCALAR_STYLE: style = .folded
            default: style = .plain
            }
            let tag = string(data.tag).map(Self.expandTag)
            let node = YAMLNode(.scalar(Scalar(value: value, style: style, tag: tag)), mark: at)
            try complete(node, size: 1, anchor: string(data.anchor))
        case YAML_ALIAS_EVENT:
            let name = string(event.data.alias.anchor) ?? ""
            guard let target = anchors[name] else {
                throw YAMLError("alias '*\(name)' refers to no anchor defined before it", at: at)
            }
            // The aliased subtree keeps the anchor's marks: a message about it points at the definition.
            try complete(target.node, size: target.size, anchor: nil)
        case YAML_SEQUENCE_START_EVENT:
            try push(Frame(isMapping: false, mark: at, anchor: string(event.data.sequence_start.anchor)), at: at)
        case YAML_MAPPING_START_EVENT:
            try push(Frame(isMapping: true, mark: at, anchor: string(event.data.mapping_start.anchor)), at: at)
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

    mutating func push(_ frame: Frame, at: Mark) throws {
        guard stack.count < maxDepth else {
            throw YAMLError("nesting deeper than \(maxDepth) levels", at: at)
        }
        try count(1, at: at)
        stack.append(frame)
    }

    mutating func count(_ nodes: Int, at: Mark) throws {
        nodeCount += nodes
        if nodeCount > maxNodes {
            throw YAMLError("document expands to more than \(maxNodes) nodes (aliases repeat what they name)", at: at)
        }
    }

    /// Attaches a finished node to its parent (or makes it the root) and records its anchor.
    mutating func complete(_ node: YAMLNode, size: Int, anchor: String?, counted: Bool = false) throws {
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
            throw YAMLError("duplicate key '\(scalar.value)' (first defined at \(first))", at: node.mark)
        }
        stack[top].seen[scalar.value] = node.mark
        stack[top].pendingKey = node
    }
}
