// hat report graft: the Markdown report of a graft experiment (Reports/graft-smollm2.md) from
// training runs that differ only in their backbone, e.g. SmolLM2's pretrained blocks against
// random blocks of the same shape. It reads each run's options.json, metrics.jsonl and optional
// time.txt / load.txt (written by scripts/graft_smollm2.sh), draws validation bits per byte
// against bytes seen (SVG), and generates continuations from each final checkpoint with the
// code path of `hat generate`. Every figure in the report comes from these files.

import ArgumentParser
import Foundation
import HATCommandLine
import HATEval
import HATGenerate
import HATModel
import HATTensor
import HATText

struct ReportGraft: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "graft",
        abstract: "Report of a graft experiment: validation BPB against bytes seen for runs that differ in the backbone.",
        discussion: """
        hat report graft --run pretrained=runs/graft-smollm2-pretrained --run random=runs/graft-smollm2-random \\
          --initial pretrained=runs/graft-smollm2-init/pretrained --initial random=runs/graft-smollm2-init/random \\
          --script scripts/graft_smollm2.sh --out Reports/graft-smollm2.md
        """)

    @Option(name: .customLong("run"), help: "LABEL=RUN_DIR of a training run (repeat; the first is compared with the others).")
    var runs: [String] = []
    @Option(help: "Markdown file to write; the SVG charts go beside it (NAME-validation.svg, NAME-train.svg).")
    var out: String
    @Option(name: .customLong("initial"), help: "LABEL=MODEL_DIR of a run's starting model (repeat): the report checks that the non-backbone weights are equal.")
    var initialModels: [String] = []
    @Option(name: .customLong("prompt"), help: "Prompt for the continuations (repeat). (default: three fixed prompts)")
    var prompts: [String] = []
    @Option(parsing: .unconditional, help: "Bytes generated per continuation.") var maxBytes = 160
    @Option(parsing: .unconditional, help: "Temperature of the sampled continuations (greedy ones are also shown).") var temperature: Float = 0.8
    @Option(parsing: .unconditional, help: "Seed of the sampled continuations.") var seed: UInt64 = 0
    @Option(help: "Shell script whose text is included as the commands that made the runs.") var script: String?
    @Option(help: "Markdown file of hand-written reading of the results, included under its own heading (marked as such).")
    var notes: String?
    @Option(help: "Title of the report.") var title = "Grafting SmolLM2-135M's backbone: pretrained against random"
    @Option(parsing: .unconditional, help: "Training steps averaged for the final training BPB.") var trainWindow = 20
    @OptionGroup var threadOptions: ThreadOptions
    @Flag(help: "Skip the continuations (fast; for checking the tables). (default: off)") var noSamples = false

    static let defaultPrompts = [
        "It was the best of times, it was the worst of times; ",
        "The capital of France is",
        "And the LORD spake unto Moses, saying,",
    ]

    func validate() throws {
        guard runs.count >= 2 else { throw ValidationError("give at least two --run LABEL=RUN_DIR (the first is the reference)") }
        for spec in runs + initialModels where Self.split(spec) == nil {
            throw ValidationError("expected LABEL=DIRECTORY, found '\(spec)'")
        }
        try checkFlag("max-bytes", maxBytes, 1...Limits.generatedBytes)
        try checkFlag("temperature", temperature, Float.leastNonzeroMagnitude...1000, "(greedy continuations are always shown)")
        try checkFlag("train-window", trainWindow, 1...Limits.steps)
        if !initialModels.isEmpty && initialModels.count != 2 { throw ValidationError("--initial takes exactly two models, found \(initialModels.count)") }
    }

    static func split(_ spec: String) -> (label: String, path: String)? {
        guard let eq = spec.firstIndex(of: "="), eq != spec.startIndex, spec.index(after: eq) != spec.endIndex else { return nil }
        return (String(spec[..<eq]), String(spec[spec.index(after: eq)...]))
    }

    func run() throws {
        let context = threadOptions.makeContext()
        // The hand-written notes are read first, so a wrong path fails before any work or output.
        var notesText: String?
        if let notes {
            guard let text = try? String(contentsOfFile: notes, encoding: .utf8) else {
                throw CommandError("--notes \(notes): not found or not UTF-8 text")
            }
            notesText = text
        }
        let loaded = try runs.map { spec -> GraftRun in
            let (label, path) = Self.split(spec)!
            return try GraftRun(label: label, directory: path, trainWindow: trainWindow)
        }
        let outDirectory = (out as NSString).deletingLastPathComponent
        let stem = ((out as NSString).lastPathComponent as NSString).deletingPathExtension
        if !outDirectory.isEmpty { try FileManager.default.createDirectory(atPath: outDirectory, withIntermediateDirectories: true) }
        let validationSVG = stem + "-validation.svg", trainSVG = stem + "-train.svg"

        var md = "# \(title)\n\n"
        md += "Generated by `hat report graft` (`Sources/HATReport/ReportGraft.swift`) from the runs' `options.json`, `metrics.jsonl`, "
        md += "`time.txt` and `load.txt`; the continuations are generated from each run's final checkpoint by the code of "
        md += "`hat generate`. Regenerate everything with `scripts/graft_smollm2.sh` (commands at the end).\n\n"

        // What was compared.
        md += "## Runs\n\n| run | directory | backbone | parameters | trainable | frozen parts | final checkpoint |\n|---|---|---|---:|---:|---|---|\n"
        for r in loaded {
            md += "| \(r.label) | `\(r.directory)` | \(r.backboneDescription) | \(grouped(r.parameterCount)) | \(grouped(r.trainableCount)) | "
            md += "\(r.options.freeze.isEmpty ? "none" : r.options.freeze.joined(separator: ", ")) | `\(r.finalCheckpoint)` |\n"
        }
        md += "\n" + (try optionsSection(loaded))
        md += try validationDataSection(loaded[0])
        if initialModels.count == 2 { md += try initialSection() }

        // Results.
        md += "## Results\n\n"
        md += "![validation bits per byte against training bytes seen](\(validationSVG))\n\n"
        md += "| run | steps | bytes seen | final validation BPB | best validation BPB | training BPB (last \(trainWindow) steps) | bytes per position | step time (sum) | median step | bytes/s (median step) | wall time | CPU time (user+sys) | load average (start → end) |\n"
        md += "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n"
        for r in loaded {
            md += "| \(r.label) | \(r.finalStep) | \(grouped(r.bytesSeen)) | \(f(r.finalValidation?.bpb, 4)) | \(f(r.validations.map(\.bpb).min(), 4)) | "
            md += "\(f(r.finalTrainBPB, 4)) | \(f(r.finalValidation?.bytesPerPosition, 3)) | \(duration(r.stepSeconds)) | "
            md += "\(f(r.medianStepSeconds, 1)) s | \(f(r.medianStepSeconds > 0 ? Double(r.bytesSeen) / Double(r.finalStep) / r.medianStepSeconds : nil, 0)) | \(r.wallSeconds.map(duration) ?? "not recorded") | "
            md += "\(r.cpuSeconds.map(duration) ?? "not recorded") | \(r.loadDescription) |\n"
        }
        md += "\n*step time* sums the optimizer steps' wall-clock durations (from `metrics.jsonl`; a step during which the process was "
        md += "stopped or starved counts in full), *median step* is their median and *bytes/s* the mean bytes per step over it; "
        md += "*wall time* and *CPU time* are the training commands' own (`/usr/bin/time`, summed over resumes) and include "
        md += "loading, validation, checkpoints and any pause. *Bytes per position* is validation bytes per backbone word (the same splitter, so the same for all runs).\n\n"
        md += comparisonSection(loaded)

        // Curves.
        let validationChart = LineChart(
            title: "Validation bits per byte (\(loaded[0].validationRowsDescription))",
            xLabel: "training bytes seen (MB)", yLabel: "bits per byte",
            series: loaded.map { r in .init(name: r.label, points: r.validations.map { (Double($0.bytesSeen) / 1e6, $0.bpb) }) })
        try validationChart.svg().write(toFile: (outDirectory as NSString).appendingPathComponent(validationSVG), atomically: true, encoding: .utf8)
        var trainChart = LineChart(
            title: "Training bits per byte (mean of \(trainWindow) steps)", xLabel: "training bytes seen (MB)", yLabel: "bits per byte",
            series: loaded.map { r in .init(name: r.label, points: r.smoothedTrain(window: trainWindow).map { (Double($0.bytesSeen) / 1e6, $0.bpb) }) })
        trainChart.markers = false
        try trainChart.svg().write(toFile: (outDirectory as NSString).appendingPathComponent(trainSVG), atomically: true, encoding: .utf8)
        md += "![training bits per byte against training bytes seen](\(trainSVG))\n\n"
        md += validationTable(loaded)

        // Continuations.
        md += try samplesSection(loaded, context: context)
        if let notes, let text = notesText {
            md += "## Reading the results\n\n*Written by hand after the runs, from `\(notes)`; the figures above are generated.*\n\n"
            md += text.hasSuffix("\n") ? text + "\n" : text + "\n\n"
        }
        md += runNotesSection(loaded)
        md += limitsSection(loaded)
        md += machineSection()
        md += try commandsSection(loaded)

        try md.write(toFile: out, atomically: true, encoding: .utf8)
        print("wrote \(out), \((outDirectory as NSString).appendingPathComponent(validationSVG)), \((outDirectory as NSString).appendingPathComponent(trainSVG))")
    }

    // MARK: Sections

    /// The options all runs share, and those that differ.
    func optionsSection(_ runs: [GraftRun]) throws -> String {
        let dictionaries = try runs.map { r -> [String: String] in
            let data = try JSONEncoder().encode(r.options)
            let object = try JSONSerialization.jsonObject(with: data) as? [String: Any] ?? [:]
            return object.mapValues { value in
                if let d = try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .fragmentsAllowed, .withoutEscapingSlashes]) {
                    return String(decoding: d, as: UTF8.self)
                }
                return "\(value)"
            }
        }
        let keys = Set(dictionaries.flatMap(\.keys)).sorted()
        let shared = keys.filter { k in dictionaries.allSatisfy { $0[k] == dictionaries[0][k] } }
        let differing = keys.filter { !shared.contains($0) }
        var md = "Training options (`options.json`) shared by all runs: "
        md += shared.map { "`\($0)` = `\(dictionaries[0][$0] ?? "–")`" }.joined(separator: ", ") + ".\n\n"
        if differing.isEmpty {
            md += "No training option differs between the runs.\n\n"
        } else {
            md += "Options that differ: " + differing.map { k in
                "`\(k)` (" + zip(runs, dictionaries).map { "\($0.label): `\($1[k] ?? "–")`" }.joined(separator: ", ") + ")"
            }.joined(separator: "; ") + ".\n\n"
        }
        md += "The same seed, data and validation fraction give the same training order and the same held-out documents.\n\n"
        return md
    }

    /// Which held-out documents the validation rows cover (the split and rows of hat train).
    func validationDataSection(_ run: GraftRun) throws -> String {
        let o = run.options, config = run.config
        let documents = try Corpus.documents(paths: o.data)
        let (_, validation) = Corpus.split(documents, validationFraction: o.validationFraction, seed: o.seed)
        let splitter = try config.makeSplitter()
        let stream = Corpus.wordStream(validation, splitter: splitter, endOfSequence: UInt8(config.eosTokenId))
        var rows = stream.rows(wordsPerRow: o.wordsPerRow, maxRowBytes: o.maxRowBytes)
        let allRows = rows.count
        if let limit = o.validationRows { rows = Array(rows.prefix(limit)) }
        let endWord = rows.last?.upperBound ?? 0
        let usedBytes = rows.reduce(0) { $0 + stream.byteCount(of: $1) }
        var covered: [String] = []
        for (d, document) in validation.enumerated() {
            let first = stream.documentFirstWord[d]
            let last = d + 1 < validation.count ? stream.documentFirstWord[d + 1] : stream.wordCount
            guard first < endWord else { break }
            let seen = stream.byteCount(of: first..<min(last, endWord)) - 1  // minus the end-of-sequence word
            covered.append(seen >= document.bytes.count ? "`\(document.name)` (all \(grouped(document.bytes.count)) bytes)"
                                                         : "`\(document.name)` (the first \(grouped(seen)) of \(grouped(document.bytes.count)) bytes)")
        }
        var md = "Validation data: \(validation.count) of \(documents.count) documents are held out (\(Int(o.validationFraction * 100)) %, seed \(o.seed)): "
        md += validation.map { "`\($0.name)`" }.joined(separator: ", ") + ". "
        md += "Each validation evaluates \(rows.count) of their \(allRows) rows (\(grouped(usedBytes)) bytes), which cover "
        md += covered.joined(separator: ", ") + ". The same rows are used at every validation of every run.\n\n"
        return md
    }

    /// Compares the two starting models tensor by tensor.
    func initialSection() throws -> String {
        let (labelA, pathA) = Self.split(initialModels[0])!, (labelB, pathB) = Self.split(initialModels[1])!
        let (configA, a) = try ModelFiles.load(from: pathA)
        let (configB, b) = try ModelFiles.load(from: pathB)
        guard a.entries.map(\.spec) == b.entries.map(\.spec) else {
            throw CommandError("\(pathA) and \(pathB) do not have the same tensors and shapes")
        }
        var localTensors = 0, localScalars = 0, localMax: Float = 0
        var backboneTensors = 0, backboneEqual = 0, backboneMax: Float = 0
        for entry in a.entries {
            let x = a.values + entry.offset, y = b.values + entry.offset
            var m: Float = 0
            for i in 0..<entry.count { m = max(m, abs(x[i] - y[i])) }
            if TrainingOptions.part(of: entry.name) == "backbone" {
                backboneTensors += 1
                if m == 0 { backboneEqual += 1 }
                backboneMax = max(backboneMax, m)
            } else {
                localTensors += 1
                localScalars += entry.count
                localMax = max(localMax, m)
            }
        }
        var md = "### Starting points\n\n"
        md += "`\(pathA)` (\(labelA)) and `\(pathB)` (\(labelB)): the \(localTensors) non-backbone tensors (\(grouped(localScalars)) weights: "
        md += "encoder, pooling, decoder, head) differ by at most \(localMax) (\(localMax == 0 ? "identical" : "NOT identical")); "
        md += "\(backboneTensors - backboneEqual) of \(backboneTensors) backbone tensors differ (largest difference \(f(Double(backboneMax), 3))). "
        md += "Provenance notes: \(labelA): \"\(configA.provenance.notes ?? "–")\"; \(labelB): \"\(configB.provenance.notes ?? "–")\".\n\n"
        return md
    }

    /// The reference run against each other run, at the end and along the way.
    func comparisonSection(_ runs: [GraftRun]) -> String {
        let reference = runs[0]
        var md = ""
        for other in runs.dropFirst() {
            guard let a = reference.finalValidation, let b = other.finalValidation else { continue }
            let difference = b.bpb - a.bpb
            md += "**\(reference.label) against \(other.label):** after \(grouped(a.bytesSeen)) training bytes the validation loss is "
            md += "\(f(a.bpb, 4)) against \(f(b.bpb, 4)) bits per byte: \(reference.label) is "
            md += "\(f(abs(difference), 4)) bits per byte (\(f(abs(difference) / b.bpb * 100, 1)) %) \(difference > 0 ? "lower" : "higher"). "
            let shared = Dictionary(uniqueKeysWithValues: other.validations.map { ($0.step, $0.bpb) })
            let pairs = reference.validations.compactMap { v in shared[v.step].map { (v.step, v.bpb, $0) } }
            let better = pairs.filter { $0.1 < $0.2 }.count
            md += "\(reference.label) is lower at \(better) of \(pairs.count) validation points"
            if let firstLower = pairs.first(where: { $0.1 < $0.2 }) { md += " (first at step \(firstLower.0))" }
            md += ".\n\n"
        }
        return md
    }

    func validationTable(_ runs: [GraftRun]) -> String {
        var md = "### Every validation\n\n| step | bytes seen |" + runs.map { " \($0.label) BPB |" }.joined()
        if runs.count == 2 { md += " difference (\(runs[1].label) − \(runs[0].label)) |" }
        md += "\n|---:|---:|" + String(repeating: "---:|", count: runs.count + (runs.count == 2 ? 1 : 0)) + "\n"
        let steps = Set(runs.flatMap { $0.validations.map(\.step) }).sorted()
        for step in steps {
            let values = runs.map { r in r.validations.first { $0.step == step } }
            let bytes = values.compactMap { $0?.bytesSeen }.first ?? 0
            md += "| \(step) | \(grouped(bytes)) |" + values.map { " \(f($0?.bpb, 4)) |" }.joined()
            if runs.count == 2 {
                md += " \(values[0] != nil && values[1] != nil ? f(values[1]!.bpb - values[0]!.bpb, 4) : "–") |"
            }
            md += "\n"
        }
        return md + "\n"
    }

    func samplesSection(_ runs: [GraftRun], context: ComputeContext) throws -> String {
        guard !noSamples else { return "## Continuations\n\nNot generated (`--no-samples`).\n\n" }
        let prompts = self.prompts.isEmpty ? Self.defaultPrompts : self.prompts
        var md = "## Continuations\n\n"
        md += "From each run's final checkpoint, \(maxBytes) bytes, greedy (temperature 0) and sampled (temperature \(temperature), seed \(seed)); "
        md += "the same as `hat generate --model CHECKPOINT --prompt PROMPT --max-bytes \(maxBytes) --temperature T --seed \(seed)`. "
        md += "The prompt is in bold; ⏎ marks a line feed.\n\n"
        for r in runs {
            print("generating with \(r.finalCheckpoint)")
            let (config, parameters) = try ModelFiles.load(from: r.finalCheckpoint)
            md += "### \(r.label)\n\n"
            for prompt in prompts {
                for (name, sampling) in [("greedy", SamplingOptions.greedy),
                                         ("sampled", SamplingOptions(temperature: temperature, seed: seed))] {
                    let session = try GenerationSession(config: config, parameters: parameters, context: context)
                    let generator = Generator(model: session, sampling: sampling)
                    let result = try generator.generate(prompt: Array(prompt.utf8), limits: GenerationLimits(maxBytes: maxBytes))
                    let text = String(decoding: result.bytes, as: UTF8.self)
                    // Trailing spaces of the prompt go outside the bold markers (Markdown needs that).
                    let trimmed = String(prompt.reversed().drop { $0 == " " }.reversed())
                    md += "- \(name): **\(inline(trimmed))**\(String(repeating: " ", count: prompt.count - trimmed.count))\(inline(text))\n"
                }
            }
            md += "\n"
        }
        return md
    }

    /// Each run's NOTES.txt (interruptions, extended schedules), when it has one.
    func runNotesSection(_ runs: [GraftRun]) -> String {
        let blocks = runs.compactMap { runNotesBlock($0.directory) }
        guard !blocks.isEmpty else { return "" }
        return "## Run notes\n\nWritten while the runs went on (interruptions, extended schedules):\n\n" + blocks.joined(separator: "\n") + "\n"
    }

    /// What the numbers above can and cannot carry, with this experiment's sizes.
    func limitsSection(_ runs: [GraftRun]) -> String {
        let r = runs[0]
        let trainable = runs.map { "\($0.label) \(grouped($0.trainableCount))" }.joined(separator: ", ")
        var md = "## What this measures and what it does not\n\n"
        md += "- One seed per run: the same seed fixes the local weights, the data order and the held-out documents, so the "
        md += "comparison is paired, but there is no spread over seeds and no error bar.\n"
        md += "- The budget is small: \(grouped(r.bytesSeen)) training bytes (\(r.finalStep) steps of \(r.options.rowsPerBatch) rows × "
        md += "\(r.options.wordsPerRow) words), a small part of one pass over the corpus. The curves say how the runs start, not where they end.\n"
        md += "- Validation uses the same \(r.options.validationRows.map { "\($0) rows" } ?? "rows (all of them)") of the held-out documents each time "
        md += "(listed above), not all held-out text; no validation was made before the first step.\n"
        md += "- Trainable weights: \(trainable). With the backbone frozen in the runs compared, the control answers \"what do "
        md += "SmolLM2's weights give to the same local parts\"; a trainable random backbone (a \(r.config.backboneConfig.numHiddenLayers)-block "
        md += "backbone trained from scratch on the same bytes) would answer a different question and was not run.\n"
        if !runs.contains(where: { $0.options.freeze.isEmpty && $0.backboneDescription.contains("pretrained") }) {
            md += "- Stage 2 (everything trains, the backbone at a smaller learning rate) was not run.\n"
        }
        md += "- Wall time includes waiting: the runs were niced on a shared machine and may have been paused or starved, "
        md += "so CPU time says more about cost than wall time does.\n\n"
        return md
    }

    func machineSection() -> String {
        var md = "## Machine\n\n"
        let cpu = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let models = cpu.split(separator: "\n").filter { $0.hasPrefix("model name") }
        let model = models.first.map { $0.split(separator: ":", maxSplits: 1).last.map { $0.trimmingCharacters(in: .whitespaces) } ?? "?" } ?? "unknown"
        let memory = ((try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8)) ?? "").split(separator: "\n")
            .first { $0.hasPrefix("MemTotal") }.map { String($0.dropFirst("MemTotal:".count)).trimmingCharacters(in: .whitespaces) } ?? "unknown"
        md += "\(models.count) logical CPUs (\(model)), memory \(memory), \(ProcessInfo.processInfo.operatingSystemVersionString). "
        md += "The machine was shared: other training and builds ran at the same time, and the script runs training at `nice -n 15`, "
        md += "so wall time is much longer than CPU time and differs between runs for reasons that have nothing to do with the model; "
        md += "compare the runs by bytes seen, not by time.\n\n"
        return md
    }

    func commandsSection(_ runs: [GraftRun]) throws -> String {
        var md = "## Commands\n\n"
        for r in runs {
            md += "Training options of \(r.label) as `hat train` flags (from `\(r.directory)/options.json`):\n\n```\n\(r.trainFlags)\n```\n\n"
        }
        if let script {
            let text = try String(contentsOfFile: script, encoding: .utf8)
            md += "The whole experiment, `\(script)`:\n\n```bash\n\(text.hasSuffix("\n") ? text : text + "\n")```\n"
        }
        return md
    }
}

// MARK: - One run

/// What the report needs from one training run directory.
struct GraftRun {
    struct Validation { var step: Int; var bpb: Double; var bytesPerPosition: Double; var bytesSeen: Int }
    struct TrainStep { var step: Int; var bpb: Double; var bytesSeen: Int }

    let label: String
    let directory: String
    let options: TrainingOptions
    let validations: [Validation]
    let trainSteps: [TrainStep]
    let finalCheckpoint: String
    let finalStep: Int
    let bytesSeen: Int
    let stepSeconds: Double
    let medianStepSeconds: Double
    let parameterCount: Int
    let trainableCount: Int
    let backboneDescription: String
    let config: HATConfig
    let wallSeconds: Double?
    let cpuSeconds: Double?
    let loadDescription: String
    let finalTrainBPB: Double?

    var finalValidation: Validation? { validations.last }
    var validationRowsDescription: String {
        "\(options.validationRows.map { "the first \($0) rows" } ?? "all rows") of \(Int(options.validationFraction * 100)) % held-out documents, every \(options.validateEvery) steps"
    }

    init(label: String, directory: String, trainWindow: Int) throws {
        self.label = label
        self.directory = directory
        func file(_ name: String) -> String { (directory as NSString).appendingPathComponent(name) }
        guard let optionsData = FileManager.default.contents(atPath: file("options.json")) else {
            throw CommandError("\(file("options.json")) not found: is \(directory) a training run?")
        }
        options = try JSONDecoder().decode(TrainingOptions.self, from: optionsData)
        guard let metrics = FileManager.default.contents(atPath: file("metrics.jsonl")) else {
            throw CommandError("\(file("metrics.jsonl")) not found")
        }
        var validations: [Validation] = [], trainSteps: [TrainStep] = []
        var seconds = 0.0
        for (number, line) in String(decoding: metrics, as: UTF8.self).split(separator: "\n").enumerated() {
            guard let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  let split = object["split"] as? String, let step = object["step"] as? Int,
                  let bpb = object["bits_per_byte"] as? Double, let bytes = object["bytes_seen"] as? Int else {
                throw CommandError("\(file("metrics.jsonl")) line \(number + 1): expected an object with split, step, bits_per_byte and bytes_seen")
            }
            if split == "validation" {
                validations.append(Validation(step: step, bpb: bpb, bytesPerPosition: object["bytes_per_position"] as? Double ?? .nan, bytesSeen: bytes))
            } else {
                trainSteps.append(TrainStep(step: step, bpb: bpb, bytesSeen: bytes))
                seconds = object["elapsed_seconds"] as? Double ?? seconds
            }
        }
        guard let last = trainSteps.last else { throw CommandError("\(file("metrics.jsonl")) holds no training step") }
        self.validations = validations
        self.trainSteps = trainSteps
        finalStep = last.step
        bytesSeen = last.bytesSeen
        stepSeconds = seconds
        var durations: [Double] = []
        var previous = 0.0
        for line in String(decoding: metrics, as: UTF8.self).split(separator: "\n") {
            guard let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  object["split"] as? String == "train", let elapsed = object["elapsed_seconds"] as? Double else { continue }
            durations.append(elapsed - previous)
            previous = elapsed
        }
        durations.sort()
        medianStepSeconds = durations.isEmpty ? 0 : durations.count % 2 == 1 ? durations[durations.count / 2]
            : (durations[durations.count / 2 - 1] + durations[durations.count / 2]) / 2
        let tail = trainSteps.suffix(trainWindow)
        finalTrainBPB = tail.map(\.bpb).reduce(0, +) / Double(tail.count)

        guard let checkpoint = try Trainer.newestCheckpoint(in: file("checkpoints")) else {
            throw CommandError("no checkpoint in \(file("checkpoints"))")
        }
        finalCheckpoint = checkpoint
        let (config, parameters) = try ModelFiles.load(from: checkpoint)
        self.config = config
        parameterCount = parameters.scalarCount
        let frozen = options.freeze
        trainableCount = parameters.entries.filter { !frozen.contains(TrainingOptions.part(of: $0.name)) }.reduce(0) { $0 + $1.count }
        let b = config.backboneConfig
        let shape = "\(b.numHiddenLayers) × \(b.hiddenSize)"
        if let source = config.provenance.graftedFrom {
            backboneDescription = "\(shape), pretrained (\(((source["path"] ?? "?") as NSString).lastPathComponent))"
        } else {
            backboneDescription = "\(shape), random"
        }

        // time.txt: one "wall user sys" line per training command (GNU time -f "%e %U %S").
        if let text = try? String(contentsOfFile: file("time.txt"), encoding: .utf8) {
            let rows = text.split(separator: "\n").map { $0.split(separator: " ").compactMap { Double($0) } }.filter { $0.count == 3 }
            wallSeconds = rows.isEmpty ? nil : rows.map { $0[0] }.reduce(0, +)
            cpuSeconds = rows.isEmpty ? nil : rows.map { $0[1] + $0[2] }.reduce(0, +)
        } else {
            wallSeconds = nil
            cpuSeconds = nil
        }
        // load.txt: "start|end" and /proc/loadavg's first field, one line each.
        if let text = try? String(contentsOfFile: file("load.txt"), encoding: .utf8) {
            // An "end" closes the latest "start"; a start followed by another start never ended.
            var spans: [String] = [], open: String?
            for line in text.split(separator: "\n") {
                let field = line.split(separator: " ")
                guard field.count >= 2 else { continue }
                if field[0] == "start" {
                    if let open { spans.append("\(open) → (did not finish)") }
                    open = String(field[1])
                } else if field[0] == "end", let start = open {
                    spans.append("\(start) → \(field[1])")
                    open = nil
                }
            }
            if let open { spans.append("\(open) → (running)") }
            loadDescription = spans.joined(separator: "; ")
        } else {
            loadDescription = "not recorded"
        }
    }

    /// Training BPB averaged over `window` steps, one point per window.
    func smoothedTrain(window: Int) -> [TrainStep] {
        stride(from: 0, to: trainSteps.count, by: window).map { start in
            let slice = trainSteps[start..<min(start + window, trainSteps.count)]
            return TrainStep(step: slice.last!.step, bpb: slice.map(\.bpb).reduce(0, +) / Double(slice.count), bytesSeen: slice.last!.bytesSeen)
        }
    }

    /// The options as `hat train` flags (the data and run directory included).
    var trainFlags: String {
        let o = options
        var flags = ["--data " + o.data.joined(separator: " "), "--out \(directory)", "--steps \(o.steps)",
                     "--rows-per-batch \(o.rowsPerBatch)", "--words-per-row \(o.wordsPerRow)", "--max-row-bytes \(o.maxRowBytes)",
                     "--accumulation \(o.accumulation)", "--learning-rate \(o.learningRate)"]
        if let rate = o.backboneLearningRate { flags.append("--backbone-learning-rate \(rate)") }
        flags += ["--warmup-steps \(o.warmupSteps)", "--weight-decay \(o.adamw.weightDecay)", "--clip-norm \(o.clipNorm)"]
        if !o.freeze.isEmpty { flags.append("--freeze " + o.freeze.joined(separator: " ")) }
        flags += ["--validation-fraction \(o.validationFraction)", "--validate-every \(o.validateEvery)"]
        if let rows = o.validationRows { flags.append("--validation-rows \(rows)") }
        flags += ["--checkpoint-every \(o.checkpointEvery)", "--keep-checkpoints \(o.keepCheckpoints)", "--seed \(o.seed)"]
        return "hat train --init-from MODEL " + flags.joined(separator: " ")
    }
}

// MARK: - Formatting

private func f(_ value: Double?, _ decimals: Int) -> String {
    guard let value, value.isFinite else { return "–" }
    return String(format: "%.\(decimals)f", value)
}

private func grouped(_ n: Int) -> String {
    let digits = String(abs(n))
    var out = ""
    for (i, c) in digits.enumerated() {
        if i > 0 && (digits.count - i) % 3 == 0 { out += "," }
        out.append(c)
    }
    return (n < 0 ? "-" : "") + out
}

private func duration(_ seconds: Double) -> String {
    let s = Int(seconds.rounded())
    if s >= 3600 { return String(format: "%dh %02dm", s / 3600, (s % 3600) / 60) }
    if s >= 60 { return String(format: "%dm %02ds", s / 60, s % 60) }
    return "\(s) s"
}

/// Text for one Markdown line: line feeds shown as ⏎, Markdown control characters escaped.
private func inline(_ text: String) -> String {
    var out = ""
    for c in text {
        switch c {
        case "\n": out += "⏎"
        case "\r": out += "␍"
        case "\t": out += "⇥"
        case "*", "_", "`", "[", "]", "<", ">", "|", "#", "\\": out += "\\" + String(c)
        default: out.append(c)
        }
    }
    return out
}
