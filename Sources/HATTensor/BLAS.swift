// BLAS: the one file that calls cblas_sgemm. `gemm` runs one product on the calling thread;
// ComputeContext.gemm cuts a large product into pieces by shape and runs them on its threads.
//
//   C[M, N] = alpha · op(A) · op(B) + beta · C      op(X) = X or Xᵀ
//
// With row-major storage, a view's rowStride is BLAS's leading dimension.
// OpenBLAS is set to one thread, once per process, before the first product: its own threading
// picks kernels and block sizes by thread count (so results would change with it), and its
// thread count is a process-wide setting that one caller must not change under another.

import CBLAS

public enum BLAS {
    private static let singleThreaded: Bool = {
        openblas_set_num_threads(1)
        return true
    }()

    /// Sets OpenBLAS to one thread the first time it is called (thread-safe; later calls are free).
    public static func ensureSingleThreaded() { _ = singleThreaded }

    /// The CPU kernel family OpenBLAS chose when it loaded (e.g. "SkylakeX", "Cooperlake", "Prescott").
    public static var coreName: String { String(cString: openblas_get_corename()) }
}

/// C = alpha · op(A) · op(B) + beta · C on the calling thread. Shapes are checked; a mismatch is
/// a programming error.
public func gemm(_ a: Tensor, transposeA: Bool = false,
                 _ b: Tensor, transposeB: Bool = false,
                 into c: Tensor, alpha: Float = 1, beta: Float = 0) {
    let m = transposeA ? a.cols : a.rows
    let k = transposeA ? a.rows : a.cols
    let kb = transposeB ? b.cols : b.rows
    let n = transposeB ? b.rows : b.cols
    precondition(k == kb && c.rows == m && c.cols == n,
                 "gemm: op(A) [\(m), \(k)] · op(B) [\(kb), \(n)] into C \(c.shapeDescription)")
    if m == 0 || n == 0 { return }
    if k == 0 {
        if beta == 0 { c.zero() } else if beta != 1 { scale(c, by: beta) }
        return
    }
    BLAS.ensureSingleThreaded()
    cblas_sgemm(CblasRowMajor,
                transposeA ? CblasTrans : CblasNoTrans,
                transposeB ? CblasTrans : CblasNoTrans,
                Int32(m), Int32(n), Int32(k),
                alpha, a.data, Int32(max(a.rowStride, 1)),
                b.data, Int32(max(b.rowStride, 1)),
                beta, c.data, Int32(max(c.rowStride, 1)))
}

/// C *= factor, element by element.
public func scale(_ c: Tensor, by factor: Float) {
    for r in 0..<c.rows {
        let p = c.row(r)
        for j in 0..<c.cols { p[j] *= factor }
    }
}
