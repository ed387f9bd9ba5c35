// MemoryPlan: what a computation with a model will allocate — parameters, optimizer moments,
// activations and batch buffers — computed from the config and the batch sizes with checked
// arithmetic *before* anything is allocated, and compared with the machine's memory
// (`Limits.requireMemory`). Each layer lists what its init takes from the arena
// (`arenaRequests`, next to its allocations); tests check the plan equals what the arenas hand out.

import HATLayers
import HATTensor

public enum MemoryPlan {
    /// Bytes of a model's `ParameterSet`: values and gradients, f32.
    public static func parameterBytes(_ config: HATConfig) -> Int? {
        checkedProduct([8, ParameterSet.floats(HierarchicalModel.parameterSpecs(config))])
    }

    /// A zero-filled `ParameterSet` for `config`, once its values and gradients are known to fit
    /// the machine's memory; `what` names the model in the error.
    public static func allocateParameters(_ config: HATConfig, for what: String) throws -> ParameterSet {
        try Limits.requireMemory(parameterBytes(config),
                                 for: "the \(config.parameterCount ?? 0) parameters of \(what) (values and gradients, f32)")
        return ParameterSet(HierarchicalModel.parameterSpecs(config))
    }

    /// Bytes of AdamW's two moments (f32) for a model.
    public static func optimizerBytes(_ config: HATConfig) -> Int? { parameterBytes(config) }

    /// The floats `HierarchicalModel.init` takes from its arena for batches of `maxBytes` bytes and
    /// `maxWords` words on `threads` threads (with or without the buffers of backward), and the
    /// floats of the rotary tables it allocates.
    public static func modelRequests(_ config: HATConfig, maxBytes n: Int, maxWords w: Int, threads: Int,
                                     needsBackward: Bool = true) -> (arena: [Int?], rotary: Int?) {
        let bn = needsBackward ? n : 0, bw = needsBackward ? w : 0   // rows of the buffers only backward uses
        let enc = config.encoderConfig, bb = config.backboneConfig, dec = config.decoderConfig
        let dl = enc.hiddenSize, db = bb.hiddenSize
        var arena: [Int?] = []
        var rotary: [Int?] = []
        for _ in 0..<enc.numHiddenLayers {
            arena += LlamaBlock.arenaRequests(config: enc.block, maxRows: n, threads: threads, needsBackward: needsBackward)
            rotary.append(RotaryEmbedding.tableFloats(headDim: enc.headDim))
        }
        let pool = enc.crossAttentionConfig!
        arena += CrossAttention.arenaRequests(heads: pool.numAttentionHeads, kvHeads: pool.numKeyValueHeads,
                                              headDim: pool.headDim, maxQueries: w, maxKeys: n, threads: threads,
                                              needsBackward: needsBackward)
        rotary.append(RotaryEmbedding.tableFloats(headDim: pool.headDim))
        for _ in 0..<bb.numHiddenLayers {
            arena += LlamaBlock.arenaRequests(config: bb.block, maxRows: w, threads: threads, needsBackward: needsBackward)
            rotary.append(RotaryEmbedding.tableFloats(headDim: bb.headDim))
        }
        let cross = dec.crossAttentionConfig!
        for i in 0..<dec.numHiddenLayers {
            if ModelLayout.decoderCrossAttends(i, config: config) {
                arena += CrossAttention.arenaRequests(heads: cross.numAttentionHeads, kvHeads: cross.numKeyValueHeads,
                                                      headDim: cross.headDim, maxQueries: n, maxKeys: w, threads: threads,
                                                      needsBackward: needsBackward)
                rotary.append(RotaryEmbedding.tableFloats(headDim: cross.headDim))
                arena += RMSNorm.arenaRequests(channels: dl, maxRows: n, needsBackward: needsBackward)
                    + RMSNorm.arenaRequests(channels: db, maxRows: w, needsBackward: needsBackward)
                // crossInput (backward only), normedQueries, normedKeyValues, dNormedQueries, dKeyValues
                arena += (needsBackward ? [checkedMul(n, dl)] : []) + [checkedMul(n, dl), checkedMul(w, db), checkedMul(bn, dl), checkedMul(bw, db)]
            }
            arena += LlamaBlock.arenaRequests(config: dec.block, maxRows: n, threads: threads, needsBackward: needsBackward)
            rotary.append(RotaryEmbedding.tableFloats(headDim: dec.headDim))
        }
        arena += RMSNorm.arenaRequests(channels: dl, maxRows: n, needsBackward: needsBackward)
        // encoderStream … dPoolingQueries (HierarchicalModel.init)
        arena += [checkedMul(n, dl), checkedMul(w, db), checkedMul(w, db), checkedMul(w, db), checkedMul(n, dl),
                  checkedMul(n, dl), checkedMul(n, 256), checkedMul(bn, dl), checkedMul(bn, dl), checkedMul(bw, db),
                  checkedMul(bw, db), checkedMul(bw, db),
                  checkedMul(w, db), bn]   // alignedWordStates, byteWeights (stage 1 of grafting)
        return (arena, checkedSum(rotary))
    }

    /// Bytes of a `HierarchicalModel` and its `Batch` for these capacities (nil: beyond Int).
    public static func activationBytes(_ config: HATConfig, maxBytes: Int, maxWords: Int, threads: Int,
                                       needsBackward: Bool = true) -> Int? {
        let requests = modelRequests(config, maxBytes: maxBytes, maxWords: maxWords, threads: threads, needsBackward: needsBackward)
        guard let planned = Arena.plannedFloats(requests.arena) else { return nil }
        return checkedSum([checkedProduct([4, checkedSum([planned.reserved, requests.rotary])]),
                           Batch.allocatedBytes(maxBytes: maxBytes, maxWords: maxWords)])
    }

    /// Throws unless batches of `maxBytes` bytes and `maxWords` words are within `Limits` and a
    /// model with its activations (and, when `training`, gradients' optimizer moments and the
    /// buffers of backward) fits the machine's memory beside its parameters. `what` names the
    /// computation in the error. Without `training` the model is the one made with `needsBackward: false`.
    public static func requireBatch(_ config: HATConfig, maxBytes: Int, maxWords: Int, threads: Int, training: Bool,
                                    what: String) throws {
        guard (1...Limits.batchBytes).contains(maxBytes) else {
            throw LimitError("\(what): a batch of \(maxBytes) bytes (rows × bytes per row) is outside 1…\(Limits.batchBytes)")
        }
        guard (1...Limits.batchWords).contains(maxWords) else {
            throw LimitError("\(what): a batch of \(maxWords) words (rows × words per row) is outside 1…\(Limits.batchWords)")
        }
        let total = checkedSum([parameterBytes(config), training ? optimizerBytes(config) : 0,
                                activationBytes(config, maxBytes: maxBytes, maxWords: maxWords, threads: threads,
                                                needsBackward: training)])
        try Limits.requireMemory(total, for: "\(what): the parameters\(training ? ", optimizer moments" : "") and "
                                 + "activations for batches of \(maxBytes) bytes and \(maxWords) words")
    }
}
