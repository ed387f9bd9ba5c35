// swift-tools-version:6.1
// hat: hierarchical byte-level language models (HAT) in Swift.
// Targets import one way: CBLAS ← HATTensor ← HATLayers ← HATModel ← HATGenerate ← HATEval ← hat,
// with CICU ← HATText (words) and HATTensor ← HATIO (file formats) feeding HATModel, CCPU (CPUID)
// under HATTensor, and CICU also under HATEval (character classes of perturbations);
// HATIO ← HATTokenizer (byte-level BPE, equal to HF tokenizers) feeds HATModel (token models, teachers).
// `hat` (Sources/hat) is the command line as a library, the product commands only; `hat bench`
// (Sources/HATBench) and `hat report` (Sources/HATReport) are libraries of their own that it
// registers as subcommands, and HATCommandLine (Sources/HATCommandLine) holds what all of them share
// (errors, flag checks, --threads, locations, terminal output). The `hat` binary is Sources/hat-main,
// and `hat-fuzz` (Sources/hat-fuzz) parses the same commands in-process to fuzz them.
// HATServe (Sources/HATServe) is `hat serve`'s HTTP server on Hummingbird: HATGenerate ← HATServe ← hat.
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
        .executable(name: "hat", targets: ["hat-main"]),
        .library(name: "HATModel", targets: ["HATModel"]),
        .library(name: "HATText", targets: ["HATText"]),
        .library(name: "HATTokenizer", targets: ["HATTokenizer"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        // `hat serve`; no traits: the server needs neither swift-configuration nor full Foundation.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1", traits: []),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        // Tests of `hat serve` talk real HTTP to it.
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
    ],
    targets: [
        // System libraries
        .systemLibrary(name: "CBLAS", path: "Sources/CBLAS"),
        .target(name: "CCPU", path: "Sources/CCPU", cSettings: [.unsafeFlags(["-O2"])]),
        // -ffp-contract=off: a weight is widened by the same multiplications and additions everywhere.
        .target(name: "CKernels", path: "Sources/CKernels", cSettings: [.unsafeFlags(["-O2", "-mavx2", "-mfma", "-mf16c", "-ffp-contract=off"])]),
        .target(
            name: "CICU",
            path: "Sources/CICU",
            cSettings: [.unsafeFlags(["-O2"])],
            linkerSettings: [.linkedLibrary("icuuc"), .linkedLibrary("icudata")]
        ),

        // Libraries
        .target(name: "HATTensor", dependencies: ["CBLAS", "CCPU", "CKernels"], swiftSettings: kernelSettings),
        .target(name: "HATLayers", dependencies: ["HATTensor"], swiftSettings: kernelSettings),
        .target(name: "HATText", dependencies: ["CICU"], swiftSettings: kernelSettings),
        .target(name: "HATIO", dependencies: ["HATTensor"], swiftSettings: kernelSettings),
        // Parses untrusted text and files: plain -O, every bounds check kept.
        .target(name: "HATTokenizer", dependencies: ["HATIO"]),
        .target(name: "HATModel", dependencies: ["HATTensor", "HATLayers", "HATText", "HATIO", "HATTokenizer"], swiftSettings: kernelSettings),
        .target(name: "HATGenerate", dependencies: ["HATTensor", "HATText", "HATTokenizer", "HATModel", "HATIO"], swiftSettings: kernelSettings),
        .target(name: "HATEval", dependencies: ["CICU", "HATTensor", "HATText", "HATModel", "HATIO", "HATGenerate"], swiftSettings: kernelSettings),
        .target(
            name: "HATServe",
            dependencies: [
                "HATTensor", "HATLayers", "HATText", "HATTokenizer", "HATModel", "HATGenerate",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),

        // Command line: what the commands share, the benchmarks, the report writers, the product
        // commands (a library), the binary, and the fuzzer of its inputs
        .target(
            name: "HATCommandLine",
            dependencies: ["HATTensor", "HATLayers", "HATModel", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        .target(
            name: "HATBench",
            dependencies: [
                "HATCommandLine", "HATTensor", "HATLayers", "HATText", "HATIO", "HATTokenizer", "HATModel", "HATGenerate", "HATEval",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .target(
            name: "HATReport",
            dependencies: [
                "HATCommandLine", "HATTensor", "HATText", "HATModel", "HATGenerate", "HATEval",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .target(
            name: "hat",
            dependencies: [
                "HATCommandLine", "HATBench", "HATReport",
                "HATTensor", "HATLayers", "HATText", "HATIO", "HATTokenizer", "HATModel", "HATGenerate", "HATEval", "HATServe",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(name: "hat-main", dependencies: ["hat"], path: "Sources/hat-main"),
        .executableTarget(
            name: "hat-fuzz",
            dependencies: [
                "hat", "HATTensor", "HATIO", "HATModel", "HATGenerate",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Sources/hat-fuzz"
        ),

        // Tests (numeric ones are meant to run in release: `swift test -c release`)
        .target(name: "HATTestSupport", dependencies: ["HATTensor", "HATText", "HATModel"], path: "Tests/HATTestSupport"),
        .testTarget(name: "HATTensorTests", dependencies: ["HATTensor", "CBLAS"]),
        .testTarget(name: "HATLayersTests", dependencies: ["HATTensor", "HATLayers", "HATIO"], resources: [.copy("Fixtures")]),
        .testTarget(name: "HATTextTests", dependencies: ["HATText"], resources: [.copy("Fixtures")]),
        .testTarget(name: "HATModelTests", dependencies: ["HATTensor", "HATLayers", "HATIO", "HATText", "HATTokenizer", "HATModel", "HATTestSupport"], resources: [.copy("Fixtures")]),
        .testTarget(name: "HATIOTests", dependencies: ["HATTensor", "HATIO"], resources: [.copy("Fixtures")]),
        .testTarget(name: "HATTokenizerTests", dependencies: ["HATIO", "HATTokenizer"], resources: [.copy("Fixtures")]),
        .testTarget(name: "HATGenerateTests", dependencies: ["HATTensor", "HATModel", "HATIO", "HATTokenizer", "HATGenerate", "HATTestSupport"]),
        .testTarget(name: "HATEvalTests", dependencies: ["HATText", "HATModel", "HATIO", "HATTokenizer", "HATGenerate", "HATEval", "HATTestSupport"], resources: [.copy("Fixtures")]),
        .testTarget(
            name: "HATServeTests",
            dependencies: [
                "HATTensor", "HATModel", "HATGenerate", "HATServe", "HATTestSupport",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        .testTarget(name: "hatTests", dependencies: ["hat", "hat-main", "hat-fuzz", "HATCommandLine", "HATTensor", "HATIO", "HATModel", "HATTestSupport"]),
        .testTarget(name: "HATBenchTests", dependencies: ["HATBench", "HATCommandLine", "HATTensor", "HATModel", "HATTestSupport"]),
        .testTarget(name: "HATReportTests", dependencies: ["HATReport", "HATCommandLine", "HATTensor", "HATIO", "HATModel", "HATTestSupport"]),
    ]
)
