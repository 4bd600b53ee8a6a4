/// An HTTP request as bqsync sends it.
public struct HTTPRequest: Sendable {
    /// What a request sends as its body.
    public enum Body: Sendable {
        /// No body.
        case none
        /// Bytes held in memory.
        case bytes([UInt8])
        /// A file streamed from disk, optionally wrapped in a prefix and suffix held in memory (a multipart
        /// upload's JSON part and closing boundary), so large uploads never sit in memory whole.
        case file(path: String, prefix: [UInt8], suffix: [UInt8])
        /// `length` bytes of a file from `offset` (one chunk of a resumable upload).
        case fileRange(path: String, offset: Int, length: Int)

        /// The body's length in bytes, if known without reading a file.
        public var inMemoryCount: Int? {
            switch self {
            case .none: return 0
            case .bytes(let bytes): return bytes.count
            case .file, .fileRange: return nil
            }
        }
    }

    /// GET, POST, PUT, PATCH, DELETE.
    public var method: String
    /// The full URL.
    public var url: String
    /// Header fields in order; names as given.
    public var headers: [(name: String, value: String)]
    /// The body.
    public var body: Body
    /// Seconds allowed for the whole exchange; nil for the transport's default.
    public var timeout: Double?

    /// Creates a request.
    public init(
        method: String, url: String, headers: [(name: String, value: String)] = [], body: Body = .none,
        timeout: Double? = nil
    ) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.timeout = timeout
    }

    /// The value of the first header with this name, case-insensitively.
    public func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }

    /// The body bytes when held in memory (empty for none, nil for a file).
    public var bodyBytes: [UInt8]? {
        switch body {
        case .none: return []
        case .bytes(let bytes): return bytes
        case .file, .fileRange: return nil
        }
    }
}

/// An HTTP response.
public struct HTTPResponse: Sendable {
    /// The status code.
    public var status: Int
    /// Header fields in order; names lowercased.
    public var headers: [(name: String, value: String)]
    /// The body, decompressed.
    public var body: [UInt8]

    /// Creates a response.
    public init(status: Int, headers: [(name: String, value: String)] = [], body: [UInt8] = []) {
        self.status = status
        self.headers = headers.map { ($0.name.lowercased(), $0.value) }
        self.body = body
    }

    /// The value of the first header with this name, case-insensitively.
    public func header(_ name: String) -> String? {
        let lower = name.lowercased()
        return headers.first { $0.name == lower }?.value
    }

    /// Whether the status is 2xx.
    public var isSuccess: Bool { (200..<300).contains(status) }
}

/// Sends HTTP requests. The one seam between bqsync and the network; tests replace it.
public protocol HTTPTransport: Sendable {
    /// Sends a request and returns the response, or throws `HTTPError` when no response arrived.
    func send(_ request: HTTPRequest) async throws(HTTPError) -> HTTPResponse
}

/// A request that got no HTTP response.
public struct HTTPError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The kind of failure, for retry decisions.
    public enum Kind: String, Sendable, Hashable {
        /// Could not connect (refused, unreachable, DNS).
        case connect
        /// The exchange took longer than allowed.
        case timeout
        /// The connection broke during the exchange (reset, closed early, partial body).
        case connectionLost
        /// TLS failed (certificate, handshake).
        case tls
        /// The request could not be built or the body file not read.
        case request
        /// Anything else curl reports.
        case other
        /// The task that sent it was cancelled, and the transfer was aborted.
        case cancelled
    }

    /// What went wrong, in words a person acts on: finer than `kind` where the transport can tell (a refused
    /// connection from a host name that does not resolve, say), for messages rather than retry decisions.
    public enum Cause: String, Sendable, Hashable {
        /// Nothing accepted the connection at that address and port.
        case refused = "connection refused"
        /// The host name did not resolve.
        case dns = "host name not found (DNS)"
        /// The proxy's host name did not resolve.
        case proxyDNS = "proxy host name not found (DNS)"
        /// No route to the host or its network.
        case unreachable = "host or network unreachable"
        /// Could not connect, for a reason the transport did not tell.
        case connect = "could not connect"
        /// The connection, or the whole exchange, took longer than allowed.
        case timeout = "timed out"
        /// The connection broke during the exchange.
        case lost = "connection lost"
        /// The TLS handshake or the certificate check failed.
        case tls = "TLS handshake or certificate check failed"
        /// The request could not be built or sent.
        case request = "request not sent"
        /// Anything else.
        case other = "transfer failed"
        /// The sending task was cancelled.
        case cancelled = "cancelled"

        /// The cause a kind implies when nothing finer is known.
        public init(_ kind: Kind) {
            switch kind {
            case .connect: self = .connect
            case .timeout: self = .timeout
            case .connectionLost: self = .lost
            case .tls: self = .tls
            case .request: self = .request
            case .other: self = .other
            case .cancelled: self = .cancelled
            }
        }
    }

    /// The kind of failure.
    public var kind: Kind
    /// The underlying library's own message (curl's).
    public var message: String
    /// What went wrong, for people; `Cause(kind)` unless the transport knew more.
    public var cause: Cause

    /// Creates an error; `cause` defaults to what the kind implies.
    public init(_ kind: Kind, _ message: String, cause: Cause? = nil) {
        self.kind = kind
        self.message = message
        self.cause = cause ?? Cause(kind)
    }

    /// Whether sending again may succeed.
    public var isRetryable: Bool {
        switch kind {
        case .connect, .timeout, .connectionLost: return true
        case .tls, .request, .other, .cancelled: return false
        }
    }

    /// The message.
    public var description: String { message }
}
