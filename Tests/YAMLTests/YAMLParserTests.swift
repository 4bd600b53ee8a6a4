import Testing

@testable import YAML

@Suite("YAMLParser")
struct YAMLParserTests {
    let parser = YAMLParser()

    func parse(_ text: String) throws -> YAMLNode {
        try #require(try parser.parse(text))
    }

    func error(_ text: String, parser: YAMLParser = YAMLParser()) -> YAMLError? {
        error(Array(text.utf8), parser: parser)
    }

    func error(_ bytes: [UInt8], parser: YAMLParser = YAMLParser()) -> YAMLError? {
        do {
            _ = try parser.parse(bytes)
            return nil
        } catch {
            return error
        }
    }

    @Test("mappings, sequences and scalars carry 1-based marks")
    func marks() throws {
        let root = try parse("a: 1\nb:\n  - x\n  - {c: d}\n")
        #expect(root.mark == Mark(line: 1, column: 1))
        let pairs = try #require(root.mapping)
        #expect(pairs.map { $0.key.scalar?.value } == ["a", "b"])
        #expect(pairs[0].value.mark == Mark(line: 1, column: 4))
        let items = try #require(root["b"]?.sequence)
        #expect(items[0].mark == Mark(line: 3, column: 5))
        #expect(items[1].mark == Mark(line: 4, column: 5))
        #expect(items[1]["c"]?.mark == Mark(line: 4, column: 9))
    }

    @Test("columns count characters, not bytes")
    func unicodeColumns() throws {
        let root = try parse("é: ü\n日本: x\n")
        #expect(root["é"]?.mark == Mark(line: 1, column: 4))
        #expect(root["日本"]?.mark == Mark(line: 2, column: 5))
    }

    @Test("scalar styles and core-schema resolution")
    func resolution() throws {
        let root = try parse(
            """
            a: 12
            b: "12"
            c: 0x1F
            d: 1.5
            e: true
            f: ~
            g: hello
            h: 'yes'
            i: |
              text
            j: -7
            k: 1e3
            l: .inf
            """)
        #expect(root["a"]?.scalar?.resolved == .int(12))
        #expect(root["b"]?.scalar?.resolved == .string("12"))
        #expect(root["b"]?.scalar?.style == .doubleQuoted)
        #expect(root["c"]?.scalar?.resolved == .int(31))
        #expect(root["d"]?.scalar?.resolved == .float(1.5))
        #expect(root["e"]?.scalar?.resolved == .bool(true))
        #expect(root["f"]?.scalar?.resolved == .null)
        #expect(root["g"]?.scalar?.resolved == .string("hello"))
        #expect(root["h"]?.scalar?.style == .singleQuoted)
        #expect(root["i"]?.scalar?.style == .literal)
        #expect(root["i"]?.scalar?.value == "text\n")
        #expect(root["j"]?.scalar?.resolved == .int(-7))
        #expect(root["k"]?.scalar?.resolved == .float(1000))
        #expect(root["l"]?.scalar?.resolved == .float(.infinity))
    }

    @Test("core tags are honoured, quoted or not")
    func coreTags() throws {
        let root = try parse(
            "a: !!str 12\nb: !!int \"12\"\nc: !!float '2'\nd: !!bool \"false\"\ne: !!null ''\nf: ! 12\n")
        #expect(root["a"]?.scalar?.resolved == .string("12"))
        #expect(root["b"]?.scalar?.resolved == .int(12))
        #expect(root["c"]?.scalar?.resolved == .float(2))
        #expect(root["d"]?.scalar?.resolved == .bool(false))
        #expect(root["e"]?.scalar?.resolved == .null)
        #expect(root["f"]?.scalar?.resolved == .string("12"))
        _ = try parse("s: !!seq [1]\nm: !!map {a: 1}\n")
    }

    @Test(
        "unknown tags and values that do not fit their tag are errors",
        arguments: [
            (
                "a: !secret x\n", "1:4",
                "unknown tag '!secret' (bqsync reads only the core tags !!str, !!int, !!float, !!bool, !!null, !!seq and !!map)"
            ),
            (
                "a: !!binary aGk=\n", "1:4",
                "unknown tag '!!binary' (bqsync reads only the core tags !!str, !!int, !!float, !!bool, !!null, !!seq and !!map)"
            ),
            ("a: !!int 1.5\n", "1:4", "'1.5' is not a valid !!int value"),
            ("a: !!bool yes\n", "1:4", "'yes' is not a valid !!bool value"),
            ("a: !!null x\n", "1:4", "'x' is not a valid !!null value"),
            ("a: !!map x\n", "1:4", "tag !!map is for a collection, not a single value"),
            ("a: !!map [1]\n", "1:4", "tag !!map does not fit a list"),
            ("a: !!str {b: 1}\n", "1:4", "tag !!str does not fit a mapping"),
            (
                "a: !!set {b: 1}\n", "1:4",
                "unknown tag '!!set' (bqsync reads only the core tags !!str, !!int, !!float, !!bool, !!null, !!seq and !!map)"
            ),
        ])
    func badTags(_ text: String, _ mark: String, _ message: String) {
        let failure = error(text)
        #expect(failure?.mark.description == mark)
        #expect(failure?.message == message)
    }

    @Test("duplicate keys are refused with both places")
    func duplicateKeys() {
        let failure = error("a: 1\nb: 2\na: 3\n")
        #expect(failure?.message == "duplicate key 'a' (first defined at 1:1)")
        #expect(failure?.mark == Mark(line: 3, column: 1))
    }

    @Test("complex keys are refused")
    func complexKeys() {
        #expect(error("? {a: 1}\n: x\n")?.message == "a mapping key must be a plain value, not a mapping")
    }

    @Test("one document per file")
    func documents() throws {
        let failure = error("a: 1\n---\nb: 2\n")
        #expect(failure?.message == "more than one document in the file; bqsync reads one document per file")
        #expect(failure?.mark == Mark(line: 2, column: 1))
        #expect(try parser.parse("") == nil)
        #expect(try parser.parse("# only a comment\n") == nil)
        _ = try parse("---\na: 1\n...\n")
    }

    @Test("libyaml's own problem text and mark")
    func libyamlErrors() {
        let failure = error("a: [1, 2\nb: 3\n")
        #expect(failure?.message.hasPrefix("did not find expected ',' or ']'") == true)
        let tabs = error("a:\n\t- x\n")
        #expect(tabs?.mark.line == 2)
    }

    @Test("a tab where indentation is read says to indent with spaces, keeping libyaml's words")
    func tabs() {
        let advice = "indent with spaces, not tabs"
        #expect(
            error("a:\n\t- x\n")?.message == "found character that cannot start any token — \(advice)")
        #expect(
            error("a:\n  b: c\n\td: e\n")?.message == "found a tab character that violates indentation — \(advice)")
        #expect(
            error("a: |\n\tx\n")?.message
                == "found a tab character where an indentation space is expected — \(advice)")
        // After a multi-byte character the column still finds the tab.
        let failure = error("é:\n\t- x\n")
        #expect(failure?.mark == Mark(line: 2, column: 1))
        #expect(failure?.message.hasSuffix(advice) == true)
        // A character that is not a tab gets libyaml's words only.
        #expect(
            error("a: `x`\n")?.message
                == "found character that cannot start any token (while scanning for the next token at 1:4)")
    }

    @Test(
        "an indentation error says to compare the line with the one above",
        arguments: [
            ("a:\n  b: 1\n    c: 2\n", "mapping values are not allowed in this context"),
            ("a:\n  b: 1\n c: 2\n", "did not find expected key (while parsing a block mapping at 1:1)"),
            ("a:\n  - x\n  b: 1\n", "did not find expected '-' indicator (while parsing a block collection at 2:3)"),
        ])
    func indentation(_ text: String, _ problem: String) {
        #expect(error(text)?.message == "\(problem) — check the indentation of this line against the one above")
    }

    @Test("a second 'key: value' on one line says to quote text or to nest on a new line")
    func sameLine() {
        let advice = "to write text with ': ' in it, quote it; to nest a mapping, start it on a new line, indented"
        for text in ["source: type: ndjson\n", "a: 1\ndescription: note: x\n", "- a: b: c\n"] {
            #expect(error(text)?.message == "mapping values are not allowed in this context — \(advice)", "\(text)")
        }
    }

    @Test("an end-of-stream mark in a file without a final newline is moved onto the last line")
    func clampsEndMark() {
        let failure = error("a: [1, 2")
        #expect(failure?.mark == Mark(line: 1, column: 9))
        let withNewline = error("a: [1, 2\n")
        #expect(withNewline?.mark == Mark(line: 1, column: 9))
    }

    @Test(
        "reader errors point at the offending byte and name it",
        arguments: [
            ([0x61, 0x3A, 0x20, 0x62, 0xFF, 0x0A] as [UInt8], "1:5", "invalid leading UTF-8 octet (byte 0xFF)"),
            (
                [0x61, 0x3A, 0x0A, 0x62, 0x3A, 0x20, 0xC3, 0x41, 0x0A], "2:5",
                "invalid trailing UTF-8 octet (byte 0x41)"
            ),
            ([0x61, 0x3A, 0x20, 0x01, 0x0A], "1:4", "control characters are not allowed (U+0001)"),
            ([0x61, 0x3A, 0x20, 0x62, 0xE2, 0x82], "1:5", "incomplete UTF-8 octet sequence"),
            // A byte-order mark is not a column; CR LF and CR are one line break each.
            ([0xEF, 0xBB, 0xBF, 0x61, 0x3A, 0x20, 0x07], "1:4", "control characters are not allowed (U+0007)"),
            ([0x61, 0x0D, 0x0A, 0x62, 0x0D, 0x63, 0x3A, 0x20, 0xFE], "3:4", "invalid leading UTF-8 octet (byte 0xFE)"),
            // NEL, LS and PS end lines for libyaml too.
            (Array("a: \"x\u{2028}y\"\nb: \u{7}".utf8), "3:4", "control characters are not allowed (U+0007)"),
        ])
    func readerErrors(_ bytes: [UInt8], _ mark: String, _ message: String) {
        let failure = error(bytes)
        #expect(failure?.mark.description == mark)
        #expect(failure?.message == message)
    }

    @Test("UTF-16 with a byte-order mark is read, and its reader errors are placed")
    func utf16() throws {
        let text = "a: 1\nb: x"
        var bytes: [UInt8] = [0xFF, 0xFE]
        for unit in text.utf16 { bytes += [UInt8(unit & 0xFF), UInt8(unit >> 8)] }
        let root = try #require(try parser.parse(bytes))
        #expect(root["b"]?.mark == Mark(line: 2, column: 4))
        bytes += [0x07, 0x00]
        let failure = error(bytes)
        #expect(failure?.message == "control characters are not allowed (U+0007)")
        #expect(failure?.mark == Mark(line: 2, column: 5))
    }

    @Test("a value reached through an alias is placed at the alias and remembers its anchor")
    func aliasMarks() throws {
        let root = try parse("base: &b {size: 10, list: [1, 2]}\nuse: *b\nscalar: &s hi\nagain: *s\n")
        let use = try #require(root["use"])
        #expect(use.mark == Mark(line: 2, column: 6))
        // An anchored node starts at its anchor.
        #expect(use.anchorMark == Mark(line: 1, column: 7))
        #expect(use["size"]?.mark == Mark(line: 2, column: 6))
        #expect(use["size"]?.anchorMark == Mark(line: 1, column: 17))
        #expect(use["list"]?.sequence?.first?.mark == Mark(line: 2, column: 6))
        #expect(root["base"]?.anchorMark == nil)
        #expect(root["again"]?.mark == Mark(line: 4, column: 8))
        #expect(root["again"]?.anchorMark == Mark(line: 3, column: 9))
        #expect(root["again"]?.scalar?.value == "hi")
    }

    @Test("undefined aliases are refused")
    func undefinedAlias() {
        #expect(error("a: *nope\n")?.message == "alias '*nope' refers to no anchor defined before it")
    }

    @Test("alias bombs stop at the node bound, at the alias that crosses it")
    func aliasBomb() {
        var text = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
        for (name, previous) in zip(["b", "c", "d", "e", "f", "g"], ["a", "b", "c", "d", "e", "f"]) {
            text += "\(name): &\(name) [" + Array(repeating: "*\(previous)", count: 10).joined(separator: ", ") + "]\n"
        }
        let failure = error(text, parser: YAMLParser(maxNodes: 10_000))
        #expect(failure?.message == "document expands to more than 10000 nodes (aliases repeat what they name)")
        // a: 11 nodes, b: 111, c: 1,111; in d the 8th '*c' passes 10,000.
        #expect(failure?.mark == Mark(line: 4, column: 36))
    }

    @Test("nesting is bounded")
    func depth() {
        let failure = error(
            String(repeating: "[", count: 20) + String(repeating: "]", count: 20), parser: YAMLParser(maxDepth: 10))
        #expect(failure?.message == "nesting deeper than 10 levels")
        #expect(failure?.mark == Mark(line: 1, column: 11))
    }

    @Test("a very deep tree is dropped without exhausting the stack")
    func deepTreeTeardown() throws {
        // Built by hand: libyaml itself slows down quadratically with flow nesting, so the parser is only
        // asked for a moderately deep document below.
        var node = YAMLNode(.sequence([]), mark: Mark(line: 1, column: 1))
        for _ in 0..<300_000 { node = YAMLNode(.sequence([node]), mark: Mark(line: 1, column: 1)) }
        var other = YAMLNode(.mapping([]), mark: Mark(line: 1, column: 1))
        for _ in 0..<300_000 {
            let key = YAMLNode(.scalar(Scalar(value: "k")), mark: Mark(line: 1, column: 1))
            other = YAMLNode(.mapping([YAMLNode.Pair(key: key, value: other)]), mark: Mark(line: 1, column: 1))
        }
        let copy = node
        node = YAMLNode(.scalar(Scalar(value: "")), mark: Mark(line: 1, column: 1))
        // Checked outside #expect, which would describe (walk) the whole tree for its message.
        let counts = (copy.sequence?.count, other.mapping?.count)
        #expect(counts.0 == 1 && counts.1 == 1)
    }

    @Test("a deep document with raised bounds parses, aliases copy, and everything is dropped")
    func deepDocument() throws {
        let depth = 3_000
        let nested = String(repeating: "[", count: depth) + String(repeating: "]", count: depth)
        let parser = YAMLParser(maxDepth: depth + 10, maxNodes: 4 * depth)
        var root = try parser.parse("a: &a \(nested)\nb: *a\n")
        let marks = (root?["b"]?.anchorMark, root?["b"]?.mark)
        #expect(marks.0 == Mark(line: 1, column: 4))
        #expect(marks.1 == Mark(line: 2, column: 4))
        root = nil
        let dropped = root == nil
        #expect(dropped)
    }

    @Test("nodes compare by content and place")
    func equality() throws {
        #expect(try parse("a: [1, 2]") == parse("a: [1, 2]"))
        #expect(try parse("a: [1, 2]") != parse("a: [1, 3]"))
        #expect(try parse("a: [1, 2]") != parse("a:  [1, 2]"))
        var set = Set<YAMLNode>()
        set.insert(try parse("x: 1"))
        set.insert(try parse("x: 1"))
        #expect(set.count == 1)
    }
}
