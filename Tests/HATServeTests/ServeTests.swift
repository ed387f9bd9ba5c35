// Tests of `hat serve`: each starts the real server (HATServer) on an ephemeral loopback port
// with a tiny random HAT model and talks HTTP to it with async-http-client. Completions, streamed
// or not, must equal the Generator's output for the same sampling options (what `hat generate`
// prints); concurrent greedy streams must equal their solo runs; a client that disconnects must
// give its slot back; every class of bad request must get its status and an OpenAI error body.

import AsyncHTTPClient
import Foundation
import HATGenerate
import HATModel
import HATTensor
import HATTestSupport
import NIOCore
import Testing
@testable import HATServe

/// A running server over a tiny model in a temporary directory, and a client; `stop()` ends both.
final class RunningServer: @unchecked Sendable {
    let directory: TemporaryDirectory
    let modelPath: String
    let server: HATServer
    let client = HTTPClient(eventLoopGroupProvider: .singleton)
    let serverTask: Task<Void, Error>
    let port: Int
    let config: HATConfig
    let parameters: ParameterSet
    let logLines = LogLines()

    /// `adjustWeights` changes the tiny model's weights before it is saved and served.
    init(configure: (inout ServeOptions) -> Void = { _ in }, adjustWeights: (HATConfig, ParameterSet) -> Void = { _, _ in }) async throws {
        directory = try TemporaryDirectory("serve")
        let spread = try TinyModel.spread()
        config = spread.0
        parameters = spread.1
        adjustWeights(config, parameters)
        modelPath = directory.file("tiny")
        try ModelFiles.save(config: config, parameters: parameters, to: modelPath)
        var options = ServeOptions()
        options.port = 0
        options.maxConcurrent = 8
        configure(&options)
        let server = HATServer(models: [try ServedModel(path: modelPath)], options: options, log: { [logLines] in logLines.append($0) })
        self.server = server
        let (ports, portSink) = AsyncStream.makeStream(of: Int.self)
        serverTask = Task { try await server.run(onRunning: { portSink.yield($0) }) }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else { throw TestFailure("the server did not start") }
        self.port = port
    }

    func stop() async throws {
        try await client.shutdown()
        serverTask.cancel()
        _ = await serverTask.result
    }

    var base: String { "http://127.0.0.1:\(port)" }

    /// (status, headers by lowercased name, body) of a request with a raw body.
    func send(_ method: String, _ path: String, body: String? = nil) async throws -> (Int, [String: String], String) {
        var request = HTTPClientRequest(url: base + path)
        request.method = method == "GET" ? .GET : .POST
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: body))
        }
        let response = try await client.execute(request, timeout: .seconds(60))
        let bytes = try await response.body.collect(upTo: 16 << 20)
        let headers = Dictionary(response.headers.map { ($0.name.lowercased(), $0.value) }, uniquingKeysWith: { first, _ in first })
        return (Int(response.status.code), headers, String(buffer: bytes))
    }

    func post(_ path: String, _ object: [String: Any]) async throws -> (Int, [String: Any]) {
        let body = String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self)
        let (status, _, text) = try await send("POST", path, body: body)
        return (status, try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] ?? [:])
    }

    /// The events of a streamed completion (each `data:` payload), read to the end.
    func stream(_ object: [String: Any]) async throws -> [String] {
        var request = HTTPClientRequest(url: base + "/v1/completions")
        request.method = .POST
        var object = object
        object["stream"] = true
        request.body = .bytes(ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: object)))
        let response = try await client.execute(request, timeout: .seconds(60))
        #expect(response.status.code == 200)
        #expect(response.headers.first(name: "Content-Type") == "text/event-stream")
        let text = String(buffer: try await response.body.collect(upTo: 16 << 20))
        return text.components(separatedBy: "\n\n").filter { !$0.isEmpty }.map {
            #expect($0.hasPrefix("data: "))
            return String($0.dropFirst(6))
        }
    }

    /// What the Generator gives for `prompt` on a fresh session (what `hat generate` prints).
    func reference(prompt: String, sampling: SamplingOptions, maxBytes: Int, stop: [String] = []) throws -> (String, GenerationResult) {
        let session = try GenerationSession(config: config, parameters: parameters, context: ComputeContext(threads: 1))
        var text: [UInt8] = []
        let result = try Generator(model: session, sampling: sampling).generate(
            prompt: Array(prompt.utf8), limits: GenerationLimits(maxBytes: maxBytes, stop: stop.map { Array($0.utf8) }),
            emit: { bytes, _ in text += bytes; return true })
        return (String(decoding: text, as: UTF8.self), result)
    }
}

final class LogLines: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []
    func append(_ line: String) { lock.lock(); lines.append(line); lock.unlock() }
    var all: [String] { lock.lock(); defer { lock.unlock() }; return lines }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// The text of a streamed completion's chunks, and the last chunk (finish_reason, usage).
func joinChunks(_ events: [String]) throws -> (text: String, last: [String: Any]) {
    #expect(events.last == "[DONE]")
    var text = ""
    var last: [String: Any] = [:]
    for event in events.dropLast() {
        let chunk = try #require(try JSONSerialization.jsonObject(with: Data(event.utf8)) as? [String: Any])
        #expect(chunk["object"] as? String == "text_completion")
        let choices = chunk["choices"] as? [[String: Any]] ?? []
        text += choices.first?["text"] as? String ?? ""
        last = chunk
    }
    return (text, last)
}

@Suite("Serve", .serialized)
struct ServeTests {
    @Test("a completion, streamed or not, equals the Generator's output for the same seed and sampling")
    func completionEqualsGenerator() async throws {
        let server = try await RunningServer()
        var sampling = SamplingOptions(temperature: 0.9, topK: 40, topP: 0.95, repetitionPenalty: 1.1, seed: 11)
        sampling.minP = 0.01
        let (expected, result) = try server.reference(prompt: "Call me Ishmael. ", sampling: sampling, maxBytes: 60)
        let request: [String: Any] = ["model": "tiny", "prompt": "Call me Ishmael. ", "max_tokens": 60, "temperature": 0.9,
                                      "top_k": 40, "top_p": 0.95, "min_p": 0.01, "repetition_penalty": 1.1, "seed": 11]
        let (status, body) = try await server.post("/v1/completions", request)
        #expect(status == 200)
        let choice = try #require((body["choices"] as? [[String: Any]])?.first)
        #expect(choice["text"] as? String == expected)
        #expect(choice["finish_reason"] as? String == result.stopReason.finishReason)
        let usage = try #require(body["usage"] as? [String: Any])
        #expect(usage["prompt_tokens"] as? Int == "Call me Ishmael. ".utf8.count)
        #expect(usage["completion_tokens"] as? Int == result.bytes.count)
        #expect(usage["completion_words"] as? Int == result.words)

        let events = try await server.stream(request)
        let (text, last) = try joinChunks(events)
        #expect(text == expected)
        #expect(events.count > 3, "the text arrives in several chunks")
        let lastChoice = try #require((last["choices"] as? [[String: Any]])?.first)
        #expect(lastChoice["finish_reason"] as? String == result.stopReason.finishReason)
        #expect((last["usage"] as? [String: Any])?["completion_bytes"] as? Int == result.bytes.count)
        // Every streamed chunk is whole UTF-8 (JSONSerialization would have refused a broken one) and
        // the log has one line per request.
        #expect(server.logLines.all.filter { $0.hasPrefix("POST /v1/completions 200") }.count == 2)
        try await server.stop()
    }

    @Test("stop sequences end a completion with finish_reason stop, as in the Generator")
    func stopSequence() async throws {
        let server = try await RunningServer()
        let greedy = SamplingOptions.greedy
        let (_, free) = try server.reference(prompt: "It is a truth", sampling: greedy, maxBytes: 40)
        // An ASCII byte the model does generate (random weights also emit bytes that are not UTF-8).
        let at = try #require(free.bytes.indices.first { $0 >= 3 && free.bytes[$0] > 0x20 && free.bytes[$0] < 0x7f })
        let stop = String(UnicodeScalar(free.bytes[at]))
        let (expected, result) = try server.reference(prompt: "It is a truth", sampling: greedy, maxBytes: 40, stop: [stop])
        let (status, body) = try await server.post("/v1/completions", ["prompt": "It is a truth", "max_tokens": 40,
                                                                         "temperature": 0, "stop": [stop]])
        #expect(status == 200)
        let choice = try #require((body["choices"] as? [[String: Any]])?.first)
        #expect(choice["text"] as? String == expected)
        #expect(result.stopReason == .stopSequence)
        #expect(choice["finish_reason"] as? String == "stop")
        try await server.stop()
    }

    @Test("eight greedy streams at once each equal their solo output")
    func concurrentStreamsEqualSolo() async throws {
        let server = try await RunningServer { $0.maxConcurrent = 8 }
        let prompts = (0..<8).map { "Prompt \($0): the woman " + String(repeating: "ab", count: $0) }
        let expected = try prompts.map { try server.reference(prompt: $0, sampling: .greedy, maxBytes: 48).0 }
        let texts = try await withThrowingTaskGroup(of: (Int, String).self) { group in
            for (i, prompt) in prompts.enumerated() {
                group.addTask {
                    let events = try await server.stream(["prompt": prompt, "max_tokens": 48, "temperature": 0])
                    return (i, try joinChunks(events).text)
                }
            }
            var texts = [String](repeating: "", count: prompts.count)
            for try await (i, text) in group { texts[i] = text }
            return texts
        }
        #expect(texts == expected)
        #expect(server.server.models[0].sessionsMade <= 8)
        try await server.stop()
    }

    @Test("a client that disconnects mid-stream cancels its generation and frees the slot")
    func disconnectFreesSlot() async throws {
        // The stream must not end by itself (the tiny model, sampled or greedy, writes its
        // end-of-sequence byte within a few hundred bytes, ~20 ms): the head's row for that byte
        // is zeroed, so its logit is 0 while the largest of the 255 others (spread around 0) is
        // positive — greedy decoding never chooses it. Checked on 4,000 bytes, which end by length.
        let server = try await RunningServer(configure: {
            $0.maxConcurrent = 1
            $0.queue = 0
            $0.limits.maxTokens = 1 << 24   // far more than the test could wait for
        }, adjustWeights: { config, parameters in
            let head = parameters.value(ModelLayout.head)
            head.row(config.eosTokenId).update(repeating: 0, count: head.cols)
        })
        let (checkStatus, check) = try await server.post("/v1/completions", ["prompt": "Once", "max_tokens": 4000, "temperature": 0])
        #expect(checkStatus == 200)
        try #require((check["choices"] as? [[String: Any]])?.first?["finish_reason"] as? String == "length",
                     "greedy generation should not end by itself: \(check)")
        let reader = Task {
            var request = HTTPClientRequest(url: server.base + "/v1/completions")
            request.method = .POST
            request.body = .bytes(ByteBuffer(string: #"{"prompt": "Once", "max_tokens": 16000000, "temperature": 0, "stream": true}"#))
            let response = try await server.client.execute(request, timeout: .seconds(60))
            for try await _ in response.body {}
        }
        // Wait until the stream holds the only slot: a second request is then refused. The waits
        // end on the server's own slot count; their bound only keeps a broken server from hanging.
        let streaming = try await waitUntil { server.server.limiter.load.running == 1 }
        if !streaming {
            reader.cancel()
            let outcome = await reader.result
            Issue.record("the stream never held the slot; the reader ended with \(outcome); server log: \(server.logLines.all.suffix(5))")
        }
        if streaming {
            let (status, headers, _) = try await server.send("POST", "/v1/completions", body: #"{"prompt": "x", "max_tokens": 1}"#)
            #expect(status == 429)
            #expect(headers["retry-after"] == "1")
        }
        reader.cancel()
        _ = await reader.result
        // The generation sees the disconnect after its next piece; then the slot is free.
        let freed = try await waitUntil { server.server.limiter.load.running == 0 }
        #expect(freed)
        let (status, body) = try await server.post("/v1/completions", ["prompt": "x", "max_tokens": 4, "temperature": 0])
        #expect(status == 200)
        #expect(((body["choices"] as? [[String: Any]])?.first?["text"] as? String)?.isEmpty == false)
        try await server.stop()
    }

    @Test("each class of bad request gets its status and an OpenAI error object")
    func badRequests() async throws {
        let server = try await RunningServer {
            $0.limits.promptBytes = 100
            $0.limits.maxTokens = 500
            $0.limits.bodyBytes = 2000
        }
        let cases: [(String, String, Int, String?)] = [
            ("/v1/completions", "{not json", 400, "invalid_json"),
            ("/v1/completions", "[1, 2]", 400, "invalid_json"),
            ("/v1/completions", #"{"prompt": 5}"#, 400, "invalid_type"),
            ("/v1/completions", #"{"prompt": "a", "temperature": "hot"}"#, 400, "invalid_type"),
            ("/v1/completions", #"{"prompt": "a", "stream": 1}"#, 400, "invalid_type"),
            ("/v1/completions", #"{"prompt": "a", "max_tokens": 2.5}"#, 400, "invalid_type"),
            ("/v1/completions", #"{"prompt": "a", "temperature": -1}"#, 400, "invalid_value"),
            ("/v1/completions", #"{"prompt": "a", "top_p": 2}"#, 400, "invalid_value"),
            ("/v1/completions", #"{"prompt": "a", "max_tokens": 501}"#, 400, "invalid_value"),
            ("/v1/completions", #"{"prompt": "a", "max_tokens": -1}"#, 400, "invalid_value"),
            ("/v1/completions", #"{"prompt": "a", "stop": ""}"#, 400, "invalid_value"),
            ("/v1/completions", #"{"max_tokens": 3}"#, 400, "invalid_value"),
            ("/v1/completions", #"{"prompt": "a", "model": "nope"}"#, 404, "model_not_found"),
            ("/v1/completions", "{\"prompt\": \"\(String(repeating: "a", count: 101))\"}", 400, "context_length_exceeded"),
            ("/v1/completions", "{\"prompt\": \"\(String(repeating: "a", count: 3000))\"}", 413, "body_too_large"),
            ("/v1/score", #"{"text": 3}"#, 400, "invalid_type"),
            ("/v1/segment", #"{"model": "nope", "text": "a"}"#, 404, "model_not_found"),
            ("/v1/nothing", "{}", 404, nil),
        ]
        for (path, body, status, code) in cases {
            let (found, _, text) = try await server.send("POST", path, body: body)
            #expect(found == status, "\(path) \(body.prefix(60)): status")
            let object = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]
            let error = object?["error"] as? [String: Any]
            #expect((error?["message"] as? String)?.isEmpty == false, "\(body.prefix(60)): \(text)")
            #expect(error?["type"] is String)
            if let code { #expect(error?["code"] as? String == code, "\(body.prefix(60)): \(text)") }
        }
        // The server is still well after all of them.
        let (status, _, _) = try await server.send("GET", "/health")
        #expect(status == 200)
        try await server.stop()
    }

    @Test("/v1/models lists the model, /health reports the load, /v1/segment gives the splitter's words")
    func modelsHealthSegment() async throws {
        let server = try await RunningServer()
        let (status, _, text) = try await server.send("GET", "/v1/models")
        #expect(status == 200)
        let list = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        let ids = (list["data"] as? [[String: Any]])?.compactMap { $0["id"] as? String }
        #expect(ids == ["tiny"])
        let (healthStatus, _, health) = try await server.send("GET", "/health")
        #expect(healthStatus == 200)
        #expect(health.contains("\"status\":\"ok\""))

        let sentence = "Call me Ishmael. Some years ago—never mind how long."
        let (segmentStatus, segment) = try await server.post("/v1/segment", ["text": sentence])
        #expect(segmentStatus == 200)
        let splitter = try TinyModel.splitter(server.config)
        let expected = splitter.split(Array(sentence.utf8)).map { String(decoding: Array(sentence.utf8)[$0], as: UTF8.self) }
        #expect(segment["words"] as? [String] == expected)
        try await server.stop()
    }

    @Test("/v1/score gives each word's bits, summing to the total, and equals -log2 p of each byte from a session")
    func score() async throws {
        let server = try await RunningServer()
        let sentence = "It is a truth universally acknowledged."
        let (status, body) = try await server.post("/v1/score", ["text": sentence])
        #expect(status == 200)
        let pieces = try #require(body["pieces"] as? [[String: Any]])
        #expect(pieces.compactMap { $0["text"] as? String }.joined() == sentence)
        let total = try #require(body["bits"] as? Double)
        let sum = pieces.compactMap { $0["bits"] as? Double }.reduce(0, +)
        #expect(abs(sum - total) < 1e-6 * max(1, total))
        // Reference: a fresh session's next-byte distribution before each byte.
        let session = try GenerationSession(config: server.config, parameters: server.parameters, context: ComputeContext(threads: 1))
        var expected = 0.0
        for byte in sentence.utf8 {
            expected += bits(of: Int(byte), logits: session.nextByteLogits, count: 256)
            session.feed([byte])
        }
        #expect(abs(expected - total) < 1e-6 * max(1, total))
        #expect(abs((body["bits_per_byte"] as? Double ?? 0) - total / Double(sentence.utf8.count)) < 1e-9)
        try await server.stop()
    }
}

/// Polls `condition` every 20 ms until it holds (true) or `bound` has passed (false). The bound is
/// far beyond any healthy wait, even on a loaded machine: it only stops a broken server from hanging
/// the suite.
func waitUntil(bound: Duration = .seconds(120), _ condition: () -> Bool) async throws -> Bool {
    let clock = ContinuousClock()
    let deadline = clock.now + bound
    while !condition() {
        if clock.now >= deadline { return false }
        try await Task.sleep(for: .milliseconds(20))
    }
    return true
}
