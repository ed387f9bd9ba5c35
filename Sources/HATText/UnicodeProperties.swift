// Per-code-point properties for the splitter, read from ICU once (CICU/wordbreak.c builds a
// two-stage table of UInt16 entries, blocks of 128 code points stored once each): the UAX #29 Word_Break class (Unicode 15.0 in ICU 72) in
// the low 5 bits, then \p{Extended_Pictographic}, \p{P}, \p{Ll}, \p{Lu}, \p{White_Space} and
// "dictionary script" flags. The values mirror wordbreak.h (UnicodePropertiesTests checks them).
import CICU

/// UAX #29 Word_Break classes as stored in the table, plus `none` (start of text) and sets as bit masks.
package enum WB {
    package static let other: UInt32 = 0
    package static let cr: UInt32 = 1
    package static let lf: UInt32 = 2
    package static let newline: UInt32 = 3
    package static let extend: UInt32 = 4
    package static let zwj: UInt32 = 5
    package static let regionalIndicator: UInt32 = 6
    package static let format: UInt32 = 7
    package static let katakana: UInt32 = 8
    package static let hebrewLetter: UInt32 = 9
    package static let aLetter: UInt32 = 10
    package static let singleQuote: UInt32 = 11
    package static let doubleQuote: UInt32 = 12
    package static let midNumLet: UInt32 = 13
    package static let midLetter: UInt32 = 14
    package static let midNum: UInt32 = 15
    package static let numeric: UInt32 = 16
    package static let extendNumLet: UInt32 = 17
    package static let wSegSpace: UInt32 = 18
    /// No character yet (start of text): belongs to no set below.
    package static let none: UInt32 = 31

    // Sets of classes as masks over `1 << class`.
    package static let ahLetter: UInt32 = 1 << aLetter | 1 << hebrewLetter
    package static let midLetterQ: UInt32 = 1 << midLetter | 1 << midNumLet | 1 << singleQuote   // WB6, WB7
    package static let midNumQ: UInt32 = 1 << midNum | 1 << midNumLet | 1 << singleQuote         // WB11, WB12
    package static let ignorable: UInt32 = 1 << extend | 1 << format | 1 << zwj                 // WB4
    package static let newlines: UInt32 = 1 << cr | 1 << lf | 1 << newline                      // WB3a, WB3b
    package static let beforeExtendNumLet: UInt32 = ahLetter | 1 << numeric | 1 << katakana | 1 << extendNumLet // WB13a
    package static let afterExtendNumLet: UInt32 = ahLetter | 1 << numeric | 1 << katakana      // WB13b

    @inline(__always) package static func isIn(_ c: UInt32, _ set: UInt32) -> Bool { (set >> c) & 1 != 0 }
}

/// Flag bits of a property entry above the Word_Break class.
package enum Prop {
    package static let wbMask: UInt32 = 0x1F
    package static let extendedPictographic: UInt32 = 0x20
    package static let punctuation: UInt32 = 0x40
    package static let lowercase: UInt32 = 0x80
    package static let uppercase: UInt32 = 0x100
    package static let whiteSpace: UInt32 = 0x200
    package static let dictionary: UInt32 = 0x400
}

/// The shared, immutable property table (built on first use, never freed).
package struct UnicodeProperties: @unchecked Sendable {
    let index: UnsafePointer<UInt16>  // [0x110000 >> 7] block of each 128 code points
    let blocks: UnsafePointer<UInt16> // [distinct blocks * 128]

    package static let shared: UnicodeProperties? = {
        guard let index = hat_wb_property_index(), let blocks = hat_wb_property_blocks() else { return nil }
        return UnicodeProperties(index: index, blocks: blocks)
    }()

    /// Property entry of scalar `c` (< 0x110000).
    @inline(__always) package func entry(_ c: UInt32) -> UInt32 {
        if c < 0x80 { return UInt32(blocks[Int(c)]) } // ASCII is always the first distinct block
        let block = Int(index[Int(c >> 7)]) << 7
        return UInt32(blocks[block | Int(c & 0x7F)])
    }
}

/// Result of decoding one UTF-8 sequence at an offset.
/// `length > 0`: a well-formed character of that many bytes.
/// `length == 0`: the byte at the offset starts no well-formed character (a one-byte word).
/// `length < 0`: the bytes from the offset to the end are a proper prefix of a well-formed
/// sequence (an incomplete character cut off by the end of the input); `-length` bytes.
struct Decoded {
    var scalar: UInt32
    var length: Int
}

/// Decodes the UTF-8 sequence at `i` (< `n`) following the well-formed byte sequences of
/// Unicode (Table 3-7): no overlongs, no surrogates, nothing above U+10FFFF.
@inline(__always)
func decodeUTF8(_ p: UnsafePointer<UInt8>, _ i: Int, _ n: Int) -> Decoded {
    let b0 = UInt32(p[i])
    if b0 < 0x80 { return Decoded(scalar: b0, length: 1) }
    return decodeMultibyte(p, i, n, b0)
}

@inline(__always)
func decodeMultibyte(_ p: UnsafePointer<UInt8>, _ i: Int, _ n: Int, _ b0: UInt32) -> Decoded {
    // Sequence length and the allowed range of the second byte.
    var count = 0
    var lo: UInt32 = 0x80, hi: UInt32 = 0xBF
    switch b0 {
    case 0xC2...0xDF: count = 2
    case 0xE0: count = 3; lo = 0xA0
    case 0xE1...0xEC, 0xEE...0xEF: count = 3
    case 0xED: count = 3; hi = 0x9F
    case 0xF0: count = 4; lo = 0x90
    case 0xF1...0xF3: count = 4
    case 0xF4: count = 4; hi = 0x8F
    default: return Decoded(scalar: 0, length: 0) // 80–C1, F5–FF: never a lead byte
    }
    var scalar = b0 & (0x7F >> UInt32(count))
    var k = 1
    while k < count {
        if i + k >= n { return Decoded(scalar: 0, length: -(n - i)) }
        let b = UInt32(p[i + k])
        let (l, h) = k == 1 ? (lo, hi) : (0x80, 0xBF)
        if b < l || b > h { return Decoded(scalar: 0, length: 0) }
        scalar = scalar << 6 | (b & 0x3F)
        k += 1
    }
    return Decoded(scalar: scalar, length: count)
}

/// Length of the well-formed UTF-8 character that starts at `bytes[i]`, or 0 when no
/// character starts there (an invalid byte, or a sequence cut off by the end of `bytes`).
public func utf8CharacterLength(_ bytes: UnsafeBufferPointer<UInt8>, at i: Int) -> Int {
    guard let p = bytes.baseAddress, i >= 0, i < bytes.count else { return 0 }
    return max(0, decodeUTF8(p, i, bytes.count).length)
}

/// Whether `bytes` is well-formed UTF-8.
public func isValidUTF8(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
    guard let p = bytes.baseAddress else { return true }
    let n = bytes.count
    var i = 0
    while i < n {
        if p[i] < 0x80 { i += 1; continue }
        let d = decodeMultibyte(p, i, n, UInt32(p[i]))
        if d.length <= 0 { return false }
        i += d.length
    }
    return true
}
