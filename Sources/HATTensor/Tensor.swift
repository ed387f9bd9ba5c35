// Tensor: a row-major 2-D view [rows, cols] of Float memory that some arena owns.
// Rows may be strided (rowStride ≥ cols), so a head's columns or a block of rows of a
// larger buffer are views without copies. Higher-rank buffers are flattened to 2-D
// ([B, T, C] is [B*T, C]); the logical shape of a parameter is kept by ParameterSet.

public struct Tensor {
    public let data: UnsafeMutablePointer<Float>
    public let rows: Int
    public let cols: Int
    /// Elements between the starts of consecutive rows.
    public let rowStride: Int

    @inlinable
    public init(data: UnsafeMutablePointer<Float>, rows: Int, cols: Int, rowStride: Int? = nil) {
        precondition(rows >= 0 && cols >= 0, "Tensor shape must be non-negative, got [\(rows), \(cols)]")
        self.data = data
        self.rows = rows
        self.cols = cols
        self.rowStride = rowStride ?? cols
        precondition(self.rowStride >= cols, "Tensor rowStride \(self.rowStride) < cols \(cols)")
    }

    /// Number of elements in the view.
    @inlinable public var count: Int { rows * cols }
    /// True when the rows follow each other without gaps.
    @inlinable public var isContiguous: Bool { rowStride == cols || rows <= 1 }
    /// "[rows, cols]"
    public var shapeDescription: String { "[\(rows), \(cols)]" }

    @inlinable
    public subscript(row: Int, col: Int) -> Float {
        get { data[row * rowStride + col] }
        nonmutating set { data[row * rowStride + col] = newValue }
    }

    /// Pointer to the first element of a row.
    @inlinable
    public func row(_ r: Int) -> UnsafeMutablePointer<Float> { data + r * rowStride }

    /// The view of rows `range` (no copy).
    @inlinable
    public func rows(_ range: Range<Int>) -> Tensor {
        precondition(range.lowerBound >= 0 && range.upperBound <= rows, "rows \(range) outside [0, \(rows))")
        return Tensor(data: data + range.lowerBound * rowStride, rows: range.count, cols: cols, rowStride: rowStride)
    }

    /// The view of columns `range` (no copy; strided unless it spans all columns).
    @inlinable
    public func columns(_ range: Range<Int>) -> Tensor {
        precondition(range.lowerBound >= 0 && range.upperBound <= cols, "columns \(range) outside [0, \(cols))")
        return Tensor(data: data + range.lowerBound, rows: rows, cols: range.count, rowStride: rowStride)
    }

    /// The same contiguous memory seen with another 2-D shape.
    @inlinable
    public func reshaped(rows newRows: Int, cols newCols: Int) -> Tensor {
        precondition(isContiguous, "reshaped needs a contiguous tensor")
        precondition(newRows * newCols == count, "cannot reshape \(shapeDescription) to [\(newRows), \(newCols)]")
        return Tensor(data: data, rows: newRows, cols: newCols)
    }

    /// Set every element to zero.
    public func zero() { fill(0) }

    /// Set every element to `value`.
    public func fill(_ value: Float) {
        if isContiguous {
            data.update(repeating: value, count: count)
        } else {
            for r in 0..<rows { row(r).update(repeating: value, count: cols) }
        }
    }

    /// Copy the elements of `source` (same shape) into this view.
    public func copy(from source: Tensor) {
        precondition(source.rows == rows && source.cols == cols,
                     "copy: shape \(source.shapeDescription) into \(shapeDescription)")
        for r in 0..<rows { row(r).update(from: source.row(r), count: cols) }
    }

    /// Copy `values` (row-major, `count` elements) into this view.
    public func copy(from values: [Float]) {
        precondition(values.count == count, "copy: \(values.count) values into \(shapeDescription)")
        values.withUnsafeBufferPointer { buffer in
            for r in 0..<rows { row(r).update(from: buffer.baseAddress! + r * cols, count: cols) }
        }
    }

    /// The elements, row-major, as a new array (for tests and API edges).
    public func toArray() -> [Float] {
        var out = [Float](repeating: 0, count: count)
        out.withUnsafeMutableBufferPointer { buffer in
            for r in 0..<rows { (buffer.baseAddress! + r * cols).update(from: row(r), count: cols) }
        }
        return out
    }
}
