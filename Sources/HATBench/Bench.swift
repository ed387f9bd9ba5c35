// hat bench: benchmark commands that print figures (never timed unit tests).

import ArgumentParser

public struct Bench: ParsableCommand {
    public init() {}

    public static let configuration = CommandConfiguration(
        abstract: "Measure speed and memory; every figure in Reports/ comes from one of these.",
        subcommands: [
            BenchBLAS.self,
            BenchKernels.self,
            BenchSegment.self,
            BenchTokenize.self,
            BenchTrain.self,
            BenchGenerate.self,
        ]
    )
}
