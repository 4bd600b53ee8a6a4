internal import CCurl
import Foundation
import Synchronization

/// `HTTPTransport` on libcurl: connection reuse through a pool of easy handles, HTTP/2 where offered, gzip,
/// connect and total timeouts, the standard proxy variables, TLS verification always on, streamed uploads.
///
/// Each transfer blocks a dedicated thread, never a thread of Swift's cooperative pool.
public final class CurlTransport: HTTPTransport {
    /// How the transport behaves.
    public struct Configuration: Sendable {
        /// Seconds to establish a connection.
        public var connectTimeout: Double = 10
        /// Seconds for a whole exchange when the request does not say.
        public var defaultTimeout: Double = 300
        /// A CA bundle to verify servers with instead of the system's; verification itself is never off.
        public var caBundle: String?
        /// The largest response body accepted, against a runaway answer.
        public var maxResponseBytes: Int = 512 << 20
        /// The User-Agent header.
        public var userAgent: String = "bqsync/0.1"

        /// Defaults; `BQSYNC_CA_BUNDLE` names a CA bundle.
        public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
            caBundle = environment["BQSYNC_CA_BUNDLE"].flatMap { $0.isEmpty ? nil : $0 }
        }
    }

    private let configuration: Configuration
    private let idle = Mutex<[EasyHandle]>([])
    private static let globalInit: CURLcode = curl_global_init(Int(CURL_GLOBAL_DEFAULT))

    /// Creates a transport.
    public init(configuration: Configuration = Configuration()) {
        _ = Self.globalInit
        self.configuration = configuration
    }

    /// The libcurl version string, e.g. `libcurl/7.88.1 OpenSSL/3.0.11 zlib/1.2.13 nghttp2/1.52.0`.
    public static var libraryVersion: String { String(cString: curl_version()) }

    /// Sends the request on a dedicated thread and resumes when curl is done. Cancelling the calling task aborts
    /// the transfer at curl's next progress call (about once a second, or sooner when data moves) instead of
    /// waiting out its timeout; it then throws `.cancelled`.
    public func send(_ request: HTTPRequest) async throws(HTTPError) -> HTTPResponse {
        let cancellation = Cancellation()
        let result: Result<HTTPResponse, HTTPError> = await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let thread = Thread { [self] in
                    continuation.resume(returning: self.perform(request, cancellation: cancellation))
                }
                thread.name = "bqsync-curl"
                thread.start()
            }
        } onCancel: {
            cancellation.cancel()
        }
        return try result.get()
    }

    // MARK: - blocking part, on the transfer's own thread

    private func checkout() throws(HTTPError) -> EasyHandle {
        if let handle = idle.withLock({ $0.popLast() }) {
            curl_easy_reset(handle.pointer)
            return handle
        }
        guard let handle = EasyHandle() else { throw HTTPError(.other, "curl_easy_init failed") }
        return handle
    }

    private func checkin(_ handle: EasyHandle) {
        idle.withLock { pool in
            if pool.count < 16 { pool.append(handle) }
        }
    }

    /// One blocking exchange: checks, a pooled handle, the options, curl's transfer, and its outcome.
    private func perform(_ request: HTTPRequest, cancellation: Cancellation) -> Result<HTTPResponse, HTTPError> {
        if cancellation.isCancelled { return .failure(HTTPError(.cancelled, "cancelled before it was sent")) }
        if request.header("Authorization") != nil, let problem = Endpoint.cleartextProblem(request.url) {
            return .failure(HTTPError(.request, "refusing to send credentials: \(problem)"))
        }
        let handle: EasyHandle
        do { handle = try checkout() } catch { return .failure(error) }
        defer { checkin(handle) }
        let transfer: Transfer
        do {
            transfer = try Transfer(
                body: request.body, limit: configuration.maxResponseBytes, cancellation: cancellation)
        } catch {
            return .failure(error)
        }
        let easy = handle.pointer
        var headers = HeaderList()
        for header in request.headers { headers.append("\(header.name): \(header.value)") }
        headers.append("Expect:")  // no 100-continue round trip before uploads

        var errorBuffer = [CChar](repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
        let code: CURLcode = errorBuffer.withUnsafeMutableBufferPointer { errorPointer in
            let common = setCommonOptions(
                easy, request, transfer: transfer, headers: headers.list, errorBuffer: errorPointer.baseAddress)
            let method = setMethodOptions(easy, request.method.uppercased(), transfer: transfer)
            let setup = common != CURLE_OK ? common : method
            guard setup == CURLE_OK else { return setup }
            return curl_easy_perform(easy)
        }
        // The error buffer belongs to this call only.
        bq_easy_setopt_pointer(easy, CURLOPT_ERRORBUFFER, nil)
        return Self.outcome(of: code, easy, transfer: transfer, cancellation: cancellation, errorBuffer: errorBuffer)
    }

    /// Sets the options every request has (URL, protocols, TLS, timeouts, headers, callbacks); the first
    /// failure, or CURLE_OK.
    private func setCommonOptions(
        _ easy: UnsafeMutableRawPointer, _ request: HTTPRequest, transfer: Transfer,
        headers: UnsafeMutablePointer<curl_slist>?, errorBuffer: UnsafeMutablePointer<CChar>?
    ) -> CURLcode {
        let context = Unmanaged.passUnretained(transfer).toOpaque()
        var setup = CURLE_OK
        func set(_ result: CURLcode) { if setup == CURLE_OK { setup = result } }
        set(bq_easy_setopt_string(easy, CURLOPT_URL, request.url))
        set(bq_easy_setopt_pointer(easy, CURLOPT_ERRORBUFFER, errorBuffer))
        set(bq_easy_setopt_long(easy, CURLOPT_NOSIGNAL, 1))
        set(bq_easy_setopt_string(easy, CURLOPT_PROTOCOLS_STR, "http,https"))
        set(bq_easy_setopt_long(easy, CURLOPT_FOLLOWLOCATION, 0))
        set(bq_easy_setopt_long(easy, CURLOPT_HTTP_VERSION, Int(CURL_HTTP_VERSION_2TLS)))
        set(bq_easy_setopt_string(easy, CURLOPT_ACCEPT_ENCODING, ""))
        set(bq_easy_setopt_long(easy, CURLOPT_SSL_VERIFYPEER, 1))
        set(bq_easy_setopt_long(easy, CURLOPT_SSL_VERIFYHOST, 2))
        if let bundle = configuration.caBundle { set(bq_easy_setopt_string(easy, CURLOPT_CAINFO, bundle)) }
        set(bq_easy_setopt_long(easy, CURLOPT_CONNECTTIMEOUT_MS, Int(configuration.connectTimeout * 1000)))
        set(
            bq_easy_setopt_long(
                easy, CURLOPT_TIMEOUT_MS, Int((request.timeout ?? configuration.defaultTimeout) * 1000)))
        set(bq_easy_setopt_long(easy, CURLOPT_TCP_KEEPALIVE, 1))
        set(bq_easy_setopt_string(easy, CURLOPT_USERAGENT, configuration.userAgent))
        set(bq_easy_setopt_slist(easy, CURLOPT_HTTPHEADER, headers))
        set(bq_easy_setopt_data_callback(easy, CURLOPT_WRITEFUNCTION, writeCallback))
        set(bq_easy_setopt_pointer(easy, CURLOPT_WRITEDATA, context))
        set(bq_easy_setopt_data_callback(easy, CURLOPT_HEADERFUNCTION, headerCallback))
        set(bq_easy_setopt_pointer(easy, CURLOPT_HEADERDATA, context))
        set(bq_easy_setopt_xferinfo_callback(easy, progressCallback))
        set(bq_easy_setopt_pointer(easy, CURLOPT_XFERINFODATA, context))
        set(bq_easy_setopt_long(easy, CURLOPT_NOPROGRESS, 0))
        return setup
    }

    /// Sets how the method and its body go: a streamed upload for PUT, a sized POST body (also for PATCH and
    /// DELETE with a body), no body for HEAD; the first failure, or CURLE_OK.
    private func setMethodOptions(_ easy: UnsafeMutableRawPointer, _ method: String, transfer: Transfer) -> CURLcode {
        let context = Unmanaged.passUnretained(transfer).toOpaque()
        var setup = CURLE_OK
        func set(_ result: CURLcode) { if setup == CURLE_OK { setup = result } }
        if transfer.uploadLength > 0 || method == "POST" || method == "PUT" || method == "PATCH" {
            set(bq_easy_setopt_data_callback(easy, CURLOPT_READFUNCTION, readCallback))
            set(bq_easy_setopt_pointer(easy, CURLOPT_READDATA, context))
            if method == "PUT" {
                set(bq_easy_setopt_long(easy, CURLOPT_UPLOAD, 1))
                set(bq_easy_setopt_off_t(easy, CURLOPT_INFILESIZE_LARGE, curl_off_t(transfer.uploadLength)))
            } else {
                set(bq_easy_setopt_long(easy, CURLOPT_POST, 1))
                set(bq_easy_setopt_off_t(easy, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(transfer.uploadLength)))
                if method != "POST" { set(bq_easy_setopt_string(easy, CURLOPT_CUSTOMREQUEST, method)) }
            }
        } else if method == "HEAD" {
            set(bq_easy_setopt_long(easy, CURLOPT_NOBODY, 1))
        } else if method != "GET" {
            set(bq_easy_setopt_string(easy, CURLOPT_CUSTOMREQUEST, method))
        }
        return setup
    }

    /// What a finished transfer amounts to: the transfer's own failure, a cancellation, curl's error, or the
    /// response.
    private static func outcome(
        of code: CURLcode, _ easy: UnsafeMutableRawPointer, transfer: Transfer, cancellation: Cancellation,
        errorBuffer: [CChar]
    ) -> Result<HTTPResponse, HTTPError> {
        if let failure = transfer.failure { return .failure(failure) }
        if code == CURLE_ABORTED_BY_CALLBACK, cancellation.isCancelled {
            return .failure(HTTPError(.cancelled, "cancelled during the exchange"))
        }
        guard code == CURLE_OK else {
            let detail = String(decoding: errorBuffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            let message = detail.isEmpty ? String(cString: curl_easy_strerror(code)) : detail
            var osErrno = 0
            bq_easy_getinfo_long(easy, CURLINFO_OS_ERRNO, &osErrno)
            return .failure(
                HTTPError(
                    Self.kind(of: code), message,
                    cause: Self.cause(of: code, osErrno: Int32(truncatingIfNeeded: osErrno))))
        }
        var status = 0
        bq_easy_getinfo_long(easy, CURLINFO_RESPONSE_CODE, &status)
        return .success(HTTPResponse(status: status, headers: transfer.headers, body: transfer.body))
    }

    /// What a failed transfer's result code (and, for a failed connect, the system's errno) says went wrong.
    static func cause(of code: CURLcode, osErrno: Int32) -> HTTPError.Cause {
        switch code {
        case CURLE_COULDNT_RESOLVE_HOST: return .dns
        case CURLE_COULDNT_RESOLVE_PROXY: return .proxyDNS
        case CURLE_COULDNT_CONNECT:
            switch osErrno {
            case ECONNREFUSED: return .refused
            case ENETUNREACH, EHOSTUNREACH: return .unreachable
            case ETIMEDOUT: return .timeout
            default: return .connect
            }
        default: return HTTPError.Cause(kind(of: code))
        }
    }

    /// Sorts curl's result codes into what a caller decides retries on.
    static func kind(of code: CURLcode) -> HTTPError.Kind {
        switch code {
        case CURLE_COULDNT_CONNECT, CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_RESOLVE_PROXY:
            return .connect
        case CURLE_OPERATION_TIMEDOUT:
            return .timeout
        case CURLE_RECV_ERROR, CURLE_SEND_ERROR, CURLE_SEND_FAIL_REWIND, CURLE_GOT_NOTHING, CURLE_PARTIAL_FILE,
            CURLE_HTTP2, CURLE_HTTP2_STREAM,
            CURLE_WEIRD_SERVER_REPLY:
            return .connectionLost
        case CURLE_SSL_CONNECT_ERROR, CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CERTPROBLEM, CURLE_SSL_CIPHER,
            CURLE_SSL_CACERT_BADFILE, CURLE_SSL_ISSUER_ERROR, CURLE_SSL_PINNEDPUBKEYNOTMATCH,
            CURLE_SSL_INVALIDCERTSTATUS,
            CURLE_SSL_ENGINE_NOTFOUND, CURLE_SSL_ENGINE_SETFAILED, CURLE_SSL_SHUTDOWN_FAILED, CURLE_SSL_CRL_BADFILE:
            return .tls
        case CURLE_READ_ERROR, CURLE_ABORTED_BY_CALLBACK, CURLE_URL_MALFORMAT, CURLE_UNSUPPORTED_PROTOCOL,
            CURLE_WRITE_ERROR:
            return .request
        default:
            return .other
        }
    }
}

/// Owns one curl easy handle (and the connections it keeps) and frees it.
private final class EasyHandle: @unchecked Sendable {
    // @unchecked: a handle is used by one transfer at a time; the pool's mutex hands it over.
    let pointer: UnsafeMutableRawPointer

    init?() {
        guard let pointer = curl_easy_init() else { return nil }
        self.pointer = pointer
    }

    deinit { curl_easy_cleanup(pointer) }
}

/// Owns a curl header list and frees it.
private struct HeaderList: ~Copyable {
    var list: UnsafeMutablePointer<curl_slist>?

    mutating func append(_ line: String) {
        list = curl_slist_append(list, line)
    }

    deinit { curl_slist_free_all(list) }
}

/// The state of one transfer, reached from curl's callbacks through an opaque pointer.
/// Set from any thread when the sending task is cancelled; read by the transfer's progress callback.
final class Cancellation: Sendable {
    private let flag = Atomic<Bool>(false)
    func cancel() { flag.store(true, ordering: .relaxed) }
    var isCancelled: Bool { flag.load(ordering: .relaxed) }
}

/// curl's progress callback: non-zero aborts the transfer (CURLE_ABORTED_BY_CALLBACK).
private let progressCallback: bq_xferinfo_callback = { userdata, _, _, _, _ in
    guard let userdata else { return 0 }
    return Unmanaged<Transfer>.fromOpaque(userdata).takeUnretainedValue().cancellation.isCancelled ? 1 : 0
}

private final class Transfer {
    let cancellation: Cancellation
    var body: [UInt8] = []
    var headers: [(name: String, value: String)] = []
    var failure: HTTPError?
    let limit: Int
    let uploadLength: Int
    private var segments: [UploadSegment]
    private var segmentIndex = 0

    enum UploadSegment {
        case bytes([UInt8], offset: Int)
        case file(FileHandle, remaining: Int)
    }

    init(body: HTTPRequest.Body, limit: Int, cancellation: Cancellation) throws(HTTPError) {
        self.limit = limit
        self.cancellation = cancellation
        switch body {
        case .none:
            segments = []
            uploadLength = 0
        case .bytes(let bytes):
            segments = [.bytes(bytes, offset: 0)]
            uploadLength = bytes.count
        case .file(let path, let prefix, let suffix):
            guard let handle = FileHandle(forReadingAtPath: path) else {
                throw HTTPError(
                    .request, "cannot open upload file \(path): \(String(cString: strerror(errno)).lowercased())")
            }
            var info = stat()
            guard fstat(handle.fileDescriptor, &info) == 0 else {
                throw HTTPError(.request, "cannot stat upload file \(path)")
            }
            segments = [
                .bytes(prefix, offset: 0), .file(handle, remaining: Int(info.st_size)), .bytes(suffix, offset: 0),
            ]
            uploadLength = prefix.count + Int(info.st_size) + suffix.count
        case .fileRange(let path, let offset, let length):
            guard let handle = FileHandle(forReadingAtPath: path) else {
                throw HTTPError(
                    .request, "cannot open upload file \(path): \(String(cString: strerror(errno)).lowercased())")
            }
            guard lseek(handle.fileDescriptor, off_t(offset), SEEK_SET) == off_t(offset) else {
                throw HTTPError(.request, "cannot seek in upload file \(path)")
            }
            segments = [.file(handle, remaining: length)]
            uploadLength = length
        }
    }

    /// Fills curl's buffer from the upload segments; 0 at the end.
    func read(into buffer: UnsafeMutableRawBufferPointer) -> Int {
        while segmentIndex < segments.count {
            switch segments[segmentIndex] {
            case .bytes(let bytes, let offset):
                let count = min(buffer.count, bytes.count - offset)
                if count > 0 {
                    bytes.withUnsafeBytes { source in
                        buffer.baseAddress!.copyMemory(from: source.baseAddress! + offset, byteCount: count)
                    }
                    segments[segmentIndex] = .bytes(bytes, offset: offset + count)
                    return count
                }
            case .file(let handle, let remaining):
                let count =
                    remaining > 0
                    ? Foundation.read(handle.fileDescriptor, buffer.baseAddress, min(buffer.count, remaining)) : 0
                if count > 0 {
                    segments[segmentIndex] = .file(handle, remaining: remaining - count)
                    return count
                }
                if remaining > 0 && count == 0 {
                    failure = HTTPError(.request, "the upload file is shorter than it was when the upload began")
                    return Int(CURL_READFUNC_ABORT)
                }
                if count < 0 {
                    failure = HTTPError(
                        .request, "reading the upload failed: \(String(cString: strerror(errno)).lowercased())")
                    return Int(CURL_READFUNC_ABORT)
                }
            }
            segmentIndex += 1
        }
        return 0
    }

    func append(_ data: UnsafeRawBufferPointer) -> Bool {
        guard body.count + data.count <= limit else {
            failure = HTTPError(.other, "response larger than \(limit) bytes")
            return false
        }
        body.append(contentsOf: data)
        return true
    }

    func header(_ line: String) {
        let trimmed = line.trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmed.hasPrefix("HTTP/") {
            headers.removeAll()  // a new response (after 100 Continue, or a proxy's CONNECT answer)
            return
        }
        guard let colon = trimmed.firstIndex(of: ":") else { return }
        let name = trimmed[..<colon].trimmingCharacters(in: .whitespaces)
        let value = trimmed[trimmed.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        headers.append((name, value))
    }
}

private let writeCallback: bq_data_callback = { buffer, size, count, userdata in
    guard let buffer, let userdata else { return 0 }
    let transfer = Unmanaged<Transfer>.fromOpaque(userdata).takeUnretainedValue()
    let total = size * count
    return transfer.append(UnsafeRawBufferPointer(start: buffer, count: total)) ? total : 0
}

private let headerCallback: bq_data_callback = { buffer, size, count, userdata in
    guard let buffer, let userdata else { return 0 }
    let transfer = Unmanaged<Transfer>.fromOpaque(userdata).takeUnretainedValue()
    let total = size * count
    transfer.header(String(decoding: UnsafeRawBufferPointer(start: buffer, count: total), as: UTF8.self))
    return total
}

private let readCallback: bq_data_callback = { buffer, size, count, userdata in
    guard let buffer, let userdata else { return 0 }
    let transfer = Unmanaged<Transfer>.fromOpaque(userdata).takeUnretainedValue()
    return transfer.read(into: UnsafeMutableRawBufferPointer(start: buffer, count: size * count))
}
