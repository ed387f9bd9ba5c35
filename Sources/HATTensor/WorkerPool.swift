// WorkerPool: `threads − 1` persistent worker threads plus the caller, owned by one
// ComputeContext. A call allocates nothing (unlike DispatchQueue.concurrentPerform, which on
// Linux grows resident memory by ~160 bytes per call for its first ~15,000 calls): the job is
// published under one mutex, workers wake on a condition variable and claim iterations one at a
// time; the caller claims too and waits only for iterations others have claimed.
// Contract: body(i) runs once for every i in 0..<iterations, the call returns when all have
// finished. A call made while the pool is busy (from inside a job, or from another thread) runs
// inline, so nesting and concurrent callers never deadlock. Which thread runs an iteration is
// never visible in a result: callers cut work by shape (ComputeContext).

#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

final class WorkerPool: @unchecked Sendable {
    let threads: Int

    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let wake: UnsafeMutablePointer<pthread_cond_t>       // workers wait for a new job
    private let done: UnsafeMutablePointer<pthread_cond_t>       // the caller waits for the workers
    private var workerCount = 0
    // Job state, guarded by `mutex`.
    private var busy = false
    private var stopping = false
    private var generation = 0
    /// The caller's closure, which lives on the caller's stack for the whole job; workers call
    /// through the pointer and never keep a reference of their own.
    private var job: UnsafeMutablePointer<(Int) -> Void>?
    private var iterations = 0
    private var nextIteration = 0    // next iteration to claim
    private var completed = 0        // iterations finished

    init(threads: Int) {
        precondition(threads >= 1, "WorkerPool: threads must be ≥ 1, got \(threads)")
        self.threads = threads
        mutex = .allocate(capacity: 1)
        wake = .allocate(capacity: 1)
        done = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(wake, nil)
        pthread_cond_init(done, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        pthread_cond_destroy(wake)
        pthread_cond_destroy(done)
        mutex.deallocate()
        wake.deallocate()
        done.deallocate()
    }

    /// Lets the workers exit (each holds the pool until it has); called by the owning context.
    func shutdown() {
        pthread_mutex_lock(mutex)
        stopping = true
        pthread_cond_broadcast(wake)
        pthread_mutex_unlock(mutex)
    }

    /// Runs body(i) for i in 0..<iterations on up to `threads` threads and waits.
    func run(_ iterations: Int, _ body: (Int) -> Void) {
        if iterations <= 0 { return }
        let threads = min(self.threads, iterations)
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
            while generation == seen && !stopping { pthread_cond_wait(wake, mutex) }
            if stopping { break }
            seen = generation
            pthread_mutex_unlock(mutex)
            work()
            pthread_mutex_lock(mutex)
        }
        pthread_mutex_unlock(mutex)
    }

    /// Starts one more worker (called with the mutex held; the worker waits for the next generation).
    private func startWorker() {
        let context = UnsafeMutablePointer<WorkerPool>.allocate(capacity: 1)
        context.initialize(to: self)
        workerCount += 1
        var thread = pthread_t()
        let status = pthread_create(&thread, nil, { raw in
            let context = raw!.assumingMemoryBound(to: WorkerPool.self)
            let pool = context.move()
            context.deallocate()
            pool.workerLoop()
            return nil
        }, context)
        precondition(status == 0, "WorkerPool: pthread_create failed with \(status)")
        pthread_detach(thread)
    }
}
