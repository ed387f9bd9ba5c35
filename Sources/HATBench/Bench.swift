// hat bench: benchmark commands that print figures (never timed unit tests).

import ArgumentParser

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
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
