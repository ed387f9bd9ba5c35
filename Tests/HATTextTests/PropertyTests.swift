// Properties of the splitter on random input: exact round trip for any bytes, causality
// (splitting a prefix changes no word but the last), no word over the cap, the invalid-byte
// rule, and equivalence of splitting in chunks cut after line feeds with splitting the whole.
import HATText
import Testing

/// Words of `bytes` as end offsets.
func ends(_ splitter: WordSplitter, _ bytes: [UInt8]) -> [Int] {
    var out: [Int] = []
    bytes.withUnsafeBufferPointer { splitter.split($0, into: &out) }
    return out
}

/// Words of `bytes` as byte arrays.
func words(_ splitter: WordSplitter, _ bytes: [UInt8]) -> [[UInt8]] {
    var start = 0
    return ends(splitter, bytes).map { e in defer { start = e }; return Array(bytes[start..<e]) }
}

/// Random bytes that are mostly UTF-8 text with some invalid bytes, truncated sequences and NULs.
func randomMixedBytes(_ rng: inout TestRandom, count: Int) -> [UInt8] {
    var out: [UInt8] = []
    while out.count < count {
        switch rng.int(0...9) {
        case 0: out.append(UInt8(truncatingIfNeeded: rng.next()))            // any byte
        case 1: out.append(contentsOf: Array(rng.pick(TestRandom.boundaryAlphabet).utf8).dropLast()) // truncated
        case 2: out.append(rng.pick([0, 0xC0, 0xFF, 0x80, 0xED, 0xA0, 0xF4, 0x90]))
        default: out.append(contentsOf: Array(rng.pick(TestRandom.boundaryAlphabet).utf8))
        }
    }
    return out
}

/// Causality exceptions that hat-splitter 0.1.10 has too (see WordSplitter.swift): the prefix
/// ends in U+2044 FRACTION SLASH (the one MidNum character that is not \p{P}, so "1⁄" splits
/// before "1⁄2" joins), or in a white-space character that the next character joins in one UAX #29
/// segment (an Extend/Format/ZWJ, or a letter or digit after U+202F NARROW NO-BREAK SPACE, which is
/// ExtendNumLet): the piece turns from Whitespace into Word, and a " " before it then absorbs it.
func isKnownCausalityException(_ splitter: WordSplitter, prefix: [UInt8], next: Unicode.Scalar?) -> Bool {
    let scalars = Array(String(decoding: prefix, as: UTF8.self).unicodeScalars)
    let ignorable: (Unicode.Scalar) -> Bool = {
        [.nonspacingMark, .enclosingMark, .spacingMark, .format].contains($0.properties.generalCategory)
            || $0.value == 0x200D || (0x1F3FB...0x1F3FF).contains($0.value)
    }
    if let lastSolid = scalars.last(where: { !ignorable($0) }), lastSolid.value == 0x2044 { return true }
    if let last = scalars.last, last.properties.isWhitespace, let next {
        var segments: [Int] = []
        (prefix + Array(String(next).utf8)).withUnsafeBufferPointer { splitter.uax29Segments($0, into: &segments) }
        return !segments.contains(prefix.count) // the next character joins the white-space's segment
    }
    return false
}

@Suite struct PropertyTests {
    @Test func roundTripsAnyBytes() throws {
        var rng = TestRandom(seed: 1)
        for cap in [nil, 1, 2, 3, 5, 8, 16, 100] as [Int?] {
            for mode in SplitterMode.allCases {
                let splitter = try WordSplitter(options: SplitterOptions(mode: mode, maxWordBytes: cap))
                for k in 0..<400 {
                    let bytes = k % 2 == 0 ? rng.bytes(length: rng.int(0...64)) : randomMixedBytes(&rng, count: rng.int(0...80))
                    let e = ends(splitter, bytes)
                    // Ends strictly increase from >0 to the length: the words are the input, in order.
                    var previous = 0
                    for x in e { #expect(x > previous); previous = x }
                    #expect(previous == bytes.count)
                    #expect(words(splitter, bytes).flatMap { $0 } == bytes)
                }
            }
        }
    }

    @Test func noWordOverTheCap() throws {
        var rng = TestRandom(seed: 2)
        for cap in 1...20 {
            for mode in SplitterMode.allCases {
                let splitter = try WordSplitter(options: SplitterOptions(mode: mode, maxWordBytes: cap))
                for _ in 0..<100 {
                    let bytes = randomMixedBytes(&rng, count: rng.int(0...200))
                    for w in words(splitter, bytes) { #expect(w.count <= cap && !w.isEmpty) }
                }
            }
        }
        // Long words of letters, digits, CJK and emoji.
        let splitter = try WordSplitter(options: SplitterOptions(maxWordBytes: 16))
        for text in [String(repeating: "ab", count: 500), String(repeating: "9", count: 1000),
                     String(repeating: "カ", count: 300), String(repeating: "👨‍👩‍👧", count: 50)] {
            let ws = splitter.words(text)
            #expect(ws.allSatisfy { $0.count <= 16 })
            #expect(ws.flatMap { $0 } == Array(text.utf8))
        }
    }

    @Test func capCutsCharactersOnlyWhenTheyAreLongerThanTheCap() throws {
        let two = try WordSplitter(options: SplitterOptions(maxWordBytes: 2))
        #expect(two.words("für") == [[0x66], Array("ü".utf8), [0x72]])
        #expect(two.words("🌝").map(\.count) == [2, 2])
        let three = try WordSplitter(options: SplitterOptions(maxWordBytes: 3))
        #expect(three.words("🌝a").map(\.count) == [3, 1, 1])
        let ten = try WordSplitter(options: SplitterOptions(maxWordBytes: 10))
        #expect(ten.words("verylongword") == [Array("verylongwo".utf8), Array("rd".utf8)])
        #expect(ten.lastCappedWords == 1)
        var e: [Int] = []
        Array("short words".utf8).withUnsafeBufferPointer { ten.split($0, into: &e) }
        #expect(ten.lastCappedWords == 0)
        #expect(throws: SplitterError.invalidMaxWordBytes(0)) { try WordSplitter(options: SplitterOptions(maxWordBytes: 0)) }
    }

    /// Valid text, prefixes at character boundaries: all words but the last are unchanged and
    /// the last is a prefix of its counterpart (the reference's own causality test), except for
    /// the documented cases, which must stay rare.
    @Test func causalOnValidText() throws {
        var rng = TestRandom(seed: 3)
        for cap in [nil, 4, 16] as [Int?] {
            let splitter = try WordSplitter(options: SplitterOptions(mode: .hat, maxWordBytes: cap))
            var checked = 0, exceptions = 0
            var failures: [String] = []
            for _ in 0..<600 {
                let text = rng.text(length: rng.int(1...30), alphabet: TestRandom.boundaryAlphabet)
                let full = Array(text.utf8)
                let fullWords = words(splitter, full)
                let scalars = Array(text.unicodeScalars)
                var offset = 0
                for (k, s) in scalars.enumerated() {
                    offset += String(s).utf8.count
                    let prefix = Array(full[0..<offset])
                    let w = words(splitter, prefix)
                    var ok = w.count <= fullWords.count
                    if ok {
                        for j in 0..<w.count {
                            if j < w.count - 1 ? w[j] != fullWords[j] : !fullWords[j].starts(with: w[j]) { ok = false; break }
                        }
                    }
                    checked += 1
                    if !ok {
                        let next = k + 1 < scalars.count ? scalars[k + 1] : nil
                        if isKnownCausalityException(splitter, prefix: prefix, next: next) { exceptions += 1 }
                        else if failures.count < 3 { failures.append("\(scalars.map { String($0.value, radix: 16) }) prefix \(k + 1)") }
                    }
                }
            }
            #expect(failures.isEmpty, "cap \(String(describing: cap)): \(failures)")
            #expect(exceptions * 100 < checked, "\(exceptions) documented exceptions in \(checked) prefixes")
        }
    }

    /// Any bytes, prefixes at every byte: all words but the last are unchanged.
    @Test func causalOnAnyBytes() throws {
        var rng = TestRandom(seed: 4)
        let alphabet = TestRandom.boundaryAlphabet.filter { $0 != "⁄" && !$0.unicodeScalars.contains { $0.properties.isWhitespace } }
        for cap in [nil, 3, 16] as [Int?] {
            let splitter = try WordSplitter(options: SplitterOptions(mode: .hat, maxWordBytes: cap))
            for _ in 0..<300 {
                var full: [UInt8] = []
                while full.count < 40 {
                    if rng.int(0...5) == 0 { full.append(rng.pick([0xC0, 0xFF, 0x80, 0xE4, 0xB8, 0x0A, 0x20])) }
                    else { full.append(contentsOf: Array(rng.pick(alphabet).utf8)) }
                }
                let fullWords = words(splitter, full)
                for cut in 1..<full.count {
                    let w = words(splitter, Array(full[0..<cut]))
                    #expect(Array(w.dropLast()) == Array(fullWords.prefix(w.count - 1)),
                            "\(full) cut at \(cut)")
                }
            }
        }
    }

    @Test func invalidBytesAreOneByteWordsBetweenIndependentDocuments() throws {
        let splitter = try WordSplitter(options: SplitterOptions(maxWordBytes: nil))
        #expect(words(splitter, [0xFF]) == [[0xFF]])
        #expect(words(splitter, [0x61, 0xC3]) == [[0x61, 0xC3]])                  // "a" + truncated "é"
        #expect(words(splitter, [0x61, 0xC3, 0xA9]) == [[0x61, 0xC3, 0xA9]])      // "aé"
        #expect(words(splitter, [0x61, 0xC3, 0x62]) == [[0x61], [0xC3], [0x62]])  // ill-formed
        #expect(words(splitter, [0xE4, 0xB8]) == [[0xE4, 0xB8]])                  // truncated, alone
        #expect(words(splitter, [0x0A, 0xE4, 0xB8]) == [[0x0A, 0xE4, 0xB8]])
        #expect(words(splitter, [0xED, 0xA0, 0x80]) == [[0xED], [0xA0], [0x80]])  // a surrogate
        #expect(words(splitter, [0xC0, 0x80]) == [[0xC0], [0x80]])                // overlong NUL
        #expect(words(splitter, [0, 0, 0x61, 0]) == [[0], [0], [0x61], [0]])      // NULs are Other
        #expect(words(splitter, []) == [])
        // An invalid byte splits the text into documents that are split independently.
        var rng = TestRandom(seed: 5)
        for _ in 0..<300 {
            let a = Array(rng.text(length: rng.int(0...12), alphabet: TestRandom.boundaryAlphabet).utf8)
            let b = Array(rng.text(length: rng.int(0...12), alphabet: TestRandom.boundaryAlphabet).utf8)
            let sep = rng.pick([SpecialTokens.endOfSequence, 0xFF, 0x80])
            #expect(words(splitter, a + [sep] + b) == words(splitter, a) + [[sep]] + words(splitter, b))
        }
    }

    /// Splitting chunk by chunk, each chunk ending just after a line feed, gives the same words as
    /// splitting the whole text (what `hat segment` relies on for streaming).
    @Test func chunksCutAfterLineFeedsGiveTheSameWords() throws {
        var rng = TestRandom(seed: 6)
        for mode in SplitterMode.allCases {
            for cap in [nil, 5] as [Int?] {
                let splitter = try WordSplitter(options: SplitterOptions(mode: mode, maxWordBytes: cap))
                for _ in 0..<200 {
                    let full = randomMixedBytes(&rng, count: rng.int(0...300))
                    let whole = ends(splitter, full)
                    var chunked: [Int] = []
                    var start = 0
                    for (i, b) in full.enumerated() where b == 0x0A && rng.int(0...1) == 0 {
                        chunked += ends(splitter, Array(full[start...i])).map { $0 + start }
                        start = i + 1
                    }
                    chunked += ends(splitter, Array(full[start...])).map { $0 + start }
                    #expect(chunked == whole)
                }
            }
        }
    }

    @Test func longSingleLineSplitsWithoutTrouble() throws {
        // 8 MB without a line feed, mixed scripts, some invalid bytes (hat segment is checked on 50 MB).
        let splitter = try WordSplitter(options: SplitterOptions(maxWordBytes: 100))
        var rng = TestRandom(seed: 7)
        var unit: [UInt8] = []
        while unit.count < 1 << 16 { unit += randomMixedBytes(&rng, count: 64).filter { $0 != 0x0A } }
        var big: [UInt8] = []
        while big.count < 8 << 20 { big += unit }
        var e: [Int] = []
        e.reserveCapacity(big.count / 2)
        big.withUnsafeBufferPointer { splitter.split($0, into: &e) }
        #expect(e.last == big.count)
        // One 8 MB word of letters is cut into 100-byte pieces.
        let letters = [UInt8](repeating: 0x61, count: 8 << 20)
        letters.withUnsafeBufferPointer { splitter.split($0, into: &e) }
        #expect(e.count == (letters.count + 99) / 100 && splitter.lastCappedWords == 1)
    }
}

@Suite struct DictionaryModeTests {
    func show(_ splitter: WordSplitter, _ text: String) -> [String] {
        splitter.words(text).map { String(decoding: $0, as: UTF8.self) }
    }

    @Test func usesICUDictionariesInsideRuns() throws {
        let dict = try WordSplitter(options: SplitterOptions(mode: .icuDictionary, maxWordBytes: nil))
        let hat = try WordSplitter(options: SplitterOptions(mode: .hat, maxWordBytes: nil))
        #expect(show(dict, "東京に行きます。") == ["東京", "に", "行き", "ます。"])
        #expect(show(hat, "東京に行きます。") == ["東", "京", "に", "行", "き", "ま", "す。"])
        #expect(show(dict, "สวัสดีครับ") == ["สวัสดี", "ครับ"])
        #expect(show(dict, "中华人民共和国") == ["中华", "人民", "共和国"])
        // Outside dictionary runs both modes agree.
        let latin = "Hello, world! Привет мир. howAreYou 3.14 don't  x\n"
        #expect(show(dict, latin) == show(hat, latin))
        // Mixed text round-trips and compresses the dictionary scripts.
        let mixed = "日本語のテキストとEnglish text、ภาษาไทย และ中文。"
        #expect(dict.words(mixed).flatMap { $0 } == Array(mixed.utf8))
        #expect(dict.words(mixed).count < hat.words(mixed).count)
    }

    @Test func longDictionaryRunsAreCutBeforeICU() throws {
        let dict = try WordSplitter(options: SplitterOptions(mode: .icuDictionary, maxWordBytes: 100))
        let text = String(repeating: "中华人民共和国是工人阶级领导的", count: 3000) // 135 KB, one run
        let ws = dict.words(text)
        #expect(ws.flatMap { $0 } == Array(text.utf8))
        #expect(ws.count > 3000 * 5 && ws.count < 3000 * 15)
    }
}

@Suite struct AllocationTests {
    /// With room reserved, `split(_:into:)` appends in place: the buffer of `ends` never moves.
    @Test func splitKeepsTheEndsBuffer() throws {
        let splitter = try WordSplitter(options: SplitterOptions(mode: .hat, maxWordBytes: 16))
        var rng = TestRandom(seed: 8)
        let text = Array(rng.text(length: 20000, alphabet: TestRandom.boundaryAlphabet).utf8)
        var ends: [Int] = []
        ends.reserveCapacity(text.count)
        let before = ends.withUnsafeBufferPointer { $0.baseAddress }
        for _ in 0..<3 { text.withUnsafeBufferPointer { splitter.split($0, into: &ends) } }
        #expect(ends.withUnsafeBufferPointer { $0.baseAddress } == before)
        #expect(ends.last == text.count)
    }
}
