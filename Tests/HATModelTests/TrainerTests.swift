// The trainer on the tiny preset: a 50-step run lowers the loss; a run stopped and resumed from
// its checkpoint — at another thread count — has the same losses step for step as an
// uninterrupted one (exact resume); training, evaluation and the weights are the same bits with
// 1, 2, 3 and 8 threads; two trainers running at once each equal their solo run; a non-finite loss
// stops with an error and leaves the last good checkpoint in place; a resume with a new total
// continues the schedule toward it; a run from another run's checkpoint records its own data,
// steps and bytes, and the earlier run's in its notes.

import Foundation
import HATModel
import HATTensor
import HATTestSupport
import Testing

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
    return options
}

func losses(_ run: String) throws -> [String] {
    try String(contentsOfFile: run + "/metrics.jsonl", encoding: .utf8).split(separator: "\n").map { line in
        let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
        return "\(object["split"]!) \(object["step"]!) \(object["loss"]!)"
    }
}

/// Every parameter value, bit for bit.
func weightBits(_ parameters: ParameterSet) -> [UInt32] {
    (0..<parameters.count).map { parameters.values[$0].bitPattern }
}

/// nil when the two are equal, else where they first differ (a short message, not the arrays).
func firstDifference(_ a: [UInt32], _ b: [UInt32]) -> String? {
    if a == b { return nil }
    guard a.count == b.count else { return "\(a.count) vs \(b.count) values" }
    let i = a.indices.first { a[$0] != b[$0] }!
    return "first difference at float \(i): \(Float(bitPattern: a[i])) vs \(Float(bitPattern: b[i]))"
}

@Suite struct TrainerTests {
    @Test func fiftyStepsLowerTheLoss() throws {
        let scratch = try TemporaryDirectory("trainer")
        let data = try TinyCorpus.write(into: scratch.file("corpus")), run = scratch.file("run")
        let config = try TinyModel.config()
        var options = tinyOptions(data: data, steps: 50)
        options.validateEvery = 50
        options.checkpointEvery = 50
        let trainer = try Trainer(runDirectory: run, options: options, config: config, parameters: TinyModel.parameters(config),
                                  context: ComputeContext(threads: 2))
        var trainLosses: [Double] = []
        try trainer.run { event in if case .step(let m) = event { trainLosses.append(m.loss) } }
        #expect(trainLosses.count == 50)
        let first = trainLosses.prefix(5).reduce(0, +) / 5, last = trainLosses.suffix(5).reduce(0, +) / 5
        #expect(last < first - 1.0, "mean loss of the first 5 steps \(first), of the last 5 \(last)")
        #expect(trainer.state.lastValidationBitsPerByte.map { $0 < first / log(2) } == true)
    }

    @Test func stoppedAndResumedAtAnotherThreadCountEqualsUninterruptedRunStepForStep() throws {
        let scratch = try TemporaryDirectory("trainer")
        let data = try TinyCorpus.write(into: scratch.file("corpus"))
        let config = try TinyModel.config()
        let whole = scratch.file("whole"), split = scratch.file("split")
        let options = tinyOptions(data: data, steps: 14)
        let uninterrupted = try Trainer(runDirectory: whole, options: options, config: config,
                                        parameters: TinyModel.parameters(config), context: ComputeContext(threads: 2))
        try uninterrupted.run { _ in }

        // Stop after step 6 (the trainer checkpoints on stop), then resume with 1 thread to the end.
        let first = try Trainer(runDirectory: split, options: options, config: config, parameters: TinyModel.parameters(config),
                                context: ComputeContext(threads: 2))
        var stop = false
        first.shouldStop = { stop }
        try first.run { event in
            if case .step(let m) = event, m.step == 6 { stop = true }
        }
        #expect(first.state.step == 6)
        let resumed = try Trainer.resume(runDirectory: split, context: ComputeContext(threads: 1))
        #expect(resumed.state.step == 6)
        try resumed.run { _ in }
        #expect(try losses(whole) == losses(split))
        #expect(try losses(split).count == 14 + 3)   // 14 training lines, validation at 5, 10, 14
        #expect(firstDifference(weightBits(uninterrupted.parameters), weightBits(resumed.parameters)) == nil)
    }

    @Test func trainingAndEvaluationAreTheSameBitsForAnyThreadCount() throws {
        let scratch = try TemporaryDirectory("trainer")
        let data = try TinyCorpus.write(into: scratch.file("corpus"))
        let config = try TinyModel.config()
        var options = tinyOptions(data: data, steps: 3)
        options.validateEvery = 3
        options.checkpointEvery = 3
        var outcomes: [(losses: [String], weights: [UInt32], validation: Double?)] = []
        for threads in [1, 2, 3, 8] {
            let run = scratch.file("run-\(threads)")
            let trainer = try Trainer(runDirectory: run, options: options, config: config,
                                      parameters: TinyModel.parameters(config), context: ComputeContext(threads: threads))
            try trainer.run { _ in }
            outcomes.append((try losses(run), weightBits(trainer.parameters), trainer.state.lastValidationBitsPerByte))
        }
        for (i, threads) in [2, 3, 8].enumerated() {
            let o = outcomes[i + 1]
            #expect(o.losses == outcomes[0].losses, "losses with \(threads) threads differ from 1 thread")
            #expect(firstDifference(o.weights, outcomes[0].weights) == nil, "weights after 3 steps with \(threads) threads")
            #expect(o.validation == outcomes[0].validation, "validation BPB with \(threads) threads differs")
        }
    }

    @Test func twoTrainersAtOnceEachEqualTheirSoloRun() throws {
        let scratch = try TemporaryDirectory("trainer")
        let data = try TinyCorpus.write(into: scratch.file("corpus"))
        let config = try TinyModel.config()
        let options = tinyOptions(data: data, steps: 6)
        func trainer(_ name: String, seed: UInt64) throws -> Trainer {
            try Trainer(runDirectory: scratch.file(name), options: options, config: config,
                        parameters: TinyModel.parameters(config, seed: seed), context: ComputeContext(threads: 2))
        }
        let soloA = try trainer("solo-a", seed: 1), soloB = try trainer("solo-b", seed: 2)
        try soloA.run { _ in }
        try soloB.run { _ in }
        let a = try trainer("a", seed: 1), b = try trainer("b", seed: 2)
        try runConcurrently([{ try a.run { _ in } }, { try b.run { _ in } }])
        #expect(try losses(scratch.file("a")) == losses(scratch.file("solo-a")))
        #expect(try losses(scratch.file("b")) == losses(scratch.file("solo-b")))
        #expect(firstDifference(weightBits(a.parameters), weightBits(soloA.parameters)) == nil)
        #expect(firstDifference(weightBits(b.parameters), weightBits(soloB.parameters)) == nil)
    }

    @Test func resumeWithNewTotalContinuesTheScheduleTowardIt() throws {
        let scratch = try TemporaryDirectory("trainer")
        let data = try TinyCorpus.write(into: scratch.file("corpus")), run = scratch.file("run")
        let config = try TinyModel.config()
        var options = tinyOptions(data: data, steps: 8)
        options.learningRate = 1e-3
        options.warmupSteps = 2
        let context = ComputeContext(threads: 2)
        try Trainer(runDirectory: run, options: options, config: config, parameters: TinyModel.parameters(config),
                    context: context).run { _ in }

        // A total that is not past the step reached is refused, and nothing is changed.
        #expect(throws: TrainingError.self) { _ = try Trainer.resume(runDirectory: run, totalSteps: 6, context: context) }
        #expect(!FileManager.default.fileExists(atPath: run + "/NOTES.txt"))

        let extended = try Trainer.resume(runDirectory: run, totalSteps: 12, context: context)
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

    @Test func aRunFromAnotherRunsCheckpointRecordsItsOwnTraining() throws {
        let scratch = try TemporaryDirectory("trainer")
        let first = try TinyCorpus.write(into: scratch.file("first")), second = scratch.file("second")
        try FileManager.default.createDirectory(atPath: second, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: first + "/a.txt", toPath: second + "/a.txt")
        try FileManager.default.copyItem(atPath: first + "/b.txt", toPath: second + "/b.txt")
        let config = try TinyModel.config(), context = ComputeContext(threads: 2)
        try Trainer(runDirectory: scratch.file("run1"), options: tinyOptions(data: first, steps: 4), config: config,
                    parameters: TinyModel.parameters(config), context: context).run { _ in }
        let checkpoint = try #require(try Trainer.newestCheckpoint(in: scratch.file("run1") + "/checkpoints"))
        var (continued, parameters) = try ModelFiles.load(from: checkpoint)
        let earlier = continued.provenance
        #expect(earlier.trainingData == first && earlier.trainingSteps == 4 && (earlier.trainingBytes ?? 0) > 0)

        continued.provenance.continueTraining(from: checkpoint)   // what hat train --init-from does
        try Trainer(runDirectory: scratch.file("run2"), options: tinyOptions(data: second, steps: 2), config: continued,
                    parameters: parameters, context: context).run { _ in }
        let last = try #require(try Trainer.newestCheckpoint(in: scratch.file("run2") + "/checkpoints"))
        let recorded = try HATConfig.load(path: last + "/" + ModelFiles.configName).provenance
        #expect(recorded.trainingData == second && recorded.trainingSteps == 2, "this run's data and steps: \(recorded)")
        let notes = recorded.notes ?? ""
        #expect(notes.contains("then trained from \(checkpoint), which had 4 steps, \(earlier.trainingBytes!) bytes of \(first)"), "\(notes)")
    }

    @Test func nonFiniteLossStopsAndKeepsTheLastCheckpoint() throws {
        let scratch = try TemporaryDirectory("trainer")
        let data = try TinyCorpus.write(into: scratch.file("corpus")), run = scratch.file("run")
        let config = try TinyModel.config()
        let parameters = TinyModel.parameters(config)
        let trainer = try Trainer(runDirectory: run, options: tinyOptions(data: data, steps: 12), config: config,
                                  parameters: parameters, context: ComputeContext(threads: 2))
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
