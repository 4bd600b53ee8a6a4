/// A position in a YAML source: 1-based line and column (columns count characters, as libyaml does).
public struct Mark: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// 1-based line number.
    public var line: Int
    /// 1-based column number, in characters.
    public var column: Int

    /// Creates a mark from 1-based line and column numbers.
    public init(line: Int, column: Int) {
        self.line = line
        self.column = column
    }

    /// `line:column`.
    public var description: String { "\(line):\(column)" }

    /// Orders marks by line, then column.
    public static func < (lhs: Mark, rhs: Mark) -> Bool {
        (lhs.line, lhs.column) < (rhs.line, rhs.column)
    }
}

/// How a scalar was written; a quoted or block scalar is always a string, a plain one is resolved.
public enum ScalarStyle: Sendable, Hashable {
    /// Unquoted text, resolved by the YAML 1.2 core schema.
    case plain
    /// `'single quoted'`.
    case singleQuoted
    /// `"double quoted"`.
    case doubleQuoted
    /// `|` literal block.
    case literal
    /// `>` folded block.
    case folded
}

/// One YAML scalar with its style and optional explicit tag.
public struct Scalar: Sendable, Hashable {
    /// The scalar's text after YAML unescaping and folding.
    public var value: String
    /// How the scalar was written.
    public var style: ScalarStyle
    /// The explicit tag (`!!str` arrives as `tag:yaml.org,2002:str`), if any.
    public var tag: String?

    /// Creates a scalar.
    public init(value: String, style: ScalarStyle = .plain, tag: String? = nil) {
        self.value = value
        self.style = style
        self.tag = tag
    }

    /// The YAML 1.2 core-schema reading of this scalar.
    public var resolved: ResolvedScalar { ResolvedScalar(self) }
}

/// A scalar resolved by the YAML 1.2 core schema (quoted scalars are always strings).
public enum ResolvedScalar: Sendable, Hashable {
    /// `~`, `null`, or an empty plain scalar.
    case null
    /// `true` / `false` (any of their three spellings).
    case bool(Bool)
    /// A decimal, `0x` or `0o` integer.
    case int(Int)
    /// A decimal floating-point number, `.inf` or `.nan`.
    case float(Double)
    /// Everything else.
    case string(String)

    init(_ scalar: Scalar) {
        let yamlTag = "tag:yaml.org,2002:"
        if let tag = scalar.tag {
            switch tag {
            case yamlTag + "str", "!":
                self = .string(scalar.value)
                return
            case yamlTag + "null":
                self = .null
                return
            case yamlTag + "bool", yamlTag + "int", yamlTag + "float":
                // An explicit type tag resolves the text as if it were plain, quoted or not.
                let plain = Scalar(value: scalar.value).resolved
                if tag == yamlTag + "float", case .int(let int) = plain {
                    self = .float(Double(int))
                    return
                }
                if scalar.style != .plain {
                    self = plain
                    return
                }
            default: break
            }
        }
        guard scalar.style == .plain else {
            self = .string(scalar.value)
            return
        }
        let text = scalar.value
        switch text {
        case "", "~", "null", "Null", "NULL":
            self = .null
            return
        case "true", "True", "TRUE":
            self = .bool(true)
            return
        case "false", "False", "FALSE":
            self = .bool(false)
            return
        case ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF":
            self = .float(.infinity)
            return
        case "-.inf", "-.Inf", "-.INF":
            self = .float(-.infinity)
            return
        case ".nan", ".NaN", ".NAN":
            self = .float(.nan)
            return
        default: break
        }
        if let int = Self.parseInt(text) {
            self = .int(int)
            return
        }
        if Self.looksLikeFloat(text), let double = Double(text) {
            self = .float(double)
            return
        }
        self = .string(text)
    }

    private static func parseInt(_ text: String) -> Int? {
        if text.hasPrefix("0x") { return Int(text.dropFirst(2), radix: 16) }
        if text.hasPrefix("0o") { return Int(text.dropFirst(2), radix: 8) }
        var digits = Substring(text)
        if digits.first == "-" || digits.first == "+" { digits = digits.dropFirst() }
        guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        return Int(text)
    }

    private static func looksLikeFloat(_ text: String) -> Bool {
        // [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?
        var chars = Substring(text)
        if chars.first == "-" || chars.first == "+" { chars = chars.dropFirst() }
        var sawDigit = false
        var sawDot = false
        var index = chars.startIndex
        while index < chars.endIndex {
            let c = chars[index]
            if c.isASCII && c.isNumber {
                sawDigit = true
            } else if c == "." && !sawDot {
                sawDot = true
            } else if (c == "e" || c == "E") && sawDigit {
                let exponent = chars[chars.index(after: index)...]
                var rest = exponent
                if rest.first == "-" || rest.first == "+" { rest = rest.dropFirst() }
                return !rest.isEmpty && rest.allSatisfy { $0.isASCII && $0.isNumber }
            } else {
                return false
            }
            index = chars.index(after: index)
        }
        return sawDigit
    }
}

/// A YAML node: a scalar, a sequence or a mapping, with the mark where it starts.
///
/// A node reached through an alias is placed where the alias is (`mark`), and remembers where its value was
/// written (`anchorMark`): a message about it points at the use, and can mention the definition.
public struct YAMLNode: Sendable, Hashable {
    /// One `key: value` entry of a mapping, in source order.
    public struct Pair: Sendable, Hashable {
        /// The key node (always a scalar: bqsync refuses complex keys).
        public var key: YAMLNode
        /// The value node.
        public var value: YAMLNode

        /// Creates a pair.
        public init(key: YAMLNode, value: YAMLNode) {
            self.key = key
            self.value = value
        }
    }

    /// What the node holds.
    public enum Kind: Sendable, Hashable {
        /// A scalar.
        case scalar(Scalar)
        /// A sequence of nodes.
        case sequence([YAMLNode])
        /// A mapping, in source order, keys unique.
        case mapping([Pair])
    }

    /// What the node holds.
    public var kind: Kind {
        get { storage.kind }
        set { storage = Storage(newValue) }
    }
    /// Where the node starts in its source (for a value reached through an alias: where the alias is).
    public var mark: Mark
    /// For a value reached through an alias, where it was written; nil otherwise.
    public var anchorMark: Mark?
    private var storage: Storage

    /// Creates a node.
    public init(_ kind: Kind, mark: Mark, anchorMark: Mark? = nil) {
        self.storage = Storage(kind)
        self.mark = mark
        self.anchorMark = anchorMark
    }

    /// Compares kind, mark and anchor mark.
    public static func == (lhs: YAMLNode, rhs: YAMLNode) -> Bool {
        lhs.mark == rhs.mark && lhs.anchorMark == rhs.anchorMark
            && (lhs.storage === rhs.storage || lhs.kind == rhs.kind)
    }

    /// Hashes kind, mark and anchor mark.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(mark)
        hasher.combine(anchorMark)
        hasher.combine(kind)
    }

    /// This node and everything in it placed at `use` (an alias), each remembering where it was written.
    /// Iterative, so a deep tree cannot overflow the stack.
    public func placed(at use: Mark) -> YAMLNode {
        enum Work {
            case visit(YAMLNode)
            case build(YAMLNode, children: Int)
        }
        var work: [Work] = [.visit(self)]
        var done: [YAMLNode] = []
        while let item = work.popLast() {
            switch item {
            case .visit(let node):
                switch node.kind {
                case .scalar:
                    done.append(YAMLNode(node.kind, mark: use, anchorMark: node.anchorMark ?? node.mark))
                case .sequence(let items):
                    work.append(.build(node, children: items.count))
                    for child in items.reversed() { work.append(.visit(child)) }
                case .mapping(let pairs):
                    work.append(.build(node, children: pairs.count * 2))
                    for pair in pairs.reversed() {
                        work.append(.visit(pair.value))
                        work.append(.visit(pair.key))
                    }
                }
            case .build(let node, let count):
                let children = Array(done.suffix(count))
                done.removeLast(count)
                let kind: Kind
                if case .mapping = node.kind {
                    kind = .mapping(
                        stride(from: 0, to: children.count - 1, by: 2).map {
                            Pair(key: children[$0], value: children[$0 + 1])
                        })
                } else {
                    kind = .sequence(children)
                }
                done.append(YAMLNode(kind, mark: use, anchorMark: node.anchorMark ?? node.mark))
            }
        }
        return done.first ?? self
    }

    /// Holds a node's contents; a class so that dropping a deep tree can be done iteratively in `deinit`
    /// (the compiler-generated release of nested arrays recurses once per level and can overflow the stack).
    private final class Storage: @unchecked Sendable {
        // Set in init and replaced only while this storage is being torn down and no one else holds it
        // (`deinit`, or `detach` on a uniquely referenced storage), so sharing it across threads is safe.
        var kind: Kind

        init(_ kind: Kind) { self.kind = kind }

        deinit {
            var pending: [YAMLNode] = []
            detach(into: &pending)
            while var node = pending.popLast() {
                if isKnownUniquelyReferenced(&node.storage) { node.storage.detach(into: &pending) }
                // `node` is released here with no children left, so its deinit does not recurse.
            }
        }

        /// Moves the children out into `pending`, leaving an empty scalar.
        func detach(into pending: inout [YAMLNode]) {
            switch kind {
            case .scalar:
                return
            case .sequence(let items):
                kind = Self.empty
                pending.append(contentsOf: items)
            case .mapping(let pairs):
                kind = Self.empty
                for pair in pairs {
                    pending.append(pair.key)
                    pending.append(pair.value)
                }
            }
        }

        static let empty = Kind.scalar(Scalar(value: ""))
    }

    /// The scalar, if this node is one.
    public var scalar: Scalar? {
        if case .scalar(let scalar) = kind { return scalar }
        return nil
    }

    /// The items, if this node is a sequence.
    public var sequence: [YAMLNode]? {
        if case .sequence(let items) = kind { return items }
        return nil
    }

    /// The pairs, if this node is a mapping.
    public var mapping: [Pair]? {
        if case .mapping(let pairs) = kind { return pairs }
        return nil
    }

    /// The value for a scalar key, if this node is a mapping holding it.
    public subscript(key: String) -> YAMLNode? {
        mapping?.first { $0.key.scalar?.value == key }?.value
    }

    /// A short name of the node's kind for messages: "a mapping", "a list", "a string", …
    public var kindDescription: String {
        switch kind {
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .scalar(let scalar):
            switch scalar.resolved {
            case .null: return "null"
            case .bool: return "a boolean"
            case .int: return "an integer"
            case .float: return "a number"
            case .string: return "a string"
            }
        }
    }
}
