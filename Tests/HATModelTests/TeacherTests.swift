// The teacher of distilled grafting on the tiny preset with a tiny random Llama teacher that has a
// real BPE tokenizer (Fixtures/token-model/tiny_teacher.gguf): the signals it fills for a batch
// equal what its token model and tokenizer give when asked directly, and a short distilled training
// run logs its stage-1 losses, validates with the oracle and the teacher, and resumes exactly.

import Foundation
import HATModel
import HATTensor
import HATTestSupport
import HATTokenizer
import Testing

@Suite struct TeacherTests {
    static let source = TinyModel.repositoryRoot + "/Tests/HATModelTests/Fixtures/token-model/tiny_teacher.gguf"

    @Test func signalsEqualTheTokenModelAskedDirectly() throws {
        let config = try TinyModel.config()
        let splitter = try TinyModel.splitter(config)
        let eos = UInt8(config.eosTokenId)
        var stream = WordStream()
        let texts = ["It is a truth universally acknowledged, that a single man in possession of a good fortune.",
                     "Call me Ishmael. Some years ago—never mind how long precisely—I thought I would sail."]
        for text in texts { stream.appendDocument(Array(text.utf8), splitter: splitter, endOfSequence: eos) }
        // Two rows: the whole first document, and the second cut in the middle (a row that starts mid-document).
        let secondStart = stream.documentFirstWord[1]
        let rows = [0..<secondStart, secondStart..<(secondStart + 9), (secondStart + 9)..<stream.wordCount]
        let batch = Batch(maxBytes: stream.byteCount, maxWords: stream.wordCount, config: config)
        for row in rows { batch.appendRow(stream, words: row) }
        batch.finish()

        let teacher = try Teacher(source: Self.source, maxRowBytes: 256, alignBlocks: 1, context: ComputeContext(threads: 2))
        let signals = TeacherSignals(maxWords: batch.wordCount, width: config.backboneConfig.hiddenSize)
        teacher.fill(signals, for: batch, endOfSequence: eos)
        let stats = teacher.lastStats
        #expect(stats.rowsWithoutSignals == 0 && stats.alignedWords > batch.wordCount / 2 && stats.distilledWords > 0)

        // Row 0 asked directly: <|endoftext|>-like document start, then the first text's tokens.
        let tokenizer = teacher.tokenizer
        let start = try #require(teacher.documentStart)
        let ids = [Int32(start)] + tokenizer.encode(texts[0]).map { Int32($0) }
        let model = teacher.model
        let positions = (0..<Int32(ids.count)).map { $0 }, zeros = [Int32](repeating: 0, count: ids.count)
        var afterOne: [[Float]] = []
        let h = model.forward(ids: ids, positions: positions, sequenceStarts: zeros, count: ids.count) { depth, x in
            if depth == 1 { afterOne = (0..<ids.count).map { Array(UnsafeBufferPointer(start: x.row($0), count: x.cols)) } }
        }
        let final = (0..<ids.count).map { Array(UnsafeBufferPointer(start: h.row($0), count: h.cols)) }
        var logProbs = [0.0]
        model.forEachLogits(h.rows(0..<(ids.count - 1))) { j, z in
            logProbs.append(Double(z[Int(ids[j + 1])]) - TokenModel.logSumExp(z, model.config.vocabularySize))
        }
        var tokenEnds = [1]          // the document start spans the EOS byte
        for id in ids.dropFirst() { tokenEnds.append(tokenEnds.last! + tokenizer.tokenBytes(Int(id))!.count) }
        let wordEnds = (0..<rows[0].count).map { Int(batch.wordEnd[$0]) }
        let alignment = TeacherAlignment(wordEnds: wordEnds, tokenEnds: tokenEnds)
        let width = config.backboneConfig.hiddenSize
        for w in 0..<rows[0].count {
            let aligned = alignment.alignedToken[w]
            #expect((signals.alignMask[w] != 0) == (aligned >= 0), "word \(w)")
            if aligned >= 0 {
                #expect(Array(UnsafeBufferPointer(start: signals.alignedStates.row(w), count: width)) == afterOne[aligned])
            }
            if alignment.oracleToken[w] >= 0 {
                #expect(Array(UnsafeBufferPointer(start: signals.oracleStates.row(w), count: width)) == final[alignment.oracleToken[w]])
            }
            if let span = alignment.coveringTokens[w] {
                let expected = span.reduce(0.0) { $0 + logProbs[$1] }
                #expect(signals.distillMask[w] != 0 && abs(signals.wordLogProb[w] - expected) < 1e-9, "word \(w)")
            } else {
                #expect(signals.distillMask[w] == 0)
            }
        }
        // The EOS word is matched to the document start; words of the row cut mid-document have signals too.
        #expect(signals.alignMask[0] != 0)
        #expect((rows[0].count..<(rows[0].count + rows[1].count)).contains { signals.distillMask[$0] != 0 })
    }

    @Test func distilledTrainingLogsValidatesAndResumesExactly() throws {
        let scratch = try TemporaryDirectory("teacher")
        let data = try TinyCorpus.write(into: scratch.file("corpus"))
        let config = try TinyModel.config()
        var options = tinyOptions(data: data, steps: 6)
        options.validateEvery = 3
        options.checkpointEvery = 3
        options.teacher = Self.source
        options.distillation = DistillationSettings(alignBlocks: 1, alignWeight: 0.5, distillWeight: 0.5)
        options.freeze = ["backbone"]
        let whole = scratch.file("whole"), split = scratch.file("split")
        let uninterrupted = try Trainer(runDirectory: whole, options: options, config: config,
                                        parameters: TinyModel.parameters(config), context: ComputeContext(threads: 2))
        try uninterrupted.run { _ in }
        let lines = try String(contentsOfFile: whole + "/metrics.jsonl", encoding: .utf8).split(separator: "\n")
        let first = try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as! [String: Any]
        for key in ["align", "align_cosine", "distill", "teacher_bits_per_byte"] { #expect(first[key] is Double, "\(key) in \(first)") }
        let validation = try lines.map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
            .first { $0["split"] as? String == "validation" }
        #expect(validation?["oracle_bits_per_byte"] is Double && validation?["teacher_bits_per_byte"] is Double)

        let first3 = try Trainer(runDirectory: split, options: options, config: config, parameters: TinyModel.parameters(config),
                                 context: ComputeContext(threads: 2))
        var stop = false
        first3.shouldStop = { stop }
        try first3.run { event in if case .step(let m) = event, m.step == 3 { stop = true } }
        let resumed = try Trainer.resume(runDirectory: split, context: ComputeContext(threads: 3))
        try resumed.run { _ in }
        #expect(try losses(whole) == losses(split))
        #expect(firstDifference(weightBits(uninterrupted.parameters), weightBits(resumed.parameters)) == nil)
    }
}
