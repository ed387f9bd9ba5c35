// BLAS link and wrapper: cblas_sgemm is called directly (the link works) and through
// gemm with every transpose case and strided views, against a naive Double loop, on whichever
// OpenBLAS core this CPU got.

import CBLAS
import HATTensor
import Testing

@Suite(.serialized) struct BLASTests {
    @Test func cblasSgemmLinksAndMultiplies() {
        // [2x3]·[3x2]
        let a: [Float] = [1, 2, 3, 4, 5, 6]
        let b: [Float] = [7, 8, 9, 10, 11, 12]
        var c = [Float](repeating: 0, count: 4)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, 2, 2, 3, 1, a, 3, b, 2, 0, &c, 2)
        #expect(c == [58, 64, 139, 154])
        #expect(!BLAS.coreName.isEmpty)
    }

    @Test(arguments: [(false, false), (true, false), (false, true), (true, true)])
    func gemmMatchesNaiveLoop(transposeA: Bool, transposeB: Bool) {
        let (m, n, k) = (7, 5, 9)
        let arena = Arena(name: "test")
        var rng = RandomGenerator(seed: 42)
        // Store A and B inside wider buffers so the views are strided.
        let aStore = arena.tensor(rows: 16, cols: 16), bStore = arena.tensor(rows: 16, cols: 16)
        rng.fillUniform(aStore, bound: 1)
        rng.fillUniform(bStore, bound: 1)
        let a = aStore.rows(1..<(1 + (transposeA ? k : m))).columns(2..<(2 + (transposeA ? m : k)))
        let b = bStore.rows(3..<(3 + (transposeB ? n : k))).columns(1..<(1 + (transposeB ? k : n)))
        let cStore = arena.tensor(rows: m, cols: 12)
        let c = cStore.columns(4..<(4 + n))
        c.fill(0.5)
        gemm(a, transposeA: transposeA, b, transposeB: transposeB, into: c, alpha: 2, beta: 3)
        var maxError = 0.0
        for i in 0..<m {
            for j in 0..<n {
                var sum = 0.0
                for p in 0..<k {
                    let x = transposeA ? a[p, i] : a[i, p]
                    let y = transposeB ? b[j, p] : b[p, j]
                    sum += Double(x) * Double(y)
                }
                let expected = 2 * sum + 3 * 0.5
                maxError = max(maxError, abs(expected - Double(c[i, j])))
            }
        }
        #expect(maxError < 1e-5, "max |gemm - naive| = \(maxError)")
        // Columns outside the view are untouched.
        #expect(cStore[0, 0] == 0 && cStore[m - 1, 11] == 0)
    }
}
