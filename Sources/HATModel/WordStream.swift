// WordStream: the words of a sequence of documents, stored as one byte array and the end
// offset of every word. Each document is preceded by the end-of-sequence word (one byte,
// 192), so documents are separated and every document starts in the same state — the
// same convention generation and evaluation use. Rows for training are consecutive runs
// of whole words (ARCHITECTURE.md §7).

import HATText

public struct WordStream: Sendable {
    public private(set) var bytes: [UInt8] = []
    /// ends[i] is one past the last byte of word i.
    public private(set) var ends: [Int] = []
    /// Index of the end-of-sequence word that opens each document.
    public private(set) var documentFirstWord: [Int] = []

    public init() {}

    /// A stream made of given words: `ends[i]` is one past the last byte of word i in `bytes`.
    public init(bytes: [UInt8], ends: [Int]) {
        precondition(ends.last ?? 0 == bytes.count && zip(ends, ends.dropFirst()).allSatisfy { $0 < $1 },
                     "word ends must increase and end at the last byte")
        self.bytes = bytes
        self.ends = ends
        documentFirstWord = bytes.isEmpty ? [] : [0]
    }

    public var wordCount: Int { ends.count }
    public var byteCount: Int { bytes.count }
    public var documentCount: Int { documentFirstWord.count }

    @inline(__always) public func wordStart(_ i: Int) -> Int { i == 0 ? 0 : ends[i - 1] }
    @inline(__always) public func wordEnd(_ i: Int) -> Int { ends[i] }

    /// Appends the end-of-sequence word, then the words of `text` as `splitter` cuts them.
    public mutating func appendDocument(_ text: [UInt8], splitter: WordSplitter, endOfSequence: UInt8) {
        documentFirstWord.append(ends.count)
        bytes.append(endOfSequence)
        ends.append(bytes.count)
        let base = bytes.count
        bytes.append(contentsOf: text)
        var wordEnds: [Int] = []
        text.withUnsafeBufferPointer { splitter.split($0, into: &wordEnds) }
        // (No reserveCapacity here: asking for exactly the new size on every document defeats the
        // array's geometric growth and makes building a stream quadratic in its documents.)
        for end in wordEnds { ends.append(base + end) }
    }

    /// Cuts words `range` into rows of at most `wordsPerRow` words and `maxRowBytes` bytes,
    /// in order. A word longer than `maxRowBytes` cannot occur when maxRowBytes ≥ the word cap.
    public func rows(in range: Range<Int>? = nil, wordsPerRow: Int, maxRowBytes: Int) -> [Range<Int>] {
        precondition(wordsPerRow > 0 && maxRowBytes > 0)
        let all = range ?? 0..<wordCount
        var rows: [Range<Int>] = []
        var start = all.lowerBound
        while start < all.upperBound {
            var end = start
            let firstByte = wordStart(start)
            while end < all.upperBound && end - start < wordsPerRow && wordEnd(end) - firstByte <= maxRowBytes {
                end += 1
            }
            if end == start { end = start + 1 }  // a single word over the byte budget still forms a row
            rows.append(start..<end)
            start = end
        }
        return rows
    }

    /// Bytes of the words `range`.
    public func byteCount(of range: Range<Int>) -> Int {
        range.isEmpty ? 0 : wordEnd(range.upperBound - 1) - wordStart(range.lowerBound)
    }
}
