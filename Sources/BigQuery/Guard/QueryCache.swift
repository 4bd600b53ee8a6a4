import Crypto

/// The session's own result cache: an identical read-only query with identical parameters is answered from
/// the first result, without a second job.
public actor QueryCache {
    private var entries: [String: QueryResult] = [:]
    /// How many answers came from the cache.
    public private(set) var hits = 0

    /// Creates an empty cache.
    public init() {}

    /// The cache key of a query: SHA-256 of the project, location, SQL and encoded parameters.
    public static func key(project: String, location: String?, sql: String, parameters: [QueryParameter]) -> String {
        var json = JSONWriter()
        json.array([project, location ?? "", sql]) { $0.string($1) }
        json.array(parameters) { json, parameter in parameter.write(to: &json) }
        return SHA256.hash(data: json.bytes).map { String(format2: $0) }.joined()
    }

    /// The cached result, if any.
    public func lookup(_ key: String) -> QueryResult? {
        guard let result = entries[key] else { return nil }
        hits += 1
        return result
    }

    /// Stores a result.
    public func store(_ key: String, _ result: QueryResult) {
        entries[key] = result
    }
}

extension String {
    /// Two lowercase hex digits.
    init(format2 byte: UInt8) {
        let hex = String(byte, radix: 16)
        self = byte < 16 ? "0" + hex : hex
    }
}
