// ModelWork: what a request asks of a model, run synchronously on a thread of its own (model
// computation blocks for seconds and must not hold the server's event loops or Swift's small
// cooperative pool): a completion through the same Generator `hat generate` uses, the per-byte
// or per-token costs of a text (/v1/score), and the words of a text (/v1/segment).

import Foundation
import HATGenerate
import HATTokenizer

/// Set once (client gone, server stopping); the generation checks it after every piece.
public final class CancelFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var set = false
    public init() {}
    public func cancel() { lock.lock(); set = true; lock.unlock() }
    public var isCancelled: Bool { lock.lock(); defer { lock.unlock() }; return set }
}

/// Runs `body` on a new thread (8 MiB stack, as the tests' concurrent runs use) and returns its result.
func onThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread { continuation.resume(with: Result { try body() }) }
        thread.stackSize = 8 << 20
        thread.start()
    }
}

struct CompletionOutcome: Sendable {
    var result: GenerationResult
    var usage: Usage
}

extension ServedModel {
    /// The limits a request's max_tokens and stop sequences mean for this model: bytes for a HAT
    /// model, tokens (backbone positions) for a token model.
    func generationLimits(maxTokens: Int, stop: [String]) -> GenerationLimits {
        let stopBytes = stop.map { Array($0.utf8) }
        switch kind {
        case .hat: return GenerationLimits(maxBytes: maxTokens, stop: stopBytes)
        case .token: return GenerationLimits(maxBytes: max(1, maxTokens) * 256, maxWords: maxTokens, stop: stopBytes)
        }
    }

    /// Generates a completion on a pooled session (blocking). `emit` gets whole UTF-8 characters.
    func complete(_ request: CompletionRequest, cancel: CancelFlag, emit: @escaping ([UInt8]) -> Void) throws -> CompletionOutcome {
        let session = try checkOut()
        defer { checkIn(session) }
        let model = session.model
        let startPositions = model.completedPositions
        let generator = Generator(model: model, sampling: request.sampling)
        let prompt = Array(request.prompt.utf8)
        let result = try generator.generate(prompt: prompt, limits: generationLimits(maxTokens: request.maxTokens, stop: request.stop),
                                            emit: { bytes, _ in
            if !bytes.isEmpty { emit(bytes) }
            return !cancel.isCancelled
        })
        let promptPositions = model.completedPositions - startPositions - result.words
        let completionUnits = kind == .hat ? result.bytes.count : result.units
        let promptUnits = kind == .hat ? prompt.count : promptPositions
        let usage = Usage(promptTokens: promptUnits, completionTokens: completionUnits, totalTokens: promptUnits + completionUnits,
                          promptBytes: prompt.count, completionBytes: result.bytes.count,
                          promptWords: promptPositions, completionWords: result.words)
        return CompletionOutcome(result: result, usage: usage)
    }

    /// The cost in bits of every byte of `text` given the document start and all before it,
    /// summed by word (HAT model, words from its splitter) or by token (token model).
    func score(_ text: String, cancel: CancelFlag) throws -> ScoreResult {
        let session = try checkOut()
        defer { checkIn(session) }
        let bytes = Array(text.utf8)
        var pieces: [PieceCost] = []
        var total = 0.0
        switch kind {
        case .hat:
            guard let model = session.model as? ByteModel, let splitter = try makeSplitter() else {
                throw APIError(status: 500, "the model is not byte-level", type: "server_error")
            }
            var costs = [Double](repeating: 0, count: bytes.count)
            for (i, byte) in bytes.enumerated() {
                if cancel.isCancelled { throw CancellationError() }
                costs[i] = bits(of: Int(byte), logits: model.nextByteLogits, count: 256)
                model.feed([byte])
            }
            for range in splitter.split(bytes) {
                let cost = costs[range].reduce(0, +)
                total += cost
                pieces.append(PieceCost(text: String(decoding: bytes[range], as: UTF8.self), bytes: range.count, bits: cost))
            }
        case .token:
            guard let model = session.model as? TokenTextModel else {
                throw APIError(status: 500, "the model is not a token model", type: "server_error")
            }
            var cache = BPEWordCache()
            let ids = try model.tokenizer.encode(utf8: bytes, cache: &cache)
            for id in ids {
                if cancel.isCancelled { throw CancellationError() }
                let cost = bits(of: id, logits: model.nextLogits, count: model.vocabularySize)
                model.feed(unit: id)
                let piece = model.bytes(of: id)
                total += cost
                pieces.append(PieceCost(text: String(decoding: piece, as: UTF8.self), bytes: piece.count, bits: cost))
            }
        }
        return ScoreResult(model: id, bytes: bytes.count, bits: total, bitsPerByte: bytes.isEmpty ? 0 : total / Double(bytes.count),
                           unit: kind == .hat ? "word" : "token", pieces: pieces)
    }

    /// The words of `text` by this model's splitter.
    func segment(_ text: String) throws -> Segmentation {
        guard let splitter = try makeSplitter() else {
            throw APIError(status: 400, "model \"\(id)\" is a token model; /v1/segment needs a byte-level (HAT) model",
                           param: "model", code: "unsupported_model")
        }
        let bytes = Array(text.utf8)
        let ranges = splitter.split(bytes)
        return Segmentation(model: id, words: ranges.map { String(decoding: bytes[$0], as: UTF8.self) },
                            offsets: ranges.map { [$0.lowerBound, $0.upperBound] })
    }
}

/// -log2 softmax(logits)[unit], computed in Double from the largest logit.
func bits(of unit: Int, logits: UnsafePointer<Float>, count: Int) -> Double {
    var top = -Double.infinity
    for i in 0..<count { top = max(top, Double(logits[i])) }
    var sum = 0.0
    for i in 0..<count { sum += exp(Double(logits[i]) - top) }
    let logProbability = Double(logits[unit]) - top - log(sum)
    return -logProbability / log(2.0)
}
