// LlamaBlock against transformers' LlamaDecoderLayer: the fixtures of
// scripts/make_layer_fixtures.py (float64 reference stored as float32; GQA, RoPE base 5000,
// RMSNorm eps 3e-5, explicit positions; causal, and two segments with a window of 6).
// Tolerances from the issue: forward max |diff| ≤ 1e-4; every gradient (input and the nine
// weights) max |diff| ≤ 1e-3 × that tensor's max |value|. Failures name the tensor and print
// the max difference and the first values. No Python needed: the fixtures are committed.

import Foundation
import HATIO
import HATLayers
import HATTensor
import Testing

extension LayerTests {
    @Suite struct PyTorchFixtures {
        static let fixtures = Bundle.module.url(forResource: "Fixtures", withExtension: nil)!.path
        static let weightNames = [
            "input_layernorm.weight", "self_attn.q_proj.weight", "self_attn.k_proj.weight", "self_attn.v_proj.weight",
            "self_attn.o_proj.weight", "post_attention_layernorm.weight", "mlp.gate_proj.weight", "mlp.up_proj.weight",
            "mlp.down_proj.weight",
        ]

        @Test(arguments: ["llama_block_causal", "llama_block_window_segments"])
        func llamaBlockMatchesTransformers(_ name: String) throws {
            let file = try SafeTensorsFile(path: "\(Self.fixtures)/\(name).safetensors")
            func meta(_ key: String) throws -> String {
                try #require(file.metadata[key], "\(name): metadata \(key) missing")
            }
            let window = try #require(Int(try meta("window")))
            let config = LlamaBlockConfig(
                hidden: try #require(Int(try meta("hidden"))), heads: try #require(Int(try meta("heads"))),
                kvHeads: try #require(Int(try meta("kv_heads"))), headDim: try #require(Int(try meta("head_dim"))),
                intermediate: try #require(Int(try meta("intermediate"))),
                rmsEps: try #require(Float(try meta("rms_norm_eps"))), ropeTheta: try #require(Float(try meta("rope_theta"))),
                window: window > 0 ? window : nil)
            let prefix = "model.layers.0"
            let parameters = ParameterSet(LlamaBlock.parameterSpecs(prefix: prefix, config: config))
            for w in Self.weightNames {
                let values = try file.floats("weight/\(w)")
                try #require(values.count == parameters.entry("\(prefix).\(w)").count, "\(name): weight/\(w) has \(values.count) values")
                parameters.value("\(prefix).\(w)").copy(from: values)
            }
            let input = try file.floats("input")
            let n = input.count / config.hidden
            let arena = Arena(name: "fixture")
            let block = LlamaBlock(prefix: prefix, config: config, parameters: parameters, maxRows: n, arena: arena, context: ComputeContext(threads: 2))
            let positions = try file.floats("positions").map { Int32($0) }
            let segmentStart = try file.floats("segment_start").map { Int32($0) }
            let ranges = TestRanges.causal(n, window: config.window, segmentStarts: segmentStart)

            let x = arena.tensor(rows: n, cols: config.hidden)
            x.copy(from: input)
            positions.withUnsafeBufferPointer { block.forward(x, positions: $0.baseAddress!, ranges: ranges.ranges) }
            expectClose("\(name) output", x.toArray(), try file.floats("output").map(Double.init), absolute: 1e-4)

            x.copy(from: try file.floats("grad_output"))
            positions.withUnsafeBufferPointer { block.backward(x, positions: $0.baseAddress!, ranges: ranges.ranges) }
            expectRelativeClose("\(name) grad_input", x.toArray(), try file.floats("grad_input").map(Double.init),
                                relative: 1e-3, floor: 0)
            for w in Self.weightNames {
                expectRelativeClose("\(name) grad/\(w)", parameters.grad("\(prefix).\(w)").toArray(),
                                    try file.floats("grad/\(w)").map(Double.init), relative: 1e-3, floor: 0)
            }
        }
    }
}
