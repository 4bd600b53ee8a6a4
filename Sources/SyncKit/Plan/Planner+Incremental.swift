import BigQuery

/// An incremental sync's window: from the last successful apply's watermark (kept in the target's lease, read
/// with the lease's metadata, no job), less the lag; from `initial` on a first run or a full refresh.
extension Planner {
    /// The window this plan reads, nil for a sync that is not incremental.
    func window(_ prepared: PreparedTarget, last: TargetLease.AppliedState?) throws(SyncError) -> CursorWindow? {
        guard let incremental = prepared.sync.source.incremental else { return nil }
        let column = try Self.cursorColumn(prepared)
        let type = prepared.layout.columns[column].type
        var window = CursorWindow(column: column)
        if !fullRefresh, let watermark = last?.watermark {
            window.after = try Self.cursorValue(watermark, type: type, prepared: prepared, what: "the watermark").minus(
                incremental.lag)
        } else if let initial = incremental.initial {
            window.from = try Self.cursorValue(
                initial, type: type, prepared: prepared, what: "source.incremental.initial")
        }
        return window
    }

    /// The plan's record of a window, once read.
    func describe(
        _ window: CursorWindow, prepared: PreparedTarget, last: TargetLease.AppliedState?, rows: Int64?,
        through: CursorValue?
    ) -> IncrementalWindow {
        IncrementalWindow(
            cursor: prepared.layout.columns[window.column].name, watermark: fullRefresh ? nil : last?.watermark,
            after: window.after?.text, from: window.from?.text, through: through?.text, rows: rows,
            fullRefresh: fullRefresh)
    }

    /// The cursor's column in the target's layout, of a type a cursor can have.
    static func cursorColumn(_ prepared: PreparedTarget) throws(SyncError) -> Int {
        let sync = prepared.sync
        guard let cursor = sync.source.incremental?.cursor,
            let column = prepared.layout.index[cursor.lowercased()]
        else {
            throw SyncError.definition(
                "\(sync.location(of: .incrementalCursor)): sync '\(sync.name)': source.incremental.cursor "
                    + "'\(sync.source.incremental?.cursor ?? "")' is not a column of \(prepared.target)")
        }
        let type = prepared.layout.columns[column].type
        guard IncrementalSpec.cursorTypes.contains(type) else {
            throw SyncError.definition(
                "\(sync.location(of: .incrementalCursor)): sync '\(sync.name)': cursor column '\(cursor)' is "
                    + "\(type.rawValue) in \(prepared.target); a cursor is "
                    + IncrementalSpec.cursorTypes.map(\.rawValue).joined(separator: ", "))
        }
        return column
    }

    static func cursorValue(_ text: String, type: FieldType, prepared: PreparedTarget, what: String)
        throws(SyncError) -> CursorValue
    {
        do throws(ConversionProblem) {
            return try CursorValue(text: text, type: type)
        } catch {
            throw SyncError.definition(
                "\(prepared.sync.location(of: .incrementalCursor)): sync '\(prepared.sync.name)': \(what) "
                    + "\(ValueConversion.quoted(text)) is not a \(type.rawValue) cursor value: \(error.message)")
        }
    }

    /// The condition, over the source rows (`MergeBuilder.rowAlias`), and the typed query parameters that keep a
    /// source BigQuery reads (a query, loaded files) to the window; nil when the window has no lower bound.
    static func windowFilter(_ window: CursorWindow?, prepared: PreparedTarget) -> (
        sql: String, parameters: [StepParameter]
    )? {
        guard let window else { return nil }
        let column = prepared.layout.columns[window.column]
        let name = "\(MergeBuilder.rowAlias).\(MergeBuilder.quote(column.name))"
        var conditions: [String] = []
        var parameters: [StepParameter] = []
        for (bound, parameter, op) in [(window.after, "bqsync_after", ">"), (window.from, "bqsync_from", ">=")] {
            guard let bound else { continue }
            // A TIMESTAMP parameter's zone written in full (`+00:00`), as BigQuery's parameter docs show it.
            let value = column.type == .timestamp ? bound.text + ":00" : bound.text
            parameters.append(StepParameter(name: parameter, type: column.type.rawValue, value: value))
            conditions.append("\(name) \(op) @\(parameter)")
        }
        guard !conditions.isEmpty else { return nil }
        return (conditions.joined(separator: " AND "), parameters)
    }

    /// The window a reviewed plan fixed, for its apply: the same bounds, and its end.
    static func plannedWindow(_ window: IncrementalWindow?, prepared: PreparedTarget) throws(SyncError)
        -> CursorWindow?
    {
        guard let window else { return nil }
        let column = try cursorColumn(prepared)
        let type = prepared.layout.columns[column].type
        func value(_ text: String?) throws(SyncError) -> CursorValue? {
            guard let text else { return nil }
            return try cursorValue(text, type: type, prepared: prepared, what: "the plan's window bound")
        }
        return CursorWindow(
            column: column, after: try value(window.after), from: try value(window.from),
            through: try value(window.through))
    }
}
