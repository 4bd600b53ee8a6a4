import BigQuery
import Foundation
import Logging

/// swift-log handler writing one line per record to stderr: `text` for people, `json` for machines.
struct StderrLogHandler: LogHandler {
    let label: String
    let json: Bool
    var logLevel: Logger.Level
    var metadata: Logger.Metadata = [:]
    /// Metadata of the calling task: the sync it works for (`JobLog.sync`).
    var metadataProvider: Logger.MetadataProvider?

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let level = event.level
        let message = event.message
        let explicit = event.metadata
        var merged = metadataProvider?.get() ?? [:]
        for (key, value) in metadata { merged[key] = value }
        for (key, value) in explicit ?? [:] { merged[key] = value }
        let line: String
        if json {
            var object: [String: Any] = [
                "level": level.rawValue, "label": label, "message": message.description,
                "time": ISO8601DateFormatter().string(from: Date()),
            ]
            for (key, value) in merged { object[key] = Self.jsonValue(value) }
            let data = try? JSONSerialization.data(
                withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
            line = data.map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        } else {
            let fields = merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            line = "\(level.rawValue): \(message)" + (fields.isEmpty ? "" : " \(fields)")
        }
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }

    /// A metadata value as JSON: a number logged as one (`.stringConvertible` of an integer or a Double) is a
    /// JSON number, anything else its text.
    static func jsonValue(_ value: Logger.Metadata.Value) -> Any {
        if case .stringConvertible(let convertible) = value {
            switch convertible {
            case let number as Int: return number
            case let number as Int64: return number
            case let number as Int32: return number
            case let number as Double where number.isFinite: return number
            default: break
            }
        }
        return "\(value)"
    }

    /// Installs the handler once per process.
    static func bootstrap(level: LogLevelOption, format: LogFormatOption) {
        let level = Logger.Level(rawValue: level.rawValue) ?? .warning
        LoggingSystem.bootstrap(
            { label, provider in
                StderrLogHandler(label: label, json: format == .json, logLevel: level, metadataProvider: provider)
            },
            // Every line logged while a sync is worked on names it.
            metadataProvider: Logger.MetadataProvider { JobLog.sync.map { ["sync": "\($0)"] } ?? [:] })
    }
}
