// hat train: train a HAT model from a preset (fresh weights) or from a model directory
// (e.g. a graft), or resume a run exactly. Progress bar on a terminal, plain lines otherwise;
// metrics go to RUN/metrics.jsonl. SIGINT/SIGTERM save a checkpoint before exiting.

import ArgumentParser
import Foundation
import HATCommandLine
import HATIO
import HATModel
import HATTensor

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a model (AdamW, warm-up + cosine, clipping, checkpoints, exact resume).",
        discussion: """
        Start fresh:   hat train --config small --data data/english --out runs/small --steps 20000
        From a graft:  hat train --init-from runs/graft --data data/english --out runs/stage1 --freeze backbone
        Distilled:     hat train --init-from runs/graft --data data/english --out runs/stage1 --freeze backbone \\
                         --teacher data/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf --align-blocks 4
        Resume:        hat train --resume runs/small
        Extend:        hat train --resume runs/small --steps 30000   (the schedule continues toward the new end)

        Ctrl-C (SIGINT) or SIGTERM saves a checkpoint and exits with status 130; resume with --resume. \
        Resume starts from the newest checkpoint that loads and says which damaged ones it passed over.
        """)

    @Option(help: "Preset name (Models/configs/NAME.json) or config.json path for fresh weights.")
    var config: String?
    @Option(help: "Model directory to start from instead of fresh weights (e.g. the output of hat graft).")
    var initFrom: String?
    @Option(help: "Continue the run in this directory from its newest checkpoint, with its saved options.")
    var resume: String?
    @Option(help: "Run directory for checkpoints and metrics.")
    var out: String?
    @Option(parsing: .upToNextOption, help: "Training text: files or directories of *.txt (one file = one document).")
    var data: [String] = []

    @Option(parsing: .unconditional, help: "Optimizer steps (default 1000; with --resume, a new total for the run: its cosine schedule continues toward it).")
    var steps: Int?
    @Option(parsing: .unconditional, help: "Rows per batch.") var rowsPerBatch = 8
    @Option(parsing: .unconditional, help: "Words per row.") var wordsPerRow = 256
    @Option(parsing: .unconditional, help: "Most bytes per row.") var maxRowBytes = 2048
    @Option(parsing: .unconditional, help: "Micro-batches per optimizer step (gradient accumulation).") var accumulation = 1
    @Option(parsing: .unconditional, help: "Peak learning rate.") var learningRate: Float = 1e-3
    @Option(parsing: .unconditional, help: "Peak learning rate of the backbone (default: the same as --learning-rate).") var backboneLearningRate: Float?
    @Option(parsing: .unconditional, help: "Warm-up steps.") var warmupSteps = 100
    @Option(parsing: .unconditional, help: "AdamW weight decay (matrices only).") var weightDecay: Float = 0.1
    @Option(parsing: .unconditional, help: "Gradient clipping (global L2 norm; 0 = off).") var clipNorm: Float = 1
    @Option(parsing: .upToNextOption, help: "Parts to freeze: encoder, pooling, backbone, decoder, head.")
    var freeze: [String] = []
    @Option(parsing: .unconditional, help: "Share of documents held out for validation.") var validationFraction = 0.05
    @Option(parsing: .unconditional, help: "Validate every N steps.") var validateEvery = 100
    @Option(parsing: .unconditional, help: "Most validation rows per validation (default: all).") var validationRows: Int?
    @Option(parsing: .unconditional, help: "Checkpoint every N steps.") var checkpointEvery = 100
    @Option(parsing: .unconditional, help: "Checkpoints kept.") var keepCheckpoints = 3
    @Option(parsing: .unconditional, help: "Seed for weights and data order.") var seed: UInt64 = 1
    @Option(parsing: .unconditional, help: ArgumentHelp("A token model (GGUF file or Hugging Face directory) teaching stage 1 of grafting: alignment, oracle decoder inputs, word distillation.",
                               valueName: "SOURCE"))
    var teacher: String?
    @Option(parsing: .unconditional, help: "With --teacher: word vectors are compared with the teacher's states after this many backbone blocks.")
    var alignBlocks = 4
    @Option(parsing: .unconditional, help: "With --teacher: weight of the alignment loss.") var alignWeight: Float = 1
    @Option(parsing: .unconditional, help: "With --teacher: alignment distance, l2 (‖h − t‖/√d) or relative (‖h − t‖/‖t‖).")
    var alignDistance: AlignDistance = .l2
    @Option(parsing: .unconditional, help: "With --teacher: weight of the word log-probability distillation loss (mean |Δ log p|).") var distillWeight: Float = 1
    @Option(parsing: .unconditional, help: "With --teacher: weight of the next-byte cross-entropy.") var ceWeight: Float = 1
    @Flag(help: "With --teacher: the decoder reads the student backbone's output instead of the teacher's final states.")
    var noOracle = false
    @OptionGroup var threadOptions: ThreadOptions
    @Option(parsing: .unconditional, help: "Print a plain progress line every N steps when not on a terminal.") var logEvery = 10

    func validate() throws {
        let sources = [config != nil, initFrom != nil, resume != nil].filter { $0 }.count
        guard sources == 1 else { throw ValidationError("give exactly one of --config, --init-from, --resume") }
        if resume != nil, out != nil || !data.isEmpty || !freeze.isEmpty || teacher != nil {
            throw ValidationError("--resume continues a run with its saved options (only --steps, a new total, applies); "
                                  + "--out, --data, --freeze and --teacher cannot be given with it")
        }
        if resume == nil {
            guard out != nil else { throw ValidationError("--out RUN_DIR is required for a new run") }
            guard !data.isEmpty else { throw ValidationError("--data is required for a new run") }
        }
        try checkFlag("log-every", logEvery, 1...Limits.steps)
        if let steps { try checkFlag("steps", steps, 1...Limits.steps) }
        if resume == nil {
            do { try options.validate() } catch TrainingError.invalidOption(let message) { throw ValidationError(message) }
        }
    }

    /// The options of a new run, from the flags.
    var options: TrainingOptions {
        var options = TrainingOptions(data: data)
        options.steps = steps ?? 1000
        options.rowsPerBatch = rowsPerBatch
        options.wordsPerRow = wordsPerRow
        options.maxRowBytes = maxRowBytes
        options.accumulation = accumulation
        options.learningRate = learningRate
        options.backboneLearningRate = backboneLearningRate
        options.warmupSteps = warmupSteps
        options.adamw.weightDecay = weightDecay
        options.clipNorm = clipNorm
        options.freeze = freeze
        options.validationFraction = validationFraction
        options.validateEvery = validateEvery
        options.validationRows = validationRows
        options.checkpointEvery = checkpointEvery
        options.keepCheckpoints = keepCheckpoints
        options.seed = seed
        if let teacher {
            options.teacher = teacher
            options.distillation = DistillationSettings(alignBlocks: alignBlocks, alignWeight: alignWeight,
                                                        distillWeight: distillWeight, crossEntropyWeight: ceWeight,
                                                        oracle: !noOracle, alignDistance: alignDistance)
        }
        return options
    }

    func run() throws {
        let trainer: Trainer
        let preparing = ProgressLine()
        if let resume {
            trainer = try preparing.whileRunning("reading the run and its data") {
                try Trainer.resume(runDirectory: resume, totalSteps: steps, context: threadOptions.makeContext())
            }
            for note in trainer.passedOverCheckpoints { FileHandle.standardError.write(Data("resuming past a damaged checkpoint: \(note)\n".utf8)) }
        } else {
            let modelConfig: HATConfig
            let parameters: ParameterSet
            if let config {
                modelConfig = try HATConfig.load(path: try Locations.config(config))
                parameters = try MemoryPlan.allocateParameters(modelConfig, for: "the preset \(config)")
                var rng = RandomGenerator(seed: seed)
                HierarchicalModel.initialize(parameters, rng: &rng)
            } else {
                var loaded: HATConfig
                (loaded, parameters) = try ModelFiles.load(from: initFrom!)
                loaded.provenance.continueTraining(from: initFrom!)
                modelConfig = loaded
            }
            trainer = try preparing.whileRunning("reading and splitting the data") {
                try Trainer(runDirectory: out!, options: options, config: modelConfig, parameters: parameters,
                            context: threadOptions.makeContext())
            }
        }

        signal(SIGINT) { _ in Trainer.stopRequested = 1 }
        signal(SIGTERM) { _ in Trainer.stopRequested = 1 }
        let display = ProgressDisplay(logEvery: logEvery)
        let state: TrainerState
        do {
            state = try trainer.run { display.show($0) }
        } catch {
            display.finishLine()
            throw error
        }
        display.finishLine()
        // Stopped by SIGINT/SIGTERM with a checkpoint saved: the same status as hat robustness.
        if state.step < trainer.options.steps { throw ExitCode(130) }
    }
}

extension AlignDistance: ExpressibleByArgument {}
