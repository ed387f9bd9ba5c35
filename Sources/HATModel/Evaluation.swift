// Evaluation: bits per byte and compression of a model on a word stream. Rows are cut from
// the stream exactly as training cuts them (whole words, the same row sizes), and every byte
// that has a preceding byte in its row is predicted; BPB = mean nats / ln 2 over those bytes.
// Compression is bytes per backbone position = bytes / words of the evaluated rows.

import Foundation
import HATTensor

public struct EvaluationResult: Codable, Equatable, Sendable {
    /// Bytes predicted (those with a preceding byte in their row).
    public var predictedBytes: Int
    /// All bytes and words of the evaluated rows.
    public var bytes: Int
    public var words: Int
    public var lossNats: Double
    public var seconds: Double

    public var bitsPerByte: Double { predictedBytes == 0 ? .nan : lossNats / Double(predictedBytes) / log(2) }
    public var bytesPerPosition: Double { words == 0 ? .nan : Double(bytes) / Double(words) }

    enum CodingKeys: String, CodingKey {
        case predictedBytes = "predicted_bytes", bytes, words, lossNats = "loss_nats", seconds
        case bitsPerByte = "bits_per_byte", bytesPerPosition = "bytes_per_position"
    }

    public init(predictedBytes: Int = 0, bytes: Int = 0, words: Int = 0, lossNats: Double = 0, seconds: Double = 0) {
        self.predictedBytes = predictedBytes
        self.bytes = bytes
        self.words = words
        self.lossNats = lossNats
        self.seconds = seconds
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        predictedBytes = try c.decode(Int.self, forKey: .predictedBytes)
        bytes = try c.decode(Int.self, forKey: .bytes)
        words = try c.decode(Int.self, forKey: .words)
        lossNats = try c.decode(Double.self, forKey: .lossNats)
        seconds = try c.decode(Double.self, forKey: .seconds)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(predictedBytes, forKey: .predictedBytes)
        try c.encode(bytes, forKey: .bytes)
        try c.encode(words, forKey: .words)
        try c.encode(lossNats, forKey: .lossNats)
        try c.encode(seconds, forKey: .seconds)
        try c.encode(bitsPerByte, forKey: .bitsPerByte)
        try c.encode(bytesPerPosition, forKey: .bytesPerPosition)
    }
}

public enum Evaluator {
    /// Evaluates `rows` of `stream`, packing as many rows into each batch as fit.
    /// `progress(done, total)` is called after every batch.
    public static func evaluate(model: HierarchicalModel, stream: WordStream, rows: [Range<Int>], batch: Batch,
                                progress: (Int, Int) -> Void = { _, _ in }) -> EvaluationResult {
        var result = EvaluationResult()
        let start = Date()
        var next = 0
        while next < rows.count {
            batch.reset()
            while next < rows.count,
                  batch.canAppend(words: rows[next].count, bytes: stream.byteCount(of: rows[next])) {
                batch.appendRow(stream, words: rows[next])
                next += 1
            }
            precondition(batch.rowCount > 0, "a row does not fit into an empty batch")
            batch.finish()
            let (lossSum, count) = model.forward(batch)
            result.lossNats += lossSum
            result.predictedBytes += count
            result.bytes += batch.byteCount
            result.words += batch.wordCount
            progress(next, rows.count)
        }
        result.seconds = Date().timeIntervalSince(start)
        return result
    }
}
