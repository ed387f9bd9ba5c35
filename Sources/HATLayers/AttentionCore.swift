// AttentionCore: O = softmax(Q Kᵀ / √D + mask) V for grouped-query heads, where query i may see
// only keys lo[i] ..< hi[i] (KeyRanges). Blocked and flash-style: a block of Bq queries of one
// head is multiplied with gemm against the union of its key ranges in chunks of at most Kc keys,
// masked per row, softmaxed online (running max and sum), and multiplied with V by gemm. Forward
// saves only the log-sum-exp per query and head; backward recomputes the probabilities:
//   P = exp(S − lse),  dV += Pᵀ dO,  dP = dO Vᵀ,  dS = P ⊙ (dP − rowsum(dO ⊙ O)),
//   dQ = dS K / √D,  dK += dSᵀ Q / √D.
// Work items (head, query block) are dealt round-robin to `Threads.count` workers, each calling
// BLAS single-threaded; dK and dV are summed in per-worker buffers, then added (deterministic).
//
// Shapes: Nq queries, Nk keys, H heads, G kv heads (head h uses kv head h / (H/G)), D head size,
// Bq query block, Kc key chunk, P workers.

#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif
import HATTensor

public final class AttentionCore {
    public let heads: Int
    public let kvHeads: Int
    public let headDim: Int
    public let maxQueries: Int
    public let maxKeys: Int
    /// Queries per work item (Bq) and keys per score tile (Kc).
    public let queryBlock: Int
    public let keyChunk: Int
    /// Run the work items on our workers (each with single-threaded BLAS); false runs them one
    /// after the other with OpenBLAS's own threads (kept for the benchmark's comparison).
    public var parallelOverBlocks = true

    let workers: Int                 // P
    let logSumExp: Tensor            // [maxQueries, H] saved by forward
    let scoreTiles: Tensor           // [P·Bq, Kc]
    let gradTiles: Tensor            // [P·Bq, Kc] dP in backward
    let rowStats: Tensor             // [P, 3·Bq] running max, running sum, rowsum(dO ⊙ O)
    let privateKeyGrads: Tensor      // [(P−1)·maxKeys, G·D]
    let privateValueGrads: Tensor    // [(P−1)·maxKeys, G·D]

    public init(heads: Int, kvHeads: Int, headDim: Int, maxQueries: Int, maxKeys: Int, arena: Arena,
                queryBlock: Int = 64, keyChunk: Int = 1024, needsBackward: Bool = true) {
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
        let p = Threads.count
        workers = p
        logSumExp = arena.tensor(rows: maxQueries, cols: heads)
        scoreTiles = arena.tensor(rows: p * queryBlock, cols: keyChunk)
        gradTiles = arena.tensor(rows: needsBackward ? p * queryBlock : 0, cols: keyChunk)
        rowStats = arena.tensor(rows: p, cols: 3 * queryBlock)
        let privateRows = needsBackward ? (p - 1) * maxKeys : 0
        privateKeyGrads = arena.tensor(rows: privateRows, cols: kvHeads * headDim)
        privateValueGrads = arena.tensor(rows: privateRows, cols: kvHeads * headDim)
    }

    /// Runs body(worker, item) for every item, items dealt round-robin to the workers.
    private func forEachItem(_ items: Int, _ body: (Int, Int) -> Void) {
        let p = min(workers, Threads.count, items)
        if parallelOverBlocks && p > 1 {
            withSingleThreadedBLAS {
                WorkerPool.shared.run(p) { w in
                    var item = w
                    while item < items { body(w, item); item += p }
                }
            }
        } else {
            for item in 0..<items { body(0, item) }
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
        let h = heads, g = kvHeads, d = headDim, nq = q.rows, nk = k.rows
        precondition(q.cols == h * d && out.cols == h * d && out.rows == nq && k.cols == g * d && v.cols == g * d
                     && v.rows == nk && nq <= maxQueries && nq <= ranges.count,
                     "AttentionCore: q \(q.shapeDescription) k \(k.shapeDescription) v \(v.shapeDescription) out \(out.shapeDescription), H \(h) G \(g) D \(d), maxQueries \(maxQueries), ranges \(ranges.count)")
        let bq = queryBlock, kc = keyChunk, group = h / g
        let scale = 1 / Float(d).squareRoot()
        let blocks = (nq + bq - 1) / bq
        let lse = logSumExp, tiles = scoreTiles, stats = rowStats
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
                let kChunk = k.rows(c0..<c1).columns(kvHead * d..<(kvHead + 1) * d)
                let vChunk = v.rows(c0..<c1).columns(kvHead * d..<(kvHead + 1) * d)
                gemm(qBlock, kChunk, transposeB: true, into: s, alpha: scale)    // S = Q Kᵀ/√D
                for r in 0..<rows {
                    let row = s.row(r)
                    let a = min(max(Int(ranges.lo[i0 + r]) - c0, 0), cw)
                    let b = max(min(Int(ranges.hi[i0 + r]) - c0, cw), a)
                    row.update(repeating: 0, count: a)
                    (row + b).update(repeating: 0, count: cw - b)
                    if a == b { continue }
                    let m = max(runMax[r], VectorMath.max(row + a, b - a))
                    let sum = VectorMath.expShiftedInPlace(row + a, b - a, shift: m)
                    if c0 != kLo && m != runMax[r] {
                        let correction = VectorMath.exp(runMax[r] - m)
                        runSum[r] *= correction
                        VectorMath.scale(oBlock.row(r), d, by: correction)
                    }
                    runSum[r] += sum
                    runMax[r] = m
                }
                gemm(s, vChunk, into: oBlock, beta: c0 == kLo ? 0 : 1)               // O += P V
                c0 = c1
            }
            for r in 0..<rows {
                if runSum[r] > 0 {
                    VectorMath.scale(oBlock.row(r), d, by: 1 / runSum[r])
                    lse[i0 + r, head] = runMax[r] + log(runSum[r])
                } else {
                    oBlock.row(r).update(repeating: 0, count: d)
                    lse[i0 + r, head] = 0
                }
            }
        }
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
        let blocks = (nq + bq - 1) / bq, items = blocks * h
        let p = parallelOverBlocks ? min(workers, Threads.count, items) : 1
        let lse = logSumExp, tiles = scoreTiles, dTiles = gradTiles, stats = rowStats
        let kvWidth = g * d
        // Worker 0 accumulates into dK, dV; worker w > 0 into its private rows.
        dK.zeroParallel()
        dV.zeroParallel()
        for w in 1..<max(p, 1) {
            privateKeyGrads.rows((w - 1) * maxKeys..<((w - 1) * maxKeys + nk)).zeroParallel()
            privateValueGrads.rows((w - 1) * maxKeys..<((w - 1) * maxKeys + nk)).zeroParallel()
        }
        let privK = privateKeyGrads, privV = privateValueGrads, maxKeys = maxKeys
        forEachItem(items) { w, item in
            let block = item / h, head = item % h, kvHead = head / group
            let i0 = block * bq, i1 = min(i0 + bq, nq), rows = i1 - i0
            let cols = head * d..<(head + 1) * d, kvCols = kvHead * d..<(kvHead + 1) * d
            let qBlock = q.rows(i0..<i1).columns(cols)
            let oBlock = out.rows(i0..<i1).columns(cols)
            let dOBlock = dOut.rows(i0..<i1).columns(cols)
            let dQBlock = dQ.rows(i0..<i1).columns(cols)
            let (kLo, kHi) = AttentionCore.keySpan(ranges, i0, i1)
            if kLo >= kHi {
                dQBlock.zero()
                return
            }
            let dKAll = w == 0 ? dK : privK.rows((w - 1) * maxKeys..<((w - 1) * maxKeys + nk))
            let dVAll = w == 0 ? dV : privV.rows((w - 1) * maxKeys..<((w - 1) * maxKeys + nk))
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
                gemm(s, transposeA: true, dOBlock, into: dVAll.rows(c0..<c1).columns(kvCols), beta: 1)  // dV += Pᵀ dO
                gemm(dOBlock, vChunk, transposeB: true, into: dp)                                        // dP = dO Vᵀ
                for r in 0..<rows {
                    // dS = P ⊙ (dP − δ), in place of P (masked entries stay 0)
                    let pr = s.row(r), dpr = dp.row(r)
                    let a = min(max(Int(ranges.lo[i0 + r]) - c0, 0), cw)
                    let b = max(min(Int(ranges.hi[i0 + r]) - c0, cw), a)
                    let dv = VectorMath.V(repeating: delta[r])
                    var j = a
                    while j + 16 <= b {
                        VectorMath.store(VectorMath.load(pr + j) * (VectorMath.load(dpr + j) - dv), pr + j)
                        j += 16
                    }
                    while j < b { pr[j] = pr[j] * (dpr[j] - delta[r]); j += 1 }
                }
                gemm(s, kChunk, into: dQBlock, alpha: scale, beta: c0 == kLo ? 0 : 1)                   // dQ += dS K/√D
                gemm(s, transposeA: true, qBlock, into: dKAll.rows(c0..<c1).columns(kvCols), alpha: scale, beta: 1)  // dK += dSᵀ Q/√D
                c0 = c1
            }
        }
        // Sum the private accumulators into dK, dV.
        if p > 1 {
            WorkerPool.shared.runChunks(nk, minChunk: 64) { range in
                for w in 1..<p {
                    let base = (w - 1) * maxKeys
                    for j in range {
                        VectorMath.add(privK.row(base + j), into: dK.row(j), kvWidth)
                        VectorMath.add(privV.row(base + j), into: dV.row(j), kvWidth)
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
