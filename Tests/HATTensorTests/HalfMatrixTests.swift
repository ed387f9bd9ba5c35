// HalfMatrix (the storage of bf16/f16 key/value caches): rounding into each format against an
// independent rounding (bf16: ties to even on the bits; f16: Swift's Float16 conversion), f16
// saturation at ±65504 with NaN kept, exact widening, strided views whose width is not a
// multiple of the kernels' 8 lanes (the columns around a view stay untouched), and attention's two
// products read in place (scores, weighted sums) against Double loops over the widened numbers
// and bit for bit against the order of sums halves.c documents.

import HATTensor
import Testing

@Suite struct HalfMatrixTests {
    /// bfloat16 of x, to nearest with ties to even, written from the definition.
    static func bf16(_ x: Float) -> Float {
        let bits = x.bitPattern
        let lower = bits & 0xFFFF, upper = bits >> 16
        let rounded = lower > 0x8000 || (lower == 0x8000 && upper & 1 == 1) ? upper + 1 : upper
        return Float(bitPattern: rounded << 16)
    }

    static func values(_ count: Int) -> [Float] {
        var rng = RandomGenerator(seed: 5)
        var xs = (0..<count).map { i in (rng.nextUniform() - 0.5) * Float(1 << (i % 12)) }
        xs += [0, -0.0, 1, -1, 1.00390625, 1.01171875, 3.0e-39, 65504, 65519, -65520, 1e6, -3e38]   // ties, subnormal, f16 edges
        return xs
    }

    @Test(arguments: HalfFormat.allCases)
    func roundsToNearestAndWidensExactly(_ format: HalfFormat) {
        let xs = Self.values(61)
        let source = UnsafeMutablePointer<Float>.allocate(capacity: xs.count)
        defer { source.deallocate() }
        source.initialize(from: xs, count: xs.count)
        let halves = UnsafeMutablePointer<UInt16>.allocate(capacity: xs.count)
        defer { halves.deallocate() }
        let widened = UnsafeMutablePointer<Float>.allocate(capacity: xs.count)
        defer { widened.deallocate() }
        let matrix = HalfMatrix(data: halves, rows: 1, cols: xs.count, format: format)
        matrix.store(Tensor(data: source, rows: 1, cols: xs.count))
        matrix.widen(into: Tensor(data: widened, rows: 1, cols: xs.count))
        for (i, x) in xs.enumerated() {
            let expected: Float = switch format {
            case .bf16: Self.bf16(x)
            case .f16: Float(Float16(min(max(x, -65504), 65504)))   // saturating, as documented
            }
            #expect(widened[i].bitPattern == expected.bitPattern, "\(format) of \(x): \(widened[i]), expected \(expected)")
        }
        // Storing widened values again changes nothing (widening is exact).
        let again = UnsafeMutablePointer<UInt16>.allocate(capacity: xs.count)
        defer { again.deallocate() }
        HalfMatrix(data: again, rows: 1, cols: xs.count, format: format).store(Tensor(data: widened, rows: 1, cols: xs.count))
        #expect((0..<xs.count).allSatisfy { again[$0] == halves[$0] })
    }

    @Test func f16KeepsNaNAndSaturatesInfinities() {
        var xs: [Float] = [.nan, .infinity, -.infinity, 7e4, 1, 2, 3, 4, 5]   // 9: one through the 8-lane loop, one after
        let halves = UnsafeMutablePointer<UInt16>.allocate(capacity: 9)
        defer { halves.deallocate() }
        let widened = UnsafeMutablePointer<Float>.allocate(capacity: 9)
        defer { widened.deallocate() }
        xs.withUnsafeMutableBufferPointer { HalfMatrix(data: halves, rows: 1, cols: 9, format: .f16).store(Tensor(data: $0.baseAddress!, rows: 1, cols: 9)) }
        HalfMatrix(data: halves, rows: 1, cols: 9, format: .f16).widen(into: Tensor(data: widened, rows: 1, cols: 9))
        #expect(widened[0].isNaN)
        #expect(widened[1] == 65504 && widened[2] == -65504 && widened[3] == 65504)
        xs = [.nan]   // the one-at-a-time tail
        xs.withUnsafeMutableBufferPointer { HalfMatrix(data: halves, rows: 1, cols: 1, format: .f16).store(Tensor(data: $0.baseAddress!, rows: 1, cols: 1)) }
        HalfMatrix(data: halves, rows: 1, cols: 1, format: .f16).widen(into: Tensor(data: widened, rows: 1, cols: 1))
        #expect(widened[0].isNaN)
    }

    @Test(arguments: HalfFormat.allCases)
    func stridedViewsTouchOnlyTheirColumns(_ format: HalfFormat) {
        // A [5, 13] view at column 4 of a [5, 20] half buffer, widened into columns 2..<15 of a [5, 17] float buffer.
        var rng = RandomGenerator(seed: 9)
        let halves = UnsafeMutablePointer<UInt16>.allocate(capacity: 100)
        defer { halves.deallocate() }
        halves.initialize(repeating: 0xABCD, count: 100)
        let source = UnsafeMutablePointer<Float>.allocate(capacity: 65)
        defer { source.deallocate() }
        for i in 0..<65 { source[i] = rng.nextUniform() * 4 - 2 }
        let target = UnsafeMutablePointer<Float>.allocate(capacity: 85)
        defer { target.deallocate() }
        target.initialize(repeating: -7, count: 85)
        let all = HalfMatrix(data: halves, rows: 5, cols: 20, format: format)
        let view = all.columns(4..<17)
        view.store(Tensor(data: source, rows: 5, cols: 13))
        view.widen(into: Tensor(data: target, rows: 5, cols: 17).columns(2..<15))
        for r in 0..<5 {
            for c in 0..<20 where c < 4 || c >= 17 { #expect(halves[r * 20 + c] == 0xABCD, "half [\(r), \(c)] outside the view changed") }
            for c in 0..<17 {
                if c < 2 || c >= 15 {
                    #expect(target[r * 17 + c] == -7, "float [\(r), \(c)] outside the view changed")
                } else {
                    let x = source[r * 13 + c - 2], y = target[r * 17 + c]
                    #expect(abs(y - x) <= abs(x) * (format == .bf16 ? 1.0 / 256 : 1.0 / 2048), "[\(r), \(c)]: \(x) → \(y)")
                }
            }
        }
    }

    @Test(arguments: HalfFormat.allCases)
    func scoresAndWeightedSumsReadRowsInPlace(_ format: HalfFormat) {
        // 150 rows (scores: four at a time, then two; weighted sums: blocks of 64, 64, then 22) of
        // 45 columns (32 + 8 + 5) at column 3 of a 52-wide buffer.
        var rng = RandomGenerator(seed: 21)
        let (n, d, stride) = (150, 45, 52)
        let floats = UnsafeMutablePointer<Float>.allocate(capacity: n * stride)
        defer { floats.deallocate() }
        for i in 0..<(n * stride) { floats[i] = rng.nextUniform() * 4 - 2 }
        let halves = UnsafeMutablePointer<UInt16>.allocate(capacity: n * stride)
        defer { halves.deallocate() }
        let all = HalfMatrix(data: halves, rows: n, cols: stride, format: format)
        all.store(Tensor(data: floats, rows: n, cols: stride))
        all.widen(into: Tensor(data: floats, rows: n, cols: stride))      // floats now hold exactly the 16-bit numbers
        let rows = all.columns(3..<(3 + d))
        let q = (0..<d).map { _ in rng.nextUniform() * 2 - 1 }, p = (0..<n).map { _ in rng.nextUniform() }
        var scores = [Float](repeating: 0, count: n)
        q.withUnsafeBufferPointer { rows.scores(query: $0.baseAddress!, scale: 0.125, into: &scores) }
        for j in 0..<n {
            let expected = 0.125 * (0..<d).reduce(0.0) { $0 + Double(q[$1]) * Double(floats[j * stride + 3 + $1]) }
            #expect(abs(Double(scores[j]) - expected) <= 1e-5, "score \(j): \(scores[j]), expected \(expected)")
            // The documented order, bit for bit: eight lanes of fused multiply-adds over the
            // columns that fill whole vectors, lanes added pairwise (l + 4, then + 2, then + 1),
            // the tail multiplied and added column by column, then the scale.
            let full = d - d % 8
            var lanes = [Float](repeating: 0, count: 8)
            for c in 0..<full { lanes[c % 8] = lanes[c % 8].addingProduct(q[c], floats[j * stride + 3 + c]) }
            let halves = (0..<4).map { lanes[$0] + lanes[$0 + 4] }
            var score = (halves[0] + halves[2]) + (halves[1] + halves[3])
            for c in full..<d { score += q[c] * floats[j * stride + 3 + c] }
            #expect(scores[j] == score * 0.125, "score \(j): \(scores[j]), the documented order gives \(score * 0.125)")
        }
        for accumulate in [false, true] {
            var out = (0..<d).map { Float($0) * 0.01 }
            let before = out
            p.withUnsafeBufferPointer { rows.weightedSum($0.baseAddress!, into: &out, accumulate: accumulate) }
            for c in 0..<d {
                let expected = (accumulate ? Double(before[c]) : 0) + (0..<n).reduce(0.0) { $0 + Double(p[$1]) * Double(floats[$1 * stride + 3 + c]) }
                #expect(abs(Double(out[c]) - expected) <= 1e-4, "weighted sum [\(c)] accumulate \(accumulate): \(out[c]), expected \(expected)")
                // The documented order, bit for bit: one fused multiply-add per row, rows in order,
                // whatever blocks and registers the kernel uses.
                var sequential: Float = accumulate ? before[c] : 0
                for j in 0..<n { sequential = sequential.addingProduct(p[j], floats[j * stride + 3 + c]) }
                #expect(out[c] == sequential, "weighted sum [\(c)] accumulate \(accumulate): \(out[c]), rows in order give \(sequential)")
            }
        }
    }
}
