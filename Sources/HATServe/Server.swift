// Server: `hat serve`'s HTTP server on Hummingbird 2 — routes, the streaming of completions as
// server-sent events in OpenAI's chunk format, the slot limiter in front of every model
// computation, errors as OpenAI error objects, and one access-log line per request.
//
// Routes: POST /v1/completions, GET /v1/models, GET /health, POST /v1/score, POST /v1/segment.
// A client that disconnects from a stream cancels its generation (the next write fails; the
// generation stops after its next piece and gives its slot back). A non-streamed request runs
// to its end (bounded by max_tokens). SIGINT/SIGTERM stop accepting and let running streams finish.

import Foundation
import HATGenerate
import Hummingbird
import Logging

public struct ServeOptions: Sendable {
    public var host = "127.0.0.1"
    /// 0 asks the system for a free port (the tests' way); `onRunning` hears the one bound.
    public var port = 8080
    /// Model computations running at once, and requests waiting for one.
    public var maxConcurrent = 2
    public var queue = 16
    public var limits = RequestLimits()
    /// Seconds a refused (429) client is told to wait.
    public var retryAfterSeconds = 1
    public init() {}
}

public final class HATServer: Sendable {
    public let models: [ServedModel]
    public let options: ServeOptions
    public let limiter: SlotLimiter
    let log: @Sendable (String) -> Void
    let counter = RequestCounter()

    /// `log` hears the startup line and one access line per request (default: standard error).
    public init(models: [ServedModel], options: ServeOptions,
                log: @escaping @Sendable (String) -> Void = { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }) {
        precondition(!models.isEmpty, "HATServer needs a model")
        self.models = models
        self.options = options
        self.log = log
        limiter = SlotLimiter(running: options.maxConcurrent, queued: options.queue)
    }

    /// Runs until SIGINT or SIGTERM (or until the calling task is cancelled); `onRunning` hears
    /// the bound port once the server accepts connections.
    public func run(onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        let router = Router()
        router.add(middleware: AccessLogAndErrors(log: log))
        addRoutes(to: router)
        let names = models.map(\.id).joined(separator: ", ")
        let app = Application(
            router: router,
            configuration: .init(address: .hostname(options.host, port: options.port), serverName: "hat"),
            onServerRunning: { [log, options] channel in
                let port = channel.localAddress?.port ?? options.port
                log("hat serve: listening on http://\(options.host):\(port)/v1 (models: \(names); \(options.maxConcurrent) at once, queue \(options.queue))")
                await onRunning(port)
            },
            logger: Self.quietLogger()
        )
        try await app.runService(gracefulShutdownSignals: [.sigterm, .sigint])
    }

    static func quietLogger() -> Logger {
        var logger = Logger(label: "hat-serve")
        logger.logLevel = .critical   // failures reach the caller as errors
        return logger
    }

    func addRoutes(to router: Router<BasicRequestContext>) {
        router.get("/health") { _, _ -> Response in
            let load = self.limiter.load
            return try jsonResponse(Health(status: "ok", running: load.running, waiting: load.waiting))
        }
        router.get("/v1/models") { _, _ -> Response in
            try jsonResponse(ModelList(data: self.models.map {
                ModelCard(id: $0.id, kind: $0.kind.rawValue, description: $0.summary)
            }))
        }
        router.post("/v1/completions") { request, _ -> Response in try await self.completions(request) }
        router.post("/v1/score") { request, _ -> Response in
            let text = try TextRequest.decode(try await self.body(of: request), limits: self.options.limits)
            let model = try self.model(named: text.model)
            let lease = try await self.acquireSlot()
            let cancel = CancelFlag()
            let result = try await onThread {
                defer { lease.release() }
                return try model.score(text.text, cancel: cancel)
            }
            return try jsonResponse(result)
        }
        router.post("/v1/segment") { request, _ -> Response in
            let text = try TextRequest.decode(try await self.body(of: request), limits: self.options.limits)
            let model = try self.model(named: text.model ?? self.models.first { $0.kind == .hat }?.id)
            return try jsonResponse(try model.segment(text.text))
        }
    }

    // MARK: Completions

    func completions(_ request: Request) async throws -> Response {
        let completion = try CompletionRequest.decode(try await body(of: request), limits: options.limits)
        let model = try model(named: completion.model)
        let lease = try await acquireSlot()
        let id = "cmpl-\(counter.next())"
        let created = Int(Date().timeIntervalSince1970)
        let cancel = CancelFlag()

        if !completion.stream {
            let pieces = PieceCollector()
            let outcome = try await onThread {
                defer { lease.release() }
                return try model.complete(completion, cancel: cancel, emit: { pieces.append($0) })
            }
            let choice = CompletionChoice(text: String(decoding: pieces.bytes, as: UTF8.self), index: 0,
                                          finishReason: outcome.result.stopReason.finishReason)
            return try jsonResponse(Completion(id: id, created: created, model: model.id, choices: [choice], usage: outcome.usage))
        }

        @Sendable func chunk(_ text: String, finish: String?, usage: Usage?, choices: Bool = true) throws -> ByteBuffer {
            let value = Completion(id: id, created: created, model: model.id,
                                   choices: choices ? [CompletionChoice(text: text, index: 0, finishReason: finish)] : [], usage: usage)
            return ByteBuffer(string: "data: " + String(decoding: try jsonEncoder.encode(value), as: UTF8.self) + "\n\n")
        }
        let headers: HTTPFields = [.contentType: "text/event-stream", .cacheControl: "no-cache"]
        return Response(status: .ok, headers: headers, body: ResponseBody { writer in
            let (pieces, sink) = AsyncStream.makeStream(of: [UInt8].self)
            let work = Task {
                try await onThread {
                    defer { lease.release(); sink.finish() }
                    return try model.complete(completion, cancel: cancel, emit: { sink.yield($0) })
                }
            }
            var clientGone = false
            // A client that went away makes the next write throw: that cancels the generation.
            do {
                for await piece in pieces {
                    try await writer.write(try chunk(String(decoding: piece, as: UTF8.self), finish: nil, usage: nil))
                }
            } catch {
                clientGone = true
                cancel.cancel()
            }
            let outcome = await work.result
            if clientGone || cancel.isCancelled { return }
            switch outcome {
            case .success(let outcome):
                let reason = outcome.result.stopReason.finishReason
                try await writer.write(try chunk("", finish: reason, usage: completion.includeUsageChunk ? nil : outcome.usage))
                if completion.includeUsageChunk { try await writer.write(try chunk("", finish: nil, usage: outcome.usage, choices: false)) }
            case .failure(let error):
                let apiError = (error as? APIError) ?? APIError(status: 500, "\(error)", type: "server_error")
                try await writer.write(ByteBuffer(string: "data: " + String(decoding: try jsonEncoder.encode(apiError.body), as: UTF8.self) + "\n\n"))
            }
            try await writer.write(ByteBuffer(string: "data: [DONE]\n\n"))
            try await writer.finish(nil)
        })
    }

    // MARK: Helpers

    /// The request body, refused with 413 beyond the configured size (by its Content-Length
    /// before reading, else while reading).
    func body(of request: Request) async throws -> Data {
        let limit = options.limits.bodyBytes
        if let declared = request.headers[.contentLength].flatMap({ Int($0) }), declared > limit {
            throw APIError(status: 413, "the body has \(declared) bytes; this server takes at most \(limit)", code: "body_too_large")
        }
        do {
            let buffer = try await request.body.collect(upTo: limit)
            return Data(buffer.readableBytesView)
        } catch let error as HTTPError where error.status == .contentTooLarge {
            throw APIError(status: 413, "the body exceeds \(limit) bytes, the most this server takes", code: "body_too_large")
        }
    }

    /// The model a request names; the first served model when it names none.
    func model(named name: String?) throws -> ServedModel {
        guard let name else { return models[0] }
        guard let model = models.first(where: { $0.id == name }) else {
            throw APIError(status: 404, "the model \"\(name)\" does not exist; served: \(models.map(\.id).joined(separator: ", "))",
                           param: "model", code: "model_not_found")
        }
        return model
    }

    func acquireSlot() async throws -> SlotLease {
        do {
            return try await limiter.acquire()
        } catch is ServerBusy {
            throw APIError(status: 429, ServerBusy().description, type: "rate_limit_error", code: "server_busy",
                           retryAfter: options.retryAfterSeconds)
        }
    }
}

let jsonEncoder: JSONEncoder = {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.withoutEscapingSlashes]
    return encoder
}()

func jsonResponse<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) throws -> Response {
    let data = try jsonEncoder.encode(value)
    let headers: HTTPFields = [.contentType: "application/json"]
    return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
}

/// Numbers completions ("cmpl-1", "cmpl-2", …) for one server.
final class RequestCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var last = 0
    func next() -> Int { lock.lock(); defer { lock.unlock() }; last += 1; return last }
}

/// The bytes a non-streamed generation emits, gathered from its thread.
final class PieceCollector: @unchecked Sendable {
    private let lock = NSLock()
    private var collected: [UInt8] = []
    func append(_ bytes: [UInt8]) { lock.lock(); collected += bytes; lock.unlock() }
    var bytes: [UInt8] { lock.lock(); defer { lock.unlock() }; return collected }
}
