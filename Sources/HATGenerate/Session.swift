// GenerationSession: cached byte-by-byte inference (ARCHITECTURE.md §5). Three kinds of caches:
// encoder (keys/values of recent bytes), backbone (recent words), decoder (recent bytes; the
// decoder's self-attention spans word boundaries exactly as in training, so its cache holds the
// window of bytes, not only the current word's). `feed` takes new bytes (a prompt chunk or one
// sampled byte) and leaves the logits of the next byte:
//
//   1. re-split the current word plus the new bytes; all words but the last are complete;
//   2. encoder step over the new bytes (the encoder does not care about words);
//   3. pool each completed word over its bytes' encoder states, one backbone step per word;
//      the last completed word's backbone state is the predictive vector of the word after it;
//   4. decoder step over the bytes not yet decoded with their word's predictive vector; if the
//      split moved a boundary back into bytes already decoded (rare: a cut inside the old
//      current word), those bytes are taken out of the decoder caches and decoded again;
//   5. final norm and head on the last byte.
//
// Only the last bytes of a long input need the decoder: nothing reads its states but the head
// (on the last byte) and its caches (the last window of bytes). So decoder layer l of L (window
// w) skips every chunk that ends before K_l = T − w − R − q − (L−1−l)(w−1+q), where T ends the
// input, R = max_word_size + 8 is what a later re-split may re-decode and q is the attention's
// query block, and restarts its cache at the first chunk it runs. Its keys and values at p come
// from layer l−1's outputs at p; a layer's outputs are the same bits as without skipping from
// w−1+q positions after its restart on (each row's window, and the key span of its query block,
// hold only keys it computed), i.e. from K_{l+1} on; so the last layer's caches from T − w − R
// on and its last row are exactly what decoding every byte gives (`decodesEveryByte`, for tests).
//
// The decoder's cross-attention has one key per byte, so its softmax is 1 and it reduces to
// o_proj(v_proj(kv_norm(p))) — one vector per word and layer, added to each of its bytes.
//
// Shapes: n new bytes, k words, Dl local width, Db backbone width.

import HATLayers
import HATModel
import HATTensor
import HATText

public struct SessionError: Error, CustomStringConvertible {
    public let message: String
    public var description: String { message }
    public init(message: String) { self.message = message }
}

/// Limits that keep memory bounded however long the text gets.
public struct ContextLimits: Codable, Equatable, Sendable {
    /// Attention window of the backbone when the model has none (words).
    public var words: Int = 1024
    /// Attention window of encoder and decoder when the model has none (bytes).
    public var bytes: Int = 8192
    public init(words: Int = 1024, bytes: Int = 8192) {
        self.words = words
        self.bytes = bytes
    }

    /// The model's config with every missing window set from these limits, so that cached
    /// and uncached inference attend to exactly the same keys.
    public func applied(to config: HATConfig) -> HATConfig {
        var c = config
        c.encoderConfig.slidingWindow = c.encoderConfig.slidingWindow ?? bytes
        c.decoderConfig.slidingWindow = c.decoderConfig.slidingWindow ?? bytes
        c.backboneConfig.slidingWindow = c.backboneConfig.slidingWindow ?? words
        return c
    }
}

public final class GenerationSession {
    public let config: HATConfig            // with the context limits applied
    public let parameters: ParameterSet
    public let limits: ContextLimits
    /// The threads this session runs on (its results do not depend on their number).
    public let context: ComputeContext
    let splitter: WordSplitter
    let eos: UInt8
    /// Most new bytes one internal step takes; longer inputs are fed in chunks.
    public let chunkBytes: Int
    let textCapacity: Int                   // current word + one chunk

    // Layers (inference instances over the shared parameters).
    let embedding: Embedding
    let encoderBlocks: [LlamaBlock]
    let pooling: CrossAttention
    let backboneBlocks: [LlamaBlock]
    let decoderBlocks: [LlamaBlock]
    let decoderCross: [CrossVector?]
    let finalNorm: RMSNorm
    let head: Linear

    // Caches.
    let encoderCaches: [KVCache]
    let backboneCaches: [KVCache]
    let decoderCaches: [KVCache]

    // Buffers (arena), shapes on the right.
    let arena: Arena
    let textIDs: UnsafeMutablePointer<Int32>        // [textCapacity]
    let textPositions: UnsafeMutablePointer<Int32>  // [textCapacity] absolute byte positions
    let wordPositions: UnsafeMutablePointer<Int32>  // [textCapacity] absolute word positions
    let poolRanges: KeyRanges                       // [textCapacity]
    let textStates: Tensor          // [textCapacity, Dl] encoder states of the current text
    let stepStates: Tensor          // [textCapacity, Dl] scratch: encoder or decoder rows being stepped
    let poolQueries: Tensor         // [textCapacity, Db]
    let pooled: Tensor              // [textCapacity, Db] pooled words → backbone states
    let predictive: Tensor          // [textCapacity + 1, Db] p of words 0 … k-1 of the text
    let crossVectors: [Tensor?]     // per decoder layer: [textCapacity + 1, Dl]
    let normed: Tensor              // [1, Dl]
    public let logits: Tensor       // [1, 256] logits of the next byte

    // State.
    public private(set) var bytePosition = 0     // absolute position of the next byte
    public private(set) var wordPosition = 0     // absolute position of the next completed word
    public private(set) var currentWord: [UInt8] = []
    /// Words completed so far (for statistics and word-boundary display).
    public private(set) var completedWords = 0
    private var ends: [Int] = []
    /// Run every decoder layer over every byte (tests compare this with the skipping above).
    var decodesEveryByte = false

    /// Most bytes one internal step may take (`chunkBytes`).
    public static let maxChunkBytes = 1 << 16
    /// Bytes one internal step takes by default: prompts are read in chunks this long, so each
    /// product of the byte-level blocks has about a thousand rows (as in `hat eval`'s batches).
    public static let defaultChunkBytes = 1024
    /// Most words one backbone product takes: a step that completes more words runs the backbone
    /// blocks over them in pieces of this many (`LlamaBlock.step`), so the backbone's buffers and
    /// caches do not grow with the chunk (a chunk of 1,024 bytes completes about 230 words).
    public static let backboneStepWords = 256

    /// Rows of the backbone blocks' buffers for a text of `textRows` rows (current word + one chunk).
    static func backboneRows(textRows: Int) -> Int { min(textRows, backboneStepWords) }

    /// Bytes a session for this model, limits and chunk size allocates besides the parameters
    /// (arena, key/value caches, rotary tables, index buffers); checked arithmetic, nil on overflow.
    public static func plannedBytes(_ modelConfig: HATConfig, limits: ContextLimits, chunkBytes: Int, threads: Int,
                                    kvCache: KVCacheFormat = .f32) -> Int? {
        let requests = plannedRequests(modelConfig, limits: limits, chunkBytes: chunkBytes, threads: threads, kvCache: kvCache)
        guard let planned = Arena.plannedFloats(requests.arena) else { return nil }
        return checkedProduct([4, checkedSum([planned.reserved, requests.other])])
    }

    /// What `init` takes from its arena, and the floats it allocates outside it (caches, tables, indices).
    static func plannedRequests(_ modelConfig: HATConfig, limits: ContextLimits, chunkBytes: Int, threads: Int,
                                kvCache: KVCacheFormat = .f32) -> (arena: [Int?], other: Int?) {
        let config = limits.applied(to: modelConfig)
        let enc = config.encoderConfig, bb = config.backboneConfig, dec = config.decoderConfig
        let dl = enc.hiddenSize, db = bb.hiddenSize
        guard let rows = checkedSum([config.maxWordSize, 8, chunkBytes]) else { return ([nil], nil) }
        let words = backboneRows(textRows: rows)
        var arena: [Int?] = []
        var other: [Int?] = []   // floats outside the arena
        func blocks(_ stack: TransformerConfig, maxRows: Int) {
            for _ in 0..<stack.numHiddenLayers {
                arena += LlamaBlock.arenaRequests(config: stack.block, maxRows: maxRows, threads: threads, needsBackward: false)
                other.append(RotaryEmbedding.tableFloats(headDim: stack.headDim))
            }
        }
        let pool = enc.crossAttentionConfig!, cross = dec.crossAttentionConfig!
        blocks(enc, maxRows: rows)
        arena += CrossAttention.arenaRequests(heads: pool.numAttentionHeads, kvHeads: pool.numKeyValueHeads, headDim: pool.headDim,
                                              maxQueries: rows, maxKeys: rows, threads: threads, needsBackward: false)
        other.append(RotaryEmbedding.tableFloats(headDim: pool.headDim))
        blocks(bb, maxRows: words)
        blocks(dec, maxRows: rows)
        let crossLayers = (0..<dec.numHiddenLayers).filter { ModelLayout.decoderCrossAttends($0, config: config) }.count
        let rows1 = rows + 1
        for _ in 0..<crossLayers {   // CrossVector and its cross vectors
            arena += RMSNorm.arenaRequests(channels: db, maxRows: rows1, needsBackward: false)
            arena += [checkedMul(rows1, db), checkedProduct([rows1, cross.numKeyValueHeads, cross.headDim]),
                      checkedProduct([rows1, cross.numAttentionHeads, cross.headDim]), checkedMul(rows1, dl)]
        }
        arena += RMSNorm.arenaRequests(channels: dl, maxRows: 1, needsBackward: false)
        arena += [checkedMul(rows, dl), checkedMul(rows, dl), checkedMul(rows, db), checkedMul(rows, db),
                  checkedMul(rows1, db), dl, 256]
        // Key/value caches: 2 (keys, values) × 2·capacity rows × G·D numbers per layer, each of
        // bytesPerValue bytes: in floats, capacity × G·D × bytesPerValue.
        func caches(_ c: TransformerConfig, extra: Int?) -> Int? {
            checkedProduct([c.numHiddenLayers, kvCache.bytesPerValue, checkedAdd(c.slidingWindow ?? 0, extra ?? Int.max),
                            checkedMul(c.numKeyValueHeads, c.headDim)])
        }
        other += [caches(enc, extra: rows), caches(bb, extra: words),
                  caches(dec, extra: checkedSum([rows, config.maxWordSize, 8])), checkedMul(5, rows)]
        return (arena, checkedSum(other))
    }

    public init(config modelConfig: HATConfig, parameters: ParameterSet, limits: ContextLimits = ContextLimits(),
                chunkBytes: Int = GenerationSession.defaultChunkBytes, kvCache: KVCacheFormat = .f32,
                context: ComputeContext) throws {
        guard (2...Limits.positions).contains(limits.words) else {
            throw SessionError(message: "the backbone context of \(limits.words) words is outside 2…\(Limits.positions)")
        }
        guard (1...Limits.positions).contains(limits.bytes) else {
            throw SessionError(message: "the byte context of \(limits.bytes) bytes is outside 1…\(Limits.positions)")
        }
        guard (1...GenerationSession.maxChunkBytes).contains(chunkBytes) else {
            throw SessionError(message: "chunks of \(chunkBytes) bytes are outside 1…\(GenerationSession.maxChunkBytes)")
        }
        let session = GenerationSession.plannedBytes(modelConfig, limits: limits, chunkBytes: chunkBytes, threads: context.threads,
                                                     kvCache: kvCache)
        try Limits.requireMemory(checkedSum([session, MemoryPlan.parameterBytes(modelConfig)]),
                                 for: "the parameters and a generation session with a context of \(limits.words) words and \(limits.bytes) bytes")
        let config = limits.applied(to: modelConfig)
        self.context = context
        self.config = config
        self.parameters = parameters
        self.limits = limits
        self.chunkBytes = chunkBytes
        splitter = try config.makeSplitter()
        eos = UInt8(config.eosTokenId)
        let enc = config.encoderConfig, bb = config.backboneConfig, dec = config.decoderConfig
        let dl = enc.hiddenSize, db = bb.hiddenSize
        textCapacity = config.maxWordSize + 8 + chunkBytes
        let rows = textCapacity, words = GenerationSession.backboneRows(textRows: rows)
        let arena = Arena(name: "generation")
        self.arena = arena

        embedding = Embedding(parameters: parameters, name: ModelLayout.byteEmbedding, context: context)
        encoderBlocks = (0..<enc.numHiddenLayers).map {
            LlamaBlock(prefix: ModelLayout.encoderBlock($0), config: enc.block, parameters: parameters, maxRows: rows, arena: arena,
                       context: context, needsBackward: false)
        }
        let poolConfig = enc.crossAttentionConfig!
        pooling = CrossAttention(prefix: ModelLayout.pooling, queryWidth: db,
                                 keyValueWidth: dl, heads: poolConfig.numAttentionHeads, kvHeads: poolConfig.numKeyValueHeads,
                                 headDim: poolConfig.headDim, ropeTheta: enc.ropeTheta, maxQueries: rows, maxKeys: rows,
                                 arena: arena, context: context, parameters: parameters, needsBackward: false)
        backboneBlocks = (0..<bb.numHiddenLayers).map {
            LlamaBlock(prefix: ModelLayout.backboneBlock($0), config: bb.block, parameters: parameters, maxRows: words, arena: arena,
                       context: context, needsBackward: false)
        }
        decoderBlocks = (0..<dec.numHiddenLayers).map {
            LlamaBlock(prefix: ModelLayout.decoderBlock($0), config: dec.block, parameters: parameters,
                       maxRows: rows, arena: arena, context: context, needsBackward: false)
        }
        decoderCross = (0..<dec.numHiddenLayers).map { i in
            guard ModelLayout.decoderCrossAttends(i, config: config) else { return nil }
            return CrossVector(prefix: ModelLayout.decoderLayer(i), config: config, parameters: parameters,
                               maxRows: rows + 1, arena: arena, context: context)
        }
        finalNorm = RMSNorm(parameters: parameters, name: ModelLayout.finalNorm, eps: dec.rmsNormEps, maxRows: 1, arena: arena,
                            context: context, needsBackward: false)
        head = Linear(parameters: parameters, name: ModelLayout.head, context: context)

        // Ring buffers: the window, plus one step's rows (backbone: one piece of words), plus the
        // bytes a rollback may remove.
        func caches(_ c: TransformerConfig, extra: Int) -> [KVCache] {
            (0..<c.numHiddenLayers).map { _ in
                KVCache(capacity: c.slidingWindow! + extra, kvWidth: c.numKeyValueHeads * c.headDim, format: kvCache)
            }
        }
        encoderCaches = caches(enc, extra: rows)
        backboneCaches = caches(bb, extra: words)
        decoderCaches = caches(dec, extra: rows + config.maxWordSize + 8)

        textIDs = .allocate(capacity: rows)
        textPositions = .allocate(capacity: rows)
        wordPositions = .allocate(capacity: rows)
        poolRanges = KeyRanges.allocate(capacity: rows)
        textStates = arena.tensor(rows: rows, cols: dl)
        stepStates = arena.tensor(rows: rows, cols: dl)
        poolQueries = arena.tensor(rows: rows, cols: db)
        pooled = arena.tensor(rows: rows, cols: db)
        predictive = arena.tensor(rows: rows + 1, cols: db)
        crossVectors = decoderCross.map { $0 == nil ? nil : arena.tensor(rows: rows + 1, cols: dl) }
        normed = arena.tensor(rows: 1, cols: dl)
        logits = arena.tensor(rows: 1, cols: 256)
        reset()
    }

    deinit {
        textIDs.deallocate()
        textPositions.deallocate()
        wordPositions.deallocate()
        poolRanges.deallocate()
    }

    /// Clears the context and feeds the end-of-sequence word that opens every document.
    public func reset() {
        for cache in encoderCaches + backboneCaches + decoderCaches { cache.reset() }
        bytePosition = 0
        wordPosition = 0
        completedWords = 0
        currentWord = []
        // The first word's predictive vector is the learned one.
        predictive.row(0).update(from: parameters.value(ModelLayout.firstWordEmbedding).row(0),
                                 count: predictive.cols)
        updateCrossVectors(words: 0..<1)
        feed([eos])
    }

    /// Feeds bytes (any, including invalid UTF-8); afterwards `logits` predicts the next byte.
    public func feed(_ bytes: [UInt8]) {
        let inputEnd = bytePosition + bytes.count
        var start = 0
        while start < bytes.count {
            let end = min(bytes.count, start + chunkBytes)
            feedChunk(bytes[start..<end], inputEnd: inputEnd)
            start = end
        }
    }

    /// K_l of the file header: the first position whose keys and values decoder layer `layer`
    /// must hold when the input ends at `inputEnd` (may be negative: then it runs on every chunk).
    func firstNeededPosition(decoderLayer layer: Int, inputEnd: Int) -> Int {
        let w = config.decoderConfig.slidingWindow!, layers = decoderBlocks.count
        let q = decoderBlocks[layer].attention.attention.core.queryBlock
        return inputEnd - w - (config.maxWordSize + 8) - q - (layers - 1 - layer) * (w - 1 + q)
    }

    /// Whether feeding this byte would complete the current word (for word-boundary display).
    public var currentWordLength: Int { currentWord.count }

    // MARK: The step

    private func feedChunk(_ newBytes: ArraySlice<UInt8>, inputEnd: Int) {
        let old = currentWord.count, n = newBytes.count
        let text = currentWord + newBytes
        let textStart = bytePosition - old             // absolute position of text[0]
        text.withUnsafeBufferPointer { splitter.split($0, into: &ends) }
        let k = ends.count                               // words in the text; the last stays current
        for i in 0..<text.count {
            textIDs[i] = Int32(text[i])
            textPositions[i] = Int32(textStart + i)
        }

        // 2. Encoder over the new bytes; their states go after the current word's.
        let x = stepStates.rows(0..<n)
        embedding.forward(out: x, ids: textIDs + old)
        for (block, cache) in zip(encoderBlocks, encoderCaches) {
            block.step(x, positions: textPositions + old, cache: cache)
        }
        textStates.rows(old..<(old + n)).copy(from: x)

        // 3. Pool the completed words 0 … k-2 and step the backbone over them.
        let completed = k - 1
        if completed > 0 {
            let queries = poolQueries.rows(0..<completed), words = pooled.rows(0..<completed)
            let latent = parameters.value(ModelLayout.latentQuery).row(0)
            for j in 0..<completed {
                queries.row(j).update(from: latent, count: queries.cols)
                poolRanges.lo[j] = Int32(j == 0 ? 0 : ends[j - 1])
                poolRanges.hi[j] = Int32(ends[j])
                wordPositions[j] = Int32(wordPosition + j)
            }
            pooling.forward(out: words, queries: queries, keyValues: textStates.rows(0..<text.count),
                            queryPositions: wordPositions, keyPositions: textPositions, ranges: poolRanges)
            for (block, cache) in zip(backboneBlocks, backboneCaches) {
                block.step(words, positions: wordPositions, cache: cache)
            }
            // p of word j+1 is the backbone state of word j.
            predictive.rows(1..<(completed + 1)).copy(from: words)
            updateCrossVectors(words: 1..<(completed + 1))
            wordPosition += completed
            completedWords += completed
        }

        // 4. Decoder over the bytes not yet decoded with their final word (from an earlier
        // boundary when the re-split moved one back into decoded bytes).
        let firstToDecode = completed > 0 && ends[0] < old ? ends[0] : old
        let decodeStart = textStart + firstToDecode, chunkEnd = textStart + text.count   // absolute positions
        let m = text.count - firstToDecode
        let y = stepStates.rows(0..<m)
        y.copy(from: textStates.rows(firstToDecode..<text.count))
        // Word of each decoded row.
        var word = 0
        for (layer, block) in decoderBlocks.enumerated() {
            let cache = decoderCaches[layer]
            // Take re-decoded bytes out of the cache (all of it when it no longer holds them).
            if cache.total > decodeStart {
                let rollback = cache.total - decodeStart
                if rollback <= cache.count { cache.removeLast(rollback) } else { cache.restart(at: decodeStart) }
            }
            if !decodesEveryByte && chunkEnd <= firstNeededPosition(decoderLayer: layer, inputEnd: inputEnd) { continue }
            if cache.total < decodeStart { cache.restart(at: decodeStart) }   // it skipped the bytes before
            if let vectors = crossVectors[layer] {
                word = 0
                for r in 0..<m {
                    let i = firstToDecode + r
                    while word < k - 1 && i >= ends[word] { word += 1 }
                    let c = vectors.row(word), row = y.row(r)
                    for col in 0..<y.cols { row[col] += c[col] }
                }
            }
            block.step(y, positions: textPositions + firstToDecode, cache: cache)
        }

        // 5. Logits of the next byte from the last row.
        finalNorm.forward(out: normed, input: y.rows((m - 1)..<m))
        head.forward(out: logits, input: normed)

        // The last word stays current: keep its bytes, encoder states and predictive vector.
        let lastStart = completed > 0 ? ends[completed - 1] : 0
        currentWord = Array(text[lastStart...])
        if lastStart > 0 {
            let length = text.count - lastStart
            stepStates.rows(0..<length).copy(from: textStates.rows(lastStart..<text.count))
            textStates.rows(0..<length).copy(from: stepStates.rows(0..<length))
            predictive.row(0).update(from: predictive.row(completed), count: predictive.cols)
            for vectors in crossVectors.compactMap({ $0 }) {
                vectors.row(0).update(from: vectors.row(completed), count: vectors.cols)
            }
        }
        bytePosition += n
    }

    /// c = o_proj(v_proj(kv_norm(p))) for the words `range` of the predictive buffer.
    private func updateCrossVectors(words range: Range<Int>) {
        for (layer, cross) in decoderCross.enumerated() {
            guard let cross, let vectors = crossVectors[layer] else { continue }
            cross.forward(out: vectors.rows(range), predictive: predictive.rows(range))
        }
    }
}

/// The decoder's cross-attention reduced for one key per query: each query head's output is
/// its key/value head's value, so the layer adds o_proj(repeat(v_proj(kv_norm(p)))) to every
/// byte of the word.
final class CrossVector {
    let kvNorm: RMSNorm
    let vProj: Linear
    let oProj: Linear
    let heads: Int, kvHeads: Int, headDim: Int
    let normed: Tensor      // [rows, Db]
    let values: Tensor      // [rows, G·D]
    let repeated: Tensor    // [rows, H·D]

    init(prefix: String, config: HATConfig, parameters: ParameterSet, maxRows: Int, arena: Arena, context: ComputeContext) {
        let cross = config.decoderConfig.crossAttentionConfig!
        heads = cross.numAttentionHeads
        kvHeads = cross.numKeyValueHeads
        headDim = cross.headDim
        kvNorm = RMSNorm(parameters: parameters, name: "\(prefix).kv_norm.weight", eps: config.decoderConfig.rmsNormEps,
                         maxRows: maxRows, arena: arena, context: context, needsBackward: false)
        vProj = Linear(parameters: parameters, name: "\(prefix).cross_attention.v_proj.weight", context: context)
        oProj = Linear(parameters: parameters, name: "\(prefix).cross_attention.o_proj.weight", context: context)
        normed = arena.tensor(rows: maxRows, cols: config.backboneConfig.hiddenSize)
        values = arena.tensor(rows: maxRows, cols: kvHeads * headDim)
        repeated = arena.tensor(rows: maxRows, cols: heads * headDim)
    }

    func forward(out: Tensor /*[n, Dl]*/, predictive p: Tensor /*[n, Db]*/) {
        let n = p.rows
        kvNorm.forward(out: normed.rows(0..<n), input: p)
        vProj.forward(out: values.rows(0..<n), input: normed.rows(0..<n))
        let group = heads / kvHeads
        for r in 0..<n {
            for h in 0..<heads {
                (repeated.row(r) + h * headDim).update(from: values.row(r) + (h / group) * headDim, count: headDim)
            }
        }
        oProj.forward(out: out, input: repeated.rows(0..<n))
    }
}
