// HierarchicalModel: the HAT model of ARCHITECTURE.md §1 for training and evaluation, with
// forward and backward through all of it. It follows TFree-HAT (Aleph Alpha) module by module:
//
//   bytes ─► encoder (Llama blocks over bytes, sliding window) ─► e        [N, Dl]
//   e ─► pooling: one learned query per word cross-attends to that word's bytes ─► [W, Db]
//   ─► backbone (Llama blocks over words; no embedding, final norm or head) ─► h [W, Db]
//   shift right one word (row starts get first_word_embedding) ─► p          [W, Db]
//   e ─► decoder: layer 0 (or every layer) adds cross-attention of each byte to its word's p,
//        then a Llama block over bytes ─► final RMSNorm ─► lm_head ─► logits [N, 256]
//
// Departures from the classic design, as in TFree-HAT: rotary embeddings are applied inside the
// cross-attentions too (query positions and key positions of the two streams); the decoder's
// query_norm/kv_norm exist only in layers that have cross-attention.
//
// Shapes: N bytes, W words (both flattened over the batch rows), Dl local width (encoder =
// decoder), Db backbone width, V = 256.

import HATLayers
import HATTensor

public final class HierarchicalModel {
    public let config: HATConfig
    public let parameters: ParameterSet
    public let maxBytes: Int
    public let maxWords: Int
    /// The threads every layer runs on (results do not depend on their number).
    public let context: ComputeContext
    /// Whether `backward` may run: false (evaluation, inference) leaves out every buffer only
    /// backward uses.
    public let needsBackward: Bool

    // Layers, in the order data flows through them.
    let embedding: Embedding
    let encoderBlocks: [LlamaBlock]
    let pooling: CrossAttention
    let backboneBlocks: [LlamaBlock]
    let decoderLayers: [DecoderLayer]
    let finalNorm: RMSNorm
    let head: Linear

    // Activations (sized once for maxBytes / maxWords).
    let arena: Arena
    let encoderStream: Tensor     // [N, Dl] encoder residual stream; after the encoder: e
    let poolingQueries: Tensor    // [W, Db] latent_query repeated per word
    let wordStream: Tensor        // [W, Db] pooled words, then backbone stream; after it: h
    let predictive: Tensor        // [W, Db] p: h shifted right by one word
    let decoderStream: Tensor     // [N, Dl] decoder residual stream
    let finalNormOut: Tensor      // [N, Dl]
    let logits: Tensor            // [N, V]; backward overwrites it with dLogits
    // Gradients of activations ([0, …] without backward).
    let dDecoder: Tensor          // [N, Dl]
    let dFinalNormOut: Tensor     // [N, Dl]
    let dPredictive: Tensor       // [W, Db]
    let dWords: Tensor            // [W, Db]
    let dPoolingQueries: Tensor   // [W, Db]
    // Stage 1 (distillation).
    let alignedWordStates: Tensor                    // [W, Db] word vectors after the first n backbone blocks
    let byteLoss: UnsafeMutablePointer<Double>       // [N] −log p(target) of each byte
    let byteWeights: UnsafeMutablePointer<Float>     // [N] dLoss/dLogits weight of each byte row
    let studentWordLogProb: UnsafeMutablePointer<Double>   // [W]
    /// The losses of the last forward.
    public private(set) var lastParts = LossParts()

    /// Names of the two learned vectors.
    public static let latentQueryName = ModelLayout.latentQuery
    public static let firstWordEmbeddingName = ModelLayout.firstWordEmbedding

    /// Creates the layers over `parameters` (which must hold `parameterSpecs(config)`) with
    /// activation buffers for batches of up to `maxBytes` bytes and `maxWords` words, running on
    /// `context`; with `needsBackward: false` (evaluation) only the buffers forward uses.
    public init(config: HATConfig, parameters: ParameterSet, maxBytes: Int, maxWords: Int, context: ComputeContext,
                needsBackward: Bool = true) {
        self.context = context
        self.needsBackward = needsBackward
        self.config = config
        self.parameters = parameters
        self.maxBytes = maxBytes
        self.maxWords = maxWords
        let enc = config.encoderConfig, bb = config.backboneConfig, dec = config.decoderConfig
        let arena = Arena(name: "activations")
        self.arena = arena
        let dl = enc.hiddenSize, db = bb.hiddenSize

        embedding = Embedding(parameters: parameters, name: ModelLayout.byteEmbedding, context: context)
        encoderBlocks = (0..<enc.numHiddenLayers).map {
            LlamaBlock(prefix: ModelLayout.encoderBlock($0), config: enc.block, parameters: parameters, maxRows: maxBytes, arena: arena,
                       context: context, needsBackward: needsBackward)
        }
        let poolingConfig = enc.crossAttentionConfig!
        pooling = CrossAttention(
            prefix: ModelLayout.pooling, queryWidth: db, keyValueWidth: dl,
            heads: poolingConfig.numAttentionHeads, kvHeads: poolingConfig.numKeyValueHeads, headDim: poolingConfig.headDim,
            ropeTheta: enc.ropeTheta, maxQueries: maxWords, maxKeys: maxBytes, arena: arena, context: context,
            parameters: parameters, needsBackward: needsBackward)
        backboneBlocks = (0..<bb.numHiddenLayers).map {
            LlamaBlock(prefix: ModelLayout.backboneBlock($0), config: bb.block, parameters: parameters, maxRows: maxWords, arena: arena,
                       context: context, needsBackward: needsBackward)
        }
        decoderLayers = (0..<dec.numHiddenLayers).map {
            DecoderLayer(index: $0, config: config, parameters: parameters, maxBytes: maxBytes, maxWords: maxWords, arena: arena,
                         context: context, needsBackward: needsBackward)
        }
        finalNorm = RMSNorm(parameters: parameters, name: ModelLayout.finalNorm, eps: dec.rmsNormEps, maxRows: maxBytes, arena: arena,
                            context: context, needsBackward: needsBackward)
        head = Linear(parameters: parameters, name: ModelLayout.head, context: context)

        encoderStream = arena.tensor(rows: maxBytes, cols: dl)
        poolingQueries = arena.tensor(rows: maxWords, cols: db)
        wordStream = arena.tensor(rows: maxWords, cols: db)
        predictive = arena.tensor(rows: maxWords, cols: db)
        decoderStream = arena.tensor(rows: maxBytes, cols: dl)
        finalNormOut = arena.tensor(rows: maxBytes, cols: dl)
        logits = arena.tensor(rows: maxBytes, cols: 256)
        let backwardBytes = needsBackward ? maxBytes : 0, backwardWords = needsBackward ? maxWords : 0
        dDecoder = arena.tensor(rows: backwardBytes, cols: dl)
        dFinalNormOut = arena.tensor(rows: backwardBytes, cols: dl)
        dPredictive = arena.tensor(rows: backwardWords, cols: db)
        dWords = arena.tensor(rows: backwardWords, cols: db)
        dPoolingQueries = arena.tensor(rows: backwardWords, cols: db)
        alignedWordStates = arena.tensor(rows: maxWords, cols: db)
        byteWeights = arena.allocate(count: backwardBytes)
        byteLoss = .allocate(capacity: maxBytes)
        byteLoss.initialize(repeating: 0, count: maxBytes)
        studentWordLogProb = .allocate(capacity: maxWords)
        studentWordLogProb.initialize(repeating: 0, count: maxWords)
    }

    deinit {
        byteLoss.deallocate()
        studentWordLogProb.deallocate()
    }

    /// Freezing the backbone skips its weight gradients; gradients still flow through it.
    public var isBackboneFrozen: Bool = false {
        didSet { for block in backboneBlocks { block.isFrozen = isBackboneFrozen } }
    }

    // MARK: Parameters

    /// Every parameter of a model with this config, named by its checkpoint key (ARCHITECTURE.md §3).
    public static func parameterSpecs(_ config: HATConfig) -> [ParameterSpec] {
        let enc = config.encoderConfig, bb = config.backboneConfig, dec = config.decoderConfig
        let dl = enc.hiddenSize, db = bb.hiddenSize
        var specs: [ParameterSpec] = [ParameterSpec(ModelLayout.byteEmbedding, [256, dl])]
        for i in 0..<enc.numHiddenLayers {
            specs += LlamaBlock.parameterSpecs(prefix: ModelLayout.encoderBlock(i), config: enc.block)
        }
        specs.append(ParameterSpec(latentQueryName, [db]))
        specs += crossAttentionSpecs(prefix: ModelLayout.pooling,
                                     queryWidth: db, keyValueWidth: dl, config: enc.crossAttentionConfig!)
        for i in 0..<bb.numHiddenLayers {
            specs += LlamaBlock.parameterSpecs(prefix: ModelLayout.backboneBlock(i), config: bb.block)
        }
        specs.append(ParameterSpec(firstWordEmbeddingName, [db]))
        for i in 0..<dec.numHiddenLayers {
            let prefix = ModelLayout.decoderLayer(i)
            if ModelLayout.decoderCrossAttends(i, config: config) {
                specs.append(ParameterSpec("\(prefix).query_norm.weight", [dl]))
                specs.append(ParameterSpec("\(prefix).kv_norm.weight", [db]))
                specs += crossAttentionSpecs(prefix: "\(prefix).cross_attention", queryWidth: dl, keyValueWidth: db,
                                             config: dec.crossAttentionConfig!)
            }
            specs += LlamaBlock.parameterSpecs(prefix: ModelLayout.decoderBlock(i), config: dec.block)
        }
        specs.append(ParameterSpec(ModelLayout.finalNorm, [dl]))
        specs.append(ParameterSpec(ModelLayout.head, [256, dl]))
        return specs
    }

    static func crossAttentionSpecs(prefix: String, queryWidth: Int, keyValueWidth: Int,
                                    config: CrossAttentionConfig) -> [ParameterSpec] {
        CrossAttention.parameterSpecs(prefix: prefix, queryWidth: queryWidth, keyValueWidth: keyValueWidth,
                                      heads: config.numAttentionHeads, kvHeads: config.numKeyValueHeads,
                                      headDim: config.headDim)
    }

    /// Fresh weights: every matrix N(0, std²), norm gains 1, the two learned vectors N(0, std²).
    /// Names in `keep` (e.g. a grafted backbone) are left as they are.
    public static func initialize(_ parameters: ParameterSet, rng: inout RandomGenerator, std: Float = 0.02,
                                  keep: (String) -> Bool = { _ in false }) {
        for entry in parameters.entries where !keep(entry.name) {
            let values = parameters.value(entry.name)
            if entry.name.hasSuffix("norm.weight") || entry.name.hasSuffix("layernorm.weight") {
                values.fill(1)
            } else {
                rng.fillNormal(values, std: std)
            }
        }
    }

    // MARK: Forward

    /// Runs the whole model on `batch` and returns the summed next-byte cross-entropy (nats)
    /// over the bytes that have a target, and their number. Saves what `backward` needs.
    @discardableResult
    public func forward(_ batch: Batch) -> (lossSum: Double, count: Int) {
        let parts = forward(batch, teacher: nil)
        return (parts.crossEntropy, parts.predictedBytes)
    }

    /// Runs the model on `batch`; with `teacher` (and its settings) also the stage-1 losses
    /// (TeacherSignals.swift): the word vectors after the first n backbone blocks against the
    /// teacher's states, the decoder on the teacher's final states (oracle), and each word's
    /// log-probability against the teacher's. Saves what `backward` needs.
    /// `recordByteLosses` keeps each byte's −log p(next byte) for `byteLosses` (always with a teacher).
    public func forward(_ batch: Batch, teacher: TeacherSignals?, settings: DistillationSettings = DistillationSettings(),
                        recordByteLosses: Bool = false) -> LossParts {
        let n = batch.byteCount, w = batch.wordCount
        precondition(n <= maxBytes && w <= maxWords, "batch [\(n) bytes, \(w) words] exceeds the model's capacity")
        precondition(teacher.map { $0.wordCount == w } ?? true, "teacher signals for \(teacher!.wordCount) words, batch has \(w)")
        let stage1 = teacher.map { ($0, settings) }
        let alignBlocks = stage1.map { min($0.1.alignBlocks, backboneBlocks.count) }
        let useOracle = stage1?.1.oracle ?? false

        // Encoder over bytes.
        let e = encoderStream.rows(0..<n)                                   // [N, Dl]
        embedding.forward(out: e, ids: batch.bytes)
        for block in encoderBlocks {
            block.forward(e, positions: batch.bytePositions, ranges: batch.encoderRanges)
        }

        // Pooling: the latent query of each word attends to the word's bytes.
        let queries = poolingQueries.rows(0..<w)                            // [W, Db]
        let latent = parameters.value(Self.latentQueryName).row(0)
        for i in 0..<w { queries.row(i).update(from: latent, count: queries.cols) }
        let words = wordStream.rows(0..<w)                                  // [W, Db]
        pooling.forward(out: words, queries: queries, keyValues: e,
                        queryPositions: batch.wordPositions, keyPositions: batch.bytePositions,
                        ranges: batch.poolingRanges)

        // Backbone over words: all blocks, or with the oracle only the n that alignment needs;
        // the states after block n are kept for the alignment loss.
        let runBlocks = useOracle ? alignBlocks! : backboneBlocks.count
        let aligned = alignedWordStates.rows(0..<w)                         // [W, Db]
        if alignBlocks == 0 { aligned.copy(from: words, on: context) }
        for (k, block) in backboneBlocks.prefix(runBlocks).enumerated() {
            block.forward(words, positions: batch.wordPositions, ranges: batch.backboneRanges)
            if k + 1 == alignBlocks { aligned.copy(from: words, on: context) }
        }

        // Predictive vectors: p_i = h_{i-1} (or the teacher's final state at word i−1), and
        // first_word_embedding at row starts.
        let p = predictive.rows(0..<w)                                      // [W, Db]
        let first = parameters.value(Self.firstWordEmbeddingName).row(0)
        for i in 0..<w {
            let source: UnsafeMutablePointer<Float>
            if batch.isRowStart(word: i) {
                source = first
            } else if useOracle, let (signals, _) = stage1 {
                source = signals.oracleMask[i - 1] != 0 ? signals.oracleStates.row(i - 1) : first
            } else {
                source = words.row(i - 1)
            }
            p.row(i).update(from: source, count: p.cols)
        }

        // Decoder over bytes, starting from the encoder's byte states.
        let x = decoderStream.rows(0..<n)                                   // [N, Dl]
        x.copy(from: e, on: context)
        for layer in decoderLayers {
            layer.forward(x, predictive: p, batch: batch)
        }

        // Head and losses.
        let normed = finalNormOut.rows(0..<n)
        finalNorm.forward(out: normed, input: x)
        let z = logits.rows(0..<n)                                          // [N, V]
        head.forward(out: z, input: normed)
        let (lossSum, count) = CrossEntropy.forward(logits: z, targets: batch.targets, mask: batch.targetMask,
                                                    on: context, perRow: stage1 == nil && !recordByteLosses ? nil : byteLoss)
        var parts = LossParts(crossEntropy: lossSum, predictedBytes: count)
        if let (signals, s) = stage1 {
            stageOneLosses(batch, signals: signals, settings: s, into: &parts)
        }
        lastParts = parts
        return parts
    }

    /// The alignment and distillation losses of the last forward (and what their backward needs).
    func stageOneLosses(_ batch: Batch, signals: TeacherSignals, settings: DistillationSettings, into parts: inout LossParts) {
        let w = batch.wordCount, db = alignedWordStates.cols
        var cosineSum = 0.0
        for i in 0..<w where signals.alignMask[i] != 0 {
            let h = alignedWordStates.row(i), t = signals.alignedStates.row(i)
            var d2: Float = 0, hh: Float = 0, tt: Float = 0, ht: Float = 0
            for c in 0..<db {
                let d = h[c] - t[c]
                d2 += d * d
                hh += h[c] * h[c]
                tt += t[c] * t[c]
                ht += h[c] * t[c]
            }
            parts.align += Double(d2.squareRoot() / alignScaleDivisor(tt, db, settings.alignDistance))
            parts.alignedWords += 1
            cosineSum += Double(ht / max((hh * tt).squareRoot(), 1e-30))
        }
        parts.alignCosine = parts.alignedWords > 0 ? cosineSum / Double(parts.alignedWords) : .nan
        // Student log p(word) = −Σ of the byte losses predicting the word's bytes (rows s−1 … e−2).
        for i in 0..<w {
            studentWordLogProb[i] = 0
            guard signals.distillMask[i] != 0 else { continue }
            let s = Int(batch.wordStart[i]), e = Int(batch.wordEnd[i])
            var sum = 0.0
            for t in (s - 1)..<(e - 1) { sum -= byteLoss[t] }
            studentWordLogProb[i] = sum
            parts.distill += abs(sum - signals.wordLogProb[i])
            parts.distilledWords += 1
        }
    }

    /// −log p(next byte) of each byte row of the last forward made with `recordByteLosses` or a
    /// teacher (0 for rows without a target).
    public func byteLosses(count: Int) -> UnsafeBufferPointer<Double> {
        precondition(count <= maxBytes)
        return UnsafeBufferPointer(start: byteLoss, count: count)
    }

    /// The logits of the last forward (valid until `backward`, which overwrites them).
    public func lastLogits(rows: Int) -> Tensor { logits.rows(0..<rows) }

    // MARK: Backward

    /// Accumulates into `parameters.grads` the gradient of `lossScale · lossSum` of the last
    /// `forward` on the same batch (e.g. lossScale = 1 / count for the mean).
    public func backward(_ batch: Batch, lossScale: Float) {
        backward(batch, teacher: nil, crossEntropyScale: lossScale)
    }

    /// Accumulates into `parameters.grads` the gradient of the last forward's total loss on the
    /// same batch and teacher: crossEntropyScale · CE sum, plus (with a teacher) alignScale · Σ
    /// alignment distances and distillScale · Σ |log-probability differences|. The trainer passes
    /// each weight divided by the number of terms of its mean.
    public func backward(_ batch: Batch, teacher: TeacherSignals?, settings: DistillationSettings = DistillationSettings(),
                         crossEntropyScale: Float, alignScale: Float = 0, distillScale: Float = 0) {
        precondition(needsBackward, "HierarchicalModel.backward on a model made with needsBackward: false")
        let n = batch.byteCount, w = batch.wordCount
        let e = encoderStream.rows(0..<n), x = decoderStream.rows(0..<n)
        let p = predictive.rows(0..<w)
        let stage1 = teacher.map { ($0, settings) }
        let alignBlocks = stage1.map { min($0.1.alignBlocks, backboneBlocks.count) }
        let useOracle = stage1?.1.oracle ?? false

        // Head: dLogits = (softmax − onehot) · weight per byte, written over the logits. Every byte
        // of a distilled word adds −distillScale · sign(log p_student − log p_teacher).
        let weights = byteWeights
        for t in 0..<n { weights[t] = batch.targetMask[t] * crossEntropyScale }
        if let (signals, _) = stage1, distillScale != 0 {
            for i in 0..<w where signals.distillMask[i] != 0 {
                let difference = studentWordLogProb[i] - signals.wordLogProb[i]
                let coefficient = difference > 0 ? -distillScale : difference < 0 ? distillScale : 0
                for t in (Int(batch.wordStart[i]) - 1)..<(Int(batch.wordEnd[i]) - 1) { weights[t] += coefficient }
            }
        }
        let z = logits.rows(0..<n)
        CrossEntropy.backward(dLogits: z, logits: z, targets: batch.targets, mask: weights, scale: 1, on: context)
        let dNormed = dFinalNormOut.rows(0..<n)
        head.backward(dInput: dNormed, dOut: z, input: finalNormOut.rows(0..<n))
        let dx = dDecoder.rows(0..<n)                                       // [N, Dl]
        finalNorm.backward(dInput: dx, dOut: dNormed, input: x)

        // Decoder layers in reverse; each adds its share of dp.
        let dp = dPredictive.rows(0..<w)                                    // [W, Db]
        dp.zero()
        for layer in decoderLayers.reversed() {
            layer.backward(dx, predictive: p, dPredictive: dp, batch: batch)
        }
        // dx is now d(encoder output) through the decoder input; pooling adds its part below.

        // Shift: dh_{i-1} += dp_i (the oracle's teacher states are constants); row starts feed
        // first_word_embedding.
        let dh = dWords.rows(0..<w)                                         // [W, Db]
        let dFirst = parameters.grad(Self.firstWordEmbeddingName).row(0)
        for i in 0..<w {
            let last = i + 1 == w || batch.isRowStart(word: i + 1)
            if last || useOracle {
                dh.row(i).update(repeating: 0, count: dh.cols)
            } else {
                dh.row(i).update(from: dp.row(i + 1), count: dh.cols)
            }
            let usesFirst = batch.isRowStart(word: i) || (useOracle && stage1!.0.oracleMask[i - 1] == 0)
            if usesFirst {
                let g = dp.row(i)
                for c in 0..<dp.cols { dFirst[c] += g[c] }
            }
        }

        // Backbone in reverse; the alignment gradient enters after block n:
        // d‖h − t‖/s = (h − t) / (‖h − t‖ s), s = √Db (l2) or ‖t‖ (relative).
        let runBlocks = useOracle ? alignBlocks! : backboneBlocks.count
        func addAlignmentGradient() {
            guard let (signals, s) = stage1, alignScale != 0 else { return }
            let db = dh.cols
            for i in 0..<w where signals.alignMask[i] != 0 {
                let h = alignedWordStates.row(i), t = signals.alignedStates.row(i), g = dh.row(i)
                var d2: Float = 0, tt: Float = 0
                for c in 0..<db {
                    d2 += (h[c] - t[c]) * (h[c] - t[c])
                    tt += t[c] * t[c]
                }
                let factor = alignScale / max(d2.squareRoot() * alignScaleDivisor(tt, db, s.alignDistance), 1e-12)
                for c in 0..<db { g[c] += factor * (h[c] - t[c]) }
            }
        }
        for k in stride(from: runBlocks - 1, through: 0, by: -1) {
            if k + 1 == alignBlocks { addAlignmentGradient() }
            backboneBlocks[k].backward(dh, positions: batch.wordPositions, ranges: batch.backboneRanges)
        }
        if alignBlocks == 0 { addAlignmentGradient() }
        let dQueries = dPoolingQueries.rows(0..<w)
        pooling.backward(dQueries: dQueries, dKeyValues: dx, dOut: dh,
                         queries: poolingQueries.rows(0..<w), keyValues: e,
                         queryPositions: batch.wordPositions, keyPositions: batch.bytePositions,
                         ranges: batch.poolingRanges, accumulateQueries: false, accumulateKeyValues: true)
        let dLatent = parameters.grad(Self.latentQueryName).row(0)
        for i in 0..<w {
            let g = dQueries.row(i)
            for c in 0..<dQueries.cols { dLatent[c] += g[c] }
        }

        // Encoder in reverse, then the byte embedding.
        for block in encoderBlocks.reversed() {
            block.backward(dx, positions: batch.bytePositions, ranges: batch.encoderRanges)
        }
        embedding.backward(dOut: dx, ids: batch.bytes)
    }
}

/// s of the alignment distance ‖h − t‖ / s: √Db, or ‖t‖ (given ‖t‖² = tt) for the relative distance.
@inline(__always)
func alignScaleDivisor(_ tt: Float, _ width: Int, _ distance: AlignDistance) -> Float {
    switch distance {
    case .l2: return Float(width).squareRoot()
    case .relative: return max(tt.squareRoot(), 1e-12)
    }
}

/// The losses of one forward: sums and the number of their terms (means are sum / count).
public struct LossParts: Equatable, Sendable {
    public var crossEntropy: Double = 0
    public var predictedBytes = 0
    /// Σ ‖h_n − t_n‖ / √Db over aligned words, and the mean cosine between the two.
    public var align: Double = 0
    public var alignedWords = 0
    public var alignCosine: Double = .nan
    /// Σ |log p_student(word) − log p_teacher(word)| over distilled words (nats).
    public var distill: Double = 0
    public var distilledWords = 0

    public init(crossEntropy: Double = 0, predictedBytes: Int = 0) {
        self.crossEntropy = crossEntropy
        self.predictedBytes = predictedBytes
    }
}

/// One decoder layer: optional cross-attention of bytes to their word's predictive vector
/// (x ← x + cross(query_norm(x), kv_norm(p))), then a Llama block over bytes.
final class DecoderLayer {
    let cross: CrossAttention?
    let queryNorm: RMSNorm?
    let keyValueNorm: RMSNorm?
    let block: LlamaBlock
    // Saved for backward (only when the layer has cross-attention).
    let crossInput: Tensor?      // [N, Dl] stream before the cross-attention (nil without backward)
    let normedQueries: Tensor?   // [N, Dl] query_norm(x)
    let normedKeyValues: Tensor? // [W, Db] kv_norm(p)
    let dNormedQueries: Tensor?  // [N, Dl] backward: d query_norm(x)
    let dKeyValues: Tensor?      // [W, Db]

    init(index: Int, config: HATConfig, parameters: ParameterSet, maxBytes: Int, maxWords: Int, arena: Arena,
         context: ComputeContext, needsBackward: Bool) {
        let dec = config.decoderConfig
        let prefix = ModelLayout.decoderLayer(index)
        let dl = dec.hiddenSize, db = config.backboneConfig.hiddenSize
        if ModelLayout.decoderCrossAttends(index, config: config) {
            let crossConfig = dec.crossAttentionConfig!
            cross = CrossAttention(
                prefix: "\(prefix).cross_attention", queryWidth: dl, keyValueWidth: db,
                heads: crossConfig.numAttentionHeads, kvHeads: crossConfig.numKeyValueHeads, headDim: crossConfig.headDim,
                ropeTheta: dec.ropeTheta, maxQueries: maxBytes, maxKeys: maxWords, arena: arena, context: context,
                parameters: parameters, needsBackward: needsBackward)
            queryNorm = RMSNorm(parameters: parameters, name: "\(prefix).query_norm.weight", eps: dec.rmsNormEps,
                                maxRows: maxBytes, arena: arena, context: context, needsBackward: needsBackward)
            keyValueNorm = RMSNorm(parameters: parameters, name: "\(prefix).kv_norm.weight", eps: dec.rmsNormEps,
                                   maxRows: maxWords, arena: arena, context: context, needsBackward: needsBackward)
            crossInput = needsBackward ? arena.tensor(rows: maxBytes, cols: dl) : nil
            normedQueries = arena.tensor(rows: maxBytes, cols: dl)
            normedKeyValues = arena.tensor(rows: maxWords, cols: db)
            dNormedQueries = arena.tensor(rows: needsBackward ? maxBytes : 0, cols: dl)
            dKeyValues = arena.tensor(rows: needsBackward ? maxWords : 0, cols: db)
        } else {
            cross = nil
            queryNorm = nil
            keyValueNorm = nil
            crossInput = nil
            normedQueries = nil
            normedKeyValues = nil
            dNormedQueries = nil
            dKeyValues = nil
        }
        block = LlamaBlock(prefix: "\(prefix).llama_layer", config: dec.block, parameters: parameters,
                           maxRows: maxBytes, arena: arena, context: context, needsBackward: needsBackward)
    }

    /// x [N, Dl] in place; p [W, Db].
    func forward(_ x: Tensor, predictive p: Tensor, batch: Batch) {
        if let cross {
            let n = x.rows, w = p.rows
            let q = normedQueries!.rows(0..<n), kv = normedKeyValues!.rows(0..<w)
            crossInput?.rows(0..<n).copy(from: x, on: block.context)
            queryNorm!.forward(out: q, input: x)
            keyValueNorm!.forward(out: kv, input: p)
            cross.forward(out: x, queries: q, keyValues: kv,
                          queryPositions: batch.bytePositions, keyPositions: batch.wordPositions,
                          ranges: batch.decoderCrossRanges, accumulate: true)
        }
        block.forward(x, positions: batch.bytePositions, ranges: batch.decoderRanges)
    }

    /// dx [N, Dl] in place (d output → d input); accumulates into dp [W, Db].
    func backward(_ dx: Tensor, predictive p: Tensor, dPredictive dp: Tensor, batch: Batch) {
        block.backward(dx, positions: batch.bytePositions, ranges: batch.decoderRanges)
        guard let cross else { return }
        let n = dx.rows, w = p.rows
        let q = normedQueries!.rows(0..<n), kv = normedKeyValues!.rows(0..<w)
        let dq = dNormedQueries!.rows(0..<n), dkv = dKeyValues!.rows(0..<w)
        // x_out = x_in + cross(query_norm(x_in), kv_norm(p)): the residual passes dx through unchanged.
        cross.backward(dQueries: dq, dKeyValues: dkv, dOut: dx, queries: q, keyValues: kv,
                       queryPositions: batch.bytePositions, keyPositions: batch.wordPositions,
                       ranges: batch.decoderCrossRanges, accumulateQueries: false, accumulateKeyValues: false)
        queryNorm!.backward(dInput: dx, dOut: dq, input: crossInput!.rows(0..<n), accumulateInput: true)
        keyValueNorm!.backward(dInput: dp, dOut: dkv, input: p, accumulateInput: true)
    }
}
