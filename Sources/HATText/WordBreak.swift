// UAX #29 word boundaries (Unicode 15.0, rules WB3–WB999) as a forward state machine over the
// ICU property table, without dictionaries. Checked against Unicode's WordBreakTest.txt and
// against ICU's own word break iterator (WordBreakTests). The HAT rules build on it (WordSplitter).

/// The state of the boundary decision: the previous raw class and the last two classes after
/// WB4 ("X (Extend | Format | ZWJ)* → X"), and the parity of the trailing Regional_Indicator run.
struct WordBreakState {
    var prevRaw: UInt32 = WB.none
    var prevX: UInt32 = WB.none
    var prevPrevX: UInt32 = WB.none
    var riOdd = false

    /// True before the first character (start of text, WB1).
    var atStart: Bool { prevRaw == WB.none }

    /// Whether there is a boundary before a character of class `w` (not the first character).
    /// `p[next..<n]` is the text after it, read only for WB6, WB7b and WB12 (the class of the
    /// next character that WB4 does not ignore).
    @inline(__always)
    func isBoundary(before w: UInt32, extendedPictographic: Bool,
                    _ p: UnsafePointer<UInt8>, _ next: Int, _ n: Int, _ props: UnicodeProperties) -> Bool {
        let x = prevX
        // The common case first: letter after letter (WB5). prevX is a letter only if the raw
        // previous character is a letter or an ignorable that followed one, so WB3–WB4 agree.
        if WB.isIn(x, WB.ahLetter) && WB.isIn(w, WB.ahLetter) { return false }
        if prevRaw == WB.cr && w == WB.lf { return false }                         // WB3
        if WB.isIn(prevRaw, WB.newlines) || WB.isIn(w, WB.newlines) { return true } // WB3a, WB3b
        if prevRaw == WB.zwj && extendedPictographic { return false }              // WB3c
        if prevRaw == WB.wSegSpace && w == WB.wSegSpace { return false }           // WB3d
        if WB.isIn(w, WB.ignorable) { return false }                               // WB4
        if WB.isIn(x, WB.ahLetter) {
            // (WB5 above)
            if WB.isIn(w, WB.midLetterQ) && WB.isIn(nextNonIgnorableClass(p, next, n, props), WB.ahLetter) { return false } // WB6
            if x == WB.hebrewLetter {
                if w == WB.singleQuote { return false }                            // WB7a
                if w == WB.doubleQuote && nextNonIgnorableClass(p, next, n, props) == WB.hebrewLetter { return false } // WB7b
            }
            if w == WB.numeric { return false }                                    // WB9
        }
        if WB.isIn(w, WB.ahLetter) {
            if WB.isIn(prevPrevX, WB.ahLetter) && WB.isIn(x, WB.midLetterQ) { return false } // WB7
            if prevPrevX == WB.hebrewLetter && x == WB.doubleQuote && w == WB.hebrewLetter { return false } // WB7c
            if x == WB.numeric { return false }                                    // WB10
        }
        if w == WB.numeric {
            if x == WB.numeric { return false }                                    // WB8
            if prevPrevX == WB.numeric && WB.isIn(x, WB.midNumQ) { return false }   // WB11
        }
        if x == WB.numeric && WB.isIn(w, WB.midNumQ) && nextNonIgnorableClass(p, next, n, props) == WB.numeric { return false } // WB12
        if x == WB.katakana && w == WB.katakana { return false }                   // WB13
        if w == WB.extendNumLet && WB.isIn(x, WB.beforeExtendNumLet) { return false } // WB13a
        if x == WB.extendNumLet && WB.isIn(w, WB.afterExtendNumLet) { return false } // WB13b
        if x == WB.regionalIndicator && w == WB.regionalIndicator && riOdd { return false } // WB15, WB16
        return true                                                                // WB999
    }

    /// Moves past a character of class `w`.
    @inline(__always)
    mutating func advance(_ w: UInt32) {
        // WB4: Extend, Format and ZWJ vanish into the character before them, except at the start
        // and after a newline, where they stand for themselves.
        if WB.isIn(w, WB.ignorable) && prevRaw != WB.none && !WB.isIn(prevRaw, WB.newlines) {
            prevRaw = w
            return
        }
        riOdd = w == WB.regionalIndicator ? !(prevX == WB.regionalIndicator && riOdd) : false
        prevPrevX = prevX
        prevX = w
        prevRaw = w
    }
}

extension WordBreakState {
    /// `advance` for a letter (ALetter or Hebrew_Letter) that follows a letter.
    @inline(__always)
    mutating func advanceLetter(_ w: UInt32) {
        prevPrevX = prevX
        prevX = w
        prevRaw = w
        riOdd = false
    }
}

/// Class of the first character at or after `j` that WB4 does not ignore; `WB.none` at the end
/// of the text or at a byte that is not well-formed UTF-8.
@inline(never)
func nextNonIgnorableClass(_ p: UnsafePointer<UInt8>, _ j: Int, _ n: Int, _ props: UnicodeProperties) -> UInt32 {
    var j = j
    while j < n {
        let d = decodeUTF8(p, j, n)
        if d.length <= 0 { return WB.none }
        let w = props.entry(d.scalar) & Prop.wbMask
        if !WB.isIn(w, WB.ignorable) { return w }
        j += d.length
    }
    return WB.none
}
