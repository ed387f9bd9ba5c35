// Helpers for HATTextTests: a seeded SplitMix64 generator (passed explicitly) and alphabets of
// characters that exercise every UAX #29 class and every HAT rule.
import HATText

struct TestRandom {
    var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func int(_ range: ClosedRange<Int>) -> Int {
        range.lowerBound + Int(next() % UInt64(range.upperBound - range.lowerBound + 1))
    }

    mutating func pick<T>(_ items: [T]) -> T { items[int(0...(items.count - 1))] }

    mutating func text(length: Int, alphabet: [String]) -> String {
        var s = ""
        for _ in 0..<length { s += pick(alphabet) }
        return s
    }

    mutating func bytes(length: Int) -> [UInt8] {
        (0..<length).map { _ in UInt8(truncatingIfNeeded: next()) }
    }

    /// Characters of every Word_Break class (no dictionary scripts): letters (Latin, Greek,
    /// Hebrew, Hangul), digits, Mid* and quotes, ExtendNumLet, Extend, Format, ZWJ, regional
    /// indicators, pictographs, spaces of all kinds, newlines, punctuation, camelCase letters.
    static let boundaryAlphabetWithoutDictionary: [String] = [
        "a", "b", "Z", "Q", "é", "ß", "Ж", "ω", "Σ", "א", "ב", "한", "ا", "1", "7", "٣",
        ".", ",", "'", ":", ";", "\"", "’", "·", "⁄", "_", "‿",
        "\u{0301}", "\u{0308}", "\u{1F3FB}", "\u{00AD}", "\u{200E}", "\u{2060}", "\u{200D}", "\u{200B}",
        "\u{1F1E9}", "\u{1F1EA}", "🙂", "✂", "👨",
        " ", " ", " ", "\u{3000}", "\u{2003}", "\u{00A0}", "\u{202F}", "\t",
        "\r", "\n", "\u{0085}", "\u{2028}", "\u{000B}",
        "-", "!", "?", "(", ")", "/", "@", "#", "$", "%", "«", "»", "—", "…", "+", "=",
    ]

    /// The above plus Han, Hiragana, Katakana, Thai, Lao, Khmer and Burmese.
    static let boundaryAlphabet: [String] = boundaryAlphabetWithoutDictionary + [
        "你", "好", "中", "国", "ひ", "ら", "カ", "タ", "ー", "ก", "ข", "\u{0E31}", "ສ", "ក", "က",
    ]
}
