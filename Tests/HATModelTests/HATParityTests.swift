// Parity of the whole HAT model with an independent PyTorch implementation
// (scripts/hat_reference.py, fixtures by scripts/make_model_fixtures.py): the logits and loss on
// a fixed batch, the gradient of every parameter, and the loss over ten AdamW steps; and stage 1
// of distilled grafting (oracle decoder inputs, alignment after 1 block, word distillation) with
// random teacher signals: its three loss sums and the gradient of every parameter.
// Tolerances (issue 4): logits max-abs ≤ 1e-4; each gradient ≤ 1e-3 of its tensor's max |value|
// (at least 1e-7 absolute, for gradients that are exactly zero); losses ≤ 1e-4 per step.

import Foundation
import HATIO
import HATModel
import HATTensor
import Testing

/// The fixture model, its batch and PyTorch's results.
struct TinyFixture {
    let config: HATConfig
    let parameters: ParameterSet
    let stream: WordStream
    let rows: [Range<Int>]
    let expected: SafeTensorsFile
    let learningRate: Float
    let steps: Int

    init() throws {
        let directory = Bundle.module.url(forResource: "Fixtures", withExtension: nil)!
            .appendingPathComponent("hat-tiny").path
        (config, parameters) = try ModelFiles.load(from: directory)
        expected = try SafeTensorsFile(path: directory + "/expected.safetensors")
        let batchData = try Data(contentsOf: URL(fileURLWithPath: directory + "/batch.json"))
        let info = try JSONSerialization.jsonObject(with: batchData) as! [String: Any]
        let bytes = (info["bytes"] as! [Int]).map { UInt8($0) }
        stream = WordStream(bytes: bytes, ends: info["word_ends"] as! [Int])
        var rows: [Range<Int>] = []
        var start = 0
        for count in info["row_words"] as! [Int] {
            rows.append(start..<(start + count))
            start += count
        }
        self.rows = rows
        learningRate = Float(info["learning_rate"] as! Double)
        steps = info["steps"] as! Int
    }

    func makeBatch() -> Batch {
        let batch = Batch(maxBytes: stream.byteCount, maxWords: stream.wordCount, config: config)
        for row in rows { batch.appendRow(stream, words: row) }
        batch.finish()
        return batch
    }
}

/// Largest |a - b| and where, with a few leading values for the failure message.
func compare(_ actual: [Float], _ expected: [Float]) -> (maxDifference: Float, scale: Float, detail: String) {
    precondition(actual.count == expected.count)
    var worst: Float = 0, index = 0, scale: Float = 0
    for i in 0..<actual.count {
        let d = abs(actual[i] - expected[i])
        if d > worst { worst = d; index = i }
        scale = max(scale, abs(expected[i]))
    }
    let head = (0..<min(4, actual.count)).map { String(format: "%.6g/%.6g", actual[$0], expected[$0]) }.joined(separator: " ")
    return (worst, scale, "max |Δ| \(worst) at \(index) (ours \(actual[index]), torch \(expected[index])); first ours/torch: \(head)")
}

@Suite(.serialized) struct HATParityTests {
    @Test func logitsLossAndEveryGradientMatchPyTorch() throws {
        let fixture = try TinyFixture()
        let batch = fixture.makeBatch()
        let model = HierarchicalModel(config: fixture.config, parameters: fixture.parameters,
                                      maxBytes: batch.byteCount, maxWords: batch.wordCount, context: ComputeContext(threads: 2))
        let (lossSum, count) = model.forward(batch)
        let logits = compare(model.lastLogits(rows: batch.byteCount).toArray(), try fixture.expected.floats("logits"))
        #expect(logits.maxDifference <= 1e-4, "logits: \(logits.detail)")
        let loss = Float(lossSum / Double(count))
        let expectedLoss = try fixture.expected.floats("loss")[0]
        #expect(abs(loss - expectedLoss) <= 1e-4, "loss \(loss), torch \(expectedLoss)")

        fixture.parameters.zeroGrads()
        model.backward(batch, lossScale: 1 / Float(count))
        for entry in fixture.parameters.entries {
            let ours = fixture.parameters.grad(entry.name).toArray()
            let result = compare(ours, try fixture.expected.floats("grad." + entry.name))
            // Relative to the tensor's max; tensors that are exactly zero in exact arithmetic (the
            // decoder cross-attention's q/k: one key per query, so softmax ≡ 1) get an absolute 1e-7.
            #expect(result.maxDifference <= max(1e-3 * result.scale, 1e-7), "gradient of \(entry.name): \(result.detail)")
        }
        // One key per query: these get no gradient at all, exactly (as in exact arithmetic).
        for name in ["decoder.decoder_layers.0.cross_attention.q_proj.weight", "decoder.decoder_layers.0.cross_attention.k_proj.weight",
                     "decoder.decoder_layers.0.query_norm.weight"] {
            #expect(fixture.parameters.grad(name).toArray().allSatisfy { $0 == 0 }, "\(name) should have an exactly zero gradient")
        }
    }

    @Test func tenAdamWStepsFollowPyTorchLossForLoss() throws {
        let fixture = try TinyFixture()
        let batch = fixture.makeBatch()
        let model = HierarchicalModel(config: fixture.config, parameters: fixture.parameters,
                                      maxBytes: batch.byteCount, maxWords: batch.wordCount, context: ComputeContext(threads: 2))
        let optimizer = AdamW(parameters: fixture.parameters, settings: AdamWSettings(), context: model.context)
        let expected = try fixture.expected.floats("adamw_losses")
        for step in 0..<fixture.steps {
            fixture.parameters.zeroGrads()
            let (lossSum, count) = model.forward(batch)
            model.backward(batch, lossScale: 1 / Float(count))
            clipGradientNorm(fixture.parameters, maxNorm: 1) { _ in true }
            optimizer.update(learningRate: fixture.learningRate) { _ in 1 }
            let loss = Float(lossSum / Double(count))
            #expect(abs(loss - expected[step]) <= 1e-4, "step \(step): loss \(loss), torch \(expected[step])")
        }
    }

    @Test(arguments: [("stage1.safetensors", AlignDistance.l2), ("stage1_relative.safetensors", .relative)])
    func stageOneLossesAndEveryGradientMatchPyTorch(file: String, distance: AlignDistance) throws {
        let fixture = try TinyFixture()
        let batch = fixture.makeBatch()
        let model = HierarchicalModel(config: fixture.config, parameters: fixture.parameters, maxBytes: batch.byteCount,
                                      maxWords: batch.wordCount, context: ComputeContext(threads: 2))
        let stage1 = try SafeTensorsFile(path: Bundle.module.url(forResource: "Fixtures", withExtension: nil)!
            .appendingPathComponent("hat-tiny/" + file).path)
        let w = batch.wordCount, db = fixture.config.backboneConfig.hiddenSize
        let signals = TeacherSignals(maxWords: w, width: db)
        signals.reset(words: w)
        signals.alignedStates.rows(0..<w).copy(from: try stage1.floats("aligned"))
        signals.oracleStates.rows(0..<w).copy(from: try stage1.floats("oracle_states"))
        for (name, target) in [("align_mask", signals.alignMask), ("oracle_mask", signals.oracleMask),
                               ("distill_mask", signals.distillMask)] {
            let values = try stage1.floats(name)
            for i in 0..<w { target[i] = values[i] }
        }
        let logp = try stage1.floats("word_logp")
        for i in 0..<w { signals.wordLogProb[i] = Double(logp[i]) }
        let settings = DistillationSettings(alignBlocks: 1, alignWeight: 0.7, distillWeight: 0.3, crossEntropyWeight: 1, oracle: true,
                                            alignDistance: distance)

        let parts = model.forward(batch, teacher: signals, settings: settings)
        let sums = try stage1.floats("sums")   // ce, bytes, align, aligned, distill, distilled, total
        #expect(parts.predictedBytes == Int(sums[1]) && parts.alignedWords == Int(sums[3]) && parts.distilledWords == Int(sums[5]))
        #expect(abs(parts.crossEntropy - Double(sums[0])) <= 1e-4 * Double(sums[0]), "CE \(parts.crossEntropy), torch \(sums[0])")
        #expect(abs(parts.align - Double(sums[2])) <= 1e-4 * Double(sums[2]), "align \(parts.align), torch \(sums[2])")
        #expect(abs(parts.distill - Double(sums[4])) <= 1e-4 * Double(sums[4]), "distill \(parts.distill), torch \(sums[4])")

        fixture.parameters.zeroGrads()
        model.backward(batch, teacher: signals, settings: settings,
                       crossEntropyScale: 1 / Float(parts.predictedBytes), alignScale: 0.7 / Float(parts.alignedWords),
                       distillScale: 0.3 / Float(parts.distilledWords))
        for entry in fixture.parameters.entries {
            let result = compare(fixture.parameters.grad(entry.name).toArray(), try stage1.floats("grad." + entry.name))
            #expect(result.maxDifference <= max(1e-3 * result.scale, 1e-7), "stage-1 gradient of \(entry.name): \(result.detail)")
        }
    }
}
