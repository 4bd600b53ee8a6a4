import Testing

@testable import SyncKit

/// The schemas of `bqsync schema` are built from the decoders' own constants: every key the decoders accept has a
/// schema and a description, and the choices and ranges are the decoders'.
@Suite("JSON Schema generation")
struct JSONSchemaTests {
    @Test("every key the decoders accept has a schema", arguments: JSONSchema.Kind.allCases)
    func complete(_ kind: JSONSchema.Kind) {
        #expect(JSONSchema.gaps(kind).isEmpty)
    }

    /// The schema of a block by its `KeyHomes` path (`target.schema[]` is the items of `target.schema`).
    static func block(_ path: String, in root: JSONValue) -> JSONValue? {
        guard !path.isEmpty else { return root }
        var node: JSONValue? = root
        for part in path.split(separator: ".") {
            let name = part.hasSuffix("[]") ? String(part.dropLast(2)) : String(part)
            node = node?["properties"]?[name]
            if part.hasSuffix("[]") { node = node?["items"] }
        }
        return node
    }

    @Test(
        "each block has exactly the decoder's keys, each described, and no others", arguments: JSONSchema.Kind.allCases)
    func blocks(_ kind: JSONSchema.Kind) throws {
        let schema = JSONSchema.schema(kind)
        let homes = kind == .sync ? SyncDecoder.homes : PolicyDecoder.homes
        for block in homes.blocks {
            let node = try #require(Self.block(block.path, in: schema), "no schema for block '\(block.path)'")
            guard case .object(let properties)? = node["properties"] else {
                Issue.record("block '\(block.path)' has no properties")
                continue
            }
            #expect(Set(properties.map(\.key)) == Set(block.keys), "block '\(block.path)'")
            #expect(node["additionalProperties"] == .bool(false), "block '\(block.path)'")
            for property in properties {
                if case .string(let text)? = property.value["description"] {
                    #expect(!text.isEmpty)
                } else {
                    Issue.record("'\(block.path).\(property.key)' has no description")
                }
            }
        }
    }

    @Test("choices, ranges and defaults are the decoder's")
    func constants() throws {
        let sync = JSONSchema.schema(.sync)
        let strategy = try #require(Self.block("batch", in: sync)?["properties"]?["strategy"])
        #expect(strategy["default"] == .string(BatchSpec.defaults.strategy.rawValue))
        #expect(
            strategy["anyOf"]
                == .array([
                    .object([.init("enum", .array(BatchSpec.Strategy.allCases.map { .string($0.rawValue) }))]),
                    .object([
                        .init("type", "string"),
                        .init("pattern", "^(?:[aA][uU][tT][oO]|[iI][nN][lL][iI][nN][eE]|[sS][tT][aA][gG][eE][dD])$"),
                    ]),
                ]))
        let size = try #require(Self.block("batch", in: sync)?["properties"]?["size"])
        #expect(size["maximum"] == .int(Int64(SyncDecoder.batchSizeRange.upperBound)))
        #expect(size["default"] == .int(Int64(BatchSpec.defaults.size)))
        #expect(sync["required"] == .array(SyncDecoder.requiredTopKeys.map { .string($0) }))
        let policy = JSONSchema.schema(.policy)
        let deadline = try #require(Self.block("retry", in: policy)?["properties"]?["deadline"])
        #expect(deadline["default"] == "10m")
        let bytes = try #require(Self.block("session", in: policy)?["properties"]?["max_bytes_billed"])
        #expect(bytes["default"] == "5 GB")
        // Every alias the schema allows is one the decoder reads.
        #expect(ColumnTypeNames.aliases.count == 10)
    }

    @Test("rendering is deterministic JSON")
    func rendering() {
        let value: JSONValue = .object([
            .init("a", "x\"\n\u{1}"), .init("b", [1, true, .null]), .init("c", .double(0.03)),
        ])
        #expect(value.rendered() == "{\n  \"a\": \"x\\\"\\n\\u0001\",\n  \"b\": [1, true, null],\n  \"c\": 0.03\n}\n")
        #expect(JSONSchema.schema(.sync).rendered() == JSONSchema.schema(.sync).rendered())
    }
}
