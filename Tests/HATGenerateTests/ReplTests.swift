// The REPL driven by a script of lines, as `hat repl` does with a non-terminal stdin: commands
// are acknowledged, settings take effect, answers equal what the Generator produces with the
// same settings on the same context, /reset clears the context, /quit ends.

import Foundation
import HATGenerate
import HATModel
import HATTensor
import Testing

@Suite(.serialized) struct ReplTranscript {
    @Test func scriptedSessionProducesTheExpectedTranscript() throws {
        let (config, parameters) = try tinyModel()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("hat-repl-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try ModelFiles.save(config: config, parameters: parameters, to: directory)

        var output: [UInt8] = []
        var settings = Repl.Settings()
        settings.sampling = SamplingOptions(temperature: 0.9, seed: 5)
        settings.maxBytes = 16
        settings.raw = true
        let repl = try Repl(modelDirectory: directory, settings: settings, context: testContext(), colors: false) { output += $0 }
        let script = ["/temp 0", "/max 12", "Hello there", "/reset", "Hello there", "/seed 9", "/topk 5", "/temp 1",
                      "Once", "/words", "/stats", "/nonsense", "/max x", "/quit", "never reached"]
        var handled = 0
        for line in script {
            handled += 1
            if !repl.handle(line) { break }
        }
        #expect(handled == 14, "/quit ends the session")

        // What the transcript must say, built from the Generator with the same settings.
        let session = try GenerationSession(config: config, parameters: parameters, context: testContext())
        let greedy = Generator(model: session, sampling: SamplingOptions(temperature: 0, seed: 5))
        let first = try greedy.generate(prompt: Array("Hello there".utf8), limits: GenerationLimits(maxBytes: 12), raw: true).bytes
        session.reset()
        let again = try greedy.generate(prompt: Array("Hello there".utf8), limits: GenerationLimits(maxBytes: 12), raw: true).bytes
        #expect(first == again, "after /reset the same prompt gives the same answer")
        let sampler = Generator(model: session, sampling: SamplingOptions(temperature: 1, topK: 5, seed: 9))
        let third = try sampler.generate(prompt: Array("Once".utf8), limits: GenerationLimits(maxBytes: 12), raw: true).bytes

        var expected: [UInt8] = []
        func line(_ s: String) { expected += Array((s + "\n").utf8) }
        line("temperature 0.0 (greedy)")
        line("at most 12 bytes per answer")
        expected += first + [0x0A]
        line("context cleared")
        expected += again + [0x0A]
        line("seed 9")
        line("top-k 5")
        line("temperature 1.0")
        expected += third + [0x0A]
        line("word boundaries shown")
        let transcript = String(decoding: output, as: UTF8.self)
        let prefix = String(decoding: expected, as: UTF8.self)
        #expect(transcript.hasPrefix(prefix), "transcript:\n\(transcript)\nexpected to start with:\n\(prefix)")
        #expect(transcript.contains("last answer: \(third.count) bytes"))
        #expect(transcript.contains("unknown command /nonsense; /help lists them"))
        #expect(transcript.contains("/max needs an integer in 1…\(Limits.generatedBytes)"))
    }
}
