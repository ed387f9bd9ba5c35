// The UAX #29 layer of the splitter against Unicode 15.0's WordBreakTest.txt (all 1,823 cases),
// ICU's own word break iterator (random text without dictionary scripts), and the property
// table against ICU's Word_Break values.
import CICU
import Foundation
import Testing
import HATText

/// A case of WordBreakTest.txt: the text as UTF-8 and the expected segment ends (byte offsets).
struct WordBreakCase {
    var line: Int
    var bytes: [UInt8]
    var ends: [Int]
}

func loadWordBreakTest() throws -> [WordBreakCase] {
    let url = try #require(Bundle.module.url(forResource: "WordBreakTest", withExtension: "txt", subdirectory: "Fixtures"))
    let text = try String(contentsOf: url, encoding: .utf8)
    var cases: [WordBreakCase] = []
    for (number, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
        let line = rawLine.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
        if fields.isEmpty { continue }
        var bytes: [UInt8] = []
        var ends: [Int] = []
        for field in fields {
            switch field {
            case "÷": if !bytes.isEmpty { ends.append(bytes.count) }
            case "×": break
            default:
                let scalar = try #require(UInt32(field, radix: 16).flatMap(Unicode.Scalar.init), "line \(number + 1): \(field)")
                bytes.append(contentsOf: String(Character(scalar)).utf8)
            }
        }
        cases.append(WordBreakCase(line: number + 1, bytes: bytes, ends: ends))
    }
    return cases
}

@Suite struct WordBreakTests {
    @Test func wordBreakTestPassesCompletely() throws {
        let cases = try loadWordBreakTest()
        #expect(cases.count == 1823)
        let splitter = try WordSplitter(options: SplitterOptions(mode: .hat, maxWordBytes: nil))
        var ends: [Int] = []
        var failures: [String] = []
        for c in cases {
            c.bytes.withUnsafeBufferPointer { splitter.uax29Segments($0, into: &ends) }
            if ends != c.ends {
                failures.append("line \(c.line): expected \(c.ends), found \(ends)")
            }
        }
        #expect(failures.isEmpty, "\(failures.count) of \(cases.count) cases fail; first: \(failures.prefix(5))")
    }

    @Test func propertyTableMatchesICU() throws {
        // ICU's UWordBreakValues → the table's classes (wordbreak.c maps them).
        let icuToClass: [Int32: UInt32] = [
            0: WB.other, 1: WB.aLetter, 2: WB.format, 3: WB.katakana, 4: WB.midLetter, 5: WB.midNum,
            6: WB.numeric, 7: WB.extendNumLet, 8: WB.cr, 9: WB.extend, 10: WB.lf, 11: WB.midNumLet,
            12: WB.newline, 13: WB.regionalIndicator, 14: WB.hebrewLetter, 15: WB.singleQuote,
            16: WB.doubleQuote, 21: WB.zwj, 22: WB.wSegSpace,
        ]
        let props = try #require(UnicodeProperties.shared)
        var mismatches = 0
        var c: UInt32 = 0
        while c < 0x110000 {
            let expected = icuToClass[hat_wb_icu_word_break(c)] ?? WB.other
            if props.entry(c) & Prop.wbMask != expected { mismatches += 1 }
            c += 1
        }
        #expect(mismatches == 0)
        #expect(UInt32(HAT_WB_WSEGSPACE) == WB.wSegSpace && UInt32(HAT_WB_ALETTER) == WB.aLetter)
        #expect(UInt32(HAT_PROP_DICTIONARY) == Prop.dictionary && UInt32(HAT_PROP_WHITE_SPACE) == Prop.whiteSpace)
        // A few flags.
        #expect(props.entry(0x2C) & Prop.punctuation != 0)        // ,
        #expect(props.entry(0x2044) & Prop.punctuation == 0)      // ⁄ FRACTION SLASH is Sm
        #expect(props.entry(0x61) & Prop.lowercase != 0 && props.entry(0x41) & Prop.uppercase != 0)
        #expect(props.entry(0xA0) & Prop.whiteSpace != 0 && props.entry(0x200B) & Prop.whiteSpace == 0)
        #expect(props.entry(0x4F60) & Prop.dictionary != 0 && props.entry(0x0E01) & Prop.dictionary != 0)
        #expect(props.entry(0x30FC) & Prop.dictionary != 0 && props.entry(0xAC00) & Prop.dictionary == 0)
        #expect(props.entry(0x1F600) & Prop.extendedPictographic != 0)
    }

    /// Our UAX #29 state machine and ICU's word iterator agree on random text without
    /// dictionary scripts, "@", ":" and Hangul: ICU 72's root word rules (CLDR tailorings) keep
    /// "@" inside words ("ω@ß"), do not treat ":" as MidLetter ("é:ω" breaks) and separate Hangul
    /// from Latin ("한Z"), unlike UAX #29 and hat-splitter.
    @Test func agreesWithICUIteratorOnRandomText() throws {
        let splitter = try WordSplitter(options: SplitterOptions(mode: .hat, maxWordBytes: nil))
        var error = [CChar](repeating: 0, count: 64)
        let iterator = try #require(hat_wb_iterator_open(&error))
        defer { hat_wb_iterator_close(iterator) }
        var rng = TestRandom(seed: 29)
        var ends: [Int] = []
        var breaks = [Int64](repeating: 0, count: 4096)
        var disagreements: [String] = []
        let alphabet = TestRandom.boundaryAlphabetWithoutDictionary.filter { !["@", ":", "한"].contains($0) }
        for _ in 0..<3000 {
            let text = rng.text(length: rng.int(1...24), alphabet: alphabet)
            let bytes = Array(text.utf8)
            bytes.withUnsafeBufferPointer { splitter.uax29Segments($0, into: &ends) }
            let count = bytes.withUnsafeBufferPointer { b in
                breaks.withUnsafeMutableBufferPointer { out in
                    hat_wb_iterator_breaks(iterator, b.baseAddress, Int64(b.count), out.baseAddress, Int64(out.count))
                }
            }
            let icu = breaks[0..<Int(count)].map { Int($0) } + [bytes.count]
            if icu != ends && disagreements.count < 5 {
                disagreements.append("\(text.unicodeScalars.map { String($0.value, radix: 16) }): ours \(ends), ICU \(icu)")
            }
        }
        #expect(disagreements.isEmpty, "\(disagreements)")
    }
}
