// hat eval: bits per byte and bytes per backbone position of a model on text files, packed
// exactly as training validation packs them (each file one document opened by the
// end-of-sequence word, files in name order, rows of whole words).

import ArgumentParser
import Foundation
import HATModel
import HATTensor
import HATText

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Bits per byte and bytes per backbone position on text files.")

    @Option(help: "Model directory (config.json + model.safetensors). Default: Models/default.")
    var model: String?
    @Option(parsing: .upToNextOption, help: "Text files or directories of *.txt (each file one document).")
    var data: [String]
    @Option(parsing: .unconditional, help: "Words per row (as in training).") var wordsPerRow = 256
    @Option(parsing: .unconditional, help: "Most bytes per row (as in training).") var maxRowBytes = 2048
    @Option(parsing: .unconditional, help: "Rows per batch (speed only; results do not depend on it).") var rowsPerBatch = 8
    @OptionGroup var threadOptions: ThreadOptions
    @Flag(help: "Print one JSON object instead of text.") var json = false

    func validate() throws {
        if data.isEmpty { throw ValidationError("--data needs at least one file") }
        try checkFlag("words-per-row", wordsPerRow, 2...Limits.rowWords)
        try checkFlag("max-row-bytes", maxRowBytes, 1...Limits.rowBytes)
        try checkFlag("rows-per-batch", rowsPerBatch, 1...Limits.rowsPerBatch)
        try checkFlagProduct("--rows-per-batch × --max-row-bytes", rowsPerBatch, maxRowBytes, atMost: Limits.batchBytes, "bytes per batch")
        try checkFlagProduct("--rows-per-batch × --words-per-row", rowsPerBatch, wordsPerRow, atMost: Limits.batchWords, "words per batch")
    }

    func run() throws {
        let context = threadOptions.makeContext()
        let directory = try model ?? Locations.defaultModel()
        let (config, parameters) = try ModelFiles.load(from: directory)
        guard maxRowBytes >= config.maxWordSize else {
            throw ValidationError("--max-row-bytes must be ≥ the model's max_word_size (\(config.maxWordSize))")
        }
        let documents = try Corpus.documents(paths: data).sorted { $0.name < $1.name }
        guard documents.contains(where: { !$0.bytes.isEmpty }) else {
            throw CommandError("nothing to evaluate: \(documents.map(\.name).joined(separator: ", ")) \(documents.count == 1 ? "is" : "are") empty")
        }
        let splitter = try WordSplitter(options: SplitterOptions(mode: SplitterMode(rawValue: config.splitter.name) ?? .hat,
                                                                 maxWordBytes: config.maxWordSize))
        let progress = ProgressLine(quiet: json)
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
        let result = Evaluator.evaluate(model: network, stream: stream, rows: rows, batch: batch) { done, total in
            progress.update("evaluating: \(done)/\(total) rows")
        }
        progress.finish()
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            var object = try JSONSerialization.jsonObject(with: encoder.encode(result)) as! [String: Any]
            object["model"] = directory
            object["documents"] = documents.map(\.name)
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
        }
    }
}
