// The tokenizer against HF tokenizers 0.23.3 on the committed fixtures: every one of the 2,089
// texts must give exactly HF's ids for SmolLM2 (digit-splitting "smollm" pre-tokenizer, and the
// plain GPT-2 split transformers uses) and for the tiny llama-bpe tokenizer, with BOS where its
// post-processor adds it; decoding must give HF's text, also for random id sequences.

import Foundation
import HATTokenizer
import Testing

@Suite struct FixtureTests {
    /// Compares ids for every case; records the first few differences with the text.
    func expectSameIDs(_ tokenizer: BPETokenizer, _ name: String, _ expected: (CaseFile.Case) -> [Int]) {
        var cache = BPEWordCache()
        var differing = 0
        for c in Fixtures.cases {
            let want = expected(c)
            let got = tokenizer.encode(c.text, cache: &cache)
            if got != want {
                if differing < 5 {
                    let at = zip(got, want).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? min(got.count, want.count)
                    Issue.record("\(name) \(c.source) '\(visible(c.text))': ids differ at \(at): ours \(Array(got[at...].prefix(8))), HF \(Array(want[at...].prefix(8)))")
                }
                differing += 1
            }
        }
        #expect(differing == 0, "\(differing) of \(Fixtures.cases.count) texts differ for \(name)")
    }

    @Test func fixtureIsLargeEnough() {
        #expect(Fixtures.cases.count >= 2000)
        #expect(Fixtures.cases.filter { $0.source.hasPrefix("hand:") }.count >= 300)
    }

    @Test func smollm2MatchesHF() {
        #expect(Fixtures.smollm2.preTokenizer == .smollm)
        #expect(Fixtures.smollm2.vocabularySize == 49152)
        expectSameIDs(Fixtures.smollm2, "smollm2") { $0.smollm2 }
    }

    @Test func smollm2WithGPT2SplitMatchesTransformers() throws {
        var definition = Fixtures.smollm2.definition
        definition.preTokenizer = .gpt2
        let tokenizer = try BPETokenizer(definition)
        expectSameIDs(tokenizer, "smollm2 (gpt2 split)") { $0.smollm2_gpt2 ?? $0.smollm2 }
        #expect(Fixtures.cases.filter { $0.smollm2_gpt2 != nil }.count > 100, "the two splits should differ on many texts")
    }

    @Test func tinyLlamaMatchesHF() {
        #expect(Fixtures.tinyLlama.preTokenizer == .llama3)
        #expect(Fixtures.tinyLlama.definition.ignoreMerges)
        expectSameIDs(Fixtures.tinyLlama, "tiny_llama") { $0.tiny_llama }
    }

    @Test func tinyLlamaAddsBOSLikeItsPostProcessor() throws {
        let bos = try #require(Fixtures.tinyLlama.bosTokenID)
        #expect(Fixtures.tinyLlama.spelling(of: bos) == "<|begin_of_text|>")
        for c in Fixtures.cases.prefix(200) {
            #expect(Fixtures.tinyLlama.encode(c.text, addSpecialTokens: true) == [bos] + c.tiny_llama)
        }
        // SmolLM2's tokenizer.json adds nothing (its template is $A alone)
        #expect(Fixtures.smollm2.encode("Hello", addSpecialTokens: true) == Fixtures.smollm2.encode("Hello"))
    }

    @Test func ignoreMergesKeepsVocabularyWordsWhole() throws {
        let words = Fixtures.cases.filter { $0.source.hasPrefix("hand:ignore-merges-") }
        #expect(words.count >= 6)  // 7 words; one that is also another case ("123") appears once
        var definition = Fixtures.tinyLlama.definition
        definition.ignoreMerges = false
        let withoutIgnore = try BPETokenizer(definition)
        for c in words {
            #expect(c.tiny_llama.count == 1)
            #expect(withoutIgnore.encode(c.text).count > 1, "'\(c.text)' should need ignore_merges")
        }
    }

    @Test func decodeGivesHFText() throws {
        for c in Fixtures.cases {
            let smollm = try Fixtures.smollm2.decode(c.smollm2)
            #expect(Array(smollm.utf8) == Array((c.smollm2_decoded ?? c.text).utf8), "smollm2 \(c.source)")
            let tiny = try Fixtures.tinyLlama.decode(c.tiny_llama)
            #expect(Array(tiny.utf8) == Array((c.tiny_llama_decoded ?? c.text).utf8), "tiny_llama \(c.source)")
        }
    }

    @Test func decodeOfRandomIDsIsHFLossyUTF8() throws {
        #expect(Fixtures.decodeCases.count == 400)
        for c in Fixtures.decodeCases {
            let tokenizer = c.tokenizer == "smollm2" ? Fixtures.smollm2 : Fixtures.tinyLlama
            let text = try tokenizer.decode(c.ids)
            #expect(Array(text.utf8) == Array(c.text.utf8), "\(c.tokenizer) \(c.ids)")
            let skipping = try tokenizer.decode(c.ids, skipSpecialTokens: true)
            #expect(Array(skipping.utf8) == Array(c.text_skipping_special.utf8), "\(c.tokenizer) \(c.ids) skipping special")
        }
    }

    @Test func missingBytesAreDroppedAsHFDoes() {
        // SmolLM2 has no token for 21 bytes; encode drops them like HF, so decode cannot give them back.
        let missing = Fixtures.smollm2.bytesWithoutToken
        #expect(missing.count == 21)
        #expect(missing.contains(0x04) && missing.contains(0xF1) && missing.contains(0xFF))
        #expect(Fixtures.tinyLlama.bytesWithoutToken.isEmpty)
        let cases = Fixtures.cases.filter { $0.smollm2_decoded != nil }
        #expect(!cases.isEmpty)
        for c in cases { #expect(c.text.utf8.contains { missing.contains($0) }, "\(c.source) decodes differently without a missing byte") }
    }
}
