import Foundation
import SyncKit

/// Renders diagnostics for people (with the line and a caret), for GitHub Actions, or as JSON.
struct DiagnosticRenderer {
    let terminal: Terminal

    /// `file:line:col: error: message`, then the source line and a caret under the column.
    func human(_ diagnostic: Diagnostic) -> String {
        let label = diagnostic.severity == .error ? terminal.red("error:") : terminal.yellow("warning:")
        let location = diagnostic.location.map { terminal.bold("\($0):") + " " } ?? ""
        var lines = ["\(location)\(label) \(terminal.bold(diagnostic.message))"]
        if let location = diagnostic.location, let source = diagnostic.sourceLine {
            let number = String(location.line)
            let gutter = String(repeating: " ", count: number.count)
            lines.append(terminal.dim(" \(number) |") + " \(source)")
            let padding = String(source.prefix(max(0, location.column - 1)).map { $0 == "\t" ? "\t" : " " })
            lines.append(terminal.dim(" \(gutter) |") + " \(padding)" + terminal.green("^"))
        }
        for note in diagnostic.notes { lines.append("  \(terminal.cyan("note:")) \(note)") }
        return lines.joined(separator: "\n")
    }

    /// `::error file=…,line=…,col=…::message` (GitHub Actions workflow commands).
    static func github(_ diagnostic: Diagnostic) -> String {
        var properties: [String] = []
        if let location = diagnostic.location {
            properties = ["file=\(escapeProperty(location.file))", "line=\(location.line)", "col=\(location.column)"]
        }
        let message = ([diagnostic.message] + diagnostic.notes).joined(separator: "\n")
        let command = diagnostic.severity == .error ? "error" : "warning"
        let props = properties.isEmpty ? "" : " " + properties.joined(separator: ",")
        return "::\(command)\(props)::\(escapeData(message))"
    }

    static func escapeData(_ text: String) -> String {
        text.replacingOccurrences(of: "%", with: "%25").replacingOccurrences(of: "\r", with: "%0D").replacingOccurrences(of: "\n", with: "%0A")
    }

    static func escapeProperty(_ text: String) -> String {
        escapeData(text).replacingOccurrences(of: ":", with: "%3A").replacingOccurrences(of: ",", with: "%2C")
    }

    /// A JSON document of every diagnostic with counts.
    static func json(_ diagnostics: [Diagnostic], files: Int) -> String {
        struct Entry: Encodable {
            var severity: String
            var message: String
            var file: String?
            var line: Int?
            var column: Int?
            var notes: [String]
        }
        struct Report: Encodable {
            var files: Int
            var errors: Int
            var warnings: Int
            var diagnostics: [Entry]
        }
        let report = Report(
            files: files,
            errors: diagnostics.filter { $0.severity == .error }.count,
            warnings: diagnostics.filter { $0.severity == .warning }.count,
            diagnostics: diagnostics.map {
                Entry(severity: $0.severity.rawValue, message: $0.message, file: $0.location?.file,
                      line: $0.location?.line, column: $0.location?.column, notes: $0.notes)
            }
        )
        return JSONOutput.encode(report)
    }
}

/// Pretty, key-sorted JSON for output.
enum JSONOutput {
    static func encode<T: Encodable>(_ value: T) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(value) else { return "{}" }
        return String(decoding: data, as: UTF8.self)
    }
}
