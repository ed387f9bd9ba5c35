// Teacher: the source token model run over a HAT batch to fill its TeacherSignals (stage 1 of
// grafting by distillation). Each batch row is tokenized as the teacher would read it — the
// end-of-sequence word (byte 192) that opens a document becomes the teacher's document-start
// token (TokenText.documentStart), the text between them is encoded as plain UTF-8 — and each
// row is one sequence of the teacher (positions from 0, as the student's rows). The teacher reads
// the row's tokens once: its states after the first n blocks, its final states (before the norm)
// and the log-probability of every token given the ones before it in the row. Word ↔ token
// matching is TeacherAlignment's, on byte offsets; the EOS word spans its one byte and so does
// the document-start token. A row whose text the tokenizer cannot cover byte for byte (invalid
// UTF-8 cannot occur in rows cut at word boundaries of valid text, but is handled) gets no signals.
//
// The teacher may share the HAT model's frozen backbone blocks (`sharedBlocks`), so it costs one
// forward over tokens, not a second copy of the weights.
//
// Shapes: T tokens of one row, C = Db the width, V vocabulary.

import Foundation
import HATIO
import HATTensor
import HATTokenizer

public final class Teacher {
    public let model: TokenModel
    public let tokenizer: BPETokenizer
    public let source: String
    /// The token that opens each document (nil: documents are not marked).
    public let documentStart: Int?
    /// n: the depth whose states the student's aligned word vectors are compared with.
    public let alignBlocks: Int
    /// Most tokens of one row.
    public let maxRowTokens: Int
    /// True when the blocks are the HAT model's (no second copy).
    public let sharesBlocks: Bool

    let ids: UnsafeMutablePointer<Int32>           // [maxRowTokens]
    let positions: UnsafeMutablePointer<Int32>     // [maxRowTokens]
    let starts: UnsafeMutablePointer<Int32>        // [maxRowTokens] all 0: one sequence
    let tokenLogProb: UnsafeMutablePointer<Double> // [maxRowTokens] log p(token j | tokens < j); 0 for j = 0
    let alignedCapture: Tensor                     // [maxRowTokens, C] states after n blocks
    let arena: Arena
    private var cache = BPEWordCache()

    /// What the teacher saw in the last `fill`: its loss over the tokens it predicted, and how
    /// many words got each signal.
    public struct Stats: Equatable, Sendable {
        public var tokens = 0
        public var predictedTokens = 0
        public var predictedBytes = 0
        public var lossNats = 0.0
        public var words = 0
        public var alignedWords = 0
        public var distilledWords = 0
        public var rowsWithoutSignals = 0
    }
    public private(set) var lastStats = Stats()

    /// The teacher at `source` (GGUF file or Hugging Face directory). With `sharedBlocks`, the
    /// blocks are read from those parameters under `backbone.layers` (they must hold the same
    /// weights: the caller checks provenance) and only the embedding, norm and head are read
    /// from `source`.
    public init(source: String, sharedBlocks: ParameterSet? = nil, maxRowBytes: Int, alignBlocks: Int,
                context: ComputeContext) throws {
        self.source = source
        let definition = try TokenizerText.definition(from: source)
        let tokenizer = try BPETokenizer(definition, source: source)
        self.tokenizer = tokenizer
        let (config, parameters) = try TokenModelFiles.load(source, includeBlocks: sharedBlocks == nil)
        guard tokenizer.vocabularySize <= config.vocabularySize else {
            throw HATIOError(.badShape, path: source, tensor: TokenModel.embeddingName,
                             "has \(config.vocabularySize) rows but the tokenizer has \(tokenizer.vocabularySize) tokens")
        }
        guard (0...config.blocks.numHiddenLayers).contains(alignBlocks) else {
            throw HATIOError(.usage, path: source, "alignment after \(alignBlocks) blocks, but the teacher has \(config.blocks.numHiddenLayers)")
        }
        documentStart = TokenizerText.documentStart(tokenizer)
        self.alignBlocks = alignBlocks
        maxRowTokens = maxRowBytes
        sharesBlocks = sharedBlocks != nil
        model = TokenModel(config: config, parameters: parameters, blockParameters: sharedBlocks,
                           blockPrefix: sharedBlocks == nil ? TokenModel.sourceBlockPrefix : "backbone.layers",
                           maxTokens: maxRowBytes, context: context)
        let arena = Arena(name: "teacher")
        self.arena = arena
        ids = arena.allocateInt32(count: maxRowBytes)
        positions = arena.allocateInt32(count: maxRowBytes)
        starts = arena.allocateInt32(count: maxRowBytes)
        alignedCapture = arena.tensor(rows: maxRowBytes, cols: config.blocks.hiddenSize)
        tokenLogProb = .allocate(capacity: maxRowBytes)
        tokenLogProb.initialize(repeating: 0, count: maxRowBytes)
        for i in 0..<maxRowBytes { positions[i] = Int32(i) }
    }

    deinit { tokenLogProb.deallocate() }

    /// The row's tokens and where each ends (byte offsets from the row's first byte), or nil when
    /// the tokenizer cannot cover the row's bytes exactly.
    func tokenize(_ rowBytes: ArraySlice<UInt8>, endOfSequence: UInt8) -> (ids: [Int], ends: [Int])? {
        var ids: [Int] = [], ends: [Int] = []
        var offset = 0
        var segment = rowBytes.startIndex
        func flush(upTo end: Int) -> Bool {
            guard segment < end else { return true }
            guard let tokens = try? tokenizer.encode(utf8: Array(rowBytes[segment..<end]), cache: &cache) else { return false }
            for t in tokens {
                guard let bytes = tokenizer.tokenBytes(t), !bytes.isEmpty else { return false }
                offset += bytes.count
                ids.append(t)
                ends.append(offset)
            }
            return offset == end - rowBytes.startIndex
        }
        for i in rowBytes.indices where rowBytes[i] == endOfSequence {
            guard flush(upTo: i) else { return nil }
            offset += 1                          // the EOS byte
            if let documentStart {
                ids.append(documentStart)
                ends.append(offset)
            }
            segment = i + 1
        }
        guard flush(upTo: rowBytes.endIndex) else { return nil }
        return (ids, ends)
    }

    /// Fills `signals` for every word of `batch` (its rows are cut from `stream`-like bytes with
    /// the end-of-sequence byte `endOfSequence` opening documents).
    public func fill(_ signals: TeacherSignals, for batch: Batch, endOfSequence: UInt8) {
        signals.reset(words: batch.wordCount)
        var stats = Stats(words: batch.wordCount)
        let bytes = (0..<batch.byteCount).map { UInt8(truncatingIfNeeded: batch.bytes[$0]) }
        var rowFirstWord = 0
        while rowFirstWord < batch.wordCount {
            var rowEndWord = rowFirstWord + 1
            while rowEndWord < batch.wordCount && !batch.isRowStart(word: rowEndWord) { rowEndWord += 1 }
            let firstByte = Int(batch.wordStart[rowFirstWord]), endByte = Int(batch.wordEnd[rowEndWord - 1])
            if let (tokens, tokenEnds) = tokenize(bytes[firstByte..<endByte], endOfSequence: endOfSequence),
               !tokens.isEmpty, tokens.count <= maxRowTokens, tokens.allSatisfy({ $0 < model.config.vocabularySize }) {
                let wordEnds = (rowFirstWord..<rowEndWord).map { Int(batch.wordEnd[$0]) - firstByte }
                fillRow(signals, words: rowFirstWord..<rowEndWord, tokens: tokens, tokenEnds: tokenEnds,
                        alignment: TeacherAlignment(wordEnds: wordEnds, tokenEnds: tokenEnds), stats: &stats)
            } else {
                stats.rowsWithoutSignals += 1
            }
            rowFirstWord = rowEndWord
        }
        lastStats = stats
    }

    private func fillRow(_ signals: TeacherSignals, words: Range<Int>, tokens: [Int], tokenEnds: [Int],
                         alignment: TeacherAlignment, stats: inout Stats) {
        let t = tokens.count, c = alignedCapture.cols, v = model.config.vocabularySize
        for j in 0..<t {
            ids[j] = Int32(tokens[j])
            starts[j] = 0
        }
        let captureDepth = alignBlocks
        let h = model.forward(ids: ids, positions: positions, sequenceStarts: starts, count: t) { depth, x in
            if depth == captureDepth { self.alignedCapture.rows(0..<t).copy(from: x, on: self.model.context) }
        }
        // log p(token j+1 | tokens ≤ j) from the logits at j.
        tokenLogProb[0] = 0
        model.forEachLogits(h.rows(0..<(t - 1))) { j, z in
            let next = Int(ids[j + 1])
            tokenLogProb[j + 1] = Double(z[next]) - TokenModel.logSumExp(z, v)
        }
        stats.tokens += t
        stats.predictedTokens += t - 1
        stats.predictedBytes += tokenEnds[t - 1] - tokenEnds[0]
        for j in 1..<t { stats.lossNats -= tokenLogProb[j] }

        for (k, w) in words.enumerated() {
            let aligned = alignment.alignedToken[k]
            if aligned >= 0 {
                signals.alignedStates.row(w).update(from: alignedCapture.row(aligned), count: c)
                signals.alignMask[w] = 1
                stats.alignedWords += 1
            }
            let oracle = alignment.oracleToken[k]
            if oracle >= 0 {
                signals.oracleStates.row(w).update(from: h.row(oracle), count: c)
                signals.oracleMask[w] = 1
            }
            if let span = alignment.coveringTokens[k] {
                signals.wordLogProb[w] = span.reduce(0.0) { $0 + tokenLogProb[$1] }
                signals.distillMask[w] = 1
                stats.distilledWords += 1
            }
        }
    }
}

/// How hat reads a token model's text conventions (one place for each rule).
public enum TokenizerText {
    /// The tokenizer of a source checkpoint: GGUF metadata, or tokenizer.json beside a Hugging Face
    /// config.json.
    public static func definition(from source: String) throws -> TokenizerDefinition {
        var isDirectory: ObjCBool = false
        _ = FileManager.default.fileExists(atPath: source, isDirectory: &isDirectory)
        if isDirectory.boolValue {
            let json = (source as NSString).appendingPathComponent("tokenizer.json")
            guard FileManager.default.fileExists(atPath: json) else {
                throw HATIOError(.io, path: source, "has no tokenizer.json: hat needs the tokenizer of a token model")
            }
            return try TokenizerDefinition(tokenizerJSONPath: json)
        }
        return try TokenizerDefinition(ggufPath: source)
    }

    /// The token that opens a document: the BOS token when the tokenizer adds one; otherwise
    /// `<|endoftext|>` when it exists (GPT-2-style vocabularies such as SmolLM2's separate
    /// pretraining documents with it); otherwise the EOS token; nil when there is none.
    public static func documentStart(_ tokenizer: BPETokenizer) -> Int? {
        if tokenizer.definition.addBOS, let bos = tokenizer.bosTokenID { return bos }
        if let endOfText = tokenizer.id(ofSpelling: "<|endoftext|>") { return endOfText }
        return tokenizer.eosTokenID
    }
}
