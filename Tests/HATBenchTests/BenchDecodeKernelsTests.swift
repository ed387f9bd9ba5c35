// hat bench decode-kernels: a small run measures every format, kernel and row count asked for, each
// result of ours within float rounding of sgemm over the numbers it holds (the check the
// bench prints beside its figures); and bad flags are refused with a message naming the entry.

import HATTensor
import Testing
@testable import HATBench

@Suite struct BenchDecodeKernelsTests {
    @Test func aSmallRunMeasuresEveryCaseAndAgreesWithFloat32() throws {
        let bench = try BenchDecodeKernels.parse([
            "--shapes", "64x256,48x64", "--rows", "1,3", "--megabytes", "1", "--repeats", "1",
            "--positions", "40", "--layers", "2", "--heads", "4", "--kv-heads", "2", "--head-dim", "16", "--threads", "2",
        ])
        let report = try bench.measure()
        let kernels = PackedKernel.allCases.filter(\.runsHere).map(\.rawValue)
        // f32 twice (our kernel, sgemm), every packed format once per kernel, each for both row counts.
        #expect(report.products.count == 2 * 2 * (2 + 4 * kernels.count))
        for p in report.products {
            let expected = p.format == "q4_k" && p.shape[1] % 256 != 0 ? "q4_1" : p.format
            #expect(p.heldAs == expected, "\(p.format) at width \(p.shape[1])")
            #expect(p.copies * p.matrixBytes >= 1 << 20, "the set is copied to at least --megabytes")
            #expect(p.microseconds > 0 && p.float32Ratio != nil)
            if p.kernel == "blas" {
                #expect(p.format == "f32" && p.largestDifference == nil, "sgemm is the reference")
            } else {
                // Sums of ≤ 256 products of |x| ≤ 1 and weights ~0.02 in another order: far below 1e-4.
                let difference = try #require(p.largestDifference)
                #expect(difference < 1e-4, "\(p.format) \(p.kernel) rows \(p.rows): \(difference)")
            }
        }
        let attention = try #require(report.attention)
        #expect(attention.caches.map(\.cache) == ["f32", "f32 (blocked loop, gemm)", "bf16", "f16"])
        for cache in attention.caches where cache.cache != "f32 (blocked loop, gemm)" {
            let difference = try #require(cache.largestDifference)
            #expect(difference < 1e-4, "\(cache.cache): \(difference)")
        }
    }

    @Test func badFlagsNameTheEntry() {
        for (flag, value) in [("--shapes", "1536x"), ("--shapes", "0x64"), ("--formats", "bf16,q5_0"), ("--rows", "1,5"),
                              ("--rows", "x"), ("--kv-heads", "4")] {
            let arguments = [flag, value] + (flag == "--kv-heads" ? ["--heads", "6"] : [])
            let error = #expect(throws: (any Error).self, "\(flag) \(value)") { _ = try BenchDecodeKernels.parse(arguments) }
            let message = BenchDecodeKernels.message(for: error!)
            #expect(message.contains(flag.dropFirst(2)) && message.contains(value), "\(flag) \(value): \(message)")
        }
    }
}
