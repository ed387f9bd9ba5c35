// Arena: Float memory for one role (activations of one batch shape, scratch, …),
// handed out as tensors at set-up time and freed together. Nothing is allocated in a
// training or generation step: every buffer a step touches was carved out beforehand.
// Blocks are anonymous memory maps: the kernel hands them out zero-filled and makes a page
// resident when it is first touched, so a model sized for large batches that runs small ones
// (an evaluation of a short text, a session fed one byte at a time) holds only what it uses.
// Requests up to `blockFloats` share blocks; a larger one gets a block of its own and the shared
// block stays open, so the memory reserved is at most 2 × (small requests) + (large requests)
// + one block — the bound `plannedFloats` gives before anything is allocated.
// An arena made `replaying:` another hands out that arena's buffers again, request by request:
// the layers of an inference-only stack run one after another and leave nothing in their
// buffers that the next needs, so the 30 blocks of a token model can share one block's scratch.

#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

public final class Arena {
    public let name: String
    /// Floats per block; a request larger than this gets a block of its own.
    public let blockFloats: Int
    private var blocks: [(base: UnsafeMutablePointer<Float>, capacity: Int)] = []
    /// The shared block small requests are carved from (index into `blocks`), and its use.
    private var sharedBlock: Int?
    private var usedInSharedBlock = 0
    /// Floats handed out so far.
    public private(set) var usedFloats = 0
    /// Every request's buffer and padded size, in order (what a replaying arena hands out again).
    private var handedOut: [(pointer: UnsafeMutablePointer<Float>, floats: Int)] = []
    /// The arena whose buffers this one hands out again, and how many it has handed out.
    private let replayed: Arena?
    private var replayedCount = 0

    /// Alignment of every tensor's first element, in bytes (one cache line, full AVX-512 vector).
    public static let alignmentBytes = 64

    public init(name: String, blockFloats: Int = 1 << 22) {
        self.name = name
        self.blockFloats = blockFloats
        replayed = nil
    }

    /// An arena that reserves nothing: its n-th request gets the buffer of `source`'s n-th request,
    /// which must be of the same size (a mismatch is a programming error and traps). For objects
    /// built alike and used strictly one after another whose buffers hold nothing between uses
    /// (the blocks of an inference-only stack: each leaves its result in the stream it is given).
    /// Its buffers are zero-filled only until their first user writes them. Tensors do not hold
    /// their arena: whoever keeps the objects built from this arena keeps `source`.
    public init(name: String, replaying source: Arena) {
        self.name = name
        blockFloats = source.blockFloats
        replayed = source
    }

    deinit {
        for block in blocks { Arena.unmapFloats(block.base, count: block.capacity) }
    }

    /// A new zero-filled contiguous tensor [rows, cols].
    public func tensor(rows: Int, cols: Int) -> Tensor {
        Tensor(data: allocate(count: rows * cols), rows: rows, cols: cols)
    }

    /// A new zero-filled buffer of `count` floats, aligned to `alignmentBytes`.
    public func allocate(count: Int) -> UnsafeMutablePointer<Float> {
        precondition(count >= 0, "Arena \(name): negative size \(count)")
        let padded = Arena.padded(count)
        if let replayed {
            precondition(replayedCount < replayed.handedOut.count && replayed.handedOut[replayedCount].floats == padded,
                         "Arena \(name): request \(replayedCount) of \(count) floats is not the one arena \(replayed.name) handed out")
            replayedCount += 1
            return replayed.handedOut[replayedCount - 1].pointer
        }
        usedFloats += padded
        let pointer = carve(padded)
        handedOut.append((pointer, padded))
        return pointer
    }

    /// `padded` floats from the shared block (a new one when they do not fit) or, when larger
    /// than a block, from a block of their own.
    private func carve(_ padded: Int) -> UnsafeMutablePointer<Float> {
        if padded > blockFloats { return newBlock(padded) }
        if let shared = sharedBlock, usedInSharedBlock + padded <= blocks[shared].capacity {
            let pointer = blocks[shared].base + usedInSharedBlock
            usedInSharedBlock += padded
            return pointer
        }
        let pointer = newBlock(blockFloats)
        sharedBlock = blocks.count - 1
        usedInSharedBlock = padded
        return pointer
    }

    /// A zero-filled block of `capacity` floats (see mapZeroedFloats).
    private func newBlock(_ capacity: Int) -> UnsafeMutablePointer<Float> {
        let base = Arena.mapZeroedFloats(capacity, for: "Arena \(name)")
        blocks.append((base, capacity))
        return base
    }

    /// `count` ≥ 1 zero floats from an anonymous memory map, page-aligned (so aligned to
    /// `alignmentBytes`): the kernel hands out zero pages and a page becomes resident when first
    /// touched. Sizes are checked against the machine before this is called (Limits, MemoryPlan).
    static func mapZeroedFloats(_ count: Int, for what: String) -> UnsafeMutablePointer<Float> {
        let bytes = count * MemoryLayout<Float>.stride
        let mapped = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        guard let raw = mapped, raw != UnsafeMutableRawPointer(bitPattern: -1) else {
            fatalError("\(what): could not map \(bytes) bytes (errno \(errno))")
        }
        return raw.bindMemory(to: Float.self, capacity: count)
    }

    /// Returns memory from `mapZeroedFloats`.
    static func unmapFloats(_ base: UnsafeMutablePointer<Float>, count: Int) {
        munmap(base, count * MemoryLayout<Float>.stride)
    }

    /// Floats one request of `count` takes (at least one, rounded up to the alignment).
    static func padded(_ count: Int) -> Int {
        let alignFloats = Arena.alignmentBytes / MemoryLayout<Float>.stride
        return (max(count, 1) + alignFloats - 1) / alignFloats * alignFloats
    }

    /// For requests of these float counts (nil: a count that overflowed), in any order: the floats
    /// handed out (`usedFloats` after them) and a bound on the floats reserved from the system
    /// (`reservedBytes` / 4), with checked arithmetic; nil when either overflows.
    public static func plannedFloats(_ requests: [Int?], blockFloats: Int = 1 << 22) -> (used: Int, reserved: Int)? {
        var used = 0, small = 0, large = 0
        for request in requests {
            guard let request, request >= 0, let padded = checkedAdd(request, 16).map({ _ in Arena.padded(request) }),
                  let u = checkedAdd(used, padded) else { return nil }
            used = u
            if padded > blockFloats {
                guard let l = checkedAdd(large, padded) else { return nil }
                large = l
            } else {
                guard let s = checkedAdd(small, padded) else { return nil }
                small = s
            }
        }
        // Each shared block but the last was left when a request r ≤ blockFloats did not fit, so
        // its use plus r exceeds blockFloats: the shared blocks hold < 2 × small + one block.
        guard let reserved = checkedSum([large, checkedMul(2, small), small > 0 ? blockFloats : 0]) else { return nil }
        return (used, reserved)
    }

    /// Bytes reserved from the system by this arena.
    public var reservedBytes: Int { blocks.reduce(0) { $0 + $1.capacity } * MemoryLayout<Float>.stride }
}
