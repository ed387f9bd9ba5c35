// Tests of the Llama checkpoint readers and backbone conversion on the tiny random Llama of
// scripts/make_io_fixtures.py: HF f32 single file, HF bf16 sharded, and GGUF (F16, q/k permuted)
// must all give the Hugging Face tensors; wrong architectures, missing shards or tensors,
// truncated and corrupted files give clear errors.

import Foundation
import Testing
import HATIO

@Suite struct ConversionTests {
    let f32Dir = fixturesPath + "/tiny_llama_f32"
    let bf16Dir = fixturesPath + "/tiny_llama_bf16_sharded"
    let ggufPath = fixturesPath + "/tiny_llama.gguf"
    let suffixes = ["input_layernorm.weight", "self_attn.q_proj.weight", "self_attn.k_proj.weight", "self_attn.v_proj.weight",
                    "self_attn.o_proj.weight", "post_attention_layernorm.weight", "mlp.gate_proj.weight", "mlp.up_proj.weight",
                    "mlp.down_proj.weight"]

    /// Converts and returns the output reader and config.
    private func convert(_ src: String, dtype: DType = .f32, keepTokenHead: Bool = false, in dir: ScratchDirectory) throws -> (SafeTensorsFile, BackboneFileConfig) {
        let out = dir.file("backbone")
        let checkpoint = try openLlamaCheckpoint(src)
        var events = 0
        _ = try BackboneConversion.convert(checkpoint, outDir: out, dtype: dtype, keepTokenHead: keepTokenHead,
                                           convertedBy: "hat test") { _ in events += 1 }
        #expect(events >= 18)
        return (try SafeTensorsFile(path: out + "/model.safetensors"), try BackboneFileConfig.read(out + "/config.json"))
    }

    /// Reference: the Hugging Face f32 tensors.
    private func reference() throws -> SafeTensorsFile { try SafeTensorsFile(path: f32Dir + "/model.safetensors") }

    private func checkConfig(_ c: BackboneFileConfig) {
        #expect(c.hiddenSize == 64)
        #expect(c.numHiddenLayers == 2)
        #expect(c.numAttentionHeads == 4)
        #expect(c.numKeyValueHeads == 2)
        #expect(c.headDim == 16)
        #expect(c.intermediateSize == 96)
        #expect(c.rmsNormEps == 1e-6)
        #expect(c.ropeTheta == 50000)
        #expect(c.ropeScaling == nil)
        #expect(c.source.vocabSize == 32)
        #expect(c.source.maxPositionEmbeddings == 128)
        #expect(c.source.convertedBy == "hat test")
        #expect(c.source.sha256.count == 64)
    }

    @Test func huggingFaceSingleFile() throws {
        let dir = ScratchDirectory()
        let (out, config) = try convert(f32Dir, in: dir)
        let ref = try reference()
        #expect(out.names.count == 18)
        #expect(out.names.first == "backbone.layers.0.input_layernorm.weight")
        for i in 0..<2 {
            for s in suffixes {
                let got = try out.floats("backbone.layers.\(i).\(s)")
                #expect(got == (try ref.floats("model.layers.\(i).\(s)")), "layer \(i) \(s)")
                #expect(try out.info("backbone.layers.\(i).\(s)").shape == (try ref.info("model.layers.\(i).\(s)").shape))
            }
        }
        checkConfig(config)
        #expect(config.source.format == "safetensors")
        #expect(config.source.architecture == "LlamaForCausalLM")
        #expect(config.source.sourceDtype == "F32")
        #expect(config.source.sha256 == (try SHA256.file(f32Dir + "/model.safetensors")))
        #expect(config.dtype == "F32")
        #expect(!out.names.contains { $0.contains("embed") || $0.contains("lm_head") })
    }

    @Test func huggingFaceShardedBF16() throws {
        let dir = ScratchDirectory()
        let (out, config) = try convert(bf16Dir, in: dir)
        let ref = try reference()
        for i in 0..<2 {
            for s in suffixes {
                #expect(try out.floats("backbone.layers.\(i).\(s)") == (try ref.floats("model.layers.\(i).\(s)")), "layer \(i) \(s)")
            }
        }
        checkConfig(config)
        #expect(config.source.sourceDtype == "BF16")
        #expect(config.source.files.count == 4)       // index + 3 shards
        #expect(config.source.files.keys.contains("model.safetensors.index.json"))
    }

    @Test func storedAsBF16() throws {
        let dir = ScratchDirectory()
        let (out, config) = try convert(bf16Dir, dtype: .bf16, in: dir)
        #expect(config.dtype == "BF16")
        #expect(try out.info("backbone.layers.1.mlp.down_proj.weight").dtype == .bf16)
        #expect(try out.floats("backbone.layers.1.mlp.down_proj.weight") == (try reference().floats("model.layers.1.mlp.down_proj.weight")))
    }

    @Test func ggufUndoesTheQKPermutation() throws {
        let dir = ScratchDirectory()
        let (out, config) = try convert(ggufPath, in: dir)
        let ref = try reference()
        for i in 0..<2 {
            for s in suffixes {
                let want = try ref.floats("model.layers.\(i).\(s)")
                let isNorm = s.hasSuffix("layernorm.weight")
                // matrices were stored as F16, norms as F32: compare with the f16-rounded reference, exactly
                let rounded = isNorm ? want : want.map { Half.f16ToFloat(Half.floatToF16($0)) }
                let got = try out.floats("backbone.layers.\(i).\(s)")
                #expect(got == rounded, "layer \(i) \(s)")
            }
        }
        checkConfig(config)
        #expect(config.source.format == "gguf")
        #expect(config.source.unpermutedQK)
        #expect(config.source.sourceDtype == "F16+F32")
        #expect(config.source.tieWordEmbeddings == false)
    }

    @Test func unpermuteInvertsLlamaCppPermutation() {
        // llama.cpp: reshape [heads, 2, R/2, cols], swap axes 1 and 2; rows of head h: (j, i) → (i, j)
        let heads = 3, perHead = 8, cols = 2, rows = heads * perHead
        let hf = (0..<(rows * cols)).map(Float.init)
        var permuted = [Float](repeating: 0, count: rows * cols)
        for h in 0..<heads {
            for j in 0..<2 {
                for i in 0..<(perHead / 2) {
                    let hfRow = h * perHead + j * (perHead / 2) + i
                    let ggRow = h * perHead + i * 2 + j
                    for c in 0..<cols { permuted[ggRow * cols + c] = hf[hfRow * cols + c] }
                }
            }
        }
        var back = [Float](repeating: -1, count: rows * cols)
        unpermuteRows(permuted, &back, rows: rows, cols: cols, heads: heads)
        #expect(back == hf)
    }

    @Test func keepTokenHead() throws {
        let dir = ScratchDirectory()
        _ = try convert(f32Dir, keepTokenHead: true, in: dir)
        let head = try SafeTensorsFile(path: dir.file("backbone/token_head.safetensors"))
        let ref = try reference()
        #expect(head.names == ["embed_tokens.weight", "norm.weight", "lm_head.weight"])
        #expect(try head.floats("embed_tokens.weight") == (try ref.floats("model.embed_tokens.weight")))
        #expect(try head.floats("norm.weight") == (try ref.floats("model.norm.weight")))
        #expect(try head.floats("lm_head.weight") == (try ref.floats("lm_head.weight")))
        #expect(head.metadata["tied_lm_head"] == "false")
    }

    @Test func configJSONIsSnakeCaseSortedAndPretty() throws {
        let dir = ScratchDirectory()
        _ = try convert(ggufPath, in: dir)
        let text = try String(contentsOfFile: dir.file("backbone/config.json"), encoding: .utf8)
        #expect(text.contains("\"hidden_size\" : 64"))
        #expect(text.contains("\"rms_norm_eps\" : 1e-06") || text.contains("\"rms_norm_eps\" : 9.9999999999999995e-07"))
        #expect(text.contains("\"converted_by\" : \"hat test\""))
        let keys = text.split(separator: "\n").filter { $0.hasPrefix("  \"") }.map { $0.split(separator: "\"")[1] }
        #expect(keys == keys.sorted())
    }

    // MARK: bad inputs

    /// A copy of a fixture directory to damage.
    private func copy(_ src: String, in dir: ScratchDirectory) throws -> String {
        let dst = dir.file((src as NSString).lastPathComponent)
        try FileManager.default.copyItem(atPath: src, toPath: dst)
        return dst
    }

    private func editConfig(_ path: String, _ edit: (inout [String: Any]) -> Void) throws {
        var c = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as! [String: Any]
        edit(&c)
        try JSONSerialization.data(withJSONObject: c).write(to: URL(fileURLWithPath: path))
    }

    @Test func wrongArchitecture() throws {
        let dir = ScratchDirectory()
        let d = try copy(f32Dir, in: dir)
        try editConfig(d + "/config.json") { $0["architectures"] = ["GPT2LMHeadModel"]; $0["model_type"] = "gpt2" }
        let e = expectIOError(.unsupported) { _ = try openLlamaCheckpoint(d) }
        #expect(e?.description.contains("GPT2LMHeadModel") == true)
        #expect(e?.description.contains("LlamaForCausalLM") == true)
        #expect(e?.description.contains("config.json") == true)
    }

    @Test func wrongGGUFArchitecture() throws {
        var g = GGUFBuilder.valid()
        g.metadata = []
        g.string("general.architecture", "gpt2")
        let dir = ScratchDirectory()
        let e = expectIOError(.unsupported) { _ = try openLlamaCheckpoint(dir.write("m.gguf", g.bytes())) }
        #expect(e?.description.contains("gpt2") == true)
    }

    @Test func biasesAndActivationsAreRefused() throws {
        let dir = ScratchDirectory()
        let d = try copy(f32Dir, in: dir)
        try editConfig(d + "/config.json") { $0["attention_bias"] = true }
        expectIOError(.unsupported) { _ = try openLlamaCheckpoint(d) }
        try editConfig(d + "/config.json") { $0["attention_bias"] = false; $0["hidden_act"] = "gelu" }
        expectIOError(.unsupported) { _ = try openLlamaCheckpoint(d) }
    }

    @Test func badConfigFields() throws {
        let dir = ScratchDirectory()
        let d = try copy(f32Dir, in: dir)
        try editConfig(d + "/config.json") { $0["num_key_value_heads"] = 3 }
        let e = expectIOError(.badConfig) { _ = try openLlamaCheckpoint(d) }
        #expect(e?.description.contains("num_key_value_heads") == true)
        try editConfig(d + "/config.json") { $0["num_key_value_heads"] = 2; $0.removeValue(forKey: "hidden_size") }
        expectIOError(.badConfig) { _ = try openLlamaCheckpoint(d) }
        try editConfig(d + "/config.json") { $0["hidden_size"] = "64" }
        expectIOError(.badConfig) { _ = try openLlamaCheckpoint(d) }
        try "{not json".write(toFile: d + "/config.json", atomically: true, encoding: .utf8)
        expectIOError(.malformed) { _ = try openLlamaCheckpoint(d) }
    }

    @Test func unsupportedRopeScalingIsRecordedLoudly() throws {
        let dir = ScratchDirectory()
        let d = try copy(f32Dir, in: dir)
        try editConfig(d + "/config.json") {
            $0["rope_parameters"] = ["rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0, "low_freq_factor": 1.0,
                                     "high_freq_factor": 4.0, "original_max_position_embeddings": 8192]
        }
        let report = try BackboneConversion.convert(try openLlamaCheckpoint(d), outDir: dir.file("out"), dtype: .f32, convertedBy: "t")
        #expect(report.config.ropeTheta == 500000)
        #expect(report.config.ropeScaling?.ropeType == "llama3")
        #expect(report.config.ropeScaling?.supported == false)
        #expect(report.config.ropeScaling?.factor == 8)
        #expect(report.warnings.contains { $0.contains("llama3") && $0.contains("NOT") })
        #expect(try BackboneFileConfig.read(dir.file("out/config.json")).warnings?.isEmpty == false)
    }

    @Test func mistralWithSlidingWindowAndTransformers4Spelling() throws {
        let dir = ScratchDirectory()
        let d = try copy(f32Dir, in: dir)
        try editConfig(d + "/config.json") {
            $0["architectures"] = ["MistralForCausalLM"]
            $0["model_type"] = "mistral"
            $0["sliding_window"] = 4096
            $0.removeValue(forKey: "rope_parameters")
            $0["rope_theta"] = 1e6                         // transformers 4.x spelling
            $0["torch_dtype"] = "float32"
            $0.removeValue(forKey: "head_dim")             // defaults to hidden / heads
        }
        let report = try BackboneConversion.convert(try openLlamaCheckpoint(d), outDir: dir.file("out"), dtype: .f32, convertedBy: "t")
        #expect(report.config.source.architecture == "MistralForCausalLM")
        #expect(report.config.slidingWindow == 4096)
        #expect(report.config.ropeTheta == 1e6)
        #expect(report.config.headDim == 16)
        #expect(report.warnings.contains { $0.contains("sliding") })
    }

    @Test func backboneConfigReadRejectsOtherJSON() throws {
        let dir = ScratchDirectory()
        let p = dir.write("config.json", Array("{\"hidden_size\": 64}".utf8))
        expectIOError(.badConfig) { _ = try BackboneFileConfig.read(p) }
        expectIOError(.io) { _ = try BackboneFileConfig.read(dir.file("none.json")) }
    }

    @Test func missingShard() throws {
        let dir = ScratchDirectory()
        let d = try copy(bf16Dir, in: dir)
        try FileManager.default.removeItem(atPath: d + "/model-00002-of-00003.safetensors")
        let e = expectIOError(.missingTensor) { _ = try openLlamaCheckpoint(d) }
        #expect(e?.description.contains("model-00002-of-00003.safetensors") == true)
    }

    @Test func indexListsATensorTheShardLacks() throws {
        let dir = ScratchDirectory()
        let d = try copy(bf16Dir, in: dir)
        let indexPath = d + "/model.safetensors.index.json"
        var index = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: indexPath))) as! [String: Any]
        var map = index["weight_map"] as! [String: String]
        map["model.layers.0.self_attn.q_norm.weight"] = "model-00001-of-00003.safetensors"
        index["weight_map"] = map
        try JSONSerialization.data(withJSONObject: index).write(to: URL(fileURLWithPath: indexPath))
        let e = expectIOError(.missingTensor) { _ = try openLlamaCheckpoint(d) }
        #expect(e?.description.contains("q_norm") == true)
        // a hostile shard name
        map["model.layers.0.self_attn.q_norm.weight"] = "../../etc/passwd"
        index["weight_map"] = map
        try JSONSerialization.data(withJSONObject: index).write(to: URL(fileURLWithPath: indexPath))
        expectIOError(.malformed) { _ = try openLlamaCheckpoint(d) }
    }

    @Test func missingAndExtraTensorsAreListed() throws {
        let dir = ScratchDirectory()
        let d = try copy(f32Dir, in: dir)
        // drop two tensors of layer 1 from the checkpoint
        let ref = try reference()
        let keep = ref.names.filter { !$0.hasPrefix("model.layers.1.mlp.") || $0.hasSuffix("down_proj.weight") }
        let w = try SafeTensorsWriter(path: d + "/model.safetensors", tensors: try keep.map { ($0, try ref.info($0).shape) }, dtype: .f32)
        for n in keep { try w.write(n, from: try ref.floats(n), count: try ref.info(n).count) }
        try w.finish()
        let e = expectIOError(.missingTensor) {
            _ = try BackboneConversion.convert(try openLlamaCheckpoint(d), outDir: dir.file("out"), convertedBy: "t")
        }
        #expect(e?.description.contains("model.layers.1.mlp.gate_proj.weight") == true)
        #expect(e?.description.contains("model.layers.1.mlp.up_proj.weight") == true)
        #expect(!FileManager.default.fileExists(atPath: dir.file("out/model.safetensors")))

        // config says 1 layer, the file has 2: layer 1 is extra
        let d2 = dir.file("second")
        try FileManager.default.copyItem(atPath: f32Dir, toPath: d2)
        try editConfig(d2 + "/config.json") { $0["num_hidden_layers"] = 1 }
        let e2 = expectIOError(.extraTensor) {
            _ = try BackboneConversion.convert(try openLlamaCheckpoint(d2), outDir: dir.file("out2"), convertedBy: "t")
        }
        #expect(e2?.description.contains("extra 9") == true)
        #expect(e2?.description.contains("model.layers.1.") == true)

        // config says FFN 128: every MLP matrix has the wrong shape
        try editConfig(d2 + "/config.json") { $0["num_hidden_layers"] = 2; $0["intermediate_size"] = 128 }
        let e3 = expectIOError(.badShape) {
            _ = try BackboneConversion.convert(try openLlamaCheckpoint(d2), outDir: dir.file("out3"), convertedBy: "t")
        }
        #expect(e3?.description.contains("wrong shape 6") == true)
    }

    @Test func truncatedAndCorruptedSources() throws {
        let dir = ScratchDirectory()
        // a truncated shard
        let d = try copy(bf16Dir, in: dir)
        let shard = d + "/model-00003-of-00003.safetensors"
        let bytes = try Data(contentsOf: URL(fileURLWithPath: shard))
        try bytes.prefix(bytes.count - 100).write(to: URL(fileURLWithPath: shard))
        let e = expectIOError(.outOfBounds) { _ = try openLlamaCheckpoint(d) }   // the last tensor now ends beyond the file
        #expect(e?.description.contains("model-00003-of-00003.safetensors") == true)
        // a truncated GGUF
        let g = try Data(contentsOf: URL(fileURLWithPath: ggufPath))
        let cut = dir.write("cut.gguf", [UInt8](g.prefix(g.count / 2)))
        let e2 = expectIOError(.outOfBounds) { _ = try openLlamaCheckpoint(cut) }
        #expect(e2?.description.contains("beyond") == true)
        // a GGUF whose header is garbage
        var garbage = [UInt8](g)
        for i in 24..<200 { garbage[i] = 0xFF }
        expectIOErrorAny { _ = try openLlamaCheckpoint(dir.write("garbage.gguf", garbage)) }
        // not a checkpoint at all
        expectIOErrorAny { _ = try openLlamaCheckpoint(dir.write("x.gguf", Array("hello".utf8))) }
        expectIOError(.io) { _ = try openLlamaCheckpoint(dir.file("nothing-here")) }
    }

    @Test func sha256KnownAnswers() throws {
        var s = SHA256()
        s.update(Array("abc".utf8))
        #expect(s.hexDigest() == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        var e = SHA256()
        #expect(e.hexDigest() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        var l = SHA256()
        l.update(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8))
        #expect(l.hexDigest() == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        // fed in odd pieces
        var p = SHA256()
        let million = [UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000)
        var at = 0
        var step = 1
        while at < million.count {
            let n = min(step, million.count - at)
            p.update(Array(million[at..<(at + n)]))
            at += n
            step = step * 3 % 1000 + 1
        }
        #expect(p.hexDigest() == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }
}
