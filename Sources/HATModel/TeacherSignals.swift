// TeacherSignals: what a token-model teacher says about one HAT batch, per word, for stage 1 of
// grafting by distillation (after Bolmo, "Byteifying the next generation of language models",
// arXiv 2512.15586, whose patches are tokens; ours are words, so each word is matched to tokens):
//
//   aligned state   the teacher's hidden state after the first n blocks at the token that ends
//                   where the word ends (words whose end is not a token boundary are skipped);
//   oracle state    the teacher's final hidden state (before its final norm) at the last token
//                   ending at or before the word's end — the decoder's "oracle" input for the
//                   next word, the state the student's backbone should learn to produce;
//   word log-prob   log p(word's bytes) under the teacher: the summed log-probabilities of the
//                   tokens that exactly cover the word (only words that start and end on token
//                   boundaries, inside the row, after its first token).
//
// TeacherAlignment computes these index maps from byte offsets alone; the Teacher (Teacher.swift)
// fills the tensors. DistillationSettings are the stage-1 loss weights (HierarchicalModel+Stage1).
//
// Shapes: W words in the batch, Db backbone width.

import HATTensor

/// How far a student word vector h is from the teacher's state t (both after n blocks).
public enum AlignDistance: String, Codable, CaseIterable, Sendable {
    /// ‖h − t‖ / √Db (Bolmo's "l2").
    case l2
    /// ‖h − t‖ / ‖t‖ (Bolmo's "l2_rmsnorm": the L2 distance in units of the teacher state's RMS).
    /// Pretrained Llamas grow "massive activations" after a few blocks — in SmolLM2 the first token's
    /// state after 4 blocks has an RMS of 38 against a median of 3.3 — so plain L2 is dominated by
    /// one word per row; the relative distance weighs every word alike.
    case relative
}

/// Stage-1 losses and their weights. Total = ce·CE + align·L_align + distill·L_distill, each a mean:
/// CE over predicted bytes, L_align = the alignment distance (AlignDistance) over aligned words,
/// L_distill = |log p_student(word) − log p_teacher(word)| over distilled words.
public struct DistillationSettings: Codable, Equatable, Sendable {
    /// n: the student's word vectors pass the first n (frozen) backbone blocks before they are
    /// compared with the teacher's hidden states after the same blocks (0 compares the word vectors
    /// with the teacher's token embeddings).
    public var alignBlocks = 4
    public var alignWeight: Float = 1
    public var distillWeight: Float = 1
    public var crossEntropyWeight: Float = 1
    /// The decoder reads the teacher's final states as its predictive vectors instead of the
    /// student backbone's output (then only the first n backbone blocks run).
    public var oracle = true
    public var alignDistance = AlignDistance.l2

    public init(alignBlocks: Int = 4, alignWeight: Float = 1, distillWeight: Float = 1, crossEntropyWeight: Float = 1,
                oracle: Bool = true, alignDistance: AlignDistance = .l2) {
        self.alignDistance = alignDistance
        self.alignBlocks = alignBlocks
        self.alignWeight = alignWeight
        self.distillWeight = distillWeight
        self.crossEntropyWeight = crossEntropyWeight
        self.oracle = oracle
    }

    enum CodingKeys: String, CodingKey {
        case alignBlocks = "align_blocks", alignWeight = "align_weight", distillWeight = "distill_weight"
        case crossEntropyWeight = "cross_entropy_weight", oracle, alignDistance = "align_distance"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        alignBlocks = try c.decode(Int.self, forKey: .alignBlocks)
        alignWeight = try c.decode(Float.self, forKey: .alignWeight)
        distillWeight = try c.decode(Float.self, forKey: .distillWeight)
        crossEntropyWeight = try c.decode(Float.self, forKey: .crossEntropyWeight)
        oracle = try c.decode(Bool.self, forKey: .oracle)
        alignDistance = try c.decodeIfPresent(AlignDistance.self, forKey: .alignDistance) ?? .l2
    }
}

/// Per-word teacher signals of one batch (buffers sized once; `wordCount` words valid).
public final class TeacherSignals {
    public let maxWords: Int
    public let width: Int                              // Db
    public private(set) var wordCount = 0
    public let alignedStates: Tensor                   // [maxWords, Db]
    public let alignMask: UnsafeMutablePointer<Float>  // [maxWords] 1 where the word has an aligned token
    public let oracleStates: Tensor                    // [maxWords, Db]
    public let oracleMask: UnsafeMutablePointer<Float> // [maxWords] 1 where some token ended by the word's end
    public let wordLogProb: UnsafeMutablePointer<Double>   // [maxWords] teacher log p(word bytes)
    public let distillMask: UnsafeMutablePointer<Float>    // [maxWords] 1 where wordLogProb is defined
    let arena: Arena

    public init(maxWords: Int, width: Int) {
        self.maxWords = maxWords
        self.width = width
        let arena = Arena(name: "teacher-signals")
        self.arena = arena
        alignedStates = arena.tensor(rows: maxWords, cols: width)
        oracleStates = arena.tensor(rows: maxWords, cols: width)
        alignMask = arena.allocate(count: maxWords)
        oracleMask = arena.allocate(count: maxWords)
        distillMask = arena.allocate(count: maxWords)
        wordLogProb = .allocate(capacity: maxWords)
        wordLogProb.initialize(repeating: 0, count: maxWords)
    }

    deinit { wordLogProb.deallocate() }

    /// Starts a batch of `words` words with every mask cleared.
    public func reset(words: Int) {
        precondition(words <= maxWords, "TeacherSignals: \(words) words, capacity \(maxWords)")
        wordCount = words
        alignMask.update(repeating: 0, count: words)
        oracleMask.update(repeating: 0, count: words)
        distillMask.update(repeating: 0, count: words)
        wordLogProb.update(repeating: 0, count: words)
    }
}

/// The word ↔ token matching of one row, from byte offsets only. Offsets are relative to the
/// row's first byte; both lists are increasing ends ("one past the last byte").
public struct TeacherAlignment: Equatable, Sendable {
    /// For each word: the token whose end equals the word's end, or −1.
    public var alignedToken: [Int]
    /// For each word: the last token whose end is ≤ the word's end, or −1 when none has ended.
    public var oracleToken: [Int]
    /// For each word: the tokens exactly covering it (first ..< last+1), when the word starts and
    /// ends on token boundaries and its first token is not the row's first token; else nil.
    public var coveringTokens: [Range<Int>?]

    public init(wordEnds: [Int], tokenEnds: [Int]) {
        var aligned = [Int](repeating: -1, count: wordEnds.count)
        var oracle = [Int](repeating: -1, count: wordEnds.count)
        var covering = [Range<Int>?](repeating: nil, count: wordEnds.count)
        var token = 0            // first token whose end is > the current word's end
        var wordStart = 0
        var firstTokenOfWord = 0 // first token whose end is > the word's start
        for (w, end) in wordEnds.enumerated() {
            while firstTokenOfWord < tokenEnds.count && tokenEnds[firstTokenOfWord] <= wordStart { firstTokenOfWord += 1 }
            while token < tokenEnds.count && tokenEnds[token] <= end { token += 1 }
            if token > 0 {
                oracle[w] = token - 1
                if tokenEnds[token - 1] == end { aligned[w] = token - 1 }
            }
            // The word starts on a boundary when it is the row's start or a token ends there.
            let startsOnBoundary = wordStart == 0 || (firstTokenOfWord > 0 && tokenEnds[firstTokenOfWord - 1] == wordStart)
            if aligned[w] >= 0 && startsOnBoundary && firstTokenOfWord > 0 && firstTokenOfWord <= aligned[w] {
                covering[w] = firstTokenOfWord..<(aligned[w] + 1)
            }
            wordStart = end
        }
        alignedToken = aligned
        oracleToken = oracle
        coveringTokens = covering
    }
}
