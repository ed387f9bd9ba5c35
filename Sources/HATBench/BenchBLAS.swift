// hat bench blas: sgemm GFLOP/s at given shapes, with the OpenBLAS core (and how it was chosen)
// and thread count; --check also compares one product with a naive Double loop.

import ArgumentParser
import Dispatch
import Foundation
import HATCommandLine
import HATTensor

struct BenchBLAS: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "blas",
        abstract: "sgemm GFLOP/s through ComputeContext.gemm (prints the OpenBLAS core and how it was chosen).")

    @Option(parsing: .unconditional, help: "Rows of A and C.") var m = 4096
    @Option(parsing: .unconditional, help: "Columns of B and C.") var n = 512
    @Option(parsing: .unconditional, help: "Inner dimension.") var k = 512
    @OptionGroup var threadOptions: ThreadOptions
    @Option(parsing: .unconditional, help: "Repetitions.") var repeats = 20
    @Flag(help: "Also compare the product with a naive Double loop and fail if they differ by more than float rounding.")
    var check = false

    func validate() throws {
        for (name, value) in [("m", m), ("n", n), ("k", k)] { try checkFlag(name, value, 1...Limits.matrixSide) }
        try checkFlag("repeats", repeats, 1...Limits.repeats)
        guard m * k + k * n + m * n <= 1 << 30 else { throw ValidationError("A, B and C together exceed 2^30 floats (4 GiB)") }
    }

    func run() throws {
        let context = threadOptions.makeContext()
        let arena = Arena(name: "bench")
        let a = arena.tensor(rows: m, cols: k), b = arena.tensor(rows: k, cols: n), c = arena.tensor(rows: m, cols: n)
        var rng = RandomGenerator(seed: 1)
        rng.fillUniform(a, bound: 1)
        rng.fillUniform(b, bound: 1)
        context.gemm(a, b, into: c)
        let start = DispatchTime.now().uptimeNanoseconds
        for _ in 0..<repeats { context.gemm(a, b, into: c) }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        let gflops = 2.0 * Double(m) * Double(n) * Double(k) * Double(repeats) / seconds / 1e9
        print("openblas core: \(BLASCore.provenance(environment: ProcessInfo.processInfo.environment)), threads: \(threadOptions.threads)")
        print("sgemm [\(m)x\(k)]·[\(k)x\(n)]: \(String(format3(gflops))) GFLOP/s")
        if check {
            // |error| of a float dot product of k terms in [-1, 1]: well below k · 2⁻²³ · k.
            var worst = 0.0
            for i in 0..<m {
                for j in 0..<n {
                    var sum = 0.0
                    for p in 0..<k { sum += Double(a[i, p]) * Double(b[p, j]) }
                    worst = max(worst, abs(sum - Double(c[i, j])))
                }
            }
            let bound = 1e-6 * Double(k)
            print("check against a naive loop: max |difference| \(worst) (bound \(bound)): \(worst <= bound ? "ok" : "FAILED")")
            if worst > bound { throw ExitCode.failure }
        }
    }
}

func format3(_ x: Double) -> String {
    let scaled = (x * 10).rounded() / 10
    return String(scaled)
}
