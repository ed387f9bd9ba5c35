// WorkerPool: Threads.count − 1 persistent worker threads plus the caller, for the layers'
// parallel loops. Unlike DispatchQueue.concurrentPerform (which on Linux grows resident memory by
// ~160 bytes per call for its first ~15,000 calls), a call allocates nothing: the job is published
// under one mutex, workers wake on a condition variable and claim iterations one at a time; the
// caller claims too and waits only for iterations others have claimed.
// Same contract as `parallelFor`: body(i) runs once for every i in 0..<iterations, the call
// returns when all have finished. A call made while the pool is busy (from inside a job, or from
// another thread) runs inline, so nesting and concurrent callers never deadlock.

#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

public final class WorkerPool: @unchecked Sendable {
    /// The pool every layer uses; it grows to Threads.count − 1 workers on first need.
    public static let shared = WorkerPool()

    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let wake: UnsafeMutablePointer<pthread_cond_t>       // workers wait for a new job
    private let done: UnsafeMutablePointer<pthread_cond_t>       // the caller waits for the workers
    private var workerCount = 0
    // Job state, guarded by `mutex`.
    private var busy = false
    private var generation = 0
    /// The caller's closure, which lives on the caller's stack for the whole job; workers call
    /// through the pointer and never keep a reference of their own.
    private var job: UnsafeMutablePointer<(Int) -> Void>?
    private var iterations = 0
    private var nextIteration = 0    // next iteration to claim
    private var completed = 0        // iterations finished

    private init() {
        mutex = .allocate(capacity: 1)
        wake = .allocate(capacity: 1)
        done = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(wake, nil)
        pthread_cond_init(done, nil)
    }

    /// Runs body(i) for i in 0..<iterations on up to Threads.count threads and waits.
    public func run(_ iterations: Int, _ body: (Int) -> Void) {
        if iterations <= 0 { return }
        let threads = min(Threads.count, iterations)
        if threads <= 1 { for i in 0..<iterations { body(i) }; return }
        pthread_mutex_lock(mutex)
        if busy {
            pthread_mutex_unlock(mutex)
            for i in 0..<iterations { body(i) }
            return
        }
        busy = true
        while workerCount < threads - 1 { startWorker() }
        withoutActuallyEscaping(body) { escapable in
            var closure = escapable
            withUnsafeMutablePointer(to: &closure) { pointer in
                job = pointer
                self.iterations = iterations
                nextIteration = 0
                completed = 0
                generation &+= 1
                pthread_cond_broadcast(wake)
                pthread_mutex_unlock(mutex)
                work()
                // Wait only for iterations others claimed; a worker that wakes late finds none left.
                pthread_mutex_lock(mutex)
                while completed < iterations { pthread_cond_wait(done, mutex) }
                job = nil
            }
        }
        busy = false
        pthread_mutex_unlock(mutex)
    }

    /// Splits 0..<total into at most Threads.count contiguous chunks (none smaller than
    /// `minChunk` unless total is) and runs body(range) on each in parallel.
    public func runChunks(_ total: Int, minChunk: Int = 1, _ body: (Range<Int>) -> Void) {
        if total <= 0 { return }
        let chunks = max(1, min(Threads.count, total / max(minChunk, 1)))
        if chunks == 1 { body(0..<total); return }
        run(chunks) { c in body((total * c / chunks)..<(total * (c + 1) / chunks)) }
    }

    /// Claims and runs iterations of the current job until none are left (mutex not held).
    private func work() {
        while true {
            pthread_mutex_lock(mutex)
            let i = nextIteration
            nextIteration += 1
            let body = i < iterations ? job : nil
            pthread_mutex_unlock(mutex)
            guard let body else { return }
            body.pointee(i)
            pthread_mutex_lock(mutex)
            completed += 1
            if completed == iterations { pthread_cond_signal(done) }
            pthread_mutex_unlock(mutex)
        }
    }

    private func workerLoop() {
        var seen = 0
        pthread_mutex_lock(mutex)
        while true {
            while generation == seen { pthread_cond_wait(wake, mutex) }
            seen = generation
            pthread_mutex_unlock(mutex)
            work()
            pthread_mutex_lock(mutex)
        }
    }

    /// Starts one more worker (called with the mutex held; the worker waits for the next generation).
    private func startWorker() {
        let context = UnsafeMutablePointer<WorkerPool>.allocate(capacity: 1)
        context.initialize(to: self)
        workerCount += 1
        var thread = pthread_t()
        let status = pthread_create(&thread, nil, { raw in
            let context = raw!.assumingMemoryBound(to: WorkerPool.self)
            let pool = context.pointee
            context.deinitialize(count: 1)
            context.deallocate()
            pool.workerLoop()
            return nil
        }, context)
        precondition(status == 0, "WorkerPool: pthread_create failed with \(status)")
        pthread_detach(thread)
    }
}
