// bfloat16 weights: rounding to nearest with ties to even (and what happens to NaN, infinity and
// the largest floats), and the bf16 product against a Double loop over the rounded weights for
// row counts that use every kernel path (1–4 rows, two groups, a tail of widths not a multiple
// of 8), with the same bits for any thread count; ParameterSet rounds matrices only.

import HATTensor
import Testing

struct BF16Tests {
    /// The float a bfloat16 bit pattern means.
    static func widen(_ h: UInt16) -> Float { Float(bitPattern: UInt32(h) << 16) }

    @Test func roundsToNearestWithTiesToEven() {
        let parameters = ParameterSet([ParameterSpec("w", [1, 8])])
        let v = parameters.values
        // 1 + 2^-8 lies halfway between 1 and 1 + 2^-7: ties go to the even mantissa, 1.
        v[0] = 1 + 0x1p-8
        // 1 + 3·2^-8 lies halfway between 1 + 2^-7 and 1 + 2^-6: even is 1 + 2^-6.
        v[1] = 1 + 3 * 0x1p-8
        v[2] = 1 + 0x1p-8 + 0x1p-20          // just above the tie: up
        v[3] = -.infinity
        v[4] = .nan
        v[5] = Float.greatestFiniteMagnitude  // beyond bfloat16's largest: infinity
        v[6] = 0x1p-133                       // a float32 subnormal: rounds within bfloat16's subnormals
        v[7] = -0.0
        parameters.storeMatricesInBF16()
        let w = parameters.bf16Matrix("w")!
        #expect(Self.widen(w.data[0]) == 1)
        #expect(Self.widen(w.data[1]) == 1 + 0x1p-6)
        #expect(Self.widen(w.data[2]) == 1 + 0x1p-7)
        #expect(Self.widen(w.data[3]) == -.infinity)
        #expect(Self.widen(w.data[4]).isNaN)
        #expect(Self.widen(w.data[5]) == .infinity)
        #expect(Self.widen(w.data[6]) == 0x1p-133)
        #expect(w.data[7] == 0x8000)
        // The float32 values hold the same numbers afterwards.
        for i in 0..<8 where !Self.widen(w.data[i]).isNaN { #expect(v[i] == Self.widen(w.data[i])) }
    }

    @Test func vectorsStayFloat32AndMatricesAreRounded() {
        let parameters = ParameterSet([ParameterSpec("gain", [5]), ParameterSpec("w", [3, 5])])
        for i in 0..<parameters.count { parameters.values[i] = 1 + Float(i) * 0x1p-12 }
        let gain = (0..<5).map { parameters.value("gain").data[$0] }
        parameters.storeMatricesInBF16()
        #expect((0..<5).map { parameters.value("gain").data[$0] } == gain)
        #expect(parameters.bf16Matrix("gain") == nil)
        let w = parameters.value("w")
        #expect((0..<15).allSatisfy { w.data[$0] == Self.widen(parameters.bf16Matrix("w")!.data[$0]) })
    }

    @Test(arguments: [(1, 8, 16), (1, 37, 5), (3, 37, 9), (4, 64, 24), (6, 13, 11), (9, 200, 70)])
    func productEqualsADoubleLoopOverTheRoundedWeights(rows: Int, width: Int, outputs: Int) {
        let parameters = ParameterSet([ParameterSpec("w", [outputs, width])])
        var rng = RandomGenerator(seed: UInt64(rows * 1000 + width))
        for i in 0..<parameters.count { parameters.values[i] = rng.nextNormal() }
        parameters.storeMatricesInBF16()
        let w = parameters.bf16Matrix("w")!, rounded = parameters.value("w")
        let arena = Arena(name: "bf16 test")
        let x = arena.tensor(rows: rows, cols: width), base = arena.tensor(rows: rows, cols: outputs)
        for i in 0..<(rows * width) { x.data[i] = rng.nextNormal() }
        for i in 0..<(rows * outputs) { base.data[i] = rng.nextNormal() }
        var results: [[Float]] = []
        for (threads, accumulate) in [(1, false), (2, false), (3, false), (1, true), (8, true)] {
            let y = arena.tensor(rows: rows, cols: outputs)
            y.data.update(from: base.data, count: rows * outputs)
            ComputeContext(threads: threads).bf16Product(x, w, into: y, accumulate: accumulate)
            for r in 0..<rows {
                for o in 0..<outputs {
                    var sum = accumulate ? Double(base.data[r * outputs + o]) : 0
                    for i in 0..<width { sum += Double(x.data[r * width + i]) * Double(rounded.data[o * width + i]) }
                    #expect(abs(Double(y.data[r * outputs + o]) - sum) <= 1e-5 * Double(width).squareRoot() * 4,
                            "row \(r), output \(o): \(y.data[r * outputs + o]) against \(sum)")
                }
            }
            if !accumulate { results.append(Array(UnsafeBufferPointer(start: y.data, count: rows * outputs))) }
        }
        #expect(results.allSatisfy { $0 == results[0] }, "the same bits for 1, 2 and 3 threads")
    }
}
