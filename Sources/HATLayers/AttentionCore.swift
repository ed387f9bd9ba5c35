// AttentionCore: O = softmax(Q Kᵀ / √D + mask) V for grouped-query heads, where query i may see
// only keys lo[i] ..< hi[i] (KeyRanges). Blocked and flash-style: a block of Bq queries of one
// head is multiplied with gemm against the union of its key ranges in chunks of at most Kc keys,
// masked per row, softmaxed online (running max and sum), and multiplied with V by gemm. Forward
// saves only the log-sum-exp per query and head; backward recomputes the probabilities:
//   P = exp(S − lse),  dV += Pᵀ dO,  dP = dO Vᵀ,  dS = P ⊙ (dP − rowsum(dO ⊙ O)),
//   dQ = dS K / √D,  dK += dSᵀ Q / √D.
// Forward deals work items (head, query block) round-robin to the context's workers; each item
// writes its own rows and columns of O. Backward deals whole heads: a head runs its query blocks
// in order, so its contributions to dK and dV add up in one fixed order. With grouped-query
// attention the first head of a group writes the group's dK, dV and the others write their own
// scratch columns, added after it in head order — the same bits for any thread count.
// Keys and values may also be 16-bit rows (a bf16/f16 KV cache, inference only): a block of at
// most 4 queries (a decoding step) reads them in place, widening each number in a register
// (HalfMatrix.scores/weightedSum: float32 sums in a fixed order); a larger block widens each chunk
// exactly into the worker's scratch and runs the same gemms as float32 — the same bits as the
// float32 forward over the widened numbers. One query on a core built for inference (a decoding
// step) takes the heads together over its keys and values, 16-bit or float32, with the same
// kernels (a float32 cache no longer goes through gemm for one row, which packs before it
// multiplies); a core built for training always runs the blocked loop.
//
// Shapes: Nq queries, Nk keys, H heads, G kv heads (head h uses kv head h / (H/G)), D head size,
// Bq query block, Kc key chunk, P workers (the context's threads).

#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif
import HATTensor

/// Keys or values of AttentionCore.forward: float32 rows, or 16-bit rows (a half-precision KV
/// cache) that a decoding step reads in place and a larger block widens chunk by chunk.
public enum AttentionOperand {
    case float(Tensor)
    case half(HalfMatrix)

    public var rows: Int {
        switch self {
        case .float(let t): t.rows
        case .half(let h): h.rows
        }
    }
    public var cols: Int {
        switch self {
        case .float(let t): t.cols
        case .half(let h): h.cols
        }
    }
    public var shapeDescription: String {
        switch self {
        case .float(let t): t.shapeDescription
        case .half(let h): h.shapeDescription
        }
    }

    /// The view of rows `range` (no copy).
    public func rows(_ range: Range<Int>) -> AttentionOperand {
        switch self {
        case .float(let t): .float(t.rows(range))
        case .half(let h): .half(h.rows(range))
        }
    }

    /// Query blocks of at most this many rows (decoding steps) read 16-bit rows in place; larger
    /// ones widen a chunk once into scratch and reuse it for every row through gemm.
    static let directRows = 4

    /// Rows `rows`, columns `cols` as float32: a view of float rows, or 16-bit rows widened into `scratch`.
    func floats(rows: Range<Int>, columns cols: Range<Int>, scratch: Tensor) -> Tensor {
        switch self {
        case .float(let t):
            return t.rows(rows).columns(cols)
        case .half(let h):
            let target = scratch.rows(0..<rows.count).columns(0..<cols.count)
            h.rows(rows).columns(cols).widen(into: target)
            return target
        }
    }

    /// s = scale · queries · (rows `rows`, columns `cols` of these keys)ᵀ.
    func scores(_ queries: Tensor, rows: Range<Int>, columns cols: Range<Int>, scale: Float, into s: Tensor, scratch: Tensor) {
        if case .half(let h) = self, queries.rows <= Self.directRows {
            let keys = h.rows(rows).columns(cols)
            for r in 0..<queries.rows { keys.scores(query: queries.row(r), scale: scale, into: s.row(r)) }
            return
        }
        gemm(queries, floats(rows: rows, columns: cols, scratch: scratch), transposeB: true, into: s, alpha: scale)
    }

    /// HalfMatrix.headScores / Tensor.headScores over these rows (a decoding step's heads together).
    func headScores(queries: UnsafePointer<Float>, headDim: Int, firstHead: Int, group: Int, scale: Float, into s: Tensor) {
        switch self {
        case .float(let t): t.headScores(queries: queries, headDim: headDim, firstHead: firstHead, group: group, scale: scale, into: s)
        case .half(let h): h.headScores(queries: queries, headDim: headDim, firstHead: firstHead, group: group, scale: scale, into: s)
        }
    }

    /// HalfMatrix.headWeightedSums / Tensor.headWeightedSums over these rows.
    func headWeightedSums(_ p: Tensor, headDim: Int, firstHead: Int, group: Int, into out: UnsafeMutablePointer<Float>,
                          accumulate: Bool) {
        switch self {
        case .float(let t): t.headWeightedSums(p, headDim: headDim, firstHead: firstHead, group: group, into: out, accumulate: accumulate)
        case .half(let h): h.headWeightedSums(p, headDim: headDim, firstHead: firstHead, group: group, into: out, accumulate: accumulate)
        }
    }

    /// The view of columns `range` (no copy).
    func columns(_ range: Range<Int>) -> AttentionOperand {
        switch self {
        case .float(let t): .float(t.columns(range))
        case .half(let h): .half(h.columns(range))
        }
    }

    /// out = (out if `accumulate`, else 0) + p · (rows `rows`, columns `cols` of these values).
    func weightedSum(_ p: Tensor, rows: Range<Int>, columns cols: Range<Int>, into out: Tensor, accumulate: Bool, scratch: Tensor) {
        if case .half(let h) = self, p.rows <= Self.directRows {
            let values = h.rows(rows).columns(cols)
            for r in 0..<p.rows { values.weightedSum(p.row(r), into: out.row(r), accumulate: accumulate) }
            return
        }
        gemm(p, floats(rows: rows, columns: cols, scratch: scratch), into: out, beta: accumulate ? 1 : 0)
    }
}

public final class AttentionCore {
    public let heads: Int
    public let kvHeads: Int
    public let headDim: Int
    public let maxQueries: Int
    public let maxKeys: Int
    /// Queries per work item (Bq) and keys per score tile (Kc).
    public let queryBlock: Int
    public let keyChunk: Int
    public let context: ComputeContext

    let workers: Int                 // P
    let logSumExp: Tensor            // [maxQueries, H] saved by forward
    let scoreTiles: Tensor           // [P·Bq, Kc]
    let gradTiles: Tensor            // [P·Bq, Kc] dP in backward
    let rowStats: Tensor             // [P, 3·Bq] running max, running sum, rowsum(dO ⊙ O)
    let headKeyGrads: Tensor         // [maxKeys, (H−G)·D] dK of the heads after the first of each group
    let headValueGrads: Tensor       // [maxKeys, (H−G)·D] dV of the same heads
    let widenedTiles: Tensor         // [P·2·Kc, D] a worker's widened key and value chunk (inference only)
    /// Built without backward: may read 16-bit keys and values, and runs one query as a decoding step.
    let forInference: Bool

    public init(heads: Int, kvHeads: Int, headDim: Int, maxQueries: Int, maxKeys: Int, arena: Arena,
                context: ComputeContext, queryBlock: Int = 64, keyChunk: Int = 1024, needsBackward: Bool = true) {
        precondition(heads > 0 && kvHeads > 0 && heads % kvHeads == 0,
                     "AttentionCore: \(heads) heads must be a multiple of \(kvHeads) kv heads")
        precondition(headDim > 0 && queryBlock > 0 && keyChunk > 0)
        self.heads = heads
        self.kvHeads = kvHeads
        self.headDim = headDim
        self.maxQueries = maxQueries
        self.maxKeys = maxKeys
        self.queryBlock = queryBlock
        self.keyChunk = keyChunk
        self.context = context
        let p = context.threads
        workers = p
        logSumExp = arena.tensor(rows: maxQueries, cols: heads)
        scoreTiles = arena.tensor(rows: p * queryBlock, cols: keyChunk)
        gradTiles = arena.tensor(rows: needsBackward ? p * queryBlock : 0, cols: keyChunk)
        rowStats = arena.tensor(rows: p, cols: 3 * queryBlock)
        let extraHeadRows = needsBackward && heads > kvHeads ? maxKeys : 0
        headKeyGrads = arena.tensor(rows: extraHeadRows, cols: (heads - kvHeads) * headDim)
        headValueGrads = arena.tensor(rows: extraHeadRows, cols: (heads - kvHeads) * headDim)
        widenedTiles = arena.tensor(rows: needsBackward ? 0 : p * 2 * keyChunk, cols: headDim)
        forInference = !needsBackward
    }

    /// The float counts `init` takes from its arena (checked; nil on overflow).
    public static func arenaRequests(heads: Int, kvHeads: Int, headDim: Int, maxQueries: Int, maxKeys: Int, threads: Int,
                                     queryBlock: Int = 64, keyChunk: Int = 1024, needsBackward: Bool = true) -> [Int?] {
        let tile = checkedProduct([threads, queryBlock, keyChunk])
        let extraHeadRows = needsBackward && heads > kvHeads ? maxKeys : 0
        let extra = checkedProduct([extraHeadRows, heads - kvHeads, headDim])
        return [checkedProduct([maxQueries, heads]), tile, needsBackward ? tile : 0,
                checkedProduct([threads, 3, queryBlock]), extra, extra,
                needsBackward ? 0 : checkedProduct([threads, 2, keyChunk, headDim])]
    }

    /// Runs body(worker, item) for every item, items dealt round-robin to the workers (an item's
    /// result must not depend on which worker ran it; the worker index selects scratch only).
    private func forEachItem(_ items: Int, _ body: (Int, Int) -> Void) {
        let p = min(workers, items)
        context.parallelFor(p) { w in
            var item = w
            while item < items { body(w, item); item += p }
        }
    }

    /// The union lo ..< hi of the non-empty ranges of queries i0 ..< i1 (lo ≥ hi when all are empty).
    @inline(__always)
    private static func keySpan(_ ranges: KeyRanges, _ i0: Int, _ i1: Int) -> (Int, Int) {
        var lo = Int.max, hi = 0
        for i in i0..<i1 where ranges.hi[i] > ranges.lo[i] {
            lo = min(lo, Int(ranges.lo[i]))
            hi = max(hi, Int(ranges.hi[i]))
        }
        return (lo, hi)
    }

    // MARK: forward

    /// out = attention(q, k, v) over the allowed ranges; saves the log-sum-exp for backward.
    /// q, out: [Nq, H·D]; k, v: [Nk, G·D]. A query with an empty range gets zeros.
    public func forward(out: Tensor, q: Tensor, k: Tensor, v: Tensor, ranges: KeyRanges) {
        forward(out: out, q: q, k: .float(k), v: .float(v), ranges: ranges)
    }

    /// The same with keys and values that may be 16-bit rows (only on a core built without
    /// backward, whose scratch holds the widened chunks).
    public func forward(out: Tensor, q: Tensor, k: AttentionOperand, v: AttentionOperand, ranges: KeyRanges) {
        let h = heads, g = kvHeads, d = headDim, nq = q.rows, nk = k.rows
        precondition(q.cols == h * d && out.cols == h * d && out.rows == nq && k.cols == g * d && v.cols == g * d
                     && v.rows == nk && nq <= maxQueries && nq <= ranges.count,
                     "AttentionCore: q \(q.shapeDescription) k \(k.shapeDescription) v \(v.shapeDescription) out \(out.shapeDescription), H \(h) G \(g) D \(d), maxQueries \(maxQueries), ranges \(ranges.count)")
        // A misuse, not bad input, but checked in every build (-Ounchecked drops preconditions):
        // without its scratch the core would widen into memory it does not own.
        switch (k, v) {
        case (.float, .float): break
        default:
            if !forInference { fatalError("AttentionCore: 16-bit keys or values need a core built without backward (inference)") }
        }
        let bq = queryBlock, kc = keyChunk, group = h / g
        if nq == 1, forInference, (h + min(workers, h) - 1) / min(workers, h) <= bq {
            decodingStep(out: out, q: q, keys: k, values: v, ranges: ranges)
            return
        }
        let scale = 1 / Float(d).squareRoot()
        let blocks = (nq + bq - 1) / bq
        let lse = logSumExp, tiles = scoreTiles, stats = rowStats, widened = widenedTiles
        forEachItem(blocks * h) { w, item in
            let block = item / h, head = item % h, kvHead = head / group
            let i0 = block * bq, i1 = min(i0 + bq, nq), rows = i1 - i0
            let qBlock = q.rows(i0..<i1).columns(head * d..<(head + 1) * d)       // [rows, D]
            let oBlock = out.rows(i0..<i1).columns(head * d..<(head + 1) * d)     // [rows, D]
            let (kLo, kHi) = AttentionCore.keySpan(ranges, i0, i1)
            if kLo >= kHi {
                oBlock.zero()
                for r in 0..<rows { lse[i0 + r, head] = 0 }
                return
            }
            precondition(kHi <= nk, "AttentionCore: key range up to \(kHi) but only \(nk) keys")
            let runMax = stats.row(w), runSum = runMax + bq
            for r in 0..<rows { runMax[r] = -.greatestFiniteMagnitude; runSum[r] = 0 }
            let tileRows = tiles.rows(w * bq..<(w * bq + rows))
            var c0 = kLo
            while c0 < kHi {
                let c1 = min(c0 + kc, kHi), cw = c1 - c0
                let s = tileRows.columns(0..<cw)                                  // [rows, cw]
                let headColumns = kvHead * d..<(kvHead + 1) * d
                k.scores(qBlock, rows: c0..<c1, columns: headColumns, scale: scale, into: s,        // S = Q Kᵀ/√D
                         scratch: widened.rows(2 * w * kc..<(2 * w + 1) * kc))
                for r in 0..<rows {
                    let row = s.row(r)
                    let a = min(max(Int(ranges.lo[i0 + r]) - c0, 0), cw)
                    let b = max(min(Int(ranges.hi[i0 + r]) - c0, cw), a)
                    row.update(repeating: 0, count: a)
                    (row + b).update(repeating: 0, count: cw - b)
                    if a == b { continue }
                    AttentionCore.absorb(scores: row + a, count: b - a, firstChunk: c0 == kLo,
                                         runMax: &runMax[r], runSum: &runSum[r], output: oBlock.row(r), width: d)
                }
                v.weightedSum(s, rows: c0..<c1, columns: headColumns, into: oBlock, accumulate: c0 != kLo,   // O += P V
                              scratch: widened.rows((2 * w + 1) * kc..<(2 * w + 2) * kc))
                c0 = c1
            }
            for r in 0..<rows {
                lse[i0 + r, head] = AttentionCore.finish(output: oBlock.row(r), width: d, runMax: runMax[r], runSum: runSum[r])
            }
        }
    }

    /// One query over 16-bit or float32 keys and values (a decoding step): the heads are dealt to
    /// the workers in contiguous runs, and each worker reads every key and value row once across
    /// its heads, chunk by chunk with the same online softmax as the loop above. Head by head, every
    /// pass streamed all the rows for one head's slice of each; over 16-bit rows the numbers are
    /// the same, bit for bit (the kernels sum each head in the same order; AttentionTests).
    private func decodingStep(out: Tensor, q: Tensor, keys: AttentionOperand, values: AttentionOperand, ranges: KeyRanges) {
        let h = heads, d = headDim, group = heads / kvHeads, kc = keyChunk, bq = queryBlock
        let scale = 1 / Float(d).squareRoot()
        let lo = Int(ranges.lo[0]), hi = Int(ranges.hi[0])
        let runs = min(workers, h)
        let lse = logSumExp, tiles = scoreTiles, stats = rowStats
        forEachItem(runs) { w, run in
            let h0 = run * h / runs, h1 = (run + 1) * h / runs, count = h1 - h0
            let o = out.row(0) + h0 * d                                            // [count·D]
            if lo >= hi {
                o.update(repeating: 0, count: count * d)
                for head in h0..<h1 { lse[0, head] = 0 }
                return
            }
            precondition(hi <= keys.rows, "AttentionCore: key range up to \(hi) but only \(keys.rows) keys")
            let runMax = stats.row(w), runSum = runMax + bq
            for i in 0..<count { runMax[i] = -.greatestFiniteMagnitude; runSum[i] = 0 }
            let kvColumns = (h0 / group) * d..<((h1 - 1) / group + 1) * d
            var c0 = lo
            while c0 < hi {
                let c1 = min(c0 + kc, hi), cw = c1 - c0
                let s = tiles.rows(w * bq..<(w * bq + count)).columns(0..<cw)        // [count, cw]: one row per head
                keys.rows(c0..<c1).columns(kvColumns).headScores(queries: q.row(0) + h0 * d, headDim: d, firstHead: h0,
                                                                 group: group, scale: scale, into: s)
                for i in 0..<count {
                    AttentionCore.absorb(scores: s.row(i), count: cw, firstChunk: c0 == lo,
                                         runMax: &runMax[i], runSum: &runSum[i], output: o + i * d, width: d)
                }
                values.rows(c0..<c1).columns(kvColumns).headWeightedSums(s, headDim: d, firstHead: h0, group: group,
                                                                         into: o, accumulate: c0 != lo)
                c0 = c1
            }
            for i in 0..<count {
                lse[0, h0 + i] = AttentionCore.finish(output: o + i * d, width: d, runMax: runMax[i], runSum: runSum[i])
            }
        }
    }

    /// One query row's share of a key chunk in the online softmax: the row's scores [count] are
    /// exponentiated in place against the new running maximum, and when the maximum grew after the
    /// first chunk, the running sum and the output [width] accumulated so far are rescaled to it.
    /// The caller then adds the chunk's probabilities times values to the output.
    @inline(__always)
    private static func absorb(scores row: UnsafeMutablePointer<Float>, count: Int, firstChunk: Bool,
                               runMax: inout Float, runSum: inout Float, output: UnsafeMutablePointer<Float>, width: Int) {
        let m = max(runMax, VectorMath.max(row, count))
        let sum = VectorMath.expShiftedInPlace(row, count, shift: m)
        if !firstChunk && m != runMax {
            let correction = VectorMath.exp(runMax - m)
            runSum *= correction
            VectorMath.scale(output, width, by: correction)
        }
        runSum += sum
        runMax = m
    }

    /// The end of a query row's online softmax: the output [width] divided by the running sum, and
    /// the row's log-sum-exp returned; a row that saw no key gets zeros and a log-sum-exp of 0.
    @inline(__always)
    private static func finish(output: UnsafeMutablePointer<Float>, width: Int, runMax: Float, runSum: Float) -> Float {
        guard runSum > 0 else {
            output.update(repeating: 0, count: width)
            return 0
        }
        VectorMath.scale(output, width, by: 1 / runSum)
        return runMax + log(runSum)
    }

    // MARK: backward

    /// dQ, dK, dV (written, not accumulated) from dOut and the tensors of the last forward
    /// (q, k, v, its output and the same ranges). dQ may not alias q; dK, dV not k, v.
    public func backward(dQ: Tensor, dK: Tensor, dV: Tensor, dOut: Tensor, q: Tensor, k: Tensor, v: Tensor,
                         out: Tensor, ranges: KeyRanges) {
        let h = heads, g = kvHeads, d = headDim, nq = q.rows, nk = k.rows
        precondition(dQ.rows == nq && dQ.cols == h * d && dOut.rows == nq && dOut.cols == h * d
                     && dK.rows == nk && dK.cols == g * d && dV.rows == nk && dV.cols == g * d
                     && gradTiles.rows > 0 && nk <= maxKeys,
                     "AttentionCore backward: dQ \(dQ.shapeDescription) dK \(dK.shapeDescription) dV \(dV.shapeDescription) dOut \(dOut.shapeDescription), maxKeys \(maxKeys)")
        let bq = queryBlock, kc = keyChunk, group = h / g
        let scale = 1 / Float(d).squareRoot()
        let blocks = (nq + bq - 1) / bq
        let lse = logSumExp, tiles = scoreTiles, dTiles = gradTiles, stats = rowStats
        let extraK = headKeyGrads.rows(0..<(group > 1 ? nk : 0)), extraV = headValueGrads.rows(0..<(group > 1 ? nk : 0))
        dK.zero(on: context)
        dV.zero(on: context)
        extraK.zero(on: context)
        extraV.zero(on: context)
        forEachItem(h) { w, head in
            let kvHead = head / group, member = head % group
            let cols = head * d..<(head + 1) * d, kvCols = kvHead * d..<(kvHead + 1) * d
            // Where this head's dK, dV go: the group's own columns for its first head, else scratch.
            let slot = (kvHead * (group - 1) + member - 1) * d
            let dKHead = member == 0 ? dK.columns(kvCols) : extraK.columns(slot..<(slot + d))   // [Nk, D]
            let dVHead = member == 0 ? dV.columns(kvCols) : extraV.columns(slot..<(slot + d))   // [Nk, D]
            for block in 0..<blocks {
                let i0 = block * bq, i1 = min(i0 + bq, nq), rows = i1 - i0
                let qBlock = q.rows(i0..<i1).columns(cols)
                let oBlock = out.rows(i0..<i1).columns(cols)
                let dOBlock = dOut.rows(i0..<i1).columns(cols)
                let dQBlock = dQ.rows(i0..<i1).columns(cols)
                let (kLo, kHi) = AttentionCore.keySpan(ranges, i0, i1)
                if kLo >= kHi {
                    dQBlock.zero()
                    continue
                }
                // δ_i = Σ_d dO ⊙ O
                let delta = stats.row(w) + 2 * bq
                for r in 0..<rows { delta[r] = VectorMath.dot(dOBlock.row(r), oBlock.row(r), d) }
                let sTile = tiles.rows(w * bq..<(w * bq + rows)), dpTile = dTiles.rows(w * bq..<(w * bq + rows))
                var c0 = kLo
                while c0 < kHi {
                    let c1 = min(c0 + kc, kHi), cw = c1 - c0
                    let s = sTile.columns(0..<cw), dp = dpTile.columns(0..<cw)          // [rows, cw]
                    let kChunk = k.rows(c0..<c1).columns(kvCols), vChunk = v.rows(c0..<c1).columns(kvCols)
                    gemm(qBlock, kChunk, transposeB: true, into: s, alpha: scale)      // S = Q Kᵀ/√D
                    for r in 0..<rows {
                        let row = s.row(r)
                        let a = min(max(Int(ranges.lo[i0 + r]) - c0, 0), cw)
                        let b = max(min(Int(ranges.hi[i0 + r]) - c0, cw), a)
                        row.update(repeating: 0, count: a)
                        (row + b).update(repeating: 0, count: cw - b)
                        if a < b { _ = VectorMath.expShiftedInPlace(row + a, b - a, shift: lse[i0 + r, head]) }
                    }
                    gemm(s, transposeA: true, dOBlock, into: dVHead.rows(c0..<c1), beta: 1)   // dV += Pᵀ dO
                    gemm(dOBlock, vChunk, transposeB: true, into: dp)                       // dP = dO Vᵀ
                    for r in 0..<rows {
                        // dS = P ⊙ (dP − δ), in place of P (masked entries stay 0). A query with a
                        // single key has P ≡ 1 and dS ≡ 0 exactly (the decoder's cross-attention to
                        // its word): set it so, rather than leave the rounding of dP − δ behind.
                        let pr = s.row(r), dpr = dp.row(r)
                        let a = min(max(Int(ranges.lo[i0 + r]) - c0, 0), cw)
                        let b = max(min(Int(ranges.hi[i0 + r]) - c0, cw), a)
                        if ranges.hi[i0 + r] - ranges.lo[i0 + r] == 1 {
                            (pr + a).update(repeating: 0, count: b - a)
                            continue
                        }
                        let dv = VectorMath.V(repeating: delta[r])
                        var j = a
                        while j + 16 <= b {
                            VectorMath.store(VectorMath.load(pr + j) * (VectorMath.load(dpr + j) - dv), pr + j)
                            j += 16
                        }
                        while j < b { pr[j] = pr[j] * (dpr[j] - delta[r]); j += 1 }
                    }
                    gemm(s, kChunk, into: dQBlock, alpha: scale, beta: c0 == kLo ? 0 : 1)              // dQ += dS K/√D
                    gemm(s, transposeA: true, qBlock, into: dKHead.rows(c0..<c1), alpha: scale, beta: 1)  // dK += dSᵀ Q/√D
                    c0 = c1
                }
            }
        }
        // Add the other heads of each group after its first, in head order.
        if group > 1 {
            context.parallelChunks(nk, chunk: 64) { range in
                for j in range {
                    for kvHead in 0..<g {
                        for member in 1..<group {
                            let slot = (kvHead * (group - 1) + member - 1) * d
                            VectorMath.add(extraK.row(j) + slot, into: dK.row(j) + kvHead * d, d)
                            VectorMath.add(extraV.row(j) + slot, into: dV.row(j) + kvHead * d, d)
                        }
                    }
                }
            }
        }
    }

    /// Model FLOPs of forward for the given ranges: 2·D per pair for QKᵀ and 2·D for PV, per head
    /// (only allowed query–key pairs count). Backward counts twice this.
    public func forwardFLOPs(queries nq: Int, ranges: KeyRanges) -> Double {
        Double(ranges.pairCount(queries: nq)) * Double(heads) * 4 * Double(headDim)
    }
}
