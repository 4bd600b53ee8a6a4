import Foundation
import SyncTestSupport
import Testing

@testable import SyncKit

/// Identifier injection: every field whose value ends up in SQL as an identifier (or names a policy, a sync or a
/// protected table) refuses, at validate time and at the field's own line, anything that could leave a
/// backtick-quoted identifier, end a statement, start a comment, break a line, pass for another name, or run
/// past BigQuery's length limits.
@Suite("hostile config")
struct HostileConfigTests {
    /// Values no identifier field accepts, written as YAML double-quoted scalars (escapes included).
    static let payloads: [(label: String, yaml: String)] = [
        ("backtick", #""ab`c""#),
        ("backtick breakout", #""x` ; DROP TABLE `y""#),
        ("semicolon", #""ab; DELETE FROM t WHERE true""#),
        ("line comment", #""ab -- c""#),
        ("hash comment", #""ab #c""#),
        ("block comment", #""ab/*c*/""#),
        ("newline", #""ab\nDROP TABLE t""#),
        ("carriage return", #""ab\rc""#),
        ("tab", #""ab\tc""#),
        ("NUL", #""ab\0c""#),
        ("single quote", #""ab'c""#),
        ("double quote", #""ab\"c""#),
        ("backslash", #""ab\\c""#),
        ("Cyrillic look-alike", #""t\u0430ble""#),
        ("fullwidth look-alike", #""\uFF54able""#),
        ("zero-width space", #""ta\u200Bble""#),
        ("right-to-left override", #""ta\u202Eble""#),
        ("no-break space", #""ta\u00A0ble""#),
        ("parenthesis", #""f(x)""#),
    ]

    /// Where a payload goes: the template with `@` replaced, the file it is in, and the line it is on.
    struct Field: CustomStringConvertible, Sendable {
        var description: String
        var file: String
        var line: Int
        /// The `@` in the template becomes the payload (already YAML-quoted) or the over-long value.
        var template: String
        /// A valid but over-long value for this field, unquoted (nil: length is not what limits it).
        var overLong: String?
    }

    static let policyTemplate = """
        version: 1
        name: default
        protected_tables: [@]
        """

    static func syncTemplate(_ placeholders: [String: String]) -> String {
        let value = { (key: String, fallback: String) in placeholders[key] ?? fallback }
        return """
            version: 1
            name: \(value("name", "hostile"))
            source: {type: ndjson, path: data/rows.ndjson}
            target:
              table: \(value("table", "my-project.sales.orders"))
              create_if_missing: true
              schema:
                - {name: id, type: INT64, mode: REQUIRED}
                - {name: updated_at, type: TIMESTAMP}
                - {name: gone, type: BOOL}
                - {name: \(value("column", "amount")), type: FLOAT64}
              partitioning: {field: \(value("partition", "updated_at")), type: DAY}
              clustering: [\(value("cluster", "id"))]
            merge:
              keys: [\(value("key", "id"))]
              order_by: \(value("order_by", "updated_at"))
              update: [\(value("update", "updated_at"))]
              delete_when: \(value("delete_when", "gone"))
            policy: \(value("policy", "default"))

            """
    }

    /// The line of the template (1-based) that holds `key`'s placeholder.
    static func line(of key: String) -> Int {
        let marked = syncTemplate([key: "@"])
        let lines = marked.split(separator: "\n", omittingEmptySubsequences: false)
        return (lines.firstIndex { $0.contains("@") } ?? 0) + 1
    }

    static let fields: [Field] = {
        var fields: [Field] = []
        func sync(_ key: String, overLong: String?, wrap: (String) -> String = { $0 }) {
            fields.append(
                Field(
                    description: "sync \(key)", file: "syncs.d/hostile.yaml", line: line(of: key),
                    template: syncTemplate([key: wrap("@")]), overLong: overLong))
        }
        sync("name", overLong: String(repeating: "n", count: 65))
        sync("column", overLong: "c" + String(repeating: "o", count: 300))
        sync("partition", overLong: "p" + String(repeating: "a", count: 300))
        sync("cluster", overLong: "c" + String(repeating: "l", count: 300))
        sync("key", overLong: "k" + String(repeating: "e", count: 300))
        sync("order_by", overLong: "o" + String(repeating: "r", count: 300))
        sync("update", overLong: "u" + String(repeating: "p", count: 300))
        sync("delete_when", overLong: "d" + String(repeating: "e", count: 300))
        sync("policy", overLong: String(repeating: "p", count: 65))
        // The three parts of the target, each on its own: the payload goes inside one quoted reference.
        let table = line(of: "table")
        for (part, reference, overLong) in [
            ("project", "@.sales.orders", "p" + String(repeating: "r", count: 30)),
            ("dataset", "my-project.@.orders", String(repeating: "d", count: 1025)),
            ("table", "my-project.sales.@", String(repeating: "t", count: 1025)),
        ] {
            fields.append(
                Field(
                    description: "target \(part)", file: "syncs.d/hostile.yaml", line: table,
                    template: syncTemplate(["table": "\"\(reference)\""]), overLong: overLong))
        }
        fields.append(
            Field(
                description: "policy protected_tables", file: "policies/default.yaml", line: 3,
                template: policyTemplate, overLong: nil))
        return fields
    }()

    /// Every (field, payload) pair.
    static let cases: [(Field, String, String)] = fields.flatMap { field in payloads.map { (field, $0.label, $0.yaml) }
    }

    @Test("an injected identifier is refused at its field", arguments: cases)
    func injected(_ field: Field, _ label: String, _ payload: String) throws {
        // A placeholder inside a quoted reference takes the payload without its own quotes (escapes kept).
        let quoted =
            field.template.contains("\"@") || field.template.contains("@\"") || field.template.contains(".@")
            || field.template.contains("@.")
        let value = quoted ? String(payload.dropFirst().dropLast()) : payload
        try expectRefused(field, text: field.template.replacingOccurrences(of: "@", with: value), why: label)
    }

    @Test("an over-long identifier is refused at its field", arguments: fields.filter { $0.overLong != nil })
    func overLong(_ field: Field) throws {
        try expectRefused(
            field, text: field.template.replacingOccurrences(of: "@", with: field.overLong!), why: "over-long")
    }

    @Test("the template itself is valid, so every refusal above is the payload's doing")
    func templateIsValid() throws {
        let workspace = try Workspace()
        try workspace.write("syncs.d/hostile.yaml", Self.syncTemplate([:]))
        try workspace.write(
            "policies/default.yaml", Self.policyTemplate.replacingOccurrences(of: "@", with: "other-project.audit.*"))
        let configuration = ConfigLoader(directory: workspace.root).load()
        #expect(configuration.diagnostics.filter { $0.severity == .error }.isEmpty, "\(configuration.diagnostics)")
        #expect(configuration.syncs.count == 1)
    }

    private func expectRefused(_ field: Field, text: String, why: String) throws {
        let workspace = try Workspace()
        if field.file.hasPrefix("policies/") {
            try workspace.write("syncs.d/hostile.yaml", Self.syncTemplate([:]))
            try workspace.write(field.file, text)
        } else {
            try workspace.write(field.file, text)
            try workspace.write(
                "policies/default.yaml",
                Self.policyTemplate.replacingOccurrences(of: "@", with: "other-project.audit.*"))
        }
        let configuration = ConfigLoader(directory: workspace.root).load()
        let errors = configuration.diagnostics.filter { $0.severity == .error }
        let here = errors.filter { $0.location?.file.hasSuffix(field.file) == true && $0.location?.line == field.line }
        #expect(
            !here.isEmpty, "\(field) with \(why): no error at \(field.file):\(field.line); got \(errors.map(\.message))"
        )
        // Nothing hostile is let through: with an error in a file, that file yields no sync or policy.
        if field.file.hasPrefix("syncs.d/") {
            #expect(configuration.syncs.isEmpty, "\(field) with \(why): the sync was accepted")
        } else {
            #expect(configuration.policies["default"] == nil, "\(field) with \(why): the policy was accepted")
        }
    }
}
