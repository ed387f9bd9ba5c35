// Evaluation split by document and by block, for a HAT model and a token model: the units'
// bytes and losses add up to the totals, blocks partition their documents, and the token model's
// rows follow the rules (≤ tokens per row, ≤ bytes per row, the first token of a row unpredicted).

import Foundation
import HATModel
import HATTensor
import HATTestSupport
import HATTokenizer
import Testing

@Suite struct EvaluationTests {
    static let teacher = TinyModel.repositoryRoot + "/Tests/HATModelTests/Fixtures/token-model/tiny_teacher.gguf"

    func documents() throws -> [Document] {
        let scratch = try TemporaryDirectory("evaluation")
        return try Corpus.documents(paths: [TinyCorpus.write(into: scratch.path)])
    }

    func expectUnitsAddUp(_ result: EvaluationResult, blockBytes: Int?, names: [String]) throws {
        let units = try #require(result.documents)
        #expect(units.reduce(0) { $0 + $1.predictedBytes } == result.predictedBytes)
        #expect(abs(units.reduce(0.0) { $0 + $1.lossNats } - result.lossNats) < 1e-9 * result.lossNats)
        #expect(units.reduce(0) { $0 + $1.positions } == result.words, "every position (word or token) is in one unit")
        #expect(units.allSatisfy { $0.positions > 0 })
        if let blockBytes {
            #expect(units.count > names.count, "blocks of \(blockBytes) bytes split the documents")
            #expect(units.allSatisfy { $0.predictedBytes <= blockBytes + 64 })
            #expect(Set(units.map { String($0.name.split(separator: "#")[0]) }) == Set(names))
        } else {
            #expect(units.map(\.name) == names)
        }
    }

    @Test(arguments: [nil, 200])
    func hatUnitsAddUp(blockBytes: Int?) throws {
        let config = try TinyModel.config()
        let documents = try documents()
        let stream = Corpus.wordStream(documents, splitter: try TinyModel.splitter(config), endOfSequence: UInt8(config.eosTokenId))
        let rows = stream.rows(wordsPerRow: 24, maxRowBytes: 256)
        let batch = Batch(maxBytes: 4 * 256, maxWords: 4 * 24, config: config)
        let model = HierarchicalModel(config: config, parameters: TinyModel.parameters(config), maxBytes: 4 * 256,
                                      maxWords: 4 * 24, context: ComputeContext(threads: 2))
        let plain = Evaluator.evaluate(model: model, stream: stream, rows: rows, batch: batch)
        let split = Evaluator.evaluate(model: model, stream: stream, rows: rows, batch: batch,
                                       documentNames: documents.map(\.name), blockBytes: blockBytes)
        #expect(plain.lossNats == split.lossNats && plain.predictedBytes == split.predictedBytes)
        try expectUnitsAddUp(split, blockBytes: blockBytes, names: documents.map(\.name))
    }

    @Test(arguments: [nil, 200])
    func tokenUnitsAddUpAndRowsFollowTheRules(blockBytes: Int?) throws {
        let (config, parameters) = try TokenModelFiles.load(Self.teacher)
        let tokenizer = try BPETokenizer(try TokenizerText.definition(from: Self.teacher), source: Self.teacher)
        let documents = try documents()
        let model = TokenModel(config: config, parameters: parameters, maxTokens: 40, context: ComputeContext(threads: 2))
        let result = try TokenEvaluator.evaluate(model: model, tokenizer: tokenizer, documents: documents, tokensPerRow: 40,
                                                 maxRowBytes: 120, blockBytes: blockBytes)
        try expectUnitsAddUp(result, blockBytes: blockBytes, names: documents.map(\.name))
        let (ids, lengths, starts) = try TokenEvaluator.stream(documents, tokenizer: tokenizer)
        #expect(starts.count == documents.count && ids.count == lengths.count)
        #expect(lengths.reduce(0) { $0 + Int($1) } == documents.reduce(0) { $0 + $1.bytes.count + 1 },
                "every byte is in a token, plus one byte per document start")
        let rows = TokenEvaluator.rows(lengths: lengths, tokensPerRow: 40, maxRowBytes: 120)
        #expect(rows.allSatisfy { $0.count <= 40 && lengths[$0].reduce(0) { $0 + Int($1) } <= 120 })
        #expect(result.words == ids.count && result.bytes == lengths.reduce(0) { $0 + Int($1) })
        let firstOfRows = rows.reduce(0) { $0 + Int(lengths[$1.lowerBound]) }
        #expect(result.predictedBytes == result.bytes - firstOfRows)
    }
}
