// hat robustness: how a model degrades when the spelling of its context goes wrong (issue 7).
// Draws samples (N context words + M clean target words) from text, perturbs the contexts with
// the seeded perturbations of HATEval at several rates, and reports Δ target bits per byte,
// Δ greedy next-word accuracy and the perturbed text's own bits per byte against the clean run,
// with paired bootstrap intervals; optionally the First Folio against modern Shakespeare.
// Models may be HAT directories or token models (GGUF, Hugging Face Llama); each --compare model
// is also compared with --model: relative degradation and paired differences of Δ.
// Writes results.json, robustness.md and SVG charts into --out (via a temporary directory).

import ArgumentParser
import Foundation
import HATCommandLine
import HATEval
import HATModel
import HATTensor
import HATText

extension NextWordMode: ExpressibleByArgument {}

struct Robustness: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Robustness to spelling perturbations: Δ bits per byte and Δ next-word accuracy with bootstrap intervals.",
        discussion: """
            Each sample is --context-words words (perturbed) followed by --target-words words (clean), \
            drawn without overlap from --data with --seed. Every model (--model and each --compare) \
            is scored on the same samples with the same per-sample perturbation seeds. Perturbation \
            names are those of `hat perturb --list`; 'a+b' composes two in one condition; 'none' \
            skips them (e.g. for --folio alone). Press Ctrl-C to stop: the run then writes only a \
            results file marked interrupted (OUT.interrupted/results.json), never a report.
            Typical use (samples from the documents a training run held out, plus the Folio test): \
            hat robustness --model Models/default --held-out-of runs/default --out Reports/robustness \
            --folio data/shakespeare/aligned
            """)

    @Option(help: ArgumentHelp(Locations.modelHelp)) var model: String?
    @Option(parsing: .upToNextOption, help: "Other models (either kind) scored on the same samples and compared with --model.")
    var compare: [String] = []
    @Option(name: .customLong("names"),
            help: "Names of the models in the report, comma-separated, in the order --model, --compare… (default: directory names).")
    var modelNames: String?
    @Option(parsing: .upToNextOption, help: "Text files or directories of *.txt to draw samples from.")
    var data: [String] = []
    @Option(help: ArgumentHelp("Use only documents that this training run held out for validation (reads RUN/options.json).",
                               valueName: "RUN"))
    var heldOutOf: String?
    @Option(help: "Perturbations: all, none, or names separated by commas ('a+b' composes).")
    var perturbations = "all"
    @Option(parsing: .unconditional, help: "Rates (share of words selected), comma-separated, each in (0, 1].") var rates = "0.05,0.1,0.2"
    @Option(parsing: .unconditional, help: "Number of samples.") var samples = 200
    @Option(parsing: .unconditional, help: "Context words per sample (perturbed).") var contextWords = 64
    @Option(parsing: .unconditional, help: "Target words per sample (clean).") var targetWords = 16
    @Option(parsing: .unconditional, help: "Seed of the samples and their perturbations.") var seed: UInt64 = 0
    @Option(parsing: .unconditional, help: "Bootstrap resamples for the 95 % intervals.") var bootstrap = 1000
    @Option(help: ArgumentHelp("Next-word accuracy from the forward's logits (forward, fast) or by greedy cached decoding (generate: about twice the time; adds a whitespace-trimmed accuracy and the predicted words).",
                               valueName: "forward|generate"))
    var nextWord: NextWordMode = .forward
    @Option(help: ArgumentHelp("Misspelling table for 'misspell' (wrong TAB right). Default: \(Robustness.defaultMisspellings), else the dictionary of Debian's codespell package (\(MisspellingTable.codespellDictionary)).",
                               valueName: "FILE"))
    var misspellings: String?
    @Option(help: ArgumentHelp("Aligned Shakespeare plays (<play>.tsv, modern TAB folio) for the natural-spelling test.",
                               valueName: "DIR"))
    var folio: String?
    @Option(help: "Plays for --folio, comma-separated (default: every .tsv in DIR).") var folioPlays: String?
    @Option(parsing: .unconditional, help: "First line pairs per play for --folio (0: all).") var folioLines = 500
    @Option(parsing: .unconditional, help: "Lines per bootstrap block for --folio.") var folioBlockLines = 20
    @Option(help: "Output directory: results.json, robustness.md, SVG charts.") var out: String?
    @Flag(help: "Print the results as JSON on standard output.") var json = false
    @Flag(help: "Keep every sample and its per-sample scores in results.json.") var keepSamples = false
    @Option(parsing: .unconditional, help: "Bytes per forward pass (speed and memory only; results do not depend on it).") var batchBytes = 4096
    @OptionGroup var threadOptions: ThreadOptions

    var perturbationNames: [String] {
        switch perturbations.trimmingCharacters(in: .whitespaces) {
        case "all": return Perturbations.catalogue.map(\.name)
        case "none", "": return []
        default: return perturbations.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        }
    }

    var rateValues: [Double] { rates.split(separator: ",").compactMap { Double($0.trimmingCharacters(in: .whitespaces)) } }

    func validate() throws {
        let parts = rates.split(separator: ",")
        guard !parts.isEmpty, parts.count == rateValues.count else {
            throw ValidationError("--rates must be numbers separated by commas, found '\(rates)'")
        }
        for r in rateValues where !(r > 0 && r <= 1) {
            throw ValidationError("every rate must be in (0, 1], found \(r) (rate 0 is the clean run, always included)")
        }
        if !perturbationNames.isEmpty {
            if data.isEmpty && heldOutOf == nil {
                throw ValidationError("--data (or --held-out-of RUN) is needed to draw samples; use --perturbations none for --folio alone")
            }
            try checkFlag("samples", samples, 1...Limits.samples)
            try checkFlag("context-words", contextWords, 1...Limits.sampleWords)
            try checkFlag("target-words", targetWords, 1...Limits.sampleWords)
        } else if folio == nil {
            throw ValidationError("nothing to do: --perturbations none without --folio")
        }
        try checkFlag("bootstrap", bootstrap, 10...Limits.bootstrapResamples)
        if let modelNames, modelNames.split(separator: ",").count != 1 + compare.count {
            throw ValidationError("--names needs one name per model (--model and each --compare: \(1 + compare.count)), found '\(modelNames)'")
        }
        try checkFlag("batch-bytes", batchBytes, 64...Limits.batchBytes)
        try checkFlag("folio-lines", folioLines, 0...Limits.samples, "(0: all)")
        try checkFlag("folio-block-lines", folioBlockLines, 1...Limits.samples)
    }

    func run() throws {
        let context = threadOptions.makeContext()
        let started = Date()
        let names = perturbationNames
        let table: MisspellingTable? = names.contains(where: { $0.split(separator: "+").contains("misspell") })
            ? try loadMisspellings() : nil
        for name in names {
            do { _ = try RobustnessRun.perturbation(named: name, misspellings: table) } catch {
                throw ValidationError("--perturbations: \(error)")
            }
        }
        if let out {
            do { try RobustnessOutput.check(directory: out) } catch { throw ValidationError("--out: \(error)") }
        }

        // Models.
        let mainPath = try model ?? Locations.defaultModel()
        var models: [RobustnessModel] = []
        let labels = modelNames?.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        for (k, path) in ([mainPath] + compare).enumerated() {
            let weights: RobustnessModel.Weights
            if TokenModelFiles.isTokenModel(path) {
                if folio != nil {
                    throw ValidationError("--folio scores HAT models only; \(path) is a token model (run the Folio test without it)")
                }
                weights = .token(try TokenModelBundle(path: path))
            } else {
                let (config, parameters) = try ModelFiles.load(from: path)
                weights = .hat(config: config, parameters: parameters)
            }
            var name = labels?[k] ?? Robustness.displayName(path)
            if models.contains(where: { $0.name == name }) { name += "#\(models.count + 1)" }
            models.append(RobustnessModel(name: name, path: path, weights: weights))
        }

        // Samples, cut into words by the first HAT model's splitter (hat's default for token models alone).
        var options = RobustnessOptions(perturbations: names)
        options.rates = rateValues
        options.samples = samples
        options.contextWords = contextWords
        options.targetWords = targetWords
        options.seed = seed
        options.bootstrap = BootstrapSettings(resamples: bootstrap, level: 0.95, seed: seed)
        options.batchBytes = batchBytes
        options.keepSampleScores = keepSamples
        options.nextWord = nextWord
        var drawn: [RobustnessSample] = []
        var dataPaths: [String] = []
        if !names.isEmpty {
            let (documents, paths) = try loadDocuments()
            dataPaths = paths
            let splitter = try RobustnessModel.sampleSplitter(models)
            drawn = RobustnessSamples.draw(documents: documents, splitter: splitter, contextWords: contextWords,
                                           targetWords: targetWords, count: samples, seed: seed)
            if drawn.isEmpty {
                throw CommandError("no samples: the data has no run of \(contextWords + targetWords) words with a valid UTF-8 context")
            }
            if drawn.count < samples {
                note("only \(drawn.count) non-overlapping samples fit in the data (asked for \(samples))")
            }
        }
        var folioOptions: FolioOptions?
        if let folio {
            var f = FolioOptions(directory: folio)
            f.plays = folioPlays.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
            f.linesPerPlay = folioLines == 0 ? nil : folioLines
            f.blockLines = folioBlockLines
            folioOptions = f
        }

        // Announce the work and a first estimate.
        let conditions = names.count * rateValues.count
        note("models: \(models.map(\.name).joined(separator: ", ")); samples: \(drawn.count) × (\(contextWords) + \(targetWords)) words; "
             + "conditions: clean + \(conditions) (\(names.count) perturbations × \(rateValues.count) rates)"
             + (folio != nil ? "; plus First Folio vs modern" : ""))

        signal(SIGINT) { _ in
            if RobustnessRun.stopRequested != 0 { _exit(130) }
            RobustnessRun.stopRequested = 1
        }
        signal(SIGTERM) { _ in RobustnessRun.stopRequested = 1 }

        let onTerminal = isatty(STDERR_FILENO) != 0
        var lastPhase = "", estimated = false, lastLine = Date.distantPast
        var results = try RobustnessRun.run(models: models, samples: drawn, options: options, misspellings: table,
                                            folio: folioOptions, context: context, progress: { p in
            let fraction = p.totalBytes > 0 ? Double(p.doneBytes) / Double(p.totalBytes) : 0
            if !estimated, fraction >= 0.05, let left = p.remainingSeconds {
                estimated = true
                let line = String(format: "estimated total time: %@ (%.2f MB of model input at %.1f kB/s so far)",
                                  Robustness.duration(p.seconds + left), Double(p.totalBytes) / 1e6,
                                  Double(p.doneBytes) / p.seconds / 1000)
                if onTerminal { FileHandle.standardError.write(Data("\r\u{1B}[2K".utf8)) }
                note(line)
            }
            let left = p.remainingSeconds.map { ", " + Robustness.duration($0) + " left" } ?? ""
            let line = String(format: "%@ %@: %.1f %%%@", p.model, p.phase, 100 * fraction, left)
            if onTerminal {
                FileHandle.standardError.write(Data("\r\u{1B}[2K\(line)".utf8))
            } else if p.phase != lastPhase || Date().timeIntervalSince(lastLine) > 60 {
                note(line)
                lastLine = Date()
            }
            lastPhase = p.phase
        })
        if onTerminal { FileHandle.standardError.write(Data("\r\u{1B}[2K".utf8)) }

        results.command = Robustness.commandLine()
        results.version = HAT.version
        results.date = ISO8601DateFormatter().string(from: started)
        results.data = dataPaths
        let jsonData = try RobustnessOutput.encode(results)
        if json { print(String(decoding: jsonData, as: UTF8.self)) }
        if results.status != "complete" {
            if let out {
                let written = try RobustnessOutput.write(results, to: out)
                note("interrupted: no report written; what finished is in \(written) (status \"interrupted\")")
            } else {
                note("interrupted: the results are incomplete")
            }
            throw ExitCode(130)
        }
        if let out {
            try RobustnessOutput.write(results, to: out)
            let charts = results.models.contains { !$0.conditions.isEmpty } ? " and charts" : ""
            note("wrote \(out)/results.json, \(out)/robustness.md\(charts) in \(Robustness.duration(Date().timeIntervalSince(started)))")
        } else if !json {
            print(RobustnessReport.markdown(results, charts: []))
        }
    }

    // MARK: Inputs

    static let defaultMisspellings = "data/spelling/codespell.tsv"

    /// --misspellings when given; else data/spelling/codespell.tsv; else codespell's dictionary
    /// as Debian installs it (scripts/setup installs the package).
    func loadMisspellings() throws -> MisspellingTable {
        if let misspellings {
            guard FileManager.default.fileExists(atPath: misspellings) else {
                throw CommandError("--misspellings: \(misspellings) does not exist")
            }
            return try MisspellingTable.load(path: misspellings)
        }
        return try Robustness.defaultMisspellingTable(tsv: Robustness.defaultMisspellings,
                                                      dictionary: MisspellingTable.codespellDictionary)
    }

    /// The table at `tsv`, else codespell's `dictionary`; a clear error when neither exists.
    static func defaultMisspellingTable(tsv: String, dictionary: String) throws -> MisspellingTable {
        if FileManager.default.fileExists(atPath: tsv) { return try MisspellingTable.load(path: tsv) }
        if FileManager.default.fileExists(atPath: dictionary) { return try MisspellingTable.load(codespellDictionary: dictionary) }
        throw CommandError("'misspell' needs a misspelling table: neither \(tsv) nor codespell's dictionary \(dictionary) exists (run scripts/setup to install Debian's codespell, or scripts/fetch_data.py spelling, pass --misspellings FILE, or leave misspell out of --perturbations)")
    }

    /// The documents to draw from, and the paths they came from.
    func loadDocuments() throws -> ([Document], [String]) {
        var paths = data
        var exclude: Set<String> = []
        if let run = heldOutOf {
            let optionsPath = (run as NSString).appendingPathComponent("options.json")
            guard let bytes = FileManager.default.contents(atPath: optionsPath) else {
                throw CommandError("\(optionsPath): cannot read (is \(run) a training run directory?)")
            }
            let training = try JSONDecoder().decode(TrainingOptions.self, from: bytes)
            let documents = try Corpus.documents(paths: training.data)
            let split = Corpus.split(documents, validationFraction: training.validationFraction, seed: training.seed)
            exclude = Set(split.train.map(\.name))
            if paths.isEmpty { paths = training.data }
            note("held out by \(run): \(split.validation.map(\.name).joined(separator: ", "))")
        }
        let documents = try Corpus.documents(paths: paths).filter { !exclude.contains($0.name) }
        if documents.isEmpty { throw CommandError("no documents left to draw samples from") }
        return (documents, paths)
    }

    // MARK: Helpers

    func note(_ line: String) { FileHandle.standardError.write(Data((line + "\n").utf8)) }

    /// "default/step-00000050" for a checkpoint of runs/default, else the directory's name.
    static func displayName(_ path: String) -> String {
        let parts = (path as NSString).standardizingPath.split(separator: "/").map(String.init)
        if parts.count >= 3, parts[parts.count - 2] == "checkpoints" {
            return parts[parts.count - 3] + "/" + parts[parts.count - 1]
        }
        return parts.last ?? path
    }

    static func duration(_ s: Double) -> String {
        s >= 3600 ? String(format: "%.1f h", s / 3600) : s >= 90 ? String(format: "%.0f min", s / 60) : String(format: "%.0f s", s)
    }

    /// This command as typed, starting with `hat`, quoted for a POSIX shell where needed.
    static func commandLine() -> String {
        let safe = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=,+:@%")
        return (["hat"] + CommandLine.arguments.dropFirst()).map { arg in
            !arg.isEmpty && arg.allSatisfy({ safe.contains($0) }) ? arg : "'" + arg.replacingOccurrences(of: "'", with: "'\\''") + "'"
        }.joined(separator: " ")
    }
}
