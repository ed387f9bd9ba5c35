// UncachedModel: the reference for cached generation. Every `feed` re-splits the whole context
// and runs the full training forward pass over it (one row), then takes the last byte's logits.
// Quadratic and slow; it exists so tests can check that the cached session gives the same bytes.

import HATModel
import HATTensor
import HATText

public final class UncachedModel: ByteModel {
    public let config: HATConfig
    let model: HierarchicalModel
    let splitter: WordSplitter
    public let capacity: Int
    private var text: [UInt8] = []
    private let logits = UnsafeMutablePointer<Float>.allocate(capacity: 256)   // [256]
    public private(set) var completedWords = 0

    /// `capacity`: the longest context in bytes this reference will be asked to handle.
    public init(config modelConfig: HATConfig, parameters: ParameterSet, limits: ContextLimits = ContextLimits(),
                capacity: Int = 4096, context: ComputeContext) throws {
        config = limits.applied(to: modelConfig)
        self.capacity = capacity
        model = HierarchicalModel(config: config, parameters: parameters, maxBytes: capacity, maxWords: capacity,
                                  context: context, needsBackward: false)
        splitter = try config.makeSplitter()
        logits.initialize(repeating: 0, count: 256)
        reset()
    }

    deinit { logits.deallocate() }

    public var endOfSequence: UInt8 { UInt8(config.eosTokenId) }
    public var nextByteLogits: UnsafePointer<Float> { UnsafePointer(logits) }

    public func reset() {
        text = []
        feed([endOfSequence])
    }

    public func feed(_ bytes: [UInt8]) {
        text += bytes
        precondition(text.count <= capacity, "UncachedModel: context of \(text.count) bytes over its capacity \(capacity)")
        var ends: [Int] = []
        text.withUnsafeBufferPointer { splitter.split($0, into: &ends) }
        completedWords = ends.count - 1
        let stream = WordStream(bytes: text, ends: ends)
        let batch = Batch(maxBytes: text.count, maxWords: ends.count, config: config)
        batch.appendRow(stream, words: 0..<ends.count)
        batch.finish()
        model.forward(batch)
        let row = model.lastLogits(rows: text.count).row(text.count - 1)
        for i in 0..<256 { logits[i] = row[i] }
    }
}
