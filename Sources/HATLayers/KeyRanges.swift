// KeyRanges: for each query i, the keys lo[i] ..< hi[i] it may attend to (indices into the key
// rows handed to the attention; an empty range gives a zero output). Every attention in HAT is
// described this way: causal self-attention with a sliding window and segment starts, pooling
// (a word's query over that word's bytes), and the decoder's byte → predictive-vector lookup.

import HATTensor

public struct KeyRanges {
    public var lo: UnsafeMutablePointer<Int32>   // [count]
    public var hi: UnsafeMutablePointer<Int32>   // [count]
    /// Number of queries the buffers hold (a capacity: layers take the actual count from their inputs).
    public var count: Int

    public init(lo: UnsafeMutablePointer<Int32>, hi: UnsafeMutablePointer<Int32>, count: Int) {
        self.lo = lo
        self.hi = hi
        self.count = count
    }

    /// Buffers for `capacity` queries from the heap, zero-filled (empty ranges); release with `deallocate()`.
    public static func allocate(capacity: Int) -> KeyRanges {
        let lo = UnsafeMutablePointer<Int32>.allocate(capacity: max(capacity, 1))
        let hi = UnsafeMutablePointer<Int32>.allocate(capacity: max(capacity, 1))
        lo.initialize(repeating: 0, count: max(capacity, 1))
        hi.initialize(repeating: 0, count: max(capacity, 1))
        return KeyRanges(lo: lo, hi: hi, count: capacity)
    }

    /// Buffers for `capacity` queries carved from an arena (freed with it).
    public init(capacity: Int, arena: Arena) {
        self.init(lo: arena.allocateInt32(count: capacity), hi: arena.allocateInt32(count: capacity), count: capacity)
    }

    /// Frees buffers made by `allocate(capacity:)`.
    public func deallocate() {
        lo.deallocate()
        hi.deallocate()
    }

    /// Causal self-attention over `count` rows: query i sees keys max(i − window + 1,
    /// segmentStart[i]) … i. `segmentStart[i]` is the index of the first row of i's segment
    /// (a batch row, a document); nil means one segment starting at 0. Fills, allocates nothing.
    public static func fillCausal(into ranges: KeyRanges, count: Int, window: Int?, segmentStart: UnsafePointer<Int32>?) {
        precondition(count <= ranges.count, "KeyRanges: \(count) queries into buffers for \(ranges.count)")
        precondition(window.map { $0 >= 1 } ?? true, "sliding window must be ≥ 1, got \(window!)")
        let w = window ?? Int.max
        for i in 0..<count {
            var lo = w > i ? 0 : i - w + 1
            if let segmentStart { lo = Swift.max(lo, Int(segmentStart[i])) }
            ranges.lo[i] = Int32(lo)
            ranges.hi[i] = Int32(i + 1)
        }
    }

    /// Same, as a method: fills the first `count` entries and sets `self.count = count`.
    public mutating func fillCausal(count: Int, window: Int?, segmentStart: UnsafePointer<Int32>? = nil) {
        KeyRanges.fillCausal(into: self, count: count, window: window, segmentStart: segmentStart)
        self.count = count
    }

    /// Σ over the first `n` queries of the number of keys each sees (pairs that attention computes).
    public func pairCount(queries n: Int) -> Int {
        var total = 0
        for i in 0..<n where hi[i] > lo[i] { total += Int(hi[i] - lo[i]) }
        return total
    }
}
