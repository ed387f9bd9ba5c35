// Robustness metrics (issue 7, item 2), per sample: a sample is a context (possibly perturbed)
// followed by a clean target. One forward over [EOS] + context + target, as one row of a Batch,
// gives (a) the loss of the clean target bytes given the context and (c) the loss of the
// context's own bytes; (b) next-word accuracy comes from greedy cached decoding
// (GenerationSession) after [EOS] + context: its first word must equal the clean next word.
//
// Per-byte losses are read from the model's logits after `forward` (`lastLogits`): the loss of
// byte j+1 of a row is −log softmax(logits[j])[byte j+1] in nats, computed here in Double, so
// the byte losses of a row sum to the row's share of the forward's summed loss.
//
// Shapes: N bytes in a batch, V = 256.

import Foundation
import HATGenerate
import HATModel
import HATTensor
import HATText

// MARK: - Per-byte losses

public enum ByteLoss {
    /// −log softmax(logits)[target] in nats, for one row of V = 256 logits.
    public static func nats(logits z: UnsafePointer<Float>, target: Int) -> Double {
        var top = Double(z[0])
        for v in 1..<256 where Double(z[v]) > top { top = Double(z[v]) }
        var sum = 0.0
        for v in 0..<256 { sum += exp(Double(z[v]) - top) }
        return top + log(sum) - Double(z[target])
    }

    /// Runs `model` over `rows` of `stream` (packed into batches like `Evaluator.evaluate`) and
    /// calls `visit(i, nats, logits)` for every predicted byte, where i is the byte's index in
    /// `stream.bytes` (the first byte of a row is not predicted) and `logits` [V] the prediction
    /// it was scored on; after a row's last byte, `rowEnd(logits)` gets the prediction of the
    /// byte that would follow the row. Rows are visited in order. Returns the same totals as
    /// `Evaluator.evaluate`. `shouldStop` is asked after every batch; when it says yes the
    /// evaluation throws `RobustnessError.interrupted`.
    @discardableResult
    public static func evaluate(model: HierarchicalModel, stream: WordStream, rows: [Range<Int>], batch: Batch,
                                shouldStop: () -> Bool = { false },
                                progress: (_ bytesDone: Int) -> Void = { _ in },
                                rowEnd: (_ logits: UnsafePointer<Float>) -> Void = { _ in },
                                visit: (_ byteIndex: Int, _ nats: Double, _ logits: UnsafePointer<Float>) -> Void)
        throws -> EvaluationResult {
        var result = EvaluationResult()
        let start = Date()
        var next = 0
        var rowStreamStart: [Int] = []    // per row of the batch: index of its first byte in the stream
        while next < rows.count {
            batch.reset()
            rowStreamStart.removeAll(keepingCapacity: true)
            while next < rows.count,
                  batch.canAppend(words: rows[next].count, bytes: stream.byteCount(of: rows[next])) {
                rowStreamStart.append(stream.wordStart(rows[next].lowerBound))
                batch.appendRow(stream, words: rows[next])
                next += 1
            }
            guard batch.rowCount > 0 else {
                throw RobustnessError.rowTooLong(bytes: stream.byteCount(of: rows[next]), words: rows[next].count,
                                                 capacityBytes: batch.maxBytes, capacityWords: batch.maxWords)
            }
            batch.finish()
            let (lossSum, count) = model.forward(batch)
            let z = model.lastLogits(rows: batch.byteCount)                 // [N, V]
            var row = -1, rowBatchStart = 0
            for t in 0..<batch.byteCount {
                if Int(batch.byteRowStart[t]) == t { row += 1; rowBatchStart = t }
                guard batch.targetMask[t] != 0 else {
                    rowEnd(z.row(t))
                    continue
                }
                let nats = ByteLoss.nats(logits: z.row(t), target: Int(batch.targets[t]))
                visit(rowStreamStart[row] + (t - rowBatchStart) + 1, nats, z.row(t))
            }
            result.lossNats += lossSum
            result.predictedBytes += count
            result.bytes += batch.byteCount
            result.words += batch.wordCount
            progress(batch.byteCount)
            if shouldStop() { throw RobustnessError.interrupted }
        }
        result.seconds = Date().timeIntervalSince(start)
        return result
    }
}

// MARK: - Next word

public enum NextWord {
    /// The first word that starts at `prefix.count` in the split of `prefix + continuation`:
    /// the bytes of the continuation up to the first word boundary after the prefix. `final` is
    /// true when another word follows it (so more bytes cannot change it: splitting is causal).
    /// `prefix` should begin at a word start (e.g. the last word of a context).
    public static func firstWord(prefix: ArraySlice<UInt8>, continuation: [UInt8],
                                 splitter: WordSplitter) -> (word: [UInt8], final: Bool) {
        let text = Array(prefix) + continuation
        var ends: [Int] = []
        text.withUnsafeBufferPointer { splitter.split($0, into: &ends) }
        let p = prefix.count
        guard let end = ends.first(where: { $0 > p }) else { return ([], false) }
        return (Array(text[p..<end]), end < text.count)
    }

    /// Index where the last word of `context` starts (0 for an empty context).
    public static func lastWordStart(_ context: [UInt8], splitter: WordSplitter) -> Int {
        var ends: [Int] = []
        context.withUnsafeBufferPointer { splitter.split($0, into: &ends) }
        return ends.count >= 2 ? ends[ends.count - 2] : 0
    }

    /// The reference: the first word of `target` after `context`.
    public static func reference(context: [UInt8], target: [UInt8], splitter: WordSplitter) -> [UInt8] {
        let start = lastWordStart(context, splitter: splitter)
        return firstWord(prefix: context[start...], continuation: target, splitter: splitter).word
    }

    /// Greedy decoding after [EOS] + `context` (the model's `reset` feeds the end-of-sequence
    /// word) until the first word after the context is complete, at most `maxBytes` bytes or an
    /// end-of-sequence byte: that word's bytes. Ties go to the lower byte (as `Sampler` greedy).
    public static func greedy(model: ByteModel, context: [UInt8], splitter: WordSplitter, maxBytes: Int) -> [UInt8] {
        model.reset()
        model.feed(context)
        let tail = context[lastWordStart(context, splitter: splitter)...]
        var generated: [UInt8] = []
        while generated.count < maxBytes {
            let best = VectorMath.argmax(model.nextByteLogits, count: 256)
            if UInt8(best) == model.endOfSequence { break }
            generated.append(UInt8(best))
            let (word, final) = firstWord(prefix: tail, continuation: generated, splitter: splitter)
            if final { return word }
            model.feed([UInt8(best)])
        }
        return firstWord(prefix: tail, continuation: generated, splitter: splitter).word
    }

    /// Whether greedy decoding after the context would write exactly `reference` as its first
    /// word, decided from teacher-forced predictions along `target` (which starts with
    /// `reference`): `argmaxAlong[i]` is the argmax of the prediction of target byte i (the last
    /// one, i = target.count, of the byte after the target). Mirrors `greedy` step by step while
    /// greedy stays on the target; nil when greedy would leave the target before its first
    /// word is final (then only decoding can tell).
    public static func greedyMatches(reference: [UInt8], prefix: ArraySlice<UInt8>, target: [UInt8], argmaxAlong: [Int],
                                     endOfSequence: UInt8, maxBytes: Int, splitter: WordSplitter) -> Bool? {
        guard !reference.isEmpty else { return false }
        var generated: [UInt8] = []
        var i = 0
        while generated.count < maxBytes {
            guard i < argmaxAlong.count else { return nil }
            let best = argmaxAlong[i]
            if best == Int(endOfSequence) { break }
            // Leaving the reference inside its bytes: the first word (a prefix of what greedy
            // writes) cannot be the reference any more.
            if generated.count < reference.count && best != Int(reference[generated.count]) { return false }
            generated.append(UInt8(best))
            let (word, final) = firstWord(prefix: prefix, continuation: generated, splitter: splitter)
            if final { return word == reference }
            guard i < target.count, UInt8(best) == target[i] else {
                return generated.count < maxBytes ? nil : word == reference
            }
            i += 1
        }
        return firstWord(prefix: prefix, continuation: generated, splitter: splitter).word == reference
    }

    /// Equal after trimming spaces; a reference that is only whitespace must match exactly.
    public static func sameTrimmed(_ predicted: [UInt8], _ reference: [UInt8]) -> Bool {
        let r = trimmed(reference)
        if r.isEmpty { return !reference.isEmpty && predicted == reference }
        return trimmed(predicted) == r
    }

    /// `bytes` without leading and trailing ASCII whitespace (space, tab, LF, CR).
    public static func trimmed(_ bytes: [UInt8]) -> ArraySlice<UInt8> {
        let space: Set<UInt8> = [0x20, 0x09, 0x0A, 0x0D]
        var s = bytes[...]
        while let f = s.first, space.contains(f) { s = s.dropFirst() }
        while let l = s.last, space.contains(l) { s = s.dropLast() }
        return s
    }
}

// MARK: - Scores of one sample

/// How (b) is computed. Both give the same exact-match accuracy (up to float near-ties):
/// greedy decoding yields the reference word w exactly when the argmax after the context and
/// after each prefix of w is w's next byte, and the argmax after w starts a new word; those
/// predictions are in the forward over [EOS] + context + target, whose target begins with w.
public enum NextWordMode: String, Codable, CaseIterable, Sendable {
    /// From the forward's logits along the reference word (no extra model work).
    case forward
    /// Greedy cached decoding (GenerationSession): also gives the predicted word and the
    /// whitespace-trimmed comparison; costs a second pass over every context.
    case generate
}

/// What one sample gives under one condition.
public struct SampleScore: Codable, Equatable, Sendable {
    /// (a) Loss of the clean target bytes given the context (nats) and their number.
    public var targetNats: Double
    public var targetBytes: Int
    /// (c) Loss of the context's own bytes (the first predicted from EOS) and their number.
    public var textNats: Double
    public var textBytes: Int
    /// (b) Greedy first word equals the clean next word, byte for byte.
    public var nextWordCorrect: Bool
    /// Equal after trimming whitespace, and the greedy first word (in JSON a string, or byte
    /// values when not UTF-8); only with `NextWordMode.generate`.
    public var nextWordCorrectTrimmed: Bool?
    public var predictedWord: [UInt8]?

    public init(targetNats: Double, targetBytes: Int, textNats: Double, textBytes: Int,
                nextWordCorrect: Bool, nextWordCorrectTrimmed: Bool? = nil, predictedWord: [UInt8]? = nil) {
        self.targetNats = targetNats
        self.targetBytes = targetBytes
        self.textNats = textNats
        self.textBytes = textBytes
        self.nextWordCorrect = nextWordCorrect
        self.nextWordCorrectTrimmed = nextWordCorrectTrimmed
        self.predictedWord = predictedWord
    }

    enum CodingKeys: String, CodingKey {
        case targetNats = "target_nats", targetBytes = "target_bytes", textNats = "text_nats", textBytes = "text_bytes"
        case nextWordCorrect = "next_word_correct", nextWordCorrectTrimmed = "next_word_correct_trimmed"
        case predictedWord = "predicted_word"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        targetNats = try c.decode(Double.self, forKey: .targetNats)
        targetBytes = try c.decode(Int.self, forKey: .targetBytes)
        textNats = try c.decode(Double.self, forKey: .textNats)
        textBytes = try c.decode(Int.self, forKey: .textBytes)
        nextWordCorrect = try c.decode(Bool.self, forKey: .nextWordCorrect)
        nextWordCorrectTrimmed = try c.decodeIfPresent(Bool.self, forKey: .nextWordCorrectTrimmed)
        predictedWord = c.contains(.predictedWord) ? try decodeBytes(c, .predictedWord) : nil
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(targetNats, forKey: .targetNats)
        try c.encode(targetBytes, forKey: .targetBytes)
        try c.encode(textNats, forKey: .textNats)
        try c.encode(textBytes, forKey: .textBytes)
        try c.encode(nextWordCorrect, forKey: .nextWordCorrect)
        try c.encodeIfPresent(nextWordCorrectTrimmed, forKey: .nextWordCorrectTrimmed)
        if let predictedWord { try encodeBytes(predictedWord, &c, .predictedWord) }
    }
}

/// Where scoring time goes: forward passes (a, c) and cached generation (b, prefill + greedy bytes).
public struct ScoringTiming: Codable, Equatable, Sendable {
    public var forwardSeconds = 0.0
    public var forwardBytes = 0
    public var generationSeconds = 0.0
    public var generationBytes = 0
    /// Forward mode: samples whose next word the forward could not decide (decoded instead).
    public var undecidedSamples = 0
    public init() {}
    enum CodingKeys: String, CodingKey {
        case forwardSeconds = "forward_seconds", forwardBytes = "forward_bytes"
        case generationSeconds = "generation_seconds", generationBytes = "generation_bytes"
        case undecidedSamples = "undecided_samples"
    }
}

public enum RobustnessError: Error, CustomStringConvertible, Equatable {
    case interrupted
    case rowTooLong(bytes: Int, words: Int, capacityBytes: Int, capacityWords: Int)
    case noSamples(String)
    case badData(String)

    public var description: String {
        switch self {
        case .interrupted: return "interrupted"
        case let .rowTooLong(bytes, words, capacityBytes, capacityWords):
            return "a sample of \(bytes) bytes and \(words) words does not fit a batch of \(capacityBytes) bytes and \(capacityWords) words"
        case .noSamples(let why): return "no samples: \(why)"
        case .badData(let why): return why
        }
    }
}

// MARK: - Scoring a list of (context, target) pairs on one model

/// One model, ready to score samples: a forward model with a batch for (a), (c) and, in
/// `forward` mode, (b); a cached generation session for (b) in `generate` mode.
public final class SampleScorer {
    public let config: HATConfig
    public let splitter: WordSplitter
    public let mode: NextWordMode
    let network: HierarchicalModel
    let batch: Batch
    let parameters: ParameterSet
    let context: ComputeContext
    let session: ByteModel?
    /// Most bytes of the first generated word (the model's word cap plus the byte that ends it).
    public let maxWordBytes: Int
    public var shouldStop: () -> Bool = { false }
    /// Time and bytes so far: forwards for (a) and (c), generation sessions for (b).
    public private(set) var timing = ScoringTiming()

    /// `batchBytes`: bytes per forward (speed only; scores do not depend on it); `longestRow`:
    /// the longest sample in bytes ([EOS] + context + target), so that every sample fits.
    /// `session` replaces the cached generation session in `generate` mode (tests use a
    /// scripted model).
    public init(config: HATConfig, parameters: ParameterSet, mode: NextWordMode = .forward, batchBytes: Int = 4096,
                longestRow: Int, session: ByteModel? = nil, context: ComputeContext) throws {
        self.config = config
        self.context = context
        self.parameters = parameters
        self.mode = mode
        splitter = try config.makeSplitter()
        let capacity = max(batchBytes, longestRow)
        try MemoryPlan.requireBatch(config, maxBytes: capacity, maxWords: capacity, threads: context.threads, training: false,
                                    what: "robustness scoring")
        network = HierarchicalModel(config: config, parameters: parameters, maxBytes: capacity, maxWords: capacity,
                                    context: context, needsBackward: false)
        batch = Batch(maxBytes: capacity, maxWords: capacity, config: config)
        self.session = mode == .generate
            ? try session ?? GenerationSession(config: config, parameters: parameters, context: context) : nil
        maxWordBytes = config.maxWordSize + 1
    }

    /// Scores of each (context, target) pair. `progress(bytes)` is called with the bytes
    /// processed (forward rows, then in `generate` mode each sample's prefill and generated bytes).
    public func score(_ items: [(context: [UInt8], target: [UInt8])],
                      progress: (Int) -> Void = { _ in }) throws -> [SampleScore] {
        let eos = UInt8(config.eosTokenId)
        // The clean next word of each sample, and where its context's last word starts.
        let tails = items.map { NextWord.lastWordStart($0.context, splitter: splitter) }
        let references = items.indices.map { k in
            NextWord.firstWord(prefix: items[k].context[tails[k]...], continuation: items[k].target, splitter: splitter).word
        }

        // One row per sample, [EOS] + context + target; row d's text byte j is stream byte base[d] + 1 + j.
        var stream = WordStream()
        for item in items { stream.appendDocument(item.context + item.target, splitter: splitter, endOfSequence: eos) }
        let firstWords = stream.documentFirstWord
        let rows = firstWords.indices.map { d in
            firstWords[d]..<(d + 1 < firstWords.count ? firstWords[d + 1] : stream.wordCount)
        }
        let base = firstWords.map { stream.wordStart($0) }
        var targetNats = [Double](repeating: 0, count: items.count)
        var textNats = [Double](repeating: 0, count: items.count)
        // Forward mode: the argmax of every prediction from the context's end to the row's end
        // (argmaxAlong[k][j − c] predicts text byte j ≥ c, the last one the byte after the row).
        var argmaxAlong = [[Int]](repeating: [], count: items.count)
        var row = 0
        func record(_ k: Int, predicting j: Int, _ logits: UnsafePointer<Float>) {
            guard mode == .forward, j >= items[k].context.count else { return }
            argmaxAlong[k].append(VectorMath.argmax(logits, count: 256))
        }
        let forwardStart = Date()
        try ByteLoss.evaluate(model: network, stream: stream, rows: rows, batch: batch, shouldStop: shouldStop,
                              progress: progress, rowEnd: { logits in
                                  record(row, predicting: items[row].context.count + items[row].target.count, logits)
                                  row += 1
                              }) { i, nats, logits in
            let j = i - base[row] - 1                               // text byte predicted
            if j < items[row].context.count { textNats[row] += nats } else { targetNats[row] += nats }
            record(row, predicting: j, logits)
        }
        timing.forwardSeconds += Date().timeIntervalSince(forwardStart)
        timing.forwardBytes += stream.byteCount

        var scores: [SampleScore] = []
        scores.reserveCapacity(items.count)
        if mode == .forward {
            var undecided: [Int] = []
            for (k, item) in items.enumerated() {
                let decided = NextWord.greedyMatches(reference: references[k], prefix: item.context[tails[k]...],
                                                     target: item.target, argmaxAlong: argmaxAlong[k], endOfSequence: eos,
                                                     maxBytes: maxWordBytes, splitter: splitter)
                if decided == nil { undecided.append(k) }
                scores.append(SampleScore(targetNats: targetNats[k], targetBytes: item.target.count,
                                          textNats: textNats[k], textBytes: item.context.count,
                                          nextWordCorrect: decided ?? false))
            }
            // Rare: greedy leaves the target before its first word is final (e.g. it starts a
            // multi-byte character other than the target's); decode those with the session.
            timing.undecidedSamples += undecided.count
            if !undecided.isEmpty {
                let generationStart = Date()
                defer { timing.generationSeconds += Date().timeIntervalSince(generationStart) }
                let session = try self.session ?? GenerationSession(config: config, parameters: parameters, context: context)
                for k in undecided {
                    let predicted = NextWord.greedy(model: session, context: items[k].context, splitter: splitter,
                                                    maxBytes: maxWordBytes)
                    scores[k].nextWordCorrect = !references[k].isEmpty && predicted == references[k]
                    timing.generationBytes += 1 + items[k].context.count + predicted.count
                }
            }
            return scores
        }

        // Generate mode: greedy first word after each context.
        guard let session else { return [] }
        let generationStart = Date()
        defer { timing.generationSeconds += Date().timeIntervalSince(generationStart) }
        for (k, item) in items.enumerated() {
            let predicted = NextWord.greedy(model: session, context: item.context, splitter: splitter, maxBytes: maxWordBytes)
            scores.append(SampleScore(
                targetNats: targetNats[k], targetBytes: item.target.count,
                textNats: textNats[k], textBytes: item.context.count,
                nextWordCorrect: !references[k].isEmpty && predicted == references[k],
                nextWordCorrectTrimmed: NextWord.sameTrimmed(predicted, references[k]),
                predictedWord: predicted))
            timing.generationBytes += 1 + item.context.count + predicted.count
            progress(item.context.count + predicted.count)
            if shouldStop() { throw RobustnessError.interrupted }
        }
        return scores
    }
}
