import Foundation
import HTTP

extension BigQueryClient {
    /// A table's metadata, or nil when it does not exist.
    public func getTable(_ table: TableReference) async throws(BigQueryError) -> TableResource? {
        do {
            let response = try await perform("GET", tableURL(table), retry: defaultRetry)
            let (resource, created) = try await decodeTable(response, what: "table \(table)")
            tableMetadata[table] = resource
            tableCreated[table] = created
            return resource
        } catch .api(404, _, _) {
            return nil
        }
    }

    /// Creates a table (refused for a protected one); an existing table is returned with `created: false`.
    public func createTable(_ resource: TableResource) async throws(BigQueryError) -> (
        table: TableResource, created: Bool
    ) {
        let reference = try TableReference(
            projectId: resource.tableReference.projectId, datasetId: resource.tableReference.datasetId,
            tableId: resource.tableReference.tableId)
        try checkWritable(reference, jobId: "tables.insert", kind: "ddl")
        guard let body = await Self.encodeResource(resource) else {
            throw .invalidResponse("cannot encode table \(reference)")
        }
        let url = "\(projectURL(reference.projectId))/datasets/\(Self.segment(reference.datasetId))/tables"
        do {
            let response = try await perform("POST", url, body: .bytes(body), retry: defaultRetry)
            let (created, creationTime) = try await decodeTable(response, what: "created table")
            tableMetadata[reference] = created
            tableCreated[reference] = creationTime
            logger.info("table created", metadata: ["table": "\(reference)"])
            return (created, true)
        } catch .api(409, _, _) {
            guard let existing = try await getTable(reference) else {
                throw .invalidResponse("table \(reference) exists but cannot be read")
            }
            return (existing, false)
        }
    }

    /// Changes a table's description, labels or expiration with `tables.patch`. With `ifMatch`, BigQuery applies
    /// the change only if the table's etag is still that one, and answers 412 otherwise (a compare-and-swap on
    /// the table's metadata); that 412 is thrown as `.api(412, …)`, never retried. Refused for a protected table.
    public func patchTable(_ table: TableReference, _ patch: TablePatch, ifMatch etag: String?)
        async throws(BigQueryError) -> TableResource
    {
        try checkWritable(table, jobId: "tables.patch", kind: "ddl")
        let body = await Self.encodeObject { object in
            if let description = patch.description { object.field("description", string: description) }
            if let labels = patch.labels {
                object.field("labels") { json in
                    json.object {
                        for (key, value) in labels.sorted(by: { $0.key < $1.key }) { $0.field(key, string: value) }
                    }
                }
            }
            if let expiration = patch.expirationTime {
                object.field("expirationTime") { json in
                    if let expiration { json.string(String(expiration)) } else { json.raw("null") }
                }
            }
        }
        let headers = etag.map { [(name: "If-Match", value: $0)] } ?? []
        let response = try await perform(
            "PATCH", tableURL(table), body: .bytes(body), headers: headers, retry: defaultRetry)
        let resource = try await decode(TableResource.self, response, what: "patched table \(table)")
        tableMetadata[table] = resource
        return resource
    }

    /// Deletes a table (refused for a protected one); a missing table is not an error.
    public func deleteTable(_ table: TableReference) async throws(BigQueryError) {
        try checkWritable(table, jobId: "tables.delete", kind: "ddl")
        do {
            _ = try await perform("DELETE", tableURL(table), contentType: nil, retry: defaultRetry)
            tableMetadata[table] = nil
            tableCreated[table] = nil
            logger.info("table deleted", metadata: ["table": "\(table)"])
        } catch .api(404, _, _) {
            tableMetadata[table] = nil
            tableCreated[table] = nil
        }
    }

    /// When a table was created (milliseconds since the epoch, BigQuery's clock), as last seen by `getTable` or
    /// `createTable` in this session; nil when not seen or not reported.
    public func creationTime(of table: TableReference) -> Int64? {
        tableCreated[table]
    }

    private struct Created: Decodable { var creationTime: String? }

    /// A table resource and when the table was created (nil when not reported), decoded off the actor.
    @concurrent
    nonisolated func decodeTable(_ response: HTTPResponse, what: String) async throws(BigQueryError) -> (
        TableResource, Int64?
    ) {
        let resource = try await decode(TableResource.self, response, what: what)
        let created = (try? JSONDecoder().decode(Created.self, from: Data(response.body)))?.creationTime.flatMap {
            Int64($0)
        }
        return (resource, created)
    }

    /// A dataset, or nil when it does not exist.
    public func getDataset(project: String, dataset: String) async throws(BigQueryError) -> DatasetResource? {
        let url = "\(projectURL(project))/datasets/\(Self.segment(dataset))"
        do {
            let response = try await perform("GET", url, retry: defaultRetry)
            return try await decode(DatasetResource.self, response, what: "dataset \(project).\(dataset)")
        } catch .api(404, _, _) {
            return nil
        }
    }

    /// Creates a dataset; an existing one is returned with `created: false`.
    public func createDataset(_ resource: DatasetResource) async throws(BigQueryError) -> (
        dataset: DatasetResource, created: Bool
    ) {
        let project = resource.datasetReference.projectId
        guard let body = await Self.encodeResource(resource) else {
            throw .invalidResponse("cannot encode dataset")
        }
        do {
            let response = try await perform(
                "POST", "\(projectURL(project))/datasets", body: .bytes(body), retry: defaultRetry)
            logger.info("dataset created", metadata: ["dataset": "\(project).\(resource.datasetReference.datasetId)"])
            return (try await decode(DatasetResource.self, response, what: "created dataset"), true)
        } catch .api(409, _, _) {
            guard let existing = try await getDataset(project: project, dataset: resource.datasetReference.datasetId)
            else {
                throw .invalidResponse(
                    "dataset \(project).\(resource.datasetReference.datasetId) exists but cannot be read")
            }
            return (existing, false)
        }
    }

    // MARK: - loads

    /// Runs a load job (free): from an uploaded local file, or from Cloud Storage. Refused for a protected
    /// destination before anything is sent.
    public func load(_ job: LoadJob) async throws(BigQueryError) -> JobOutcome {
        let budget = try self.budget(job.budget)
        let project = try await billingProject(fallback: job.destination.projectId, explicit: job.project)
        try checkWritable(job.destination, jobId: job.jobId ?? "load", kind: "load")
        let started = time.now()
        let upload = try uploader(for: job, project: project, retry: budget.retry)
        let adoptableFrom = job.adoptableFrom
        let run = try await runJob(
            project: project, idBase: job.jobId, location: job.location, retry: budget.retry, kind: "load",
            resuming: job.resuming, upload: upload,
            adoptable: { Self.isAdoptable($0, from: adoptableFrom) }
        ) { object in
            object.field("load") { Self.writeLoadConfiguration(job, into: &$0) }
            object.field("labels") { json in
                json.object { labels in for (k, v) in self.labels(job.labels) { labels.field(k, string: v) } }
            }
        }
        let outcome = JobOutcome(
            jobId: run.resource.jobReference?.jobId ?? run.jobId,
            location: run.resource.jobReference?.location ?? job.location,
            statementType: "LOAD", bytesProcessed: 0, bytesBilled: 0, costUSD: 0, cacheHit: false, affectedRows: nil,
            insertedRows: nil, updatedRows: nil, deletedRows: nil,
            loadedRows: run.resource.statistics?.load?.outputRows.flatMap { Int64($0) },
            attempt: run.attempt, adopted: run.adopted, durationSeconds: time.now() - started
        )
        record(
            JobRecord(
                kind: "load", jobId: outcome.jobId, statementType: "LOAD", bytesProcessed: 0, bytesBilled: 0,
                costUSD: 0,
                durationSeconds: outcome.durationSeconds, attempt: run.attempt,
                outcome: run.adopted ? "adopted" : "done", reason: nil, sync: JobLog.sync(labels: job.labels)))
        return outcome
    }

    /// How a local file is sent with its job's JSON: one multipart request up to the multipart limit, else a
    /// resumable upload. Nil for a load from Cloud Storage; throws when the file cannot be read.
    func uploader(for job: LoadJob, project: String, retry: RetryPolicy) throws(BigQueryError) -> (
        @Sendable (String, [UInt8]) async throws(BigQueryError) -> JobResource
    )? {
        guard case .upload(let path) = job.source else { return nil }
        var info = stat()
        guard stat(path, &info) == 0 else { throw .transport("cannot read \(path) for upload") }
        let size = Int(info.st_size)
        return { [self] (jobId: String, body: [UInt8]) async throws(BigQueryError) -> JobResource in
            if size <= self.configuration.multipartLimit {
                return try await self.uploadMultipart(
                    project: project, path: path, jobJSON: body, jobId: jobId, location: job.location, retry: retry)
            }
            return try await self.uploadResumable(project: project, path: path, size: size, jobJSON: body, retry: retry)
        }
    }

    /// Whether an existing attempt may be adopted: one created before the destination's current incarnation
    /// (`from`) loaded into a table since replaced. Nil `from`: any.
    static func isAdoptable(_ existing: JobResource, from adoptableFrom: Int64?) -> Bool {
        guard let adoptableFrom else { return true }
        guard let created = existing.statistics?.creationTime.flatMap({ Int64($0) }) else { return false }
        return created >= adoptableFrom
    }

    /// `configuration.load` of a load job: destination, format, dispositions, schema and the CSV options.
    nonisolated static func writeLoadConfiguration(_ job: LoadJob, into json: inout JSONWriter) {
        json.object { load in
            load.field("destinationTable") { json in
                json.object { table in
                    table.field("projectId", string: job.destination.projectId)
                    table.field("datasetId", string: job.destination.datasetId)
                    table.field("tableId", string: job.destination.tableId)
                }
            }
            load.field("sourceFormat", string: job.format)
            load.field("writeDisposition", string: job.writeDisposition)
            load.field("createDisposition", string: job.createDisposition)
            if let schema = job.schema {
                load.field("schema") { json in
                    json.object { object in
                        object.field("fields") { json in
                            json.array(schema) { json, field in
                                json.object { f in
                                    f.field("name", string: field.name)
                                    f.field("type", string: field.type)
                                    f.field("mode", string: field.mode ?? "NULLABLE")
                                }
                            }
                        }
                    }
                }
            }
            if let delimiter = job.fieldDelimiter { load.field("fieldDelimiter", string: delimiter) }
            if let rows = job.skipLeadingRows { load.field("skipLeadingRows") { $0.int(Int64(rows)) } }
            if job.format == "CSV" { load.field("allowQuotedNewlines") { $0.bool(true) } }
            load.field("ignoreUnknownValues") { $0.bool(job.ignoreUnknownValues) }
            if case .gcs(let uris) = job.source {
                load.field("sourceUris") { json in json.array(uris) { $0.string($1) } }
            }
        }
    }

    /// One multipart request: the job's JSON, then the file streamed from disk.
    func uploadMultipart(
        project: String, path: String, jobJSON: [UInt8], jobId: String, location: String?, retry: RetryPolicy
    ) async throws(BigQueryError) -> JobResource {
        let boundary = "bqsync_boundary_\(UInt64.random(in: 0...UInt64.max))_\(UInt64.random(in: 0...UInt64.max))"
        let prefix =
            Array("--\(boundary)\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n".utf8) + jobJSON
            + Array("\r\n--\(boundary)\r\nContent-Type: application/octet-stream\r\n\r\n".utf8)
        let suffix = Array("\r\n--\(boundary)--\r\n".utf8)
        let url = "\(configuration.uploadRoot)/projects/\(Self.segment(project))/jobs?uploadType=multipart"
        let response = try await perform(
            "POST", url, body: .file(path: path, prefix: prefix, suffix: suffix),
            contentType: "multipart/related; boundary=\(boundary)", retry: retry,
            probe: { [self] () async throws(BigQueryError) -> HTTPResponse? in
                try await self.getJobResponse(project: project, jobId: jobId, location: location, retry: retry)
            }
        )
        return try await decode(JobResource.self, response, what: "load job")
    }

    /// A resumable upload: start a session, then send the file in chunks (multiples of 256 KiB).
    func uploadResumable(project: String, path: String, size: Int, jobJSON: [UInt8], retry: RetryPolicy)
        async throws(BigQueryError) -> JobResource
    {
        let url = "\(configuration.uploadRoot)/projects/\(Self.segment(project))/jobs?uploadType=resumable"
        let start = try await perform(
            "POST", url, body: .bytes(jobJSON),
            headers: [
                ("X-Upload-Content-Type", "application/octet-stream"), ("X-Upload-Content-Length", String(size)),
            ], retry: retry)
        guard let session = start.header("location") else {
            throw .invalidResponse("resumable upload started without a session location")
        }
        var offset = 0
        while true {
            let length = min(configuration.uploadChunk, size - offset)
            let range = length > 0 ? "bytes \(offset)-\(offset + length - 1)/\(size)" : "bytes */\(size)"
            let response = try await perform(
                "PUT", session, body: .fileRange(path: path, offset: offset, length: length),
                contentType: "application/octet-stream", headers: [("Content-Range", range)],
                retry: retry, accepting: [308])
            if response.status != 308 {
                return try await decode(JobResource.self, response, what: "load job")
            }
            if let received = response.header("range"),
                let last = received.split(separator: "-").last.flatMap({ Int($0) })
            {
                offset = last + 1
            } else {
                offset += length
            }
            if offset >= size && length == 0 {
                throw .invalidResponse("resumable upload did not complete after all \(size) bytes were sent")
            }
        }
    }
}

/// What a `tables.patch` changes; a nil field is left as it is.
public struct TablePatch: Sendable, Hashable {
    /// The table's description.
    public var description: String?
    /// The table's labels (the whole set).
    public var labels: [String: String]?
    /// When BigQuery deletes the table (ms since the epoch); `.some(nil)` removes the expiration.
    public var expirationTime: Int64??

    /// Creates a patch.
    public init(description: String? = nil, labels: [String: String]? = nil, expirationTime: Int64?? = nil) {
        self.description = description
        self.labels = labels
        self.expirationTime = expirationTime
    }
}
