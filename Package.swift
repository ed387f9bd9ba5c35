// swift-tools-version:6.1
// hat: hierarchical byte-level language models (HAT) in Swift.
// Targets import one way: CBLAS/CICU ← HATTensor ← HATText ← HATModel ← HATIO ← HATGenerate ← HATEval ← hat.
import PackageDescription

/// Release builds of numeric targets: no bounds checks in hot loops and AVX2/FMA code.
/// Debug builds keep every check.
let kernelSettings: [SwiftSetting] = [
    .unsafeFlags(["-Ounchecked", "-target-cpu", "haswell"], .when(configuration: .release)),
]

let package = Package(
    name: "hat",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "hat", targets: ["hat"]),
        .library(name: "HATModel", targets: ["HATModel"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        // System libraries
        .systemLibrary(name: "CBLAS", path: "Sources/CBLAS"),
        .target(
            name: "CICU",
            path: "Sources/CICU",
            cSettings: [.unsafeFlags(["-O2"])],
            linkerSettings: [.linkedLibrary("icuuc"), .linkedLibrary("icudata")]
        ),

        // Libraries
        .target(name: "HATTensor", dependencies: ["CBLAS"], swiftSettings: kernelSettings),
        .target(name: "HATText", dependencies: ["CICU"], swiftSettings: kernelSettings),
        .target(name: "HATModel", dependencies: ["HATTensor", "HATText"], swiftSettings: kernelSettings),
        .target(name: "HATIO", dependencies: ["HATTensor", "HATModel"], swiftSettings: kernelSettings),
        .target(name: "HATGenerate", dependencies: ["HATTensor", "HATText", "HATModel", "HATIO"], swiftSettings: kernelSettings),
        .target(name: "HATEval", dependencies: ["CICU", "HATTensor", "HATText", "HATModel", "HATIO", "HATGenerate"], swiftSettings: kernelSettings),

        // Command line
        .executableTarget(
            name: "hat",
            dependencies: [
                "HATTensor", "HATText", "HATModel", "HATIO", "HATGenerate", "HATEval",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

        // Tests (numeric ones are meant to run in release: `swift test -c release`)
        .testTarget(name: "HATTensorTests", dependencies: ["HATTensor", "CBLAS"]),
        .testTarget(name: "HATTextTests", dependencies: ["HATText"], resources: [.copy("Fixtures")]),
        .testTarget(name: "HATModelTests", dependencies: ["HATTensor", "HATModel"], resources: [.copy("Fixtures")]),
        .testTarget(name: "HATIOTests", dependencies: ["HATTensor", "HATModel", "HATIO"], resources: [.copy("Fixtures")]),
        .testTarget(name: "HATGenerateTests", dependencies: ["HATTensor", "HATModel", "HATIO", "HATGenerate"]),
        .testTarget(name: "HATEvalTests", dependencies: ["HATText", "HATModel", "HATIO", "HATGenerate", "HATEval"]),
        .testTarget(name: "hatTests", dependencies: ["hat"]),
    ]
)
