// TokenSession: cached inference of a token model (TokenModel), token by token: one KV cache per
// block, `feed` appends tokens (a prompt chunk or one sampled token) and leaves the logits of the
// next token — the same numbers as the full forward over the whole sequence (tested). Contexts
// longer than the cache's capacity keep the most recent `capacity` positions (a sliding window,
// which the full forward reproduces with that window).
//
// Shapes: n new tokens, C hidden, V vocabulary.

import HATLayers
import HATModel
import HATTensor
import HATTokenizer

public final class TokenSession {
    public let model: TokenModel
    /// Most positions attended (the caches' window).
    public let capacity: Int
    /// Most new tokens one internal step takes; longer inputs are fed in chunks.
    public let chunkTokens: Int
    let caches: [KVCache]
    let blocks: [LlamaBlock]
    let blockScratch: Arena                       // one block's buffers, shared by every block
    let arena: Arena
    let ids: UnsafeMutablePointer<Int32>          // [chunkTokens]
    let positions: UnsafeMutablePointer<Int32>    // [chunkTokens]
    let stream: Tensor                            // [chunkTokens, C]
    public let logits: Tensor                     // [1, V] logits of the next token
    /// Tokens fed since the last reset.
    public private(set) var count = 0

    /// A session over `model`'s weights with its own buffers and caches (several sessions of one
    /// model may run at once, each on its own context).
    public init(config: TokenModelConfig, parameters: ParameterSet, capacity: Int = 4096, chunkTokens: Int = 256,
                kvCache: KVCacheFormat = .f32, context: ComputeContext) {
        precondition(capacity >= 1 && chunkTokens >= 1, "TokenSession: capacity and chunk must be ≥ 1")
        let window = min(config.blocks.slidingWindow ?? capacity, capacity)
        var windowed = config
        windowed.blocks.slidingWindow = window
        model = TokenModel(config: windowed, parameters: parameters, maxTokens: 1, context: context)
        self.capacity = window
        self.chunkTokens = chunkTokens
        let arena = Arena(name: "token-session")
        self.arena = arena
        let c = config.blocks
        (blocks, blockScratch) = LlamaBlock.inferenceStack(
            count: c.numHiddenLayers, prefix: { "\(TokenModel.sourceBlockPrefix).\($0)" }, config: windowed.blocks.block,
            parameters: parameters, maxRows: chunkTokens, context: context, name: "token-session blocks")
        // Room for the window plus one chunk, as LlamaBlock.step requires.
        caches = blocks.map { _ in KVCache(capacity: window + chunkTokens, kvWidth: c.numKeyValueHeads * c.headDim, format: kvCache) }
        ids = arena.allocateInt32(count: chunkTokens)
        positions = arena.allocateInt32(count: chunkTokens)
        stream = arena.tensor(rows: chunkTokens, cols: c.hiddenSize)
        logits = arena.tensor(rows: 1, cols: config.vocabularySize)
    }

    /// Forgets every token.
    public func reset() {
        for cache in caches { cache.reset() }
        count = 0
    }

    /// Appends tokens (each in 0..<V); afterwards `logits` predicts the next one.
    public func feed(_ tokens: [Int32]) {
        var start = 0
        while start < tokens.count {
            let n = min(chunkTokens, tokens.count - start)
            for i in 0..<n {
                ids[i] = tokens[start + i]
                positions[i] = Int32(count + i)
            }
            let x = stream.rows(0..<n)
            model.embed(ids, into: x)
            for (block, cache) in zip(blocks, caches) { block.step(x, positions: positions, cache: cache) }
            model.forEachLogits(x.rows((n - 1)..<n)) { _, z in
                logits.row(0).update(from: z, count: logits.cols)
            }
            count += n
            start += n
        }
    }
}

/// A token model as a GenerationModel: text is encoded by its tokenizer (UTF-8 only), each
/// document opens with the tokenizer's document-start token (as in evaluation), and the EOS
/// token or any other special token ends generated text.
public final class TokenTextModel: GenerationModel {
    public let session: TokenSession
    public let tokenizer: BPETokenizer
    public let source: String
    let documentStart: Int?
    private var cache = BPEWordCache()

    public init(session: TokenSession, tokenizer: BPETokenizer, source: String) {
        self.session = session
        self.tokenizer = tokenizer
        self.source = source
        documentStart = TokenizerText.documentStart(tokenizer)
        reset()
    }

    /// The token model at `source` (GGUF file or Hugging Face directory) with its tokenizer, its
    /// matrices held as `weights` asks (nil: as the file stores them).
    public convenience init(source: String, capacity: Int = 4096, weights: WeightFormat? = nil, kvCache: KVCacheFormat = .f32,
                            context: ComputeContext) throws {
        let bundle = try TokenModelBundle(path: source, weights: weights)
        self.init(session: TokenSession(config: bundle.config, parameters: bundle.parameters, capacity: capacity,
                                        kvCache: kvCache, context: context),
                  tokenizer: bundle.tokenizer, source: source)
    }

    public var vocabularySize: Int { session.model.config.vocabularySize }
    public var nextLogits: UnsafePointer<Float> { UnsafePointer(session.logits.row(0)) }
    public var completedPositions: Int { session.count }
    public var feedGranularity: Int? { nil }

    public func reset() {
        session.reset()
        if let documentStart { session.feed([Int32(documentStart)]) }
    }

    public func feed(text: [UInt8]) throws {
        let ids = try tokenizer.encode(utf8: text, cache: &cache)
        session.feed(ids.map { Int32($0) })
    }

    public func feed(unit: Int) { session.feed([Int32(unit)]) }

    public func bytes(of unit: Int) -> [UInt8] {
        tokenizer.isSpecialToken(unit) ? [] : tokenizer.tokenBytes(unit) ?? []
    }

    public func ends(_ unit: Int) -> Bool {
        unit == tokenizer.eosTokenID || tokenizer.isSpecialToken(unit) || unit >= tokenizer.vocabularySize
    }
}
