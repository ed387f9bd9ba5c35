// hat graft --random-backbone and hat report graft on a tiny model: the random twin has the
// pretrained graft's local weights exactly and a backbone that is not the converted one; the
// report of two short runs holds the tables, the starting-point check and both SVG charts.

import Foundation
import HATIO
import HATModel
import HATTensor
import HATTestSupport
import Testing
@testable import HATReport

@Suite(.serialized) struct ReportGraftTests {
    /// Everything a test writes; removed when the test's suite value is released.
    let scratch: TemporaryDirectory
    init() throws { scratch = try TemporaryDirectory("report-graft") }

    func temporaryDirectory(_ name: String) throws -> String {
        let path = scratch.file(name)
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// A local preset (widths 16) around a 2-block, 24-wide backbone.
    static func preset() throws -> HATConfig {
        let json = """
        {"encoder_config": {"hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 1,
           "intermediate_size": 32, "sliding_window": 16, "vocab_size": 256,
           "cross_attention_config": {"hidden_size": 16, "num_attention_heads": 2, "num_key_value_heads": 1}},
         "backbone_config": {"hidden_size": 24, "num_hidden_layers": 2, "num_attention_heads": 2, "num_key_value_heads": 1,
           "intermediate_size": 48},
         "decoder_config": {"hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 1,
           "intermediate_size": 32, "sliding_window": 16, "vocab_size": 256,
           "cross_attention_config": {"hidden_size": 16, "num_attention_heads": 2, "num_key_value_heads": 1}},
         "max_word_size": 24}
        """
        return try HATConfig.decode(Data(json.utf8), source: "test")
    }

    /// A directory as hat convert-backbone writes it: config.json and backbone.layers.* weights of 0.5.
    func convertedBackbone(_ preset: HATConfig) throws -> String {
        let directory = try temporaryDirectory("backbone")
        let b = preset.backboneConfig
        let config = """
        {"hidden_size": \(b.hiddenSize), "num_hidden_layers": \(b.numHiddenLayers), "num_attention_heads": \(b.numAttentionHeads),
         "num_key_value_heads": \(b.numKeyValueHeads), "head_dim": \(b.headDim), "intermediate_size": \(b.intermediateSize),
         "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "dtype": "F32",
         "source": {"path": "test.gguf", "format": "gguf", "architecture": "llama", "sha256": "00", "files": {"test.gguf": "00"},
                    "source_dtype": "F32", "tie_word_embeddings": true, "unpermuted_qk": true, "converted_by": "test"}}
        """
        try config.write(toFile: directory + "/config.json", atomically: true, encoding: .utf8)
        let specs = HierarchicalModel.parameterSpecs(preset).filter { $0.name.hasPrefix("backbone.") }
        let weights = ParameterSet(specs)
        weights.values.update(repeating: 0.5, count: weights.count)
        try ModelFiles.writeWeights(weights, to: directory + "/" + ModelFiles.weightsName, dtype: .f32, metadata: [:])
        return directory
    }

    @Test func randomTwinSharesTheLocalWeightsOnly() throws {
        let preset = try Self.preset()
        let backbone = try convertedBackbone(preset)
        let (graftConfig, grafted, _) = try Graft.make(backboneDirectory: backbone, preset: preset, seed: 7)
        let (twinConfig, twin, _) = try Graft.make(backboneDirectory: backbone, preset: preset, seed: 7, randomBackbone: true)
        #expect(graftConfig.backboneConfig == twinConfig.backboneConfig)
        #expect(graftConfig.provenance.graftedFrom != nil)
        #expect(twinConfig.provenance.graftedFrom == nil)
        #expect(twinConfig.provenance.notes?.contains("RANDOM") == true)
        for entry in grafted.entries {
            let a = Array(UnsafeBufferPointer(start: grafted.values + entry.offset, count: entry.count))
            let b = Array(UnsafeBufferPointer(start: twin.values + entry.offset, count: entry.count))
            if entry.name.hasPrefix("backbone.") {
                #expect(a.allSatisfy { $0 == 0.5 }, "\(entry.name) should hold the converted weights")
                if !entry.name.hasSuffix("norm.weight") { #expect(a != b, "\(entry.name) of the twin should be random") }
            } else {
                #expect(a == b, "\(entry.name) should be the same in both")
            }
        }
    }

    /// --local-from: a source model whose backbone is narrower (16, not 24) gives the graft every
    /// local tensor of the same shape, bit for bit; the tensors that meet the backbone's width
    /// stay as a fresh graft with the same seed has them; the backbone is the converted one.
    @Test func localPartsFromAnotherModelWhereShapesMatch() throws {
        let preset = try Self.preset()
        let backbone = try convertedBackbone(preset)
        var sourceConfig = preset
        sourceConfig.backboneConfig.hiddenSize = 16
        sourceConfig.backboneConfig.intermediateSize = 32
        sourceConfig.backboneConfig.headDim = 8
        let sourceParameters = ParameterSet(HierarchicalModel.parameterSpecs(sourceConfig))
        var rng = RandomGenerator(seed: 99)
        HierarchicalModel.initialize(sourceParameters, rng: &rng)
        let sourceDirectory = try temporaryDirectory("source-model")
        try ModelFiles.save(config: sourceConfig, parameters: sourceParameters, to: sourceDirectory, dtype: .f32)

        let (config, grafted, transfer) = try Graft.make(backboneDirectory: backbone, preset: preset, seed: 7, localFrom: sourceDirectory)
        let (_, fresh, _) = try Graft.make(backboneDirectory: backbone, preset: preset, seed: 7)
        let t = try #require(transfer)
        #expect(config.provenance.notes?.contains("local parts from \(sourceDirectory)") == true)
        #expect(!t.copied.isEmpty && !t.fresh.isEmpty)
        for entry in grafted.entries {
            let ours = Array(UnsafeBufferPointer(start: grafted.values + entry.offset, count: entry.count))
            let freshValues = Array(UnsafeBufferPointer(start: fresh.values + entry.offset, count: entry.count))
            if entry.name.hasPrefix("backbone.") {
                #expect(ours.allSatisfy { $0 == 0.5 }, "\(entry.name) should hold the converted weights")
                #expect(!t.copied.contains(entry.name) && !t.fresh.contains(entry.name))
            } else if sourceParameters.contains(entry.name), sourceParameters.entry(entry.name).shape == entry.shape {
                let source = sourceParameters.value(entry.name)
                #expect(ours == Array(UnsafeBufferPointer(start: source.data, count: entry.count)), "\(entry.name) should be copied")
                #expect(t.copied.contains(entry.name))
            } else {
                #expect(ours == freshValues, "\(entry.name) should be fresh")
                #expect(t.fresh.contains(entry.name))
            }
        }
        // The shapes that meet the backbone differ; the encoder's own blocks and the head do not.
        #expect(t.fresh.contains(HierarchicalModel.firstWordEmbeddingName) && t.fresh.contains(HierarchicalModel.latentQueryName))
        #expect(t.copied.contains { $0.hasPrefix("encoder.") } && t.copied.contains("lm_head.weight"))
    }

    @Test func reportOfTwoRuns() throws {
        let preset = try Self.preset()
        let backbone = try convertedBackbone(preset)
        let work = try temporaryDirectory("report")
        let data = work + "/data"
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
        for (name, text) in [("a.txt", "Call me Ishmael. Some years ago, never mind how long precisely. "),
                             ("b.txt", "It is a truth universally acknowledged, that a single man must be in want of a wife. "),
                             ("c.txt", "To Sherlock Holmes she is always the woman. I have seldom heard him mention her. ")] {
            try String(repeating: text, count: 8).write(toFile: data + "/" + name, atomically: true, encoding: .utf8)
        }
        var runArguments: [String] = [], initialArguments: [String] = []
        for (label, random) in [("pretrained", false), ("random", true)] {
            let (config, parameters, _) = try Graft.make(backboneDirectory: backbone, preset: preset, seed: 3, randomBackbone: random)
            try ModelFiles.save(config: config, parameters: parameters, to: "\(work)/init-\(label)", dtype: .f32)
            var options = TrainingOptions(data: [data])
            options.steps = 4
            options.rowsPerBatch = 2
            options.wordsPerRow = 16
            options.maxRowBytes = 256
            options.warmupSteps = 1
            options.validationFraction = 0.34
            options.validateEvery = 2
            options.checkpointEvery = 2
            options.freeze = ["backbone"]
            let trainer = try Trainer(runDirectory: "\(work)/\(label)", options: options, config: config, parameters: parameters,
                                      context: ComputeContext(threads: 1))
            try trainer.run { _ in }
            try "10.0 8.0 1.0\n5.0 4.0 0.5\n".write(toFile: "\(work)/\(label)/time.txt", atomically: true, encoding: .utf8)
            runArguments += ["--run", "\(label)=\(work)/\(label)"]
            initialArguments += ["--initial", "\(label)=\(work)/init-\(label)"]
        }
        let out = work + "/report/graft.md"
        let command = try ReportGraft.parse(runArguments + initialArguments + ["--out", out, "--max-bytes", "8", "--threads", "1"])
        try command.validate()
        try command.run()
        let report = try String(contentsOfFile: out, encoding: .utf8)
        #expect(report.contains("differ by at most 0.0 (identical)"))
        #expect(report.contains("| 2 | ") && report.contains("| 4 | "), "validation table rows for steps 2 and 4")
        #expect(report.contains("No training option differs between the runs."))
        #expect(report.contains("15 s"), "wall time summed over the two time.txt lines")
        #expect(report.contains("### pretrained") && report.contains("### random"))
        for chart in ["graft-validation.svg", "graft-train.svg"] {
            let svg = try String(contentsOfFile: work + "/report/" + chart, encoding: .utf8)
            #expect(svg.hasPrefix("<svg") || svg.hasPrefix("<?xml"), "\(chart) is an SVG")
            #expect(svg.contains("pretrained") && svg.contains("random"))
        }
    }

    @Test func rejectsMalformedRunSpecs() {
        #expect(ReportGraft.split("a=b")?.label == "a")
        #expect(ReportGraft.split("=b") == nil)
        #expect(ReportGraft.split("a=") == nil)
        #expect(ReportGraft.split("ab") == nil)
        #expect(throws: (any Error).self) { _ = try ReportGraft.parse(["--run", "a=x", "--out", "r.md"]) }
    }
}
