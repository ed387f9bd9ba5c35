// LlamaBlock against the Double reference composition (forward) and central finite differences
// of L = Σ block(x) ⊙ R (every weight and the input, ε = 1e-2), with a sliding window smaller
// than the sequence and two segments; a frozen block leaves weight gradients untouched.
// Tolerances: forward 1e-5 absolute, gradients 1e-3 × the tensor max + 5e-5. An inference
// stack whose blocks share one block's buffers computes the same bits as blocks with their own.

import HATLayers
import HATTensor
import Testing

extension LayerTests {
    @Suite struct Block {
        static let config = LlamaBlockConfig(hidden: 16, heads: 4, kvHeads: 2, headDim: 4, intermediate: 24,
                                             rmsEps: 1e-5, ropeTheta: 10_000, window: 5)
        static let prefix = "backbone.layers.3"

        @Test func forwardMatchesReferenceAndGradientsMatchFiniteDifferences() {
            var rng = RandomGenerator(seed: 21)
            let arena = Arena(name: "test")
            let cfg = Self.config, n = 13, c = cfg.hidden
            let p = randomParameters(LlamaBlock.parameterSpecs(prefix: Self.prefix, config: cfg), &rng, bound: 0.4)
            let block = LlamaBlock(prefix: Self.prefix, config: cfg, parameters: p, maxRows: 16, arena: arena, context: ComputeContext(threads: 2))
            let segments: [Int32] = (0..<Int32(n)).map { $0 < 7 ? 0 : 7 }
            let positions: [Int32] = (0..<Int32(n)).map { $0 < 7 ? $0 : $0 - 7 }
            let ranges = TestRanges.causal(n, window: cfg.window, segmentStarts: segments)
            let x = randomTensor(arena, n, c, &rng, bound: 1.5), y = arena.tensor(rows: n, cols: c), r = randomTensor(arena, n, c, &rng)
            func run() {
                y.copy(from: x)
                positions.withUnsafeBufferPointer { block.forward(y, positions: $0.baseAddress!, ranges: ranges.ranges) }
            }
            run()
            let expected = Reference.llamaBlock(doubles(x), rows: n, config: cfg, parameters: p, prefix: Self.prefix,
                                                positions: positions, lo: ranges.lo, hi: ranges.hi)
            expectClose("block out", y.toArray(), expected, absolute: 1e-5)

            let dx = arena.tensor(rows: n, cols: c)
            dx.copy(from: r)
            positions.withUnsafeBufferPointer { block.backward(dx, positions: $0.baseAddress!, ranges: ranges.ranges) }
            let loss = { run(); return dotLoss(y, r) }
            expectRelativeClose("block dx", dx.toArray(), finiteDifferences(x, epsilon: 1e-2, loss: loss), relative: 1e-3)
            for spec in LlamaBlock.parameterSpecs(prefix: Self.prefix, config: cfg) {
                expectRelativeClose("block d\(spec.name)", p.grad(spec.name).toArray(),
                                    finiteDifferences(p.value(spec.name), epsilon: 1e-2, loss: loss), relative: 1e-3)
            }

            // Frozen: same dx, weight gradients untouched.
            let grads = (0..<p.count).map { p.grads[$0] }, dx1 = dx.toArray()
            block.isFrozen = true
            run()
            dx.copy(from: r)
            positions.withUnsafeBufferPointer { block.backward(dx, positions: $0.baseAddress!, ranges: ranges.ranges) }
            #expect((0..<p.count).allSatisfy { p.grads[$0] == grads[$0] }, "a frozen block changed a weight gradient")
            expectClose("frozen block dx", dx.toArray(), dx1.map(Double.init), absolute: 1e-6)
        }
    }
}

extension LayerTests.Block {
    /// A block's output, input gradient and every weight gradient are the same bits for 1, 2, 3
    /// and 8 threads, on enough rows (300) that every kernel splits its work (norm gradient
    /// chunks, products, attention query blocks): a reduction whose order follows the thread
    /// count shows up here first.
    @Test func forwardAndBackwardAreTheSameBitsForAnyThreadCount() {
        let cfg = LlamaBlockConfig(hidden: 32, heads: 4, kvHeads: 2, headDim: 8, intermediate: 48,
                                   rmsEps: 1e-5, ropeTheta: 10_000, window: 64)
        let n = 300
        var outcomes: [[UInt32]] = []
        for threads in [1, 2, 3, 8] {
            var rng = RandomGenerator(seed: 5)
            let arena = Arena(name: "threads")
            let p = randomParameters(LlamaBlock.parameterSpecs(prefix: Self.prefix, config: cfg), &rng, bound: 0.4)
            let block = LlamaBlock(prefix: Self.prefix, config: cfg, parameters: p, maxRows: n, arena: arena,
                                   context: ComputeContext(threads: threads))
            let positions = (0..<Int32(n)).map { $0 }
            let ranges = TestRanges.causal(n, window: cfg.window)
            let y = randomTensor(arena, n, cfg.hidden, &rng, bound: 1.5), dx = randomTensor(arena, n, cfg.hidden, &rng)
            positions.withUnsafeBufferPointer { block.forward(y, positions: $0.baseAddress!, ranges: ranges.ranges) }
            positions.withUnsafeBufferPointer { block.backward(dx, positions: $0.baseAddress!, ranges: ranges.ranges) }
            outcomes.append((y.toArray() + dx.toArray() + (0..<p.count).map { p.grads[$0] }).map(\.bitPattern))
        }
        for (i, threads) in [2, 3, 8].enumerated() {
            let differing = zip(outcomes[i + 1], outcomes[0]).filter { $0 != $1 }.count
            #expect(differing == 0, "\(differing) of \(outcomes[0].count) output, input-gradient and weight-gradient floats differ between \(threads) threads and 1")
        }
    }
}

extension LayerTests.Block {
    @Test func anInferenceStackSharingOneBlocksBuffersComputesTheSameBits() {
        var rng = RandomGenerator(seed: 23)
        let cfg = Self.config, n = 13, layers = 3, context = ComputeContext(threads: 2)
        let specs = (0..<layers).flatMap { LlamaBlock.parameterSpecs(prefix: "b.\($0)", config: cfg) }
        let p = randomParameters(specs, &rng, bound: 0.4)
        let arena = Arena(name: "test"), ownArena = Arena(name: "own buffers")
        let own = (0..<layers).map {
            LlamaBlock(prefix: "b.\($0)", config: cfg, parameters: p, maxRows: 16, arena: ownArena, context: context, needsBackward: false)
        }
        let (shared, scratch) = LlamaBlock.inferenceStack(count: layers, prefix: { "b.\($0)" }, config: cfg, parameters: p,
                                                         maxRows: 16, context: context, name: "shared")
        #expect(scratch.usedFloats * layers == ownArena.usedFloats, "the stack holds one block's buffers")
        let positions = (0..<Int32(n)).map { $0 }
        let ranges = TestRanges.causal(n, window: cfg.window)
        let x = randomTensor(arena, n, cfg.hidden, &rng, bound: 1.5)
        let a = arena.tensor(rows: n, cols: cfg.hidden), b = arena.tensor(rows: n, cols: cfg.hidden)
        a.copy(from: x)
        b.copy(from: x)
        positions.withUnsafeBufferPointer { pos in
            for _ in 0..<2 {          // twice: the second pass finds the buffers the first left dirty
                for block in own { block.forward(a, positions: pos.baseAddress!, ranges: ranges.ranges) }
                for block in shared { block.forward(b, positions: pos.baseAddress!, ranges: ranges.ranges) }
            }
        }
        #expect(a.toArray() == b.toArray())
    }
}
