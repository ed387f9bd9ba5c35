// VectorMath and TensorOps against plain Double loops: our exp over the whole float range it
// serves (relative error ≤ 2e-7), sigmoid, the masked row helpers at lengths that are not
// multiples of 16, and the parallel whole-tensor operations.

#if canImport(Glibc)
import Glibc
#endif
import HATTensor
import Testing

@Suite(.serialized) struct VectorMathTests {
    @Test func argmaxTakesTheFirstMaximum() {
        let x: [Float] = [1, 3, -2, 3, 0.5]
        #expect(VectorMath.argmax(x, count: 5) == 1)
        #expect(VectorMath.argmax(x, count: 1) == 0)
        #expect(VectorMath.argmax([-.infinity, -.infinity], count: 2) == 0)
        #expect(VectorMath.argmax([0, .nan, 2], count: 3) == 2)
    }

    @Test func expMatchesDoubleExp() {
        var worst = 0.0, worstX: Float = 0
        var x: Float = -87
        while x < 88 {
            let xs = VectorMath.V((0..<16).map { x + Float($0) * 0.0011 })
            let e = VectorMath.exp(xs)
            for i in 0..<16 {
                let exact = Glibc.exp(Double(xs[i]))
                let rel = abs(Double(e[i]) - exact) / exact
                if rel > worst { worst = rel; worstX = xs[i] }
            }
            x += 0.0173
        }
        #expect(worst < 2e-7, "exp: max relative error \(worst) at x = \(worstX)")
        // Clamped ends: tiny positive for very negative inputs, finite for large ones.
        let ends = VectorMath.exp(VectorMath.V(repeating: -1000))
        #expect(ends[0] >= 0 && ends[0] < 2e-38)
        #expect(VectorMath.exp(Float(0)) == 1)
        #expect(VectorMath.exp(Float(1000)).isFinite)
    }

    @Test func sigmoidMatchesDouble() {
        var worst = 0.0
        for i in 0..<4000 {
            let x = Float(i - 2000) * 0.02
            let s = VectorMath.sigmoid(VectorMath.V(repeating: x))[0]
            let exact = 1 / (1 + Glibc.exp(-Double(x)))
            worst = max(worst, abs(Double(s) - exact))
        }
        #expect(worst < 1e-7, "sigmoid: max abs error \(worst)")
    }

    @Test(arguments: [1, 7, 16, 17, 40, 64, 257])
    func rowHelpersHandleTails(n: Int) {
        var rng = RandomGenerator(seed: UInt64(n))
        let a = (0..<n).map { _ in 4 * rng.nextUniform() - 2 }
        let b = (0..<n).map { _ in 4 * rng.nextUniform() - 2 }
        a.withUnsafeBufferPointer { pa in
            b.withUnsafeBufferPointer { pb in
                let dot = VectorMath.dot(pa.baseAddress!, pb.baseAddress!, n)
                let exactDot = zip(a, b).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
                #expect(abs(Double(dot) - exactDot) < 1e-5)
                #expect(VectorMath.max(pa.baseAddress!, n) == a.max()!)
            }
        }
        // exp(x − shift) in place with its sum; the float after the row is untouched.
        var buffer = a + [123]
        let sum = buffer.withUnsafeMutableBufferPointer { VectorMath.expShiftedInPlace($0.baseAddress!, n, shift: 0.5) }
        var exactSum = 0.0
        for i in 0..<n {
            let e = Glibc.exp(Double(a[i]) - 0.5)
            exactSum += e
            #expect(abs(Double(buffer[i]) - e) <= 2e-7 * e)
        }
        #expect(abs(Double(sum) - exactSum) <= 1e-6 * exactSum)
        #expect(buffer[n] == 123)
        // axpy, scale, add
        var y = b + [7]
        y.withUnsafeMutableBufferPointer { py in
            a.withUnsafeBufferPointer { VectorMath.axpy(0.5, $0.baseAddress!, py.baseAddress!, n) }
            VectorMath.scale(py.baseAddress!, n, by: 2)
            a.withUnsafeBufferPointer { VectorMath.add($0.baseAddress!, into: py.baseAddress!, n) }
        }
        for i in 0..<n { #expect(abs(y[i] - ((b[i] + 0.5 * a[i]) * 2 + a[i])) < 1e-5) }
        #expect(y[n] == 7)
    }

    @Test(arguments: [1, 3])
    func tensorOpsOnStridedViews(threads: Int) {
        let context = ComputeContext(threads: threads)
        let arena = Arena(name: "test")
        var rng = RandomGenerator(seed: 3)
        let aStore = arena.tensor(rows: 3000, cols: 40), bStore = arena.tensor(rows: 3000, cols: 40)
        rng.fillUniform(aStore, bound: 1)
        rng.fillUniform(bStore, bound: 1)
        let a = aStore.columns(3..<36), b = bStore.columns(5..<38)
        let outside = aStore.columns(0..<3).toArray() + aStore.columns(36..<40).toArray()
        let before = a.toArray(), other = b.toArray()
        a.add(b, on: context)
        let sum = a.toArray()
        for i in 0..<sum.count { #expect(sum[i] == before[i] + other[i]) }
        a.copy(from: b, on: context)
        #expect(a.toArray() == other)
        a.zero(on: context)
        #expect(a.toArray().allSatisfy { $0 == 0 })
        // Columns outside the view are untouched by all three.
        #expect(aStore.columns(0..<3).toArray() + aStore.columns(36..<40).toArray() == outside)
        let ints = arena.allocateInt32(count: 10)
        ints[9] = -5
        #expect(ints[0] == 0 && ints[9] == -5)
    }
}
