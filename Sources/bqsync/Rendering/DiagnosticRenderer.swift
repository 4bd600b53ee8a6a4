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
            let (text, padding) = Self.sourceExcerpt(source, column: location.column)
            lines.append(terminal.dim(" \(number) |") + " \(text)")
            lines.append(terminal.dim(" \(gutter) |") + " \(padding)" + terminal.green("^"))
        }
        for note in diagnostic.notes { lines.append("  \(terminal.cyan("note:")) \(note)") }
        return lines.joined(separator: "\n")
    }

    /// The source line as shown under a message, and the padding that puts a caret under `column`.
    ///
    /// Columns count Unicode scalars, as libyaml does; control and invisible formatting characters are shown
    /// as U+FFFD (so a file cannot send escape sequences to the terminal, nor hide text with bidi controls),
    /// and a very long line is cut to a window around the column.
    static func sourceExcerpt(_ source: String, column: Int, width: Int = 160) -> (text: String, padding: String) {
        var scalars = Array(source.unicodeScalars)
        var caret = max(0, min(column - 1, scalars.count))
        var prefix = ""
        var suffix = ""
        if scalars.count > width {
            let start = max(0, min(caret - width / 2, scalars.count - width))
            let end = min(scalars.count, start + width)
            if start > 0 { prefix = "…" }
            if end < scalars.count { suffix = "…" }
            scalars = Array(scalars[start..<end])
            caret = caret - start + (prefix.isEmpty ? 0 : 1)
        }
        let shown = scalars.map { scalar -> Unicode.Scalar in
            if scalar == "\t" { return scalar }
            switch scalar.properties.generalCategory {
            case .control, .format, .lineSeparator, .paragraphSeparator, .surrogate: return "\u{FFFD}"
            default: return scalar
            }
        }
        var text = String.UnicodeScalarView()
        text.append(contentsOf: prefix.unicodeScalars)
        text.append(contentsOf: shown)
        text.append(contentsOf: suffix.unicodeScalars)
        // One space per character (grapheme) before the caret; tabs stay tabs so the caret lines up.
        var padding = ""
        var counted = 0
        for character in String(text) {
            guard counted < caret else { break }
            counted += character.unicodeScalars.count
            padding.append(character == "\t" ? "\t" : " ")
        }
        return (String(text), padding)
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
        text.replacingOccurrences(of: "%", with: "%25").replacingOccurrences(of: "\r", with: "%0D")
            .replacingOccurrences(of: "\n", with: "%0A")
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
                Entry(
                    severity: $0.severity.rawValue, message: $0.message, file: $0.location?.file,
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
