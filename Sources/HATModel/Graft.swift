// Graft: a HAT model whose backbone comes from a converted pretrained Llama (the output of
// `hat convert-backbone`: config.json with the Llama hyperparameters and the source, and
// model.safetensors with backbone.layers.{i}.*), with fresh encoder, pooling, decoder and
// head from a local preset (ARCHITECTURE.md §6). The backbone's weights are not changed.

import Foundation
import HATIO
import HATTensor

public enum Graft {
    /// The backbone hyperparameters and source that `hat convert-backbone` recorded in DIR/config.json,
    /// and its warnings (e.g. a RoPE scaling this toolkit does not implement).
    public static func backboneConfig(directory: String) throws -> (TransformerConfig, source: [String: String], warnings: [String]) {
        let path = (directory as NSString).appendingPathComponent("config.json")
        let file = try BackboneFileConfig.read(path)
        let config = TransformerConfig(
            hiddenSize: file.hiddenSize, numHiddenLayers: file.numHiddenLayers, numAttentionHeads: file.numAttentionHeads,
            numKeyValueHeads: file.numKeyValueHeads, headDim: file.headDim, intermediateSize: file.intermediateSize,
            rmsNormEps: Float(file.rmsNormEps), ropeTheta: Float(file.ropeTheta), slidingWindow: file.slidingWindow)
        try config.validate("backbone (\(path))")
        let source: [String: String] = [
            "path": file.source.path, "format": file.source.format, "architecture": file.source.architecture,
            "sha256": file.source.sha256, "source_dtype": file.source.sourceDtype, "converted_by": file.source.convertedBy,
            "converted_backbone": directory,
        ]
        var warnings = file.warnings ?? []
        if let scaling = file.ropeScaling, !scaling.supported {
            warnings.append("the source uses RoPE scaling '\(scaling.ropeType)', which hat does not implement: long-context behaviour differs from the source")
        }
        return (config, source, warnings)
    }

    /// Builds the grafted model: preset's local parts (fresh, seeded), converted backbone.
    /// With `randomBackbone` the backbone keeps its seeded fresh weights (same shape, same local
    /// weights): the control that isolates what the pretrained weights contribute.
    public static func make(backboneDirectory: String, preset: HATConfig, seed: UInt64,
                            randomBackbone: Bool = false) throws -> (HATConfig, ParameterSet) {
        let (backbone, source, warnings) = try backboneConfig(directory: backboneDirectory)
        var config = preset
        config.backboneConfig = backbone
        config.provenance = Provenance(graftedFrom: randomBackbone ? nil : source, createdBy: "hat graft",
                                       notes: randomBackbone
                                           ? "backbone RANDOM (seed \(seed)) in the shape of \(source["path"] ?? backboneDirectory); local parts fresh (seed \(seed))"
                                           : "backbone from \(source["path"] ?? backboneDirectory); local parts fresh (seed \(seed))")
        if !warnings.isEmpty { config.provenance.notes! += "; warnings: " + warnings.joined(separator: "; ") }
        try config.validate()
        let parameters = try MemoryPlan.allocateParameters(config, for: "the graft onto \(backboneDirectory)")
        var rng = RandomGenerator(seed: seed)
        HierarchicalModel.initialize(parameters, rng: &rng)
        if randomBackbone { return (config, parameters) }
        try ModelFiles.readWeights(into: parameters,
                                   from: (backboneDirectory as NSString).appendingPathComponent(ModelFiles.weightsName),
                                   optional: { !$0.hasPrefix("backbone.") })
        return (config, parameters)
    }
}
