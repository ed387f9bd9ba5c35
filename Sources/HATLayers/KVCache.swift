// KVCache and LlamaBlock.step: cached inference for generation. The cache keeps the rotated keys
// and the values of the last `capacity` positions of one attention layer; `step` appends n ≥ 1
// new rows and runs the block on them in place, each row attending causally to the cached and
// new keys inside the window — the same numbers as `forward` over the whole sequence, computed
// by the same parts (SelfAttention.step uses CrossAttention's projections, rotation and core).
// Storage is 2·capacity rows used as a sliding buffer: new rows go after the kept ones, and
// when the end is reached the last capacity − 1 rows move to the front (amortised O(1) per
// row), so the keys a step sees are always one contiguous view for AttentionCore.
// Keys and values are held in float32, or in bfloat16 / IEEE half (KVCacheFormat, `--kv-cache`):
// half the bytes each decoded position reads, at the cost of rounding them once when they are
// written (new rows are projected in float32, rounded into the cache, and attention widens the
// cached rows exactly, chunk by chunk). The storage is an arena's zero pages, resident only once
// written: a session sized for 4,096 positions that has seen 20 holds 20 rows, not 2·4,096.
//
// Shapes: n new rows, C channels, G kv heads, D head size, K = G·D cache width.

import HATTensor

/// How a KVCache holds its keys and values.
public enum KVCacheFormat: String, Sendable, CaseIterable {
    case f32, bf16, f16

    /// Bytes per cached number.
    public var bytesPerValue: Int { self == .f32 ? 4 : 2 }
}

public final class KVCache {
    /// Positions kept: the window for sliding-window layers, the longest context otherwise.
    public let capacity: Int
    public let kvWidth: Int                           // K = G·D
    public let format: KVCacheFormat
    let storageRows: Int                              // 2·capacity
    let keys: AttentionOperand                        // [storageRows, K] after RoPE
    let values: AttentionOperand                      // [storageRows, K]
    private let memory: UnsafeMutableRawPointer       // keys then values, in `arena`
    private let arena: Arena
    /// Storage row of the oldest kept position.
    public private(set) var start = 0
    /// Positions kept (≤ capacity).
    public private(set) var count = 0
    /// Positions appended since creation or `reset` (stream index of the next row).
    public private(set) var total = 0

    public init(capacity: Int, kvWidth: Int, format: KVCacheFormat = .f32) {
        precondition(capacity >= 1 && kvWidth >= 1, "KVCache: capacity \(capacity) and width \(kvWidth) must be ≥ 1")
        self.capacity = capacity
        self.kvWidth = kvWidth
        self.format = format
        storageRows = 2 * capacity
        let count = storageRows * kvWidth             // numbers per matrix
        let floats = 2 * count * format.bytesPerValue / MemoryLayout<Float>.stride
        arena = Arena(name: "kv cache", blockFloats: floats)          // one block of exactly this size
        memory = UnsafeMutableRawPointer(arena.allocate(count: floats))
        switch format {
        case .f32:
            let floats = memory.assumingMemoryBound(to: Float.self)
            keys = .float(Tensor(data: floats, rows: storageRows, cols: kvWidth))
            values = .float(Tensor(data: floats + count, rows: storageRows, cols: kvWidth))
        case .bf16, .f16:
            let halves = memory.assumingMemoryBound(to: UInt16.self), half: HalfFormat = format == .bf16 ? .bf16 : .f16
            keys = .half(HalfMatrix(data: halves, rows: storageRows, cols: kvWidth, format: half))
            values = .half(HalfMatrix(data: halves + count, rows: storageRows, cols: kvWidth, format: half))
        }
    }

    /// Bytes the keys and values occupy.
    public var storageBytes: Int { 2 * storageRows * kvWidth * format.bytesPerValue }

    /// Forget every position (a new sequence).
    public func reset() {
        start = 0
        count = 0
        total = 0
    }

    /// Forgets the newest k positions (generation re-decodes bytes whose word changed). The
    /// positions before them must still be kept: size the cache for the window plus k.
    public func removeLast(_ k: Int) {
        precondition(k >= 0 && k <= count, "KVCache: remove \(k) of \(count) kept positions")
        count -= k
        total -= k
    }

    /// Forgets every kept position and continues at stream index `position`: rows appended
    /// next see no key before it (generation skips decoder rows whose keys nothing will read).
    public func restart(at position: Int) {
        precondition(position >= 0, "KVCache: restart at \(position)")
        start = 0
        count = 0
        total = position
    }

    /// Makes room for m ≤ capacity + 1 new rows after the kept ones; returns their first storage row.
    /// Only the last capacity − 1 kept rows are needed by the new ones, so older rows may be dropped.
    func prepareAppend(_ m: Int) -> Int {
        precondition(m >= 1 && m <= capacity + 1, "KVCache: append \(m) rows into capacity \(capacity)")
        if start + count + m > storageRows {
            let keep = min(count, capacity - 1)
            let from = start + count - keep
            // Regions may overlap: copyMemory is a memmove. Each matrix is storageRows · K numbers.
            let rowBytes = kvWidth * format.bytesPerValue, matrixBytes = storageRows * rowBytes
            for matrix in [memory, memory + matrixBytes] {
                matrix.copyMemory(from: matrix + from * rowBytes, byteCount: keep * rowBytes)
            }
            start = 0
            count = keep
        }
        return start + count
    }

    /// Records m rows appended by the last `prepareAppend`, dropping the oldest beyond capacity.
    func commitAppend(_ m: Int) {
        count += m
        total += m
        if count > capacity {
            start += count - capacity
            count = capacity
        }
    }
}

extension SelfAttention {
    /// out += self-attention of n ≤ min(maxRows, capacity + 1) new rows x [n, C] at `positions`
    /// [n], appending their keys and values to `cache`: row j sees the cached rows and the new
    /// rows up to itself, within the last `window` positions. The same projections, rotation and
    /// core as `forward`, with the keys and values written straight into the cache.
    func step(out: Tensor /*[n, C]*/, input x: Tensor /*[n, C]*/, positions: UnsafePointer<Int32>, cache: KVCache, window: Int) {
        let n = x.rows
        let base = cache.prepareAppend(n)
        let oldest = cache.total - cache.count            // stream index of the first kept row
        let q = attention.q.rows(0..<n)
        attention.projectQueries(x, into: q, positions: positions)
        switch (cache.keys, cache.values) {
        case (.float(let keys), .float(let values)):
            attention.projectKeyValues(x, keys: keys.rows(base..<(base + n)), values: values.rows(base..<(base + n)),
                                       positions: positions)
        case (.half(let keys), .half(let values)):
            // Projected in float32 into the layer's own k, v rows, then rounded into the cache.
            let k = attention.k.rows(0..<n), v = attention.v.rows(0..<n)
            attention.projectKeyValues(x, keys: k, values: v, positions: positions)
            keys.rows(base..<(base + n)).store(k)
            values.rows(base..<(base + n)).store(v)
        default:
            preconditionFailure("KVCache: keys and values in different formats")
        }
        // Keys in view: storage rows start ..< base + n, i.e. stream indices oldest ..< total + n.
        for j in 0..<n {
            let t = cache.total + j                        // stream index of new row j
            stepRanges.lo[j] = Int32(max(t - window + 1, oldest) - oldest)
            stepRanges.hi[j] = Int32(t + 1 - oldest)
        }
        attention.attendAndProject(out: out, q: q, k: cache.keys.rows(cache.start..<(base + n)),
                                   v: cache.values.rows(cache.start..<(base + n)), ranges: stepRanges, accumulate: true)
        cache.commitAppend(n)
    }
}

extension LlamaBlock {
    /// Runs the block in place on n new rows x [n, C] at `positions` [n], appending their keys
    /// and values to `cache` (which must have width G·D and, for a windowed block, capacity ≥
    /// window). Each row sees the cached rows and the new rows up to itself, within the window
    /// (or within `cache.capacity` positions for a block without window). Uses the block's
    /// activation buffers: do not call between a training forward and its backward. A bf16/f16
    /// cache needs a block built with `needsBackward: false` (its attention widens cached rows
    /// into scratch only inference blocks have).
    public func step(_ x: Tensor /*[n, C]*/, positions: UnsafePointer<Int32>, cache: KVCache) {
        let cfg = config
        precondition(x.cols == cfg.hidden && cache.kvWidth == cfg.kvHeads * cfg.headDim,
                     "\(prefix).step: x \(x.shapeDescription), cache width \(cache.kvWidth), block C \(cfg.hidden) G·D \(cfg.kvHeads * cfg.headDim)")
        precondition(cfg.window.map { cache.capacity >= $0 } ?? true,
                     "\(prefix).step: cache capacity \(cache.capacity) is smaller than the window \(cfg.window!)")
        let window = min(cfg.window ?? cache.capacity, cache.capacity)
        let chunk = min(maxRows, cache.capacity)
        var s = 0
        while s < x.rows {
            let m = min(chunk, x.rows - s)
            let xs = x.rows(s..<(s + m))
            let n1 = normed1.rows(0..<m), n2 = normed2.rows(0..<m)
            inputNorm.forward(out: n1, input: xs)
            attention.step(out: xs, input: n1, positions: positions + s, cache: cache, window: window)   // x = x0 + attn
            postAttentionNorm.forward(out: n2, input: xs)
            mlp.forward(out: xs, input: n2, accumulate: true)                                           // x = x1 + mlp
            s += m
        }
    }
}
