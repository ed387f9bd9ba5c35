// Damaged and half-deleted checkpoints (issue item 7): resume takes the newest checkpoint that
// loads, says which newer ones it passed over and notes them in NOTES.txt; a checkpoint is
// complete only with its COMPLETE marker (or, from older builds, all four files), so a step-*
// directory a kill left half-deleted is never taken; pruning renames before it removes and
// finishes removals a kill interrupted; a run with no intact checkpoint is one clear error.

import Foundation
@testable import HATModel
import HATTensor
import HATTestSupport
import Testing

@Suite struct Checkpoints {
    /// A tiny run with checkpoints at steps 2 and 4 (keeping both).
    func run(_ scratch: TemporaryDirectory) throws -> String {
        let data = try TinyCorpus.write(into: scratch.file("corpus")), run = scratch.file("run")
        var options = tinyOptions(data: data, steps: 4)
        options.checkpointEvery = 2
        options.keepCheckpoints = 3
        options.validationFraction = 0
        let config = try TinyModel.config()
        try Trainer(runDirectory: run, options: options, config: config, parameters: TinyModel.parameters(config),
                    context: ComputeContext(threads: 1)).run { _ in }
        return run
    }

    func names(_ run: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: run + "/checkpoints")) ?? []).sorted()
    }

    @Test func resumeFallsBackToTheNewestIntactCheckpointAndSaysSo() throws {
        let scratch = try TemporaryDirectory("checkpoints")
        let run = try run(scratch)
        #expect(names(run) == ["step-00000002", "step-00000004"])
        for name in names(run) {
            #expect(FileManager.default.fileExists(atPath: "\(run)/checkpoints/\(name)/\(Trainer.completeMarker)"))
        }
        let weights = run + "/checkpoints/step-00000004/model.safetensors"
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: weights))
        try handle.truncate(atOffset: 500)
        try handle.close()
        let trainer = try Trainer.resume(runDirectory: run, totalSteps: 6, context: ComputeContext(threads: 1))
        #expect(trainer.state.step == 2)
        #expect(trainer.passedOverCheckpoints.count == 1 && trainer.passedOverCheckpoints[0].contains("step-00000004 is damaged"),
                "\(trainer.passedOverCheckpoints)")
        let notes = try String(contentsOfFile: run + "/NOTES.txt", encoding: .utf8)
        #expect(notes.contains("resumed from step-00000002") && notes.contains("step-00000004 is damaged"), "\(notes)")
    }

    @Test func aHalfDeletedDirectoryIsNotACheckpoint() throws {
        let scratch = try TemporaryDirectory("checkpoints")
        let run = try run(scratch)
        let fm = FileManager.default
        // What a kill during a removal by an older build left: a newer step-* with files missing.
        try fm.copyItem(atPath: run + "/checkpoints/step-00000004", toPath: run + "/checkpoints/step-00000006")
        try fm.removeItem(atPath: run + "/checkpoints/step-00000006/\(Trainer.completeMarker)")
        try fm.removeItem(atPath: run + "/checkpoints/step-00000006/state.json")
        #expect(Trainer.completeCheckpoints(in: run + "/checkpoints").map { ($0 as NSString).lastPathComponent }
                == ["step-00000002", "step-00000004"])
        let trainer = try Trainer.resume(runDirectory: run, totalSteps: 8, context: ComputeContext(threads: 1))
        #expect(trainer.state.step == 4 && trainer.passedOverCheckpoints.isEmpty)
    }

    @Test func pruningRenamesFirstAndFinishesInterruptedRemovals() throws {
        let scratch = try TemporaryDirectory("checkpoints")
        let run = try run(scratch)
        let fm = FileManager.default
        // A removal a kill interrupted: the renamed directory is left, half-empty.
        try fm.copyItem(atPath: run + "/checkpoints/step-00000002", toPath: run + "/checkpoints/.deleting-step-00000000")
        try Trainer.remove(checkpoint: "step-00000002", in: run + "/checkpoints")
        #expect(names(run) == [".deleting-step-00000000", "step-00000004"])
        let trainer = try Trainer.resume(runDirectory: run, totalSteps: 6, context: ComputeContext(threads: 1))
        try trainer.saveCheckpoint()
        #expect(names(run) == ["step-00000004"], "saving finished the interrupted removal: \(names(run))")
    }

    @Test func noIntactCheckpointIsOneClearError() throws {
        let scratch = try TemporaryDirectory("checkpoints")
        let run = try run(scratch)
        for name in names(run) { try FileManager.default.removeItem(atPath: "\(run)/checkpoints/\(name)/state.json") }
        let error = try #require(throws: TrainingError.self) {
            try Trainer.resume(runDirectory: run, context: ComputeContext(threads: 1))
        }
        #expect("\(error)".contains("no intact checkpoint") && "\(error)".contains("state.json is missing"), "\(error)")
    }

    @Test func aDamagedStateIsRefusedBeforeItIsUsed() throws {
        let scratch = try TemporaryDirectory("checkpoints")
        let run = try run(scratch)
        let path = run + "/checkpoints/step-00000004/state.json"
        var state = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as! [String: Any]
        state["cursor"] = -5
        try JSONSerialization.data(withJSONObject: state).write(to: URL(fileURLWithPath: path))
        let error = try #require(throws: TrainingError.self) {
            try Trainer.resume(runDirectory: run, context: ComputeContext(threads: 1))
        }
        #expect("\(error)".contains("cursor = -5"), "\(error)")
    }
}
