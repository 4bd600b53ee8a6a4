import Dispatch
import Foundation
import Synchronization

/// Ctrl-C (SIGINT) and SIGTERM during work that must end cleanly: the first signal cancels the work, which aborts
/// the request in flight and lets the work finish its bookkeeping (an apply records its run and releases its
/// lease); a second signal ends the process at once.
enum Interruption {
    /// The exit status of an interrupted command (128 + SIGINT, as shells report it).
    static let exitStatus: Int32 = 130

    /// Runs `work`, cancelled by the first SIGINT or SIGTERM; returns its result and whether a signal came.
    static func run<T: Sendable>(_ work: @escaping @Sendable () async throws -> T) async throws -> (
        result: T, interrupted: Bool
    ) {
        let task = Task { try await work() }
        let signals = Atomic<Int>(0)
        var sources: [any DispatchSourceSignal] = []
        for number in [SIGINT, SIGTERM] {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler {
                if signals.add(1, ordering: .relaxed).newValue > 1 { exit(exitStatus) }
                FileHandle.standardError.write(
                    Data(
                        ("interrupted: stopping after the request in flight, then recording the run and releasing the lease "
                            + "(press Ctrl-C again to quit at once)\n").utf8))
                task.cancel()
            }
            source.resume()
            sources.append(source)
        }
        defer {
            for (source, number) in zip(sources, [SIGINT, SIGTERM]) {
                source.cancel()
                signal(number, SIG_DFL)
            }
        }
        let result = try await task.value
        return (result, signals.load(ordering: .relaxed) > 0)
    }

    /// What an interrupted apply prints last: how far it got, and the command that goes on from there. A plan
    /// file's apply resumes (finished steps are adopted); an apply that planned for itself plans again.
    static func summary(batchesDone: Int, of total: Int, command: String, resumes: Bool) -> String {
        "interrupted after \(batchesDone)/\(total) batch\(total == 1 ? "" : "es"); re-run '\(command)' "
            + (resumes ? "to resume" : "to plan and apply again")
    }

    /// The command line as the user ran it (the program as `bqsync`), each argument quoted where a shell needs it.
    static func command(_ arguments: [String]) -> String {
        (["bqsync"] + arguments.dropFirst().map(quoted)).joined(separator: " ")
    }

    /// An argument as a shell reads it back: as is when it is made of safe characters, else in double quotes
    /// (the whole command is shown in single quotes).
    static func quoted(_ argument: String) -> String {
        let safe = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_@%+=:,./-")
        if !argument.isEmpty, argument.allSatisfy({ safe.contains($0) }) { return argument }
        var escaped = ""
        for character in argument {
            if "\"\\$`".contains(character) { escaped.append("\\") }
            escaped.append(character)
        }
        return "\"" + escaped + "\""
    }
}
