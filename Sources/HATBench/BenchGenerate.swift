// hat bench generate: the generation figures of Reports/performance.md in one run (issue 5
// item 7) — cached greedy generation with GenerationSession after prompts of about 100 and
// 2,000 words of real text: prefill bytes/s, generation bytes/s and ms per byte at each context
// and how the cost per byte grows; then PyTorch (scripts/bench_torch_generate.py) doing the same
// cached decoding with the same weights, prompts, windows and threads, its bytes checked
// against ours; and a token model (by default SmolLM2 from data/smollm2) generating greedily with
// hat after the same prompts, then with transformers (scripts/bench_transformers_generate.py)
// right after, so bytes/s of the two kinds and of both token-model implementations sit side by
// side; and, each round right after our prefill, the batched forward of `hat eval` on each prompt
// (the same weights and threads), so prefill bytes/s sits next to eval's on the same text.
// `--json` prints all of it as one JSON object.

import ArgumentParser
import Dispatch
import Foundation
import HATCommandLine
import HATGenerate
import HATIO
import HATLayers
import HATModel
import HATTensor
import HATText

struct BenchGenerate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Cached greedy generation at short and long contexts; PyTorch doing the same decoding in the same run.",
        discussion: """
            Prompts are the first --contexts words (as the model's splitter cuts them) of --text from the \
            first paragraph after a third of the file. A round: each context reset (the end-of-sequence word) \
            and prefilled (the prompt fed in chunks of --chunk-bytes), then --bytes greedy bytes each fed back, \
            the contexts taking turns of --slice-bytes; PyTorch runs the same round right after ours. \
            Encoder and decoder use the model's sliding windows; the backbone (no window in the config) \
            attends to the last --backbone-window words in both implementations (hat generate's default is \
            1024; the default here, 4096, lets every word of a 2,000-word prompt be seen). \
            Build in release: swift build -c release.
            """)

    @Option(help: "Model directory (default: Models/default if present, else the newest checkpoint of runs/default/checkpoints).")
    var model: String?
    @Option(help: "Text the prompts are taken from.")
    var text = "data/english/doyle-adventures-of-sherlock-holmes.txt"
    @Option(parsing: .unconditional, help: "Prompt lengths in words, comma-separated.") var contexts = "100,2000"
    @Option(parsing: .unconditional, help: "Greedy bytes generated after each prompt.") var bytes = 256
    @Option(parsing: .unconditional, help: "Backbone attention window in words, for both implementations.")
    var backboneWindow = 4096
    @Option(parsing: .unconditional, help: "Bytes one prefill step takes.") var chunkBytes = GenerationSession.defaultChunkBytes
    @OptionGroup var threadOptions: ThreadOptions
    @Option(parsing: .unconditional, help: "Rounds over the contexts; each figure is the fastest round.") var rounds = 2
    @Option(parsing: .unconditional, help: "Contexts generate in turns of this many bytes, so all see the same load.")
    var sliceBytes = 16
    @Option(parsing: .unconditional, help: "Also run both with this many threads (the per-byte steps are tiny; 0 = skip).")
    var alsoThreads = 1
    @Option(parsing: .unconditional, help: "Also time hat with the matrices packed in these formats (--weights: bf16, q8_0, q4_1, q4_k, or stored: as the model's files hold them, as hat generate does by default; comma-separated), each right after ours at --threads every round; FORMAT/KV also holds the key/value caches in KV (--kv-cache: bf16, f16), e.g. bf16/bf16, f32/bf16 or stored/f16.")
    var alsoWeights = ""
    @Option(help: "Python with torch, safetensors and hat-splitter (default: $HAT_PYTHON, else python3).")
    var python: String?
    @Option(help: "The PyTorch script.")
    var torchScript = "scripts/bench_torch_generate.py"
    @Flag(help: "Skip the PyTorch comparisons (the HAT model's and the token model's).") var noTorch = false
    @Flag(help: "Skip timing hat eval's batched forward on each prompt.") var noEval = false
    @Option(help: "Token model (GGUF or Hugging Face Llama) timed with hat, then with transformers, after the same prompts; 'none' skips it.")
    var tokenModel = "data/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
    @Option(help: "The transformers script for the token model.")
    var transformersScript = "scripts/bench_transformers_generate.py"
    @Flag(help: "Print one JSON object instead of text.") var json = false

    var contextWords: [Int] { contexts.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) } }

    func validate() throws {
        try checkFlag("bytes", bytes, 1...Limits.generatedBytes)
        try checkFlag("backbone-window", backboneWindow, 2...Limits.positions)
        try checkFlag("also-threads", alsoThreads, 0...ComputeContext.maxThreads, "(0 = skip)")
        try checkFlag("slice-bytes", sliceBytes, 1...Limits.generatedBytes)
        try checkFlag("rounds", rounds, 1...Limits.repeats)
        try checkFlag("chunk-bytes", chunkBytes, 1...GenerationSession.maxChunkBytes)
        let words = contextWords
        guard !words.isEmpty, words.count == contexts.split(separator: ",").count,
              words.allSatisfy({ (1...Limits.positions).contains($0) }) else {
            throw ValidationError("--contexts: expected word counts in 1…\(Limits.positions) like 100,2000, found \(contexts)")
        }
        _ = try variants
    }

    /// One --also-weights entry: how the matrices and the key/value caches are held.
    struct Variant {
        /// nil: as the model's files store them (ModelFiles.load's `weights: nil`).
        var weights: WeightFormat?
        var kvCache: KVCacheFormat
        var weightsName: String { weights?.rawValue ?? "stored" }
        var label: String {
            "\(weightsName) weights" + (kvCache == .f32 ? "" : ", \(kvCache.rawValue) kv cache")
        }
    }

    /// --also-weights as variants (f32 weights with f32 caches is the main line, so it is not repeated).
    var variants: [Variant] {
        get throws {
            try alsoWeights.split(separator: ",").map { entry in
                let parts = entry.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
                let weights = WeightFormat(rawValue: parts[0])   // nil for "stored"
                let known = weights != nil || parts[0] == "stored"
                guard parts.count <= 2, known,
                      let kvCache = parts.count == 2 ? KVCacheFormat(rawValue: parts[1]) : .f32,
                      weights != .f32 || kvCache != .f32 else {
                    throw ValidationError("--also-weights takes bf16, q8_0, q4_1, q4_k or stored, each optionally /bf16 or /f16 "
                                          + "(the key/value caches; also f32/bf16), comma-separated; found \"\(entry)\"")
                }
                return Variant(weights: weights, kvCache: kvCache)
            }
        }
    }

    func run() throws {
        var report = GenerateReport(machine: Machine.current(threads: threadOptions.threads), source: text, generatedBytes: bytes,
                                    backboneWindow: backboneWindow, rounds: rounds, alsoThreads: alsoThreads)

        // The model, copied first: the training run prunes old checkpoints while we work.
        let source = try model ?? defaultModel()
        report.model = source
        for name in [ModelFiles.configName, ModelFiles.weightsName]
        where !FileManager.default.fileExists(atPath: (source as NSString).appendingPathComponent(name)) {
            throw CommandError("\(source) has no \(name): not a model directory (--model DIR)")
        }
        let directory = NSTemporaryDirectory() + "hat-bench-generate-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: (source as NSString).appendingPathComponent(ModelFiles.weightsName),
                                         toPath: (directory as NSString).appendingPathComponent(ModelFiles.weightsName))
        // A backbone taken from its source file (backbone_source) is named relative to the model's
        // directory: the copy names it by its absolute path.
        var copiedConfig = try HATConfig.load(path: (source as NSString).appendingPathComponent(ModelFiles.configName))
        if let backbone = copiedConfig.backboneSource {
            if !noTorch {
                throw CommandError("\(source) takes its backbone from \(backbone.path) (backbone_source), which the PyTorch "
                                   + "comparison does not read: add --no-torch")
            }
            let here = FileManager.default.currentDirectoryPath
            copiedConfig.backboneSource?.path = ModelFiles.absolutePath(backbone.path, in: ModelFiles.absolutePath(source, in: here))
        }
        try AtomicFile.write(Array(try copiedConfig.encoded()), to: (directory as NSString).appendingPathComponent(ModelFiles.configName))
        let (config, parameters) = try ModelFiles.load(from: directory)
        report.parameters = parameters.scalarCount

        // Prompts: the first N words from the first paragraph after a third of the text.
        let all = try TextFile.contents(of: text, what: "--text file")
        let splitter = try config.makeSplitter()
        var start = all.count / 3
        while start + 1 < all.count && !(all[start] == 0x0A && all[start + 1] == 0x0A) { start += 1 }
        if start + 2 >= all.count { start = 0 } else { start += 2 }
        let passage = Array(all[start...])
        var ends: [Int] = []
        passage.withUnsafeBufferPointer { splitter.split($0, into: &ends) }
        let limits = ContextLimits(words: backboneWindow)
        // One set of sessions per thread count (a session runs on the context it was made with).
        let threadCounts = [threadOptions.threads] + (alsoThreads > 0 && alsoThreads != threadOptions.threads ? [alsoThreads] : [])
        let sessionsByThreads = try threadCounts.map { count in
            let context = ComputeContext(threads: count)
            return try contextWords.map { _ in
                try GenerationSession(config: config, parameters: parameters, limits: limits, chunkBytes: chunkBytes,
                                      context: context)
            }
        }
        report.byteWindows = [config.encoderConfig.slidingWindow ?? limits.bytes, config.decoderConfig.slidingWindow ?? limits.bytes]
        report.parameterBytes = parameters.count * 4
        var packedSessions: [(variant: Variant, sessions: [GenerationSession])] = []
        var packedParameters: [WeightFormat?: ParameterSet] = [.f32: parameters]
        for variant in try variants {
            let packed: ParameterSet
            if let loaded = packedParameters[variant.weights] {
                packed = loaded
            } else {
                packed = try ModelFiles.load(from: directory, weights: variant.weights).parameters
                packedParameters[variant.weights] = packed
                report.packedBytes.append(PackedBytes(format: variant.weightsName, matrices: packed.packedBytes,
                                                      float32: packed.float32Bytes))
            }
            let context = ComputeContext(threads: threadOptions.threads)
            packedSessions.append((variant, try contextWords.map { _ in
                try GenerationSession(config: config, parameters: packed, limits: limits, chunkBytes: chunkBytes,
                                      kvCache: variant.kvCache, context: context)
            }))
        }

        var prompts: [[UInt8]] = []
        for words in contextWords {
            guard words <= ends.count else {
                throw CommandError("--text has \(ends.count) words after its first third, fewer than \(words)")
            }
            prompts.append(Array(passage[0..<ends[words - 1]]))
            report.contexts.append(ContextReport(name: "\(words) words", promptWords: words, promptBytes: prompts.last!.count))
        }
        let evaluation = noEval ? nil : try PromptEvaluation(config: config, parameters: parameters, prompts: prompts,
                                                             context: ComputeContext(threads: threadOptions.threads))

        // PyTorch starts first (loading while nothing is timed) and then runs each round right
        // after ours, so both see the same load on a shared machine.
        var worker: PythonWorker?
        if !noTorch {
            do {
                let job: [String: Any] = [
                    "model": directory, "generate_bytes": bytes, "backbone_window": backboneWindow,
                    "byte_window": limits.bytes, "chunk_bytes": chunkBytes, "slice_bytes": sliceBytes,
                    "contexts": zip(report.contexts, prompts).map { ["name": $0.name, "prompt": $1.map(Int.init)] as [String: Any] },
                ]
                let jobPath = directory + "/job.json"
                try JSONSerialization.data(withJSONObject: job).write(to: URL(fileURLWithPath: jobPath))
                worker = try PythonWorker(python: Python.interpreter(python), modules: ["torch", "safetensors", "hat_splitter"],
                                          script: torchScript, arguments: [torchScript, "--serve", "--job", jobPath, "--threads", "\(threadOptions.threads)"])
                _ = try worker!.receive()    // {"ready": true}
            } catch {
                report.torchError = "PyTorch comparison unavailable: \(error)"
                worker = nil
            }
        }

        // Each round: ours, then PyTorch's, at --threads; then both again at --also-threads.
        for _ in 0..<rounds {
            for (roundThreads, sessions) in zip(threadCounts, sessionsByThreads) {
                let (timings, generated) = ourRound(sessions: sessions, prompts: prompts)
                for i in sessions.indices {
                    report.contexts[i].add(hat: timings[i], mainThreads: roundThreads == threadOptions.threads)
                    report.contexts[i].generated = generated[i]
                    report.contexts[i].contextWordsAtEnd = sessions[i].completedWords
                }
                if roundThreads == threadOptions.threads, let evaluation {
                    for i in prompts.indices {
                        report.contexts[i].evalRounds.append(evaluation.seconds(prompt: i))
                        report.contexts[i].evalBytes = evaluation.bytes(prompt: i)
                    }
                }
                for (k, (variant, sessions)) in packedSessions.enumerated() where roundThreads == threadOptions.threads {
                    let (packedTimings, packedGenerated) = ourRound(sessions: sessions, prompts: prompts)
                    for i in sessions.indices {
                        if report.contexts[i].packed.count == k { report.contexts[i].packed.append(PackedRuns(format: variant.label)) }
                        report.contexts[i].packed[k].rounds.append(packedTimings[i])
                        report.contexts[i].packed[k].sameBytes = (report.contexts[i].packed[k].sameBytes ?? true) && packedGenerated[i] == generated[i]
                    }
                }
                guard let w = worker else { continue }
                do {
                    try w.send("round \(roundThreads)")
                    let answer = try w.receive()
                    guard let results = answer["contexts"] as? [[String: Any]], results.count == prompts.count else {
                        throw PythonWorker.Failure(description: "its answer lacks the contexts")
                    }
                    for (i, r) in results.enumerated() {
                        guard let reset = r["reset_seconds"] as? Double, let prefill = r["prefill_seconds"] as? Double,
                              let generation = r["generation_seconds"] as? Double, let theirs = r["generated"] as? [Int] else {
                            throw PythonWorker.Failure(description: "its answer lacks timings or bytes")
                        }
                        report.contexts[i].add(torch: Timing(resetSeconds: reset, prefillSeconds: prefill, generationSeconds: generation,
                                                             promptBytes: prompts[i].count, generatedBytes: bytes,
                                                             generationCPUSeconds: r["generation_cpu_seconds"] as? Double),
                                               mainThreads: roundThreads == threadOptions.threads)
                        let mismatch = zip(generated[i], theirs).enumerated().first { $0.element.0 != UInt8(truncatingIfNeeded: $0.element.1) }?.offset
                            ?? (generated[i].count == theirs.count ? nil : min(generated[i].count, theirs.count))
                        report.contexts[i].sameBytes = (report.contexts[i].sameBytes ?? true) && mismatch == nil
                        if let mismatch, report.contexts[i].firstMismatch == nil { report.contexts[i].firstMismatch = mismatch }
                    }
                } catch {
                    report.torchError = "PyTorch comparison failed: \(error)"
                    worker = nil
                }
            }
        }
        report.residentBytes = ProcessStats.residentBytes()
        if tokenModel != "none" {
            if FileManager.default.fileExists(atPath: tokenModel) {
                do { try timeTokenModel(prompts: prompts, report: &report) } catch {
                    report.tokenModelError = "token model \(tokenModel): \(error)"
                }
                if !noTorch && report.tokenModelError == nil {
                    do { try timeTokenModelInTransformers(prompts: prompts, scratch: directory, report: &report) } catch {
                        report.tokenModelTransformersError = "token model in transformers unavailable: \(error)"
                    }
                }
            } else {
                report.tokenModelError = "token model \(tokenModel) not found (scripts/fetch_data.py smollm2, or --token-model none)"
            }
        }
        if let w = worker {
            do {
                try w.send("done")
                let object = try w.receive()
                report.torchVersion = object["torch"] as? String
                report.torchImplementation = object["implementation"] as? String
                report.torchMaxResidentBytes = object["max_resident_bytes"] as? Int
                w.finish()
            } catch {
                report.torchError = "PyTorch comparison failed at its summary: \(error)"
            }
        }
        report.machine.loadAverageEnd = Machine.loadAverage()
        try printFigures(report, json: json) { report.text }
    }

    /// Models/default (the from-scratch model Reports/performance.md measures; not the REPL's
    /// default) if present, else the newest checkpoint of runs/default.
    func defaultModel() throws -> String {
        if let shipped = try? Locations.shippedModel("default") { return shipped }
        if let newest = try Trainer.newestCheckpoint(in: "runs/default/checkpoints") { return newest }
        throw CommandError("no model: Models/default and runs/default/checkpoints/step-* not found; pass --model DIR")
    }

    /// One round of ours: each context reset and prefilled (timed one by one), then greedy
    /// generation of --bytes bytes for every context in turns of --slice-bytes.
    func ourRound(sessions: [GenerationSession], prompts: [[UInt8]]) -> ([Timing], [[UInt8]]) {
        var timings: [Timing] = []
        for (session, prompt) in zip(sessions, prompts) {
            let t0 = DispatchTime.now().uptimeNanoseconds
            session.reset()
            let t1 = DispatchTime.now().uptimeNanoseconds
            session.feed(prompt)
            let t2 = DispatchTime.now().uptimeNanoseconds
            timings.append(Timing(resetSeconds: Double(t1 - t0) / 1e9, prefillSeconds: Double(t2 - t1) / 1e9,
                                  generationSeconds: 0, promptBytes: prompt.count, generatedBytes: bytes,
                                  generationCPUSeconds: 0))
        }
        var generated = [[UInt8]](repeating: [], count: sessions.count)
        for start in stride(from: 0, to: bytes, by: sliceBytes) {
            for (i, session) in sessions.enumerated() {
                let c0 = processCPUSeconds()
                let t0 = DispatchTime.now().uptimeNanoseconds
                for _ in 0..<min(sliceBytes, bytes - start) {
                    let byte = UInt8(VectorMath.argmax(session.logits.row(0), count: 256))
                    generated[i].append(byte)
                    session.feed([byte])
                }
                timings[i].generationSeconds += Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
                timings[i].generationCPUSeconds! += processCPUSeconds() - c0
            }
        }
        return (timings, generated)
    }

    /// The token model after each prompt: reset (its document-start token), prefill, then greedy
    /// tokens until --bytes bytes (or an end token), timed as ours; bytes/s counts text bytes.
    func timeTokenModel(prompts: [[UInt8]], report: inout GenerateReport) throws {
        // float32, as transformers runs it.
        let model = try TokenTextModel(source: tokenModel, capacity: 8192, weights: .f32, context: ComputeContext(threads: threadOptions.threads))
        report.tokenModel = tokenModel
        report.tokenModelParameters = model.session.model.parameters.scalarCount
        for (i, prompt) in prompts.enumerated() {
            let t0 = DispatchTime.now().uptimeNanoseconds
            model.reset()
            let t1 = DispatchTime.now().uptimeNanoseconds
            try model.feed(text: prompt)
            let t2 = DispatchTime.now().uptimeNanoseconds
            let c0 = processCPUSeconds()
            var generated: [UInt8] = []
            while generated.count < bytes {
                let best = VectorMath.argmax(model.nextLogits, count: model.vocabularySize)
                if model.ends(best) { break }
                generated += model.bytes(of: best)
                model.feed(unit: best)
            }
            let t3 = DispatchTime.now().uptimeNanoseconds
            report.contexts[i].tokenModel = Timing(resetSeconds: Double(t1 - t0) / 1e9, prefillSeconds: Double(t2 - t1) / 1e9,
                                                   generationSeconds: Double(t3 - t2) / 1e9, promptBytes: prompt.count,
                                                   generatedBytes: max(generated.count, 1),
                                                   generationCPUSeconds: processCPUSeconds() - c0)
            report.contexts[i].tokenModelText = String(decoding: generated, as: UTF8.self)
        }
    }

    /// The same token model in transformers, right after ours (one process, one round): its
    /// document-start token plus each prompt prefilled in one forward, then greedy tokens against
    /// its cache until --bytes text bytes; its text is compared with ours.
    func timeTokenModelInTransformers(prompts: [[UInt8]], scratch: String, report: inout GenerateReport) throws {
        let promptsPath = scratch + "/token-model-prompts.json"
        try JSONSerialization.data(withJSONObject: prompts.map { String(decoding: $0, as: UTF8.self) })
            .write(to: URL(fileURLWithPath: promptsPath))
        let worker = try PythonWorker(python: Python.interpreter(python), modules: ["torch", "transformers", "gguf"],
                                      script: transformersScript,
                                      arguments: [transformersScript, "--model", tokenModel, "--prompts", promptsPath,
                                                  "--bytes", "\(bytes)", "--threads", "\(threadOptions.threads)"])
        let answer = try worker.receive()
        worker.finish()
        guard let results = answer["prompts"] as? [[String: Any]], results.count == prompts.count else {
            throw PythonWorker.Failure(description: "its answer lacks the prompts")
        }
        for (i, r) in results.enumerated() {
            guard let prefill = r["prefill_seconds"] as? Double, let generation = r["generation_seconds"] as? Double,
                  let generatedBytes = r["generated_bytes"] as? Int, let text = r["text"] as? String else {
                throw PythonWorker.Failure(description: "its answer lacks timings or text")
            }
            report.contexts[i].tokenModelTransformers = Timing(resetSeconds: 0, prefillSeconds: prefill, generationSeconds: generation,
                                                               promptBytes: prompts[i].count, generatedBytes: max(generatedBytes, 1),
                                                               generationCPUSeconds: nil)
            report.contexts[i].tokenModelTransformersText = text
        }
        report.transformersTorchVersion = answer["torch"] as? String
    }

}

/// `hat eval`'s batched forward over each prompt as its text: one document opened by the
/// end-of-sequence byte, rows of whole words cut as `hat eval` cuts them by default (256 words,
/// 2,048 bytes per row, 2 rows per batch), on a model without backward buffers.
struct PromptEvaluation {
    static let wordsPerRow = 256, maxRowBytes = 2048, rowsPerBatch = 2
    let streams: [WordStream]
    let rows: [[Range<Int>]]
    let model: HierarchicalModel
    let batch: Batch

    init(config: HATConfig, parameters: ParameterSet, prompts: [[UInt8]], context: ComputeContext) throws {
        let splitter = try config.makeSplitter()
        streams = prompts.map {
            Corpus.wordStream([Document(name: "prompt", bytes: $0)], splitter: splitter, endOfSequence: UInt8(config.eosTokenId))
        }
        rows = streams.map { $0.rows(wordsPerRow: PromptEvaluation.wordsPerRow, maxRowBytes: PromptEvaluation.maxRowBytes) }
        let maxBytes = PromptEvaluation.rowsPerBatch * PromptEvaluation.maxRowBytes
        let maxWords = PromptEvaluation.rowsPerBatch * PromptEvaluation.wordsPerRow
        try MemoryPlan.requireBatch(config, maxBytes: maxBytes, maxWords: maxWords, threads: context.threads, training: false,
                                    what: "the evaluation of the prompts")
        batch = Batch(maxBytes: maxBytes, maxWords: maxWords, config: config)
        model = HierarchicalModel(config: config, parameters: parameters, maxBytes: maxBytes, maxWords: maxWords,
                                  context: context, needsBackward: false)
    }

    /// Bytes the evaluation of prompt i reads (its end-of-sequence byte included, as `hat eval` counts).
    func bytes(prompt i: Int) -> Int { rows[i].reduce(0) { $0 + streams[i].byteCount(of: $1) } }

    /// Seconds of one evaluation of prompt i.
    func seconds(prompt i: Int) -> Double {
        Evaluator.evaluate(model: model, stream: streams[i], rows: rows[i], batch: batch).seconds
    }
}

// MARK: - Report

struct Timing: Encodable {
    var resetSeconds: Double
    var prefillSeconds: Double
    var generationSeconds: Double
    var promptBytes: Int
    var generatedBytes: Int
    /// User + system CPU time of the process during generation (all its threads).
    var generationCPUSeconds: Double?
    var prefillBytesPerSecond: Double { Double(promptBytes) / prefillSeconds }
    var generationBytesPerSecond: Double { Double(generatedBytes) / generationSeconds }
    var msPerGeneratedByte: Double { 1000 * generationSeconds / Double(generatedBytes) }
    var cpuMsPerGeneratedByte: Double? { generationCPUSeconds.map { 1000 * $0 / Double(generatedBytes) } }

    enum CodingKeys: String, CodingKey {
        case resetSeconds, prefillSeconds, generationSeconds, prefillBytesPerSecond, generationBytesPerSecond,
             msPerGeneratedByte, generationCPUSeconds, cpuMsPerGeneratedByte
    }

    func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(resetSeconds, forKey: .resetSeconds)
        try c.encode(prefillSeconds, forKey: .prefillSeconds)
        try c.encode(generationSeconds, forKey: .generationSeconds)
        try c.encode(prefillBytesPerSecond, forKey: .prefillBytesPerSecond)
        try c.encode(generationBytesPerSecond, forKey: .generationBytesPerSecond)
        try c.encode(msPerGeneratedByte, forKey: .msPerGeneratedByte)
        try c.encodeIfPresent(generationCPUSeconds, forKey: .generationCPUSeconds)
        try c.encodeIfPresent(cpuMsPerGeneratedByte, forKey: .cpuMsPerGeneratedByte)
    }
}

struct ContextReport: Encodable {
    var name: String
    var promptWords: Int
    var promptBytes: Int
    var prompt: [UInt8] = []
    var generated: [UInt8] = []
    /// Words the session had completed after the generation (context + generated words).
    var contextWordsAtEnd = 0
    /// Every round, in order; torch's round i ran right after ours.
    var hatRounds: [Timing] = []
    var torchRounds: [Timing] = []
    /// Both with --also-threads threads.
    var hatOtherThreadsRounds: [Timing] = []
    var torchOtherThreadsRounds: [Timing] = []
    var sameBytes: Bool?
    var firstMismatch: Int?
    /// hat eval's batched forward on the prompt, right after our prefill each round: seconds, and the bytes it reads.
    var evalRounds: [Double] = []
    var evalBytes = 0
    var evalSeconds: Double? { evalRounds.min() }
    var evalBytesPerSecond: Double? { evalSeconds.map { Double(evalBytes) / $0 } }
    /// Prefill bytes/s over eval's (fastest rounds of each).
    var prefillOverEval: Double? {
        guard let h = hat, let e = evalBytesPerSecond else { return nil }
        return h.prefillBytesPerSecond / e
    }
    /// hat with packed weights (--also-weights), each right after ours at the main thread count.
    var packed: [PackedRuns] = []
    /// The token model after the same prompt (one round, hat's implementation), then transformers'.
    var tokenModel: Timing?
    var tokenModelText: String?
    var tokenModelTransformers: Timing?
    var tokenModelTransformersText: String?
    /// transformers' generation time over ours for the token model.
    var tokenModelGenerationSpeedup: Double? {
        guard let h = tokenModel, let t = tokenModelTransformers else { return nil }
        return t.generationSeconds / h.generationSeconds
    }
    var tokenModelPrefillSpeedup: Double? {
        guard let h = tokenModel, let t = tokenModelTransformers else { return nil }
        return t.prefillSeconds / h.prefillSeconds
    }
    /// Where the two implementations' greedy texts first differ (in bytes); nil when they agree
    /// (or one was not run). Float32 sums in another order can flip a near-tie.
    var tokenModelFirstDifference: Int? {
        guard let ours = tokenModelText.map({ Array($0.utf8) }), let theirs = tokenModelTransformersText.map({ Array($0.utf8) }) else {
            return nil
        }
        if ours == theirs { return nil }
        return zip(ours, theirs).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? min(ours.count, theirs.count)
    }

    mutating func add(hat t: Timing, mainThreads: Bool) {
        if mainThreads { hatRounds.append(t) } else { hatOtherThreadsRounds.append(t) }
    }
    mutating func add(torch t: Timing, mainThreads: Bool) {
        if mainThreads { torchRounds.append(t) } else { torchOtherThreadsRounds.append(t) }
    }

    /// The fastest round's figures (prefill and generation each at their minimum).
    var hat: Timing? { Self.fastest(hatRounds) }
    var torch: Timing? { Self.fastest(torchRounds) }
    var hatOtherThreads: Timing? { Self.fastest(hatOtherThreadsRounds) }
    var torchOtherThreads: Timing? { Self.fastest(torchOtherThreadsRounds) }
    static func fastest(_ rounds: [Timing]) -> Timing? {
        guard var best = rounds.first else { return nil }
        for t in rounds.dropFirst() {
            best.resetSeconds = min(best.resetSeconds, t.resetSeconds)
            best.prefillSeconds = min(best.prefillSeconds, t.prefillSeconds)
            best.generationSeconds = min(best.generationSeconds, t.generationSeconds)
            if let a = best.generationCPUSeconds, let b = t.generationCPUSeconds { best.generationCPUSeconds = min(a, b) }
        }
        return best
    }
    /// PyTorch's generation time over ours, per round (run one right after the other).
    var generationRatios: [Double] { zip(torchRounds, hatRounds).map { $0.generationSeconds / $1.generationSeconds } }
    var generationSpeedup: Double? {
        guard let h = hat, let t = torch else { return nil }
        return t.generationSeconds / h.generationSeconds
    }
    var prefillSpeedup: Double? {
        guard let h = hat, let t = torch else { return nil }
        return t.prefillSeconds / h.prefillSeconds
    }
    var generatedText: String { String(decoding: generated, as: UTF8.self) }

    enum CodingKeys: String, CodingKey {
        case name, promptWords, promptBytes, contextWordsAtEnd, hat, torch, hatRounds, torchRounds, sameBytes, firstMismatch,
             hatOtherThreads, torchOtherThreads, generationRatios, generationSpeedup, prefillSpeedup, generatedText,
             tokenModel, tokenModelText, tokenModelTransformers, tokenModelTransformersText, tokenModelGenerationSpeedup,
             tokenModelPrefillSpeedup, tokenModelFirstDifference, packed, evalRounds, evalBytes, evalSeconds, evalBytesPerSecond,
             prefillOverEval
    }

    func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encode(promptWords, forKey: .promptWords)
        try c.encode(promptBytes, forKey: .promptBytes)
        try c.encode(contextWordsAtEnd, forKey: .contextWordsAtEnd)
        try c.encodeIfPresent(hat, forKey: .hat)
        try c.encodeIfPresent(torch, forKey: .torch)
        try c.encode(hatRounds, forKey: .hatRounds)
        try c.encode(torchRounds, forKey: .torchRounds)
        try c.encodeIfPresent(hatOtherThreads, forKey: .hatOtherThreads)
        try c.encodeIfPresent(torchOtherThreads, forKey: .torchOtherThreads)
        try c.encode(generationRatios, forKey: .generationRatios)
        try c.encodeIfPresent(sameBytes, forKey: .sameBytes)
        try c.encodeIfPresent(firstMismatch, forKey: .firstMismatch)
        try c.encodeIfPresent(generationSpeedup, forKey: .generationSpeedup)
        try c.encodeIfPresent(prefillSpeedup, forKey: .prefillSpeedup)
        try c.encode(generatedText, forKey: .generatedText)
        try c.encodeIfPresent(tokenModel, forKey: .tokenModel)
        try c.encodeIfPresent(tokenModelText, forKey: .tokenModelText)
        try c.encodeIfPresent(tokenModelTransformers, forKey: .tokenModelTransformers)
        try c.encodeIfPresent(tokenModelTransformersText, forKey: .tokenModelTransformersText)
        try c.encodeIfPresent(tokenModelGenerationSpeedup, forKey: .tokenModelGenerationSpeedup)
        try c.encodeIfPresent(tokenModelPrefillSpeedup, forKey: .tokenModelPrefillSpeedup)
        try c.encodeIfPresent(tokenModelFirstDifference, forKey: .tokenModelFirstDifference)
        if !evalRounds.isEmpty {
            try c.encode(evalRounds, forKey: .evalRounds)
            try c.encode(evalBytes, forKey: .evalBytes)
            try c.encodeIfPresent(evalSeconds, forKey: .evalSeconds)
            try c.encodeIfPresent(evalBytesPerSecond, forKey: .evalBytesPerSecond)
            try c.encodeIfPresent(prefillOverEval, forKey: .prefillOverEval)
        }
        if !packed.isEmpty {
            try c.encode(packed.map { PackedRunsReport(runs: $0, float32Rounds: hatRounds) }, forKey: .packed)
        }
    }
}

/// hat's rounds with one --also-weights variant, and whether its greedy bytes equal float32's.
struct PackedRuns {
    /// The variant's label: "bf16 weights", "bf16 weights, bf16 kv cache".
    var format: String
    var rounds: [Timing] = []
    var sameBytes: Bool?
}

/// What the report says of one packed format: the fastest round, and float32's generation time
/// over the packed one's per round (run one right after the other) and of the fastest rounds.
struct PackedRunsReport: Encodable {
    var format: String
    var fastest: Timing?
    var rounds: [Timing]
    var sameBytes: Bool?
    var generationRatios: [Double]
    var generationSpeedup: Double?

    init(runs: PackedRuns, float32Rounds: [Timing]) {
        format = runs.format
        fastest = ContextReport.fastest(runs.rounds)
        rounds = runs.rounds
        sameBytes = runs.sameBytes
        generationRatios = zip(float32Rounds, runs.rounds).map { $0.generationSeconds / $1.generationSeconds }
        generationSpeedup = ContextReport.fastest(float32Rounds).flatMap { f in fastest.map { f.generationSeconds / $0.generationSeconds } }
    }
}

/// What one weight format holds: its packed matrices and the float32 parameters it keeps
/// (norm gains, vectors, matrices the format cannot split into blocks).
struct PackedBytes: Encodable {
    var format: String
    var matrices: Int
    var float32: Int
}

struct GenerateReport: Encodable {
    var machine: Machine
    /// The text the prompts come from.
    var source: String
    var generatedBytes: Int
    var backboneWindow: Int
    var rounds: Int
    var alsoThreads: Int
    var byteWindows: [Int] = []
    var model = ""
    var parameters = 0
    var contexts: [ContextReport] = []
    var residentBytes = 0
    /// The float32 values' bytes, and each packed format's matrices (held beside them).
    var parameterBytes = 0
    var packedBytes: [PackedBytes] = []
    var torchVersion: String?
    var torchImplementation: String?
    var torchMaxResidentBytes: Int?
    var torchError: String?
    var tokenModel: String?
    var tokenModelParameters: Int?
    var tokenModelError: String?
    var transformersTorchVersion: String?
    var tokenModelTransformersError: String?

    /// ms per generated byte at the longest context over the shortest.
    var hatCostGrowth: Double? { growth(\.hat) }
    var torchCostGrowth: Double? { growth(\.torch) }

    func growth(_ side: KeyPath<ContextReport, Timing?>) -> Double? {
        guard let first = contexts.first?[keyPath: side], let last = contexts.last?[keyPath: side], contexts.count > 1 else {
            return nil
        }
        return last.msPerGeneratedByte / first.msPerGeneratedByte
    }

    enum CodingKeys: String, CodingKey {
        case machine, source, generatedBytes, backboneWindow, rounds, alsoThreads, byteWindows, model, parameters, contexts, residentBytes,
             parameterBytes, packedBytes, torchVersion, torchImplementation, torchMaxResidentBytes, torchError, hatCostGrowth, torchCostGrowth,
             tokenModel, tokenModelParameters, tokenModelError, transformersTorchVersion, tokenModelTransformersError
    }

    func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(machine, forKey: .machine)
        try c.encode(source, forKey: .source)
        try c.encode(generatedBytes, forKey: .generatedBytes)
        try c.encode(backboneWindow, forKey: .backboneWindow)
        try c.encode(rounds, forKey: .rounds)
        try c.encode(alsoThreads, forKey: .alsoThreads)
        try c.encode(byteWindows, forKey: .byteWindows)
        try c.encode(model, forKey: .model)
        try c.encode(parameters, forKey: .parameters)
        try c.encode(contexts, forKey: .contexts)
        try c.encode(residentBytes, forKey: .residentBytes)
        try c.encode(parameterBytes, forKey: .parameterBytes)
        if !packedBytes.isEmpty { try c.encode(packedBytes, forKey: .packedBytes) }
        try c.encodeIfPresent(torchVersion, forKey: .torchVersion)
        try c.encodeIfPresent(torchImplementation, forKey: .torchImplementation)
        try c.encodeIfPresent(torchMaxResidentBytes, forKey: .torchMaxResidentBytes)
        try c.encodeIfPresent(torchError, forKey: .torchError)
        try c.encodeIfPresent(hatCostGrowth, forKey: .hatCostGrowth)
        try c.encodeIfPresent(torchCostGrowth, forKey: .torchCostGrowth)
        try c.encodeIfPresent(tokenModel, forKey: .tokenModel)
        try c.encodeIfPresent(tokenModelParameters, forKey: .tokenModelParameters)
        try c.encodeIfPresent(tokenModelError, forKey: .tokenModelError)
        try c.encodeIfPresent(transformersTorchVersion, forKey: .transformersTorchVersion)
        try c.encodeIfPresent(tokenModelTransformersError, forKey: .tokenModelTransformersError)
    }

    var text: String {
        var s = machine.header
        s += "model: \(model) (\(parameters) parameters); prompts from \(source); windows: encoder/decoder "
            + byteWindows.map(String.init).joined(separator: "/") + " bytes, backbone \(backboneWindow) words; "
            + "greedy, \(generatedBytes) bytes per context; fastest of \(rounds) rounds\n"
        for c in contexts {
            s += "\n== \(c.name) (\(c.promptBytes) bytes; \(c.contextWordsAtEnd) words in context after generating)\n"
            let other = "\(alsoThreads) thread\(alsoThreads == 1 ? "" : "s")"
            let packedLines = c.packed.map { ("hat, \($0.format)", ContextReport.fastest($0.rounds)) }
            for (label, t) in [("hat", c.hat)] + packedLines + [("pytorch", c.torch), ("hat, \(other)", c.hatOtherThreads),
                               ("pytorch, \(other)", c.torchOtherThreads), ("token model, hat", c.tokenModel),
                               ("token model, transformers", c.tokenModelTransformers)] {
                guard let t else { continue }
                s += "  \(benchPadded(label, 34)) prefill \(benchFigure(1000 * t.prefillSeconds)) ms "
                    + "(\(benchFigure(t.prefillBytesPerSecond)) bytes/s), generation \(benchFigure(t.generationBytesPerSecond)) bytes/s "
                    + "= \(benchFigure(t.msPerGeneratedByte)) ms per byte"
                    + (t.cpuMsPerGeneratedByte.map { " (CPU \(benchFigure($0)) ms)" } ?? "") + "\n"
            }
            if let e = c.evalSeconds, let rate = c.evalBytesPerSecond, let ratio = c.prefillOverEval {
                s += "  \(benchPadded("hat eval (batched forward)", 34)) \(benchFigure(1000 * e)) ms for \(c.evalBytes) bytes "
                    + "(\(benchFigure(rate)) bytes/s); prefill runs at \(benchFigure(ratio))× eval's bytes/s\n"
            }
            if let g = c.generationSpeedup, let p = c.prefillSpeedup {
                s += "  hat is \(benchFigure(g))× faster generating (per round: "
                    + c.generationRatios.map { benchFigure($0) }.joined(separator: ", ") + "), \(benchFigure(p))× prefilling; "
                    + "same bytes: \(c.sameBytes == true ? "yes" : "NO (first difference at byte \(c.firstMismatch.map(String.init) ?? "?"))")\n"
            }
            for p in c.packed.map({ PackedRunsReport(runs: $0, float32Rounds: c.hatRounds) }) {
                guard let g = p.generationSpeedup else { continue }
                s += "  \(p.format): \(benchFigure(g))× the float32 path generating (per round: "
                    + p.generationRatios.map { benchFigure($0) }.joined(separator: ", ") + "); same bytes: "
                    + (p.sameBytes == true ? "yes" : "no (rounding changes the greedy choice)") + "\n"
            }
            if let g = c.tokenModelGenerationSpeedup, let p = c.tokenModelPrefillSpeedup {
                s += "  token model: hat is \(benchFigure(g))× faster generating, \(benchFigure(p))× prefilling; "
                    + (c.tokenModelFirstDifference.map { "texts first differ at byte \($0)\n" } ?? "same text\n")
            }
            let preview = c.generatedText.prefix(80).replacingOccurrences(of: "\n", with: "⏎")
            s += "  generated: \(preview)…\n"
        }
        if let g = hatCostGrowth {
            s += "\ncost per generated byte, \(contexts.last!.name) over \(contexts.first!.name): hat \(benchFigure(g))×"
                + (torchCostGrowth.map { ", pytorch \(benchFigure($0))×" } ?? "") + "\n"
            let other = "\(alsoThreads) thread\(alsoThreads == 1 ? "" : "s")"
            if let first = contexts.first?.hatOtherThreads, let last = contexts.last?.hatOtherThreads {
                s += "  with \(other): hat \(benchFigure(last.msPerGeneratedByte / first.msPerGeneratedByte))×"
                if let t0 = contexts.first?.torchOtherThreads, let t1 = contexts.last?.torchOtherThreads {
                    s += ", pytorch \(benchFigure(t1.msPerGeneratedByte / t0.msPerGeneratedByte))×"
                }
                s += "\n"
            }
            for c in contexts {
                guard let h = c.hat, let h1 = c.hatOtherThreads, let t = c.torch, let t1 = c.torchOtherThreads else { continue }
                let bestHat = min(h.generationSeconds, h1.generationSeconds), bestTorch = min(t.generationSeconds, t1.generationSeconds)
                s += "each at its faster thread count, \(c.name): hat is \(benchFigure(bestTorch / bestHat))× faster generating\n"
            }
        }
        s += "resident memory: hat \(residentBytes / 1_048_576) MiB"
            + (torchMaxResidentBytes.map { ", pytorch peak \($0 / 1_048_576) MiB" } ?? "") + "\n"
        if !packedBytes.isEmpty {
            s += "weights: f32 \(benchFigure(Double(parameterBytes) / 1_048_576)) MiB; "
                + packedBytes.map { "\($0.format) \(benchFigure(Double($0.matrices) / 1_048_576)) MiB packed + \(benchFigure(Double($0.float32) / 1_048_576)) float32" }
                    .joined(separator: ", ") + "\n"
        }
        if let v = torchVersion { s += "pytorch \(v): \(torchImplementation ?? "")\n" }
        if let e = torchError { s += e + "\n" }
        if let m = tokenModel {
            s += "token model: \(m) (\(tokenModelParameters ?? 0) parameters), greedy tokens after the same prompts, one round each: "
                + "hat, then transformers" + (transformersTorchVersion.map { " (torch \($0), float32)" } ?? "") + "\n"
        }
        if let e = tokenModelError { s += e + "\n" }
        if let e = tokenModelTransformersError { s += e + "\n" }
        return s
    }
}
