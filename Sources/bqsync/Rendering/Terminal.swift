import Foundation

/// Where output goes and whether it may be coloured.
struct Terminal: Sendable {
    /// Whether ANSI styles are written.
    let colors: Bool

    /// Decides colour from the option, the environment (NO_COLOR) and whether the stream is a TTY.
    init(option: ColorOption, fileDescriptor: Int32 = STDOUT_FILENO) {
        switch option {
        case .always: colors = true
        case .never: colors = false
        case .auto:
            let noColor = ProcessInfo.processInfo.environment["NO_COLOR"].map { !$0.isEmpty } ?? false
            colors = !noColor && isatty(fileDescriptor) == 1 && ProcessInfo.processInfo.environment["TERM"] != "dumb"
        }
    }

    func bold(_ text: String) -> String { style(text, "1") }
    func red(_ text: String) -> String { style(text, "1;31") }
    func yellow(_ text: String) -> String { style(text, "1;33") }
    func green(_ text: String) -> String { style(text, "32") }
    func cyan(_ text: String) -> String { style(text, "36") }
    func dim(_ text: String) -> String { style(text, "2") }

    private func style(_ text: String, _ code: String) -> String {
        colors ? "\u{1B}[\(code)m\(text)\u{1B}[0m" : text
    }

    /// Whether stdin is an interactive terminal.
    static var stdinIsTTY: Bool { isatty(STDIN_FILENO) == 1 }
    /// Whether stderr is an interactive terminal.
    static var stderrIsTTY: Bool { isatty(STDERR_FILENO) == 1 }
}

/// Writes text to stdout or stderr without buffering surprises.
enum Output {
    static func out(_ text: String) {
        FileHandle.standardOutput.write(Data((text.hasSuffix("\n") ? text : text + "\n").utf8))
    }

    static func err(_ text: String) {
        FileHandle.standardError.write(Data((text.hasSuffix("\n") ? text : text + "\n").utf8))
    }
}
