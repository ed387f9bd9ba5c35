// hat-fuzz: a seeded fuzzer of everything `hat` reads — config.json numbers (HAT, Hugging Face
// Llama and converted-backbone configs), model directories, safetensors and GGUF headers, and
// every flag of every command — run in-process against the library entry points (Fuzzer), plus
// subprocess probes of the real binary for every flag (Probes) and the hostile cases
// (HostileCases). With --report it writes Reports/reliability.md. A trap ends the run: the
// counts printed at the end exist only if there was none. Not part of the `hat` product.
//
//   .build-rel/release/hat-fuzz --inputs 1000000 --seed 1 --hat .build-rel/release/hat --report Reports/reliability.md

import ArgumentParser
import Foundation
import HATTensor

@main
struct HatFuzz: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hat-fuzz",
        abstract: "Fuzz hat's inputs (configs, model files, flags) and probe its binary; optionally write Reports/reliability.md.")

    @Option(help: "In-process inputs in all (shared among the input kinds).") var inputs = 1_000_000
    @Option(help: "Seed of the inputs.") var seed: UInt64 = 1
    @Option(help: "The hat binary to probe (probes and hostile cases are skipped without it).") var hat: String?
    @Option(help: "Write the Markdown report here.") var report: String?
    @Option(help: "Scratch directory (default: a new one under the temporary directory, removed at the end).") var work: String?
    @Option(help: "Repository root (Models/, Tests/ fixtures).") var repository = HatFuzz.defaultRepository
    @Flag(help: "Skip the subprocess probes of every flag.") var noProbes = false
    @Flag(help: "Skip the hostile cases of the issue.") var noCases = false

    static var defaultRepository: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    }

    func run() throws {
        signal(SIGPIPE, SIG_IGN)
        let started = Date()
        let scratch = work ?? FileManager.default.temporaryDirectory.appendingPathComponent("hat-fuzz-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        defer { if work == nil { try? FileManager.default.removeItem(atPath: scratch) } }
        func say(_ s: String) { FileHandle.standardError.write(Data((s + "\n").utf8)) }

        let fuzzer = try Fuzzer(seed: seed, scratch: scratch + "/fuzz")
        let fuzzStart = Date()
        let counts = fuzzer.run(total: inputs) { done, _ in
            say(String(format: "fuzz: %d of %d inputs (%.0f s)", done, inputs, Date().timeIntervalSince(fuzzStart)))
        }
        let fuzzSeconds = Date().timeIntervalSince(fuzzStart)
        var result = ReliabilityReport(seed: seed, inputs: inputs, fuzz: counts, fuzzSeconds: fuzzSeconds)
        print(result.fuzzTable)

        if let hat {
            let binary = Locate.absolute(hat)
            if !noProbes {
                let probeStart = Date()
                let commands = try FlagCommand.all(scratch: scratch)
                let (probes, problems) = Probes.run(binary: binary, commands: commands, scratch: scratch + "/probes") { say("probes: \($0)") }
                result.probes = probes
                result.probeProblems = problems
                result.probeSeconds = Date().timeIntervalSince(probeStart)
                print(result.probeTable)
            }
            if !noCases {
                let caseStart = Date()
                result.cases = try HostileCases(binary: binary, repository: repository, work: scratch + "/cases").run { say("cases: \($0)") }
                result.caseSeconds = Date().timeIntervalSince(caseStart)
                print(result.caseTable)
            }
        }
        result.totalSeconds = Date().timeIntervalSince(started)
        if let report {
            try Data(result.markdown.utf8).write(to: URL(fileURLWithPath: report))
            say("wrote \(report)")
        }
        if !result.clean { throw ExitCode(1) }
    }
}

enum Locate {
    static func absolute(_ path: String) -> String {
        path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
    }
}
