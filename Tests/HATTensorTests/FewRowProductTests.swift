// ComputeContext.fewRowProduct (float32 weights, 1–4 rows: a decoding step of a float32 model)
// against a Double loop, with the same bits for any thread count and with accumulation; a row
// alone (summed four outputs at a time) has the bits it has in a group; and on weights that are
// exactly bfloat16 numbers it gives the bits of the bf16 kernel, whose order of sums it shares.

import HATTensor
import Testing

struct FewRowProductTests {
    /// (rows, width, outputs): widths with and without a tail past a multiple of 8, output counts
    /// that leave tails of 1–3 after the four-at-a-time outputs and cut unevenly among threads.
    static let shapes = [(1, 37, 23), (2, 64, 5), (3, 576, 70), (4, 256, 9), (1, 1536, 131)]

    static func random(_ t: Tensor, _ rng: inout RandomGenerator) {
        for r in 0..<t.rows { for c in 0..<t.cols { t[r, c] = rng.nextNormal() } }
    }

    @Test(arguments: shapes)
    func productEqualsADoubleLoop(rows: Int, width: Int, outputs: Int) {
        var rng = RandomGenerator(seed: UInt64(rows * 10_000 + width))
        let arena = Arena(name: "few-row product test")
        let w = arena.tensor(rows: outputs, cols: width), x = arena.tensor(rows: rows, cols: width)
        let base = arena.tensor(rows: rows, cols: outputs)
        Self.random(w, &rng)
        Self.random(x, &rng)
        Self.random(base, &rng)
        var results: [[Float]] = []
        for (threads, accumulate) in [(1, false), (2, false), (3, false), (1, true), (8, true)] {
            let y = arena.tensor(rows: rows, cols: outputs)
            y.data.update(from: base.data, count: rows * outputs)
            ComputeContext(threads: threads).fewRowProduct(x, w, into: y, accumulate: accumulate)
            for r in 0..<rows {
                for o in 0..<outputs {
                    var sum = accumulate ? Double(base[r, o]) : 0
                    for i in 0..<width { sum += Double(x[r, i]) * Double(w[o, i]) }
                    #expect(abs(Double(y[r, o]) - sum) <= 1e-5 * Double(width).squareRoot() * 4,
                            "\(threads) threads: row \(r), output \(o): \(y[r, o]) against \(sum)")
                }
            }
            if !accumulate { results.append(y.toArray()) }
        }
        #expect(results.allSatisfy { $0 == results[0] }, "the same bits for 1, 2 and 3 threads")
    }

    @Test(arguments: shapes.map { ($0.1, $0.2) })
    func aRowAloneHasItsBitsInAGroupAndTheBF16KernelsOrder(width: Int, outputs: Int) {
        var rng = RandomGenerator(seed: UInt64(outputs * 100 + width))
        let parameters = ParameterSet([ParameterSpec("w", [outputs, width])])
        for i in 0..<parameters.count { parameters.values[i] = rng.nextNormal() }
        // The same numbers twice: float32 weights that are exactly bfloat16 values, and packed bf16.
        let bits = UnsafeMutableRawPointer.allocate(byteCount: 2 * outputs * width, alignment: 64)
        defer { bits.deallocate() }
        let packed = PackedMatrix.pack(parameters.values, rows: outputs, cols: width, format: .bf16, into: bits)
        let arena = Arena(name: "few-row product test")
        let w = arena.tensor(rows: outputs, cols: width)
        packed.widenRows(0..<outputs, into: w.data)
        let x = arena.tensor(rows: 4, cols: width), group = arena.tensor(rows: 4, cols: outputs)
        Self.random(x, &rng)
        ComputeContext(threads: 1).fewRowProduct(x, w, into: group, accumulate: false)
        let fromBF16 = arena.tensor(rows: 4, cols: outputs)
        ComputeContext(threads: 1, packedKernel: .avx2).packedProduct(x, packed, into: fromBF16, accumulate: false)
        #expect(group.toArray() == fromBF16.toArray(), "float32 weights sum in the bf16 kernel's order")
        for threads in [1, 3] {
            for r in 0..<4 {
                let alone = arena.tensor(rows: 1, cols: outputs)
                for o in 0..<outputs { alone[0, o] = Float(o) }
                ComputeContext(threads: threads).fewRowProduct(x.rows(r..<(r + 1)), w, into: alone, accumulate: true)
                for o in 0..<outputs {
                    #expect(alone[0, o] == Float(o) + group[r, o], "\(threads) threads: row \(r), output \(o)")
                }
            }
        }
    }
}
