// TokenModel: a whole Llama-family causal language model over token ids, as Hugging Face
// LlamaForCausalLM computes it:
//
//   ids ─► embed_tokens ─► L Llama blocks (the same LlamaBlock the HAT backbone uses) ─► h
//   h ─► model.norm ─► lm_head (its own matrix, or the embedding when tied) ─► logits [T, V]
//
// It is the source model a HAT backbone is grafted from, the token baseline of evaluation and
// robustness, and the teacher of distilled grafting. The blocks may live in another parameter set
// under another prefix (a HAT model's frozen `backbone.layers`), so a teacher costs one extra
// forward over tokens, not a second copy of the block weights. Checked against transformers'
// logits (scripts/make_token_model_fixtures.py). Inference only: no backward.
//
// Shapes: T tokens (rows of all sequences of a batch, flattened), C hidden, V vocabulary,
// L blocks, Tc head chunk.

import HATIO
import HATLayers
import HATTensor

/// What a token model is: its blocks (the HAT backbone's config type), vocabulary and head.
public struct TokenModelConfig: Equatable, Sendable {
    public var blocks: TransformerConfig
    public var vocabularySize: Int
    /// The LM head is the token embedding (no lm_head.weight).
    public var tiedEmbeddings: Bool
    /// Longest context the source was trained for, when it says (positions beyond it still run).
    public var maxPositions: Int?

    public init(blocks: TransformerConfig, vocabularySize: Int, tiedEmbeddings: Bool, maxPositions: Int? = nil) {
        self.blocks = blocks
        self.vocabularySize = vocabularySize
        self.tiedEmbeddings = tiedEmbeddings
        self.maxPositions = maxPositions
    }
}

public final class TokenModel {
    public static let embeddingName = "model.embed_tokens.weight"
    public static let finalNormName = "model.norm.weight"
    public static let headName = "lm_head.weight"
    /// Where the blocks of a Hugging Face Llama live.
    public static let sourceBlockPrefix = "model.layers"

    public let config: TokenModelConfig
    /// Embedding, final norm and (untied) head.
    public let parameters: ParameterSet
    /// The blocks' weights: `parameters` itself, or another set (a HAT model's backbone).
    public let blockParameters: ParameterSet
    public let blockPrefix: String
    public let maxTokens: Int
    public let context: ComputeContext

    let embedding: Embedding
    let blocks: [LlamaBlock]
    let finalNorm: RMSNorm
    let head: Linear

    // Buffers.
    let arena: Arena
    let blockScratch: Arena       // one block's buffers, shared by every block (LlamaBlock.inferenceStack)
    let stream: Tensor            // [maxTokens, C] residual stream; after forward: h (before the norm)
    let normed: Tensor            // [Tc, C] final norm of a chunk of rows
    let chunkLogits: Tensor       // [Tc, V]
    let ranges: KeyRanges         // [maxTokens]
    let segmentStarts: UnsafeMutablePointer<Int32>   // [maxTokens]
    /// Rows of the head computed at once (bounds the logits buffer to Tc·V floats).
    public static let headChunkRows = 64

    /// Every parameter but the blocks', under Hugging Face names.
    public static func headSpecs(_ config: TokenModelConfig) -> [ParameterSpec] {
        let c = config.blocks.hiddenSize, v = config.vocabularySize
        return [ParameterSpec(embeddingName, [v, c]), ParameterSpec(finalNormName, [c])]
            + (config.tiedEmbeddings ? [] : [ParameterSpec(headName, [v, c])])
    }

    /// The blocks' parameters under `prefix` ("model.layers" in a source checkpoint).
    public static func blockSpecs(_ config: TokenModelConfig, prefix: String = sourceBlockPrefix) -> [ParameterSpec] {
        (0..<config.blocks.numHiddenLayers).flatMap {
            LlamaBlock.parameterSpecs(prefix: "\(prefix).\($0)", config: config.blocks.block)
        }
    }

    /// A model whose blocks are `blockParameters` under `blockPrefix` (by default the same set as
    /// `parameters`, under "model.layers"), with buffers for `maxTokens` tokens per forward.
    public init(config: TokenModelConfig, parameters: ParameterSet, blockParameters: ParameterSet? = nil,
                blockPrefix: String = TokenModel.sourceBlockPrefix, maxTokens: Int, context: ComputeContext) {
        precondition(maxTokens >= 1, "TokenModel: maxTokens must be ≥ 1")
        self.config = config
        self.parameters = parameters
        self.blockParameters = blockParameters ?? parameters
        self.blockPrefix = blockPrefix
        self.maxTokens = maxTokens
        self.context = context
        let c = config.blocks.hiddenSize, v = config.vocabularySize
        let arena = Arena(name: "token-model")
        self.arena = arena
        embedding = Embedding(parameters: parameters, name: Self.embeddingName, context: context)
        (blocks, blockScratch) = LlamaBlock.inferenceStack(
            count: config.blocks.numHiddenLayers, prefix: { "\(blockPrefix).\($0)" }, config: config.blocks.block,
            parameters: blockParameters ?? parameters, maxRows: maxTokens, context: context, name: "token-model blocks")
        finalNorm = RMSNorm(parameters: parameters, name: Self.finalNormName, eps: config.blocks.rmsNormEps,
                            maxRows: Self.headChunkRows, arena: arena, context: context, needsBackward: false)
        head = Linear(parameters: parameters, name: config.tiedEmbeddings ? Self.embeddingName : Self.headName, context: context)
        stream = arena.tensor(rows: maxTokens, cols: c)
        normed = arena.tensor(rows: Self.headChunkRows, cols: c)
        chunkLogits = arena.tensor(rows: Self.headChunkRows, cols: v)
        ranges = KeyRanges(capacity: maxTokens, arena: arena)
        segmentStarts = arena.allocateInt32(count: maxTokens)
    }

    // MARK: Forward

    /// x[i] = the embedding of ids[i], for the rows of x.
    public func embed(_ ids: UnsafePointer<Int32>, into x: Tensor /*[n, C]*/) {
        embedding.forward(out: x, ids: ids)
    }

    /// Runs the blocks over `count` tokens: `ids` [T], `positions` [T] (rotary positions, from 0 at
    /// each sequence start) and `sequenceStarts` [T] (index of the first token of each token's
    /// sequence, so sequences packed in one call do not see each other). Stops after `blockLimit`
    /// blocks when given. Returns the hidden states h [T, C] (before the final norm), valid until
    /// the next call. Ids must be in 0..<V (the caller validates its input). `observe(k, x)` sees
    /// the stream after k blocks, for k = 0 (the embeddings) … the last block run.
    @discardableResult
    public func forward(ids: UnsafePointer<Int32>, positions: UnsafePointer<Int32>, sequenceStarts: UnsafePointer<Int32>,
                        count: Int, blockLimit: Int? = nil, observe: ((Int, Tensor) -> Void)? = nil) -> Tensor {
        precondition(count >= 1 && count <= maxTokens, "TokenModel: \(count) tokens, capacity \(maxTokens)")
        let x = stream.rows(0..<count)                                     // [T, C]
        embedding.forward(out: x, ids: ids)
        var r = ranges
        r.fillCausal(count: count, window: config.blocks.slidingWindow, segmentStart: sequenceStarts)
        observe?(0, x)
        for (k, block) in blocks.prefix(blockLimit ?? blocks.count).enumerated() {
            block.forward(x, positions: positions, ranges: r)
            observe?(k + 1, x)
        }
        return x
    }

    /// For each row i of the last forward's hidden states `h` [T, C], calls body(i, logits) with the
    /// logits [V] of the next token (final norm and head applied Tc rows at a time).
    public func forEachLogits(_ h: Tensor, _ body: (Int, UnsafePointer<Float>) -> Void) {
        var start = 0
        while start < h.rows {
            let rows = min(Self.headChunkRows, h.rows - start)
            let n = normed.rows(0..<rows), z = chunkLogits.rows(0..<rows)
            finalNorm.forward(out: n, input: h.rows(start..<(start + rows)))
            head.forward(out: z, input: n)
            for i in 0..<rows { body(start + i, UnsafePointer(z.row(i))) }
            start += rows
        }
    }

    /// −log p(targets[i] | tokens ≤ i) in nats for every row i of `h` whose target is ≥ 0 (others get 0).
    public func negativeLogLikelihoods(_ h: Tensor, targets: UnsafePointer<Int32>, into out: UnsafeMutablePointer<Double>) {
        let v = config.vocabularySize
        forEachLogits(h) { i, z in
            let t = Int(targets[i])
            out[i] = t >= 0 ? TokenModel.logSumExp(z, v) - Double(z[t]) : 0
        }
    }

    /// log Σ exp z over n logits: Float lanes of 16 summed per block of 1024, blocks in Double.
    public static func logSumExp(_ z: UnsafePointer<Float>, _ n: Int) -> Double {
        let m = VectorMath.max(z, n)
        let mv = VectorMath.V(repeating: m)
        var total = 0.0, j = 0
        while j < n {
            let end = min(j + 1024, n)
            var lanes = VectorMath.V(repeating: 0)
            while j + 16 <= end { lanes += VectorMath.exp(VectorMath.load(z + j) - mv); j += 16 }
            var block = Double(lanes.sum())
            while j < end { block += Double(VectorMath.exp(z[j] - m)); j += 1 }
            total += block
        }
        return Double(m) + log(total)
    }
}

#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif
