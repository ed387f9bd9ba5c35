// hat bench tokenize: single-thread MB/s of HATTokenizer on a few MB of text (half data/english,
// half an equal share of every data/multilingual file), and in the same run of HF tokenizers on the
// same bytes and tokenizer.json (scripts/bench_hf_tokenizers.py: RAYON_NUM_THREADS=1, encode, never
// encode_batch); prints both, their ratio and whether the ids are identical (count and SHA-256).
// Default tokenizers: the committed SmolLM2 and tiny llama-bpe fixtures' tokenizer.json.

import ArgumentParser
import Foundation
import HATCommandLine
import HATIO
import HATTokenizer

struct BenchTokenize: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenize",
        abstract: "Byte-level BPE MB/s (one thread) next to HF tokenizers', and whether the ids are identical.")

    @Option(name: .customLong("tokenizer"), help: "A tokenizer.json (repeatable; default: Tests/HATTokenizerTests/Fixtures/smollm2.tokenizer.json and tiny_llama.tokenizer.json).")
    var tokenizers: [String] = []
    @Option(help: "Directory holding english/ and multilingual/ (default: data/ of the repository; made by `python3 scripts/fetch_data.py english multilingual`).")
    var data: String?
    @Option(help: "Size of the benchmark text in MB (half English, half multilingual).") var megabytes = 4.0
    @Option(help: "Encode the whole text in one call (text) or each line in its own call (lines), for both tokenizers.")
    var unit: TokenizeBenchUnit = .text
    @Option(help: "Timed runs of ours (best is reported; each starts with an empty word cache).") var repeats = 3
    @Option(help: "Timed runs of HF tokenizers (best is reported; its word cache stays warm across runs).") var referenceRepeats = 2
    @Option(help: "Python with the tokenizers package (default: $HAT_PYTHON, else python3).") var python: String?
    @Flag(help: "Skip HF tokenizers.") var noReference = false
    @Flag(help: "Print one JSON object instead of text.") var json = false

    func validate() throws {
        if megabytes <= 0 { throw ValidationError("--megabytes must be > 0, found \(megabytes)") }
        if repeats < 1 || referenceRepeats < 1 { throw ValidationError("--repeats and --reference-repeats must be ≥ 1") }
    }

    func run() throws {
        let paths = try tokenizerPaths()
        let (text, sources) = try benchmarkText()
        let textPath = NSTemporaryDirectory() + "hat-bench-tokenize-\(ProcessInfo.processInfo.processIdentifier).txt"
        guard FileManager.default.createFile(atPath: textPath, contents: Data(text)) else { throw CommandError("cannot write \(textPath)") }
        defer { try? FileManager.default.removeItem(atPath: textPath) }
        let units = splitUnits(text)

        var rows: [TokenizeBenchRow] = []
        for path in paths {
            let loadStart = wallSeconds()
            let tokenizer: BPETokenizer
            let parseSeconds: Double
            do {
                let definition = try TokenizerDefinition(tokenizerJSONPath: path)
                parseSeconds = wallSeconds() - loadStart
                tokenizer = try BPETokenizer(definition, source: path)
            } catch {
                throw CommandError("\(error)")
            }
            let loadSeconds = wallSeconds() - loadStart
            _ = tokenizer.encode("Warm up: the character-class table is built on first use.")
            var row = TokenizeBenchRow(tokenizer: path, vocabulary: tokenizer.vocabularySize, preTokenizer: tokenizer.preTokenizer.rawValue,
                                       oursParseSeconds: parseSeconds, oursLoadSeconds: loadSeconds,
                                       ours: timeOurs(tokenizer, units, bytes: text.count))
            row.reference = noReference ? TokenizeBenchReference(error: "skipped (--no-reference)") : runReference(tokenizer: path, text: textPath)
            rows.append(row)
        }
        let result = TokenizeBenchResult(machine: SegmentBenchMachine.current(), textBytes: text.count, sources: sources,
                                         unit: unit.rawValue, repeats: repeats, referenceRepeats: referenceRepeats, rows: rows)
        try printFigures(result, json: json) { result.summary() }
    }

    func tokenizerPaths() throws -> [String] {
        if !tokenizers.isEmpty { return tokenizers }
        for root in Locations.roots {
            let fixtures = root + "/Tests/HATTokenizerTests/Fixtures"
            let candidates = ["smollm2.tokenizer.json", "tiny_llama.tokenizer.json"].map { fixtures + "/" + $0 }
            if candidates.allSatisfy({ FileManager.default.fileExists(atPath: $0) }) { return candidates }
        }
        throw CommandError("the committed tokenizer fixtures were not found; pass --tokenizer FILE")
    }

    /// Half the size from data/english (whole files in name order), half from data/multilingual
    /// (an equal share of each file, cut after its last line feed within the share).
    func benchmarkText() throws -> ([UInt8], [String]) {
        let root = try dataDirectory()
        let half = Int(megabytes * 1e6 / 2)
        var text: [UInt8] = []
        var sources: [String] = []
        let english = try txtFiles(root + "/english")
        for file in english where text.count < half {
            guard let d = FileManager.default.contents(atPath: root + "/english/" + file) else { throw CommandError("cannot read \(root)/english/\(file)") }
            let take = cutAtLineFeed([UInt8](d), limit: half - text.count)
            text += take
            sources.append("english/\(file): \(take.count) bytes")
        }
        let multilingual = try txtFiles(root + "/multilingual")
        let share = half / max(1, multilingual.count)
        for file in multilingual {
            guard let d = FileManager.default.contents(atPath: root + "/multilingual/" + file) else { throw CommandError("cannot read \(root)/multilingual/\(file)") }
            let take = cutAtLineFeed([UInt8](d), limit: share)
            text += take
            sources.append("multilingual/\(file): \(take.count) bytes")
        }
        return (text, sources)
    }

    func txtFiles(_ directory: String) throws -> [String] {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: directory))?.filter { $0.hasSuffix(".txt") }.sorted() ?? []
        guard !files.isEmpty else { throw CommandError("no .txt files in \(directory); run `python3 scripts/fetch_data.py english multilingual` or pass --data DIR") }
        return files
    }

    /// The bytes up to and including the last line feed within `limit` (all of them if they fit).
    func cutAtLineFeed(_ bytes: [UInt8], limit: Int) -> [UInt8] {
        if bytes.count <= limit { return bytes.last == 0x0A || bytes.isEmpty ? bytes : bytes + [0x0A] }
        guard let lastFeed = bytes[..<max(0, limit)].lastIndex(of: 0x0A) else { return [] }
        return Array(bytes[...lastFeed])
    }

    func dataDirectory() throws -> String {
        if let data { return data }
        for root in Locations.roots {
            let candidate = root + "/data"
            if FileManager.default.fileExists(atPath: candidate + "/english") && FileManager.default.fileExists(atPath: candidate + "/multilingual") {
                return candidate
            }
        }
        throw CommandError("data/english and data/multilingual not found; run `python3 scripts/fetch_data.py english multilingual` or pass --data DIR")
    }

    /// The whole text, or its lines (each with its line feed), as the Python side splits it.
    func splitUnits(_ text: [UInt8]) -> [String] {
        guard unit == .lines else { return [String(decoding: text, as: UTF8.self)] }
        var units: [String] = []
        var start = 0
        for (i, b) in text.enumerated() where b == 0x0A {
            units.append(String(decoding: text[start...i], as: UTF8.self))
            start = i + 1
        }
        if start < text.count { units.append(String(decoding: text[start...], as: UTF8.self)) }
        return units
    }

    func timeOurs(_ tokenizer: BPETokenizer, _ units: [String], bytes: Int) -> TokenizeBenchOurs {
        var bestCPU = Double.infinity, bestWall = Double.infinity
        var ids: [Int] = []
        for _ in 0..<repeats {
            ids = []
            var cache = BPEWordCache()
            let cpu0 = threadCPUSeconds(), wall0 = wallSeconds()
            for text in units { ids += tokenizer.encode(text, cache: &cache) }
            bestCPU = min(bestCPU, threadCPUSeconds() - cpu0)
            bestWall = min(bestWall, wallSeconds() - wall0)
        }
        var packed: [UInt8] = []
        packed.reserveCapacity(ids.count * 4)
        for id in ids { withUnsafeBytes(of: UInt32(truncatingIfNeeded: id).littleEndian) { packed += $0 } }
        var sha = SHA256()
        sha.update(packed)
        return TokenizeBenchOurs(ids: ids.count, cpuSeconds: bestCPU, wallSeconds: bestWall,
                                 mbPerSecond: Double(bytes) / bestCPU / 1e6, wallMBPerSecond: Double(bytes) / bestWall / 1e6,
                                 idsSHA256: sha.hexDigest())
    }

    func runReference(tokenizer: String, text: String) -> TokenizeBenchReference {
        let pythonPath = Python.interpreter(python)
        guard let script = Locations.roots.map({ $0 + "/scripts/bench_hf_tokenizers.py" }).first(where: { FileManager.default.fileExists(atPath: $0) }) else {
            return TokenizeBenchReference(error: "scripts/bench_hf_tokenizers.py not found")
        }
        let run: Python.Run
        do {
            run = try Python.run(pythonPath, [script, tokenizer, text, "--unit", unit.rawValue, "--repeats", String(referenceRepeats), "--json"])
        } catch {
            return TokenizeBenchReference(error: "cannot run \(pythonPath) (pass --python or set HAT_PYTHON): \(error.localizedDescription)")
        }
        if run.status == 127 {
            return TokenizeBenchReference(error: "\(pythonPath) was not found (pass --python or set HAT_PYTHON)")
        }
        // The script reports its own failures (e.g. tokenizers missing) as JSON with an error.
        if var result = try? JSONDecoder().decode(TokenizeBenchReference.self, from: run.output), result.error != nil || run.status == 0 {
            result.pythonPath = pythonPath
            return result
        }
        return TokenizeBenchReference(error: run.failure(pythonPath, "scripts/bench_hf_tokenizers.py"))
    }
}

enum TokenizeBenchUnit: String, ExpressibleByArgument, Codable {
    case text, lines
}

// MARK: - Results

struct TokenizeBenchOurs: Codable {
    var ids: Int
    var cpuSeconds: Double
    var wallSeconds: Double
    var mbPerSecond: Double
    var wallMBPerSecond: Double
    var idsSHA256: String
}

struct TokenizeBenchReference: Codable {
    var tokenizers: String?
    var call: String?
    var ids: Int?
    var cpuSeconds: Double?
    var wallSeconds: Double?
    var mbPerSecond: Double?
    var wallMBPerSecond: Double?
    var loadSeconds: Double?
    var idsSHA256: String?
    var python: String?
    var pythonPath: String?
    var error: String?

    init(error: String) { self.error = error }

    enum CodingKeys: String, CodingKey {
        case tokenizers, call, ids, python, error
        case cpuSeconds = "cpu_seconds", wallSeconds = "wall_seconds", mbPerSecond = "mb_per_s", loadSeconds = "load_seconds"
        case wallMBPerSecond = "wall_mb_per_s", idsSHA256 = "ids_sha256", pythonPath = "python_path"
    }
}

struct TokenizeBenchRow: Codable {
    var tokenizer: String
    var vocabulary: Int
    var preTokenizer: String
    /// Reading and parsing tokenizer.json, then all of loading (with building the tables).
    var oursParseSeconds: Double
    var oursLoadSeconds: Double
    var ours: TokenizeBenchOurs
    var reference = TokenizeBenchReference(error: "not run")

    var ratio: Double? { reference.mbPerSecond.map { ours.mbPerSecond / $0 } }
    var wallRatio: Double? { reference.wallMBPerSecond.map { ours.wallMBPerSecond / $0 } }
    var sameIDs: Bool? {
        guard let n = reference.ids, let sha = reference.idsSHA256 else { return nil }
        return n == ours.ids && sha == ours.idsSHA256
    }
}

struct TokenizeBenchResult: Codable {
    var machine: SegmentBenchMachine
    var textBytes: Int
    var sources: [String]
    var unit: String
    var repeats: Int
    var referenceRepeats: Int
    var rows: [TokenizeBenchRow]

    func summary() -> String {
        let f1: (Double) -> String = { String(format: "%.2f", $0) }
        var lines: [String] = []
        lines.append("machine: \(machine.cpu), \(machine.cores) cores")
        let english = sources.filter { $0.hasPrefix("english/") }.count
        lines.append("text: \(String(format: "%.2f", Double(textBytes) / 1e6)) MB (\(english) data/english files, \(sources.count - english) data/multilingual files), "
                     + (unit == "text" ? "encoded in one call" : "encoded line by line"))
        lines.append("MB/s per CPU second of one thread (wall clock in brackets); best of \(repeats) runs (ours, empty word cache each) and \(referenceRepeats) (HF)")
        for row in rows {
            lines.append("")
            lines.append("tokenizer \(row.tokenizer) (\(row.vocabulary) tokens, pre-tokenizer \(row.preTokenizer); ours loads it in \(f1(row.oursLoadSeconds)) s, \(f1(row.oursParseSeconds)) s of it reading the JSON)")
            lines.append("  HATTokenizer (this repository):   \(String(format: "%7.2f (%.2f)", row.ours.mbPerSecond, row.ours.wallMBPerSecond)) MB/s, \(row.ours.ids) ids")
            if let mb = row.reference.mbPerSecond {
                lines.append("  \(row.reference.tokenizers ?? "HF tokenizers") (Python \(row.reference.python ?? "?")): \(String(format: "%7.2f (%.2f)", mb, row.reference.wallMBPerSecond ?? 0)) MB/s, \(row.reference.ids ?? 0) ids")
                lines.append("  ratio (ours / HF): \(f1(row.ratio ?? 0))× (wall clock \(f1(row.wallRatio ?? 0))×); identical ids: \(row.sameIDs == true ? "yes" : "NO")")
            } else {
                lines.append("  HF tokenizers: not measured: \(row.reference.error ?? "unknown error")")
            }
        }
        return lines.joined(separator: "\n")
    }
}
