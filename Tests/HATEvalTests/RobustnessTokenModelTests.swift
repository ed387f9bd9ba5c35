// Robustness with a token model (Sources/HATEval/RobustnessScoring.swift): the tiny token teacher
// (Fixtures/token-model/tiny_teacher.gguf, a random Llama with a real BPE tokenizer) scores samples
// on the same bytes as a HAT model — its target and context losses are those of one full forward
// over [document start] + context tokens + target tokens — next-word accuracy read from the
// forward equals greedy decoding's, and a run comparing a HAT model with it reports relative
// degradations and paired differences that agree with the per-model figures.

import Foundation
import HATEval
import HATModel
import HATTensor
import HATTestSupport
import HATText
import HATTokenizer
import Testing

@Suite struct RobustnessTokenModelTests {
    static let teacher = TinyModel.repositoryRoot + "/Tests/HATModelTests/Fixtures/token-model/tiny_teacher.gguf"

    func samples(_ splitter: WordSplitter) -> [RobustnessSample] {
        let documents = (0..<2).map { Document(name: "tiny\($0).txt", bytes: Array(robustCorpus(words: 200, seed: UInt64(10 + $0)).utf8)) }
        return RobustnessSamples.draw(documents: documents, splitter: splitter, contextWords: 12, targetWords: 4, count: 8, seed: 0)
    }

    @Test func tokenScoresAreTheFullForwardsLossesOnTheSameBytes() throws {
        let bundle = try TokenModelBundle(path: Self.teacher)
        let splitter = try RobustnessModel.sampleSplitter([])
        let items = samples(splitter).map { ($0.context, $0.target) }
        let scorer = try TokenSampleScorer(bundle: bundle, splitter: splitter, context: testContext())
        let scores = try scorer.score(items)
        let model = TokenModel(config: bundle.config, parameters: bundle.parameters, maxTokens: 512, context: testContext())
        let start = Int32(try #require(TokenizerText.documentStart(bundle.tokenizer)))
        for (item, score) in zip(items, scores) {
            let context = try bundle.tokenizer.encode(utf8: item.0).map { Int32($0) }
            let target = try bundle.tokenizer.encode(utf8: item.1).map { Int32($0) }
            let ids = [start] + context + target
            let h = model.forward(ids: ids, positions: (0..<Int32(ids.count)).map { $0 },
                                  sequenceStarts: [Int32](repeating: 0, count: ids.count), count: ids.count)
            // Logits of every row, as the scorer computes them (the last row's are not a loss): a BLAS
            // may round a row differently with another number of rows in the product (OpenBLAS's
            // Zen kernels do), and this test compares to the last bit.
            var losses: [Double] = []
            model.forEachLogits(h) { j, z in
                if j + 1 < ids.count { losses.append(TokenModel.logSumExp(z, bundle.config.vocabularySize) - Double(z[Int(ids[j + 1])])) }
            }
            let text = losses[0..<context.count].reduce(0, +), tail = losses[context.count...].reduce(0, +)
            #expect(abs(score.textNats - text) < 1e-9 * text && abs(score.targetNats - tail) < 1e-9 * tail)
            #expect(score.textBytes == item.0.count && score.targetBytes == item.1.count)
        }
    }

    @Test func nextWordFromTheForwardEqualsGreedyDecoding() throws {
        let bundle = try TokenModelBundle(path: Self.teacher)
        let splitter = try RobustnessModel.sampleSplitter([])
        // Contexts that end inside a sentence and contexts cut mid-word both occur.
        var items = samples(splitter).map { ($0.context, $0.target) }
        items += items.map { (Array($0.0.dropLast(2)), Array($0.0.suffix(2)) + $0.1) }
        let forward = try TokenSampleScorer(bundle: bundle, mode: .forward, splitter: splitter, context: testContext())
        let generate = try TokenSampleScorer(bundle: bundle, mode: .generate, splitter: splitter, context: testContext())
        let a = try forward.score(items), b = try generate.score(items)
        #expect(a.map(\.nextWordCorrect) == b.map(\.nextWordCorrect))
        #expect(b.allSatisfy { $0.predictedWord != nil && $0.nextWordCorrectTrimmed != nil })
        #expect(zip(a, b).allSatisfy { abs($0.targetNats - $1.targetNats) < 1e-9 * $0.targetNats })
    }

    @Test func aRunComparesAHATModelWithATokenModel() throws {
        let (config, parameters) = try robustTinyModel()
        let models = [RobustnessModel(name: "hat", path: "(memory)", config: config, parameters: parameters),
                      RobustnessModel(name: "teacher", path: Self.teacher, weights: .token(try TokenModelBundle(path: Self.teacher)))]
        var options = RobustnessOptions(perturbations: ["swap", "diacritics"])
        options.rates = [0.2, 0.5]
        options.bootstrap = BootstrapSettings(resamples: 100, seed: 0)
        let drawn = samples(try RobustnessModel.sampleSplitter(models))
        let results = try RobustnessRun.run(models: models, samples: drawn, options: options, misspellings: nil, folio: nil,
                                            context: testContext())
        #expect(results.status == "complete" && results.models.count == 2)
        let comparison = try #require(results.comparisons.first)
        #expect(results.comparisons.count == 1 && comparison.model == "teacher" && comparison.reference == "hat")
        #expect(comparison.conditions.map(\.perturbation) == ["swap", "swap", "diacritics", "diacritics"])
        let (hat, token) = (results.models[0], results.models[1])
        let (hatClean, tokenClean) = (try #require(hat.clean), try #require(token.clean))
        #expect(abs(comparison.cleanTargetBitsPerByteDifference.estimate
                    - (tokenClean.targetBitsPerByte.estimate - hatClean.targetBitsPerByte.estimate)) < 1e-9)
        for (k, c) in comparison.conditions.enumerated() {
            let (h, t) = (hat.conditions[k], token.conditions[k])
            let (hd, td) = (try #require(h.targetBitsPerByteDelta), try #require(t.targetBitsPerByteDelta))
            #expect(abs(c.deltaDifference.estimate - (td.estimate - hd.estimate)) < 1e-9)
            let tr = try #require(t.targetBitsPerByteRelativeDelta)
            #expect(abs(tr.estimate - td.estimate / tokenClean.targetBitsPerByte.estimate) < 1e-9)
            #expect(c.deltaDifference.low <= c.deltaDifference.estimate + 1e-12 && c.deltaDifference.estimate <= c.deltaDifference.high + 1e-12)
            if t.changedSamples == 0 { #expect(td == Interval(estimate: 0, low: 0, high: 0)) }
        }
        let report = RobustnessReport.markdown(results, charts: [])
        #expect(report.contains("## teacher against hat") && report.contains("relative difference, pp"))
        // The comparisons survive a JSON round trip.
        #expect(try RobustnessOutput.decode(RobustnessOutput.encode(results)) == results)
    }
}
