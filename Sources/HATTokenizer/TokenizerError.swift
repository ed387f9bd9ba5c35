// TokenizerError: the one typed error of HATTokenizer. Its message names the source (a file path,
// or "definition" / "input" for values built in code), the field (a GGUF key such as
// tokenizer.ggml.merges, or a tokenizer.json path such as model.vocab), the index within that
// field when there is one, and what was expected and found, e.g.
// "m.gguf: 'tokenizer.ggml.merges'[12]: 'Ġ q' names 'q', which is not a token".

public struct TokenizerError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Kind: String, Sendable {
        case io             // the file cannot be read
        case malformed      // not valid JSON / GGUF, or a field of the wrong type
        case missingField   // a field the tokenizer needs is absent
        case unsupported    // well-formed but not handled here (model type, pre-tokenizer, option)
        case unknownToken   // a merge, added token or special id that names no token
        case duplicate      // the same token twice
        case invalidUTF8    // input bytes that are not UTF-8 (HF tokenizers takes only str)
        case unknownID      // an id outside the vocabulary given to decode
    }

    public let kind: Kind
    /// The file (or "definition", "input") the problem is in.
    public let source: String
    /// The GGUF key or tokenizer.json path concerned.
    public let field: String?
    /// Index within `field` (array element, token id, byte offset of the input).
    public let index: Int?
    public let message: String

    public init(_ kind: Kind, source: String, field: String? = nil, index: Int? = nil, _ message: String) {
        self.kind = kind
        self.source = source
        self.field = field
        self.index = index
        self.message = message
    }

    public var description: String {
        var s = source
        if let field {
            s += ": '\(field)'"
            if let index { s += "[\(index)]" }
        } else if let index {
            s += ": [\(index)]"
        }
        return s + ": " + message
    }
}
