// CrossEntropy: softmax cross-entropy over V classes (256 bytes) per row, with an optional
// per-row mask (rows with mask 0 add nothing), as torch F.cross_entropy(reduction="sum") over
// the masked rows:  loss_i = logsumexp(z_i) − z_i[target_i],  dz_i = (softmax(z_i) − onehot) · m_i · scale.
//
// The loss is summed per fixed chunk of 64 rows, then the chunks in order (the same bits for any
// thread count).
//
// Shapes: N rows, V classes.

#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif
import HATTensor

public enum CrossEntropy {
    /// Σ over rows with mask ≠ 0 of −log p[target] (accumulated in Double), and the number of such
    /// rows; `perRow` [N], when given, receives each row's −log p[target] (0 where masked).
    public static func forward(logits: Tensor /*[N, V]*/, targets: UnsafePointer<Int32> /*[N]*/,
                               mask: UnsafePointer<Float>? /*[N]*/, on context: ComputeContext,
                               perRow: UnsafeMutablePointer<Double>? = nil) -> (lossSum: Double, count: Int) {
        let n = logits.rows, v = logits.cols, chunkRows = 64
        let chunks = max(1, (n + chunkRows - 1) / chunkRows)
        return withUnsafeTemporaryAllocation(of: (Double, Int).self, capacity: chunks) { partial in
            let partialBase = partial.baseAddress!
            context.parallelFor(chunks) { c in
                var loss = 0.0, count = 0
                for i in (c * chunkRows)..<min((c + 1) * chunkRows, n) {
                    if let mask, mask[i] == 0 { perRow?[i] = 0; continue }
                    let z = logits.row(i)
                    let m = VectorMath.max(z, v)
                    var sum: Float = 0
                    var j = 0
                    let mv = VectorMath.V(repeating: m)
                    var sv = VectorMath.V(repeating: 0)
                    while j + 16 <= v { sv = sv + VectorMath.exp(VectorMath.load(z + j) - mv); j += 16 }
                    sum = sv.sum()
                    while j < v { sum += VectorMath.exp(z[j] - m); j += 1 }
                    let lse = Double(m) + log(Double(sum))
                    let rowLoss = lse - Double(z[Int(targets[i])])
                    perRow?[i] = rowLoss
                    loss += rowLoss * Double(mask?[i] ?? 1)
                    count += 1
                }
                (partialBase + c).initialize(to: (loss, count))
            }
            var loss = 0.0, count = 0
            for c in 0..<chunks {
                loss += partial[c].0
                count += partial[c].1
            }
            return (loss, count)
        }
    }

    /// dLogits = (softmax(logits) − onehot(target)) · mask · scale, row by row (may alias logits).
    public static func backward(dLogits: Tensor, logits: Tensor, targets: UnsafePointer<Int32>,
                                mask: UnsafePointer<Float>?, scale: Float, on context: ComputeContext) {
        let n = logits.rows, v = logits.cols
        precondition(dLogits.rows == n && dLogits.cols == v,
                     "CrossEntropy: dLogits \(dLogits.shapeDescription), logits \(logits.shapeDescription)")
        context.parallelChunks(n, chunk: 64) { range in
            for i in range {
                let z = logits.row(i), dz = dLogits.row(i)
                let weight = (mask?[i] ?? 1) * scale
                if weight == 0 {
                    dz.update(repeating: 0, count: v)
                    continue
                }
                if dz != z { dz.update(from: z, count: v) }
                let m = VectorMath.max(dz, v)
                let sum = VectorMath.expShiftedInPlace(dz, v, shift: m)
                VectorMath.scale(dz, v, by: weight / sum)
                dz[Int(targets[i])] -= weight
            }
        }
    }
}
