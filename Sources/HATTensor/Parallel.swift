// Parallel: the one thread-count setting and the loops that use it.
// Matrix products run on OpenBLAS's own threads; every other loop (attention per head,
// norms, element-wise work) is split over `Threads.count` workers with `parallelFor`.
// Inside a parallel region each worker calls BLAS single-threaded (`withSingleThreadedBLAS`).

import CBLAS
import Dispatch

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

    /// The CPU kernel family OpenBLAS chose at load time (e.g. "SkylakeX", "Haswell").
    public static var blasCoreName: String { String(cString: openblas_get_corename()) }
}

/// Lets a non-Sendable closure cross into Dispatch's worker threads. Safe here because
/// `parallelFor` waits for every iteration before it returns, and callers give each
/// iteration disjoint memory to write.
private struct UncheckedSendable<Value>: @unchecked Sendable { let value: Value }

/// Runs `body(i)` for i in 0..<iterations on up to `Threads.count` threads and waits.
/// With one thread, or one iteration, it runs inline.
public func parallelFor(_ iterations: Int, _ body: (Int) -> Void) {
    if iterations <= 0 { return }
    if iterations == 1 || Threads.count == 1 {
        for i in 0..<iterations { body(i) }
        return
    }
    withoutActuallyEscaping(body) { escapable in
        let box = UncheckedSendable(value: escapable)
        DispatchQueue.concurrentPerform(iterations: iterations) { i in box.value(i) }
    }
}

/// Splits 0..<total into `Threads.count` contiguous chunks (no chunk smaller than
/// `minChunk` unless total is) and runs `body(range)` on each in parallel.
public func parallelChunks(_ total: Int, minChunk: Int = 1, _ body: (Range<Int>) -> Void) {
    if total <= 0 { return }
    let chunks = max(1, min(Threads.count, total / max(minChunk, 1)))
    if chunks == 1 {
        body(0..<total)
        return
    }
    parallelFor(chunks) { c in
        let start = total * c / chunks
        let end = total * (c + 1) / chunks
        body(start..<end)
    }
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
