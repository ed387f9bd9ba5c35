// Embedding, Linear, RMSNorm, RotaryEmbedding, SwiGLU and CrossEntropy: each forward against
// the Double reference loops of Support.swift, each backward against central finite
// differences (ε = 1e-2, Richardson-extrapolated) of the Double loss L = Σ out ⊙ R. Tolerances:
// forwards absolute (1e-5 or tighter), gradients 1e-3 × the tensor's max |value| + 5e-5 (measured
// worst ratio 4e-4, float32 forward noise; typical 1e-5).

#if canImport(Glibc)
import Glibc
#endif
import HATLayers
import HATTensor
import Testing

/// All layer suites run one at a time: they share OpenBLAS's and our thread setting.
@Suite(.serialized) struct LayerTests {}

extension LayerTests {
    @Suite struct BasicLayers {
        /// Gradient tolerance relative to each tensor's max |value| (float forward, ε = 1e-2).
        static let gradientTolerance = 1e-3

        @Test func embeddingLooksUpAndScattersRows() {
            var rng = RandomGenerator(seed: 1)
            let arena = Arena(name: "test")
            let p = randomParameters(Embedding.parameterSpecs(name: "encoder.embedding_layer.weight", vocabulary: 256, channels: 12), &rng)
            let layer = Embedding(parameters: p, name: "encoder.embedding_layer.weight", context: ComputeContext(threads: 2))
            let ids: [Int32] = [0, 255, 7, 7, 42, 7, 0]
            let out = arena.tensor(rows: ids.count, cols: 12)
            ids.withUnsafeBufferPointer { layer.forward(out: out, ids: $0.baseAddress!) }
            for (i, id) in ids.enumerated() {
                #expect(Array(out.toArray()[(i * 12)..<(i * 12 + 12)]) == Array(p.value(layer.name).toArray()[(Int(id) * 12)..<(Int(id) * 12 + 12)]))
            }
            let dOut = randomTensor(arena, ids.count, 12, &rng)
            ids.withUnsafeBufferPointer { layer.backward(dOut: dOut, ids: $0.baseAddress!) }
            var expected = [Double](repeating: 0, count: 256 * 12)
            for (i, id) in ids.enumerated() { for j in 0..<12 { expected[Int(id) * 12 + j] += Double(dOut[i, j]) } }
            expectClose("embedding dW", p.grad(layer.name).toArray(), expected, absolute: 1e-6)
            layer.isFrozen = true
            ids.withUnsafeBufferPointer { layer.backward(dOut: dOut, ids: $0.baseAddress!) }
            expectClose("frozen embedding dW unchanged", p.grad(layer.name).toArray(), expected, absolute: 1e-6)
        }

        @Test func linearForwardAndGradients() {
            var rng = RandomGenerator(seed: 2)
            let arena = Arena(name: "test")
            let (n, i, o) = (9, 13, 11)
            let p = randomParameters(Linear.parameterSpecs(name: "lm_head.weight", input: i, output: o), &rng)
            let layer = Linear(parameters: p, name: "lm_head.weight", context: ComputeContext(threads: 2))
            let x = randomTensor(arena, n, i, &rng), y = arena.tensor(rows: n, cols: o), r = randomTensor(arena, n, o, &rng)
            layer.forward(out: y, input: x)
            let expected = Reference.linear(doubles(x), rows: n, doubles(p.value(layer.name)), out: o, in: i)
            expectClose("linear out", y.toArray(), expected, absolute: 1e-5)
            // accumulate adds
            layer.forward(out: y, input: x, accumulate: true)
            expectClose("linear out accumulated", y.toArray(), expected.map { 2 * $0 }, absolute: 2e-5)

            let dx = arena.tensor(rows: n, cols: i)
            layer.backward(dInput: dx, dOut: r, input: x)
            let loss = { layer.forward(out: y, input: x); return dotLoss(y, r) }
            expectRelativeClose("linear dx", dx.toArray(), finiteDifferences(x, epsilon: 1e-2, loss: loss), relative: Self.gradientTolerance)
            expectRelativeClose("linear dW", p.grad(layer.name).toArray(), finiteDifferences(p.value(layer.name), epsilon: 1e-2, loss: loss),
                                relative: Self.gradientTolerance)
            // dW accumulates, dx accumulates on request; frozen leaves dW.
            let dW1 = p.grad(layer.name).toArray(), dx1 = dx.toArray()
            layer.backward(dInput: dx, dOut: r, input: x, accumulateInput: true)
            expectClose("linear dW accumulates", p.grad(layer.name).toArray(), dW1.map { 2 * Double($0) }, absolute: 1e-5)
            expectClose("linear dx accumulates", dx.toArray(), dx1.map { 2 * Double($0) }, absolute: 1e-5)
            layer.isFrozen = true
            layer.backward(dInput: nil, dOut: r, input: x)
            expectClose("frozen linear dW unchanged", p.grad(layer.name).toArray(), dW1.map { 2 * Double($0) }, absolute: 1e-5)
        }

        @Test(arguments: [5, 16, 37])
        func rmsNormForwardAndGradients(channels c: Int) {
            var rng = RandomGenerator(seed: UInt64(c))
            let arena = Arena(name: "test")
            let n = 70   // more than one worker's chunk
            let p = randomParameters(RMSNorm.parameterSpecs(name: "layer_norm.weight", channels: c), &rng)
            let layer = RMSNorm(parameters: p, name: "layer_norm.weight", eps: 1e-5, maxRows: n, arena: arena,
                                context: ComputeContext(threads: 2))
            let x = randomTensor(arena, n, c, &rng), y = arena.tensor(rows: n, cols: c), r = randomTensor(arena, n, c, &rng)
            layer.forward(out: y, input: x)
            expectClose("rmsnorm out", y.toArray(), Reference.rmsNorm(doubles(x), rows: n, doubles(p.value(layer.name)), eps: 1e-5),
                        absolute: 1e-5)
            let dx = arena.tensor(rows: n, cols: c)
            layer.backward(dInput: dx, dOut: r, input: x)
            let loss = { layer.forward(out: y, input: x); return dotLoss(y, r) }
            expectRelativeClose("rmsnorm dx", dx.toArray(), finiteDifferences(x, epsilon: 1e-2, loss: loss), relative: Self.gradientTolerance)
            expectRelativeClose("rmsnorm dw", p.grad(layer.name).toArray(),
                                finiteDifferences(p.value(layer.name), epsilon: 1e-2, loss: loss), relative: Self.gradientTolerance)
            let dx1 = dx.toArray()
            layer.forward(out: y, input: x)
            layer.backward(dInput: dx, dOut: r, input: x, accumulateInput: true)
            expectClose("rmsnorm dx accumulates", dx.toArray(), dx1.map { 2 * Double($0) }, absolute: 1e-5)
        }

        @Test func rotaryMatchesReferenceAtSmallAndHugePositions() {
            var rng = RandomGenerator(seed: 4)
            let arena = Arena(name: "test")
            let (heads, d) = (3, 36)   // K = 18: one vector of 16 and a tail
            let positions: [Int32] = [0, 1, 2, 17, 4095, 4096, 70_000, 1 << 20, (1 << 20) + 12_345, 2_000_000_000]
            let n = positions.count
            let rope = RotaryEmbedding(headDim: d, theta: 500_000)
            let context = ComputeContext(threads: 2)
            let x = randomTensor(arena, n, heads * d, &rng)
            let original = doubles(x)
            positions.withUnsafeBufferPointer { rope.apply(x, heads: heads, positions: $0.baseAddress!, on: context) }
            expectClose("rope out", x.toArray(), Reference.rope(original, rows: n, heads: heads, headDim: d, positions: positions,
                                                                 theta: 500_000), absolute: 2e-6)
            positions.withUnsafeBufferPointer { rope.applyInverse(x, heads: heads, positions: $0.baseAddress!, on: context) }
            expectClose("rope inverse ∘ rope", x.toArray(), original, absolute: 2e-6)
            // backward = inverse rotation: check against finite differences.
            let r = randomTensor(arena, n, heads * d, &rng), y = arena.tensor(rows: n, cols: heads * d)
            let loss = {
                y.copy(from: x)
                positions.withUnsafeBufferPointer { rope.apply(y, heads: heads, positions: $0.baseAddress!, on: context) }
                return dotLoss(y, r)
            }
            let fd = finiteDifferences(x, epsilon: 1e-2, loss: loss)
            positions.withUnsafeBufferPointer { rope.applyInverse(r, heads: heads, positions: $0.baseAddress!, on: context) }
            expectRelativeClose("rope dx", r.toArray(), fd, relative: Self.gradientTolerance)
        }

        @Test func swiGLUForwardAndGradients() {
            var rng = RandomGenerator(seed: 5)
            let arena = Arena(name: "test")
            let (n, c, f) = (7, 12, 21)   // N·F not a multiple of 16: the scalar tail runs
            let p = randomParameters(SwiGLU.parameterSpecs(prefix: "mlp", hidden: c, intermediate: f), &rng, bound: 0.5)
            let layer = SwiGLU(prefix: "mlp", hidden: c, intermediate: f, parameters: p, maxRows: n, arena: arena,
                               context: ComputeContext(threads: 2))
            let x = randomTensor(arena, n, c, &rng, bound: 2), y = arena.tensor(rows: n, cols: c), r = randomTensor(arena, n, c, &rng)
            layer.forward(out: y, input: x)
            let expected = Reference.swiGLU(doubles(x), rows: n, c: c, f: f, gate: doubles(p.value("mlp.gate_proj.weight")),
                                            up: doubles(p.value("mlp.up_proj.weight")), down: doubles(p.value("mlp.down_proj.weight")))
            expectClose("swiglu out", y.toArray(), expected, absolute: 1e-5)
            let dx = arena.tensor(rows: n, cols: c)
            layer.backward(dInput: dx, dOut: r, input: x)
            let loss = { layer.forward(out: y, input: x); return dotLoss(y, r) }
            expectRelativeClose("swiglu dx", dx.toArray(), finiteDifferences(x, epsilon: 1e-2, loss: loss), relative: Self.gradientTolerance)
            for name in ["mlp.gate_proj.weight", "mlp.up_proj.weight", "mlp.down_proj.weight"] {
                expectRelativeClose("swiglu d\(name)", p.grad(name).toArray(), finiteDifferences(p.value(name), epsilon: 1e-2, loss: loss),
                                    relative: Self.gradientTolerance)
            }
        }

        @Test func crossEntropyWithMask() {
            let context = ComputeContext(threads: 2)
            var rng = RandomGenerator(seed: 6)
            let arena = Arena(name: "test")
            let (n, v) = (150, 256)
            let logits = randomTensor(arena, n, v, &rng, bound: 6)
            let targets = (0..<n).map { _ in Int32(rng.nextInt(below: v)) }
            let mask = (0..<n).map { i -> Float in i % 7 == 3 ? 0 : 1 }
            let result = targets.withUnsafeBufferPointer { t in
                mask.withUnsafeBufferPointer { CrossEntropy.forward(logits: logits, targets: t.baseAddress!, mask: $0.baseAddress!, on: context) }
            }
            var expected = 0.0, count = 0
            for i in 0..<n where mask[i] != 0 {
                let z = (0..<v).map { Double(logits[i, $0]) }
                let m = z.max()!
                expected += m + log(z.reduce(0) { $0 + exp($1 - m) }) - z[Int(targets[i])]
                count += 1
            }
            #expect(result.count == count)
            #expect(abs(result.lossSum - expected) < 1e-5 * expected, "loss \(result.lossSum), expected \(expected)")

            // Gradient of scale · lossSum, against finite differences on a few rows (written into a copy, then in place).
            let scale: Float = 0.37
            let rows = [0, 3, 10, 149]
            let sub = arena.tensor(rows: rows.count, cols: v)
            for (k, i) in rows.enumerated() { sub.row(k).update(from: logits.row(i), count: v) }
            let subTargets = rows.map { targets[$0] }, subMask = rows.map { mask[$0] }
            let fd = finiteDifferences(sub, epsilon: 1e-2) {
                subTargets.withUnsafeBufferPointer { t in
                    subMask.withUnsafeBufferPointer { Double(scale) * CrossEntropy.forward(logits: sub, targets: t.baseAddress!, mask: $0.baseAddress!, on: context).lossSum }
                }
            }
            let dz = arena.tensor(rows: rows.count, cols: v)
            subTargets.withUnsafeBufferPointer { t in
                subMask.withUnsafeBufferPointer { CrossEntropy.backward(dLogits: dz, logits: sub, targets: t.baseAddress!, mask: $0.baseAddress!, scale: scale, on: context) }
            }
            expectRelativeClose("cross-entropy dLogits", dz.toArray(), fd, relative: Self.gradientTolerance)
            // In place (aliasing) gives the same; no mask means every row counts.
            subTargets.withUnsafeBufferPointer { t in
                subMask.withUnsafeBufferPointer { CrossEntropy.backward(dLogits: sub, logits: sub, targets: t.baseAddress!, mask: $0.baseAddress!, scale: scale, on: context) }
            }
            expectClose("cross-entropy in place", sub.toArray(), doubles(dz), absolute: 1e-7)
            let all = targets.withUnsafeBufferPointer { CrossEntropy.forward(logits: logits, targets: $0.baseAddress!, mask: nil, on: context) }
            #expect(all.count == n)
        }
    }
}
