// RotaryEmbedding: rotary position embeddings in the Hugging Face "rotate-half" layout
// (transformers' apply_rotary_pos_emb): within each head of D values, pair j with j + D/2 and
//   x'_j = x_j·cos θ_j − x_{j+D/2}·sin θ_j,   x'_{j+D/2} = x_{j+D/2}·cos θ_j + x_j·sin θ_j,
//   θ_j = position · base^(−2j/D).
// Angles, cos and sin are computed in Double (a table for positions < `cachedPositions`, on the
// fly beyond), so they are exact to float precision for any position up to 2^31.
//
// Shapes: N rows, D head size, K = D/2 frequencies.

#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif
import HATTensor

public final class RotaryEmbedding {
    public let headDim: Int
    public let theta: Float
    public let cachedPositions: Int
    let inverseFrequency: [Double]                 // [K]
    let cosTable: UnsafeMutablePointer<Float>      // [cachedPositions, K]
    let sinTable: UnsafeMutablePointer<Float>      // [cachedPositions, K]

    public init(headDim: Int, theta: Float, cachedPositions: Int = 4096) {
        precondition(headDim > 0 && headDim % 2 == 0, "rotary head size must be even, got \(headDim)")
        self.headDim = headDim
        self.theta = theta
        self.cachedPositions = cachedPositions
        let k = headDim / 2
        inverseFrequency = (0..<k).map { 1 / pow(Double(theta), Double(2 * $0) / Double(headDim)) }
        cosTable = .allocate(capacity: max(cachedPositions * k, 1))
        sinTable = .allocate(capacity: max(cachedPositions * k, 1))
        for p in 0..<cachedPositions {
            for j in 0..<k {
                let angle = Double(p) * inverseFrequency[j]
                cosTable[p * k + j] = Float(cos(angle))
                sinTable[p * k + j] = Float(sin(angle))
            }
        }
    }

    /// Floats of the cos and sin tables for `cachedPositions` positions (checked; nil on overflow).
    public static func tableFloats(headDim: Int, cachedPositions: Int = 4096) -> Int? {
        checkedProduct([2, max(cachedPositions * (headDim / 2), 1)])
    }

    deinit {
        cosTable.deallocate()
        sinTable.deallocate()
    }

    /// Rotates each of the `heads` heads of row i of x [N, heads·D] by the angles of positions[i], in place.
    public func apply(_ x: Tensor, heads: Int, positions: UnsafePointer<Int32>, on context: ComputeContext) {
        rotate(x, heads: heads, positions: positions, sign: 1, on: context)
    }

    /// The transpose (rotation by −θ): the backward of `apply`, dx ← Rᵀ dx, in place.
    public func applyInverse(_ dx: Tensor, heads: Int, positions: UnsafePointer<Int32>, on context: ComputeContext) {
        rotate(dx, heads: heads, positions: positions, sign: -1, on: context)
    }

    private func rotate(_ x: Tensor, heads: Int, positions: UnsafePointer<Int32>, sign: Float, on context: ComputeContext) {
        let d = headDim, k = d / 2
        precondition(x.cols == heads * d, "RotaryEmbedding: x \(x.shapeDescription) is not \(heads) heads of \(d)")
        context.parallelChunks(x.rows, chunk: 64) { range in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: 2 * k) { scratch in
                let cosRow = scratch.baseAddress!, sinRow = cosRow + k
                for i in range {
                    let p = Int(positions[i])
                    let c: UnsafePointer<Float>, s: UnsafePointer<Float>
                    if p >= 0 && p < cachedPositions {
                        c = UnsafePointer(cosTable + p * k)
                        s = UnsafePointer(sinTable + p * k)
                    } else {
                        for j in 0..<k {
                            let angle = Double(p) * inverseFrequency[j]
                            cosRow[j] = Float(cos(angle))
                            sinRow[j] = Float(sin(angle))
                        }
                        c = UnsafePointer(cosRow)
                        s = UnsafePointer(sinRow)
                    }
                    let row = x.row(i)
                    for h in 0..<heads {
                        let a = row + h * d, b = a + k
                        var j = 0
                        let sv = VectorMath.V(repeating: sign)
                        while j + 16 <= k {
                            let cj = VectorMath.load(c + j), sj = VectorMath.load(s + j) * sv
                            let aj = VectorMath.load(a + j), bj = VectorMath.load(b + j)
                            VectorMath.store(aj * cj - bj * sj, a + j)
                            VectorMath.store(bj * cj + aj * sj, b + j)
                            j += 16
                        }
                        while j < k {
                            let cj = c[j], sj = s[j] * sign, aj = a[j], bj = b[j]
                            a[j] = aj * cj - bj * sj
                            b[j] = bj * cj + aj * sj
                            j += 1
                        }
                    }
                }
            }
        }
    }
}
