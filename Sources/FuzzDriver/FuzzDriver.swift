import Foundation
import SyncFuzz

#if FUZZING
    import CLibFuzzer
#endif

/// `bqsync-fuzz TARGET …`: see README.md.
@main
struct FuzzDriver {
    typealias Callback = @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt

    static let targets: [(name: String, callback: Callback)] = [
        (
            "config",
            { data, size in
                FuzzEntry.config(UnsafeBufferPointer(start: data, count: size))
                return 0
            }
        ),
        (
            "ndjson",
            { data, size in
                FuzzEntry.ndjson(UnsafeBufferPointer(start: data, count: size))
                return 0
            }
        ),
        (
            "csv",
            { data, size in
                FuzzEntry.csv(UnsafeBufferPointer(start: data, count: size))
                return 0
            }
        ),
    ]

    static func main() {
        let arguments = CommandLine.arguments
        var named = arguments.count >= 2 ? targets.first(where: { $0.name == arguments[1] }) : nil
        #if FUZZING
            // libFuzzer re-runs this program for -merge, -fork and -minimize_crash with its own arguments only, so
            // the target travels in the environment as well.
            let variable = "BQSYNC_FUZZ_TARGET"
            if let named {
                setenv(variable, named.name, 1)
            } else if let name = ProcessInfo.processInfo.environment[variable] {
                named = targets.first(where: { $0.name == name })
            }
        #endif
        guard let target = named else {
            let names = targets.map(\.name).joined(separator: "|")
            FileHandle.standardError.write(
                Data(
                    ("usage: bqsync-fuzz \(names) [libFuzzer flags] [CORPUS…]   (fuzzing build)\n"
                        + "       bqsync-fuzz \(names) FILE|DIR…                       (replay)\n").utf8))
            exit(64)
        }
        #if FUZZING
            // libFuzzer sees the program name and every argument but the target name.
            let skip = arguments.count >= 2 && arguments[1] == target.name ? 2 : 1
            var argv: [UnsafeMutablePointer<CChar>?] = [CommandLine.unsafeArgv[0]]
            for index in skip..<Int(CommandLine.argc) { argv.append(CommandLine.unsafeArgv[index]) }
            argv.append(nil)
            var argc = CInt(argv.count - 1)
            let status = argv.withUnsafeMutableBufferPointer { buffer in
                var pointer: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = buffer.baseAddress
                return LLVMFuzzerRunDriver(&argc, &pointer, target.callback)
            }
            exit(status)
        #else
            exit(Replay.run(target.callback, paths: Array(arguments.dropFirst(2))))
        #endif
    }
}
