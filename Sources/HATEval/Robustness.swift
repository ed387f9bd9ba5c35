// Robustness evaluation (issue 7, items 2–3): how much a model degrades when the spelling of its
// context goes wrong. Samples are N context words + M target words drawn from text; the context
// is perturbed (PerturbCore.swift), the target stays clean. Each condition (perturbation × rate)
// is scored on the same samples with the same per-sample seeds for every model, and compared
// with the clean condition (rate 0) by a paired bootstrap over samples (Bootstrap.swift).
//
// Per-sample seeds derive from (seed, sample index) and do not depend on the rate or the
// perturbation. Since a perturbation draws its word-selection key first from that generator
// and selects word i when hash(key, i) < rate, the words touched at a rate are a subset of
// those touched at any higher rate, with the same edits, and every perturbation selects the
// same words at a given rate.

import Foundation
import HATModel
import HATTensor
import HATText

// MARK: - Samples

/// One sample: a context of whole words and the clean target words after it.
public struct RobustnessSample: Codable, Equatable, Sendable {
    public var document: String
    /// Index of the context's first word among the document's words.
    public var firstWord: Int
    public var context: [UInt8]
    public var target: [UInt8]
    /// Seed of the perturbation generator of this sample.
    public var seed: UInt64

    enum CodingKeys: String, CodingKey { case document, firstWord = "first_word", context, target, seed }

    public init(document: String, firstWord: Int, context: [UInt8], target: [UInt8], seed: UInt64) {
        self.document = document
        self.firstWord = firstWord
        self.context = context
        self.target = target
        self.seed = seed
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        document = try c.decode(String.self, forKey: .document)
        firstWord = try c.decode(Int.self, forKey: .firstWord)
        context = try decodeBytes(c, .context)
        target = try decodeBytes(c, .target)
        seed = try c.decode(UInt64.self, forKey: .seed)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(document, forKey: .document)
        try c.encode(firstWord, forKey: .firstWord)
        try encodeBytes(context, &c, .context)
        try encodeBytes(target, &c, .target)
        try c.encode(seed, forKey: .seed)
    }
}

/// Bytes in JSON: a string when they are valid UTF-8, else an array of byte values.
func encodeBytes<K: CodingKey>(_ bytes: [UInt8], _ c: inout KeyedEncodingContainer<K>, _ key: K) throws {
    if let s = String(validating: bytes, as: UTF8.self) { try c.encode(s, forKey: key) } else { try c.encode(bytes, forKey: key) }
}

func decodeBytes<K: CodingKey>(_ c: KeyedDecodingContainer<K>, _ key: K) throws -> [UInt8] {
    if let s = try? c.decode(String.self, forKey: key) { return Array(s.utf8) }
    return try c.decode([UInt8].self, forKey: key)
}

/// SplitMix64 finaliser of (a, b).
func mixSeed(_ a: UInt64, _ b: UInt64) -> UInt64 {
    var z = a &+ (b &+ 1) &* 0x9E37_79B9_7F4A_7C15
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
}

public enum RobustnessSamples {
    /// Draws `count` non-overlapping samples of `contextWords` + `targetWords` words. Each
    /// document (in the order given) is cut into consecutive slots of that many words, starting
    /// at a seeded offset; slots whose context is not valid UTF-8 are skipped; a seeded shuffle
    /// picks `count` slots, which are then put in document order. Sample k's seed is
    /// mix(seed, k). Fewer samples are returned when the text has fewer slots.
    public static func draw(documents: [Document], splitter: WordSplitter, contextWords: Int, targetWords: Int,
                            count: Int, seed: UInt64) -> [RobustnessSample] {
        precondition(contextWords >= 1 && targetWords >= 1)
        let span = contextWords + targetWords
        var rng = RandomGenerator(seed: seed ^ 0x5A3B_1E5)
        var slots: [(document: Int, firstWord: Int)] = []
        var words: [[Range<Int>]] = []
        for (d, document) in documents.enumerated() {
            let w = splitter.split(document.bytes)
            words.append(w)
            let offset = rng.nextInt(below: span)
            var start = offset
            while start + span <= w.count {
                slots.append((d, start))
                start += span
            }
        }
        slots.shuffle(using: &rng)
        var chosen: [(document: Int, firstWord: Int)] = []
        for slot in slots where chosen.count < count {
            let w = words[slot.document], bytes = documents[slot.document].bytes
            let context = Array(bytes[w[slot.firstWord].lowerBound..<w[slot.firstWord + contextWords - 1].upperBound])
            guard String(validating: context, as: UTF8.self) != nil else { continue }
            chosen.append(slot)
        }
        chosen.sort { ($0.document, $0.firstWord) < ($1.document, $1.firstWord) }
        return chosen.enumerated().map { k, slot in
            let w = words[slot.document], bytes = documents[slot.document].bytes
            let c0 = w[slot.firstWord].lowerBound, c1 = w[slot.firstWord + contextWords - 1].upperBound
            let t1 = w[slot.firstWord + span - 1].upperBound
            return RobustnessSample(document: documents[slot.document].name, firstWord: slot.firstWord,
                                    context: Array(bytes[c0..<c1]), target: Array(bytes[c1..<t1]),
                                    seed: mixSeed(seed, UInt64(k)))
        }
    }

    /// The sample's context under `perturbation` at `rate` (its own seed; rate 0: unchanged).
    public static func perturbed(_ sample: RobustnessSample, _ perturbation: any Perturbation, rate: Double) -> [UInt8] {
        if rate <= 0 { return sample.context }
        var rng = RandomGenerator(seed: sample.seed)
        let text = String(decoding: sample.context, as: UTF8.self)
        return Array(perturbation.apply(text, rate: rate, rng: &rng).utf8)
    }
}

// MARK: - Options and results

public struct RobustnessOptions: Codable, Equatable, Sendable {
    /// Perturbation names; "a+b" composes a then b in one condition.
    public var perturbations: [String]
    public var rates: [Double] = [0.05, 0.1, 0.2]
    public var samples: Int = 200
    public var contextWords: Int = 64
    public var targetWords: Int = 16
    public var seed: UInt64 = 0
    public var bootstrap = BootstrapSettings()
    /// Bytes per forward (speed only).
    public var batchBytes: Int = 4096
    /// Keep every sample's scores in the results.
    public var keepSampleScores = false
    /// How next-word accuracy is computed.
    public var nextWord: NextWordMode = .forward

    public init(perturbations: [String]) { self.perturbations = perturbations }

    enum CodingKeys: String, CodingKey {
        case perturbations, rates, samples, contextWords = "context_words", targetWords = "target_words", seed
        case bootstrap, batchBytes = "batch_bytes", keepSampleScores = "keep_sample_scores", nextWord = "next_word"
    }
}

/// Aggregates of one condition on one model (differences are this condition minus clean).
public struct ConditionResult: Codable, Equatable, Sendable {
    public var perturbation: String
    public var rate: Double
    /// Samples whose context the perturbation changed (the others score exactly as clean).
    public var changedSamples: Int
    /// Context bytes over all samples, perturbed and clean.
    public var contextBytes: Int
    public var cleanContextBytes: Int
    /// (a) Bits per byte of the clean target given this context.
    public var targetBitsPerByte: Interval
    public var targetBitsPerByteDelta: Interval?
    /// Δ target BPB relative to the clean target BPB (Δ / clean): degradation as a share.
    public var targetBitsPerByteRelativeDelta: Interval?
    /// (b) Greedy next-word accuracy (exact bytes; whitespace-trimmed only in `generate` mode).
    public var nextWordAccuracy: Interval
    public var nextWordAccuracyDelta: Interval?
    public var nextWordAccuracyTrimmed: Interval?
    public var nextWordAccuracyTrimmedDelta: Interval?
    /// (c) Bits per byte of the context text itself.
    public var textBitsPerByte: Interval
    public var textBitsPerByteDelta: Interval?
    public var scores: [SampleScore]?

    enum CodingKeys: String, CodingKey {
        case perturbation, rate, changedSamples = "changed_samples", contextBytes = "context_bytes"
        case cleanContextBytes = "clean_context_bytes"
        case targetBitsPerByte = "target_bits_per_byte", targetBitsPerByteDelta = "target_bits_per_byte_delta"
        case targetBitsPerByteRelativeDelta = "target_bits_per_byte_relative_delta"
        case nextWordAccuracy = "next_word_accuracy", nextWordAccuracyDelta = "next_word_accuracy_delta"
        case nextWordAccuracyTrimmed = "next_word_accuracy_trimmed"
        case nextWordAccuracyTrimmedDelta = "next_word_accuracy_trimmed_delta"
        case textBitsPerByte = "text_bits_per_byte", textBitsPerByteDelta = "text_bits_per_byte_delta"
        case scores
    }
}

public struct ModelResult: Codable, Equatable, Sendable {
    public var name: String
    public var path: String
    public var parameters: Int
    public var trainingSteps: Int?
    public var clean: ConditionResult?
    public var conditions: [ConditionResult] = []
    public var folio: FolioResult?
    /// Time spent scoring the samples (not the Folio test).
    public var timing: ScoringTiming?

    enum CodingKeys: String, CodingKey {
        case name, path, parameters, trainingSteps = "training_steps", clean, conditions, folio, timing
    }

    public init(name: String, path: String, parameters: Int, trainingSteps: Int?) {
        self.name = name
        self.path = path
        self.parameters = parameters
        self.trainingSteps = trainingSteps
    }
}

public struct RobustnessResults: Codable, Equatable, Sendable {
    /// "complete", or "interrupted" (then only what finished is here).
    public var status: String = "complete"
    public var command: String = ""
    public var version: String = ""
    public var date: String = ""
    public var options: RobustnessOptions?
    public var folioOptions: FolioOptions?
    public var data: [String] = []
    public var documents: [String] = []
    public var sampleCount = 0
    public var samples: [RobustnessSample]?
    public var models: [ModelResult] = []
    /// Each --compare model against the first model, paired on the same samples.
    public var comparisons: [ModelComparison] = []
    public var seconds = 0.0

    public init() {}

    enum CodingKeys: String, CodingKey {
        case status, command, version, date, options, folioOptions = "folio_options", data, documents
        case sampleCount = "sample_count", samples, models, comparisons, seconds
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        status = try c.decode(String.self, forKey: .status)
        command = try c.decode(String.self, forKey: .command)
        version = try c.decode(String.self, forKey: .version)
        date = try c.decode(String.self, forKey: .date)
        options = try c.decodeIfPresent(RobustnessOptions.self, forKey: .options)
        folioOptions = try c.decodeIfPresent(FolioOptions.self, forKey: .folioOptions)
        data = try c.decode([String].self, forKey: .data)
        documents = try c.decode([String].self, forKey: .documents)
        sampleCount = try c.decode(Int.self, forKey: .sampleCount)
        samples = try c.decodeIfPresent([RobustnessSample].self, forKey: .samples)
        models = try c.decode([ModelResult].self, forKey: .models)
        comparisons = try c.decodeIfPresent([ModelComparison].self, forKey: .comparisons) ?? []
        seconds = try c.decode(Double.self, forKey: .seconds)
    }
}

/// One model against the reference model (the first), paired on the same samples; every
/// difference is this model minus the reference.
public struct ModelComparison: Codable, Equatable, Sendable {
    public var model: String
    public var reference: String
    public var cleanTargetBitsPerByteDifference: Interval
    public var conditions: [ConditionComparison] = []

    enum CodingKeys: String, CodingKey {
        case model, reference, cleanTargetBitsPerByteDifference = "clean_target_bits_per_byte_difference", conditions
    }
}

public struct ConditionComparison: Codable, Equatable, Sendable {
    public var perturbation: String
    public var rate: Double
    /// Δ target BPB of the model − Δ target BPB of the reference.
    public var deltaDifference: Interval
    /// (Δ / clean BPB) of the model − that of the reference.
    public var relativeDeltaDifference: Interval

    enum CodingKeys: String, CodingKey {
        case perturbation, rate, deltaDifference = "delta_difference", relativeDeltaDifference = "relative_delta_difference"
    }
}

/// A model to evaluate: a HAT model, or a token model with its tokenizer.
public struct RobustnessModel {
    public enum Weights {
        case hat(config: HATConfig, parameters: ParameterSet)
        case token(TokenModelBundle)
    }
    public var name: String
    public var path: String
    public var weights: Weights

    public init(name: String, path: String, config: HATConfig, parameters: ParameterSet) {
        self.init(name: name, path: path, weights: .hat(config: config, parameters: parameters))
    }

    public init(name: String, path: String, weights: Weights) {
        self.name = name
        self.path = path
        self.weights = weights
    }

    public var parameterCount: Int {
        switch weights {
        case .hat(_, let parameters): parameters.count
        case .token(let bundle): bundle.parameters.count
        }
    }

    public var trainingSteps: Int? {
        if case .hat(let config, _) = weights { return config.provenance.trainingSteps }
        return nil
    }

    /// The word splitter that cuts samples and reference next words for a set of models: the
    /// first HAT model's, else hat's default splitter (token models have no words of their own).
    public static func sampleSplitter(_ models: [RobustnessModel]) throws -> WordSplitter {
        for model in models {
            if case .hat(let config, _) = model.weights {
                return try config.makeSplitter()
            }
        }
        return try WordSplitter(options: SplitterOptions(mode: .hat, maxWordBytes: 100))   // hat's default max_word_size
    }
}

/// Where a run stands, for progress lines.
public struct RobustnessProgress: Sendable {
    public var model: String
    public var phase: String
    public var doneBytes: Int
    public var totalBytes: Int
    public var seconds: Double
    /// Seconds left at the rate so far (nil until there is a rate).
    public var remainingSeconds: Double? {
        guard doneBytes > 0, seconds > 1 else { return nil }
        return Double(totalBytes - doneBytes) / (Double(doneBytes) / seconds)
    }
}

// MARK: - The run

public enum RobustnessRun {
    /// Set from a signal handler: the run stops after the current batch or sample.
    nonisolated(unsafe) public static var stopRequested: Int32 = 0

    /// A condition's perturbation ("a+b" composes).
    public static func perturbation(named name: String, misspellings: MisspellingTable?) throws -> any Perturbation {
        try Perturbations.parse(name.replacingOccurrences(of: "+", with: ","), misspellings: misspellings)
    }

    /// Work units (bytes the models process) of scoring a sample: one forward over [EOS] +
    /// context + target; in `generate` mode also a prefill of the context and a few generated bytes.
    static func work(context: Int, target: Int, mode: NextWordMode) -> Int {
        1 + context + target + (mode == .generate ? context + 8 : 0)
    }

    /// Scores every model on every condition (and the Folio/modern texts when `folio` is set).
    /// On a stop request it returns what finished, with status "interrupted".
    public static func run(models: [RobustnessModel], samples: [RobustnessSample], options: RobustnessOptions,
                           misspellings: MisspellingTable?, folio: FolioOptions?, context: ComputeContext,
                           shouldStop: @escaping () -> Bool = { RobustnessRun.stopRequested != 0 },
                           progress: (RobustnessProgress) -> Void = { _ in }) throws -> RobustnessResults {
        let started = Date()
        var results = RobustnessResults()
        results.options = options
        results.folioOptions = folio
        results.sampleCount = samples.count
        results.documents = Array(Set(samples.map(\.document))).sorted()

        // The perturbed contexts, shared by all models: [condition][sample].
        let perturbations = try options.perturbations.map { try perturbation(named: $0, misspellings: misspellings) }
        var conditions: [(name: String, rate: Double, contexts: [[UInt8]])] = []
        for (name, p) in zip(options.perturbations, perturbations) {
            for rate in options.rates {
                conditions.append((name, rate, samples.map { RobustnessSamples.perturbed($0, p, rate: rate) }))
            }
        }
        let cleanWork = samples.reduce(0) { $0 + work(context: $1.context.count, target: $1.target.count, mode: options.nextWord) }
        var perturbedWork = 0
        for c in conditions {
            for (k, s) in samples.enumerated() where c.contexts[k] != s.context {
                perturbedWork += work(context: c.contexts[k].count, target: s.target.count, mode: options.nextWord)
            }
        }
        let folioData = try folio.map { try FolioData.load($0) }
        let folioWork = folioData.map { $0.modernBytes + $0.folioBytes } ?? 0
        let perModel = (samples.isEmpty ? 0 : cleanWork + perturbedWork) + folioWork
        let total = perModel * models.count
        var done = 0

        let resamples = Bootstrap.multiplicities(samples: samples.count, settings: options.bootstrap)
        let splitter = try RobustnessModel.sampleSplitter(models)
        // Per model that finished: the scores of clean and of every condition, for comparisons.
        var finishedScores: [[[SampleScore]]] = []
        for model in models {
            var result = ModelResult(name: model.name, path: model.path, parameters: model.parameterCount,
                                     trainingSteps: model.trainingSteps)
            results.models.append(result)
            func report(_ phase: String, _ bytes: Int) {
                done += bytes
                progress(RobustnessProgress(model: model.name, phase: phase, doneBytes: done, totalBytes: total,
                                            seconds: Date().timeIntervalSince(started)))
            }
            do {
                if !samples.isEmpty {
                    let longest = samples.indices.map { k in
                        1 + samples[k].target.count + max(samples[k].context.count,
                                                          conditions.map { $0.contexts[k].count }.max() ?? 0)
                    }.max() ?? 1
                    let scorer: SampleScoring
                    switch model.weights {
                    case .hat(let config, let parameters):
                        scorer = try SampleScorer(config: config, parameters: parameters, mode: options.nextWord,
                                                  batchBytes: options.batchBytes, longestRow: longest, context: context)
                    case .token(let bundle):
                        scorer = try TokenSampleScorer(bundle: bundle, mode: options.nextWord, splitter: splitter, context: context)
                    }
                    scorer.shouldStop = shouldStop
                    let clean = try scorer.score(samples.map { ($0.context, $0.target) }) { report("clean", $0) }
                    var modelScores = [clean]
                    result.clean = summarize(name: "clean", rate: 0, contexts: samples.map(\.context), scores: clean,
                                             samples: samples, clean: nil, options: options, resamples: resamples)
                    results.models[results.models.count - 1] = result
                    for c in conditions {
                        let phase = "\(c.name) @ \(formatNumber(c.rate, decimals: 3))"
                        let changed = samples.indices.filter { c.contexts[$0] != samples[$0].context }
                        let scored = try scorer.score(changed.map { (c.contexts[$0], samples[$0].target) }) { report(phase, $0) }
                        var scores = clean
                        for (k, s) in zip(changed, scored) { scores[k] = s }
                        modelScores.append(scores)
                        result.conditions.append(summarize(name: c.name, rate: c.rate, contexts: c.contexts, scores: scores,
                                                           samples: samples, clean: clean, options: options,
                                                           resamples: resamples))
                        result.timing = scorer.timing
                        results.models[results.models.count - 1] = result
                    }
                    result.timing = scorer.timing
                    results.models[results.models.count - 1] = result
                    finishedScores.append(modelScores)
                }
                if let folio, let folioData, case .hat(let config, let parameters) = model.weights {
                    result.folio = try FolioEvaluation.run(config: config, parameters: parameters,
                                                           data: folioData, options: folio,
                                                           bootstrap: options.bootstrap, context: context,
                                                           shouldStop: shouldStop) { report("folio", $0) }
                    results.models[results.models.count - 1] = result
                }
            } catch RobustnessError.interrupted {
                results.status = "interrupted"
                break
            }
        }
        if options.keepSampleScores { results.samples = samples }
        if !samples.isEmpty && finishedScores.count == models.count {
            let conditionKeys = conditions.map { ($0.name, $0.rate) }
            for k in models.indices.dropFirst() {
                results.comparisons.append(compare(models[k].name, finishedScores[k], against: models[0].name, finishedScores[0],
                                                   conditions: conditionKeys, options: options, resamples: resamples))
            }
        }
        results.seconds = Date().timeIntervalSince(started)
        return results
    }

    /// Model `name` against `reference` on the same samples: paired differences of the clean
    /// target BPB, of Δ target BPB and of the relative degradation Δ / clean BPB, per condition.
    /// `scores[0]` is clean, `scores[1 + c]` condition c.
    static func compare(_ name: String, _ scores: [[SampleScore]], against reference: String, _ referenceScores: [[SampleScore]],
                        conditions: [(String, Double)], options: RobustnessOptions, resamples: [[Double]]) -> ModelComparison {
        let n = scores[0].count
        func nats(_ s: [SampleScore]) -> [Double] { s.map(\.targetNats) }
        func bytes(_ s: [SampleScore]) -> [Double] { s.map { Double($0.targetBytes) } }
        let (an, ab) = (nats(scores[0]), bytes(scores[0])), (rn, rb) = (nats(referenceScores[0]), bytes(referenceScores[0]))
        var comparison = ModelComparison(
            model: name, reference: reference,
            cleanTargetBitsPerByteDifference: Bootstrap.interval(samples: n, settings: options.bootstrap, resamples: resamples) { w in
                (Bootstrap.ratio(an, ab, weights: w) - Bootstrap.ratio(rn, rb, weights: w)) / M_LN2
            })
        for (c, key) in conditions.enumerated() {
            let (acn, acb) = (nats(scores[1 + c]), bytes(scores[1 + c]))
            let (rcn, rcb) = (nats(referenceScores[1 + c]), bytes(referenceScores[1 + c]))
            func deltas(_ w: [Double]) -> (model: Double, reference: Double, modelClean: Double, referenceClean: Double) {
                let modelClean = Bootstrap.ratio(an, ab, weights: w), referenceClean = Bootstrap.ratio(rn, rb, weights: w)
                return (Bootstrap.ratio(acn, acb, weights: w) - modelClean, Bootstrap.ratio(rcn, rcb, weights: w) - referenceClean,
                        modelClean, referenceClean)
            }
            comparison.conditions.append(ConditionComparison(
                perturbation: key.0, rate: key.1,
                deltaDifference: Bootstrap.interval(samples: n, settings: options.bootstrap, resamples: resamples) { w in
                    let d = deltas(w)
                    return (d.model - d.reference) / M_LN2
                },
                relativeDeltaDifference: Bootstrap.interval(samples: n, settings: options.bootstrap, resamples: resamples) { w in
                    let d = deltas(w)
                    return d.model / d.modelClean - d.reference / d.referenceClean
                }))
        }
        return comparison
    }

    /// Aggregates with intervals; differences are paired against `clean` (nil: this is clean).
    static func summarize(name: String, rate: Double, contexts: [[UInt8]], scores: [SampleScore],
                          samples: [RobustnessSample], clean: [SampleScore]?, options: RobustnessOptions,
                          resamples: [[Double]]) -> ConditionResult {
        let b = options.bootstrap
        func column(_ s: [SampleScore], _ f: (SampleScore) -> Double) -> [Double] { s.map(f) }
        let tn = column(scores) { $0.targetNats }, tb = column(scores) { Double($0.targetBytes) }
        let xn = column(scores) { $0.textNats }, xb = column(scores) { Double($0.textBytes) }
        let acc = column(scores) { $0.nextWordCorrect ? 1 : 0 }
        let hasTrimmed = scores.allSatisfy { $0.nextWordCorrectTrimmed != nil }
        let accTrim = column(scores) { $0.nextWordCorrectTrimmed == true ? 1 : 0 }
        var r = ConditionResult(
            perturbation: name, rate: rate,
            changedSamples: samples.indices.filter { contexts[$0] != samples[$0].context }.count,
            contextBytes: contexts.reduce(0) { $0 + $1.count },
            cleanContextBytes: samples.reduce(0) { $0 + $1.context.count },
            targetBitsPerByte: Bootstrap.bitsPerByte(nats: tn, bytes: tb, settings: b, resamples: resamples),
            nextWordAccuracy: Bootstrap.mean(acc, settings: b, resamples: resamples),
            nextWordAccuracyTrimmed: hasTrimmed ? Bootstrap.mean(accTrim, settings: b, resamples: resamples) : nil,
            textBitsPerByte: Bootstrap.bitsPerByte(nats: xn, bytes: xb, settings: b, resamples: resamples),
            scores: options.keepSampleScores ? scores : nil)
        if let clean {
            let cn = column(clean) { $0.targetNats }, cb = column(clean) { Double($0.targetBytes) }
            let cxn = column(clean) { $0.textNats }, cxb = column(clean) { Double($0.textBytes) }
            r.targetBitsPerByteDelta = Bootstrap.bitsPerByteDifference(nats: tn, bytes: tb, minus: cn, bytes: cb,
                                                                       settings: b, resamples: resamples)
            r.targetBitsPerByteRelativeDelta = Bootstrap.interval(samples: tn.count, settings: b, resamples: resamples) { w in
                Bootstrap.ratio(tn, tb, weights: w) / Bootstrap.ratio(cn, cb, weights: w) - 1
            }
            r.textBitsPerByteDelta = Bootstrap.bitsPerByteDifference(nats: xn, bytes: xb, minus: cxn, bytes: cxb,
                                                                     settings: b, resamples: resamples)
            r.nextWordAccuracyDelta = Bootstrap.meanDifference(acc, minus: column(clean) { $0.nextWordCorrect ? 1 : 0 },
                                                               settings: b, resamples: resamples)
            if hasTrimmed {
                r.nextWordAccuracyTrimmedDelta = Bootstrap.meanDifference(
                    accTrim, minus: column(clean) { $0.nextWordCorrectTrimmed == true ? 1 : 0 }, settings: b, resamples: resamples)
            }
        }
        return r
    }
}
