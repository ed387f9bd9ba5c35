// TokenEvaluator: bits per byte of a token model under the rules HAT evaluation uses, so the two
// kinds compare on the same text. Each document is opened by the token model's document-start
// token (TokenizerText.documentStart; it plays the part of HAT's end-of-sequence byte and counts
// as one byte), followed by the document's tokens; documents follow each other in one stream;
// rows are consecutive runs of at most `tokensPerRow` tokens and `maxRowBytes` bytes; every token
// with a preceding token in its row is predicted; bits per byte = summed token loss / bytes of
// the predicted tokens. "Positions" are tokens, so bytes per position compares directly with HAT's
// bytes per word. scripts/eval_token_model_reference.py computes the same with transformers.
//
// Shapes: T tokens of a row, V vocabulary.

import Foundation
import HATTensor
import HATTokenizer

public struct TokenEvaluationError: Error, CustomStringConvertible {
    public let message: String
    public init(message: String) { self.message = message }
    public var description: String { message }
}

public enum TokenEvaluator {
    /// The token stream of `documents`: ids, byte length of each token, and where each document's
    /// tokens start.
    public static func stream(_ documents: [Document], tokenizer: BPETokenizer)
        throws -> (ids: [Int32], bytes: [Int32], documentStarts: [Int]) {
        let start = TokenizerText.documentStart(tokenizer)
        var ids: [Int32] = [], lengths: [Int32] = [], starts: [Int] = []
        var cache = BPEWordCache()
        for document in documents {
            starts.append(ids.count)
            if let start {
                ids.append(Int32(start))
                lengths.append(1)
            }
            let tokens: [Int]
            do {
                tokens = try tokenizer.encode(utf8: document.bytes, cache: &cache)
            } catch {
                throw TokenEvaluationError(message: "\(document.name): \(error)")
            }
            for t in tokens {
                ids.append(Int32(t))
                lengths.append(Int32(tokenizer.tokenBytes(t)?.count ?? 0))
            }
        }
        return (ids, lengths, starts)
    }

    /// Rows over a stream of token lengths: ≤ tokensPerRow tokens and ≤ maxRowBytes bytes each
    /// (a single token longer than the budget still forms a row).
    public static func rows(lengths: [Int32], tokensPerRow: Int, maxRowBytes: Int) -> [Range<Int>] {
        var rows: [Range<Int>] = []
        var start = 0
        while start < lengths.count {
            var end = start, bytes = 0
            while end < lengths.count && end - start < tokensPerRow && bytes + Int(lengths[end]) <= maxRowBytes {
                bytes += Int(lengths[end])
                end += 1
            }
            if end == start { end = start + 1 }
            rows.append(start..<end)
            start = end
        }
        return rows
    }

    /// Evaluates `documents` with `model` (whose maxTokens must be ≥ tokensPerRow); the result
    /// splits the loss by document, or by blocks of `blockBytes` bytes of each document.
    public static func evaluate(model: TokenModel, tokenizer: BPETokenizer, documents: [Document], tokensPerRow: Int,
                                maxRowBytes: Int, blockBytes: Int? = nil,
                                progress: (Int, Int) -> Void = { _, _ in }) throws -> EvaluationResult {
        precondition(tokensPerRow <= model.maxTokens, "rows of \(tokensPerRow) tokens, model capacity \(model.maxTokens)")
        let started = Date()
        let (ids, lengths, documentStarts) = try stream(documents, tokenizer: tokenizer)
        if let bad = ids.first(where: { Int($0) >= model.config.vocabularySize }) {
            throw TokenEvaluationError(message: "token \(bad) is outside the model's vocabulary of \(model.config.vocabularySize)")
        }
        var index = DocumentIndex(starts: documentStarts, names: documents.map(\.name), blockBytes: blockBytes)
        // Byte offset of each token within its document (the document start token at 0).
        var offsets = [Int](repeating: 0, count: ids.count)
        for (d, first) in documentStarts.enumerated() {
            let end = d + 1 < documentStarts.count ? documentStarts[d + 1] : ids.count
            var offset = 0
            for t in first..<end {
                offsets[t] = offset
                offset += Int(lengths[t])
            }
        }
        var result = EvaluationResult()
        let rowRanges = rows(lengths: lengths, tokensPerRow: tokensPerRow, maxRowBytes: maxRowBytes)
        let positions = (0..<Int32(tokensPerRow)).map { $0 }, starts = [Int32](repeating: 0, count: tokensPerRow)
        let v = model.config.vocabularySize
        for (r, row) in rowRanges.enumerated() {
            let slice = Array(ids[row])
            for t in row { index.addPosition(at: t, offsetInDocument: offsets[t]) }
            let h = model.forward(ids: slice, positions: positions, sequenceStarts: starts, count: slice.count)
            model.forEachLogits(h.rows(0..<(slice.count - 1))) { j, z in
                let target = row.lowerBound + j + 1
                let loss = TokenModel.logSumExp(z, v) - Double(z[Int(ids[target])])
                index.add(at: target, offsetInDocument: offsets[target], bytes: Int(lengths[target]), nats: loss)
                result.lossNats += loss
                result.predictedBytes += Int(lengths[target])
            }
            result.bytes += lengths[row].reduce(0) { $0 + Int($1) }
            result.words += row.count
            progress(r + 1, rowRanges.count)
        }
        result.documents = index.scores
        result.seconds = Date().timeIntervalSince(started)
        return result
    }
}
