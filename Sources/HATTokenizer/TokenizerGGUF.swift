// Reading a TokenizerDefinition from GGUF metadata (llama.cpp's keys) as transformers 5.24 builds
// its tokenizer from a GGUF, except the pre-tokenizer, which follows llama.cpp's meaning of
// tokenizer.ggml.pre. Supported: model "gpt2"; pre "gpt2", "smollm", "llama-bpe"; every other
// value is refused, naming it and the supported ones.

import HATIO

extension TokenizerDefinition {
    /// Reads the tokenizer of the GGUF file at `path`.
    public init(ggufPath path: String) throws(TokenizerError) {
        let file: GGUFFile
        do {
            file = try GGUFFile(path: path)
        } catch let error as HATIOError {
            throw TokenizerError(error.kind == .io ? .io : .malformed, source: path, field: error.tensor, error.message)
        } catch {
            throw TokenizerError(.io, source: path, "\(error)")
        }
        try self.init(gguf: file)
    }

    /// Keys: tokenizer.ggml.model must be "gpt2" (byte-level BPE); .pre "gpt2", "smollm" (digits
    /// one by one, then GPT-2's split, as llama.cpp; transformers uses GPT-2's split alone) or
    /// "llama-bpe" (Llama 3's split, ignore_merges as llama.cpp and Meta's tokenizer.json);
    /// .tokens (respelled in the byte alphabet when a token is not, as transformers does);
    /// .merges ("left right"); optional .token_type (3 control → special added token, 4
    /// user-defined → added token, both only when spelled in the byte alphabet, as transformers);
    /// .bos_token_id, .eos_token_id, .add_bos_token, .add_eos_token (default false).
    /// unknown_token_id is ignored: HF's BPE model built from the file has no unk token.
    /// Reads the tokenizer of an open GGUF file.
    public init(gguf file: GGUFFile) throws(TokenizerError) {
        let source = file.path
        let metadata = file.metadata

        func string(_ key: String) throws(TokenizerError) -> String? {
            guard let value = metadata[key] else { return nil }
            guard let s = value.string else {
                throw TokenizerError(.malformed, source: source, field: key, "expected a string, found \(value.typeName)")
            }
            return s
        }
        func integer(_ key: String) throws(TokenizerError) -> Int? {
            guard let value = metadata[key] else { return nil }
            guard let i = value.int else {
                throw TokenizerError(.malformed, source: source, field: key, "expected an integer, found \(value.typeName)")
            }
            return i
        }
        func flag(_ key: String) throws(TokenizerError) -> Bool {
            guard let value = metadata[key] else { return false }
            guard case .bool(let b) = value else {
                throw TokenizerError(.malformed, source: source, field: key, "expected a bool, found \(value.typeName)")
            }
            return b
        }
        func strings(_ key: String) throws(TokenizerError) -> [String]? {
            guard let value = metadata[key] else { return nil }
            guard let array = value.array else {
                throw TokenizerError(.malformed, source: source, field: key, "expected an array of strings, found \(value.typeName)")
            }
            var out: [String] = []
            out.reserveCapacity(array.count)
            for (k, element) in array.enumerated() {
                guard let s = element.string else {
                    throw TokenizerError(.malformed, source: source, field: key, index: k, "expected a string, found \(element.typeName)")
                }
                out.append(s)
            }
            return out
        }

        guard let model = try string("tokenizer.ggml.model") else {
            throw TokenizerError(.missingField, source: source, field: "tokenizer.ggml.model",
                                 "missing: the file has no tokenizer metadata (\(metadata.keys.filter { $0.hasPrefix("tokenizer.") }.count) tokenizer.* keys)")
        }
        guard model == "gpt2" else {
            throw TokenizerError(.unsupported, source: source, field: "tokenizer.ggml.model",
                                 "'\(model)' is not supported: only 'gpt2' (byte-level BPE) is")
        }
        let supported = PreTokenizer.ggufNames.map { "'\($0.name)'" }.joined(separator: ", ")
        guard let preName = try string("tokenizer.ggml.pre") else {
            throw TokenizerError(.missingField, source: source, field: "tokenizer.ggml.pre",
                                 "missing, so the pre-tokenizer is unknown (supported: \(supported))")
        }
        guard let preTokenizer = PreTokenizer(ggufName: preName) else {
            throw TokenizerError(.unsupported, source: source, field: "tokenizer.ggml.pre",
                                 "pre-tokenizer '\(preName)' is not supported (supported: \(supported))")
        }
        guard let original = try strings("tokenizer.ggml.tokens") else {
            throw TokenizerError(.missingField, source: source, field: "tokenizer.ggml.tokens", "missing")
        }
        guard !original.isEmpty else { throw TokenizerError(.malformed, source: source, field: "tokenizer.ggml.tokens", "empty") }

        var types: [Int] = []
        if let value = metadata["tokenizer.ggml.token_type"] {
            guard let array = value.array else {
                throw TokenizerError(.malformed, source: source, field: "tokenizer.ggml.token_type", "expected an array of integers, found \(value.typeName)")
            }
            guard array.count == original.count else {
                throw TokenizerError(.malformed, source: source, field: "tokenizer.ggml.token_type",
                                     "\(array.count) types for \(original.count) tokens")
            }
            for (k, element) in array.enumerated() {
                guard let t = element.int else {
                    throw TokenizerError(.malformed, source: source, field: "tokenizer.ggml.token_type", index: k, "expected an integer, found \(element.typeName)")
                }
                types.append(t)
            }
        }

        // transformers: a token with a character outside the byte alphabet is respelled from its UTF-8.
        var tokens: [String] = []
        tokens.reserveCapacity(original.count)
        var idBySpelling: [ExactText: Int] = [:]
        idBySpelling.reserveCapacity(original.count)
        for (id, token) in original.enumerated() {
            let spelled = ByteLevel.bytes(ofSpelling: token) == nil ? ByteLevel.spelling(of: Array(token.utf8)) : token
            if let first = idBySpelling.updateValue(id, forKey: ExactText(spelled)) {
                throw TokenizerError(.duplicate, source: source, field: "tokenizer.ggml.tokens", index: id,
                                     "'\(token)' is spelled as token \(first) is")
            }
            tokens.append(spelled)
        }

        var added: [AddedToken] = []
        for (id, type) in types.enumerated() where type == 3 || type == 4 {
            // control (3) → special, user-defined (4) → plain added token; only tokens in the byte
            // alphabet, as transformers (others were respelled above and stay ordinary tokens).
            guard ByteLevel.bytes(ofSpelling: original[id]) != nil else { continue }
            added.append(AddedToken(id: id, content: original[id], special: type == 3, normalized: false))
        }

        guard let mergeLines = try strings("tokenizer.ggml.merges") else {
            throw TokenizerError(.missingField, source: source, field: "tokenizer.ggml.merges", "missing (a byte-level BPE needs its merges)")
        }
        var merges: [TokenPair] = []
        merges.reserveCapacity(mergeLines.count)
        for (k, line) in mergeLines.enumerated() {
            let parts = line.split(separator: " ", omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                throw TokenizerError(.malformed, source: source, field: "tokenizer.ggml.merges", index: k,
                                     "'\(line)' is not two tokens separated by one space")
            }
            var pair: [Int] = []
            for part in parts {
                guard let id = idBySpelling[ExactText(part)] else {
                    throw TokenizerError(.unknownToken, source: source, field: "tokenizer.ggml.merges", index: k,
                                         "'\(line)' names '\(part)', which is not a token")
                }
                pair.append(id)
            }
            merges.append(TokenPair(pair[0], pair[1]))
        }

        let bos = try integer("tokenizer.ggml.bos_token_id")
        let eos = try integer("tokenizer.ggml.eos_token_id")
        for (key, id) in [("tokenizer.ggml.bos_token_id", bos), ("tokenizer.ggml.eos_token_id", eos)] {
            if let id, !tokens.indices.contains(id) {
                throw TokenizerError(.unknownToken, source: source, field: key, "id \(id) is outside the \(tokens.count) tokens")
            }
        }
        let addBOS = try flag("tokenizer.ggml.add_bos_token")
        let addEOS = try flag("tokenizer.ggml.add_eos_token")
        if addBOS && bos == nil {
            throw TokenizerError(.missingField, source: source, field: "tokenizer.ggml.bos_token_id", "missing, but add_bos_token is true")
        }
        if addEOS && eos == nil {
            throw TokenizerError(.missingField, source: source, field: "tokenizer.ggml.eos_token_id", "missing, but add_eos_token is true")
        }
        self.init(tokens: tokens, merges: merges, addedTokens: added, preTokenizer: preTokenizer,
                  ignoreMerges: preTokenizer == .llama3, bosTokenID: bos, eosTokenID: eos, addBOS: addBOS, addEOS: addEOS)
    }
}

extension BPETokenizer {
    /// The tokenizer of the GGUF file at `path`.
    public init(ggufPath path: String) throws(TokenizerError) {
        try self.init(TokenizerDefinition(ggufPath: path), source: path)
    }

    /// The tokenizer of an open GGUF file.
    public init(gguf file: GGUFFile) throws(TokenizerError) {
        try self.init(TokenizerDefinition(gguf: file), source: file.path)
    }
}
