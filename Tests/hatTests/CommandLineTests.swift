// The `hat` executable end to end: help and version, bad flags and bad files give one clear
// error line and a non-zero exit (never a trap), `hat segment` round-trips awkward input, and a
// training run killed with SIGKILL between checkpoints resumes to exactly the losses of an
// uninterrupted run, losing only the steps after its last checkpoint.

import Foundation
import HATTensor
import Testing

/// The built `hat` binary beside the test bundle (.build/<config>/hat).
let hatBinary: String = {
    let directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    for candidate in [directory, directory.deletingLastPathComponent()] {
        let path = candidate.appendingPathComponent("hat").path
        if FileManager.default.isExecutableFile(atPath: path) { return path }
    }
    return directory.appendingPathComponent("hat").path
}()

struct Run {
    var status: Int32
    var stdout: Data
    var stderr: String
    var text: String { String(decoding: stdout, as: UTF8.self) }
}

@discardableResult
func hat(_ arguments: [String], input: Data? = nil, environment: [String: String]? = nil) throws -> Run {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: hatBinary)
    process.arguments = arguments
    if let environment { process.environment = environment }
    let out = Pipe(), err = Pipe(), inPipe = Pipe()
    process.standardOutput = out
    process.standardError = err
    process.standardInput = inPipe
    try process.run()
    if let input { inPipe.fileHandleForWriting.write(input) }
    try inPipe.fileHandleForWriting.close()
    let stdout = out.fileHandleForReading.readDataToEndOfFile()
    let stderr = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return Run(status: process.terminationStatus, stdout: stdout, stderr: String(decoding: stderr, as: UTF8.self))
}

func temporaryDirectory(_ name: String) throws -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("hat-\(name)-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// OpenBLAS's kernels: every core this CPU can run multiplies correctly through `hat`, and with
/// no OPENBLAS_CORETYPE set `hat` runs the best one (restarting itself when OpenBLAS fell back to
/// a generic core).
@Suite struct BLASCoreChoice {
    var environmentWithoutCore: [String: String] {
        ProcessInfo.processInfo.environment.filter { $0.key != "OPENBLAS_CORETYPE" && $0.key != BLASCore.replacedVariable }
    }

    @Test func everyCoreThisCPUCanRunGivesTheNaiveProduct() throws {
        let cpu = CPUFeatures.current
        let cores = ["Prescott"] + (cpu.avx2 ? ["Haswell"] : []) + (cpu.avx512 ? ["SkylakeX"] : [])
            + (cpu.avx512bf16 ? ["Cooperlake"] : [])
        for core in cores {
            var environment = environmentWithoutCore
            environment["OPENBLAS_CORETYPE"] = core
            let run = try hat(["bench", "blas", "--m", "67", "--n", "45", "--k", "300", "--repeats", "1", "--check"],
                              environment: environment)
            #expect(run.status == 0, "\(core): \(run.text) \(run.stderr)")
            #expect(run.text.contains("openblas core: \(core) (OPENBLAS_CORETYPE=\(core))"), "\(run.text)")
            #expect(run.text.contains(": ok"), "\(core): \(run.text)")
        }
    }

    @Test func withoutTheVariableTheBestCoreRuns() throws {
        let run = try hat(["bench", "blas", "--m", "64", "--n", "64", "--k", "64", "--repeats", "1", "--check"],
                          environment: environmentWithoutCore)
        #expect(run.status == 0 && run.text.contains(": ok"), "\(run.text) \(run.stderr)")
        let line = try #require(run.text.split(separator: "\n").first { $0.hasPrefix("openblas core: ") })
        let core = String(line.dropFirst("openblas core: ".count).prefix { $0 != " " })
        let best = BLASCore.best(for: .current) ?? core
        #expect(BLASCore.rank(core) >= BLASCore.rank(best), "\(line); this CPU can run \(best)")
    }
}

@Suite(.serialized) struct CommandLine_ {
    @Test func helpAndVersion() throws {
        let version = try hat(["--version"])
        #expect(version.status == 0 && version.text.hasPrefix("0."))
        let help = try hat(["--help"])
        for command in ["repl", "generate", "train", "eval", "info", "segment", "convert-backbone", "graft", "bench"] {
            #expect(help.text.contains(command), "--help lists \(command)")
        }
    }

    @Test(arguments: [
        (["train", "--config", "tiny"], "--out"),
        (["train", "--resume", "/nonexistent/run"], "/nonexistent/run"),
        (["train", "--resume", "/tmp/run", "--data", "x.txt"], "saved options"),
        (["train", "--resume", "/nonexistent/run", "--steps", "0"], "--steps"),
        (["eval", "--model", "/nonexistent/model", "--data", "x.txt"], "/nonexistent/model"),
        (["generate", "--model", "/nonexistent/model", "--prompt", "hi"], "/nonexistent/model"),
        (["generate", "--prompt", "a", "--prompt-file", "b"], "exactly one"),
        (["generate", "--prompt", "a", "--temperature", "-1"], "temperature"),
        (["info", "/nonexistent/model"], "/nonexistent/model"),
        (["segment", "--max-word-bytes", "-3"], "max-word-bytes"),
        (["convert-backbone", "/nonexistent.gguf", "--out", "/tmp/x"], "/nonexistent.gguf"),
        (["no-such-command"], "no-such-command"),
        (["report", "train", "/nonexistent/run"], "/nonexistent/run"),
        (["report", "graft", "--run", "a=/x", "--run", "b=/y", "--notes", "/nonexistent.md", "--out", "/tmp/r.md"], "/nonexistent.md"),
    ])
    func badInputGivesAClearErrorAndNoTrap(_ arguments: [String], _ mentioned: String) throws {
        let run = try hat(arguments)
        #expect(run.status != 0, "\(arguments) should fail")
        #expect(run.status < 128, "\(arguments) must not die of a signal (status \(run.status))")
        #expect(!run.stderr.contains("Fatal error"), "\(arguments): \(run.stderr)")
        #expect(run.stderr.contains(mentioned), "\(arguments): error should mention \(mentioned): \(run.stderr)")
    }

    @Test func segmentRoundTripsAwkwardInput() throws {
        var inputs: [Data] = [Data(), Data([0, 0, 65, 0]), Data([0xFF, 0xC3, 0x28, 0xE2, 0x82]), Data("héllo  wörld\r\n你好👋🏽".utf8)]
        var random = SystemRandomNumberGenerator()
        inputs.append(Data((0..<3000).map { _ in UInt8.random(in: 0...255, using: &random) }))
        for input in inputs {
            let run = try hat(["segment", "--format", "json"], input: input)
            #expect(run.status == 0, "\(run.stderr)")
            let words = try JSONSerialization.jsonObject(with: run.stdout, options: [.fragmentsAllowed]) as! [Any]
            var joined = Data()
            for word in words {
                if let text = word as? String { joined.append(Data(text.utf8)) } else { joined.append(Data((word as! [Int]).map { UInt8($0) })) }
            }
            #expect(joined == input, "round trip of \(input.count) bytes")
        }
    }

    @Test func killedTrainingLosesOnlyTheStepsAfterItsLastCheckpoint() throws {
        let root = try temporaryDirectory("kill")
        defer { try? FileManager.default.removeItem(atPath: root) }
        let data = root + "/text.txt"
        try String(repeating: "It was the best of times, it was the worst of times, it was the age of wisdom. ", count: 200)
            .write(toFile: data, atomically: true, encoding: .utf8)
        let common = ["--config", "tiny", "--data", data, "--steps", "120", "--rows-per-batch", "8", "--words-per-row", "48",
                      "--max-row-bytes", "512", "--validation-fraction", "0", "--checkpoint-every", "30", "--warmup-steps", "10",
                      "--threads", "1"]
        let whole = root + "/whole", killed = root + "/killed"
        let reference = try hat(["train", "--out", whole] + common)
        #expect(reference.status == 0, "\(reference.stderr)")

        // Start the same run, SIGKILL it a few steps after its second checkpoint.
        let process = Process()
        process.executableURL = URL(fileURLWithPath: hatBinary)
        process.arguments = ["train", "--out", killed] + common
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let metrics = killed + "/metrics.jsonl"
        var lines = 0
        let deadline = Date().addingTimeInterval(120)
        while process.isRunning && Date() < deadline {
            lines = ((try? String(contentsOfFile: metrics, encoding: .utf8)) ?? "").split(separator: "\n").count
            if lines >= 65 && FileManager.default.fileExists(atPath: killed + "/checkpoints/step-00000060") { break }
            usleep(2000)
        }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        #expect(process.terminationReason == .uncaughtSignal, "the run was killed before it finished")
        let checkpoints = try FileManager.default.contentsOfDirectory(atPath: killed + "/checkpoints").filter { $0.hasPrefix("step-") }.sorted()
        #expect(checkpoints.last == "step-00000060" || checkpoints.last == "step-00000090", "\(checkpoints)")

        let resumed = try hat(["train", "--resume", killed])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        let a = try String(contentsOfFile: whole + "/metrics.jsonl", encoding: .utf8)
        let b = try String(contentsOfFile: metrics, encoding: .utf8)
        func losses(_ text: String) -> [String] {
            text.split(separator: "\n").map { line in
                let object = try! JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
                return "\(object["step"]!) \(object["loss"]!)"
            }
        }
        #expect(losses(a) == losses(b), "the resumed run's losses equal the uninterrupted run's, step for step")
        #expect(losses(b).count == 120)
    }
}
