// hat serve: an OpenAI-style HTTP server (HATServe) over one or more models — HAT directories
// and token models (GGUF files, Hugging Face Llama directories) — loaded once and shared by
// requests, each of which computes on a session and context of its own.

import ArgumentParser
import Dispatch
import Foundation
import HATCommandLine
import HATServe
import HATLayers
import HATTensor

struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve models over HTTP: OpenAI-style /v1/completions (streaming), /v1/models, /health, /v1/score, /v1/segment.",
        discussion: """
            For a byte-level (HAT) model max_tokens counts bytes and usage.*_tokens are bytes; for a token \
            model they count tokens. usage also gives bytes and words. Beyond --max-concurrent running and \
            --queue waiting requests the server answers 429 with Retry-After. SIGINT/SIGTERM stop accepting \
            and let running streams finish.
            """)

    @Option(help: "A model to serve: HAT directory, GGUF file or Hugging Face Llama directory (repeatable; default: Models/\(Locations.defaultModelName)). Clients name it by its last path component.")
    var model: [String] = []
    @Option(help: "Address to listen on.") var host = "127.0.0.1"
    @Option(parsing: .unconditional, help: "Port to listen on (0 = any free port).") var port = 8080
    @Option(parsing: .unconditional, help: "Requests computing at once.") var maxConcurrent = 2
    @Option(parsing: .unconditional, help: "Requests waiting for a slot; beyond it 429.") var queue = 16
    @Option(parsing: .unconditional, help: "Threads each running request computes on.") var threadsPerRequest = 1
    @Option(parsing: .unconditional, help: "Largest request body in bytes (beyond it 413).") var maxBodyBytes = 1 << 20
    @Option(parsing: .unconditional, help: "Largest prompt (or text to score) in bytes (beyond it 400).") var maxPromptBytes = 1 << 18
    @Option(parsing: .unconditional, help: "Largest max_tokens a request may ask (bytes of a HAT model, tokens of a token model).") var maxTokens = 4096
    @Option(parsing: .unconditional, help: "Backbone context window in words of a HAT model.") var contextWords = 1024
    @Option(help: WeightFormat.help) var weights: WeightFormat?
    @Option(help: KVCacheFormat.help) var kvCache = KVCacheFormat.commandLineDefault

    func validate() throws {
        try checkFlag("port", port, 0...65_535)
        try checkFlag("max-concurrent", maxConcurrent, 1...256)
        try checkFlag("queue", queue, 0...65_536)
        try checkFlag("threads-per-request", threadsPerRequest, 1...ComputeContext.maxThreads)
        try checkFlag("max-body-bytes", maxBodyBytes, 1...(1 << 30))
        try checkFlag("max-prompt-bytes", maxPromptBytes, 1...(1 << 30))
        try checkFlag("max-tokens", maxTokens, 1...Limits.generatedBytes)
        try checkFlag("context-words", contextWords, 2...Limits.positions)
        guard !host.isEmpty else { throw ValidationError("--host must not be empty") }
    }

    func run() throws {
        let paths = model.isEmpty ? [try Locations.defaultModel()] : model
        var models: [ServedModel] = []
        for path in paths {
            let served = try ServedModel(path: path, contextWords: contextWords, threadsPerSession: threadsPerRequest, weights: weights,
                                         kvCache: kvCache)
            guard !models.contains(where: { $0.id == served.id }) else {
                throw ValidationError("two models are named \"\(served.id)\"; serve models whose last path components differ")
            }
            FileHandle.standardError.write(Data("hat serve: \(served.id): \(served.kind == .hat ? "HAT model, " : "")\(served.summary)\n".utf8))
            models.append(served)
        }
        var options = ServeOptions()
        options.host = host
        options.port = port
        options.maxConcurrent = maxConcurrent
        options.queue = queue
        options.limits.bodyBytes = maxBodyBytes
        options.limits.promptBytes = maxPromptBytes
        options.limits.maxTokens = maxTokens
        let server = HATServer(models: models, options: options)
        // The command line is synchronous: run the server on Swift's pool and wait here until it stops.
        let outcome = ServeOutcome()
        let done = DispatchSemaphore(value: 0)
        Task {
            do { try await server.run() } catch { outcome.error = error }
            done.signal()
        }
        done.wait()
        if let error = outcome.error { throw error }
        FileHandle.standardError.write(Data("hat serve: stopped\n".utf8))
    }
}

private final class ServeOutcome: @unchecked Sendable {
    var error: Error?
}
