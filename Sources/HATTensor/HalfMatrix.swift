// HalfMatrix: a row-major 2-D view [rows, cols] of 16-bit floats (bfloat16 or IEEE half), the
// storage of key/value caches held in half the bytes (`--kv-cache bf16|f16`, ARCHITECTURE.md §5).
// Like Tensor it is a view (strided rows, no ownership). Values enter rounded to nearest (f16
// saturating at ±65504) and leave widened to float32 exactly — copied out, or used in place by
// the two products of a decoding query's attention (scores, weightedSum). The heads-together
// products also run over float32 rows (a float32 cache, the Tensor extension at the end), summed
// in the same order.

import CKernels

/// The element format of a HalfMatrix.
public enum HalfFormat: String, Sendable, CaseIterable {
    case bf16, f16

    var kernelFormat: Int32 { self == .bf16 ? Int32(HAT_HALF_BF16) : Int32(HAT_HALF_F16) }
}

public struct HalfMatrix {
    public let data: UnsafeMutablePointer<UInt16>
    public let rows: Int
    public let cols: Int
    /// Elements between the starts of consecutive rows.
    public let rowStride: Int
    public let format: HalfFormat

    public init(data: UnsafeMutablePointer<UInt16>, rows: Int, cols: Int, rowStride: Int? = nil, format: HalfFormat) {
        precondition(rows >= 0 && cols >= 0, "HalfMatrix shape must be non-negative, got [\(rows), \(cols)]")
        self.data = data
        self.rows = rows
        self.cols = cols
        self.rowStride = rowStride ?? cols
        self.format = format
        precondition(self.rowStride >= cols, "HalfMatrix rowStride \(self.rowStride) < cols \(cols)")
    }

    /// "[rows, cols] bf16"
    public var shapeDescription: String { "[\(rows), \(cols)] \(format.rawValue)" }

    /// The view of rows `range` (no copy).
    public func rows(_ range: Range<Int>) -> HalfMatrix {
        precondition(range.lowerBound >= 0 && range.upperBound <= rows, "rows \(range) outside [0, \(rows))")
        return HalfMatrix(data: data + range.lowerBound * rowStride, rows: range.count, cols: cols, rowStride: rowStride,
                          format: format)
    }

    /// The view of columns `range` (no copy).
    public func columns(_ range: Range<Int>) -> HalfMatrix {
        precondition(range.lowerBound >= 0 && range.upperBound <= cols, "columns \(range) outside [0, \(cols))")
        return HalfMatrix(data: data + range.lowerBound, rows: rows, cols: range.count, rowStride: rowStride, format: format)
    }

    /// self = source rounded to this format (same shape).
    public func store(_ source: Tensor) {
        precondition(source.rows == rows && source.cols == cols,
                     "HalfMatrix.store: source \(source.shapeDescription) into \(shapeDescription)")
        for r in 0..<rows {
            switch format {
            case .bf16: hat_bf16_from_f32(source.row(r), data + r * rowStride, cols)
            case .f16: hat_f16_from_f32(source.row(r), data + r * rowStride, cols)
            }
        }
    }

    /// target = self widened to float32 (exact; same shape).
    public func widen(into target: Tensor) {
        precondition(target.rows == rows && target.cols == cols,
                     "HalfMatrix.widen: \(shapeDescription) into \(target.shapeDescription)")
        hat_widen_rows(format.kernelFormat, data, rowStride, rows, cols, target.data, target.rowStride)
    }

    /// scores[j] = scale · Σ_c query[c] · self[j, c] for every row j: one query against these key
    /// rows, each widened in a register (no widened copy). Float32 sums in a fixed order.
    public func scores(query: UnsafePointer<Float>, scale: Float, into scores: UnsafeMutablePointer<Float>) {
        hat_half_scores(format.kernelFormat, query, data, rowStride, rows, cols, scale, scores)
    }

    /// `scores` scores for the query heads firstHead ..< firstHead + scores.rows taken together, each
    /// of these rows read once across them: head i's query is queries + i·headDim, it attends to the
    /// columns of kv head (firstHead + i) / group (self's columns start at kv head firstHead / group),
    /// and scores[i, j] is what `scores(query:scale:into:)` gives for that head's columns.
    public func headScores(queries: UnsafePointer<Float>, headDim: Int, firstHead: Int, group: Int, scale: Float,
                           into scores: Tensor) {
        precondition(headsFit(heads: scores.rows, firstHead: firstHead, group: group, headDim: headDim, cols: cols)
                     && scores.cols >= rows,
                     "HalfMatrix.headScores: \(scores.rows) heads from \(firstHead) (group \(group), D \(headDim)) over \(shapeDescription) into \(scores.shapeDescription)")
        hat_half_scores_heads(format.kernelFormat, queries, data, rowStride, rows, headDim, firstHead, scores.rows, group,
                              scale, scores.data, scores.rowStride)
    }

    /// out + i·headDim = (itself if `accumulate`, else 0) + Σ_j weights[i, j] · (kv head
    /// (firstHead + i) / group's columns of row j), heads as in `headScores`: what
    /// `weightedSum(_:into:accumulate:)` gives for each head, every row read once across them.
    public func headWeightedSums(_ weights: Tensor, headDim: Int, firstHead: Int, group: Int,
                                 into out: UnsafeMutablePointer<Float>, accumulate: Bool) {
        precondition(headsFit(heads: weights.rows, firstHead: firstHead, group: group, headDim: headDim, cols: cols)
                     && weights.cols >= rows,
                     "HalfMatrix.headWeightedSums: \(weights.rows) heads from \(firstHead) (group \(group), D \(headDim)) over \(shapeDescription)")
        hat_half_weighted_sum_heads(format.kernelFormat, weights.data, weights.rowStride, data, rowStride, rows, headDim,
                                    firstHead, weights.rows, group, accumulate ? 1 : 0, out)
    }

    /// out[c] = (out[c] if `accumulate`, else 0) + Σ_j weights[j] · self[j, c], rows in order: the
    /// weighted sum of these value rows.
    public func weightedSum(_ weights: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, accumulate: Bool) {
        hat_half_weighted_sum(format.kernelFormat, weights, data, rowStride, rows, cols, accumulate ? 1 : 0, out)
    }
}

/// Whether `heads` query heads from `firstHead`, `group` query heads per kv head, find their kv
/// heads' columns in rows of `cols` numbers (whose columns start at kv head firstHead / group).
private func headsFit(heads: Int, firstHead: Int, group: Int, headDim: Int, cols: Int) -> Bool {
    group > 0 && heads > 0 && ((firstHead + heads - 1) / group - firstHead / group + 1) * headDim <= cols
}

extension Tensor {
    /// HalfMatrix.headScores over float32 key rows (a float32 cache), summed in the same order.
    public func headScores(queries: UnsafePointer<Float>, headDim: Int, firstHead: Int, group: Int, scale: Float,
                           into scores: Tensor) {
        precondition(headsFit(heads: scores.rows, firstHead: firstHead, group: group, headDim: headDim, cols: cols)
                     && scores.cols >= rows,
                     "Tensor.headScores: \(scores.rows) heads from \(firstHead) (group \(group), D \(headDim)) over \(shapeDescription) into \(scores.shapeDescription)")
        hat_f32_scores_heads(queries, data, rowStride, rows, headDim, firstHead, scores.rows, group, scale, scores.data,
                             scores.rowStride)
    }

    /// HalfMatrix.headWeightedSums over float32 value rows (a float32 cache), summed in the same order.
    public func headWeightedSums(_ weights: Tensor, headDim: Int, firstHead: Int, group: Int,
                                 into out: UnsafeMutablePointer<Float>, accumulate: Bool) {
        precondition(headsFit(heads: weights.rows, firstHead: firstHead, group: group, headDim: headDim, cols: cols)
                     && weights.cols >= rows,
                     "Tensor.headWeightedSums: \(weights.rows) heads from \(firstHead) (group \(group), D \(headDim)) over \(shapeDescription)")
        hat_f32_weighted_sum_heads(weights.data, weights.rowStride, data, rowStride, rows, headDim, firstHead, weights.rows,
                                   group, accumulate ? 1 : 0, out)
    }
}
