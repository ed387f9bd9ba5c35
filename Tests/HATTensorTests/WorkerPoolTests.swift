// WorkerPool: every iteration runs exactly once for many sizes, a call from inside a job runs
// inline (no deadlock), and callers on several threads at once all complete correctly.

import Dispatch
import HATTensor
import Testing

@Suite(.serialized) struct WorkerPoolTests {
    @Test func everyIterationRunsOnce() {
        Threads.withExclusiveCount(1) {
            for threads in [1, 2, 3] {
                Threads.count = threads
                for n in [0, 1, 2, 3, 7, 64, 1000] {
                    let counts = UnsafeMutablePointer<Int>.allocate(capacity: max(n, 1))
                    counts.initialize(repeating: 0, count: max(n, 1))
                    defer { counts.deallocate() }
                    for _ in 0..<5 { WorkerPool.shared.run(n) { i in counts[i] += 1 } }
                    #expect((0..<n).allSatisfy { counts[$0] == 5 }, "threads \(threads), n \(n)")
                }
                var covered = [Int](repeating: 0, count: 101)
                covered.withUnsafeMutableBufferPointer { c in
                    let base = c.baseAddress!
                    WorkerPool.shared.runChunks(101, minChunk: 10) { range in for i in range { base[i] += 1 } }
                }
                #expect(covered.allSatisfy { $0 == 1 })
            }
        }
    }

    @Test func nestedCallsRunInline() {
        let n = 8
        let counts = UnsafeMutablePointer<Int>.allocate(capacity: n * n)
        counts.initialize(repeating: 0, count: n * n)
        defer { counts.deallocate() }
        WorkerPool.shared.run(n) { i in
            WorkerPool.shared.run(n) { j in counts[i * n + j] += 1 }
        }
        #expect((0..<(n * n)).allSatisfy { counts[$0] == 1 })
    }

    @Test func concurrentCallersAllComplete() {
        let callers = 4, n = 200
        let sums = UnsafeMutablePointer<Int>.allocate(capacity: callers * n)
        sums.initialize(repeating: 0, count: callers * n)
        defer { sums.deallocate() }
        let address = Int(bitPattern: sums)   // an integer crosses into the @Sendable closure
        DispatchQueue.concurrentPerform(iterations: callers) { c in
            let sums = UnsafeMutablePointer<Int>(bitPattern: address)!
            for _ in 0..<50 { WorkerPool.shared.run(n) { i in sums[c * n + i] += 1 } }
        }
        #expect((0..<(callers * n)).allSatisfy { sums[$0] == 50 })
    }
}
