// Bad configs and checkpoints: every problem gives a ModelFileError or ConfigError whose message
// names the field, tensor or file — never a trap — and saving never damages an existing model.

import Foundation
import HATIO
import HATModel
import HATTensor
import HATTestSupport
import Testing

private func modelDirectory() throws -> (String, HATConfig, ParameterSet) {
    let config = try TinyModel.config()
    let parameters = TinyModel.parameters(config)
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("hat-model-\(UUID().uuidString)").path
    try ModelFiles.save(config: config, parameters: parameters, to: directory)
    return (directory, config, parameters)
}

private func message(_ body: () throws -> Void) -> String? {
    do { try body() } catch { return String(describing: error) }
    return nil
}

@Suite struct ConfigErrors {
    static let base = """
    {"encoder_config": {"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 64,
       "cross_attention_config": {"hidden_size": 32, "num_attention_heads": 2}},
     "backbone_config": {"hidden_size": 48, "num_hidden_layers": 1, "num_attention_heads": 4, "intermediate_size": 96},
     "decoder_config": {"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 64,
       "cross_attention_config": {"hidden_size": 32, "num_attention_heads": 2}}}
    """

    @Test func baseConfigIsValid() throws {
        _ = try HATConfig.decode(Data(Self.base.utf8), source: "test")
    }

    @Test(arguments: [
        ("\"backbone_config\": {", "\"backbone_config\": {\"hiden_size\": 3, ", "backbone_config.hiden_size"),
        ("{\"encoder_config\"", "{\"colour\": 1, \"encoder_config\"", "colour"),
        ("\"decoder_config\": {\"hidden_size\": 32", "\"decoder_config\": {\"hidden_size\": 40", "decoder_config.hidden_size"),
        ("\"num_attention_heads\": 4, \"intermediate_size\": 96", "\"num_attention_heads\": 5, \"intermediate_size\": 96", "backbone_config.hidden_size"),
        ("\"backbone_config\": {\"hidden_size\": 48", "\"backbone_config\": {\"hidden_size\": \"48\"", "backbone_config.hidden_size"),
        ("{\"encoder_config\"", "{\"eos_token_id\": 65, \"encoder_config\"", "eos_token_id"),
        ("{\"encoder_config\"", "{\"max_word_size\": 0, \"encoder_config\"", "max_word_size"),
        ("{\"encoder_config\"", "{\"splitter\": {\"name\": \"bpe\"}, \"encoder_config\"", "splitter.name"),
        (", \"intermediate_size\": 96}", "}", "backbone_config.intermediate_size"),
    ])
    func errorNamesTheField(_ find: String, _ replace: String, _ field: String) {
        let json = Self.base.replacingOccurrences(of: find, with: replace)
        #expect(json != Self.base, "the edit applies")
        let text = message { _ = try HATConfig.decode(Data(json.utf8), source: "test") }
        #expect(text?.contains(field) == true, "error for \(field): \(text ?? "none")")
    }

    @Test func notJSONIsAnError() {
        #expect(message { _ = try HATConfig.decode(Data("{not json".utf8), source: "x.json") } != nil)
    }
}

@Suite struct CheckpointErrors {
    @Test func roundTripInF32AndBF16() throws {
        let (directory, config, parameters) = try modelDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (loadedConfig, loaded) = try ModelFiles.load(from: directory)
        #expect(loadedConfig == config)
        #expect(loaded.value("lm_head.weight").toArray() == parameters.value("lm_head.weight").toArray())
        try ModelFiles.save(config: config, parameters: parameters, to: directory, dtype: .bf16)
        let (_, rounded) = try ModelFiles.load(from: directory)
        let a = rounded.value("lm_head.weight").toArray(), b = parameters.value("lm_head.weight").toArray()
        #expect(zip(a, b).allSatisfy { abs($0 - $1) <= abs($1) / 128 })
    }

    @Test func missingDirectoryOrConfig() {
        #expect(message { _ = try ModelFiles.load(from: "/nonexistent/model") }?.contains("config.json") == true)
    }

    @Test func truncatedWeightsFile() throws {
        let (directory, _, _) = try modelDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/model.safetensors"
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        try data.prefix(data.count / 2).write(to: URL(fileURLWithPath: path))
        let text = message { _ = try ModelFiles.load(from: directory) }
        #expect(text != nil && text!.contains("model.safetensors"), "\(text ?? "no error")")
    }

    @Test func garbageHeader() throws {
        let (directory, _, _) = try modelDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try Data([0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F, 1, 2, 3]).write(to: URL(fileURLWithPath: directory + "/model.safetensors"))
        #expect(message { _ = try ModelFiles.load(from: directory) } != nil)
    }

    @Test func weightsOfAnotherConfigAreListedAsMissingAndExtra() throws {
        let (directory, config, _) = try modelDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var other = config
        other.backboneConfig.numHiddenLayers = 3
        try AtomicFile.write(Array(try other.encoded()), to: directory + "/config.json")
        let text = message { _ = try ModelFiles.load(from: directory) } ?? ""
        #expect(text.contains("missing") && text.contains("backbone.layers.2."), "\(text)")
    }

    @Test func wrongShapeNamesTheTensor() throws {
        let (directory, config, _) = try modelDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var other = config
        other.backboneConfig.intermediateSize = 80
        try AtomicFile.write(Array(try other.encoded()), to: directory + "/config.json")
        let text = message { _ = try ModelFiles.load(from: directory) } ?? ""
        #expect(text.contains("backbone.layers.0.mlp") && text.contains("shape"), "\(text)")
    }

    @Test func nonFiniteWeightNamesTheTensor() throws {
        let (directory, config, parameters) = try modelDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        parameters.value("layer_norm.weight")[0, 3] = .infinity
        try ModelFiles.save(config: config, parameters: parameters, to: directory)
        let text = message { _ = try ModelFiles.load(from: directory) } ?? ""
        #expect(text.contains("layer_norm.weight") && text.contains("non-finite"), "\(text)")
    }

    @Test func failedSaveLeavesTheExistingModelIntact() throws {
        let (directory, config, parameters) = try modelDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let before = try Data(contentsOf: URL(fileURLWithPath: directory + "/model.safetensors"))
        // A writer that is never finished (as if the process died) must not touch the file.
        let writer = try SafeTensorsWriter(path: directory + "/model.safetensors",
                                           tensors: parameters.entries.map { ($0.name, $0.shape) }, dtype: .f32, metadata: [:])
        let first = parameters.entries[0]
        try writer.write(first.name, from: parameters.values + first.offset, count: first.count)
        let after = try Data(contentsOf: URL(fileURLWithPath: directory + "/model.safetensors"))
        // Sizes and digests (a failure is quick and says what differs; a byte-wise diff of two
        // large Data values is neither).
        #expect(after.count == before.count)
        func digest(_ data: Data) -> String { var hash = SHA256(); hash.update([UInt8](data)); return hash.hexDigest() }
        #expect(digest(after) == digest(before))
        _ = config
    }
}

/// `--weights` left unset holds the matrices as the file stores them: a model saved in BF16 (as
/// Models/default is) is held in bfloat16, meaning exactly the stored numbers, and its float32
/// matrices are released; one saved in F32 stays float32; `.bf16` asked of a float32 file rounds it.
@Suite struct WeightFormatAtLoad {
    /// The numbers a parameter holds: widened when it is packed.
    static func numbers(_ parameters: ParameterSet, _ name: String) -> [Float] {
        guard let packed = parameters.packedMatrix(name) else { return parameters.value(name).toArray() }
        return [Float](unsafeUninitializedCapacity: packed.rows * packed.cols) { buffer, count in
            packed.widenRows(0..<packed.rows, into: buffer.baseAddress!)
            count = packed.rows * packed.cols
        }
    }

    @Test func asStoredUnlessAsked() throws {
        let directory = try TemporaryDirectory("weight-format")
        let config = try TinyModel.config()
        let parameters = TinyModel.parameters(config)
        let bf16Path = directory.file("bf16"), f32Path = directory.file("f32")
        try ModelFiles.save(config: config, parameters: parameters, to: bf16Path, dtype: .bf16)
        try ModelFiles.save(config: config, parameters: parameters, to: f32Path, dtype: .f32)

        let (_, storedBF16) = try ModelFiles.load(from: bf16Path, weights: nil)
        let (_, plainBF16) = try ModelFiles.load(from: bf16Path)
        #expect(storedBF16.packedFormats == [.bf16])
        #expect(plainBF16.packedFormats.isEmpty, "training loads (the default) stay float32")
        for entry in plainBF16.entries {
            #expect(Self.numbers(storedBF16, entry.name) == Self.numbers(plainBF16, entry.name),
                    "\(entry.name): a BF16 file's numbers are bfloat16 already: holding them so changes none")
        }
        #expect(storedBF16.float32Bytes < plainBF16.float32Bytes / 10, "the packed matrices' float32 values are released")

        let (_, storedF32) = try ModelFiles.load(from: f32Path, weights: nil)
        #expect(storedF32.packedFormats.isEmpty)
        let (_, askedBF16) = try ModelFiles.load(from: f32Path, weights: .bf16)
        #expect(askedBF16.packedFormats == [.bf16])
        let name = HierarchicalModel.parameterSpecs(config).first { $0.decays }!.name
        let rounded = Self.numbers(askedBF16, name), original = Self.numbers(storedF32, name)
        #expect(zip(rounded, original).contains { $0 != $1 }, "a float32 file's matrices are rounded")
        let (_, askedQ8) = try ModelFiles.load(from: f32Path, weights: .q8_0)
        #expect(askedQ8.packedFormats == [.q8_0] && askedQ8.packedMatrix(name)?.format == .q8_0)
    }
}
