import YAML

/// `source:`: its type, the keys that type allows, and one reader per type.
extension SyncDecoder {
    func decodeSource(_ node: YAMLNode) -> SourceSpec? {
        guard let kind = sourceKind(node), let fields = sourceFields(node, kind: kind) else { return nil }
        var source: SourceSpec
        switch kind {
        case .ndjson:
            source = SourceSpec(
                kind: kind, path: sourcePath(fields), ignoreUnknownFields: ignoreUnknownFields(fields),
                baseDirectory: baseDirectory)
        case .csv: source = csvSource(fields)
        case .query: source = querySource(fields)
        case .gcs: source = gcsSource(fields)
        case .postgres: source = postgresSource(fields, node: node)
        }
        source.incremental = fields["incremental"].flatMap(decodeIncremental)
        return source
    }

    /// `source.type`, which decides the keys the rest of the block may have.
    private func sourceKind(_ node: YAMLNode) -> SourceSpec.Kind? {
        guard node.mapping != nil else {
            _ = reader.mapping(node, path: "source", allowed: [])
            return nil
        }
        guard let typeNode = node["type"] else {
            reader.error(
                "missing required key 'type' in 'source' (one of \(SourceSpec.Kind.allCases.map(\.rawValue).joined(separator: ", ")))",
                at: node)
            return nil
        }
        return reader.choice(typeNode, path: "source.type", as: SourceSpec.Kind.self)
    }

    /// The block's keys, checked against the type's: a key of another type says which type it is for.
    private func sourceFields(_ node: YAMLNode, kind: SourceSpec.Kind) -> [String: YAMLNode]? {
        let own = (Self.sourceKeys[kind] ?? []) + Self.commonSourceKeys
        var elsewhere: [String: String] = [:]
        for (other, keys) in Self.sourceKeys where other != kind {
            for key in keys where !own.contains(key) {
                let owners = Self.sourceKeys.filter { $0.value.contains(key) }.map(\.key.rawValue).sorted()
                elsewhere[key] =
                    "it is for source type \(owners.joined(separator: " or ")), and this source is type '\(kind.rawValue)'"
            }
        }
        return reader.mapping(
            node, path: "source", allowed: own + ["type"], required: Self.requiredSourceKeys[kind] ?? [],
            elsewhere: elsewhere)
    }

    private func csvSource(_ fields: [String: YAMLNode]) -> SourceSpec {
        let nullMarker = fields["null_marker"].flatMap {
            reader.string($0, path: "source.null_marker", allowEmpty: true)
        }
        return SourceSpec(
            kind: .csv, path: sourcePath(fields), delimiter: delimiter(fields, forLoadJob: false, format: nil) ?? ",",
            nullMarker: nullMarker ?? "", ignoreUnknownFields: ignoreUnknownFields(fields),
            baseDirectory: baseDirectory)
    }

    private func querySource(_ fields: [String: YAMLNode]) -> SourceSpec {
        var query: String?
        if let node = fields["query"], let text = reader.string(node, path: "source.query") {
            if let problem = Self.queryProblem(text) { reader.error("'source.query': \(problem)", at: node) }
            query = text
        }
        return SourceSpec(kind: .query, query: query, baseDirectory: baseDirectory)
    }

    private func gcsSource(_ fields: [String: YAMLNode]) -> SourceSpec {
        var uris: [String] = []
        if let node = fields["uris"], let items = reader.stringList(node, path: "source.uris") {
            for (uri, mark) in items {
                if let problem = Self.gcsURIProblem(uri) { reader.error("'source.uris': \(problem)", at: mark) }
            }
            uris = items.map(\.0)
        }
        // A format that is not one of the choices has its own error, and is nil here.
        let format =
            fields["format"].map {
                reader.choice($0, path: "source.format", as: SourceSpec.Format.self)
            } ?? .ndjson
        let delimiter = delimiter(fields, forLoadJob: true, format: format)
        var skipLeadingRows = 0
        if let node = fields["skip_leading_rows"],
            let rows = reader.int(node, path: "source.skip_leading_rows", range: Self.skipLeadingRowsRange)
        {
            if format != .csv { reader.error("'source.skip_leading_rows' applies only to format CSV", at: node) }
            skipLeadingRows = rows
        }
        return SourceSpec(
            kind: .gcs, uris: uris, format: format, delimiter: delimiter ?? ",", skipLeadingRows: skipLeadingRows,
            ignoreUnknownFields: ignoreUnknownFields(fields), baseDirectory: baseDirectory)
    }

    /// `source.path` of a local source.
    private func sourcePath(_ fields: [String: YAMLNode]) -> String? {
        guard let node = fields["path"], let path = reader.string(node, path: "source.path") else { return nil }
        if path.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) {
            reader.error("'source.path' holds a control character or line break (got \(quote(path)))", at: node)
        }
        return path
    }

    /// `source.delimiter`: a local CSV file's, or a load job's (gcs), whose format must be CSV.
    private func delimiter(_ fields: [String: YAMLNode], forLoadJob: Bool, format: SourceSpec.Format?) -> Character? {
        guard let node = fields["delimiter"], let text = reader.string(node, path: "source.delimiter") else {
            return nil
        }
        var delimiter: Character?
        if let problem = Self.delimiterProblem(text, forLoadJob: forLoadJob) {
            reader.error("'source.delimiter' \(problem) (got \(quote(text)))", at: node)
        } else {
            delimiter = text.first
        }
        if forLoadJob, format != .csv { reader.error("'source.delimiter' applies only to format CSV", at: node) }
        return delimiter
    }

    func ignoreUnknownFields(_ fields: [String: YAMLNode]) -> Bool {
        fields["ignore_unknown_fields"].flatMap { reader.bool($0, path: "source.ignore_unknown_fields") } ?? false
    }

    /// A CSV delimiter is exactly one character (one Unicode scalar: "\r\n" is one Swift `Character` but two
    /// characters in a file) and not one that CSV itself uses; a load job (gcs) needs a single-byte one.
    static func delimiterProblem(_ text: String, forLoadJob: Bool) -> String? {
        let scalars = Array(text.unicodeScalars)
        guard scalars.count == 1, let scalar = scalars.first else { return "must be exactly one character" }
        switch scalar {
        case "\"": return "cannot be the quote character"
        case "\n", "\r", "\u{85}", "\u{2028}", "\u{2029}": return "cannot be a line break"
        case "\t": return nil
        default: break
        }
        if scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) { return "cannot be a control character" }
        if forLoadJob && scalar.value > 0xFF {
            return "must be a single-byte (ISO-8859-1) character for a BigQuery load job"
        }
        return nil
    }

    /// `gs://bucket/object`, bucket 3–222 of [a-z0-9._-], at most one `*` in the object name.
    static func gcsURIProblem(_ uri: String) -> String? {
        guard uri.hasPrefix("gs://") else { return "\(quote(uri)) is not a gs:// URI" }
        let rest = uri.dropFirst(5)
        guard let slash = rest.firstIndex(of: "/") else { return "\(quote(uri)) names a bucket but no object" }
        let bucket = rest[..<slash]
        let object = rest[rest.index(after: slash)...]
        guard (3...222).contains(bucket.count),
            bucket.unicodeScalars.allSatisfy({
                ("a"..."z").contains($0) || ("0"..."9").contains($0) || "._-".unicodeScalars.contains($0)
            })
        else {
            return "\(quote(String(bucket))) is not a valid bucket name"
        }
        guard !object.isEmpty else { return "\(quote(uri)) names no object" }
        guard object.filter({ $0 == "*" }).count <= 1 else {
            return "\(quote(uri)) has more than one '*' (BigQuery allows one)"
        }
        if object.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) {
            return "\(quote(uri)) holds control characters"
        }
        return nil
    }
}
