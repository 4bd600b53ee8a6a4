import Foundation

/// Runs inputs once each through a target, the way libFuzzer replays a corpus, and prints each one's time.
enum Replay {
    static func run(_ callback: FuzzDriver.Callback, paths: [String]) -> Int32 {
        guard !paths.isEmpty else {
            FileHandle.standardError.write(Data("bqsync-fuzz: name at least one input file or directory\n".utf8))
            return 64
        }
        var files: [String] = []
        for path in paths {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                FileHandle.standardError.write(Data("bqsync-fuzz: \(path): no such file or directory\n".utf8))
                return 1
            }
            if isDirectory.boolValue {
                let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
                files += names.filter { !$0.hasPrefix(".") }.sorted().map { path + "/" + $0 }
            } else {
                files.append(path)
            }
        }
        let clock = ContinuousClock()
        var slowest: (Duration, String) = (.zero, "")
        for file in files {
            guard let data = FileManager.default.contents(atPath: file) else {
                FileHandle.standardError.write(Data("bqsync-fuzz: \(file): cannot read\n".utf8))
                return 1
            }
            let elapsed = clock.measure {
                _ = Array(data).withUnsafeBufferPointer { callback($0.baseAddress, $0.count) }
            }
            if elapsed > slowest.0 { slowest = (elapsed, file) }
            print("\(file): \(data.count) bytes, \(elapsed)")
        }
        print("\(files.count) inputs replayed; slowest \(slowest.0) (\(slowest.1))")
        return 0
    }
}
