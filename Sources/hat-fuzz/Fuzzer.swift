// Fuzzer: runs seeded hostile inputs through the library entry points in-process — config
// decoding and validation with the memory plans a loader computes next, model directory
// loading, safetensors and GGUF header parsing (and reading every tensor of a file that parses),
// and parsing plus validation of every flag of every command (ArgumentParser's parseAsRoot;
// nothing runs). Every input must end in a clean, typed error or be accepted; a trap ends the
// process, and an input that takes more than `hangSeconds` is counted as a hang.

import ArgumentParser
import Dispatch
import Foundation
import HATGenerate
import HATIO
import HATModel
import HATTensor
import hat

enum InputKind: String, CaseIterable, Sendable {
    case hatConfig = "config.json of a HAT model (decode, validate, memory plans)"
    case llamaConfig = "config.json of a Hugging Face Llama (convert-backbone)"
    case backboneConfig = "config.json of a converted backbone (graft)"
    case modelDirectory = "model directory (config.json + model.safetensors)"
    case safetensors = "safetensors file (header, then every tensor)"
    case gguf = "GGUF file (header, every tensor, Llama config, conversion plan)"
    case flags = "command-line flags of every command (parse + validate)"

    /// Share of the inputs of a run.
    var share: Double {
        switch self {
        case .hatConfig: 0.2
        case .llamaConfig, .backboneConfig: 0.08
        case .modelDirectory: 0.1
        case .safetensors, .gguf: 0.12
        case .flags: 0.3
        }
    }
}

struct KindCounts: Sendable {
    var inputs = 0
    var cleanErrors = 0
    var accepted = 0
    var hangs = 0
    var slowestSeconds = 0.0
    /// Error types seen, with counts (what "clean" was).
    var errorTypes: [String: Int] = [:]
}

final class Fuzzer {
    static let hangSeconds = 5.0

    private var rng: RandomGenerator
    let scratch: String
    private let commands: [FlagCommand]
    private let tinyConfig: HATConfig

    /// `scratch`: a directory for the files inputs are written to (created; emptied by the caller).
    init(seed: UInt64, scratch: String) throws {
        rng = RandomGenerator(seed: seed)
        self.scratch = scratch
        let fm = FileManager.default
        for sub in ["model", "hf", "backbone", "files"] {
            try fm.createDirectory(atPath: scratch + "/" + sub, withIntermediateDirectories: true)
        }
        // The model directory seed: tiny weights for ConfigSeeds.tiny.
        tinyConfig = try HATConfig.decode(Data(ConfigSeeds.tiny.text.utf8), source: "seed")
        let parameters = ParameterSet(HierarchicalModel.parameterSpecs(tinyConfig))
        var init_rng = RandomGenerator(seed: seed)
        HierarchicalModel.initialize(parameters, rng: &init_rng)
        try ModelFiles.save(config: tinyConfig, parameters: parameters, to: scratch + "/model")
        try Data("hello world".utf8).write(to: URL(fileURLWithPath: scratch + "/files/text.txt"))
        commands = try FlagCommand.all(scratch: scratch)
    }

    /// Runs `total` inputs, shared among the kinds; `progress(done)` now and then.
    func run(total: Int, progress: (Int, [InputKind: KindCounts]) -> Void = { _, _ in }) -> [InputKind: KindCounts] {
        var counts: [InputKind: KindCounts] = [:]
        var plan: [InputKind] = []
        for kind in InputKind.allCases {
            plan += Array(repeating: kind, count: Int((Double(total) * kind.share).rounded()))
        }
        while plan.count < total { plan.append(.flags) }
        plan = Array(plan.prefix(total))
        plan.shuffle(using: &rng)
        for (k, kind) in plan.enumerated() {
            let start = DispatchTime.now().uptimeNanoseconds
            var c = counts[kind] ?? KindCounts()
            do {
                try input(kind)
                c.accepted += 1
            } catch {
                c.cleanErrors += 1
                c.errorTypes[Fuzzer.describe(error, kind), default: 0] += 1
            }
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            c.inputs += 1
            c.slowestSeconds = max(c.slowestSeconds, seconds)
            if seconds > Fuzzer.hangSeconds { c.hangs += 1 }
            counts[kind] = c
            if (k + 1) % 10_000 == 0 { progress(k + 1, counts) }
        }
        return counts
    }

    /// The type of a clean error; for flags, how hat would end (ArgumentParser's errors are one type).
    static func describe(_ error: Error, _ kind: InputKind) -> String {
        guard kind == .flags else { return String(describing: type(of: error)) }
        let code = HAT.exitCode(for: error).rawValue
        return code == 64 ? "usage error (exit 64)" : code == 0 ? "help or version (exit 0)" : "error (exit \(code))"
    }

    /// One hostile input of `kind`: throws its clean error, or returns when it is accepted.
    func input(_ kind: InputKind) throws {
        switch kind {
        case .hatConfig:
            let seed = rng.nextInt(below: 4) == 0 ? ConfigSeeds.large : ConfigSeeds.tiny
            let config = try HATConfig.decode(Data(ConfigSeeds.mutate(seed, paths: ConfigSeeds.hatPaths, &rng).utf8), source: "fuzz")
            // What loaders compute from an accepted config before they allocate.
            try Limits.requireMemory(MemoryPlan.parameterBytes(config), for: "fuzz parameters")
            try MemoryPlan.requireBatch(config, maxBytes: 8 * 2048, maxWords: 8 * 256, threads: 2, training: true, what: "fuzz")
            _ = GenerationSession.plannedBytes(config, limits: ContextLimits(), chunkBytes: 256, threads: 2)
        case .llamaConfig:
            let path = scratch + "/hf/config.json"
            try write(ConfigSeeds.mutate(ConfigSeeds.llama, paths: ConfigSeeds.llamaPaths, &rng), to: path)
            _ = try HFCheckpoint.readConfig(path)
        case .backboneConfig:
            try write(ConfigSeeds.mutate(ConfigSeeds.backbone, paths: ConfigSeeds.backbonePaths, &rng), to: scratch + "/backbone/config.json")
            _ = try Graft.backboneConfig(directory: scratch + "/backbone")
        case .modelDirectory:
            let directory = scratch + "/model"
            if rng.nextInt(below: 4) == 0 {
                try write(ConfigSeeds.tiny.text, to: directory + "/config.json")
                try write(SafetensorsSeed.mutated(&rng), to: directory + "/damaged.safetensors")
                _ = try ModelFiles.readWeights(into: ParameterSet(HierarchicalModel.parameterSpecs(tinyConfig)),
                                               from: directory + "/damaged.safetensors")
            } else {
                try write(ConfigSeeds.mutate(ConfigSeeds.tiny, paths: ConfigSeeds.hatPaths, &rng), to: directory + "/config.json")
                _ = try ModelFiles.load(from: directory)
            }
        case .safetensors:
            let path = scratch + "/files/fuzz.safetensors"
            try write(SafetensorsSeed.mutated(&rng), to: path)
            let file = try SafeTensorsFile(path: path)
            for info in file.tensors {
                if info.dtype.isReadableAsFloat { _ = try file.floats(info.name) } else { _ = try file.rawBytes(info.name) }
            }
        case .gguf:
            let path = scratch + "/files/fuzz.gguf"
            try write(GGUFSeed.mutated(&rng), to: path)
            let file = try GGUFFile(path: path)
            for t in file.tensors where t.type.canDequantize { _ = try file.floats(t.name) }
            let checkpoint = try GGUFCheckpoint(path: path)
            _ = try BackboneConversion.plan(checkpoint)
        case .flags:
            let command = commands[rng.nextInt(below: commands.count)]
            _ = try HAT.parseAsRoot(command.arguments(&rng))
        }
    }

    private func write(_ text: String, to path: String) throws { try write(Array(text.utf8), to: path) }

    /// Replaces the file's contents (plain open/write: no temporary file, no fsync).
    private func write(_ bytes: [UInt8], to path: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw FuzzError("fuzz: cannot write \(path)") }
        defer { close(fd) }
        let written = bytes.withUnsafeBytes { Foundation.write(fd, $0.baseAddress, $0.count) }
        guard written == bytes.count else { throw FuzzError("fuzz: short write to \(path)") }
    }
}

struct FuzzError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

// MARK: - Flags

/// One leaf command of `hat` with its options and positionals, read from ArgumentParser's own
/// description of the command line (`_dumpHelp`), so every flag added later is fuzzed too.
struct FlagCommand: Sendable {
    let path: [String]
    let options: [String]
    let positionals: Int
    /// Arguments that let validation go past "missing --x" (paths into the scratch directory).
    let base: [String]

    static func all(scratch: String) throws -> [FlagCommand] {
        guard let data = HAT._dumpHelp().data(using: .utf8),
              let root = try JSONSerialization.jsonObject(with: data) as? [String: Any],
              let command = root["command"] as? [String: Any] else {
            throw FuzzError("fuzz: ArgumentParser's help dump did not parse")
        }
        var result: [FlagCommand] = []
        func walk(_ c: [String: Any], _ path: [String]) {
            let subcommands = c["subcommands"] as? [[String: Any]] ?? []
            if subcommands.isEmpty {
                var options: [String] = [], positionals = 0
                for a in c["arguments"] as? [[String: Any]] ?? [] {
                    let names = (a["names"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String }
                    let long = names.first { $0.count > 1 } ?? names.first
                    switch a["kind"] as? String {
                    case "option": if let long { options.append((long.count > 1 ? "--" : "-") + long) }
                    case "positional": positionals += 1
                    case "flag":
                        if let long, !["help", "version", "h"].contains(long) { options.append("--" + long) }
                    default: break
                    }
                }
                if !path.isEmpty { result.append(FlagCommand(path: path, options: options, positionals: positionals,
                                                             base: base(path, scratch: scratch))) }
            }
            for s in subcommands where s["commandName"] as? String != "help" { walk(s, path + [s["commandName"] as? String ?? "?"]) }
        }
        walk(command, [])
        return result
    }

    /// Arguments each command needs before its numbers are checked.
    static func base(_ path: [String], scratch: String) -> [String] {
        let text = scratch + "/files/text.txt", model = scratch + "/model", out = scratch + "/out-\(path.joined(separator: "-"))"
        switch path.joined(separator: " ") {
        case "generate": return ["--model", model, "--prompt", "hi"]
        case "eval": return ["--model", model, "--data", text]
        case "train": return ["--config", model + "/config.json", "--data", text, "--out", out]
        case "export": return [model, "--out", out]
        case "graft": return ["--backbone", scratch + "/backbone", "--config", model + "/config.json", "--out", out]
        case "convert-backbone": return [text, "--out", out]
        case "perturb": return ["-p", "upper", text]
        case "robustness": return ["--model", model, "--data", text]
        case "report train": return [scratch]
        case "report graft": return ["--run", "a=" + scratch, "--run", "b=" + scratch, "--out", scratch + "/r.md"]
        case "info": return [model]
        case "segment": return [text]
        default: return []
        }
    }

    /// The command path, its base arguments, then 1–4 options or positionals with hostile values.
    func arguments(_ rng: inout RandomGenerator) -> [String] {
        var args = path + base
        for _ in 0...rng.nextInt(below: 4) {
            let value = FlagCommand.value(&rng)
            if positionals > 0 && rng.nextInt(below: 6) == 0 {
                args.append(value)
            } else if let option = options.isEmpty ? nil : options[rng.nextInt(below: options.count)] {
                args += rng.nextInt(below: 10) == 0 ? [option] : [option, value]
            }
        }
        return args
    }

    /// Number-like and other hostile values of a flag.
    static func value(_ rng: inout RandomGenerator) -> String {
        let special = ["nan", "-nan", "inf", "-inf", "infinity", "1e309", "-1e309", "0x10", " 5", "5 ", "+5", "1_000", "१२",
                       "", "-", "--", "--json", "abc", "/", "/nonexistent/x", ".", "..", "-1", "-0", "0", "1", "2",
                       String(repeating: "9", count: 40), String(repeating: "a", count: 5000), "1,2,3", "0.05,-1", "a=b",
                       "1e-45", "3.4e38", "3.5e38", "18446744073709551615", "18446744073709551616"]
        switch rng.nextInt(below: 3) {
        case 0: return special[rng.nextInt(below: special.count)]
        case 1: return Hostile.numbers[rng.nextInt(below: Hostile.numbers.count)]
        default: return String(rng.nextInt(below: 300) - 10)
        }
    }
}
