// TensorOps: whole-tensor element-wise operations (copies and residual adds of the layers),
// cut into fixed row chunks of about 16 K floats and run on a context's threads. Same shapes
// are preconditions.

extension Tensor {
    /// Rows per chunk of an element-wise pass over rows of `cols` floats.
    @inlinable
    static func rowsPerChunk(cols: Int) -> Int { max(1, 16_384 / max(cols, 1)) }

    /// self += other.
    public func add(_ other: Tensor, on context: ComputeContext) {
        precondition(rows == other.rows && cols == other.cols, "add: \(other.shapeDescription) into \(shapeDescription)")
        let n = cols
        context.parallelChunks(rows, chunk: Tensor.rowsPerChunk(cols: n)) { range in
            for r in range { VectorMath.add(other.row(r), into: self.row(r), n) }
        }
    }

    /// self = other.
    public func copy(from other: Tensor, on context: ComputeContext) {
        precondition(rows == other.rows && cols == other.cols, "copy: \(other.shapeDescription) into \(shapeDescription)")
        let n = cols
        context.parallelChunks(rows, chunk: Tensor.rowsPerChunk(cols: n)) { range in
            if self.isContiguous && other.isContiguous {
                self.row(range.lowerBound).update(from: other.row(range.lowerBound), count: range.count * n)
            } else {
                for r in range { self.row(r).update(from: other.row(r), count: n) }
            }
        }
    }

    /// self = 0.
    public func zero(on context: ComputeContext) {
        let n = cols
        context.parallelChunks(rows, chunk: Tensor.rowsPerChunk(cols: n)) { range in
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
