/// Which block of a file each key lives in, so that a known key written in the wrong place can say where it
/// belongs (`unknown key 'schema': it belongs under 'target'`). Built from the decoders' own lists of allowed
/// keys, so it cannot drift from what they accept.
struct KeyHomes: Sendable {
    /// A block: its path as `NodeReader.mapping` is given it (`""` for the top level, `[]` for any list item),
    /// its keys, and how a message names it.
    struct Block: Sendable {
        var path: String
        var keys: [String]
        var label: String

        init(_ path: String, _ keys: [String], label: String? = nil) {
            self.path = path
            self.keys = keys
            self.label = label ?? "'\(path)'"
        }
    }

    var blocks: [Block]

    init(_ blocks: [Block]) { self.blocks = blocks }

    /// ": it belongs under 'target'" for a key that another block has, nil for one no block has.
    func hint(for key: String, at path: String) -> String? {
        let here = Self.generic(path)
        let homes = blocks.filter { $0.path != here && $0.keys.contains(key) }
        guard !homes.isEmpty else { return nil }
        var places: [String] = []
        if homes.contains(where: { $0.path.isEmpty }) { places.append("at the top level") }
        let under = homes.filter { !$0.path.isEmpty }.map(\.label)
        if !under.isEmpty { places.append("under " + Self.list(under)) }
        return ": it belongs " + places.joined(separator: " or ")
    }

    /// `target.schema[3]` → `target.schema[]`.
    static func generic(_ path: String) -> String {
        var out = ""
        var inBrackets = false
        for char in path {
            if char == "[" {
                inBrackets = true
                out.append("[]")
            } else if char == "]" {
                inBrackets = false
            } else if !inBrackets {
                out.append(char)
            }
        }
        return out
    }

    /// "'a'", "'a' or 'b'", "'a', 'b' or 'c'".
    private static func list(_ items: [String]) -> String {
        guard let last = items.last, items.count > 1 else { return items.first ?? "" }
        return items.dropLast().joined(separator: ", ") + " or " + last
    }
}
