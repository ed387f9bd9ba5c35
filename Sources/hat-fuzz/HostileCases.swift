// HostileCases: every case of the issue (items 5–8) run against the real `hat` binary, with the
// behaviour before (quoted from the issue, or measured in this work where the issue names none)
// and what the binary does now: exit status, its first line, the time. The fixtures live in a
// scratch directory $W: a tiny model, the shipped model with one config number changed, a tiny
// Hugging Face Llama (and one with a NaN), a converted backbone, runs with damaged checkpoints,
// a FIFO, and long single-line texts.

import Dispatch
import Foundation
import HATIO
import HATModel
import HATTensor

struct HostileCase: Sendable {
    var item: String
    var input: String
    var before: String
    var command: String
    var after: String
    /// False when the binary did not do what the case expects (listed in the report).
    var ok: Bool
}

final class HostileCases {
    let binary: String
    let repository: String
    let work: String
    private(set) var cases: [HostileCase] = []

    init(binary: String, repository: String, work: String) {
        self.binary = binary
        self.repository = repository
        self.work = work
    }

    // MARK: running

    /// Runs `hat arguments` and records the case; `expect` says whether the result is right.
    private func add(_ item: String, _ input: String, before: String, _ arguments: [String], directory: String? = nil,
                     shown: String? = nil, stdin: Data? = nil, timeout: Double = 60,
                     expect: (ProcessResult) -> Bool = { $0.isClearError }, note: (ProcessResult) -> String = { _ in "" }) {
        let r = Subprocess.run(binary, arguments, directory: directory, stdin: stdin, timeout: timeout)
        let command = shown ?? ("hat " + arguments.map(quoted).joined(separator: " "))
        record(item, input, before: before, command: command, r, ok: expect(r), note: note(r))
    }

    private func record(_ item: String, _ input: String, before: String, command: String, _ r: ProcessResult, ok: Bool,
                        note: String = "") {
        var after = r.signalled ? "killed by a signal" : r.timedOut ? "still running after \(Int(r.seconds)) s (killed)" : "exit \(r.status)"
        let line = r.firstLine
        if !line.isEmpty { after += ": " + line }
        if !note.isEmpty { after += "; " + note }
        after += String(format: " (%.1f s)", r.seconds)
        cases.append(HostileCase(item: item, input: input, before: before, command: command.replacingOccurrences(of: work, with: "$W"),
                                 after: after.replacingOccurrences(of: work, with: "$W"), ok: ok))
    }

    private func quoted(_ s: String) -> String {
        let safe = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=,+:@%$")
        return !s.isEmpty && s.allSatisfy { safe.contains($0) } ? s : "'" + s + "'"
    }

    private func hat(_ arguments: [String], timeout: Double = 120) -> ProcessResult {
        Subprocess.run(binary, arguments, timeout: timeout)
    }

    private func file(_ name: String) -> String { work + "/" + name }

    // MARK: fixtures

    private func prepare() throws {
        let fm = FileManager.default
        try? fm.removeItem(atPath: work)
        try fm.createDirectory(atPath: work, withIntermediateDirectories: true)
        let sentence = "It was the best of times, it was the worst of times, it was the age of wisdom, it was the age of foolishness. "
        try String(repeating: sentence, count: 40).write(toFile: file("text.txt"), atomically: true, encoding: .utf8)
        try String(repeating: sentence, count: 2000).write(toFile: file("long.txt"), atomically: true, encoding: .utf8)
        try "".write(toFile: file("empty.txt"), atomically: true, encoding: .utf8)

        // A tiny model (fresh weights of the tiny preset).
        let tiny = try HATConfig.load(path: repository + "/Models/configs/tiny.json")
        let parameters = ParameterSet(HierarchicalModel.parameterSpecs(tiny))
        var rng = RandomGenerator(seed: 1)
        HierarchicalModel.initialize(parameters, rng: &rng)
        try ModelFiles.save(config: tiny, parameters: parameters, to: file("tiny-model"))

        // The shipped model with one config number changed (weights linked, not copied).
        let shipped = repository + "/Models/default"
        let base = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: shipped + "/config.json"))) as! [String: Any]
        func hostile(_ name: String, _ change: (inout [String: Any]) -> Void) throws {
            var config = base
            var backbone = config["backbone_config"] as! [String: Any]
            change(&backbone)
            config["backbone_config"] = backbone
            try fm.createDirectory(atPath: file(name), withIntermediateDirectories: true)
            try JSONSerialization.data(withJSONObject: config, options: [.sortedKeys]).write(to: URL(fileURLWithPath: file(name) + "/config.json"))
            try fm.createSymbolicLink(atPath: file(name) + "/model.safetensors", withDestinationPath: shipped + "/model.safetensors")
        }
        try hostile("hidden-2^62") { $0["hidden_size"] = 1 << 62 }
        try hostile("rope-1e30") { $0["rope_theta"] = 1e30 }
        try hostile("hidden-1e9") { $0["hidden_size"] = 1_000_000_000 }
        try hostile("head-dim-2^40") { $0["head_dim"] = 1 << 40 }
        try hostile("intermediate-1e12") { $0["intermediate_size"] = 1_000_000_000_000 }
        try hostile("layers-1e9") { $0["num_hidden_layers"] = 1_000_000_000 }
        try hostile("llama-405b-shape") {
            $0["hidden_size"] = 16384; $0["intermediate_size"] = 53248; $0["num_hidden_layers"] = 126
            $0["num_attention_heads"] = 128; $0["num_key_value_heads"] = 8; $0["head_dim"] = 128; $0["rope_theta"] = 500000
        }

        // A tiny Hugging Face Llama, one with a NaN weight, and a converted backbone.
        let fixture = repository + "/Tests/HATIOTests/Fixtures/tiny_llama_f32"
        for name in ["hf-llama", "hf-nan"] {
            try fm.createDirectory(atPath: file(name), withIntermediateDirectories: true)
            try fm.copyItem(atPath: fixture + "/config.json", toPath: file(name) + "/config.json")
        }
        try fm.copyItem(atPath: fixture + "/model.safetensors", toPath: file("hf-llama/model.safetensors"))
        let source = try SafeTensorsFile(path: fixture + "/model.safetensors")
        let writer = try SafeTensorsWriter(path: file("hf-nan/model.safetensors"), tensors: source.tensors.map { ($0.name, $0.shape) },
                                           dtype: .f32, metadata: ["format": "pt"])
        for info in source.tensors {
            var values = try source.floats(info.name)
            if info.name == "model.layers.1.mlp.up_proj.weight" { values[5] = .nan }
            try writer.write(info.name, from: values, count: values.count)
        }
        try writer.finish()
        _ = hat(["convert-backbone", file("hf-llama"), "--out", file("backbone"), "--dtype", "f32", "--keep-token-head"])
        _ = hat(["export", file("tiny-model"), "--out", file("existing"), "--dtype", "f32"])
        try "left over".write(toFile: file("existing/stale.txt"), atomically: true, encoding: .utf8)

        // Training runs: checkpoints at steps 2 and 4.
        for run in ["run-damaged", "run-no-state", "run-half-deleted"] {
            _ = hat(["train", "--config", repository + "/Models/configs/tiny.json", "--data", file("long.txt"), "--out", file(run),
                     "--steps", run == "run-no-state" ? "2" : "4", "--checkpoint-every", "2", "--rows-per-batch", "2",
                     "--words-per-row", "16", "--max-row-bytes", "256", "--validation-fraction", "0", "--threads", "1"])
        }
        // Newest checkpoint damaged (weights cut short); the only checkpoint without state.json;
        // a newer step-* left half-deleted by a kill of an older build (no COMPLETE, files missing).
        let damaged = file("run-damaged/checkpoints/step-00000004/model.safetensors")
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: damaged))
        try handle.truncate(atOffset: 1000)
        try handle.close()
        try fm.removeItem(atPath: file("run-no-state/checkpoints/step-00000002/state.json"))
        try fm.copyItem(atPath: file("run-half-deleted/checkpoints/step-00000004"), toPath: file("run-half-deleted/checkpoints/step-00000006"))
        for name in ["COMPLETE", "state.json", "optimizer.safetensors"] {
            try fm.removeItem(atPath: file("run-half-deleted/checkpoints/step-00000006/" + name))
        }

        // Long single lines.
        let words = ["the", "cat", "sat", "on", "a", "mat", "and", "then", "went", "home", ".", ","]
        var line: [UInt8] = []
        var wordRNG = RandomGenerator(seed: 3)
        while line.count < 2_000_000 { line += Array(words[wordRNG.nextInt(below: words.count)].utf8) + [0x20] }
        try Data(line.prefix(1_000_000)).write(to: URL(fileURLWithPath: file("line-1MB.txt")))
        try Data(line.prefix(2_000_000)).write(to: URL(fileURLWithPath: file("line-2MB.txt")))
        try Data(repeating: UInt8(ascii: "a"), count: 200_000).write(to: URL(fileURLWithPath: file("word-200kB.txt")))
        try Data(repeating: UInt8(ascii: "a"), count: 30_000_000).write(to: URL(fileURLWithPath: file("word-30MB.txt")))
        var big = Data(capacity: 30_000_000)
        while big.count < 30_000_000 { big.append(contentsOf: line) }
        try big.prefix(30_000_000).write(to: URL(fileURLWithPath: file("line-30MB.txt")))
        mkfifo(file("fifo"), 0o600)
    }

    /// Feeds `text` into the FIFO from another thread while `body` runs a reader.
    private func withFIFO(_ text: String, _ body: () -> Void) {
        let path = file("fifo")
        let written = DispatchSemaphore(value: 0)
        let writer = Thread {
            let fd = open(path, O_WRONLY)           // blocks until a reader opens the FIFO
            if fd >= 0 {
                let bytes = Array(text.utf8)
                _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
                close(fd)
            }
            written.signal()
        }
        writer.start()
        body()
        // A reader that failed before opening the FIFO leaves the writer waiting: open the read end.
        if written.wait(timeout: .now() + 1) == .timedOut {
            let fd = open(path, O_RDONLY | O_NONBLOCK)
            written.wait()
            if fd >= 0 { close(fd) }
        }
    }

    // MARK: the cases

    func run(progress: (String) -> Void = { _ in }) throws -> [HostileCase] {
        try prepare()
        let tiny = file("tiny-model"), text = file("text.txt")
        let tinyPreset = ["--config", "tiny"]
        let smallTraining = ["--steps", "2", "--rows-per-batch", "2", "--words-per-row", "16", "--max-row-bytes", "256",
                             "--validation-fraction", "0", "--threads", "1"]
        func mentions(_ words: String...) -> (ProcessResult) -> Bool {
            { r in r.isClearError && words.allSatisfy { r.stderr.contains($0) } }
        }

        // Item 5: hostile numbers in config.json.
        progress("item 5")
        let segv = "SIGSEGV in SafeTensorsFile.read (Half.swift:76) under ModelFiles.readWeights"
        add("5", "config.json: backbone_config.hidden_size = 2**62", before: segv, ["info", file("hidden-2^62")],
            expect: mentions("backbone_config.hidden_size", "65536"))
        add("5", "the same model", before: segv, ["eval", "--model", file("hidden-2^62"), "--data", text],
            expect: mentions("backbone_config.hidden_size"))
        add("5", "the same model", before: segv, ["generate", "--model", file("hidden-2^62"), "--prompt", "hi"],
            expect: mentions("backbone_config.hidden_size"))
        add("5", "config.json: rope_theta = 1e30", before: "SIGILL in hat info (Info.swift:29, Float → Int)",
            ["info", file("rope-1e30")], expect: mentions("rope_theta"))
        for (name, field) in [("hidden-1e9", "hidden_size"), ("head-dim-2^40", "head_dim"),
                              ("intermediate-1e12", "intermediate_size"), ("layers-1e9", "num_hidden_layers")] {
            add("5", "config.json: backbone_config.\(field) = \(name.split(separator: "-").last!)",
                before: "\"failed to allocate\" abort or unbounded growth", ["info", file(name)],
                expect: mentions("backbone_config.\(field)"))
        }
        add("5", "config.json: a Llama 3.1 405B-sized backbone (16384 wide, FFN 53248, 126 layers) beside 7M-parameter weights",
            before: "— (the bounds must still accept it)", ["info", file("llama-405b-shape")],
            expect: mentions("do not match the config"), note: { _ in "the config is accepted; the weights are checked against it before anything is allocated" })
        add("5", "--threads 100000", before: "bounded before this work (1…256)",
            ["generate", "--model", tiny, "--prompt", "hi", "--threads", "100000"], expect: mentions("--threads"))
        add("5", "--context-words 10000000", before: "\"failed to allocate\" abort or unbounded growth",
            ["generate", "--model", tiny, "--prompt", "hi", "--context-words", "10000000"], expect: mentions("--context-words"))
        for flag in ["--words-per-row", "--max-row-bytes", "--rows-per-batch"] {
            add("5", "eval \(flag) 1e12", before: "\"failed to allocate\" abort or unbounded growth",
                ["eval", "--model", tiny, "--data", text, flag, "1000000000000"], expect: mentions(flag))
        }
        add("5", "eval --rows-per-batch 4096 --max-row-bytes 1048576 (each within its bound)", before: "—",
            ["eval", "--model", tiny, "--data", text, "--rows-per-batch", "4096", "--max-row-bytes", "1048576"],
            expect: mentions("bytes per batch"))
        add("5", "robustness --bootstrap 1e12 --batch-bytes 1e11", before: "\"failed to allocate\" abort or unbounded growth",
            ["robustness", "--model", tiny, "--data", text, "--bootstrap", "1000000000000", "--batch-bytes", "100000000000"],
            expect: mentions("--bootstrap"))
        add("5", "train --max-row-bytes 1e12", before: "\"failed to allocate\" abort or unbounded growth",
            ["train"] + tinyPreset + ["--data", text, "--out", file("run-huge"), "--max-row-bytes", "1000000000000"],
            expect: mentions("--max-row-bytes"))
        let relative = binary.hasPrefix(repository + "/") ? "./" + binary.dropFirst(repository.count + 1) : binary
        add("5", "the binary started by a ./ path, no --model", before: "SIGILL in Locations.roots (deletingLastPathComponent)",
            ["generate", "--prompt", "hi", "--max-bytes", "16", "--temperature", "0"], directory: repository,
            shown: "cd REPOSITORY && \(relative) generate --prompt hi --max-bytes 16 --temperature 0",
            expect: { $0.status == 0 }, note: { r in "printed \(r.stdout.utf8.count) bytes" })
        add("5", "the same for hat bench generate", before: "SIGILL in Locations.roots",
            ["bench", "generate", "--no-torch", "--token-model", "none", "--contexts", "10", "--bytes", "8", "--rounds", "1",
             "--also-threads", "0", "--text", text], directory: repository,
            shown: "cd REPOSITORY && \(relative) bench generate --no-torch --token-model none --contexts 10 --bytes 8 --rounds 1 --also-threads 0 --text $W/text.txt",
            timeout: 300, expect: { $0.status == 0 })

        // Item 6: nothing overwritten by surprise.
        progress("item 6")
        add("6", "--out an existing model directory", before: "silently replaces its files",
            ["export", tiny, "--out", file("existing")], expect: mentions("--force"))
        add("6", "the same with --force", before: "—", ["export", tiny, "--out", file("existing"), "--force"],
            expect: { r in r.status == 0 && !FileManager.default.fileExists(atPath: self.file("existing/stale.txt")) },
            note: { _ in "the directory was replaced whole: its stale.txt is gone" })
        add("6", "graft --out the backbone it reads", before: "overwrote the backbone, leaving a stale token_head.safetensors",
            ["graft", "--backbone", file("backbone"), "--config", "tiny", "--out", file("backbone"), "--force"],
            expect: { r in r.isClearError && FileManager.default.fileExists(atPath: self.file("backbone/token_head.safetensors")) },
            note: { _ in "refused even with --force; the backbone is untouched" })
        add("6", "convert-backbone --out an existing model directory", before: "silently replaces its files",
            ["convert-backbone", file("hf-llama"), "--out", tiny], expect: mentions("--force"))
        add("6", "convert-backbone of a checkpoint with a NaN weight", before: "writes the NaN weights, exit 0",
            ["convert-backbone", file("hf-nan"), "--out", file("nan-backbone")],
            expect: { r in r.isClearError && r.stderr.contains("model.layers.1.mlp.up_proj.weight") && r.stderr.contains("element 5")
                && !FileManager.default.fileExists(atPath: self.file("nan-backbone")) },
            note: { _ in "no output directory was left behind" })

        // Item 7: clear answers everywhere.
        progress("item 7")
        add("7", "eval of an empty file, JSON", before: "an encoding error about nan",
            ["eval", "--model", tiny, "--data", file("empty.txt"), "--json"], expect: mentions("empty"))
        add("7", "eval of an empty file, text", before: "prints nan, exit 0",
            ["eval", "--model", tiny, "--data", file("empty.txt")], expect: mentions("empty"))
        for (flag, value) in [("--learning-rate", "nan"), ("--learning-rate", "inf"), ("--clip-norm", "nan"),
                              ("--clip-norm", "-1"), ("--weight-decay", "-1")] {
            add("7", "train \(flag) \(value)", before: "not refused by name (issue item 7)",
                ["train"] + tinyPreset + ["--data", text, "--out", file("run-bad"), flag, value], expect: mentions(flag))
        }
        for value in ["nan", "inf"] {
            add("7", "repl --temperature \(value)", before: "accepted (generate rejects it)",
                ["repl", "--model", tiny, "--temperature", value], stdin: Data(), expect: mentions("temperature"))
        }
        add("7", "a directory as the input file", before: "raw Foundation error (NSCocoaErrorDomain …)",
            ["perturb", "-p", "upper", work], expect: mentions("directory"))
        add("7", "a directory as the prompt file", before: "raw Foundation error (NSCocoaErrorDomain …)",
            ["generate", "--model", tiny, "--prompt-file", work], expect: mentions("directory"))
        add("7", "a directory to segment", before: "raw Foundation error (NSCocoaErrorDomain …)",
            ["segment", work], expect: mentions("directory"))
        add("7", "an existing file as --out (export)", before: "raw Foundation error (NSCocoaErrorDomain …)",
            ["export", tiny, "--out", text], expect: mentions("not a directory"))
        add("7", "an existing file as --out (train)", before: "raw Foundation error (NSCocoaErrorDomain …)",
            ["train"] + tinyPreset + ["--data", text, "--out", text], expect: mentions("not a directory"))
        add("7", "resume a run whose only checkpoint lacks state.json", before: "raw Foundation error (NSCocoaErrorDomain …)",
            ["train", "--resume", file("run-no-state")], expect: mentions("state.json"))
        add("7", "--max-bytes -1", before: "read as a missing value (\"Missing value for '--max-bytes'\")",
            ["generate", "--model", tiny, "--prompt", "hi", "--max-bytes", "-1"], expect: mentions("--max-bytes", "-1"))
        add("7", "--config tiny from outside the repository", before: "preset not found outside the repository root",
            ["train"] + tinyPreset + ["--data", text, "--out", file("run-anywhere")] + smallTraining, directory: "/",
            shown: "cd / && hat train --config tiny --data $W/text.txt --out $W/run-anywhere " + smallTraining.joined(separator: " "),
            expect: { $0.status == 0 }, note: { _ in "the preset is found from /proc/self/exe" })
        let fifoCases: [(String, [String])] = [
            ("eval --data FIFO", ["eval", "--model", tiny, "--data", file("fifo"), "--json"]),
            ("segment FIFO", ["segment", "--stats", file("fifo")]),
            ("perturb FIFO", ["perturb", "-p", "upper", "--rate", "1", file("fifo")]),
            ("generate --prompt-file FIFO", ["generate", "--model", tiny, "--prompt-file", file("fifo"), "--max-bytes", "8"]),
        ]
        for (name, arguments) in fifoCases {
            withFIFO(String(repeating: "Call me Ishmael. ", count: 50)) {
                add("7", name + " (a named pipe)", before: "not readable by every command that reads text", arguments,
                    expect: { $0.status == 0 })
            }
        }
        add("7", "resume when the newest checkpoint is damaged", before: "— (the issue asks for a fallback that says so)",
            ["train", "--resume", file("run-damaged"), "--steps", "6"],
            expect: { r in r.status == 0 && r.stderr.contains("step-00000004 is damaged") },
            note: { r in r.stdout.contains("resuming at step 2") ? "resumed at step 2" : "did not resume at step 2" })
        add("7", "a step-* directory left half-deleted (no COMPLETE marker)", before: "looked complete",
            ["train", "--resume", file("run-half-deleted"), "--steps", "6"],
            expect: { r in r.status == 0 && r.stdout.contains("resuming at step 4") },
            note: { r in r.stdout.contains("resuming at step 4") ? "step-00000006 is not taken as a checkpoint; resumed at step 4" : "" })
        progress("interrupts")
        cases.append(interrupted(["train"] + tinyPreset + ["--data", file("long.txt"), "--out", file("run-interrupted"),
                                                           "--steps", "100000", "--rows-per-batch", "2", "--words-per-row", "16",
                                                           "--max-row-bytes", "256", "--validation-fraction", "0"],
                                 ready: { FileManager.default.fileExists(atPath: self.file("run-interrupted/metrics.jsonl")) }))
        cases.append(interrupted(["robustness", "--model", tiny, "--data", file("long.txt"), "--samples", "200",
                                  "--out", file("robustness-interrupted")],
                                 ready: { true }, delay: 1.5))

        // Item 8: long inputs.
        progress("item 8")
        add("8", "perturb -p delete of one 200 kB word", before: "found in this work: over 60 s (killed), quadratic in the word",
            ["perturb", "-p", "delete", "--rate", "1", file("word-200kB.txt")], expect: { $0.status == 0 })
        add("8", "perturb -p delete of one 30 MB word", before: "found in this work: hours (quadratic)",
            ["perturb", "-p", "delete", "--rate", "1", file("word-30MB.txt")], timeout: 300, expect: { $0.status == 0 })
        add("8", "segment --stats of a 30 MB single line", before: "—",
            ["segment", "--stats", file("line-30MB.txt")], timeout: 300, expect: { $0.status == 0 })
        for size in ["1MB", "2MB"] {
            add("8", "eval of a \(size) single line (tiny model)", before: "30 MB: over 40 minutes with no sign of life",
                ["eval", "--model", tiny, "--data", file("line-\(size).txt"), "--json"], timeout: 600, expect: { $0.status == 0 },
                note: { r in (r.stdout.range(of: "\"seconds\":[0-9.]+", options: .regularExpression).map { String(r.stdout[$0]) } ?? "") })
        }
        // Progress on a terminal: run under script(1), which gives the command a pseudo-terminal.
        let shown = "hat eval --model $W/tiny-model --data $W/line-1MB.txt (on a terminal)"
        let r = Subprocess.run("/usr/bin/script", ["-qec", "\(binary) eval --model \(tiny) --data \(file("line-1MB.txt"))", "/dev/null"],
                               timeout: 600)
        var quiet = r
        quiet.stdout = r.stdout.contains("evaluating:") ? "" : r.stdout
        record("8", "eval on a terminal", before: "no sign of life", command: shown, quiet,
               ok: r.status == 0 && r.stdout.contains("evaluating:"),
               note: r.stdout.contains("evaluating:") ? "a progress line (\"evaluating: N/M rows\") was redrawn on the terminal" : "no progress line")
        return cases
    }

    /// Starts `arguments`, sends SIGINT once `ready()` (and `delay`), and expects exit status 130.
    private func interrupted(_ arguments: [String], ready: @escaping () -> Bool, delay: Double = 0.5) -> HostileCase {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        let err = Pipe()
        process.standardError = err
        let start = Date()
        try? process.run()
        while process.isRunning && !ready() && Date().timeIntervalSince(start) < 60 { usleep(20_000) }
        usleep(useconds_t(delay * 1e6))
        let wasRunning = process.isRunning
        kill(process.processIdentifier, SIGINT)
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        let last = stderr.split(separator: "\n").last.map(String.init) ?? ""
        let after = "exit \(process.terminationStatus)\(last.isEmpty ? "" : ": " + last)"
        return HostileCase(item: "7", input: "SIGINT during hat \(arguments[0])",
                           before: "no common exit status for an interrupted train and robustness",
                           command: ("hat " + arguments.map(quoted).joined(separator: " ") + "   # then Ctrl-C").replacingOccurrences(of: work, with: "$W"),
                           after: after.replacingOccurrences(of: work, with: "$W") + (wasRunning ? "" : " (had finished before the signal)"),
                           ok: wasRunning && process.terminationStatus == 130)
    }
}
