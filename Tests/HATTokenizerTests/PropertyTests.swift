// Properties beyond the fixture: decode(encode(x)) == x for any valid UTF-8 (every byte has a
// token in the tiny tokenizer; for SmolLM2, text without its 21 token-less bytes); per-token bytes
// concatenate to the text; the heap merge on long words equals a slow reference BPE written here;
// a 100 KB word is fast (no quadratic blowup); a shared word cache changes no id.

import Foundation
import HATTokenizer
import Testing

/// Random valid text: scalars from all planes, weighted towards what real text has.
func randomText(_ rng: inout SeededGenerator, maxScalars: Int) -> String {
    var s = String.UnicodeScalarView()
    for _ in 0..<Int.random(in: 0...maxScalars, using: &rng) {
        let v: UInt32
        switch Int.random(in: 0..<10, using: &rng) {
        case 0...3: v = UInt32.random(in: 0x20...0x7E, using: &rng)
        case 4: v = [0x09, 0x0A, 0x0D, 0x20, 0x27, 0xA0, 0x85, 0x2028, 0x3000][Int.random(in: 0..<9, using: &rng)]
        case 5: v = UInt32.random(in: 0...0x7F, using: &rng)
        case 6: v = UInt32.random(in: 0x80...0x7FF, using: &rng)
        case 7: v = UInt32.random(in: 0x800...0xFFFF, using: &rng)
        default: v = UInt32.random(in: 0x10000...0x10FFFF, using: &rng)
        }
        if let u = Unicode.Scalar(v) { s.append(u) }
    }
    return String(s)
}

/// Textbook BPE: repeatedly merge the leftmost pair of lowest rank, scanning every pair each time.
func referenceBPE(_ tokenizer: BPETokenizer, _ word: [UInt8]) -> [Int] {
    var rank: [TokenPair: Int] = [:]
    for (r, pair) in tokenizer.definition.merges.enumerated() { rank[pair] = r }
    var symbols = word.compactMap { tokenizer.id(ofSpelling: String(ByteLevel.scalarForByte[Int($0)])) }
    while symbols.count > 1 {
        var best = -1
        var bestRank = Int.max
        for k in 0..<(symbols.count - 1) {
            if let r = rank[TokenPair(symbols[k], symbols[k + 1])], r < bestRank { bestRank = r; best = k }
        }
        if best < 0 { break }
        let merged = tokenizer.id(ofSpelling: tokenizer.spelling(of: symbols[best])! + tokenizer.spelling(of: symbols[best + 1])!)!
        symbols[best] = merged
        symbols.remove(at: best + 1)
    }
    return symbols
}

@Suite struct PropertyTests {
    @Test func roundTripOfAnyValidText() throws {
        var rng = SeededGenerator(seed: 1)
        let missing = Set(Fixtures.smollm2.bytesWithoutToken)
        var smollmChecked = 0
        for _ in 0..<3000 {
            let text = randomText(&rng, maxScalars: 40)
            let ids = Fixtures.tinyLlama.encode(text)
            #expect(try Fixtures.tinyLlama.decodeBytes(ids) == Array(text.utf8), "'\(visible(text))'")
            if !text.utf8.contains(where: { missing.contains($0) }) {
                let s = Fixtures.smollm2.encode(text)
                #expect(try Fixtures.smollm2.decodeBytes(s) == Array(text.utf8), "'\(visible(text))'")
                smollmChecked += 1
            }
        }
        #expect(smollmChecked > 500)
        for c in Fixtures.cases {
            #expect(Array(try Fixtures.tinyLlama.decode(Fixtures.tinyLlama.encode(c.text)).utf8) == Array(c.text.utf8))
        }
    }

    @Test func tokenBytesConcatenateToTheText() {
        let t = Fixtures.tinyLlama
        let all = t.allTokenBytes
        #expect(all.count == t.vocabularySize)
        for c in Fixtures.cases.prefix(300) {
            let ids = t.encode(c.text)
            #expect(ids.flatMap { t.tokenBytes($0)! } == Array(c.text.utf8))
            #expect(ids.flatMap { all[$0] } == Array(c.text.utf8))
        }
        #expect(Fixtures.smollm2.tokenBytes(1) == Array("<|im_start|>".utf8))
        #expect(Fixtures.smollm2.tokenBytes(Fixtures.smollm2.id(ofSpelling: "Ġthe")!) == Array(" the".utf8))
    }

    @Test func heapMergeEqualsReferenceOnLongWords() {
        var rng = SeededGenerator(seed: 3)
        for t in [Fixtures.smollm2, Fixtures.tinyLlama] {
            for length in [49, 50, 64, 200, 1000, 3000] {
                let word = (0..<length).map { _ in UInt8.random(in: UInt8(ascii: "a")...UInt8(ascii: "z"), using: &rng) }
                let text = String(decoding: word, as: UTF8.self)
                #expect(t.encode(text) == referenceBPE(t, word), "length \(length)")
            }
            let syllables = (0..<400).map { _ in ["ing", "the", "tion", "er", "an", "st"][Int.random(in: 0..<6, using: &rng)] }.joined()
            #expect(t.encode(syllables) == referenceBPE(t, Array(syllables.utf8)))
            #expect(t.encode(String(repeating: "a", count: 999)) == referenceBPE(t, Array(repeating: UInt8(ascii: "a"), count: 999)))
        }
    }

    @Test func hundredKilobyteWordIsFast() throws {
        var rng = SeededGenerator(seed: 5)
        let word = String(decoding: (0..<100_000).map { _ in UInt8.random(in: UInt8(ascii: "a")...UInt8(ascii: "z"), using: &rng) }, as: UTF8.self)
        let repeated = String(repeating: "ab", count: 50_000)
        for t in [Fixtures.smollm2, Fixtures.tinyLlama] {
            for text in [word, repeated] {
                let start = ContinuousClock.now
                let ids = t.encode(text)
                let seconds = (ContinuousClock.now - start) / .seconds(1)
                #expect(try t.decodeBytes(ids) == Array(text.utf8))
                #expect(seconds < 2, "a 100 KB word took \(seconds) s")
            }
        }
    }

    @Test func sharedCacheChangesNothing() {
        var cache = BPEWordCache()
        for c in Fixtures.cases.prefix(500) {
            #expect(Fixtures.smollm2.encode(c.text, cache: &cache) == c.smollm2)
        }
        #expect(cache.count > 100)
        // the same cache handed to another tokenizer starts over rather than giving SmolLM2's ids
        for c in Fixtures.cases.prefix(500) {
            #expect(Fixtures.tinyLlama.encode(c.text, cache: &cache) == c.tiny_llama)
        }
    }

    @Test func tokenizersAreSendable() async {
        let t = Fixtures.smollm2
        let texts = Fixtures.cases.prefix(64).map(\.text)
        let results = await withTaskGroup(of: (Int, [Int]).self) { group in
            for (k, text) in texts.enumerated() { group.addTask { (k, t.encode(text)) } }
            var out = [[Int]](repeating: [], count: texts.count)
            for await (k, ids) in group { out[k] = ids }
            return out
        }
        #expect(results == Fixtures.cases.prefix(64).map(\.smollm2))
    }
}
