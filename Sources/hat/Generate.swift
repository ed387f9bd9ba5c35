// hat generate: continue a prompt with a model, streaming the bytes as they are spelled;
// --json prints one object at the end instead (text, bytes, words, timings, speed).

import ArgumentParser
import Foundation
import HATGenerate
import HATModel
import HATTensor

struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Continue a prompt, streaming bytes to stdout (temperature 0 = greedy).")

    @Option(help: "Model directory (default: Models/default).") var model: String?
    @Option(help: "Prompt text.") var prompt: String?
    @Option(help: "File whose bytes are the prompt.") var promptFile: String?
    @Option(help: "Most bytes to generate.") var maxBytes = 256
    @Option(help: "Most words to generate (default: no limit).") var maxWords: Int?
    @Option(help: "Temperature (0 = greedy).") var temperature: Float = 0.8
    @Option(help: "Top-k (default off).") var topK: Int?
    @Option(help: "Top-p (default off).") var topP: Float?
    @Option(help: "Min-p (default off).") var minP: Float?
    @Option(help: "Repetition penalty on recent bytes (1 = off).") var repetitionPenalty: Float = 1
    @Option(help: "Seed for sampling.") var seed: UInt64 = 0
    @Option(help: "Stop when the output ends with this text (repeatable).") var stop: [String] = []
    @Option(help: "Backbone context window in words when the model has none.") var contextWords = 1024
    @OptionGroup var threadOptions: ThreadOptions
    @Flag(help: "Write invalid UTF-8 the model emits as raw bytes instead of U+FFFD.") var raw = false
    @Flag(help: "Print one JSON object at the end instead of streaming.") var json = false

    func validate() throws {
        guard (prompt == nil) != (promptFile == nil) else { throw ValidationError("give exactly one of --prompt and --prompt-file") }
        if maxBytes < 0 { throw ValidationError("--max-bytes must be ≥ 0") }
        if let maxWords, maxWords < 1 { throw ValidationError("--max-words must be ≥ 1") }
        if contextWords < 2 { throw ValidationError("--context-words must be ≥ 2") }
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
            guard let data = FileManager.default.contents(atPath: promptFile) else {
                throw CommandError("cannot read prompt file \(promptFile)")
            }
            promptBytes = Array(data)
        } else {
            promptBytes = Array(prompt!.utf8)
        }
        let directory = try model ?? Locations.defaultModel()
        let (config, parameters) = try ModelFiles.load(from: directory)
        let session = try GenerationSession(config: config, parameters: parameters, limits: ContextLimits(words: contextWords),
                                            context: context)
        let generator = Generator(model: session, sampling: sampling)
        let limits = GenerationLimits(maxBytes: maxBytes, maxWords: maxWords, stop: stop.map { Array($0.utf8) })
        let result = try generator.generate(prompt: promptBytes, limits: limits, raw: raw || json) { bytes, _ in
            if !json { bytes.withUnsafeBufferPointer { _ = write(STDOUT_FILENO, $0.baseAddress, $0.count) } }
            return true
        }
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
