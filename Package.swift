// swift-tools-version:6.1
import PackageDescription

let strict: [SwiftSetting] = [.swiftLanguageMode(.v6)]

let package = Package(
    name: "bqsync",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "bqsync", targets: ["bqsync"]),
        .library(name: "SyncKit", targets: ["SyncKit"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
    ],
    targets: [
        .systemLibrary(
            name: "CYAML",
            pkgConfig: "yaml-0.1",
            providers: [.apt(["libyaml-dev"])]
        ),
        .systemLibrary(
            name: "CCurl",
            pkgConfig: "libcurl",
            providers: [.apt(["libcurl4-openssl-dev"])]
        ),
        .systemLibrary(
            name: "CLibPQ",
            pkgConfig: "libpq",
            providers: [.apt(["libpq-dev"])]
        ),
        .target(name: "YAML", dependencies: ["CYAML"], exclude: ["README.md"], swiftSettings: strict),
        .target(name: "HTTP", dependencies: ["CCurl"], exclude: ["README.md"], swiftSettings: strict),
        .target(name: "Postgres", dependencies: ["CLibPQ"], exclude: ["README.md"], swiftSettings: strict),
        .target(
            name: "BigQuery",
            dependencies: [
                "HTTP",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CryptoExtras", package: "swift-crypto"),
            ],
            exclude: ["README.md"],
            swiftSettings: strict
        ),
        .target(
            name: "SyncKit",
            dependencies: [
                "YAML", "BigQuery", "Postgres", .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ],
            exclude: ["README.md"],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "bqsync",
            dependencies: [
                "SyncKit", "BigQuery", "HTTP", .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            exclude: ["README.md"],
            swiftSettings: strict
        ),
        // Fuzzing: SyncFuzz holds the entry points (FuzzEntry), reaching SyncKit's internals through `package`
        // access, so SyncKit's public API has none. `bqsync-fuzz` drives them; built with -D FUZZING
        // -sanitize=fuzzer,address by scripts/fuzz, and as a corpus replayer otherwise. CLibFuzzer only declares
        // libFuzzer's driver.
        .target(
            name: "SyncFuzz", dependencies: ["SyncKit", "YAML", "BigQuery"], exclude: ["README.md"],
            swiftSettings: strict),
        .systemLibrary(name: "CLibFuzzer", path: "Sources/FuzzLibFuzzer"),
        .executableTarget(
            name: "bqsync-fuzz",
            dependencies: ["SyncFuzz", "CLibFuzzer"],
            path: "Sources/FuzzDriver",
            exclude: ["README.md"],
            swiftSettings: strict
        ),
        .target(
            name: "SyncTestSupport",
            dependencies: ["HTTP", "BigQuery", .product(name: "Logging", package: "swift-log")],
            exclude: ["README.md"],
            swiftSettings: strict
        ),

        .testTarget(name: "YAMLTests", dependencies: ["YAML"], resources: [.copy("Fixtures")], swiftSettings: strict),
        .testTarget(
            name: "HTTPTests",
            dependencies: ["HTTP", "SyncTestSupport", .product(name: "Crypto", package: "swift-crypto")],
            exclude: ["Fixtures"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "BigQueryTests",
            dependencies: ["BigQuery", "SyncTestSupport", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict
        ),
        .testTarget(
            name: "SyncKitTests",
            dependencies: ["SyncKit", "SyncFuzz", "SyncTestSupport"],
            exclude: ["Snapshots"],
            resources: [.copy("Fixtures")],
            swiftSettings: strict
        ),
        .testTarget(
            name: "bqsyncTests",
            dependencies: ["SyncTestSupport"],
            exclude: ["Snapshots"],
            swiftSettings: strict
        ),
    ]
)
