// Special tokens: token strings become single bytes that never occur in UTF-8, the splitter
// makes each a one-byte word, and decoding gives the canonical strings back. Also the
// splitter options' JSON form (as stored in model configs).
import Foundation
import HATText
import Testing

@Suite struct SpecialTokensTests {
    @Test func encodeAndDecode() {
        #expect(SpecialTokens.endOfSequence == 192)
        let encoded = SpecialTokens.encode("Hi<|eot_id|><|begin_of_text|>x<|end_of_text|><|eot_id")
        #expect(encoded == Array("Hi".utf8) + [192, 193] + Array("x".utf8) + [192] + Array("<|eot_id".utf8))
        #expect(SpecialTokens.decode(encoded) == Array("Hi<|eot_id|><|begin_of_text|>x<|eot_id|><|eot_id".utf8))
        for token in SpecialTokens.tokens { #expect(SpecialTokens.isNeverUTF8(token.byte)) }
        #expect((0...255).filter { SpecialTokens.isNeverUTF8(UInt8($0)) }.count == 13)
    }

    @Test func specialBytesAreOneByteWords() throws {
        let splitter = try WordSplitter(options: SplitterOptions(maxWordBytes: 100))
        let bytes = SpecialTokens.encode("Hello world<|eot_id|> Next document<|eot_id|>")
        let words = splitter.split(bytes).map { Array(bytes[$0]) }
        #expect(words.map { String(decoding: $0, as: UTF8.self) }.prefix(2) == ["Hello", " world"])
        #expect(words[2] == [192] && words.last == [192])
        #expect(words[3] == Array(" Next".utf8))
    }

    @Test func optionsCodeAsSnakeCaseJSON() throws {
        let options = SplitterOptions(mode: .icuDictionary, maxWordBytes: 64)
        let json = String(decoding: try JSONEncoder().encode(options), as: UTF8.self)
        #expect(json.contains("\"max_word_bytes\":64") && json.contains("\"mode\":\"icu-dictionary\""))
        #expect(try JSONDecoder().decode(SplitterOptions.self, from: Data(json.utf8)) == options)
        #expect(SplitterMode(rawValue: "hat") == .hat && SplitterMode.allCases.count == 2)
    }
}
