// swift-tools-version:6.0
import PackageDescription

/// Async functions of Loket's own modules run on their caller's executor (SE-0461) instead of
/// hopping to the generic executor on every call and return. The server's callers are handler
/// tasks and database lanes, so the hops were pure cost (each one checks the task's executor
/// preference under a lock): ~3 % of loketd's CPU per claim in an A/B run. The one function that
/// moves libpq work onto its lane (`PostgresConnection.onLane`) is `@concurrent`, so it leaves an
/// actor caller's executor.
let loketSettings: [SwiftSetting] = [.enableUpcomingFeature("NonisolatedNonsendingByDefault")]

let package = Package(
    name: "loket",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "loketd", targets: ["loketd"]),
        .executable(name: "loket", targets: ["loket"]),
        .library(name: "Postgres", targets: ["Postgres"]),
        .library(name: "LoketCore", targets: ["LoketCore"]),
        .library(name: "LoketStore", targets: ["LoketStore"]),
        .library(name: "LoketAPI", targets: ["LoketAPI"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/x-sheep/swift-property-based.git", from: "2.0.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/vapor/multipart-kit.git", from: "4.7.1"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache.git", from: "2.1.1"),
    ],
    targets: [
        .systemLibrary(
            name: "CLibPQ",
            pkgConfig: "libpq",
            providers: [.apt(["libpq-dev"]), .brew(["libpq"])]
        ),
        .target(
            name: "Postgres",
            dependencies: [
                "CLibPQ",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: loketSettings
        ),
        .target(name: "LoketCore", swiftSettings: loketSettings),
        .target(
            name: "LoketStore",
            dependencies: [
                "Postgres",
                "LoketCore",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: loketSettings
        ),
        .target(
            name: "LoketAPI",
            dependencies: [
                "LoketStore",
                "LoketCore",
                "Postgres",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "MultipartKit", package: "multipart-kit"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Mustache", package: "swift-mustache"),
            ],
            resources: [.copy("Resources/openapi.yaml"), .copy("Resources/templates")],
            swiftSettings: loketSettings
        ),
        .target(
            name: "LoketWorker",
            dependencies: [
                "LoketStore",
                "LoketCore",
                "Postgres",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            swiftSettings: loketSettings
        ),
        .executableTarget(
            name: "loketd",
            dependencies: [
                "Postgres",
                "LoketCore",
                "LoketStore",
                "LoketAPI",
                "LoketWorker",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: loketSettings
        ),
        .executableTarget(
            name: "loket",
            dependencies: [
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            path: "Sources/loket"
        ),
        .executableTarget(
            name: "pq-bench",
            dependencies: ["Postgres"],
            path: "bench/swift/pq-bench",
            swiftSettings: loketSettings
        ),
        .executableTarget(
            name: "scan-bench",
            dependencies: ["LoketStore", "Postgres"],
            path: "bench/swift/scan-bench",
            swiftSettings: loketSettings
        ),
        .executableTarget(
            name: "calendar-bench",
            dependencies: ["LoketCore"],
            path: "bench/swift/calendar-bench",
            swiftSettings: loketSettings
        ),
        .executableTarget(
            name: "claim-bench",
            path: "bench/swift/claim-bench",
            swiftSettings: loketSettings
        ),
        .executableTarget(
            name: "report-bench",
            dependencies: ["LoketStore", "LoketCore", "Postgres"],
            path: "bench/swift/report-bench",
            swiftSettings: loketSettings
        ),
        // Scratch databases and template databases for the integration tests.
        .target(
            name: "LoketTestSupport",
            dependencies: ["Postgres"],
            path: "Tests/LoketTestSupport",
            swiftSettings: loketSettings
        ),
        .testTarget(
            name: "LoketWorkerTests",
            dependencies: [
                "LoketTestSupport",
                "LoketWorker",
                "LoketStore",
                "LoketCore",
                "Postgres",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycleTestKit", package: "swift-service-lifecycle"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
            ],
            swiftSettings: loketSettings
        ),
        .testTarget(
            name: "PostgresTests",
            dependencies: ["Postgres", "LoketTestSupport"],
            swiftSettings: loketSettings
        ),
        .testTarget(
            name: "LoketAdminTests",
            dependencies: ["LoketStore", "LoketCore", "Postgres", "LoketTestSupport", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: loketSettings
        ),
        .testTarget(
            name: "LoketCoreTests",
            dependencies: [
                "LoketCore",
                "LoketTestSupport",
                .product(name: "PropertyBased", package: "swift-property-based"),
            ],
            swiftSettings: loketSettings
        ),
        .testTarget(
            name: "LoketAPITests",
            dependencies: [
                "LoketTestSupport",
                "LoketAPI",
                "LoketStore",
                "LoketCore",
                "Postgres",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
            ],
            swiftSettings: loketSettings
        ),
        .testTarget(
            name: "LoketCLITests",
            dependencies: [
                "LoketTestSupport",
                "LoketAPI",
                "LoketStore",
                "Postgres",
                .product(name: "Hummingbird", package: "hummingbird"),
            ],
            path: "Tests/LoketCLITests",
            swiftSettings: loketSettings
        ),
    ]
)
