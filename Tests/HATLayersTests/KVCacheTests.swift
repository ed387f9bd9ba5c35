// LlamaBlock.step with a KVCache against LlamaBlock.forward over the whole sequence: one row at
// a time and in uneven chunks, with a sliding window smaller than the sequence (cache capacity
// equal to the window and larger), and without a window. Tolerance 1e-5 absolute (the same
// math; only the summation order inside the products may differ). Caches in bfloat16 and half
// run the same sequences, wrapping around their storage, within what rounding keys and values
// once costs (checked to exceed the float32 error, so the rounding really happens).

import HATLayers
import HATTensor
import Testing

extension LayerTests {
    @Suite struct Cache {
        /// Largest absolute difference between the stepped and the full forward.
        @discardableResult
        static func run(window: Int?, capacity: Int, chunks: [Int], maxRows: Int = 8, format: KVCacheFormat = .f32,
                        tolerance: Double = 1e-5) -> Double {
            var rng = RandomGenerator(seed: 31)
            let n = chunks.reduce(0, +)
            let config = LlamaBlockConfig(hidden: 24, heads: 4, kvHeads: 2, headDim: 6, intermediate: 40,
                                          rmsEps: 1e-5, ropeTheta: 10_000, window: window)
            let p = randomParameters(LlamaBlock.parameterSpecs(prefix: "encoder.layers.0", config: config), &rng, bound: 0.4)
            let arena = Arena(name: "test")
            let full = LlamaBlock(prefix: "encoder.layers.0", config: config, parameters: p, maxRows: n, arena: arena, context: ComputeContext(threads: 2))
            let stepper = LlamaBlock(prefix: "encoder.layers.0", config: config, parameters: p, maxRows: maxRows, arena: arena,
                                     context: ComputeContext(threads: 2), needsBackward: false)   // as generation builds it
            let positions: [Int32] = (0..<Int32(n)).map { $0 + 3 }
            let x = randomTensor(arena, n, config.hidden, &rng, bound: 1.5)
            let expected = arena.tensor(rows: n, cols: config.hidden)
            expected.copy(from: x)
            let ranges = TestRanges.causal(n, window: window)
            positions.withUnsafeBufferPointer { full.forward(expected, positions: $0.baseAddress!, ranges: ranges.ranges) }

            let cache = KVCache(capacity: capacity, kvWidth: config.kvHeads * config.headDim, format: format)
            var largest = 0.0
            for pass in 0..<2 {   // the second pass checks reset()
                let y = arena.tensor(rows: n, cols: config.hidden)
                y.copy(from: x)
                var s = 0
                for m in chunks {
                    positions.withUnsafeBufferPointer { stepper.step(y.rows(s..<(s + m)), positions: $0.baseAddress! + s, cache: cache) }
                    s += m
                }
                expectClose("step window \(window.map(String.init) ?? "none") capacity \(capacity) chunks \(chunks) \(format) pass \(pass)",
                            y.toArray(), doubles(expected), absolute: tolerance)
                largest = max(largest, zip(y.toArray(), expected.toArray()).map { Double(abs($0 - $1)) }.max() ?? 0)
                #expect(cache.total == n && cache.count == min(n, capacity))
                cache.reset()
            }
            return largest
        }

        @Test func oneRowAtATimeWithWindowSmallerThanSequence() {
            Self.run(window: 5, capacity: 5, chunks: [Int](repeating: 1, count: 23))
        }

        @Test func unevenChunksWithWindow() {
            Self.run(window: 5, capacity: 5, chunks: [3, 1, 7, 4, 8, 2])       // chunks above capacity are split
            Self.run(window: 5, capacity: 9, chunks: [6, 1, 1, 9, 2, 5])
        }

        @Test func noWindow() {
            Self.run(window: nil, capacity: 30, chunks: [1, 4, 1, 8, 3, 1, 5])
        }

        @Test(arguments: [KVCacheFormat.bf16, .f16])
        func halfCachesWithinTheirRounding(_ format: KVCacheFormat) {
            // bf16 keeps 8 significant bits, half 11: the error bound scales with the format's step.
            let tolerance = format == .bf16 ? 2e-2 : 3e-3
            let errors = [
                Self.run(window: 5, capacity: 5, chunks: [Int](repeating: 1, count: 23), format: format, tolerance: tolerance),
                Self.run(window: 5, capacity: 9, chunks: [6, 1, 1, 9, 2, 5], format: format, tolerance: tolerance),
                Self.run(window: nil, capacity: 30, chunks: [1, 4, 1, 8, 3, 1, 5], format: format, tolerance: tolerance),
            ]
            print("KVCache \(format): largest differences from the full forward \(errors)")
            #expect(errors.max()! > 1e-5, "a \(format) cache matched float32 to 1e-5: its numbers are not being rounded")
        }

        @Test func cacheBytesByFormat() {
            #expect(KVCache(capacity: 10, kvWidth: 12, format: .f32).storageBytes == 2 * 20 * 12 * 4)
            #expect(KVCache(capacity: 10, kvWidth: 12, format: .bf16).storageBytes == 2 * 20 * 12 * 2)
            #expect(KVCache(capacity: 10, kvWidth: 12, format: .f16).storageBytes == 2 * 20 * 12 * 2)
        }
    }
}
