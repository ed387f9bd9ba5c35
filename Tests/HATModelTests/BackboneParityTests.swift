// Parity of a converted backbone with transformers: the tiny random Llama of
// scripts/make_io_fixtures.py (GQA, rope_theta 5e4, rms eps 1e-6), saved by transformers as
// bf16 shards, goes through `BackboneConversion` and HATLayers' LlamaBlock; the hidden states
// after the last block (before the final norm) must match PyTorch's to 1e-4 of their scale.
// Shapes: T positions (7), C channels (64), L layers (2).

import Foundation
import HATIO
import HATLayers
import HATTensor
import Testing

@Suite(.serialized) struct BackboneParityTests {
    /// Tests/HATIOTests/Fixtures (the I/O fixtures live with the I/O tests).
    static let ioFixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("HATIOTests/Fixtures").path

    /// Converts `source`, loads the blocks and runs `inputs` through them; returns the states after each block.
    private func runConverted(_ source: String) throws -> (states: [[Float]], expected: SafeTensorsFile) {
        let out = NSTemporaryDirectory() + "hat-parity-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: out) }
        _ = try BackboneConversion.convert(try openLlamaCheckpoint(source), outDir: out, dtype: .f32, convertedBy: "test")
        let config = try BackboneFileConfig.read(out + "/config.json")
        let weights = try SafeTensorsFile(path: out + "/model.safetensors")

        let block = LlamaBlockConfig(hidden: config.hiddenSize, heads: config.numAttentionHeads, kvHeads: config.numKeyValueHeads,
                                     headDim: config.headDim, intermediate: config.intermediateSize,
                                     rmsEps: Float(config.rmsNormEps), ropeTheta: Float(config.ropeTheta), window: nil)
        let L = config.numHiddenLayers
        let specs = (0..<L).flatMap { LlamaBlock.parameterSpecs(prefix: "backbone.layers.\($0)", config: block) }
        #expect(Set(specs.map(\.name)) == Set(weights.names), "converted tensors and block parameters differ")
        let parameters = ParameterSet(specs)
        for spec in specs {
            let v = parameters.value(spec.name)
            #expect(try weights.info(spec.name).shape == spec.shape)
            try weights.read(spec.name, into: v.data, count: spec.count)
        }

        let expected = try SafeTensorsFile(path: Self.ioFixtures + "/tiny_llama_states.safetensors")
        let inputs = try expected.floats("inputs")                     // [T, C]
        let T = inputs.count / config.hiddenSize
        let arena = Arena(name: "parity")
        let blocks = (0..<L).map { LlamaBlock(prefix: "backbone.layers.\($0)", config: block, parameters: parameters, maxRows: T, arena: arena,
                                           context: ComputeContext(threads: 2)) }
        let x = arena.tensor(rows: T, cols: config.hiddenSize)         // [T, C]
        inputs.withUnsafeBufferPointer { x.data.update(from: $0.baseAddress!, count: inputs.count) }
        let positions = (0..<Int32(T)).map { $0 }                      // [T]
        let ranges = KeyRanges.allocate(capacity: T)
        defer { ranges.deallocate() }
        KeyRanges.fillCausal(into: ranges, count: T, window: nil, segmentStart: nil)
        var states: [[Float]] = []
        for b in blocks {
            positions.withUnsafeBufferPointer { b.forward(x, positions: $0.baseAddress!, ranges: ranges) }
            states.append(Array(UnsafeBufferPointer(start: x.data, count: T * config.hiddenSize)))
        }
        return (states, expected)
    }

    /// max |a - b| / max |b|, with the leading values for a failure message.
    private func relativeError(_ a: [Float], _ b: [Float]) -> (Float, String) {
        var worst: Float = 0, scale: Float = 0
        for i in 0..<min(a.count, b.count) {
            worst = max(worst, abs(a[i] - b[i]))
            scale = max(scale, abs(b[i]))
        }
        let head = (0..<min(4, a.count)).map { String(format: "%.6g/%.6g", a[$0], b[$0]) }.joined(separator: " ")
        return (worst / max(scale, 1e-30), "max abs diff \(worst), scale \(scale); first ours/torch: \(head)")
    }

    @Test func shardedBF16CheckpointReproducesTransformers() throws {
        let (states, expected) = try runConverted(Self.ioFixtures + "/tiny_llama_bf16_sharded")
        let (r0, d0) = relativeError(states[0], try expected.floats("hidden_after_layer0"))
        #expect(r0 <= 1e-4, "after layer 0: \(d0)")
        let (r, d) = relativeError(states[states.count - 1], try expected.floats("hidden_last_block"))
        #expect(r <= 1e-4, "after the last block: \(d)")
    }

    @Test func ggufCheckpointWithPermutedQKReproducesTransformers() throws {
        // F16 matrices in the GGUF hold the bf16-exact weights exactly; q/k rows are un-permuted on conversion
        let (states, expected) = try runConverted(Self.ioFixtures + "/tiny_llama.gguf")
        let (r, d) = relativeError(states[states.count - 1], try expected.floats("hidden_last_block"))
        #expect(r <= 1e-4, "after the last block: \(d)")
    }
}
