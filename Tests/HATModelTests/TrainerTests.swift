// The trainer on a tiny model: a 50-step run lowers the loss; a run stopped and resumed from
// its checkpoint has the same losses step for step as an uninterrupted one (exact resume); a
// non-finite loss stops with an error and leaves the last good checkpoint in place; a resume
// with a new total continues the schedule toward it. Each test holds the thread count (exact
// equality depends on it) against other suites running at the same time.

import Foundation
import HATModel
import HATTensor
import Testing

/// Public-domain text (Austen, Melville, Doyle) as three small documents in a temp directory.
func tinyCorpus() throws -> String {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("hat-corpus-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    let texts = [
        "a.txt": String(repeating: "It is a truth universally acknowledged, that a single man in possession of a good fortune, must be in want of a wife. However little known the feelings or views of such a man may be on his first entering a neighbourhood, this truth is so well fixed in the minds of the surrounding families. ", count: 6),
        "b.txt": String(repeating: "Call me Ishmael. Some years ago—never mind how long precisely—having little or no money in my purse, and nothing particular to interest me on shore, I thought I would sail about a little and see the watery part of the world. ", count: 6),
        "c.txt": String(repeating: "To Sherlock Holmes she is always the woman. I have seldom heard him mention her under any other name. In his eyes she eclipses and predominates the whole of her sex. ", count: 6),
    ]
    for (name, text) in texts { try text.write(to: directory.appendingPathComponent(name), atomically: true, encoding: .utf8) }
    return directory.path
}

func tinyConfig() throws -> HATConfig {
    let json = """
    {"encoder_config": {"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 1,
       "intermediate_size": 64, "sliding_window": 16, "vocab_size": 256,
       "cross_attention_config": {"hidden_size": 32, "num_attention_heads": 2, "num_key_value_heads": 1}},
     "backbone_config": {"hidden_size": 48, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
       "intermediate_size": 96},
     "decoder_config": {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "num_key_value_heads": 1,
       "intermediate_size": 64, "sliding_window": 16, "vocab_size": 256,
       "cross_attention_config": {"hidden_size": 32, "num_attention_heads": 2, "num_key_value_heads": 2}},
     "max_word_size": 24}
    """
    return try HATConfig.decode(Data(json.utf8), source: "test")
}

func tinyOptions(data: String, steps: Int) -> TrainingOptions {
    var options = TrainingOptions(data: [data])
    options.steps = steps
    options.rowsPerBatch = 2
    options.wordsPerRow = 24
    options.maxRowBytes = 256
    options.learningRate = 3e-3
    options.warmupSteps = 5
    options.validationFraction = 0.34
    options.validateEvery = 5
    options.checkpointEvery = 4
    options.keepCheckpoints = 2
    options.threads = 2
    return options
}

func freshParameters(_ config: HATConfig, seed: UInt64 = 1) -> ParameterSet {
    let parameters = ParameterSet(HierarchicalModel.parameterSpecs(config))
    var rng = RandomGenerator(seed: seed)
    HierarchicalModel.initialize(parameters, rng: &rng)
    return parameters
}

func temporaryRun() -> String {
    FileManager.default.temporaryDirectory.appendingPathComponent("hat-run-\(UUID().uuidString)").path
}

func losses(_ run: String) throws -> [String] {
    try String(contentsOfFile: run + "/metrics.jsonl", encoding: .utf8).split(separator: "\n").map { line in
        let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
        return "\(object["split"]!) \(object["step"]!) \(object["loss"]!)"
    }
}

@Suite(.serialized) struct TrainerTests {
    @Test func fiftyStepsLowerTheLoss() throws {
        try Threads.withExclusiveCount(2) {
            let data = try tinyCorpus(), run = temporaryRun()
            defer { try? FileManager.default.removeItem(atPath: run) }
            let config = try tinyConfig()
            var options = tinyOptions(data: data, steps: 50)
            options.validateEvery = 50
            options.checkpointEvery = 50
            let trainer = try Trainer(runDirectory: run, options: options, config: config, parameters: freshParameters(config))
            var trainLosses: [Double] = []
            try trainer.run { event in if case .step(let m) = event { trainLosses.append(m.loss) } }
            #expect(trainLosses.count == 50)
            let first = trainLosses.prefix(5).reduce(0, +) / 5, last = trainLosses.suffix(5).reduce(0, +) / 5
            #expect(last < first - 1.0, "mean loss of the first 5 steps \(first), of the last 5 \(last)")
            #expect(trainer.state.lastValidationBitsPerByte.map { $0 < first / log(2) } == true)
        }
    }

    @Test func stoppedAndResumedRunEqualsUninterruptedRunStepForStep() throws {
        try Threads.withExclusiveCount(2) {
            let data = try tinyCorpus()
            let config = try tinyConfig()
            let whole = temporaryRun(), split = temporaryRun()
            defer {
                try? FileManager.default.removeItem(atPath: whole)
                try? FileManager.default.removeItem(atPath: split)
            }
            let options = tinyOptions(data: data, steps: 14)
            try Trainer(runDirectory: whole, options: options, config: config, parameters: freshParameters(config)).run { _ in }

            // Stop after step 6 (the trainer checkpoints on stop), then resume to the end.
            let first = try Trainer(runDirectory: split, options: options, config: config, parameters: freshParameters(config))
            var stop = false
            first.shouldStop = { stop }
            try first.run { event in
                if case .step(let m) = event, m.step == 6 { stop = true }
            }
            #expect(first.state.step == 6)
            let resumed = try Trainer.resume(runDirectory: split)
            #expect(resumed.state.step == 6)
            try resumed.run { _ in }
            #expect(try losses(whole) == losses(split))
            #expect(try losses(split).count == 14 + 3)   // 14 training lines, validation at 5, 10, 14
        }
    }

    @Test func resumeWithNewTotalContinuesTheScheduleTowardIt() throws {
        try Threads.withExclusiveCount(2) {
            let data = try tinyCorpus(), run = temporaryRun()
            defer { try? FileManager.default.removeItem(atPath: run) }
            let config = try tinyConfig()
            var options = tinyOptions(data: data, steps: 8)
            options.learningRate = 1e-3
            options.warmupSteps = 2
            try Trainer(runDirectory: run, options: options, config: config, parameters: freshParameters(config)).run { _ in }

            // A total that is not past the step reached is refused, and nothing is changed.
            #expect(throws: TrainingError.self) { _ = try Trainer.resume(runDirectory: run, totalSteps: 6) }
            #expect(!FileManager.default.fileExists(atPath: run + "/NOTES.txt"))

            let extended = try Trainer.resume(runDirectory: run, totalSteps: 12)
            var rates: [Int: Float] = [:]
            try extended.run { event in if case .step(let m) = event { rates[m.step] = m.learningRate } }
            #expect(extended.state.step == 12)
            let schedule = LearningRateSchedule(peak: 1e-3, warmupSteps: 2, totalSteps: 12)
            for step in 9...12 {
                #expect(rates[step] == schedule.rate(at: step - 1), "step \(step): \(String(describing: rates[step]))")
            }
            let saved = try JSONDecoder().decode(TrainingOptions.self, from: Data(contentsOf: URL(fileURLWithPath: run + "/options.json")))
            #expect(saved.steps == 12)
            let notes = try String(contentsOfFile: run + "/NOTES.txt", encoding: .utf8)
            #expect(notes.contains("resumed at step 8 with the total steps changed 8 → 12"), "\(notes)")
        }
    }

    @Test func nonFiniteLossStopsAndKeepsTheLastCheckpoint() throws {
        try Threads.withExclusiveCount(2) {
            let data = try tinyCorpus(), run = temporaryRun()
            defer { try? FileManager.default.removeItem(atPath: run) }
            let config = try tinyConfig()
            let parameters = freshParameters(config)
            let trainer = try Trainer(runDirectory: run, options: tinyOptions(data: data, steps: 12), config: config, parameters: parameters)
            var thrown: Error?
            do {
                try trainer.run { event in
                    // After the checkpoint at step 4, poison the head so the next loss is NaN.
                    if case .checkpoint(let step, _) = event, step == 4 {
                        parameters.value("lm_head.weight")[0, 0] = .nan
                    }
                }
            } catch { thrown = error }
            guard case .nonFiniteLoss(let step, _, let checkpoint)? = thrown as? TrainingError else {
                Issue.record("expected a non-finite loss error, got \(String(describing: thrown))")
                return
            }
            #expect(step == 4)
            #expect(checkpoint?.hasSuffix("step-00000004") == true)
            // The checkpoint is intact and loads.
            let (_, loaded) = try ModelFiles.load(from: checkpoint!)
            #expect(loaded.value("lm_head.weight")[0, 0].isFinite)
            #expect(String(describing: thrown!).contains("non-finite loss"))
        }
    }
}
