// hat report distill: the Markdown report of the distilled-grafting experiment
// (scripts/graft_distill.sh → Reports/graft-smollm2.md) from what its runs left under one root:
// ROOT/ARM/{metrics.jsonl, options.json, time.txt, NOTES.txt, checkpoints/ or config.json} for each arm and
// ROOT/eval/MODEL--SET.json, the `hat eval --json --score-blocks N` output of every arm, the shipped
// default and the teacher on each held-out set. The tables, intervals and charts are
// DistillationReport's (HATEval); this command only reads the files and writes the results.

import ArgumentParser
import Foundation
import HATCommandLine
import HATEval
import HATModel

struct ReportDistill: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "distill",
        abstract: "Report of the distilled-grafting experiment (scripts/graft_distill.sh) from its runs and held-out evaluations.",
        discussion: """
        hat report distill runs/distill --out Reports/graft-smollm2.md --notes Reports/graft-smollm2-notes.md
        """)

    /// The arms in the order the report lists them, with their labels.
    static let arms: [(key: String, label: String)] = [
        ("distilled", "(a) distilled: SmolLM2 blocks frozen, teacher"),
        ("plain", "(b) plain: SmolLM2 blocks frozen, no teacher"),
        ("random", "(c) random blocks frozen, teacher"),
        ("stage2", "(a2) stage 2 from (a)"),
        ("stage2-long", "(a2′) stage 2 from (b), backbone frozen, other bytes"),
        ("stage2-prose", "(a2″) as (a2′), half the bytes literature"),
        ("stage2-more", "(a3) (a2″) + 600 steps at half its rate"),
        ("stage2-lit", "(a4) (a3) + 600 steps on literature alone"),
        ("stage2-prose-distilled", "(a2″ᵈ) as (a2″), from (a)"),
        ("stage2-more-distilled", "(a3ᵈ) as (a3), from (a2″ᵈ)"),
        ("stage2-lit-distilled", "(a4ᵈ) as (a4), from (a3ᵈ)"),
    ]
    /// Models evaluated besides the arms.
    static let references: [(key: String, label: String)] = [
        ("teacher", "SmolLM2-135M (teacher, tokens)"),
        ("default", "Models/default (from scratch; the default until (a4))"),
    ]

    @Argument(help: "The experiment's root directory (runs/distill).") var root: String
    @Option(help: "Markdown file to write; the SVG charts go beside it.") var out: String
    @Option(help: "Markdown file of hand-written reading of the results, included under its own heading.") var notes: String?
    @Option(parsing: .upToNextOption, help: "Held-out sets, in the report's order (ROOT/eval/MODEL--SET.json).")
    var sets: [String] = ["prose", "technical"]

    func run() throws {
        var reading: String?
        if let notes {
            guard let text = try? String(contentsOfFile: notes, encoding: .utf8) else {
                throw CommandError("--notes \(notes): not found or not UTF-8 text")
            }
            reading = text
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: root, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw CommandError("\(root): not a directory (the experiment's root, e.g. runs/distill)")
        }
        let arms = try Self.arms.compactMap { try Self.readArm(root: root, key: $0.key, label: $0.label) }
        guard !arms.isEmpty else { throw CommandError("\(root): no arm has a metrics.jsonl (\(Self.arms.map(\.key).joined(separator: ", ")))") }

        var scored: [DistillationReport.Scored] = []
        for (key, label) in Self.references + Self.arms {
            var results: [String: EvaluationResult] = [:]
            for set in sets {
                let path = "\(root)/eval/\(key)--\(set).json"
                if FileManager.default.fileExists(atPath: path) { results[set] = try Self.readEvaluation(path) }
            }
            if !results.isEmpty { scored.append(.init(key: key, label: label, results: results)) }
        }

        let command = "hat report distill \(root) --out \(out)" + (notes.map { " --notes \($0)" } ?? "")
        let report = DistillationReport(arms: arms, scored: scored, sets: sets, reading: reading, command: command)
        let directory = (out as NSString).deletingLastPathComponent
        if !directory.isEmpty { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) }
        let charts = report.charts()
        for chart in charts {
            try chart.svg.write(toFile: (directory as NSString).appendingPathComponent(chart.file), atomically: true, encoding: .utf8)
        }
        try report.markdown(charts: charts.map { ($0.file, $0.caption) }).write(toFile: out, atomically: true, encoding: .utf8)
        print("wrote \(out) and \(charts.count) charts beside it (\(arms.count) arms, \(scored.count) models evaluated)")
    }

    /// An arm's files, or nil when the arm has not started (no metrics.jsonl).
    static func readArm(root: String, key: String, label: String) throws -> DistillationReport.Arm? {
        let directory = "\(root)/\(key)"
        let metricsPath = "\(directory)/metrics.jsonl"
        guard let text = try? String(contentsOfFile: metricsPath, encoding: .utf8) else { return nil }
        var metrics: [[String: Any]] = []
        for (number, line) in text.split(separator: "\n").enumerated() where !line.isEmpty {
            // A line cut short by a kill is the only damage expected; anything else is an error.
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
                if number == text.split(separator: "\n").count - 1 { continue }
                throw CommandError("\(metricsPath): line \(number + 1) is not a JSON object")
            }
            metrics.append(object)
        }
        let options = (try? Data(contentsOf: URL(fileURLWithPath: "\(directory)/options.json")))
            .flatMap { try? JSONDecoder().decode(TrainingOptions.self, from: $0) }
        // time.txt: one "wall user sys" line per invocation of the trainer (/usr/bin/time -f "%e %U %S").
        var wall = 0.0, cpu = 0.0
        if let times = try? String(contentsOfFile: "\(directory)/time.txt", encoding: .utf8) {
            for line in times.split(separator: "\n") {
                let fields = line.split(separator: " ").compactMap { Double($0) }
                if fields.count == 3 { wall += fields[0]; cpu += fields[1] + fields[2] }
            }
        }
        let notes = try? String(contentsOfFile: "\(directory)/NOTES.txt", encoding: .utf8)
        // Provenance: the newest checkpoint's config, or the copy of it an archived arm keeps
        // (scripts/graft_distill.sh copies finished arms without their checkpoints).
        let configPath = (try? Trainer.newestCheckpoint(in: "\(directory)/checkpoints"))
            .map { ($0 as NSString).appendingPathComponent(ModelFiles.configName) } ?? "\(directory)/\(ModelFiles.configName)"
        let provenance = (try? HATConfig.load(path: configPath))?.provenance.notes
        return .init(key: key, label: label, metrics: metrics, options: options, wallSeconds: wall, cpuSeconds: cpu, notes: notes,
                     provenance: provenance)
    }

    /// `hat eval --json --documents` output: totals, and per document (or block) its predicted
    /// bytes and loss. Documents given only by bits per byte are converted to nats.
    static func readEvaluation(_ path: String) throws -> EvaluationResult {
        guard let data = FileManager.default.contents(atPath: path),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw CommandError("\(path): not a JSON object (expected the output of hat eval --json --documents)")
        }
        func number(_ o: [String: Any], _ key: String) -> Double? { (o[key] as? NSNumber)?.doubleValue }
        guard let predicted = number(object, "predicted_bytes"), let loss = number(object, "loss_nats") else {
            throw CommandError("\(path): predicted_bytes or loss_nats missing (expected the output of hat eval --json)")
        }
        var result = EvaluationResult(predictedBytes: Int(predicted), bytes: Int(number(object, "bytes") ?? predicted),
                                      words: Int(number(object, "words") ?? number(object, "positions") ?? 0),
                                      lossNats: loss, seconds: number(object, "seconds") ?? 0)
        // Per-unit scores: "per_document" (hat eval --documents), or "documents" as objects.
        if let documents = (object["per_document"] ?? object["documents"]) as? [[String: Any]] {
            result.documents = try documents.map { d in
                guard let name = d["name"] as? String, let bytes = number(d, "predicted_bytes") ?? number(d, "bytes") else {
                    throw CommandError("\(path): a document without name or predicted_bytes")
                }
                let nats = number(d, "loss_nats") ?? number(d, "bits_per_byte").map { $0 * bytes * log(2) }
                guard let nats else { throw CommandError("\(path): document \(name) has neither loss_nats nor bits_per_byte") }
                return DocumentScore(name: name, predictedBytes: Int(bytes), lossNats: nats)
            }
        }
        return result
    }
}
