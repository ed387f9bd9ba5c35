// Probes: the real `hat` binary started as a user would, once for every option of every command
// with each of a few hostile values. The other arguments name missing files, so a command that
// accepts the value fails fast on them and no probe does real work. Each probe must end by
// itself within 5 s with an exit status below 128 (no signal) and, when it fails, say why in
// one line starting "Error:" — never "Fatal error" or a Foundation error code.

import Dispatch
import Foundation

struct ProbeCounts: Sendable {
    var probes = 0
    var cleanErrors = 0
    var accepted = 0
    var traps = 0
    var hangs = 0
    var unclear = 0
}

/// One finished process.
struct ProcessResult: Sendable {
    var status: Int32
    var signalled: Bool
    var timedOut: Bool
    var seconds: Double
    var stdout: String
    var stderr: String

    /// The line that says what happened: the "Error:" line of standard error if there is one,
    /// else the first non-empty line of standard error, else of standard output (at most 160
    /// characters, terminal control sequences removed).
    var firstLine: String {
        func lines(_ s: String) -> [String] {
            s.replacingOccurrences(of: "\r", with: "\n").split(separator: "\n")
                .map { $0.replacingOccurrences(of: "\u{1B}[2K", with: "").trimmingCharacters(in: .whitespaces) }
                .filter { !$0.isEmpty }
        }
        let line = lines(stderr).first { $0.hasPrefix("Error:") } ?? lines(stderr).first ?? lines(stdout).first ?? ""
        return line.count > 160 ? String(line.prefix(160)) + "…" : line
    }

    /// A failure that says what went wrong in a line of our own ("Error: …"; progress lines may
    /// precede it), with no trap report and no Foundation error code.
    var isClearError: Bool {
        !signalled && !timedOut && status != 0 && status < 128 && firstLine.hasPrefix("Error:")
            && !stderr.contains("Fatal error") && !stderr.contains("NSCocoaErrorDomain")
            && !stderr.contains("The operation could not be completed")
    }
}

enum Subprocess {
    /// Runs `executable` with `arguments` (in `directory`, with `stdin` as input), killing it after
    /// `timeout` seconds.
    static func run(_ executable: String, _ arguments: [String], directory: String? = nil, stdin: Data? = nil,
                    timeout: Double = 5, environment: [String: String]? = nil) -> ProcessResult {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        if let environment { process.environment = environment }
        let out = Pipe(), err = Pipe(), input = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = input
        let done = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in done.signal() }
        final class Collected: @unchecked Sendable { var out = Data(), err = Data() }
        let collected = Collected()
        let readers = DispatchGroup()
        let start = DispatchTime.now().uptimeNanoseconds
        do { try process.run() } catch {
            return ProcessResult(status: 127, signalled: false, timedOut: false, seconds: 0, stdout: "",
                                 stderr: "cannot start \(executable): \(error)")
        }
        DispatchQueue.global().async(group: readers) { collected.out = out.fileHandleForReading.readDataToEndOfFile() }
        DispatchQueue.global().async(group: readers) { collected.err = err.fileHandleForReading.readDataToEndOfFile() }
        if let stdin { try? input.fileHandleForWriting.write(contentsOf: stdin) }
        try? input.fileHandleForWriting.close()
        var timedOut = false
        if done.wait(timeout: .now() + timeout) == .timedOut {
            timedOut = true
            kill(process.processIdentifier, SIGKILL)
            done.wait()
        }
        readers.wait()
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        return ProcessResult(status: process.terminationStatus, signalled: process.terminationReason == .uncaughtSignal && !timedOut,
                             timedOut: timedOut, seconds: seconds, stdout: String(decoding: collected.out, as: UTF8.self),
                             stderr: String(decoding: collected.err, as: UTF8.self))
    }
}

enum Probes {
    static let values = ["-1", "0", "1000000000000", "9223372036854775808", "nan", "inf", "abc"]

    /// Arguments that make each command fail fast after validation (missing model, data, config).
    static func base(_ path: [String], scratch: String) -> [String] {
        let missing = "/nonexistent-hat-probe"
        switch path.joined(separator: " ") {
        case "repl": return ["--model", missing]
        case "generate": return ["--model", missing, "--prompt", "hi"]
        case "train": return ["--config", missing + ".json", "--data", missing + ".txt", "--out", scratch + "/probe-run"]
        case "eval": return ["--model", missing, "--data", missing + ".txt"]
        case "info": return [missing]
        case "export": return [missing, "--out", scratch + "/probe-export"]
        case "graft": return ["--backbone", missing, "--config", missing + ".json", "--out", scratch + "/probe-graft"]
        case "segment": return [missing + ".txt"]
        case "convert-backbone": return [missing + ".gguf", "--out", scratch + "/probe-convert"]
        case "perturb": return ["-p", "upper", missing + ".txt"]
        case "robustness": return ["--model", missing, "--data", missing + ".txt"]
        case "report train": return [missing]
        case "report graft": return ["--run", "a=" + missing, "--run", "b=" + missing, "--out", scratch + "/probe.md"]
        case "bench blas": return ["--m", "8", "--n", "8", "--k", "8", "--repeats", "1"]
        case "bench kernels": return ["--rows", "16", "--repeats", "1", "--steady-steps", "0", "--no-torch", "--widths", "256"]
        case "bench segment": return ["--data", missing, "--no-reference"]
        case "bench train": return ["--config", missing + ".json", "--no-torch"]
        case "bench generate": return ["--model", missing, "--no-torch"]
        default: return []
        }
    }

    /// Runs every probe; returns counts per command and a line for every probe that was not clean.
    static func run(binary: String, commands: [FlagCommand], scratch: String, values: [String] = Probes.values,
                    progress: (Int) -> Void = { _ in }) -> (counts: [String: ProbeCounts], problems: [String]) {
        var counts: [String: ProbeCounts] = [:]
        var problems: [String] = []
        var done = 0
        for command in commands {
            let name = command.path.joined(separator: " ")
            var c = ProbeCounts()
            let targets = command.options.filter { !["--json", "--raw", "--force", "--no-torch", "--no-reference", "--check"].contains($0) }
            // A command with only a positional (hat info DIR) gets the hostile values there.
            let variants: [[String]] = targets.isEmpty && command.positionals > 0 ? [[]] : targets.map { [$0] }
            for option in variants {
                for value in values {
                    let arguments = command.path + (option.isEmpty ? [] : base(command.path, scratch: scratch)) + option + [value]
                    let r = Subprocess.run(binary, arguments)
                    c.probes += 1
                    if r.signalled { c.traps += 1 } else if r.timedOut { c.hangs += 1 } else if r.status == 0 { c.accepted += 1 }
                    else if r.isClearError { c.cleanErrors += 1 } else { c.unclear += 1 }
                    if r.signalled || r.timedOut || (r.status != 0 && !r.isClearError) {
                        problems.append("hat \(arguments.joined(separator: " ")): status \(r.status)\(r.signalled ? " (signal)" : "")"
                                        + "\(r.timedOut ? " (killed after 5 s)" : ""): \(r.firstLine)")
                    }
                    done += 1
                    if done % 50 == 0 { progress(done) }
                }
            }
            counts[name] = c
        }
        return (counts, problems)
    }
}
