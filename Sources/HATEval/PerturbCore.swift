// Perturbations (issue 7, item 1): seeded, named, composable text noise for robustness
// evaluation. This file holds the contract (protocol, what a "word" is, which words are
// touched), composition and the registry; the perturbations themselves are in
// PerturbLetters.swift, PerturbTables.swift (keyboard, homoglyphs) and PerturbMisspell.swift.
//
// Choices, stated once:
// - A word is a maximal run of letters (`Character.isLetter`, i.e. grapheme clusters whose first
//   scalar is alphabetic), with an apostrophe (U+0027 or U+2019) allowed between two letters
//   ("don't" is one word). Digits, punctuation, spaces and emoji are never words. Scripts written
//   without spaces (Han, Thai, Kana) give long words: a run of letters up to the next non-letter.
// - Rate r is the probability that a word is *selected*. Selection does not depend on the
//   perturbation: `apply` draws one 64-bit key from the generator and word i is selected when
//   hash(key, i) / 2^64 < r. The same generator state therefore selects the same words for every
//   perturbation, so their effects can be compared word for word. A selected word that a
//   perturbation cannot change (a one-letter word for `swap`, a word without a known misspelling
//   for `misspell`) stays as it is. The edit of a selected word draws from its own generator
//   seeded by hash(key, i), so it does not depend on the other words.
// - Everything outside the selected words is copied byte for byte, except for `whitespace`,
//   whose point is to change the spaces between words. Rate 0 returns the input unchanged.
// - Every perturbation keeps the number of words, except `whitespace` (a dropped space joins two
//   words). `delete` never removes the last letter of a word.

import HATTensor

/// A named, seeded text perturbation.
public protocol Perturbation: Sendable {
    /// Short name used on the command line (`swap`, `upper`, …).
    var name: String { get }
    /// One-line description.
    var summary: String { get }
    /// Perturb `text`: each word is selected with probability `rate` (clamped to 0...1), and the
    /// generator advances by exactly one draw.
    func apply(_ text: String, rate: Double, rng: inout RandomGenerator) -> String
}

/// A perturbation that edits single words: implement `perturb(word:rng:)`; `apply` does the
/// word scanning and selection.
public protocol WordPerturbation: Perturbation {
    /// The edited word (grapheme clusters), or nil to leave it as it is.
    func perturb(word: [Character], rng: inout RandomGenerator) -> [Character]?
}

extension WordPerturbation {
    public func apply(_ text: String, rate: Double, rng: inout RandomGenerator) -> String {
        let selection = WordSelection(rate: rate, rng: &rng)
        if selection.rate == 0 { return text }
        var out = ""
        out.reserveCapacity(text.utf8.count + 64)
        var copied = text.startIndex
        for (w, range) in PerturbWords.ranges(in: text).enumerated() where selection.isSelected(w) {
            var g = selection.generator(forWord: w)
            guard let edited = perturb(word: Array(text[range]), rng: &g) else { continue }
            let replacement = String(edited)
            guard PerturbWords.isSingleWord(replacement) else { continue }    // never split or merge words
            out += text[copied..<range.lowerBound]
            out += replacement
            copied = range.upperBound
        }
        out += text[copied...]
        return out
    }
}

// MARK: - Words

public enum PerturbWords {
    /// Apostrophes allowed inside a word, between two letters.
    public static func isApostrophe(_ c: Character) -> Bool { c == "'" || c == "\u{2019}" }

    /// The words of `text` (see the file header), in order.
    public static func ranges(in text: String) -> [Range<String.Index>] {
        var words: [Range<String.Index>] = []
        var start: String.Index? = nil
        var end = text.startIndex
        var i = text.startIndex
        while i < text.endIndex {
            let c = text[i]
            let next = text.index(after: i)
            if c.isLetter {
                if start == nil { start = i }
                end = next
            } else if start != nil, isApostrophe(c), next < text.endIndex, text[next].isLetter {
                // interior apostrophe: the word goes on
            } else if let s = start {
                words.append(s..<end)
                start = nil
            }
            i = next
        }
        if let s = start { words.append(s..<end) }
        return words
    }

    /// True when `text` is exactly one word.
    public static func isSingleWord(_ text: String) -> Bool {
        let r = ranges(in: text)
        return r.count == 1 && r[0] == text.startIndex..<text.endIndex
    }

    /// The words of `text` as strings.
    public static func words(in text: String) -> [Substring] {
        ranges(in: text).map { text[$0] }
    }

    /// Positions of the letters (not apostrophes) in a word.
    static func letterPositions(_ word: [Character]) -> [Int] {
        word.indices.filter { word[$0].isLetter }
    }
}

// MARK: - Selection

/// Which words a perturbation touches: word i is selected when mix(key, i) / 2^64 < rate.
public struct WordSelection: Sendable {
    public let key: UInt64
    public let rate: Double

    /// Draws the key (one `next()`) from `rng`.
    public init(rate: Double, rng: inout RandomGenerator) {
        self.key = rng.next()
        self.rate = rate.isNaN ? 0 : min(max(rate, 0), 1)
    }

    public init(key: UInt64, rate: Double) {
        self.key = key
        self.rate = rate.isNaN ? 0 : min(max(rate, 0), 1)
    }

    public func isSelected(_ word: Int) -> Bool {
        if rate >= 1 { return true }
        let u = Double(WordSelection.mix(key ^ 0x5E1E_C7ED, UInt64(word)) >> 11) * (1.0 / 9_007_199_254_740_992.0)
        return u < rate
    }

    /// Generator for the edit of one word (independent of the selection hash).
    public func generator(forWord word: Int) -> RandomGenerator {
        RandomGenerator(seed: WordSelection.mix(key ^ 0xED17_0000, UInt64(word)))
    }

    /// Indices of the selected words among `count`.
    public func selected(count: Int) -> [Int] {
        (0..<count).filter { isSelected($0) }
    }

    /// SplitMix64 finaliser of (a, b): a good 64-bit hash of a pair.
    static func mix(_ a: UInt64, _ b: UInt64) -> UInt64 {
        var z = a &+ (b &+ 1) &* 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

// MARK: - Composition

/// Applies its parts in order; each part draws its own key, so the parts select words
/// independently (each with the same rate).
public struct Compose: Perturbation {
    public let parts: [any Perturbation]
    public init(_ parts: [any Perturbation]) { self.parts = parts }
    public var name: String { parts.map(\.name).joined(separator: ",") }
    public var summary: String { "in order: " + parts.map(\.name).joined(separator: ", then ") }
    public func apply(_ text: String, rate: Double, rng: inout RandomGenerator) -> String {
        var t = text
        for p in parts { t = p.apply(t, rate: rate, rng: &rng) }
        return t
    }
}

extension Perturbation {
    /// `self` followed by `next`.
    public func then(_ next: any Perturbation) -> Compose {
        if let c = self as? Compose { return Compose(c.parts + [next]) }
        return Compose([self, next])
    }
}

// MARK: - Registry

public enum PerturbationError: Error, CustomStringConvertible, Equatable {
    case unknownName(String, known: [String])
    case needsMisspellings(String)
    case cannotRead(path: String, reason: String)
    case badLine(path: String, line: Int, found: String)

    public var description: String {
        switch self {
        case let .unknownName(name, known):
            return "unknown perturbation '\(name)'; expected one of: \(known.joined(separator: ", "))"
        case let .needsMisspellings(name):
            return "perturbation '\(name)' needs a misspelling table (codespell TSV, see scripts/fetch_data.py spelling)"
        case let .cannotRead(path, reason):
            return "\(path): cannot read misspelling table: \(reason)"
        case let .badLine(path, line, found):
            return "\(path):\(line): expected 'wrong<TAB>right', found '\(found.prefix(80))'"
        }
    }
}

public enum Perturbations {
    /// Every perturbation that needs no data, in a fixed order.
    public static let all: [any Perturbation] = [
        PermuteInterior(), ReplaceLetter(), KeyboardTypo(), DeleteLetter(), InsertLetter(),
        DuplicateLetter(), SwapLetters(), CaseFlip(), AllCaps(), AllLower(), StripDiacritics(),
        WhitespaceNoise(), Homoglyphs(),
    ]

    /// Names and one-line descriptions of every perturbation, including `misspell`.
    public static var catalogue: [(name: String, summary: String)] {
        all.map { ($0.name, $0.summary) } + [(Misspell.name, Misspell.summary)]
    }

    /// The perturbation called `name`; `misspell` needs `misspellings`.
    public static func named(_ name: String, misspellings: MisspellingTable? = nil) throws -> any Perturbation {
        if let p = all.first(where: { $0.name == name }) { return p }
        if name == Misspell.name {
            guard let table = misspellings else { throw PerturbationError.needsMisspellings(name) }
            return Misspell(table: table)
        }
        throw PerturbationError.unknownName(name, known: catalogue.map(\.name))
    }

    /// A comma-separated list of names (`swap,upper`) as one perturbation (a `Compose` when
    /// there are several).
    public static func parse(_ list: String, misspellings: MisspellingTable? = nil) throws -> any Perturbation {
        let names = list.split(separator: ",").map { $0.trimmingCharacters(in: " ") }.filter { !$0.isEmpty }
        guard !names.isEmpty else { throw PerturbationError.unknownName(list, known: catalogue.map(\.name)) }
        let parts = try names.map { try named($0, misspellings: misspellings) }
        return parts.count == 1 ? parts[0] : Compose(parts)
    }
}

extension Substring {
    fileprivate func trimmingCharacters(in set: Character) -> String {
        var s = self
        while s.first == set { s.removeFirst() }
        while s.last == set { s.removeLast() }
        return String(s)
    }
}
