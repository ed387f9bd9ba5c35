// AttentionCore, SelfAttention and CrossAttention against the Double reference with the same
// key ranges: causal, sliding window with segments, pooling-style spans with an empty range,
// and arbitrary ranges; small query blocks and key chunks force the multi-block, multi-chunk
// (online softmax) paths. Gradients against central finite differences (ε = 1e-2); tolerances
// as in BasicLayerTests: forward 2e-6 absolute, gradients 1e-3 × max + 5e-5. Keys and values in
// bfloat16/half (KV caches): read in place by blocks of ≤ 4 queries (against the reference over
// their widened values), widened into scratch by larger blocks (the float32 forward's bits); one
// query over float32 keys and values on an inference core, read in place by the same kernels.

import HATLayers
import HATTensor
import Testing

extension LayerTests {
    @Suite struct Attention {
        static let gradientTolerance = 1e-3

        struct Case: CustomTestStringConvertible, Sendable {
            let name: String
            let nq: Int, nk: Int
            let lo: [Int32], hi: [Int32]
            let queryBlock: Int, keyChunk: Int
            var testDescription: String { "\(name) Bq \(queryBlock) Kc \(keyChunk)" }
        }

        static func causalCase(_ name: String, n: Int, window: Int?, segments: [Int32]?, bq: Int, kc: Int) -> Case {
            let r = TestRanges.causal(n, window: window, segmentStarts: segments)
            return Case(name: name, nq: n, nk: n, lo: r.lo, hi: r.hi, queryBlock: bq, keyChunk: kc)
        }

        static let cases: [Case] = {
            let segments: [Int32] = (0..<23).map { $0 < 9 ? 0 : ($0 < 17 ? 9 : 17) }
            var rng = RandomGenerator(seed: 77)
            var lo: [Int32] = [], hi: [Int32] = []
            for _ in 0..<11 {
                let a = rng.nextInt(below: 15), b = a + rng.nextInt(below: 6)
                lo.append(Int32(a)); hi.append(Int32(min(b, 17)))
            }
            return [
                causalCase("causal", n: 23, window: nil, segments: nil, bq: 64, kc: 1024),
                causalCase("causal", n: 23, window: nil, segments: nil, bq: 4, kc: 5),
                causalCase("window 5 + segments", n: 23, window: 5, segments: segments, bq: 64, kc: 1024),
                causalCase("window 5 + segments", n: 23, window: 5, segments: segments, bq: 3, kc: 4),
                // pooling-like: query w sees keys of its span; query 2 sees nothing
                Case(name: "spans", nq: 6, nk: 20, lo: [0, 3, 7, 7, 12, 15], hi: [3, 7, 7, 12, 15, 20], queryBlock: 4, keyChunk: 6),
                Case(name: "arbitrary", nq: 11, nk: 17, lo: lo, hi: hi, queryBlock: 4, keyChunk: 3),
            ]
        }()

        @Test(arguments: cases)
        func coreMatchesReferenceAndFiniteDifferences(_ c: Case) {
            var rng = RandomGenerator(seed: 11)
            let arena = Arena(name: "test")
            let (h, g, d) = (4, 2, 6)
            let core = AttentionCore(heads: h, kvHeads: g, headDim: d, maxQueries: c.nq, maxKeys: c.nk, arena: arena,
                                     context: ComputeContext(threads: 2), queryBlock: c.queryBlock, keyChunk: c.keyChunk)
            let ranges = TestRanges(lo: c.lo, hi: c.hi)
            let q = randomTensor(arena, c.nq, h * d, &rng, bound: 2), k = randomTensor(arena, c.nk, g * d, &rng, bound: 2)
            let v = randomTensor(arena, c.nk, g * d, &rng), out = arena.tensor(rows: c.nq, cols: h * d)
            core.forward(out: out, q: q, k: k, v: v, ranges: ranges.ranges)
            let expected = Reference.attention(q: doubles(q), k: doubles(k), v: doubles(v), queries: c.nq, heads: h, kvHeads: g,
                                               headDim: d, lo: c.lo, hi: c.hi)
            expectClose("\(c.testDescription) out", out.toArray(), expected, absolute: 2e-6)

            let r = randomTensor(arena, c.nq, h * d, &rng)
            let dq = arena.tensor(rows: c.nq, cols: h * d), dk = arena.tensor(rows: c.nk, cols: g * d), dv = arena.tensor(rows: c.nk, cols: g * d)
            dk.fill(99)   // written, not accumulated
            core.forward(out: out, q: q, k: k, v: v, ranges: ranges.ranges)
            core.backward(dQ: dq, dK: dk, dV: dv, dOut: r, q: q, k: k, v: v, out: out, ranges: ranges.ranges)
            let loss = { core.forward(out: out, q: q, k: k, v: v, ranges: ranges.ranges); return dotLoss(out, r) }
            expectRelativeClose("\(c.testDescription) dQ", dq.toArray(), finiteDifferences(q, epsilon: 1e-2, loss: loss), relative: Self.gradientTolerance)
            expectRelativeClose("\(c.testDescription) dK", dk.toArray(), finiteDifferences(k, epsilon: 1e-2, loss: loss), relative: Self.gradientTolerance)
            expectRelativeClose("\(c.testDescription) dV", dv.toArray(), finiteDifferences(v, epsilon: 1e-2, loss: loss), relative: Self.gradientTolerance)
        }

        @Test func sameBitsWithOneTwoThreeAndEightThreads() {
            // Grouped heads (H/G = 4) so dK and dV add several heads; more threads than heads too.
            var rng = RandomGenerator(seed: 13)
            let arena = Arena(name: "test")
            let (n, h, g, d) = (40, 8, 2, 8)
            let ranges = TestRanges.causal(n, window: 11)
            let q = randomTensor(arena, n, h * d, &rng), k = randomTensor(arena, n, g * d, &rng), v = randomTensor(arena, n, g * d, &rng)
            let r = randomTensor(arena, n, h * d, &rng), out = arena.tensor(rows: n, cols: h * d)
            var results: [[Float]] = []
            for threads in [1, 2, 3, 8] {
                let core = AttentionCore(heads: h, kvHeads: g, headDim: d, maxQueries: n, maxKeys: n, arena: arena,
                                         context: ComputeContext(threads: threads), queryBlock: 8, keyChunk: 16)
                let dq = arena.tensor(rows: n, cols: h * d), dk = arena.tensor(rows: n, cols: g * d), dv = arena.tensor(rows: n, cols: g * d)
                core.forward(out: out, q: q, k: k, v: v, ranges: ranges.ranges)
                core.backward(dQ: dq, dK: dk, dV: dv, dOut: r, q: q, k: k, v: v, out: out, ranges: ranges.ranges)
                results.append(out.toArray() + dq.toArray() + dk.toArray() + dv.toArray())
            }
            for (i, threads) in [2, 3, 8].enumerated() {
                #expect(results[i + 1] == results[0], "attention with \(threads) threads differs from 1 thread")
            }
        }

        /// Runs body with k and v rounded into 16-bit matrices of `format`, and those matrices widened
        /// back to float32 (the numbers the rounded cache holds).
        static func withRounded(_ k: Tensor, _ v: Tensor, format: HalfFormat, arena: Arena,
                                _ body: (_ kHalf: HalfMatrix, _ vHalf: HalfMatrix, _ kWide: Tensor, _ vWide: Tensor) -> Void) {
            var halves = [UInt16](repeating: 0, count: k.rows * k.cols + v.rows * v.cols)
            halves.withUnsafeMutableBufferPointer { buffer in
                let kHalf = HalfMatrix(data: buffer.baseAddress!, rows: k.rows, cols: k.cols, format: format)
                let vHalf = HalfMatrix(data: buffer.baseAddress! + k.rows * k.cols, rows: v.rows, cols: v.cols, format: format)
                kHalf.store(k)
                vHalf.store(v)
                let kWide = arena.tensor(rows: k.rows, cols: k.cols), vWide = arena.tensor(rows: v.rows, cols: v.cols)
                kHalf.widen(into: kWide)
                vHalf.widen(into: vWide)
                body(kHalf, vHalf, kWide, vWide)
            }
        }

        @Test(arguments: [HalfFormat.bf16, .f16], cases)
        func halfKeysAndValuesAreTheirWidenedFloats(_ format: HalfFormat, _ c: Case) {
            // 16-bit keys and values (a half-precision KV cache). Blocks of ≤ 4 queries read them in
            // place: against the Double reference over the widened numbers, as the float32 forward is.
            // One block of all queries widens chunks into scratch: exactly the bits of the float32
            // forward over the widened numbers.
            var rng = RandomGenerator(seed: 17)
            let arena = Arena(name: "test")
            let (h, g, d) = (4, 2, 6)
            let ranges = TestRanges(lo: c.lo, hi: c.hi)
            let q = randomTensor(arena, c.nq, h * d, &rng, bound: 2), k = randomTensor(arena, c.nk, g * d, &rng, bound: 2)
            let v = randomTensor(arena, c.nk, g * d, &rng)
            Self.withRounded(k, v, format: format, arena: arena) { kHalf, vHalf, kWide, vWide in
                #expect(kWide.toArray() != k.toArray(), "rounding to \(format) changed nothing: the check would be empty")
                let out = arena.tensor(rows: c.nq, cols: h * d)
                for queryBlock in [c.queryBlock, c.nq] {
                    let core = AttentionCore(heads: h, kvHeads: g, headDim: d, maxQueries: c.nq, maxKeys: c.nk, arena: arena,
                                             context: ComputeContext(threads: 2), queryBlock: queryBlock, keyChunk: c.keyChunk,
                                             needsBackward: false)
                    core.forward(out: out, q: q, k: kWide, v: vWide, ranges: ranges.ranges)
                    let floats = out.toArray()
                    out.fill(7)
                    core.forward(out: out, q: q, k: .half(kHalf), v: .half(vHalf), ranges: ranges.ranges)
                    let expected = Reference.attention(q: doubles(q), k: doubles(kWide), v: doubles(vWide), queries: c.nq, heads: h,
                                                       kvHeads: g, headDim: d, lo: c.lo, hi: c.hi)
                    expectClose("\(c.testDescription) \(format) Bq \(queryBlock)", out.toArray(), expected, absolute: 2e-6)
                    if queryBlock > 4 && c.nq > 4 {
                        #expect(out.toArray() == floats, "\(c.testDescription) Bq \(queryBlock): \(format) keys and values differ from their widened floats")
                    }
                }
            }
        }

        @Test(arguments: [HalfFormat.bf16, .f16])
        func aDecodingStepReadsTheHeadsTogetherWithTheSameBits(_ format: HalfFormat) {
            // One query over 16-bit keys and values takes the heads together (each row read once
            // across a worker's heads). Against the head-by-head loop — the same query twice, which
            // goes through it — bit for bit, for every way of dealing the heads to the workers:
            // grouped heads (H/G = 3) whose runs start inside a group, a tail beyond 8 columns
            // (D = 10), several key chunks with a window that starts past 0, and an empty range.
            var rng = RandomGenerator(seed: 23)
            let arena = Arena(name: "test")
            let (h, g, d, nk) = (9, 3, 10, 70)
            let q1 = randomTensor(arena, 1, h * d, &rng, bound: 2), k = randomTensor(arena, nk, g * d, &rng, bound: 2)
            let v = randomTensor(arena, nk, g * d, &rng)
            let q2 = arena.tensor(rows: 2, cols: h * d)
            q2.row(0).update(from: q1.row(0), count: h * d)
            q2.row(1).update(from: q1.row(0), count: h * d)
            Self.withRounded(k, v, format: format, arena: arena) { kHalf, vHalf, kWide, vWide in
                for (lo, hi) in [(7, 70), (0, 1), (5, 5)] as [(Int32, Int32)] {
                    let one = TestRanges(lo: [lo], hi: [hi]), two = TestRanges(lo: [lo, lo], hi: [hi, hi])
                    let expected = Reference.attention(q: doubles(q1), k: doubles(kWide), v: doubles(vWide), queries: 1, heads: h,
                                                       kvHeads: g, headDim: d, lo: [lo], hi: [hi])
                    for threads in [1, 2, 4, 16] {
                        let core = AttentionCore(heads: h, kvHeads: g, headDim: d, maxQueries: 2, maxKeys: nk, arena: arena,
                                                 context: ComputeContext(threads: threads), queryBlock: 16, keyChunk: 16,
                                                 needsBackward: false)
                        let out1 = arena.tensor(rows: 1, cols: h * d), out2 = arena.tensor(rows: 2, cols: h * d)
                        out1.fill(7)
                        core.forward(out: out1, q: q1, k: .half(kHalf), v: .half(vHalf), ranges: one.ranges)
                        core.forward(out: out2, q: q2, k: .half(kHalf), v: .half(vHalf), ranges: two.ranges)
                        let label = "\(format) keys \(lo)..<\(hi), \(threads) threads"
                        #expect(out1.toArray() == Array(out2.toArray()[0..<(h * d)]), "\(label): heads together differ from head by head")
                        expectClose(label, out1.toArray(), expected, absolute: 2e-6)
                        if lo == hi { #expect(out1.toArray().allSatisfy { $0 == 0 }, "\(label): an empty range gives zeros") }
                    }
                }
            }
        }

        @Test func aFloatDecodingStepSumsAsTheHalfKernelsDo() {
            // One query over float32 keys and values on a core built for inference (a float32 KV
            // cache) reads them in place, heads together, with the 16-bit kernels' sums: against the
            // Double reference, the same bits for any number of workers, and on numbers that f16
            // holds exactly the bits of an f16 cache. The shapes of the test above: grouped heads
            // (H/G = 3), D = 10 (a tail past 8 columns), several key chunks, an empty range.
            var rng = RandomGenerator(seed: 29)
            let arena = Arena(name: "test")
            let (h, g, d, nk) = (9, 3, 10, 70)
            let q = randomTensor(arena, 1, h * d, &rng, bound: 2), k = randomTensor(arena, nk, g * d, &rng, bound: 2)
            let v = randomTensor(arena, nk, g * d, &rng)
            Self.withRounded(k, v, format: .f16, arena: arena) { kHalf, vHalf, kExact, vExact in
                for (lo, hi) in [(7, 70), (0, 1), (5, 5)] as [(Int32, Int32)] {
                    let one = TestRanges(lo: [lo], hi: [hi])
                    let expected = Reference.attention(q: doubles(q), k: doubles(k), v: doubles(v), queries: 1, heads: h,
                                                       kvHeads: g, headDim: d, lo: [lo], hi: [hi])
                    var firstRun: [Float]?
                    for threads in [1, 2, 4, 16] {
                        let core = AttentionCore(heads: h, kvHeads: g, headDim: d, maxQueries: 1, maxKeys: nk, arena: arena,
                                                 context: ComputeContext(threads: threads), queryBlock: 16, keyChunk: 16,
                                                 needsBackward: false)
                        let label = "float32 keys \(lo)..<\(hi), \(threads) threads"
                        let out = arena.tensor(rows: 1, cols: h * d)
                        out.fill(7)
                        core.forward(out: out, q: q, k: k, v: v, ranges: one.ranges)
                        expectClose(label, out.toArray(), expected, absolute: 2e-6)
                        if let firstRun { #expect(out.toArray() == firstRun, "\(label): differs from 1 thread") }
                        firstRun = out.toArray()
                        if lo == hi { #expect(out.toArray().allSatisfy { $0 == 0 }, "\(label): an empty range gives zeros") }

                        core.forward(out: out, q: q, k: kExact, v: vExact, ranges: one.ranges)
                        let floats = out.toArray()
                        out.fill(7)
                        core.forward(out: out, q: q, k: .half(kHalf), v: .half(vHalf), ranges: one.ranges)
                        #expect(out.toArray() == floats, "\(label): f16-exact float32 rows differ from the f16 cache")
                    }
                }
            }
        }

        @Test func fillCausalWindowAndSegments() {
            let segments: [Int32] = [0, 0, 0, 0, 0, 5, 5, 5, 5, 5, 5]
            let r = TestRanges.causal(11, window: 3, segmentStarts: segments)
            #expect(r.lo == [0, 0, 0, 1, 2, 5, 5, 5, 6, 7, 8])
            #expect(r.hi == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11])
            let full = TestRanges.causal(4, window: nil)
            #expect(full.lo == [0, 0, 0, 0] && full.hi == [1, 2, 3, 4])
            #expect(full.ranges.pairCount(queries: 4) == 10)
        }

        @Test func crossAttentionMatchesReferenceAndFiniteDifferences() {
            var rng = RandomGenerator(seed: 12)
            let arena = Arena(name: "test")
            let (nq, nk, cq, ckv, h, g, d) = (5, 14, 10, 8, 4, 2, 4)
            let prefix = "encoder_connector.cross_attention_encoder_connector"
            let p = randomParameters(CrossAttention.parameterSpecs(prefix: prefix, queryWidth: cq, keyValueWidth: ckv, heads: h, kvHeads: g, headDim: d), &rng, bound: 0.5)
            let layer = CrossAttention(prefix: prefix, queryWidth: cq, keyValueWidth: ckv, heads: h, kvHeads: g, headDim: d, ropeTheta: 1000,
                                       maxQueries: nq, maxKeys: nk, arena: arena, context: ComputeContext(threads: 2), parameters: p)
            let ranges = TestRanges(lo: [0, 2, 5, 5, 9], hi: [2, 5, 5, 9, 14])
            let qPos: [Int32] = [0, 1, 2, 3, 4], kPos: [Int32] = (0..<Int32(nk)).map { $0 }
            let queries = randomTensor(arena, nq, cq, &rng), keyValues = randomTensor(arena, nk, ckv, &rng)
            let out = arena.tensor(rows: nq, cols: cq), r = randomTensor(arena, nq, cq, &rng)
            func run() {
                qPos.withUnsafeBufferPointer { qp in
                    kPos.withUnsafeBufferPointer { kp in
                        layer.forward(out: out, queries: queries, keyValues: keyValues, queryPositions: qp.baseAddress!,
                                      keyPositions: kp.baseAddress!, ranges: ranges.ranges)
                    }
                }
            }
            run()
            func w(_ n: String) -> [Double] { doubles(p.value("\(prefix).\(n)_proj.weight")) }
            let expected = Reference.projectedAttention(queries: doubles(queries), keyValues: doubles(keyValues), nq: nq, nk: nk, cq: cq, ckv: ckv,
                                                        heads: h, kvHeads: g, headDim: d, theta: 1000, qPos: qPos, kPos: kPos,
                                                        lo: ranges.lo, hi: ranges.hi, wq: w("q"), wk: w("k"), wv: w("v"), wo: w("o"))
            expectClose("cross-attention out", out.toArray(), expected, absolute: 2e-6)
            let dQueries = arena.tensor(rows: nq, cols: cq), dKeyValues = arena.tensor(rows: nk, cols: ckv)
            dKeyValues.fill(1)   // accumulated into
            qPos.withUnsafeBufferPointer { qp in
                kPos.withUnsafeBufferPointer { kp in
                    layer.backward(dQueries: dQueries, dKeyValues: dKeyValues, dOut: r, queries: queries, keyValues: keyValues,
                                   queryPositions: qp.baseAddress!, keyPositions: kp.baseAddress!, ranges: ranges.ranges,
                                   accumulateQueries: false, accumulateKeyValues: true)
                }
            }
            let loss = { run(); return dotLoss(out, r) }
            expectRelativeClose("cross-attention dQueries", dQueries.toArray(), finiteDifferences(queries, epsilon: 1e-2, loss: loss),
                                relative: Self.gradientTolerance)
            expectRelativeClose("cross-attention dKeyValues", dKeyValues.toArray().map { $0 - 1 },
                                finiteDifferences(keyValues, epsilon: 1e-2, loss: loss), relative: Self.gradientTolerance)
            for name in ["q", "k", "v", "o"] {
                let full = "\(prefix).\(name)_proj.weight"
                expectRelativeClose("cross-attention d\(full)", p.grad(full).toArray(), finiteDifferences(p.value(full), epsilon: 1e-2, loss: loss),
                                    relative: Self.gradientTolerance)
            }
        }
    }
}
