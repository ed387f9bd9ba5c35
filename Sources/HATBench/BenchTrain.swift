// hat bench train: the training-step figures of Reports/performance.md in one run (issue 4
// item 9) — one step of forward + backward + clipping + AdamW on a real-text batch of the
// default config, as the Trainer takes it: bytes/s, model FLOPs and their fraction of the
// same-run sgemm rate at the model's shapes, resident memory across steps; then PyTorch
// (scripts/bench_torch_hat.py) doing the same step on the same batch, weights and threads,
// with its losses checked against ours. `--json` prints all of it as one JSON object.
//
// Shapes: N bytes and W words of the batch (flattened over its B rows), Dl local width,
// Db backbone width, F FFN width, A = H·D attention width.

import ArgumentParser
import Dispatch
import Foundation
import HATCommandLine
import HATIO
import HATLayers
import HATModel
import HATTensor
import HATText

struct BenchTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "One training step (forward, backward, AdamW) of a preset; PyTorch doing the same step in the same run.",
        discussion: """
            The batch is --rows rows of --words-per-row words (at most --max-row-bytes bytes) taken evenly \
            spaced from the word stream of --data, as the trainer cuts it. Model FLOPs count 2 per \
            multiply-add of every matrix product of every layer as the model is written (encoder, pooling, \
            backbone, decoder cross-attention and blocks, head) and 4·D per allowed query–key pair per head \
            for attention (causal, sliding window, within the row; a word's query over its own bytes; a byte \
            over its word's one predictive vector); forward + backward counts 3× forward. \
            Build in release: swift build -c release.
            """)

    @Option(help: "Preset name (Models/configs/NAME.json) or config.json path.") var config = "small"
    @Option(help: "Text the batch is cut from: files or directories of *.txt.")
    var data = "data/english"
    @Option(parsing: .unconditional, help: "Rows per batch.") var rows = 8
    @Option(parsing: .unconditional, help: "Words per row.") var wordsPerRow = 256
    @Option(parsing: .unconditional, help: "Most bytes per row.") var maxRowBytes = 2048
    @OptionGroup var threadOptions: ThreadOptions
    @Option(parsing: .unconditional, help: "Untimed steps first.") var warmup = 2
    @Option(parsing: .unconditional, help: "Timed steps; the median is reported.") var steps = 5
    @Option(parsing: .unconditional, help: "Constant AdamW learning rate of the steps.") var learningRate: Float = 1e-3
    @Option(parsing: .unconditional, help: "Seed of the fresh weights.") var seed: UInt64 = 1
    @Option(help: "Python with torch and safetensors (default: $HAT_PYTHON, else python3).")
    var python: String?
    @Option(help: "The PyTorch script.")
    var torchScript = "scripts/bench_torch_hat.py"
    @Option(parsing: .unconditional, help: "Relative tolerance of the loss check against PyTorch.") var tolerance = 2e-4
    @Option(help: "Keep the initial weights and the batch file for PyTorch in this directory (default: a temporary one, removed).")
    var keepFiles: String?
    @Option(help: "PyTorch's sliding-window attention: blocked (sdpa per query block over the keys it sees) or mask.")
    var torchAttention = "blocked"
    @Flag(help: "torch.compile PyTorch's forward (compiling takes minutes; the warm-up steps absorb it).")
    var torchCompile = false
    @Flag(help: "Skip the PyTorch comparison.") var noTorch = false
    @Flag(help: "Print one JSON object instead of text.") var json = false

    func validate() throws {
        try checkFlag("rows", rows, 1...Limits.rowsPerBatch)
        try checkFlag("words-per-row", wordsPerRow, 2...Limits.rowWords)
        try checkFlag("max-row-bytes", maxRowBytes, 1...Limits.rowBytes)
        try checkFlagProduct("--rows × --max-row-bytes", rows, maxRowBytes, atMost: Limits.batchBytes, "bytes per batch")
        try checkFlagProduct("--rows × --words-per-row", rows, wordsPerRow, atMost: Limits.batchWords, "words per batch")
        try checkFlag("warmup", warmup, 0...Limits.repeats)
        try checkFlag("steps", steps, 1...Limits.repeats)
        try checkFlag("tolerance", tolerance, 0...1)
        guard ["blocked", "mask"].contains(torchAttention) else {
            throw ValidationError("--torch-attention: expected blocked or mask, found \(torchAttention)")
        }
        try checkFlag("learning-rate", learningRate, Float.leastNonzeroMagnitude...Float.greatestFiniteMagnitude)
    }

    func run() throws {
        let context = threadOptions.makeContext()
        var report = TrainReport(machine: Machine.current(threads: threadOptions.threads), preset: config, data: data)

        // Model and fresh weights.
        let config = try HATConfig.load(path: try Locations.config(self.config))
        guard config.maxWordSize <= maxRowBytes else {
            throw ValidationError("--max-row-bytes (\(maxRowBytes)) must be ≥ the model's max_word_size (\(config.maxWordSize))")
        }
        try MemoryPlan.requireBatch(config, maxBytes: rows * maxRowBytes, maxWords: rows * wordsPerRow,
                                    threads: threadOptions.threads, training: true, what: "bench train")
        let parameters = try MemoryPlan.allocateParameters(config, for: "the preset \(self.config)")
        var rng = RandomGenerator(seed: seed)
        HierarchicalModel.initialize(parameters, rng: &rng)
        report.parameters = parameters.scalarCount

        // The batch: rows evenly spaced through the word stream of the text.
        let documents = try Corpus.documents(paths: [data])
        let splitter = try config.makeSplitter()
        let stream = Corpus.wordStream(documents, splitter: splitter, endOfSequence: UInt8(config.eosTokenId))
        let allRows = stream.rows(wordsPerRow: wordsPerRow, maxRowBytes: maxRowBytes)
        guard allRows.count >= rows else {
            throw CommandError("\(data) gives \(allRows.count) rows of \(wordsPerRow) words, fewer than --rows \(rows)")
        }
        let chosen = (0..<rows).map { allRows[(2 * $0 + 1) * allRows.count / (2 * rows)] }
        let batch = Batch(maxBytes: rows * maxRowBytes, maxWords: rows * wordsPerRow, config: config)
        for row in chosen { batch.appendRow(stream, words: row) }
        batch.finish()
        report.batch = BatchReport(rows: rows, bytes: batch.byteCount, words: batch.wordCount,
                                   predictedBytes: batch.targetCount, sourceBytes: stream.byteCount)

        // Work per step.
        let work = StepWork(config: config, batch: batch)
        report.flops = work.flops
        report.modelGFLOPPerStep = 3 * work.forwardFLOPs / 1e9
        report.shapes = benchGemm(work.products, context: context)

        // Initial weights and the batch for PyTorch, written before any step changes the weights.
        let directory = keepFiles ?? NSTemporaryDirectory() + "hat-bench-train-\(getpid())"
        defer { if keepFiles == nil { try? FileManager.default.removeItem(atPath: directory) } }
        try ModelFiles.save(config: config, parameters: parameters, to: directory, dtype: .f32)
        try writeBatch(stream: stream, rows: chosen, to: directory + "/batch.json")

        // PyTorch starts first (loading while nothing is timed) and then takes a step after each of
        // ours, so both see the same load on a shared machine.
        var torch: TorchTrainReport?
        var worker: PythonWorker?
        if !noTorch {
            let arguments = [torchScript, "--serve", "--model", directory, "--batch", directory + "/batch.json",
                             "--threads", "\(threadOptions.threads)", "--warmup", "\(warmup)", "--learning-rate", "\(learningRate)",
                             "--tolerance", "\(tolerance)", "--attention", torchAttention] + (torchCompile ? ["--compile"] : [])
            do {
                worker = try PythonWorker(python: Python.interpreter(python), modules: ["torch", "safetensors"], script: torchScript,
                                          arguments: arguments)
                _ = try worker!.receive()    // {"ready": true}
                torch = TorchTrainReport()
            } catch {
                torch = TorchTrainReport(error: "PyTorch comparison unavailable: \(error)")
                worker = nil
            }
        }

        // Our steps, as the trainer takes them (all parameters trained, clipping at 1.0).
        let model = HierarchicalModel(config: config, parameters: parameters, maxBytes: batch.maxBytes, maxWords: batch.maxWords,
                                      context: context)
        let optimizer = AdamW(parameters: parameters, settings: AdamWSettings(), context: context)
        var ours = OurSteps()
        for step in 0..<(warmup + steps) {
            if step == warmup { ours.residentBytesAfterWarmup = ProcessStats.residentBytes() }
            let cpuStart = processCPUSeconds()
            let t0 = DispatchTime.now().uptimeNanoseconds
            parameters.zeroGrads()
            let (lossSum, count) = model.forward(batch)
            let t1 = DispatchTime.now().uptimeNanoseconds
            model.backward(batch, lossScale: 1 / Float(max(count, 1)))
            let t2 = DispatchTime.now().uptimeNanoseconds
            clipGradientNorm(parameters, maxNorm: 1) { _ in true }
            optimizer.update(learningRate: learningRate) { _ in 1 }
            let t3 = DispatchTime.now().uptimeNanoseconds
            let cpu = processCPUSeconds() - cpuStart
            ours.losses.append(lossSum / Double(max(count, 1)))
            if step >= warmup {
                ours.seconds.append(Double(t3 - t0) / 1e9)
                ours.forward.append(Double(t1 - t0) / 1e9)
                ours.backward.append(Double(t2 - t1) / 1e9)
                ours.optimizer.append(Double(t3 - t2) / 1e9)
                ours.cpuSeconds.append(cpu)
            }
            if let w = worker {
                do {
                    try w.send("step")
                    let object = try w.receive()
                    if step >= warmup, let seconds = object["seconds"] as? Double {
                        torch!.pairedSeconds.append(seconds)
                    }
                } catch {
                    torch = TorchTrainReport(error: "PyTorch comparison failed at step \(step + 1): \(error)")
                    worker = nil
                }
            }
        }
        ours.residentBytesAfterSteps = ProcessStats.residentBytes()
        report.hat = ours.summary(bytes: batch.byteCount, modelFLOPs: 3 * work.forwardFLOPs)

        // sgemm again after the steps; each shape keeps its faster rate (the load changes).
        for (i, again) in benchGemm(work.products, context: context).enumerated() where again.gflops > report.shapes[i].gflops {
            report.shapes[i].gflops = again.gflops
        }
        report.sgemmPeakGFLOPS = report.shapes.map(\.gflops).max() ?? 0
        let productFLOPs = report.shapes.reduce(0.0) { $0 + $1.flops * Double($1.count) }
        let productSeconds = report.shapes.reduce(0.0) { $0 + $1.flops * Double($1.count) / ($1.gflops * 1e9) }
        report.sgemmCompositeGFLOPS = productFLOPs / productSeconds / 1e9
        report.productsAtSgemmMs = 1000 * productSeconds

        if let w = worker {
            do {
                try w.send("done " + ours.losses.map { String($0) }.joined(separator: ","))
                torch = torchSummary(try w.receive(), paired: torch!.pairedSeconds)
                w.finish()
            } catch {
                torch = TorchTrainReport(error: "PyTorch comparison failed at its summary: \(error)")
            }
        }
        report.torch = torch
        report.machine.loadAverageEnd = Machine.loadAverage()
        try printFigures(report, json: json) { report.text }
    }

    /// The batch's rows as bytes and word ends (relative to the row), for the PyTorch script.
    func writeBatch(stream: WordStream, rows: [Range<Int>], to path: String) throws {
        var objects: [[String: Any]] = []
        for row in rows {
            let first = stream.wordStart(row.lowerBound), last = stream.wordEnd(row.upperBound - 1)
            objects.append(["bytes": stream.bytes[first..<last].map { Int($0) },
                            "word_ends": row.map { stream.wordEnd($0) - first }])
        }
        let data = try JSONSerialization.data(withJSONObject: ["rows": objects, "made_by": "hat bench train"])
        try AtomicFile.write(data, to: path)
    }

    /// sgemm GFLOP/s at each of the step's product shapes (median of 3 after a warm-up).
    func benchGemm(_ products: [Product], context: ComputeContext) -> [Product] {
        func most(_ f: (Product) -> Int) -> Int { products.map(f).max() ?? 1 }
        let arena = Arena(name: "bench-train-gemm")
        let a = arena.tensor(rows: most { $0.transposeA ? $0.k : $0.m }, cols: most { $0.transposeA ? $0.m : $0.k })
        let b = arena.tensor(rows: most { $0.transposeB ? $0.n : $0.k }, cols: most { $0.transposeB ? $0.k : $0.n })
        let c = arena.tensor(rows: most(\.m), cols: most(\.n))
        var rng = RandomGenerator(seed: 7)
        rng.fillUniform(a, bound: 1)
        rng.fillUniform(b, bound: 1)
        var result = products
        for i in result.indices {
            let s = result[i]
            let aView = s.transposeA ? a.rows(0..<s.k).columns(0..<s.m) : a.rows(0..<s.m).columns(0..<s.k)
            let bView = s.transposeB ? b.rows(0..<s.n).columns(0..<s.k) : b.rows(0..<s.k).columns(0..<s.n)
            let cView = c.rows(0..<s.m).columns(0..<s.n)
            var times: [Double] = []
            for r in 0..<4 {
                let start = DispatchTime.now().uptimeNanoseconds
                context.gemm(aView, transposeA: s.transposeA, bView, transposeB: s.transposeB, into: cView)
                if r > 0 { times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9) }
            }
            result[i].gflops = s.flops / times.sorted()[times.count / 2] / 1e9
        }
        return result
    }

    // MARK: PyTorch

    /// PyTorch's report from the summary it prints at "done".
    func torchSummary(_ object: [String: Any], paired: [Double]) -> TorchTrainReport {
        guard let seconds = object["seconds"] as? Double else {
            return TorchTrainReport(error: "PyTorch comparison failed: no \"seconds\" in its summary")
        }
        var t = TorchTrainReport()
        t.seconds = seconds
        t.pairedSeconds = paired
        t.secondsAll = object["seconds_all"] as? [Double]
        t.cpuSecondsPerStep = object["cpu_seconds_per_step"] as? Double
        t.forwardSeconds = object["forward_seconds"] as? Double
        t.backwardSeconds = object["backward_seconds"] as? Double
        t.optimizerSeconds = object["optimizer_seconds"] as? Double
        t.bytesPerSecond = object["bytes_per_second"] as? Double
        t.version = object["torch"] as? String
        t.threads = object["threads"] as? Int
        t.implementation = object["implementation"] as? String
        t.paddedBytesPerRow = object["padded_bytes_per_row"] as? Int
        t.maxResidentBytes = object["max_resident_bytes"] as? Int
        t.losses = object["losses"] as? [Double]
        if let check = object["loss_check"] as? [String: Any] {
            t.lossCheckOK = check["ok"] as? Bool
            t.lossWorstRelativeDifference = check["worst_relative_difference"] as? Double
            t.lossComparedSteps = check["compared_steps"] as? Int
        }
        return t
    }
}


/// User + system CPU time of this process so far (all threads).
func processCPUSeconds() -> Double {
    var usage = rusage()
    #if os(Linux)
    getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
    #else
    getrusage(RUSAGE_SELF, &usage)
    #endif
    return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
}

// MARK: - Work of one step

/// One matrix product of the step: C [m, n] = op(A) [m, k] · op(B) [k, n], run `count` times.
struct Product: Encodable {
    var label: String
    var m: Int, n: Int, k: Int
    var transposeA: Bool, transposeB: Bool
    var count: Int
    var gflops = 0.0
    var flops: Double { 2 * Double(m) * Double(n) * Double(k) }
}

/// Forward FLOPs of one part of the model on the batch.
struct PartFLOPs: Encodable {
    var part: String
    var forwardGFLOP: Double
    /// Allowed query–key pairs per head of this part's attention (summed over its layers).
    var attentionPairs: Int
}

/// The model FLOPs of a step and the product shapes it runs, from the config and the batch.
struct StepWork {
    var flops: [PartFLOPs] = []
    var products: [Product] = []
    var forwardFLOPs: Double { flops.reduce(0) { $0 + $1.forwardGFLOP } * 1e9 }

    init(config: HATConfig, batch: Batch) {
        let n = batch.byteCount, w = batch.wordCount
        let enc = config.encoderConfig, bb = config.backboneConfig, dec = config.decoderConfig
        let dl = enc.hiddenSize, db = bb.hiddenSize
        var shapes: [String: (m: Int, n: Int, k: Int, count: Int)] = [:]
        var order: [String] = []
        /// A linear layer y [rows, out] = x [rows, in] Wᵀ: forward, d input and d weight products.
        func linear(rows: Int, input: Int, output: Int, times: Int = 1) -> Double {
            for (suffix, m, nn, k) in [("forward", rows, output, input), ("d input", rows, input, output),
                                       ("d weight", output, input, rows)] {
                let key = "\(m)x\(k)x\(nn) \(suffix)"
                if shapes[key] == nil {
                    shapes[key] = (m, nn, k, 0)
                    order.append(key)
                }
                shapes[key]!.count += times
            }
            return 2 * Double(rows) * Double(input) * Double(output) * Double(times)
        }
        func block(_ c: TransformerConfig, rows: Int, pairs: Int) -> Double {
            let a = c.numAttentionHeads * c.headDim, kv = c.numKeyValueHeads * c.headDim, f = c.intermediateSize
            var total = 0.0
            total += linear(rows: rows, input: c.hiddenSize, output: a)
            total += linear(rows: rows, input: c.hiddenSize, output: kv, times: 2)
            total += linear(rows: rows, input: a, output: c.hiddenSize)
            total += linear(rows: rows, input: c.hiddenSize, output: f, times: 2)
            total += linear(rows: rows, input: f, output: c.hiddenSize)
            return total + Double(pairs) * Double(c.numAttentionHeads) * 4 * Double(c.headDim)
        }
        let encoderPairs = batch.encoderRanges.pairCount(queries: n)
        let decoderPairs = batch.decoderRanges.pairCount(queries: n)
        let backbonePairs = batch.backboneRanges.pairCount(queries: w)

        var encoder = 0.0
        for _ in 0..<enc.numHiddenLayers { encoder += block(enc, rows: n, pairs: encoderPairs) }
        flops.append(PartFLOPs(part: "encoder", forwardGFLOP: encoder / 1e9, attentionPairs: encoderPairs * enc.numHiddenLayers))

        // Pooling: q_proj runs on every word's (identical) latent query, as the model is written.
        let pc = enc.crossAttentionConfig!
        let pa = pc.numAttentionHeads * pc.headDim, pkv = pc.numKeyValueHeads * pc.headDim
        var pool = linear(rows: w, input: db, output: pa)
        pool += linear(rows: n, input: dl, output: pkv, times: 2)
        pool += linear(rows: w, input: pa, output: db)
        let poolPairs = batch.poolingRanges.pairCount(queries: w)
        pool += Double(poolPairs) * Double(pc.numAttentionHeads) * 4 * Double(pc.headDim)
        flops.append(PartFLOPs(part: "pooling", forwardGFLOP: pool / 1e9, attentionPairs: poolPairs))

        var backbone = 0.0
        for _ in 0..<bb.numHiddenLayers { backbone += block(bb, rows: w, pairs: backbonePairs) }
        flops.append(PartFLOPs(part: "backbone", forwardGFLOP: backbone / 1e9, attentionPairs: backbonePairs * bb.numHiddenLayers))

        // Decoder: cross-attention as written (one key per byte) in the layers that have it, then blocks.
        let dc = dec.crossAttentionConfig!
        let da = dc.numAttentionHeads * dc.headDim, dkv = dc.numKeyValueHeads * dc.headDim
        var decoder = 0.0, crossPairs = 0
        for i in 0..<dec.numHiddenLayers {
            if ModelLayout.decoderCrossAttends(i, config: config) {
                decoder += linear(rows: n, input: dl, output: da)
                decoder += linear(rows: w, input: db, output: dkv, times: 2)
                decoder += linear(rows: n, input: da, output: dl)
                let pairs = batch.decoderCrossRanges.pairCount(queries: n)
                decoder += Double(pairs) * Double(dc.numAttentionHeads) * 4 * Double(dc.headDim)
                crossPairs += pairs
            }
            decoder += block(dec, rows: n, pairs: decoderPairs)
        }
        flops.append(PartFLOPs(part: "decoder", forwardGFLOP: decoder / 1e9,
                               attentionPairs: decoderPairs * dec.numHiddenLayers + crossPairs))

        let head = linear(rows: n, input: dl, output: 256)
        flops.append(PartFLOPs(part: "head", forwardGFLOP: head / 1e9, attentionPairs: 0))

        // Distinct product shapes with how often the step runs each (C = A·Bᵀ forward, C = dY·W
        // for d input, C = dYᵀ·X for d weight, as HATLayers' Linear runs them).
        for key in order {
            let s = shapes[key]!
            let kind = key.split(separator: " ", maxSplits: 1).last.map(String.init) ?? ""
            products.append(Product(label: "[\(s.m)x\(s.k)]·[\(s.k)x\(s.n)] \(kind)", m: s.m, n: s.n, k: s.k,
                                    transposeA: kind == "d weight", transposeB: kind == "forward", count: s.count))
        }
    }
}

// MARK: - Report

struct OurSteps {
    var losses: [Double] = []
    var seconds: [Double] = []
    var forward: [Double] = []
    var backward: [Double] = []
    var optimizer: [Double] = []
    var cpuSeconds: [Double] = []
    var residentBytesAfterWarmup = 0
    var residentBytesAfterSteps = 0

    func summary(bytes: Int, modelFLOPs: Double) -> HatTrainReport {
        func median(_ xs: [Double]) -> Double { xs.sorted()[xs.count / 2] }
        let s = median(seconds)
        return HatTrainReport(seconds: s, secondsAll: seconds, forwardSeconds: median(forward),
                              backwardSeconds: median(backward), optimizerSeconds: median(optimizer),
                              bytesPerSecond: Double(bytes) / s, achievedGFLOPS: modelFLOPs / s / 1e9,
                              cpuSecondsPerStep: cpuSeconds.reduce(0, +) / Double(max(cpuSeconds.count, 1)), losses: losses,
                              residentBytesAfterWarmup: residentBytesAfterWarmup,
                              residentBytesAfterSteps: residentBytesAfterSteps)
    }
}

struct HatTrainReport: Encodable {
    var seconds: Double
    var secondsAll: [Double]
    var forwardSeconds: Double
    /// Backward of the whole model.
    var backwardSeconds: Double
    /// Gradient clipping and the AdamW update.
    var optimizerSeconds: Double
    var bytesPerSecond: Double
    var achievedGFLOPS: Double
    /// User + system CPU time per timed step, all threads (mean).
    var cpuSecondsPerStep: Double
    var losses: [Double]
    var residentBytesAfterWarmup: Int
    var residentBytesAfterSteps: Int
}

struct TorchTrainReport: Encodable {
    /// Median of the timed steps.
    var seconds: Double?
    var secondsAll: [Double]?
    /// Its timed steps as we received them, each right after one of ours.
    var pairedSeconds: [Double] = []
    var cpuSecondsPerStep: Double?
    var forwardSeconds: Double?
    var backwardSeconds: Double?
    var optimizerSeconds: Double?
    var bytesPerSecond: Double?
    var version: String?
    var threads: Int?
    var implementation: String?
    var paddedBytesPerRow: Int?
    var maxResidentBytes: Int?
    var losses: [Double]?
    var lossCheckOK: Bool?
    var lossWorstRelativeDifference: Double?
    var lossComparedSteps: Int?
    var error: String?

    init(error: String? = nil) { self.error = error }
}

struct BatchReport: Encodable {
    var rows: Int
    var bytes: Int
    var words: Int
    var predictedBytes: Int
    /// Bytes of the whole text the rows were taken from.
    var sourceBytes: Int
}

struct TrainReport: Encodable {
    var machine: Machine
    var preset: String
    var data: String
    var parameters = 0
    var batch = BatchReport(rows: 0, bytes: 0, words: 0, predictedBytes: 0, sourceBytes: 0)
    var flops: [PartFLOPs] = []
    var modelGFLOPPerStep = 0.0
    var shapes: [Product] = []
    var sgemmPeakGFLOPS = 0.0
    /// Total FLOPs of the step's products over their time at the rates measured for each shape.
    var sgemmCompositeGFLOPS = 0.0
    /// The step's products timed at those rates: a floor for the step.
    var productsAtSgemmMs = 0.0
    var hat: HatTrainReport?
    var torch: TorchTrainReport?

    var fractionOfPeakSgemm: Double? { hat.map { $0.achievedGFLOPS / sgemmPeakGFLOPS } }
    var fractionOfCompositeSgemm: Double? { hat.map { $0.achievedGFLOPS / sgemmCompositeGFLOPS } }
    /// PyTorch's step time over ours for each pair of steps taken one after the other.
    var pairRatios: [Double] {
        guard let ours = hat?.secondsAll, let theirs = torch?.pairedSeconds, torch?.seconds != nil else { return [] }
        return zip(theirs, ours).map { $0 / $1 }
    }
    /// Our bytes/s over PyTorch's on the same batch: the median of the paired ratios.
    var speedup: Double? {
        let r = pairRatios.sorted()
        return r.isEmpty ? nil : r[r.count / 2]
    }
    /// The same from each side's fastest step (least disturbed by other work on the machine).
    var speedupOfBestSteps: Double? {
        guard let ours = hat?.secondsAll.min(), let theirs = torch?.pairedSeconds.min(), torch?.seconds != nil else { return nil }
        return theirs / ours
    }

    enum CodingKeys: String, CodingKey {
        case machine, preset, data, parameters, batch, flops, modelGFLOPPerStep, shapes, sgemmPeakGFLOPS,
             sgemmCompositeGFLOPS, productsAtSgemmMs, hat, torch, fractionOfPeakSgemm, fractionOfCompositeSgemm, pairRatios,
             speedup, speedupOfBestSteps
    }

    func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(machine, forKey: .machine)
        try c.encode(preset, forKey: .preset)
        try c.encode(data, forKey: .data)
        try c.encode(parameters, forKey: .parameters)
        try c.encode(batch, forKey: .batch)
        try c.encode(flops, forKey: .flops)
        try c.encode(modelGFLOPPerStep, forKey: .modelGFLOPPerStep)
        try c.encode(shapes, forKey: .shapes)
        try c.encode(sgemmPeakGFLOPS, forKey: .sgemmPeakGFLOPS)
        try c.encode(sgemmCompositeGFLOPS, forKey: .sgemmCompositeGFLOPS)
        try c.encode(productsAtSgemmMs, forKey: .productsAtSgemmMs)
        try c.encodeIfPresent(hat, forKey: .hat)
        try c.encodeIfPresent(torch, forKey: .torch)
        try c.encodeIfPresent(fractionOfPeakSgemm, forKey: .fractionOfPeakSgemm)
        try c.encodeIfPresent(fractionOfCompositeSgemm, forKey: .fractionOfCompositeSgemm)
        try c.encode(pairRatios, forKey: .pairRatios)
        try c.encodeIfPresent(speedup, forKey: .speedup)
        try c.encodeIfPresent(speedupOfBestSteps, forKey: .speedupOfBestSteps)
    }

    var text: String {
        var s = machine.header
        s += "model: \(preset), \(parameters) parameters; batch: \(batch.rows) rows, \(batch.bytes) bytes, \(batch.words) words "
            + "(\(batch.predictedBytes) predicted bytes) from \(data)\n"
        s += "model FLOPs per step: \(benchFigure(modelGFLOPPerStep)) GFLOP = 3 × forward ("
            + flops.map { "\($0.part) \(benchFigure($0.forwardGFLOP))" }.joined(separator: ", ") + " GFLOP)\n"
        s += "  attention query–key pairs per head: "
            + flops.filter { $0.attentionPairs > 0 }.map { "\($0.part) \($0.attentionPairs)" }.joined(separator: ", ") + "\n"
        s += "sgemm at the step's product shapes (GFLOP/s, the faster of before and after the steps; × times per step):\n"
        for p in shapes {
            s += "  \(benchPadded(p.label, 34)) \(benchPadded(benchFigure(p.gflops), 6)) × \(p.count)\n"
        }
        s += "  peak \(benchFigure(sgemmPeakGFLOPS)), composite of the step's products \(benchFigure(sgemmCompositeGFLOPS)); "
            + "the products alone at these rates: \(benchFigure(productsAtSgemmMs)) ms\n"
        if let h = hat {
            s += "hat: step \(benchFigure(1000 * h.seconds)) ms (forward \(benchFigure(1000 * h.forwardSeconds)), backward "
                + "\(benchFigure(1000 * h.backwardSeconds)), clip + AdamW \(benchFigure(1000 * h.optimizerSeconds))), "
                + "\(benchFigure(h.bytesPerSecond)) bytes/s, \(benchFigure(h.achievedGFLOPS)) GFLOP/s = "
                + "\(benchFigure(100 * (fractionOfPeakSgemm ?? 0)))% of peak sgemm, \(benchFigure(100 * (fractionOfCompositeSgemm ?? 0)))% of composite\n"
            s += "  steps (ms): " + h.secondsAll.map { benchFigure(1000 * $0) }.joined(separator: ", ")
                + "; CPU time \(benchFigure(1000 * h.cpuSecondsPerStep)) ms per step (all threads)\n"
            s += "  resident memory: \(h.residentBytesAfterWarmup / 1024) KiB after warm-up, \(h.residentBytesAfterSteps / 1024) KiB "
                + "after \(h.secondsAll.count) more steps (\(h.residentBytesAfterSteps / 1024 - h.residentBytesAfterWarmup / 1024) KiB change)\n"
            s += "  losses: " + h.losses.map { String(format: "%.6f", $0) }.joined(separator: ", ") + "\n"
        }
        if let t = torch {
            if let seconds = t.seconds {
                s += "pytorch \(t.version ?? "?") (threads \(t.threads.map(String.init) ?? "?")): step \(benchFigure(1000 * seconds)) ms "
                    + "(forward \(benchFigure(1000 * (t.forwardSeconds ?? 0))), backward \(benchFigure(1000 * (t.backwardSeconds ?? 0))), "
                    + "clip + AdamW \(benchFigure(1000 * (t.optimizerSeconds ?? 0)))), \(benchFigure(t.bytesPerSecond ?? 0)) bytes/s"
                    + (t.maxResidentBytes.map { ", peak resident \($0 / 1_048_576) MiB" } ?? "")
                    + (t.cpuSecondsPerStep.map { "; CPU time \(benchFigure(1000 * $0)) ms per step" } ?? "") + "\n"
                if let impl = t.implementation { s += "  \(impl)\n" }
                s += "  same work: losses of \(t.lossComparedSteps ?? 0) steps from the same weights and batch agree within "
                    + "\(t.lossWorstRelativeDifference.map { String(format: "%.2g", $0) } ?? "?") relative: "
                    + "\(t.lossCheckOK == true ? "yes" : "NO")\n"
                s += "  steps (ms), each right after ours: " + t.pairedSeconds.map { benchFigure(1000 * $0) }.joined(separator: ", ") + "\n"
                if let x = speedup {
                    s += "hat is \(benchFigure(x))× faster than pytorch (median of the paired step ratios "
                        + pairRatios.map { benchFigure($0) }.joined(separator: ", ")
                        + (speedupOfBestSteps.map { "; fastest step over fastest step \(benchFigure($0))×" } ?? "") + ")\n"
                }
            } else {
                s += (t.error ?? "pytorch: no result") + "\n"
            }
        }
        return s
    }
}

func benchFigure(_ x: Double) -> String {
    if x >= 100 { return String(Int(x.rounded())) }
    if x >= 10 { return String((x * 10).rounded() / 10) }
    return String((x * 100).rounded() / 100)
}

func benchPadded(_ s: String, _ width: Int) -> String {
    s.count >= width ? s : s + String(repeating: " ", count: width - s.count)
}
