// RMSNorm: y = x / sqrt(mean(x²) + eps) ⊙ w, per row, as Hugging Face LlamaRMSNorm (which
// computes in float32 too). Forward saves r = 1/rms per row; backward:
//   g = w ⊙ dy,  dx = r·g − x · r³/C · Σ(g ⊙ x),  dw += Σ_rows dy ⊙ x·r
// dw is summed per fixed chunk of 64 rows, then the chunks in order (the same bits for any
// thread count).
//
// Shapes: N rows, C channels, R = ⌈maxRows / 64⌉ row chunks.

import HATTensor

public final class RMSNorm {
    public let name: String
    public let eps: Float
    public let weight: Tensor          // [1, C]
    public let weightGrad: Tensor      // [1, C]
    public var isFrozen = false
    public let maxRows: Int
    public let context: ComputeContext
    let inverseRMS: UnsafeMutablePointer<Float>   // [maxRows] saved by forward
    let partialGrads: Tensor                      // [R, C] dw summed over each chunk of rows
    static let gradientChunkRows = 64
    var channels: Int { weight.cols }

    /// `needsBackward: false` skips the buffers only backward uses (inference).
    public init(parameters: ParameterSet, name: String, eps: Float, maxRows: Int, arena: Arena, context: ComputeContext,
                needsBackward: Bool = true) {
        self.name = name
        self.eps = eps
        self.maxRows = maxRows
        self.context = context
        weight = parameters.value(name)
        weightGrad = parameters.grad(name)
        inverseRMS = arena.allocate(count: maxRows)
        partialGrads = arena.tensor(rows: needsBackward ? (maxRows + RMSNorm.gradientChunkRows - 1) / RMSNorm.gradientChunkRows : 0,
                                    cols: weight.cols)
    }

    /// The float counts `init` takes from its arena (checked; nil on overflow), for
    /// `Arena.plannedFloats` before anything is allocated.
    public static func arenaRequests(channels: Int, maxRows: Int, needsBackward: Bool = true) -> [Int?] {
        [maxRows, checkedProduct([needsBackward ? (maxRows + gradientChunkRows - 1) / gradientChunkRows : 0, channels])]
    }

    public static func parameterSpecs(name: String, channels: Int) -> [ParameterSpec] {
        [ParameterSpec(name, [channels])]
    }

    /// y = x · r ⊙ w (y may alias x).
    public func forward(out y: Tensor /*[N, C]*/, input x: Tensor /*[N, C]*/) {
        let c = channels, n = x.rows
        precondition(x.cols == c && y.cols == c && y.rows == n && n <= maxRows,
                     "RMSNorm \(name): x \(x.shapeDescription), y \(y.shapeDescription), C \(c), maxRows \(maxRows)")
        let w = weight.data, inv = inverseRMS, eps = eps
        context.parallelChunks(n, chunk: 32) { range in
            for i in range {
                let xr = x.row(i), yr = y.row(i)
                let r = 1 / (VectorMath.sumOfSquares(xr, c) / Float(c) + eps).squareRoot()
                inv[i] = r
                let rv = VectorMath.V(repeating: r)
                var j = 0
                while j + 16 <= c {
                    VectorMath.store(VectorMath.load(xr + j) * rv * VectorMath.load(w + j), yr + j)
                    j += 16
                }
                while j < c { yr[j] = xr[j] * r * w[j]; j += 1 }
            }
        }
    }

    /// dx = (or +=) ∂L/∂x; dw += Σ dy ⊙ x·r unless frozen. Uses the r saved by the last forward
    /// on the same x. dx must not alias dy.
    public func backward(dInput dx: Tensor, dOut dy: Tensor, input x: Tensor, accumulateInput: Bool = false) {
        let c = channels, n = x.rows
        precondition(dx.cols == c && dy.cols == c && dx.rows == n && dy.rows == n,
                     "RMSNorm \(name): dx \(dx.shapeDescription), dy \(dy.shapeDescription), x \(x.shapeDescription)")
        let w = weight.data, inv = inverseRMS, frozen = isFrozen
        let partial = partialGrads, chunkRows = RMSNorm.gradientChunkRows
        let chunks = (n + chunkRows - 1) / chunkRows
        precondition(n <= maxRows, "RMSNorm \(name): \(n) rows exceed capacity \(maxRows)")
        context.parallelFor(chunks) { p in
            let pw = partial.row(p)
            if !frozen { pw.update(repeating: 0, count: c) }
            for i in (p * chunkRows)..<min((p + 1) * chunkRows, n) {
                let xr = x.row(i), gr = dy.row(i), dxr = dx.row(i)
                let r = inv[i]
                // s = Σ w ⊙ dy ⊙ x
                var sv = VectorMath.V(repeating: 0)
                var j = 0
                while j + 16 <= c {
                    sv = sv + VectorMath.load(w + j) * VectorMath.load(gr + j) * VectorMath.load(xr + j)
                    j += 16
                }
                var s = sv.sum()
                while j < c { s += w[j] * gr[j] * xr[j]; j += 1 }
                let a = r, b = r * r * r * s / Float(c)
                let av = VectorMath.V(repeating: a), bv = VectorMath.V(repeating: b)
                j = 0
                while j + 16 <= c {
                    let g = VectorMath.load(gr + j), xv = VectorMath.load(xr + j)
                    var d = av * VectorMath.load(w + j) * g - bv * xv
                    if accumulateInput { d = d + VectorMath.load(dxr + j) }
                    VectorMath.store(d, dxr + j)
                    if !frozen { VectorMath.store(VectorMath.load(pw + j) + g * xv * av, pw + j) }
                    j += 16
                }
                while j < c {
                    let d = a * w[j] * gr[j] - b * xr[j]
                    dxr[j] = accumulateInput ? dxr[j] + d : d
                    if !frozen { pw[j] += gr[j] * xr[j] * a }
                    j += 1
                }
            }
        }
        if frozen { return }
        let grad = weightGrad.data
        for p in 0..<chunks { VectorMath.add(partial.row(p), into: grad, c) }
    }
}
