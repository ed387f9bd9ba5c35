// Parallel: the one thread-count setting and the loops that use it.
// Matrix products run on OpenBLAS's own threads; every other loop (attention per head,
// norms, element-wise work) is split over `Threads.count` workers (WorkerPool) with `parallelFor`.
// Inside a parallel region each worker calls BLAS single-threaded (`withSingleThreadedBLAS`).

import CBLAS
import Foundation

public enum Threads {
    nonisolated(unsafe) private static var current = Int(openblas_get_num_threads())

    /// Worker count for our loops and for OpenBLAS. Setting it also sets OpenBLAS's.
    public static var count: Int {
        get { current }
        set {
            precondition(newValue >= 1, "thread count must be at least 1")
            current = newValue
            openblas_set_num_threads(Int32(newValue))
        }
    }

    private static let exclusive = NSRecursiveLock()

    /// Runs `body` with the thread count set to `count`, holding a process-wide lock so that no
    /// other `withExclusiveCount` caller changes the count meanwhile (results that must be
    /// bit-identical, e.g. an exact resume, depend on the worker count); restores it afterwards.
    public static func withExclusiveCount<T>(_ count: Int, _ body: () throws -> T) rethrows -> T {
        exclusive.lock()
        defer { exclusive.unlock() }
        let saved = current
        defer { Threads.count = saved }
        Threads.count = count
        return try body()
    }

    /// The CPU kernel family OpenBLAS chose at load time (e.g. "SkylakeX", "Haswell").
    public static var blasCoreName: String { String(cString: openblas_get_corename()) }
}

/// Runs `body(i)` for i in 0..<iterations on up to `Threads.count` threads (WorkerPool: persistent
/// workers, nothing allocated per call) and waits. With one thread, or one iteration, it runs inline.
@inline(__always)
public func parallelFor(_ iterations: Int, _ body: (Int) -> Void) {
    WorkerPool.shared.run(iterations, body)
}

/// Splits 0..<total into `Threads.count` contiguous chunks (no chunk smaller than
/// `minChunk` unless total is) and runs `body(range)` on each in parallel.
@inline(__always)
public func parallelChunks(_ total: Int, minChunk: Int = 1, _ body: (Range<Int>) -> Void) {
    WorkerPool.shared.runChunks(total, minChunk: minChunk, body)
}

/// Runs `body` with OpenBLAS limited to one thread, for BLAS calls made from our own
/// parallel workers; restores the setting afterwards.
public func withSingleThreadedBLAS<R>(_ body: () throws -> R) rethrows -> R {
    let threads = Threads.count
    if threads == 1 { return try body() }
    openblas_set_num_threads(1)
    defer { openblas_set_num_threads(Int32(threads)) }
    return try body()
}
