// Bad input gives a TokenizerError that names the file, the field and the index, never a trap:
// GGUF without tokenizer metadata, unsupported tokenizer model or pre-tokenizer (the message lists
// the supported ones), merges naming unknown tokens, non-BPE tokenizer.json models and other
// unsupported options, malformed JSON, duplicates, invalid UTF-8 input and unknown ids.

import Foundation
import HATTokenizer
import Testing

/// A minimal valid tokenizer.json (256 byte tokens, "ab", merge "a b") with `change` applied to its object.
func tokenizerJSON(_ change: (inout [String: Any]) -> Void = { _ in }) -> [UInt8] {
    var vocab: [String: Int] = [:]
    for b in 0..<256 { vocab[String(ByteLevel.scalarForByte[b])] = b }
    vocab["ab"] = 256
    var root: [String: Any] = [
        "version": "1.0", "truncation": NSNull(), "padding": NSNull(), "normalizer": NSNull(),
        "added_tokens": [["id": 257, "content": "<s>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true]],
        "pre_tokenizer": ["type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true],
        "post_processor": NSNull(),
        "decoder": ["type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true],
        "model": ["type": "BPE", "dropout": NSNull(), "unk_token": NSNull(), "continuing_subword_prefix": NSNull(),
                  "end_of_word_suffix": NSNull(), "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
                  "vocab": vocab, "merges": ["a b"]] as [String: Any],
    ]
    change(&root)
    return [UInt8](try! JSONSerialization.data(withJSONObject: root))
}

func model(_ root: inout [String: Any], _ change: (inout [String: Any]) -> Void) {
    var m = root["model"] as! [String: Any]
    change(&m)
    root["model"] = m
}

@Suite struct ErrorTests {
    let scratch = ScratchDirectory()

    func loadGGUF(_ w: GGUFMetadataWriter) throws {
        _ = try BPETokenizer(ggufPath: scratch.write("t.gguf", w.bytes()))
    }

    func loadJSON(_ bytes: [UInt8]) throws {
        _ = try BPETokenizer(TokenizerDefinition(tokenizerJSON: bytes, source: "t.json"))
    }

    @Test func validSmallFilesLoad() throws {
        try loadGGUF(.small())
        try loadJSON(tokenizerJSON())
        let t = try BPETokenizer(TokenizerDefinition(tokenizerJSON: tokenizerJSON(), source: "t.json"))
        #expect(t.encode("ab<s>ab") == [256, 257, 256])
    }

    @Test func ggufWithoutTokenizerMetadata() {
        var w = GGUFMetadataWriter()
        w["general.architecture"] = .string("llama")
        let e = expectTokenizerError(.missingField) { try loadGGUF(w) }
        #expect(e?.field == "tokenizer.ggml.model")
        #expect(e?.description.contains("no tokenizer metadata") == true)
        #expect(e?.source.hasSuffix("t.gguf") == true)
    }

    @Test func ggufNotAGGUF() {
        let path = scratch.write("bad.gguf", Array("not a gguf file at all".utf8))
        let e = expectTokenizerError(.malformed) { _ = try BPETokenizer(ggufPath: path) }
        #expect(e?.description.contains("bad.gguf") == true)
        expectTokenizerError(.io) { _ = try BPETokenizer(ggufPath: scratch.path + "/missing.gguf") }
    }

    @Test func ggufSentencePieceModelIsRefused() {
        var w = GGUFMetadataWriter.small()
        w["tokenizer.ggml.model"] = .string("llama")
        let e = expectTokenizerError(.unsupported) { try loadGGUF(w) }
        #expect(e?.description.contains("'llama' is not supported: only 'gpt2'") == true)
    }

    @Test(arguments: ["qwen2", "deepseek-llm", "falcon", "default", "starcoder", "LLAMA-BPE"])
    func ggufUnknownPreTokenizerIsRefused(name: String) {
        var w = GGUFMetadataWriter.small()
        w["tokenizer.ggml.pre"] = .string(name)
        let e = expectTokenizerError(.unsupported) { try loadGGUF(w) }
        #expect(e?.field == "tokenizer.ggml.pre")
        #expect(e?.message == "pre-tokenizer '\(name)' is not supported (supported: 'gpt2', 'smollm', 'llama-bpe')")
    }

    @Test func ggufMissingPreTokenizerIsRefused() {
        var w = GGUFMetadataWriter.small()
        w["tokenizer.ggml.pre"] = nil
        let e = expectTokenizerError(.missingField) { try loadGGUF(w) }
        #expect(e?.message.contains("'gpt2', 'smollm', 'llama-bpe'") == true)
    }

    @Test func ggufMergesNamingUnknownTokens() {
        var w = GGUFMetadataWriter.small()
        w["tokenizer.ggml.merges"] = .strings(["a b", "ab c", "ab zz"])
        let e = expectTokenizerError(.unknownToken) { try loadGGUF(w) }
        #expect(e?.field == "tokenizer.ggml.merges" && e?.index == 2)
        #expect(e?.message == "'ab zz' names 'zz', which is not a token")

        w["tokenizer.ggml.merges"] = .strings(["a b", "b c"])  // "bc" is not a token
        let e2 = expectTokenizerError(.unknownToken) { try loadGGUF(w) }
        #expect(e2?.index == 1 && e2?.message.contains("'bc', which is not a token") == true)

        w["tokenizer.ggml.merges"] = .strings(["a b", "abc"])
        let e3 = expectTokenizerError(.malformed) { try loadGGUF(w) }
        #expect(e3?.index == 1)
        w["tokenizer.ggml.merges"] = .strings(["a  b"])
        expectTokenizerError(.malformed) { try loadGGUF(w) }
        w["tokenizer.ggml.merges"] = nil
        expectTokenizerError(.missingField) { try loadGGUF(w) }
    }

    @Test func ggufWrongTypesAndRanges() {
        var w = GGUFMetadataWriter.small()
        w["tokenizer.ggml.tokens"] = .int32s([1, 2])
        expectTokenizerError(.malformed) { try loadGGUF(w) }
        w = .small()
        w["tokenizer.ggml.token_type"] = .int32s([1, 1])
        let e = expectTokenizerError(.malformed) { try loadGGUF(w) }
        #expect(e?.message == "2 types for 261 tokens")
        w = .small()
        w["tokenizer.ggml.bos_token_id"] = .uint32(9999)
        expectTokenizerError(.unknownToken) { try loadGGUF(w) }
        w = .small()
        w["tokenizer.ggml.bos_token_id"] = nil
        expectTokenizerError(.missingField) { try loadGGUF(w) }  // add_bos_token without an id
        w = .small()
        w["tokenizer.ggml.add_bos_token"] = .string("yes")
        expectTokenizerError(.malformed) { try loadGGUF(w) }
        w = .small()
        w["tokenizer.ggml.tokens"] = .strings(["a", "b", "a"])
        w["tokenizer.ggml.token_type"] = nil
        let d = expectTokenizerError(.duplicate) { try loadGGUF(w) }
        #expect(d?.index == 2)
        w["tokenizer.ggml.tokens"] = .strings([])
        expectTokenizerError(.malformed) { try loadGGUF(w) }
    }

    @Test func jsonNonBPEModelIsRefused() {
        for type in ["WordPiece", "Unigram", "WordLevel"] {
            let e = expectTokenizerError(.unsupported) { try loadJSON(tokenizerJSON { r in model(&r) { $0["type"] = type } }) }
            #expect(e?.field == "model.type")
            #expect(e?.message == "'\(type)' is not supported: only 'BPE' (byte-level) is")
        }
        let e = expectTokenizerError(.missingField) { try loadJSON(tokenizerJSON { r in model(&r) { $0["type"] = nil } }) }
        #expect(e?.field == "model.type")
    }

    @Test func jsonMergesNamingUnknownTokens() {
        let e = expectTokenizerError(.unknownToken) { try loadJSON(tokenizerJSON { r in model(&r) { $0["merges"] = ["a b", "a zz"] } }) }
        #expect(e?.field == "model.merges" && e?.index == 1)
        #expect(e?.message == "names 'zz', which is not in model.vocab")
        expectTokenizerError(.unknownToken) { try loadJSON(tokenizerJSON { r in model(&r) { $0["merges"] = [["a", "b"], ["b", "c"]] } }) }
        expectTokenizerError(.malformed) { try loadJSON(tokenizerJSON { r in model(&r) { $0["merges"] = ["a b c"] } }) }
        expectTokenizerError(.malformed) { try loadJSON(tokenizerJSON { r in model(&r) { $0["merges"] = [7] } }) }
        // the pair form loads like the string form
        #expect(throws: Never.self) { try loadJSON(tokenizerJSON { r in model(&r) { $0["merges"] = [["a", "b"]] } }) }
    }

    @Test func jsonUnsupportedOptionsAreNamed() {
        let cases: [(String, (inout [String: Any]) -> Void)] = [
            ("normalizer", { $0["normalizer"] = ["type": "NFC"] }),
            ("truncation", { $0["truncation"] = ["max_length": 8] }),
            ("padding", { $0["padding"] = ["strategy": "BatchLongest"] }),
            ("model.dropout", { r in model(&r) { $0["dropout"] = 0.1 } }),
            ("model.unk_token", { r in model(&r) { $0["unk_token"] = "<unk>" } }),
            ("model.continuing_subword_prefix", { r in model(&r) { $0["continuing_subword_prefix"] = "##" } }),
            ("model.byte_fallback", { r in model(&r) { $0["byte_fallback"] = true } }),
            ("pre_tokenizer.type", { $0["pre_tokenizer"] = ["type": "Whitespace"] }),
            ("pre_tokenizer.add_prefix_space", { $0["pre_tokenizer"] = ["type": "ByteLevel", "add_prefix_space": true] }),
            ("pre_tokenizer.pretokenizers", { $0["pre_tokenizer"] = ["type": "Sequence", "pretokenizers": [["type": "Metaspace"]]] }),
            ("pre_tokenizer.pretokenizers[0].pattern", { $0["pre_tokenizer"] = ["type": "Sequence", "pretokenizers": [
                ["type": "Split", "pattern": ["Regex": "\\s+"], "behavior": "Isolated", "invert": false],
                ["type": "ByteLevel", "add_prefix_space": false, "use_regex": false]]] }),
            ("pre_tokenizer.pretokenizers[1].use_regex", { $0["pre_tokenizer"] = ["type": "Sequence", "pretokenizers": [
                ["type": "Split", "pattern": ["Regex": PreTokenizer.llama3Pattern], "behavior": "Isolated", "invert": false],
                ["type": "ByteLevel", "add_prefix_space": false, "use_regex": true]]] }),
            ("pre_tokenizer.pretokenizers[0].individual_digits", { $0["pre_tokenizer"] = ["type": "Sequence", "pretokenizers": [
                ["type": "Digits", "individual_digits": false], ["type": "ByteLevel", "add_prefix_space": false]]] }),
            ("decoder.type", { $0["decoder"] = ["type": "WordPiece"] }),
            ("post_processor.type", { $0["post_processor"] = ["type": "BertProcessing"] }),
            ("added_tokens.lstrip", { $0["added_tokens"] = [["id": 257, "content": "<s>", "lstrip": true, "special": true]] }),
        ]
        for (field, change) in cases {
            let e = expectTokenizerError(.unsupported) { try loadJSON(tokenizerJSON(change)) }
            #expect(e?.field == field, "\(e?.description ?? "no error")")
            #expect(e?.source == "t.json")
        }
    }

    @Test func jsonMissingOrMalformed() {
        expectTokenizerError(.missingField) { try loadJSON(tokenizerJSON { $0["pre_tokenizer"] = NSNull() }) }
        expectTokenizerError(.missingField) { try loadJSON(tokenizerJSON { $0["decoder"] = nil }) }
        expectTokenizerError(.missingField) { try loadJSON(tokenizerJSON { $0["model"] = nil }) }
        expectTokenizerError(.malformed) { try loadJSON(tokenizerJSON { r in model(&r) { $0["vocab"] = ["a", "b"] } }) }
        expectTokenizerError(.malformed) { try loadJSON(tokenizerJSON { r in model(&r) { $0["vocab"] = ["a": -1] } }) }
        let gap = expectTokenizerError(.malformed) { try loadJSON(tokenizerJSON { r in model(&r) { $0["vocab"] = ["a": 0, "b": 2] ; $0["merges"] = [String]() } ; r["added_tokens"] = [] }) }
        #expect(gap?.message.contains("no token has id 1") == true)
        let conflict = expectTokenizerError(.malformed) { try loadJSON(tokenizerJSON { $0["added_tokens"] = [["id": 5, "content": "<x>", "special": true]] }) }
        #expect(conflict?.field == "added_tokens" && conflict?.index == 0)
        let syntax = expectTokenizerError(.malformed) { try loadJSON(Array("{\"model\": [1, 2,".utf8)) }
        #expect(syntax?.message.contains("not valid JSON at byte offset") == true)
        expectTokenizerError(.malformed) { try loadJSON([0xFF, 0xFE]) }
        expectTokenizerError(.malformed) { try loadJSON([]) }
        expectTokenizerError(.io) { _ = try BPETokenizer(tokenizerJSONPath: scratch.path + "/none.json") }
    }

    @Test func jsonDuplicateKeysAreRefused() {
        var text = String(decoding: tokenizerJSON(), as: UTF8.self)
        text = text.replacingOccurrences(of: "\"ab\":256", with: "\"ab\":256,\"ab\":255")
        #expect(text.contains("\"ab\":255"))
        let e = expectTokenizerError(.duplicate) { try loadJSON(Array(text.utf8)) }
        #expect(e?.field == "model.vocab")
        let twice = "{\"model\":{},\"model\":{}}"
        let e2 = expectTokenizerError(.duplicate) { try loadJSON(Array(twice.utf8)) }
        #expect(e2?.field == "model")
    }

    @Test func definitionErrors() {
        let base = Fixtures.tinyLlama.definition
        var d = base
        d.merges.append(TokenPair(0, 99999))
        #expect((try? BPETokenizer(d)) == nil)
        d = base
        d.addedTokens.append(AddedToken(id: 5, content: "nope", special: true))
        expectTokenizerError(.malformed) { _ = try BPETokenizer(d) }
        d = base
        d.tokens[10] = d.tokens[11]
        expectTokenizerError(.duplicate) { _ = try BPETokenizer(d) }
        d = base
        d.tokens = []
        expectTokenizerError(.missingField) { _ = try BPETokenizer(d) }
        d = base
        d.bosTokenID = nil
        expectTokenizerError(.missingField) { _ = try BPETokenizer(d) }
    }

    @Test func invalidUTF8InputIsRefusedWithItsOffset() {
        let t = Fixtures.smollm2
        let cases: [([UInt8], Int)] = [
            ([0x61, 0xFF, 0x62], 1), ([0x61, 0x80], 1), ([0xC3], 0), ([0x61, 0x62, 0xE2, 0x82], 2),
            ([0xED, 0xA0, 0x80], 0),   // a UTF-16 surrogate
            ([0xC0, 0xAF], 0),         // overlong "/"
            ([0xF4, 0x90, 0x80, 0x80], 0),  // above U+10FFFF
            ([0xE0, 0x80, 0xAF], 0),   // overlong
            (Array("ok ✓ ".utf8) + [0xF0, 0x9F, 0x98], 7),
        ]
        for (bytes, offset) in cases {
            let e = expectTokenizerError(.invalidUTF8) { _ = try t.encode(utf8: bytes) }
            #expect(e?.index == offset, "\(bytes)")
            #expect(e?.message.contains("byte offset \(offset)") == true)
        }
        #expect((try? t.encode(utf8: Array("héllo 👍🏽".utf8))) == t.encode("héllo 👍🏽"))
        #expect((try? t.encode(utf8: [])) == [])
    }

    @Test func unknownIDsAreRefusedByDecode() {
        let e = expectTokenizerError(.unknownID) { _ = try Fixtures.smollm2.decode([1, 2, 49152]) }
        #expect(e?.index == 2 && e?.field == "ids")
        expectTokenizerError(.unknownID) { _ = try Fixtures.smollm2.decodeBytes([-1]) }
        #expect(Fixtures.smollm2.tokenBytes(-1) == nil && Fixtures.smollm2.tokenBytes(49152) == nil)
        #expect(Fixtures.smollm2.spelling(of: 1_000_000) == nil)
    }

    @Test func randomBytesNeverTrap() throws {
        // Random bytes as GGUF, tokenizer.json and text: errors or results, no trap.
        var rng = SeededGenerator(seed: 7)
        let good = GGUFMetadataWriter.small().bytes()
        let json = tokenizerJSON()
        for round in 0..<300 {
            var g = good
            for _ in 0..<(1 + round % 8) { g[Int.random(in: 0..<g.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng) }
            _ = try? BPETokenizer(ggufPath: scratch.write("r.gguf", g))
            var j = json
            for _ in 0..<(1 + round % 8) { j[Int.random(in: 0..<j.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng) }
            _ = try? BPETokenizer(TokenizerDefinition(tokenizerJSON: j, source: "r.json"))
            let text = (0..<Int.random(in: 0...64, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            _ = try? Fixtures.tinyLlama.encode(utf8: text)
            _ = try? Fixtures.tinyLlama.decode(text.map(Int.init))
        }
    }
}
