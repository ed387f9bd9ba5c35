// hat eval: bits per byte and bytes per backbone position of a model on text files, packed
// exactly as training validation packs them (each file one document opened by the
// end-of-sequence word, files in name order, rows of whole words). A token model (GGUF file or
// Hugging Face Llama directory) is scored on the same bytes with the same rules: each document
// opened by its start token (counted as one byte), rows of whole tokens; positions are tokens.

import ArgumentParser
import Foundation
import HATModel
import HATTensor
import HATText
import HATTokenizer

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Bits per byte and bytes per backbone position on text files.")

    @Option(help: "HAT model directory, GGUF file or Hugging Face Llama directory. Default: Models/default.")
    var model: String?
    @Option(parsing: .upToNextOption, help: "Text files or directories of *.txt (each file one document).")
    var data: [String]
    @Option(parsing: .unconditional, help: "Words per row (as in training); tokens per row for a token model.") var wordsPerRow = 256
    @Option(parsing: .unconditional, help: "Most bytes per row (as in training).") var maxRowBytes = 2048
    @Option(parsing: .unconditional, help: "Rows per batch (speed only; results do not depend on it).") var rowsPerBatch = 8
    @OptionGroup var threadOptions: ThreadOptions
    @Flag(help: "Print one JSON object instead of text.") var json = false
    @Flag(help: "Also give each document's (or block's) predicted bytes, loss and bits per byte.") var documents = false
    @Option(parsing: .unconditional, help: "With --documents: score each document in blocks of this many bytes (units for intervals).")
    var scoreBlocks: Int?

    func validate() throws {
        if data.isEmpty { throw ValidationError("--data needs at least one file") }
        try checkFlag("words-per-row", wordsPerRow, 2...Limits.rowWords)
        try checkFlag("max-row-bytes", maxRowBytes, 1...Limits.rowBytes)
        try checkFlag("rows-per-batch", rowsPerBatch, 1...Limits.rowsPerBatch)
        try checkFlagProduct("--rows-per-batch × --max-row-bytes", rowsPerBatch, maxRowBytes, atMost: Limits.batchBytes, "bytes per batch")
        try checkFlagProduct("--rows-per-batch × --words-per-row", rowsPerBatch, wordsPerRow, atMost: Limits.batchWords, "words per batch")
        if let scoreBlocks {
            guard documents else { throw ValidationError("--score-blocks needs --documents") }
            try checkFlag("score-blocks", scoreBlocks, 1...Limits.textBytes)
        }
    }

    func run() throws {
        let context = threadOptions.makeContext()
        let directory = try model ?? Locations.defaultModel()
        let documents = try Corpus.documents(paths: data).sorted { $0.name < $1.name }
        guard documents.contains(where: { !$0.bytes.isEmpty }) else {
            throw CommandError("nothing to evaluate: \(documents.map(\.name).joined(separator: ", ")) \(documents.count == 1 ? "is" : "are") empty")
        }
        let progress = ProgressLine(quiet: json)
        let result = TokenModelFiles.isTokenModel(directory)
            ? try evaluateTokenModel(directory, documents, progress: progress, context: context)
            : try evaluateHATModel(directory, documents, progress: progress, context: context)
        progress.finish()
        try show(result, model: directory, documents: documents)
    }

    func evaluateTokenModel(_ path: String, _ documents: [Document], progress: ProgressLine,
                            context: ComputeContext) throws -> EvaluationResult {
        let (config, parameters, _) = try TokenModelFiles.load(path)
        let tokenizer = try BPETokenizer(try TokenizerText.definition(from: path), source: path)
        let network = TokenModel(config: config, parameters: parameters, maxTokens: wordsPerRow, context: context)
        return try TokenEvaluator.evaluate(model: network, tokenizer: tokenizer, documents: documents, tokensPerRow: wordsPerRow,
                                           maxRowBytes: maxRowBytes, blockBytes: self.documents ? scoreBlocks : nil) { done, total in
            progress.update("evaluating: \(done)/\(total) rows")
        }
    }

    func evaluateHATModel(_ directory: String, _ documents: [Document], progress: ProgressLine,
                          context: ComputeContext) throws -> EvaluationResult {
        let (config, parameters) = try ModelFiles.load(from: directory)
        guard maxRowBytes >= config.maxWordSize else {
            throw ValidationError("--max-row-bytes must be ≥ the model's max_word_size (\(config.maxWordSize))")
        }
        let splitter = try config.makeSplitter()
        let (stream, rows) = progress.whileRunning("splitting \(ProgressLine.megabytes(documents.reduce(0) { $0 + $1.bytes.count })) into words") {
            let stream = Corpus.wordStream(documents, splitter: splitter, endOfSequence: UInt8(config.eosTokenId))
            return (stream, stream.rows(wordsPerRow: wordsPerRow, maxRowBytes: maxRowBytes))
        }
        try MemoryPlan.requireBatch(config, maxBytes: rowsPerBatch * maxRowBytes, maxWords: rowsPerBatch * wordsPerRow,
                                    threads: context.threads, training: false, what: "evaluation")
        let batch = Batch(maxBytes: rowsPerBatch * maxRowBytes, maxWords: rowsPerBatch * wordsPerRow, config: config)
        let network = HierarchicalModel(config: config, parameters: parameters,
                                        maxBytes: rowsPerBatch * maxRowBytes, maxWords: rowsPerBatch * wordsPerRow,
                                        context: context)
        return Evaluator.evaluate(model: network, stream: stream, rows: rows, batch: batch,
                                  documentNames: self.documents ? documents.map(\.name) : nil,
                                  blockBytes: self.documents ? scoreBlocks : nil) { done, total in
            progress.update("evaluating: \(done)/\(total) rows")
        }
    }

    func show(_ result: EvaluationResult, model directory: String, documents: [Document]) throws {
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            var object = try JSONSerialization.jsonObject(with: encoder.encode(result)) as! [String: Any]
            object["model"] = directory
            if let scores = result.documents {   // per document or block, with its bits per byte
                object["documents"] = scores.map { ["name": $0.name, "predicted_bytes": $0.predictedBytes, "loss_nats": $0.lossNats,
                                                    "bits_per_byte": $0.bitsPerByte] as [String: Any] }
            } else {
                object["documents"] = documents.map(\.name)
            }
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        } else {
            print("model:               \(directory)")
            print("documents:           \(documents.count) (\(documents.map(\.name).joined(separator: ", ")))")
            print(String(format: "bits per byte:       %.4f", result.bitsPerByte))
            print(String(format: "bytes per position:  %.3f", result.bytesPerPosition))
            print("bytes:               \(result.bytes) (\(result.predictedBytes) predicted)")
            print("words:               \(result.words)")
            print(String(format: "seconds:             %.1f", result.seconds))
            for score in result.documents ?? [] {
                print(String(format: "  %8.4f bits per byte  %10d bytes  ", score.bitsPerByte, score.predictedBytes) + score.name)
            }
        }
    }
}
