// Cached token-model inference: feeding tokens one at a time (or in chunks) through TokenSession
// gives the logits of the full forward over the whole sequence, within and beyond the cache's
// window, and the same bits for any thread count.

import Foundation
import HATGenerate
import HATModel
import HATTensor
import HATTestSupport
import HATTokenizer
import Testing

@Suite struct TokenSessionTests {
    static let tiny = TinyModel.repositoryRoot + "/Tests/HATIOTests/Fixtures/tiny_llama_f32"

    /// Logits of every position of a full forward over `ids` with the given window.
    func fullLogits(_ config: TokenModelConfig, _ parameters: ParameterSet, _ ids: [Int32], window: Int?) -> [[Float]] {
        var windowed = config
        windowed.blocks.slidingWindow = window
        let model = TokenModel(config: windowed, parameters: parameters, maxTokens: ids.count, context: ComputeContext(threads: 2))
        let positions = (0..<Int32(ids.count)).map { $0 }, starts = [Int32](repeating: 0, count: ids.count)
        let h = model.forward(ids: ids, positions: positions, sequenceStarts: starts, count: ids.count)
        var out: [[Float]] = []
        model.forEachLogits(h) { _, z in out.append(Array(UnsafeBufferPointer(start: z, count: config.vocabularySize))) }
        return out
    }

    @Test(arguments: [(1, 64), (5, 64), (3, 16)])
    func cachedEqualsFullForward(chunk: Int, capacity: Int) throws {
        let (config, parameters) = try TokenModelFiles.load(Self.tiny)
        var rng = RandomGenerator(seed: UInt64(chunk * 100 + capacity))
        let ids = (0..<40).map { _ in Int32(rng.nextInt(below: config.vocabularySize)) }
        let full = fullLogits(config, parameters, ids, window: capacity)
        let session = TokenSession(config: config, parameters: parameters, capacity: capacity, chunkTokens: 8,
                                   context: ComputeContext(threads: 2))
        var worst: Float = 0
        var start = 0
        while start < ids.count {
            let end = min(start + chunk, ids.count)
            session.feed(Array(ids[start..<end]))
            let cached = session.logits.toArray()
            worst = max(worst, zip(cached, full[end - 1]).map { abs($0 - $1) }.max()!)
            start = end
        }
        #expect(worst < 1e-4, "max |cached − full| logit \(worst) (chunks of \(chunk), window \(capacity))")
        #expect(session.count == ids.count)
        session.reset()
        session.feed(Array(ids[0..<3]))
        #expect(zip(session.logits.toArray(), full[2]).map { abs($0 - $1) }.max()! < 1e-4, "reset starts over")
    }

    /// A token model with packed weights (as `--weights` loads it): one token at a time (the packed
    /// kernels) gives the full forward's logits over the same parameters (sgemm).
    @Test(arguments: [WeightFormat.bf16, .q8_0, .q4_1])
    func packedWeightsStepAsTheFullForward(format: WeightFormat) throws {
        let (config, parameters) = try TokenModelFiles.load(Self.tiny, weights: format)
        #expect(parameters.packedFormats == [format] && parameters.packedBytes > 0)
        let ids: [Int32] = [1, 5, 9, 2, 31, 0, 7, 7, 7, 12, 30, 4]
        let full = fullLogits(config, parameters, ids, window: 64)
        let session = TokenSession(config: config, parameters: parameters, capacity: 64, context: ComputeContext(threads: 2))
        var worst: Float = 0
        for (k, id) in ids.enumerated() {
            session.feed([id])
            worst = max(worst, zip(session.logits.toArray(), full[k]).map { abs($0 - $1) }.max()!)
        }
        #expect(worst < 1e-4, "\(format.rawValue): max |cached − full| logit \(worst)")
    }

    @Test func sameBitsForAnyThreadCount() throws {
        let (config, parameters) = try TokenModelFiles.load(Self.tiny)
        let ids: [Int32] = [1, 5, 9, 2, 31, 0, 7, 7, 7, 12, 30, 4]
        var results: [[Float]] = []
        for threads in [1, 2, 3, 8] {
            let session = TokenSession(config: config, parameters: parameters, capacity: 64, context: ComputeContext(threads: threads))
            session.feed(ids)
            results.append(session.logits.toArray())
        }
        #expect(results.allSatisfy { $0 == results[0] })
    }
}

// A token model through the same Generator as HAT models: greedy text equals decoding argmax
// tokens of the full forward by hand; stop sequences may end inside a token; the byte limit cuts
// a token; invalid UTF-8 prompts are refused with an error.
@Suite struct TokenGenerationTests {
    static let teacher = TinyModel.repositoryRoot + "/Tests/HATModelTests/Fixtures/token-model/tiny_teacher.gguf"

    @Test func greedyTextEqualsArgmaxOfTheFullForward() throws {
        let model = try TokenTextModel(source: Self.teacher, context: ComputeContext(threads: 2))
        let prompt = Array("It is a truth universally".utf8)
        let result = try Generator(model: model, sampling: .greedy).generate(prompt: prompt, limits: GenerationLimits(maxBytes: 40))

        // By hand: the full forward over [document start] + prompt tokens + what was chosen so far.
        let (config, parameters) = try TokenModelFiles.load(Self.teacher)
        let full = TokenModel(config: config, parameters: parameters, maxTokens: 128, context: ComputeContext(threads: 2))
        var ids = [Int32(TokenizerText.documentStart(model.tokenizer)!)] + model.tokenizer.encode("It is a truth universally").map { Int32($0) }
        var bytes: [UInt8] = []
        while bytes.count < 40 {
            let positions = (0..<Int32(ids.count)).map { $0 }, zeros = [Int32](repeating: 0, count: ids.count)
            let h = full.forward(ids: ids, positions: positions, sequenceStarts: zeros, count: ids.count)
            var best = 0
            full.forEachLogits(h.rows((ids.count - 1)..<ids.count)) { _, z in
                for i in 1..<config.vocabularySize where z[i] > z[best] { best = i }
            }
            if model.ends(best) { break }
            ids.append(Int32(best))
            bytes += model.bytes(of: best)
        }
        #expect(result.bytes == Array(bytes.prefix(40)), "cached \(result.bytes) vs full \(bytes)")
        #expect(result.units > 0 && result.words == result.units)
    }

    @Test func stopInsideATokenAndTheByteLimitCut() throws {
        let model = try TokenTextModel(source: Self.teacher, context: ComputeContext(threads: 2))
        let generator = Generator(model: model, sampling: .greedy)
        let free = try generator.generate(prompt: Array("Call me".utf8), limits: GenerationLimits(maxBytes: 60))
        try #require(free.bytes.count >= 12)
        // Stop at two bytes that start in the middle of the output (likely inside a token).
        let p = try #require((3..<(free.bytes.count - 1)).first { p in
            !(0..<p).contains { free.bytes[$0..<($0 + 2)] == free.bytes[p..<(p + 2)] }
        })
        model.reset()
        let stopped = try generator.generate(prompt: Array("Call me".utf8),
                                             limits: GenerationLimits(maxBytes: 60, stop: [Array(free.bytes[p..<(p + 2)])]))
        #expect(stopped.stopReason == .stopSequence && stopped.bytes == Array(free.bytes[0..<p]))
        model.reset()
        let short = try generator.generate(prompt: Array("Call me".utf8), limits: GenerationLimits(maxBytes: 7))
        #expect(short.bytes == Array(free.bytes[0..<7]) && short.stopReason == .maxBytes)
        #expect(throws: (any Error).self) {
            _ = try generator.generate(prompt: [0x41, 0xFF, 0x42], limits: GenerationLimits(maxBytes: 4))
        }
    }
}
