import Foundation
import HTTP
import Synchronization

/// A request as a test transport saw it, body read in full.
public struct RecordedRequest: Sendable {
    /// GET, POST, …
    public var method: String
    /// The full URL.
    public var url: String
    /// The headers.
    public var headers: [(name: String, value: String)]
    /// The body bytes (file bodies read from disk).
    public var body: [UInt8]

    /// The body as text.
    public var text: String { String(decoding: body, as: UTF8.self) }

    /// The URL's path without the query.
    public var path: String { URLComponents(string: url)?.path ?? url }

    /// A header's value.
    public func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }

    /// The body parsed as a JSON object.
    public var json: [String: Any]? {
        (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any]
    }

    init(_ request: HTTPRequest) {
        method = request.method
        url = request.url
        headers = request.headers
        switch request.body {
        case .none: body = []
        case .bytes(let bytes): body = bytes
        case .file(let path, let prefix, let suffix):
            body = prefix + ((try? Data(contentsOf: URL(fileURLWithPath: path))).map(Array.init) ?? []) + suffix
        case .fileRange(let path, let offset, let length):
            let data = (try? Data(contentsOf: URL(fileURLWithPath: path))).map(Array.init) ?? []
            body = Array(data[min(offset, data.count)..<min(offset + length, data.count)])
        }
    }
}

/// A transport that answers every request with a closure and records what was sent.
public final class ScriptedTransport: HTTPTransport {
    /// Answers a request; the second argument counts requests from 0.
    public typealias Handler = @Sendable (RecordedRequest, Int) async throws(HTTPError) -> HTTPResponse

    private let handler: Handler
    private let log = Mutex<[RecordedRequest]>([])

    /// Creates a transport with a handler.
    public init(_ handler: @escaping Handler) {
        self.handler = handler
    }

    /// Every request so far.
    public var requests: [RecordedRequest] { log.withLock { $0 } }

    public func send(_ request: HTTPRequest) async throws(HTTPError) -> HTTPResponse {
        let recorded = RecordedRequest(request)
        let index = log.withLock { log -> Int in
            log.append(recorded)
            return log.count - 1
        }
        return try await handler(recorded, index)
    }
}

extension HTTPResponse {
    /// A JSON response.
    public static func json(_ status: Int, _ object: Any) -> HTTPResponse {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
        return HTTPResponse(status: status, headers: [("Content-Type", "application/json")], body: Array(data))
    }

    /// BigQuery's error body: `{"error": {"code", "message", "errors": [{"reason", "message"}], "status"}}`.
    public static func bigQueryError(_ status: Int, reason: String, message: String = "error") -> HTTPResponse {
        json(
            status,
            [
                "error": [
                    "code": status, "message": message, "status": reason.uppercased(),
                    "errors": [["reason": reason, "message": message, "domain": "global"]],
                ]
            ])
    }
}
