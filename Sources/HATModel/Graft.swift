// Graft: a HAT model whose backbone comes from a converted pretrained Llama (the output of
// `hat convert-backbone`: config.json with the Llama hyperparameters and the source, and
// model.safetensors with backbone.layers.{i}.*), with fresh encoder, pooling, decoder and
// head from a local preset (ARCHITECTURE.md §6), or taken from another HAT model's local parts
// where their names and shapes match (`localFrom`). The backbone's weights are not changed.

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

    /// What `make` took from another model's local parts.
    public struct LocalTransfer: Sendable {
        /// Local tensors copied (same name and shape in the source model).
        public var copied: [String] = []
        /// Local tensors left fresh: absent from the source or of another shape (those that
        /// meet the backbone's width: pooling queries and outputs, the decoder's cross-attention
        /// keys and values, the first-word embedding).
        public var fresh: [String] = []
    }

    /// Builds the grafted model: preset's local parts (fresh, seeded), converted backbone.
    /// With `randomBackbone` the backbone keeps its seeded fresh weights (same shape, same local
    /// weights): the control that isolates what the pretrained weights contribute. With
    /// `localFrom` (a HAT model directory) every local tensor whose name and shape the source
    /// model has is copied from it, the rest stay fresh.
    public static func make(backboneDirectory: String, preset: HATConfig, seed: UInt64,
                            randomBackbone: Bool = false, localFrom: String? = nil) throws -> (HATConfig, ParameterSet, LocalTransfer?) {
        let (backbone, source, warnings) = try backboneConfig(directory: backboneDirectory)
        var config = preset
        config.backboneConfig = backbone
        config.provenance = Provenance(graftedFrom: randomBackbone ? nil : source, createdBy: "hat graft",
                                       notes: randomBackbone
                                           ? "backbone RANDOM (seed \(seed)) in the shape of \(source["path"] ?? backboneDirectory)"
                                           : "backbone from \(source["path"] ?? backboneDirectory)")
        config.provenance.notes! += localFrom.map { "; local parts from \($0) where names and shapes match, the rest fresh (seed \(seed))" }
            ?? "; local parts fresh (seed \(seed))"
        if !warnings.isEmpty { config.provenance.notes! += "; warnings: " + warnings.joined(separator: "; ") }
        try config.validate()
        let parameters = try MemoryPlan.allocateParameters(config, for: "the graft onto \(backboneDirectory)")
        var rng = RandomGenerator(seed: seed)
        HierarchicalModel.initialize(parameters, rng: &rng)
        let transfer = try localFrom.map { try copyLocalParts(from: $0, into: parameters) }
        if randomBackbone { return (config, parameters, transfer) }
        try ModelFiles.readWeights(into: parameters,
                                   from: (backboneDirectory as NSString).appendingPathComponent(ModelFiles.weightsName),
                                   optional: { !$0.hasPrefix("backbone.") })
        return (config, parameters, transfer)
    }

    /// Copies every local (non-backbone) tensor of `parameters` that the model in `directory`
    /// has with the same shape.
    static func copyLocalParts(from directory: String, into parameters: ParameterSet) throws -> LocalTransfer {
        let (_, source) = try ModelFiles.load(from: directory)
        var transfer = LocalTransfer()
        for entry in parameters.entries where !entry.spec.name.hasPrefix("backbone.") {
            let name = entry.spec.name
            guard source.contains(name), source.entry(name).shape == entry.shape else {
                transfer.fresh.append(name)
                continue
            }
            parameters.value(name).data.update(from: source.value(name).data, count: entry.count)
            transfer.copied.append(name)
        }
        return transfer
    }
}
