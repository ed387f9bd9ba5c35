// ComputeContext: the threads one computation runs on. A model, generation session, trainer or
// evaluator is given a context and runs every parallel loop and every large matrix product
// through it; nothing about threads is process-global, so two computations in one process (two
// tests, two requests of a server, two models of a robustness run) never affect each other.
//
// Results do not depend on the thread count. Work is cut into pieces whose boundaries depend
// only on the problem's shape, pieces that add into one result are added in a fixed order, and
// OpenBLAS always runs single-threaded (BLAS.swift), so a product's value depends on its shape
// alone. 1, 2, 3 or 8 threads give bit-identical forward, backward, optimizer steps, evaluations
// and generations; only the time changes.
//
// Products (`gemm`): C[M, N] = alpha·op(A)[M, K]·op(B)[K, N] + beta·C is cut along one of
//   M  (rows of C: each piece packs op(B) again, (pieces−1)·K·N extra floats moved),
//   N  (columns of C: each piece packs op(A) again, (pieces−1)·M·K),
//   K  (the sum: each piece after the first writes a partial C into scratch and the pieces are
//       added in order, 2·(pieces−1)·M·N),
// whichever moves the fewest extra floats, into at most `maxPieces` pieces of at least
// `pieceMultiplyAdds` multiply-adds each. The plan is a function of (M, N, K) only.

import Foundation

public final class ComputeContext: @unchecked Sendable {
    /// Most threads a context may have (a flag beyond this is refused by the command line).
    public static let maxThreads = Limits.threads

    /// Threads that run this context's work (the caller's plus threads − 1 workers).
    public let threads: Int
    let pool: WorkerPool
    /// Partial results of products cut along K.
    private let partials = Scratch()
    /// Packed weights widened to float32 for a many-row product (ComputeContext.packedProduct).
    private let widened = Scratch()

    /// The instructions products over packed weights use (PackedWeights.swift): the best this CPU
    /// has unless a test asks for another.
    public let packedKernel: PackedKernel

    public init(threads: Int, packedKernel: PackedKernel = .best) {
        precondition((1...ComputeContext.maxThreads).contains(threads),
                     "ComputeContext: threads must be in 1...\(ComputeContext.maxThreads), got \(threads)")
        precondition(packedKernel.runsHere, "ComputeContext: this CPU cannot run the \(packedKernel) kernels")
        BLAS.ensureSingleThreaded()
        self.threads = threads
        self.packedKernel = packedKernel
        pool = WorkerPool(threads: threads)
    }

    deinit {
        pool.shutdown()
    }

    // MARK: loops

    /// Runs body(i) once for every i in 0..<count, on up to `threads` threads, and waits.
    /// Iterations must write disjoint memory (or per-worker memory indexed by i < threads).
    public func parallelFor(_ count: Int, _ body: (Int) -> Void) {
        pool.run(count, body)
    }

    /// Cuts 0..<total into pieces of `chunk` (the last may be shorter) and runs body(range) for
    /// each in parallel. The pieces depend on total and chunk only.
    public func parallelChunks(_ total: Int, chunk: Int, _ body: (Range<Int>) -> Void) {
        precondition(chunk >= 1, "parallelChunks: chunk must be ≥ 1, got \(chunk)")
        if total <= 0 { return }
        let pieces = (total + chunk - 1) / chunk
        if pieces == 1 { body(0..<total); return }
        pool.run(pieces) { i in body((i * chunk)..<min((i + 1) * chunk, total)) }
    }

    // MARK: products

    /// Most pieces one product is cut into, and the least work per piece.
    public static let maxPieces = 8
    public static let pieceMultiplyAdds = 1 << 19

    /// How a product of this shape is cut (a function of the shape only).
    public enum ProductSplit: Equatable, Sendable {
        case none
        case rows(chunk: Int, pieces: Int)       // along M
        case columns(chunk: Int, pieces: Int)    // along N
        case sum(chunk: Int, pieces: Int)        // along K, pieces added in order
    }

    public static func productSplit(m: Int, n: Int, k: Int) -> ProductSplit {
        let (mn, o1) = m.multipliedReportingOverflow(by: n)
        let (mnk, o2) = mn.multipliedReportingOverflow(by: k)
        let multiplyAdds = o1 || o2 ? Int.max : mnk
        let wanted = min(maxPieces, multiplyAdds / pieceMultiplyAdds)
        if wanted < 2 { return .none }
        // (extra floats moved per extra piece, dimension, least chunk, alignment of a chunk)
        let candidates: [(cost: Int, dimension: Int, least: Int, align: Int, kind: Int)] = [
            (k &* n, m, 16, 16, 0),
            (m &* k, n, 64, 64, 1),
            (2 &* m &* n, k, 256, 64, 2),
        ]
        var best: (cost: Int, chunk: Int, pieces: Int, kind: Int)?
        for c in candidates where c.dimension >= 2 * c.least {
            let target = max((c.dimension + wanted - 1) / wanted, c.least)
            let chunk = (target + c.align - 1) / c.align * c.align
            let pieces = (c.dimension + chunk - 1) / chunk
            if pieces < 2 { continue }
            if best == nil || c.cost < best!.cost { best = (c.cost, chunk, pieces, c.kind) }
        }
        guard let best else { return .none }
        switch best.kind {
        case 0: return .rows(chunk: best.chunk, pieces: best.pieces)
        case 1: return .columns(chunk: best.chunk, pieces: best.pieces)
        default: return .sum(chunk: best.chunk, pieces: best.pieces)
        }
    }

    /// C = alpha · op(A) · op(B) + beta · C on this context's threads, cut by shape (see the
    /// file header); the same bits for any thread count.
    public func gemm(_ a: Tensor, transposeA: Bool = false, _ b: Tensor, transposeB: Bool = false,
                     into c: Tensor, alpha: Float = 1, beta: Float = 0) {
        let m = transposeA ? a.cols : a.rows
        let k = transposeA ? a.rows : a.cols
        let n = transposeB ? b.rows : b.cols
        // Pieces of op(A) and op(B) as views of A and B.
        func aRows(_ r: Range<Int>) -> Tensor { transposeA ? a.columns(r) : a.rows(r) }      // op(A)[r, :]
        func aSum(_ r: Range<Int>) -> Tensor { transposeA ? a.rows(r) : a.columns(r) }       // op(A)[:, r]
        func bSum(_ r: Range<Int>) -> Tensor { transposeB ? b.columns(r) : b.rows(r) }       // op(B)[r, :]
        func bColumns(_ r: Range<Int>) -> Tensor { transposeB ? b.rows(r) : b.columns(r) }   // op(B)[:, r]
        func piece(_ i: Int, _ chunk: Int, _ total: Int) -> Range<Int> { (i * chunk)..<min((i + 1) * chunk, total) }

        switch ComputeContext.productSplit(m: m, n: n, k: k) {
        case .none:
            HATTensor.gemm(a, transposeA: transposeA, b, transposeB: transposeB, into: c, alpha: alpha, beta: beta)
        case .rows(let chunk, let pieces):
            precondition(c.rows == m, "gemm: C \(c.shapeDescription) for op(A) with \(m) rows")
            pool.run(pieces) { i in
                let r = piece(i, chunk, m)
                HATTensor.gemm(aRows(r), transposeA: transposeA, b, transposeB: transposeB, into: c.rows(r),
                               alpha: alpha, beta: beta)
            }
        case .columns(let chunk, let pieces):
            precondition(c.cols == n, "gemm: C \(c.shapeDescription) for op(B) with \(n) columns")
            pool.run(pieces) { i in
                let r = piece(i, chunk, n)
                HATTensor.gemm(a, transposeA: transposeA, bColumns(r), transposeB: transposeB, into: c.columns(r),
                               alpha: alpha, beta: beta)
            }
        case .sum(let chunk, let pieces):
            precondition(c.rows == m && c.cols == n, "gemm: C \(c.shapeDescription) for a [\(m), \(n)] product")
            partials.lock.lock()
            defer { partials.lock.unlock() }
            let scratch = partials.atLeast((pieces - 1) * m * n)
            pool.run(pieces) { i in
                let r = piece(i, chunk, k)
                let target = i == 0 ? c : Tensor(data: scratch + (i - 1) * m * n, rows: m, cols: n)
                HATTensor.gemm(aSum(r), transposeA: transposeA, bSum(r), transposeB: transposeB, into: target,
                               alpha: alpha, beta: i == 0 ? beta : 0)
            }
            // C += partial 1 + partial 2 + … in this order, element by element.
            parallelChunks(m, chunk: max(1, 16_384 / max(n, 1))) { rows in
                for row in rows {
                    let target = c.row(row)
                    for i in 1..<pieces { VectorMath.add(scratch + (i - 1) * m * n + row * n, into: target, n) }
                }
            }
        }
    }

    /// Runs body with at least `count` floats of scratch for widened weights, held by this call
    /// alone until it returns.
    func withWideningScratch<R>(_ count: Int, _ body: (UnsafeMutablePointer<Float>) -> R) -> R {
        widened.lock.lock()
        defer { widened.lock.unlock() }
        return body(widened.atLeast(count))
    }
}

/// A float buffer grown to the largest size asked of it and reused; its user holds `lock` while
/// using it.
private final class Scratch {
    let lock = NSLock()
    private var floats: UnsafeMutablePointer<Float>?
    private var capacity = 0

    deinit { floats?.deallocate() }

    /// At least `count` floats (earlier contents are not kept when it grows).
    func atLeast(_ count: Int) -> UnsafeMutablePointer<Float> {
        if count > capacity {
            floats?.deallocate()
            let raw = UnsafeMutableRawPointer.allocate(byteCount: count * MemoryLayout<Float>.stride,
                                                       alignment: Arena.alignmentBytes)
            floats = raw.bindMemory(to: Float.self, capacity: count)
            capacity = count
        }
        return floats!
    }
}
