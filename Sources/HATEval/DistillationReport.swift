// DistillationReport: the Markdown and SVG charts of the distilled-grafting experiment
// (scripts/graft_distill.sh, Reports/graft-smollm2.md) from what its runs left on disk: each
// arm's metrics log, options and times, and the held-out evaluations (per document or block) of
// every arm, the shipped default and the teacher. Intervals are percentile bootstraps over the
// scoring units (documents, or blocks of documents), paired between models on the same units.
// Pure: the command line reads the files and writes what this returns.

import Foundation
import HATModel

public struct DistillationReport {
    /// One training run of the experiment.
    public struct Arm {
        public var key: String           // directory name: distilled, plain, random, stage2, stage2-long, …
        public var label: String
        /// Lines of metrics.jsonl.
        public var metrics: [[String: Any]]
        public var options: TrainingOptions?
        /// Wall, user and system seconds summed over the run's invocations (time.txt).
        public var wallSeconds: Double
        public var cpuSeconds: Double
        public var notes: String?
        /// The model's provenance notes (its newest checkpoint's config): where backbone and local parts came from.
        public var provenance: String?
        public init(key: String, label: String, metrics: [[String: Any]], options: TrainingOptions?, wallSeconds: Double,
                    cpuSeconds: Double, notes: String?, provenance: String? = nil) {
            self.provenance = provenance
            self.key = key
            self.label = label
            self.metrics = metrics
            self.options = options
            self.wallSeconds = wallSeconds
            self.cpuSeconds = cpuSeconds
            self.notes = notes
        }
    }

    /// A model's held-out results: set name ("prose", "technical") → evaluation with units.
    public struct Scored {
        public var key: String
        public var label: String
        public var results: [String: EvaluationResult]
        public init(key: String, label: String, results: [String: EvaluationResult]) {
            self.key = key
            self.label = label
            self.results = results
        }
    }

    public var arms: [Arm]
    public var scored: [Scored]
    public var sets: [String]
    public var bootstrap = BootstrapSettings(resamples: 2000, level: 0.95, seed: 0)
    /// Hand-written reading, included under its own heading.
    public var reading: String?
    /// How the report was made (shown at the top and in the commands section).
    public var command: String

    public init(arms: [Arm], scored: [Scored], sets: [String], reading: String?, command: String) {
        self.arms = arms
        self.scored = scored
        self.sets = sets
        self.reading = reading
        self.command = command
    }

    // MARK: Statistics

    /// Units (names), nats and bytes of a model on a set, in unit-name order.
    func units(_ key: String, _ set: String) -> (names: [String], nats: [Double], bytes: [Double])? {
        guard let result = scored.first(where: { $0.key == key })?.results[set], let documents = result.documents else { return nil }
        let sorted = documents.sorted { $0.name < $1.name }
        return (sorted.map(\.name), sorted.map(\.lossNats), sorted.map { Double($0.predictedBytes) })
    }

    /// Bits per byte of a model on a set with its interval over units.
    public func bitsPerByte(_ key: String, _ set: String) -> Interval? {
        guard let u = units(key, set) else { return nil }
        return Bootstrap.bitsPerByte(nats: u.nats, bytes: u.bytes, settings: bootstrap)
    }

    /// Paired difference a − b on the same units (nil when either is missing or their units differ).
    public func difference(_ a: String, minus b: String, on set: String) -> Interval? {
        guard let x = units(a, set), let y = units(b, set), x.names == y.names else { return nil }
        return Bootstrap.bitsPerByteDifference(nats: x.nats, bytes: x.bytes, minus: y.nats, bytes: y.bytes, settings: bootstrap)
    }

    func bytesPerPosition(_ key: String, _ set: String) -> Double? {
        scored.first(where: { $0.key == key })?.results[set]?.bytesPerPosition
    }

    // MARK: Markdown

    static func f(_ x: Double?, _ decimals: Int = 3) -> String {
        guard let x, x.isFinite else { return "–" }
        return String(format: "%.\(decimals)f", x)
    }

    static func interval(_ i: Interval?, signed: Bool = false) -> String {
        guard let i else { return "–" }
        let format = signed ? "%+.3f" : "%.3f"
        return String(format: "\(format) [\(format), \(format)]", i.estimate, i.low, i.high)
    }

    func label(_ key: String) -> String {
        scored.first { $0.key == key }?.label ?? arms.first { $0.key == key }?.label ?? key
    }

    /// An arm's wall and CPU seconds: its timed invocations' (`time.txt`), unless the trainer's clock
    /// (`elapsed_seconds`, carried across resumes) ran longer — a killed invocation records no time —
    /// in which case the wall time is the clock's and the CPU time is scaled by the recorded ratio.
    static func time(of arm: Arm) -> (wall: Double, cpu: Double) {
        let clock = arm.metrics.compactMap { $0["elapsed_seconds"] as? Double }.max() ?? 0
        guard clock > arm.wallSeconds else { return (arm.wallSeconds, arm.cpuSeconds) }
        let ratio = arm.wallSeconds > 0 ? arm.cpuSeconds / arm.wallSeconds : 1
        return (clock, clock * ratio)
    }

    public func markdown(charts: [(file: String, caption: String)]) -> String {
        var md = "# Grafting SmolLM2-135M by distillation\n\n"
        md += "Generated by `\(command)` from the runs of `scripts/graft_distill.sh`. Bits per byte on held-out text "
            + "(never trained on) with 95 % percentile-bootstrap intervals over \(bootstrap.resamples) resamples of the "
            + "scoring units; differences are paired on the same units.\n\n"

        md += "## Held-out bits per byte\n\n"
        md += "| model | " + sets.map { "\($0) BPB [95 %]" }.joined(separator: " | ") + " | "
            + sets.map { "\($0) bytes/position" }.joined(separator: " | ") + " |\n"
        md += "|---|" + String(repeating: "---|", count: 2 * sets.count) + "\n"
        for s in scored {
            md += "| \(s.label) | " + sets.map { Self.interval(bitsPerByte(s.key, $0)) }.joined(separator: " | ") + " | "
                + sets.map { Self.f(bytesPerPosition(s.key, $0), 2) }.joined(separator: " | ") + " |\n"
        }
        md += "\n" + sets.map { set -> String in
            let unit = scored.compactMap { $0.results[set]?.documents }.first
            let blocks = unit?.contains { $0.name.contains("#") } == true
            return "- \(set): \(unit?.count ?? 0) \(blocks ? "blocks of the held-out documents" : "held-out documents") as units"
        }.joined(separator: "\n") + "\n\n"

        md += "## Against the targets\n\n"
        md += "| comparison | " + sets.map { "\($0) Δ BPB [95 %]" }.joined(separator: " | ") + " | target | met |\n"
        md += "|---|" + String(repeating: "---|", count: sets.count) + "---|---|\n"
        func row(_ a: String, _ b: String, target: String, met: ([String: Interval]) -> Bool?) {
            var found: [String: Interval] = [:]
            for set in sets { if let d = difference(a, minus: b, on: set) { found[set] = d } }
            let verdict = met(found).map { $0 ? "yes" : "no" } ?? "–"
            md += "| \(label(a)) − \(label(b)) | " + sets.map { Self.interval(found[$0], signed: true) }.joined(separator: " | ")
                + " | \(target) | \(verdict) |\n"
        }
        let prose = sets.first ?? "prose", technical = sets.count > 1 ? sets[1] : prose
        row("distilled", "random", target: "≤ −0.3 on \(prose), intervals apart") { d in
            guard let p = d[prose], let a = bitsPerByte("distilled", prose), let c = bitsPerByte("random", prose) else { return nil }
            return p.estimate <= -0.3 && a.high < c.low
        }
        row("distilled", "plain", target: "below (distilling helps)") { d in d[prose].map { $0.high < 0 } }
        // The stage-2 arms against the shipping targets: (a2) always, the later ones ("stage2-…", the
        // candidates for shipping) once they have been evaluated, in the order they were scored.
        let stage2Arms = ["stage2"] + scored.map(\.key).filter { $0.hasPrefix("stage2-") }
        for stage2 in stage2Arms {
            row(stage2, "default", target: "< 0 on \(prose), ≤ −1.0 on \(technical)") { d in
                guard let p = d[prose], let t = d[technical] else { return nil }
                return p.estimate < 0 && t.estimate <= -1.0
            }
            row(stage2, "teacher", target: "≤ +0.25 (aim), at ≥ 4.5 bytes/position") { d in
                guard let p = d[prose], let bpp = bytesPerPosition(stage2, prose) else { return nil }
                return p.estimate <= 0.25 && bpp >= 4.5
            }
            // A stage-2 arm repeated from distilled stage 1 against the same recipe from plain stage 1.
            let suffix = "-distilled"
            if stage2.hasSuffix(suffix) {
                let twin = String(stage2.dropLast(suffix.count))
                if scored.contains(where: { $0.key == twin }) {
                    row(stage2, twin, target: "below (the distilled start still helps)") { d in d[prose].map { $0.high < 0 } }
                }
            }
        }
        md += "\n"

        if !charts.isEmpty {
            md += "## Learning curves\n\n"
            for chart in charts { md += "![\(chart.caption)](\(chart.file))\n\n" }
        }

        md += "## Runs\n\n"
        md += "| arm | steps | training bytes | wall time | CPU time | bytes/s (wall) | last validation BPB | oracle / teacher BPB |\n"
        md += "|---|---|---|---|---|---|---|---|\n"
        for arm in arms {
            let train = arm.metrics.filter { $0["split"] as? String == "train" }
            let validation = arm.metrics.filter { $0["split"] as? String == "validation" }
            let bytes = train.last?["bytes_seen"] as? Int ?? 0
            let last = validation.last
            let oracle = (last?["oracle_bits_per_byte"] as? Double).map { Self.f($0) + " / " + Self.f(last?["teacher_bits_per_byte"] as? Double) } ?? "–"
            let (wall, cpu) = Self.time(of: arm)
            md += "| \(arm.label) | \(train.last?["step"] as? Int ?? 0) | \(bytes.formatted()) | \(Self.duration(wall)) | "
                + "\(Self.duration(cpu)) | \(Self.f(wall > 0 ? Double(bytes) / wall : nil, 0)) | "
                + "\(Self.f(last?["bits_per_byte"] as? Double)) | \(oracle) |\n"
        }
        md += "\nWall time: the timed trainer invocations' (`time.txt`), or the trainer's own clock at its last "
            + "record when that is longer — it runs on across resumes, while an invocation killed with its session "
            + "leaves no `time.txt` line; CPU time is then scaled by the invocations' CPU/wall ratio.\n\n"
        for arm in arms {
            guard let o = arm.options else { continue }
            var line = "- \(arm.label): \(o.rowsPerBatch) rows × ≤ \(o.wordsPerRow) words (≤ \(o.maxRowBytes) bytes), peak rate \(o.learningRate)"
            if let b = o.backboneLearningRate { line += " (backbone \(b))" }
            line += ", warm-up \(o.warmupSteps), cosine to \(o.steps); frozen: \(o.freeze.isEmpty ? "nothing" : o.freeze.joined(separator: ", "))"
            if let d = o.distillation, let t = o.teacher {
                line += "; teacher \((t as NSString).lastPathComponent): alignment after \(d.alignBlocks) blocks (\(d.alignDistance.rawValue), weight \(d.alignWeight)), "
                    + "distillation weight \(d.distillWeight), cross-entropy weight \(d.crossEntropyWeight), oracle decoder inputs \(d.oracle ? "on" : "off")"
            }
            md += line + "\n"
            if let provenance = arm.provenance { md += "  - model: " + provenance + "\n" }
            if let notes = arm.notes, !notes.isEmpty { md += "  - notes: " + notes.split(separator: "\n").joined(separator: "; ") + "\n" }
        }
        md += "\n"

        if let reading {
            md += "## Reading (written by hand)\n\n" + reading.trimmingCharacters(in: .whitespacesAndNewlines) + "\n\n"
        }
        md += "## How to reproduce\n\n```\nscripts/graft_distill.sh          # trains the arms (resumable), evaluates, writes this report\n\(command)\n```\n"
        return md
    }

    static func duration(_ seconds: Double) -> String {
        guard seconds > 0 else { return "–" }
        let s = Int(seconds)
        return s >= 3600 ? String(format: "%dh%02dm", s / 3600, (s % 3600) / 60) : String(format: "%dm%02ds", s / 60, s % 60)
    }

    // MARK: Charts

    public func charts() -> [(file: String, caption: String, svg: String)] {
        func series(_ arm: Arm, _ key: String, x: (([String: Any]) -> Double?)) -> LineChart.Series {
            let points = arm.metrics.filter { $0["split"] as? String == "validation" }.compactMap { line -> (x: Double, y: Double)? in
                guard let xValue = x(line), let y = line[key] as? Double else { return nil }
                return (xValue, y)
            }
            return LineChart.Series(name: arm.label, points: points)
        }
        let megabytes: ([String: Any]) -> Double? = { ($0["bytes_seen"] as? Int).map { Double($0) / 1e6 } }
        var out: [(String, String, String)] = []
        var byBytes = LineChart(title: "Validation bits per byte (the student's own path)", xLabel: "training bytes (MB)",
                                yLabel: "bits per byte", series: arms.map { series($0, "bits_per_byte", x: megabytes) })
        byBytes.markers = true
        out.append(("graft-smollm2-validation.svg", "validation bits per byte against training bytes", byBytes.svg()))
        // Against CPU hours: elapsed seconds of the trainer scaled by the run's CPU/wall ratio.
        let byTime = LineChart(title: "Validation bits per byte against CPU hours", xLabel: "CPU hours (approx.)",
                               yLabel: "bits per byte", series: arms.map { arm in
                                   let ratio = arm.wallSeconds > 0 ? arm.cpuSeconds / arm.wallSeconds : 1
                                   return series(arm, "bits_per_byte") { ($0["elapsed_seconds"] as? Double).map { $0 * ratio / 3600 } }
                               })
        out.append(("graft-smollm2-cpu-hours.svg", "validation bits per byte against CPU hours", byTime.svg()))
        let distilled = arms.filter { arm in arm.metrics.contains { $0["oracle_bits_per_byte"] != nil } }
        if !distilled.isEmpty {
            let oracle = LineChart(title: "Distilled arms: own path, oracle decoder and teacher", xLabel: "training bytes (MB)",
                                   yLabel: "bits per byte", series: distilled.flatMap { arm in
                                       [series(arm, "bits_per_byte", x: megabytes),
                                        LineChart.Series(name: arm.label + ", oracle decoder", points: series(arm, "oracle_bits_per_byte", x: megabytes).points),
                                        LineChart.Series(name: arm.label + ", teacher", points: series(arm, "teacher_bits_per_byte", x: megabytes).points)]
                                   })
            out.append(("graft-smollm2-oracle.svg", "own path, oracle decoder and teacher on the validation rows", oracle.svg()))
            let cosine = LineChart(title: "Alignment after n blocks: cosine to the teacher's states", xLabel: "training bytes (MB)",
                                   yLabel: "mean cosine", series: distilled.map { series($0, "align_cosine", x: megabytes) })
            out.append(("graft-smollm2-alignment.svg", "alignment cosine on the validation rows", cosine.svg()))
        }
        return out
    }
}
