// GenerationModels: one way to open anything `hat` generates with — a HAT model directory (cached
// byte-level session) or a token model (a GGUF file or a Hugging Face Llama directory, with its
// tokenizer) — and to describe it in one line.

import HATLayers
import HATModel
import HATTensor

public enum GenerationModels {
    /// The model at `path`: a token model when TokenModelFiles recognises one, else a HAT directory.
    /// `weights` nil: as the file stores them (bf16 for a HAT model whose matrices are stored in
    /// BF16, as the shipped default's are; a GGUF token model's own Q8_0/Q4_1/Q4_K blocks: the
    /// same numbers, decoding reads fewer bytes).
    /// `kvCache`: how the key/value caches hold their numbers (ARCHITECTURE.md §5).
    public static func open(_ path: String, limits: ContextLimits = ContextLimits(), weights: WeightFormat? = nil,
                            kvCache: KVCacheFormat = .f32, context: ComputeContext) throws -> GenerationModel {
        if TokenModelFiles.isTokenModel(path) {
            return try TokenTextModel(source: path, capacity: limits.bytes, weights: weights, kvCache: kvCache, context: context)
        }
        let (config, parameters) = try ModelFiles.load(from: path, weights: weights)
        return try GenerationSession(config: config, parameters: parameters, limits: limits, kvCache: kvCache, context: context)
    }

    /// "14819456 parameters; backbone 6×384" or "token model, 134515008 parameters, 30 blocks × 576, vocabulary 49152".
    public static func describe(_ model: GenerationModel) -> String {
        if let session = model as? GenerationSession {
            let c = session.config
            return "\(session.parameters.scalarCount) parameters; backbone \(c.backboneConfig.numHiddenLayers)×\(c.backboneConfig.hiddenSize)"
        }
        if let tokens = model as? TokenTextModel {
            let c = tokens.session.model.config
            return "token model, \(tokens.session.model.parameters.scalarCount) parameters; \(c.blocks.numHiddenLayers) blocks × \(c.blocks.hiddenSize), vocabulary \(c.vocabularySize)"
        }
        return "\(type(of: model))"
    }
}
