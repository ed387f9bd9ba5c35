// Scoring robustness samples with either kind of model (issue 12, item 5): `SampleScoring` is
// what the robustness run asks of a model — the scores of (context, target) pairs — with a HAT
// implementation (SampleScorer, RobustnessMetrics.swift) and a token-model one here.
//
// A token model scores a sample as a HAT model does, on the same bytes: one forward over
// [document start] + tokens(context) + tokens(target) (context and target tokenized apart, so
// every token's bytes belong to one of them; the document-start token plays the part of HAT's
// end-of-sequence byte). (a) target nats: the losses of the target's tokens; (c) text nats: those
// of the context's tokens, the first predicted from the document start; bytes are the text's
// bytes. (b) next word: greedy decoding after the context, token by token, until the first word
// after the context (cut by the same word splitter as the HAT references) is final; in
// `forward` mode it is read from the forward's argmaxes while greedy follows the target's tokens,
// and decoded with a cached TokenSession only when greedy leaves them before the word is final.
//
// Shapes: T tokens of a sample, V vocabulary.

import Foundation
import HATGenerate
import HATModel
import HATTensor
import HATText
import HATTokenizer

/// A model that scores robustness samples.
public protocol SampleScoring: AnyObject {
    /// Asked between samples or batches; true stops scoring with `RobustnessError.interrupted`.
    var shouldStop: () -> Bool { get set }
    /// Time and work so far.
    var timing: ScoringTiming { get }
    /// Scores of each (context, target) pair; `progress(bytes)` hears the bytes processed.
    func score(_ items: [(context: [UInt8], target: [UInt8])], progress: (Int) -> Void) throws -> [SampleScore]
}

extension SampleScorer: SampleScoring {}

/// Scores samples with a token model (GGUF or Hugging Face Llama) and its tokenizer.
public final class TokenSampleScorer: SampleScoring {
    public let bundle: TokenModelBundle
    public let mode: NextWordMode
    /// Cuts the reference next word (the HAT splitter the samples were drawn with).
    public let splitter: WordSplitter
    /// Most bytes of the generated first word (as for HAT: the splitter's cap plus one).
    public let maxWordBytes: Int
    public var shouldStop: () -> Bool = { false }
    public private(set) var timing = ScoringTiming()
    let documentStart: Int32
    let context: ComputeContext
    private var model: TokenModel?
    private var session: TokenTextModel?
    private var cache = BPEWordCache()

    public init(bundle: TokenModelBundle, mode: NextWordMode = .forward, splitter: WordSplitter, context: ComputeContext) throws {
        guard let start = TokenizerText.documentStart(bundle.tokenizer) else {
            throw RobustnessError.badData("\(bundle.path): the tokenizer has no BOS, <|endoftext|> or EOS token to open a sample with")
        }
        self.bundle = bundle
        self.mode = mode
        self.splitter = splitter
        self.context = context
        documentStart = Int32(start)
        maxWordBytes = (splitter.options.maxWordBytes ?? 100) + 1
    }

    /// A forward model that holds `tokens` tokens (made again, larger, when a sample needs it).
    func forwardModel(holding tokens: Int) -> TokenModel {
        if let model, model.maxTokens >= tokens { return model }
        let made = TokenModel(config: bundle.config, parameters: bundle.parameters, maxTokens: max(tokens, 256), context: context)
        model = made
        return made
    }

    /// The cached session greedy decoding runs on.
    func decodingSession() -> TokenTextModel {
        if let session { return session }
        let made = TokenTextModel(session: TokenSession(config: bundle.config, parameters: bundle.parameters,
                                                        capacity: 8192, context: context),
                                  tokenizer: bundle.tokenizer, source: bundle.path)
        session = made
        return made
    }

    func encode(_ bytes: [UInt8]) throws -> [Int32] {
        do {
            return try bundle.tokenizer.encode(utf8: bytes, cache: &cache).map { Int32($0) }
        } catch {
            throw RobustnessError.badData("\(bundle.path): cannot tokenize a sample: \(error)")
        }
    }

    public func score(_ items: [(context: [UInt8], target: [UInt8])], progress: (Int) -> Void = { _ in }) throws -> [SampleScore] {
        let v = bundle.config.vocabularySize
        var scores: [SampleScore] = []
        scores.reserveCapacity(items.count)
        for item in items {
            let contextIDs = try encode(item.context), targetIDs = try encode(item.target)
            let ids = [documentStart] + contextIDs + targetIDs
            if let bad = ids.first(where: { Int($0) >= v }) {
                throw RobustnessError.badData("\(bundle.path): token \(bad) is outside the model's vocabulary of \(v)")
            }
            let forwardStart = Date()
            let model = forwardModel(holding: ids.count)
            let positions = (0..<Int32(ids.count)).map { $0 }, starts = [Int32](repeating: 0, count: ids.count)
            let h = model.forward(ids: ids, positions: positions, sequenceStarts: starts, count: ids.count)
            let c = contextIDs.count
            var textNats = 0.0, targetNats = 0.0
            var argmaxAlong: [Int] = []                      // predictions of target token j (j = m: after the target)
            model.forEachLogits(h) { j, z in
                if j + 1 < ids.count {
                    let loss = TokenModel.logSumExp(z, v) - Double(z[Int(ids[j + 1])])
                    if j < c { textNats += loss } else { targetNats += loss }
                }
                if j >= c { argmaxAlong.append(VectorMath.argmax(z, count: v)) }
            }
            timing.forwardSeconds += Date().timeIntervalSince(forwardStart)
            timing.forwardBytes += 1 + item.context.count + item.target.count

            let tail = item.context[NextWord.lastWordStart(item.context, splitter: splitter)...]
            let reference = NextWord.firstWord(prefix: tail, continuation: item.target, splitter: splitter).word
            var score = SampleScore(targetNats: targetNats, targetBytes: item.target.count, textNats: textNats,
                                    textBytes: item.context.count, nextWordCorrect: false)
            let decided = mode == .forward
                ? greedyMatches(reference: reference, tail: tail, targetIDs: targetIDs, argmaxAlong: argmaxAlong) : nil
            if let decided {
                score.nextWordCorrect = decided
            } else {
                if mode == .forward { timing.undecidedSamples += 1 }
                let generationStart = Date()
                let predicted = try greedyWord(after: item.context, tail: tail)
                timing.generationSeconds += Date().timeIntervalSince(generationStart)
                timing.generationBytes += 1 + item.context.count + predicted.count
                score.nextWordCorrect = !reference.isEmpty && predicted == reference
                if mode == .generate {
                    score.nextWordCorrectTrimmed = NextWord.sameTrimmed(predicted, reference)
                    score.predictedWord = predicted
                }
            }
            scores.append(score)
            progress(1 + item.context.count + item.target.count)
            if shouldStop() { throw RobustnessError.interrupted }
        }
        return scores
    }

    /// Greedy decoding read from the forward while it follows the target's tokens: whether its
    /// first word is `reference`; nil when greedy leaves the target's tokens before the word is
    /// final (then only decoding can tell).
    func greedyMatches(reference: [UInt8], tail: ArraySlice<UInt8>, targetIDs: [Int32], argmaxAlong: [Int]) -> Bool? {
        guard !reference.isEmpty else { return false }
        let tokenizer = bundle.tokenizer
        var generated: [UInt8] = []
        func decided() -> Bool { NextWord.firstWord(prefix: tail, continuation: generated, splitter: splitter).word == reference }
        for (j, best) in argmaxAlong.enumerated() {
            if generated.count >= maxWordBytes { return decided() }
            if best == tokenizer.eosTokenID || tokenizer.isSpecialToken(best) || best >= tokenizer.vocabularySize { return decided() }
            generated += tokenizer.tokenBytes(best) ?? []
            let (word, final) = NextWord.firstWord(prefix: tail, continuation: generated, splitter: splitter)
            if final { return word == reference }
            // Greedy's next state is the forward's only while it wrote the target's token.
            guard j < targetIDs.count, Int32(best) == targetIDs[j] else { return nil }
        }
        return nil
    }

    /// Greedy cached decoding after [document start] + context until the first word is final.
    func greedyWord(after context: [UInt8], tail: ArraySlice<UInt8>) throws -> [UInt8] {
        let session = decodingSession()
        session.reset()
        try session.feed(text: context)
        var generated: [UInt8] = []
        while generated.count < maxWordBytes {
            let best = VectorMath.argmax(session.nextLogits, count: session.vocabularySize)
            if session.ends(best) { break }
            generated += session.bytes(of: best)
            let (word, final) = NextWord.firstWord(prefix: tail, continuation: generated, splitter: splitter)
            if final { return word }
            session.feed(unit: best)
        }
        return NextWord.firstWord(prefix: tail, continuation: generated, splitter: splitter).word
    }
}
