// The letter-, case-, diacritic-, whitespace- and homoglyph-level perturbations. Each edits one
// selected word (see PerturbCore.swift for selection) and works on grapheme clusters
// (`Character`), so multi-byte letters stay whole; apostrophes inside a word are never moved.

import CICU
import HATTensor

// MARK: - Letter edits

/// Shuffle the letters between the first and the last ("Cmabrigde" effect); needs 4 letters.
public struct PermuteInterior: WordPerturbation {
    public init() {}
    public var name: String { "permute" }
    public var summary: String { "shuffle the interior letters of a word, first and last kept (words of 4+ letters)" }
    public func perturb(word: [Character], rng: inout RandomGenerator) -> [Character]? {
        let p = PerturbWords.letterPositions(word)
        guard p.count >= 4 else { return nil }
        let interior = Array(p[1..<(p.count - 1)])
        let letters = interior.map { word[$0] }
        guard Set(letters).count > 1 else { return nil }
        var shuffled = letters
        for _ in 0..<8 {
            for i in stride(from: shuffled.count - 1, to: 0, by: -1) {
                shuffled.swapAt(i, rng.nextInt(below: i + 1))
            }
            if shuffled != letters { break }
        }
        if shuffled == letters { shuffled = Array(letters[1...]) + [letters[0]] }  // a rotation differs
        var out = word
        for (k, pos) in interior.enumerated() { out[pos] = shuffled[k] }
        return out
    }
}

/// A letter that could replace `c`: a random other a–z (case kept) for ASCII letters, another
/// letter of the same word otherwise (so the script stays the same).
private func replacement(for c: Character, in word: [Character], rng: inout RandomGenerator) -> Character? {
    if c.isASCII {
        let lower = Character(c.lowercased())
        var r: Character
        repeat { r = Character(Unicode.Scalar(UInt8(97 + rng.nextInt(below: 26)))) } while r == lower
        return c.isUppercase ? Character(r.uppercased()) : r
    }
    let others = word.filter { $0.isLetter && $0 != c }
    return others.isEmpty ? nil : others[rng.nextInt(below: others.count)]
}

/// Replace one letter by a random letter.
public struct ReplaceLetter: WordPerturbation {
    public init() {}
    public var name: String { "replace" }
    public var summary: String { "replace one letter by a random one (a-z for ASCII letters, else another letter of the word)" }
    public func perturb(word: [Character], rng: inout RandomGenerator) -> [Character]? {
        let severalLetters = Set(word.filter(\.isLetter)).count > 1     // once per word: O(n), not per letter
        let p = PerturbWords.letterPositions(word).filter { word[$0].isASCII || severalLetters }
        guard !p.isEmpty else { return nil }
        let pos = p[rng.nextInt(below: p.count)]
        guard let r = replacement(for: word[pos], in: word, rng: &rng) else { return nil }
        var out = word
        out[pos] = r
        return out
    }
}

/// Replace one letter by a QWERTY neighbour.
public struct KeyboardTypo: WordPerturbation {
    public init() {}
    public var name: String { "keyboard" }
    public var summary: String { "replace one a-z letter by a QWERTY neighbour, case kept (words without a-z unchanged)" }
    public func perturb(word: [Character], rng: inout RandomGenerator) -> [Character]? {
        let p = PerturbWords.letterPositions(word).filter { !KeyboardLayout.neighbours(of: word[$0]).isEmpty }
        guard !p.isEmpty else { return nil }
        let pos = p[rng.nextInt(below: p.count)]
        let n = KeyboardLayout.neighbours(of: word[pos])
        var out = word
        out[pos] = n[rng.nextInt(below: n.count)]
        return out
    }
}

/// Delete one letter; a one-letter word is left alone, so no word disappears, and a letter
/// whose loss would strand an apostrophe at the word's edge ("o'clock" → "'clock") is not chosen.
public struct DeleteLetter: WordPerturbation {
    public init() {}
    public var name: String { "delete" }
    public var summary: String { "delete one letter (words of 2+ letters, so no word disappears)" }
    public func perturb(word: [Character], rng: inout RandomGenerator) -> [Character]? {
        let p = PerturbWords.letterPositions(word).filter { DeleteLetter.leavesOneWord(word, deleting: $0) }
        guard !p.isEmpty else { return nil }
        var out = word
        out.remove(at: p[rng.nextInt(below: p.count)])
        return out
    }

    /// Whether `word` (one word: letters with apostrophes only between two letters) stays one word
    /// without the letter at `pos` — decided from its neighbours, so choosing over a word of n
    /// letters costs O(n), not O(n²): the deletion must not leave an apostrophe at either end or
    /// two apostrophes side by side, and must leave a letter. (Tested equal to re-scanning the
    /// shortened word, `PerturbWords.isSingleWord`.)
    static func leavesOneWord(_ word: [Character], deleting pos: Int) -> Bool {
        guard word.count > 1 else { return false }
        let before = pos > 0 ? word[pos - 1] : nil, after = pos + 1 < word.count ? word[pos + 1] : nil
        let apostrophe = { (c: Character?) in c.map(PerturbWords.isApostrophe) ?? false }
        if before == nil { return !apostrophe(after) }
        if after == nil { return !apostrophe(before) }
        return !(apostrophe(before) && apostrophe(after))
    }
}

/// Insert one random letter at a random place in the word (before, between or after letters).
public struct InsertLetter: WordPerturbation {
    public init() {}
    public var name: String { "insert" }
    public var summary: String { "insert a random letter (a-z next to ASCII letters, else a letter of the word)" }
    public func perturb(word: [Character], rng: inout RandomGenerator) -> [Character]? {
        let p = PerturbWords.letterPositions(word)
        guard !p.isEmpty else { return nil }
        let gap = rng.nextInt(below: p.count + 1)              // before letter `gap`, or after the last
        let neighbour = word[p[min(gap, p.count - 1)]]
        let letter: Character
        if neighbour.isASCII {
            let allCaps = word.contains(where: \.isUppercase) && !word.contains(where: \.isLowercase)
            let r = Character(Unicode.Scalar(UInt8(97 + rng.nextInt(below: 26))))
            letter = allCaps ? Character(r.uppercased()) : r
        } else {
            let letters = p.map { word[$0] }
            letter = letters[rng.nextInt(below: letters.count)]
        }
        var out = word
        out.insert(letter, at: gap < p.count ? p[gap] : p[p.count - 1] + 1)
        return out
    }
}

/// Type one letter twice.
public struct DuplicateLetter: WordPerturbation {
    public init() {}
    public var name: String { "duplicate" }
    public var summary: String { "double one letter (hello -> helllo)" }
    public func perturb(word: [Character], rng: inout RandomGenerator) -> [Character]? {
        let p = PerturbWords.letterPositions(word)
        guard !p.isEmpty else { return nil }
        let pos = p[rng.nextInt(below: p.count)]
        var out = word
        out.insert(word[pos], at: pos + 1)
        return out
    }
}

/// Swap two adjacent, different letters.
public struct SwapLetters: WordPerturbation {
    public init() {}
    public var name: String { "swap" }
    public var summary: String { "swap two adjacent different letters (the -> teh)" }
    public func perturb(word: [Character], rng: inout RandomGenerator) -> [Character]? {
        let p = PerturbWords.letterPositions(word)
        guard p.count >= 2 else { return nil }
        let pairs = (0..<(p.count - 1)).filter { word[p[$0]] != word[p[$0 + 1]] }
        guard !pairs.isEmpty else { return nil }
        let k = pairs[rng.nextInt(below: pairs.count)]
        var out = word
        out.swapAt(p[k], p[k + 1])
        return out
    }
}

// MARK: - Case

/// `c` with its case flipped, when that is one different character (ß has no one-letter upper case).
private func flipped(_ c: Character) -> Character? {
    let s = c.isUppercase ? c.lowercased() : c.isLowercase ? c.uppercased() : ""
    guard s.count == 1, let f = s.first, f != c else { return nil }
    return f
}

/// Flip the case of one letter.
public struct CaseFlip: WordPerturbation {
    public init() {}
    public var name: String { "caseflip" }
    public var summary: String { "flip the case of one cased letter (hello -> heLlo)" }
    public func perturb(word: [Character], rng: inout RandomGenerator) -> [Character]? {
        let p = word.indices.filter { word[$0].isLetter && flipped(word[$0]) != nil }
        guard !p.isEmpty else { return nil }
        let pos = p[rng.nextInt(below: p.count)]
        var out = word
        out[pos] = flipped(word[pos])!
        return out
    }
}

/// The whole word in capitals.
public struct AllCaps: WordPerturbation {
    public init() {}
    public var name: String { "upper" }
    public var summary: String { "the whole word in capitals (ALL CAPS)" }
    public func perturb(word: [Character], rng: inout RandomGenerator) -> [Character]? {
        let s = String(word).uppercased()
        return s == String(word) ? nil : Array(s)
    }
}

/// The whole word in lower case.
public struct AllLower: WordPerturbation {
    public init() {}
    public var name: String { "lower" }
    public var summary: String { "the whole word in lower case" }
    public func perturb(word: [Character], rng: inout RandomGenerator) -> [Character]? {
        let s = String(word).lowercased()
        return s == String(word) ? nil : Array(s)
    }
}

// MARK: - Diacritics

/// Canonical decomposition (NFD) of `text` through ICU (`hat_icu_nfd`), or nil when ICU fails.
public func canonicalDecomposition(_ text: String) -> String? {
    let input = Array(text.utf8)
    var capacity = input.count * 3 + 8
    for _ in 0..<2 {
        var out = [UInt8](repeating: 0, count: capacity)
        let n = input.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                hat_icu_nfd(src.baseAddress, Int64(src.count), dst.baseAddress, Int64(dst.count))
            }
        }
        if n < 0 { return nil }
        if n <= capacity { return String(decoding: out[0..<Int(n)], as: UTF8.self) }
        capacity = Int(n)
    }
    return nil
}

/// Remove diacritics: each grapheme cluster is decomposed (NFD, through ICU) and its
/// non-spacing marks (general category Mn) are dropped, when its base letter is Latin, Greek,
/// Cyrillic, Hebrew or Arabic, scripts where such marks are optional accents or vowel points.
/// Other scripts keep their marks (Thai and Devanagari vowel signs and viramas, the kana voicing
/// marks are letters' parts, not accents), and clusters without marks (Hangul) are not touched.
/// Letters such as ø, ł, đ, ħ have no decomposition (the stroke is part of the letter), so they
/// stay as they are.
public struct StripDiacritics: WordPerturbation {
    public init() {}
    public var name: String { "diacritics" }
    public var summary: String { "strip accents: NFD (ICU), drop combining marks on Latin/Greek/Cyrillic/Hebrew/Arabic letters" }

    static func strippable(_ base: Unicode.Scalar) -> Bool {
        switch base.value {
        case 0x41...0x5A, 0x61...0x7A, 0xC0...0x24F, 0x1E00...0x1EFF, 0x2C60...0x2C7F, 0xA720...0xA7FF,
             0xAB30...0xAB6F: return true                                  // Latin
        case 0x370...0x3FF, 0x1F00...0x1FFF: return true                   // Greek
        case 0x400...0x52F, 0x1C80...0x1C8F, 0x2DE0...0x2DFF, 0xA640...0xA69F: return true  // Cyrillic
        case 0x590...0x5FF, 0xFB1D...0xFB4F: return true                   // Hebrew
        case 0x600...0x6FF, 0x750...0x77F, 0x8A0...0x8FF, 0xFB50...0xFDFF, 0xFE70...0xFEFF: return true  // Arabic
        default: return false
        }
    }

    /// `c` without its accents, or nil when it has none to strip.
    static func stripped(_ c: Character) -> Character? {
        if c.isASCII { return nil }
        guard let d = canonicalDecomposition(String(c)), let base = d.unicodeScalars.first,
              strippable(base) else { return nil }
        var kept = String.UnicodeScalarView()
        for s in d.unicodeScalars where s.properties.generalCategory != .nonspacingMark { kept.append(s) }
        let s = String(kept)
        guard s.count == 1, let r = s.first, r != c else { return nil }
        return r
    }

    public func perturb(word: [Character], rng: inout RandomGenerator) -> [Character]? {
        var changed = false
        let out = word.map { c -> Character in
            if let s = StripDiacritics.stripped(c) { changed = true; return s }
            return c
        }
        return changed ? out : nil
    }
}

// MARK: - Whitespace

/// Double or drop the space before a selected word (when a plain space precedes it); dropping
/// joins the word to the one before, which is this perturbation's point. A word at the start of
/// the text or after a newline, tab or punctuation without a space is left alone.
public struct WhitespaceNoise: Perturbation {
    public init() {}
    public var name: String { "whitespace" }
    public var summary: String { "double or drop the space before a word (dropping joins two words)" }
    public func apply(_ text: String, rate: Double, rng: inout RandomGenerator) -> String {
        let selection = WordSelection(rate: rate, rng: &rng)
        if selection.rate == 0 { return text }
        var out = ""
        out.reserveCapacity(text.utf8.count + 64)
        var copied = text.startIndex
        for (w, range) in PerturbWords.ranges(in: text).enumerated() where selection.isSelected(w) {
            guard range.lowerBound > text.startIndex else { continue }
            let space = text.index(before: range.lowerBound)
            guard text[space] == " " else { continue }
            var g = selection.generator(forWord: w)
            out += text[copied..<space]
            if g.nextInt(below: 2) == 0 { out += "  " }        // doubled; else dropped
            copied = range.lowerBound
        }
        out += text[copied...]
        return out
    }
}

// MARK: - Homoglyphs

/// Replace one letter by a look-alike from another script (Latin ↔ Cyrillic / Greek).
public struct Homoglyphs: WordPerturbation {
    public init() {}
    public var name: String { "homoglyph" }
    public var summary: String { "replace one letter by a look-alike from another script (Latin <-> Cyrillic/Greek)" }
    public func perturb(word: [Character], rng: inout RandomGenerator) -> [Character]? {
        let p = word.indices.filter { !HomoglyphTable.alternatives(for: word[$0]).isEmpty }
        guard !p.isEmpty else { return nil }
        let pos = p[rng.nextInt(below: p.count)]
        let alts = HomoglyphTable.alternatives(for: word[pos])
        var out = word
        out[pos] = alts[rng.nextInt(below: alts.count)]
        return out
    }
}
