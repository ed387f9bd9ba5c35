// The whole Llama token model against transformers (scripts/make_token_model_fixtures.py): the
// tiny random Llama from its F32 safetensors, its BF16 shards and its GGUF (F16 matrices, q/k
// rows permuted as llama.cpp stores them), and — where data/smollm2 holds the GGUF, which tests
// cannot fetch — SmolLM2-135M: logits within 1e-4 of their scale, hidden states after 4 blocks,
// the summed next-token loss. Bad checkpoints give errors naming file and field.

import Foundation
import HATIO
import HATModel
import HATTensor
import HATTestSupport
import Testing

enum TokenFixtures {
    static let ioFixtures = TinyModel.repositoryRoot + "/Tests/HATIOTests/Fixtures"
    static let directory = TinyModel.repositoryRoot + "/Tests/HATModelTests/Fixtures/token-model"
    static let smollm2 = TinyModel.repositoryRoot + "/data/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"

    /// Logits [T, V] of a forward over `ids` (positions 0…T−1, one sequence).
    static func logits(_ model: TokenModel, _ ids: [Int32]) -> [[Float]] {
        let n = ids.count
        let positions = (0..<Int32(n)).map { $0 }, starts = [Int32](repeating: 0, count: n)
        var out: [[Float]] = []
        ids.withUnsafeBufferPointer { i in
            positions.withUnsafeBufferPointer { p in
                starts.withUnsafeBufferPointer { s in
                    let h = model.forward(ids: i.baseAddress!, positions: p.baseAddress!, sequenceStarts: s.baseAddress!, count: n)
                    model.forEachLogits(h) { _, z in out.append(Array(UnsafeBufferPointer(start: z, count: model.config.vocabularySize))) }
                }
            }
        }
        return out
    }

    /// Max |a − b| over max |b|.
    static func relativeDifference(_ a: [Float], _ b: [Float]) -> Float {
        let scale = b.map(abs).max() ?? 1
        return zip(a, b).map { abs($0 - $1) }.max()! / max(scale, 1e-30)
    }
}

@Suite struct TokenModelTests {
    func tinyCase(_ source: String, expected name: String) throws {
        let (config, parameters) = try TokenModelFiles.load(source)
        #expect(config.vocabularySize == 32 && config.blocks.numHiddenLayers == 2 && !config.tiedEmbeddings)
        let fixture = try SafeTensorsFile(path: TokenFixtures.directory + "/tiny.safetensors")
        let ids = try fixture.floats("ids").map { Int32($0) }
        let expected = try fixture.floats(name)
        let model = TokenModel(config: config, parameters: parameters, maxTokens: ids.count, context: ComputeContext(threads: 2))
        let ours = TokenFixtures.logits(model, ids).flatMap { $0 }
        let difference = TokenFixtures.relativeDifference(ours, expected)
        #expect(difference <= 1e-4, "\(source): max |Δ logit| / max |logit| = \(difference)")
    }

    @Test func tinyLlamaFromSafetensorsMatchesTransformers() throws {
        try tinyCase(TokenFixtures.ioFixtures + "/tiny_llama_f32", expected: "logits_f32")
    }

    @Test func tinyLlamaFromBF16ShardsMatchesTransformers() throws {
        // The weights are bf16-exact, so the shards hold the same values as the F32 file.
        try tinyCase(TokenFixtures.ioFixtures + "/tiny_llama_bf16_sharded", expected: "logits_f32")
    }

    @Test func tinyLlamaFromGGUFMatchesTransformers() throws {
        try tinyCase(TokenFixtures.ioFixtures + "/tiny_llama.gguf", expected: "logits_gguf")
    }

    @Test func packedSequencesDoNotSeeEachOther() throws {
        let (config, parameters) = try TokenModelFiles.load(TokenFixtures.ioFixtures + "/tiny_llama_f32")
        let a: [Int32] = [3, 9, 4, 17, 1], b: [Int32] = [30, 2, 2, 8]
        let model = TokenModel(config: config, parameters: parameters, maxTokens: 9, context: ComputeContext(threads: 2))
        let alone = TokenFixtures.logits(model, a) + TokenFixtures.logits(model, b)
        let ids = a + b
        let positions: [Int32] = [0, 1, 2, 3, 4, 0, 1, 2, 3], starts: [Int32] = [0, 0, 0, 0, 0, 5, 5, 5, 5]
        var packed: [[Float]] = []
        let h = model.forward(ids: ids, positions: positions, sequenceStarts: starts, count: 9)
        model.forEachLogits(h) { _, z in packed.append(Array(UnsafeBufferPointer(start: z, count: 32))) }
        #expect(TokenFixtures.relativeDifference(packed.flatMap { $0 }, alone.flatMap { $0 }) < 1e-6)
    }

    @Test(.enabled(if: FileManager.default.fileExists(atPath: TokenFixtures.smollm2),
                   "needs data/smollm2 (scripts/fetch_data.py smollm2)"))
    func smolLM2MatchesTransformers() throws {
        let (config, parameters) = try TokenModelFiles.load(TokenFixtures.smollm2)
        #expect(config.vocabularySize == 49152 && config.tiedEmbeddings && config.blocks.numHiddenLayers == 30)
        let fixture = try SafeTensorsFile(path: TokenFixtures.directory + "/smollm2.safetensors")
        let ids = try fixture.floats("ids").map { Int32($0) }
        let positions = try fixture.floats("positions").map { Int($0) }
        let model = TokenModel(config: config, parameters: parameters, maxTokens: ids.count, context: ComputeContext(threads: 2))
        let all = TokenFixtures.logits(model, ids)
        let expected = try fixture.floats("logits"), v = config.vocabularySize
        for (k, p) in positions.enumerated() {
            let difference = TokenFixtures.relativeDifference(all[p], Array(expected[(k * v)..<((k + 1) * v)]))
            #expect(difference <= 1e-4, "position \(p): max |Δ logit| / max |logit| = \(difference)")
        }
        // Hidden states after the first 4 blocks (what distillation aligns to).
        let zeros = [Int32](repeating: 0, count: ids.count), steps = (0..<Int32(ids.count)).map { $0 }
        let h = model.forward(ids: ids, positions: steps, sequenceStarts: zeros, count: ids.count, blockLimit: 4)
        let hidden = try fixture.floats("hidden_after_4_blocks"), c = config.blocks.hiddenSize
        for (k, p) in positions.enumerated() {
            let difference = TokenFixtures.relativeDifference(Array(UnsafeBufferPointer(start: h.row(p), count: c)),
                                                              Array(hidden[(k * c)..<((k + 1) * c)]))
            #expect(difference <= 1e-4, "hidden state after 4 blocks at \(p): \(difference)")
        }
        // The summed next-token loss over the passage.
        let expectedNLL = try #require(Double(fixture.metadata["nll_sum_nats"] ?? ""))
        var nll = 0.0
        for i in 0..<(ids.count - 1) { nll += TokenModel.logSumExp(all[i], v) - Double(all[i][Int(ids[i + 1])]) }
        #expect(abs(nll - expectedNLL) <= 1e-3 * abs(expectedNLL), "NLL \(nll) nats, transformers \(expectedNLL)")
    }

    @Test func badCheckpointsGiveErrorsThatNameTheFieldOrTensor() throws {
        let scratch = try TemporaryDirectory("token-model")
        let source = TokenFixtures.ioFixtures + "/tiny_llama_f32"
        func copy(_ name: String) throws -> String {
            let directory = scratch.file(name)
            try FileManager.default.copyItem(atPath: source, toPath: directory)
            return directory
        }
        func message(_ path: String) -> String {
            do { _ = try TokenModelFiles.load(path); return "(no error)" } catch { return String(describing: error) }
        }
        // Another architecture.
        let gpt2 = try copy("gpt2")
        var config = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: gpt2 + "/config.json"))) as! [String: Any]
        config["architectures"] = ["GPT2LMHeadModel"]
        config["model_type"] = "gpt2"
        try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: gpt2 + "/config.json"))
        #expect(message(gpt2).contains("architectures") && message(gpt2).contains("GPT2LMHeadModel"), "\(message(gpt2))")
        // A vocabulary that disagrees with the embedding.
        let vocab = try copy("vocab")
        config = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: vocab + "/config.json"))) as! [String: Any]
        config["vocab_size"] = 33
        try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: vocab + "/config.json"))
        #expect(message(vocab).contains(TokenModel.embeddingName) && message(vocab).contains("33"), "\(message(vocab))")
        // Rotary scaling hat does not implement.
        let scaled = try copy("scaled")
        config = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: scaled + "/config.json"))) as! [String: Any]
        config["rope_scaling"] = ["rope_type": "llama3", "factor": 8.0]
        try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: scaled + "/config.json"))
        #expect(message(scaled).contains("rope_scaling") && message(scaled).contains("llama3"), "\(message(scaled))")
        // Not a checkpoint at all.
        #expect(message(scratch.file("nothing")).contains("no such file"), "\(message(scratch.file("nothing")))")
        #expect(!TokenModelFiles.isTokenModel(scratch.file("nothing")))
        #expect(TokenModelFiles.isTokenModel(source) && TokenModelFiles.isTokenModel(TokenFixtures.ioFixtures + "/tiny_llama.gguf"))
    }
}
