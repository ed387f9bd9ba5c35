// hat bench blas: sgemm GFLOP/s at given shapes, with the OpenBLAS core and thread count.

import ArgumentParser
import Dispatch
import HATTensor

struct BenchBLAS: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "blas",
        abstract: "sgemm GFLOP/s through ComputeContext.gemm (prints the OpenBLAS core it chose).")

    @Option(help: "Rows of A and C.") var m = 4096
    @Option(help: "Columns of B and C.") var n = 512
    @Option(help: "Inner dimension.") var k = 512
    @OptionGroup var threadOptions: ThreadOptions
    @Option(help: "Repetitions.") var repeats = 20

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
        print("openblas core: \(BLAS.coreName), threads: \(threadOptions.threads)")
        print("sgemm [\(m)x\(k)]·[\(k)x\(n)]: \(String(format3(gflops))) GFLOP/s")
    }
}

func format3(_ x: Double) -> String {
    let scaled = (x * 10).rounded() / 10
    return String(scaled)
}
