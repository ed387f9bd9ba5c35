// The `hat` binary against the hostile inputs (items 5–7): huge or non-finite flags and
// config numbers are refused by name with their limit; the binary started by a ./ path finds the
// default model and presets from any directory; --out never replaces a non-empty directory
// without --force nor an input ever, and --force replaces it whole; empty inputs, directories
// and existing files get one clear line; FIFOs are read; a damaged newest checkpoint is passed
// over with a note; SIGINT ends train and robustness with status 130.

import Foundation
import HATIO
import HATModel
import HATTensor
import HATTestSupport
import Testing

/// A clear refusal: a status from ArgumentParser or our own errors, an "Error:" line naming `words`.
func expectClearError(_ run: Run, _ words: [String], _ context: String, status: Int32? = nil) {
    #expect(run.status != 0 && run.status < 128, "\(context): status \(run.status)")
    if let status { #expect(run.status == status, "\(context): status \(run.status), expected \(status): \(run.stderr)") }
    #expect(run.stderr.contains("Error:") && !run.stderr.contains("Fatal error") && !run.stderr.contains("NSCocoaErrorDomain"),
            "\(context): \(run.stderr)")
    for word in words { #expect(run.stderr.contains(word), "\(context): should mention \(word): \(run.stderr)") }
}

/// A tiny model directory (fresh weights of the tiny preset) in `directory`.
func writeTinyModel(_ directory: String, _ adjust: (inout HATConfig) -> Void = { _ in }) throws {
    let config = try TinyModel.config()
    try ModelFiles.save(config: config, parameters: TinyModel.parameters(config), to: directory)
    var changed = config
    adjust(&changed)
    try changed.encoded().write(to: URL(fileURLWithPath: directory + "/config.json"))
}

/// Runs `hat arguments` while another thread writes `text` into the FIFO at `path`.
func withFIFO(_ path: String, _ text: String, _ arguments: [String]) throws -> Run {
    let writer = Thread {
        let fd = open(path, O_WRONLY)
        if fd >= 0 {
            _ = Array(text.utf8).withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            close(fd)
        }
    }
    writer.start()
    return try hat(arguments)
}

@Suite(.serialized) struct HostileFlags {
    static let tooLong = String(repeating: "x", count: 5000)

    @Test(arguments: [
        (["generate", "--prompt", "hi", "--threads", "100000"], "--threads"),
        (["generate", "--prompt", "hi", "--context-words", "10000000"], "--context-words"),
        (["generate", "--prompt", "hi", "--max-bytes", "-1"], "--max-bytes"),
        (["generate", "--prompt", "hi", "--stop", tooLong], "--stop"),
        (["generate", "--prompt", "hi", "--temperature", "-1"], "temperature"),
        (["eval", "--data", "x.txt", "--words-per-row", "1000000000000"], "--words-per-row"),
        (["eval", "--data", "x.txt", "--max-row-bytes", "1000000000000"], "--max-row-bytes"),
        (["eval", "--data", "x.txt", "--rows-per-batch", "1000000000000"], "--rows-per-batch"),
        (["eval", "--data", "x.txt", "--rows-per-batch", "4096", "--max-row-bytes", "1048576"], "bytes per batch"),
        (["robustness", "--data", "x.txt", "--bootstrap", "1000000000000", "--batch-bytes", "100000000000"], "--bootstrap"),
        (["robustness", "--data", "x.txt", "--batch-bytes", "100000000000"], "--batch-bytes"),
        (["train", "--config", "tiny", "--data", "x.txt", "--out", "/tmp/x", "--max-row-bytes", "1000000000000"], "--max-row-bytes"),
        (["train", "--config", "tiny", "--data", "x.txt", "--out", "/tmp/x", "--learning-rate", "nan"], "--learning-rate"),
        (["train", "--config", "tiny", "--data", "x.txt", "--out", "/tmp/x", "--learning-rate", "inf"], "--learning-rate"),
        (["train", "--config", "tiny", "--data", "x.txt", "--out", "/tmp/x", "--clip-norm", "nan"], "--clip-norm"),
        (["train", "--config", "tiny", "--data", "x.txt", "--out", "/tmp/x", "--clip-norm", "-1"], "--clip-norm"),
        (["train", "--config", "tiny", "--data", "x.txt", "--out", "/tmp/x", "--weight-decay", "-1"], "--weight-decay"),
        (["repl", "--temperature", "nan"], "temperature"),
        (["repl", "--temperature", "inf"], "temperature"),
        (["report", "train", "/nonexistent/run", "--smooth", "0"], "--smooth"),
        (["bench", "blas", "--m", "0"], "--m"),
    ])
    func areRefusedByNameWithTheirRange(_ arguments: [String], _ flag: String) throws {
        expectClearError(try hat(arguments), [flag], arguments.prefix(8).joined(separator: " "), status: 64)
    }

    @Test func hostileConfigNumbersAreRefusedByEveryCommand() throws {
        let cases: [(String, (inout HATConfig) -> Void)] = [
            ("hidden_size", { $0.backboneConfig.hiddenSize = 1 << 62 }),
            ("rope_theta", { $0.backboneConfig.ropeTheta = 1e30 }),
            ("head_dim", { $0.backboneConfig.headDim = 1 << 40 }),
            ("intermediate_size", { $0.backboneConfig.intermediateSize = 1_000_000_000_000 }),
            ("num_hidden_layers", { $0.backboneConfig.numHiddenLayers = 1_000_000_000 }),
        ]
        let scratch = try TemporaryDirectory("hostile-config")
        try "some text to read".write(toFile: scratch.file("text.txt"), atomically: true, encoding: .utf8)
        for (field, change) in cases {
            let model = scratch.file(field)
            try writeTinyModel(model, change)
            for arguments in [["info", model], ["eval", "--model", model, "--data", scratch.file("text.txt")],
                              ["generate", "--model", model, "--prompt", "hi"]] {
                expectClearError(try hat(arguments), ["backbone_config." + field], "\(arguments[0]) with \(field)")
            }
        }
    }
}

@Suite(.serialized) struct WhereThingsAre {
    /// `./release/hat info` from the build directory: no --model, so the default model is looked
    /// up from the binary's place (a relative argv[0] used to trap in Locations.roots).
    @Test func aRelativelyStartedBinaryFindsTheDefaultModel() throws {
        let release = URL(fileURLWithPath: hatBinary).deletingLastPathComponent()
        let parent = release.deletingLastPathComponent().path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", "cd '\(parent)' && ./\(release.lastPathComponent)/hat info"]
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0 && text.contains("Models/smollm2-hat"), "status \(process.terminationStatus): \(text)")
    }

    @Test func presetsAreFoundFromAnyDirectory() throws {
        let scratch = try TemporaryDirectory("anywhere")
        try String(repeating: "It was the best of times, it was the worst of times. ", count: 40)
            .write(toFile: scratch.file("text.txt"), atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: hatBinary)
        process.currentDirectoryURL = URL(fileURLWithPath: "/")
        process.arguments = ["train", "--config", "tiny", "--data", scratch.file("text.txt"), "--out", scratch.file("run"),
                             "--steps", "1", "--rows-per-batch", "2", "--words-per-row", "16", "--max-row-bytes", "256",
                             "--validation-fraction", "0", "--threads", "1"]
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        #expect(FileManager.default.fileExists(atPath: scratch.file("run/checkpoints/step-00000001/COMPLETE")))
    }
}

@Suite(.serialized) struct OutputsAreProtected {
    @Test func exportGraftAndConvertRefuseAnExistingDirectoryAndForceReplacesItWhole() throws {
        let scratch = try TemporaryDirectory("outputs")
        let model = scratch.file("model"), existing = scratch.file("existing"), backbone = scratch.file("backbone")
        try writeTinyModel(model)
        try writeTinyModel(existing)
        try "stale".write(toFile: existing + "/stale.txt", atomically: true, encoding: .utf8)
        expectClearError(try hat(["export", model, "--out", existing]), ["--force", "stale.txt"], "export onto a model", status: 64)
        #expect(try hat(["export", model, "--out", existing, "--force"]).status == 0)
        #expect(!FileManager.default.fileExists(atPath: existing + "/stale.txt"), "--force replaced the directory whole")
        expectClearError(try hat(["export", model, "--out", model, "--force"]), ["input"], "export onto its source", status: 64)
        expectClearError(try hat(["export", model, "--out", scratch.file("fetch-only"), "--backbone-fetch", "x"]), ["--backbone-source"],
                         "a fetch command without a source", status: 64)
        let gguf = TinyModel.repositoryRoot + "/Tests/HATIOTests/Fixtures/tiny_llama.gguf"
        expectClearError(try hat(["export", model, "--out", scratch.file("not-grafted"), "--backbone-source", gguf]),
                         ["backbone.layers.0", "[48"], "a backbone that is not the file's")
        #expect(!FileManager.default.fileExists(atPath: scratch.file("not-grafted")), "nothing written")

        let fixture = TinyModel.repositoryRoot + "/Tests/HATIOTests/Fixtures/tiny_llama_f32"
        #expect(try hat(["convert-backbone", fixture, "--out", backbone, "--dtype", "f32", "--keep-token-head"]).status == 0)
        expectClearError(try hat(["convert-backbone", fixture, "--out", existing]), ["--force"], "convert onto a model", status: 64)
        expectClearError(try hat(["graft", "--backbone", backbone, "--config", "tiny", "--out", backbone, "--force"]), ["input"],
                         "graft onto its backbone", status: 64)
        #expect(FileManager.default.fileExists(atPath: backbone + "/token_head.safetensors"), "the backbone is untouched")
        #expect(try hat(["graft", "--backbone", backbone, "--config", "tiny", "--out", scratch.file("grafted")]).status == 0)
    }

    @Test func convertRefusesANaNWeightAndWritesNothing() throws {
        let scratch = try TemporaryDirectory("nan")
        let fixture = TinyModel.repositoryRoot + "/Tests/HATIOTests/Fixtures/tiny_llama_f32", source = scratch.file("source")
        try FileManager.default.createDirectory(atPath: source, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: fixture + "/config.json", toPath: source + "/config.json")
        let file = try SafeTensorsFile(path: fixture + "/model.safetensors")
        let writer = try SafeTensorsWriter(path: source + "/model.safetensors", tensors: file.tensors.map { ($0.name, $0.shape) }, dtype: .f32)
        for info in file.tensors {
            var values = try file.floats(info.name)
            if info.name == "model.layers.0.mlp.down_proj.weight" { values[3] = .nan }
            try writer.write(info.name, from: values, count: values.count)
        }
        try writer.finish()
        expectClearError(try hat(["convert-backbone", source, "--out", scratch.file("out")]),
                         ["model.layers.0.mlp.down_proj.weight", "element 3"], "convert with a NaN")
        #expect(!FileManager.default.fileExists(atPath: scratch.file("out")))
    }
}

@Suite(.serialized) struct ClearAnswers {
    @Test func emptyFilesDirectoriesAndFilesAsOutputGetOneClearLine() throws {
        let scratch = try TemporaryDirectory("clear")
        let model = scratch.file("model"), empty = scratch.file("empty.txt"), text = scratch.file("text.txt")
        try writeTinyModel(model)
        try "".write(toFile: empty, atomically: true, encoding: .utf8)
        try "It was the best of times.".write(toFile: text, atomically: true, encoding: .utf8)
        expectClearError(try hat(["eval", "--model", model, "--data", empty]), ["empty"], "eval of an empty file")
        expectClearError(try hat(["eval", "--model", model, "--data", empty, "--json"]), ["empty"], "eval --json of an empty file")
        expectClearError(try hat(["perturb", "-p", "upper", scratch.path]), ["directory"], "perturb a directory")
        expectClearError(try hat(["segment", scratch.path]), ["directory"], "segment a directory")
        expectClearError(try hat(["generate", "--model", model, "--prompt-file", scratch.path]), ["directory"], "prompt file a directory")
        expectClearError(try hat(["export", model, "--out", text]), ["not a directory"], "export onto a file")
        expectClearError(try hat(["train", "--config", "tiny", "--data", text, "--out", text]), ["not a directory"], "train onto a file")
        expectClearError(try hat(["info", text]), ["not a model directory"], "info of a file")
    }

    @Test func namedPipesAreReadByEveryCommandThatReadsText() throws {
        let scratch = try TemporaryDirectory("fifo")
        let model = scratch.file("model"), fifo = scratch.file("pipe")
        try writeTinyModel(model)
        #expect(mkfifo(fifo, 0o600) == 0)
        let text = String(repeating: "Call me Ishmael. ", count: 40)
        let stats = try withFIFO(fifo, text, ["segment", "--stats", fifo])
        #expect(stats.status == 0 && stats.text.contains("bytes:          \(text.utf8.count)"), "\(stats.text) \(stats.stderr)")
        let upper = try withFIFO(fifo, text, ["perturb", "-p", "upper", "--rate", "1", fifo])
        #expect(upper.status == 0 && upper.text == text.uppercased(), "\(upper.stderr)")
        let eval = try withFIFO(fifo, text, ["eval", "--model", model, "--data", fifo, "--json"])
        #expect(eval.status == 0 && eval.text.contains("\"bytes\":\(text.utf8.count + 1)"), "\(eval.text) \(eval.stderr)")
        let generate = try withFIFO(fifo, text, ["generate", "--model", model, "--prompt-file", fifo, "--max-bytes", "4", "--json"])
        #expect(generate.status == 0 && generate.text.contains("\"prompt_bytes\":\(text.utf8.count)"), "\(generate.text) \(generate.stderr)")
    }

    @Test func helpStatesTheExitStatusOfAnInterruptedRun() throws {
        #expect(try hat(["--help"]).text.contains("130"))
        #expect(try hat(["train", "--help"]).text.contains("130"))
    }
}

@Suite(.serialized) struct Interruptions {
    /// Starts `arguments`, waits until `ready(stderr so far)`, sends SIGINT and returns the exit status.
    func interrupt(_ arguments: [String], ready: (String) -> Bool) throws -> Int32 {
        final class Collected: @unchecked Sendable {
            let lock = NSLock()
            var text = ""
        }
        let collected = Collected()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: hatBinary)
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        let err = Pipe()
        process.standardError = err
        err.fileHandleForReading.readabilityHandler = { handle in
            let chunk = String(decoding: handle.availableData, as: UTF8.self)
            collected.lock.lock(); collected.text += chunk; collected.lock.unlock()
        }
        try process.run()
        let deadline = Date().addingTimeInterval(120)
        func stderr() -> String { collected.lock.lock(); defer { collected.lock.unlock() }; return collected.text }
        while process.isRunning && !ready(stderr()) && Date() < deadline { usleep(10_000) }
        usleep(300_000)
        #expect(process.isRunning, "\(arguments[0]) finished before it could be interrupted: \(stderr())")
        kill(process.processIdentifier, SIGINT)
        process.waitUntilExit()
        err.fileHandleForReading.readabilityHandler = nil
        #expect(process.terminationReason == .exit, "\(arguments[0]) was killed by the signal: \(stderr())")
        return process.terminationStatus
    }

    @Test func trainAndRobustnessExitWith130AfterSavingWhatTheyHave() throws {
        let scratch = try TemporaryDirectory("interrupt")
        let model = scratch.file("model"), text = scratch.file("text.txt"), run = scratch.file("run")
        try writeTinyModel(model)
        try String(repeating: "It was the best of times, it was the worst of times, it was the age of wisdom. ", count: 400)
            .write(toFile: text, atomically: true, encoding: .utf8)
        let train = try interrupt(["train", "--config", "tiny", "--data", text, "--out", run, "--steps", "5000",
                                   "--rows-per-batch", "2", "--words-per-row", "16", "--max-row-bytes", "256",
                                   "--validation-fraction", "0", "--threads", "1"]) { _ in
            FileManager.default.fileExists(atPath: run + "/metrics.jsonl")
        }
        #expect(train == 130)
        #expect(!Trainer.completeCheckpoints(in: run + "/checkpoints").isEmpty, "a checkpoint was saved")

        let out = scratch.file("robustness")
        let robustness = try interrupt(["robustness", "--model", model, "--data", text, "--samples", "100",
                                        "--out", out, "--threads", "1"]) { stderr in
            stderr.contains("conditions:")      // printed as the run starts scoring, its Ctrl-C handler set
        }
        #expect(robustness == 130)
    }

    @Test func aDamagedNewestCheckpointIsPassedOverWithANote() throws {
        let scratch = try TemporaryDirectory("damaged")
        let text = scratch.file("text.txt"), run = scratch.file("run")
        try String(repeating: "It was the best of times, it was the worst of times. ", count: 200)
            .write(toFile: text, atomically: true, encoding: .utf8)
        let common = ["--rows-per-batch", "2", "--words-per-row", "16", "--max-row-bytes", "256", "--validation-fraction", "0",
                      "--threads", "1"]
        #expect(try hat(["train", "--config", "tiny", "--data", text, "--out", run, "--steps", "4", "--checkpoint-every", "2"] + common)
            .status == 0)
        try FileManager.default.removeItem(atPath: run + "/checkpoints/step-00000004/optimizer.safetensors")
        let resumed = try hat(["train", "--resume", run, "--steps", "6"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(resumed.stderr.contains("step-00000004 is damaged") && resumed.text.contains("resuming at step 2"),
                "\(resumed.stderr) \(resumed.text)")
    }
}
