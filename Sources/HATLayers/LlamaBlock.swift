// LlamaBlock: the Hugging Face LlamaDecoderLayer (pre-RMSNorm, RoPE, GQA, SwiGLU, no biases):
//   x1 = x0 + attn(input_layernorm(x0));   x2 = x1 + mlp(post_attention_layernorm(x1))
// Forward runs in place on x and saves x0, the two norm outputs and x1; backward runs in place
// on dx (d x2 in, d x0 out). Matches transformers' LlamaDecoderLayer on the fixtures of
// scripts/make_layer_fixtures.py.
//
// Shapes: N rows, C channels, H heads, G kv heads, D head size, F intermediate width.

import HATTensor

public struct LlamaBlockConfig: Codable, Equatable, Sendable {
    public var hidden: Int          // C
    public var heads: Int           // H
    public var kvHeads: Int         // G
    public var headDim: Int         // D
    public var intermediate: Int    // F
    public var rmsEps: Float
    public var ropeTheta: Float
    public var window: Int?

    public init(hidden: Int, heads: Int, kvHeads: Int, headDim: Int, intermediate: Int, rmsEps: Float,
                ropeTheta: Float, window: Int?) {
        self.hidden = hidden
        self.heads = heads
        self.kvHeads = kvHeads
        self.headDim = headDim
        self.intermediate = intermediate
        self.rmsEps = rmsEps
        self.ropeTheta = ropeTheta
        self.window = window
    }

    public var attention: AttentionConfig {
        AttentionConfig(hidden: hidden, heads: heads, kvHeads: kvHeads, headDim: headDim, ropeTheta: ropeTheta, window: window)
    }

    /// Model FLOPs of one forward over `rows` rows whose attention sees `pairs` query–key pairs
    /// per head: 2 per multiply-add of every projection, 4·D per pair per head. Backward: 2×.
    public func forwardFLOPs(rows: Int, pairs: Int) -> Double {
        let n = Double(rows), c = Double(hidden), a = Double(heads * headDim), kv = Double(kvHeads * headDim)
        let projections = 2 * n * c * (a + 2 * kv) + 2 * n * a * c
        let mlp = 3 * 2 * n * c * Double(intermediate)
        let attention = Double(pairs) * Double(heads) * 4 * Double(headDim)
        return projections + mlp + attention
    }
}

public final class LlamaBlock {
    public let prefix: String
    public let config: LlamaBlockConfig
    public let maxRows: Int
    public let inputNorm: RMSNorm
    public let attention: SelfAttention
    public let postAttentionNorm: RMSNorm
    public let mlp: SwiGLU
    public let context: ComputeContext
    /// Skip every weight gradient of the block (gradients still flow to its input).
    public var isFrozen = false {
        didSet {
            inputNorm.isFrozen = isFrozen
            attention.isFrozen = isFrozen
            postAttentionNorm.isFrozen = isFrozen
            mlp.isFrozen = isFrozen
        }
    }

    // Saved by forward.
    let blockInput: Tensor      // [N, C] x0
    let normed1: Tensor         // [N, C] input_layernorm(x0)
    let afterAttention: Tensor  // [N, C] x1
    let normed2: Tensor         // [N, C] post_attention_layernorm(x1)
    // Backward scratch.
    let dNormed: Tensor         // [N, C]

    /// The float counts `init` takes from its arena (checked; nil on overflow), and the floats
    /// of the rotary tables it allocates besides.
    public static func arenaRequests(config c: LlamaBlockConfig, maxRows: Int, threads: Int,
                                     needsBackward: Bool = true) -> [Int?] {
        RMSNorm.arenaRequests(channels: c.hidden, maxRows: maxRows, needsBackward: needsBackward)
            + SelfAttention.arenaRequests(config: c.attention, maxRows: maxRows, threads: threads, needsBackward: needsBackward)
            + RMSNorm.arenaRequests(channels: c.hidden, maxRows: maxRows, needsBackward: needsBackward)
            + SwiGLU.arenaRequests(intermediate: c.intermediate, maxRows: maxRows)
            + Array(repeating: checkedMul(maxRows, c.hidden), count: 4) + [needsBackward ? checkedMul(maxRows, c.hidden) : 0]
    }

    public static func parameterSpecs(prefix: String, config: LlamaBlockConfig) -> [ParameterSpec] {
        RMSNorm.parameterSpecs(name: "\(prefix).input_layernorm.weight", channels: config.hidden)
            + SelfAttention.parameterSpecs(prefix: "\(prefix).self_attn", config: config.attention)
            + RMSNorm.parameterSpecs(name: "\(prefix).post_attention_layernorm.weight", channels: config.hidden)
            + SwiGLU.parameterSpecs(prefix: "\(prefix).mlp", hidden: config.hidden, intermediate: config.intermediate)
    }

    /// `needsBackward: false` (inference) skips the buffers only backward uses.
    public init(prefix: String, config: LlamaBlockConfig, parameters: ParameterSet, maxRows: Int, arena: Arena,
                context: ComputeContext, needsBackward: Bool = true) {
        self.prefix = prefix
        self.context = context
        self.config = config
        self.maxRows = maxRows
        let c = config.hidden
        inputNorm = RMSNorm(parameters: parameters, name: "\(prefix).input_layernorm.weight", eps: config.rmsEps,
                            maxRows: maxRows, arena: arena, context: context, needsBackward: needsBackward)
        attention = SelfAttention(prefix: "\(prefix).self_attn", config: config.attention, parameters: parameters,
                                  maxRows: maxRows, arena: arena, context: context, needsBackward: needsBackward)
        postAttentionNorm = RMSNorm(parameters: parameters, name: "\(prefix).post_attention_layernorm.weight",
                                    eps: config.rmsEps, maxRows: maxRows, arena: arena, context: context,
                                    needsBackward: needsBackward)
        mlp = SwiGLU(prefix: "\(prefix).mlp", hidden: c, intermediate: config.intermediate, parameters: parameters,
                     maxRows: maxRows, arena: arena, context: context)
        blockInput = arena.tensor(rows: maxRows, cols: c)
        normed1 = arena.tensor(rows: maxRows, cols: c)
        afterAttention = arena.tensor(rows: maxRows, cols: c)
        normed2 = arena.tensor(rows: maxRows, cols: c)
        dNormed = arena.tensor(rows: needsBackward ? maxRows : 0, cols: c)
    }

    /// `count` inference blocks (no backward) named `prefix(i)` that share one block's buffers,
    /// carved from the returned arena `scratch`, which the caller keeps as long as the blocks: a
    /// block leaves its result in the stream it is given and nothing in its buffers, so blocks run
    /// one after another need one block's scratch, not `count` (30 for SmolLM2).
    public static func inferenceStack(count: Int, prefix: (Int) -> String, config: LlamaBlockConfig, parameters: ParameterSet,
                                      maxRows: Int, context: ComputeContext, name: String) -> (blocks: [LlamaBlock], scratch: Arena) {
        let scratch = Arena(name: name)
        let blocks = (0..<count).map { i in
            LlamaBlock(prefix: prefix(i), config: config, parameters: parameters, maxRows: maxRows,
                       arena: i == 0 ? scratch : Arena(name: "\(name) \(i)", replaying: scratch), context: context, needsBackward: false)
        }
        return (blocks, scratch)
    }

    /// x ← block(x), in place. positions [N] for RoPE; ranges [N] the keys each row may see.
    public func forward(_ x: Tensor /*[N, C]*/, positions: UnsafePointer<Int32>, ranges: KeyRanges) {
        let n = x.rows
        precondition(n <= maxRows && x.cols == config.hidden,
                     "\(prefix): x \(x.shapeDescription) but block has C \(config.hidden), maxRows \(maxRows)")
        let x0 = blockInput.rows(0..<n), n1 = normed1.rows(0..<n)
        let x1 = afterAttention.rows(0..<n), n2 = normed2.rows(0..<n)
        x0.copy(from: x, on: context)
        inputNorm.forward(out: n1, input: x0)
        attention.forward(out: x, input: n1, positions: positions, ranges: ranges, accumulate: true)   // x = x0 + attn
        x1.copy(from: x, on: context)
        postAttentionNorm.forward(out: n2, input: x1)
        mlp.forward(out: x, input: n2, accumulate: true)                                               // x = x1 + mlp
    }

    /// dx ← ∂L/∂(block input) given dx = ∂L/∂(block output), in place; weight gradients accumulate.
    /// Uses what the last forward saved (same positions and ranges).
    public func backward(_ dx: Tensor /*[N, C]*/, positions: UnsafePointer<Int32>, ranges: KeyRanges) {
        let n = dx.rows
        let x0 = blockInput.rows(0..<n), n1 = normed1.rows(0..<n)
        let x1 = afterAttention.rows(0..<n), n2 = normed2.rows(0..<n)
        let dn = dNormed.rows(0..<n)
        // x2 = x1 + mlp(norm2(x1)):  dx1 = dx2 + norm2ᵀ(mlpᵀ(dx2))
        mlp.backward(dInput: dn, dOut: dx, input: n2)
        postAttentionNorm.backward(dInput: dx, dOut: dn, input: x1, accumulateInput: true)
        // x1 = x0 + attn(norm1(x0)):  dx0 = dx1 + norm1ᵀ(attnᵀ(dx1))
        attention.backward(dInput: dn, dOut: dx, input: n1, positions: positions, ranges: ranges)
        inputNorm.backward(dInput: dx, dOut: dn, input: x0, accumulateInput: true)
    }
}
