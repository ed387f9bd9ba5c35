// hat bench train's FLOP count and product shapes against an independent count over the
// model's parameter list (each matrix times the rows it multiplies) and brute-force attention
// pairs; and hat bench generate's fastest-round and growth figures, its token-model line and its
// --also-weights variants.

import Foundation
import HATCommandLine
import HATModel
import HATTensor
import Testing
@testable import HATBench

@Suite struct BenchTrainTests {
    /// The tiny preset (GQA, windows of 16) with a two-row batch of short words.
    static func tinyBatch() throws -> (HATConfig, Batch) {
        let config = try HATConfig.load(path: try Locations.config("tiny"))
        // Row 0: 9 words of 5 bytes (45 bytes, past the window); row 1: 4 words of 3 bytes.
        var bytes: [UInt8] = [], ends: [Int] = []
        for w in 0..<13 {
            let length = w < 9 ? 5 : 3
            bytes += (0..<length).map { UInt8(97 + ($0 + w) % 26) }
            ends.append(bytes.count)
        }
        let stream = WordStream(bytes: bytes, ends: ends)
        let batch = Batch(maxBytes: 64, maxWords: 16, config: config)
        batch.appendRow(stream, words: 0..<9)
        batch.appendRow(stream, words: 9..<13)
        batch.finish()
        return (config, batch)
    }

    @Test func forwardFLOPsEqualAnIndependentCount() throws {
        let (config, batch) = try Self.tinyBatch()
        let n = batch.byteCount, w = batch.wordCount
        #expect(n == 57 && w == 13)

        // Every matrix (not the embedding lookup) times the rows it multiplies: bytes or words.
        func rows(_ name: String) -> Int {
            if name.hasPrefix("backbone.") { return w }
            if name.hasPrefix("encoder_connector.") { return name.contains(".k_proj") || name.contains(".v_proj") ? n : w }
            if name.contains(".cross_attention.") { return name.contains(".k_proj") || name.contains(".v_proj") ? w : n }
            return n
        }
        var linear = 0.0
        for spec in HierarchicalModel.parameterSpecs(config) where spec.shape.count == 2 && spec.name != "encoder.embedding_layer.weight" {
            linear += 2 * Double(rows(spec.name)) * Double(spec.shape[0] * spec.shape[1])
        }

        // Attention pairs by brute force: same row, causal, inside the window.
        let enc = config.encoderConfig, dec = config.decoderConfig, bb = config.backboneConfig
        func causalPairs(count: Int, rowStart: (Int) -> Int, window: Int?) -> Int {
            var pairs = 0
            for i in 0..<count {
                for j in 0...i where j >= rowStart(i) && i - j < (window ?? Int.max) { pairs += 1 }
            }
            return pairs
        }
        let encoderPairs = causalPairs(count: n, rowStart: { Int(batch.byteRowStart[$0]) }, window: enc.slidingWindow)
        let decoderPairs = causalPairs(count: n, rowStart: { Int(batch.byteRowStart[$0]) }, window: dec.slidingWindow)
        let wordPairs = causalPairs(count: w, rowStart: { Int(batch.wordRowStart[$0]) }, window: bb.slidingWindow)
        // Window 16: row 0 (45 bytes) 1 + 2 + … + 16 + 29·16 = 600 pairs, row 1 (12 bytes) 78; words 45 + 10.
        #expect(enc.slidingWindow == 16 && encoderPairs == 678 && wordPairs == 55)
        let attention = Double(enc.numHiddenLayers * encoderPairs * enc.numAttentionHeads * 4 * enc.headDim)
            + Double(bb.numHiddenLayers * wordPairs * bb.numAttentionHeads * 4 * bb.headDim)
            + Double(dec.numHiddenLayers * decoderPairs * dec.numAttentionHeads * 4 * dec.headDim)
            + Double(n * enc.crossAttentionConfig!.numAttentionHeads * 4 * enc.crossAttentionConfig!.headDim)   // pooling
            + Double(n * dec.crossAttentionConfig!.numAttentionHeads * 4 * dec.crossAttentionConfig!.headDim)   // decoder cross

        let work = StepWork(config: config, batch: batch)
        #expect(abs(work.forwardFLOPs - (linear + attention)) <= 1e-6 * work.forwardFLOPs,
                "StepWork \(work.forwardFLOPs) vs independent \(linear + attention)")

        // The products: forward, d input and d weight of every linear layer, 3× the linear FLOPs.
        let productFLOPs = work.products.reduce(0.0) { $0 + $1.flops * Double($1.count) }
        #expect(abs(productFLOPs - 3 * linear) <= 1e-6 * productFLOPs)
        for p in work.products {
            #expect(p.transposeB == p.label.hasSuffix("forward") && p.transposeA == p.label.hasSuffix("d weight"))
        }
    }

    /// --also-weights: a format, "stored" (ModelFiles.load's weights: nil, what hat generate runs
    /// by default), each optionally with a cache format; float32 alone and unknown names refused.
    @Test func generateVariantsNameWeightsAndCaches() throws {
        let variants = try BenchGenerate.parse(["--also-weights", "stored/f16,bf16,q4_1/bf16,f32/f16"]).variants
        #expect(variants.map(\.weights) == [nil, .bf16, .q4_1, .f32])
        #expect(variants.map(\.kvCache) == [.f16, .f32, .bf16, .f16])
        #expect(variants.map(\.label) == ["stored weights, f16 kv cache", "bf16 weights", "q4_1 weights, bf16 kv cache",
                                           "f32 weights, f16 kv cache"])
        for bad in ["f32", "stored/f8", "q5_0", "bf16/f16/f16"] {
            let error = #expect(throws: (any Error).self, "--also-weights \(bad)") {
                _ = try BenchGenerate.parse(["--also-weights", bad]).variants
            }
            #expect("\(error.map { "\($0)" } ?? "")".contains("found \"\(bad)\""), "the message names the entry: \(String(describing: error))")
        }
    }

    @Test func generateReportTakesTheFastestRoundAndItsGrowth() {
        func timing(_ prefill: Double, _ generation: Double) -> Timing {
            Timing(resetSeconds: 0.001, prefillSeconds: prefill, generationSeconds: generation, promptBytes: 100,
                   generatedBytes: 10, generationCPUSeconds: generation)
        }
        var short = ContextReport(name: "100 words", promptWords: 100, promptBytes: 100)
        short.add(hat: timing(0.5, 0.04), mainThreads: true)
        short.add(hat: timing(0.3, 0.05), mainThreads: true)
        short.add(torch: timing(2, 0.2), mainThreads: true)
        short.add(torch: timing(3, 0.1), mainThreads: true)
        #expect(short.hat?.prefillSeconds == 0.3 && short.hat?.generationSeconds == 0.04)
        #expect(short.generationRatios == [5, 2])
        #expect(short.generationSpeedup == 0.1 / 0.04)
        var long = ContextReport(name: "2000 words", promptWords: 2000, promptBytes: 100)
        long.add(hat: timing(1, 0.06), mainThreads: true)
        long.add(torch: timing(1, 0.1), mainThreads: true)
        var report = GenerateReport(machine: Machine.current(threads: 1), source: "x", generatedBytes: 10, backboneWindow: 4096,
                                    rounds: 2, alsoThreads: 0)
        report.contexts = [short, long]
        #expect(abs(report.hatCostGrowth! - 1.5) < 1e-12)
        #expect(abs(report.torchCostGrowth! - 1) < 1e-12)
        #expect(report.text.contains("hat 1.5×"))
        #expect(!report.text.contains("token model"))
    }

    @Test func generateReportShowsTheTokenModelBesideTheHATModel() throws {
        var context = ContextReport(name: "100 words", promptWords: 100, promptBytes: 100)
        context.add(hat: Timing(resetSeconds: 0, prefillSeconds: 0.5, generationSeconds: 0.5, promptBytes: 100,
                                generatedBytes: 50), mainThreads: true)
        context.tokenModel = Timing(resetSeconds: 0, prefillSeconds: 0.25, generationSeconds: 2, promptBytes: 100, generatedBytes: 50)
        var report = GenerateReport(machine: Machine.current(threads: 1), source: "x", generatedBytes: 50, backboneWindow: 4096,
                                    rounds: 1, alsoThreads: 0)
        report.contexts = [context]
        report.tokenModel = "smollm2.gguf"
        report.tokenModelParameters = 134_515_008
        let line = try #require(report.text.split(separator: "\n").first { $0.contains("token model, hat") })
        #expect(line.contains("generation 25") && line.contains("bytes/s"), "\(line)")
        #expect(report.text.contains("token model: smollm2.gguf (134515008 parameters)"))
        let json = String(decoding: try JSONEncoder().encode(report), as: UTF8.self)
        #expect(json.contains("\"tokenModel\":\"smollm2.gguf\"") && json.contains("\"tokenModelText\"") == false)
    }
}
