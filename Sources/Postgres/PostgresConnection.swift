internal import CLibPQ
import Foundation

/// A failure reported by libpq or the server: its message, and the SQLSTATE when the server sent one.
public struct PostgresError: Error, Sendable, CustomStringConvertible {
    public var message: String
    /// The five-character SQLSTATE (`28P01` a wrong password, `42P01` a missing table), when known.
    public var sqlState: String?
    /// Whether the command ended because the task running it was cancelled (bqsync asked the server to stop it).
    public var interrupted: Bool

    public init(_ message: String, sqlState: String? = nil, interrupted: Bool = false) {
        self.message = message
        self.sqlState = sqlState
        self.interrupted = interrupted
    }

    public var description: String { message }
}

/// A result column: its name and the OID of its type.
public struct PostgresColumn: Sendable, Hashable {
    public var name: String
    public var typeOID: UInt32
}

/// One row of a streamed result, valid only inside the callback that receives it: each value as the bytes of its
/// text form, or nil for NULL.
public struct PostgresRow {
    fileprivate let result: OpaquePointer

    fileprivate init(_ result: OpaquePointer) { self.result = result }

    /// The number of values.
    public var count: Int { Int(PQnfields(result)) }

    /// The value of column `index` as UTF-8 bytes (no terminator), nil when NULL.
    public func withValue<R>(_ index: Int, _ body: (UnsafeBufferPointer<UInt8>?) throws -> R) rethrows -> R {
        let column = Int32(index)
        guard PQgetisnull(result, 0, column) == 0 else { return try body(nil) }
        let length = Int(PQgetlength(result, 0, column))
        guard let pointer = PQgetvalue(result, 0, column) else {
            return try body(UnsafeBufferPointer(start: nil, count: 0))
        }
        return try pointer.withMemoryRebound(to: UInt8.self, capacity: length) {
            try body(UnsafeBufferPointer(start: $0, count: length))
        }
    }

    /// The value of column `index` as a string, nil when NULL.
    public func string(_ index: Int) -> String? {
        withValue(index) { $0.map { String(decoding: $0, as: UTF8.self) } }
    }
}

/// One libpq connection, used by one task at a time. Connection parameters follow libpq's own conventions: those
/// given here, then the `PG*` environment variables, `~/.pgpass`, `PGSERVICEFILE` and the defaults.
public final class PostgresConnection {
    private let connection: OpaquePointer

    /// Connects with `parameters` (libpq keywords, in order; a later one wins). With `expandDatabase`, a
    /// `dbname` value that is a URI or `key=value` string is expanded into its parameters, which override the
    /// ones before it.
    public init(parameters: [(String, String)], expandDatabase: Bool) throws(PostgresError) {
        let keywords = parameters.map { strdup($0.0) } + [nil]
        let values = parameters.map { strdup($0.1) } + [nil]
        defer {
            for pointer in keywords { free(pointer) }
            for pointer in values { free(pointer) }
        }
        let made = keywords.map { UnsafePointer($0) }.withUnsafeBufferPointer { keywordPointers in
            values.map { UnsafePointer($0) }.withUnsafeBufferPointer { valuePointers in
                PQconnectdbParams(keywordPointers.baseAddress, valuePointers.baseAddress, expandDatabase ? 1 : 0)
            }
        }
        guard let made else { throw PostgresError("libpq could not allocate a connection") }
        guard PQstatus(made) == CONNECTION_OK else {
            let message = Self.trimmed(PQerrorMessage(made))
            PQfinish(made)
            throw PostgresError(message.isEmpty ? "could not connect" : message)
        }
        connection = made
    }

    deinit { PQfinish(connection) }

    /// The server's version number (`150018` for 15.18).
    public var serverVersion: Int { Int(PQserverVersion(connection)) }

    /// Runs statements that return no rows to the caller (`BEGIN …`, `SET …`, `COMMIT`).
    public func execute(_ sql: String) throws(PostgresError) {
        try start(PQsendQuery(connection, sql))
        try finish(accepting: [PGRES_COMMAND_OK, PGRES_TUPLES_OK])
    }

    /// The columns `sql` would return, from the server's parse of it, without running it. A text that is not
    /// exactly one statement is refused by the server here.
    public func describe(_ sql: String, parameterTypes: [UInt32] = []) throws(PostgresError) -> [PostgresColumn] {
        let sent = parameterTypes.withUnsafeBufferPointer {
            PQsendPrepare(connection, "", sql, Int32(parameterTypes.count), $0.baseAddress)
        }
        try start(sent)
        try finish(accepting: [PGRES_COMMAND_OK])
        try start(PQsendDescribePrepared(connection, ""))
        var columns: [PostgresColumn] = []
        try finish(accepting: [PGRES_COMMAND_OK]) { described in
            columns = (0..<PQnfields(described)).map {
                PostgresColumn(name: String(cString: PQfname(described, $0)), typeOID: UInt32(PQftype(described, $0)))
            }
        }
        return columns
    }

    /// Runs `sql` with text parameters (nil is NULL) and returns every row as strings: for small results only.
    public func rows(_ sql: String, parameters: [String?] = []) throws(PostgresError) -> [[String?]] {
        var rows: [[String?]] = []
        try stream(sql, parameters: parameters) { row in
            rows.append((0..<row.count).map { row.string($0) })
            return true
        }
        return rows
    }

    /// Runs `sql` with text parameters (nil is NULL) in libpq's single-row mode: each row reaches `body` as it
    /// arrives, and only one is held in memory. `body` returns false to stop early; the rest of the query is then
    /// cancelled and discarded.
    public func stream(
        _ sql: String, parameters: [String?] = [], _ body: (PostgresRow) -> Bool
    ) throws(PostgresError) {
        let copies = parameters.map { $0.map { strdup($0) } ?? nil }
        defer { for pointer in copies { free(pointer) } }
        let sent = copies.map { UnsafePointer($0) }.withUnsafeBufferPointer {
            PQsendQueryParams(connection, sql, Int32(parameters.count), nil, $0.baseAddress, nil, nil, 0)
        }
        try start(sent)
        guard PQsetSingleRowMode(connection) == 1 else {
            drain()
            throw PostgresError("libpq could not enter single-row mode")
        }
        var failure: PostgresError?
        var wanted = true
        while let result = try nextResult() {
            defer { PQclear(result) }
            switch PQresultStatus(result) {
            case PGRES_SINGLE_TUPLE:
                guard wanted, failure == nil else { continue }
                let row = PostgresRow(result)
                if !body(row) {
                    wanted = false
                    cancel()
                }
            case PGRES_TUPLES_OK, PGRES_COMMAND_OK:
                continue
            default:
                // A cancelled query ends in an error that is the caller's own doing, not a failure.
                if wanted, failure == nil { failure = error(result) }
            }
        }
        if let failure { throw failure }
    }

    /// Whether the command in flight was cancelled because its task was (and the server asked to stop it).
    private var interrupted = false

    /// A command was sent (`sent` is what libpq's `PQsend…` answered), or why not.
    private func start(_ sent: Int32) throws(PostgresError) {
        interrupted = false
        guard sent == 1 else { throw PostgresError(Self.trimmed(PQerrorMessage(connection))) }
    }

    /// Takes every result of the command in flight: the first one of another status than `statuses` is the error
    /// thrown (once all are in, so the connection is ready for the next command); `each` sees the others.
    private func finish(
        accepting statuses: [ExecStatusType], _ each: (OpaquePointer) -> Void = { _ in }
    ) throws(PostgresError) {
        var failure: PostgresError?
        while let result = try nextResult() {
            defer { PQclear(result) }
            if statuses.contains(PQresultStatus(result)) {
                if failure == nil { each(result) }
            } else if failure == nil {
                failure = error(result)
            }
        }
        if let failure { throw failure }
    }

    /// The next result of the command in flight (nil once all are in), waiting for the server without blocking
    /// in libpq: the socket is polled a fifth of a second at a time, and when the task running this is cancelled
    /// (Ctrl-C during an apply) the server is asked to stop the command — one waiting for a lock, say — whose
    /// error then ends it.
    private func nextResult() throws(PostgresError) -> OpaquePointer? {
        var polls = 0
        while PQisBusy(connection) == 1 {
            // Again each second: a request that reached the server before the command did is not kept for it.
            if Task.isCancelled, !interrupted || polls % 5 == 0 {
                interrupted = true
                cancel()
            }
            polls += 1
            let socket = PQsocket(connection)
            guard socket >= 0 else { throw PostgresError("the connection to the server was lost") }
            var descriptor = pollfd(fd: socket, events: Int16(POLLIN), revents: 0)
            if poll(&descriptor, 1, 200) < 0, errno != EINTR {
                throw PostgresError("waiting for the server: \(String(cString: strerror(errno)))")
            }
            guard PQconsumeInput(connection) == 1 else { throw PostgresError(Self.trimmed(PQerrorMessage(connection))) }
        }
        return PQgetResult(connection)
    }

    /// Asks the server to stop the running query.
    private func cancel() {
        guard let handle = PQgetCancel(connection) else { return }
        defer { PQfreeCancel(handle) }
        var buffer = [CChar](repeating: 0, count: 256)
        _ = PQcancel(handle, &buffer, Int32(buffer.count))
    }

    private func drain() {
        while let result = try? nextResult() { PQclear(result) }
    }

    private func error(_ result: OpaquePointer) -> PostgresError {
        let state = PQresultErrorField(result, Int32(UInt8(ascii: "C"))).map { String(cString: $0) }
        let message = Self.trimmed(PQresultErrorMessage(result))
        return PostgresError(message, sqlState: state, interrupted: interrupted)
    }

    private static func trimmed(_ message: UnsafePointer<CChar>?) -> String {
        guard let message else { return "" }
        var text = String(cString: message)
        while let last = text.last, last.isWhitespace { text.removeLast() }
        return text.replacingOccurrences(of: "\n", with: "; ")
    }
}
