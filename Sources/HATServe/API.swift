// API: the JSON `hat serve` reads and writes, in OpenAI's shapes where OpenAI has one
// (completions, streamed chunks, model list, errors) and hat's own for /v1/score and /v1/segment.
// Requests are decoded leniently about unknown fields (OpenAI clients send many) and strictly
// about the ones hat reads: a wrong type or an out-of-range value is an `APIError` naming the field.
//
// Units: for a byte-level (HAT) model `max_tokens` counts bytes and `usage.*_tokens` are bytes;
// for a token model they count tokens. `usage` also carries bytes and words (backbone positions).

import Foundation
import HATGenerate

/// An error a client caused (or the server's state, e.g. busy), sent as OpenAI's error object.
public struct APIError: Error, CustomStringConvertible, Sendable {
    public var status: Int
    public var message: String
    public var type: String
    public var param: String?
    public var code: String?
    /// Seconds a client should wait before retrying (429).
    public var retryAfter: Int?

    public init(status: Int, _ message: String, type: String = "invalid_request_error", param: String? = nil,
                code: String? = nil, retryAfter: Int? = nil) {
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.retryAfter = retryAfter
    }

    public var description: String { "\(status) \(message)" }

    static func invalid(_ param: String, _ message: String) -> APIError {
        APIError(status: 400, message, param: param, code: "invalid_value")
    }

    public var body: ErrorBody { ErrorBody(error: .init(message: message, type: type, param: param, code: code)) }
}

public struct ErrorBody: Codable, Sendable {
    public struct Detail: Codable, Sendable {
        public var message: String
        public var type: String
        public var param: String?
        public var code: String?
    }
    public var error: Detail
}

/// Server-side bounds on what one request may ask for.
public struct RequestLimits: Sendable {
    /// Bytes of a request body.
    public var bodyBytes = 1 << 20
    /// Bytes of a prompt (or of a text to score or segment).
    public var promptBytes = 1 << 18
    /// Largest max_tokens (bytes of a HAT model, tokens of a token model).
    public var maxTokens = 4096
    /// Stop sequences per request.
    public var stopSequences = 8
    public init() {}
}

// MARK: Completions

/// POST /v1/completions. Temperature and the other sampling fields default as in `hat generate`.
public struct CompletionRequest: Sendable {
    public var model: String?
    public var prompt: String
    public var maxTokens: Int
    public var sampling: SamplingOptions
    public var stop: [String]
    public var stream: Bool
    public var includeUsageChunk: Bool

    /// Decodes and checks a request body; every failure is a 400 naming the field.
    public static func decode(_ body: Data, limits: RequestLimits) throws -> CompletionRequest {
        let object = try JSONObject(body)
        var sampling = SamplingOptions()
        sampling.temperature = try object.float("temperature") ?? sampling.temperature
        sampling.topP = try object.float("top_p")
        sampling.topK = try object.int("top_k")
        sampling.minP = try object.float("min_p")
        sampling.repetitionPenalty = try object.float("repetition_penalty") ?? 1
        if let seed = try object.int("seed") {
            guard seed >= 0 else { throw APIError.invalid("seed", "seed must be ≥ 0, found \(seed)") }
            sampling.seed = UInt64(seed)
        }
        if sampling.topK == 0 { sampling.topK = nil }          // 0 means off, as in common servers
        do { try sampling.validate() } catch { throw APIError.invalid("sampling", "\(error)") }

        let prompt = try object.promptText()
        guard prompt.utf8.count <= limits.promptBytes else {
            throw APIError(status: 400, "the prompt has \(prompt.utf8.count) bytes; this server takes at most \(limits.promptBytes)",
                           param: "prompt", code: "context_length_exceeded")
        }
        let maxTokens = try object.int("max_tokens") ?? 256
        guard (0...limits.maxTokens).contains(maxTokens) else {
            throw APIError.invalid("max_tokens", "max_tokens must be in 0…\(limits.maxTokens), found \(maxTokens)")
        }
        if let n = try object.int("n"), n != 1 { throw APIError.invalid("n", "only n = 1 is supported, found \(n)") }
        let stop = try object.strings("stop") ?? []
        guard stop.count <= limits.stopSequences else {
            throw APIError.invalid("stop", "at most \(limits.stopSequences) stop sequences, found \(stop.count)")
        }
        for s in stop where s.isEmpty || s.utf8.count > 4096 {
            throw APIError.invalid("stop", "a stop sequence must have 1…4096 bytes, found \(s.utf8.count)")
        }
        let streamOptions = try object.object("stream_options")
        return CompletionRequest(model: try object.string("model"), prompt: prompt, maxTokens: maxTokens, sampling: sampling,
                                 stop: stop, stream: try object.bool("stream") ?? false,
                                 includeUsageChunk: try streamOptions?.bool("include_usage") ?? false)
    }
}

public struct Usage: Codable, Sendable, Equatable {
    /// Prompt units: bytes of a byte-level model, tokens of a token model.
    public var promptTokens: Int
    public var completionTokens: Int
    public var totalTokens: Int
    public var promptBytes: Int
    public var completionBytes: Int
    /// Backbone positions: words of a HAT model, tokens of a token model.
    public var promptWords: Int
    public var completionWords: Int

    enum CodingKeys: String, CodingKey {
        case promptTokens = "prompt_tokens", completionTokens = "completion_tokens", totalTokens = "total_tokens"
        case promptBytes = "prompt_bytes", completionBytes = "completion_bytes"
        case promptWords = "prompt_words", completionWords = "completion_words"
    }
}

public struct CompletionChoice: Codable, Sendable {
    public var text: String
    public var index: Int
    public var logprobs: String?
    /// "stop" (end of text or a stop sequence), "length" (max_tokens), nil while streaming.
    public var finishReason: String?
    enum CodingKeys: String, CodingKey { case text, index, logprobs, finishReason = "finish_reason" }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(text, forKey: .text)
        try c.encode(index, forKey: .index)
        try c.encodeNil(forKey: .logprobs)
        try c.encode(finishReason, forKey: .finishReason)   // null while streaming, as OpenAI sends
    }
}

/// A whole completion, and (object "text_completion" too) each streamed chunk.
public struct Completion: Codable, Sendable {
    public var id: String
    public var object = "text_completion"
    public var created: Int
    public var model: String
    public var choices: [CompletionChoice]
    public var usage: Usage?
}

extension StopReason {
    /// OpenAI's finish_reason.
    var finishReason: String {
        switch self {
        case .endOfSequence, .stopSequence: "stop"
        case .maxBytes, .maxWords: "length"
        case .interrupted: "cancelled"
        }
    }
}

// MARK: Models, health

public struct ModelCard: Codable, Sendable {
    public var id: String
    public var object = "model"
    public var created = 0
    public var ownedBy = "hat"
    /// "hat" (byte-level) or "token".
    public var kind: String
    public var description: String
    enum CodingKeys: String, CodingKey { case id, object, created, ownedBy = "owned_by", kind, description }
}

public struct ModelList: Codable, Sendable {
    public var object = "list"
    public var data: [ModelCard]
}

public struct Health: Codable, Sendable {
    public var status: String
    public var running: Int
    public var waiting: Int
}

// MARK: Score and segment (byte-level extras)

/// POST /v1/score and /v1/segment: {"model": optional, "text": "..."}.
public struct TextRequest: Sendable {
    public var model: String?
    public var text: String

    public static func decode(_ body: Data, limits: RequestLimits) throws -> TextRequest {
        let object = try JSONObject(body)
        guard let text = try object.string("text") else { throw APIError.invalid("text", "the request needs \"text\", a string") }
        guard text.utf8.count <= limits.promptBytes else {
            throw APIError(status: 400, "the text has \(text.utf8.count) bytes; this server takes at most \(limits.promptBytes)",
                           param: "text", code: "context_length_exceeded")
        }
        return TextRequest(model: try object.string("model"), text: text)
    }
}

/// A piece of the text (a word of a HAT model, a token of a token model) and its cost.
public struct PieceCost: Codable, Sendable {
    public var text: String
    public var bytes: Int
    /// -log2 p of the piece's bytes given everything before (bits).
    public var bits: Double
}

public struct ScoreResult: Codable, Sendable {
    public var model: String
    public var bytes: Int
    public var bits: Double
    public var bitsPerByte: Double
    /// "word" (HAT model) or "token".
    public var unit: String
    public var pieces: [PieceCost]
    enum CodingKeys: String, CodingKey { case model, bytes, bits, bitsPerByte = "bits_per_byte", unit, pieces }
}

public struct Segmentation: Codable, Sendable {
    public var model: String?
    public var words: [String]
    /// [start, end) byte offsets of each word in the text's UTF-8.
    public var offsets: [[Int]]
}

// MARK: Decoding helpers

/// Any JSON value, decoded with JSONDecoder (which tells booleans from numbers).
enum JSONValue: Decodable {
    case null, bool(Bool), number(Double), string(String), array([JSONValue]), object([String: JSONValue])

    init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let d = try? c.decode(Double.self) { self = .number(d) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let a = try? c.decode([JSONValue].self) { self = .array(a) }
        else { self = .object(try c.decode([String: JSONValue].self)) }
    }
}

/// A request's JSON object, with typed getters that throw APIError naming the field.
struct JSONObject {
    let values: [String: JSONValue]

    init(_ body: Data) throws {
        let parsed: JSONValue
        do {
            parsed = try JSONDecoder().decode(JSONValue.self, from: body)
        } catch {
            throw APIError(status: 400, "the body is not valid JSON", code: "invalid_json")
        }
        guard case .object(let values) = parsed else {
            throw APIError(status: 400, "the body must be a JSON object", code: "invalid_json")
        }
        self.values = values
    }

    init(values: [String: JSONValue]) { self.values = values }

    private func present(_ key: String) -> JSONValue? {
        guard let value = values[key] else { return nil }
        if case .null = value { return nil }
        return value
    }

    private func wrongType(_ key: String, _ expected: String) -> APIError {
        APIError(status: 400, "\"\(key)\" must be \(expected)", param: key, code: "invalid_type")
    }

    private func number(_ key: String) throws -> Double? {
        guard let value = present(key) else { return nil }
        guard case .number(let number) = value else { throw wrongType(key, "a number") }
        return number
    }

    func float(_ key: String) throws -> Float? {
        guard let value = try number(key) else { return nil }
        guard value.isFinite, abs(value) <= Double(Float.greatestFiniteMagnitude) else { throw wrongType(key, "a finite number") }
        return Float(value)
    }

    func int(_ key: String) throws -> Int? {
        guard let value = try number(key) else { return nil }
        guard value.isFinite, value == value.rounded(), abs(value) < 9e15 else { throw wrongType(key, "an integer") }
        return Int(value)
    }

    func bool(_ key: String) throws -> Bool? {
        guard let value = present(key) else { return nil }
        guard case .bool(let bool) = value else { throw wrongType(key, "true or false") }
        return bool
    }

    func string(_ key: String) throws -> String? {
        guard let value = present(key) else { return nil }
        guard case .string(let string) = value else { throw wrongType(key, "a string") }
        return string
    }

    /// A string or an array of strings (OpenAI's `stop`).
    func strings(_ key: String) throws -> [String]? {
        guard let value = present(key) else { return nil }
        switch value {
        case .string(let string): return [string]
        case .array(let items):
            return try items.map { item in
                guard case .string(let string) = item else { throw wrongType(key, "a string or an array of strings") }
                return string
            }
        default: throw wrongType(key, "a string or an array of strings")
        }
    }

    func object(_ key: String) throws -> JSONObject? {
        guard let value = present(key) else { return nil }
        guard case .object(let object) = value else { throw wrongType(key, "an object") }
        return JSONObject(values: object)
    }

    /// `prompt`: a string, or an array holding one string (OpenAI allows batches; hat serves one).
    func promptText() throws -> String {
        guard let value = present("prompt") else { throw APIError.invalid("prompt", "the request needs \"prompt\", a string") }
        if case .string(let string) = value { return string }
        if case .array(let items) = value, items.count == 1, case .string(let string) = items[0] { return string }
        throw wrongType("prompt", "a string (or an array of exactly one string)")
    }
}
