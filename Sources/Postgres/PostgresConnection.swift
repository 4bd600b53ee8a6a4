internal import CLibPQ
import Foundation

/// A failure reported by libpq or the server: its message, and the SQLSTATE when the server sent one.
public struct PostgresError: Error, Sendable, CustomStringConvertible {
    public var message: String
    /// The five-character SQLSTATE (`28P01` a wrong password, `42P01` a missing table), when known.
    public var sqlState: String?

    public init(_ message: String, sqlState: String? = nil) {
        self.message = message
        self.sqlState = sqlState
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
        let result = PQexec(connection, sql)
        defer { PQclear(result) }
        try check(result, accepting: [PGRES_COMMAND_OK, PGRES_TUPLES_OK])
    }

    /// The columns `sql` would return, from the server's parse of it, without running it. A text that is not
    /// exactly one statement is refused by the server here.
    public func describe(_ sql: String, parameterTypes: [UInt32] = []) throws(PostgresError) -> [PostgresColumn] {
        let prepared = parameterTypes.withUnsafeBufferPointer {
            PQprepare(connection, "", sql, Int32(parameterTypes.count), $0.baseAddress)
        }
        defer { PQclear(prepared) }
        try check(prepared, accepting: [PGRES_COMMAND_OK])
        let described = PQdescribePrepared(connection, "")
        defer { PQclear(described) }
        try check(described, accepting: [PGRES_COMMAND_OK])
        return (0..<PQnfields(described)).map {
            PostgresColumn(name: String(cString: PQfname(described, $0)), typeOID: UInt32(PQftype(described, $0)))
        }
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
        guard sent == 1 else { throw PostgresError(Self.trimmed(PQerrorMessage(connection))) }
        guard PQsetSingleRowMode(connection) == 1 else {
            drain()
            throw PostgresError("libpq could not enter single-row mode")
        }
        var failure: PostgresError?
        var wanted = true
        while let result = PQgetResult(connection) {
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
                if wanted, failure == nil { failure = Self.error(result) }
            }
        }
        if let failure { throw failure }
    }

    /// Asks the server to stop the running query.
    private func cancel() {
        guard let handle = PQgetCancel(connection) else { return }
        defer { PQfreeCancel(handle) }
        var buffer = [CChar](repeating: 0, count: 256)
        _ = PQcancel(handle, &buffer, Int32(buffer.count))
    }

    private func drain() {
        while let result = PQgetResult(connection) { PQclear(result) }
    }

    private func check(_ result: OpaquePointer?, accepting statuses: [ExecStatusType]) throws(PostgresError) {
        guard let result else { throw PostgresError(Self.trimmed(PQerrorMessage(connection))) }
        guard statuses.contains(PQresultStatus(result)) else { throw Self.error(result) }
    }

    private static func error(_ result: OpaquePointer) -> PostgresError {
        let state = PQresultErrorField(result, Int32(UInt8(ascii: "C"))).map { String(cString: $0) }
        return PostgresError(trimmed(PQresultErrorMessage(result)), sqlState: state)
    }

    private static func trimmed(_ message: UnsafePointer<CChar>?) -> String {
        guard let message else { return "" }
        var text = String(cString: message)
        while let last = text.last, last.isWhitespace { text.removeLast() }
        return text.replacingOccurrences(of: "\n", with: "; ")
    }
}
