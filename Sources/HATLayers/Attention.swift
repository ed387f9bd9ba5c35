// Attention with projections, as Hugging Face LlamaAttention and TFree-HAT's HATCrossAttention:
//   q = rope(x_q Wqᵀ, query positions),  k = rope(x_kv Wkᵀ, key positions),  v = x_kv Wvᵀ,
//   out = AttentionCore(q, k, v, ranges) Woᵀ          (no biases, scale 1/√D, GQA)
// CrossAttention takes queries and keys/values from two streams; SelfAttention is the same
// computation with one stream for both.
//
// Shapes: Nq query rows, Nk key rows, Cq query width, Ckv key/value width, H heads, G kv heads,
// D head size, A = H·D inner width.

import HATTensor

/// Hyperparameters of one Llama self-attention.
public struct AttentionConfig: Codable, Equatable, Sendable {
    public var hidden: Int          // C
    public var heads: Int           // H
    public var kvHeads: Int         // G
    public var headDim: Int         // D
    public var ropeTheta: Float
    public var window: Int?

    public init(hidden: Int, heads: Int, kvHeads: Int, headDim: Int, ropeTheta: Float, window: Int?) {
        self.hidden = hidden
        self.heads = heads
        self.kvHeads = kvHeads
        self.headDim = headDim
        self.ropeTheta = ropeTheta
        self.window = window
    }
}

public final class CrossAttention {
    public let prefix: String
    public let heads: Int, kvHeads: Int, headDim: Int
    public let maxQueries: Int, maxKeys: Int
    public let qProj: Linear, kProj: Linear, vProj: Linear, oProj: Linear
    public let rotary: RotaryEmbedding
    public let core: AttentionCore
    public let context: ComputeContext
    public var isFrozen = false {
        didSet { for p in [qProj, kProj, vProj, oProj] { p.isFrozen = isFrozen } }
    }

    // Saved by forward.
    let q: Tensor            // [Nq, A] after RoPE
    let k: Tensor            // [Nk, G·D] after RoPE
    let v: Tensor            // [Nk, G·D]
    let attended: Tensor     // [Nq, A] core output, o_proj input
    // Backward scratch.
    let dAttended: Tensor    // [Nq, A]
    let dq: Tensor           // [Nq, A]
    let dk: Tensor           // [Nk, G·D]
    let dv: Tensor           // [Nk, G·D]

    public init(prefix: String, queryWidth: Int, keyValueWidth: Int, heads: Int, kvHeads: Int, headDim: Int,
                ropeTheta: Float, maxQueries: Int, maxKeys: Int, arena: Arena, context: ComputeContext,
                parameters: ParameterSet, needsBackward: Bool = true) {
        self.prefix = prefix
        self.context = context
        self.heads = heads
        self.kvHeads = kvHeads
        self.headDim = headDim
        self.maxQueries = maxQueries
        self.maxKeys = maxKeys
        qProj = Linear(parameters: parameters, name: "\(prefix).q_proj.weight", context: context)
        kProj = Linear(parameters: parameters, name: "\(prefix).k_proj.weight", context: context)
        vProj = Linear(parameters: parameters, name: "\(prefix).v_proj.weight", context: context)
        oProj = Linear(parameters: parameters, name: "\(prefix).o_proj.weight", context: context)
        let a = heads * headDim, kv = kvHeads * headDim
        precondition(qProj.outputWidth == a && qProj.inputWidth == queryWidth
                     && kProj.outputWidth == kv && kProj.inputWidth == keyValueWidth
                     && vProj.outputWidth == kv && vProj.inputWidth == keyValueWidth
                     && oProj.outputWidth == queryWidth && oProj.inputWidth == a,
                     "\(prefix): projection shapes do not match H \(heads), G \(kvHeads), D \(headDim), Cq \(queryWidth), Ckv \(keyValueWidth)")
        rotary = RotaryEmbedding(headDim: headDim, theta: ropeTheta)
        core = AttentionCore(heads: heads, kvHeads: kvHeads, headDim: headDim,
                             maxQueries: maxQueries, maxKeys: maxKeys, arena: arena, context: context,
                             needsBackward: needsBackward)
        q = arena.tensor(rows: maxQueries, cols: a)
        k = arena.tensor(rows: maxKeys, cols: kv)
        v = arena.tensor(rows: maxKeys, cols: kv)
        attended = arena.tensor(rows: maxQueries, cols: a)
        let backwardQueries = needsBackward ? maxQueries : 0, backwardKeys = needsBackward ? maxKeys : 0
        dAttended = arena.tensor(rows: backwardQueries, cols: a)
        dq = arena.tensor(rows: backwardQueries, cols: a)
        dk = arena.tensor(rows: backwardKeys, cols: kv)
        dv = arena.tensor(rows: backwardKeys, cols: kv)
    }

    /// The float counts `init` takes from its arena (checked; nil on overflow); the rotary tables
    /// it allocates besides are `RotaryEmbedding.tableFloats(headDim:)`.
    public static func arenaRequests(heads: Int, kvHeads: Int, headDim: Int, maxQueries: Int, maxKeys: Int,
                                     threads: Int, needsBackward: Bool = true) -> [Int?] {
        let a = checkedMul(heads, headDim), kv = checkedMul(kvHeads, headDim)
        let queryRows = checkedProduct([maxQueries, a]), keyRows = checkedProduct([maxKeys, kv])
        let backwardQueryRows = needsBackward ? queryRows : 0, backwardKeyRows = needsBackward ? keyRows : 0
        return AttentionCore.arenaRequests(heads: heads, kvHeads: kvHeads, headDim: headDim, maxQueries: maxQueries,
                                           maxKeys: maxKeys, threads: threads, needsBackward: needsBackward)
            + [queryRows, keyRows, keyRows, queryRows,
               backwardQueryRows, backwardQueryRows, backwardKeyRows, backwardKeyRows]
    }

    /// q_proj [A, Cq], k_proj and v_proj [G·D, Ckv], o_proj [Cq, A].
    public static func parameterSpecs(prefix: String, queryWidth: Int, keyValueWidth: Int,
                                      heads: Int, kvHeads: Int, headDim: Int) -> [ParameterSpec] {
        let a = heads * headDim, kv = kvHeads * headDim
        return [
            ParameterSpec("\(prefix).q_proj.weight", [a, queryWidth]),
            ParameterSpec("\(prefix).k_proj.weight", [kv, keyValueWidth]),
            ParameterSpec("\(prefix).v_proj.weight", [kv, keyValueWidth]),
            ParameterSpec("\(prefix).o_proj.weight", [queryWidth, a]),
        ]
    }

    /// out = (or += with `accumulate`) attention of the queries over the key/value rows.
    public func forward(out: Tensor /*[Nq, Cq]*/, queries: Tensor /*[Nq, Cq]*/, keyValues: Tensor /*[Nk, Ckv]*/,
                        queryPositions: UnsafePointer<Int32>, keyPositions: UnsafePointer<Int32>,
                        ranges: KeyRanges, accumulate: Bool = false) {
        let nq = queries.rows, nk = keyValues.rows
        precondition(nq <= maxQueries && nk <= maxKeys,
                     "\(prefix): \(nq) queries and \(nk) keys exceed capacity \(maxQueries), \(maxKeys)")
        let q = q.rows(0..<nq), k = k.rows(0..<nk), v = v.rows(0..<nk)
        projectQueries(queries, into: q, positions: queryPositions)
        projectKeyValues(keyValues, keys: k, values: v, positions: keyPositions)
        attendAndProject(out: out, q: q, k: .float(k), v: .float(v), ranges: ranges, accumulate: accumulate)
    }

    // The three parts of `forward`, also used by cached stepping (KVCache.swift), which writes
    // keys and values into a cache and attends over the cached rows.

    /// q = rope(queries Wqᵀ, positions) into q [n, A].
    func projectQueries(_ queries: Tensor /*[n, Cq]*/, into q: Tensor /*[n, A]*/, positions: UnsafePointer<Int32>) {
        qProj.forward(out: q, input: queries)
        rotary.apply(q, heads: heads, positions: positions, on: context)
    }

    /// k = rope(keyValues Wkᵀ, positions) and v = keyValues Wvᵀ into k, v [m, G·D].
    func projectKeyValues(_ keyValues: Tensor /*[m, Ckv]*/, keys k: Tensor /*[m, G·D]*/, values v: Tensor /*[m, G·D]*/,
                          positions: UnsafePointer<Int32>) {
        kProj.forward(out: k, input: keyValues)
        vProj.forward(out: v, input: keyValues)
        rotary.apply(k, heads: kvHeads, positions: positions, on: context)
    }

    /// out = (or += with `accumulate`) AttentionCore(q, k, v, ranges) Woᵀ, through `attended`.
    func attendAndProject(out: Tensor /*[n, Cq]*/, q: Tensor /*[n, A]*/, k: AttentionOperand /*[m, G·D]*/,
                          v: AttentionOperand /*[m, G·D]*/, ranges: KeyRanges, accumulate: Bool) {
        let a = attended.rows(0..<q.rows)
        core.forward(out: a, q: q, k: k, v: v, ranges: ranges)
        oProj.forward(out: out, input: a, accumulate: accumulate)
    }

    /// dQueries and dKeyValues (written, or accumulated with the flags), and the weight
    /// gradients, from dOut and the inputs of the last forward. The two may be the same tensor
    /// (self-attention) when accumulateKeyValues is true.
    public func backward(dQueries: Tensor, dKeyValues: Tensor, dOut: Tensor, queries: Tensor, keyValues: Tensor,
                         queryPositions: UnsafePointer<Int32>, keyPositions: UnsafePointer<Int32>, ranges: KeyRanges,
                         accumulateQueries: Bool, accumulateKeyValues: Bool) {
        let nq = queries.rows, nk = keyValues.rows
        let q = q.rows(0..<nq), k = k.rows(0..<nk), v = v.rows(0..<nk), a = attended.rows(0..<nq)
        let da = dAttended.rows(0..<nq), dq = dq.rows(0..<nq), dk = dk.rows(0..<nk), dv = dv.rows(0..<nk)
        oProj.backward(dInput: da, dOut: dOut, input: a)                       // da = dOut Wo
        core.backward(dQ: dq, dK: dk, dV: dv, dOut: da, q: q, k: k, v: v, out: a, ranges: ranges)
        rotary.applyInverse(dq, heads: heads, positions: queryPositions, on: context)   // d(pre-RoPE q)
        rotary.applyInverse(dk, heads: kvHeads, positions: keyPositions, on: context)
        qProj.backward(dInput: dQueries, dOut: dq, input: queries, accumulateInput: accumulateQueries)
        kProj.backward(dInput: dKeyValues, dOut: dk, input: keyValues, accumulateInput: accumulateKeyValues)
        vProj.backward(dInput: dKeyValues, dOut: dv, input: keyValues, accumulateInput: true)
    }
}

/// Llama self-attention: CrossAttention with one stream as queries and keys/values.
public final class SelfAttention {
    public let prefix: String
    public let config: AttentionConfig
    public let attention: CrossAttention
    // Key ranges of the rows of a cached step (KVCache.swift).
    let stepRanges: KeyRanges   // [maxRows]
    public var isFrozen: Bool {
        get { attention.isFrozen }
        set { attention.isFrozen = newValue }
    }

    /// Parameters "\(prefix).{q,k,v,o}_proj.weight".
    public init(prefix: String, config: AttentionConfig, parameters: ParameterSet, maxRows: Int, arena: Arena,
                context: ComputeContext, needsBackward: Bool = true) {
        self.prefix = prefix
        self.config = config
        attention = CrossAttention(prefix: prefix, queryWidth: config.hidden, keyValueWidth: config.hidden,
                                   heads: config.heads, kvHeads: config.kvHeads, headDim: config.headDim,
                                   ropeTheta: config.ropeTheta, maxQueries: maxRows, maxKeys: maxRows,
                                   arena: arena, context: context, parameters: parameters, needsBackward: needsBackward)
        stepRanges = KeyRanges(capacity: maxRows, arena: arena)
    }

    /// The float counts `init` takes from its arena (checked; nil on overflow).
    public static func arenaRequests(config c: AttentionConfig, maxRows: Int, threads: Int, needsBackward: Bool = true) -> [Int?] {
        CrossAttention.arenaRequests(heads: c.heads, kvHeads: c.kvHeads, headDim: c.headDim, maxQueries: maxRows,
                                     maxKeys: maxRows, threads: threads, needsBackward: needsBackward)
            + [maxRows, maxRows]   // stepRanges: lo and hi
    }

    public static func parameterSpecs(prefix: String, config: AttentionConfig) -> [ParameterSpec] {
        CrossAttention.parameterSpecs(prefix: prefix, queryWidth: config.hidden, keyValueWidth: config.hidden,
                                      heads: config.heads, kvHeads: config.kvHeads, headDim: config.headDim)
    }

    /// out = (or += with `accumulate`) self-attention of x over the allowed ranges.
    public func forward(out: Tensor /*[N, C]*/, input x: Tensor /*[N, C]*/, positions: UnsafePointer<Int32>,
                        ranges: KeyRanges, accumulate: Bool = false) {
        attention.forward(out: out, queries: x, keyValues: x, queryPositions: positions, keyPositions: positions,
                          ranges: ranges, accumulate: accumulate)
    }

    /// dInput = (or += with `accumulateInput`) ∂L/∂x; weight gradients accumulate.
    public func backward(dInput: Tensor, dOut: Tensor, input x: Tensor, positions: UnsafePointer<Int32>,
                         ranges: KeyRanges, accumulateInput: Bool = false) {
        attention.backward(dQueries: dInput, dKeyValues: dInput, dOut: dOut, queries: x, keyValues: x,
                           queryPositions: positions, keyPositions: positions, ranges: ranges,
                           accumulateQueries: accumulateInput, accumulateKeyValues: true)
    }
}
