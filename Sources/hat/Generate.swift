// hat generate: continue a prompt with a model, streaming the bytes as they are spelled;
// --json prints one object at the end instead (text, bytes, words, timings, speed).

import ArgumentParser
import Foundation
import HATCommandLine
import HATGenerate
import HATIO
import HATModel
import HATLayers
import HATTensor

struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Continue a prompt, streaming bytes to stdout (temperature 0 = greedy).")

    @Option(help: ArgumentHelp(Locations.modelHelp)) var model: String?
    @Option(parsing: .unconditional, help: "Prompt text.") var prompt: String?
    @Option(help: "File whose bytes are the prompt.") var promptFile: String?
    @Option(parsing: .unconditional, help: "Most bytes to generate.") var maxBytes = 256
    @Option(parsing: .unconditional, help: "Most words to generate (default: no limit).") var maxWords: Int?
    @Option(parsing: .unconditional, help: "Temperature (0 = greedy).") var temperature: Float = 0.8
    @Option(parsing: .unconditional, help: "Top-k (default off).") var topK: Int?
    @Option(parsing: .unconditional, help: "Top-p (default off).") var topP: Float?
    @Option(parsing: .unconditional, help: "Min-p (default off).") var minP: Float?
    @Option(parsing: .unconditional, help: "Repetition penalty on recent bytes (1 = off).") var repetitionPenalty: Float = 1
    @Option(parsing: .unconditional, help: "Seed for sampling.") var seed: UInt64 = 0
    @Option(parsing: .unconditionalSingleValue, help: "Stop when the output ends with this text (repeatable).") var stop: [String] = []
    @Option(parsing: .unconditional, help: "Backbone context window in words when the model has none.") var contextWords = 1024
    @OptionGroup var threadOptions: ThreadOptions
    @Flag(help: "Write invalid UTF-8 the model emits as raw bytes instead of U+FFFD.") var raw = false
    @Flag(help: "Print one JSON object at the end instead of streaming.") var json = false
    @Option(help: WeightFormat.help)
    var weights: WeightFormat?
    @Option(help: KVCacheFormat.help) var kvCache = KVCacheFormat.commandLineDefault

    func validate() throws {
        guard (prompt == nil) != (promptFile == nil) else { throw ValidationError("give exactly one of --prompt and --prompt-file") }
        try checkFlag("max-bytes", maxBytes, 0...Limits.generatedBytes)
        if let maxWords { try checkFlag("max-words", maxWords, 1...Limits.generatedBytes) }
        try checkFlag("context-words", contextWords, 2...Limits.positions)
        for s in stop { try checkFlag("stop", s.utf8.count, 1...Limits.stopBytes, "bytes long") }
        do { try sampling.validate() } catch { throw ValidationError("\(error)") }
    }

    var sampling: SamplingOptions {
        SamplingOptions(temperature: temperature, topK: topK, topP: topP, minP: minP,
                        repetitionPenalty: repetitionPenalty, seed: seed)
    }

    func run() throws {
        let context = threadOptions.makeContext()
        let promptBytes: [UInt8]
        if let promptFile {
            promptBytes = try TextFile.contents(of: promptFile, what: "prompt file", limit: Limits.generatedBytes)
        } else {
            promptBytes = Array(prompt!.utf8)
        }
        let directory = try model ?? Locations.defaultModel()
        let session = try GenerationModels.open(directory, limits: ContextLimits(words: contextWords), weights: weights,
                                                kvCache: kvCache, context: context)
        let generator = Generator(model: session, sampling: sampling)
        let limits = GenerationLimits(maxBytes: maxBytes, maxWords: maxWords, stop: stop.map { Array($0.utf8) })
        let progress = ProgressLine(quiet: json || promptBytes.count <= 1 << 16)
        let result = try generator.generate(prompt: promptBytes, limits: limits, raw: raw || json, emit: { bytes, _ in
            progress.finish()
            if !json { bytes.withUnsafeBufferPointer { _ = write(STDOUT_FILENO, $0.baseAddress, $0.count) } }
            return true
        }, prefillProgress: { done, total in
            progress.update("reading the prompt: \(ProgressLine.megabytes(done)) of \(ProgressLine.megabytes(total))")
        })
        progress.finish()
        if json {
            let object: [String: Any] = [
                "text": String(decoding: result.bytes, as: UTF8.self), "bytes": result.bytes.count, "words": result.words,
                "prompt_bytes": result.promptBytes, "prefill_seconds": result.prefillSeconds,
                "generation_seconds": result.generationSeconds, "bytes_per_second": result.bytesPerSecond,
                "stop_reason": result.stopReason.rawValue, "model": directory,
            ]
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        } else {
            print("")
        }
    }
}
