// Tests of the perturbations (Sources/HATEval/Perturb*.swift): identity at rate 0, determinism
// per seed, selection rate within binomial tolerance, untouched words byte-identical, word count
// kept, and the specific behaviour of each (diacritics through ICU, homoglyphs, misspellings
// from the committed codespell excerpt, composition).

import CICU
import Foundation
import HATEval
import HATTensor
import Testing

/// Directory of the committed fixtures (Tests/HATEvalTests/Fixtures).
let fixturesPath: String = Bundle.module.url(forResource: "Fixtures", withExtension: nil)!.path

let excerpt: MisspellingTable = try! MisspellingTable.load(path: fixturesPath + "/codespell_excerpt.tsv")

/// Every perturbation, `misspell` with the committed excerpt.
let everyPerturbation: [any Perturbation] = Perturbations.all + [Misspell(table: excerpt)]
let everyName: [String] = everyPerturbation.map(\.name)

func perturbation(_ name: String) -> any Perturbation {
    try! Perturbations.named(name, misspellings: excerpt)
}

/// Mixed text: punctuation, digits, apostrophes, several scripts, emoji, newlines.
let mixed = """
    Hello, world! Don't panic: the café's naïve Ångström measured 42.5 units.
    Привет, мир. Καλημέρα κόσμε! 你好吗？ こんにちは、世界。 한국어 텍스트 ภาษาไทย हिन्दी पाठ 😀 ok
    Garden access acknowledgement — "Quaint" (OCEAN) x y z\tTabbed  doubled   spaces.
    """

/// A long text on which every selected word can be changed by every perturbation but
/// `diacritics` and `misspell`: capitalised ASCII words of 5+ different letters, each with a
/// homoglyph-able letter, separated by single spaces.
func eligibleText(words n: Int, seed: UInt64) -> String {
    let vocabulary = ["Garden", "Planet", "Stone", "Mirth", "Bright", "Cloud", "Winter", "Dragon",
                      "Forest", "Quaint", "Ocean", "Silver", "Harbor", "Candle", "Meadow", "Frost"]
    var rng = RandomGenerator(seed: seed)
    return (0..<n).map { _ in vocabulary[rng.nextInt(below: vocabulary.count)] }.joined(separator: " ")
}

/// Words that all carry a strippable accent.
func accentedText(words n: Int) -> String {
    let vocabulary = ["café", "naïve", "Ångström", "élève", "Über", "señor", "façade", "smörgåsbord",
                      "Ελλάδα", "ёлка", "déjà", "crème"]
    return (0..<n).map { vocabulary[$0 % vocabulary.count] }.joined(separator: " ")
}

/// Words that all have a misspelling in the excerpt.
func misspellableText(words n: Int) -> String {
    let rights = excerpt.misspellings.keys.sorted()
    return (0..<n).map { rights[($0 * 7) % rights.count] }.joined(separator: " ")
}

func eligibleText(for name: String, words n: Int, seed: UInt64 = 11) -> String {
    switch name {
    case "diacritics": return accentedText(words: n)
    case "misspell": return misspellableText(words: n)
    default: return eligibleText(words: n, seed: seed)
    }
}

/// Indices where the words of `a` and `b` differ (same number of words required).
func changedWords(_ a: String, _ b: String) -> [Int] {
    let wa = PerturbWords.words(in: a), wb = PerturbWords.words(in: b)
    precondition(wa.count == wb.count)
    return wa.indices.filter { wa[$0] != wb[$0] }
}

/// |k/n − p| within `z` binomial standard deviations.
func nearRate(_ k: Int, of n: Int, rate p: Double, z: Double = 4.5) -> Bool {
    abs(Double(k) / Double(n) - p) <= z * (p * (1 - p) / Double(n)).squareRoot()
}

@Suite struct PerturbationContract {
    @Test(arguments: everyName)
    func rateZeroIsTheIdentity(name: String) {
        let p = perturbation(name)
        for text in [mixed, eligibleText(for: name, words: 300), "", "   ", "a"] {
            var rng = RandomGenerator(seed: 5)
            #expect(p.apply(text, rate: 0, rng: &rng) == text)
            var reference = RandomGenerator(seed: 5)
            _ = reference.next()
            #expect(rng == reference, "apply draws exactly one number from the generator")
        }
    }

    @Test(arguments: everyName)
    func sameSeedSameText(name: String) {
        let p = perturbation(name)
        let text = mixed + " " + eligibleText(for: name, words: 500)
        var a = RandomGenerator(seed: 123), b = RandomGenerator(seed: 123)
        let x = p.apply(text, rate: 0.5, rng: &a)
        let y = p.apply(text, rate: 0.5, rng: &b)
        #expect(x == y)
        #expect(x != text)
    }

    @Test(arguments: everyName)
    func differentSeedDiffers(name: String) {
        let p = perturbation(name)
        let text = eligibleText(for: name, words: 500)
        var a = RandomGenerator(seed: 1), b = RandomGenerator(seed: 2)
        #expect(p.apply(text, rate: 0.3, rng: &a) != p.apply(text, rate: 0.3, rng: &b))
    }

    /// On text where every word can be changed, the changed words are exactly the selected ones,
    /// and their fraction is the rate within binomial tolerance.
    @Test(arguments: everyName.filter { $0 != "whitespace" }, [0.05, 0.3, 0.9])
    func changedWordsAreTheSelectedOnes(name: String, rate: Double) {
        let p = perturbation(name)
        let text = eligibleText(for: name, words: 4000)
        var rng = RandomGenerator(seed: 99)
        let out = p.apply(text, rate: rate, rng: &rng)
        var again = RandomGenerator(seed: 99)
        let selection = WordSelection(rate: rate, rng: &again)
        let n = PerturbWords.words(in: text).count
        let selected = selection.selected(count: n)
        let changed = changedWords(text, out)
        #expect(changed == selected)
        #expect(nearRate(selected.count, of: n, rate: rate), "\(selected.count) of \(n) at rate \(rate)")
    }

    /// On mixed text: the word count is kept and words that were not selected are unchanged;
    /// the text between words is byte-identical.
    @Test(arguments: everyName.filter { $0 != "whitespace" })
    func untouchedWordsAndSeparatorsUnchanged(name: String) {
        let p = perturbation(name)
        for seed: UInt64 in [3, 4, 5] {
            for rate in [0.4, 1.0] {
                var rng = RandomGenerator(seed: seed)
                let out = p.apply(mixed, rate: rate, rng: &rng)
                var again = RandomGenerator(seed: seed)
                let selection = WordSelection(rate: rate, rng: &again)
                let before = PerturbWords.ranges(in: mixed), after = PerturbWords.ranges(in: out)
                #expect(before.count == after.count)
                guard before.count == after.count else { continue }
                for w in before.indices where !selection.isSelected(w) {
                    #expect(mixed[before[w]] == out[after[w]], "word \(w)")
                }
                // separators: the text between consecutive words
                for w in 1..<before.count {
                    #expect(mixed[before[w - 1].upperBound..<before[w].lowerBound] == out[after[w - 1].upperBound..<after[w].lowerBound])
                }
                #expect(mixed[..<before[0].lowerBound] == out[..<after[0].lowerBound])
                #expect(mixed[before.last!.upperBound...] == out[after.last!.upperBound...])
            }
        }
    }

    @Test func namesAreUniqueAndDescribed() {
        let names = Perturbations.catalogue.map(\.name)
        #expect(Set(names).count == names.count)
        #expect(names.count == 14)
        for (_, summary) in Perturbations.catalogue { #expect(!summary.isEmpty && !summary.contains("\n")) }
    }
}

@Suite struct PerturbationRegistry {
    @Test func namedAndParse() throws {
        #expect(try Perturbations.named("swap").name == "swap")
        #expect(throws: PerturbationError.self) { try Perturbations.named("nonsense") }
        #expect(throws: PerturbationError.needsMisspellings("misspell")) { try Perturbations.named("misspell") }
        let c = try Perturbations.parse("upper, swap")
        #expect(c.name == "upper,swap")
        #expect(c is Compose)
        #expect(try Perturbations.parse("lower") is AllLower)
        #expect(throws: PerturbationError.self) { try Perturbations.parse(" , ") }
    }

    @Test func unknownNameListsTheKnownOnes() {
        let e = PerturbationError.unknownName("swp", known: ["swap", "upper"])
        #expect(e.description.contains("swp") && e.description.contains("swap, upper"))
    }
}

@Suite struct PerturbationBehaviour {
    func once(_ name: String, _ text: String, rate: Double = 1, seed: UInt64 = 7) -> String {
        var rng = RandomGenerator(seed: seed)
        return perturbation(name).apply(text, rate: rate, rng: &rng)
    }

    @Test func diacriticsAreStripped() {
        #expect(once("diacritics", "café naïve Ångström") == "cafe naive Angstrom")
        #expect(once("diacritics", "Ελλάδα ёлка crème brûlée Việt") == "Ελλαδα елка creme brulee Viet")
        // no decomposition: the stroke is part of the letter
        #expect(once("diacritics", "ø ł đ ħ") == "ø ł đ ħ")
        // Hangul (decomposes without marks), Thai and Devanagari signs, kana voicing: kept
        let kept = "한국어 ภาษาไทย हिन्दी がぎぐ"
        #expect(once("diacritics", kept) == kept)
    }

    @Test func icuDecomposition() {
        #expect(canonicalDecomposition("é")!.unicodeScalars.map(\.value) == [0x65, 0x301])
        #expect(canonicalDecomposition("") == "")
        #expect(canonicalDecomposition("한")!.unicodeScalars.count == 3)
        let long = String(repeating: "ǖ", count: 1000)                    // grows: 2 → 5 bytes each
        #expect(canonicalDecomposition(long)!.utf8.count == 5000)
        // the C interface: size query with a too small buffer, invalid UTF-8, bad arguments
        let e: [UInt8] = Array("é!".utf8)
        var out = [UInt8](repeating: 0, count: 8)
        #expect(hat_icu_nfd(e, Int64(e.count), &out, 1) == 4)
        #expect(hat_icu_nfd(e, Int64(e.count), &out, 8) == 4 && Array(out[0..<4]) == [0x65, 0xCC, 0x81, 0x21])
        let bad: [UInt8] = [0x61, 0xFF, 0x62]
        #expect(hat_icu_nfd(bad, 3, &out, 8) == -1)
        #expect(hat_icu_nfd(e, -1, &out, 8) == -1)
    }

    @Test func homoglyphsLookTheSameButDifferInBytes() {
        let text = eligibleText(words: 300, seed: 4) + " Привет мир"
        let out = once("homoglyph", text)
        #expect(Array(out.utf8) != Array(text.utf8))
        #expect(out.count == text.count)
        #expect(HomoglyphTable.visible(out) == HomoglyphTable.visible(text))
        #expect(changedWords(text, out).count == PerturbWords.words(in: text).count)
    }

    @Test func keyboardTypoIsANeighbour() {
        let neighbours: [Character: String] = ["h": "yugjbn", "e": "wrsd", "l": "opk", "o": "ipkl"]
        for seed: UInt64 in 0..<40 {
            let out = Array(once("keyboard", "hello", seed: seed))
            let src = Array("hello")
            let diff = src.indices.filter { src[$0] != out[$0] }
            #expect(diff.count == 1)
            if let d = diff.first { #expect(neighbours[src[d]]!.contains(out[d])) }
        }
        #expect(once("keyboard", "HELLO").allSatisfy { $0.isUppercase })
        #expect(once("keyboard", "мир") == "мир")
    }

    @Test func letterEditsChangeLengthAsExpected() {
        let word = "Garden"
        for seed: UInt64 in 0..<20 {
            #expect(once("delete", word, seed: seed).count == 5)
            #expect(once("insert", word, seed: seed).count == 7)
            #expect(once("duplicate", word, seed: seed).count == 7)
            let swapped = once("swap", word, seed: seed), permuted = once("permute", word, seed: seed)
            #expect(swapped.sorted() == word.sorted() && swapped != word)
            #expect(permuted.sorted() == word.sorted() && permuted.first == "G" && permuted.last == "n")
            #expect(once("replace", word, seed: seed).count == 6)
        }
        #expect(once("delete", "a b I") == "a b I", "one-letter words stay")
        #expect(once("permute", "cat") == "cat", "no interior to shuffle")
        #expect(once("swap", "aaa") == "aaa")
        #expect(once("upper", "don't stop") == "DON'T STOP")
        #expect(once("lower", "ÉCOLE Straße") == "école straße")
        #expect(once("caseflip", "x") == "X")
    }

    @Test func multiByteLettersStayWhole() {
        let text = "Привет ταχύτητα 日本語 한국어"
        for name in ["permute", "replace", "delete", "insert", "duplicate", "swap", "caseflip"] {
            for seed: UInt64 in 0..<10 {
                let out = once(name, text, seed: seed)
                #expect(PerturbWords.words(in: out).count == 4, "\(name)")
                #expect(out.unicodeScalars.allSatisfy { $0.properties.isAlphabetic || $0 == " " || $0.properties.generalCategory == .nonspacingMark }, "\(name): \(out)")
            }
        }
    }

    @Test func whitespaceNoiseDoublesOrDropsSpaces() {
        let text = eligibleText(words: 2000, seed: 8)
        let out = once("whitespace", text, rate: 0.3)
        #expect(out != text)
        #expect(out.replacingOccurrences(of: " ", with: "") == text.replacingOccurrences(of: " ", with: ""))
        let gaps = out.split(separator: " ", omittingEmptySubsequences: false).count - 1
        let original = 1999
        #expect(gaps != original)
        // every space is single or doubled; never three
        #expect(!out.contains("   "))
        #expect(!out.hasPrefix(" "))
        // a newline is never dropped and the first word never moves
        #expect(once("whitespace", "one\ntwo\tthree") == "one\ntwo\tthree")
        // at rate 1 each space is doubled or dropped: the fraction changed is 1 and both happen
        let all = once("whitespace", "a b c d e f g h i j k l m n o p q r s t")
        #expect(all.hasPrefix("a") && all.contains("  ") && all.replacingOccurrences(of: " ", with: "").count == 20)
    }

    @Test func whitespaceSelectionRate() {
        let text = eligibleText(words: 4000, seed: 8)
        for rate in [0.1, 0.5] {
            var rng = RandomGenerator(seed: 17)
            let out = perturbation("whitespace").apply(text, rate: rate, rng: &rng)
            let doubled = out.components(separatedBy: "  ").count - 1
            let dropped = PerturbWords.words(in: text).count - PerturbWords.words(in: out).count
            #expect(nearRate(doubled + dropped, of: 3999, rate: rate), "\(doubled) + \(dropped) at \(rate)")
            #expect(nearRate(doubled, of: doubled + dropped, rate: 0.5))
        }
    }

    @Test func misspellingsKeepCase() throws {
        let right = try #require(excerpt.misspellings.keys.sorted().first { excerpt.misspellings[$0]!.count == 1 })
        let wrong = excerpt.misspellings[right]![0]
        let capitalised = right.prefix(1).uppercased() + right.dropFirst()
        let out = once("misspell", "\(right) \(capitalised) \(right.uppercased()) zzzq")
        let wrongCap = wrong.prefix(1).uppercased() + wrong.dropFirst()
        #expect(out == "\(wrong) \(wrongCap) \(wrong.uppercased()) zzzq")
    }

    @Test func misspellingTableLoading() throws {
        #expect(excerpt.count > 250)
        for (right, wrongs) in excerpt.misspellings { #expect(!wrongs.contains(right)) }
        let t = MisspellingTable(pairs: [("teh", "the"), ("a lot", "alot"), ("recieve", "receive"), ("same", "same")])
        #expect(t.misspellings == ["the": ["teh"], "receive": ["recieve"]])
        let dir = NSTemporaryDirectory() + "hateval-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "teh\tthe\nbroken line\n".write(toFile: dir + "/bad.tsv", atomically: true, encoding: .utf8)
        #expect(throws: PerturbationError.badLine(path: dir + "/bad.tsv", line: 2, found: "broken line")) {
            try MisspellingTable.load(path: dir + "/bad.tsv")
        }
        #expect(throws: PerturbationError.self) { try MisspellingTable.load(path: dir + "/missing.tsv") }
    }

    @Test func codespellDictionaryReadsAsFetchDataConvertsIt() throws {
        let dir = NSTemporaryDirectory() + "hateval-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // One fix; several options (trailing comma: the first); a reason (dropped); no arrow (dropped).
        try "teh->the\nabbout->about, abbot,\nclas->class, disabled because of name clash in c++\nnonsense\n"
            .write(toFile: dir + "/dictionary.txt", atomically: true, encoding: .utf8)
        let table = try MisspellingTable.load(codespellDictionary: dir + "/dictionary.txt")
        #expect(table.misspellings == ["the": ["teh"], "about": ["abbout"]])
        #expect(throws: PerturbationError.self) { try MisspellingTable.load(codespellDictionary: dir + "/missing.txt") }
    }

    @Test(.enabled(if: FileManager.default.fileExists(atPath: MisspellingTable.codespellDictionary),
                   "needs Debian's codespell (scripts/setup)"))
    func debianCodespellDictionaryGivesThousandsOfWords() throws {
        let table = try MisspellingTable.load(codespellDictionary: MisspellingTable.codespellDictionary)
        #expect(table.count > 10000, "\(table.count) words with a misspelling")
        #expect(table.misspellings["the"]?.contains("teh") == true)
    }

    @Test func compositionAppliesBothInOrder() throws {
        let text = eligibleText(words: 200, seed: 2)
        let both = Compose([perturbation("lower"), perturbation("swap")])
        var rng = RandomGenerator(seed: 31)
        let out = both.apply(text, rate: 1, rng: &rng)
        var manual = RandomGenerator(seed: 31)
        let expected = perturbation("swap").apply(perturbation("lower").apply(text, rate: 1, rng: &manual), rate: 1, rng: &manual)
        #expect(out == expected)
        #expect(out == out.lowercased())
        #expect(out != text.lowercased())
        #expect(perturbation("lower").then(perturbation("swap")).then(perturbation("upper")).name == "lower,swap,upper")
    }

    @Test func sameWordsSelectedForEveryPerturbation() {
        let text = eligibleText(words: 1000, seed: 6)
        var sets: [[Int]] = []
        for name in ["swap", "upper", "homoglyph", "delete", "keyboard"] {
            var rng = RandomGenerator(seed: 77)
            sets.append(changedWords(text, perturbation(name).apply(text, rate: 0.2, rng: &rng)))
        }
        #expect(sets.allSatisfy { $0 == sets[0] })
    }

    @Test func wordsDefinition() {
        #expect(PerturbWords.words(in: "Don't stop—it's 3pm, o'clock 'quoted' rock’n’roll!") ==
                ["Don't", "stop", "it's", "pm", "o'clock", "quoted", "rock’n’roll"])
        #expect(PerturbWords.words(in: "你好吗？ 😀 café") == ["你好吗", "café"])
    }
}

@Suite struct PerturbationApostrophes {
    @Test func deleteNeverStrandsAnApostrophe() {
        for seed: UInt64 in 0..<60 {
            var rng = RandomGenerator(seed: seed)
            let out = perturbation("delete").apply("o'clock don't I'm", rate: 1, rng: &rng)
            #expect(PerturbWords.words(in: out).count == 3, "\(out)")
            #expect(!out.contains("' ") && !out.hasPrefix("'") && !out.hasSuffix("'"), "\(out)")
        }
    }
}
