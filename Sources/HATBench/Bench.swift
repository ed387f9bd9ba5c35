// hat bench: benchmark commands that print figures (never timed unit tests), and what they share: timing and printing.

import ArgumentParser
import Dispatch
import Foundation

public struct Bench: ParsableCommand {
    public init() {}

    public static let configuration = CommandConfiguration(
        abstract: "Measure speed and memory; every figure in Reports/ comes from one of these.",
        subcommands: [
            BenchBLAS.self,
            BenchKernels.self,
            BenchDecodeKernels.self,
            BenchSegment.self,
            BenchTokenize.self,
            BenchTrain.self,
            BenchGenerate.self,
        ]
    )
}

/// Prints a benchmark's figures: one JSON object (sorted keys) with `--json`, else the text.
func printFigures<Figures: Encodable>(_ figures: Figures, json: Bool, text: () -> String) throws {
    if json {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        print(String(decoding: try encoder.encode(figures), as: UTF8.self))
    } else {
        print(text())
    }
}

/// Median wall time of `repeats` runs of `body` after one warm-up run; `setup` runs untimed before each.
func medianSeconds(repeats: Int, setup: () -> Void = {}, _ body: () -> Void) -> Double {
    setup()
    body()
    var times: [Double] = []
    for _ in 0..<repeats {
        setup()
        let start = DispatchTime.now().uptimeNanoseconds
        body()
        times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
    }
    times.sort()
    return times[times.count / 2]
}
