// The two loaders give the same tokenizer: tiny_llama.gguf (written by the gguf package, pre
// "llama-bpe") and tiny_llama.tokenizer.json have the same definition (the JSON records no EOS, as
// its post-processor adds none) and the same ids on every fixture text; the same vocabulary as GGUF
// with pre "smollm" and "gpt2" reads as those pre-tokenizers; and, when data/smollm2 is present,
// the real SmolLM2 GGUF gives the committed SmolLM2 tokenizer.json's definition and ids.

import Foundation
import HATIO
import HATTokenizer
import Testing

/// The metadata of a GGUF file as writer entries (the kinds tokenizer metadata uses).
func writerEntries(_ file: GGUFFile) -> GGUFMetadataWriter {
    var w = GGUFMetadataWriter()
    for key in file.metadataKeys {
        switch file.metadata[key]! {
        case .string(let s): w[key] = .string(s)
        case .uint32(let v): w[key] = .uint32(v)
        case .int32(let v): w[key] = .int32(v)
        case .bool(let v): w[key] = .bool(v)
        case .array(.string, let a): w[key] = .strings(a.compactMap(\.string))
        case .array(.int32, let a): w[key] = .int32s(a.compactMap { $0.int.map(Int32.init) })
        default: break
        }
    }
    return w
}

@Suite struct LoaderTests {
    @Test func ggufAndTokenizerJSONGiveTheSameTokenizer() throws {
        let gguf = try TokenizerDefinition(ggufPath: fixturesPath + "/tiny_llama.gguf")
        var json = try TokenizerDefinition(tokenizerJSONPath: fixturesPath + "/tiny_llama.tokenizer.json")
        #expect(json.eosTokenID == nil)
        #expect(gguf.eosTokenID == 3008)
        json.eosTokenID = gguf.eosTokenID
        // tokenizer.json keeps the specials out of model.vocab; transformers puts every GGUF token there
        let jsonInModel = json.addedTokens.map(\.inModelVocabulary), ggufInModel = gguf.addedTokens.map(\.inModelVocabulary)
        #expect(jsonInModel == [Bool](repeating: false, count: 5) && ggufInModel == [Bool](repeating: true, count: 5))
        for k in json.addedTokens.indices { json.addedTokens[k].inModelVocabulary = true }
        #expect(gguf.tokens == json.tokens)
        #expect(gguf.merges == json.merges)
        #expect(gguf.addedTokens == json.addedTokens)
        #expect(gguf.preTokenizer == .llama3 && json.preTokenizer == .llama3)
        #expect(gguf.ignoreMerges && json.ignoreMerges)
        #expect(gguf.bosTokenID == 3007 && gguf.addBOS && !gguf.addEOS)
        #expect(gguf == json)

        let fromGGUF = try BPETokenizer(gguf)
        for c in Fixtures.cases {
            #expect(fromGGUF.encode(c.text) == c.tiny_llama, "\(c.source)")
        }
        #expect(fromGGUF.encode("Hi", addSpecialTokens: true) == Fixtures.tinyLlama.encode("Hi", addSpecialTokens: true))
    }

    @Test(arguments: [("smollm", PreTokenizer.smollm), ("gpt2", PreTokenizer.gpt2)])
    func otherGGUFPreTokenizerNames(name: String, expected: PreTokenizer) throws {
        var w = writerEntries(try GGUFFile(path: fixturesPath + "/tiny_llama.gguf"))
        w["tokenizer.ggml.pre"] = .string(name)
        w["tokenizer.ggml.add_bos_token"] = .bool(false)
        let scratch = ScratchDirectory()
        let path = scratch.write("tiny_\(name).gguf", w.bytes())
        let gguf = try TokenizerDefinition(ggufPath: path)
        var json = try TokenizerDefinition(tokenizerJSONPath: fixturesPath + "/tiny_llama.tokenizer.json")
        json.preTokenizer = expected
        json.ignoreMerges = false  // llama.cpp ignores merges for llama-bpe only
        json.addBOS = false
        json.eosTokenID = gguf.eosTokenID
        for k in json.addedTokens.indices { json.addedTokens[k].inModelVocabulary = true }
        #expect(gguf == json)
        #expect(PreTokenizer(ggufName: name) == expected)
        #expect(expected.ggufName == name)
    }

    @Test func userDefinedTokensAreAddedButNotSpecial() throws {
        var w = GGUFMetadataWriter.small()
        w["tokenizer.ggml.token_type"] = .int32s((0..<261).map { $0 == 259 ? 3 : $0 == 260 ? 4 : 1 })
        let scratch = ScratchDirectory()
        let t = try BPETokenizer(ggufPath: scratch.write("t.gguf", w.bytes()))
        #expect(t.definition.addedTokens == [AddedToken(id: 259, content: "<s>", special: true), AddedToken(id: 260, content: "</s>", special: false)])
        let ids = t.encode("x</s><s>abc a")
        #expect(ids == [t.id(ofSpelling: "x")!, 260, 259, 257, 258])
        #expect(try t.decode(ids, skipSpecialTokens: true) == "x</s>abc a")
        #expect(t.encode("ab", addSpecialTokens: true) == [259, 256])
    }

    @Test func addedTokensAreComparedByteForByte() throws {
        // HF (checked with tokenizers 0.23.3): add_tokens(["é", "e\u{301}"]) gives "é" the id the
        // vocabulary already has for it (165, the byte-level spelling of byte 0xE9) and the
        // canonically equivalent "e\u{301}" a new id 3012; both are matched as written.
        var definition = Fixtures.tinyLlama.definition
        #expect(definition.tokens[165] == "é")
        definition.tokens.append("e\u{301}")
        definition.addedTokens += [AddedToken(id: 165, content: "é", special: false),
                                   AddedToken(id: 3012, content: "e\u{301}", special: false, inModelVocabulary: false)]
        let t = try BPETokenizer(definition)
        let ids = t.encode("x\u{E9}|e\u{301} e")
        #expect(ids == [87, 165, 91, 3012, 300])
        #expect(try Array(t.decode(ids).utf8) == Array("x\u{FFFD}|e\u{301} e".utf8))
        #expect(t.id(ofSpelling: "e\u{301}") == 3012 && t.id(ofSpelling: "\u{E9}") == 165)
        #expect(t.encode("\u{E9}t\u{E9}") == [165, 83, 165])  // matched as added tokens, not merged as text
    }

    @Test(.enabled(if: FileManager.default.fileExists(atPath: realSmolLM2Path), "needs data/smollm2 (scripts/fetch_data.py)"))
    func realSmolLM2GGUFMatchesCommittedTokenizerJSON() throws {
        let gguf = try TokenizerDefinition(ggufPath: realSmolLM2Path)
        var json = Fixtures.smollm2.definition
        #expect(gguf.preTokenizer == .smollm)
        #expect(gguf.bosTokenID == 1 && gguf.eosTokenID == 2 && !gguf.addBOS && !gguf.addEOS)
        json.bosTokenID = gguf.bosTokenID
        json.eosTokenID = gguf.eosTokenID
        #expect(json.addedTokens.map(\.inModelVocabulary) == [Bool](repeating: true, count: 17))  // SmolLM2's specials are ids 0…16 of its vocabulary
        #expect(gguf == json)
        let tokenizer = try BPETokenizer(gguf)
        for c in Fixtures.cases { #expect(tokenizer.encode(c.text) == c.smollm2, "\(c.source)") }
    }
}

/// data/smollm2 of the repository (untracked; fetched by scripts/fetch_data.py).
let realSmolLM2Path: String = {
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { url.deleteLastPathComponent() }
    return url.path + "/data/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
}()
