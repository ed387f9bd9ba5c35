// hat eval: bits per byte and bytes per backbone position of a model on text files, packed
// exactly as training validation packs them (each file one document, files in name order). A HAT
// model directory opens each document with its end-of-sequence byte and cuts rows of whole words;
// a token model (GGUF file or Hugging Face Llama directory) opens it with its document-start
// token, counted as one byte, and cuts rows of whole tokens under the same limits
// (TokenEvaluator). Both print the same fields and JSON keys; positions are words or tokens.
// With --teacher (HAT models), the source token model's view of the same rows is added, as
// training validation reports it (Evaluator.teacherDiagnostics): the oracle decoder's bits per
// byte, the teacher's own, and the alignment of the word vectors with its states.

import ArgumentParser
import Foundation
import HATCommandLine
import HATModel
import HATTensor
import HATText

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Bits per byte and bytes per backbone position on text files (HAT or token model).")

    @Option(help: ArgumentHelp(Locations.modelHelp))
    var model: String?
    @Option(parsing: .upToNextOption, help: "Text files or directories of *.txt (each file one document).")
    var data: [String]
    @Option(parsing: .unconditional, help: "Backbone positions per row: words of a HAT model, tokens of a token model (as in training).")
    var wordsPerRow = 256
    @Option(parsing: .unconditional, help: "Most bytes per row (as in training).") var maxRowBytes = 2048
    @Option(parsing: .unconditional, help: "Rows per batch (speed and memory only; results do not depend on it).") var rowsPerBatch = 2
    @Flag(help: "Also report each document (name, bytes, bits per byte, positions).") var documents = false
    @Option(parsing: .unconditional, help: ArgumentHelp("Score each document in blocks of N bytes (implies --documents; a block is named document#k).", valueName: "N"))
    var scoreBlocks: Int?
    @OptionGroup var threadOptions: ThreadOptions
    @Option(name: .customLong("weights"), help: WeightFormat.help)
    var weightFormat: WeightFormat?
    @Flag(help: "Print one JSON object instead of text.") var json = false
    @Option(parsing: .unconditional, help: ArgumentHelp("A token model (GGUF file or Hugging Face directory) whose view of the same rows is added (HAT models only): the oracle decoder's bits per byte (the decoder fed the teacher's final states, the ceiling of the local decoder), the teacher's own bits per byte on the bytes of the tokens it predicts, and how close the word vectors are to its states.", valueName: "SOURCE"))
    var teacher: String?
    @Option(parsing: .unconditional, help: "With --teacher: compare the word vectors after this many backbone blocks with the teacher's states after as many (0: the pooled vectors with its embeddings; default 4, or all of a shallower backbone). Run once per depth for a profile.")
    var alignBlocks: Int?
    @Option(parsing: .unconditional, help: "With --teacher: alignment distance, l2 (‖h − t‖/√d, default) or relative (‖h − t‖/‖t‖).")
    var alignDistance: AlignDistance?

    func validate() throws {
        if data.isEmpty { throw ValidationError("--data needs at least one file") }
        try checkFlag("words-per-row", wordsPerRow, 2...Limits.rowWords)
        try checkFlag("max-row-bytes", maxRowBytes, 1...Limits.rowBytes)
        try checkFlag("rows-per-batch", rowsPerBatch, 1...Limits.rowsPerBatch)
        try checkFlagProduct("--rows-per-batch × --max-row-bytes", rowsPerBatch, maxRowBytes, atMost: Limits.batchBytes, "bytes per batch")
        try checkFlagProduct("--rows-per-batch × --words-per-row", rowsPerBatch, wordsPerRow, atMost: Limits.batchWords, "words per batch")
        if let scoreBlocks { try checkFlag("score-blocks", scoreBlocks, 1...Limits.rowBytes * Limits.rowsPerBatch) }
        if teacher == nil, alignBlocks != nil || alignDistance != nil {
            throw ValidationError("--align-blocks and --align-distance need --teacher")
        }
        if let alignBlocks { try checkFlag("align-blocks", alignBlocks, 0...Limits.layers) }
    }

    /// The stage-1 settings the teacher's diagnostics are measured with on a model of `config`
    /// (the oracle on; alignment after 4 blocks unless the backbone has fewer or --align-blocks says).
    func distillation(for config: HATConfig) -> DistillationSettings {
        DistillationSettings(alignBlocks: alignBlocks ?? min(4, config.backboneConfig.numHiddenLayers), oracle: true,
                             alignDistance: alignDistance ?? .l2)
    }

    var splitByDocument: Bool { documents || scoreBlocks != nil }

    func run() throws {
        let context = threadOptions.makeContext()
        let path = try model ?? Locations.defaultModel()
        let progress = ProgressLine(quiet: json)
        // The model first: a bad --model is reported before the data is read.
        let isTokenModel = TokenModelFiles.isTokenModel(path)
        let weights: EvaluatedWeights
        if isTokenModel {
            weights = .token(try progress.whileRunning("reading \(path)") { try TokenModelBundle(path: path, weights: weightFormat) })
        } else {
            let (config, parameters) = try ModelFiles.load(from: path, weights: weightFormat)
            weights = .hat(config, parameters)
        }
        if teacher != nil, isTokenModel {
            throw CommandError("--teacher needs a HAT model, but \(path) is a token model")
        }
        let documents = try Corpus.documents(paths: data).sorted { $0.name < $1.name }
        guard documents.contains(where: { !$0.bytes.isEmpty }) else {
            throw CommandError("nothing to evaluate: \(documents.map(\.name).joined(separator: ", ")) \(documents.count == 1 ? "is" : "are") empty")
        }
        let result: EvaluationResult
        switch weights {
        case .hat(let config, let parameters):
            result = try evaluateHATModel(config, parameters, documents: documents, progress: progress, context: context)
        case .token(let bundle):
            result = try evaluateTokenModel(bundle, documents: documents, progress: progress, context: context)
        }
        progress.finish()
        let kind = isTokenModel ? "token" : "hat"
        if json {
            print(try Eval.json(result, model: path, kind: kind, documents: documents.map(\.name),
                                alignDistance: alignDistance ?? .l2))
        } else {
            print("model:               \(path) (\(isTokenModel ? "token model" : "HAT model"))")
            print("documents:           \(documents.count) (\(documents.map(\.name).joined(separator: ", ")))")
            print(String(format: "bits per byte:       %.4f", result.bitsPerByte))
            print(String(format: "bytes per position:  %.3f", result.bytesPerPosition))
            print("bytes:               \(result.bytes) (\(result.predictedBytes) predicted)")
            print("positions:           \(result.words) (\(isTokenModel ? "tokens" : "words"))")
            print(String(format: "seconds:             %.1f", result.seconds))
            if let t = result.teacher {
                print(String(format: "oracle decoder:      %.4f bits per byte (the decoder fed the teacher's final states)", t.oracleBitsPerByte))
                print(String(format: "teacher:             %.4f bits per byte (on the bytes of the tokens it predicts)", t.teacherBitsPerByte))
                print(String(format: "alignment:           %.4f %@, cosine %.4f after %d blocks (%d of %d words aligned)", t.align,
                             (alignDistance ?? .l2).rawValue, t.alignCosine, t.alignBlocks, t.alignedWords, t.words))
            }
            for unit in result.documents ?? [] {
                print(String(format: "  %@  %d bytes  %.4f bits per byte  %d positions", unit.name, unit.predictedBytes,
                             unit.bitsPerByte, unit.positions))
            }
        }
    }

    /// The JSON object of a result: the same keys for both kinds ("positions" are words or
    /// tokens; "words" is kept as its older name), "per_document" scores (or per block) when asked,
    /// "teacher" with --teacher (a value without words to measure it on is null).
    static func json(_ result: EvaluationResult, model: String, kind: String, documents: [String],
                     alignDistance: AlignDistance) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var object = try JSONSerialization.jsonObject(with: encoder.encode(result)) as! [String: Any]
        if var teacher = object["teacher"] as? [String: Any] {
            teacher["align_distance"] = alignDistance.rawValue
            object["teacher"] = teacher
        }
        object["model"] = model
        object["kind"] = kind
        object["positions"] = result.words
        object["documents"] = documents
        if let units = result.documents {
            object["per_document"] = units.map { unit -> [String: Any] in
                ["name": unit.name, "bytes": unit.predictedBytes, "loss_nats": unit.lossNats, "positions": unit.positions,
                 "bits_per_byte": unit.predictedBytes > 0 ? unit.bitsPerByte : NSNull()]
            }
        }
        let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
        return String(decoding: data, as: UTF8.self)
    }

    enum EvaluatedWeights {
        case hat(HATConfig, ParameterSet)
        case token(TokenModelBundle)
    }

    /// The teacher at `source` with room for rows of `maxRowBytes`, checked against the model it is
    /// to judge: the same width, and alignment at a depth both have.
    func openTeacher(_ source: String, for config: HATConfig, maxRowBytes: Int, context: ComputeContext) throws -> Teacher {
        let settings = distillation(for: config)
        guard settings.alignBlocks <= config.backboneConfig.numHiddenLayers else {
            throw ValidationError("--align-blocks \(settings.alignBlocks) is more than the model's \(config.backboneConfig.numHiddenLayers) backbone blocks")
        }
        let teacher = try Teacher(source: source, maxRowBytes: maxRowBytes, alignBlocks: settings.alignBlocks, context: context)
        guard teacher.model.config.blocks.hiddenSize == config.backboneConfig.hiddenSize else {
            throw CommandError("the teacher \(source) has width \(teacher.model.config.blocks.hiddenSize), the model's backbone \(config.backboneConfig.hiddenSize)")
        }
        return teacher
    }

    func evaluateHATModel(_ config: HATConfig, _ parameters: ParameterSet, documents: [Document], progress: ProgressLine,
                          context: ComputeContext) throws -> EvaluationResult {
        guard maxRowBytes >= config.maxWordSize else {
            throw ValidationError("--max-row-bytes must be ≥ the model's max_word_size (\(config.maxWordSize))")
        }
        let splitter = try config.makeSplitter()
        let (stream, rows) = progress.whileRunning("splitting \(ProgressLine.megabytes(documents.reduce(0) { $0 + $1.bytes.count })) into words") {
            let stream = Corpus.wordStream(documents, splitter: splitter, endOfSequence: UInt8(config.eosTokenId))
            return (stream, stream.rows(wordsPerRow: wordsPerRow, maxRowBytes: maxRowBytes))
        }
        // Batches hold --rows-per-batch rows, but never more than the text has: a short
        // evaluation gets buffers the size of its text, not of a full batch.
        let maxBytes = min(rowsPerBatch * maxRowBytes, rows.reduce(0) { $0 + stream.byteCount(of: $1) })
        let maxWords = min(rowsPerBatch * wordsPerRow, rows.reduce(0) { $0 + $1.count })
        try MemoryPlan.requireBatch(config, maxBytes: maxBytes, maxWords: maxWords,
                                    threads: context.threads, training: false, what: "evaluation")
        // The teacher reads one row at a time: room for the longest row the text has.
        let teacherModel = try teacher.map { source in
            try progress.whileRunning("reading the teacher \(source)") {
                try openTeacher(source, for: config, maxRowBytes: rows.map { stream.byteCount(of: $0) }.max() ?? 1, context: context)
            }
        }
        let batch = Batch(maxBytes: maxBytes, maxWords: maxWords, config: config)
        let network = HierarchicalModel(config: config, parameters: parameters, maxBytes: maxBytes, maxWords: maxWords,
                                        context: context, needsBackward: false)
        var result = Evaluator.evaluate(model: network, stream: stream, rows: rows, batch: batch,
                                        documentNames: splitByDocument ? documents.map(\.name) : nil, blockBytes: scoreBlocks) { done, total in
            progress.update("evaluating: \(done)/\(total) rows")
        }
        if let teacher = teacherModel {
            let signals = TeacherSignals(maxWords: maxWords, width: config.backboneConfig.hiddenSize)
            result.teacher = Evaluator.teacherDiagnostics(model: network, teacher: teacher, signals: signals, settings: distillation(for: config),
                                                          stream: stream, rows: rows, batch: batch,
                                                          endOfSequence: UInt8(config.eosTokenId)) { done, total in
                progress.update("the teacher's view: \(done)/\(total) rows")
            }
        }
        return result
    }

    func evaluateTokenModel(_ bundle: TokenModelBundle, documents: [Document], progress: ProgressLine,
                            context: ComputeContext) throws -> EvaluationResult {
        let model = TokenModel(config: bundle.config, parameters: bundle.parameters, maxTokens: wordsPerRow, context: context)
        let result = try TokenEvaluator.evaluate(model: model, tokenizer: bundle.tokenizer, documents: documents,
                                                 tokensPerRow: wordsPerRow, maxRowBytes: maxRowBytes,
                                                 blockBytes: scoreBlocks) { done, total in
            progress.update("evaluating: \(done)/\(total) rows")
        }
        guard splitByDocument else {
            var total = result
            total.documents = nil
            return total
        }
        return result
    }
}
