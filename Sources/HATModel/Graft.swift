// Graft: a HAT model whose backbone comes from a converted pretrained Llama (the output of
// `hat convert-backbone`: config.json with the Llama hyperparameters and the source, and
// model.safetensors with backbone.layers.{i}.*), with fresh encoder, pooling, decoder and
// head from a local preset (ARCHITECTURE.md §6). The backbone's weights are not changed.

import Foundation
import HATTensor

public enum Graft {
    /// The hyperparameters `hat convert-backbone` records, read leniently (its config also
    /// carries fields such as vocab_size that a backbone does not use).
    public static func backboneConfig(directory: String) throws -> (TransformerConfig, source: [String: String]) {
        let path = (directory as NSString).appendingPathComponent("config.json")
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ModelFileError(path: path, "not found: is \(directory) the output of hat convert-backbone?")
        }
        guard let object = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw ModelFileError(path: path, "not a JSON object")
        }
        func int(_ key: String) throws -> Int {
            guard let value = object[key] as? Int else { throw ConfigError(field: key, "missing or not an integer in \(path)") }
            return value
        }
        func float(_ key: String) throws -> Float {
            guard let value = object[key] as? Double else { throw ConfigError(field: key, "missing or not a number in \(path)") }
            return Float(value)
        }
        let heads = try int("num_attention_heads")
        let hidden = try int("hidden_size")
        let config = TransformerConfig(
            hiddenSize: hidden, numHiddenLayers: try int("num_hidden_layers"), numAttentionHeads: heads,
            numKeyValueHeads: (object["num_key_value_heads"] as? Int) ?? heads,
            headDim: (object["head_dim"] as? Int) ?? hidden / max(heads, 1),
            intermediateSize: try int("intermediate_size"), rmsNormEps: try float("rms_norm_eps"),
            ropeTheta: try float("rope_theta"))
        try config.validate("backbone (\(path))")
        var source: [String: String] = [:]
        if let recorded = object["source"] as? [String: Any] {
            for (key, value) in recorded { source[key] = "\(value)" }
        }
        source["converted_backbone"] = directory
        return (config, source)
    }

    /// Builds the grafted model: preset's local parts (fresh, seeded), converted backbone.
    public static func make(backboneDirectory: String, preset: HATConfig, seed: UInt64) throws -> (HATConfig, ParameterSet) {
        let (backbone, source) = try backboneConfig(directory: backboneDirectory)
        var config = preset
        config.backboneConfig = backbone
        config.provenance = Provenance(graftedFrom: source, createdBy: "hat graft",
                                       notes: "backbone from \(source["path"] ?? backboneDirectory); local parts fresh (seed \(seed))")
        try config.validate()
        let parameters = ParameterSet(HierarchicalModel.parameterSpecs(config))
        var rng = RandomGenerator(seed: seed)
        HierarchicalModel.initialize(parameters, rng: &rng)
        try ModelFiles.readWeights(into: parameters,
                                   from: (backboneDirectory as NSString).appendingPathComponent(ModelFiles.weightsName),
                                   optional: { !$0.hasPrefix("backbone.") })
        return (config, parameters)
    }
}
