// BPE merging of one pre-token, as HF tokenizers' BPE model does it: start from one symbol per
// byte (bytes without a token are dropped, as HF does without an unk token), then repeatedly merge
// the adjacent pair with the lowest merge rank, leftmost first, until no pair has a rank. Short
// words scan their pairs (few symbols, no allocation); longer ones use a linked list and a binary
// heap of (rank, position), so a 100 KB word costs O(n log n), not O(n²).

/// (left id, right id) → (rank, merged id), open addressing on a power-of-two table.
struct MergeTable: Sendable {
    /// What `lookup` returns for a pair without a merge.
    static let none = UInt64.max
    private static let emptyKey = UInt64.max
    private var keys: [UInt64]
    /// rank << 32 | merged id: smaller values are earlier merges.
    private var values: [UInt64]
    private let shift: UInt64

    init(capacity count: Int) {
        var size = 16
        while size < count * 2 { size <<= 1 }
        keys = [UInt64](repeating: Self.emptyKey, count: size)
        values = [UInt64](repeating: Self.none, count: size)
        shift = UInt64(64 - size.trailingZeroBitCount)
    }

    @inline(__always)
    private func slot(_ key: UInt64) -> Int { Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> shift) }

    /// A later merge of the same pair replaces the earlier (HF collects merges into a map).
    mutating func insert(left: UInt32, right: UInt32, rank: UInt32, merged: UInt32) {
        let key = UInt64(left) << 32 | UInt64(right)
        let mask = keys.count - 1
        var s = slot(key)
        while keys[s] != Self.emptyKey && keys[s] != key { s = (s + 1) & mask }
        keys[s] = key
        values[s] = UInt64(rank) << 32 | UInt64(merged)
    }

    /// rank << 32 | merged id, or `none`.
    @inline(__always)
    func lookup(_ left: UInt32, _ right: UInt32) -> UInt64 {
        let key = UInt64(left) << 32 | UInt64(right)
        let mask = keys.count - 1
        var s = slot(key)
        while true {
            let k = keys[s]
            if k == key { return values[s] }
            if k == Self.emptyKey { return Self.none }
            s = (s + 1) & mask
        }
    }
}

/// Scratch arrays reused for every word of one encode call.
struct MergeWorkspace {
    var symbols: [UInt32] = []
    var pairs: [UInt64] = []
    var next: [Int32] = []
    var previous: [Int32] = []
    var heap: [UInt64] = []
}

extension MergeTable {
    /// Words with more symbols than this use the heap.
    static let scanLimit = 48

    /// Merges `workspace.symbols[0..<count]` in place; returns the number of symbols left, which
    /// are then `workspace.symbols[0..<result]`.
    func merge(_ workspace: inout MergeWorkspace, count: Int) -> Int {
        count > Self.scanLimit ? mergeWithHeap(&workspace, count: count) : mergeByScanning(&workspace, count: count)
    }

    private func mergeByScanning(_ w: inout MergeWorkspace, count: Int) -> Int {
        var n = count
        guard n > 1 else { return n }
        if w.pairs.count < n { w.pairs = [UInt64](repeating: Self.none, count: max(n, 64)) }
        for k in 0..<(n - 1) { w.pairs[k] = lookup(w.symbols[k], w.symbols[k + 1]) }
        while n > 1 {
            var best = Self.none
            var at = -1
            for k in 0..<(n - 1) where w.pairs[k] < best {
                best = w.pairs[k]
                at = k
            }
            if at < 0 { break }
            w.symbols[at] = UInt32(truncatingIfNeeded: best)
            var k = at + 1
            while k < n - 1 {
                w.symbols[k] = w.symbols[k + 1]
                w.pairs[k] = w.pairs[k + 1]
                k += 1
            }
            n -= 1
            if at > 0 { w.pairs[at - 1] = lookup(w.symbols[at - 1], w.symbols[at]) }
            if at < n - 1 { w.pairs[at] = lookup(w.symbols[at], w.symbols[at + 1]) }
        }
        return n
    }

    private func mergeWithHeap(_ w: inout MergeWorkspace, count n: Int) -> Int {
        let removed = UInt32.max
        if w.next.count < n {
            w.next = [Int32](repeating: -1, count: n)
            w.previous = [Int32](repeating: -1, count: n)
        }
        for k in 0..<n {
            w.next[k] = k + 1 < n ? Int32(k + 1) : -1
            w.previous[k] = Int32(k - 1)
        }
        var heap = BinaryHeap(storage: [])
        swap(&heap.storage, &w.heap)  // reuse the workspace's array without copying it
        heap.removeAll()
        for k in 0..<(n - 1) {
            let v = lookup(w.symbols[k], w.symbols[k + 1])
            if v != Self.none { heap.push(v & 0xFFFF_FFFF_0000_0000 | UInt64(k)) }
        }
        while let entry = heap.pop() {
            let rank = entry >> 32
            let at = Int(entry & 0xFFFF_FFFF)
            guard w.symbols[at] != removed else { continue }
            let right = Int(w.next[at])
            guard right >= 0 else { continue }
            let v = lookup(w.symbols[at], w.symbols[right])
            guard v != Self.none, v >> 32 == rank else { continue }  // the pair here changed since
            w.symbols[at] = UInt32(truncatingIfNeeded: v)
            w.symbols[right] = removed
            let after = w.next[right]
            w.next[at] = after
            if after >= 0 { w.previous[Int(after)] = Int32(at) }
            let before = Int(w.previous[at])
            if before >= 0 {
                let p = lookup(w.symbols[before], w.symbols[at])
                if p != Self.none { heap.push(p & 0xFFFF_FFFF_0000_0000 | UInt64(before)) }
            }
            if after >= 0 {
                let p = lookup(w.symbols[at], w.symbols[Int(after)])
                if p != Self.none { heap.push(p & 0xFFFF_FFFF_0000_0000 | UInt64(at)) }
            }
        }
        swap(&heap.storage, &w.heap)
        var out = 0
        var k = 0
        while k >= 0 {
            w.symbols[out] = w.symbols[k]
            out += 1
            k = Int(w.next[k])
        }
        return out
    }
}

/// A min-heap of UInt64.
struct BinaryHeap {
    var storage: [UInt64]

    mutating func removeAll() { storage.removeAll(keepingCapacity: true) }

    mutating func push(_ value: UInt64) {
        storage.append(value)
        var child = storage.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            if storage[parent] <= storage[child] { break }
            storage.swapAt(parent, child)
            child = parent
        }
    }

    mutating func pop() -> UInt64? {
        guard let last = storage.popLast() else { return nil }
        guard !storage.isEmpty else { return last }
        let top = storage[0]
        storage[0] = last
        var parent = 0
        let n = storage.count
        while true {
            let left = 2 * parent + 1
            if left >= n { break }
            let right = left + 1
            let smaller = right < n && storage[right] < storage[left] ? right : left
            if storage[parent] <= storage[smaller] { break }
            storage.swapAt(parent, smaller)
            parent = smaller
        }
        return top
    }
}
