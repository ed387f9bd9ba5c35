// Cached token-model inference: feeding tokens one at a time (or in chunks) through TokenSession
// gives the logits of the full forward over the whole sequence, within and beyond the cache's
// window, and the same bits for any thread count.

import Foundation
import HATGenerate
import HATModel
import HATTensor
import HATTestSupport
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
        let (config, parameters, _) = try TokenModelFiles.load(Self.tiny)
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

    @Test func sameBitsForAnyThreadCount() throws {
        let (config, parameters, _) = try TokenModelFiles.load(Self.tiny)
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
