// Hostile numbers in a model's config.json and in batch sizes (issue item 5): every number field
// is refused by name with its limit; real shapes (Llama 3 70B, 405B) pass validation; a model
// whose fields are each in bounds but whose total is not is refused; a 2⁶² width is refused
// before any weight is read; the memory plan of a model (training, or evaluating without the
// buffers of backward, which changes no loss) equals what its arena hands out, so the
// check before allocation is the real size; batches beyond the limits or the machine are refused.

import Foundation
@testable import HATModel
import HATTensor
import HATTestSupport
import Testing

@Suite struct ConfigLimits {
    /// The tiny preset's JSON with `path` set to the raw JSON `value`.
    func tinyJSON(_ path: [String], _ value: Any) throws -> Data {
        var object = try JSONSerialization.jsonObject(with: try TinyModel.config().encoded()) as! [String: Any]
        func set(_ dict: inout [String: Any], _ path: ArraySlice<String>) {
            if path.count == 1 { dict[path.first!] = value; return }
            var child = dict[path.first!] as? [String: Any] ?? [:]
            set(&child, path.dropFirst())
            dict[path.first!] = child
        }
        set(&object, path[...])
        return try JSONSerialization.data(withJSONObject: object)
    }

    @Test(arguments: [
        (["backbone_config", "hidden_size"], 1 << 62, "65536"),
        (["backbone_config", "hidden_size"], 1_000_000_000, "65536"),
        (["backbone_config", "head_dim"], 1 << 40, "1024"),
        (["backbone_config", "intermediate_size"], 1_000_000_000_000, "262144"),
        (["backbone_config", "num_hidden_layers"], 1_000_000_000, "1024"),
        (["backbone_config", "num_attention_heads"], 1 << 20, "1024"),
        (["encoder_config", "sliding_window"], 1 << 40, "2097152"),
        (["encoder_config", "cross_attention_config", "hidden_size"], 1 << 30, "65536"),
        (["max_word_size"], 1 << 20, "65535"),
    ])
    func everyHugeNumberIsRefusedByFieldAndLimit(_ path: [String], _ value: Int, _ limit: String) throws {
        let error = try #require(throws: ConfigError.self) { try HATConfig.decode(try tinyJSON(path, value), source: "t") }
        #expect(error.field == path.joined(separator: "."), "\(error)")
        #expect(error.message.contains(limit) && error.message.contains(String(value)), "\(error)")
    }

    @Test func ropeThetaBeyondItsLimitIsRefused() throws {
        let error = try #require(throws: ConfigError.self) {
            try HATConfig.decode(try tinyJSON(["backbone_config", "rope_theta"], 1e30), source: "t")
        }
        #expect(error.field == "backbone_config.rope_theta" && error.message.contains("1e+12"), "\(error)")
    }

    /// Llama 3 70B and 3.1 405B backbones (with the tiny local parts) are valid configs.
    @Test(arguments: [(8192, 28672, 80, 64), (16384, 53248, 126, 128)])
    func llamaSizedBackbonesAreAccepted(_ hidden: Int, _ ffn: Int, _ layers: Int, _ heads: Int) throws {
        let config = try TinyModel.config { c in
            c.backboneConfig = TransformerConfig(hiddenSize: hidden, numHiddenLayers: layers, numAttentionHeads: heads,
                                                 numKeyValueHeads: 8, headDim: 128, intermediateSize: ffn, ropeTheta: 500_000)
        }
        // Per block: two norms, q and o (C × H·D), k and v (C × G·D), three FFN matrices.
        let block = 2 * hidden + 2 * hidden * heads * 128 + 2 * hidden * 8 * 128 + 3 * hidden * ffn
        let parameters = try #require(config.parameterCount)
        // Besides the blocks: the tiny local parts and the projections to and from the backbone's width.
        #expect(parameters > layers * block && parameters < layers * block + 5_000_000, "\(parameters)")
    }

    @Test func aTotalBeyondTheParameterLimitIsRefusedThoughEachFieldIsInBounds() throws {
        let error = try #require(throws: ConfigError.self) {
            try TinyModel.config { c in
                c.backboneConfig = TransformerConfig(hiddenSize: Limits.hiddenSize, numHiddenLayers: Limits.layers,
                                                     numAttentionHeads: 512, numKeyValueHeads: 512,
                                                     intermediateSize: Limits.intermediateSize)
            }
        }
        #expect(error.field == "(all stacks)" && error.message.contains(String(Limits.parameters)), "\(error)")
    }

    @Test func aHugeWidthIsRefusedBeforeAnyWeightIsRead() throws {
        let scratch = try TemporaryDirectory("limits")
        let config = try TinyModel.config()
        try ModelFiles.save(config: config, parameters: TinyModel.parameters(config), to: scratch.path)
        try tinyJSON(["backbone_config", "hidden_size"], 1 << 62).write(to: URL(fileURLWithPath: scratch.file("config.json")))
        let error = try #require(throws: ConfigError.self) { try ModelFiles.load(from: scratch.path) }
        #expect(error.field == "backbone_config.hidden_size")
    }

    /// A 405B-sized config beside tiny weights: the header is compared with the config before the
    /// parameters (3 TB) would be allocated.
    @Test func aHugeValidConfigIsComparedWithTheWeightsBeforeAllocating() throws {
        let scratch = try TemporaryDirectory("limits")
        let tiny = try TinyModel.config()
        try ModelFiles.save(config: tiny, parameters: TinyModel.parameters(tiny), to: scratch.path)
        var large = tiny
        large.backboneConfig = TransformerConfig(hiddenSize: 16384, numHiddenLayers: 126, numAttentionHeads: 128,
                                                 numKeyValueHeads: 8, headDim: 128, intermediateSize: 53248)
        try large.encoded().write(to: URL(fileURLWithPath: scratch.file("config.json")))
        let error = try #require(throws: ModelFileError.self) { try ModelFiles.load(from: scratch.path) }
        #expect(error.message.contains("do not match the config"), "\(error)")
        // And were the weights there, the parameters would be refused for this machine, not allocated.
        #expect(throws: LimitError.self) { try MemoryPlan.allocateParameters(large, for: "a 405B-sized model") }
    }

    @Test func checkedArithmeticReportsOverflow() {
        #expect(checkedProduct([1 << 31, 1 << 31]) == 1 << 62)
        #expect(checkedProduct([1 << 32, 1 << 32]) == nil)
        #expect(checkedProduct([3, -1]) == nil)
        #expect(checkedSum([Int.max, 1]) == nil)
        #expect(checkedSum([1, nil]) == nil)
    }
}

@Suite struct MemoryPlans {
    /// The plan lists exactly what the model's arena hands out, and bounds what it reserves, for a
    /// model that trains and for one that only evaluates (no buffers of backward).
    @Test(arguments: [(false, 1, true), (true, 3, true), (false, 2, false), (true, 1, false)])
    func modelPlanEqualsTheArena(_ everyLayer: Bool, _ threads: Int, _ needsBackward: Bool) throws {
        let config = try TinyModel.config { c in
            c.decoderConfig.crossAttnEveryLayer = everyLayer
            c.backboneConfig.numKeyValueHeads = 1
        }
        let parameters = TinyModel.parameters(config)
        for (bytes, words) in [(512, 64), (3000, 700), (40_000, 9_000)] {
            let model = HierarchicalModel(config: config, parameters: parameters, maxBytes: bytes, maxWords: words,
                                          context: ComputeContext(threads: threads), needsBackward: needsBackward)
            let plan = try #require(Arena.plannedFloats(MemoryPlan.modelRequests(config, maxBytes: bytes, maxWords: words,
                                                                                 threads: threads, needsBackward: needsBackward).arena))
            #expect(plan.used == model.arena.usedFloats, "\(bytes) bytes, \(words) words")
            #expect(plan.reserved * 4 >= model.arena.reservedBytes, "\(bytes) bytes, \(words) words")
        }
    }

    /// An evaluating model gives the same losses as a training one: leaving out the buffers of
    /// backward changes nothing forward computes.
    @Test func aModelWithoutBackwardBuffersComputesTheSameLoss() throws {
        let config = try TinyModel.config()
        let parameters = TinyModel.parameters(config)
        let splitter = try config.makeSplitter()
        let text = Array(String(repeating: "It was the best of times, it was the worst of times. ", count: 20).utf8)
        let stream = Corpus.wordStream([Document(name: "t", bytes: text)], splitter: splitter, endOfSequence: UInt8(config.eosTokenId))
        let rows = stream.rows(wordsPerRow: 64, maxRowBytes: 512)
        var losses: [Double] = []
        for needsBackward in [true, false] {
            let batch = Batch(maxBytes: 4 * 512, maxWords: 4 * 64, config: config)
            let model = HierarchicalModel(config: config, parameters: parameters, maxBytes: 4 * 512, maxWords: 4 * 64,
                                          context: ComputeContext(threads: 2), needsBackward: needsBackward)
            losses.append(Evaluator.evaluate(model: model, stream: stream, rows: rows, batch: batch).lossNats)
        }
        #expect(losses[0].bitPattern == losses[1].bitPattern, "\(losses)")
    }

    @Test func batchesBeyondTheLimitsAreRefused() throws {
        let config = try TinyModel.config()
        let tooMany = try #require(throws: LimitError.self) {
            try MemoryPlan.requireBatch(config, maxBytes: Limits.batchBytes + 1, maxWords: 10, threads: 1, training: false, what: "t")
        }
        #expect(tooMany.message.contains(String(Limits.batchBytes)))
        let wide = try TinyModel.config { c in
            c.backboneConfig = TransformerConfig(hiddenSize: 16384, numHiddenLayers: 126, numAttentionHeads: 128,
                                                 numKeyValueHeads: 8, headDim: 128, intermediateSize: 53248)
        }
        let memory = try #require(throws: LimitError.self) {
            try MemoryPlan.requireBatch(wide, maxBytes: 1 << 20, maxWords: 1 << 18, threads: 2, training: true, what: "training")
        }
        #expect(memory.message.contains("memory"), "\(memory)")
        try MemoryPlan.requireBatch(config, maxBytes: 4096, maxWords: 512, threads: 2, training: true, what: "t")
    }
}

@Suite struct TrainingOptionLimits {
    @Test func hostileOptionsAreRefusedByFlag() {
        let cases: [(String, (inout TrainingOptions) -> Void)] = [
            ("learning-rate", { $0.learningRate = .nan }),
            ("learning-rate", { $0.learningRate = .infinity }),
            ("clip-norm", { $0.clipNorm = .nan }),
            ("clip-norm", { $0.clipNorm = -1 }),
            ("weight-decay", { $0.adamw.weightDecay = -1 }),
            ("max-row-bytes", { $0.maxRowBytes = 1_000_000_000_000 }),
            ("rows-per-batch", { $0.rowsPerBatch = 1 << 40 }),
            ("validation-rows", { $0.validationRows = -1 }),
            ("validation-fraction", { $0.validationFraction = .nan }),
            ("max-row-bytes", { $0.maxRowBytes = 20 }),   // below the model's word cap
        ]
        for (flag, change) in cases {
            var options = TrainingOptions(data: ["x.txt"])
            change(&options)
            do {
                try options.validate(maxWordSize: 32)
                Issue.record("--\(flag): accepted")
            } catch {
                #expect(error is TrainingError && "\(error)".contains("--" + flag), "\(error)")
            }
        }
        #expect(throws: Never.self) { try TrainingOptions(data: ["x.txt"]).validate(maxWordSize: 32) }
    }
}
