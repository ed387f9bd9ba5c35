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
    /// With a teacher: what it says about the same rows.
    public var teacher: TeacherDiagnostics?
    /// Per document (when asked for): its predicted bytes and their loss, in document order.
    public var documents: [DocumentScore]?

    public var bitsPerByte: Double { predictedBytes == 0 ? .nan : lossNats / Double(predictedBytes) / log(2) }
    public var bytesPerPosition: Double { words == 0 ? .nan : Double(bytes) / Double(words) }

    enum CodingKeys: String, CodingKey {
        case predictedBytes = "predicted_bytes", bytes, words, lossNats = "loss_nats", seconds, teacher, documents
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
        teacher = try c.decodeIfPresent(TeacherDiagnostics.self, forKey: .teacher)
        documents = try c.decodeIfPresent([DocumentScore].self, forKey: .documents)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(predictedBytes, forKey: .predictedBytes)
        try c.encode(bytes, forKey: .bytes)
        try c.encode(words, forKey: .words)
        try c.encode(lossNats, forKey: .lossNats)
        try c.encode(seconds, forKey: .seconds)
        try c.encodeIfPresent(teacher, forKey: .teacher)
        try c.encodeIfPresent(documents, forKey: .documents)
        try c.encode(bitsPerByte, forKey: .bitsPerByte)
        try c.encode(bytesPerPosition, forKey: .bytesPerPosition)
    }
}

/// One document's share of an evaluation: the predicted bytes that belong to it (the byte or
/// token opening it counts as one byte of it), their summed loss, and the backbone positions
/// (words, or tokens of a token model) that start in it.
public struct DocumentScore: Codable, Equatable, Sendable {
    public var name: String
    public var predictedBytes: Int
    public var lossNats: Double
    public var positions: Int
    public var bitsPerByte: Double { predictedBytes == 0 ? .nan : lossNats / Double(predictedBytes) / log(2) }

    public init(name: String, predictedBytes: Int = 0, lossNats: Double = 0, positions: Int = 0) {
        self.name = name
        self.predictedBytes = predictedBytes
        self.lossNats = lossNats
        self.positions = positions
    }

    enum CodingKeys: String, CodingKey {
        case name, predictedBytes = "predicted_bytes", lossNats = "loss_nats", positions, bitsPerByte = "bits_per_byte"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        predictedBytes = try c.decode(Int.self, forKey: .predictedBytes)
        lossNats = try c.decode(Double.self, forKey: .lossNats)
        positions = try c.decodeIfPresent(Int.self, forKey: .positions) ?? 0
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encode(predictedBytes, forKey: .predictedBytes)
        try c.encode(lossNats, forKey: .lossNats)
        try c.encode(positions, forKey: .positions)
        if predictedBytes > 0 { try c.encode(bitsPerByte, forKey: .bitsPerByte) }
    }
}

/// Which scoring unit each position of a stream belongs to: a document (documents start at
/// increasing offsets), or with `blockBytes` a block of that many bytes of a document (for
/// intervals over blocks when there are few documents), named "document#k".
struct DocumentIndex {
    let starts: [Int]
    let names: [String]
    let blockBytes: Int?
    private(set) var scores: [DocumentScore] = []
    private var unitOf: [Int: Int] = [:]     // document · 2^32 + block → index in scores

    init(starts: [Int], names: [String], blockBytes: Int?) {
        precondition(starts.count == names.count, "one name per document")
        self.starts = starts
        self.names = names
        self.blockBytes = blockBytes
        if blockBytes == nil { scores = names.map { DocumentScore(name: $0) } }
    }

    /// The document holding position p (the last start ≤ p).
    func document(at p: Int) -> Int {
        var lo = 0, hi = starts.count - 1
        while lo < hi {
            let mid = (lo + hi + 1) / 2
            if starts[mid] <= p { lo = mid } else { hi = mid - 1 }
        }
        return lo
    }

    /// Adds a predicted unit at position p (its byte offset within the document: `offset`).
    mutating func add(at p: Int, offsetInDocument offset: Int, bytes: Int, nats: Double) {
        let unit = self.unit(at: p, offsetInDocument: offset)
        scores[unit].predictedBytes += bytes
        scores[unit].lossNats += nats
    }

    /// Counts a backbone position (word or token) starting at p, `offset` bytes into its document.
    mutating func addPosition(at p: Int, offsetInDocument offset: Int) {
        scores[unit(at: p, offsetInDocument: offset)].positions += 1
    }

    /// The index in `scores` of the unit holding p (created on first use when cutting blocks).
    private mutating func unit(at p: Int, offsetInDocument offset: Int) -> Int {
        let d = document(at: p)
        guard let blockBytes else { return d }
        let block = offset / blockBytes, key = d << 32 | block
        if let known = unitOf[key] { return known }
        let unit = scores.count
        unitOf[key] = unit
        scores.append(DocumentScore(name: "\(names[d])#\(block)"))
        return unit
    }
}

/// A teacher's view of evaluated rows: the decoder on the teacher's final states (oracle: the
/// ceiling of the local decoder), the teacher's own bits per byte on the bytes of the tokens it
/// predicts, and how close the student's word vectors after n backbone blocks are to the
/// teacher's states (mean L2/√Db and cosine over aligned words).
public struct TeacherDiagnostics: Codable, Equatable, Sendable {
    public var oracleBitsPerByte: Double
    public var teacherBitsPerByte: Double
    public var align: Double
    public var alignCosine: Double
    public var alignBlocks: Int
    public var alignedWords: Int
    public var words: Int

    enum CodingKeys: String, CodingKey {
        case oracleBitsPerByte = "oracle_bits_per_byte", teacherBitsPerByte = "teacher_bits_per_byte", align
        case alignCosine = "align_cosine", alignBlocks = "align_blocks", alignedWords = "aligned_words", words
    }
}

// In an extension, so that the memberwise initializer stays.
extension TeacherDiagnostics {
    /// A value without words or tokens to measure it on is NaN here and null in JSON (which has no NaN).
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        oracleBitsPerByte = try c.decodeIfPresent(Double.self, forKey: .oracleBitsPerByte) ?? .nan
        teacherBitsPerByte = try c.decodeIfPresent(Double.self, forKey: .teacherBitsPerByte) ?? .nan
        align = try c.decodeIfPresent(Double.self, forKey: .align) ?? .nan
        alignCosine = try c.decodeIfPresent(Double.self, forKey: .alignCosine) ?? .nan
        alignBlocks = try c.decode(Int.self, forKey: .alignBlocks)
        alignedWords = try c.decode(Int.self, forKey: .alignedWords)
        words = try c.decode(Int.self, forKey: .words)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        for (key, value) in [(CodingKeys.oracleBitsPerByte, oracleBitsPerByte), (.teacherBitsPerByte, teacherBitsPerByte),
                             (.align, align), (.alignCosine, alignCosine)] {
            if value.isFinite { try c.encode(value, forKey: key) } else { try c.encodeNil(forKey: key) }
        }
        try c.encode(alignBlocks, forKey: .alignBlocks)
        try c.encode(alignedWords, forKey: .alignedWords)
        try c.encode(words, forKey: .words)
    }
}

public enum Evaluator {
    /// Evaluates `rows` of `stream`, packing as many rows into each batch as fit. With
    /// `documentNames` (one per document of the stream, in order) the result also splits the loss
    /// by document, or by blocks of `blockBytes` bytes of each document. `progress(done, total)`
    /// is called after every batch.
    public static func evaluate(model: HierarchicalModel, stream: WordStream, rows: [Range<Int>], batch: Batch,
                                documentNames: [String]? = nil, blockBytes: Int? = nil,
                                progress: (Int, Int) -> Void = { _, _ in }) -> EvaluationResult {
        var result = EvaluationResult()
        let start = Date()
        let documentStarts = stream.documentFirstWord.map { stream.wordStart($0) }
        var index = documentNames.map { DocumentIndex(starts: documentStarts, names: $0, blockBytes: blockBytes) }
        var next = 0
        while next < rows.count {
            batch.reset()
            var rowStarts: [(batchByte: Int, streamByte: Int)] = []
            while next < rows.count,
                  batch.canAppend(words: rows[next].count, bytes: stream.byteCount(of: rows[next])) {
                rowStarts.append((batch.byteCount, stream.wordStart(rows[next].lowerBound)))
                if index != nil {
                    for w in rows[next] {
                        let p = stream.wordStart(w), d = index!.document(at: p)
                        index!.addPosition(at: p, offsetInDocument: p - documentStarts[d])
                    }
                }
                batch.appendRow(stream, words: rows[next])
                next += 1
            }
            precondition(batch.rowCount > 0, "a row does not fit into an empty batch")
            batch.finish()
            let parts = model.forward(batch, teacher: nil, recordByteLosses: index != nil)
            let (lossSum, count) = (parts.crossEntropy, parts.predictedBytes)
            if index != nil {
                // Byte t predicts byte t + 1, which belongs to the unit holding it.
                let losses = model.byteLosses(count: batch.byteCount)
                for (r, row) in rowStarts.enumerated() {
                    let end = r + 1 < rowStarts.count ? rowStarts[r + 1].batchByte : batch.byteCount
                    for t in row.batchByte..<(end - 1) {
                        let p = row.streamByte + (t - row.batchByte) + 1
                        let d = index!.document(at: p)
                        index!.add(at: p, offsetInDocument: p - documentStarts[d], bytes: 1, nats: losses[t])
                    }
                }
            }
            result.lossNats += lossSum
            result.predictedBytes += count
            result.bytes += batch.byteCount
            result.words += batch.wordCount
            progress(next, rows.count)
        }
        result.seconds = Date().timeIntervalSince(start)
        result.documents = index?.scores
        return result
    }

    /// The teacher's diagnostics on `rows` (batches packed as `evaluate` packs them);
    /// `progress(done, total)` is called after every batch.
    public static func teacherDiagnostics(model: HierarchicalModel, teacher: Teacher, signals: TeacherSignals,
                                          settings: DistillationSettings, stream: WordStream, rows: [Range<Int>],
                                          batch: Batch, endOfSequence: UInt8,
                                          progress: (Int, Int) -> Void = { _, _ in }) -> TeacherDiagnostics {
        var oracle = settings
        oracle.oracle = true
        var crossEntropy = 0.0, predicted = 0, align = 0.0, aligned = 0, cosine = 0.0, words = 0
        var teacherLoss = 0.0, teacherBytes = 0
        var next = 0
        while next < rows.count {
            batch.reset()
            while next < rows.count, batch.canAppend(words: rows[next].count, bytes: stream.byteCount(of: rows[next])) {
                batch.appendRow(stream, words: rows[next])
                next += 1
            }
            batch.finish()
            teacher.fill(signals, for: batch, endOfSequence: endOfSequence)
            let parts = model.forward(batch, teacher: signals, settings: oracle)
            crossEntropy += parts.crossEntropy
            predicted += parts.predictedBytes
            align += parts.align
            if parts.alignedWords > 0 { cosine += parts.alignCosine * Double(parts.alignedWords) }
            aligned += parts.alignedWords
            words += batch.wordCount
            teacherLoss += teacher.lastStats.lossNats
            teacherBytes += teacher.lastStats.predictedBytes
            progress(next, rows.count)
        }
        return TeacherDiagnostics(
            oracleBitsPerByte: predicted > 0 ? crossEntropy / Double(predicted) / log(2) : .nan,
            teacherBitsPerByte: teacherBytes > 0 ? teacherLoss / Double(teacherBytes) / log(2) : .nan,
            align: aligned > 0 ? align / Double(aligned) : .nan, alignCosine: aligned > 0 ? cosine / Double(aligned) : .nan,
            alignBlocks: settings.alignBlocks, alignedWords: aligned, words: words)
    }
}
