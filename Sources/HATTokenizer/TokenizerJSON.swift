// Reading a TokenizerDefinition from a Hugging Face tokenizer.json, parsed by HATIO's strict
// JSONParser rather than Foundation's: it keeps duplicate keys visible (refused here) and numbers
// exact, and reads SmolLM2's 1.4 MB file in about 0.15 s. What is supported is listed at
// init(tokenizerJSON:source:); anything else is refused with the field named.

import Foundation
import HATIO

extension TokenizerDefinition {
    /// Reads the tokenizer.json file at `path`.
    public init(tokenizerJSONPath path: String) throws(TokenizerError) {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw TokenizerError(.io, source: path, "cannot read the file")
        }
        try self.init(tokenizerJSON: [UInt8](data), source: path)
    }

    /// Supported, anything else refused with the field named: model BPE (no dropout, unk_token,
    /// subword prefix/suffix or byte fallback; ignore_merges read); normalizer null; pre_tokenizer
    /// ByteLevel(use_regex) → gpt2, Sequence[Digits(individual_digits), ByteLevel(use_regex)] →
    /// smollm, Sequence[Split(Llama 3 regex, Isolated), ByteLevel(use_regex: false)] → llama3, all
    /// without add_prefix_space; decoder ByteLevel; post_processor null, ByteLevel,
    /// TemplateProcessing with at most one special token before $A (BOS) and one after (EOS), or a
    /// Sequence of these; added tokens without single_word, lstrip or rstrip; truncation and
    /// padding null; ids 0..<N without gaps.
    /// Reads tokenizer.json text; `source` names it in errors.
    public init(tokenizerJSON bytes: [UInt8], source: String) throws(TokenizerError) {
        let root: JSONValue
        do {
            root = try bytes.withUnsafeBytes { raw in try JSONParser.parse(raw) }
        } catch let error as JSONSyntaxError {
            throw TokenizerError(.malformed, source: source, "not valid JSON at byte offset \(error.offset): \(error.message)")
        } catch {
            throw TokenizerError(.malformed, source: source, "not valid JSON: \(error)")
        }
        let reader = TokenizerJSONReader(source: source)
        let top = try reader.object(root, "(top level)")

        for key in ["truncation", "padding", "normalizer"] {
            if let value = try top.member(key), !value.isNull {
                throw TokenizerError(.unsupported, source: source, field: key,
                                     "\(reader.describe(value)) is not supported (only null: it would change the ids)")
            }
        }

        // model
        guard let modelValue = try top.member("model") else { throw TokenizerError(.missingField, source: source, field: "model", "missing") }
        let model = try reader.object(modelValue, "model")
        let modelType = try reader.string(try model.required("type"), "model.type")
        guard modelType == "BPE" else {
            throw TokenizerError(.unsupported, source: source, field: "model.type", "'\(modelType)' is not supported: only 'BPE' (byte-level) is")
        }
        for key in ["dropout", "unk_token"] {
            if let value = try model.member(key), !value.isNull {
                throw TokenizerError(.unsupported, source: source, field: "model.\(key)", "\(reader.describe(value)) is not supported (only null)")
            }
        }
        for key in ["continuing_subword_prefix", "end_of_word_suffix"] {
            if let value = try model.member(key), !value.isNull, value.stringValue != "" {
                throw TokenizerError(.unsupported, source: source, field: "model.\(key)", "\(reader.describe(value)) is not supported (only null or \"\")")
            }
        }
        if let value = try model.member("byte_fallback"), try reader.bool(value, "model.byte_fallback") {
            throw TokenizerError(.unsupported, source: source, field: "model.byte_fallback", "true is not supported (byte-level BPE needs no fallback)")
        }
        let ignoreMerges = try model.member("ignore_merges").map { v throws(TokenizerError) in try reader.bool(v, "model.ignore_merges") } ?? false

        let vocab = try reader.object(try model.required("vocab"), "model.vocab")
        var spellingByID: [Int: String] = [:]
        var modelIDBySpelling: [ExactText: Int] = [:]
        modelIDBySpelling.reserveCapacity(vocab.members.count)
        for (k, member) in vocab.members.enumerated() {
            guard let id = member.value.intValue, id >= 0, id < Int(Int32.max) else {
                throw TokenizerError(.malformed, source: source, field: "model.vocab", index: k,
                                     "'\(member.key)' has \(reader.describe(member.value)), expected an id in 0..<\(Int32.max)")
            }
            if let other = spellingByID.updateValue(member.key, forKey: id) {
                throw TokenizerError(.duplicate, source: source, field: "model.vocab", index: k, "'\(member.key)' has id \(id), as '\(other)' does")
            }
            if let other = modelIDBySpelling.updateValue(id, forKey: ExactText(member.key)) {
                throw TokenizerError(.duplicate, source: source, field: "model.vocab", index: k, "'\(member.key)' is given twice (ids \(other) and \(id))")
            }
        }

        // added tokens
        let modelSpellingByID = spellingByID
        var added: [AddedToken] = []
        if let value = try top.member("added_tokens"), !value.isNull {
            for (k, element) in try reader.array(value, "added_tokens").enumerated() {
                let field = "added_tokens"
                let token = try reader.object(element, field, index: k)
                let id = try reader.int(try token.required("id"), field, index: k)
                guard id >= 0, id < Int(Int32.max) else {
                    throw TokenizerError(.malformed, source: source, field: "\(field).id", index: k, "\(id) is not in 0..<\(Int32.max)")
                }
                let content = try reader.string(try token.required("content"), field, index: k)
                for flag in ["single_word", "lstrip", "rstrip"] {
                    if let v = try token.member(flag), try reader.bool(v, field, index: k) {
                        throw TokenizerError(.unsupported, source: source, field: "\(field).\(flag)", index: k,
                                             "'\(content)' sets \(flag), which is not supported")
                    }
                }
                let normalized = try token.member("normalized").map { v throws(TokenizerError) in try reader.bool(v, field, index: k) } ?? true
                let special = try token.member("special").map { v throws(TokenizerError) in try reader.bool(v, field, index: k) } ?? false
                let inModel = modelSpellingByID[id] != nil
                if let spelled = spellingByID[id], ExactText(spelled) != ExactText(content) {
                    throw TokenizerError(inModel ? .malformed : .duplicate, source: source, field: field, index: k,
                                         "'\(content)' has id \(id), which \(inModel ? "model.vocab" : "an earlier added token") gives to '\(spelled)'")
                }
                spellingByID[id] = content
                added.append(AddedToken(id: id, content: content, special: special, normalized: normalized, inModelVocabulary: inModel))
            }
        }

        // every id 0..<N has a token
        let count = (spellingByID.keys.max() ?? -1) + 1
        guard count > 0 else { throw TokenizerError(.malformed, source: source, field: "model.vocab", "empty") }
        var tokens: [String] = []
        tokens.reserveCapacity(count)
        for id in 0..<count {
            guard let spelled = spellingByID[id] else {
                throw TokenizerError(.malformed, source: source, field: "model.vocab", index: id,
                                     "no token has id \(id) (ids must be 0..<\(count) without gaps)")
            }
            tokens.append(spelled)
        }

        // merges: "left right" strings or [left, right] pairs, of model.vocab tokens
        let mergeValues = try reader.array(try model.required("merges"), "model.merges")
        var merges: [TokenPair] = []
        merges.reserveCapacity(mergeValues.count)
        for (k, value) in mergeValues.enumerated() {
            let parts: [String]
            switch value {
            case .string(let line):
                parts = line.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
            case .array(let elements):
                parts = elements.map { $0.stringValue ?? "" }
            default:
                parts = []
            }
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                throw TokenizerError(.malformed, source: source, field: "model.merges", index: k,
                                     "\(reader.describe(value)) is not two tokens (\"left right\" or [\"left\", \"right\"])")
            }
            var pair: [Int] = []
            for part in parts {
                guard let id = modelIDBySpelling[ExactText(part)] else {
                    throw TokenizerError(.unknownToken, source: source, field: "model.merges", index: k,
                                         "names '\(part)', which is not in model.vocab")
                }
                pair.append(id)
            }
            merges.append(TokenPair(pair[0], pair[1]))
        }

        guard let preValue = try top.member("pre_tokenizer"), !preValue.isNull else {
            throw TokenizerError(.missingField, source: source, field: "pre_tokenizer", "missing: a byte-level BPE needs the ByteLevel pre-tokenizer")
        }
        let preTokenizer = try reader.preTokenizer(preValue)

        guard let decoderValue = try top.member("decoder"), !decoderValue.isNull else {
            throw TokenizerError(.missingField, source: source, field: "decoder", "missing: a byte-level BPE needs the ByteLevel decoder")
        }
        let decoderType = try reader.string(try reader.object(decoderValue, "decoder").required("type"), "decoder.type")
        guard decoderType == "ByteLevel" else {
            throw TokenizerError(.unsupported, source: source, field: "decoder.type", "'\(decoderType)' is not supported: only 'ByteLevel' is")
        }

        var template = TokenizerJSONReader.Template()
        if let value = try top.member("post_processor"), !value.isNull {
            try reader.postProcessor(value, "post_processor", into: &template)
        }
        self.init(tokens: tokens, merges: merges, addedTokens: added, preTokenizer: preTokenizer, ignoreMerges: ignoreMerges,
                  bosTokenID: template.bos, eosTokenID: template.eos, addBOS: template.bos != nil, addEOS: template.eos != nil)
    }
}

extension BPETokenizer {
    /// The tokenizer of the tokenizer.json file at `path`.
    public init(tokenizerJSONPath path: String) throws(TokenizerError) {
        try self.init(TokenizerDefinition(tokenizerJSONPath: path), source: path)
    }
}

extension JSONValue {
    var isNull: Bool {
        if case .null = self { return true }
        return false
    }
}

/// Typed access to tokenizer.json values; every error names the file and the field.
struct TokenizerJSONReader {
    let source: String

    struct Object {
        let reader: TokenizerJSONReader
        let path: String
        let members: [(key: String, value: JSONValue)]

        /// The value of `key`, nil if absent; a key given twice is an error.
        func member(_ key: String) throws(TokenizerError) -> JSONValue? {
            var found: JSONValue?
            for m in members where m.key == key {
                if found != nil {
                    throw TokenizerError(.duplicate, source: reader.source, field: path == "(top level)" ? key : "\(path).\(key)", "given twice")
                }
                found = m.value
            }
            return found
        }

        func required(_ key: String) throws(TokenizerError) -> JSONValue {
            guard let v = try member(key) else {
                throw TokenizerError(.missingField, source: reader.source, field: path == "(top level)" ? key : "\(path).\(key)", "missing")
            }
            return v
        }
    }

    func describe(_ value: JSONValue) -> String {
        switch value {
        case .string(let s): "'\(s.prefix(80))'"
        case .number(let n): n
        case .bool(let b): "\(b)"
        case .object(let members):
            if let type = members.first(where: { $0.key == "type" })?.value.stringValue { "type '\(type)'" } else { "an object" }
        default: value.typeName
        }
    }

    func object(_ value: JSONValue, _ field: String, index: Int? = nil) throws(TokenizerError) -> Object {
        guard case .object(let members) = value else {
            throw TokenizerError(.malformed, source: source, field: field, index: index, "expected an object, found \(value.typeName)")
        }
        return Object(reader: self, path: field, members: members)
    }

    func array(_ value: JSONValue, _ field: String) throws(TokenizerError) -> [JSONValue] {
        guard case .array(let elements) = value else {
            throw TokenizerError(.malformed, source: source, field: field, "expected an array, found \(value.typeName)")
        }
        return elements
    }

    func string(_ value: JSONValue, _ field: String, index: Int? = nil) throws(TokenizerError) -> String {
        guard let s = value.stringValue else {
            throw TokenizerError(.malformed, source: source, field: field, index: index, "expected a string, found \(value.typeName)")
        }
        return s
    }

    func int(_ value: JSONValue, _ field: String, index: Int? = nil) throws(TokenizerError) -> Int {
        guard let i = value.intValue else {
            throw TokenizerError(.malformed, source: source, field: field, index: index, "expected an integer, found \(describe(value))")
        }
        return i
    }

    func bool(_ value: JSONValue, _ field: String, index: Int? = nil) throws(TokenizerError) -> Bool {
        guard case .bool(let b) = value else {
            throw TokenizerError(.malformed, source: source, field: field, index: index, "expected true or false, found \(value.typeName)")
        }
        return b
    }

    // MARK: pre_tokenizer

    func preTokenizer(_ value: JSONValue) throws(TokenizerError) -> PreTokenizer {
        let field = "pre_tokenizer"
        let top = try object(value, field)
        let type = try string(try top.required("type"), "\(field).type")
        let expected = "ByteLevel(use_regex), Sequence[Digits(individual_digits), ByteLevel(use_regex)] or Sequence[Split(Llama 3 regex, Isolated), ByteLevel(use_regex: false)]"
        if type == "ByteLevel" {
            try byteLevel(top, useRegex: true)
            return .gpt2
        }
        guard type == "Sequence" else {
            throw TokenizerError(.unsupported, source: source, field: "\(field).type", "'\(type)' is not supported (supported: \(expected))")
        }
        let steps = try array(try top.required("pretokenizers"), "\(field).pretokenizers")
        var objects: [Object] = []
        var types: [String] = []
        for (k, step) in steps.enumerated() {
            let o = try object(step, "\(field).pretokenizers[\(k)]")
            objects.append(o)
            types.append(try string(try o.required("type"), "\(field).pretokenizers[\(k)].type"))
        }
        switch types {
        case ["Digits", "ByteLevel"]:
            let individual = try objects[0].member("individual_digits").map { v throws(TokenizerError) in try bool(v, "\(field).pretokenizers[0].individual_digits") } ?? false
            guard individual else {
                throw TokenizerError(.unsupported, source: source, field: "\(field).pretokenizers[0].individual_digits",
                                     "Digits without individual_digits is not supported")
            }
            try byteLevel(objects[1], useRegex: true)
            return .smollm
        case ["Split", "ByteLevel"]:
            let split = objects[0]
            let path = "\(field).pretokenizers[0]"
            let pattern = try object(try split.required("pattern"), "\(path).pattern")
            guard let regexValue = try pattern.member("Regex"), let regex = regexValue.stringValue, regex == PreTokenizer.llama3Pattern else {
                throw TokenizerError(.unsupported, source: source, field: "\(path).pattern",
                                     "\(describe(.object(pattern.members))) is not supported: only Llama 3's regex \(PreTokenizer.llama3Pattern)")
            }
            let behavior = try string(try split.required("behavior"), "\(path).behavior")
            guard behavior == "Isolated" else {
                throw TokenizerError(.unsupported, source: source, field: "\(path).behavior", "'\(behavior)' is not supported (only 'Isolated')")
            }
            if let invert = try split.member("invert"), try bool(invert, "\(path).invert") {
                throw TokenizerError(.unsupported, source: source, field: "\(path).invert", "true is not supported")
            }
            try byteLevel(objects[1], useRegex: false)
            return .llama3
        default:
            throw TokenizerError(.unsupported, source: source, field: "\(field).pretokenizers",
                                 "Sequence[\(types.joined(separator: ", "))] is not supported (supported: \(expected))")
        }
    }

    private func byteLevel(_ o: Object, useRegex expected: Bool) throws(TokenizerError) {
        let prefix = try o.member("add_prefix_space").map { v throws(TokenizerError) in try bool(v, "\(o.path).add_prefix_space") } ?? true
        guard !prefix else {
            throw TokenizerError(.unsupported, source: source, field: "\(o.path).add_prefix_space", "true is not supported")
        }
        let useRegex = try o.member("use_regex").map { v throws(TokenizerError) in try bool(v, "\(o.path).use_regex") } ?? true
        guard useRegex == expected else {
            throw TokenizerError(.unsupported, source: source, field: "\(o.path).use_regex",
                                 "\(useRegex) is not supported here (expected \(expected) in this position)")
        }
    }

    // MARK: post_processor

    struct Template {
        var bos: Int?
        var eos: Int?
    }

    func postProcessor(_ value: JSONValue, _ field: String, into template: inout Template) throws(TokenizerError) {
        let o = try object(value, field)
        let type = try string(try o.required("type"), "\(field).type")
        switch type {
        case "ByteLevel":
            return  // offsets only
        case "Sequence":
            for (k, step) in try array(try o.required("processors"), "\(field).processors").enumerated() {
                try postProcessor(step, "\(field).processors[\(k)]", into: &template)
            }
        case "TemplateProcessing":
            let single = try array(try o.required("single"), "\(field).single")
            let specials = try object(try o.required("special_tokens"), "\(field).special_tokens")
            var before: [Int] = []
            var after: [Int] = []
            var sawSequence = false
            for (k, item) in single.enumerated() {
                let entry = try object(item, "\(field).single", index: k)
                if let sequence = try entry.member("Sequence") {
                    let id = try string(try object(sequence, "\(field).single[\(k)].Sequence").required("id"), "\(field).single[\(k)].Sequence.id")
                    guard id == "A", !sawSequence else {
                        throw TokenizerError(.unsupported, source: source, field: "\(field).single", index: k, "only one sequence, $A, is supported")
                    }
                    sawSequence = true
                } else if let special = try entry.member("SpecialToken") {
                    let name = try string(try object(special, "\(field).single[\(k)].SpecialToken").required("id"), "\(field).single[\(k)].SpecialToken.id")
                    guard let definition = try specials.member(name) else {
                        throw TokenizerError(.unknownToken, source: source, field: "\(field).special_tokens", "'\(name)' is used in single but not defined")
                    }
                    let ids = try array(try object(definition, "\(field).special_tokens.\(name)").required("ids"), "\(field).special_tokens.\(name).ids")
                    guard ids.count == 1 else {
                        throw TokenizerError(.unsupported, source: source, field: "\(field).special_tokens.\(name).ids", "\(ids.count) ids: only one is supported")
                    }
                    let id = try int(ids[0], "\(field).special_tokens.\(name).ids", index: 0)
                    if sawSequence { after.append(id) } else { before.append(id) }
                } else {
                    throw TokenizerError(.unsupported, source: source, field: "\(field).single", index: k, "expected Sequence or SpecialToken")
                }
            }
            guard sawSequence, before.count <= 1, after.count <= 1, template.bos == nil || before.isEmpty, template.eos == nil || after.isEmpty else {
                throw TokenizerError(.unsupported, source: source, field: "\(field).single",
                                     "only $A with at most one special token before it (BOS) and one after (EOS) is supported")
            }
            if let b = before.first { template.bos = b }
            if let e = after.first { template.eos = e }
        default:
            throw TokenizerError(.unsupported, source: source, field: "\(field).type",
                                 "'\(type)' is not supported (supported: ByteLevel, TemplateProcessing, Sequence)")
        }
    }
}
