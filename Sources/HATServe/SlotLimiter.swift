// SlotLimiter: at most `running` model computations at once and at most `queued` requests
// waiting for one; a request beyond both is refused at once (the server answers 429 with
// Retry-After). A waiting request that is cancelled (its client went away) leaves the queue.
// A slot is a lease: released once, explicitly when the computation ends, or when the lease is
// dropped unused (a response that was never written).

import Foundation

public struct ServerBusy: Error, CustomStringConvertible {
    public var description: String { "the server is busy: every slot is running and the queue is full" }
}

public final class SlotLimiter: @unchecked Sendable {
    public let running: Int
    public let queued: Int
    private let lock = NSLock()
    private var active = 0
    private var waiters: [(id: Int, continuation: CheckedContinuation<Void, Error>)] = []
    private var nextWaiter = 0

    public init(running: Int, queued: Int) {
        self.running = running
        self.queued = queued
    }

    /// (computations running, requests waiting) now.
    public var load: (running: Int, waiting: Int) {
        lock.lock()
        defer { lock.unlock() }
        return (active, waiters.count)
    }

    /// A slot: at once if one is free, after waiting in the queue if there is room, else throws ServerBusy.
    public func acquire() async throws -> SlotLease {
        enum Decision { case granted, busy, wait(Int) }
        let decision: Decision = lock.withLock {
            if active < running {
                active += 1
                return .granted
            }
            guard waiters.count < queued else { return .busy }
            nextWaiter += 1
            return .wait(nextWaiter)
        }
        let id: Int
        switch decision {
        case .granted: return SlotLease(limiter: self)
        case .busy: throw ServerBusy()
        case .wait(let waiter): id = waiter
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, Error>) in
                lock.lock()
                // Checked under the lock: a cancellation before this point finds no waiter to remove.
                if Task.isCancelled {
                    lock.unlock()
                    continuation.resume(throwing: CancellationError())
                    return
                }
                waiters.append((id, continuation))
                lock.unlock()
            }
        } onCancel: {
            lock.lock()
            let index = waiters.firstIndex { $0.id == id }
            let waiter = index.map { waiters.remove(at: $0) }
            lock.unlock()
            waiter?.continuation.resume(throwing: CancellationError())
        }
        // The releasing request handed its slot over (`active` did not change).
        return SlotLease(limiter: self)
    }

    fileprivate func release() {
        lock.lock()
        if waiters.isEmpty {
            active -= 1
            lock.unlock()
        } else {
            let next = waiters.removeFirst()
            lock.unlock()
            next.continuation.resume()
        }
    }
}

/// One running slot; `release()` (or dropping the lease) gives it back, once.
public final class SlotLease: @unchecked Sendable {
    private let limiter: SlotLimiter
    private let lock = NSLock()
    private var released = false

    fileprivate init(limiter: SlotLimiter) { self.limiter = limiter }

    public func release() {
        lock.lock()
        let first = !released
        released = true
        lock.unlock()
        if first { limiter.release() }
    }

    deinit { release() }
}
