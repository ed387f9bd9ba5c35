// Lookup tables for the perturbations: QWERTY neighbours of a–z (keys that touch on a US
// keyboard, diagonals included) and homoglyphs (Latin letters and their Cyrillic / Greek
// look-alikes, used in both directions).

enum KeyboardLayout {
    /// QWERTY neighbours of each lowercase letter.
    static let qwerty: [Character: [Character]] = [
        "q": ["w", "a"],
        "w": ["q", "e", "a", "s"],
        "e": ["w", "r", "s", "d"],
        "r": ["e", "t", "d", "f"],
        "t": ["r", "y", "f", "g"],
        "y": ["t", "u", "g", "h"],
        "u": ["y", "i", "h", "j"],
        "i": ["u", "o", "j", "k"],
        "o": ["i", "p", "k", "l"],
        "p": ["o", "l"],
        "a": ["q", "w", "s", "z"],
        "s": ["w", "e", "a", "d", "z", "x"],
        "d": ["e", "r", "s", "f", "x", "c"],
        "f": ["r", "t", "d", "g", "c", "v"],
        "g": ["t", "y", "f", "h", "v", "b"],
        "h": ["y", "u", "g", "j", "b", "n"],
        "j": ["u", "i", "h", "k", "n", "m"],
        "k": ["i", "o", "j", "l", "m"],
        "l": ["o", "p", "k"],
        "z": ["a", "s", "x"],
        "x": ["s", "d", "z", "c"],
        "c": ["d", "f", "x", "v"],
        "v": ["f", "g", "c", "b"],
        "b": ["g", "h", "v", "n"],
        "n": ["h", "j", "b", "m"],
        "m": ["j", "k", "n"],
    ]

    /// Neighbours of an ASCII letter with its case kept (`E` → `W R S D`), or [] for others.
    static func neighbours(of c: Character) -> [Character] {
        guard c.isASCII, c.isLetter else { return [] }
        let lower = Character(c.lowercased())
        let keys = qwerty[lower] ?? []
        return c.isUppercase ? keys.map { Character($0.uppercased()) } : keys
    }
}

public enum HomoglyphTable {
    /// Latin letter → look-alikes (Cyrillic first, then Greek).
    public static let latin: [Character: [Character]] = [
        "a": ["\u{0430}"],            // а
        "c": ["\u{0441}"],            // с
        "d": ["\u{0501}"],            // ԁ
        "e": ["\u{0435}"],            // е
        "h": ["\u{04BB}"],            // һ
        "i": ["\u{0456}"],            // і
        "j": ["\u{0458}"],            // ј
        "o": ["\u{043E}", "\u{03BF}"], // о ο
        "p": ["\u{0440}"],            // р
        "q": ["\u{051B}"],            // ԛ
        "s": ["\u{0455}"],            // ѕ
        "v": ["\u{03BD}"],            // ν
        "w": ["\u{051D}"],            // ԝ
        "x": ["\u{0445}"],            // х
        "y": ["\u{0443}"],            // у
        "A": ["\u{0410}", "\u{0391}"], // А Α
        "B": ["\u{0412}", "\u{0392}"], // В Β
        "C": ["\u{0421}", "\u{03F9}"], // С Ϲ
        "E": ["\u{0415}", "\u{0395}"], // Е Ε
        "H": ["\u{041D}", "\u{0397}"], // Н Η
        "I": ["\u{0406}", "\u{0399}"], // І Ι
        "J": ["\u{0408}"],            // Ј
        "K": ["\u{041A}", "\u{039A}"], // К Κ
        "M": ["\u{041C}", "\u{039C}"], // М Μ
        "N": ["\u{039D}"],            // Ν
        "O": ["\u{041E}", "\u{039F}"], // О Ο
        "P": ["\u{0420}", "\u{03A1}"], // Р Ρ
        "S": ["\u{0405}"],            // Ѕ
        "T": ["\u{0422}", "\u{03A4}"], // Т Τ
        "X": ["\u{0425}", "\u{03A7}"], // Х Χ
        "Y": ["\u{04AE}", "\u{03A5}"], // Ү Υ
        "Z": ["\u{0396}"],            // Ζ
    ]

    /// Look-alike → the Latin letter it imitates.
    public static let toLatin: [Character: Character] = {
        var m: [Character: Character] = [:]
        for (l, alikes) in latin { for a in alikes { m[a] = l } }
        return m
    }()

    /// Letters that `c` can be swapped for: its look-alikes when it is Latin; the Latin letter
    /// and the other look-alikes when it is itself a Cyrillic or Greek look-alike.
    public static func alternatives(for c: Character) -> [Character] {
        if let alikes = latin[c] { return alikes }
        if let l = toLatin[c] { return [l] + (latin[l] ?? []).filter { $0 != c } }
        return []
    }

    /// `text` with every look-alike mapped to its Latin letter (what a reader sees).
    public static func visible(_ text: String) -> String {
        String(text.map { toLatin[$0] ?? $0 })
    }
}
