// hat eval: bits per byte and bytes per backbone position of a model on text files, packed
// exactly as training validation packs them (each file one document, files in name order). A HAT
// model directory opens each document with its end-of-sequence byte and cuts rows of whole words;
// a token model (GGUF file or Hugging Face Llama directory) opens it with its document-start
// token, counted as one byte, and cuts rows of whole tokens under the same limits
// (TokenEvaluator). Both print the same fields and JSON keys; positions are words or tokens.

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

    func validate() throws {
        if data.isEmpty { throw ValidationError("--data needs at least one file") }
        try checkFlag("words-per-row", wordsPerRow, 2...Limits.rowWords)
        try checkFlag("max-row-bytes", maxRowBytes, 1...Limits.rowBytes)
        try checkFlag("rows-per-batch", rowsPerBatch, 1...Limits.rowsPerBatch)
        try checkFlagProduct("--rows-per-batch × --max-row-bytes", rowsPerBatch, maxRowBytes, atMost: Limits.batchBytes, "bytes per batch")
        try checkFlagProduct("--rows-per-batch × --words-per-row", rowsPerBatch, wordsPerRow, atMost: Limits.batchWords, "words per batch")
        if let scoreBlocks { try checkFlag("score-blocks", scoreBlocks, 1...Limits.rowBytes * Limits.rowsPerBatch) }
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
            print(try Eval.json(result, model: path, kind: kind, documents: documents.map(\.name)))
        } else {
            print("model:               \(path) (\(isTokenModel ? "token model" : "HAT model"))")
            print("documents:           \(documents.count) (\(documents.map(\.name).joined(separator: ", ")))")
            print(String(format: "bits per byte:       %.4f", result.bitsPerByte))
            print(String(format: "bytes per position:  %.3f", result.bytesPerPosition))
            print("bytes:               \(result.bytes) (\(result.predictedBytes) predicted)")
            print("positions:           \(result.words) (\(isTokenModel ? "tokens" : "words"))")
            print(String(format: "seconds:             %.1f", result.seconds))
            for unit in result.documents ?? [] {
                print(String(format: "  %@  %d bytes  %.4f bits per byte  %d positions", unit.name, unit.predictedBytes,
                             unit.bitsPerByte, unit.positions))
            }
        }
    }

    /// The JSON object of a result: the same keys for both kinds ("positions" are words or
    /// tokens; "words" is kept as its older name), "per_document" scores (or per block) when asked.
    static func json(_ result: EvaluationResult, model: String, kind: String, documents: [String]) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var object = try JSONSerialization.jsonObject(with: encoder.encode(result)) as! [String: Any]
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
        let batch = Batch(maxBytes: maxBytes, maxWords: maxWords, config: config)
        let network = HierarchicalModel(config: config, parameters: parameters, maxBytes: maxBytes, maxWords: maxWords,
                                        context: context, needsBackward: false)
        return Evaluator.evaluate(model: network, stream: stream, rows: rows, batch: batch,
                                  documentNames: splitByDocument ? documents.map(\.name) : nil, blockBytes: scoreBlocks) { done, total in
            progress.update("evaluating: \(done)/\(total) rows")
        }
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
