// Tests of the robustness evaluation (Sources/HATEval/Robustness*.swift, Bootstrap.swift):
// the bootstrap on hand-computed cases, per-byte losses against hand values and against the
// model's own summed loss, the target/context split of a row, next-word logic with a scripted
// byte model and against the real greedy generator, samples (deterministic, non-overlapping,
// whole words), perturbation seeds (identity at rate 0, deterministic, rate-respecting, nested
// across rates), and a whole run with its report on a tiny random model and corpus.

import Foundation
import HATEval
import HATGenerate
import HATModel
import HATTensor
import HATText
import HATTestSupport
import Testing

// MARK: - Helpers

func robustTinyModel(seed: UInt64 = 7, std: Float = 0.3) throws -> (HATConfig, ParameterSet) {
    try TinyModel.spread(seed: seed, std: std)
}

/// A fresh context for a model or scorer of a test.
func testContext(_ threads: Int = 2) -> ComputeContext { ComputeContext(threads: threads) }

func splitterOf(_ config: HATConfig) throws -> WordSplitter {
    try WordSplitter(options: SplitterOptions(mode: .hat, maxWordBytes: config.maxWordSize))
}

/// Plain English-like text of `n` words from a fixed vocabulary.
func robustCorpus(words n: Int, seed: UInt64) -> String {
    let vocabulary = ["the", "garden", "planet", "stone", "and", "bright", "cloud", "winter", "of", "dragon",
                      "forest", "quaint", "ocean", "silver", "harbor,", "candle.", "meadow", "frost", "Mirth", "Winter"]
    var rng = RandomGenerator(seed: seed)
    return (0..<n).map { i in vocabulary[rng.nextInt(below: vocabulary.count)] + (i % 17 == 16 ? "\n" : "") }
        .joined(separator: " ")
}

let robustExcerpt: MisspellingTable = try! MisspellingTable.load(
    path: Bundle.module.url(forResource: "Fixtures", withExtension: nil)!.path + "/codespell_excerpt.tsv")

/// Every perturbation of the catalogue (misspell with the committed excerpt).
let robustPerturbations: [any Perturbation] = Perturbations.catalogue.map {
    try! Perturbations.named($0.name, misspellings: robustExcerpt)
}

/// A next-byte model that, after its context, emits a fixed script (then end-of-sequence).
final class ScriptedModel: ByteModel {
    let script: [UInt8]
    var contextLength: Int? = nil
    var fed = 0
    var feeds = 0
    let logits = UnsafeMutablePointer<Float>.allocate(capacity: 256)
    init(script: [UInt8]) { self.script = script }
    deinit { logits.deallocate() }
    func reset() { contextLength = nil; fed = 0 }
    func feed(_ bytes: [UInt8]) {
        feeds += 1
        if contextLength == nil { contextLength = bytes.count } else { fed += bytes.count }
    }
    var nextByteLogits: UnsafePointer<Float> {
        for i in 0..<256 { logits[i] = 0 }
        logits[fed < script.count ? Int(script[fed]) : 192] = 5
        return UnsafePointer(logits)
    }
    var completedWords: Int { 0 }
    var endOfSequence: UInt8 { 192 }
}

// MARK: - Bootstrap

@Suite struct BootstrapTests {
    @Test func percentileInterpolatesOrderStatistics() {
        let x = [1.0, 2, 3, 4, 5]
        #expect(Bootstrap.percentile(x, 0) == 1)
        #expect(Bootstrap.percentile(x, 1) == 5)
        #expect(Bootstrap.percentile(x, 0.25) == 2)
        #expect(abs(Bootstrap.percentile(x, 0.1) - 1.4) < 1e-12)     // position 0.4 between 1 and 2
        #expect(Bootstrap.percentile([], 0.5).isNaN)
    }

    @Test func resamplesAreSeededMultiplicities() {
        let s = BootstrapSettings(resamples: 50, seed: 3)
        let a = Bootstrap.multiplicities(samples: 7, settings: s)
        #expect(a.count == 50)
        #expect(a.allSatisfy { $0.count == 7 && $0.reduce(0, +) == 7 })
        #expect(a == Bootstrap.multiplicities(samples: 7, settings: s))
        #expect(a != Bootstrap.multiplicities(samples: 7, settings: BootstrapSettings(resamples: 50, seed: 4)))
    }

    /// Two samples, values 0 and 1: a resample's mean is 0, 1/2 or 1 with probabilities 1/4,
    /// 1/2, 1/4, so the 95 % interval is [0, 1] and about half the resamples give 1/2.
    @Test func twoPointMeanByHand() {
        let s = BootstrapSettings(resamples: 4000, seed: 1)
        let draws = Bootstrap.multiplicities(samples: 2, settings: s)
        let i = Bootstrap.mean([0, 1], settings: s, resamples: draws)
        #expect(i.estimate == 0.5 && i.low == 0 && i.high == 1)
        let half = draws.filter { $0[0] == 1 }.count
        #expect(abs(Double(half) / 4000 - 0.5) < 0.03, "\(half) of 4000 resamples had mean 1/2")
    }

    /// Pooled bits per byte: 10 bytes at 1 bit and 30 bytes at 3 bits give 100/40 = 2.5 bits per
    /// byte (not the mean of 1 and 3); resamples give 1 (first twice), 3 (second twice) or 2.5.
    @Test func pooledBitsPerByteByHand() {
        let ln2 = log(2.0)
        let nats = [10 * ln2, 90 * ln2], bytes = [10.0, 30.0]
        let i = Bootstrap.bitsPerByte(nats: nats, bytes: bytes, settings: BootstrapSettings(resamples: 2000, seed: 2))
        #expect(abs(i.estimate - 2.5) < 1e-12)
        #expect(abs(i.low - 1) < 1e-12 && abs(i.high - 3) < 1e-12, "\(i)")
    }

    @Test func constantPairedDifferenceHasAZeroWidthInterval() {
        var rng = RandomGenerator(seed: 5)
        let b = (0..<100).map { _ in rng.nextDouble() }
        let a = b.map { $0 + 0.25 }
        let i = Bootstrap.meanDifference(a, minus: b, settings: BootstrapSettings(resamples: 300, seed: 0))
        #expect(abs(i.estimate - 0.25) < 1e-12 && abs(i.low - 0.25) < 1e-12 && abs(i.high - 0.25) < 1e-12)
        #expect(i.excludesZero)
        // Same nats and bytes on both sides: the difference is exactly 0.
        let bytes = b.map { _ in 10.0 }
        let d = Bootstrap.bitsPerByteDifference(nats: b, bytes: bytes, minus: b, bytes: bytes,
                                                settings: BootstrapSettings(resamples: 100))
        #expect(d == Interval(estimate: 0, low: 0, high: 0))
    }

    /// The percentile interval of a mean of n normal values is close to ±1.96 σ/√n.
    @Test func intervalWidthOfANormalMean() {
        var rng = RandomGenerator(seed: 9)
        let x = (0..<400).map { _ in Double(rng.nextNormal()) }
        let mean = x.reduce(0, +) / 400
        let sd = (x.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 399).squareRoot()
        let i = Bootstrap.mean(x, settings: BootstrapSettings(resamples: 2000, seed: 4))
        let expected = 2 * 1.96 * sd / 20
        #expect(abs((i.high - i.low) / expected - 1) < 0.15, "width \(i.high - i.low), expected \(expected)")
        #expect(i.low < mean && mean < i.high)
    }
}

// MARK: - Per-byte losses and the target/context split

@Suite(.serialized) struct RobustnessMetricTests {
    @Test func byteLossByHand() {
        var z = [Float](repeating: 0, count: 256)
        #expect(abs(ByteLoss.nats(logits: z, target: 7) - log(256.0)) < 1e-12)
        z[5] = Float(log(3.0))          // p(5) = 3 / (255 + 3)
        #expect(abs(ByteLoss.nats(logits: z, target: 5) - log(258.0 / 3)) < 1e-6)
        #expect(abs(ByteLoss.nats(logits: z, target: 6) - log(258.0)) < 1e-6)
        z[9] = 1000                     // no overflow: p(9) ≈ 1
        #expect(ByteLoss.nats(logits: z, target: 9) < 1e-9)
    }

    /// With lm_head = 0 every logit is 0: each byte costs ln 256 nats, i.e. exactly 8 bits.
    @Test func uniformModelCostsEightBitsPerByte() throws {
        let (config, parameters) = try robustTinyModel()
        parameters.value("lm_head.weight").zero()
        let scorer = try SampleScorer(config: config, parameters: parameters, batchBytes: 256, longestRow: 256, context: testContext())
        let items: [(context: [UInt8], target: [UInt8])] = [
            (Array("The garden and the stone".utf8), Array(" of winter.".utf8)),
            (Array("Привет, мир".utf8), Array(" и всё".utf8)),
        ]
        let scores = try scorer.score(items)
        for (s, item) in zip(scores, items) {
            #expect(s.targetBytes == item.target.count && s.textBytes == item.context.count)
            #expect(abs(s.targetNats / Double(s.targetBytes) / log(2.0) - 8) < 1e-9)
            #expect(abs(s.textNats / Double(s.textBytes) / log(2.0) - 8) < 1e-9)
        }
    }

    /// Context and target losses add up to the forward's summed loss of the row, the target's
    /// share equals loss([EOS] + context + target) − loss([EOS] + context) (the model is causal
    /// and the context ends at a word boundary), and batching does not change scores.
    @Test func targetAndContextSplitTheRowsLoss() throws {
        let (config, parameters) = try robustTinyModel()
        let splitter = try splitterOf(config)
        let items: [(context: [UInt8], target: [UInt8])] = [
            (Array("The quick brown fox jumps over".utf8), Array(" the lazy dog.".utf8)),
            (Array("Grüße aus Köln, sagte sie".utf8), Array(" leise.".utf8)),
            (Array("one".utf8), Array(" two three".utf8)),
        ]
        let one = try SampleScorer(config: config, parameters: parameters, batchBytes: 64, longestRow: 64, context: testContext())
        let many = try SampleScorer(config: config, parameters: parameters, batchBytes: 4096, longestRow: 64, context: testContext())
        let a = try one.score(items), b = try many.score(items)
        for (x, y) in zip(a, b) {
            #expect(abs(x.targetNats - y.targetNats) < 1e-3 && abs(x.textNats - y.textNats) < 1e-3, "\(x) vs \(y)")
        }
        func rowLoss(_ bytes: [UInt8]) -> Double {
            var stream = WordStream()
            stream.appendDocument(bytes, splitter: splitter, endOfSequence: 192)
            let batch = Batch(maxBytes: 256, maxWords: 256, config: config)
            let model = HierarchicalModel(config: config, parameters: parameters, maxBytes: 256, maxWords: 256, context: testContext())
            batch.appendRow(stream, words: 0..<stream.wordCount)
            batch.finish()
            return model.forward(batch).lossSum
        }
        for (s, item) in zip(a, items) {
            let whole = rowLoss(item.context + item.target), context = rowLoss(item.context)
            #expect(abs(s.textNats + s.targetNats - whole) < 1e-3 * max(1, whole), "\(s.textNats) + \(s.targetNats) vs \(whole)")
            #expect(abs(s.textNats - context) < 1e-3 * max(1, context), "context \(s.textNats) vs \(context)")
        }
    }

    /// Per-byte evaluation gives Evaluator.evaluate's totals, and visits each predicted byte once.
    @Test func byteLossEvaluationMatchesEvaluator() throws {
        let (config, parameters) = try robustTinyModel()
        let splitter = try splitterOf(config)
        var stream = WordStream()
        for d in 0..<3 { stream.appendDocument(Array(robustCorpus(words: 60, seed: UInt64(d)).utf8), splitter: splitter, endOfSequence: 192) }
        let rows = stream.rows(wordsPerRow: 32, maxRowBytes: 128)
        let batch = Batch(maxBytes: 256, maxWords: 64, config: config)
        let model = HierarchicalModel(config: config, parameters: parameters, maxBytes: 256, maxWords: 64, context: testContext())
        let reference = Evaluator.evaluate(model: model, stream: stream, rows: rows, batch: batch)
        var visited = [Int](repeating: 0, count: stream.byteCount), sum = 0.0
        var ends = 0
        let result = try ByteLoss.evaluate(model: model, stream: stream, rows: rows, batch: batch,
                                           rowEnd: { _ in ends += 1 }) { i, nats, _ in
            visited[i] += 1
            sum += nats
        }
        #expect(result.predictedBytes == reference.predictedBytes && result.bytes == reference.bytes)
        #expect(abs(result.lossNats - reference.lossNats) < 1e-6 * reference.lossNats)
        #expect(abs(sum - reference.lossNats) < 1e-5 * reference.lossNats, "\(sum) vs \(reference.lossNats)")
        #expect(ends == rows.count)
        let rowStarts = Set(rows.map { stream.wordStart($0.lowerBound) })
        for i in 0..<stream.byteCount { #expect(visited[i] == (rowStarts.contains(i) ? 0 : 1)) }
    }

    @Test func stopRequestInterruptsTheEvaluation() throws {
        let (config, parameters) = try robustTinyModel()
        let scorer = try SampleScorer(config: config, parameters: parameters, mode: .generate, batchBytes: 64, longestRow: 64, context: testContext())
        scorer.shouldStop = { true }
        #expect(throws: RobustnessError.interrupted) { try scorer.score([(Array("a b".utf8), Array(" c".utf8))]) }
    }
}

// MARK: - Next word

@Suite struct NextWordTests {
    let splitter = try! WordSplitter(options: SplitterOptions(mode: .hat, maxWordBytes: 12))
    let context = Array("The cat sat on the".utf8)

    @Test func referenceIsTheTargetsFirstWord() {
        #expect(NextWord.reference(context: context, target: Array(" mat. And then".utf8), splitter: splitter) == Array(" mat.".utf8))
        #expect(NextWord.reference(context: context, target: Array("\n\nNext".utf8), splitter: splitter) == Array("\n".utf8))
        #expect(NextWord.reference(context: [], target: Array("Hello, world".utf8), splitter: splitter) == Array("Hello,".utf8))
    }

    @Test func greedyStopsWhenTheFirstWordIsComplete() {
        let model = ScriptedModel(script: Array(" mat. And so on".utf8))
        let word = NextWord.greedy(model: model, context: context, splitter: splitter, maxBytes: 13)
        #expect(word == Array(" mat.".utf8))
        #expect(model.feeds == 1 + 5, "the context, then each byte before the one that starts the next word")
    }

    @Test func aByteThatJoinsTheLastContextWordIsItsOwnPrediction() {
        let model = ScriptedModel(script: Array(", and".utf8))    // "the," — the boundary moves after ","
        #expect(NextWord.greedy(model: model, context: context, splitter: splitter, maxBytes: 13) == Array(",".utf8))
    }

    @Test func endOfSequenceAndByteLimit() {
        #expect(NextWord.greedy(model: ScriptedModel(script: []), context: context, splitter: splitter, maxBytes: 13).isEmpty)
        let long = ScriptedModel(script: Array((" " + String(repeating: "a", count: 40)).utf8))
        let word = NextWord.greedy(model: long, context: context, splitter: splitter, maxBytes: 13)
        #expect(word == Array((" " + String(repeating: "a", count: 11)).utf8), "the word cap (12 bytes) ends the word")
        #expect(long.feeds <= 14)
    }

    @Test func trimmedComparison() {
        #expect(NextWord.sameTrimmed(Array("\nmat".utf8), Array(" mat".utf8)))
        #expect(!NextWord.sameTrimmed(Array(" mat,".utf8), Array(" mat".utf8)))
        #expect(!NextWord.sameTrimmed(Array("\n\n".utf8), Array("\n".utf8)), "whitespace-only references must match exactly")
        #expect(NextWord.sameTrimmed(Array("\n".utf8), Array("\n".utf8)))
        #expect(!NextWord.sameTrimmed([], []))
    }

    /// On a real model the predicted word is a prefix of what the greedy generator writes.
    @Test func greedyAgreesWithTheGenerator() throws {
        let (config, parameters) = try robustTinyModel()
        let splitter = try splitterOf(config)
        for text in ["The quick brown fox", "Hello, world! How", "Grüße aus"] {
            let session = try GenerationSession(config: config, parameters: parameters, context: testContext())
            let word = NextWord.greedy(model: session, context: Array(text.utf8), splitter: splitter, maxBytes: 13)
            let reference = try GenerationSession(config: config, parameters: parameters, context: testContext())
            let generated = try Generator(model: reference, sampling: .greedy)
                .generate(prompt: Array(text.utf8), limits: GenerationLimits(maxBytes: 13)).bytes
            #expect(Array(generated.prefix(word.count)) == word, "\(text): \(word) vs \(generated)")
        }
    }
}

@Suite struct GreedyFromTheForward {
    let splitter = try! WordSplitter(options: SplitterOptions(mode: .hat, maxWordBytes: 12))
    let prefix = Array(" the".utf8)[...]

    func matches(_ reference: String, _ target: [UInt8], _ argmax: [Int]) -> Bool? {
        NextWord.greedyMatches(reference: Array(reference.utf8), prefix: prefix, target: target, argmaxAlong: argmax,
                               endOfSequence: 192, maxBytes: 13, splitter: splitter)
    }

    @Test func decidedCases() {
        let target = Array(" mat. And".utf8)
        let along = target.map(Int.init) + [32]
        #expect(matches(" mat.", target, along) == true)
        #expect(matches(" mat.", target, [32, 109, 111] + along.dropFirst(3)) == false, "leaves the word at its third byte")
        #expect(matches(" mat.", target, [32, 109, 97, 116, 192]) == false, "end of sequence before the word is complete")
        #expect(matches(" mat.", target, [32, 109, 97, 116, 46, 192]) == true, "end of sequence right after it")
        #expect(matches(" mat.", target, [32, 109, 97, 116, 46, 32]) == true)
        #expect(matches(" mat.", target, [32, 109, 97, 116, 46, 46, 32]) == nil, "greedy writes ' mat..', off the target, not yet final")
        #expect(matches("", target, along) == false)
    }

    /// After "?" a lead byte alone does not end the word; the forward can follow greedy only
    /// while greedy writes the target's bytes.
    @Test func multiByteContinuation() {
        let target: [UInt8] = [63, 0xDF, 0x89, 0x41]
        #expect(matches("?", target, [63, 0xDF, 0x89, 0x41, 32]) == true)
        #expect(matches("?", target, [63, 0xE0, 0x41]) == nil, "greedy leaves the target with another lead byte")
        #expect(matches("?", target, [63, 0xDF, 0x41]) == true, "an invalid byte after the lead byte ends the word")
        #expect(matches("?", target, [63, 32]) == true)
    }
}

/// Next-word accuracy read from the forward equals greedy decoding's, on targets that are the
/// model's own greedy continuation (correct) and on the same with one byte of the first word
/// changed, or with the next word glued on (incorrect).
@Suite(.serialized) struct NextWordModesAgree {
    @Test func forwardAndGenerateAgree() throws {
        let (config, parameters) = try robustTinyModel()
        let splitter = try splitterOf(config)
        let contexts = ["The quick brown fox", "Hello, world! How are", "Grüße aus", "one two three four five",
                        "Call me Ishmael. Some years ago", "It was the best of times,"]
        var items: [(context: [UInt8], target: [UInt8])] = []
        var expected: [Bool] = []
        for text in contexts {
            let context = Array(text.utf8)
            let session = try GenerationSession(config: config, parameters: parameters, context: testContext())
            let own = try Generator(model: session, sampling: .greedy).generate(prompt: context, limits: GenerationLimits(maxBytes: 40)).bytes
            let word = NextWord.greedy(model: try GenerationSession(config: config, parameters: parameters, context: testContext()), context: context,
                                       splitter: splitter, maxBytes: config.maxWordSize + 1)
            guard !word.isEmpty, own.count > word.count else { continue }
            items.append((context, own))                               // the model's own continuation
            expected.append(true)
            var changed = own
            changed[word.count - 1] = changed[word.count - 1] == 0x41 ? 0x42 : 0x41
            items.append((context, changed))                           // last byte of the first word changed
            expected.append(false)
        }
        #expect(items.count >= 6, "the tiny model should write words after most contexts")
        let longest = items.map { 1 + $0.context.count + $0.target.count }.max()!
        let forward = try SampleScorer(config: config, parameters: parameters, mode: .forward, batchBytes: 512, longestRow: longest, context: testContext())
            .score(items)
        let generate = try SampleScorer(config: config, parameters: parameters, mode: .generate, batchBytes: 512, longestRow: longest, context: testContext())
            .score(items)
        for k in items.indices {
            #expect(forward[k].nextWordCorrect == generate[k].nextWordCorrect,
                    "\(String(decoding: items[k].context, as: UTF8.self)) + \(items[k].target): forward \(forward[k].nextWordCorrect), generate \(generate[k].nextWordCorrect) (\(generate[k].predictedWord ?? []))")
            #expect(generate[k].nextWordCorrect == expected[k])
            #expect(forward[k].targetNats == generate[k].targetNats && forward[k].textNats == generate[k].textNats)
            #expect(forward[k].predictedWord == nil && generate[k].predictedWord != nil)
        }
    }
}

// MARK: - Samples and perturbation seeds

@Suite struct RobustnessSampleTests {
    let splitter = try! WordSplitter(options: SplitterOptions(mode: .hat, maxWordBytes: 100))
    var documents: [Document] {
        (0..<3).map { Document(name: "doc\($0).txt", bytes: Array(robustCorpus(words: 400, seed: UInt64($0)).utf8)) }
    }

    @Test func samplesAreDeterministicWholeWordsAndDisjoint() {
        let a = RobustnessSamples.draw(documents: documents, splitter: splitter, contextWords: 20, targetWords: 5, count: 30, seed: 3)
        let b = RobustnessSamples.draw(documents: documents, splitter: splitter, contextWords: 20, targetWords: 5, count: 30, seed: 3)
        let c = RobustnessSamples.draw(documents: documents, splitter: splitter, contextWords: 20, targetWords: 5, count: 30, seed: 4)
        #expect(a == b && a != c && a.count == 30)
        #expect(Set(a.map(\.seed)).count == 30)
        for s in a {
            let doc = documents.first { $0.name == s.document }!
            let words = splitter.split(doc.bytes)
            let start = words[s.firstWord].lowerBound
            #expect(Array(doc.bytes[start..<(start + s.context.count + s.target.count)]) == s.context + s.target)
            #expect(splitter.split(s.context).count == 20)
            #expect(words[s.firstWord + 20].lowerBound == start + s.context.count, "the target starts at a word")
            #expect(words[s.firstWord + 24].upperBound == start + s.context.count + s.target.count)
        }
        for (x, y) in zip(a, a.dropFirst()) where x.document == y.document {
            #expect(x.firstWord + 25 <= y.firstWord, "samples overlap")
        }
        // Asking for more than fit gives all the slots (1200 words / 25 ≈ 47), still disjoint.
        let all = RobustnessSamples.draw(documents: documents, splitter: splitter, contextWords: 20, targetWords: 5, count: 1000, seed: 3)
        #expect(all.count >= 45 && all.count <= 48)
    }

    @Test(arguments: Perturbations.catalogue.map(\.name))
    func perturbedContextsIdentityDeterminismAndRate(name: String) throws {
        let p = try Perturbations.named(name, misspellings: robustExcerpt)
        let samples = RobustnessSamples.draw(documents: documents, splitter: splitter, contextWords: 30, targetWords: 5,
                                             count: 40, seed: 1)
        var selected = 0, changed = 0, total = 0
        for s in samples {
            #expect(RobustnessSamples.perturbed(s, p, rate: 0) == s.context)
            let x = RobustnessSamples.perturbed(s, p, rate: 0.3)
            #expect(x == RobustnessSamples.perturbed(s, p, rate: 0.3), "not deterministic")
            // The selection is the one WordSelection makes from the sample's seed.
            var rng = RandomGenerator(seed: s.seed)
            let selection = WordSelection(rate: 0.3, rng: &rng)
            let clean = String(decoding: s.context, as: UTF8.self), dirty = String(decoding: x, as: UTF8.self)
            let words = PerturbWords.words(in: clean)
            total += words.count
            selected += selection.selected(count: words.count).count
            if name != "whitespace" {
                let after = PerturbWords.words(in: dirty)
                #expect(after.count == words.count)
                for i in words.indices where words[i] != after[i] {
                    changed += 1
                    #expect(selection.isSelected(i), "\(name) changed an unselected word")
                }
            }
        }
        #expect(abs(Double(selected) / Double(total) - 0.3) < 4.5 * (0.3 * 0.7 / Double(total)).squareRoot())
        #expect(changed <= selected)
    }

    /// A higher rate touches a superset of the words of a lower rate, with the same edits.
    @Test(arguments: Perturbations.catalogue.map(\.name).filter { $0 != "whitespace" })
    func ratesAreNested(name: String) throws {
        let p = try Perturbations.named(name, misspellings: robustExcerpt)
        let samples = RobustnessSamples.draw(documents: documents, splitter: splitter, contextWords: 30, targetWords: 5,
                                             count: 20, seed: 2)
        for s in samples {
            let clean = PerturbWords.words(in: String(decoding: s.context, as: UTF8.self))
            let low = PerturbWords.words(in: String(decoding: RobustnessSamples.perturbed(s, p, rate: 0.1), as: UTF8.self))
            let high = PerturbWords.words(in: String(decoding: RobustnessSamples.perturbed(s, p, rate: 0.4), as: UTF8.self))
            for i in clean.indices where low[i] != clean[i] {
                #expect(high[i] == low[i], "\(name): word \(i) is \(low[i]) at 0.1 but \(high[i]) at 0.4")
            }
        }
    }

    @Test func composedConditions() throws {
        let p = try RobustnessRun.perturbation(named: "swap+upper", misspellings: nil)
        #expect(p.name == "swap,upper")
        #expect(throws: PerturbationError.self) { try RobustnessRun.perturbation(named: "nonsense", misspellings: nil) }
    }
}

// MARK: - A whole run and its report

@Suite(.serialized) struct RobustnessRunTests {
    func corpusDocuments() -> [Document] {
        (0..<2).map { Document(name: "tiny\($0).txt", bytes: Array(robustCorpus(words: 200, seed: UInt64(10 + $0)).utf8)) }
    }

    func folioDirectory() throws -> String {
        let dir = NSTemporaryDirectory() + "robust-folio-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let pairs = RobustnessRunTests.pairs
        let text = (0..<5).flatMap { _ in pairs }.map { "\($0.0)\t\($0.1)" }.joined(separator: "\n") + "\n"
        try text.write(toFile: dir + "/hamlet.tsv", atomically: true, encoding: .utf8)
        try text.write(toFile: dir + "/macbeth.tsv", atomically: true, encoding: .utf8)
        return dir
    }

    static let pairs = [("Long live the king!", "Long liue the King"), ("You come most carefully upon your hour.", "You come most carefully vpon your houre"),
                     ("For this relief much thanks", "For this releefe much thankes"), ("I have heard it", "I haue heard it")]

    func smallRun(compare: Bool, folio: String?, mode: NextWordMode = .forward, threads: Int = 2,
                  shouldStop: @escaping () -> Bool = { false }) throws -> RobustnessResults {
        let (config, parameters) = try robustTinyModel()
        var models = [RobustnessModel(name: "tiny", path: "(memory)", config: config, parameters: parameters)]
        if compare {
            let (c2, p2) = try robustTinyModel(seed: 8)
            models.append(RobustnessModel(name: "tiny-8", path: "(memory)", config: c2, parameters: p2))
        }
        let samples = RobustnessSamples.draw(documents: corpusDocuments(), splitter: try splitterOf(config),
                                             contextWords: 12, targetWords: 4, count: 8, seed: 0)
        var options = RobustnessOptions(perturbations: ["swap", "upper", "diacritics"])
        options.rates = [0.1, 0.5]
        options.bootstrap = BootstrapSettings(resamples: 100, seed: 0)
        options.batchBytes = 512
        options.keepSampleScores = true
        options.nextWord = mode
        var folioOptions: FolioOptions?
        if let folio {
            var f = FolioOptions(directory: folio)
            f.linesPerPlay = 12
            f.blockLines = 3
            f.maxRowBytes = 128
            f.wordsPerRow = 32
            folioOptions = f
        }
        return try RobustnessRun.run(models: models, samples: samples, options: options, misspellings: nil, folio: folioOptions,
                                     context: testContext(threads), shouldStop: shouldStop)
    }

    @Test func runAggregatesAndReports() throws {
        let folio = try folioDirectory()
        defer { try? FileManager.default.removeItem(atPath: folio) }
        let results = try smallRun(compare: true, folio: folio)
        #expect(results.status == "complete")
        #expect(results.models.count == 2 && results.sampleCount == 8)
        for m in results.models {
            let clean = try #require(m.clean)
            #expect(clean.targetBitsPerByteDelta == nil && clean.changedSamples == 0)
            #expect(m.conditions.map(\.perturbation) == ["swap", "swap", "upper", "upper", "diacritics", "diacritics"])
            #expect(m.conditions.map(\.rate) == [0.1, 0.5, 0.1, 0.5, 0.1, 0.5])
            // The pooled BPB and accuracy are those of the per-sample scores.
            let scores = try #require(clean.scores)
            let bpb = scores.reduce(0) { $0 + $1.targetNats } / Double(scores.reduce(0) { $0 + $1.targetBytes }) / log(2.0)
            #expect(abs(clean.targetBitsPerByte.estimate - bpb) < 1e-12)
            #expect(clean.nextWordAccuracy.estimate == Double(scores.filter(\.nextWordCorrect).count) / 8)
            for c in m.conditions {
                let d = try #require(c.targetBitsPerByteDelta)
                #expect(abs(d.estimate - (c.targetBitsPerByte.estimate - clean.targetBitsPerByte.estimate)) < 1e-9)
                #expect(d.low <= d.estimate + 1e-12 && d.estimate <= d.high + 1e-12)
                if c.changedSamples == 0 {      // diacritics on ASCII text: exactly the clean scores
                    #expect(d == Interval(estimate: 0, low: 0, high: 0))
                    #expect(c.scores == clean.scores)
                }
            }
            #expect(m.conditions.first { $0.perturbation == "diacritics" }?.changedSamples == 0)
            #expect(m.conditions.first { $0.perturbation == "upper" && $0.rate == 0.5 }!.changedSamples > 0)
            let f = try #require(m.folio)
            #expect(f.plays.map(\.name) == ["hamlet", "macbeth"] && f.blocks == 8)
            let lineBytes = 3 * RobustnessRunTests.pairs.reduce(0) { $0 + $1.0.utf8.count + 1 }
            #expect(f.plays.allSatisfy { $0.modern.bytes == lineBytes && $0.lines == 12 })
            #expect(f.modern.bytes == 2 * lineBytes && f.plays[0].modern.words == f.plays[1].modern.words)
            #expect(abs(f.delta.estimate - (f.folio.bitsPerByte.estimate - f.modern.bitsPerByte.estimate)) < 1e-9)
        }
        // The two models saw the same samples: same changed counts.
        #expect(results.models[0].conditions.map(\.changedSamples) == results.models[1].conditions.map(\.changedSamples))

        // JSON round trip.
        #expect(try RobustnessOutput.decode(RobustnessOutput.encode(results)) == results)

        // Report: Markdown tables and charts.
        let charts = RobustnessReport.charts(results)
        #expect(charts.map(\.file) == ["delta-target-bpb.svg", "delta-next-word-accuracy.svg", "delta-context-bpb.svg"])
        for chart in charts {
            #expect(chart.svg.hasPrefix("<svg") && chart.svg.hasSuffix("</svg>\n"))
            #expect(chart.svg.contains("<polyline") && chart.svg.contains(">swap<") && chart.svg.contains(">tiny-8<"))
        }
        let md = RobustnessReport.markdown(results, charts: charts.map { ($0.file, $0.caption) })
        #expect(md.contains("## Degradation: tiny\n") && md.contains("## Degradation: tiny-8\n"))
        #expect(md.contains("| swap | 0.1 | ") && md.contains("| diacritics | 0.5 | 0/8 | +0.0000 [+0.0000, +0.0000]"))
        #expect(md.contains("## Models side by side"))
        #expect(md.contains("![Δ target BPB against rate](delta-target-bpb.svg)"))
        #expect(md.contains("## Natural spelling") && md.contains("| hamlet | 12 |") && md.contains("| **all** | 24 |"))
        #expect(!md.contains("INCOMPLETE"))
    }

    /// The files of a report, written into a temporary directory: complete runs replace an
    /// earlier report only when done; an interrupted run never touches the report directory.
    @Test func reportFiles() throws {
        let base = NSTemporaryDirectory() + "robust-out-\(UUID().uuidString)"
        defer { for suffix in ["", ".interrupted"] { try? FileManager.default.removeItem(atPath: base + suffix) } }
        var results = try smallRun(compare: false, folio: nil)
        try RobustnessOutput.write(results, to: base)
        let files = try FileManager.default.contentsOfDirectory(atPath: base).sorted()
        #expect(files == ["delta-context-bpb.svg", "delta-next-word-accuracy.svg", "delta-target-bpb.svg", "results.json", "robustness.md"])
        let saved = try RobustnessOutput.decode(Data(contentsOf: URL(fileURLWithPath: base + "/results.json")))
        #expect(saved == results)
        let siblings = try FileManager.default.contentsOfDirectory(atPath: NSTemporaryDirectory())
            .filter { $0.hasPrefix((base as NSString).lastPathComponent + ".") }
        #expect(siblings.isEmpty, "temporary directories left behind: \(siblings)")

        results.status = "interrupted"
        let partial = try RobustnessOutput.write(results, to: base)
        #expect(partial == base + ".interrupted/results.json")
        #expect(try RobustnessOutput.decode(Data(contentsOf: URL(fileURLWithPath: partial))).status == "interrupted")
        #expect(try RobustnessOutput.decode(Data(contentsOf: URL(fileURLWithPath: base + "/results.json"))).status == "complete")

        results.status = "complete"
        results.seconds = 123
        try RobustnessOutput.write(results, to: base)     // replaces the report, removes the partial one
        #expect(try RobustnessOutput.decode(Data(contentsOf: URL(fileURLWithPath: base + "/results.json"))).seconds == 123)
        #expect(!FileManager.default.fileExists(atPath: base + ".interrupted"))

        let foreign = base + "/not-a-report"
        try FileManager.default.createDirectory(atPath: foreign, withIntermediateDirectories: true)
        try "x".write(toFile: foreign + "/notes.txt", atomically: true, encoding: .utf8)
        #expect(throws: RobustnessError.self) { try RobustnessOutput.write(results, to: foreign) }
        #expect(try FileManager.default.contentsOfDirectory(atPath: foreign) == ["notes.txt"])
    }

    @Test func sameResultsOnRepeatAndForAnyThreadCount() throws {
        let forward = try smallRun(compare: false, folio: nil, threads: 1)
        let generate = try smallRun(compare: false, folio: nil, mode: .generate, threads: 1)
        for threads in [1, 2, 3, 8] {
            let f = try smallRun(compare: false, folio: nil, threads: threads)
            let g = try smallRun(compare: false, folio: nil, mode: .generate, threads: threads)
            #expect(f.models.map(\.conditions) == forward.models.map(\.conditions), "forward mode, \(threads) threads")
            #expect(f.models.map(\.clean) == forward.models.map(\.clean), "forward mode, \(threads) threads")
            #expect(g.models.map(\.conditions) == generate.models.map(\.conditions), "generate mode, \(threads) threads")
            #expect(g.models.map(\.clean) == generate.models.map(\.clean), "generate mode, \(threads) threads")
        }
    }

    @Test func twoRunsAtOnceEachEqualTheirSoloRun() throws {
        let soloForward = try smallRun(compare: true, folio: nil)
        let soloGenerate = try smallRun(compare: false, folio: nil, mode: .generate)
        final class Results: @unchecked Sendable { var forward: RobustnessResults?, generate: RobustnessResults? }
        let results = Results()
        try runConcurrently([
            { results.forward = try self.smallRun(compare: true, folio: nil) },
            { results.generate = try self.smallRun(compare: false, folio: nil, mode: .generate) },
        ])
        let forward = try #require(results.forward), generate = try #require(results.generate)
        #expect(forward.models.map(\.conditions) == soloForward.models.map(\.conditions))
        #expect(forward.models.map(\.clean) == soloForward.models.map(\.clean))
        #expect(generate.models.map(\.conditions) == soloGenerate.models.map(\.conditions))
        #expect(generate.models.map(\.clean) == soloGenerate.models.map(\.clean))
    }

    @Test func generateModeAddsTrimmedAccuracy() throws {
        let results = try smallRun(compare: false, folio: nil, mode: .generate)
        let forward = try smallRun(compare: false, folio: nil)
        let m = results.models[0]
        #expect(m.clean?.nextWordAccuracyTrimmed != nil && m.conditions.allSatisfy { $0.nextWordAccuracyTrimmedDelta != nil })
        #expect(forward.models[0].clean?.nextWordAccuracyTrimmed == nil)
        #expect(m.conditions.map(\.nextWordAccuracy) == forward.models[0].conditions.map(\.nextWordAccuracy))
        #expect(m.conditions.map(\.targetBitsPerByte) == forward.models[0].conditions.map(\.targetBitsPerByte))
        #expect((m.timing?.generationSeconds ?? 0) > 0 && (forward.models[0].timing?.generationSeconds ?? 1) == 0)
        let md = RobustnessReport.markdown(results, charts: [])
        #expect(md.contains("Δ trimmed, pp") && md.contains("greedy cached decoding (GenerationSession)"))
    }

    @Test func interruptedRunSaysSo() throws {
        let results = try smallRun(compare: true, folio: nil, shouldStop: { true })
        #expect(results.status == "interrupted")
        #expect(results.models.count == 1 && results.models[0].conditions.isEmpty)
        let md = RobustnessReport.markdown(results, charts: [])
        #expect(md.contains("INCOMPLETE"))
    }
}

// The distilled-grafting report from synthetic runs and evaluations: intervals bracket the
// estimates, paired differences use the same units, the target verdicts follow the numbers, and
// the runs table reads the metrics log.
@Suite struct DistillationReportTests {
    static func scored(_ key: String, _ perUnit: Double, units: Int = 20) -> DistillationReport.Scored {
        var result = EvaluationResult(predictedBytes: units * 1000, bytes: units * 1000, words: units * 200, lossNats: 0)
        result.documents = (0..<units).map { k in
            DocumentScore(name: String(format: "doc%02d", k), predictedBytes: 1000,
                          lossNats: 1000 * log(2) * (perUnit + 0.05 * Double(k % 5)))
        }
        result.lossNats = result.documents!.reduce(0) { $0 + $1.lossNats }
        return DistillationReport.Scored(key: key, label: key, results: ["prose": result, "technical": result])
    }

    @Test func tablesTargetsAndIntervals() {
        let metrics: [[String: Any]] = [
            ["split": "train", "step": 1, "bytes_seen": 9000, "loss": 3.0],
            ["split": "validation", "step": 1, "bytes_seen": 9000, "bits_per_byte": 4.5, "elapsed_seconds": 10.0,
             "oracle_bits_per_byte": 4.2, "teacher_bits_per_byte": 1.1, "align_cosine": 0.7],
        ]
        let arm = DistillationReport.Arm(key: "distilled", label: "distilled", metrics: metrics, options: nil,
                                         wallSeconds: 100, cpuSeconds: 180, notes: nil)
        let report = DistillationReport(arms: [arm], scored: [Self.scored("distilled", 1.5), Self.scored("random", 2.0),
                                                               Self.scored("stage2", 1.4), Self.scored("default", 2.6),
                                                               Self.scored("teacher", 1.2)],
                                        sets: ["prose", "technical"], reading: "hand-written", command: "hat report distill X")
        let a = report.bitsPerByte("distilled", "prose")!
        #expect(a.low <= a.estimate && a.estimate <= a.high && abs(a.estimate - 1.6) < 1e-9)
        let d = report.difference("distilled", minus: "random", on: "prose")!
        #expect(abs(d.estimate + 0.5) < 1e-9 && abs(d.high - d.low) < 1e-9, "a constant paired difference has a zero-width interval")
        let md = report.markdown(charts: [("c.svg", "caption")])
        #expect(md.contains("| distilled − random | -0.500 [-0.500, -0.500]"))
        #expect(md.contains("| distilled − random | -0.500 [-0.500, -0.500] | -0.500 [-0.500, -0.500] | ≤ −0.3 on prose, intervals apart | yes |"))
        #expect(md.contains("| stage2 − default | -1.200 [-1.200, -1.200] | -1.200 [-1.200, -1.200] | < 0 on prose, ≤ −1.0 on technical | yes |"))
        #expect(md.contains("| stage2 − teacher | +0.200"))
        #expect(md.contains("| distilled | 1 | 9,000 | 1m40s | 3m00s | 90 | 4.500 | 4.200 / 1.100 |"))
        #expect(md.contains("## Reading (written by hand)\n\nhand-written"))
        #expect(md.contains("![caption](c.svg)"))
        #expect(!md.contains("stage2-long") && !md.contains("stage2-prose"), "the later stage-2 arms have no rows before they are evaluated")
        let charts = report.charts()
        #expect(charts.map(\.file).contains("graft-smollm2-oracle.svg") && charts.allSatisfy { $0.svg.hasPrefix("<svg") })
    }

    /// A run resumed after its session was killed has no time.txt line for the killed part; the
    /// trainer's clock, which runs on across resumes, is then the wall time.
    @Test func aKilledInvocationsTimeComesFromTheTrainersClock() {
        let metrics: [[String: Any]] = [["split": "train", "step": 600, "bytes_seen": 60_000, "elapsed_seconds": 300.0]]
        let resumed = DistillationReport.Arm(key: "stage2-more", label: "resumed", metrics: metrics, options: nil,
                                             wallSeconds: 100, cpuSeconds: 180, notes: nil)
        let whole = DistillationReport.Arm(key: "plain", label: "whole", metrics: metrics, options: nil,
                                           wallSeconds: 320, cpuSeconds: 600, notes: nil)
        let md = DistillationReport(arms: [resumed, whole], scored: [], sets: ["prose"], reading: nil, command: "hat report distill X")
            .markdown(charts: [])
        #expect(md.contains("| resumed | 600 | 60,000 | 5m00s | 9m00s | 200 |"), "clock 300 s; CPU 300 × 180/100")
        #expect(md.contains("| whole | 600 | 60,000 | 5m20s | 10m00s | 188 |"), "time.txt is kept when it is the longer (it includes loading)")
    }

    /// Once evaluated, the later stage-2 arms are held to the same shipping targets, on rows of their own.
    @Test func theLaterStage2ArmsAreHeldToTheShippingTargets() {
        let report = DistillationReport(arms: [], scored: [Self.scored("stage2", 2.2), Self.scored("stage2-long", 1.8),
                                                           Self.scored("stage2-prose", 0.9), Self.scored("stage2-lit", 2.1),
                                                           Self.scored("default", 2.0), Self.scored("teacher", 1.6)],
                                        sets: ["prose", "technical"], reading: nil, command: "hat report distill X")
        let md = report.markdown(charts: [])
        #expect(md.contains("| stage2 − default | +0.200 [+0.200, +0.200] | +0.200 [+0.200, +0.200] | < 0 on prose, ≤ −1.0 on technical | no |"))
        #expect(md.contains("| stage2-long − default | -0.200 [-0.200, -0.200] | -0.200 [-0.200, -0.200] | < 0 on prose, ≤ −1.0 on technical | no |"))
        #expect(md.contains("| stage2-long − teacher | +0.200 [+0.200, +0.200]"))
        #expect(md.contains("| stage2-prose − default | -1.100 [-1.100, -1.100] | -1.100 [-1.100, -1.100] | < 0 on prose, ≤ −1.0 on technical | yes |"))
        #expect(md.contains("| stage2-prose − teacher | -0.700 [-0.700, -0.700]"))
        #expect(md.contains("| stage2-lit − default | +0.100 [+0.100, +0.100] | +0.100 [+0.100, +0.100] | < 0 on prose, ≤ −1.0 on technical | no |"),
                "an arm the report has no fixed place for is held to the targets too")
    }

    /// A stage-2 arm repeated from distilled stage 1 is also set against its twin from plain stage 1
    /// (the same name without "-distilled"), once both are evaluated.
    @Test func aDistilledStage2ArmFacesItsPlainTwin() {
        let report = DistillationReport(arms: [], scored: [Self.scored("stage2-prose", 2.0), Self.scored("stage2-prose-distilled", 1.9),
                                                           Self.scored("stage2-more-distilled", 1.8),
                                                           Self.scored("default", 2.0), Self.scored("teacher", 1.6)],
                                        sets: ["prose", "technical"], reading: nil, command: "hat report distill X")
        let md = report.markdown(charts: [])
        #expect(md.contains("| stage2-prose-distilled − stage2-prose | -0.100 [-0.100, -0.100] | -0.100 [-0.100, -0.100] | below (the distilled start still helps) | yes |"))
        #expect(!md.contains("stage2-more-distilled − stage2-more"), "no row while the twin is not evaluated")
        #expect(!md.contains("| stage2-prose − stage2"), "a plain arm has no twin row")
    }
}
