// ComputeContext: every loop iteration runs exactly once for many sizes and thread counts, a
// call from inside a job runs inline (no deadlock), callers on several threads at once all
// complete, contexts end their threads; products are cut by shape only (every kind of cut
// covers the product exactly) and give the same bits for 1, 2, 3 and 8 threads, close to a
// naive Double loop.

import Dispatch
import HATTensor
import Testing

@Suite struct ComputeContextTests {
    @Test(arguments: [1, 2, 3, 8])
    func everyIterationRunsOnce(threads: Int) {
        let context = ComputeContext(threads: threads)
        for n in [0, 1, 2, 3, 7, 64, 1000] {
            let counts = UnsafeMutablePointer<Int>.allocate(capacity: max(n, 1))
            counts.initialize(repeating: 0, count: max(n, 1))
            defer { counts.deallocate() }
            for _ in 0..<5 { context.parallelFor(n) { i in counts[i] += 1 } }
            #expect((0..<n).allSatisfy { counts[$0] == 5 }, "threads \(threads), n \(n)")
        }
        var covered = [Int](repeating: 0, count: 101)
        covered.withUnsafeMutableBufferPointer { c in
            let base = c.baseAddress!
            context.parallelChunks(101, chunk: 10) { range in
                #expect(range.count == 10 || range == 100..<101)
                for i in range { base[i] += 1 }
            }
        }
        #expect(covered.allSatisfy { $0 == 1 })
    }

    @Test func nestedCallsRunInline() {
        let context = ComputeContext(threads: 3)
        let n = 8
        let counts = UnsafeMutablePointer<Int>.allocate(capacity: n * n)
        counts.initialize(repeating: 0, count: n * n)
        defer { counts.deallocate() }
        context.parallelFor(n) { i in
            context.parallelFor(n) { j in counts[i * n + j] += 1 }
        }
        #expect((0..<(n * n)).allSatisfy { counts[$0] == 1 })
    }

    @Test func concurrentCallersOfOneContextAllComplete() {
        let context = ComputeContext(threads: 2)
        let callers = 4, n = 200
        let sums = UnsafeMutablePointer<Int>.allocate(capacity: callers * n)
        sums.initialize(repeating: 0, count: callers * n)
        defer { sums.deallocate() }
        let address = Int(bitPattern: sums)   // an integer crosses into the @Sendable closure
        DispatchQueue.concurrentPerform(iterations: callers) { c in
            let sums = UnsafeMutablePointer<Int>(bitPattern: address)!
            for _ in 0..<50 { context.parallelFor(n) { i in sums[c * n + i] += 1 } }
        }
        #expect((0..<(callers * n)).allSatisfy { sums[$0] == 50 })
    }

    @Test func manyContextsComeAndGo() {
        // Each context starts workers on first use and lets them exit when it ends.
        for round in 0..<200 {
            let context = ComputeContext(threads: 3)
            var total = 0
            withUnsafeMutablePointer(to: &total) { p in
                let address = Int(bitPattern: p)
                context.parallelFor(3) { i in if i == 0 { UnsafeMutablePointer<Int>(bitPattern: address)!.pointee = round } }
            }
            #expect(total == round)
        }
    }

    @Test func productSplitDependsOnShapeOnly() {
        // Small products stay whole.
        #expect(ComputeContext.productSplit(m: 8, n: 8, k: 8) == .none)
        // Many rows, modest K and N (a forward projection): cut the rows.
        guard case .rows(let chunk, let pieces) = ComputeContext.productSplit(m: 16_384, n: 768, k: 256) else {
            Issue.record("expected a row split"); return
        }
        #expect(pieces == ComputeContext.maxPieces && chunk * pieces >= 16_384 && chunk * (pieces - 1) < 16_384)
        // One row of a decoding step against a wide weight: cut the columns.
        guard case .columns = ComputeContext.productSplit(m: 1, n: 49_152, k: 576) else {
            Issue.record("expected a column split"); return
        }
        // A weight gradient (the sum runs over many rows): cut the sum.
        guard case .sum = ComputeContext.productSplit(m: 768, n: 256, k: 16_384) else {
            Issue.record("expected a sum split"); return
        }
    }

    /// A and B [rows, cols] as stored for the given transposes, with random values.
    static func operands(m: Int, n: Int, k: Int, transposeA: Bool, transposeB: Bool, arena: Arena) -> (Tensor, Tensor) {
        var rng = RandomGenerator(seed: UInt64(m * 31 + n * 7 + k))
        let a = transposeA ? arena.tensor(rows: k, cols: m) : arena.tensor(rows: m, cols: k)
        let b = transposeB ? arena.tensor(rows: n, cols: k) : arena.tensor(rows: k, cols: n)
        rng.fillUniform(a, bound: 1)
        rng.fillUniform(b, bound: 1)
        return (a, b)
    }

    // One shape per kind of cut (rows, columns, sum), each with every transpose.
    @Test(arguments: [(600, 96, 100), (1, 8_000, 300), (24, 40, 6_000)], [(false, false), (true, false), (false, true), (true, true)])
    func productsAreTheSameBitsForAnyThreadCount(shape: (Int, Int, Int), transposes: (Bool, Bool)) {
        let (m, n, k) = shape, (transposeA, transposeB) = transposes
        #expect(ComputeContext.productSplit(m: m, n: n, k: k) != .none, "the shape should be cut")
        let arena = Arena(name: "test")
        let (a, b) = Self.operands(m: m, n: n, k: k, transposeA: transposeA, transposeB: transposeB, arena: arena)
        let initial = arena.tensor(rows: m, cols: n)
        var rng = RandomGenerator(seed: 9)
        rng.fillUniform(initial, bound: 1)
        var results: [[Float]] = []
        for threads in [1, 2, 3, 8] {
            let context = ComputeContext(threads: threads)
            let c = arena.tensor(rows: m, cols: n)
            c.copy(from: initial)
            context.gemm(a, transposeA: transposeA, b, transposeB: transposeB, into: c, alpha: 0.5, beta: 2)
            results.append(c.toArray())
        }
        #expect(results.allSatisfy { $0 == results[0] }, "threads 1, 2, 3, 8 differ")
        // And the value is the product.
        var maxError = 0.0
        for i in stride(from: 0, to: m, by: max(1, m / 17)) {
            for j in stride(from: 0, to: n, by: max(1, n / 13)) {
                var sum = 0.0
                for p in 0..<k {
                    sum += Double(transposeA ? a[p, i] : a[i, p]) * Double(transposeB ? b[j, p] : b[p, j])
                }
                maxError = max(maxError, abs(0.5 * sum + 2 * Double(initial[i, j]) - Double(results[0][i * n + j])))
            }
        }
        #expect(maxError < 1e-3 * Double(k).squareRoot(), "max |gemm − naive| = \(maxError)")
    }
}
