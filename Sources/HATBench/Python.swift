// Python: how the benchmarks run their Python references. The interpreter is found one way
// everywhere: --python, then $HAT_PYTHON, then python3 on $PATH (never a path of this machine);
// what the scripts import is scripts/requirements-bench.txt (README, "Benchmarks"). A missing
// interpreter or package becomes one line naming it and the ways round it. `PythonWorker` drives
// a script that answers line by line (bench train, bench generate).

import Dispatch
import Foundation

enum Python {
    /// The interpreter to run: `flag`, else $HAT_PYTHON, else python3.
    static func interpreter(_ flag: String?) -> String {
        if let flag, !flag.isEmpty { return flag }
        if let variable = ProcessInfo.processInfo.environment["HAT_PYTHON"], !variable.isEmpty { return variable }
        return "python3"
    }

    /// Sets `process` to run `python` with `arguments`: a path directly, a bare name through
    /// /usr/bin/env (found on $PATH).
    static func configure(_ process: Process, _ python: String, _ arguments: [String]) {
        if python.contains("/") {
            process.executableURL = URL(fileURLWithPath: python)
            process.arguments = arguments
        } else {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = [python] + arguments
        }
    }

    /// nil when `python` runs and imports every one of `modules`; else what is missing, e.g.
    /// "torch not importable by python3; pass --python or set HAT_PYTHON, or --no-torch".
    static func missing(_ modules: [String], _ python: String, otherwise: String? = nil) -> String? {
        let process = Process()
        configure(process, python, ["-c", "import " + modules.joined(separator: ", ")])
        process.standardOutput = FileHandle.nullDevice
        let errors = Pipe()
        process.standardError = errors
        let ways = "pass --python or set HAT_PYTHON" + (otherwise.map { ", or \($0)" } ?? "")
            + " (pip install -r scripts/requirements-bench.txt)"
        do { try process.run() } catch { return "cannot run \(python); \(ways)" }
        let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        if process.terminationStatus == 0 { return nil }
        if process.terminationStatus == 127 { return "\(python) was not found; \(ways)" }
        // "ModuleNotFoundError: No module named 'torch'" names the first one missing.
        let named = modules.first { message.contains("'\($0)'") } ?? modules.joined(separator: ", ")
        return "\(named) not importable by \(python); \(ways)"
    }

    /// What a script run to its end printed, and how it exited.
    struct Run {
        let output: Data
        let errors: Data
        let status: Int32

        /// "PYTHON SCRIPT failed (exit N): " and the end of what it printed (stdout and stderr).
        func failure(_ python: String, _ script: String) -> String {
            let message = String(decoding: output + errors, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            return "\(python) \(script) failed (exit \(status)): \(message.suffix(300))"
        }
    }

    /// Runs `python` with `arguments` to its end. Its stderr is read while stdout is, so a script
    /// that writes much to both never blocks on a full pipe. Throws only when it cannot start.
    static func run(_ python: String, _ arguments: [String]) throws -> Run {
        let process = Process()
        configure(process, python, arguments)
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        final class Collected: @unchecked Sendable { var data = Data() }
        let errors = Collected(), done = DispatchSemaphore(value: 0), handle = err.fileHandleForReading
        DispatchQueue.global().async {
            errors.data = handle.readDataToEndOfFile()
            done.signal()
        }
        let output = out.fileHandleForReading.readDataToEndOfFile()
        done.wait()
        process.waitUntilExit()
        return Run(output: output, errors: errors.data, status: process.terminationStatus)
    }
}

/// A Python benchmark script driven line by line: we write a command, it answers with one
/// JSON object per line on stdout. Its stderr is collected for error messages.
final class PythonWorker {
    let process = Process()
    let input = Pipe(), output = Pipe(), errors = Pipe()
    private var buffer = Data()
    private let collected = Collected()

    private final class Collected: @unchecked Sendable {
        var data = Data()
        let done = DispatchSemaphore(value: 0)
    }

    struct Failure: Error, CustomStringConvertible { let description: String }

    /// Starts `script` (the first of `arguments`) under `python` once `python` imports `modules`.
    init(python: String, modules: [String], script: String, arguments: [String]) throws {
        guard FileManager.default.fileExists(atPath: script) else {
            throw Failure(description: "no script at \(script) (run from the repository root or pass --torch-script)")
        }
        if let missing = Python.missing(modules, python, otherwise: "--no-torch") { throw Failure(description: missing) }
        Python.configure(process, python, arguments)
        process.standardInput = input
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let collected = collected, handle = errors.fileHandleForReading
        DispatchQueue.global().async {
            collected.data = handle.readDataToEndOfFile()
            collected.done.signal()
        }
    }

    func send(_ line: String) throws {
        try input.fileHandleForWriting.write(contentsOf: Data((line + "\n").utf8))
    }

    /// The next JSON object the script prints (blocks until its line is complete).
    func receive() throws -> [String: Any] {
        while true {
            if let newline = buffer.firstIndex(of: 0x0A) {
                let line = buffer[buffer.startIndex..<newline]
                buffer = Data(buffer[(newline + 1)...])
                if let object = try? JSONSerialization.jsonObject(with: line) as? [String: Any] { return object }
                continue   // not ours (a library printing to stdout)
            }
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty {
                process.waitUntilExit()
                _ = collected.done.wait(timeout: .now() + 5)
                let tail = String(decoding: collected.data, as: UTF8.self).split(separator: "\n").suffix(3)
                throw Failure(description: "the script exited (status \(process.terminationStatus)): " + tail.joined(separator: " | "))
            }
            buffer.append(chunk)
        }
    }

    func finish() {
        try? input.fileHandleForWriting.close()
        process.waitUntilExit()
    }
}
