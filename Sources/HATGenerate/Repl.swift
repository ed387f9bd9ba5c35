// Repl: the interactive loop behind `hat repl` (and plain `hat`), independent of the terminal:
// it takes one input line at a time and writes to an output function, so a scripted session
// can be tested in-process. Each line you type is appended to the context and the model
// continues it; slash commands change settings. The context persists until /reset.

import Foundation
import HATLayers
import HATModel
import HATTensor

public final class Repl {
    public struct Settings: Sendable {
        public var sampling = SamplingOptions(temperature: 0.7, topP: 0.95, seed: 0)
        public var maxBytes = 300
        public var showWords = false
        public var raw = false
        /// How a HAT model's matrices are held (`--weights`; nil: as stored); token models run in float32.
        public var weights: WeightFormat?
        /// How decoding's key/value caches hold their numbers (`--kv-cache`).
        public var kvCache: KVCacheFormat = .f32
        public init() {}
    }

    public private(set) var settings: Settings
    public private(set) var modelDirectory: String
    private var session: GenerationModel
    private var generator: Generator
    private var lastResult: GenerationResult?
    private let write: ([UInt8]) -> Void
    /// Checked while an answer streams; true stops the answer (Ctrl-C).
    private let interrupted: () -> Bool
    /// ANSI colours for /words; plain markers otherwise.
    private let colors: Bool
    private let limits: ContextLimits
    private let context: ComputeContext

    public init(modelDirectory: String, settings: Settings = Settings(), limits: ContextLimits = ContextLimits(),
                context: ComputeContext, colors: Bool, interrupted: @escaping () -> Bool = { false },
                write: @escaping ([UInt8]) -> Void) throws {
        self.context = context
        self.settings = settings
        self.modelDirectory = modelDirectory
        self.write = write
        self.interrupted = interrupted
        self.colors = colors
        self.limits = limits
        session = try Repl.load(modelDirectory, limits: limits, settings: settings, context: context)
        generator = Generator(model: session, sampling: settings.sampling)
    }

    private static func load(_ path: String, limits: ContextLimits, settings: Settings, context: ComputeContext) throws -> GenerationModel {
        try GenerationModels.open(path, limits: limits, weights: settings.weights, kvCache: settings.kvCache, context: context)
    }

    private func say(_ text: String) { write(Array((text + "\n").utf8)) }

    public var banner: String {
        """
        hat — model \(modelDirectory) (\(GenerationModels.describe(session)))
        Type text and the model continues it, \(session.vocabularySize == 256 ? "byte by byte" : "token by token"). /help lists commands, /quit leaves.
        """
    }

    public static let help = """
    /help            this list
    /quit            leave (also end of input, Ctrl-D)
    /temp X          temperature (0 = greedy)
    /topk N          keep the N most likely bytes (0 = off)
    /topp X          nucleus sampling mass (1 = off)
    /seed N          restart the random coins from seed N
    /max N           most bytes per answer
    /reset           clear the context
    /stats           speed of the last answer
    /words           show word (or token) boundaries in answers (toggle)
    /model PATH      load another model (clears the context)
    Ctrl-C stops an answer.
    """

    /// Handles one line; returns false when the REPL should end.
    public func handle(_ line: String) -> Bool {
        let trimmed = line.trimmingCharacters(in: .whitespaces)
        if trimmed.hasPrefix("/") { return command(trimmed) }
        answer(Array(line.utf8))
        return true
    }

    private func command(_ text: String) -> Bool {
        let parts = text.split(separator: " ", maxSplits: 1).map(String.init)
        let name = parts[0], argument = parts.count > 1 ? parts[1].trimmingCharacters(in: .whitespaces) : ""
        func number<T: LosslessStringConvertible>(_ type: T.Type, _ accept: (T) -> Bool, _ what: String) -> T? {
            guard let value = T(argument), accept(value) else {
                say("\(name) needs \(what), e.g. \(name) \(T.self == Float.self ? "0.8" : "64")")
                return nil
            }
            return value
        }
        switch name {
        case "/help": say(Repl.help)
        case "/quit", "/exit": return false
        case "/temp":
            if let t = number(Float.self, { $0 >= 0 && $0.isFinite }, "a number ≥ 0") {
                settings.sampling.temperature = t
                generator.sampling.temperature = t
                say("temperature \(t)\(t == 0 ? " (greedy)" : "")")
            }
        case "/topk":
            if let k = number(Int.self, { $0 >= 0 }, "an integer ≥ 0") {
                settings.sampling.topK = k == 0 ? nil : k
                generator.sampling.topK = settings.sampling.topK
                say(k == 0 ? "top-k off" : "top-k \(k)")
            }
        case "/topp":
            if let p = number(Float.self, { $0 > 0 && $0 <= 1 }, "a number in (0, 1]") {
                settings.sampling.topP = p == 1 ? nil : p
                generator.sampling.topP = settings.sampling.topP
                say(p == 1 ? "top-p off" : "top-p \(p)")
            }
        case "/seed":
            if let s = number(UInt64.self, { _ in true }, "an integer ≥ 0") {
                settings.sampling.seed = s
                generator.reseed(s)
                say("seed \(s)")
            }
        case "/max":
            if let m = number(Int.self, { (1...Limits.generatedBytes).contains($0) }, "an integer in 1…\(Limits.generatedBytes)") {
                settings.maxBytes = m
                say("at most \(m) bytes per answer")
            }
        case "/reset":
            session.reset()
            say("context cleared")
        case "/stats":
            if let r = lastResult {
                say(String(format: "last answer: %d bytes, %d words; %.1f bytes/s, %.1f words/s; prompt %d bytes, prefill %.3f s; stopped: %@",
                           r.bytes.count, r.words, r.bytesPerSecond, r.wordsPerSecond, r.promptBytes, r.prefillSeconds,
                           r.stopReason.rawValue))
            } else {
                say("no answer yet")
            }
        case "/words":
            settings.showWords.toggle()
            say("\(session.vocabularySize == 256 ? "word" : "token") boundaries \(settings.showWords ? "shown" : "hidden")")
        case "/model":
            guard !argument.isEmpty else { say("/model needs a model directory or token model file"); break }
            do {
                session = try Repl.load(argument, limits: limits, settings: settings, context: context)
                generator = Generator(model: session, sampling: settings.sampling)
                modelDirectory = argument
                say("loaded \(argument)")
            } catch {
                say("cannot load \(argument): \(error)")
            }
        default:
            say("unknown command \(name); /help lists them")
        }
        return true
    }

    private func answer(_ prompt: [UInt8]) {
        var wordIndex = 0
        let palette: [[UInt8]] = [Array("\u{1B}[36m".utf8), Array("\u{1B}[33m".utf8)]
        let reset: [UInt8] = Array("\u{1B}[0m".utf8)
        let result: GenerationResult
        do {
            result = try generator.generate(prompt: prompt, limits: GenerationLimits(maxBytes: settings.maxBytes),
                                            raw: settings.raw) { text, startsWord in
                if interrupted() { return false }
                if settings.showWords && startsWord {
                    wordIndex += 1
                    write(colors ? palette[wordIndex % 2] : Array("|".utf8))
                }
                write(text)
                return true
            }
        } catch {
            say("cannot read that line: \(error)")
            return
        }
        if settings.showWords && colors { write(reset) }
        write([0x0A])
        if result.stopReason == .interrupted { say("(stopped)") }
        lastResult = result
    }
}
