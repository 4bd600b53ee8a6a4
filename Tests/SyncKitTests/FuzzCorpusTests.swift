import Foundation
import SyncFuzz
import Testing

/// Replays every input in Tests/FuzzCorpus (the seeds, what fuzzing kept, and every crasher found) through the
/// same entry points `scripts/fuzz` fuzzes. A trap in the code under test crashes this process, which is the
/// failure this suite exists to catch; each input must also finish quickly.
@Suite struct FuzzCorpusTests {
    /// Tests/FuzzCorpus, found from this file so that no copy of the corpus is bundled.
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("FuzzCorpus").path

    static func inputs(_ target: String) -> [String] {
        let directory = root + "/" + target
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.filter { !$0.hasPrefix(".") }.sorted().map { directory + "/" + $0 }
    }

    static func run(_ target: String, _ bytes: UnsafeBufferPointer<UInt8>) {
        switch target {
        case "config": FuzzEntry.config(bytes)
        case "ndjson": FuzzEntry.ndjson(bytes)
        default: FuzzEntry.csv(bytes)
        }
    }

    @Test(
        "every corpus input runs through its fuzz target, each in bounded time", arguments: ["config", "ndjson", "csv"])
    func replay(target: String) throws {
        let files = Self.inputs(target)
        #expect(files.count >= 5, "the \(target) corpus is missing (\(Self.root))")
        let clock = ContinuousClock()
        for file in files {
            let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: file)))
            let elapsed = clock.measure { bytes.withUnsafeBufferPointer { Self.run(target, $0) } }
            // libFuzzer runs with -timeout=10 on an optimised build; a debug build gets the same allowance.
            #expect(elapsed < .seconds(10), "\(file) took \(elapsed)")
        }
    }
}
