/// A YAML document that could not be read, with the place it went wrong.
public struct YAMLError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What went wrong, lowercase, without the location.
    public var message: String
    /// Where it went wrong.
    public var mark: Mark

    /// Creates an error.
    public init(_ message: String, at mark: Mark) {
        self.message = message
        self.mark = mark
    }

    /// `line:column: message`.
    public var description: String { "\(mark): \(message)" }
}
