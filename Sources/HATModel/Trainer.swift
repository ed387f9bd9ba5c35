// Trainer: the training loop of ARCHITECTURE.md §7 with everything a long CPU run needs:
// AdamW, warm-up + cosine schedule, clipping, gradient accumulation, freezing a part and a
// separate backbone learning rate (grafting), a token-model teacher for stage 1 of grafting by
// distillation (Teacher.swift, TeacherSignals.swift), validation and checkpoints every N steps,
// exact resume (weights in f32, optimizer moments, step, data position; the data order is the
// only randomness and derives from the seed and epoch), stop on request
// (SIGINT/SIGTERM handled by the caller setting `stopRequested`) and on a non-finite loss.
//
// Run directory:   options.json, metrics.jsonl (one JSON object per line),
//                  checkpoints/step-NNNNNNNN/{config.json, model.safetensors, optimizer.safetensors, state.json,
//                  COMPLETE}
// A checkpoint is written into .tmp-step-N and renamed into place with COMPLETE as its last file;
// an old one is renamed to .deleting-step-N before it is removed, so a kill at any moment never
// leaves a step-* directory that looks complete but is not. Resume takes the newest checkpoint
// that loads (config, weights, state.json, optimizer moments all intact), says which damaged
// ones it passed over, and notes them in RUN/NOTES.txt.

import Foundation
import HATIO
import HATTensor
import HATText

/// Everything that determines a run besides the model; saved as options.json.
public struct TrainingOptions: Codable, Equatable, Sendable {
    public var data: [String]
    public var validationFraction: Double = 0.05
    public var seed: UInt64 = 1
    public var rowsPerBatch: Int = 8
    public var wordsPerRow: Int = 256
    public var maxRowBytes: Int = 2048
    public var accumulation: Int = 1
    public var steps: Int = 1000
    public var learningRate: Float = 1e-3
    /// Learning rate of the backbone; nil means the same as `learningRate`.
    public var backboneLearningRate: Float?
    public var warmupSteps: Int = 100
    public var adamw = AdamWSettings()
    public var clipNorm: Float = 1
    /// Parts whose weights do not move: "encoder", "pooling", "backbone", "decoder", "head".
    public var freeze: [String] = []
    public var validateEvery: Int = 100
    /// Most validation rows evaluated each time (nil = all).
    public var validationRows: Int?
    public var checkpointEvery: Int = 100
    public var keepCheckpoints: Int = 3
    /// A token model (GGUF file or Hugging Face directory) teaching stage 1, and its losses' settings.
    public var teacher: String?
    public var distillation: DistillationSettings?

    public init(data: [String]) { self.data = data }

    enum CodingKeys: String, CodingKey {
        case data, validationFraction = "validation_fraction", seed, rowsPerBatch = "rows_per_batch"
        case wordsPerRow = "words_per_row", maxRowBytes = "max_row_bytes", accumulation, steps
        case learningRate = "learning_rate", backboneLearningRate = "backbone_learning_rate"
        case warmupSteps = "warmup_steps", adamw, clipNorm = "clip_norm", freeze
        case validateEvery = "validate_every", validationRows = "validation_rows"
        case checkpointEvery = "checkpoint_every", keepCheckpoints = "keep_checkpoints", teacher, distillation
    }

    public static let parts = ["encoder", "pooling", "backbone", "decoder", "head"]

    /// Checks every option against its range and `Limits`; `maxWordSize` (the model's, when known)
    /// bounds --max-row-bytes from below. Messages name the flag (options.json uses its snake_case).
    public func validate(maxWordSize: Int? = nil) throws {
        func check(_ ok: Bool, _ message: @autoclosure () -> String) throws {
            if !ok { throw TrainingError.invalidOption(message()) }
        }
        func range(_ flag: String, _ value: Int, _ r: ClosedRange<Int>) throws {
            try check(r.contains(value), "--\(flag) must be in \(r.lowerBound)…\(r.upperBound), found \(value)")
        }
        func real<T: BinaryFloatingPoint>(_ flag: String, _ value: T, _ ok: (T) -> Bool, _ what: String) throws {
            try check(value.isFinite && ok(value), "--\(flag) must be \(what), found \(value)")
        }
        try check(!data.isEmpty, "no training data given")
        try range("rows-per-batch", rowsPerBatch, 1...Limits.rowsPerBatch)
        try range("words-per-row", wordsPerRow, 2...Limits.rowWords)
        try range("max-row-bytes", maxRowBytes, max(1, maxWordSize ?? 1)...Limits.rowBytes)
        try check(rowsPerBatch * maxRowBytes <= Limits.batchBytes,
                  "--rows-per-batch × --max-row-bytes = \(rowsPerBatch * maxRowBytes) exceeds the limit of \(Limits.batchBytes) bytes per batch")
        try check(rowsPerBatch * wordsPerRow <= Limits.batchWords,
                  "--rows-per-batch × --words-per-row = \(rowsPerBatch * wordsPerRow) exceeds the limit of \(Limits.batchWords) words per batch")
        try range("accumulation", accumulation, 1...Limits.accumulation)
        try range("steps", steps, 1...Limits.steps)
        try real("learning-rate", learningRate, { $0 > 0 }, "a finite number > 0")
        if let backboneLearningRate {
            try real("backbone-learning-rate", backboneLearningRate, { $0 >= 0 }, "a finite number ≥ 0")
        }
        try range("warmup-steps", warmupSteps, 0...Limits.steps)
        try real("weight-decay", adamw.weightDecay, { $0 >= 0 }, "a finite number ≥ 0")
        try real("adamw beta1", adamw.beta1, { $0 >= 0 && $0 < 1 }, "in [0, 1)")
        try real("adamw beta2", adamw.beta2, { $0 >= 0 && $0 < 1 }, "in [0, 1)")
        try real("adamw epsilon", adamw.epsilon, { $0 > 0 }, "a finite number > 0")
        try real("clip-norm", clipNorm, { $0 >= 0 }, "a finite number ≥ 0 (0 = off)")
        try range("validate-every", validateEvery, 1...Limits.steps)
        try range("checkpoint-every", checkpointEvery, 1...Limits.steps)
        try range("keep-checkpoints", keepCheckpoints, 1...Limits.keptCheckpoints)
        if let validationRows { try range("validation-rows", validationRows, 1...Int.max) }
        try check(validationFraction >= 0 && validationFraction < 1,
                  "--validation-fraction must be in [0, 1), found \(validationFraction)")
        for part in freeze {
            try check(Self.parts.contains(part), "cannot freeze '\(part)': parts are \(Self.parts.joined(separator: ", "))")
        }
        try check((teacher == nil) == (distillation == nil), "a teacher needs distillation settings and the other way round")
        if let d = distillation {
            try check(d.alignBlocks >= 0, "align blocks must be ≥ 0")
            for (name, weight) in [("align", d.alignWeight), ("distill", d.distillWeight), ("cross-entropy", d.crossEntropyWeight)] {
                try check(weight >= 0 && weight.isFinite, "the \(name) weight must be ≥ 0 and finite")
            }
            try check(d.crossEntropyWeight + d.distillWeight > 0, "the decoder needs a cross-entropy or distillation weight above 0")
        }
    }

    /// The part a parameter belongs to.
    public static func part(of name: String) -> String {
        if name.hasPrefix("encoder_connector.") { return "pooling" }
        if name.hasPrefix("encoder.") { return "encoder" }
        if name.hasPrefix("backbone.") { return "backbone" }
        if name.hasPrefix("decoder") { return "decoder" }
        return "head"
    }
}

/// Where the run stands; saved as state.json in each checkpoint.
public struct TrainerState: Codable, Equatable, Sendable {
    public var step = 0
    /// Data position: epoch and the index of the next row in that epoch's order.
    public var epoch = 0
    public var cursor = 0
    public var bytesSeen = 0
    public var elapsedSeconds = 0.0
    public var optimizerStep = 0
    public var schedule: LearningRateSchedule
    public var lastValidationBitsPerByte: Double?

    enum CodingKeys: String, CodingKey {
        case step, epoch, cursor, bytesSeen = "bytes_seen", elapsedSeconds = "elapsed_seconds"
        case optimizerStep = "optimizer_step", schedule
        case lastValidationBitsPerByte = "last_validation_bits_per_byte"
    }

    /// Checks the numbers a damaged or edited state.json could hold before any is used as an
    /// index; `rows` is the number of training rows the cursor walks.
    func validate(rows: Int, path: String) throws {
        func check(_ ok: Bool, _ field: String, _ value: Any) throws {
            if !ok { throw TrainingError.resume("\(path): \(field) = \(value) is out of range") }
        }
        try check((0...Limits.steps).contains(step), "step", step)
        try check(epoch >= 0, "epoch", epoch)
        try check((0...rows).contains(cursor), "cursor", cursor)
        try check(bytesSeen >= 0, "bytes_seen", bytesSeen)
        try check(optimizerStep >= 0, "optimizer_step", optimizerStep)
        try check(schedule.peak.isFinite && schedule.peak > 0, "schedule.peak", schedule.peak)
        try check((0...Limits.steps).contains(schedule.warmupSteps), "schedule.warmup_steps", schedule.warmupSteps)
        try check((1...Limits.steps).contains(schedule.totalSteps), "schedule.total_steps", schedule.totalSteps)
        try check(schedule.finalFraction.isFinite && (0...1).contains(schedule.finalFraction), "schedule.final_fraction",
                  schedule.finalFraction)
    }
}

public enum TrainingError: Error, CustomStringConvertible {
    case invalidOption(String)
    case nonFiniteLoss(step: Int, loss: Double, lastCheckpoint: String?)
    case resume(String)

    public var description: String {
        switch self {
        case .invalidOption(let message): return "invalid training option: \(message)"
        case .nonFiniteLoss(let step, let loss, let checkpoint):
            return "training stopped: non-finite loss (\(loss)) at step \(step); the last good checkpoint is "
                + (checkpoint ?? "none (no checkpoint was written yet)")
        case .resume(let message): return "cannot resume: \(message)"
        }
    }
}

/// The stage-1 sums of one optimizer step's micro-batches, and their means.
struct StageOneSums {
    var align = 0.0, alignedWords = 0, cosineSum = 0.0
    var distillSum = 0.0, distilledWords = 0, words = 0
    var teacherLoss = 0.0, teacherBytes = 0

    mutating func add(_ parts: LossParts, _ stats: Teacher.Stats) {
        align += parts.align
        if parts.alignedWords > 0 { cosineSum += parts.alignCosine * Double(parts.alignedWords) }
        alignedWords += parts.alignedWords
        distillSum += parts.distill
        distilledWords += parts.distilledWords
        words += stats.words
        teacherLoss += stats.lossNats
        teacherBytes += stats.predictedBytes
    }

    var alignMean: Double { alignedWords > 0 ? align / Double(alignedWords) : .nan }
    var alignCosine: Double { alignedWords > 0 ? cosineSum / Double(alignedWords) : .nan }
    var distill: Double { distilledWords > 0 ? distillSum / Double(distilledWords) : .nan }
    var teacherBitsPerByte: Double { teacherBytes > 0 ? teacherLoss / Double(teacherBytes) / log(2) : .nan }
}

/// What the loop reports as it goes.
public enum TrainingEvent {
    case started(trainBytes: Int, trainRows: Int, validationRows: Int, parameters: Int, resumedAt: Int?)
    case step(TrainStepMetrics)
    case validation(step: Int, result: EvaluationResult)
    case checkpoint(step: Int, path: String)
    case stopped(step: Int, reason: String)
}

public struct TrainStepMetrics: Codable, Sendable {
    public var step: Int
    public var loss: Double
    public var bitsPerByte: Double
    /// With a teacher: the mean alignment distance and cosine, the mean word distillation term
    /// (nats) and the teacher's bits per byte on the batch.
    public var align: Double?
    public var alignCosine: Double?
    public var distill: Double?
    public var teacherBitsPerByte: Double?
    public var learningRate: Float
    public var gradientNorm: Float
    public var bytesSeen: Int
    public var bytesPerSecond: Double
    public var elapsedSeconds: Double
    public var totalSteps: Int
}

public final class Trainer {
    public let runDirectory: String
    public let options: TrainingOptions
    public let config: HATConfig
    public let parameters: ParameterSet
    public let model: HierarchicalModel
    public let optimizer: AdamW
    /// The threads the run uses: results do not depend on their number, so a run may resume
    /// with another count and continue exactly.
    public let context: ComputeContext
    public private(set) var state: TrainerState
    let trainStream: WordStream
    let validationStream: WordStream
    let trainRows: [Range<Int>]
    let validationRows: [Range<Int>]
    let batch: Batch
    /// Stage 1 of grafting by distillation: the teacher and its per-word signals of a batch.
    public let teacher: Teacher?
    let signals: TeacherSignals?
    /// Set from a signal handler (or a test): the loop saves a checkpoint and returns.
    nonisolated(unsafe) public static var stopRequested: Int32 = 0
    /// Asked before every step: true saves a checkpoint and returns. By default, whether a signal
    /// set `Trainer.stopRequested`; a caller (a test) can stop one trainer without touching others.
    public var shouldStop: () -> Bool = { Trainer.stopRequested != 0 }
    /// Newer checkpoints `resume` passed over because they did not load, each with the reason.
    public private(set) var passedOverCheckpoints: [String] = []

    var checkpointsDirectory: String { (runDirectory as NSString).appendingPathComponent("checkpoints") }
    var metricsPath: String { (runDirectory as NSString).appendingPathComponent("metrics.jsonl") }

    /// A new run in `runDirectory` (must not hold checkpoints) starting from `config` and `parameters`.
    public convenience init(runDirectory: String, options: TrainingOptions, config: HATConfig, parameters: ParameterSet,
                            context: ComputeContext) throws {
        let fm = FileManager.default
        try options.validate(maxWordSize: config.maxWordSize)
        var isDirectory: ObjCBool = false
        if fm.fileExists(atPath: runDirectory, isDirectory: &isDirectory), !isDirectory.boolValue {
            throw TrainingError.invalidOption("--out \(runDirectory) exists and is not a directory")
        }
        let checkpoints = (runDirectory as NSString).appendingPathComponent("checkpoints")
        if let existing = try? fm.contentsOfDirectory(atPath: checkpoints), existing.contains(where: { $0.hasPrefix("step-") }) {
            throw TrainingError.invalidOption("\(runDirectory) already holds checkpoints: use --resume \(runDirectory) or another --out")
        }
        try fm.createDirectory(atPath: runDirectory, withIntermediateDirectories: true)
        try Trainer.writeOptions(options, runDirectory: runDirectory)
        try? fm.removeItem(atPath: (runDirectory as NSString).appendingPathComponent("metrics.jsonl"))
        try self.init(runDirectory: runDirectory, options: options, config: config, parameters: parameters, context: context,
                      resumeFrom: nil)
    }

    /// RUN/options.json, written atomically.
    static func writeOptions(_ options: TrainingOptions, runDirectory: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try AtomicFile.write(Array(try encoder.encode(options)), to: (runDirectory as NSString).appendingPathComponent("options.json"))
    }

    /// Continues the run in `runDirectory` from its newest checkpoint, with the saved options.
    /// `totalSteps`, when given and different from the saved total, moves the end of the run (and
    /// of its cosine schedule) there: the rate continues from the newest checkpoint's step along
    /// the new schedule. The change is written to options.json and noted in RUN/NOTES.txt, so the
    /// run's report can say how the run really went.
    public static func resume(runDirectory: String, totalSteps: Int? = nil, context: ComputeContext) throws -> Trainer {
        let optionsPath = (runDirectory as NSString).appendingPathComponent("options.json")
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: runDirectory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw TrainingError.resume("\(runDirectory) is not a directory (give the run directory hat train --out wrote)")
        }
        guard let data = FileManager.default.contents(atPath: optionsPath) else {
            throw TrainingError.resume("\(optionsPath) not found: is \(runDirectory) a training run?")
        }
        var options: TrainingOptions
        do {
            options = try JSONDecoder().decode(TrainingOptions.self, from: data)
        } catch {
            throw TrainingError.resume("\(optionsPath) is not a run's options: \(error)")
        }
        let checkpoints = (runDirectory as NSString).appendingPathComponent("checkpoints")
        var passedOver: [String] = []
        var loaded: (path: String, config: HATConfig, parameters: ParameterSet, state: TrainerState)?
        for candidate in completeCheckpoints(in: checkpoints).reversed() {
            do {
                let (config, parameters) = try ModelFiles.load(from: candidate)
                let state = try readState(checkpoint: candidate)
                try checkMoments(checkpoint: candidate, count: parameters.count)
                loaded = (candidate, config, parameters, state)
                break
            } catch {
                passedOver.append("\((candidate as NSString).lastPathComponent) is damaged (\(error))")
            }
        }
        guard let loaded else {
            throw TrainingError.resume("no intact checkpoint in \(checkpoints)"
                                       + (passedOver.isEmpty ? "" : ": " + passedOver.joined(separator: "; ")))
        }
        var newTotal: Int?
        if let totalSteps, totalSteps != options.steps {
            newTotal = totalSteps
            options.steps = totalSteps
        }
        let trainer = try Trainer(runDirectory: runDirectory, options: options, config: loaded.config,
                                  parameters: loaded.parameters, context: context,
                                  resumeFrom: (loaded.path, loaded.state), totalSteps: newTotal)
        trainer.passedOverCheckpoints = passedOver
        let formatter = ISO8601DateFormatter()
        var notes: [String] = []
        if !passedOver.isEmpty {
            notes.append("\(formatter.string(from: Date())) resumed from \((loaded.path as NSString).lastPathComponent), the newest intact checkpoint: "
                         + passedOver.joined(separator: "; "))
        }
        if let newTotal {
            try Trainer.writeOptions(options, runDirectory: runDirectory)
            notes.append("\(formatter.string(from: Date())) resumed at step \(trainer.state.step) with the total steps changed "
                + "\(trainer.previousTotalSteps ?? newTotal) → \(newTotal); the cosine schedule continues from step \(trainer.state.step) toward the new end")
        }
        if !notes.isEmpty {
            let notesPath = (runDirectory as NSString).appendingPathComponent("NOTES.txt")
            let previous = FileManager.default.contents(atPath: notesPath) ?? Data()
            try AtomicFile.write(Array(previous) + Array(notes.map { $0 + "\n" }.joined().utf8), to: notesPath)
        }
        return trainer
    }

    /// A checkpoint's state.json, decoded (errors name the file).
    static func readState(checkpoint: String) throws -> TrainerState {
        let path = (checkpoint as NSString).appendingPathComponent("state.json")
        guard let data = FileManager.default.contents(atPath: path) else {
            throw TrainingError.resume("\(path) is missing or unreadable")
        }
        do {
            return try JSONDecoder().decode(TrainerState.self, from: data)
        } catch {
            throw TrainingError.resume("\(path) is not a trainer state: \(error)")
        }
    }

    /// Checks that a checkpoint's optimizer.safetensors holds the two F32 moments of `count` floats.
    static func checkMoments(checkpoint: String, count: Int) throws {
        let moments = try SafeTensorsFile(path: (checkpoint as NSString).appendingPathComponent("optimizer.safetensors"))
        for name in ["adamw.m", "adamw.v"] {
            let info = try moments.info(name)
            guard info.dtype == .f32, info.shape == [count] else {
                throw TrainingError.resume("\(moments.path): \(name) is \(info.dtype.rawValue) \(info.shape), expected F32 [\(count)]")
            }
        }
    }

    init(runDirectory: String, options: TrainingOptions, config: HATConfig, parameters: ParameterSet, context: ComputeContext,
         resumeFrom resumed: (checkpoint: String, state: TrainerState)?, totalSteps: Int? = nil) throws {
        try options.validate(maxWordSize: config.maxWordSize)
        self.runDirectory = runDirectory
        self.options = options
        var config = config
        // A backbone that trains is no longer its source file's: the checkpoints then hold it.
        if !options.freeze.contains("backbone") { config.backboneSource = nil }
        self.config = config
        self.parameters = parameters
        self.context = context

        // Data: split by document, words, rows.
        let documents = try Corpus.documents(paths: options.data)
        let (train, validation) = Corpus.split(documents, validationFraction: options.validationFraction, seed: options.seed)
        let splitter = try config.makeSplitter()
        let eos = UInt8(config.eosTokenId)
        trainStream = Corpus.wordStream(train, splitter: splitter, endOfSequence: eos)
        validationStream = Corpus.wordStream(validation, splitter: splitter, endOfSequence: eos)
        trainRows = trainStream.rows(wordsPerRow: options.wordsPerRow, maxRowBytes: options.maxRowBytes)
        var allValidationRows = validationStream.rows(wordsPerRow: options.wordsPerRow, maxRowBytes: options.maxRowBytes)
        if let limit = options.validationRows, allValidationRows.count > limit {
            allValidationRows = Array(allValidationRows.prefix(limit))
        }
        validationRows = allValidationRows
        if trainRows.count < options.rowsPerBatch {
            throw TrainingError.invalidOption("only \(trainRows.count) training rows, fewer than one batch of \(options.rowsPerBatch)")
        }

        let maxBytes = options.rowsPerBatch * options.maxRowBytes
        let maxWords = options.rowsPerBatch * options.wordsPerRow
        try MemoryPlan.requireBatch(config, maxBytes: maxBytes, maxWords: maxWords, threads: context.threads, training: true,
                                    what: "training")
        batch = Batch(maxBytes: maxBytes, maxWords: maxWords, config: config)
        model = HierarchicalModel(config: config, parameters: parameters, maxBytes: maxBytes, maxWords: maxWords, context: context)
        model.isBackboneFrozen = options.freeze.contains("backbone")
        optimizer = AdamW(parameters: parameters, settings: options.adamw, context: context)
        if let source = options.teacher, let settings = options.distillation {
            let shared = try Trainer.teacherSharesBackbone(source: source, config: config, options: options)
            teacher = try Teacher(source: source, sharedBlocks: shared ? parameters : nil, maxRowBytes: options.maxRowBytes,
                                  alignBlocks: settings.alignBlocks, context: context)
            guard teacher!.model.config.blocks.hiddenSize == config.backboneConfig.hiddenSize else {
                throw TrainingError.invalidOption("the teacher's width \(teacher!.model.config.blocks.hiddenSize) differs from the backbone's \(config.backboneConfig.hiddenSize)")
            }
            signals = TeacherSignals(maxWords: maxWords, width: config.backboneConfig.hiddenSize)
        } else {
            teacher = nil
            signals = nil
        }

        let schedule = LearningRateSchedule(peak: options.learningRate, warmupSteps: options.warmupSteps, totalSteps: options.steps)
        trainOrder = []
        if let (checkpoint, resumedState) = resumed {
            state = resumedState
            try state.validate(rows: trainRows.count, path: (checkpoint as NSString).appendingPathComponent("state.json"))
            if let totalSteps {
                guard totalSteps > state.step else {
                    throw TrainingError.invalidOption("--steps \(totalSteps) must be more than the step already reached (\(state.step) in \(checkpoint))")
                }
                previousTotalSteps = state.schedule.totalSteps
                state.schedule.totalSteps = totalSteps
            }
            let moments = try SafeTensorsFile(path: (checkpoint as NSString).appendingPathComponent("optimizer.safetensors"))
            try moments.read("adamw.m", into: optimizer.m, count: parameters.count)
            try moments.read("adamw.v", into: optimizer.v, count: parameters.count)
            optimizer.step = state.optimizerStep
            try truncateMetrics(afterStep: state.step)
        } else {
            state = TrainerState(schedule: schedule)
        }
        trainOrder = Trainer.order(rows: trainRows.count, seed: options.seed, epoch: state.epoch)
    }

    private var trainOrder: [Int]
    /// The schedule's total before `resume(runDirectory:totalSteps:)` changed it.
    private(set) var previousTotalSteps: Int?

    /// The order of the training rows in `epoch`: a permutation drawn from a generator seeded
    /// with (seed, epoch). Training draws no other random numbers, so (epoch, cursor) is the
    /// whole random state a resumed run needs.
    static func order(rows: Int, seed: UInt64, epoch: Int) -> [Int] {
        var rng = RandomGenerator(seed: seed &* 0x9E37_79B9 &+ UInt64(epoch) &+ 1)
        var order = Array(0..<rows)
        order.shuffle(using: &rng)
        return order
    }

    /// Fills the batch with the next rows of the training order.
    private func nextBatch() {
        batch.reset()
        for _ in 0..<options.rowsPerBatch {
            if state.cursor >= trainOrder.count {
                state.epoch += 1
                state.cursor = 0
                trainOrder = Trainer.order(rows: trainRows.count, seed: options.seed, epoch: state.epoch)
            }
            let row = trainRows[trainOrder[state.cursor]]
            batch.appendRow(trainStream, words: row)
            state.cursor += 1
        }
        batch.finish()
    }

    private func rateMultiplier(_ entry: ParameterSet.Entry) -> Float {
        let part = TrainingOptions.part(of: entry.name)
        if options.freeze.contains(part) { return 0 }
        if part == "backbone", let backboneRate = options.backboneLearningRate {
            return backboneRate / options.learningRate
        }
        return 1
    }

    /// Trains until `options.steps`, a stop request, or an error. Returns the final state.
    @discardableResult
    public func run(report: (TrainingEvent) -> Void) throws -> TrainerState {
        report(.started(trainBytes: trainStream.byteCount, trainRows: trainRows.count, validationRows: validationRows.count,
                        parameters: parameters.scalarCount, resumedAt: state.step > 0 ? state.step : nil))
        var lastCheckpoint = try Trainer.newestCheckpoint(in: checkpointsDirectory)
        while state.step < options.steps {
            if shouldStop() {
                let path = try saveCheckpoint()
                report(.checkpoint(step: state.step, path: path))
                report(.stopped(step: state.step, reason: "stop requested"))
                return state
            }
            let started = Date()
            parameters.zeroGrads()
            var lossSum = 0.0, count = 0, bytes = 0
            var stage = StageOneSums()
            for _ in 0..<options.accumulation {
                nextBatch()
                if let teacher, let signals, let settings = options.distillation {
                    teacher.fill(signals, for: batch, endOfSequence: UInt8(config.eosTokenId))
                    let parts = model.forward(batch, teacher: signals, settings: settings)
                    let micro = Float(options.accumulation)
                    model.backward(batch, teacher: signals, settings: settings,
                                   crossEntropyScale: settings.crossEntropyWeight / (Float(max(parts.predictedBytes, 1)) * micro),
                                   alignScale: settings.alignWeight / (Float(max(parts.alignedWords, 1)) * micro),
                                   distillScale: settings.distillWeight / (Float(max(parts.distilledWords, 1)) * micro))
                    lossSum += parts.crossEntropy
                    count += parts.predictedBytes
                    stage.add(parts, teacher.lastStats)
                } else {
                    let (microLoss, microCount) = model.forward(batch)
                    model.backward(batch, lossScale: 1 / Float(max(microCount, 1) * options.accumulation))
                    lossSum += microLoss
                    count += microCount
                }
                bytes += batch.byteCount
            }
            let loss = lossSum / Double(max(count, 1))
            let norm = clipGradientNorm(parameters, maxNorm: options.clipNorm) { rateMultiplier($0) != 0 }
            if !loss.isFinite || !norm.isFinite {
                throw TrainingError.nonFiniteLoss(step: state.step, loss: loss.isFinite ? Double(norm) : loss, lastCheckpoint: lastCheckpoint)
            }
            let rate = state.schedule.rate(at: state.step)
            optimizer.update(learningRate: rate) { rateMultiplier($0) }
            state.optimizerStep = optimizer.step
            state.step += 1
            state.bytesSeen += bytes
            let seconds = Date().timeIntervalSince(started)
            state.elapsedSeconds += seconds
            var metrics = TrainStepMetrics(step: state.step, loss: loss, bitsPerByte: loss / log(2), learningRate: rate,
                                           gradientNorm: norm, bytesSeen: state.bytesSeen,
                                           bytesPerSecond: Double(bytes) / max(seconds, 1e-9),
                                           elapsedSeconds: state.elapsedSeconds, totalSteps: options.steps)
            var fields: [String: Any] = ["split": "train", "step": state.step, "loss": loss, "bits_per_byte": metrics.bitsPerByte,
                                         "learning_rate": Double(rate), "gradient_norm": Double(norm), "bytes_seen": state.bytesSeen,
                                         "bytes_per_second": metrics.bytesPerSecond, "elapsed_seconds": state.elapsedSeconds]
            if teacher != nil {
                metrics.align = stage.alignMean
                metrics.alignCosine = stage.alignCosine
                metrics.distill = stage.distill
                metrics.teacherBitsPerByte = stage.teacherBitsPerByte
                for (key, value) in [("align", stage.alignMean), ("align_cosine", stage.alignCosine), ("distill", stage.distill),
                                     ("teacher_bits_per_byte", stage.teacherBitsPerByte)] where value.isFinite {
                    fields[key] = value
                }
                fields["aligned_words"] = stage.alignedWords
                fields["distilled_words"] = stage.distilledWords
                fields["words"] = stage.words
            }
            try appendMetrics(fields)
            report(.step(metrics))

            let last = state.step == options.steps
            if !validationRows.isEmpty && (state.step % options.validateEvery == 0 || last) {
                let result = validate()
                state.lastValidationBitsPerByte = result.bitsPerByte
                var fields: [String: Any] = ["split": "validation", "step": state.step, "bits_per_byte": result.bitsPerByte,
                                             "loss": result.lossNats / Double(max(result.predictedBytes, 1)),
                                             "bytes_per_position": result.bytesPerPosition, "bytes_seen": state.bytesSeen,
                                             "elapsed_seconds": state.elapsedSeconds]
                if let diagnostics = result.teacher {
                    for (key, value) in [("oracle_bits_per_byte", diagnostics.oracleBitsPerByte),
                                         ("teacher_bits_per_byte", diagnostics.teacherBitsPerByte),
                                         ("align", diagnostics.align), ("align_cosine", diagnostics.alignCosine)] where value.isFinite {
                        fields[key] = value
                    }
                }
                try appendMetrics(fields)
                report(.validation(step: state.step, result: result))
            }
            if state.step % options.checkpointEvery == 0 || last {
                let path = try saveCheckpoint()
                lastCheckpoint = path
                report(.checkpoint(step: state.step, path: path))
            }
        }
        return state
    }

    /// Bits per byte on the validation rows (the student's own path); with a teacher also the
    /// oracle decoder's and the teacher's bits per byte and the alignment on the same rows.
    public func validate() -> EvaluationResult {
        var result = Evaluator.evaluate(model: model, stream: validationStream, rows: validationRows, batch: batch)
        if let teacher, let signals, let settings = options.distillation {
            result.teacher = Evaluator.teacherDiagnostics(model: model, teacher: teacher, signals: signals, settings: settings,
                                                          stream: validationStream, rows: validationRows, batch: batch,
                                                          endOfSequence: UInt8(config.eosTokenId))
        }
        return result
    }

    /// Whether the teacher's blocks are the model's frozen backbone (so they can be shared): the
    /// backbone was grafted from the same file (same SHA-256), is frozen, and has the same shape.
    static func teacherSharesBackbone(source: String, config: HATConfig, options: TrainingOptions) throws -> Bool {
        guard options.freeze.contains("backbone"), let recorded = config.provenance.graftedFrom?["sha256"] else { return false }
        let checkpoint = try openLlamaCheckpoint(source)
        guard let main = checkpoint.weightFiles.first, try SHA256.file(main) == recorded else { return false }
        let c = checkpoint.config, b = config.backboneConfig
        return c.hiddenSize == b.hiddenSize && c.numLayers == b.numHiddenLayers && c.numHeads == b.numAttentionHeads
            && c.numKVHeads == b.numKeyValueHeads && c.intermediateSize == b.intermediateSize && c.headDim == b.headDim
    }

    // MARK: Checkpoints

    /// Writes checkpoints/step-NNNNNNNN (via a temporary directory and a rename) and prunes
    /// old ones beyond `keepCheckpoints`. Returns the checkpoint's path.
    @discardableResult
    public func saveCheckpoint() throws -> String {
        let fm = FileManager.default
        try fm.createDirectory(atPath: checkpointsDirectory, withIntermediateDirectories: true)
        let name = String(format: "step-%08d", state.step)
        let final = (checkpointsDirectory as NSString).appendingPathComponent(name)
        let temporary = (checkpointsDirectory as NSString).appendingPathComponent(".tmp-" + name)
        try? fm.removeItem(atPath: temporary)
        var saved = config
        saved.provenance.trainingSteps = state.step
        saved.provenance.trainingBytes = state.bytesSeen
        if saved.provenance.trainingData == nil { saved.provenance.trainingData = options.data.joined(separator: ", ") }
        try ModelFiles.save(config: saved, parameters: parameters, to: temporary, dtype: .f32)
        let moments = try SafeTensorsWriter(path: (temporary as NSString).appendingPathComponent("optimizer.safetensors"),
                                            tensors: [("adamw.m", [parameters.count]), ("adamw.v", [parameters.count])],
                                            dtype: .f32, metadata: ["step": String(optimizer.step)])
        try moments.write("adamw.m", from: optimizer.m, count: parameters.count)
        try moments.write("adamw.v", from: optimizer.v, count: parameters.count)
        try moments.finish()
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(Array(try encoder.encode(state)), to: (temporary as NSString).appendingPathComponent("state.json"))
        try AtomicFile.write([], to: (temporary as NSString).appendingPathComponent(Trainer.completeMarker))
        if fm.fileExists(atPath: final) { try Trainer.remove(checkpoint: name, in: checkpointsDirectory) }
        try fm.moveItem(atPath: temporary, toPath: final)
        // Keep the newest `keepCheckpoints`; finish removals a kill interrupted.
        let names = try fm.contentsOfDirectory(atPath: checkpointsDirectory)
        for leftover in names where leftover.hasPrefix(".deleting-") {
            try? fm.removeItem(atPath: (checkpointsDirectory as NSString).appendingPathComponent(leftover))
        }
        let all = names.filter { $0.hasPrefix("step-") }.sorted()
        for old in all.dropLast(options.keepCheckpoints) {
            try? Trainer.remove(checkpoint: old, in: checkpointsDirectory)
        }
        return final
    }

    /// The file a checkpoint directory gets last, before it is renamed into place.
    public static let completeMarker = "COMPLETE"

    /// Removes checkpoints/NAME by renaming it to .deleting-NAME first, so a kill during the
    /// removal leaves no step-* directory with files missing.
    static func remove(checkpoint name: String, in directory: String) throws {
        let fm = FileManager.default
        let doomed = (directory as NSString).appendingPathComponent(".deleting-" + name)
        try? fm.removeItem(atPath: doomed)
        try fm.moveItem(atPath: (directory as NSString).appendingPathComponent(name), toPath: doomed)
        try fm.removeItem(atPath: doomed)
    }

    /// The complete checkpoint directories in `directory`, oldest first: step-* directories that
    /// hold the COMPLETE marker, or — written before markers existed — all four files.
    public static func completeCheckpoints(in directory: String) -> [String] {
        let fm = FileManager.default
        guard let names = try? fm.contentsOfDirectory(atPath: directory) else { return [] }
        return names.filter { $0.hasPrefix("step-") }.sorted().map { (directory as NSString).appendingPathComponent($0) }
            .filter { path in
                let file = { (name: String) in fm.fileExists(atPath: (path as NSString).appendingPathComponent(name)) }
                return file(completeMarker)
                    || [ModelFiles.configName, ModelFiles.weightsName, "optimizer.safetensors", "state.json"].allSatisfy(file)
            }
    }

    /// The newest complete checkpoint directory, if any.
    public static func newestCheckpoint(in directory: String) throws -> String? {
        completeCheckpoints(in: directory).last
    }

    // MARK: Metrics log

    private func appendMetrics(_ fields: [String: Any]) throws {
        var line = try JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys])
        line.append(0x0A)
        if let handle = FileHandle(forWritingAtPath: metricsPath) {
            defer { try? handle.close() }
            try handle.seekToEnd()
            try handle.write(contentsOf: line)
        } else {
            try line.write(to: URL(fileURLWithPath: metricsPath))
        }
    }

    /// After a crash the log may hold steps past the checkpoint we resume from: drop them,
    /// so the log describes exactly one history.
    private func truncateMetrics(afterStep step: Int) throws {
        guard let data = FileManager.default.contents(atPath: metricsPath) else { return }
        let kept = String(decoding: data, as: UTF8.self).split(separator: "\n").filter { line in
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  let lineStep = object["step"] as? Int else { return false }
            return lineStep <= step
        }
        try AtomicFile.write(Array((kept.joined(separator: "\n") + (kept.isEmpty ? "" : "\n")).utf8), to: metricsPath)
    }
}
