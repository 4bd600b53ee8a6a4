import Foundation
import HTTP

/// One row for `tabledata.insertAll`: its JSON object and the insert id BigQuery de-duplicates retries by.
public struct InsertRow: Sendable, Hashable {
    /// BigQuery drops a row whose insert id it saw in the last minute or so (best effort), so a retried
    /// request does not append the row twice.
    public var insertId: String
    /// The row as a JSON object, already encoded.
    public var json: [UInt8]

    /// Creates a row.
    public init(insertId: String, json: [UInt8]) {
        self.insertId = insertId
        self.json = json
    }
}

/// One page of `tabledata.list`.
public struct TableDataPage: Sendable {
    /// The rows, cells in the table's schema order.
    public var rows: [[Cell]]
    /// The token of the next page; nil on the last.
    public var nextPageToken: String?
}

extension BigQueryClient {
    /// Appends rows with `tabledata.insertAll`: no job, no query, nothing billed as bytes processed. Refused for
    /// a protected table. Throws when BigQuery refuses any row (`insertErrors`), naming the first.
    public func insertRows(_ table: TableReference, _ rows: [InsertRow]) async throws(BigQueryError) {
        guard !rows.isEmpty else { return }
        try checkWritable(table, jobId: "tabledata.insertAll", kind: "insert")
        let body = await Self.encodeObject(capacity: rows.reduce(64) { $0 + $1.json.count + 64 }) { object in
            object.field("skipInvalidRows") { $0.bool(false) }
            object.field("ignoreUnknownValues") { $0.bool(false) }
            object.field("rows") { json in
                json.array(rows) { json, row in
                    json.object { item in
                        item.field("insertId", string: row.insertId)
                        item.field("json") { $0.raw(row.json) }
                    }
                }
            }
        }
        let response = try await perform(
            "POST", tableURL(table) + "/insertAll", body: .bytes(body), retry: defaultRetry)
        let answer = try await decode(InsertAllResponse.self, response, what: "insertAll into \(table)")
        if let failed = answer.insertErrors?.first, let error = failed.errors?.first {
            throw .invalidResponse(
                "insertAll into \(table) refused row \(failed.index ?? 0): \(error.reason ?? "error"): \(error.message ?? "")"
            )
        }
    }

    /// One page of a table's rows with `tabledata.list` (free: no job, nothing billed).
    public func listRows(_ table: TableReference, pageToken: String?, maxResults: Int = 10_000)
        async throws(BigQueryError) -> TableDataPage
    {
        let url =
            tableURL(table) + "/data" + Self.query([("maxResults", String(maxResults)), ("pageToken", pageToken)])
        let response = try await perform("GET", url, retry: defaultRetry)
        let page = try await decode(TableDataList.self, response, what: "rows of \(table)")
        let next = page.pageToken.flatMap { $0.isEmpty || $0 == pageToken ? nil : $0 }
        return TableDataPage(rows: (page.rows ?? []).map(\.f), nextPageToken: next)
    }

    /// Every row of a table, page by page; nil when the table does not exist.
    public func allRows(_ table: TableReference) async throws(BigQueryError) -> (schema: [FieldSchema], rows: [[Cell]])?
    {
        guard let resource = try await getTable(table) else { return nil }
        var rows: [[Cell]] = []
        var token: String?
        repeat {
            let page: TableDataPage
            do {
                page = try await listRows(table, pageToken: token)
            } catch .api(404, _, _) {
                return nil
            }
            rows += page.rows
            token = page.nextPageToken
        } while token != nil
        return (resource.fields, rows)
    }
}

/// `tabledata.insertAll`'s answer: a 200 can still refuse rows.
struct InsertAllResponse: Decodable {
    struct RowErrors: Decodable {
        var index: Int?
        var errors: [ErrorProto]?
    }
    var insertErrors: [RowErrors]?
}

/// `tabledata.list`'s answer.
struct TableDataList: Decodable {
    var totalRows: String?
    var pageToken: String?
    var rows: [Cell.Row]?
}
