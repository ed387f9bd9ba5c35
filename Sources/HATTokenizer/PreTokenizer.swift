// PreTokenizer: the split of text into pre-tokens before BPE, as hand-written scanners over UTF-8
// that give exactly the matches of HF tokenizers' regexes (Oniguruma: leftmost alternative first,
// backtracking, the \s+(?!\S) lookahead) with ScalarClass's character classes. Supported: gpt2,
// smollm (digits alone, then gpt2) and llama3; each pattern's alternatives cover every character.

/// The supported splits:
/// - gpt2: GGUF "gpt2"; tokenizer.json ByteLevel with use_regex: `gpt2Pattern`.
/// - smollm: GGUF "smollm"; tokenizer.json Digits(individual_digits) then ByteLevel: every numeric
///   character alone first, then `gpt2Pattern` on the text between (llama.cpp's "smollm", the
///   Hub's SmolLM2 tokenizer.json).
/// - llama3: GGUF "llama-bpe"; tokenizer.json Split(`llama3Pattern`, Isolated) then ByteLevel
///   without regex: three-digit groups, case-insensitive contractions.
public enum PreTokenizer: String, Sendable, CaseIterable {
    case gpt2
    case smollm
    case llama3

    /// The regex of HF's ByteLevel pre-tokenizer (use_regex: true).
    public static let gpt2Pattern = #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"#
    /// Llama 3's split regex (tokenizer.json Split pattern, llama.cpp "llama-bpe").
    public static let llama3Pattern =
        #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#

    /// GGUF `tokenizer.ggml.pre` values read, in the order messages list them.
    public static let ggufNames: [(name: String, preTokenizer: PreTokenizer)] = [
        ("gpt2", .gpt2), ("smollm", .smollm), ("llama-bpe", .llama3),
    ]

    public init?(ggufName: String) {
        guard let match = Self.ggufNames.first(where: { $0.name == ggufName }) else { return nil }
        self = match.preTokenizer
    }

    public var ggufName: String { Self.ggufNames.first { $0.preTokenizer == self }!.name }

    /// The byte ranges of the pre-tokens of `text`, in order (they cover it).
    public func split(_ text: String) -> [Range<Int>] {
        var text = text
        return text.withUTF8 { bytes in
            var pieces: [Range<Int>] = []
            var scanner = PreTokenScanner(self, bytes, 0..<bytes.count)
            var start = 0
            while let end = scanner.next() {
                pieces.append(start..<end)
                start = end
            }
            return pieces
        }
    }
}

/// Walks the pre-tokens of `bytes[range]` (valid UTF-8); `next()` gives the end of the next one.
struct PreTokenScanner {
    let kind: PreTokenizer
    let bytes: UnsafeBufferPointer<UInt8>
    let end: Int
    var position: Int
    /// smollm: the end of the current run without numeric characters.
    var runEnd: Int

    init(_ kind: PreTokenizer, _ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) {
        self.kind = kind
        self.bytes = bytes
        self.end = range.upperBound
        self.position = range.lowerBound
        self.runEnd = range.lowerBound
    }

    mutating func next() -> Int? {
        let i = position
        guard i < end else { return nil }
        var pieceEnd: Int
        switch kind {
        case .gpt2:
            pieceEnd = gpt2PieceEnd(i, end)
        case .llama3:
            pieceEnd = llama3PieceEnd(i, end)
        case .smollm:
            if i >= runEnd {
                let (flags, length) = classify(i, end)
                if flags & ScalarClass.numeric != 0 {
                    position = i + length
                    return position
                }
                var j = i + length
                while j < end {
                    let (f, n) = classify(j, end)
                    if f & ScalarClass.numeric != 0 { break }
                    j += n
                }
                runEnd = j
            }
            pieceEnd = gpt2PieceEnd(i, runEnd)
        }
        position = max(pieceEnd, i + 1)  // always progress, whatever the bytes
        return position
    }

    // MARK: - Characters

    /// The classes and UTF-8 length of the character starting at byte `i` (before `limit`).
    @inline(__always)
    func classify(_ i: Int, _ limit: Int) -> (flags: UInt8, length: Int) {
        let b0 = bytes[i]
        if b0 < 0x80 { return (ScalarClass.table[Int(b0)], 1) }
        let length = b0 >= 0xF0 ? 4 : b0 >= 0xE0 ? 3 : b0 >= 0xC0 ? 2 : 1
        guard length > 1, i + length <= limit else { return (0, 1) }
        var value = UInt32(b0) & (0x7F >> length)
        for k in 1..<length { value = value << 6 | UInt32(bytes[i + k] & 0x3F) }
        return (ScalarClass.of(value), length)
    }

    /// End of the run of characters that have `flag`, from `j`.
    @inline(__always)
    func run(of flag: UInt8, from j: Int, _ limit: Int) -> Int {
        var j = j
        while j < limit {
            let (f, n) = classify(j, limit)
            if f & flag == 0 { break }
            j += n
        }
        return j
    }

    /// End of the run of characters that are neither letter, number nor whitespace, from `j`.
    @inline(__always)
    func runOfOthers(from j: Int, _ limit: Int) -> Int {
        let classes = ScalarClass.letter | ScalarClass.number | ScalarClass.whitespace
        var j = j
        while j < limit {
            let (f, n) = classify(j, limit)
            if f & classes != 0 { break }
            j += n
        }
        return j
    }

    @inline(__always)
    func isLineBreak(_ b: UInt8) -> Bool { b == 0x0A || b == 0x0D }

    // MARK: - GPT-2: 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+

    func gpt2PieceEnd(_ i: Int, _ limit: Int) -> Int {
        let c = bytes[i]
        if c == UInt8(ascii: "'"), i + 1 < limit {
            switch bytes[i + 1] {
            case UInt8(ascii: "s"), UInt8(ascii: "t"), UInt8(ascii: "m"), UInt8(ascii: "d"):
                return i + 2
            case UInt8(ascii: "r"), UInt8(ascii: "v"):
                if i + 2 < limit, bytes[i + 2] == UInt8(ascii: "e") { return i + 3 }
            case UInt8(ascii: "l"):
                if i + 2 < limit, bytes[i + 2] == UInt8(ascii: "l") { return i + 3 }
            default:
                break
            }
        }
        if c == 0x20, i + 1 < limit {  // " ?X+" with the space
            let (next, _) = classify(i + 1, limit)
            if next & ScalarClass.letter != 0 { return run(of: ScalarClass.letter, from: i + 1, limit) }
            if next & ScalarClass.number != 0 { return run(of: ScalarClass.number, from: i + 1, limit) }
            if next & ScalarClass.whitespace == 0 { return runOfOthers(from: i + 1, limit) }
        }
        let (flags, length) = classify(i, limit)
        if flags & ScalarClass.letter != 0 { return run(of: ScalarClass.letter, from: i + length, limit) }
        if flags & ScalarClass.number != 0 { return run(of: ScalarClass.number, from: i + length, limit) }
        if flags & ScalarClass.whitespace == 0 { return runOfOthers(from: i + length, limit) }
        return whitespaceEnd(i, limit, stopAfterLineBreak: false)
    }

    /// `\s+(?!\S)|\s+` at whitespace `i`: a run reaching the end is one piece; a longer run before
    /// other text leaves its last character for the next piece; a single character stands alone.
    /// With `stopAfterLineBreak` (Llama 3's `\s*[\r\n]+` before them) a run holding CR or LF
    /// ends after its last CR/LF.
    @inline(__always)
    func whitespaceEnd(_ i: Int, _ limit: Int, stopAfterLineBreak: Bool) -> Int {
        var j = i
        var lastStart = i
        var afterLastLineBreak = -1
        while j < limit {
            let (f, n) = classify(j, limit)
            if f & ScalarClass.whitespace == 0 { break }
            if isLineBreak(bytes[j]) { afterLastLineBreak = j + 1 }
            lastStart = j
            j += n
        }
        if stopAfterLineBreak && afterLastLineBreak > 0 { return afterLastLineBreak }
        if j == limit || lastStart == i { return j }
        return lastStart
    }

    // MARK: - Llama 3

    /// (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
    func llama3PieceEnd(_ i: Int, _ limit: Int) -> Int {
        let c = bytes[i]
        if c == UInt8(ascii: "'"), i + 1 < limit {
            // Case-insensitive as Oniguruma folds: S, T, R, E, V, M, L, D, and U+017F (ſ, C5 BF) for s.
            let d = bytes[i + 1] | 0x20
            switch d {
            case UInt8(ascii: "s"), UInt8(ascii: "t"), UInt8(ascii: "m"), UInt8(ascii: "d"):
                return i + 2
            case UInt8(ascii: "r"), UInt8(ascii: "v"):
                if i + 2 < limit, bytes[i + 2] | 0x20 == UInt8(ascii: "e") { return i + 3 }
            case UInt8(ascii: "l"):
                if i + 2 < limit, bytes[i + 2] | 0x20 == UInt8(ascii: "l") { return i + 3 }
            default:
                if bytes[i + 1] == 0xC5, i + 2 < limit, bytes[i + 2] == 0xBF { return i + 3 }
            }
        }
        let (flags, length) = classify(i, limit)
        if flags & ScalarClass.letter != 0 { return run(of: ScalarClass.letter, from: i + length, limit) }
        if flags & ScalarClass.number == 0, !isLineBreak(c), i + length < limit {
            let (next, nextLength) = classify(i + length, limit)
            if next & ScalarClass.letter != 0 { return run(of: ScalarClass.letter, from: i + length + nextLength, limit) }
        }
        if flags & ScalarClass.number != 0 {
            var j = i + length
            var digits = 1
            while digits < 3, j < limit {
                let (f, n) = classify(j, limit)
                if f & ScalarClass.number == 0 { break }
                j += n
                digits += 1
            }
            return j
        }
        let others = ScalarClass.letter | ScalarClass.number | ScalarClass.whitespace
        var othersEnd = -1
        if c == 0x20, i + 1 < limit, classify(i + 1, limit).flags & others == 0 {
            othersEnd = runOfOthers(from: i + 1, limit)
        } else if flags & ScalarClass.whitespace == 0 {
            othersEnd = runOfOthers(from: i + length, limit)
        }
        if othersEnd >= 0 {
            while othersEnd < limit, isLineBreak(bytes[othersEnd]) { othersEnd += 1 }
            return othersEnd
        }
        return whitespaceEnd(i, limit, stopAfterLineBreak: true)
    }
}
