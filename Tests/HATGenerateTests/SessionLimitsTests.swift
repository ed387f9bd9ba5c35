// A generation session's sizes (issue item 5): context limits beyond `Limits` are refused before
// anything is allocated, the plan of what a session allocates equals what its arena hands out,
// and feeding a long prompt in pieces (to report progress) gives the same logits as at once;
// skipping the decoder rows of a long input that nothing reads changes no bit (issue 14 item 4).

import Foundation
@testable import HATGenerate
import HATModel
import HATTensor
import HATTestSupport
import Testing

@Suite struct SessionLimits {
    @Test(arguments: [ContextLimits(words: 10_000_000), ContextLimits(words: 1), ContextLimits(bytes: 0),
                      ContextLimits(bytes: Limits.positions + 1)])
    func contextsBeyondTheLimitsAreRefused(_ limits: ContextLimits) throws {
        let (config, parameters) = try tinyModel()
        let error = try #require(throws: SessionError.self) {
            try GenerationSession(config: config, parameters: parameters, limits: limits, context: testContext())
        }
        #expect(error.message.contains(String(Limits.positions)), "\(error)")
    }

    @Test(arguments: [(false, 16, 2), (true, 300, 1)])
    func sessionPlanEqualsTheArena(_ everyLayer: Bool, _ chunk: Int, _ threads: Int) throws {
        let (config, parameters) = try tinyModel(everyLayer: everyLayer)
        let limits = ContextLimits(words: 40, bytes: 64)
        let session = try GenerationSession(config: config, parameters: parameters, limits: limits, chunkBytes: chunk,
                                            context: testContext(threads))
        let requests = GenerationSession.plannedRequests(config, limits: limits, chunkBytes: chunk, threads: threads)
        let plan = try #require(Arena.plannedFloats(requests.arena))
        #expect(plan.used == session.arena.usedFloats)
        #expect(plan.reserved * 4 >= session.arena.reservedBytes)
    }

    @Test(arguments: [(false, 64), (true, 64), (false, 16), (true, 200)])
    func skippingUnreadDecoderRowsChangesNoBit(_ everyLayer: Bool, _ chunk: Int) throws {
        let (config, parameters) = try tinyModel(everyLayer: everyLayer)
        // Long words (cut at the word cap, so re-splits roll bytes back), several scripts, and
        // two long inputs in a row before greedy bytes.
        let text = "Supercalifragilisticexpialidocious words, Grüße aus Köln, 你好世界, someCamelCase   tabs\tand\n"
        let prompt = Array(String(repeating: text, count: 6).utf8)
        var runs: [[UInt32]] = []   // the logits' bits after each input and each greedy byte
        for everyByte in [true, false] {
            let session = try GenerationSession(config: config, parameters: parameters, chunkBytes: chunk, context: testContext())
            session.decodesEveryByte = everyByte
            var bits: [UInt32] = []
            func record() { bits += (0..<256).map { session.logits.row(0)[$0].bitPattern } }
            session.feed(Array(prompt[..<301]))
            record()
            session.feed(Array(prompt[301...]))
            record()
            for _ in 0..<40 {
                session.feed([UInt8(VectorMath.argmax(session.logits.row(0), count: 256))])
                record()
            }
            runs.append(bits)
        }
        let firstDifference = zip(runs[0], runs[1]).enumerated().first { $0.element.0 != $0.element.1 }?.offset
        #expect(firstDifference == nil && runs[0].count == runs[1].count,
                "logits differ first at input \((firstDifference ?? 0) / 256), byte value \((firstDifference ?? 0) % 256)")
    }

    @Test func aPromptFedInPiecesGivesTheSameLogits() throws {
        let (config, parameters) = try tinyModel()
        let prompt = Array(String(repeating: "It was the best of times, it was the worst of times. ", count: 1300).utf8)
        let whole = try GenerationSession(config: config, parameters: parameters, chunkBytes: 64, context: testContext())
        whole.feed(prompt)
        let pieces = try GenerationSession(config: config, parameters: parameters, chunkBytes: 64, context: testContext())
        var reports: [Int] = []
        _ = try Generator(model: pieces, sampling: .greedy).generate(prompt: prompt, limits: GenerationLimits(maxBytes: 0),
                                                                 prefillProgress: { done, _ in reports.append(done) })
        #expect(reports.count == 2 && reports.last == prompt.count, "\(reports)")
        #expect((0..<256).allSatisfy { whole.logits.row(0)[$0].bitPattern == pieces.logits.row(0)[$0].bitPattern })
    }
}
