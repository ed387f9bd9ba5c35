// Stage 1 of grafting by distillation on the tiny preset: the word↔token alignment by hand on
// awkward cases, and the gradient of the whole stage-1 loss (cross-entropy + alignment after n
// backbone blocks + word log-probability distillation, with and without the oracle decoder
// inputs) against central finite differences of the same loss.

import Foundation
import HATModel
import HATTensor
import HATTestSupport
import Testing

@Suite struct TeacherAlignmentTests {
    @Test func wordsAndTokensByHand() {
        // "Hello, world!" — words "Hello," " world!" (ends 6, 13); tokens "Hello" "," " world" "!" (5, 6, 12, 13).
        let a = TeacherAlignment(wordEnds: [6, 13], tokenEnds: [5, 6, 12, 13])
        #expect(a.alignedToken == [1, 3])
        #expect(a.oracleToken == [1, 3])
        #expect(a.coveringTokens == [nil, 2..<4])       // the first word holds the row's first token
        // "don't" — words "don'" "t" (4, 5); tokens "don" "'t" (3, 5): the first word ends mid-token.
        let b = TeacherAlignment(wordEnds: [4, 5], tokenEnds: [3, 5])
        #expect(b.alignedToken == [-1, 1])
        #expect(b.oracleToken == [0, 1])
        #expect(b.coveringTokens == [nil, nil])         // "t" starts inside "'t"
        // A word that starts on a boundary but whose first token began earlier is not covered.
        let c = TeacherAlignment(wordEnds: [2, 6, 9], tokenEnds: [2, 4, 6, 9])
        #expect(c.coveringTokens == [nil, 1..<3, 3..<4])
        // No token has ended yet.
        let d = TeacherAlignment(wordEnds: [1, 3], tokenEnds: [3])
        #expect(d.oracleToken == [-1, 0] && d.alignedToken == [-1, 0] && d.coveringTokens == [nil, nil])
    }
}

@Suite struct StageOneGradientTests {
    /// A tiny model, a two-row batch and random teacher signals with every mask kind present.
    static func setUp(oracle: Bool, alignBlocks: Int, distance: AlignDistance = .l2) throws
        -> (HierarchicalModel, Batch, TeacherSignals, DistillationSettings) {
        let config = try TinyModel.config()
        let parameters = TinyModel.parameters(config, seed: 3, std: 0.2)
        let splitter = try TinyModel.splitter(config)
        var stream = WordStream()
        stream.appendDocument(Array("It is a truth universally acknowledged, that a single man".utf8), splitter: splitter,
                              endOfSequence: UInt8(config.eosTokenId))
        stream.appendDocument(Array("Call me Ishmael. Some years ago".utf8), splitter: splitter, endOfSequence: UInt8(config.eosTokenId))
        let rows = stream.rows(wordsPerRow: 9, maxRowBytes: 200)
        let batch = Batch(maxBytes: stream.byteCount, maxWords: stream.wordCount, config: config)
        for row in rows.prefix(3) { batch.appendRow(stream, words: row) }
        batch.finish()
        let model = HierarchicalModel(config: config, parameters: parameters, maxBytes: batch.byteCount,
                                      maxWords: batch.wordCount, context: ComputeContext(threads: 2))
        let signals = TeacherSignals(maxWords: batch.wordCount, width: config.backboneConfig.hiddenSize)
        signals.reset(words: batch.wordCount)
        var rng = RandomGenerator(seed: 17)
        rng.fillNormal(signals.alignedStates, std: 1)
        rng.fillNormal(signals.oracleStates, std: 1)
        for i in 0..<batch.wordCount {
            signals.alignMask[i] = i % 3 == 1 ? 0 : 1
            signals.oracleMask[i] = i % 5 == 2 ? 0 : 1
            let firstOfRow = batch.isRowStart(word: i)
            signals.distillMask[i] = !firstOfRow && i % 4 != 3 ? 1 : 0
            signals.wordLogProb[i] = -Double(rng.nextInt(below: 30)) - 0.5
        }
        let settings = DistillationSettings(alignBlocks: alignBlocks, alignWeight: 0.7, distillWeight: 0.3,
                                            crossEntropyWeight: 1, oracle: oracle, alignDistance: distance)
        return (model, batch, signals, settings)
    }

    /// ce·CE/N + align·A/Na + distill·D/Nd of one forward.
    static func total(_ parts: LossParts, _ s: DistillationSettings) -> Double {
        Double(s.crossEntropyWeight) * parts.crossEntropy / Double(parts.predictedBytes)
            + Double(s.alignWeight) * parts.align / Double(max(parts.alignedWords, 1))
            + Double(s.distillWeight) * parts.distill / Double(max(parts.distilledWords, 1))
    }

    @Test(arguments: [(true, 1, AlignDistance.l2), (false, 1, .l2), (true, 0, .l2), (false, 2, .l2), (true, 1, .relative),
                      (false, 0, .relative)])
    func wholeLossGradientMatchesFiniteDifferences(oracle: Bool, alignBlocks: Int, distance: AlignDistance) throws {
        let (model, batch, signals, s) = try Self.setUp(oracle: oracle, alignBlocks: alignBlocks, distance: distance)
        let parameters = model.parameters
        let parts = model.forward(batch, teacher: signals, settings: s)
        #expect(parts.alignedWords > 0 && parts.distilledWords > 0 && parts.predictedBytes > 0)
        parameters.zeroGrads()
        model.backward(batch, teacher: signals, settings: s,
                       crossEntropyScale: s.crossEntropyWeight / Float(parts.predictedBytes),
                       alignScale: s.alignWeight / Float(parts.alignedWords),
                       distillScale: s.distillWeight / Float(parts.distilledWords))
        // A few values of every tensor kind: encoder, pooling, backbone (within and past n),
        // decoder cross-attention and block, head, the learned vectors.
        let names = ["encoder.embedding_layer.weight", "encoder.layers.0.mlp.down_proj.weight",
                     "encoder_connector.cross_attention_encoder_connector.v_proj.weight",
                     "encoder_connector.latent_query", "backbone.layers.0.self_attn.q_proj.weight",
                     "backbone.layers.1.mlp.up_proj.weight", "decoder_connector.first_word_embedding",
                     "decoder.decoder_layers.0.cross_attention.v_proj.weight",
                     "decoder.decoder_layers.1.llama_layer.mlp.gate_proj.weight", "lm_head.weight"]
        var rng = RandomGenerator(seed: 5)
        var checked = 0, failures: [String] = []
        for name in names {
            let entry = parameters.entry(name)
            for _ in 0..<6 {
                let i = entry.offset + rng.nextInt(below: entry.count)
                let analytic = Double(parameters.grads[i])
                let saved = parameters.values[i], epsilon: Float = 1e-2
                parameters.values[i] = saved + epsilon
                let plus = Self.total(model.forward(batch, teacher: signals, settings: s), s)
                parameters.values[i] = saved - epsilon
                let minus = Self.total(model.forward(batch, teacher: signals, settings: s), s)
                parameters.values[i] = saved
                let numeric = (plus - minus) / (2 * Double(epsilon))
                let tolerance = 2e-2 * max(abs(numeric), abs(analytic)) + 2e-4
                if abs(numeric - analytic) > tolerance {
                    failures.append("\(name)[\(i - entry.offset)]: analytic \(analytic), numeric \(numeric)")
                }
                checked += 1
            }
        }
        #expect(failures.isEmpty, "\(failures.count) of \(checked) differ (oracle \(oracle), n \(alignBlocks)): \(failures.prefix(6))")
        // Without the oracle, the whole backbone feeds the decoder; with it, blocks past n get no gradient.
        let late = parameters.grad("backbone.layers.1.mlp.up_proj.weight").toArray()
        if oracle && alignBlocks < 2 { #expect(late.allSatisfy { $0 == 0 }) } else { #expect(late.contains { $0 != 0 }) }
    }
}
