import ArgumentParser
import BigQuery
import Foundation
import SyncKit

/// `bqsync init NAME --from-file FILE | --from-table TABLE`: writes `syncs.d/NAME.yaml`, never over a file.
struct InitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init", abstract: "Write syncs.d/NAME.yaml from a data file's sample or a table's schema.",
        discussion: """
            --from-file infers the columns from the first records of an NDJSON or CSV file (INT64, FLOAT64, BOOL,
            DATE, TIMESTAMP, STRING, JSON for objects and arrays; REQUIRED only when never null), and the table is
            created from them. --from-table reads the table's schema (tables.get) and its declared primary key as
            the merge keys. Both together: the source from the file, the columns from the table. What cannot be
            known (the merge keys, the table) is written as a TODO that 'bqsync validate' reports at its line.
            An existing file is never overwritten.
            """)

    @OptionGroup var global: GlobalOptions

    @Argument(help: "The sync's name: syncs.d/NAME.yaml.")
    var name: String

    @Option(name: .customLong("from-file"), help: "An NDJSON (.ndjson, .jsonl, .json) or CSV (.csv) file.")
    var file: String?

    @Option(name: .customLong("from-table"), help: "An existing table, [project.]dataset.table.")
    var table: String?

    @Option(name: .customLong("table"), help: "With --from-file: the table to create, [project.]dataset.table.")
    var target: String?

    @Option(help: "With --from-file: how many records to read.")
    var sample: Int = Scaffold.defaultSampleRows

    func validate() throws {
        if let problem = Scaffold.nameProblem(name) { throw ValidationError("'\(name)': \(problem)") }
        guard file != nil || table != nil else { throw ValidationError("give --from-file FILE or --from-table TABLE") }
        if target != nil, table != nil { throw ValidationError("--table is for --from-file; --from-table names it") }
        if let target, (try? TableName(parsing: target)) == nil {
            throw ValidationError("--table '\(target)' is not a table name of the form [project.]dataset.table")
        }
        guard sample >= 1 else { throw ValidationError("--sample must be at least 1") }
    }

    func run() async throws {
        global.startLogging()
        let syncsDirectory = global.directory + "/syncs.d"
        let path = syncsDirectory + "/\(name).yaml"
        if FileManager.default.fileExists(atPath: path) { throw refuseOverwrite(path) }
        let draft: Scaffold.Draft
        do throws(SyncError) {
            draft = try await makeDraft(syncsDirectory: syncsDirectory)
        } catch {
            throw CommandContext.fail(error)
        }
        try? FileManager.default.createDirectory(atPath: syncsDirectory, withIntermediateDirectories: true)
        let created: Bool
        do throws(SyncError) {
            created = try Scaffold.create(path, Scaffold.yaml(draft))
        } catch {
            throw CommandContext.fail(error)
        }
        // Created with O_EXCL: a file that appeared since the check above is not replaced either.
        guard created else { throw refuseOverwrite(path) }
        let todos = [draft.table == nil ? "target.table" : nil, draft.keys == nil ? "merge.keys" : nil].compactMap {
            $0
        }
        Output.out(
            "wrote \(path) (\(draft.columns.count) column\(draft.columns.count == 1 ? "" : "s"))"
                + (todos.isEmpty
                    ? "" : "; fill in the TODO of \(todos.joined(separator: " and ")), then run 'bqsync validate'"))
    }

    private func refuseOverwrite(_ path: String) -> ExitCode {
        Output.err("error: \(path) exists; bqsync init never overwrites a file (remove it, or choose another name)")
        return ExitStatus.failure
    }

    private func makeDraft(syncsDirectory: String) async throws(SyncError) -> Scaffold.Draft {
        var header: [String] = []
        var sourceKind = SourceSpec.Kind.ndjson
        var sourcePath = "data/\(name)/*.ndjson"
        var columns: [FieldSpec] = []
        if let file {
            guard let kind = Scaffold.sourceKind(of: file) else {
                throw SyncError.usage("\(file): not an NDJSON (.ndjson, .jsonl, .json) or CSV (.csv) file")
            }
            guard FileManager.default.fileExists(atPath: file) else {
                throw SyncError.io(path: file, message: "no such file")
            }
            let inferred = try Scaffold.infer(file: file, kind: kind, sampleRows: sample)
            (sourceKind, sourcePath, columns) = (
                kind, Scaffold.relativePath(file, from: syncsDirectory), inferred.columns
            )
            header.append(
                "Written by 'bqsync init' from the first \(inferred.rows) record\(inferred.rows == 1 ? "" : "s") of \(file):"
            )
            header.append("check the types and modes, and that REQUIRED holds for all of the data.")
        }
        var keys: [String]?
        var skipped: [String] = []
        if let table {
            let reference: TableReference
            do {
                reference = try TableName(parsing: table).resolved(defaultProject: global.resolvedProject)
            } catch {
                throw SyncError.usage("--from-table: \(error.description)")
            }
            let configuration = ConfigLoader(directory: global.directory, defaultProject: global.resolvedProject).load()
            let client = try Session.client(
                configuration: configuration, endpoint: global.endpoint, project: global.resolvedProject,
                warn: { Output.err("warning: \($0)") })
            let resource: TableResource?
            do {
                resource = try await client.getTable(reference)
            } catch {
                throw SyncError.bigQuery(error)
            }
            guard let resource else { throw SyncError.usage("table \(reference) does not exist") }
            let found = Scaffold.columns(of: resource)
            (columns, keys, skipped) = (found.columns, found.keys, found.skipped)
            for column in skipped {
                Output.err(
                    "warning: column '\(column)' of \(reference) is not declared: bqsync cannot write its type or mode")
            }
            if file == nil {
                header.append("Written by 'bqsync init' from the schema of \(reference).")
                header.append(
                    "TODO: point source at the rows to sync (a file or glob relative to syncs.d/, or a query).")
            } else {
                header.append("The columns are those of \(reference).")
            }
            if keys == nil { header.append("\(reference) declares no primary key: choose the merge keys below.") }
        }
        return Scaffold.Draft(
            name: name, sourceKind: sourceKind, sourcePath: sourcePath,
            table: table != nil ? nil : target, createIfMissing: table == nil, columns: columns, keys: keys,
            header: header, skipped: skipped
        )
        .withTable(table.flatMap { try? TableName(parsing: $0).description })
    }
}

extension Scaffold.Draft {
    /// The same draft with the table of --from-table (already checked) when there is one.
    fileprivate func withTable(_ name: String?) -> Scaffold.Draft {
        guard let name else { return self }
        var copy = self
        copy.table = name
        return copy
    }
}
