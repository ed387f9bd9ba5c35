// VectorMath: the element-wise kernels the layers share, written on SIMD16<Float> (two AVX2
// registers in the release builds, which target haswell). `exp` is our own: Cody–Waite range
// reduction to |r| ≤ ln2/2 and a degree-7 Taylor polynomial, then 2ⁿ built from the exponent
// bits; relative error ≈ 1.5e-7 against Double exp (tested in HATTensorTests/VectorMathTests).
// Row helpers take raw pointers and a length; tails shorter than 16 are masked, never read past.

public enum VectorMath {
    public typealias V = SIMD16<Float>
    public static let width = 16

    // MARK: exp

    /// e^x lane by lane. Inputs are clamped to [−87.34, 88.37]: far below, the result is
    /// ≈1.2e-38 rather than 0; far above, ≈2.4e38 rather than +∞.
    @inlinable @inline(__always)
    public static func exp(_ x: V) -> V {
        // (replacing(with:where:) compiles to blends; the stdlib's clamped/pointwiseMax do not vectorise)
        let lo = V(repeating: -87.33654), hi = V(repeating: 88.37626)
        var xc = x.replacing(with: lo, where: x .< lo)
        xc = xc.replacing(with: hi, where: xc .> hi)
        // n = round(x / ln2) by the 1.5·2²³ trick: the integer lands in the low mantissa bits.
        let magic = V(repeating: 12_582_912)
        let shifted = xc * V(repeating: 1.442_695_04) + magic
        let n = shifted - magic
        // r = x − n·ln2 with ln2 split in a high part exact in float and a low correction.
        var r = xc - n * V(repeating: 0.693_145_751_953_125)
        r = r - n * V(repeating: 1.428_606_765_330_187_045e-06)
        // e^r ≈ Σ_{k≤7} r^k / k!  (Horner; truncation < 6e-9 on |r| ≤ 0.347)
        var p = V(repeating: 1.0 / 5040)
        p = p * r + V(repeating: 1.0 / 720)
        p = p * r + V(repeating: 1.0 / 120)
        p = p * r + V(repeating: 1.0 / 24)
        p = p * r + V(repeating: 1.0 / 6)
        p = p * r + V(repeating: 0.5)
        p = p * r + V(repeating: 1)
        p = p * r + V(repeating: 1)
        // 2ⁿ: (n + 127) << 23 as the bits of a float; n ∈ [−126, 127] after the clamp.
        let nBits = unsafeBitCast(shifted, to: SIMD16<Int32>.self) &- unsafeBitCast(magic, to: SIMD16<Int32>.self)
        let twoN = unsafeBitCast((nBits &+ 127) &<< 23, to: V.self)
        return p * twoN
    }

    /// e^x for one float, through the same polynomial as the vector version.
    @inlinable @inline(__always)
    public static func exp(_ x: Float) -> Float { exp(V(repeating: x))[0] }

    /// Logistic sigmoid 1 / (1 + e^−x) lane by lane.
    @inlinable @inline(__always)
    public static func sigmoid(_ x: V) -> V { V(repeating: 1) / (V(repeating: 1) + exp(-x)) }

    // MARK: loads and stores

    @inlinable @inline(__always)
    public static func load(_ p: UnsafePointer<Float>) -> V {
        UnsafeRawPointer(p).loadUnaligned(as: V.self)
    }

    @inlinable @inline(__always)
    public static func store(_ v: V, _ p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: V.self)
    }

    /// Loads the first `n` < 16 floats; the other lanes are `fill`.
    @inlinable @inline(__always)
    public static func loadPartial(_ p: UnsafePointer<Float>, _ n: Int, fill: Float = 0) -> V {
        var v = V(repeating: fill)
        for i in 0..<n { v[i] = p[i] }
        return v
    }

    /// Stores the first `n` < 16 lanes.
    @inlinable @inline(__always)
    public static func storePartial(_ v: V, _ p: UnsafeMutablePointer<Float>, _ n: Int) {
        for i in 0..<n { p[i] = v[i] }
    }

    // MARK: row reductions

    /// The index of the largest of x[0..<count], the first one on ties (greedy decoding's rule,
    /// the one argmax of the package). A NaN is never chosen unless it is x[0]. count ≥ 1.
    public static func argmax(_ x: UnsafePointer<Float>, count: Int) -> Int {
        precondition(count >= 1, "argmax of no values")
        var best = 0
        for i in 1..<count where x[i] > x[best] { best = i }
        return best
    }

    /// max of p[0..<n] (−∞ for n = 0).
    @inlinable
    public static func max(_ p: UnsafePointer<Float>, _ n: Int) -> Float {
        var m = V(repeating: -.infinity)
        var i = 0
        while i + 16 <= n {
            let x = load(p + i)
            m = m.replacing(with: x, where: x .> m)
            i += 16
        }
        if i < n {
            let x = loadPartial(p + i, n - i, fill: -.infinity)
            m = m.replacing(with: x, where: x .> m)
        }
        return m.max()
    }

    /// Σ a[i]·b[i] over n floats (float lanes, summed at the end).
    @inlinable
    public static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
        var s = V(repeating: 0)
        var i = 0
        while i + 16 <= n { s = s + load(a + i) * load(b + i); i += 16 }
        if i < n { s = s + loadPartial(a + i, n - i) * loadPartial(b + i, n - i) }
        return s.sum()
    }

    /// Σ p[i]² over n floats.
    @inlinable
    public static func sumOfSquares(_ p: UnsafePointer<Float>, _ n: Int) -> Float { dot(p, p, n) }

    /// p[i] = e^(p[i] − shift) for i < n; returns Σ of the new values.
    @inlinable
    public static func expShiftedInPlace(_ p: UnsafeMutablePointer<Float>, _ n: Int, shift: Float) -> Float {
        let m = V(repeating: shift)
        var s = V(repeating: 0)
        var i = 0
        while i + 16 <= n {
            let e = exp(load(p + i) - m)
            store(e, p + i)
            s = s + e
            i += 16
        }
        if i < n {
            let k = n - i
            var e = exp(loadPartial(p + i, k) - m)
            for j in k..<16 { e[j] = 0 }
            storePartial(e, p + i, k)
            s = s + e
        }
        return s.sum()
    }

    // MARK: element-wise updates

    /// p[i] *= factor.
    @inlinable
    public static func scale(_ p: UnsafeMutablePointer<Float>, _ n: Int, by factor: Float) {
        let f = V(repeating: factor)
        var i = 0
        while i + 16 <= n { store(load(p + i) * f, p + i); i += 16 }
        while i < n { p[i] *= factor; i += 1 }
    }

    /// y[i] += alpha · x[i].
    @inlinable
    public static func axpy(_ alpha: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
        let a = V(repeating: alpha)
        var i = 0
        while i + 16 <= n { store(load(y + i) + a * load(x + i), y + i); i += 16 }
        while i < n { y[i] += alpha * x[i]; i += 1 }
    }

    /// y[i] += x[i].
    @inlinable
    public static func add(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, _ n: Int) {
        var i = 0
        while i + 16 <= n { store(load(y + i) + load(x + i), y + i); i += 16 }
        while i < n { y[i] += x[i]; i += 1 }
    }
}
