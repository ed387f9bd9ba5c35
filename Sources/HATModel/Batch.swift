// Batch: B rows of whole words, flattened into one byte stream of N bytes and one word stream
// of W words (no padding). Rows are attention segments: no query looks at another row.
// Byte positions count from 0 in each row (encoder and decoder RoPE); word positions too
// (backbone RoPE). The target of byte t is byte t+1 of the same row; a row's last byte has none.
//
// Shapes: N bytes in the batch, W words in the batch, B rows.

import HATLayers
import HATTensor

public final class Batch {
    /// Capacity: most bytes and words any batch filled into this object may have.
    public let maxBytes: Int
    public let maxWords: Int

    public private(set) var byteCount = 0   // N
    public private(set) var wordCount = 0   // W
    public private(set) var rowCount = 0    // B
    /// Bytes that have a target (N minus one per row).
    public private(set) var targetCount = 0

    public let bytes: UnsafeMutablePointer<Int32>          // [N] input byte values
    public let targets: UnsafeMutablePointer<Int32>        // [N] next byte in the row (0 where none)
    public let targetMask: UnsafeMutablePointer<Float>     // [N] 1 where a target exists
    public let bytePositions: UnsafeMutablePointer<Int32>  // [N] position within the row
    public let byteRowStart: UnsafeMutablePointer<Int32>   // [N] index of the row's first byte
    public let wordOfByte: UnsafeMutablePointer<Int32>     // [N] index of the byte's word
    public let wordStart: UnsafeMutablePointer<Int32>      // [W] index of the word's first byte
    public let wordEnd: UnsafeMutablePointer<Int32>        // [W] one past the word's last byte
    public let wordPositions: UnsafeMutablePointer<Int32>  // [W] position within the row
    public let wordRowStart: UnsafeMutablePointer<Int32>   // [W] index of the row's first word

    /// Which keys each query may see, for every attention in the model.
    public let encoderRanges: KeyRanges        // [N] causal over bytes, encoder window, within the row
    public let decoderRanges: KeyRanges        // [N] causal over bytes, decoder window, within the row
    public let backboneRanges: KeyRanges       // [W] causal over words, backbone window, within the row
    public let poolingRanges: KeyRanges        // [W] word w → its own bytes
    public let decoderCrossRanges: KeyRanges   // [N] byte t → its word's predictive vector

    private let encoderWindow: Int?
    private let decoderWindow: Int?
    private let backboneWindow: Int?

    public init(maxBytes: Int, maxWords: Int, config: HATConfig) {
        precondition(maxBytes > 0 && maxWords > 0)
        self.maxBytes = maxBytes
        self.maxWords = maxWords
        encoderWindow = config.encoderConfig.slidingWindow
        decoderWindow = config.decoderConfig.slidingWindow
        backboneWindow = config.backboneConfig.slidingWindow
        bytes = .allocate(capacity: maxBytes)
        targets = .allocate(capacity: maxBytes)
        targetMask = .allocate(capacity: maxBytes)
        bytePositions = .allocate(capacity: maxBytes)
        byteRowStart = .allocate(capacity: maxBytes)
        wordOfByte = .allocate(capacity: maxBytes)
        wordStart = .allocate(capacity: maxWords)
        wordEnd = .allocate(capacity: maxWords)
        wordPositions = .allocate(capacity: maxWords)
        wordRowStart = .allocate(capacity: maxWords)
        encoderRanges = KeyRanges.allocate(capacity: maxBytes)
        decoderRanges = KeyRanges.allocate(capacity: maxBytes)
        backboneRanges = KeyRanges.allocate(capacity: maxWords)
        poolingRanges = KeyRanges.allocate(capacity: maxWords)
        decoderCrossRanges = KeyRanges.allocate(capacity: maxBytes)
    }

    /// Bytes `init` allocates for these capacities (Int32 arrays and key ranges; checked, nil on overflow).
    public static func allocatedBytes(maxBytes: Int, maxWords: Int) -> Int? {
        // 6 [N] arrays of 4 bytes (5 Int32, the float mask), 4 [W] Int32 arrays, 3 [N] and 2 [W]
        // key ranges of two Int32 arrays each (at least one element each).
        checkedProduct([4, checkedSum([checkedMul(12, max(maxBytes, 1)), checkedMul(8, max(maxWords, 1))])])
    }

    deinit {
        for p in [bytes, targets, bytePositions, byteRowStart, wordOfByte, wordStart, wordEnd, wordPositions, wordRowStart] {
            p.deallocate()
        }
        targetMask.deallocate()
        for r in [encoderRanges, decoderRanges, backboneRanges, poolingRanges, decoderCrossRanges] { r.deallocate() }
    }

    /// Empties the batch; rows are then added with `appendRow`, and `finish` derives the ranges.
    public func reset() {
        byteCount = 0
        wordCount = 0
        rowCount = 0
        targetCount = 0
    }

    /// Whether a row of `words` words and `byteTotal` bytes still fits.
    public func canAppend(words: Int, bytes byteTotal: Int) -> Bool {
        wordCount + words <= maxWords && byteCount + byteTotal <= maxBytes
    }

    /// Appends one row: the words of `stream` with indices `wordRange` (the row starts a new
    /// attention segment). Precondition: `canAppend` for the row's sizes.
    public func appendRow(_ stream: WordStream, words wordRange: Range<Int>) {
        let firstByte = stream.wordStart(wordRange.lowerBound)
        let lastByte = stream.wordEnd(wordRange.upperBound - 1)
        precondition(canAppend(words: wordRange.count, bytes: lastByte - firstByte), "Batch capacity exceeded")
        let rowFirstByte = byteCount, rowFirstWord = wordCount
        stream.bytes.withUnsafeBufferPointer { source in
            for w in wordRange {
                let start = stream.wordStart(w), end = stream.wordEnd(w)
                let word = wordCount
                wordStart[word] = Int32(byteCount)
                wordPositions[word] = Int32(word - rowFirstWord)
                wordRowStart[word] = Int32(rowFirstWord)
                for i in start..<end {
                    let t = byteCount
                    bytes[t] = Int32(source[i])
                    bytePositions[t] = Int32(t - rowFirstByte)
                    byteRowStart[t] = Int32(rowFirstByte)
                    wordOfByte[t] = Int32(word)
                    byteCount += 1
                }
                wordEnd[word] = Int32(byteCount)
                wordCount += 1
            }
        }
        // Targets: the next byte of the same row.
        for t in rowFirstByte..<byteCount {
            if t + 1 < byteCount {
                targets[t] = bytes[t + 1]
                targetMask[t] = 1
                targetCount += 1
            } else {
                targets[t] = 0
                targetMask[t] = 0
            }
        }
        rowCount += 1
    }

    /// Derives every attention's key ranges from the rows appended so far.
    public func finish() {
        KeyRanges.fillCausal(into: encoderRanges, count: byteCount, window: encoderWindow, segmentStart: byteRowStart)
        KeyRanges.fillCausal(into: decoderRanges, count: byteCount, window: decoderWindow, segmentStart: byteRowStart)
        KeyRanges.fillCausal(into: backboneRanges, count: wordCount, window: backboneWindow, segmentStart: wordRowStart)
        for w in 0..<wordCount {
            poolingRanges.lo[w] = wordStart[w]
            poolingRanges.hi[w] = wordEnd[w]
        }
        for t in 0..<byteCount {
            decoderCrossRanges.lo[t] = wordOfByte[t]
            decoderCrossRanges.hi[t] = wordOfByte[t] + 1
        }
    }

    /// True when word w is the first word of its row (its predictive vector is the learned one).
    @inline(__always)
    public func isRowStart(word w: Int) -> Bool { wordRowStart[w] == Int32(w) }
}
