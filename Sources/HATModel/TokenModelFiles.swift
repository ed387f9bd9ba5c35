// TokenModelFiles: a whole Llama-family token model read from its source checkpoint — a GGUF file
// (every block type the converter reads: F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, K-quants)
// or a Hugging Face directory (config.json + model.safetensors, single or sharded; F32/F16/BF16) —
// through the same LlamaCheckpoint readers as convert-backbone, dequantised to float32 under
// Hugging Face names. Missing, extra or misshapen tensors, unsupported rotary scaling and
// non-finite weights are errors that name the file and tensor.

import Foundation
import HATIO
import HATTensor
import HATTokenizer

public enum TokenModelFiles {
    /// True when `path` looks like a token model's checkpoint rather than a HAT model directory:
    /// a GGUF file, or a directory with config.json whose model is a Llama/Mistral for causal LM.
    public static func isTokenModel(_ path: String) -> Bool {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { return false }
        if !isDirectory.boolValue { return isGGUF(path) }
        let config = (path as NSString).appendingPathComponent("config.json")
        guard let data = FileManager.default.contents(atPath: config),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return false }
        let architectures = object["architectures"] as? [String] ?? []
        return architectures.contains { HFCheckpoint.supportedArchitectures.contains($0) }
            || (object["model_type"] as? String).map { ["llama", "mistral"].contains($0) } == true
    }

    /// Reads the config and every weight of the model at `path` (GGUF file or HF directory/file);
    /// with `includeBlocks: false` only the embedding, final norm and head (for a teacher whose
    /// blocks are a grafted backbone's). `weights` other than f32 packs the matrices so (for
    /// decoding, see ParameterSet.packMatrices); nil holds each matrix the file stores in blocks
    /// the packed kernels read (a GGUF's Q8_0, Q4_1, Q4_K) in the file's own bytes — decoding then
    /// reads what the file holds, and their numbers are the float32 path's — and every other
    /// matrix in float32. Each matrix is packed as soon as it is read.
    public static func load(_ path: String, includeBlocks: Bool = true, weights: WeightFormat? = .f32)
        throws -> (config: TokenModelConfig, parameters: ParameterSet) {
        let checkpoint = try openLlamaCheckpoint(path)
        let source = checkpoint.config
        if let scaling = source.ropeScaling {
            throw HATIOError(.unsupported, path: path, tensor: "rope_scaling",
                             "rotary scaling \"\(scaling.ropeType)\" is not implemented by hat's Llama block, so hat cannot run this model as its source does")
        }
        let shapes = Dictionary(checkpoint.tensorShapes.map { ($0.name, $0.shape) }, uniquingKeysWith: { a, _ in a })
        guard let embeddingShape = shapes[TokenModel.embeddingName] else {
            throw HATIOError(.missingTensor, path: path, tensor: TokenModel.embeddingName, "the token embedding is missing")
        }
        let vocabulary = embeddingShape.first ?? 0
        if let declared = source.vocabSize, declared != vocabulary {
            throw HATIOError(.badShape, path: path, tensor: TokenModel.embeddingName,
                             "has \(vocabulary) rows but the \(checkpoint.format == "gguf" ? "tokenizer (tokenizer.ggml.tokens)" : "config (vocab_size)") declares a vocabulary of \(declared)")
        }
        let tied = shapes[TokenModel.headName] == nil
        let config = TokenModelConfig(
            blocks: TransformerConfig(hiddenSize: source.hiddenSize, numHiddenLayers: source.numLayers,
                                      numAttentionHeads: source.numHeads, numKeyValueHeads: source.numKVHeads,
                                      headDim: source.headDim, intermediateSize: source.intermediateSize,
                                      rmsNormEps: Float(source.rmsNormEps), ropeTheta: Float(source.ropeTheta),
                                      slidingWindow: source.slidingWindow),
            vocabularySize: vocabulary, tiedEmbeddings: tied, maxPositions: source.maxPositionEmbeddings)
        let specs = TokenModel.headSpecs(config) + TokenModel.blockSpecs(config)
        let expected = Set(specs.map(\.name))
        let missing = expected.subtracting(shapes.keys).sorted()
        let extra = Set(shapes.keys).subtracting(expected).filter { !ignorable($0) }.sorted()
        if !missing.isEmpty || !extra.isEmpty {
            var lines = ["the tensors do not match a Llama of this config"]
            if !missing.isEmpty { lines.append("missing (\(missing.count)): " + missing.prefix(12).joined(separator: ", ")) }
            if !extra.isEmpty { lines.append("extra (\(extra.count)): " + extra.prefix(12).joined(separator: ", ")) }
            throw HATIOError(.missingTensor, path: path, lines.joined(separator: "\n  "))
        }
        let parameters = ParameterSet(includeBlocks ? specs : TokenModel.headSpecs(config))
        for entry in parameters.entries where shapes[entry.name] != entry.shape {
            throw HATIOError(.badShape, path: path, tensor: entry.name,
                             "has shape \(shapes[entry.name]!), a Llama of this config needs \(entry.shape)")
        }
        let read = { (entry: ParameterSet.Entry) throws in
            let values = parameters.values + entry.offset
            try checkpoint.read(entry.name, into: values, count: entry.count)
            checkpoint.release(entry.name)
            try HATIOError.requireFinite(values, count: entry.count, path: path, tensor: entry.name)
        }
        if let weights {
            try parameters.fill(read, packing: { weights.format(forRowsOf: $0.shape.last!) })
        } else {
            try parameters.fill(read, packing: { entry in
                guard let stored = checkpoint.blockType(entry.name).flatMap(WeightFormat.init(blocks:)),
                      stored.format(forRowsOf: entry.shape.last!) == stored else { return .f32 }
                return stored
            }, storedBytes: { entry, bytes, count in
                defer { checkpoint.release(entry.name) }
                try checkpoint.readBlocks(entry.name, into: bytes, byteCount: count)
                return true
            })
        }
        return (config, parameters)
    }

    /// Source tensors a token model does not use: rotary caches some exporters include.
    static func ignorable(_ name: String) -> Bool {
        name.hasSuffix("rotary_emb.inv_freq")
    }
}

/// A token model ready to run on text: its config and weights with the tokenizer stored beside
/// them (GGUF metadata or the directory's tokenizer.json), checked to fit each other.
public struct TokenModelBundle {
    public let path: String
    public let config: TokenModelConfig
    public let parameters: ParameterSet
    public let tokenizer: BPETokenizer

    /// Reads the model at `path`, its matrices held as `weights` asks (ParameterSet.packMatrices),
    /// or with nil as the file stores them (TokenModelFiles.load). A tokenizer with more
    /// tokens than the embedding has rows is an error naming the file and both fields (a model
    /// that cannot score its own tokens).
    public init(path: String, weights: WeightFormat? = nil) throws {
        let (config, parameters) = try TokenModelFiles.load(path, weights: weights)
        let tokenizer = try BPETokenizer(try TokenizerText.definition(from: path), source: path)
        guard tokenizer.vocabularySize <= config.vocabularySize else {
            let field = TokenModelFiles.isGGUF(path) ? "tokenizer.ggml.tokens" : "tokenizer.json model.vocab"
            throw HATIOError(.badShape, path: path, tensor: field,
                             "holds \(tokenizer.vocabularySize) tokens but the embedding \(TokenModel.embeddingName) has only \(config.vocabularySize) rows")
        }
        self.path = path
        self.config = config
        self.parameters = parameters
        self.tokenizer = tokenizer
    }

    /// "30 blocks × 576 (9 heads, 3 KV, FFN 1536), vocabulary 49152, 134515008 parameters".
    public var shapeDescription: String {
        let c = config.blocks
        return "\(c.numHiddenLayers) blocks × \(c.hiddenSize) (\(c.numAttentionHeads) heads, \(c.numKeyValueHeads) KV, FFN \(c.intermediateSize)), vocabulary \(config.vocabularySize), \(parameters.scalarCount) parameters"
    }
}

extension TokenModelFiles {
    /// True when `path` is a file starting with the GGUF magic.
    public static func isGGUF(_ path: String) -> Bool {
        guard let handle = FileHandle(forReadingAtPath: path) else { return false }
        defer { try? handle.close() }
        return (try? handle.read(upToCount: 4)) == Data("GGUF".utf8)
    }
}

extension WeightFormat {
    /// The packed format that holds ggml blocks of this type as they are; nil for other types.
    init?(blocks type: GGMLType) {
        switch type {
        case .q8_0: self = .q8_0
        case .q4_1: self = .q4_1
        case .q4_K: self = .q4_k
        default: return nil
        }
    }
}
