// The pre-tokenizer scanners: their character classes equal those of HF's regex engine for every
// Unicode scalar (Fixtures/unicode_classes.json), and hand-picked inputs split as HF tokenizers
// 0.23.3 splits them (pieces printed by its pre_tokenize_str; the full fixture tests the rest).

import Foundation
@testable import HATTokenizer
import Testing

struct UnicodeClassFile: Decodable {
    var L: [[UInt32]]
    var N: [[UInt32]]
    var S: [[UInt32]]
    var D: [[UInt32]]
}

/// The pieces of `text` as strings.
func pieces(_ kind: PreTokenizer, _ text: String) -> [String] {
    let bytes = Array(text.utf8)
    return kind.split(text).map { String(decoding: bytes[$0], as: UTF8.self) }
}

@Suite struct PreTokenizerTests {
    @Test func classesEqualHFRegexEngineForEveryScalar() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: fixturesPath + "/unicode_classes.json"))
        let file = try JSONDecoder().decode(UnicodeClassFile.self, from: data)
        func membership(_ ranges: [[UInt32]]) -> [Bool] {
            var m = [Bool](repeating: false, count: 0x110000)
            for r in ranges { for v in r[0]...r[1] { m[Int(v)] = true } }
            return m
        }
        let expected: [(String, UInt8, [Bool])] = [
            ("\\p{L}", ScalarClass.letter, membership(file.L)), ("\\p{N}", ScalarClass.number, membership(file.N)),
            ("\\s", ScalarClass.whitespace, membership(file.S)), ("Digits", ScalarClass.numeric, membership(file.D)),
        ]
        for (name, flag, members) in expected {
            var differing: [String] = []
            for v in UInt32(0)..<0x110000 where !(0xD800..<0xE000).contains(v) {
                if (ScalarClass.of(v) & flag != 0) != members[Int(v)] { differing.append(String(v, radix: 16, uppercase: true)) }
            }
            #expect(differing.isEmpty, "\(name): \(differing.count) scalars differ, e.g. U+\(differing.prefix(5).joined(separator: ", U+"))")
        }
    }

    @Test func gpt2SplitsAsHF() {
        #expect(pieces(.gpt2, "Hello world") == ["Hello", " world"])
        #expect(pieces(.gpt2, " 12 ab") == [" 12", " ab"])
        #expect(pieces(.gpt2, "a  7") == ["a", " ", " 7"])
        #expect(pieces(.gpt2, "it's 'S") == ["it", "'s", " '", "S"])
        #expect(pieces(.gpt2, "I'LL don't") == ["I", "'", "LL", " don", "'t"])
        #expect(pieces(.gpt2, "x\u{A0}\u{A0}y") == ["x", "\u{A0}", "\u{A0}", "y"])
        #expect(pieces(.gpt2, "  ") == ["  "])
        #expect(pieces(.gpt2, "a  b   \n\n c") == ["a", " ", " b", "   \n\n", " c"])
        #expect(pieces(.gpt2, "?'s") == ["?'", "s"])
        #expect(pieces(.gpt2, "") == [])
    }

    @Test func smollmSplitsDigitsFirst() {
        #expect(pieces(.smollm, " 12 ab") == [" ", "1", "2", " ab"])
        #expect(pieces(.smollm, "a  7") == ["a", "  ", "7"])
        #expect(pieces(.smollm, "x²½Ⅻ٣y") == ["x", "²", "½", "Ⅻ", "٣", "y"])
    }

    @Test func llama3SplitsAsHF() {
        #expect(pieces(.llama3, "'ſ x") == ["'ſ", " x"])
        #expect(pieces(.llama3, "'ſa") == ["'ſ", "a"])
        #expect(pieces(.llama3, "'ﬆa") == ["'ﬆa"])
        #expect(pieces(.llama3, "'Ka") == ["'Ka"])
        #expect(pieces(.llama3, "'LLa 'lLa") == ["'LL", "a", " '", "lLa"])  // the space takes the apostrophe
        #expect(pieces(.llama3, "'S 'LL 'Re 'rE 'VE 'M 'D 'T") == ["'S", " '", "LL", " '", "Re", " '", "rE", " '", "VE", " '", "M", " '", "D", " '", "T"])
        #expect(pieces(.llama3, "a\u{301}b") == ["a", "\u{301}b"])
        #expect(pieces(.llama3, "1234567 ½⅓ ２３") == ["123", "456", "7", " ", "½⅓", " ", "２３"])
        #expect(pieces(.llama3, " \n\n  x") == [" \n\n", " ", " x"])
        #expect(pieces(.llama3, "a \t\r\n b") == ["a", " \t\r\n", " b"])
        #expect(pieces(.llama3, "\u{A0}x") == ["\u{A0}x"])
        #expect(pieces(.llama3, "x  ") == ["x", "  "])
        #expect(pieces(.llama3, "don't") == ["don", "'t"])
        #expect(pieces(.llama3, "'hello") == ["'hello"])
        #expect(pieces(.llama3, "a \u{200B} b") == ["a", " \u{200B}", " b"])
        #expect(pieces(.llama3, "x?!\n\ny") == ["x", "?!\n\n", "y"])
    }

    @Test func piecesCoverRandomText() {
        // Any valid text: the pieces are non-empty, in order, cover it, and end on character boundaries.
        var rng = SeededGenerator(seed: 11)
        let alphabet: [String] = ["a", "Z", "7", " ", "  ", "\t", "\n", "\r\n", "'", "'s", "'LL", "ſ", "é", "\u{301}", "中", "٣", "½",
                                  "😀", "👍🏽", "\u{200D}", "\u{A0}", "\u{2028}", "\u{85}", "?", "<", "Ⅻ", "\u{11DE0}", "\u{88F}"]
        for _ in 0..<2000 {
            let text = (0..<Int.random(in: 0...30, using: &rng)).map { _ in alphabet.randomElement(using: &rng)! }.joined()
            let bytes = Array(text.utf8)
            for kind in PreTokenizer.allCases {
                let ranges = kind.split(text)
                var at = 0
                for r in ranges {
                    #expect(r.lowerBound == at && !r.isEmpty)
                    #expect(String(validating: bytes[r], as: UTF8.self) != nil, "\(kind) cut a character in '\(visible(text))'")
                    at = r.upperBound
                }
                #expect(at == bytes.count)
            }
        }
    }
}
