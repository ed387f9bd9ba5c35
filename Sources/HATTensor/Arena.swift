// Arena: Float memory for one role (activations of one batch shape, scratch, …),
// handed out as tensors at set-up time and freed together. Nothing is allocated in a
// training or generation step: every buffer a step touches was carved out beforehand.

public final class Arena {
    public let name: String
    /// Floats per block; a request larger than this gets a block of its own.
    public let blockFloats: Int
    private var blocks: [(base: UnsafeMutablePointer<Float>, capacity: Int)] = []
    private var usedInLastBlock = 0
    /// Floats handed out so far.
    public private(set) var usedFloats = 0

    /// Alignment of every tensor's first element, in bytes (one cache line, full AVX-512 vector).
    public static let alignmentBytes = 64

    public init(name: String, blockFloats: Int = 1 << 22) {
        self.name = name
        self.blockFloats = blockFloats
    }

    deinit {
        for block in blocks { block.base.deallocate() }
    }

    /// A new zero-filled contiguous tensor [rows, cols].
    public func tensor(rows: Int, cols: Int) -> Tensor {
        Tensor(data: allocate(count: rows * cols), rows: rows, cols: cols)
    }

    /// A new zero-filled buffer of `count` floats, aligned to `alignmentBytes`.
    public func allocate(count: Int) -> UnsafeMutablePointer<Float> {
        precondition(count >= 0, "Arena \(name): negative size \(count)")
        let alignFloats = Arena.alignmentBytes / MemoryLayout<Float>.stride
        let padded = (max(count, 1) + alignFloats - 1) / alignFloats * alignFloats
        if blocks.isEmpty || usedInLastBlock + padded > blocks[blocks.count - 1].capacity {
            let capacity = max(blockFloats, padded)
            let raw = UnsafeMutableRawPointer.allocate(byteCount: capacity * MemoryLayout<Float>.stride,
                                                       alignment: Arena.alignmentBytes)
            let base = raw.bindMemory(to: Float.self, capacity: capacity)
            base.initialize(repeating: 0, count: capacity)
            blocks.append((base, capacity))
            usedInLastBlock = 0
        }
        let pointer = blocks[blocks.count - 1].base + usedInLastBlock
        usedInLastBlock += padded
        usedFloats += padded
        return pointer
    }

    /// Bytes reserved from the system by this arena.
    public var reservedBytes: Int { blocks.reduce(0) { $0 + $1.capacity } * MemoryLayout<Float>.stride }
}
