// `hat eval --teacher` (issue 13, item 2): the teacher's view of the evaluated rows — the oracle
// decoder's bits per byte, the teacher's own and the alignment — equals Evaluator.teacherDiagnostics
// computed in this process on the same rows, with the tiny model and the tiny token teacher; the
// model's own figures do not change with it; alignment defaults to 4 blocks or all of a shallower
// backbone; and its flags are refused clearly where they make no sense.

import Foundation
import HATModel
import HATTensor
import HATTestSupport
import Testing

@Suite struct EvalWithTeacher {
    static let prose = String(repeating: "It is a truth universally acknowledged, that a single man in possession of a good "
                              + "fortune must be in want of a wife. Call me Ishmael; some years ago I went to sea. ", count: 8)

    func jsonObject(_ run: Run) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: run.stdout) as? [String: Any], "\(run.text) \(run.stderr)")
    }

    @Test func addsTheTeachersViewOfTheSameRowsAndLeavesTheModelsOwnFigures() throws {
        let scratch = try TemporaryDirectory("eval-teacher")
        let model = scratch.file("model"), text = scratch.file("text.txt")
        try writeTinyModel(model)
        try Self.prose.write(toFile: text, atomically: true, encoding: .utf8)
        // Short rows, two a batch: several batches, rows that start mid-document.
        let rowFlags = ["--words-per-row", "32", "--max-row-bytes", "256"]
        let plain = try jsonObject(try hat(["eval", "--model", model, "--data", text, "--json"] + rowFlags))
        let taught = try jsonObject(try hat(["eval", "--model", model, "--data", text, "--json", "--teacher", tinyTeacherGGUF,
                                             "--align-blocks", "1"] + rowFlags))
        #expect(plain["teacher"] == nil)
        for key in ["bits_per_byte", "bytes", "predicted_bytes", "positions"] {
            #expect((plain[key] as? NSNumber) == (taught[key] as? NSNumber), "\(key): \(plain[key] ?? "-") vs \(taught[key] ?? "-")")
        }
        let view = try #require(taught["teacher"] as? [String: Any], "\(taught)")

        // The same in process: the rows hat eval cuts, the model as stored, the teacher read apart.
        let (config, parameters) = try ModelFiles.load(from: model, weights: nil)
        let stream = Corpus.wordStream(try Corpus.documents(paths: [text]), splitter: try config.makeSplitter(),
                                       endOfSequence: UInt8(config.eosTokenId))
        let rows = stream.rows(wordsPerRow: 32, maxRowBytes: 256)
        #expect(rows.count > 4)
        let maxBytes = 2 * 256, maxWords = 2 * 32
        let context = ComputeContext(threads: 2)
        let network = HierarchicalModel(config: config, parameters: parameters, maxBytes: maxBytes, maxWords: maxWords,
                                        context: context, needsBackward: false)
        let teacher = try Teacher(source: tinyTeacherGGUF, maxRowBytes: 256, alignBlocks: 1, context: context)
        let expected = Evaluator.teacherDiagnostics(
            model: network, teacher: teacher, signals: TeacherSignals(maxWords: maxWords, width: config.backboneConfig.hiddenSize),
            settings: DistillationSettings(alignBlocks: 1, oracle: true), stream: stream, rows: rows,
            batch: Batch(maxBytes: maxBytes, maxWords: maxWords, config: config), endOfSequence: UInt8(config.eosTokenId))

        func close(_ key: String, _ value: Double) {
            let got = (view[key] as? Double) ?? .nan
            #expect(abs(got - value) <= 1e-12 * max(1, abs(value)), "\(key): \(got) from hat eval, \(value) in process")
        }
        close("oracle_bits_per_byte", expected.oracleBitsPerByte)
        close("teacher_bits_per_byte", expected.teacherBitsPerByte)
        close("align", expected.align)
        close("align_cosine", expected.alignCosine)
        #expect(view["align_blocks"] as? Int == 1 && view["align_distance"] as? String == "l2")
        #expect(view["aligned_words"] as? Int == expected.alignedWords && view["words"] as? Int == expected.words)
        // Measured, not echoed: words were aligned, and the oracle path is another path than the model's own.
        #expect(expected.alignedWords > expected.words / 2 && expected.words == taught["positions"] as? Int)
        #expect(expected.oracleBitsPerByte.isFinite && expected.oracleBitsPerByte != plain["bits_per_byte"] as? Double)
        #expect(expected.teacherBitsPerByte > 0 && expected.teacherBitsPerByte.isFinite)
    }

    @Test func teacherFlagsAreRefusedWhereTheyMakeNoSense() throws {
        let scratch = try TemporaryDirectory("eval-teacher-flags")
        let model = scratch.file("model"), text = scratch.file("text.txt")
        try writeTinyModel(model)
        try Self.prose.write(toFile: text, atomically: true, encoding: .utf8)
        let layers = try TinyModel.config().backboneConfig.numHiddenLayers
        // Without --align-blocks: after 4 blocks, or after all of a shallower backbone (the tiny one).
        let defaulted = try jsonObject(try hat(["eval", "--model", model, "--data", text, "--json", "--teacher", tinyTeacherGGUF]))
        #expect((defaulted["teacher"] as? [String: Any])?["align_blocks"] as? Int == min(4, layers), "\(defaulted)")
        expectClearError(try hat(["eval", "--model", model, "--data", text, "--align-blocks", "1"]), ["--teacher"],
                         "--align-blocks without a teacher")
        expectClearError(try hat(["eval", "--model", tinyTeacherGGUF, "--data", text, "--teacher", tinyTeacherGGUF]),
                         ["--teacher", "token model"], "a teacher for a token model")
        expectClearError(try hat(["eval", "--model", model, "--data", text, "--teacher", scratch.file("missing.gguf")]),
                         ["missing.gguf"], "a missing teacher")
        expectClearError(try hat(["eval", "--model", model, "--data", text, "--teacher", tinyTeacherGGUF,
                                  "--align-blocks", String(layers + 1)]), ["--align-blocks", "\(layers)"], "alignment past the backbone")
        expectClearError(try hat(["eval", "--model", model, "--data", text, "--teacher", tinyTeacherGGUF,
                                  "--align-blocks", "1000000"]), ["--align-blocks"], "an absurd depth")
    }
}
