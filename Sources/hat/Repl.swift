// hat repl (also what plain `hat` runs): chat-style generation on the shipped default model or
// --model PATH (a HAT directory, byte by byte, or a token model — GGUF or Hugging Face Llama —
// token by token; /words then marks tokens). Each line is appended to the context and the model
// continues it, streaming as it spells. Slash commands change settings (/help). Ctrl-C stops an answer;
// end of input leaves. With a non-terminal stdin it reads line by line, so it can be scripted.

import ArgumentParser
import Foundation
import HATCommandLine
import HATGenerate
import HATLayers
import HATTensor

/// Set by the SIGINT handler while an answer streams.
nonisolated(unsafe) var answerInterrupted: Int32 = 0

struct ReplCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "repl",
        abstract: "Interactive generation: type text, the model continues it byte by byte (default command).")

    @Option(help: ArgumentHelp(Locations.modelHelp)) var model: String?
    @Option(parsing: .unconditional, help: "Temperature (0 = greedy).") var temperature: Float = 0.7
    @Option(parsing: .unconditional, help: "Top-p (1 = off).") var topP: Float = 0.95
    @Option(parsing: .unconditional, help: "Most bytes per answer.") var maxBytes = 300
    @Option(parsing: .unconditional, help: "Seed for sampling.") var seed: UInt64 = 0
    @OptionGroup var threadOptions: ThreadOptions
    @Flag(help: "Write invalid UTF-8 the model emits as raw bytes instead of U+FFFD.") var raw = false
    @Option(help: WeightFormat.help)
    var weights: WeightFormat?
    @Option(help: KVCacheFormat.help) var kvCache = KVCacheFormat.commandLineDefault

    func validate() throws {
        do { try sampling.validate() } catch { throw ValidationError("\(error)") }
        try checkFlag("max-bytes", maxBytes, 1...Limits.generatedBytes)
    }

    var sampling: SamplingOptions { SamplingOptions(temperature: temperature, topP: topP == 1 ? nil : topP, seed: seed) }

    func run() throws {
        let context = threadOptions.makeContext()
        let directory = try model ?? Locations.defaultModel()
        var settings = Repl.Settings()
        settings.sampling = sampling
        settings.maxBytes = maxBytes
        settings.raw = raw
        settings.weights = weights
        settings.kvCache = kvCache
        let terminal = isatty(STDOUT_FILENO) != 0 && isatty(STDIN_FILENO) != 0
        let repl = try Repl(modelDirectory: directory, settings: settings, context: context, colors: terminal,
                            interrupted: { answerInterrupted != 0 },
                            write: { bytes in
                                bytes.withUnsafeBufferPointer { _ = write(STDOUT_FILENO, $0.baseAddress, $0.count) }
                            })
        signal(SIGINT) { _ in answerInterrupted = 1 }
        if terminal { print(repl.banner) }
        let editor = LineEditor()
        while let line = editor.readLine(prompt: terminal ? "> " : "") {
            answerInterrupted = 0
            if !repl.handle(line) { break }
        }
    }
}
