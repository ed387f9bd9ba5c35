// TensorOps: whole-tensor element-wise operations split over `Threads.count` workers by rows
// (copies and residual adds of the layers). Same shapes are preconditions.

extension Tensor {
    /// self += other.
    public func add(_ other: Tensor) {
        precondition(rows == other.rows && cols == other.cols, "add: \(other.shapeDescription) into \(shapeDescription)")
        let n = cols
        WorkerPool.shared.runChunks(rows, minChunk: max(1, 16_384 / max(n, 1))) { range in
            for r in range { VectorMath.add(other.row(r), into: self.row(r), n) }
        }
    }

    /// self = other, copied by several workers for large tensors.
    public func copyParallel(from other: Tensor) {
        precondition(rows == other.rows && cols == other.cols, "copy: \(other.shapeDescription) into \(shapeDescription)")
        let n = cols
        WorkerPool.shared.runChunks(rows, minChunk: max(1, 32_768 / max(n, 1))) { range in
            if self.isContiguous && other.isContiguous {
                self.row(range.lowerBound).update(from: other.row(range.lowerBound), count: range.count * n)
            } else {
                for r in range { self.row(r).update(from: other.row(r), count: n) }
            }
        }
    }

    /// self = 0, by several workers for large tensors.
    public func zeroParallel() {
        let n = cols
        WorkerPool.shared.runChunks(rows, minChunk: max(1, 32_768 / max(n, 1))) { range in
            if self.isContiguous {
                self.row(range.lowerBound).update(repeating: 0, count: range.count * n)
            } else {
                for r in range { self.row(r).update(repeating: 0, count: n) }
            }
        }
    }
}

extension Arena {
    /// A new zero-filled buffer of `count` Int32 values (positions, key ranges), carved from the
    /// arena's float memory (same size and alignment); the memory is never used as Float again.
    public func allocateInt32(count: Int) -> UnsafeMutablePointer<Int32> {
        let floats = allocate(count: count)
        return UnsafeMutableRawPointer(floats).bindMemory(to: Int32.self, capacity: max(count, 1))
    }
}
