// Test support for the layers: plain Double reference implementations of every layer (the
// obvious loops, no BLAS), a central-finite-difference gradient checker on a Double loss, and
// comparisons that print the tensor name, the max difference and the first values on failure.
//
// Matrices here are [Double] row-major with their shapes passed alongside.

#if canImport(Glibc)
import Glibc
#endif
import HATLayers
import HATTensor
import Testing

// MARK: - Comparison

/// Max |a − b| and a message naming the tensor with the first values of both.
func compare(_ name: String, _ actual: [Float], _ expected: [Double]) -> (maxDiff: Double, scale: Double, message: String) {
    precondition(actual.count == expected.count, "\(name): \(actual.count) values, expected \(expected.count)")
    var maxDiff = 0.0, at = 0, scale = 0.0
    for i in 0..<actual.count {
        let d = abs(Double(actual[i]) - expected[i])
        if d > maxDiff || d.isNaN { maxDiff = d; at = i }
        scale = max(scale, abs(expected[i]))
    }
    let first = 6
    let message = "\(name): max |diff| \(maxDiff) at \(at) (max |expected| \(scale), ratio \(maxDiff / max(scale, 1e-30))); first actual "
        + "\(actual.prefix(first).map { Double($0) }), first expected \(Array(expected.prefix(first)))"
    return (maxDiff, scale, message)
}

/// Expects max |actual − expected| ≤ tolerance.
func expectClose(_ name: String, _ actual: [Float], _ expected: [Double], absolute tolerance: Double,
                 sourceLocation: SourceLocation = #_sourceLocation) {
    let c = compare(name, actual, expected)
    if getenv("HAT_TEST_VERBOSE") != nil { print("[check] \(c.message); tolerance \(tolerance)") }
    #expect(c.maxDiff <= tolerance, "\(c.message); tolerance \(tolerance)", sourceLocation: sourceLocation)
}

/// Expects max |actual − expected| ≤ tolerance · max |expected| + floor. The floor (5e-5) is the
/// float32 noise of a finite difference of L = Σ out ⊙ R; it matters only for tensors with a small max.
func expectRelativeClose(_ name: String, _ actual: [Float], _ expected: [Double], relative tolerance: Double,
                         floor: Double = 5e-5, sourceLocation: SourceLocation = #_sourceLocation) {
    let c = compare(name, actual, expected)
    let bound = tolerance * c.scale + floor
    if getenv("HAT_TEST_VERBOSE") != nil { print("[check] \(c.message); tolerance \(tolerance)") }
    #expect(c.maxDiff <= bound, "\(c.message); tolerance \(tolerance) × max → \(bound)", sourceLocation: sourceLocation)
}

// MARK: - Finite differences

/// Central difference of `loss` in the float `p` points at, Richardson-extrapolated:
/// D(h) = (L(x+h) − L(x−h)) / 2h,  (4·D(ε/2) − D(ε)) / 3 cancels the ε² term (error O(ε⁴)).
/// Each D divides by the perturbation actually applied (float rounding of x ± h).
func centralDifference(_ p: UnsafeMutablePointer<Float>, epsilon: Float, loss: () -> Double) -> Double {
    let saved = p.pointee
    func d(_ h: Float) -> Double {
        p.pointee = saved + h
        let plus = loss()
        p.pointee = saved - h
        let minus = loss()
        p.pointee = saved
        return (plus - minus) / (Double(saved + h) - Double(saved - h))
    }
    return (4 * d(epsilon / 2) - d(epsilon)) / 3
}

/// Σ out ⊙ r in Double: the scalar loss of every gradient check (dL/dout = r).
func dotLoss(_ out: Tensor, _ r: Tensor) -> Double {
    var s = 0.0
    for i in 0..<out.rows {
        for j in 0..<out.cols { s += Double(out[i, j]) * Double(r[i, j]) }
    }
    return s
}

/// Finite-difference gradient of `loss` for every element of a (possibly strided) tensor, row-major.
func finiteDifferences(_ t: Tensor, epsilon: Float, loss: () -> Double) -> [Double] {
    var grads: [Double] = []
    grads.reserveCapacity(t.count)
    for i in 0..<t.rows {
        for j in 0..<t.cols { grads.append(centralDifference(t.row(i) + j, epsilon: epsilon, loss: loss)) }
    }
    return grads
}

// MARK: - Random inputs

func randomTensor(_ arena: Arena, _ rows: Int, _ cols: Int, _ rng: inout RandomGenerator, bound: Float = 1) -> Tensor {
    let t = arena.tensor(rows: rows, cols: cols)
    rng.fillUniform(t, bound: bound)
    return t
}

func doubles(_ t: Tensor) -> [Double] { t.toArray().map(Double.init) }

/// A parameter set holding `specs`, values uniform in ±bound (norm gains around 1).
func randomParameters(_ specs: [ParameterSpec], _ rng: inout RandomGenerator, bound: Float = 0.3) -> ParameterSet {
    let p = ParameterSet(specs)
    for e in p.entries {
        let v = p.value(e.name)
        if e.name.hasSuffix("norm.weight") {
            for j in 0..<v.cols { v[0, j] = 1 + (2 * rng.nextUniform() - 1) * 0.3 }
        } else {
            rng.fillUniform(v, bound: bound)
        }
    }
    return p
}

// MARK: - Reference layers (Double, plain loops)

enum Reference {
    /// y[N, O] = x[N, I] · w[O, I]ᵀ
    static func linear(_ x: [Double], rows n: Int, _ w: [Double], out o: Int, in i: Int) -> [Double] {
        var y = [Double](repeating: 0, count: n * o)
        for r in 0..<n {
            for a in 0..<o {
                var s = 0.0
                for b in 0..<i { s += x[r * i + b] * w[a * i + b] }
                y[r * o + a] = s
            }
        }
        return y
    }

    static func rmsNorm(_ x: [Double], rows n: Int, _ w: [Double], eps: Double) -> [Double] {
        let c = w.count
        var y = x
        for r in 0..<n {
            var ss = 0.0
            for j in 0..<c { ss += x[r * c + j] * x[r * c + j] }
            let inv = 1 / (ss / Double(c) + eps).squareRoot()
            for j in 0..<c { y[r * c + j] = x[r * c + j] * inv * w[j] }
        }
        return y
    }

    /// Hugging Face rotate-half RoPE on x [N, heads·D], angles in Double.
    static func rope(_ x: [Double], rows n: Int, heads: Int, headDim d: Int, positions: [Int32], theta: Double) -> [Double] {
        var y = x
        let k = d / 2, width = heads * d
        for r in 0..<n {
            for h in 0..<heads {
                for j in 0..<k {
                    let angle = Double(positions[r]) / pow(theta, Double(2 * j) / Double(d))
                    let a = x[r * width + h * d + j], b = x[r * width + h * d + j + k]
                    y[r * width + h * d + j] = a * cos(angle) - b * sin(angle)
                    y[r * width + h * d + j + k] = b * cos(angle) + a * sin(angle)
                }
            }
        }
        return y
    }

    /// softmax(q kᵀ/√D) v per head over keys lo[i]..<hi[i]; q [Nq, H·D], k, v [Nk, G·D].
    static func attention(q: [Double], k: [Double], v: [Double], queries nq: Int, heads: Int, kvHeads: Int,
                          headDim d: Int, lo: [Int32], hi: [Int32]) -> [Double] {
        let a = heads * d, kv = kvHeads * d, group = heads / kvHeads
        var out = [Double](repeating: 0, count: nq * a)
        for i in 0..<nq {
            for h in 0..<heads {
                let g = h / group
                let keys = Int(lo[i])..<max(Int(lo[i]), Int(hi[i]))
                if keys.isEmpty { continue }
                var scores: [Double] = []
                for j in keys {
                    var s = 0.0
                    for t in 0..<d { s += q[i * a + h * d + t] * k[j * kv + g * d + t] }
                    scores.append(s / Double(d).squareRoot())
                }
                let m = scores.max()!
                let e = scores.map { exp($0 - m) }
                let z = e.reduce(0, +)
                for (n, j) in keys.enumerated() {
                    for t in 0..<d { out[i * a + h * d + t] += e[n] / z * v[j * kv + g * d + t] }
                }
            }
        }
        return out
    }

    static func swiGLU(_ x: [Double], rows n: Int, c: Int, f: Int, gate: [Double], up: [Double], down: [Double]) -> [Double] {
        let g = linear(x, rows: n, gate, out: f, in: c)
        let u = linear(x, rows: n, up, out: f, in: c)
        var h = [Double](repeating: 0, count: n * f)
        for i in 0..<(n * f) { h[i] = g[i] / (1 + exp(-g[i])) * u[i] }
        return linear(h, rows: n, down, out: c, in: f)
    }

    /// Attention with projections and RoPE (cross or self), as CrossAttention.
    static func projectedAttention(queries: [Double], keyValues: [Double], nq: Int, nk: Int, cq: Int, ckv: Int,
                                   heads: Int, kvHeads: Int, headDim d: Int, theta: Double,
                                   qPos: [Int32], kPos: [Int32], lo: [Int32], hi: [Int32],
                                   wq: [Double], wk: [Double], wv: [Double], wo: [Double]) -> [Double] {
        let a = heads * d, kv = kvHeads * d
        let q = rope(linear(queries, rows: nq, wq, out: a, in: cq), rows: nq, heads: heads, headDim: d, positions: qPos, theta: theta)
        let k = rope(linear(keyValues, rows: nk, wk, out: kv, in: ckv), rows: nk, heads: kvHeads, headDim: d, positions: kPos, theta: theta)
        let v = linear(keyValues, rows: nk, wv, out: kv, in: ckv)
        let o = attention(q: q, k: k, v: v, queries: nq, heads: heads, kvHeads: kvHeads, headDim: d, lo: lo, hi: hi)
        return linear(o, rows: nq, wo, out: cq, in: a)
    }

    /// The Llama block in Double from the parameters under `prefix`.
    static func llamaBlock(_ x: [Double], rows n: Int, config cfg: LlamaBlockConfig, parameters p: ParameterSet,
                           prefix: String, positions: [Int32], lo: [Int32], hi: [Int32]) -> [Double] {
        func w(_ name: String) -> [Double] { doubles(p.value("\(prefix).\(name)")) }
        let c = cfg.hidden
        let n1 = rmsNorm(x, rows: n, w("input_layernorm.weight"), eps: Double(cfg.rmsEps))
        let attn = projectedAttention(queries: n1, keyValues: n1, nq: n, nk: n, cq: c, ckv: c, heads: cfg.heads,
                                      kvHeads: cfg.kvHeads, headDim: cfg.headDim, theta: Double(cfg.ropeTheta),
                                      qPos: positions, kPos: positions, lo: lo, hi: hi,
                                      wq: w("self_attn.q_proj.weight"), wk: w("self_attn.k_proj.weight"),
                                      wv: w("self_attn.v_proj.weight"), wo: w("self_attn.o_proj.weight"))
        let x1 = zip(x, attn).map { $0 + $1 }
        let n2 = rmsNorm(x1, rows: n, w("post_attention_layernorm.weight"), eps: Double(cfg.rmsEps))
        let m = swiGLU(n2, rows: n, c: c, f: cfg.intermediate, gate: w("mlp.gate_proj.weight"),
                       up: w("mlp.up_proj.weight"), down: w("mlp.down_proj.weight"))
        return zip(x1, m).map { $0 + $1 }
    }
}

// MARK: - Ranges

/// Key ranges from arrays (heap buffers owned by the returned object).
final class TestRanges {
    let ranges: KeyRanges
    init(lo: [Int32], hi: [Int32]) {
        ranges = KeyRanges.allocate(capacity: lo.count)
        for i in 0..<lo.count {
            ranges.lo[i] = lo[i]
            ranges.hi[i] = hi[i]
        }
    }
    deinit { ranges.deallocate() }
    var lo: [Int32] { (0..<ranges.count).map { ranges.lo[$0] } }
    var hi: [Int32] { (0..<ranges.count).map { ranges.hi[$0] } }

    /// Causal with window and segment starts, through KeyRanges.fillCausal.
    static func causal(_ n: Int, window: Int?, segmentStarts: [Int32]? = nil) -> TestRanges {
        let t = TestRanges(lo: [Int32](repeating: 0, count: n), hi: [Int32](repeating: 0, count: n))
        if let segmentStarts {
            segmentStarts.withUnsafeBufferPointer { KeyRanges.fillCausal(into: t.ranges, count: n, window: window, segmentStart: $0.baseAddress!) }
        } else {
            KeyRanges.fillCausal(into: t.ranges, count: n, window: window, segmentStart: nil)
        }
        return t
    }
}
