// BLAS: the one file that calls cblas_sgemm. Every large matrix product in the toolkit
// goes through `gemm`, which accepts strided views and all four transpose cases.
//
//   C[M, N] = alpha · op(A) · op(B) + beta · C      op(X) = X or Xᵀ
//
// With row-major storage, a view's rowStride is BLAS's leading dimension.

import CBLAS

/// C = alpha · op(A) · op(B) + beta · C. Shapes are checked; a mismatch is a programming error.
@inlinable
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
    cblas_sgemm(CblasRowMajor,
                transposeA ? CblasTrans : CblasNoTrans,
                transposeB ? CblasTrans : CblasNoTrans,
                Int32(m), Int32(n), Int32(k),
                alpha, a.data, Int32(max(a.rowStride, 1)),
                b.data, Int32(max(b.rowStride, 1)),
                beta, c.data, Int32(max(c.rowStride, 1)))
}

/// C *= factor, element by element.
@inlinable
public func scale(_ c: Tensor, by factor: Float) {
    for r in 0..<c.rows {
        let p = c.row(r)
        for j in 0..<c.cols { p[j] *= factor }
    }
}
