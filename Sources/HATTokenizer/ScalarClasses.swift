// ScalarClasses: the character classes of the pre-tokenizer regexes exactly as HF tokenizers 0.23.3
// sees them (checked for every scalar against Fixtures/unicode_classes.json, made by its own regex
// engine): \p{L} and \p{N} are Oniguruma's Unicode 16 tables, \s is White_Space, and the Digits
// pre-tokenizer's Rust char::is_numeric is Unicode 17. One table byte per scalar of planes 0–3.

/// Flags per scalar:
/// - \p{L}, \p{N}: general categories L* / N* of scalars assigned before Unicode 17 (Swift's tables
///   are Unicode 17; Oniguruma's are 16, so newer scalars are left out);
/// - \s: the White_Space property (25 scalars, incl. U+0085 and U+00A0);
/// - numeric: categories Nd, Nl, No (Unicode 17), what Digits isolates.
/// Scalars of planes 0–3 are looked up in a table built on first use (about 60 ms); the others
/// (tags, private use) are computed.
struct ScalarClass {
    static let letter: UInt8 = 1       // \p{L}
    static let number: UInt8 = 2       // \p{N}
    static let whitespace: UInt8 = 4   // \s
    static let numeric: UInt8 = 8      // Rust char::is_numeric (what Digits isolates)

    /// The classes of one scalar, from Swift's Unicode properties.
    static func compute(_ value: UInt32) -> UInt8 {
        guard let scalar = Unicode.Scalar(value) else { return 0 }
        let properties = scalar.properties
        var flags: UInt8 = 0
        let isLetter: Bool
        let isNumber: Bool
        switch properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter:
            isLetter = true; isNumber = false
        case .decimalNumber, .letterNumber, .otherNumber:
            isLetter = false; isNumber = true
        default:
            isLetter = false; isNumber = false
        }
        let inRegexTables = properties.age.map { $0.major < 17 } ?? false
        if isLetter && inRegexTables { flags |= letter }
        if isNumber && inRegexTables { flags |= number }
        if isNumber { flags |= numeric }
        if properties.isWhitespace { flags |= whitespace }
        return flags
    }

    /// Scalars below this have a table entry.
    static let tableLimit: UInt32 = 0x40000

    static let table: [UInt8] = (0..<tableLimit).map { compute($0) }

    @inline(__always)
    static func of(_ value: UInt32) -> UInt8 {
        value < tableLimit ? table[Int(value)] : compute(value)
    }
}
