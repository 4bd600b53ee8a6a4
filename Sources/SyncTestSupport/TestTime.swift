import BigQuery
import Foundation
import Logging
import Synchronization

/// Virtual time: `sleep` advances the clock instead of waiting; jitter is the full ceiling (deterministic).
public final class ManualTime: TimeSource, WallClock {
    private let clock = Mutex<Double>(1_000)
    private let sleeps = Mutex<[Double]>([])

    /// Starts at an arbitrary fixed time.
    public init() {}

    public func now() -> Double { clock.withLock { $0 } }
    public func unixTime() -> Double { 1_790_000_000 + now() }
    public func sleep(seconds: Double) async throws {
        sleeps.withLock { $0.append(seconds) }
        clock.withLock { $0 += seconds }
    }
    public func jitter(upTo ceiling: Double) -> Double { ceiling }

    /// Moves time forward.
    public func advance(_ seconds: Double) { clock.withLock { $0 += seconds } }
    /// Every wait asked for.
    public var waits: [Double] { sleeps.withLock { $0 } }
}

extension Logger {
    /// A logger that drops everything: a test that does not look at the job log keeps it out of the test output.
    public static let quiet = Logger(label: "test.quiet") { _ in SwiftLogNoOpLogHandler() }
}

/// Collects every log line (message and metadata, rendered as text) for inspection.
public final class LogCapture: Sendable {
    private let lines = Mutex<[String]>([])

    /// Creates an empty capture.
    public init() {}

    /// Everything logged, one string per entry.
    public var entries: [String] { lines.withLock { $0 } }

    /// A logger writing into this capture at the given level.
    public func logger(level: Logger.Level = .trace) -> Logger {
        var logger = Logger(label: "test") { _ in Handler(capture: self) }
        logger.logLevel = level
        return logger
    }

    func append(_ line: String) { lines.withLock { $0.append(line) } }

    struct Handler: LogHandler {
        let capture: LogCapture
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            let all = metadata.merging(event.metadata ?? [:]) { $1 }
            let rendered = all.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            capture.append("\(event.level) \(event.message) \(rendered)")
        }
    }
}
