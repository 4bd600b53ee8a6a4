import BigQuery

/// The JSON Schemas (draft 2020-12) of sync definitions and policies, for editors (`bqsync schema`).
///
/// They are built from the decoders' own constants: the keys of each block (`SyncDecoder.topKeys`, …, the same
/// lists `KeyHomes` is built from), the required keys, the ranges, the words of each choice (`allCases` of the
/// enums the decoder reads) and the naming rules (`Naming`). Only the descriptions are written here. A key the
/// decoder accepts but this file has no schema for is recorded in `gaps` (a test keeps it empty).
///
/// The schemas never refuse what the decoder accepts, and refuse what a schema can say: unknown keys, types,
/// ranges, choices (in any case, as the decoder reads them), name rules, the keys of each source type. What
/// needs another part of the document (a merge key that must be in `target.schema`), another file (the policy
/// a sync names) or a full parser (a query's statements) is left to `bqsync validate`.
public enum JSONSchema {
    /// Which schema.
    public enum Kind: String, Sendable, CaseIterable {
        /// `syncs.d/*.yaml`.
        case sync
        /// `policies/*.yaml`.
        case policy
    }

    /// The schema of one kind of file.
    public static func schema(_ kind: Kind) -> JSONValue { build(kind).schema }

    /// Keys the decoder accepts that have no schema here (empty when the schema is complete).
    public static func gaps(_ kind: Kind) -> [String] { build(kind).gaps }

    static func build(_ kind: Kind) -> (schema: JSONValue, gaps: [String]) {
        var builder = Builder()
        let schema = kind == .sync ? builder.syncSchema() : builder.policySchema()
        return (schema, builder.gaps)
    }

    static let draft = "https://json-schema.org/draft/2020-12/schema"
}

/// Builds one schema, remembering the keys it has no schema for.
private struct Builder {
    typealias Member = JSONValue.Member
    var gaps: [String] = []

    // MARK: sync definitions

    mutating func syncSchema() -> JSONValue {
        let top = block("", SyncDecoder.topKeys, required: SyncDecoder.requiredTopKeys, { $0.syncProperty($1) })
        return document(
            title: "bqsync sync definition (syncs.d/NAME.yaml)",
            description:
                "One sync: where rows come from (source), the table they go to (target), how they merge (merge) and how they are batched (batch). `bqsync validate` checks what a schema cannot: columns named in merge, partitioning and clustering against target.schema, the policy named, the query's statements.",
            top)
    }

    mutating func syncProperty(_ path: String) -> JSONValue? {
        switch path {
        case "version": return version()
        case "name":
            return with(name(), "The sync's name, unique across syncs.d/; the file name when it is not given.")
        case "description": return with(text(allowEmpty: true), "What the sync is for.")
        case "source": return sourceSchema()
        case "target": return targetSchema()
        case "merge":
            return with(
                block(
                    "merge", SyncDecoder.mergeKeys, required: SyncDecoder.requiredMergeKeys, { $0.mergeProperty($1) }),
                "How source rows are matched to target rows and merged.")
        case "batch":
            return with(
                block("batch", SyncDecoder.batchKeys, required: [], { $0.batchProperty($1) }),
                "How rows are batched and which strategy merges them.")
        case "policy":
            return with(
                name(), "The cost policy (policies/NAME.yaml) by its name.",
                default: .string(Policy.builtInDefault.name)
            )
        default: return nil
        }
    }

    mutating func sourceSchema() -> JSONValue {
        let kinds = SourceSpec.Kind.allCases
        let allKeys = ["type"] + SyncDecoder.commonSourceKeys + kinds.flatMap { SyncDecoder.sourceKeys[$0] ?? [] }
        var keys: [String] = []
        for key in allKeys where !keys.contains(key) { keys.append(key) }
        guard case .object(var members) = block("source", keys, required: ["type"], { $0.sourceProperty($1) }) else {
            return .null
        }
        // Each type allows its own keys and requires its own.
        let branches: [JSONValue] = kinds.map { kind in
            let own = ["type"] + SyncDecoder.commonSourceKeys + (SyncDecoder.sourceKeys[kind] ?? [])
            var then: [Member] = [
                Member("properties", .object(own.map { Member($0, .bool(true)) })),
                Member("additionalProperties", false),
                Member("required", .array((SyncDecoder.requiredSourceKeys[kind] ?? []).map { .string($0) })),
            ]
            if kind == .postgres {
                // A table or one SELECT, not both; a URI in url_env or written without a password, not both.
                then.append(
                    Member(
                        "oneOf",
                        .array([.object([Member("required", ["table"])]), .object([Member("required", ["query"])])])))
                then.append(Member("not", .object([Member("required", ["url", "url_env"])])))
            }
            if kind == .gcs {
                // A load job's delimiter is one byte, and delimiter and skip_leading_rows need format CSV.
                then[0] = Member(
                    "properties",
                    .object(
                        own.map { key in
                            Member(key, key == "delimiter" ? Self.stringPattern(Patterns.loadJobDelimiter) : true)
                        }))
                let csv: JSONValue = .object([
                    Member("required", ["format"]),
                    Member(
                        "properties",
                        .object([
                            Member(
                                "format", Self.stringPattern(Patterns.caseInsensitive([SourceSpec.Format.csv.rawValue]))
                            )
                        ])),
                ])
                then.append(
                    Member("dependentSchemas", .object([Member("delimiter", csv), Member("skip_leading_rows", csv)])))
            }
            return .object([
                Member(
                    "if",
                    .object([
                        Member(
                            "properties",
                            .object([Member("type", Self.stringPattern(Patterns.caseInsensitive([kind.rawValue])))])),
                        Member("required", ["type"]),
                    ])),
                Member("then", .object(then)),
            ])
        }
        members.append(Member("allOf", .array(branches)))
        members.insert(
            Member(
                "description",
                "Where rows come from: its type decides the other keys (ndjson and csv: path; query: query; gcs: uris; postgres: table or query)."
            ),
            at: 0)
        return .object(members)
    }

    mutating func sourceProperty(_ path: String) -> JSONValue? {
        let defaults = SourceSpec(kind: .csv)
        switch path {
        case "source.type":
            return with(
                choice(SourceSpec.Kind.allCases.map(\.rawValue)),
                "The kind of source (case-insensitive): ndjson or csv files read locally, a query run inside BigQuery, gcs files loaded by a load job, or a PostgreSQL table or query read through libpq."
            )
        case "source.path":
            return with(
                .object([Member("type", ["string", "number"]), Member("pattern", .string(Patterns.path))]),
                "ndjson, csv: a file or glob, relative to the definition file's directory.")
        case "source.query":
            return with(
                Self.stringPattern(Patterns.query),
                "query: one SELECT (or WITH … SELECT); it becomes the MERGE's USING (…). postgres: the SELECT run in the database instead of a table. A final ';' is allowed, no other."
            )
        case "source.table":
            return with(
                Self.stringPattern(Patterns.postgresTable),
                "postgres: the table, as table or schema.table (a part in double quotes keeps its case).")
        case "source.url_env":
            return with(
                Self.stringPattern(Patterns.environmentName),
                "postgres: the environment variable holding a libpq connection URI (the password belongs there, in PGPASSWORD or in ~/.pgpass). Without it and url, libpq's PG* variables decide."
            )
        case "source.url":
            return with(
                Self.stringPattern(Patterns.passwordlessURI),
                "postgres: a libpq connection URI without a password (credentials never live in YAML).")
        case "source.incremental":
            return with(
                block(
                    "source.incremental", SyncDecoder.incrementalKeys, required: ["cursor"],
                    { $0.incrementalProperty($1) }),
                "Read only the rows whose cursor column is past the sync's watermark (the largest cursor value a successful apply merged)."
            )
        case "source.uris":
            return with(
                .object([
                    Member("type", "array"), Member("minItems", 1),
                    Member("items", Self.stringPattern(Patterns.gcsURI)),
                ]), "gcs: gs://bucket/object URIs, each with at most one '*'.")
        case "source.format":
            return with(
                choice(SourceSpec.Format.allCases.map(\.rawValue)), "gcs: the objects' format (case-insensitive).",
                default: .string(SourceSpec.Format.ndjson.rawValue))
        case "source.delimiter":
            return with(
                .object([
                    Member("type", ["string", "integer"]), Member("pattern", .string(Patterns.delimiter)),
                    Member("minimum", 0), Member("maximum", 9),
                ]),
                "csv, gcs (format CSV only): the field delimiter, one character; not a quote or a line break (for gcs, a single-byte one).",
                default: .string(String(defaults.delimiter)))
        case "source.null_marker":
            return with(
                text(allowEmpty: true), "csv: the unquoted text that means NULL.",
                default: .string(defaults.nullMarker))
        case "source.skip_leading_rows":
            return with(
                integer(SyncDecoder.skipLeadingRowsRange), "gcs (format CSV only): header rows to skip.",
                default: .int(Int64(defaults.skipLeadingRows)))
        case "source.ignore_unknown_fields":
            return with(
                .object([Member("type", "boolean")]),
                "ndjson, csv, gcs: ignore a source field that is not a target column, instead of treating it as an error.",
                default: .bool(defaults.ignoreUnknownFields))
        default: return nil
        }
    }

    mutating func incrementalProperty(_ path: String) -> JSONValue? {
        switch path {
        case "source.incremental.cursor":
            return with(
                Self.stringPattern(Patterns.column),
                "The cursor column: a target column of type "
                    + IncrementalSpec.cursorTypes.map(\.rawValue).joined(separator: ", ")
                    + " that grows as rows change.")
        case "source.incremental.lag":
            return with(
                Self.stringPattern(Patterns.durationOrZero),
                "How far before the watermark each run reads again, for late commits (TIMESTAMP, DATETIME and DATE cursors).",
                default: "0s")
        case "source.incremental.initial":
            return with(
                text(allowEmpty: false),
                "The lower bound of the first run (and of a full refresh), of the cursor's type.")
        default: return nil
        }
    }

    mutating func targetSchema() -> JSONValue {
        guard
            case .object(var members) = block(
                "target", SyncDecoder.targetKeys, required: SyncDecoder.requiredTargetKeys, { $0.targetProperty($1) })
        else { return .null }
        members.insert(Member("description", "The table rows go to, and what bqsync creates it with."), at: 0)
        // create_if_missing: true needs a schema to create the table from.
        members.append(
            Member(
                "if",
                .object([
                    Member("properties", .object([Member("create_if_missing", .object([Member("const", true)]))])),
                    Member("required", ["create_if_missing"]),
                ])))
        members.append(Member("then", .object([Member("required", ["schema"])])))
        return .object(members)
    }

    mutating func targetProperty(_ path: String) -> JSONValue? {
        switch path {
        case "target.table":
            return with(Self.stringPattern(Patterns.tableName), "The table to write: [project.]dataset.table.")
        case "target.create_if_missing":
            return with(
                .object([Member("type", "boolean")]),
                "Create the table from schema (with partitioning and clustering) if it does not exist. Requires schema.",
                default: false)
        case "target.location":
            return with(
                Self.stringPattern(Patterns.location),
                "Where bqsync creates the target's dataset when it is missing: US, EU or a region such as europe-west1. When the dataset exists it must be there."
            )
        case "target.schema":
            let column = block(
                "target.schema[]", SyncDecoder.columnKeys, required: SyncDecoder.requiredColumnKeys,
                { $0.columnProperty($1) })
            return with(
                .object([Member("type", "array"), Member("minItems", 1), Member("items", column)]),
                "The declared columns: checked against the table, and used to create it. Names are unique, compared case-insensitively."
            )
        case "target.partitioning":
            return with(
                block(
                    "target.partitioning", SyncDecoder.partitioningKeys,
                    required: SyncDecoder.requiredPartitioningKeys, { $0.partitioningProperty($1) }),
                "Time partitioning of a table bqsync creates (used only with create_if_missing: true).")
        case "target.clustering":
            return with(
                .object([
                    Member("type", "array"), Member("minItems", 1),
                    Member("maxItems", .int(Int64(SyncDecoder.maxClusteringColumns))), Member("uniqueItems", true),
                    Member("items", column()),
                ]),
                "Up to \(SyncDecoder.maxClusteringColumns) distinct clustering columns of a table bqsync creates (used only with create_if_missing: true)."
            )
        default: return nil
        }
    }

    mutating func columnProperty(_ path: String) -> JSONValue? {
        switch path {
        case "target.schema[].name":
            return with(column(), "The column's name: letters, digits and underscores, starting with a letter or '_'.")
        case "target.schema[].type":
            return with(
                choice(FieldType.allCases.map(\.rawValue), alsoAccepting: ColumnTypeNames.aliases),
                "BigQuery type (case-insensitive; BigQuery's aliases such as INTEGER, FLOAT, BOOLEAN are accepted).")
        case "target.schema[].mode":
            return with(
                choice([FieldMode.nullable.rawValue, FieldMode.required.rawValue]),
                "NULLABLE or REQUIRED (case-insensitive); REPEATED is not supported.",
                default: .string(FieldMode.nullable.rawValue))
        case "target.schema[].description":
            return with(text(allowEmpty: true), "The column's description.")
        default: return nil
        }
    }

    mutating func partitioningProperty(_ path: String) -> JSONValue? {
        switch path {
        case "target.partitioning.field": return with(column(), "A DATE, DATETIME or TIMESTAMP column of schema.")
        case "target.partitioning.type":
            return with(
                choice(PartitioningSpec.Granularity.allCases.map(\.rawValue)),
                "Partition size (case-insensitive); a DATE column cannot use HOUR.",
                default: .string(PartitioningSpec.Granularity.day.rawValue))
        default: return nil
        }
    }

    mutating func mergeProperty(_ path: String) -> JSONValue? {
        switch path {
        case "merge.keys":
            return with(
                .object([
                    Member("type", "array"), Member("minItems", 1), Member("uniqueItems", true),
                    Member("items", column()),
                ]), "The match columns: distinct, not JSON. A NULL key in local data is an error.")
        case "merge.order_by":
            return with(
                column(),
                "Among rows with the same key, the row with the greatest value of this column wins. Not a key, not JSON."
            )
        case "merge.update":
            return with(
                .object([
                    Member(
                        "anyOf",
                        [
                            choice(["all"]),
                            .object([
                                Member("type", "array"), Member("minItems", 1), Member("uniqueItems", true),
                                Member("items", column()),
                            ]),
                        ])
                ]),
                "The columns a matched row updates: all (every non-key column the source carries) or a list; never a key.",
                default: "all")
        case "merge.delete_when":
            return with(column(), "A BOOL column, not a key: a matched row whose value is true is deleted.")
        case "merge.null_keys":
            return with(
                choice(MergeSpec.NullKeys.allCases.map(\.rawValue)),
                "A query or gcs source's rows with a NULL merge key: skip (dropped, counted where profiled) or refuse "
                    + "(the apply stops before the MERGE); case-insensitive.",
                default: .string(MergeSpec.NullKeys.skip.rawValue))
        default: return nil
        }
    }

    mutating func batchProperty(_ path: String) -> JSONValue? {
        switch path {
        case "batch.size":
            return with(
                integer(SyncDecoder.batchSizeRange), "Rows per batch.", default: .int(Int64(BatchSpec.defaults.size)))
        case "batch.strategy":
            return with(
                choice(BatchSpec.Strategy.allCases.map(\.rawValue)),
                "auto (the cheaper, priced with dry runs), inline (one MERGE per batch) or staged (load jobs, then one MERGE); case-insensitive.",
                default: .string(BatchSpec.defaults.strategy.rawValue))
        default: return nil
        }
    }

    // MARK: policies

    mutating func policySchema() -> JSONValue {
        let top = block("", PolicyDecoder.topKeys, required: PolicyDecoder.requiredTopKeys, { $0.policyProperty($1) })
        return document(
            title: "bqsync cost policy (policies/NAME.yaml)",
            description:
                "Budgets, protected tables, cache, retries and the circuit breaker. A key left out keeps its built-in default. `bqsync validate` checks what a schema cannot: max_backoff against initial_backoff, a size's minimum once its unit is applied.",
            top)
    }

    mutating func policyProperty(_ path: String) -> JSONValue? {
        let defaults = Policy.builtInDefault
        let limits = defaults.limits
        switch path {
        case "version": return version()
        case "name": return with(name(), "The name syncs use with policy:; the file name when it is not given.")
        case "pricing":
            return with(block("pricing", PolicyDecoder.pricingKeys, required: [], { $0.policyProperty($1) }), "Prices.")
        case "pricing.usd_per_tib":
            return with(dollars(), "On-demand price per TiB billed, more than 0.", default: .double(limits.usdPerTiB))
        case "session":
            return with(
                block("session", PolicyDecoder.sessionKeys, required: [], { $0.policyProperty($1) }),
                "Limits for one invocation's jobs under this policy.")
        case "session.max_bytes_billed":
            return with(
                bytes(minimum: 1), "Total bytes billed, more than 0 (e.g. 5 GB).",
                default: .string(Self.formatBytes(limits.sessionBytes)))
        case "session.max_queries":
            return with(
                integer(PolicyDecoder.maxQueriesRange), "Query jobs per invocation.",
                default: .int(Int64(limits.sessionQueries)))
        case "session.max_cost_usd":
            return with(
                dollars(), "Dollars per invocation, more than 0 (e.g. 0.03 or $0.03).",
                default: .double(limits.sessionCostUSD))
        case "query":
            return with(
                block("query", PolicyDecoder.queryKeys, required: [], { $0.policyProperty($1) }),
                "Limits for one query.")
        case "query.max_bytes_billed":
            return with(
                bytes(minimum: PolicyDecoder.minimumQueryBytes),
                "Limit for one query, at least 10 MB; also sent as its maximumBytesBilled.",
                default: .string(Self.formatBytes(limits.queryBytes)))
        case "warn_at":
            return with(
                percentage(),
                "Warn once when a session figure passes this share of its limit: N% or a fraction in (0, 1].",
                default: .string("\(Int((limits.warnAt * 100).rounded()))%"))
        case "protected_tables":
            return with(
                .object([Member("type", "array"), Member("items", Self.stringPattern(Patterns.tablePattern))]),
                "Tables bqsync never writes, creates or deletes: [project.]dataset.table, '*' and '?' within one part.",
                default: [])
        case "cache":
            return with(
                .object([Member("type", "boolean")]), "Use BigQuery's result cache and the session's own.",
                default: .bool(defaults.cache))
        case "retry":
            return with(
                block("retry", PolicyDecoder.retryKeys, required: [], { $0.policyProperty($1) }), "Retries of one call."
            )
        case "retry.max_attempts":
            return with(
                integer(PolicyDecoder.maxAttemptsRange), "Attempts per call, the first included.",
                default: .int(Int64(defaults.retry.maxAttempts)))
        case "retry.initial_backoff":
            return with(
                duration(), "The first backoff ceiling (e.g. 1s), not longer than max_backoff.",
                default: .string(Units.formatDuration(defaults.retry.initialBackoff)))
        case "retry.max_backoff":
            return with(
                duration(), "The largest backoff ceiling, not shorter than initial_backoff.",
                default: .string(Units.formatDuration(defaults.retry.maxBackoff)))
        case "retry.deadline":
            return with(
                duration(), "Total time for one call and its retries.",
                default: .string(Units.formatDuration(defaults.retry.deadline)))
        case "circuit_breaker":
            return with(
                block("circuit_breaker", PolicyDecoder.circuitBreakerKeys, required: [], { $0.policyProperty($1) }),
                "The circuit breaker of the endpoint.")
        case "circuit_breaker.failure_threshold":
            return with(
                integer(PolicyDecoder.failureThresholdRange), "Consecutive failures that open the breaker.",
                default: .int(Int64(defaults.circuitBreaker.failureThreshold)))
        case "circuit_breaker.reset_after":
            return with(
                duration(), "Time the breaker stays open before one probe call.",
                default: .string(Units.formatDuration(defaults.circuitBreaker.resetAfter)))
        default: return nil
        }
    }

    // MARK: pieces

    func document(title: String, description: String, _ top: JSONValue) -> JSONValue {
        guard case .object(let members) = top else { return top }
        return .object(
            [
                Member("$schema", .string(JSONSchema.draft)), Member("title", .string(title)),
                Member("description", .string(description)),
            ] + members)
    }

    /// A mapping with exactly these keys (each one's schema from `property`, by its path), some required.
    mutating func block(
        _ path: String, _ keys: [String], required: [String], _ property: (inout Builder, String) -> JSONValue?
    ) -> JSONValue {
        var properties: [Member] = []
        for key in keys {
            let keyPath = path.isEmpty ? key : "\(path).\(key)"
            if let schema = property(&self, keyPath) {
                properties.append(Member(key, schema))
            } else {
                gaps.append(keyPath)
                properties.append(Member(key, true))
            }
        }
        return .object([
            Member("type", "object"), Member("properties", .object(properties)),
            Member("additionalProperties", false), Member("required", .array(required.map { .string($0) })),
        ])
    }

    /// A schema with a description (and a default) added in front.
    func with(_ schema: JSONValue, _ description: String, default value: JSONValue? = nil) -> JSONValue {
        guard case .object(let members) = schema else { return schema }
        var head = [Member("description", .string(description))]
        if let value { head.append(Member("default", value)) }
        return .object(head + members)
    }

    func version() -> JSONValue {
        .object([
            Member("description", "The format's version; this bqsync reads version 1."), Member("type", "integer"),
            Member("const", 1),
        ])
    }

    /// A sync or policy name (the decoder reads a plain number as its text).
    func name() -> JSONValue {
        .object([Member("type", ["string", "integer"]), Member("pattern", .string(Patterns.name))])
    }

    /// Text; the decoder reads plain numbers as their text, and refuses null, booleans and collections.
    func text(allowEmpty: Bool) -> JSONValue {
        var members = [Member("type", ["string", "number"])]
        if !allowEmpty { members.append(Member("minLength", 1)) }
        return .object(members)
    }

    func column() -> JSONValue { Self.stringPattern(Patterns.column) }

    func integer(_ range: ClosedRange<Int>) -> JSONValue {
        .object([
            Member("type", "integer"), Member("minimum", .int(Int64(range.lowerBound))),
            Member("maximum", .int(Int64(range.upperBound))),
        ])
    }

    /// One of a fixed set of words, in any case: the words themselves for completion, any case for validity.
    func choice(_ words: [String], alsoAccepting others: [String] = []) -> JSONValue {
        .object([
            Member(
                "anyOf",
                [
                    .object([Member("enum", .array(words.map { .string($0) }))]),
                    Self.stringPattern(Patterns.caseInsensitive(words + others)),
                ])
        ])
    }

    /// A size: a whole number of bytes, or a number and a unit.
    func bytes(minimum: Int64) -> JSONValue {
        .object([
            Member(
                "anyOf",
                [
                    .object([
                        Member("type", "integer"), Member("minimum", .int(minimum)), Member("maximum", .int(Int64.max)),
                    ]),
                    Self.stringPattern(Patterns.bytes),
                ])
        ])
    }

    /// Dollars, more than 0: a number, or its text with an optional `$`.
    func dollars() -> JSONValue {
        .object([
            Member(
                "anyOf",
                [
                    .object([Member("type", "number"), Member("exclusiveMinimum", 0)]),
                    Self.stringPattern(Patterns.dollars),
                ])
        ])
    }

    /// `N%` or a fraction in (0, 1].
    func percentage() -> JSONValue {
        .object([
            Member(
                "anyOf",
                [
                    .object([Member("type", "number"), Member("exclusiveMinimum", 0), Member("maximum", 1)]),
                    Self.stringPattern(Patterns.percentage),
                ])
        ])
    }

    /// A duration longer than 0: number+unit pairs (a bare number is refused).
    func duration() -> JSONValue { Self.stringPattern(Patterns.duration) }

    static func stringPattern(_ pattern: String) -> JSONValue {
        .object([Member("type", "string"), Member("pattern", .string(pattern))])
    }

    /// 5000000000 → "5 GB" (the largest decimal unit that divides it).
    static func formatBytes(_ bytes: Int64) -> String {
        for (unit, size) in Units.sizeUnits.reversed() where size > 1 && bytes % size == 0 && unit.count == 2 {
            return "\(bytes / size) \(unit)"
        }
        return "\(bytes)"
    }
}

/// BigQuery's aliases of the column types, as the decoder accepts them (`FieldType(bigQueryName:)`): only the
/// names it really accepts are kept, so the schema never allows a name the decoder refuses.
enum ColumnTypeNames {
    static let aliases = [
        "INTEGER", "INT", "SMALLINT", "BIGINT", "TINYINT", "BYTEINT", "FLOAT", "DECIMAL", "BIGDECIMAL",
        "BOOLEAN",
    ].filter { FieldType(bigQueryName: $0) != nil }
}

/// The regular expressions of the schemas (ECMA-262, as JSON Schema's `pattern` is), from the decoders' rules.
enum Patterns {
    /// `^(?:w1|w2)$`, each letter in either case.
    static func caseInsensitive(_ words: [String]) -> String {
        "^(?:" + words.map(anyCase).joined(separator: "|") + ")$"
    }

    static func anyCase(_ word: String) -> String {
        word.map { char -> String in
            let (lower, upper) = (char.lowercased(), char.uppercased())
            if lower != upper { return "[\(lower)\(upper)]" }
            return "*+?()[]{}|.^$\\/".contains(char) ? "\\\(char)" : String(char)
        }.joined()
    }

    /// Sync and policy names (`SyncDecoder.nameProblem`): 1–64 ASCII letters, digits, `_`, `-`, a letter or digit first.
    static let name = "^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
    /// `table` or `schema.table`, each part plain or double-quoted.
    static let postgresTable =
        #"^(?:[A-Za-z_][A-Za-z0-9_$]*|"(?:[^"]|"")+")(?:\.(?:[A-Za-z_][A-Za-z0-9_$]*|"(?:[^"]|"")+"))?$"#
    static let environmentName = "^[A-Za-z_][A-Za-z0-9_]*$"
    /// A postgresql:// URI whose user part holds no password and which has no password= parameter.
    static let passwordlessURI =
        #"^postgres(?:ql)?://(?![^/?@]*:[^/?@]*@)(?!.*[?&][pP][aA][sS][sS][wW][oO][rR][dD]=).*$"#
    /// A duration of number+unit pairs, zero allowed (a lag).
    static let durationOrZero = "^ *(?:(?:[0-9]+\\.?[0-9]*|\\.[0-9]+) *(?:ms|s|m|h) *)+$"
    /// A local path: no control characters or line breaks.
    static let path = "^[^\\u0000-\\u001F\\u007F]+$"
    /// A query's first word is SELECT or WITH (after whitespace, comments or parentheses).
    static let query = "^\\s*(?:" + anyCase("SELECT") + "\\b|" + anyCase("WITH") + "\\b|\\(|--|/\\*|#)"
    /// `gs://bucket/object`: a bucket of 3–222 of [a-z0-9._-], an object with at most one `*`.
    static let gcsURI =
        "^gs://[a-z0-9._-]{3,222}/(?=[^\\u0000-\\u001F\\u007F])[^*\\u0000-\\u001F\\u007F]*(?:\\*[^*\\u0000-\\u001F\\u007F]*)?$"
    /// A CSV delimiter: one character, not a quote, line break or control character (a tab is fine).
    static let delimiter = "^(?:\\t|[^\"\\u0000-\\u001F\\u007F-\\u009F\\u2028\\u2029])$"
    /// A load job's delimiter: one byte of ISO-8859-1, as `delimiter`.
    static let loadJobDelimiter = "^(?:\\t|[\\u0020\\u0021\\u0023-\\u007E\\u00A0-\\u00FF])$"
    /// Column names (`Naming.columnProblem`): not a reserved prefix, a letter or `_` first, at most 300.
    static let column =
        "^(?!" + Naming.reservedColumnPrefixes.map(anyCase).joined(separator: "|")
        + ")[A-Za-z_][A-Za-z0-9_]{0,299}$"
    /// `[project.]dataset.table` (`Naming.projectProblem`, `datasetProblem`, `tableProblem`).
    static let tableName = "^(?:[a-z][a-z0-9-]{4,28}[a-z0-9]\\.)?[A-Za-z0-9_]{1,1024}\\.[A-Za-z0-9_-]{1,1024}$"
    /// `US`, `EU` (any case) or a region such as `europe-west1` (`SyncDecoder.canonicalLocation`).
    static let location =
        "^\\s*(?:" + anyCase("US") + "|" + anyCase("EU") + "|[A-Za-z]+(?:-[A-Za-z0-9]+)?-[A-Za-z0-9]*[0-9])\\s*$"
    /// A protected-table pattern: two or three non-empty parts of printable ASCII, no backtick or backslash.
    static let tablePattern: String = {
        let part = "[\\u0020-\\u002D\\u002F-\\u005B\\u005D-\\u005F\\u0061-\\u007E]+"
        return "^\(part)(?:\\.\(part)){1,2}$"
    }()

    /// A size with a unit (`Units.bytes`), more than 0: the whole part no longer than the largest size allows, and
    /// for the decimal units no more decimals than make a whole byte.
    static let bytes: String = {
        let maximum = Int64.max
        let branches = Units.sizeUnits.map { unit, size -> String in
            let digits = String(maximum / size).count
            let decimals: String
            if size == 1 {
                decimals = "(?:\\.0*)?"
            } else if unit.count == 2 {
                decimals = "(?:\\.[0-9]{0,\(String(size).count - 1)}0*)?"
            } else {
                decimals = "(?:\\.[0-9]*)?"
            }
            let number = "0*[0-9]{0,\(digits)}" + decimals
            return size == 1 ? number + "(?:[ \\t]*" + anyCase(unit) + ")?" : number + "[ \\t]*" + anyCase(unit)
        }
        return "^[ \\t]*(?=[0-9.]*[1-9])(?:" + branches.joined(separator: "|") + ")[ \\t]*$"
    }()
    /// Dollars more than 0 (`Units.dollars`): a decimal with an optional `$`, no exponent.
    static let dollars = "^[ \\t]*\\$?(?=[0-9.]*[1-9])(?:[0-9]+\\.?[0-9]*|\\.[0-9]+)[ \\t]*$"
    /// `N%` with N in (0, 100], or a fraction in (0, 1] (`Units.fraction`).
    static let percentage =
        "^[ \\t]*(?=[0-9.]*[1-9])(?:0*(?:100(?:\\.0*)?|[0-9]{1,2}(?:\\.[0-9]*)?|\\.[0-9]+)[ \\t]*%|0*(?:1(?:\\.0*)?|\\.[0-9]+|0\\.[0-9]*))[ \\t]*$"
    /// One or more number+unit pairs (ms, s, m, h), more than 0 (`Units.duration`).
    static let duration = "^ *(?=.*[1-9])(?:(?:[0-9]+\\.?[0-9]*|\\.[0-9]+) *(?:ms|s|m|h) *)+$"
}
