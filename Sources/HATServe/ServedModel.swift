// ServedModel: one model `hat serve` offers, loaded once — a HAT directory (byte-level) or a token
// model (GGUF file or Hugging Face Llama directory) — and a pool of generation sessions over its
// shared read-only weights. Each session has its own buffers, caches and ComputeContext, so
// requests running at once never share mutable state; a session is reset before each use, which
// leaves it exactly as a new one (what `hat generate` starts from).

import Foundation
import HATGenerate
import HATModel
import HATLayers
import HATTensor
import HATText
import HATTokenizer

public final class ServedModel: @unchecked Sendable {
    public enum Kind: String, Sendable { case hat, token }

    /// The id clients name in requests (the path's last component unless given).
    public let id: String
    public let path: String
    public let kind: Kind
    /// "14819456 parameters; backbone 6×384" (GenerationModels.describe).
    public private(set) var summary = ""
    /// Word splitting options of a HAT model (nil for a token model).
    public let splitterOptions: SplitterOptions?
    let makeModel: (ComputeContext) throws -> GenerationModel
    let threadsPerSession: Int

    private let lock = NSLock()
    private var idle: [PooledSession] = []
    /// Sessions made so far (at most the server's concurrency, as sessions are returned after use).
    public private(set) var sessionsMade = 0

    /// Loads the weights at `path` once. `contextWords` bounds a HAT session's backbone context;
    /// `contextBytes` a token session's window (as in `hat generate` and the REPL). `weights`: how a
    /// HAT model's matrices are held (nil: as its file stores them, as `hat generate` does);
    /// `kvCache`: how its sessions' key/value caches hold their numbers.
    public init(id: String? = nil, path: String, contextWords: Int = 1024, threadsPerSession: Int = 1,
                weights: WeightFormat? = nil, kvCache: KVCacheFormat = .f32) throws {
        self.path = path
        self.id = id ?? URL(fileURLWithPath: path).standardizedFileURL.lastPathComponent
        self.threadsPerSession = threadsPerSession
        if TokenModelFiles.isTokenModel(path) {
            kind = .token
            let bundle = try TokenModelBundle(path: path, weights: weights)
            splitterOptions = nil
            let capacity = ContextLimits().bytes
            makeModel = { context in
                TokenTextModel(session: TokenSession(config: bundle.config, parameters: bundle.parameters, capacity: capacity,
                                                     kvCache: kvCache, context: context),
                               tokenizer: bundle.tokenizer, source: path)
            }
        } else {
            kind = .hat
            let (config, parameters) = try ModelFiles.load(from: path, weights: weights)
            splitterOptions = try config.splitterOptions()
            let limits = ContextLimits(words: contextWords)
            makeModel = { context in
                try GenerationSession(config: config, parameters: parameters, limits: limits, kvCache: kvCache, context: context)
            }
        }
        // One session now: it proves the model runs here and gives the summary.
        let first = try makeSession()
        summary = GenerationModels.describe(first.model)
        idle.append(first)
    }

    /// An idle session (reset), or a new one when all are busy. Return it with `checkIn`.
    func checkOut() throws -> PooledSession {
        lock.lock()
        let reused = idle.popLast()
        lock.unlock()
        if let reused {
            reused.model.reset()
            return reused
        }
        return try makeSession()
    }

    func checkIn(_ session: PooledSession) {
        lock.lock()
        idle.append(session)
        lock.unlock()
    }

    private func makeSession() throws -> PooledSession {
        let context = ComputeContext(threads: threadsPerSession)
        let session = PooledSession(model: try makeModel(context), context: context)
        lock.lock()
        sessionsMade += 1
        lock.unlock()
        return session
    }

    /// A new splitter (WordSplitter keeps per-call state, so each request gets its own).
    func makeSplitter() throws -> WordSplitter? {
        try splitterOptions.map { try WordSplitter(options: $0) }
    }
}

/// A session and the context it computes on; used by one request at a time.
final class PooledSession: @unchecked Sendable {
    let model: GenerationModel
    let context: ComputeContext
    init(model: GenerationModel, context: ComputeContext) {
        self.model = model
        self.context = context
    }
}
