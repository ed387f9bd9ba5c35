// Packed weights (`--weights`): bfloat16 rounding to nearest with ties to even (and what happens
// to NaN, infinity and the largest floats); ggml blocks Q8_0, Q4_1, Q4_K within half a step of
// the float32 weights, with the formats' fallbacks; every packed product against a Double loop
// over the numbers the packed weights mean, for row counts that use every kernel path (1–4 rows,
// two groups, a bf16 tail of widths not a multiple of 8, more rows than the in-place kernels
// take, a matrix widened in several slices), with the same bits for any thread count, and for a
// row alone (summed four outputs at a time) as in a group of rows;
// ParameterSet packs matrices only and releases their float32 values, also matrix by matrix as a
// loader fills them. (That the blocks are laid out as ggml's, and widen to exactly its numbers,
// is checked against the GGUF reader in HATIOTests/QuantizedBlocksTests.)

import Foundation
import HATTensor
import Testing

struct PackedWeightsTests {
    /// The float a bfloat16 bit pattern means.
    static func widen(_ h: UInt16) -> Float { Float(bitPattern: UInt32(h) << 16) }
    /// A bfloat16 matrix's bit patterns.
    static func bits(_ w: PackedMatrix) -> UnsafeMutablePointer<UInt16> {
        w.data.assumingMemoryBound(to: UInt16.self)
    }
    /// Every number a packed matrix means, row-major (PackedMatrix.widenRows).
    static func widened(_ w: PackedMatrix) -> [Float] {
        [Float](unsafeUninitializedCapacity: w.rows * w.cols) { buffer, count in
            w.widenRows(0..<w.rows, into: buffer.baseAddress!)
            count = w.rows * w.cols
        }
    }

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
        parameters.packMatrices(.bf16)
        let w = Self.bits(parameters.packedMatrix("w")!)
        #expect(Self.widen(w[0]) == 1)
        #expect(Self.widen(w[1]) == 1 + 0x1p-6)
        #expect(Self.widen(w[2]) == 1 + 0x1p-7)
        #expect(Self.widen(w[3]) == -.infinity)
        #expect(Self.widen(w[4]).isNaN)
        #expect(Self.widen(w[5]) == .infinity)
        #expect(Self.widen(w[6]) == 0x1p-133)
        #expect(w[7] == 0x8000)
        // Widening gives the same numbers; the matrix's float32 values are released.
        let widened = Self.widened(parameters.packedMatrix("w")!)
        for i in 0..<8 where !Self.widen(w[i]).isNaN { #expect(widened[i].bitPattern == Self.widen(w[i]).bitPattern) }
        #expect(widened[4].isNaN)
        #expect(parameters.float32Bytes == 0)
    }

    /// A loader fills entry by entry (ParameterSet.fill): each matrix is packed and its float32
    /// released before the next entry is filled, and the packed bytes are exactly those
    /// packMatrices makes from the same values afterwards.
    @Test(arguments: [WeightFormat.bf16, .q8_0, .q4_k])
    func fillingPacksEachMatrixBeforeTheNext(format: WeightFormat) {
        let specs = [ParameterSpec("a", [4, 256]), ParameterSpec("gain", [256]), ParameterSpec("b", [3, 512]),
                     ParameterSpec("c", [2, 256])]
        func value(_ i: Int) -> Float { sin(Float(i) * 0.37) * 0.1 }
        let afterwards = ParameterSet(specs), filled = ParameterSet(specs)
        for i in 0..<afterwards.count { afterwards.values[i] = value(i) }
        afterwards.packMatrices(format)
        var packedBeforeFilling: [String: [String]] = [:]
        filled.fill({ entry in
            packedBeforeFilling[entry.name] = specs.map(\.name).filter { filled.packedMatrix($0) != nil }
            for i in 0..<entry.count { filled.values[entry.offset + i] = value(entry.offset + i) }
        }, packing: { _ in format })
        #expect(packedBeforeFilling == ["a": [], "gain": ["a"], "b": ["a"], "c": ["a", "b"]])
        for name in ["a", "b", "c"] {
            let x = afterwards.packedMatrix(name)!, y = filled.packedMatrix(name)!
            let bytes = format.bytes(rows: x.rows, cols: x.cols)
            #expect(memcmp(x.data, y.data, bytes) == 0, "\(name): the same \(bytes) packed bytes")
        }
        #expect(filled.value("gain").toArray() == afterwards.value("gain").toArray())
        #expect(filled.float32Bytes == 256 * 4, "only the vector stays float32")
    }

    @Test func vectorsStayFloat32AndMatricesAreRounded() {
        let parameters = ParameterSet([ParameterSpec("gain", [5]), ParameterSpec("w", [3, 5])])
        for i in 0..<parameters.count { parameters.values[i] = 1 + Float(i) * 0x1p-12 }
        let gain = (0..<5).map { parameters.value("gain").data[$0] }
        parameters.packMatrices(.bf16)
        #expect((0..<5).map { parameters.value("gain").data[$0] } == gain)
        #expect(parameters.packedMatrix("gain") == nil)
        let w = Self.widened(parameters.packedMatrix("w")!), bits = Self.bits(parameters.packedMatrix("w")!)
        #expect((0..<15).allSatisfy { w[$0] == Self.widen(bits[$0]) && abs(w[$0] - (1 + Float(16 + $0) * 0x1p-12)) <= 0x1p-8 })
        #expect(parameters.float32Bytes == 5 * 4)
    }

    /// (rows, width, outputs): up to PackedMatrix.maxRows rows read the packed weights in place,
    /// more widen them; [2100, 512] (1.05 M weights) widens in two slices.
    static let productShapes = [(1, 8, 16), (2, 24, 5), (1, 37, 5), (3, 37, 9), (4, 64, 24), (6, 13, 11), (9, 200, 70)]
    static let blockShapes = [(1, 256, 16), (3, 512, 9), (4, 256, 24), (6, 768, 11), (9, 256, 70), (5, 512, 2100)]
    static let productCases: [(WeightFormat, Int, Int, Int)] =
        productShapes.map { (.bf16, $0.0, $0.1, $0.2) }
        + [WeightFormat.q8_0, .q4_1, .q4_k].flatMap { f in blockShapes.map { (f, $0.0, $0.1, $0.2) } }

    /// Every case on every kernel this CPU runs (AVX-512 on both machine kinds seen here).
    static let kernelCases = PackedKernel.allCases.filter(\.runsHere).flatMap { kernel in productCases.map { (kernel, $0) } }

    @Test(arguments: kernelCases)
    func productEqualsADoubleLoopOverThePackedWeights(kernel: PackedKernel, shape: (WeightFormat, Int, Int, Int)) {
        let (format, rows, width, outputs) = shape
        let parameters = ParameterSet([ParameterSpec("w", [outputs, width])])
        var rng = RandomGenerator(seed: UInt64(rows * 1000 + width))
        for i in 0..<parameters.count { parameters.values[i] = rng.nextNormal() }
        parameters.packMatrices(format)
        let w = parameters.packedMatrix("w")!, rounded = Self.widened(w)
        #expect(w.format == format)
        let arena = Arena(name: "packed product test")
        let x = arena.tensor(rows: rows, cols: width), base = arena.tensor(rows: rows, cols: outputs)
        for i in 0..<(rows * width) { x.data[i] = rng.nextNormal() }
        for i in 0..<(rows * outputs) { base.data[i] = rng.nextNormal() }
        var results: [[Float]] = []
        for (threads, accumulate) in [(1, false), (2, false), (3, false), (1, true), (8, true)] {
            let y = arena.tensor(rows: rows, cols: outputs)
            y.data.update(from: base.data, count: rows * outputs)
            ComputeContext(threads: threads, packedKernel: kernel).packedProduct(x, w, into: y, accumulate: accumulate)
            for r in 0..<rows {
                for o in 0..<outputs {
                    var sum = accumulate ? Double(base.data[r * outputs + o]) : 0
                    for i in 0..<width { sum += Double(x.data[r * width + i]) * Double(rounded[o * width + i]) }
                    #expect(abs(Double(y.data[r * outputs + o]) - sum) <= 1e-5 * Double(width).squareRoot() * 4,
                            "\(format.rawValue), \(kernel): row \(r), output \(o): \(y.data[r * outputs + o]) against \(sum)")
                }
            }
            if !accumulate { results.append(Array(UnsafeBufferPointer(start: y.data, count: rows * outputs))) }
        }
        #expect(results.allSatisfy { $0 == results[0] }, "the same bits for 1, 2 and 3 threads")
    }

    /// A single row (decoding) is summed four outputs at a time; each output must still be summed
    /// in the order a group of rows sums it, so a row's products have the same bits alone as in
    /// a group of four. Output counts leave tails of 1–3 and the threads cut the outputs
    /// unevenly; bf16 widths leave a tail that is not a multiple of 8 (or 16).
    static let oneRowCases: [(WeightFormat, Int, Int)] =
        [(.bf16, 37, 23), (.bf16, 576, 70), (.q8_0, 256, 23), (.q4_1, 576, 70), (.q4_k, 512, 9)]

    @Test(arguments: PackedKernel.allCases.filter(\.runsHere).flatMap { kernel in oneRowCases.map { (kernel, $0) } })
    func aRowAloneHasTheBitsItHasInAGroup(kernel: PackedKernel, shape: (WeightFormat, Int, Int)) {
        let (format, width, outputs) = shape
        let parameters = ParameterSet([ParameterSpec("w", [outputs, width])])
        var rng = RandomGenerator(seed: UInt64(width + outputs))
        for i in 0..<parameters.count { parameters.values[i] = rng.nextNormal() }
        parameters.packMatrices(format)
        let w = parameters.packedMatrix("w")!
        let arena = Arena(name: "one-row test")
        let x = arena.tensor(rows: 4, cols: width), group = arena.tensor(rows: 4, cols: outputs)
        for i in 0..<(4 * width) { x.data[i] = rng.nextNormal() }
        ComputeContext(threads: 1, packedKernel: kernel).packedProduct(x, w, into: group, accumulate: false)
        for threads in [1, 3] {
            for r in 0..<4 {
                let alone = arena.tensor(rows: 1, cols: outputs)
                for o in 0..<outputs { alone.data[o] = Float(o) }
                ComputeContext(threads: threads, packedKernel: kernel).packedProduct(
                    x.rows(r..<(r + 1)), w, into: alone, accumulate: true)
                for o in 0..<outputs {
                    #expect(alone.data[o] == Float(o) + group.data[r * outputs + o],
                            "\(format.rawValue), \(kernel), \(threads) threads: row \(r), output \(o)")
                }
            }
        }
    }

    /// Each weight is within half a quantization step of its float32 value (the step of its block
    /// or sub-block, read back from the dequantized numbers' spacing), and the error is small
    /// against the weights' spread (the packed numbers read back widened).
    @Test(arguments: [(WeightFormat.q8_0, 0.01), (.q4_1, 0.12), (.q4_k, 0.12)])
    func blocksStayWithinHalfAStep(format: WeightFormat, relativeError: Double) {
        let width = 512, rows = 6
        let parameters = ParameterSet([ParameterSpec("w", [rows, width])])
        var rng = RandomGenerator(seed: 7)
        for i in 0..<parameters.count { parameters.values[i] = rng.nextNormal() * (i % 97 == 0 ? 4 : 1) }
        parameters.values[5] = 0           // a block with zeros and an outlier
        let original = Array(UnsafeBufferPointer(start: parameters.values, count: parameters.count))
        parameters.packMatrices(format)
        let packed = Self.widened(parameters.packedMatrix("w")!)
        let block = 32
        var squaredError = 0.0, squared = 0.0
        for start in stride(from: 0, to: rows * width, by: block) {
            let x = original[start..<(start + block)], w = packed[start..<(start + block)]
            // Q4_1 and Q8_0 steps are the block's range over 15 or 254 levels; Q4_K's sub-block
            // steps are at most its range over 15 levels after the 6-bit scale's rounding up.
            let range = Double(x.max()!) - Double(format == .q4_1 ? x.min()! : min(x.min()!, 0))
            let levels = format == .q8_0 ? 254.0 : 15.0
            let step = (format == .q8_0 ? 2 * Double(x.map { abs($0) }.max()!) : range) / levels
            for (a, b) in zip(x, w) {
                #expect(abs(Double(a) - Double(b)) <= step * (format == .q4_k ? 0.75 : 0.51) + 1e-6,
                        "\(format.rawValue): \(a) packed as \(b), step \(step)")
                squaredError += (Double(a) - Double(b)) * (Double(a) - Double(b))
                squared += Double(a) * Double(a)
            }
        }
        #expect((squaredError / squared).squareRoot() < relativeError, "\(format.rawValue): relative RMS error \((squaredError / squared).squareRoot())")
    }

    /// Q4_K packs rows that split into super-blocks of 256 and falls back to Q4_1 for others; the
    /// 32-blocks leave a matrix whose rows do not split into blocks in float32 (not packed).
    @Test func formatsFallBackByRowLength() {
        let parameters = ParameterSet([ParameterSpec("wide", [2, 512]), ParameterSpec("narrow", [2, 384]),
                                       ParameterSpec("odd", [2, 40]), ParameterSpec("gain", [384])])
        for i in 0..<parameters.count { parameters.values[i] = Float(i % 13) - 6 }
        let odd = (0..<80).map { parameters.value("odd").data[$0] }
        parameters.packMatrices(.q4_k)
        #expect(parameters.packedMatrix("wide")?.format == .q4_k)
        #expect(parameters.packedMatrix("narrow")?.format == .q4_1)
        #expect(parameters.packedMatrix("odd") == nil && parameters.packedMatrix("gain") == nil)
        #expect((0..<80).map { parameters.value("odd").data[$0] } == odd, "a matrix left in float32 keeps its values")
        #expect(parameters.packedBytes == 2 * 144 * 2 + 2 * 12 * 20)
        #expect(parameters.float32Bytes == (80 + 384) * 4, "odd and gain stay float32")
        #expect(WeightFormat.q8_0.bytes(rows: 3, cols: 64) == 3 * 2 * 34)
    }
}
