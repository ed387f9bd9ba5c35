// hat bench segment: single-thread splitter throughput on ≥ 10 MB of mixed-language text
// (data/multilingual concatenated, repeated if needed, written to a temporary file), and in the
// same run the reference hat-splitter 0.1.10 on that file via scripts/bench_hat_splitter.py;
// prints both and their ratio, checks both produced the same words, measures bytes per word
// for en, de, ru, ar, zh, ja, th in both modes, and with --report writes Reports/segmentation.md
// with an SVG bar chart beside it.

import ArgumentParser
import Foundation
import HATCommandLine
import HATEval
import HATIO
import HATTensor
import HATText

struct BenchSegment: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "segment",
        abstract: "Splitter MB/s (single thread) next to hat-splitter's, and bytes per word per language.")

    @Option(help: "Directory of the multilingual text (default: data/multilingual of the repository; made by `python3 scripts/fetch_data.py multilingual`).")
    var data: String?
    @Option(parsing: .unconditional, help: "Minimum size of the benchmark text in MB (the files are repeated to reach it).") var megabytes = 10.0
    @Option(parsing: .unconditional, help: "Timed runs of our splitter (best is reported).") var repeats = 3
    @Option(parsing: .unconditional, help: "Timed runs of hat-splitter (best is reported).") var referenceRepeats = 2
    @Option(parsing: .unconditional, help: "Word cap in bytes for both splitters (0: none).") var maxWordBytes = 100
    @Option(help: "Python with hat-splitter 0.1.10 (default: $HAT_PYTHON, else python3).")
    var python: String?
    @Flag(help: "Skip hat-splitter.") var noReference = false
    @Flag(help: "Print one JSON object instead of text.") var json = false
    @Option(help: "Also write this Markdown report (e.g. Reports/segmentation.md) and its SVG chart beside it.")
    var report: String?
    @Flag(help: "Also run `hat segment --format json` on hard inputs (empty, NUL bytes, random bytes, invalid UTF-8, a 50 MB single line) in both modes and check that the words give back the input.")
    var cliChecks = false

    func validate() throws {
        try checkFlag("megabytes", megabytes, 0.001...1000)
        try checkFlag("repeats", repeats, 1...Limits.repeats)
        try checkFlag("reference-repeats", referenceRepeats, 1...Limits.repeats)
        try checkFlag("max-word-bytes", maxWordBytes, 0...Limits.textBytes, "(0 = no cap)")
    }

    /// Samples for bytes per word: the Debian Administrator's Handbook is parallel text in six of
    /// the languages; Thai has no handbook translation, so Firefox's Thai strings stand in.
    static let samples: [(language: String, file: String)] = [
        ("en", "en-handbook.txt"), ("de", "de-handbook.txt"), ("ru", "ru-handbook.txt"), ("ar", "ar-handbook.txt"),
        ("zh", "zh-CN-handbook.txt"), ("ja", "ja-handbook.txt"), ("th", "th-firefox.txt"),
    ]

    func run() throws {
        let directory = try dataDirectory()
        let files = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".txt") }.sorted()
        guard !files.isEmpty else { throw CommandError("no .txt files in \(directory); run `python3 scripts/fetch_data.py multilingual`") }

        // The benchmark text: all files, each followed by a line feed, repeated to the size asked.
        var unit: [UInt8] = []
        for file in files {
            guard let d = FileManager.default.contents(atPath: directory + "/" + file) else { throw CommandError("cannot read \(directory)/\(file)") }
            unit += d
            unit.append(0x0A)
        }
        let target = Int(megabytes * 1e6)
        var text: [UInt8] = []
        var copies = 0
        while text.count < target { text += unit; copies += 1 }
        let textPath = NSTemporaryDirectory() + "hat-bench-segment-\(ProcessInfo.processInfo.processIdentifier).txt"
        guard FileManager.default.createFile(atPath: textPath, contents: Data(text)) else { throw CommandError("cannot write \(textPath)") }
        defer { try? FileManager.default.removeItem(atPath: textPath) }

        let cap = maxWordBytes == 0 ? nil : maxWordBytes
        let ours = try timeOurs(text, mode: .hat, cap: cap)
        let oursDictionary = try timeOurs(text, mode: .icuDictionary, cap: cap)
        let reference = noReference ? SegmentBenchReference(error: "skipped (--no-reference)") : runReference(textPath)

        var perLanguage: [SegmentBenchLanguage] = []
        for (language, file) in Self.samples {
            guard let d = FileManager.default.contents(atPath: directory + "/" + file) else { continue }
            let bytes = [UInt8](d)
            var row = SegmentBenchLanguage(language: language, file: file, bytes: bytes.count)
            row.hatWords = try countWords(bytes, mode: .hat, cap: cap)
            row.dictionaryWords = try countWords(bytes, mode: .icuDictionary, cap: cap)
            perLanguage.append(row)
        }

        let checks = cliChecks ? try runCLIChecks(unit) : []

        let machine = SegmentBenchMachine.current()
        let result = SegmentBenchResult(machine: machine, icu: WordSplitter.icuVersion, textBytes: text.count, files: files.count,
                                        languageCount: Set(files.map { $0.split(separator: "-")[0] }.filter { $0 != "emoji" }).count,
                                        repeats: repeats, referenceRepeats: referenceRepeats, cliChecks: checks,
                                 copies: copies, cap: cap, ours: ours, oursDictionary: oursDictionary,
                                 reference: reference, languages: perLanguage)
        try printFigures(result, json: json) { result.summary() }
        if let report {
            try result.writeReport(to: report)
            if !json { print("wrote \(report) and \(SegmentBenchResult.chartPath(besides: report))") }
        }
    }

    /// Runs `hat segment --format json` on hard inputs built from `text` and checks the round trip.
    func runCLIChecks(_ text: [UInt8]) throws -> [SegmentCLICheck] {
        var rng = RandomGenerator(seed: 29)
        var inputs: [(String, [UInt8])] = [("empty input", [])]
        var nuls: [UInt8] = []
        for k in 0..<4096 { nuls.append(k % 3 == 0 ? 0 : text[k]) }
        inputs.append(("NUL bytes in text", nuls))
        inputs.append(("random bytes", (0..<(1 << 20)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }))
        var invalid = Array(text.prefix(1 << 20))
        for k in stride(from: 0, to: invalid.count, by: 97) { invalid[k] = [0xFF, 0x80, 0xC3, 0xC0, 0xED][k % 5] }
        invalid += [0xE4, 0xB8] // ends inside a character
        inputs.append(("invalid UTF-8 in text", invalid))
        var line: [UInt8] = []
        line.reserveCapacity(50_000_000)
        while line.count < 50_000_000 { line += text.prefix(50_000_000 - line.count).map { $0 == 0x0A ? 0x20 : $0 } }
        inputs.append(("50 MB single line", line))

        let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
        let path = NSTemporaryDirectory() + "hat-bench-segment-cli-\(ProcessInfo.processInfo.processIdentifier).bin"
        defer { try? FileManager.default.removeItem(atPath: path) }
        var results: [SegmentCLICheck] = []
        for (name, bytes) in inputs {
            guard FileManager.default.createFile(atPath: path, contents: Data(bytes)) else { throw CommandError("cannot write \(path)") }
            for mode in SplitterMode.allCases {
                let process = Process()
                process.executableURL = URL(fileURLWithPath: executable)
                process.arguments = ["segment", "--splitter", mode.rawValue, "--format", "json", path]
                let out = Pipe()
                process.standardOutput = out
                let start = wallSeconds()
                try process.run()
                let output = [UInt8](out.fileHandleForReading.readDataToEndOfFile())
                process.waitUntilExit()
                let seconds = wallSeconds() - start
                let words = decodeSegmentJSON(output)
                results.append(SegmentCLICheck(input: name, bytes: bytes.count, mode: mode.rawValue,
                                               exitStatus: Int(process.terminationStatus), words: words?.count ?? 0,
                                               roundTrip: words.map { $0.joined().elementsEqual(bytes) } ?? false, seconds: seconds))
            }
        }
        return results
    }

    func dataDirectory() throws -> String {
        if let data { return data }
        for root in Locations.roots {
            let candidate = root + "/data/multilingual"
            if FileManager.default.fileExists(atPath: candidate) { return candidate }
        }
        throw CommandError("data/multilingual not found; run `python3 scripts/fetch_data.py multilingual` or pass --data DIR")
    }

    func timeOurs(_ text: [UInt8], mode: SplitterMode, cap: Int?) throws -> SegmentBenchOurs {
        let splitter = try WordSplitter(options: SplitterOptions(mode: mode, maxWordBytes: cap))
        var ends: [Int] = []
        ends.reserveCapacity(text.count / 2)
        var bestCPU = Double.infinity, bestWall = Double.infinity
        for _ in 0..<repeats {
            let cpu0 = threadCPUSeconds(), wall0 = wallSeconds()
            text.withUnsafeBufferPointer { splitter.split($0, into: &ends) }
            bestCPU = min(bestCPU, threadCPUSeconds() - cpu0)
            bestWall = min(bestWall, wallSeconds() - wall0)
        }
        // SHA-256 of the word lengths as uint32 little-endian, as the reference script computes it.
        var lengths: [UInt8] = []
        lengths.reserveCapacity(ends.count * 4)
        var start = 0
        for e in ends {
            let l = UInt32(e - start)
            lengths += [UInt8(l & 0xFF), UInt8((l >> 8) & 0xFF), UInt8((l >> 16) & 0xFF), UInt8(l >> 24)]
            start = e
        }
        var sha = SHA256()
        sha.update(lengths)
        return SegmentBenchOurs(mode: mode.rawValue, words: ends.count, cpuSeconds: bestCPU, wallSeconds: bestWall,
                                mbPerSecond: Double(text.count) / bestCPU / 1e6, wallMBPerSecond: Double(text.count) / bestWall / 1e6,
                                lengthsSHA256: sha.hexDigest())
    }

    func countWords(_ bytes: [UInt8], mode: SplitterMode, cap: Int?) throws -> Int {
        let splitter = try WordSplitter(options: SplitterOptions(mode: mode, maxWordBytes: cap))
        var ends: [Int] = []
        bytes.withUnsafeBufferPointer { splitter.split($0, into: &ends) }
        return ends.count
    }

    func runReference(_ textPath: String) -> SegmentBenchReference {
        let pythonPath = Python.interpreter(python)
        guard let script = Locations.roots.map({ $0 + "/scripts/bench_hat_splitter.py" }).first(where: { FileManager.default.fileExists(atPath: $0) }) else {
            return SegmentBenchReference(error: "scripts/bench_hat_splitter.py not found")
        }
        if let missing = Python.missing(["hat_splitter"], pythonPath) { return SegmentBenchReference(error: missing) }
        let run: Python.Run
        do {
            run = try Python.run(pythonPath, [script, textPath, "--max-word-bytes", String(maxWordBytes),
                                              "--repeats", String(referenceRepeats), "--json"])
        } catch {
            return SegmentBenchReference(error: "cannot run \(pythonPath): \(error.localizedDescription)")
        }
        guard run.status == 0, var result = try? JSONDecoder().decode(SegmentBenchReference.self, from: run.output) else {
            return SegmentBenchReference(error: run.failure(pythonPath, "scripts/bench_hat_splitter.py"))
        }
        result.pythonPath = pythonPath
        return result
    }
}

// MARK: - Results

struct SegmentCLICheck: Codable {
    var input: String
    var bytes: Int
    var mode: String
    var exitStatus: Int
    var words: Int
    var roundTrip: Bool
    var seconds: Double
}

/// The words of `hat segment --format json` output (an array of strings and byte arrays), or nil
/// if it is not that.
func decodeSegmentJSON(_ json: [UInt8]) -> [[UInt8]]? {
    /// One element: a string (UTF-8 words) or an array of byte values (words that are not UTF-8).
    struct Word: Decodable {
        let bytes: [UInt8]
        init(from decoder: Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let text = try? container.decode(String.self) { bytes = Array(text.utf8) } else { bytes = try container.decode([UInt8].self) }
        }
    }
    return (try? JSONDecoder().decode([Word].self, from: Data(json)))?.map(\.bytes)
}

func threadCPUSeconds() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9
}

func wallSeconds() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_MONOTONIC, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9
}

/// Throughput is bytes per CPU second of the one thread (robust on a shared machine); wall
/// time is kept too.
struct SegmentBenchOurs: Codable {
    var mode: String
    var words: Int
    var cpuSeconds: Double
    var wallSeconds: Double
    var mbPerSecond: Double
    var wallMBPerSecond: Double
    var lengthsSHA256: String
}

struct SegmentBenchReference: Codable {
    var splitter: String?
    var call: String?
    var words: Int?
    var cpuSeconds: Double?
    var wallSeconds: Double?
    var mbPerSecond: Double?
    var wallMBPerSecond: Double?
    var lengthsSHA256: String?
    var python: String?
    var pythonPath: String?
    var error: String?

    init(error: String) { self.error = error }

    enum CodingKeys: String, CodingKey {
        case splitter, call, words, python, error
        case cpuSeconds = "cpu_seconds", wallSeconds = "wall_seconds", mbPerSecond = "mb_per_s"
        case wallMBPerSecond = "wall_mb_per_s", lengthsSHA256 = "lengths_sha256", pythonPath = "python_path"
    }
}

struct SegmentBenchLanguage: Codable {
    var language: String
    var file: String
    var bytes: Int
    var hatWords = 0
    var dictionaryWords = 0
    var hatBytesPerWord: Double { hatWords > 0 ? Double(bytes) / Double(hatWords) : 0 }
    var dictionaryBytesPerWord: Double { dictionaryWords > 0 ? Double(bytes) / Double(dictionaryWords) : 0 }

    init(language: String, file: String, bytes: Int) { self.language = language; self.file = file; self.bytes = bytes }
}

struct SegmentBenchMachine: Codable {
    var cpu: String
    var cores: Int
    var os: String

    static func current() -> SegmentBenchMachine {
        SegmentBenchMachine(cpu: Machine.cpuModel() ?? "unknown CPU", cores: ProcessInfo.processInfo.activeProcessorCount,
                       os: ProcessInfo.processInfo.operatingSystemVersionString)
    }
}

struct SegmentBenchResult: Codable {
    var machine: SegmentBenchMachine
    var icu: String
    var textBytes: Int
    var files: Int
    var languageCount: Int
    var repeats: Int
    var referenceRepeats: Int
    var cliChecks: [SegmentCLICheck]
    var copies: Int
    var cap: Int?
    var ours: SegmentBenchOurs
    var oursDictionary: SegmentBenchOurs
    var reference: SegmentBenchReference
    var languages: [SegmentBenchLanguage]

    var ratio: Double? { reference.mbPerSecond.map { ours.mbPerSecond / $0 } }
    var wallRatio: Double? { reference.wallMBPerSecond.map { ours.wallMBPerSecond / $0 } }
    var sameWords: Bool? {
        guard let words = reference.words, let sha = reference.lengthsSHA256 else { return nil }
        return words == ours.words && sha == ours.lengthsSHA256
    }
    var capText: String { cap.map { "cap \($0) bytes" } ?? "no cap" }

    func summary() -> String {
        var lines: [String] = []
        lines.append("machine: \(machine.cpu), \(machine.cores) cores; ICU \(icu)")
        lines.append("text: \(String(format: "%.1f", Double(textBytes) / 1e6)) MB (\(files) files of data/multilingual × \(copies)), \(capText)")
        lines.append("MB/s per CPU second of one thread (wall-clock MB/s in brackets):")
        lines.append("hat (this repository), mode hat:            \(String(format: "%7.1f (%.1f)", ours.mbPerSecond, ours.wallMBPerSecond)) MB/s, \(ours.words) words")
        lines.append("hat (this repository), mode icu-dictionary: \(String(format: "%7.1f (%.1f)", oursDictionary.mbPerSecond, oursDictionary.wallMBPerSecond)) MB/s, \(oursDictionary.words) words")
        if let mb = reference.mbPerSecond {
            lines.append("\(reference.splitter ?? "hat-splitter") (Python \(reference.python ?? "?")):      \(String(format: "%7.1f (%.1f)", mb, reference.wallMBPerSecond ?? 0)) MB/s, \(reference.words ?? 0) words")
            lines.append("ratio (hat mode / hat-splitter): \(String(format: "%.1f", ratio ?? 0))× (wall clock \(String(format: "%.1f", wallRatio ?? 0))×); same words: \(sameWords == true ? "yes" : "NO")")
        } else {
            lines.append("hat-splitter: not measured: \(reference.error ?? "unknown error")")
        }
        for c in cliChecks {
            lines.append("hat segment --splitter \(c.mode) --format json, \(c.input) (\(c.bytes) bytes): exit \(c.exitStatus), \(c.words) words, round trip \(c.roundTrip ? "exact" : "FAILED"), \(String(format: "%.1f", c.seconds)) s")
        }
        lines.append("bytes per word (\(capText)):")
        lines.append("  lang  sample               bytes      hat  icu-dictionary")
        for row in languages {
            lines.append("  \(row.language.padding(toLength: 5, withPad: " ", startingAt: 0)) \(row.file.padding(toLength: 20, withPad: " ", startingAt: 0)) \(String(format: "%8d %8.2f %8.2f", row.bytes, row.hatBytesPerWord, row.dictionaryBytesPerWord))")
        }
        return lines.joined(separator: "\n")
    }

    static func chartPath(besides report: String) -> String {
        (report as NSString).deletingLastPathComponent.isEmpty
            ? "segmentation-bytes-per-word.svg"
            : (report as NSString).deletingLastPathComponent + "/segmentation-bytes-per-word.svg"
    }

    func writeReport(to path: String) throws {
        let folder = (path as NSString).deletingLastPathComponent
        if !folder.isEmpty { try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) }
        let chartPath = Self.chartPath(besides: path)
        let chart = BarChart(
            title: "Bytes per word (\(capText))", yLabel: "bytes per word",
            categories: languages.map(\.language),
            series: [BarChart.Series(name: "hat", values: languages.map(\.hatBytesPerWord)),
                     BarChart.Series(name: "icu-dictionary", values: languages.map(\.dictionaryBytesPerWord))])
        try chart.svg().write(toFile: chartPath, atomically: true, encoding: .utf8)

        let f1: (Double) -> String = { String(format: "%.1f", $0) }
        let f2: (Double) -> String = { String(format: "%.2f", $0) }
        var md: [String] = []
        md.append("# Segmentation: speed and bytes per word")
        md.append("")
        let command = "hat bench segment\(cliChecks.isEmpty ? "" : " --cli-checks") --report \(path)"
        md.append("Written by `\(command)` (build first: `swift build -c release`, then run")
        md.append("`.build/release/\(command)` from the repository root). The text comes from")
        md.append("`python3 scripts/fetch_data.py multilingual`; the reference timing from `scripts/bench_hat_splitter.py`,")
        md.append("run by the same command on the same file. The splitter's rules are in `Sources/HATText/WordSplitter.swift`.")
        md.append("")
        md.append("Machine: \(machine.cpu), \(machine.cores) cores (shared; single-thread figures), \(machine.os). ICU \(icu).")
        md.append("")
        md.append("## Throughput, one thread")
        md.append("")
        md.append("Text: \(f1(Double(textBytes) / 1e6)) MB, the \(files) files of `data/multilingual` (\(languageCount) languages, plus emoji) concatenated")
        md.append("\(copies == 1 ? "once" : "\(copies) times"); \(capText); best of \(repeats) runs (hat-splitter: \(referenceRepeats)).")
        md.append("")
        md.append("MB/s are bytes per CPU second of the one splitting thread (the machine is shared, so CPU time is")
        md.append("the steadier measure); wall-clock MB/s of the same runs are given too.")
        md.append("")
        md.append("| splitter | MB/s (CPU time) | MB/s (wall clock) | words |")
        md.append("|---|---:|---:|---:|")
        md.append("| hat (this repository), mode `hat` | \(f1(ours.mbPerSecond)) | \(f1(ours.wallMBPerSecond)) | \(ours.words) |")
        md.append("| hat (this repository), mode `icu-dictionary` | \(f1(oursDictionary.mbPerSecond)) | \(f1(oursDictionary.wallMBPerSecond)) | \(oursDictionary.words) |")
        if let mb = reference.mbPerSecond {
            md.append("| \(reference.splitter ?? "hat-splitter"), Rust core from Python \(reference.python ?? ""), `\(reference.call ?? "")` | \(f1(mb)) | \(f1(reference.wallMBPerSecond ?? 0)) | \(reference.words ?? 0) |")
            md.append("")
            md.append("Mode `hat` is **\(f1(ratio ?? 0))×** as fast as hat-splitter here (CPU time; \(f1(wallRatio ?? 0))× by wall clock). Same words as hat-splitter on the whole text:")
            md.append("\(sameWords == true ? "yes" : "**no**") (word count and SHA-256 of the word lengths compared).")
        } else {
            md.append("")
            md.append("hat-splitter was not measured: \(reference.error ?? "unknown error").")
        }
        md.append("")
        if !cliChecks.isEmpty {
            md.append("## `hat segment` on hard input")
            md.append("")
            md.append("`hat bench segment --cli-checks` runs `hat segment --splitter MODE --format json FILE` (cap 100) on each input")
            md.append("and checks that concatenating the words (JSON strings, or byte arrays for words that are not UTF-8)")
            md.append("gives back the input exactly.")
            md.append("")
            md.append("| input | bytes | mode | exit status | words | round trip | seconds |")
            md.append("|---|---:|---|---:|---:|---|---:|")
            for c in cliChecks {
                md.append("| \(c.input) | \(c.bytes) | `\(c.mode)` | \(c.exitStatus) | \(c.words) | \(c.roundTrip ? "exact" : "**failed**") | \(f1(c.seconds)) |")
            }
            md.append("")
        }
        md.append("## Bytes per word")
        md.append("")
        md.append("Bytes per word = bytes / words (the compression of the backbone's sequence), \(capText).")
        md.append("en, de, ru, ar, zh, ja: the Debian Administrator's Handbook (the same book in each language);")
        md.append("th: Firefox's Thai interface strings (there is no Thai handbook), so it is not parallel text.")
        md.append("")
        md.append("| language | sample | bytes | words (hat) | bytes/word (hat) | words (icu-dictionary) | bytes/word (icu-dictionary) |")
        md.append("|---|---|---:|---:|---:|---:|---:|")
        for row in languages {
            md.append("| \(row.language) | `\(row.file)` | \(row.bytes) | \(row.hatWords) | \(f2(row.hatBytesPerWord)) | \(row.dictionaryWords) | \(f2(row.dictionaryBytesPerWord)) |")
        }
        md.append("")
        md.append("![bytes per word](\((chartPath as NSString).lastPathComponent))")
        md.append("")
        md.append("Mode `hat` (UAX #29 without dictionaries, as hat-splitter) makes every Han and Hiragana character,")
        md.append("and every Thai letter with its marks, a word of its own; `icu-dictionary` uses ICU's dictionaries inside")
        md.append("runs of those scripts (longer words, fewer backbone positions) but is not causal inside such a run.")
        md.append("Both modes agree elsewhere, hence the equal figures for en, de, ru and ar.")
        try (md.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
    }
}
