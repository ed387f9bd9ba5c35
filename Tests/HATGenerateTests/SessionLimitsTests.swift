// A generation session's sizes (issue item 5): context limits beyond `Limits` are refused before
// anything is allocated, the plan of what a session allocates equals what its arena hands out,
// and feeding a long prompt in pieces (to report progress) gives the same logits as at once.

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
