// The HAT splitter: text bytes → words (ARCHITECTURE.md §2). Matches Aleph Alpha's
// `hat-splitter` 0.1.10 byte for byte on valid UTF-8 (golden tests): UAX #29 word boundaries
// without dictionaries (WordBreak.swift), then a cut after every \p{P}, a cut between \p{Ll} and
// \p{Lu}, single-space/punctuation attachment, and the byte cap `maxWordBytes`. One forward
// pass over the bytes; no allocation when `ends` has room; no ICU call in `hat` mode.
//
// Pieces and words. The UAX #29 segments, cut after punctuation and at camelCase, are
// "pieces". A piece is a Space (exactly " "), Whitespace (only \p{White_Space}), Punctuation
// (one \p{P} character) or Word (anything else). A piece joins the previous word when it is a
// Word after a Space, or Punctuation after a Space, Word or Punctuation; otherwise it starts
// a word. (A " " piece after an all-" " piece merges into it; UAX #29 WB3d makes this rare.)
//
// Bytes that are not UTF-8 (the rule chosen here; hat-splitter accepts only valid text):
// - a byte that starts no well-formed character (Unicode Table 3-7: 80–BF alone, C0, C1,
//   F5–FF, or the lead of a truncated/ill-formed sequence) is a one-byte word, and the text
//   on each side of it is split independently, as if the byte were the start or end of the
//   text. The special-token bytes (SpecialTokens; 192 = end of sequence) are such bytes.
// - a proper prefix of a well-formed sequence that reaches the end of the input (a character
//   still arriving, as in byte-by-byte generation) stays with the word before it, or is a word
//   of its own when nothing precedes it. If more bytes make it a character, it is split with
//   that character; if they make it ill-formed, its bytes become one-byte words.
// Both keep the round trip and causality: words before the last never change when bytes are
// appended.
//
// A line feed always ends a word and the rules restart after it (as at the start of the text),
// so splitting blocks that end just after line feeds gives exactly the words of the whole
// (tested; `hat segment` streams this way). Invalid bytes are such restart points too.
//
// Causality (`hat` mode) holds except in two corners that hat-splitter 0.1.10 shares (the
// golden tests pin its behaviour): (1) U+2044 FRACTION SLASH is the one UAX #29 MidNum character
// that is not \p{P}, so "1⁄" is "1" "⁄" while "1⁄2" is one word; (2) a white-space character
// that the next character joins in one UAX #29 segment (a combining mark after a tab or NBSP,
// a letter after U+202F, which is ExtendNumLet) turns from Whitespace into Word, and a " "
// before it then absorbs it: "x \t" is "x" " " "\t" but "x \t\u{301}" is "x" " \t\u{301}".
//
// Cap: a word longer than `maxWordBytes` is cut into pieces of at most that many bytes, each
// ending at the last character start within reach; a character longer than the cap is cut
// inside (as hat-splitter's `split_with_limit`).
import CICU

/// Which segmentation runs under the HAT rules.
public enum SplitterMode: String, CaseIterable, Sendable, Codable {
    /// UAX #29 without dictionaries (hat-splitter 0.1.10). Causal, up to the two corners above.
    case hat
    /// ICU's dictionary segmentation inside runs of Han, Hiragana, Katakana, Thai, Lao, Khmer and
    /// Burmese characters; `hat` everywhere else. Not causal inside such a run: appending a
    /// character may move boundaries anywhere in the run (the dictionary looks at the whole run).
    /// Runs longer than `WordSplitter.maxDictionaryRunBytes` are cut at a character boundary first.
    case icuDictionary = "icu-dictionary"
}

/// Options of a `WordSplitter` (a model's config stores the mode as `splitter.name` and the cap as
/// `max_word_size`; `HATConfig.makeSplitter()` builds the splitter from them).
public struct SplitterOptions: Sendable, Codable, Equatable {
    public var mode: SplitterMode
    /// Longest word in bytes; nil for no cap. Must be at least 1.
    public var maxWordBytes: Int?

    public init(mode: SplitterMode = .hat, maxWordBytes: Int? = 100) {
        self.mode = mode
        self.maxWordBytes = maxWordBytes
    }

    enum CodingKeys: String, CodingKey {
        case mode
        case maxWordBytes = "max_word_bytes"
    }
}

public enum SplitterError: Error, CustomStringConvertible, Equatable {
    case invalidMaxWordBytes(Int)
    case icuUnavailable(String)

    public var description: String {
        switch self {
        case .invalidMaxWordBytes(let n): return "max_word_bytes must be at least 1 (or absent for no cap), found \(n)"
        case .icuUnavailable(let why): return "ICU word-break data unavailable: \(why)"
        }
    }
}

/// Splits bytes into words. Not thread-safe: use one per thread.
public final class WordSplitter {
    public let options: SplitterOptions
    let props: UnicodeProperties
    let cap: Int
    let iterator: OpaquePointer? // hat_wb_iterator, icu-dictionary mode only
    var dictionaryBreaks: [Int64] = []

    /// Dictionary runs longer than this many bytes are cut (at a character boundary) before ICU sees them.
    public static let maxDictionaryRunBytes = 32 * 1024

    /// Number of words longer than the cap in the last `split` call (each was cut into pieces)...
    public private(set) var lastCappedWords = 0
    /// ...and the number of pieces they were cut into.
    public private(set) var lastCapPieces = 0

    /// ICU's version, e.g. "72.1" (the Unicode data behind the splitter).
    public static var icuVersion: String { String(cString: hat_icu_version()) }

    public init(options: SplitterOptions = SplitterOptions()) throws {
        if let m = options.maxWordBytes, m < 1 { throw SplitterError.invalidMaxWordBytes(m) }
        guard let props = UnicodeProperties.shared else {
            throw SplitterError.icuUnavailable("ICU property maps could not be read")
        }
        self.options = options
        self.props = props
        self.cap = options.maxWordBytes ?? Int.max
        if options.mode == .icuDictionary {
            var error = [CChar](repeating: 0, count: 64)
            guard let it = hat_wb_iterator_open(&error) else {
                let name = String(decoding: error.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                throw SplitterError.icuUnavailable("ubrk_open(UBRK_WORD) failed: \(name)")
            }
            iterator = it
            dictionaryBreaks.reserveCapacity(1024)
        } else {
            iterator = nil
        }
    }

    deinit { hat_wb_iterator_close(iterator) }

    /// Word boundaries of `bytes`: appends the end offset (exclusive) of each word to `ends`
    /// (cleared first); word i is `bytes[ends[i-1]..<ends[i]]` with `ends[-1] = 0`.
    /// Allocation-free when `ends` has room for every word (there are at most `bytes.count`;
    /// text averages 3–7 bytes per word) and, in `icu-dictionary` mode, after the first runs.
    public func split(_ bytes: UnsafeBufferPointer<UInt8>, into ends: inout [Int]) {
        ends.removeAll(keepingCapacity: true)
        lastCappedWords = 0
        lastCapPieces = 0
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        var pass = SplitPass(base: base, n: bytes.count, props: props, cap: cap,
                             dictionary: iterator != nil)
        pass.run(splitter: self, ends: &ends)
        lastCappedWords = pass.cappedWords
        lastCapPieces = pass.capPieces
    }

    /// Word ranges of `bytes` (convenience; allocates).
    public func split(_ bytes: [UInt8]) -> [Range<Int>] {
        var ends: [Int] = []
        bytes.withUnsafeBufferPointer { split($0, into: &ends) }
        var ranges: [Range<Int>] = []
        ranges.reserveCapacity(ends.count)
        var start = 0
        for e in ends { ranges.append(start..<e); start = e }
        return ranges
    }

    /// Words of `text` (UTF-8) as byte arrays (convenience for tests and tools).
    public func words(_ text: String) -> [[UInt8]] {
        let bytes = Array(text.utf8)
        return split(bytes).map { Array(bytes[$0]) }
    }

    /// UAX #29 boundaries alone (no HAT rules, no cap, no dictionary): end offsets of the
    /// segments. Invalid bytes are one-byte segments, as in `split`.
    public func uax29Segments(_ bytes: UnsafeBufferPointer<UInt8>, into ends: inout [Int]) {
        ends.removeAll(keepingCapacity: true)
        guard let p = bytes.baseAddress else { return }
        let n = bytes.count
        var state = WordBreakState()
        var i = 0
        while i < n {
            let d = decodeUTF8(p, i, n)
            if d.length <= 0 {
                if !state.atStart { ends.append(i) }
                let len = max(1, -d.length)
                ends.append(i + len)
                state = WordBreakState()
                i += len
                continue
            }
            let e = props.entry(d.scalar)
            let w = e & Prop.wbMask
            if !state.atStart {
                if state.isBoundary(before: w, extendedPictographic: e & Prop.extendedPictographic != 0,
                                    p, i + d.length, n, props) {
                    ends.append(i)
                }
            }
            state.advance(w)
            i += d.length
        }
        if !state.atStart { ends.append(n) }
    }

    /// ICU's dictionary boundaries strictly inside `run` (offsets relative to `base`).
    func fetchDictionaryBreaks(_ base: UnsafePointer<UInt8>, _ start: Int, _ end: Int) -> Int {
        let length = Int64(end - start)
        while true {
            let capacity = dictionaryBreaks.count
            let count = dictionaryBreaks.withUnsafeMutableBufferPointer { out in
                hat_wb_iterator_breaks(iterator, base + start, length, out.baseAddress, Int64(capacity))
            }
            if count < 0 { return 0 } // ICU failed: keep the UAX #29 boundaries
            if count <= capacity { return Int(count) }
            dictionaryBreaks = [Int64](repeating: 0, count: Int(count) * 2)
        }
    }
}

/// Classes of pieces (see the file header).
enum PieceClass: UInt8 {
    case space, whitespace, punctuation, word
}

/// One forward pass over a text: UAX #29 → pieces → words → cap.
struct SplitPass {
    let base: UnsafePointer<UInt8>
    let n: Int
    let props: UnicodeProperties
    let cap: Int
    let dictionary: Bool

    // UAX #29 state and the raw previous character's flags (punctuation cut, camelCase cut).
    var wb = WordBreakState()
    var prevFlags: UInt32 = 0
    // Current piece: start, number of characters, summary flags.
    var pieceStart = 0
    var pieceChars = 0
    var pieceFirst: UInt32 = 0       // first scalar
    var pieceFirstFlags: UInt32 = 0
    var pieceAllWhite = true
    var pieceAllSpace = true
    // Previous piece of the current document.
    var hasPrevPiece = false
    var prevPieceClass = PieceClass.word
    var prevPieceAllSpace = false
    // Current word.
    var wordStart = 0
    // Dictionary run [runStart, runEnd) and the index of the next ICU boundary in it.
    var runStart = 0
    var runEnd = 0
    var runBreakCount = 0
    var runBreakIndex = 0
    var cappedWords = 0
    var capPieces = 0

    init(base: UnsafePointer<UInt8>, n: Int, props: UnicodeProperties, cap: Int, dictionary: Bool) {
        self.base = base; self.n = n; self.props = props; self.cap = cap; self.dictionary = dictionary
    }

    @inline(__always)
    mutating func run(splitter: WordSplitter, ends: inout [Int]) {
        let p = base
        var i = 0
        while i < n {
            let d = decodeUTF8(p, i, n)
            if d.length < 0 {
                // An incomplete character at the end stays with the word before it (or is a
                // word of its own when nothing precedes it in its document).
                if pieceChars > 0 { closePiece(at: i, ends: &ends) }
                emitWord(from: wordStart, to: n, ends: &ends)
                return
            }
            if d.length == 0 {
                // A byte that starts no character: a one-byte word between two documents.
                finishDocument(at: i, ends: &ends)
                ends.append(i + 1)
                i += 1
                resetDocument(at: i)
                continue
            }
            let e = props.entry(d.scalar)
            let w = e & Prop.wbMask
            if !wb.atStart {
                var boundary: Bool
                if dictionary && i > runStart && i < runEnd {
                    // Inside a dictionary run: ICU's boundaries (never before Extend/Format/ZWJ).
                    boundary = false
                    while runBreakIndex < runBreakCount {
                        let b = runStart + Int(splitter.dictionaryBreaks[runBreakIndex])
                        if b > i { break }
                        runBreakIndex += 1
                        if b == i { boundary = !WB.isIn(w, WB.ignorable) }
                    }
                } else {
                    boundary = wb.isBoundary(before: w, extendedPictographic: e & Prop.extendedPictographic != 0,
                                             p, i + d.length, n, props)
                }
                // HAT cuts: after punctuation, and between a lowercase and an uppercase letter.
                if boundary || prevFlags & Prop.punctuation != 0
                    || (prevFlags & Prop.lowercase != 0 && e & Prop.uppercase != 0) {
                    closePiece(at: i, ends: &ends)
                }
            }
            if dictionary && e & Prop.dictionary != 0 && i >= runEnd {
                startDictionaryRun(at: i, splitter: splitter)
            }
            wb.advance(w)
            // Piece summary.
            if pieceChars == 0 { pieceFirst = d.scalar; pieceFirstFlags = e }
            pieceChars += 1
            if e & Prop.whiteSpace == 0 { pieceAllWhite = false }
            if d.scalar != 0x20 { pieceAllSpace = false }
            prevFlags = e
            i += d.length
            // Fast path inside a word of letters: letter after letter is never a boundary (WB5)
            // unless camelCase cuts it, and letters are not punctuation, white space or
            // dictionary characters, so only the state moves.
            if WB.isIn(w, WB.ahLetter) && e & Prop.punctuation == 0 {
                while i < n {
                    let d = decodeUTF8(p, i, n)
                    if d.length <= 0 { break }
                    let e = props.entry(d.scalar)
                    let w = e & Prop.wbMask
                    if !WB.isIn(w, WB.ahLetter) || e & Prop.punctuation != 0
                        || (prevFlags & Prop.lowercase != 0 && e & Prop.uppercase != 0) { break }
                    wb.advanceLetter(w)
                    pieceChars += 1
                    prevFlags = e
                    i += d.length
                }
            }
        }
        finishDocument(at: n, ends: &ends)
    }

    mutating func resetDocument(at i: Int) {
        wb = WordBreakState()
        prevFlags = 0
        pieceStart = i
        pieceChars = 0
        pieceAllWhite = true
        pieceAllSpace = true
        hasPrevPiece = false
        wordStart = i
        runStart = i
        runEnd = i
        runBreakCount = 0
        runBreakIndex = 0
    }

    /// Ends the current document (text between invalid bytes) at `i`: closes its last piece and word.
    mutating func finishDocument(at i: Int, ends: inout [Int]) {
        if pieceChars > 0 { closePiece(at: i, ends: &ends) }
        if i > wordStart { emitWord(from: wordStart, to: i, ends: &ends) }
        wordStart = i
    }

    /// Closes the piece [pieceStart, i) and decides whether a word starts at pieceStart.
    @inline(__always)
    mutating func closePiece(at i: Int, ends: inout [Int]) {
        let cls: PieceClass
        if pieceChars == 1 && pieceFirst == 0x20 { cls = .space }
        else if pieceAllWhite { cls = .whitespace }
        else if pieceChars == 1 && pieceFirstFlags & Prop.punctuation != 0 { cls = .punctuation }
        else { cls = .word }
        if hasPrevPiece {
            if cls == .space && prevPieceAllSpace {
                prevPieceClass = .whitespace // " " joins a run of spaces
            } else {
                let joins = (prevPieceClass == .space && cls == .word)
                    || (cls == .punctuation && prevPieceClass != .whitespace)
                if !joins {
                    emitWord(from: wordStart, to: pieceStart, ends: &ends)
                    wordStart = pieceStart
                }
                prevPieceClass = cls
                prevPieceAllSpace = pieceAllSpace
            }
        } else {
            hasPrevPiece = true
            prevPieceClass = cls
            prevPieceAllSpace = pieceAllSpace
        }
        pieceStart = i
        pieceChars = 0
        pieceAllWhite = true
        pieceAllSpace = true
    }

    /// Appends the word [s, e), cut into pieces of at most `cap` bytes.
    @inline(__always)
    mutating func emitWord(from s: Int, to e: Int, ends: inout [Int]) {
        if e - s <= cap { ends.append(e); return }
        cutLongWord(from: s, to: e, ends: &ends)
    }

    @inline(never)
    mutating func cutLongWord(from s: Int, to e: Int, ends: inout [Int]) {
        cappedWords += 1
        var start = s
        while start < e {
            var end = min(start + cap, e)
            if end < e {
                // Back up to the start of a character (a byte that is not 10xxxxxx), if any.
                var b = end
                while b > start && base[b] & 0xC0 == 0x80 { b -= 1 }
                if b > start { end = b }
            }
            ends.append(end)
            capPieces += 1
            start = end
        }
    }

    /// Finds the dictionary run that starts at `i` and asks ICU for its boundaries.
    mutating func startDictionaryRun(at i: Int, splitter: WordSplitter) {
        var j = i
        let limit = WordSplitter.maxDictionaryRunBytes
        while j < n {
            let d = decodeUTF8(base, j, n)
            if d.length <= 0 { break }
            let e = props.entry(d.scalar)
            if e & Prop.dictionary != 0 {
                if j - i >= limit { break }
            } else if !WB.isIn(e & Prop.wbMask, WB.ignorable) {
                break
            }
            j += d.length
        }
        runStart = i
        runEnd = j
        runBreakCount = splitter.fetchDictionaryBreaks(base, i, j)
        runBreakIndex = 0
    }
}
